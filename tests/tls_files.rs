//! TLS a newcomer gets right the first time: `tls_pem_files` refuses each
//! usual mistake before serving, with a message that says what to do;
//! `tls_ca_file` trusts a private CA; client errors read in plain words,
//! with the rustls error kept as the source; a server's failed handshakes
//! are visible without a tracing subscriber. Certificates are made here
//! (rcgen), servers run on loopback.

use std::error::Error as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_endpoints::rustls::{CertificateError, Error as TlsError};
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, Connector, ServerBuilder, ServerErrorKind,
    RECENT_HANDSHAKE_FAILURES,
};

/// A directory of its own for each test, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("te-tls-files-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate and its key, as PEM.
struct Made {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Made {
    fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

fn ca_with(name: &str, key: KeyPair) -> Made {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Made { cert, key }
}

fn ca(name: &str) -> Made {
    ca_with(name, KeyPair::generate().unwrap())
}

fn leaf_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "tokio-endpoints test server");
    params
}

fn leaf(ca: &Made, params: CertificateParams) -> Made {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Made { cert, key }
}

/// What `openssl req -x509 -newkey ... -nodes -subj /CN=localhost` makes:
/// self-signed, with basicConstraints CA:TRUE.
fn openssl_default(names: &[&str]) -> Made {
    let mut params = leaf_params(names);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Made { cert, key }
}

async fn bind_err(cert: &Path, key: &Path) -> String {
    let err = ServerBuilder::new(("localhost", 0))
        .tls_pem_files(cert, key)
        .bind_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{err}");
    err.to_string()
}

/// Serves `made` (chain: `made` then `extra`) with `tls_pem_files` on
/// 127.0.0.1, accepting in a task; returns the address and the server.
async fn serve_files(dir: &Dir, made: &Made, extra: &[&Made]) -> tokio_endpoints::Server {
    let mut chain = made.cert_pem();
    for m in extra {
        chain += &m.cert_pem();
    }
    let cert = dir.write("cert.pem", &chain);
    let key = dir.write("key.pem", &made.key_pem());
    ServerBuilder::new("127.0.0.1:0")
        .tls_pem_files(&cert, &key)
        .serve_tls(|mut stream, _| async move {
            let _ = stream.write_all(b"hi").await;
            let _ = stream.shutdown().await;
        })
        .await
        .unwrap()
}

/// Serves `made` as is (no checks: `tls_config`), so clients meet it.
async fn serve_unchecked(made: &Made) -> tokio_endpoints::Server {
    use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_endpoints::rustls::ServerConfig;
    let provider = tokio_endpoints::crypto_provider();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![made.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key.serialize_der())),
        )
        .unwrap();
    ServerBuilder::new("127.0.0.1:0")
        .tls_config(Arc::new(config))
        .tls_handshake_timeout(Duration::from_secs(5))
        .serve_tls(|_, _| async {})
        .await
        .unwrap()
}

async fn client_err(addr: SocketAddr, ca_file: &Path) -> tokio_endpoints::ConnectError {
    ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_ca_file(ca_file)
        .connect_tls()
        .await
        .unwrap_err()
}

