//! Loopback TLS servers and certificates (generated with rcgen) for the TLS
//! tests. Every scenario waits for its server task before it returns, so a
//! caller counting descriptors sees none of the server's.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_endpoints::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder};
use tokio_rustls::TlsAcceptor;

/// The short timeout the tests use for handshakes and shutdowns.
pub const SHORT: Duration = Duration::from_millis(300);
/// How late a timeout may fire on a busy machine and still pass.
pub const MARGIN: Duration = Duration::from_millis(700);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    tokio_endpoints::crypto_provider()
}

/// A certificate authority.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its key, for a server.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
    /// The certificate and its key in PEM, for servers nobody here wrote.
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf for these names (DNS names or IP addresses).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, false)
    }

    /// A leaf that expired in 2001.
    pub fn expired_leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, true)
    }

    fn leaf_with(&self, names: &[&str], expired: bool) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "tokio-endpoints test server");
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The CA's own certificate, for a root store.
    pub fn root(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Leaf {
    pub fn server_config(&self, alpn: &[&str]) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(config)
    }
}

/// What the server saw of one TLS connection.
#[derive(Debug, Default)]
pub struct Seen {
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// Whether the handshake completed on the server's side.
    pub handshake_ok: bool,
}

/// A server for one connection: TLS handshake, then echo until the client's
/// close_notify, then its own close_notify.
pub async fn echo_server(bind: &str, config: Arc<ServerConfig>) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let mut seen = Seen::default();
        let Ok(mut tls) = TlsAcceptor::from(config).accept(tcp).await else {
            return seen;
        };
        seen.handshake_ok = true;
        seen.sni = tls.get_ref().1.server_name().map(str::to_string);
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tls.shutdown().await;
        seen
    });
    (addr, task)
}

/// Echo round trip and clean close; returns what the server saw.
pub async fn echo_round_trip(
    ca: &Ca,
    builder: impl FnOnce(SocketAddr) -> ConnectionBuilder,
) -> Seen {
    let leaf = ca.leaf(&["localhost", "127.0.0.1", "::1"]);
    let (addr, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let mut stream = builder(addr)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    stream.write_all(b"hello over TLS").await.unwrap();
    let mut buf = [0u8; 14];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello over TLS");
    let started = Instant::now();
    stream.shutdown().await.unwrap();
    assert!(started.elapsed() < SHORT, "a clean shutdown is quick");
    // The server answers our close_notify with its own: a clean end.
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).await.unwrap(), 0);
    drop(stream);
    server.await.unwrap()
}

/// A connect_tls that must fail with a TLS error; returns it.
pub async fn failing_handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    builder: impl FnOnce(SocketAddr) -> ConnectionBuilder,
) -> tokio_endpoints::ConnectError {
    let (addr, task) = echo_server("127.0.0.1:0", server).await;
    let err = builder(addr)
        .tls_config(client)
        .connect_tls()
        .await
        .unwrap_err();
    let seen = task.await.unwrap();
    assert!(!seen.handshake_ok);
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.peer_addr(), Some(addr));
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    err
}

/// A server that accepts TCP and never speaks: the handshake must time out
/// within the timeout plus the margin. Returns how long it took.
pub async fn silent_server_times_out(ca: &Ca) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        // Read (the ClientHello) until the client gives up; never answer.
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let started = Instant::now();
    let err = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .tls_handshake_timeout(SHORT)
        .connect_tls()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ConnectErrorKind::TlsHandshakeTimeout, "{err}");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::TimedOut
    );
    assert!(took >= SHORT, "{took:?}");
    assert!(took < SHORT + MARGIN, "{took:?}");
    server.await.unwrap();
    took
}

/// A peer that completes the handshake, then never reads: shutdown must
/// return `TimedOut` within the shutdown timeout plus the margin, and the
/// peer must see the connection reset. Returns how long shutdown took.
pub async fn peer_never_reads(ca: &Ca) -> Duration {
    let leaf = ca.leaf(&["localhost"]);
    let acceptor = TlsAcceptor::from(leaf.server_config(&[]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let tls = acceptor.accept(tcp).await.unwrap();
        // Never read; hold the connection until the test is done.
        let _ = done_rx.await;
        drop(tls);
    });
    let mut stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .tls_shutdown_timeout(SHORT)
        .connect_tls()
        .await
        .unwrap();
    // Fill the peer's receive buffer and our send buffer.
    let chunk = vec![0u8; 1 << 20];
    let filled = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if tokio::time::timeout(Duration::from_millis(200), stream.write_all(&chunk))
                .await
                .is_err()
            {
                break;
            }
        }
    })
    .await;
    assert!(filled.is_ok(), "writes never blocked");
    let started = Instant::now();
    let err = stream.shutdown().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(took >= SHORT, "{took:?}");
    assert!(took < SHORT + MARGIN, "{took:?}");
    // Aborted: the socket resets the connection when it closes.
    assert_eq!(stream.get_ref().0.linger().unwrap(), Some(Duration::ZERO));
    // Asking again does not hang either.
    let again = stream.shutdown().await.unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::TimedOut);
    drop(stream);
    let _ = done_tx.send(());
    server.await.unwrap();
    took
}

/// TLS over an adopted stream.
pub async fn over_from_stream(ca: &Ca) {
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = ConnectionBuilder::from_stream(tcp)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    stream.write_all(b"adopted").await.unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"adopted");
    stream.shutdown().await.unwrap();
    drop(stream);
    let seen = server.await.unwrap();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

/// A listener that must never see a connection: a call refused before any
/// packet. Returns the listener's address and a check to run afterwards.
pub fn untouched_listener() -> (SocketAddr, impl FnOnce()) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, move || {
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a connection was made: {accepted:?}"
        );
    })
}
