//! The web config file: a good one loads, and each mistake is refused
//! naming its key and value; basic credentials are checked with bcrypt,
//! once per user and password.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kx-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.crt`) and a server certificate it signed (`server.crt`,
/// `server.key`) in `dir`.
fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=ca"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new", "-nodes", "-subj", "/CN=localhost"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("web.yml");
    std::fs::write(&p, text).unwrap();
    p
}

fn error(dir: &Path, text: &str) -> String {
    Web::load(Some(&write(dir, text))).unwrap_err().to_string()
}

#[test]
fn a_good_file_loads_with_paths_taken_from_its_folder() {
    let dir = temp_dir();
    certificates(&dir);
    let hash = bcrypt::hash("secret", 4).unwrap();
    let path = write(
        &dir,
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             min_version: TLS13\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let web = Web::load(Some(&path)).unwrap();
    let tls = web.tls.expect("TLS");
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(web.users.is_some());
    // Client certificates, verified against a CA file.
    let path = write(
        &dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let web = Web::load(Some(&path)).unwrap();
    assert!(web.tls.is_some() && web.users.is_none());
    // No file, an empty one: plain HTTP, no users.
    let web = Web::load(None).unwrap();
    assert!(web.tls.is_none() && web.users.is_none());
    let web = Web::load(Some(&write(&dir, "# nothing yet\n"))).unwrap();
    assert!(web.tls.is_none() && web.users.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let dir = temp_dir();
    let e = error(&dir, "tls_server_config:\n  cert: x\n");
    assert!(e.contains("unknown field `cert`"), "{e}");
    let e = error(&dir, "basic_auth_user:\n  a: b\n");
    assert!(e.contains("unknown field `basic_auth_user`"), "{e}");
    let e = error(&dir, "tls_server_config:\n  min_version: TLS11\n");
    assert!(e.contains("TLS11"), "{e}");
    let e = error(
        &dir,
        "tls_server_config:\n  client_auth_type: RequestClientCert\n",
    );
    assert!(e.contains("RequestClientCert"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_hash_is_named_with_its_user() {
    let dir = temp_dir();
    let e = error(&dir, "basic_auth_users:\n  alice: plaintext\n");
    assert!(
        e.starts_with("basic_auth_users.alice = \"plaintext\": not a bcrypt hash"),
        "{e}"
    );
    let high = "$2y$20$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    let e = error(&dir, &format!("basic_auth_users:\n  bob: \"{high}\"\n"));
    assert!(
        e.contains("basic_auth_users.bob") && e.contains("cost 20"),
        "{e}"
    );
    let bad = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeS!";
    let e = error(&dir, &format!("basic_auth_users:\n  carol: \"{bad}\"\n"));
    assert!(e.contains("basic_auth_users.carol"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_or_wrong_certificate_is_named() {
    let dir = temp_dir();
    let e = error(
        &dir,
        "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
    );
    let missing = dir.join("nope.crt");
    assert!(
        e.starts_with(&format!(
            "tls_server_config.cert_file = {:?}",
            missing.display().to_string()
        )),
        "{e}"
    );
    let e = error(&dir, "tls_server_config:\n  key_file: k\n");
    assert!(e.starts_with("tls_server_config.cert_file = \"\""), "{e}");
    certificates(&dir);
    // The CA's key with the server's certificate.
    let e = error(
        &dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: ca.key\n",
    );
    assert!(e.starts_with("tls_server_config.key_file"), "{e}");
    // A key file given as the certificate.
    let e = error(
        &dir,
        "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
    );
    assert!(
        e.contains("tls_server_config.cert_file") && e.contains("no PEM certificate"),
        "{e}"
    );
    let e = error(
        &dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n",
    );
    assert!(e.starts_with("tls_server_config.client_ca_file"), "{e}");
    let e = error(
        &dir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         min_version: TLS13\n  max_version: TLS12\n",
    );
    assert!(
        e.starts_with("tls_server_config.min_version = \"TLS13\""),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_shipped_example_parses() {
    let file = parse(include_str!("../../deploy/web-config.yml")).unwrap();
    let tls = file.tls_server_config.expect("the example shows TLS");
    assert!(tls.cert_file.is_some() && tls.key_file.is_some());
    assert!(!file.basic_auth_users.is_empty());
    Users::new(&file.basic_auth_users).expect("the example's hash is a bcrypt hash");
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn credentials_are_checked_once_and_only_when_right() {
    let mut map = BTreeMap::new();
    map.insert("alice".to_string(), bcrypt::hash("pw-a", 4).unwrap());
    map.insert("bob".to_string(), bcrypt::hash("pw-b", 4).unwrap());
    let users = Users::new(&map).unwrap();
    assert!(users.admits(Some(&basic("alice", "pw-a"))).await);
    assert!(users.admits(Some(&basic("bob", "pw-b"))).await);
    assert_eq!(users.cached(), 2);
    // Cached: the same answer again.
    assert!(users.admits(Some(&basic("alice", "pw-a"))).await);
    assert_eq!(users.cached(), 2);
    for wrong in [
        basic("alice", "pw-b"),
        basic("bob", "pw-a"),
        basic("carol", "pw-a"),
        basic("alic", "pw-a"),
        basic("", ""),
        "Bearer pw-a".into(),
        "Basic !!!".into(),
        "Basic".into(),
    ] {
        assert!(!users.admits(Some(&wrong)).await, "{wrong}");
    }
    assert!(!users.admits(None).await);
    assert_eq!(users.cached(), 2, "refusals are not remembered");
    // The scheme in any case; a password holding a colon.
    map.insert("c".into(), bcrypt::hash("a:b", 4).unwrap());
    let users = Users::new(&map).unwrap();
    let lower = basic("c", "a:b").replacen("Basic", "basic", 1);
    assert!(users.admits(Some(&lower)).await);
}

/// An unknown user costs a bcrypt like a known one with a wrong password
/// (no early answer that would tell which users exist).
#[tokio::test]
async fn an_unknown_user_costs_a_bcrypt() {
    let mut map = BTreeMap::new();
    map.insert("alice".to_string(), bcrypt::hash("pw", 8).unwrap());
    let users = Users::new(&map).unwrap();
    let time = |h: String| {
        let users = &users;
        async move {
            let start = std::time::Instant::now();
            assert!(!users.admits(Some(&h)).await);
            start.elapsed()
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        known.push(time(basic("alice", "wrong")).await);
        unknown.push(time(basic("mallory", "wrong")).await);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2], unknown[2]);
    assert!(u * 2 > k && k * 2 > u, "known {k:?}, unknown {u:?}");
}
