//! TLS for servers: [`TlsListener`] and [`ServerTlsStream`].
//!
//! # Why handshakes are not done in the accept loop
//!
//! The obvious server, `loop { let tcp = accept().await; let tls =
//! acceptor.accept(tcp).await; spawn(handle(tls)) }`, serves one
//! handshake at a time: a client that connects and sends nothing (a port
//! scanner, a dead NAT mapping, an attacker) stalls every client behind it
//! until its handshake times out, if it ever does (tokio-rustls has no
//! timeout). Here every handshake runs in a task of its own, bounded by
//! the handshake timeout (60 s by default, as asyncio), while
//! [`TlsListener::accept`] goes on taking TCP connections and returns
//! whichever handshake completes first. A handshake that fails or times out
//! is counted ([`handshake_failures`](TlsListener::handshake_failures)),
//! kept among the last few in plain words
//! ([`recent_handshake_failures`](TlsListener::recent_handshake_failures)),
//! and logged (the first of each kind at `WARN`, with what to do: a
//! server whose every client fails must not look healthy), never an error
//! of `accept`: one bad client must not end a server.
//!
//! The number of handshakes in flight is capped
//! ([`max_tls_handshakes`](ServerBuilder::max_tls_handshakes), 1024 by
//! default): past it, new connections wait in the kernel's accept queue
//! rather than costing a descriptor and a rustls session each, so a flood
//! of silent connections runs into the backlog, not into `EMFILE`.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::server::ServerConnection;
use rustls::{ProtocolVersion, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::builder::ServerBuilder;
use super::error::ServerError;
use super::handshakes::{HandshakeFailure, Handshakes};
use super::info::ConnectionInfo;
use super::listener::Listener;
use super::serve::{Accept, Server, WithInfo};
pub use super::tls_options::DEFAULT_MAX_TLS_HANDSHAKES;
use super::tls_options::{CertSource, TlsCell, TlsConfigCell, TlsOptions};
use crate::shared::clock::positive;
use crate::shared::stream::{StreamReader, StreamWriter};
use crate::shared::tls::ShutdownState;

/// The settings a [`TlsListener`] runs with.
struct Settings {
    acceptor: TlsConfigCell,
    handshake_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    max_handshakes: usize,
    /// The PEM of a `tls_self_signed` certificate.
    self_signed_pem: Option<String>,
}

/// TLS: asyncio's `ssl=`, `ssl_handshake_timeout=` and
/// `ssl_shutdown_timeout=` of `create_server`. These options only apply to
/// [`bind_tls`](Self::bind_tls) and [`serve_tls`](Self::serve_tls); given to
/// [`bind`](Self::bind) or [`serve`](Self::serve), they are refused with
/// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput).
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl ServerBuilder {
    /// The rustls server configuration: certificate chain and key (or a
    /// certificate resolver for SNI), protocol versions, ALPN protocols,
    /// client authentication (asyncio's `ssl=` with an `SSLContext`).
    /// Required by [`bind_tls`](Self::bind_tls); there is no default.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_endpoints::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let chain: Vec<CertificateDer<'static>> = Vec::new();
    /// # let key: PrivateKeyDer<'static> = PrivateKeyDer::Pkcs8(Vec::new().into());
    /// let provider = tokio_endpoints::crypto_provider();
    /// let mut config = ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)?;
    /// config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    /// let listener = ServerBuilder::any(8443).tls_config(Arc::new(config)).bind_tls().await?;
    /// # drop(listener);
    /// # Ok(()) }
    /// ```
    pub fn tls_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls.config = Some(CertSource::Config(config));
        self.tls.give("tls_config");
        self
    }

    /// The certificate chain and private key from PEM files, the way most
    /// servers take them: `cert` holds the server's certificate first,
    /// then any intermediate CA certificates; `key` its private key
    /// (PKCS#8 `BEGIN PRIVATE KEY`, PKCS#1 `BEGIN RSA PRIVATE KEY` or SEC1
    /// `BEGIN EC PRIVATE KEY`). They may be the same file. The rest of the
    /// configuration is rustls' safe defaults (TLS 1.2 and 1.3, the
    /// process-default crypto provider, else *ring*), without client
    /// authentication; for more (ALPN, client certificates), build a
    /// `ServerConfig` and pass it to [`tls_config`](Self::tls_config).
    ///
    /// The files are read and checked when [`bind_tls`](Self::bind_tls) or
    /// [`serve_tls`](Self::serve_tls) starts, before a socket is opened,
    /// for what people get wrong, each with a message that says what to
    /// do: see *Errors*. A certificate whose names do not include the
    /// target's host (`localhost` for `ServerBuilder::new(("localhost",
    /// 8443))`) or its IP address is logged at `WARN`, not refused:
    /// clients may reach the server by another name.
    ///
    /// A CA certificate served as the server's own (`basicConstraints
    /// CA:TRUE`, what OpenSSL 3's `openssl req -x509` makes unless told
    /// otherwise) is served, with a `WARN` that says how to make a leaf:
    /// curl, OpenSSL and other clients that trust it accept it, but clients
    /// that verify with webpki (rustls, and this crate's
    /// [`ConnectionBuilder`](crate::ConnectionBuilder)) refuse it
    /// (`CaUsedAsEndEntity`) even when they trust it.
    ///
    /// A certificate that works for every client (a leaf, not a CA):
    ///
    /// ```text
    /// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    ///     -days 365 -subj /CN=localhost \
    ///     -addext basicConstraints=critical,CA:FALSE \
    ///     -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 \
    ///     -keyout key.pem -out cert.pem
    /// ```
    ///
    /// and clients pass `cert.pem` to
    /// [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file).
    ///
    /// # Errors
    ///
    /// `bind_tls` and `serve_tls` fail with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput),
    /// naming the file, when:
    ///
    /// * a file is missing or cannot be read, or is not PEM;
    /// * there is no certificate in `cert` or no key in `key` (the two
    ///   swapped, or the key encrypted, is said so);
    /// * the key does not belong to the certificate;
    /// * the certificate has expired or is not valid yet;
    /// * the certificate is not for TLS servers (an extendedKeyUsage
    ///   without serverAuth);
    /// * another certificate option (`tls_config`, `tls_self_signed`) was
    ///   given too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new(("localhost", 8443))
    ///     .tls_pem_files("cert.pem", "key.pem")
    ///     .serve_tls(|mut stream, _peer| async move {
    ///         let _ = stream.write_all(b"hello\n").await;
    ///         let _ = stream.shutdown().await;
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub fn tls_pem_files(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.tls.config = Some(CertSource::PemFiles {
            cert: cert.as_ref().to_path_buf(),
            key: key.as_ref().to_path_buf(),
        });
        self.tls.give("tls_pem_files");
        self
    }

    /// Serves a fresh self-signed certificate for these names, made now
    /// (see [`self_signed`](crate::self_signed)): TLS for local development
    /// in one call. Clients trust it by being given its PEM, from
    /// [`TlsListener::self_signed_cert_pem`] or
    /// [`Server::self_signed_cert_pem`], as their
    /// [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file). To make the
    /// certificate first (and write it to a file before the server
    /// starts), call [`self_signed`](crate::self_signed) and serve its
    /// PEM with [`tls_pem_files`](Self::tls_pem_files).
    ///
    /// Not for production: every start makes a new certificate, which
    /// clients must be given again.
    ///
    /// # Errors
    ///
    /// `bind_tls` and `serve_tls` fail with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput)
    /// without a name, for a name that cannot be in a certificate, or when
    /// another certificate option was given too.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new(("localhost", 0))
    ///     .tls_self_signed(["localhost", "127.0.0.1", "::1"])
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// let ca = std::env::temp_dir().join(format!("te-doc-self-signed-{}.pem", std::process::id()));
    /// std::fs::write(&ca, server.self_signed_cert_pem().unwrap())?;
    /// let stream = ConnectionBuilder::new(("localhost", server.local_addrs()[0].port()))
    ///     .tls_ca_file(&ca)
    ///     .connect_tls()
    ///     .await?;
    /// # drop(stream);
    /// # std::fs::remove_file(&ca)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "self-signed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
    pub fn tls_self_signed<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let made = super::self_signed::self_signed(names).map_err(|e| e.to_string());
        self.tls.config = Some(CertSource::SelfSigned(made));
        self.tls.give("tls_self_signed");
        self
    }

    /// Bounds each TLS handshake (asyncio's `ssl_handshake_timeout`),
    /// counted from the moment the TCP connection is accepted (behind
    /// [`proxy_protocol`](Self::proxy_protocol), from the end of the PROXY
    /// header, which has its own bound). When it
    /// passes, the connection is closed and counted in
    /// [`handshake_failures`](TlsListener::handshake_failures). `None`
    /// means no bound (a client that connects and never sends a
    /// ClientHello then holds a descriptor and a handshake slot until it
    /// leaves); zero is refused.
    ///
    /// Default is 60 s ([`DEFAULT_TLS_HANDSHAKE_TIMEOUT`](crate::DEFAULT_TLS_HANDSHAKE_TIMEOUT)), as asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8443).tls_handshake_timeout(Duration::from_secs(10));
    /// # drop(b);
    /// ```
    pub fn tls_handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.tls.handshake_timeout = positive("tls_handshake_timeout", timeout.into());
        self.tls.give("tls_handshake_timeout");
        self
    }

    /// Bounds the shutdown of each [`ServerTlsStream`] (asyncio's
    /// `ssl_shutdown_timeout`): see [`ServerTlsStream`]'s `poll_shutdown`.
    /// `None` means no bound (a client that stops reading then hangs the
    /// shutdown forever); zero is refused.
    ///
    /// Default is 30 s ([`DEFAULT_TLS_SHUTDOWN_TIMEOUT`](crate::DEFAULT_TLS_SHUTDOWN_TIMEOUT)), as asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8443).tls_shutdown_timeout(Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn tls_shutdown_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.tls.shutdown_timeout = positive("tls_shutdown_timeout", timeout.into());
        self.tls.give("tls_shutdown_timeout");
        self
    }

    /// The most TLS handshakes in flight at once. Past it, the listener
    /// stops taking TCP connections until a handshake ends, and new
    /// connections wait in the kernel's accept queue
    /// ([`backlog`](Self::backlog)). Zero is refused.
    ///
    /// Default is 1024 ([`DEFAULT_MAX_TLS_HANDSHAKES`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8443).max_tls_handshakes(10_000);
    /// # drop(b);
    /// ```
    pub fn max_tls_handshakes(mut self, max: usize) -> Self {
        self.tls.max_handshakes = if max == 0 {
            Err("max_tls_handshakes must be at least 1".to_string())
        } else {
            Ok(max)
        };
        self.tls.give("max_tls_handshakes");
        self
    }

    /// Makes the listening sockets as [`bind`](Self::bind) does and returns
    /// a [`TlsListener`], whose [`accept`](TlsListener::accept) gives
    /// connections whose TLS handshake has completed.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind), and
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput),
    /// before a socket is opened, without a certificate
    /// ([`tls_pem_files`](Self::tls_pem_files),
    /// [`tls_config`](Self::tls_config) or `tls_self_signed`) or with more
    /// than one, with a zero timeout, or when the PEM files fail their
    /// checks (see [`tls_pem_files`](Self::tls_pem_files)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::{ServerBuilder, ServerErrorKind};
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::any(0)
    ///     .tls_handshake_timeout(Duration::from_secs(5))
    ///     .bind_tls()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("tls_pem_files"));
    /// # }
    /// ```
    pub async fn bind_tls(mut self) -> Result<TlsListener, ServerError> {
        let settings = self.tls_settings()?;
        self.tls = TlsOptions::default();
        let listener = self.bind_listener().await?;
        Ok(TlsListener::new(listener, settings))
    }

    /// Binds as [`bind_tls`](Self::bind_tls) does and serves: a task
    /// accepts connections, runs their handshakes concurrently, and spawns
    /// `handler(stream, peer)` for each connection whose handshake
    /// completed (asyncio's `create_server(ssl=...)` or
    /// `start_server(ssl=...)`).
    ///
    /// # Errors
    ///
    /// Those of [`bind_tls`](Self::bind_tls).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let server = ServerBuilder::any(8443)
    ///     .tls_config(config)
    ///     .serve_tls(|mut stream, peer| async move {
    ///         let _ = stream.write_all(format!("hello {peer}\n").as_bytes()).await;
    ///         let _ = stream.shutdown().await; // close_notify, at most 30 s
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_tls<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(ServerTlsStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = self.bind_tls().await?;
        let addrs = listener.local_addrs();
        let handshakes = listener.failures.clone();
        let config = listener.settings.acceptor.clone();
        let denied = listener.listener.denied_counter();
        let proxy = super::serve::proxy_of(&listener.listener);
        Ok(Server::start(listener, addrs, handler)
            .with_handshakes(handshakes, config)
            .with_denied_peers(denied)
            .with_proxy(proxy))
    }

    /// Binds and serves as [`serve_tls`](Self::serve_tls) does, and hands
    /// each connection whose handshake completed to `handler` with a
    /// [`ConnectionInfo`] instead of the peer's address (the client's
    /// address, the socket's, and, behind
    /// [`proxy_protocol`](Self::proxy_protocol), the PROXY header).
    ///
    /// # Errors
    ///
    /// Those of [`bind_tls`](Self::bind_tls).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<ServerConfig> { unimplemented!() }
    /// let server = ServerBuilder::any(8443)
    ///     .tls_config(config())
    ///     .serve_tls_with_info(|stream, info| async move {
    ///         println!("{} (SNI {:?}) via {}", info.peer(), stream.server_name(), info.socket_peer());
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_tls_with_info<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(ServerTlsStream, ConnectionInfo) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = self.bind_tls().await?;
        let addrs = listener.local_addrs();
        let handshakes = listener.failures.clone();
        let config = listener.settings.acceptor.clone();
        let denied = listener.listener.denied_counter();
        let proxy = super::serve::proxy_of(&listener.listener);
        Ok(Server::start(WithInfo(listener), addrs, handler)
            .with_handshakes(handshakes, config)
            .with_denied_peers(denied)
            .with_proxy(proxy))
    }

    /// Binds and serves as [`serve_tls`](Self::serve_tls) does, and hands
    /// each connection whose handshake completed to `handler` as a
    /// buffered [`StreamReader`] and a [`StreamWriter`]: asyncio's
    /// `start_server(client_connected_cb, ssl=...)`. The writer's
    /// [`close`](StreamWriter::close) sends close_notify, bounded by the
    /// [`tls_shutdown_timeout`](Self::tls_shutdown_timeout).
    ///
    /// # Errors
    ///
    /// Those of [`bind_tls`](Self::bind_tls).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let server = ServerBuilder::any(8443)
    ///     .tls_config(config)
    ///     .serve_tls_streams(|mut reader, mut writer| async move {
    ///         let mut line = String::new();
    ///         while let Ok(1..) = reader.read_line(&mut line).await {
    ///             let _ = writer.write_all(line.as_bytes()).await;
    ///             line.clear();
    ///         }
    ///         let _ = writer.close().await;
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_tls_streams<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.serve_tls(move |stream, _peer| {
            let (reader, writer) = crate::shared::stream::tls_halves(stream);
            handler(reader, writer)
        })
        .await
    }

    fn tls_settings(&self) -> Result<Settings, ServerError> {
        const SOURCES: [&str; 3] = ["tls_config", "tls_pem_files", "tls_self_signed"];
        let sources: Vec<&str> = SOURCES
            .into_iter()
            .filter(|s| self.tls.given.contains(s))
            .collect();
        if sources.len() > 1 {
            let (all, both) = if sources.len() == 2 {
                ("", "both ")
            } else {
                ("all ", "")
            };
            return Err(self.invalid(format!(
                "{} were {all}{both}given: pick one place for the certificate",
                sources.join(" and ")
            )));
        }
        let (config, self_signed_pem) = match &self.tls.config {
            None => {
                let others = self
                    .tls
                    .given()
                    .map(|g| format!(" ({g} given without one)"))
                    .unwrap_or_default();
                return Err(self.invalid(format!(
                    "bind_tls and serve_tls need a certificate: tls_pem_files, tls_config \
                     or tls_self_signed{others}"
                )));
            }
            Some(CertSource::Config(config)) => (config.clone(), None),
            Some(CertSource::PemFiles { cert, key }) => (
                super::tls_files::load_pem_files(cert, key, &self.reached_by())
                    .map_err(|e| self.invalid(e))?,
                None,
            ),
            #[cfg(feature = "self-signed")]
            Some(CertSource::SelfSigned(made)) => {
                let made = made.as_ref().map_err(|e| self.invalid(e.clone()))?;
                let config = made.server_config().map_err(|e| self.invalid(e))?;
                (config, Some(made.cert_pem()))
            }
        };
        let handshake_timeout = self.tls.handshake_timeout.clone();
        let shutdown_timeout = self.tls.shutdown_timeout.clone();
        let max_handshakes = self.tls.max_handshakes.clone();
        match (handshake_timeout, shutdown_timeout, max_handshakes) {
            (Ok(handshake_timeout), Ok(shutdown_timeout), Ok(max_handshakes)) => Ok(Settings {
                acceptor: TlsCell::new(config, self.reached_by(), self.describe()),
                handshake_timeout,
                shutdown_timeout,
                max_handshakes,
                self_signed_pem,
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(self.invalid(e)),
        }
    }
}

/// A connection's handshake: `None` when its PROXY header failed (closed
/// and counted already).
type Handshake = Option<(
    ConnectionInfo,
    io::Result<tokio_rustls::server::TlsStream<TcpStream>>,
)>;

/// The listening sockets of a TLS server, from
/// [`ServerBuilder::bind_tls`]: [`accept`](Self::accept) returns
/// connections whose handshake has completed, while the handshakes of the
/// others run concurrently, each bounded by the
/// [`tls_handshake_timeout`](ServerBuilder::tls_handshake_timeout). A
/// client that connects and sends nothing delays no one.
///
/// Handshakes run in tasks of their own and go on between calls to
/// `accept`; new TCP connections are taken only while `accept` is being
/// awaited. Dropping the listener closes the listening sockets and every
/// connection whose handshake has not been returned.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use tokio::io::AsyncWriteExt;
/// use tokio_endpoints::rustls::ServerConfig;
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// # fn config() -> Arc<ServerConfig> { unimplemented!() }
/// # let config = config();
/// let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
/// loop {
///     let (mut stream, peer) = listener.accept().await?;
///     tokio::spawn(async move {
///         let _ = stream.write_all(b"hello\n").await;
///         let _ = stream.shutdown().await;
///     });
/// }
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub struct TlsListener {
    listener: Listener,
    settings: Settings,
    handshakes: JoinSet<Handshake>,
    failures: Arc<Handshakes>,
}

impl TlsListener {
    fn new(listener: Listener, mut settings: Settings) -> TlsListener {
        let failures = Arc::new(Handshakes::new(settings.self_signed_pem.take()));
        TlsListener {
            listener,
            settings,
            handshakes: JoinSet::new(),
            failures,
        }
    }

    /// The addresses the sockets listen on (see
    /// [`Listener::local_addrs`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let listener = ServerBuilder::new(("localhost", 0)).tls_config(config).bind_tls().await?;
    /// println!("{:?}", listener.local_addrs());
    /// # Ok(()) }
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listener.local_addrs()
    }

    /// How many handshakes have failed or timed out so far.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// assert_eq!(listener.handshake_failures(), 0);
    /// # Ok(()) }
    /// ```
    pub fn handshake_failures(&self) -> u64 {
        self.failures.count()
    }

    /// How many connections were closed because the
    /// [`peer_policy`](ServerBuilder::peer_policy) refused their peer,
    /// before any handshake (see [`Listener::denied_peers`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::{AddressPolicy, ServerBuilder};
    ///
    /// # async fn run(config: Arc<tokio_endpoints::rustls::ServerConfig>) -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(8443)
    ///     .peer_policy(AddressPolicy::public_only())
    ///     .tls_config(config)
    ///     .bind_tls()
    ///     .await?;
    /// assert_eq!(listener.denied_peers(), 0);
    /// # Ok(()) }
    /// ```
    pub fn denied_peers(&self) -> u64 {
        self.listener.denied_peers()
    }

    /// The last few handshakes that failed (at most
    /// [`RECENT_HANDSHAKE_FAILURES`](crate::RECENT_HANDSHAKE_FAILURES), 16),
    /// oldest first: who, when, and why in plain words (see
    /// [`HandshakeFailure`]). The first failure of each kind is also
    /// logged at `WARN` with what to do; this needs no tracing subscriber.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::any(8443)
    ///     .tls_pem_files("cert.pem", "key.pem")
    ///     .bind_tls()
    ///     .await?;
    /// let (stream, _) = listener.accept().await?;
    /// for failure in listener.recent_handshake_failures() {
    ///     eprintln!("{failure}"); // TLS handshake with 127.0.0.1:51514 failed: ...
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recent_handshake_failures(&self) -> Vec<HandshakeFailure> {
        self.failures.recent()
    }

    /// The PEM of the certificate a
    /// [`tls_self_signed`](ServerBuilder::tls_self_signed) listener made,
    /// to hand to clients (their
    /// [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file)); `None`
    /// for any other listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new(("localhost", 0))
    ///     .tls_self_signed(["localhost"])
    ///     .bind_tls()
    ///     .await?;
    /// assert!(listener.self_signed_cert_pem().unwrap().contains("BEGIN CERTIFICATE"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "self-signed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
    pub fn self_signed_cert_pem(&self) -> Option<&str> {
        self.failures.self_signed_pem.as_deref()
    }

    /// How many handshakes are in flight, or done and not yet returned by
    /// [`accept`](Self::accept).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// assert_eq!(listener.handshakes_in_flight(), 0);
    /// # Ok(()) }
    /// ```
    pub fn handshakes_in_flight(&self) -> usize {
        self.handshakes.len()
    }

    /// Accepts the next connection whose TLS handshake completed, with the
    /// peer's address.
    ///
    /// # Errors
    ///
    /// Only those of [`Listener::accept`] (errors a listening socket does
    /// not normally produce). A handshake that fails or times out is
    /// counted in [`handshake_failures`](Self::handshake_failures), kept in
    /// [`recent_handshake_failures`](Self::recent_handshake_failures) and
    /// logged (the first of each kind at `WARN`, the rest at `DEBUG`), and
    /// `accept` goes on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: handshakes in flight and completed ones stay in the
    /// listener for the next call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, peer) = listener.accept().await?;
    /// println!("{peer}: {:?}, SNI {:?}", stream.protocol_version(), stream.server_name());
    /// # Ok(()) }
    /// ```
    pub async fn accept(&mut self) -> io::Result<(ServerTlsStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Accepts the next connection whose TLS handshake completed, as
    /// [`accept`](Self::accept) does, with what is known of it
    /// ([`ConnectionInfo`]: the client's address, the socket's addresses
    /// and, behind [`proxy_protocol`](ServerBuilder::proxy_protocol), the
    /// PROXY header with its TLVs).
    ///
    /// # Errors
    ///
    /// Those of [`accept`](Self::accept).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`accept`](Self::accept).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// let mut listener = ServerBuilder::any(8443).tls_config(config()).bind_tls().await?;
    /// let (stream, info) = listener.accept_with_info().await?;
    /// println!("{} on {}", info.peer(), info.local());
    /// # Ok(()) }
    /// ```
    pub async fn accept_with_info(&mut self) -> io::Result<(ServerTlsStream, ConnectionInfo)> {
        std::future::poll_fn(|cx| self.poll_accept_with_info(cx)).await
    }

    /// Swaps the TLS configuration without a restart (a renewed
    /// certificate): handshakes that start after the call use `config`;
    /// those in flight finish with the configuration they started with,
    /// and connections already open are untouched, so no connection fails
    /// for the swap. The configuration is read once per handshake, when
    /// it starts (behind [`proxy_protocol`](ServerBuilder::proxy_protocol),
    /// once its header is read).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn load() -> Arc<ServerConfig> { unimplemented!() }
    /// let listener = ServerBuilder::any(8443).tls_config(load()).bind_tls().await?;
    /// // ... the certificate was renewed:
    /// listener.set_tls_config(load());
    /// # Ok(()) }
    /// ```
    pub fn set_tls_config(&self, config: Arc<ServerConfig>) {
        self.settings.acceptor.swap(config);
    }

    /// Reloads the certificate chain and key from PEM files (a renewed
    /// certificate, as `nginx -s reload` does), checked as
    /// [`tls_pem_files`](ServerBuilder::tls_pem_files) checks them, and
    /// swaps them in as [`set_tls_config`](Self::set_tls_config) does:
    /// handshakes that start after the call serve the new certificate,
    /// those in flight and connections already open are untouched. The
    /// rest of the configuration (protocol versions, ALPN protocols, client
    /// authentication, the session cache) is kept; the certificate serves
    /// every client (it replaces the configuration's certificate resolver,
    /// SNI included). The files are read in the calling thread.
    ///
    /// # Errors
    ///
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput),
    /// naming the file, for what [`tls_pem_files`](ServerBuilder::tls_pem_files)
    /// refuses (a missing file, no certificate or key, a key of another
    /// certificate, an expired certificate, ...). The server then goes on
    /// with the configuration it had.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = ServerBuilder::any(8443)
    ///     .tls_pem_files("/etc/tls/cert.pem", "/etc/tls/key.pem")
    ///     .bind_tls()
    ///     .await?;
    /// // ... certbot renewed the files:
    /// if let Err(e) = listener.reload_tls_pem_files("/etc/tls/cert.pem", "/etc/tls/key.pem") {
    ///     eprintln!("still serving the old certificate: {e}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn reload_tls_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), ServerError> {
        self.settings.acceptor.reload(cert.as_ref(), key.as_ref())
    }

    /// How many connections were closed because of their PROXY header
    /// (see [`Listener::proxy_header_failures`]); 0 without
    /// [`proxy_protocol`](ServerBuilder::proxy_protocol). A connection
    /// whose header was read and whose handshake failed counts in
    /// [`handshake_failures`](Self::handshake_failures) instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// let listener = ServerBuilder::any(8443).tls_config(config()).bind_tls().await?;
    /// assert_eq!(listener.proxy_header_failures(), 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy-protocol")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
    pub fn proxy_header_failures(&self) -> u64 {
        self.listener.proxy_header_failures()
    }

    /// Polls for the next connection, as [`accept`](Self::accept) does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use std::future::poll_fn;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, peer) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # drop((stream, peer));
    /// # Ok(()) }
    /// ```
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(ServerTlsStream, SocketAddr)>> {
        self.poll_accept_with_info(cx)
            .map_ok(|(stream, info)| (stream, info.peer()))
    }

    /// Polls for the next connection, as
    /// [`accept_with_info`](Self::accept_with_info) does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use std::future::poll_fn;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// let mut listener = ServerBuilder::any(8443).tls_config(config()).bind_tls().await?;
    /// let (stream, info) = poll_fn(|cx| listener.poll_accept_with_info(cx)).await?;
    /// # drop((stream, info));
    /// # Ok(()) }
    /// ```
    pub fn poll_accept_with_info(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(ServerTlsStream, ConnectionInfo)>> {
        loop {
            while self.handshakes.len() < self.settings.max_handshakes {
                match self.listener.poll_accept_tcp(cx) {
                    Poll::Ready(Ok((tcp, peer))) => self.start(tcp, peer),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            match self.handshakes.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some((info, Ok(stream)))))) => {
                    let stream = ServerTlsStream {
                        inner: stream,
                        shutdown_timeout: self.settings.shutdown_timeout,
                        shutdown: ShutdownState::Open,
                    };
                    return Poll::Ready(Ok((stream, info)));
                }
                Poll::Ready(Some(Ok(Some((info, Err(error)))))) => {
                    self.failures.failed(info.peer(), error);
                }
                // The PROXY header failed: closed and counted.
                Poll::Ready(Some(Ok(None))) => {}
                Poll::Ready(Some(Err(error))) => {
                    // A panic in rustls, or the runtime shutting down.
                    self.failures.task_failed();
                    tracing::debug!(%error, "TLS handshake task failed");
                }
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Runs a connection's PROXY header (when the server reads one) and
    /// then its handshake, in one task, each bounded by its timeout.
    fn start(&mut self, tcp: TcpStream, socket_peer: SocketAddr) {
        let cell = self.settings.acceptor.clone();
        let timeout = self.settings.handshake_timeout;
        #[cfg(feature = "proxy-protocol")]
        let proxy = self.listener.proxy_parts();
        let local = self.listener.local_of(&tcp);
        self.handshakes.spawn(async move {
            #[cfg(feature = "proxy-protocol")]
            let (tcp, info) = match proxy {
                Some((settings, failures)) => {
                    super::proxy::accept(tcp, socket_peer, local, Vec::new(), &settings, &failures)
                        .await?
                }
                None => (tcp, ConnectionInfo::direct(socket_peer, local)),
            };
            #[cfg(not(feature = "proxy-protocol"))]
            let info = ConnectionInfo::direct(socket_peer, local);
            let peer = info.peer();
            // The configuration when this handshake starts: a swap applies
            // to the handshakes after it.
            let acceptor = cell.current();
            let accepting = acceptor.accept(tcp);
            let result = match timeout {
                None => accepting.await,
                Some(t) => match tokio::time::timeout(t, accepting).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the client at {peer} sent no complete TLS handshake within {} \
                             (tls_handshake_timeout)",
                            crate::shared::report::Dur(t)
                        ),
                    )),
                },
            };
            Some((info, result))
        });
    }
}