/// The rustls error is kept as a source of the plain words.
fn has_rustls_source(err: &tokio_endpoints::ConnectError) -> bool {
    let mut source = err.source();
    while let Some(e) = source {
        if e.downcast_ref::<TlsError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

// ---- tls_pem_files: what loading refuses ----

#[tokio::test]
async fn pem_files_and_ca_file_round_trip() {
    let dir = Dir::new("round-trip");
    let ca = ca("test CA");
    let leaf = leaf(&ca, leaf_params(&["localhost", "127.0.0.1"]));
    let server = serve_files(&dir, &leaf, &[]).await;
    let ca_file = dir.write("ca.pem", &ca.cert_pem());
    let addr = server.local_addrs()[0];
    let mut stream = ConnectionBuilder::new(addr)
        .tls_ca_file(&ca_file)
        .connect_tls()
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf)
        .await
        .unwrap();
    assert_eq!(buf, b"hi");
    // A Connector loads the file once, for every clone.
    let connector = Connector::new().tls_ca_file(&ca_file);
    for _ in 0..2 {
        connector.clone().connect_tls(addr).await.unwrap();
    }
    assert_eq!(server.tls_handshake_failures(), 0);
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let dir = Dir::new("missing");
    let key = dir.write("key.pem", &ca("x").key_pem());
    let missing = dir.0.join("nope.pem");
    let msg = bind_err(&missing, &key).await;
    assert!(msg.contains("cannot read the certificate file"), "{msg}");
    assert!(msg.contains("nope.pem"), "{msg}");
}

#[tokio::test]
async fn no_certificate_in_the_file_says_they_may_be_swapped() {
    let dir = Dir::new("no-cert");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost"]));
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let msg = bind_err(&key, &cert).await;
    assert!(msg.contains("no certificate in"), "{msg}");
    assert!(msg.contains("swapped"), "{msg}");
    let empty = dir.write("empty.pem", "");
    let msg = bind_err(&empty, &key).await;
    assert!(msg.contains("no certificate in"), "{msg}");
}

#[tokio::test]
async fn no_key_in_the_file() {
    let dir = Dir::new("no-key");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost"]));
    let cert = dir.write("cert.pem", &made.cert_pem());
    let other = dir.write("other.pem", &ca("other").cert_pem());
    let msg = bind_err(&cert, &other).await;
    assert!(msg.contains("no private key in"), "{msg}");
    assert!(msg.contains("other.pem"), "{msg}");
    let encrypted = dir.write(
        "enc.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let msg = bind_err(&cert, &encrypted).await;
    assert!(msg.contains("encrypted"), "{msg}");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate() {
    let dir = Dir::new("mismatch");
    let ca = ca("test CA");
    let one = leaf(&ca, leaf_params(&["localhost"]));
    let two = leaf(&ca, leaf_params(&["localhost"]));
    let cert = dir.write("cert.pem", &one.cert_pem());
    let key = dir.write("key.pem", &two.key_pem());
    let msg = bind_err(&cert, &key).await;
    assert!(msg.contains("does not belong to the certificate"), "{msg}");
}

#[tokio::test]
async fn an_expired_certificate() {
    let dir = Dir::new("expired");
    let mut params = leaf_params(&["localhost"]);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let made = leaf(&ca("test CA"), params);
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let msg = bind_err(&cert, &key).await;
    assert!(msg.contains("expired on 2001-01-01"), "{msg}");
}

#[tokio::test]
async fn a_certificate_not_valid_yet() {
    let dir = Dir::new("not-yet");
    let mut params = leaf_params(&["localhost"]);
    params.not_before = rcgen::date_time_ymd(2090, 1, 1);
    params.not_after = rcgen::date_time_ymd(2091, 1, 1);
    let made = leaf(&ca("test CA"), params);
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let msg = bind_err(&cert, &key).await;
    assert!(msg.contains("not valid until 2090-01-01"), "{msg}");
}

/// Runs `f` with WARN and above captured; returns what was logged.
async fn warnings<F: std::future::Future>(f: F) -> (F::Output, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, logged)
}

/// A CA certificate as the server's own is served, with a warning that
/// says which clients refuse it and how to make a leaf.
fn assert_ca_warning(logged: &str) {
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("is a CA certificate"), "{logged}");
    assert!(
        logged.contains("clients that verify with webpki"),
        "{logged}"
    );
    assert!(logged.contains("CaUsedAsEndEntity"), "{logged}");
    assert!(logged.contains("curl, OpenSSL"), "{logged}");
    assert!(
        logged.contains("-addext basicConstraints=critical,CA:FALSE"),
        "{logged}"
    );
    assert!(!logged.contains("every client would refuse"), "{logged}");
}

#[tokio::test]
async fn a_ca_certificate_as_the_servers_own_is_served_with_a_warning() {
    let dir = Dir::new("ca-as-leaf");
    let made = openssl_default(&["localhost"]);
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let (listener, logged) = warnings(
        ServerBuilder::new(("localhost", 0))
            .tls_pem_files(&cert, &key)
            .bind_tls(),
    )
    .await;
    listener.unwrap();
    assert_ca_warning(&logged);
    assert!(logged.contains("sign a leaf with this CA"), "{logged}");
    // The other checks still run on a CA certificate: an expired one is
    // refused.
    let mut params = leaf_params(&["localhost"]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let key_pair = KeyPair::generate().unwrap();
    let expired = Made {
        cert: params.self_signed(&key_pair).unwrap(),
        key: key_pair,
    };
    let cert = dir.write("expired.pem", &expired.cert_pem());
    let key = dir.write("expired-key.pem", &expired.key_pem());
    let msg = bind_err(&cert, &key).await;
    assert!(msg.contains("expired on 2001-01-01"), "{msg}");
}

/// Whether `tool` runs here (`tool version_arg`); prints why a test
/// is skipped when not.
fn have(tool: &str, version_arg: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: {tool} is not installed (.ci/run installs it)");
    }
    ok
}

/// The certificate a newcomer makes with OpenSSL 3's documented command
/// (CA:TRUE, which OpenSSL 3 sets by default): served with a warning;
/// curl and OpenSSL trusting it connect, this crate's client (webpki)
/// refuses it, as the warning says.
#[tokio::test]
async fn the_certificate_openssl_req_x509_makes_is_served() {
    if !have("openssl", "version") {
        return;
    }
    let dir = Dir::new("openssl-req-x509");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "this OpenSSL does not make CA:TRUE certificates: the test would prove nothing"
    );
    let (server, logged) = warnings(
        ServerBuilder::new("127.0.0.1:0")
            .tls_pem_files(&cert, &key)
            .serve_tls(|mut stream, _| async move {
                let mut buf = [0; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = stream.shutdown().await;
            }),
    )
    .await;
    let server = server.unwrap();
    assert_ca_warning(&logged);
    let port = server.local_addrs()[0].port();

    // OpenSSL's client, trusting it, verifies it.
    let s_client = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(&cert)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&s_client.stdout);
    assert!(
        said.contains("Verify return code: 0 (ok)"),
        "{said}{}",
        String::from_utf8_lossy(&s_client.stderr)
    );
    // curl too.
    if have("curl", "--version") {
        let curl = tokio::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .arg(format!("https://localhost:{port}/"))
            .output()
            .await
            .unwrap();
        assert!(
            curl.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        assert_eq!(curl.stdout, b"ok");
    }
    // This crate's client, as every webpki client, refuses it.
    let err = ConnectionBuilder::new(("localhost", port))
        .resolver(tokio_endpoints::Resolver::fixed([(
            "localhost",
            vec![std::net::Ipv4Addr::LOCALHOST.into()],
        )]))
        .tls_ca_file(&cert)
        .connect_tls()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CaUsedAsEndEntity"), "{err}");
}

#[tokio::test]
async fn two_certificate_sources_are_refused() {
    let dir = Dir::new("two-sources");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost"]));
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let err = ServerBuilder::new(("localhost", 0))
        .tls_pem_files(&cert, &key)
        .tls_pem_files(&cert, &key)
        .bind_tls()
        .await;
    assert!(err.is_ok(), "the same option twice: the last one");
    let config = tokio_endpoints::rustls::ServerConfig::builder_with_provider(
        tokio_endpoints::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(
        tokio_endpoints::rustls::server::ResolvesServerCertUsingSni::new(),
    ));
    let err = ServerBuilder::new(("localhost", 0))
        .tls_config(Arc::new(config))
        .tls_pem_files(&cert, &key)
        .bind_tls()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("tls_config and tls_pem_files were both given"),
        "{err}"
    );
}

