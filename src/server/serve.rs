//! [`Server`]: asyncio's `start_server`, a task that accepts connections
//! and spawns a handler for each.
//!
//! The accept loop is one task that owns the listener and a
//! [`JoinSet`] of the handlers: finished handlers are reaped as they end
//! (so a long-running server does not grow), a handler that panics is
//! logged and forgotten (the `JoinSet` catches the panic), and aborting the
//! set aborts every handler, which closes their connections.
//! [`Server::shutdown`] is asyncio 3.13's `close()` + `close_clients()` +
//! `abort_clients()`, with a grace period between the last two.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::builder::ServerBuilder;
use super::error::ServerError;
use super::info::ConnectionInfo;
use super::listener::Listener;
use crate::shared::stream::{StreamReader, StreamWriter};

/// What an accept loop takes connections from.
pub(crate) trait Accept: Send + 'static {
    type Conn: Send + 'static;
    type Addr: fmt::Debug + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Conn, Self::Addr)>> + Send + '_;
}

impl Accept for Listener {
    type Conn = TcpStream;
    type Addr = SocketAddr;
    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send + '_ {
        Listener::accept(self)
    }
}

/// What a [`Server`] keeps of its listener's PROXY protocol: the failures.
#[cfg(feature = "proxy-protocol")]
pub(crate) type ProxyOf = Option<Arc<super::proxy::ProxyFailures>>;
#[cfg(not(feature = "proxy-protocol"))]
pub(crate) type ProxyOf = Option<std::convert::Infallible>;

#[cfg_attr(not(feature = "proxy-protocol"), allow(unused_variables))]
pub(crate) fn proxy_of(listener: &Listener) -> ProxyOf {
    #[cfg(feature = "proxy-protocol")]
    {
        listener.proxy_failures()
    }
    #[cfg(not(feature = "proxy-protocol"))]
    {
        None
    }
}

/// An acceptor whose handlers get a [`ConnectionInfo`] for the peer.
pub(crate) struct WithInfo<L>(pub(crate) L);

impl Accept for WithInfo<Listener> {
    type Conn = TcpStream;
    type Addr = ConnectionInfo;
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(TcpStream, ConnectionInfo)>> + Send + '_ {
        self.0.accept_with_info()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Serve,
    /// Stop accepting; let the handlers finish.
    Close,
    /// Stop accepting and abort the handlers.
    Abort,
}

/// A running server, from [`ServerBuilder::serve`],
/// [`serve_tls`](ServerBuilder::serve_tls) or
/// [`serve_streams`](ServerBuilder::serve_streams): asyncio's `Server`.
///
/// One task accepts connections and spawns the handler for each; a handler
/// that panics is logged and does not stop the server.
///
/// | asyncio `Server` | here |
/// |---|---|
/// | `sockets` | [`local_addrs`](Self::local_addrs) |
/// | `is_serving()` | [`is_serving`](Self::is_serving) |
/// | `close()` | [`close`](Self::close) |
/// | `await wait_closed()` | [`wait_closed`](Self::wait_closed) |
/// | `close_clients()`, `abort_clients()` (3.13) | [`shutdown(grace)`](Self::shutdown), [`abort`](Self::abort) |
/// | `serve_forever()` | [`wait_closed`](Self::wait_closed) |
///
/// Dropping the `Server` aborts it: the listening sockets close and every
/// handler is aborted, so no task outlives the handle by accident. Keep it
/// alive (or await [`wait_closed`](Self::wait_closed)) while serving.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let server = ServerBuilder::new(("localhost", 0))
///         .serve(|mut stream, _peer| async move {
///             let mut buf = [0; 64];
///             while let Ok(n @ 1..) = stream.read(&mut buf).await {
///                 if stream.write_all(&buf[..n]).await.is_err() {
///                     break;
///                 }
///             }
///         })
///         .await?;
///     let port = server.local_addrs()[0].port();
///
///     let mut client = ConnectionBuilder::new(("localhost", port)).connect().await?;
///     client.write_all(b"echo").await?;
///     let mut buf = [0; 4];
///     client.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"echo");
///
///     drop(client);
///     server.shutdown(Duration::from_secs(1)).await;
///     Ok(())
/// }
/// ```
#[must_use = "dropping a Server stops it"]
pub struct Server {
    addrs: Vec<SocketAddr>,
    serving: Arc<AtomicBool>,
    command: watch::Sender<Command>,
    /// Closed (the sender dropped) when the accept task has ended.
    done: watch::Receiver<()>,
    /// The TLS listener's failed handshakes.
    #[cfg(feature = "tls")]
    handshakes: Option<Arc<super::handshakes::Handshakes>>,
    /// The listener's count of peers the peer policy refused.
    denied: Option<Arc<AtomicU64>>,
    /// The TLS listener's configuration, to swap.
    #[cfg(feature = "tls")]
    tls_config: Option<super::tls_options::TlsConfigCell>,
    /// The listener's failed PROXY headers.
    #[cfg(feature = "proxy-protocol")]
    proxy: Option<Arc<super::proxy::ProxyFailures>>,
}

