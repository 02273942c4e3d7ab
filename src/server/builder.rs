//! [`ServerBuilder`]: asyncio's `loop.create_server` and
//! `asyncio.start_server` for Tokio.
//!
//! # What binding does, and why
//!
//! A host name is resolved and one listening socket is made per address,
//! duplicates dropped, as asyncio and trio do: a server on `"localhost"`
//! must answer on `::1` and on `127.0.0.1`, because a client's Happy
//! Eyeballs tries `::1` first. `localhost` (and any name under
//! `.localhost`) is loopback by RFC 6761 §6.3 and is never sent to a
//! resolver: it is `::1` and `127.0.0.1`, whatever the hosts file says
//! (many list only `127.0.0.1`, which would leave IPv6 clients refused).
//!
//! IPv6 sockets set `IPV6_V6ONLY`, so the IPv4 socket can take the same
//! port. An address that cannot be bound because the address or its family
//! is not on this host (`EADDRNOTAVAIL`, `EAFNOSUPPORT`: a host without
//! IPv6) is skipped while at least one other binds.
//!
//! With port 0 and several addresses, every socket gets the same port (the
//! first is bound to 0, the others to the port the kernel picked for it);
//! when that port is taken on another address the sockets are closed and
//! the whole set is tried again with a new port, up to
//! [`PORT_RETRIES`] times. asyncio and trio give each socket its own port,
//! which leaves a client of `localhost:<port>` reaching only one of them.
//!
//! # Backlog
//!
//! The default backlog is 1024, as tokio's `TcpListener::bind` and Rust's
//! std use, so a program that switches keeps its behaviour; the kernel
//! clips it to `net.core.somaxconn` (4096 on Linux since 5.4). asyncio's
//! 100 overflows under a burst of connects (the SYNs are dropped and the
//! clients wait a full retransmission second); trio's 65535 reserves
//! the most the administrator allows, which is rarely what a small server
//! wants.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures_util::stream::StreamExt;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::TcpListener;

use crate::resolve::{ResolveError, Resolver};
use crate::shared::policy::AddressPolicy;
use crate::shared::target::{Family, IntoTarget, Target, TargetError};
use crate::sys::{set_reuse_port, HAS_REUSE_PORT};
use crate::{Resolve, SocketHook};

use super::error::{ListenAttempt, ServerError, ServerErrorKind};
use super::listener::{AcceptOptions, Listener, DEFAULT_BACKLOG};

/// How many times binding several addresses to port 0 picks a new port
/// when the one the kernel gave the first socket is taken on another.
pub const PORT_RETRIES: usize = 20;

/// Builds listening TCP sockets the way asyncio's `loop.create_server`
/// does, and returns plain Tokio types: a [`Listener`] over one
/// [`tokio::net::TcpListener`] per address ([`bind`](Self::bind)), a
/// [`TlsListener`](crate::TlsListener) that runs TLS handshakes concurrently
/// ([`bind_tls`](Self::bind_tls), feature `tls`), or a running [`Server`](crate::Server)
/// that spawns a handler per connection ([`serve`](Self::serve),
/// asyncio's `start_server`).
///
/// | asyncio `create_server` | here |
/// |---|---|
/// | `host`, `port` | [`ServerBuilder::new`] (`"host:port"`, `(host, port)`, addresses); [`ServerBuilder::any`] for `host=None` |
/// | `family`, `flags` | [`family`](Self::family) |
/// | `sock` | [`ServerBuilder::from_listener`] |
/// | `backlog` (100) | [`backlog`](Self::backlog) (1024) |
/// | `reuse_address` (on, on Unix) | [`reuse_address`](Self::reuse_address) (on, on Unix) |
/// | `reuse_port` | [`reuse_port`](Self::reuse_port) |
/// | `keep_alive` (3.13) | [`keep_alive`](Self::keep_alive); with timings, [`tcp_keepalive`](Self::tcp_keepalive) |
/// | TCP_NODELAY on every transport | [`nodelay`](Self::nodelay) (default `true`) |
/// | `ssl` | [`tls_config`](Self::tls_config) with [`bind_tls`](Self::bind_tls) or [`serve_tls`](Self::serve_tls) |
/// | `ssl_handshake_timeout` (60 s) | [`tls_handshake_timeout`](Self::tls_handshake_timeout) (60 s) |
/// | `ssl_shutdown_timeout` (30 s) | [`tls_shutdown_timeout`](Self::tls_shutdown_timeout) (30 s) |
/// | `start_serving` | [`bind`](Self::bind) (not serving) or [`serve`](Self::serve) |
/// | `asyncio.start_server` | [`serve_streams`](Self::serve_streams), [`serve_tls_streams`](Self::serve_tls_streams) |
/// | `create_unix_server` | [`ServerBuilder::unix`] |
///
/// Bad input (a malformed host, a TLS option without a `tls_config`, a
/// socket option with an adopted listener, an adopted socket that is not
/// listening) is refused with a [`ServerError`] before a socket is opened;
/// when binding fails, every socket opened is closed before the call
/// returns.
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     // One listener on [::1] and one on 127.0.0.1, one port.
///     let mut listener = ServerBuilder::new(("localhost", 0)).bind().await?;
///     let port = listener.local_addrs()[0].port();
///
///     let mut client = ConnectionBuilder::new(("localhost", port)).connect().await?;
///     let (mut conn, peer) = listener.accept().await?; // a tokio::net::TcpStream
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     assert_eq!(peer, client.local_addr()?);
///     Ok(())
/// }
/// ```
#[must_use = "a builder does nothing until `bind` or `serve` is called"]
pub struct ServerBuilder {
    source: Source,
    family: Family,
    backlog: u32,
    reuse_address: bool,
    reuse_port: bool,
    keep_alive: bool,
    /// `tcp_keepalive`, `send_buffer_size`, `recv_buffer_size`.
    keepalive: Option<socket2::TcpKeepalive>,
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
    nodelay: bool,
    hook: Option<SocketHook>,
    resolver: Option<Resolver>,
    peer_policy: Option<AddressPolicy>,
    /// Options given, in order, that only make sense when we make the sockets.
    making: Vec<&'static str>,
    #[cfg(feature = "tls")]
    pub(crate) tls: super::tls_options::TlsOptions,
    #[cfg(feature = "proxy-protocol")]
    proxy: Option<super::proxy::ProxyProtocol>,
}