/// A writer the test's tracing subscriber writes to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn names_the_server_is_not_reached_by_are_a_warning() {
    let dir = Dir::new("names");
    let made = leaf(&ca("test CA"), leaf_params(&["other.example"]));
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    let (listener, logged) = warnings(
        ServerBuilder::new(("localhost", 0))
            .tls_pem_files(&cert, &key)
            .bind_tls(),
    )
    .await;
    drop(listener.unwrap());
    assert!(logged.contains("WARN"), "{logged}");
    assert!(
        logged.contains("valid for other.example, not for localhost"),
        "{logged}"
    );
}

/// The leaf certificate a TLS client was served.
async fn served_leaf(
    addr: SocketAddr,
    ca_file: &Path,
    alpn: &[&str],
) -> (Vec<u8>, Option<Vec<u8>>) {
    use tokio_endpoints::rustls::pki_types::{pem::PemObject, CertificateDer};
    use tokio_endpoints::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca_file).unwrap())
        .unwrap();
    let mut config = ClientConfig::builder_with_provider(tokio_endpoints::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(Arc::new(config))
        .connect_tls()
        .await
        .unwrap();
    let (_, conn) = stream.get_ref();
    (
        conn.peer_certificates().unwrap()[0].to_vec(),
        conn.alpn_protocol().map(<[u8]>::to_vec),
    )
}