impl Server {
    pub(crate) fn start<A, F, Fut>(acceptor: A, addrs: Vec<SocketAddr>, handler: F) -> Server
    where
        A: Accept,
        F: Fn(A::Conn, A::Addr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let serving = Arc::new(AtomicBool::new(true));
        let (command, commands) = watch::channel(Command::Serve);
        let (done_tx, done) = watch::channel(());
        tokio::spawn(run(acceptor, handler, commands, serving.clone(), done_tx));
        Server {
            addrs,
            serving,
            command,
            done,
            #[cfg(feature = "tls")]
            handshakes: None,
            denied: None,
            #[cfg(feature = "tls")]
            tls_config: None,
            #[cfg(feature = "proxy-protocol")]
            proxy: None,
        }
    }

    pub(crate) fn with_denied_peers(mut self, denied: Arc<AtomicU64>) -> Server {
        self.denied = Some(denied);
        self
    }

    /// How many connections were closed because the
    /// [`peer_policy`](ServerBuilder::peer_policy) refused their peer (see
    /// [`Listener::denied_peers`]); 0 without a policy, and for a Unix
    /// socket server.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .peer_policy(AddressPolicy::public_only())
    ///     .serve(|_, _| async {})
    ///     .await?;
    /// let addr = server.local_addrs()[0];
    /// let _refused = tokio::net::TcpStream::connect(addr).await?;
    /// # while server.denied_peers() == 0 { tokio::task::yield_now().await; }
    /// assert_eq!(server.denied_peers(), 1); // 127.0.0.1 is loopback
    /// # server.abort();
    /// # Ok(()) }
    /// ```
    pub fn denied_peers(&self) -> u64 {
        self.denied
            .as_ref()
            .map_or(0, |d| d.load(Ordering::Relaxed))
    }

    #[cfg(feature = "tls")]
    pub(crate) fn with_handshakes(
        mut self,
        handshakes: Arc<super::handshakes::Handshakes>,
        tls_config: super::tls_options::TlsConfigCell,
    ) -> Server {
        self.handshakes = Some(handshakes);
        self.tls_config = Some(tls_config);
        self
    }

    #[cfg_attr(not(feature = "proxy-protocol"), allow(unused_variables, unused_mut))]
    pub(crate) fn with_proxy(mut self, proxy: ProxyOf) -> Server {
        #[cfg(feature = "proxy-protocol")]
        {
            self.proxy = proxy;
        }
        self
    }

    /// How many connections were closed because of their PROXY header
    /// (see [`Listener::proxy_header_failures`]); 0 for a server without
    /// [`proxy_protocol`](ServerBuilder::proxy_protocol).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ProxyProtocol, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .proxy_protocol(ProxyProtocol::new().trusted(["127.0.0.1/32".parse()?]))
    ///     .serve(|_, _| async {})
    ///     .await?;
    /// assert_eq!(server.proxy_header_failures(), 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy-protocol")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
    pub fn proxy_header_failures(&self) -> u64 {
        self.proxy.as_ref().map_or(0, |p| p.count())
    }

