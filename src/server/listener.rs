//! [`Listener`]: the listening sockets of one server, accepted from fairly,
//! with transient accept errors absorbed.
//!
//! # Accept errors that must not end a server
//!
//! `accept(2)` fails for reasons that say nothing about the listening
//! socket: the connection was reset or aborted while it sat in the queue
//! (`ECONNABORTED`, `ECONNRESET`, `EPROTO`), or the process or system is out
//! of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`). A
//! loop that returns on the first error (`while let Ok(..) = accept()`)
//! stops serving for good the first time a client resets early, and one
//! that retries at once spins at 100% CPU while descriptors are exhausted,
//! because the pending connection stays in the queue and every call fails
//! again. hyper and axum both shipped the first bug.
//!
//! So [`Listener::accept`] tries again at once after a connection error,
//! and after a resource error sleeps first, 1 ms doubling up to 1 s, until
//! an accept succeeds; both are logged with `tracing` (a warning for
//! resources, once per backoff step). Only other errors (which a valid
//! listening socket does not produce) are returned.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use super::error::{ServerError, ServerErrorKind};
use super::info::ConnectionInfo;
use crate::shared::policy::AddressPolicy;

pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(1);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The default [`backlog`](crate::ServerBuilder::backlog): 1024, as tokio's
/// `TcpListener::bind`; the kernel clips it to its own maximum
/// (`net.core.somaxconn` on Linux).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// What a [`Listener`] does with each connection it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AcceptOptions {
    pub(crate) nodelay: bool,
}

/// The listening sockets made by [`ServerBuilder::bind`](crate::ServerBuilder::bind):
/// one [`tokio::net::TcpListener`] per address, accepted from as one.
///
/// [`accept`](Self::accept) returns plain [`TcpStream`]s, with
/// `TCP_NODELAY` set (unless [`nodelay(false)`](crate::ServerBuilder::nodelay)).
/// Connections from peers the [`peer_policy`](crate::ServerBuilder::peer_policy)
/// refuses are closed as they are accepted and never returned (see
/// [`denied_peers`](Self::denied_peers)).
/// It takes connections from its sockets in turn, so a busy address cannot
/// starve another, and it never fails for a transient error (see the
/// module docs: a reset before accept, no descriptors left). A `Listener`
/// is also a [`Stream`] of connections.
///
/// Dropping it closes every listening socket.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let mut listener = ServerBuilder::new(("localhost", 0)).bind().await?;
///     let port = listener.local_addrs()[0].port();
///     tokio::spawn(async move {
///         loop {
///             let (stream, peer) = listener.accept().await.unwrap();
///             println!("{peer} connected");
///             drop(stream);
///         }
///     });
///     let _client = ConnectionBuilder::new(("localhost", port)).connect().await?;
///     Ok(())
/// }
/// ```
pub struct Listener {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    /// The socket to ask first on the next accept.
    next: usize,
    options: AcceptOptions,
    backoff: Option<Pin<Box<Sleep>>>,
    delay: Duration,
    /// Who may connect in; `None`: anyone.
    peer_policy: Option<AddressPolicy>,
    /// How many connections the peer policy closed (shared with a `Server`).
    denied: Arc<AtomicU64>,
    /// The PROXY protocol: headers being read, and their failures.
    #[cfg(feature = "proxy-protocol")]
    proxy: Option<super::proxy::Proxy>,
}

impl Listener {
    pub(crate) fn new(
        listeners: Vec<TcpListener>,
        options: AcceptOptions,
    ) -> Result<Listener, ServerError> {
        let mut addrs = Vec::with_capacity(listeners.len());
        for l in &listeners {
            match l.local_addr() {
                Ok(a) => addrs.push(a),
                Err(e) => {
                    return Err(ServerError::new(ServerErrorKind::BindFailed, "listener")
                        .with_message(format!("cannot read a listening socket's address: {e}")))
                }
            }
        }
        Ok(Listener {
            listeners,
            addrs,
            next: 0,
            options,
            backoff: None,
            delay: FIRST_BACKOFF,
            peer_policy: None,
            denied: Arc::default(),
            #[cfg(feature = "proxy-protocol")]
            proxy: None,
        })
    }