/// A running server reloads its PEM files: the new certificate for new
/// handshakes, the rest of its configuration (ALPN) kept; files that
/// `tls_pem_files` would refuse are refused with the same words, and the
/// server goes on with the certificate it had.
#[tokio::test]
async fn reload_tls_pem_files_swaps_the_certificate_with_the_same_checks() {
    use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_endpoints::rustls::ServerConfig;
    let dir = Dir::new("reload");
    let ca = ca("test CA");
    let ca_file = dir.write("ca.pem", &ca.cert_pem());
    let (first, second) = (
        leaf(&ca, leaf_params(&["localhost"])),
        leaf(&ca, leaf_params(&["localhost"])),
    );
    // A server from tls_config with ALPN: the reload keeps the ALPN.
    let mut config = ServerConfig::builder_with_provider(tokio_endpoints::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![first.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(first.key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(Arc::new(config))
        .serve_tls(|_, _| async {})
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let (cert, alpn) = served_leaf(addr, &ca_file, &["h2"]).await;
    assert_eq!(cert, first.cert.der().to_vec());
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    let cert_file = dir.write("cert.pem", &second.cert_pem());
    let key_file = dir.write("key.pem", &second.key_pem());
    server.reload_tls_pem_files(&cert_file, &key_file).unwrap();
    let (cert, alpn) = served_leaf(addr, &ca_file, &["h2"]).await;
    assert_eq!(cert, second.cert.der().to_vec());
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    // What tls_pem_files refuses, a reload refuses, naming the file.
    let mut expired_params = leaf_params(&["localhost"]);
    expired_params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    expired_params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let expired = leaf(&ca, expired_params);
    let expired_cert = dir.write("expired.pem", &expired.cert_pem());
    let expired_key = dir.write("expired-key.pem", &expired.key_pem());
    let missing = dir.0.join("missing.pem");
    for (cert, key, says) in [
        (
            &expired_cert,
            &expired_key,
            "expired on 2001-01-01".to_string(),
        ),
        (
            &cert_file,
            &expired_key,
            "does not belong to the certificate".to_string(),
        ),
        (
            &missing,
            &key_file,
            format!("cannot read the certificate file {}", missing.display()),
        ),
        (
            &key_file,
            &cert_file,
            "are the two files swapped?".to_string(),
        ),
    ] {
        let err = server.reload_tls_pem_files(cert, key).unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(&says), "{err}");
    }
    let (cert, _) = served_leaf(addr, &ca_file, &["h2"]).await;
    assert_eq!(
        cert,
        second.cert.der().to_vec(),
        "a failed reload changed nothing"
    );

    // A TlsListener reloads too.
    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .tls_pem_files(&cert_file, &key_file)
        .bind_tls()
        .await
        .unwrap();
    let to = listener.local_addrs()[0];
    let first_cert = dir.write("first.pem", &first.cert_pem());
    let first_key = dir.write("first-key.pem", &first.key_pem());
    listener
        .reload_tls_pem_files(&first_cert, &first_key)
        .unwrap();
    let ((cert, alpn), accepted) = tokio::join!(served_leaf(to, &ca_file, &[]), listener.accept());
    accepted.unwrap();
    assert_eq!(cert, first.cert.der().to_vec());
    assert_eq!(alpn, None);
    assert_eq!(server.tls_handshake_failures(), 0);
}

// ---- the client's errors, in plain words ----

#[tokio::test]
async fn a_ca_certificate_as_a_server_certificate_is_explained_on_both_sides() {
    let dir = Dir::new("client-ca-as-leaf");
    let made = openssl_default(&["localhost"]);
    let server = serve_unchecked(&made).await;
    let ca_file = dir.write("ca.pem", &made.cert_pem());
    let err = client_err(server.local_addrs()[0], &ca_file).await;
    assert_eq!(err.kind(), ConnectErrorKind::Tls);
    let msg = err.to_string();
    assert!(
        msg.contains("the certificate of localhost is a CA certificate, not a server certificate"),
        "{msg}"
    );
    assert!(!msg.contains("OtherError"), "{msg}");
    assert!(
        matches!(
            err.tls_error(),
            Some(TlsError::InvalidCertificate(CertificateError::Other(_)))
        ),
        "{err:?}"
    );
    assert!(has_rustls_source(&err), "{err:?}");
    // The server saw it too, without a tracing subscriber.
    let failures = wait_for_failures(&server, 1).await;
    let said = failures[0].to_string();
    assert!(said.contains("refused this server's certificate"), "{said}");
    assert!(failures[0].tls_error().is_some());
    assert!(failures[0].at() <= std::time::SystemTime::now());
}

async fn wait_for_failures(
    server: &tokio_endpoints::Server,
    n: usize,
) -> Vec<tokio_endpoints::HandshakeFailure> {
    for _ in 0..200 {
        let failures = server.recent_handshake_failures();
        if failures.len() >= n {
            return failures;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server recorded fewer than {n} failures");
}

#[tokio::test]
async fn a_plain_text_port_is_explained() {
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = plain.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = plain.accept().await.unwrap();
        let _ = tcp
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let err = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .connect_tls()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "the server at {addr} did not answer with TLS (is it a plain-text port?)"
        )),
        "{msg}"
    );
    assert!(has_rustls_source(&err), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_stale_ca_of_the_same_name_is_explained() {
    let dir = Dir::new("stale");
    let stale = ca("test CA");
    let fresh = ca_with(
        "test CA",
        KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
    );
    let made = leaf(&fresh, leaf_params(&["localhost"]));
    let server = serve_unchecked(&made).await;
    let ca_file = dir.write("ca.pem", &stale.cert_pem());
    let err = client_err(server.local_addrs()[0], &ca_file).await;
    let msg = err.to_string();
    assert!(
        msg.contains(
            "is signed with a key that does not match its issuer's \
             (a stale certificate of the same name in the trust store?)"
        ),
        "{msg}"
    );
    assert!(has_rustls_source(&err));
    // The client's rustls sent decrypt_error: the server says what it
    // means, as it does for unknown_ca and bad_certificate.
    let failures = wait_for_failures(&server, 1).await;
    let said = failures[0].to_string();
    assert!(said.contains("fatal alert decrypt_error"), "{said}");
    assert!(said.contains("refused this server's certificate"), "{said}");
    assert!(said.contains("another CA of the same name"), "{said}");
}

/// A server that asks for client certificates says what is wrong with a
/// refused one in its own terms: the roots it trusts for clients, and
/// clientAuth; never the advice a client gets about a server.
#[tokio::test]
async fn a_refused_client_certificate_is_explained_in_the_servers_words() {
    use rcgen::ExtendedKeyUsagePurpose;
    use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_endpoints::rustls::server::WebPkiClientVerifier;
    use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
    let provider = tokio_endpoints::crypto_provider();
    let key_der = |m: &Made| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key.serialize_der()));
    let server_ca = ca("test CA");
    let client_ca = ca("client CA");
    let server_leaf = leaf(&server_ca, leaf_params(&["localhost"]));
    let mut client_roots = RootCertStore::empty();
    client_roots.add(client_ca.cert.der().clone()).unwrap();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .build()
            .unwrap();
    let config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_leaf.cert.der().clone()], key_der(&server_leaf))
        .unwrap();
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(Arc::new(config))
        .serve_tls(|_, _| async {})
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut for_clients = leaf_params(&["client.test"]);
    for_clients.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let mut for_servers = leaf_params(&["client.test"]);
    for_servers.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cases = [
        (
            leaf(&ca("other CA"), for_clients),
            "not signed by a CA this server trusts for client certificates",
        ),
        (
            leaf(&client_ca, for_servers),
            "its extendedKeyUsage lacks clientAuth",
        ),
    ];
    for (i, (client_cert, says)) in cases.into_iter().enumerate() {
        let mut roots = RootCertStore::empty();
        roots.add(server_ca.cert.der().clone()).unwrap();
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![client_cert.cert.der().clone()], key_der(&client_cert))
            .unwrap();
        // TLS 1.3: the client may finish before the server refuses; the
        // server's record is what counts.
        if let Ok(mut stream) = ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_config(Arc::new(config))
            .connect_tls()
            .await
        {
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut [0; 1]).await;
        }
        let failures = wait_for_failures(&server, i + 1).await;
        let said = failures[i].to_string();
        assert!(
            said.contains("the client certificate of 127.0.0.1:"),
            "{said}"
        );
        assert!(said.contains(says), "{said}");
        for advice in ["tls_ca_file", "serverAuth", "server_name"] {
            assert!(!said.contains(advice), "{said}");
        }
        assert!(failures[i].tls_error().is_some());
    }
}