pub(super) enum Source {
    Target(Result<Target, TargetError>),
    Any(u16),
    Listener(std::net::TcpListener),
    /// `from_systemd` (the name asked for, if any): the sockets, or why not.
    #[cfg(target_os = "linux")]
    Systemd(Option<String>, Result<Vec<std::net::TcpListener>, String>),
}

impl ServerBuilder {
    /// A builder for listeners on every address of `target`: `"host:port"`,
    /// `"[v6]:port"`, `(host, port)`, a [`SocketAddr`] or a list of them
    /// (see [`IntoTarget`]). A host name is resolved (each of its addresses
    /// gets a socket); `localhost` is `::1` and `127.0.0.1` without asking
    /// a resolver. Port 0 lets the kernel pick one port for all of them.
    ///
    /// A malformed target is reported by [`bind`](Self::bind), before a
    /// socket is opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// assert_eq!(listener.local_addrs().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn new(target: impl IntoTarget) -> ServerBuilder {
        ServerBuilder::with_source(Source::Target(target.into_target()))
    }

    /// A builder for listeners on every interface, `[::]:port` (with
    /// `IPV6_V6ONLY`) and `0.0.0.0:port`: asyncio's `host=None`. The
    /// [`family`](Self::family) keeps one of them. Port 0 lets the kernel
    /// pick one port for both.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(0).bind().await?;
    /// for addr in listener.local_addrs() {
    ///     assert!(addr.ip().is_unspecified());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn any(port: u16) -> ServerBuilder {
        ServerBuilder::with_source(Source::Any(port))
    }

    /// Adopts a listening socket made elsewhere (asyncio's `sock=`; a
    /// socket passed by systemd or a parent process). It must be listening
    /// (`SO_ACCEPTCONN`, checked where the platform reports it: Linux,
    /// Android, Fuchsia, FreeBSD, macOS and the other Apple systems,
    /// Windows), and over IPv4 or IPv6. As asyncio does,
    /// the options that make a socket ([`family`](Self::family),
    /// [`backlog`](Self::backlog), [`reuse_address`](Self::reuse_address),
    /// [`reuse_port`](Self::reuse_port), [`socket_hook`](Self::socket_hook),
    /// [`resolver`](Self::resolver)) are refused: set them before adopting
    /// it. [`nodelay`](Self::nodelay), [`keep_alive`](Self::keep_alive),
    /// [`tcp_keepalive`](Self::tcp_keepalive), the buffer sizes and the
    /// TLS options apply. A refused socket is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = std_listener.local_addr()?;
    /// let listener = ServerBuilder::from_listener(std_listener).bind().await?;
    /// assert_eq!(listener.local_addrs(), vec![addr]);
    /// # Ok(()) }
    /// ```
    pub fn from_listener(listener: std::net::TcpListener) -> ServerBuilder {
        ServerBuilder::with_source(Source::Listener(listener))
    }

    pub(super) fn with_source(source: Source) -> ServerBuilder {
        ServerBuilder {
            source,
            family: Family::Any,
            backlog: DEFAULT_BACKLOG,
            reuse_address: cfg!(unix),
            reuse_port: false,
            keep_alive: false,
            keepalive: None,
            send_buffer: None,
            recv_buffer: None,
            nodelay: true,
            hook: None,
            resolver: None,
            peer_policy: None,
            making: Vec::new(),
            #[cfg(feature = "tls")]
            tls: super::tls_options::TlsOptions::default(),
            #[cfg(feature = "proxy-protocol")]
            proxy: None,
        }
    }

    fn making(mut self, option: &'static str) -> Self {
        if !self.making.contains(&option) {
            self.making.push(option);
        }
        self
    }

    /// Which address family to listen on (asyncio's `family`): resolved
    /// addresses of the other family are dropped, a literal address of the
    /// other family is refused, and [`any`](Self::any) keeps the one
    /// unspecified address of the family. Default is [`Family::Any`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{Family, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new(("localhost", 0)).family(Family::V4).bind().await?;
    /// assert_eq!(listener.local_addrs()[0].ip(), std::net::Ipv4Addr::LOCALHOST);
    /// # Ok(()) }
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self.making("family")
    }

    /// The length of the queue of connections the kernel has completed and
    /// the server has not accepted yet (`listen(2)`'s `backlog`; asyncio's
    /// `backlog`). The kernel clips it to its maximum (`somaxconn`). When
    /// the queue is full, Linux drops new SYNs and clients retry after a
    /// second. Default is 1024 ([`DEFAULT_BACKLOG`]; asyncio's is 100).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).backlog(4096);
    /// # drop(b);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self.making("backlog")
    }

    /// Sets `SO_REUSEADDR` (see `socket(7)`) before binding: on Unix it
    /// lets a restarted server bind its port while connections of the old
    /// one linger in `TIME_WAIT`. (It does not let two servers listen on
    /// one port; [`reuse_port`](Self::reuse_port) does.) On Windows
    /// `SO_REUSEADDR` lets another socket steal the port, so it is off
    /// there unless asked for. Default is `true` on Unix and `false`
    /// elsewhere, as asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).reuse_address(false);
    /// # drop(b);
    /// ```
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self.making("reuse_address")
    }

    /// Sets `SO_REUSEPORT` (see `socket(7)`) before binding, so several
    /// servers (processes or sockets) can listen on the same address and
    /// port; Linux spreads incoming connections across them, and only
    /// sockets of the same effective user may share a port. Every socket on
    /// the port must set it. Default is `false`.
    ///
    /// # Errors
    ///
    /// Asked for where the platform has no `SO_REUSEPORT` (Windows,
    /// illumos, Solaris), [`bind`](Self::bind) fails with
    /// [`ServerErrorKind::Unsupported`] before a socket is opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # if cfg!(windows) { return Ok(()) }
    /// let a = ServerBuilder::new("127.0.0.1:0").reuse_port(true).bind().await?;
    /// let b = ServerBuilder::new(a.local_addrs()[0]).reuse_port(true).bind().await?;
    /// assert_eq!(a.local_addrs(), b.local_addrs());
    /// # Ok(()) }
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self.making("reuse_port")
    }

    /// Sets `SO_KEEPALIVE` (see `socket(7)`) on the listening socket, which
    /// the accepted connections inherit: the kernel probes an idle peer
    /// (after two hours by default, `tcp_keepalive_time`) and closes a
    /// connection whose peer is gone. Default is `false`, as asyncio's
    /// `keep_alive`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).keep_alive(true);
    /// # drop(b);
    /// ```
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// Turns TCP keepalive on with the idle time, probe interval and probe
    /// count of `keepalive` (those it sets; the system's defaults for the
    /// others): `SO_KEEPALIVE` (see `socket(7)`) and `TCP_KEEPIDLE` /
    /// `TCP_KEEPINTVL` / `TCP_KEEPCNT` (see `tcp(7)`; `TCP_KEEPALIVE` on
    /// Apple platforms), set on the listening socket, which accepted
    /// connections inherit (Linux, the BSDs and Apple platforms copy them
    /// at accept). A connection whose client vanished (a laptop that
    /// closed, a NAT that forgot it) is then closed after the probes, where
    /// [`keep_alive(true)`](Self::keep_alive) alone waits the system's two
    /// hours. Default is not set: [`keep_alive`](Self::keep_alive) decides,
    /// with the system's timings.
    ///
    /// # Errors
    ///
    /// A value the system refuses (an idle time over 32767 s on Linux)
    /// fails [`bind`](Self::bind) with the `setsockopt` error, naming the
    /// address.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::{socket2::TcpKeepalive, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new("127.0.0.1:0")
    ///     .tcp_keepalive(TcpKeepalive::new().with_time(Duration::from_secs(60)))
    ///     .bind()
    ///     .await?;
    /// # drop(listener);
    /// # Ok(()) }
    /// ```
    pub fn tcp_keepalive(mut self, keepalive: socket2::TcpKeepalive) -> Self {
        self.keepalive = Some(keepalive);
        self
    }

    /// Sets `SO_SNDBUF` (see `socket(7)`) on the listening socket, in
    /// bytes, which accepted connections inherit. Linux doubles the value
    /// and caps it at `net.core.wmem_max`; setting it turns automatic
    /// tuning off for those sockets. Default is not set: the system's
    /// default, tuned automatically. Over `c_int::MAX` bytes (as for
    /// [`recv_buffer_size`](Self::recv_buffer_size)) `bind` fails with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput)
    /// before a socket is opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).send_buffer_size(1 << 20);
    /// # drop(b);
    /// ```
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.send_buffer = Some(bytes);
        self
    }

    /// Sets `SO_RCVBUF` (see `socket(7)`) on the listening socket, in
    /// bytes, before it listens, so accepted connections inherit it and
    /// the window scale their handshake announces fits it. Linux doubles
    /// the value and caps it at `net.core.rmem_max`. Default is not set:
    /// the system's default, tuned automatically.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).recv_buffer_size(4 << 20);
    /// # drop(b);
    /// ```
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// `SO_KEEPALIVE`, `TCP_KEEP*`, `SO_SNDBUF`, `SO_RCVBUF` as asked, on
    /// a listening socket (made or adopted); the error names the option.
    fn set_inherited(&self, sock: &socket2::Socket) -> Result<(), (&'static str, io::Error)> {
        if self.keep_alive {
            sock.set_keepalive(true).map_err(|e| ("SO_KEEPALIVE", e))?;
        }
        if let Some(keepalive) = &self.keepalive {
            sock.set_tcp_keepalive(keepalive)
                .map_err(|e| ("SO_KEEPALIVE / TCP_KEEP*", e))?;
        }
        if let Some(size) = self.send_buffer {
            sock.set_send_buffer_size(size)
                .map_err(|e| ("SO_SNDBUF", e))?;
        }
        if let Some(size) = self.recv_buffer {
            sock.set_recv_buffer_size(size)
                .map_err(|e| ("SO_RCVBUF", e))?;
        }
        Ok(())
    }

    /// Sets `TCP_NODELAY` (see `tcp(7)`) on every accepted connection,
    /// which turns Nagle's algorithm off: small writes go out at once
    /// instead of waiting for the peer's acknowledgement. asyncio sets it
    /// on every TCP transport. Default is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).nodelay(false);
    /// # drop(b);
    /// ```
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// Runs `hook` on each listening socket after it is created and its
    /// options are set, before it is bound: the place for options this
    /// builder does not name (`TCP_FASTOPEN`, `TCP_DEFER_ACCEPT`, buffer
    /// sizes, `IP_FREEBIND`). An error from the hook fails that address.
    /// Default is no hook.
    ///
    /// # Panics
    ///
    /// A panic in `hook` is not caught: it propagates out of the poll of
    /// the bind future, as a panic in any polled future does. The sockets
    /// made so far (other addresses' listeners too) are closed as the future
    /// is dropped, and nothing is poisoned: the same hook and options work
    /// for later calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::any(8080).socket_hook(|socket| socket.set_recv_buffer_size(1 << 20));
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self.making("socket_hook")
    }

    /// Who turns a host name into addresses to listen on. Literal
    /// addresses and `localhost` never reach it. Default is
    /// [`Resolver::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tokio_endpoints::{Resolver, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let resolver = Resolver::fixed([("me.test", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])]);
    /// let listener = ServerBuilder::new("me.test:0").resolver(resolver).bind().await?;
    /// assert_eq!(listener.local_addrs()[0].ip(), Ipv4Addr::LOCALHOST);
    /// # Ok(()) }
    /// ```
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Resolver::new(resolver));
        self.making("resolver")
    }

    /// Accepts connections only from peers `policy` allows (see
    /// [`AddressPolicy`]; an IPv4 peer on a dual-stack socket,
    /// `::ffff:10.0.0.5`, is judged as `10.0.0.5`). A connection from any
    /// other peer is closed right after `accept(2)`, before a TLS handshake
    /// or anything else reads from it, and never reaches
    /// [`Listener::accept`], [`TlsListener::accept`](crate::TlsListener::accept)
    /// or a handler; it is counted ([`Listener::denied_peers`],
    /// [`Server::denied_peers`](crate::Server::denied_peers)) and logged at
    /// `DEBUG`. The kernel completes the TCP handshake first: a refused peer
    /// sees its connection accepted, then closed. Default is no policy.
    ///
    /// The peer is the socket's: behind a load balancer
    /// ([`proxy_protocol`](Self::proxy_protocol)) that is the balancer,
    /// never the client its PROXY header names. To judge the clients, set
    /// [`ProxyProtocol::client_policy`](crate::ProxyProtocol::client_policy)
    /// (its refusals count here too).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::new("127.0.0.1:0")
    ///     .peer_policy(AddressPolicy::allow_only(["10.0.0.0/8".parse()?]))
    ///     .serve(|_stream, peer| async move { println!("{peer}") })
    ///     .await?;
    /// # server.abort();
    /// # Ok(()) }
    /// ```
    pub fn peer_policy(mut self, policy: AddressPolicy) -> Self {
        self.peer_policy = Some(policy);
        self
    }

    /// Serves behind a load balancer that sends the PROXY protocol
    /// (HAProxy's `send-proxy` / `send-proxy-v2`, AWS and GCP network load
    /// balancers, Envoy): each connection's header is read (version 1 or
    /// 2) before it is handed on, and the client's address it gives is the
    /// `peer` of [`Listener::accept`], of [`TlsListener::accept`](crate::TlsListener::accept)
    /// and of handlers; the header and its TLVs are in
    /// [`ConnectionInfo::proxy_header`](crate::ConnectionInfo::proxy_header)
    /// ([`accept_with_info`](Listener::accept_with_info),
    /// [`serve_with_info`](Self::serve_with_info)). Headers are read
    /// concurrently, each bounded by its
    /// [`header_timeout`](crate::ProxyProtocol::header_timeout), so a
    /// client that sends nothing delays no one; with TLS, the header and
    /// then the handshake are read in the same task. Applies to TCP
    /// servers (not [`ServerBuilder::unix`]). Default is no PROXY protocol:
    /// a header is application data.
    ///
    /// Who judges whom: [`peer_policy`](Self::peer_policy) judges the
    /// socket's peer, which here is the balancer (and is checked before
    /// the header is read), never the client the header names;
    /// [`ProxyProtocol::trusted`](crate::ProxyProtocol::trusted) says
    /// which balancers may send a header, and
    /// [`ProxyProtocol::client_policy`](crate::ProxyProtocol::client_policy)
    /// judges the client address in it.
    ///
    /// # Errors
    ///
    /// `bind`, `bind_tls` and the `serve` methods fail with
    /// [`ServerErrorKind::InvalidInput`], before a socket is opened, when
    /// the [`ProxyProtocol`](crate::ProxyProtocol) trusts no network or has
    /// a zero timeout or bound.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio_endpoints::{ProxyProtocol, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::any(8080)
    ///     .proxy_protocol(
    ///         ProxyProtocol::new()
    ///             .trusted(["10.0.0.0/8".parse()?])
    ///             .header_timeout(Duration::from_secs(5)),
    ///     )
    ///     .serve(|_stream, peer| async move {
    ///         println!("{peer}"); // the client's address, from the header
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy-protocol")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
    pub fn proxy_protocol(mut self, proxy: super::proxy::ProxyProtocol) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Makes the listening sockets and returns them as one [`Listener`]
    /// (asyncio's `create_server(..., start_serving=False)`).
    ///
    /// # Errors
    ///
    /// A [`ServerError`]: bad input, a TLS option (use
    /// [`bind_tls`](Self::bind_tls)), an unsupported option, a resolution
    /// failure, or no address could be bound (a busy port: `AddrInUse`;
    /// see [`ServerErrorKind::BindFailed`]). No socket stays open.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (it only waits on the resolver) closes every
    /// socket it opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::new("[::1]:0").bind().await?;
    /// println!("listening on {:?}", listener.local_addrs());
    /// # Ok(()) }
    /// ```
    pub async fn bind(self) -> Result<Listener, ServerError> {
        #[cfg(feature = "tls")]
        if let Some(given) = self.tls.given() {
            let verb = if given.contains(", ") {
                "apply"
            } else {
                "applies"
            };
            return Err(self.invalid(format!(
                "{given} only {verb} to bind_tls and serve_tls; bind and serve make plain TCP listeners"
            )));
        }
        self.bind_listener().await
    }

    pub(super) async fn bind_listener(self) -> Result<Listener, ServerError> {
        if let Some(why) =
            crate::shared::report::buffer_size_error(self.send_buffer, self.recv_buffer)
        {
            return Err(self.invalid(why));
        }
        let span = tracing::debug_span!("bind_server", endpoint = %self.describe());
        let options = AcceptOptions {
            nodelay: self.nodelay,
        };
        let policy = self.peer_policy.clone();
        #[cfg(feature = "proxy-protocol")]
        let proxy = match self.proxy.as_ref().map(|p| p.settings()).transpose() {
            Ok(proxy) => proxy,
            Err(why) => return Err(self.invalid(why)),
        };
        let sockets = tracing::Instrument::instrument(self.bind_inner(), span).await?;
        let listener = Listener::new(sockets, options)?.with_peer_policy(policy);
        #[cfg(feature = "proxy-protocol")]
        let listener = match proxy {
            Some(settings) => listener.with_proxy(settings),
            None => listener,
        };
        Ok(listener)
    }

    /// The names clients reach the server by, to check the certificate
    /// against: the target's host name, or its addresses (unspecified ones
    /// left out).
    #[cfg(feature = "tls")]
    pub(super) fn reached_by(&self) -> Vec<rustls::pki_types::ServerName<'static>> {
        use rustls::pki_types::ServerName;
        let Source::Target(Ok(target)) = &self.source else {
            return Vec::new();
        };
        match target.host() {
            Some(host) => ServerName::try_from(host.to_string()).into_iter().collect(),
            None => target
                .addrs()
                .iter()
                .filter(|a| !a.ip().is_unspecified())
                .map(|a| ServerName::IpAddress(a.ip().into()))
                .collect(),
        }
    }

    pub(super) fn describe(&self) -> String {
        match &self.source {
            Source::Target(Ok(t)) => t.to_string(),
            Source::Target(Err(e)) => e.input().to_string(),
            Source::Any(port) => format!("any port {port}"),
            Source::Listener(l) => match l.local_addr() {
                Ok(a) => format!("adopted listener {a}"),
                Err(_) => "adopted listener".to_string(),
            },
            #[cfg(target_os = "linux")]
            Source::Systemd(None, _) => "sockets from systemd".to_string(),
            #[cfg(target_os = "linux")]
            Source::Systemd(Some(name), _) => format!("sockets from systemd named {name:?}"),
        }
    }

    pub(super) fn invalid(&self, message: impl Into<String>) -> ServerError {
        ServerError::invalid(self.describe(), message)
    }

    async fn bind_inner(self) -> Result<Vec<TcpListener>, ServerError> {
        match self.source {
            Source::Listener(_) => return self.adopt(),
            #[cfg(target_os = "linux")]
            Source::Systemd(..) => return self.adopt(),
            _ => {}
        }
        if self.reuse_port && !HAS_REUSE_PORT {
            return Err(
                ServerError::new(ServerErrorKind::Unsupported, self.describe())
                    .with_message("reuse_port: this platform has no SO_REUSEPORT"),
            );
        }
        let family = self.family;
        let addrs: Vec<SocketAddr> = match &self.source {
            Source::Target(Err(e)) => {
                return Err(self.invalid(e.reason().to_string()));
            }
            Source::Any(port) => [
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, *port)),
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port)),
            ]
            .into_iter()
            .filter(|a| family.matches(&a.ip()))
            .collect(),
            Source::Target(Ok(target)) => {
                if target.host().is_none()
                    && !target.addrs().iter().any(|a| family.matches(&a.ip()))
                {
                    return Err(
                        self.invalid(format!("{target} is not of the requested family {family}"))
                    );
                }
                resolve(self.resolver.as_ref(), target, family)
                    .await
                    .map_err(|f| self.resolve_failed(f))?
            }
            Source::Listener(_) => unreachable!("adopted above"),
            #[cfg(target_os = "linux")]
            Source::Systemd(..) => unreachable!("adopted above"),
        };
        self.listen_all(&addrs)
    }

    /// One socket per address, one port for all when the port is 0.
    fn listen_all(&self, addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, ServerError> {
        bind_sharing_port(addrs, |addr| self.open(addr)).map_err(|attempts| {
            ServerError::new(ServerErrorKind::BindFailed, self.describe()).with_attempts(attempts)
        })
    }

    /// One listening socket: create, options, hook, bind, listen.
    fn open(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let step = |what: &str| {
            let what = what.to_string();
            move |e: io::Error| {
                io::Error::new(
                    e.kind(),
                    format!("{what} ({addr}): {e}", e = crate::shared::report::Brief(&e)),
                )
            }
        };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(step("socket"))?;
        socket.set_nonblocking(true).map_err(step("O_NONBLOCK"))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true).map_err(step("IPV6_V6ONLY"))?;
        }
        if self.reuse_address {
            socket
                .set_reuse_address(true)
                .map_err(step("SO_REUSEADDR"))?;
        }
        if self.reuse_port {
            set_reuse_port(&socket).map_err(step("SO_REUSEPORT"))?;
        }
        if let Err((what, e)) = self.set_inherited(&socket) {
            return Err(step(what)(e));
        }
        if let Some(hook) = &self.hook {
            hook(&socket).map_err(step("socket hook"))?;
        }
        socket.bind(&addr.into()).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::AddrInUse {
                if self.reuse_port {
                    " (a socket without reuse_port holds the port)"
                } else {
                    " (another socket holds the port; servers share a port only when each sets reuse_port)"
                }
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("bind to {addr}: {e}{hint}", e = crate::shared::report::Brief(&e)))
        })?;
        let backlog = i32::try_from(self.backlog).unwrap_or(i32::MAX);
        socket.listen(backlog).map_err(step("listen"))?;
        TcpListener::from_std(socket.into()).map_err(step("register with tokio"))
    }

    fn adopt(mut self) -> Result<Vec<TcpListener>, ServerError> {
        let how = match &self.source {
            #[cfg(target_os = "linux")]
            Source::Systemd(..) => "from_systemd",
            _ => "from_listener",
        };
        if !self.making.is_empty() {
            return Err(self.invalid(format!(
                "{} cannot be used with {how}: the socket is already made; set its options before adopting it",
                self.making.join(", ")
            )));
        }
        match &self.source {
            Source::Listener(listener) => {
                if let Err(why) = check_listening(listener) {
                    return Err(self.invalid(format!("from_listener: {why}")));
                }
            }
            #[cfg(target_os = "linux")]
            Source::Systemd(_, Err(why)) => return Err(self.invalid(why.clone())),
            // Checked when they were taken from systemd.
            _ => {}
        }
        let name = self.describe();
        let source = std::mem::replace(&mut self.source, Source::Any(0));
        let listeners = match source {
            Source::Listener(listener) => vec![listener],
            #[cfg(target_os = "linux")]
            Source::Systemd(_, Ok(listeners)) => listeners,
            _ => unreachable!("adopt is only called for adopted listeners"),
        };
        let mut adopted = Vec::with_capacity(listeners.len());
        for listener in listeners {
            let sock = SockRef::from(&listener);
            let prepared = sock
                .set_nonblocking(true)
                .map_err(|e| {
                    format!(
                        "cannot make the adopted socket non-blocking: {e}",
                        e = crate::shared::report::Brief(&e)
                    )
                })
                .and_then(|()| {
                    self.set_inherited(&sock).map_err(|(what, e)| {
                        format!(
                            "{what} on the adopted socket: {e}",
                            e = crate::shared::report::Brief(&e)
                        )
                    })
                });
            if let Err(why) = prepared {
                return Err(ServerError::invalid(name, why));
            }
            let addr = listener.local_addr().ok();
            match TcpListener::from_std(listener) {
                Ok(l) => adopted.push(l),
                Err(error) => {
                    return Err(ServerError::new(ServerErrorKind::BindFailed, name)
                        .with_attempts(vec![ListenAttempt { addr, error }]))
                }
            }
        }
        Ok(adopted)
    }

    fn resolve_failed(&self, failure: ResolveFailure) -> ServerError {
        let name = self.describe();
        match failure {
            ResolveFailure::Errors(errors) => {
                ServerError::new(ServerErrorKind::Resolve, name).with_resolve_errors(errors)
            }
            ResolveFailure::Empty => ServerError::new(ServerErrorKind::Resolve, name)
                .with_message("the resolver returned no address"),
            ResolveFailure::NoFamily(host) => {
                ServerError::new(ServerErrorKind::NoUsableAddress, name)
                    .with_message(format!("{host} has no {} address", self.family))
            }
        }
    }
}