    /// Closes connections from peers `policy` refuses, right after accept.
    pub(crate) fn with_peer_policy(mut self, policy: Option<AddressPolicy>) -> Listener {
        self.peer_policy = policy;
        self
    }

    /// The count behind [`denied_peers`](Self::denied_peers), for a `Server`.
    pub(crate) fn denied_counter(&self) -> Arc<AtomicU64> {
        self.denied.clone()
    }

    /// How many connections were closed because the
    /// [`peer_policy`](crate::ServerBuilder::peer_policy) refused their
    /// peer's address (0 without a policy).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = ServerBuilder::new("127.0.0.1:0")
    ///     .peer_policy(AddressPolicy::allow_only(["10.0.0.0/8".parse()?]))
    ///     .bind()
    ///     .await?;
    /// assert_eq!(listener.denied_peers(), 0);
    /// # Ok(()) }
    /// ```
    pub fn denied_peers(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    /// Reads a PROXY header on every connection before handing it on.
    #[cfg(feature = "proxy-protocol")]
    pub(crate) fn with_proxy(mut self, mut settings: super::proxy::ProxySettings) -> Listener {
        // Clients the client policy refuses count with the refused peers.
        settings.denied = self.denied.clone();
        self.proxy = Some(super::proxy::Proxy::new(settings));
        self
    }

    /// The PROXY protocol's settings and failures, for a listener that
    /// reads the header itself (TLS: header and handshake in one task).
    #[cfg(all(feature = "proxy-protocol", feature = "tls"))]
    pub(crate) fn proxy_parts(
        &self,
    ) -> Option<(
        std::sync::Arc<super::proxy::ProxySettings>,
        std::sync::Arc<super::proxy::ProxyFailures>,
    )> {
        self.proxy
            .as_ref()
            .map(|p| (p.settings.clone(), p.failures.clone()))
    }

    /// How many connections were closed because of their PROXY header
    /// (untrusted peer, malformed, truncated, missing, timed out; see
    /// [`ProxyProtocol`](crate::ProxyProtocol)); 0 without
    /// [`proxy_protocol`](crate::ServerBuilder::proxy_protocol).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ProxyProtocol, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = ServerBuilder::new("127.0.0.1:0")
    ///     .proxy_protocol(ProxyProtocol::new().trusted(["127.0.0.1/32".parse()?]))
    ///     .bind()
    ///     .await?;
    /// assert_eq!(listener.proxy_header_failures(), 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy-protocol")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
    pub fn proxy_header_failures(&self) -> u64 {
        self.proxy.as_ref().map_or(0, |p| p.failures.count())
    }

    #[cfg(feature = "proxy-protocol")]
    pub(crate) fn proxy_failures(&self) -> Option<std::sync::Arc<super::proxy::ProxyFailures>> {
        self.proxy.as_ref().map(|p| p.failures.clone())
    }

    /// The addresses the sockets listen on, one per socket, in the order
    /// they were bound (the resolver's order; `[::]` before `0.0.0.0` for
    /// [`any`](crate::ServerBuilder::any)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new(("localhost", 0)).bind().await?;
    /// let addrs = listener.local_addrs();
    /// assert!(addrs.iter().all(|a| a.port() == addrs[0].port()));
    /// # Ok(()) }
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// The listening sockets themselves, for their options and addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// assert_eq!(listener.listeners()[0].ttl()?, 64);
    /// # Ok(()) }
    /// ```
    pub fn listeners(&self) -> &[TcpListener] {
        &self.listeners
    }

    /// Takes the listening sockets apart.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let sockets: Vec<tokio::net::TcpListener> = listener.into_listeners();
    /// assert_eq!(sockets.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn into_listeners(self) -> Vec<TcpListener> {
        self.listeners
    }