#[tokio::test]
async fn an_unknown_issuer_says_to_pass_the_ca() {
    let dir = Dir::new("unknown-issuer");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost"]));
    let server = serve_unchecked(&made).await;
    let ca_file = dir.write("ca.pem", &ca("another CA").cert_pem());
    let err = client_err(server.local_addrs()[0], &ca_file).await;
    let msg = err.to_string();
    assert!(msg.contains("not signed by a trusted CA"), "{msg}");
    assert!(msg.contains("tls_ca_file"), "{msg}");
}

#[tokio::test]
async fn a_name_mismatch_names_the_certificates_names() {
    let dir = Dir::new("name-mismatch");
    let ca = ca("test CA");
    let made = leaf(&ca, leaf_params(&["other.example", "192.0.2.1"]));
    let server = serve_unchecked(&made).await;
    let ca_file = dir.write("ca.pem", &ca.cert_pem());
    let err = client_err(server.local_addrs()[0], &ca_file).await;
    let msg = err.to_string();
    assert!(
        msg.contains("is valid for other.example, 192.0.2.1, not for localhost"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_expired_server_certificate_is_explained() {
    let dir = Dir::new("client-expired");
    let ca = ca("test CA");
    let mut params = leaf_params(&["localhost"]);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let server = serve_unchecked(&leaf(&ca, params)).await;
    let ca_file = dir.write("ca.pem", &ca.cert_pem());
    let msg = client_err(server.local_addrs()[0], &ca_file)
        .await
        .to_string();
    assert!(
        msg.contains("the certificate of localhost expired on 2001-01-01"),
        "{msg}"
    );
}

#[tokio::test]
async fn tls_ca_file_mistakes_are_refused_before_connecting() {
    let dir = Dir::new("ca-file");
    let missing = dir.0.join("missing-ca.pem");
    let err = ConnectionBuilder::new("127.0.0.1:9")
        .tls_ca_file(&missing)
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert!(err.to_string().contains("missing-ca.pem"), "{err}");
    assert!(err.attempts().is_empty());
    let empty = dir.write("empty.pem", "");
    let err = ConnectionBuilder::new("127.0.0.1:9")
        .tls_ca_file(&empty)
        .connect_tls()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no certificate in the CA file"),
        "{err}"
    );
    let ca_file = dir.write("ca.pem", &ca("test CA").cert_pem());
    let config = tokio_endpoints::rustls::ClientConfig::builder_with_provider(
        tokio_endpoints::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(tokio_endpoints::rustls::RootCertStore::empty())
    .with_no_client_auth();
    let err = ConnectionBuilder::new("127.0.0.1:9")
        .tls_ca_file(&ca_file)
        .tls_config(Arc::new(config))
        .connect_tls()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("tls_ca_file and tls_config were both given"),
        "{err}"
    );
}

// ---- the server's failures ----

#[tokio::test]
async fn recent_handshake_failures_are_bounded_and_in_plain_words() {
    let dir = Dir::new("recent");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost"]));
    let server = serve_files(&dir, &made, &[]).await;
    let addr = server.local_addrs()[0];
    let total = RECENT_HANDSHAKE_FAILURES + 4;
    for _ in 0..total {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut buf).await;
    }
    for _ in 0..200 {
        if server.tls_handshake_failures() == total as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.tls_handshake_failures(), total as u64);
    let recent = server.recent_handshake_failures();
    assert_eq!(recent.len(), RECENT_HANDSHAKE_FAILURES);
    assert_eq!(RECENT_HANDSHAKE_FAILURES, 16);
    let said = recent[0].to_string();
    assert!(said.starts_with("TLS handshake with 127.0.0.1:"), "{said}");
    assert!(said.contains("did not speak TLS"), "{said}");
    assert!(recent.windows(2).all(|w| w[0].at() <= w[1].at()));
}

#[cfg(feature = "self-signed")]
#[tokio::test]
async fn self_signed_serves_and_its_pem_is_trusted_on_both_loopbacks() {
    let dir = Dir::new("self-signed");
    let server = ServerBuilder::new(("localhost", 0))
        .tls_self_signed(["localhost", "127.0.0.1", "::1"])
        .serve_tls(|mut stream, _| async move {
            let _ = stream.write_all(b"hi").await;
            let _ = stream.shutdown().await;
        })
        .await
        .unwrap();
    let ca_file = dir.write("ca.pem", server.self_signed_cert_pem().unwrap());
    for addr in server.local_addrs() {
        // By the address (an IP name) and by "localhost".
        ConnectionBuilder::new(addr)
            .tls_ca_file(&ca_file)
            .connect_tls()
            .await
            .unwrap();
        ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_ca_file(&ca_file)
            .connect_tls()
            .await
            .unwrap();
    }
    let made = tokio_endpoints::self_signed(["localhost"]).unwrap();
    let cert = dir.write("cert.pem", &made.cert_pem());
    let key = dir.write("key.pem", &made.key_pem());
    // A self-signed leaf passes every check of tls_pem_files.
    ServerBuilder::new(("localhost", 0))
        .tls_pem_files(&cert, &key)
        .bind_tls()
        .await
        .unwrap();
    assert!(format!("{made:?}").contains("localhost"));
    assert!(!format!("{made:?}").contains("PRIVATE"));
}

#[tokio::test]
async fn the_first_failure_of_each_kind_is_a_warning() {
    let dir = Dir::new("warn-once");
    let made = leaf(&ca("test CA"), leaf_params(&["localhost", "127.0.0.1"]));
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The server's task runs on this thread (a current-thread runtime).
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = serve_files(&dir, &made, &[]).await;
    let addr = server.local_addrs()[0];
    for _ in 0..3 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut buf).await;
    }
    wait_for_failures(&server, 3).await;
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logged.matches("did not speak TLS").count(), 1, "{logged}");
    assert!(logged.contains("WARN"), "{logged}");
}