impl Accept for TlsListener {
    type Conn = ServerTlsStream;
    type Addr = SocketAddr;
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(ServerTlsStream, SocketAddr)>> + Send + '_ {
        TlsListener::accept(self)
    }
}

impl Accept for WithInfo<TlsListener> {
    type Conn = ServerTlsStream;
    type Addr = ConnectionInfo;
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(ServerTlsStream, ConnectionInfo)>> + Send + '_ {
        self.0.accept_with_info()
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("local_addrs", &self.listener.local_addrs())
            .field("handshake_timeout", &self.settings.handshake_timeout)
            .field("shutdown_timeout", &self.settings.shutdown_timeout)
            .field("max_handshakes", &self.settings.max_handshakes)
            .field("handshakes_in_flight", &self.handshakes.len())
            .field("handshake_failures", &self.handshake_failures())
            .finish()
    }
}

/// A TLS connection a server accepted, from [`TlsListener::accept`] or
/// handed to a [`serve_tls`](ServerBuilder::serve_tls) handler:
/// [`AsyncRead`] and [`AsyncWrite`], with the TCP stream and the rustls
/// server connection at hand.
///
/// # Shutdown
///
/// `poll_shutdown` (`AsyncWriteExt::shutdown`) sends close_notify, flushes,
/// and shuts the TCP write side, and takes at most the
/// [`tls_shutdown_timeout`](ServerBuilder::tls_shutdown_timeout) (30 s by
/// default), counted from its first poll. When a client has stopped
/// reading, the flush can never finish: when the timeout passes the
/// connection is aborted (`SO_LINGER` 0, both directions shut: the client
/// gets a reset) and the call fails with `TimedOut`. It does not wait for
/// the client's close_notify; the same rules as the client's
/// [`TlsStream`](crate::TlsStream).
///
/// # Examples
///
/// ```no_run
/// # use std::sync::Arc;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
/// # let config = config();
/// let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
/// let (mut stream, _) = listener.accept().await?;
/// let mut buf = [0; 1024];
/// let n = stream.read(&mut buf).await?;
/// stream.write_all(&buf[..n]).await?;
/// stream.shutdown().await?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub struct ServerTlsStream {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    shutdown_timeout: Option<Duration>,
    shutdown: ShutdownState,
}

