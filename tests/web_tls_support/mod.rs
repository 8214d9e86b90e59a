//! Helpers of tests/web_tls.rs: certificates made by the `openssl` command
//! (Debian package `openssl`), the web config, the daemon binary and a real
//! Prometheus as child processes killed on drop (also on panic), curl
//! (Debian package `curl`) and a kept-open rustls client, the Prometheus
//! HTTP API.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use crate::exporter_common::*;

pub const LIMIT: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "web-tls-test-token-0123456789";

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl): run scripts/test.sh");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: a CA (`ca.crt`), a server certificate for 127.0.0.1 and
/// localhost (`server.crt`, `server.key`) and a client one (`client.crt`,
/// `client.key`), both signed by the CA.
pub fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kx-test-ca",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &ca);
    for (name, ext, serial) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            "2",
        ),
        ("client", "extendedKeyUsage=clientAuth\n", "3"),
    ] {
        let (key, csr, crt, cnf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.cnf"),
        );
        let subject = format!("/CN={name}");
        let mut req = vec!["req", "-new", "-nodes", "-subj", &subject];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        std::fs::write(dir.join(&cnf), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                &cnf,
                "-out",
                &crt,
            ],
        );
    }
}

/// The web config: TLS with the test's certificate (paths relative to the
/// file) and one user.
pub fn web_config(user: &str, password: &str, extra_tls: &str) -> String {
    let hash = bcrypt::hash(password, 4).unwrap();
    format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra_tls}\
         basic_auth_users:\n  {user}: {hash}\n"
    )
}

/// The daemon process, killed if the test ends early.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    pub fn signal(&self, sig: &str) {
        assert!(Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// SIGTERM, then the exit status within `LIMIT`.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        eventually(LIMIT, "the daemon exits", || {
            let r = self.0.try_wait();
            async move {
                match r {
                    Ok(Some(s)) => Ok(s),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await
    }
}

pub fn start_daemon(dir: &Path, port: u16, sim_url: &str, web: &Path) -> Daemon {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n\
             [http]\nweb_config_file = \"{}\"\nheader_read_timeout = \"1s\"\n\
             [scrape]\ninterval = \"500ms\"\nstate_interval = \"2s\"\n\
             [reaper]\napi_token = \"{TOKEN}\"\n\
             [[targets]]\nname = \"sim\"\nurl = \"{sim_url}\"\n",
            web.display()
        ),
    )
    .unwrap();
    Daemon(start_binary(&config, &dir.join("daemon.log"), None))
}

/// What curl got: status (0 when none), headers, body, and its error.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
    pub error: String,
}

pub async fn curl(args: &[&str]) -> Reply {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "5"])
        .args(args)
        .output()
        .await
        .expect("curl (Debian package curl): run scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Reply {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_string(),
        body: body.to_string(),
        error: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

pub async fn curl_owned(args: Vec<String>) -> Reply {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&args).await
}

/// A TLS connection trusting `ca`, kept open across requests.
pub async fn tls_connect(
    ca: &Path,
    port: u16,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// GET `path` with `user:password` on an open connection; the status.
pub async fn get_on<S>(s: &mut S, path: &str, user_password: &str) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let credentials = base64::engine::general_purpose::STANDARD.encode(user_password);
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {credentials}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before an answer: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if body.len() >= length {
            return head.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
    }
}

/// `/metrics` over TLS with `user:password`, once `kurento_up` is 1.
pub async fn metrics_page(base: &str, ca: &str, user_password: &str) -> Result<String, String> {
    let r = curl(&[
        "--cacert",
        ca,
        "-u",
        user_password,
        &format!("{base}/metrics"),
    ])
    .await;
    if r.status == 200 && r.body.contains("kurento_up{kms=\"sim\"} 1") {
        Ok(r.body)
    } else {
        Err(format!("{r:?}"))
    }
}

pub fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

/// A real Prometheus scraping `target` over https with basic auth.
pub fn start_prometheus(dir: &Path, target: &str, ca: &Path, password: &str) -> Prometheus {
    start_prometheus_with(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: kx-tls\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {}\n\
             \x20   basic_auth:\n      username: prometheus\n      password: {password}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            ca.display()
        ),
    )
}