    /// Swaps the TLS configuration (a renewed certificate, new ALPN
    /// protocols) of a server from [`serve_tls`](ServerBuilder::serve_tls),
    /// without a restart: handshakes that start after the call use
    /// `config`; those in flight finish with the old one, and connections
    /// already open are untouched. No connection fails for the swap. See
    /// [`TlsListener::set_tls_config`](crate::TlsListener::set_tls_config);
    /// to reload PEM files with their checks, see
    /// [`reload_tls_pem_files`](Self::reload_tls_pem_files).
    ///
    /// # Errors
    ///
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput)
    /// for a server that does not serve TLS (from [`serve`](ServerBuilder::serve),
    /// not [`serve_tls`](ServerBuilder::serve_tls)): it has no configuration
    /// to swap, and `config` is dropped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_endpoints::rustls::ServerConfig;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # fn load() -> Arc<ServerConfig> { unimplemented!() }
    /// let server = ServerBuilder::any(8443)
    ///     .tls_config(load())
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// let mut renewals = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    /// loop {
    ///     renewals.tick().await;
    ///     server.set_tls_config(load())?;
    /// }
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn set_tls_config(&self, config: Arc<rustls::ServerConfig>) -> Result<(), ServerError> {
        self.tls_cell("set_tls_config")?.swap(config);
        Ok(())
    }

    /// Reloads the certificate chain and key of a server from
    /// [`serve_tls`](ServerBuilder::serve_tls) from PEM files, checked as
    /// [`tls_pem_files`](ServerBuilder::tls_pem_files) checks them, keeping
    /// the rest of its configuration: see
    /// [`TlsListener::reload_tls_pem_files`](crate::TlsListener::reload_tls_pem_files).
    /// Handshakes that start after the call serve the new certificate; on
    /// an error the server goes on with the one it had.
    ///
    /// # Errors
    ///
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput),
    /// naming the file, for what `tls_pem_files` refuses, and for a server
    /// that does not serve TLS.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (cert, key) = ("/etc/tls/cert.pem", "/etc/tls/key.pem");
    /// let server = ServerBuilder::any(8443)
    ///     .tls_pem_files(cert, key)
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// let mut renewals = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    /// loop {
    ///     renewals.tick().await;
    ///     if let Err(e) = server.reload_tls_pem_files(cert, key) {
    ///         eprintln!("still serving the old certificate: {e}");
    ///     }
    /// }
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn reload_tls_pem_files(
        &self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<(), ServerError> {
        self.tls_cell("reload_tls_pem_files")?
            .reload(cert.as_ref(), key.as_ref())
    }

    /// The TLS configuration to swap, or why there is none.
    #[cfg(feature = "tls")]
    fn tls_cell(&self, call: &str) -> Result<&super::tls_options::TlsConfigCell, ServerError> {
        self.tls_config.as_ref().ok_or_else(|| {
            let addrs: Vec<String> = self.addrs.iter().map(|a| a.to_string()).collect();
            ServerError::invalid(
                format!("server on {}", addrs.join(", ")),
                format!(
                    "{call}: this server does not serve TLS (it was started with serve, not \
                     serve_tls), so it has no TLS configuration to swap"
                ),
            )
        })
    }

    /// How many TLS handshakes have failed or timed out, for a server from
    /// [`serve_tls`](ServerBuilder::serve_tls) (see
    /// [`TlsListener::handshake_failures`](crate::TlsListener::handshake_failures));
    /// 0 for a plain server.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0").serve(|_, _| async {}).await?;
    /// assert_eq!(server.tls_handshake_failures(), 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_handshake_failures(&self) -> u64 {
        self.handshakes.as_ref().map_or(0, |h| h.count())
    }

    /// The last few TLS handshakes that failed (at most
    /// [`RECENT_HANDSHAKE_FAILURES`](crate::RECENT_HANDSHAKE_FAILURES), 16),
    /// oldest first, for a server from
    /// [`serve_tls`](ServerBuilder::serve_tls): who, when, and why in plain
    /// words (see [`HandshakeFailure`](crate::HandshakeFailure)); empty for
    /// a plain server. The first failure of each kind is also logged at
    /// `WARN`; this needs no tracing subscriber.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("localhost:8443")
    ///     .tls_pem_files("cert.pem", "key.pem")
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// # tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    /// for failure in server.recent_handshake_failures() {
    ///     eprintln!("{failure}");
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn recent_handshake_failures(&self) -> Vec<crate::HandshakeFailure> {
        self.handshakes
            .as_ref()
            .map_or_else(Vec::new, |h| h.recent())
    }

    /// The PEM of the certificate a
    /// [`tls_self_signed`](ServerBuilder::tls_self_signed) server made, to
    /// hand to clients (their
    /// [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file)); `None` for
    /// any other server.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new(("localhost", 0))
    ///     .tls_self_signed(["localhost", "127.0.0.1", "::1"])
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// let pem = server.self_signed_cert_pem().unwrap();
    /// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "self-signed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
    pub fn self_signed_cert_pem(&self) -> Option<&str> {
        self.handshakes.as_ref()?.self_signed_pem.as_deref()
    }

    /// The addresses the server listens on (asyncio's `sockets`), even
    /// after it stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0").serve(|_, _| async {}).await?;
    /// assert_eq!(server.local_addrs()[0].ip(), std::net::Ipv4Addr::LOCALHOST);
    /// # Ok(()) }
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Whether the server still accepts connections (asyncio's
    /// `is_serving()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0").serve(|_, _| async {}).await?;
    /// assert!(server.is_serving());
    /// server.close();
    /// assert!(!server.is_serving());
    /// # Ok(()) }
    /// ```
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Stops accepting: the listening sockets are closed (asyncio's
    /// `close()`), at once, even while the accept loop waits out an
    /// accept error. Connections being handled go on; await
    /// [`wait_closed`](Self::wait_closed) for them to end, or
    /// [`shutdown`](Self::shutdown) to bound the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0").serve(|_, _| async {}).await?;
    /// server.close();
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.serving.store(false, Ordering::Release);
        self.command.send_if_modified(|c| {
            if *c == Command::Serve {
                *c = Command::Close;
                true
            } else {
                false
            }
        });
    }

    /// Stops accepting and aborts every handler at once (even while the
    /// accept loop waits out an accept error): their connections are
    /// closed (asyncio's `close()` with `abort_clients()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .serve(|_, _| std::future::pending())
    ///     .await?;
    /// server.abort();
    /// server.wait_closed().await; // at once
    /// # Ok(()) }
    /// ```
    pub fn abort(&self) {
        self.serving.store(false, Ordering::Release);
        self.command.send_replace(Command::Abort);
    }

    /// Waits until the server is closed and every handler has ended
    /// (asyncio 3.12's `wait_closed()`; before [`close`](Self::close), it
    /// waits for someone to call it, like `serve_forever()`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::any(8080).serve(|_, _| async {}).await?;
    /// server.wait_closed().await; // serve forever
    /// # Ok(()) }
    /// ```
    pub async fn wait_closed(&self) {
        let mut done = self.done.clone();
        // The accept task drops the sender when it ends.
        while done.changed().await.is_ok() {}
    }

    /// Stops accepting, waits up to `grace` for the handlers to end, then
    /// aborts those still running, and returns when all have ended:
    /// asyncio 3.13's `close()`, `close_clients()` with a delay, and
    /// `abort_clients()`.
    ///
    /// # Cancel safety
    ///
    /// The server is closed by the first poll; cancelling the wait leaves
    /// the handlers running (call [`abort`](Self::abort) or drop the
    /// `Server` to end them).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .serve(|_, _| std::future::pending())
    ///     .await?;
    /// let _client = tokio::net::TcpStream::connect(server.local_addrs()[0]).await?;
    /// server.shutdown(Duration::from_millis(100)).await; // the handler is aborted
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, grace: Duration) {
        self.close();
        if tokio::time::timeout(grace, self.wait_closed())
            .await
            .is_err()
        {
            tracing::debug!(
                ?grace,
                "handlers still running after the grace period; aborting them"
            );
            self.abort();
            self.wait_closed().await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.command.send_replace(Command::Abort);
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.addrs)
            .field("is_serving", &self.is_serving())
            .finish()
    }
}