impl ServerTlsStream {
    /// The TCP stream and the rustls connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// let (tcp, tls) = stream.get_ref();
    /// println!("{} {:?}", tcp.peer_addr()?, tls.negotiated_cipher_suite());
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> (&TcpStream, &ServerConnection) {
        self.inner.get_ref()
    }

    /// The TCP stream and the rustls connection, mutably. Reading or writing
    /// the TCP stream directly corrupts the TLS session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (mut stream, _) = listener.accept().await?;
    /// stream.get_mut().0.set_nodelay(false)?;
    /// # Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> (&mut TcpStream, &mut ServerConnection) {
        self.inner.get_mut()
    }

    /// The TCP stream and the rustls connection, taking the stream apart
    /// (no close_notify is sent).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// let (tcp, tls) = stream.into_inner();
    /// # drop((tcp, tls));
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> (TcpStream, ServerConnection) {
        self.inner.into_inner()
    }

    /// The TLS version negotiated (`TLSv1_3`, `TLSv1_2`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// println!("{:?}", stream.protocol_version());
    /// # Ok(()) }
    /// ```
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.get_ref().1.protocol_version()
    }

    /// The protocol picked with ALPN (from the configuration's
    /// `alpn_protocols` and the client's offer), or `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// if stream.alpn_protocol() == Some(b"h2") {
    ///     println!("HTTP/2");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.get_ref().1.alpn_protocol()
    }

    /// The host name the client asked for with SNI, or `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// println!("virtual host {:?}", stream.server_name());
    /// # Ok(()) }
    /// ```
    pub fn server_name(&self) -> Option<&str> {
        self.inner.get_ref().1.server_name()
    }

    /// The client's certificate chain, leaf first, when the configuration
    /// asked for client authentication.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// if let Some(chain) = stream.peer_certificates() {
    ///     println!("client certificate, {} bytes", chain[0].len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.get_ref().1.peer_certificates()
    }

    /// The client's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, peer) = listener.accept().await?;
    /// assert_eq!(stream.peer_addr()?, peer);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }

    /// The local address of the connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// println!("on {}", stream.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.local_addr()
    }

    /// The bound on shutdown (see the type's docs); `None` for no bound.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use std::time::Duration;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # fn config() -> Arc<tokio_endpoints::rustls::ServerConfig> { unimplemented!() }
    /// # let config = config();
    /// # let mut listener = ServerBuilder::any(8443).tls_config(config).bind_tls().await?;
    /// let (stream, _) = listener.accept().await?;
    /// assert_eq!(stream.shutdown_timeout(), Some(Duration::from_secs(30)));
    /// # Ok(()) }
    /// ```
    pub fn shutdown_timeout(&self) -> Option<Duration> {
        self.shutdown_timeout
    }
}