/// What [`bind_sharing_port`] needs of a bound socket.
trait BoundPort {
    fn bound_port(&self) -> Option<u16>;
}

impl BoundPort for TcpListener {
    fn bound_port(&self) -> Option<u16> {
        self.local_addr().ok().map(|a| a.port())
    }
}

/// Opens a socket per address with `open`. With port 0 and several
/// addresses, the first socket bound to port 0 decides the port and the
/// others (of port 0) are bound to it; when one of them finds it taken
/// (`AddrInUse`), every socket is closed and the set is tried again, up to
/// [`PORT_RETRIES`] times. Addresses not available here are skipped while
/// another binds; any other failure fails the call, after every address was
/// tried, so the error names them all. Sockets are closed on failure.
fn bind_sharing_port<L: BoundPort>(
    addrs: &[SocketAddr],
    mut open: impl FnMut(SocketAddr) -> io::Result<L>,
) -> Result<Vec<L>, Vec<ListenAttempt>> {
    let share_port = addrs.len() > 1 && addrs.iter().any(|a| a.port() == 0);
    let mut tries = 0;
    'retry: loop {
        tries += 1;
        let mut bound: Vec<L> = Vec::with_capacity(addrs.len());
        let mut attempts = Vec::new();
        let mut fatal = false;
        let mut port = None;
        for &addr in addrs {
            let mut want = addr;
            if let (0, Some(p)) = (addr.port(), port) {
                want.set_port(p);
            }
            match open(want) {
                Ok(listener) => {
                    if addr.port() == 0 && port.is_none() {
                        port = listener.bound_port();
                    }
                    tracing::debug!(%want, "listening");
                    bound.push(listener);
                }
                Err(error) => {
                    let in_use = error.kind() == io::ErrorKind::AddrInUse;
                    if share_port && in_use && want != addr && tries < PORT_RETRIES {
                        tracing::debug!(%want, "port taken on another address; trying a new port");
                        drop(bound);
                        continue 'retry;
                    }
                    if unavailable(&error) {
                        tracing::debug!(%want, %error, "address not available here; skipped");
                    } else {
                        tracing::debug!(%want, %error, "listening failed");
                        fatal = true;
                    }
                    attempts.push(ListenAttempt {
                        addr: Some(want),
                        error,
                    });
                }
            }
        }
        if fatal || bound.is_empty() {
            drop(bound);
            return Err(attempts);
        }
        return Ok(bound);
    }
}