/// How long the accept loop waits after an accept error the listener did
/// not absorb (one a valid listening socket does not produce) before it
/// tries again. [`Server::close`] and [`Server::abort`] end the wait.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

async fn run<A, F, Fut>(
    mut acceptor: A,
    handler: F,
    mut commands: watch::Receiver<Command>,
    serving: Arc<AtomicBool>,
    done: watch::Sender<()>,
) where
    A: Accept,
    F: Fn(A::Conn, A::Addr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut handlers = JoinSet::new();
    // The pause after a failed accept: a branch of the select, not a sleep
    // inside one, so that close and abort end it at once and finished
    // handlers are still reaped while it lasts.
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pause);
    let mut paused = false;
    // Accept until told to close (or the handle is gone).
    loop {
        tokio::select! {
            biased;
            changed = commands.changed() => {
                if changed.is_err() || *commands.borrow_and_update() != Command::Serve {
                    break;
                }
            }
            Some(result) = handlers.join_next(), if !handlers.is_empty() => reap(result),
            () = &mut pause, if paused => paused = false,
            accepted = acceptor.accept(), if !paused => match accepted {
                Ok((conn, peer)) => {
                    tracing::trace!(?peer, "connection accepted");
                    handlers.spawn(handler(conn, peer));
                }
                Err(e) => {
                    // Transient errors never get here (the listener waits
                    // them out); wait a little so this cannot spin.
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    pause.as_mut().reset(tokio::time::Instant::now() + RETRY_AFTER_ERROR);
                    paused = true;
                }
            },
        }
    }
    serving.store(false, Ordering::Release);
    drop(acceptor); // close the listening sockets
    tracing::debug!(
        handlers = handlers.len(),
        "server closed; waiting for handlers"
    );
    let mut aborted = false;
    loop {
        if !aborted && *commands.borrow_and_update() == Command::Abort {
            aborted = true;
            handlers.abort_all();
        }
        tokio::select! {
            biased;
            changed = commands.changed(), if !aborted => {
                if changed.is_err() {
                    // The handle is gone: nobody can wait any more.
                    aborted = true;
                    handlers.abort_all();
                }
            }
            next = handlers.join_next() => match next {
                Some(result) => reap(result),
                None => break,
            },
        }
    }
    drop(done);
}