/// Under [`StreamReader`](crate::StreamReader) and
/// [`StreamWriter`](crate::StreamWriter).
impl crate::shared::stream::TlsConn for ServerTlsStream {
    fn tcp(&self) -> &TcpStream {
        self.inner.get_ref().0
    }
}

impl AsyncRead for ServerTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServerTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends close_notify, flushes and shuts the TCP write side, within the
    /// shutdown timeout; see the type's docs.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.shutdown
            .poll_shutdown(cx, this.shutdown_timeout, &mut this.inner)
    }
}

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::unix::io::AsRawFd for ServerTlsStream {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        std::os::unix::io::AsRawFd::as_raw_fd(self.inner.get_ref().0)
    }
}

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::unix::io::AsFd for ServerTlsStream {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        std::os::unix::io::AsFd::as_fd(self.inner.get_ref().0)
    }
}

#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
impl std::os::windows::io::AsRawSocket for ServerTlsStream {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        std::os::windows::io::AsRawSocket::as_raw_socket(self.inner.get_ref().0)
    }
}

#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
impl std::os::windows::io::AsSocket for ServerTlsStream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        std::os::windows::io::AsSocket::as_socket(self.inner.get_ref().0)
    }
}

impl fmt::Debug for ServerTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tcp, tls) = self.inner.get_ref();
        f.debug_struct("ServerTlsStream")
            .field("local_addr", &tcp.local_addr().ok())
            .field("peer_addr", &tcp.peer_addr().ok())
            .field("protocol_version", &tls.protocol_version())
            .field("server_name", &tls.server_name())
            .field(
                "alpn_protocol",
                &tls.alpn_protocol().map(String::from_utf8_lossy),
            )
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