    /// Accepts the next connection on any of the sockets, taking them in
    /// turn, and returns it with the peer's address: behind
    /// [`proxy_protocol`](crate::ServerBuilder::proxy_protocol), the
    /// client's address from the PROXY header (its header, TLVs and the
    /// balancer's address are in [`accept_with_info`](Self::accept_with_info)).
    ///
    /// # Errors
    ///
    /// Only errors a listening socket does not normally produce (`EBADF`,
    /// `EINVAL`). Connection errors (`ECONNABORTED`, `ECONNRESET`) are
    /// skipped, and resource errors (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`) are waited out with a backoff of 1 ms doubling to 1 s;
    /// both are logged with `tracing`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is taken from the kernel only in the poll
    /// that returns it, and a backoff in progress carries over to the next
    /// call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::any(8080).bind().await?;
    /// loop {
    ///     let (stream, peer) = listener.accept().await?;
    ///     tokio::spawn(async move {
    ///         println!("{peer}: {:?}", stream.local_addr());
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection, as [`accept`](Self::accept) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let addr = listener.local_addrs()[0];
    /// let client = tokio::net::TcpStream::connect(addr).await?;
    /// let (stream, peer) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        #[cfg(feature = "proxy-protocol")]
        if self.proxy.is_some() {
            return self
                .poll_accept_with_info(cx)
                .map_ok(|(stream, info)| (stream, info.peer()));
        }
        self.poll_accept_tcp(cx)
    }

    /// Accepts the next connection as [`accept`](Self::accept) does, and
    /// returns it with what is known of it ([`ConnectionInfo`]: the
    /// client's address, the socket's addresses and, behind
    /// [`proxy_protocol`](crate::ServerBuilder::proxy_protocol), the PROXY
    /// header with its TLVs).
    ///
    /// # Errors
    ///
    /// Those of [`accept`](Self::accept). A connection whose PROXY header
    /// fails is closed and counted
    /// ([`proxy_header_failures`](Self::proxy_header_failures)), never an
    /// error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: headers being read stay in the listener for the next
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
    /// let (stream, info) = listener.accept_with_info().await?;
    /// assert_eq!(info.peer(), client.local_addr()?);
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    pub async fn accept_with_info(&mut self) -> io::Result<(TcpStream, ConnectionInfo)> {
        std::future::poll_fn(|cx| self.poll_accept_with_info(cx)).await
    }

    /// Polls for the next connection, as
    /// [`accept_with_info`](Self::accept_with_info) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let _client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
    /// let (_stream, info) = poll_fn(|cx| listener.poll_accept_with_info(cx)).await?;
    /// # drop(info);
    /// # Ok(()) }
    /// ```
    pub fn poll_accept_with_info(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, ConnectionInfo)>> {
        #[cfg(feature = "proxy-protocol")]
        if self.proxy.is_some() {
            return self.poll_proxied(cx);
        }
        self.poll_accept_tcp(cx).map_ok(|(stream, peer)| {
            let local = self.local_of(&stream);
            (stream, ConnectionInfo::direct(peer, local))
        })
    }

    /// The local address of an accepted connection: the listening
    /// address when there is one socket on a specific address (no system
    /// call), else the connection's own.
    pub(crate) fn local_of(&self, stream: &TcpStream) -> SocketAddr {
        match self.addrs[..] {
            [one] if !one.ip().is_unspecified() => one,
            _ => stream.local_addr().unwrap_or(self.addrs[0]),
        }
    }

    /// Takes connections while fewer headers than the bound are being
    /// read, each read in a task of its own; returns the first whose
    /// header is read.
    #[cfg(feature = "proxy-protocol")]
    fn poll_proxied(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, ConnectionInfo)>> {
        loop {
            while let Some(proxy) = &self.proxy {
                if proxy.pending.len() >= proxy.settings.max_pending {
                    break;
                }
                match self.poll_accept_tcp(cx) {
                    Poll::Ready(Ok((tcp, peer))) => {
                        let local = self.local_of(&tcp);
                        if let Some(proxy) = &mut self.proxy {
                            if let Some(ready) = proxy.start(tcp, peer, local) {
                                return Poll::Ready(Ok(ready));
                            }
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            let Some(proxy) = &mut self.proxy else {
                return Poll::Pending;
            };
            match proxy.pending.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some(accepted)))) => return Poll::Ready(Ok(accepted)),
                // Closed and counted.
                Poll::Ready(Some(Ok(None))) => {}
                Poll::Ready(Some(Err(error))) => {
                    tracing::debug!(%error, "PROXY header task failed");
                }
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Accepts a TCP connection, without reading a PROXY header.
    pub(crate) fn poll_accept_tcp(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        'again: loop {
            if let Some(sleep) = &mut self.backoff {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
            }
            let n = self.listeners.len();
            for i in 0..n {
                let index = (self.next + i) % n;
                match self.listeners[index].poll_accept(cx) {
                    Poll::Pending => continue,
                    Poll::Ready(Ok((stream, peer))) => {
                        self.next = (index + 1) % n;
                        self.delay = FIRST_BACKOFF;
                        if let Some(policy) = &self.peer_policy {
                            if let Err(refused) = policy.check(peer.ip()) {
                                // Closed here, before TLS or anything else
                                // reads from it; never handed on.
                                drop(stream);
                                let count = self.denied.fetch_add(1, Ordering::Relaxed) + 1;
                                tracing::debug!(%peer, %refused, denied_peers = count, "connection closed: peer refused by the peer policy");
                                continue 'again;
                            }
                        }
                        if self.options.nodelay {
                            if let Err(e) = stream.set_nodelay(true) {
                                tracing::debug!(%peer, error = %e, "TCP_NODELAY on an accepted connection failed");
                            }
                        }
                        return Poll::Ready(Ok((stream, peer)));
                    }
                    Poll::Ready(Err(e)) => match classify(&e) {
                        AcceptError::Connection => {
                            tracing::debug!(addr = %self.addrs[index], error = %e, "accept: connection failed before it was accepted; going on");
                            continue 'again;
                        }
                        AcceptError::Resources => {
                            let delay = self.delay;
                            tracing::warn!(addr = %self.addrs[index], error = %e, ?delay, "accept: out of resources; backing off");
                            self.delay = (delay * 2).min(MAX_BACKOFF);
                            self.backoff = Some(Box::pin(tokio::time::sleep(delay)));
                            // Start after this socket next time, so the
                            // others are not starved by its backlog.
                            self.next = (index + 1) % n;
                            continue 'again;
                        }
                        AcceptError::Fatal => {
                            tracing::error!(addr = %self.addrs[index], error = %e, "accept failed");
                            self.next = (index + 1) % n;
                            return Poll::Ready(Err(e));
                        }
                    },
                }
            }
            return Poll::Pending;
        }
    }
}

pub(crate) enum AcceptError {
    /// The connection died in the queue: try the next one.
    Connection,
    /// No descriptors or memory: wait, then try again.
    Resources,
    /// Anything else: the caller's.
    Fatal,
}

pub(crate) fn classify(e: &io::Error) -> AcceptError {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut => {
            return AcceptError::Connection
        }
        OutOfMemory => return AcceptError::Resources,
        _ => {}
    }
    if crate::sys::accept_out_of_resources(e) {
        AcceptError::Resources
    } else if crate::sys::accept_connection_failed(e) {
        AcceptError::Connection
    } else {
        AcceptError::Fatal
    }
}

impl Stream for Listener {
    type Item = io::Result<(TcpStream, SocketAddr)>;

    /// The next connection, as [`Listener::accept`]; never ends.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(Some)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local_addrs", &self.addrs)
            .field("nodelay", &self.options.nodelay)
            .field("backing_off", &self.backoff.is_some())
            .field("peer_policy", &self.peer_policy)
            .field("denied_peers", &self.denied_peers())
            .finish_non_exhaustive()
    }
}