fn reap(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        if e.is_panic() {
            tracing::error!(error = %e, "a connection handler panicked; the server goes on");
        }
    }
}

/// Serving: asyncio's `start_server`, a handler spawned per connection.
impl ServerBuilder {
    /// Binds as [`bind`](Self::bind) does and serves: a task accepts
    /// connections and spawns `handler(stream, peer)` for each (asyncio's
    /// `create_server` with `start_serving=True`, the handler being the
    /// protocol). Returns the running [`Server`].
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind); once serving, accept errors are
    /// handled by the [`Listener`] and logged, never returned.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns the accept task).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::any(8080)
    ///     .serve(|mut stream, peer| async move {
    ///         let _ = stream.write_all(format!("hello {peer}\n").as_bytes()).await;
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = self.bind().await?;
        let addrs = listener.local_addrs();
        let denied = listener.denied_counter();
        let proxy = proxy_of(&listener);
        Ok(Server::start(listener, addrs, handler)
            .with_denied_peers(denied)
            .with_proxy(proxy))
    }

    /// Binds and serves as [`serve`](Self::serve) does, and hands each
    /// connection to `handler` with a [`ConnectionInfo`] instead of the
    /// peer's address: the client's address, the socket's addresses and,
    /// behind [`proxy_protocol`](Self::proxy_protocol), the PROXY header
    /// with its TLVs.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .serve_with_info(|mut stream, info| async move {
    ///         let _ = stream.write_all(info.peer().to_string().as_bytes()).await;
    ///     })
    ///     .await?;
    /// let mut client = tokio::net::TcpStream::connect(server.local_addrs()[0]).await?;
    /// let mut said = String::new();
    /// client.read_to_string(&mut said).await?;
    /// assert_eq!(said, client.local_addr()?.to_string());
    /// # Ok(()) }
    /// ```
    pub async fn serve_with_info<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(TcpStream, ConnectionInfo) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = self.bind().await?;
        let addrs = listener.local_addrs();
        let denied = listener.denied_counter();
        let proxy = proxy_of(&listener);
        Ok(Server::start(WithInfo(listener), addrs, handler)
            .with_denied_peers(denied)
            .with_proxy(proxy))
    }

    /// Binds and serves as [`serve`](Self::serve) does, and hands each
    /// connection to `handler` as a buffered [`StreamReader`] and a
    /// [`StreamWriter`]: asyncio's `start_server(client_connected_cb)`.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    /// use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     // server = await asyncio.start_server(handle, "localhost", 0)
    ///     let server = ServerBuilder::new(("localhost", 0))
    ///         .serve_streams(|mut reader, mut writer| async move {
    ///             let mut line = String::new();
    ///             if reader.read_line(&mut line).await.is_ok() {
    ///                 let _ = writer.write_all(line.to_uppercase().as_bytes()).await;
    ///                 let _ = writer.close().await;
    ///             }
    ///         })
    ///         .await?;
    ///     let port = server.local_addrs()[0].port();
    ///     let (mut reader, mut writer) = ConnectionBuilder::new(("localhost", port))
    ///         .open_connection()
    ///         .await?;
    ///     writer.write_all(b"hello\n").await?;
    ///     let mut line = String::new();
    ///     reader.read_line(&mut line).await?;
    ///     assert_eq!(line, "HELLO\n");
    ///     Ok(())
    /// }
    /// ```
    pub async fn serve_streams<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.serve(move |stream, _peer| {
            let (reader, writer) = crate::shared::stream::tcp_halves(stream);
            handler(reader, writer)
        })
        .await
    }
}