/// `EADDRNOTAVAIL` or `EAFNOSUPPORT`: the address or its family is not on
/// this host, which asyncio and trio skip while another address binds.
fn unavailable(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::AddrNotAvailable {
        return true;
    }
    crate::sys::family_unsupported(error)
}

/// A `std::net::TcpListener` can be made from any descriptor: refuse what
/// is not a listening TCP socket over IPv4 or IPv6.
fn check_listening(listener: &std::net::TcpListener) -> Result<(), String> {
    let sock = SockRef::from(listener);
    let ty = sock.r#type().map_err(|e| {
        format!(
            "cannot read the socket type (SO_TYPE): {e}",
            e = crate::shared::report::Brief(&e)
        )
    })?;
    if ty != Type::STREAM {
        return Err(format!(
            "wrong socket type: {ty:?}, expected SOCK_STREAM (a TCP socket)"
        ));
    }
    let local = sock.local_addr().map_err(|e| {
        format!(
            "cannot read the socket's address: {e}",
            e = crate::shared::report::Brief(&e)
        )
    })?;
    if !(local.is_ipv4() || local.is_ipv6()) {
        return Err(
            "wrong socket family: not an IPv4 or IPv6 socket (use ServerBuilder::unix for Unix sockets)"
                .to_string(),
        );
    }
    match crate::sys::is_listening(&sock) {
        Ok(Some(true) | None) => {}
        Ok(Some(false)) => return Err(
            "the socket is not listening (SO_ACCEPTCONN is off): call listen() before adopting it"
                .to_string(),
        ),
        Err(e) => {
            return Err(format!(
                "cannot read SO_ACCEPTCONN: {e}",
                e = crate::shared::report::Brief(&e)
            ))
        }
    }
    Ok(())
}

