//! The web config file (`http.web_config_file`, `--web.config.file`): TLS
//! and basic auth of the HTTP endpoint, in the YAML format of Prometheus'
//! exporter-toolkit, so that one file serves every exporter of a fleet.
//!
//! ```yaml
//! tls_server_config:              # absent: plain HTTP
//!   cert_file: server.crt         # relative paths: to this file's folder
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default),
//!   client_ca_file: clients-ca.crt                 # VerifyClientCertIfGiven
//!   min_version: TLS12            # TLS12 (default) or TLS13; max_version too
//! basic_auth_users:               # absent or empty: no basic auth
//!   prometheus: $2y$10$...        # bcrypt hashes
//! ```
//!
//! Unknown keys are refused, naming the key; `load` reads everything the
//! file names (certificate, key, client CAs), checks each hash and builds
//! the TLS server configuration (`tls`) and the users' verifier (`basic`),
//! so that an error surfaces at start-up, in `--check-config` and on
//! SIGHUP (the running web config is then kept). `Shared` holds the one in
//! force; the server reads its TLS for each new connection and its users
//! for each request.

mod basic;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde::Deserialize;

pub use basic::{Users, CHALLENGE};

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// TLS of the endpoint; none = plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// User name → bcrypt hash of the password; empty = no basic auth.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The server's certificate chain (PEM), leaf first.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth_type: ClientAuth,
    /// The CAs that sign client certificates (PEM).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

/// `client_auth_type`: the exporter-toolkit names of the policies rustls
/// implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// `min_version`, `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS12,
    TLS13,
}

/// Why a web config cannot be used; each names the file or the key and
/// its value.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_norway::Error,
    },
    #[error("{key} = {value:?}: {reason}")]
    Key {
        key: String,
        value: String,
        reason: String,
    },
}

impl WebError {
    fn key(key: impl Into<String>, value: impl Into<String>, reason: impl ToString) -> WebError {
        WebError::Key {
            key: key.into(),
            value: value.into(),
            reason: reason.to_string(),
        }
    }
}

/// A web config ready to serve.
#[derive(Debug, Clone, Default)]
pub struct Web {
    /// The TLS server configuration (ALPN `http/1.1`); none = plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The users of basic auth; none = no basic auth.
    pub users: Option<Arc<Users>>,
}

impl Web {
    /// Read, check and build the web config at `path` (none: plain HTTP,
    /// no basic auth).
    pub fn load(path: Option<&Path>) -> Result<Web, WebError> {
        let Some(path) = path else {
            return Ok(Web::default());
        };
        let file = parse_file(path)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let tls = file
            .tls_server_config
            .as_ref()
            .map(|t| tls::server_config(t, dir).map(Arc::new))
            .transpose()?;
        let users = if file.basic_auth_users.is_empty() {
            None
        } else {
            Some(Arc::new(Users::new(&file.basic_auth_users)?))
        };
        Ok(Web { tls, users })
    }
}

/// The file at `path`, parsed (an empty file is an empty config).
pub fn parse_file(path: &Path) -> Result<WebConfigFile, WebError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|source| WebError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// A web config's text, parsed.
pub fn parse(text: &str) -> Result<WebConfigFile, serde_norway::Error> {
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Ok(WebConfigFile::default());
    }
    serde_norway::from_str(text)
}

/// The web config in force, shared by the server (read at each new
/// connection) and the daemon (replaced on reload).
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<RwLock<Arc<Web>>>);

impl Shared {
    pub fn new(web: Web) -> Shared {
        Shared(Arc::new(RwLock::new(Arc::new(web))))
    }

    /// The web config in force now.
    pub fn current(&self) -> Arc<Web> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Put `web` in force: its users from the next request on, its TLS for
    /// the connections accepted from now on.
    pub fn replace(&self, web: Web) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(web);
    }
}

#[cfg(test)]
mod tests;
