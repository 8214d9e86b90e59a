//! `tls_server_config` → a rustls `ServerConfig` on the ring provider:
//! certificate chain and key read from PEM files (relative paths taken from
//! the web config's folder, as exporter-toolkit does), the key checked
//! against the certificate, client certificates verified against
//! `client_ca_file` when the policy asks for them, protocol versions
//! between `min_version` (default TLS 1.2) and `max_version` (default
//! TLS 1.3), ALPN `http/1.1` (the server speaks HTTP/1.1 only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::{ClientAuth, TlsServerConfig, TlsVersion, WebError};

/// `file` as given, taken from `dir` when relative.
fn resolve(dir: &Path, file: &Path) -> PathBuf {
    if file.is_absolute() {
        file.to_path_buf()
    } else {
        dir.join(file)
    }
}

/// The resolved path of a required `tls_server_config.<key>`.
fn required(dir: &Path, key: &str, file: Option<&PathBuf>) -> Result<PathBuf, WebError> {
    match file {
        Some(f) if !f.as_os_str().is_empty() => Ok(resolve(dir, f)),
        _ => Err(WebError::key(
            format!("tls_server_config.{key}"),
            "",
            "required when tls_server_config is given",
        )),
    }
}

/// Every certificate of the PEM file at `path` (at least one).
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, WebError> {
    let bad = |reason: &dyn ToString| {
        WebError::key(
            format!("tls_server_config.{key}"),
            path.display().to_string(),
            reason.to_string(),
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The protocol versions from `min` to `max`.
fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>, WebError> {
    let (lo, hi) = (
        min.unwrap_or(TlsVersion::TLS12),
        max.unwrap_or(TlsVersion::TLS13),
    );
    if lo > hi {
        return Err(WebError::key(
            "tls_server_config.min_version",
            format!("{lo:?}"),
            format!("above max_version {hi:?}"),
        ));
    }
    Ok([
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (lo..=hi).contains(v))
    .map(|(_, p)| p)
    .collect())
}

/// The rustls server configuration of `t`.
pub(super) fn server_config(t: &TlsServerConfig, dir: &Path) -> Result<ServerConfig, WebError> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let cert_path = required(dir, "cert_file", t.cert_file.as_ref())?;
    let key_path = required(dir, "key_file", t.key_file.as_ref())?;
    let certs = certificates("cert_file", &cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        WebError::key(
            "tls_server_config.key_file",
            key_path.display().to_string(),
            format!("no usable PEM private key: {e}"),
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(t.min_version, t.max_version)?)
        .map_err(|e| {
            WebError::key(
                "tls_server_config.min_version",
                format!("{:?}", t.min_version),
                e,
            )
        })?;
    let ca = t
        .client_ca_file
        .as_ref()
        .filter(|f| !f.as_os_str().is_empty());
    let builder = match (t.client_auth_type, ca) {
        (ClientAuth::NoClientCert, None) => builder.with_no_client_auth(),
        (ClientAuth::NoClientCert, Some(f)) => {
            return Err(WebError::key(
                "tls_server_config.client_ca_file",
                f.display().to_string(),
                "given with client_auth_type NoClientCert: set client_auth_type to \
                 RequireAndVerifyClientCert or VerifyClientCertIfGiven, or remove it",
            ));
        }
        (policy, None) => {
            return Err(WebError::key(
                "tls_server_config.client_auth_type",
                format!("{policy:?}"),
                "needs client_ca_file (the CAs that sign client certificates)",
            ));
        }
        (policy, Some(f)) => {
            let path = resolve(dir, f);
            let mut roots = RootCertStore::empty();
            for c in certificates("client_ca_file", &path)? {
                roots.add(c).map_err(|e| {
                    WebError::key(
                        "tls_server_config.client_ca_file",
                        path.display().to_string(),
                        e,
                    )
                })?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if policy == ClientAuth::VerifyClientCertIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| {
                WebError::key(
                    "tls_server_config.client_ca_file",
                    path.display().to_string(),
                    e,
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        WebError::key(
            "tls_server_config.key_file",
            key_path.display().to_string(),
            format!(
                "does not go with the certificate of cert_file {}: {e}",
                cert_path.display()
            ),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