enum ResolveFailure {
    /// Every query failed.
    Errors(Vec<ResolveError>),
    /// The resolver answered with nothing and no error.
    Empty,
    /// Addresses came, none of the family; the host name.
    NoFamily(String),
}

/// `localhost` and names under `.localhost` (RFC 6761 §6.3).
fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Every address of `target` that fits `family`, duplicates dropped, in
/// the resolver's order.
async fn resolve(
    resolver: Option<&Resolver>,
    target: &Target,
    family: Family,
) -> Result<Vec<SocketAddr>, ResolveFailure> {
    let port = target.port();
    let ips: Vec<IpAddr> = match target.host() {
        None => target.addrs().iter().map(SocketAddr::ip).collect(),
        Some(host) if is_localhost(host) => {
            vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ]
        }
        Some(host) => {
            // The default resolver is made only when a name needs one.
            let default;
            let resolver = match resolver {
                Some(r) => r,
                None => {
                    default = Resolver::default();
                    &default
                }
            };
            // An absolute name keeps its dot: the resolver must not search it.
            let mut batches = resolver.resolve(target.host_name().unwrap_or(host), family);
            let mut ips = Vec::new();
            let mut errors = Vec::new();
            while let Some(batch) = batches.next().await {
                match batch {
                    Ok(batch) => ips.extend(batch),
                    Err(e) => errors.push(e),
                }
            }
            if ips.is_empty() {
                return Err(if errors.is_empty() {
                    ResolveFailure::Empty
                } else {
                    ResolveFailure::Errors(errors)
                });
            }
            ips
        }
    };
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    // A literal list keeps each address's own port (and scope id).
    let literal = target.host().is_none();
    for (i, ip) in ips.into_iter().enumerate() {
        if !family.matches(&ip) {
            continue;
        }
        let addr = if literal {
            target.addrs()[i]
        } else {
            SocketAddr::new(ip, port)
        };
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(ResolveFailure::NoFamily(
            target.host().unwrap_or_default().to_string(),
        ));
    }
    Ok(addrs)
}

impl Default for ServerBuilder {
    /// [`ServerBuilder::any(0)`](ServerBuilder::any): every interface, a
    /// port the kernel picks.
    fn default() -> ServerBuilder {
        ServerBuilder::any(0)
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ServerBuilder");
        d.field("endpoint", &self.describe())
            .field("family", &self.family)
            .field("backlog", &self.backlog)
            .field("reuse_address", &self.reuse_address)
            .field("reuse_port", &self.reuse_port)
            .field("keep_alive", &self.keep_alive)
            .field("tcp_keepalive", &self.keepalive)
            .field("send_buffer_size", &self.send_buffer)
            .field("recv_buffer_size", &self.recv_buffer)
            .field("nodelay", &self.nodelay)
            .field("socket_hook", &self.hook.is_some())
            .field("resolver", &self.resolver);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        #[cfg(feature = "proxy-protocol")]
        d.field("proxy_protocol", &self.proxy);
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake socket: the address it was bound to.
    struct Fake(SocketAddr);

    impl BoundPort for Fake {
        fn bound_port(&self) -> Option<u16> {
            Some(self.0.port())
        }
    }

    fn err(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, format!("{kind:?}"))
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn port_0_is_shared_and_retried_when_taken() {
        let mut next_port = 5000;
        let mut calls = Vec::new();
        let bound = bind_sharing_port(&addrs(&["[::1]:0", "127.0.0.1:0"]), |mut a| {
            calls.push(a);
            if a.port() == 0 {
                a.set_port(next_port);
                next_port += 1;
                return Ok(Fake(a));
            }
            // The first three ports the kernel picks are taken on IPv4.
            if a.port() < 5003 {
                return Err(err(io::ErrorKind::AddrInUse));
            }
            Ok(Fake(a))
        })
        .unwrap_or_else(|_| panic!("bind failed"));
        let got: Vec<SocketAddr> = bound.iter().map(|f| f.0).collect();
        assert_eq!(got, addrs(&["[::1]:5003", "127.0.0.1:5003"]));
        assert_eq!(calls.len(), 8);
    }

    #[test]
    fn port_retries_are_bounded() {
        let mut opened = 0;
        let attempts = bind_sharing_port(&addrs(&["[::1]:0", "127.0.0.1:0"]), |mut a| {
            if a.port() == 0 {
                opened += 1;
                a.set_port(6000);
                return Ok(Fake(a));
            }
            Err(err(io::ErrorKind::AddrInUse))
        })
        .err()
        .unwrap();
        assert_eq!(opened, PORT_RETRIES);
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].addr(), Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(attempts[0].error().kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn unavailable_is_skipped_and_other_errors_fail_naming_every_address() {
        let list = addrs(&["[::1]:80", "192.0.2.1:80", "127.0.0.1:80"]);
        let ok = bind_sharing_port(&list, |a| {
            if a.ip().is_ipv6() {
                Err(err(io::ErrorKind::AddrNotAvailable))
            } else {
                Ok(Fake(a))
            }
        })
        .unwrap_or_else(|_| panic!("bind failed"));
        assert_eq!(ok.len(), 2);

        let mut tried = Vec::new();
        let attempts = bind_sharing_port(&list, |a| {
            tried.push(a);
            match a.ip() {
                IpAddr::V6(_) => Err(err(io::ErrorKind::AddrNotAvailable)),
                ip if ip == IpAddr::V4(Ipv4Addr::LOCALHOST) => Ok(Fake(a)),
                _ => Err(err(io::ErrorKind::PermissionDenied)),
            }
        })
        .err()
        .unwrap();
        assert_eq!(tried, list, "every address is tried");
        let named: Vec<_> = attempts.iter().map(|a| a.addr().unwrap()).collect();
        assert_eq!(named, addrs(&["[::1]:80", "192.0.2.1:80"]));

        let none = bind_sharing_port(&list, |_| -> io::Result<Fake> {
            Err(err(io::ErrorKind::AddrNotAvailable))
        })
        .err()
        .unwrap();
        assert_eq!(none.len(), 3);
    }

    #[test]
    fn localhost_is_loopback_without_a_resolver() {
        assert!(is_localhost("localhost"));
        assert!(is_localhost("app.localhost"));
        assert!(!is_localhost("localhost.example"));
        assert!(!is_localhost("notlocalhost"));
    }
}
