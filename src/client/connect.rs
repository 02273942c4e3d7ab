//! [`ConnectionBuilder`]: asyncio's `create_connection` for Tokio.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{Either, FutureExt};
use futures_util::stream::StreamExt;
use pin_project_lite::pin_project;
use socket2::{SockRef, Socket};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::error::{Attempt, AttemptStage, ConnectError, ConnectErrorKind};
use crate::client::establishment::{Establishment, Recorder};
use crate::client::history::{Advice, Failure, History, Key, DEFAULT_HISTORY_TTL};
use crate::client::qlog::QlogSink;
use crate::client::race::{
    failed_attempt, race_staged, single, Begun, RaceConfig, RaceFailure, Won,
};
use crate::client::sockopts::SocketOptions;
use crate::resolve::svcb::{Batch, Merger, ServiceOptions};
use crate::resolve::{nat64, Addrs, Resolve, Resolver};
use crate::shared::clock::positive;
use crate::shared::nat64::may_synthesize;
use crate::shared::policy::{AddressPolicy, DeniedAddress};
use crate::shared::target::{Family, IntoTarget, Target, TargetError};
use crate::SocketHook;

/// A hop a connection goes through before its target: a proxy. The
/// proxy's own module (`client::proxy`) implements it, so that this one,
/// below it, never names it: `connect` asks whether the call goes through
/// it and returns its tunnel; `connect_tls` runs its handshake on the
/// tunnel (`client::tls`).
#[cfg(feature = "proxy")]
pub(crate) trait Via: fmt::Debug + Send + Sync + 'static {
    /// Whether `builder`'s call (`tls`: `connect_tls`) goes through this
    /// hop; `false`: directly.
    fn applies(&self, builder: &ConnectionBuilder, tls: bool) -> bool;

    /// The tunnel to `builder`'s target, within its `connect_timeout`.
    fn tunnel<'a>(
        &'a self,
        builder: &'a ConnectionBuilder,
        purpose: Purpose,
    ) -> Pin<Box<dyn Future<Output = Result<Tunnel, ConnectError>> + Send + 'a>>;

    /// The tunnel for `connect_tls`, within `builder`'s `connect_timeout`:
    /// with the origin's handshake begun by `tls` on its connection as
    /// soon as the last request to the proxy is out.
    #[cfg(feature = "tls")]
    fn tunnel_tls<'a>(
        &'a self,
        builder: &'a ConnectionBuilder,
        tls: &'a dyn BeginTls,
    ) -> Pin<Box<dyn Future<Output = Result<Tunnel<TlsBegun>, ConnectError>> + Send + 'a>>;
}

/// Begins the origin's TLS handshake on a tunnel's connection
/// (`client::tls` implements it): called when the last request to the
/// proxy is out, before its answer is read, so that building the
/// ClientHello (its key share's key generation, the costliest step of a
/// client's handshake) overlaps the proxy's work of opening the tunnel
/// instead of following it. Nothing is sent until the answer says the
/// tunnel is open: the handshake is driven only then.
#[cfg(all(feature = "proxy", feature = "tls"))]
pub(crate) trait BeginTls: Send + Sync {
    /// The handshake on `stream`, verified as the builder's server name
    /// or, without one, as `origin_ip` (the tunnel's destination, when it
    /// is an address); `Err(stream)` when there is neither.
    fn begin(
        &self,
        stream: TunnelStream,
        origin_ip: Option<IpAddr>,
    ) -> Result<TlsBegun, TunnelStream>;
}

/// A TLS handshake begun (not yet driven: nothing sent) on a tunnel's
/// connection, and the name it verifies.
#[cfg(all(feature = "proxy", feature = "tls"))]
pub(crate) struct TlsBegun {
    pub(crate) connecting: TlsConnecting,
    pub(crate) server_name: rustls::pki_types::ServerName<'static>,
}

/// The handshake of a [`TlsBegun`]: on the TCP connection to an http or
/// SOCKS5 proxy, or inside TLS with an https proxy.
#[cfg(all(feature = "proxy", feature = "tls"))]
pub(crate) enum TlsConnecting {
    Tcp(tokio_rustls::client::Connect<TcpStream>),
    Carried(tokio_rustls::client::Connect<TunnelStream>),
}

#[cfg(all(feature = "proxy", feature = "tls"))]
impl TlsConnecting {
    /// The connection under the handshake, to read the proxy's answer
    /// from before the handshake is driven.
    pub(crate) fn stream_mut(&mut self) -> TunnelIo<'_> {
        // tokio-rustls hands the stream out in every state but the one
        // after the handshake's end: before it is polled, always.
        const UNPOLLED: &str = "a handshake not yet polled has its stream";
        match self {
            TlsConnecting::Tcp(c) => TunnelIo::Tcp(c.get_mut().expect(UNPOLLED)),
            TlsConnecting::Carried(c) => c.get_mut().expect(UNPOLLED).io(),
        }
    }
}

/// A borrowed tunnel connection, as the proxy's answers are read from it:
/// the TCP connection to the proxy, or TLS with an https proxy.
#[cfg(feature = "proxy")]
pub(crate) enum TunnelIo<'a> {
    Tcp(&'a mut TcpStream),
    Carried(&'a mut dyn Carrier),
}

#[cfg(feature = "proxy")]
impl tokio::io::AsyncRead for TunnelIo<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelIo::Tcp(s) => Pin::new(&mut **s).poll_read(cx, buf),
            TunnelIo::Carried(c) => Pin::new(&mut **c).poll_read(cx, buf),
        }
    }
}

/// A connection a tunnel runs on that is not a bare `TcpStream`: TLS to
/// an https proxy (`client::tls` implements it, so that this module never
/// names it). What is under it is one TCP connection.
#[cfg(feature = "proxy")]
pub(crate) trait Carrier:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + fmt::Debug
{
    /// The TCP connection at the bottom.
    fn tcp(&self) -> &TcpStream;
    /// The same, mutably (socket options only: its bytes are the carrier's).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn tcp_mut(&mut self) -> &mut TcpStream;
    /// The TCP connection at the bottom, the carrier's session dropped.
    fn into_tcp(self: Box<Self>) -> TcpStream;
}

/// The stream of a tunnel: the TCP connection to the proxy, or that
/// connection under TLS with the proxy (an https proxy).
#[cfg(feature = "proxy")]
#[derive(Debug)]
pub(crate) enum TunnelStream {
    Tcp(TcpStream),
    /// Made only by `client::tls` (an https proxy).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Carried(Box<dyn Carrier>),
}

#[cfg(feature = "proxy")]
impl TunnelStream {
    /// The TCP connection at the bottom (to the proxy).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            TunnelStream::Tcp(s) => s,
            TunnelStream::Carried(c) => c.tcp(),
        }
    }

    /// The TCP connection at the bottom, mutably.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            TunnelStream::Tcp(s) => s,
            TunnelStream::Carried(c) => c.tcp_mut(),
        }
    }

    /// The TCP connection at the bottom (an https proxy's TLS dropped).
    pub(crate) fn into_tcp(self) -> TcpStream {
        match self {
            TunnelStream::Tcp(s) => s,
            TunnelStream::Carried(c) => c.into_tcp(),
        }
    }

    /// The connection, borrowed to read a proxy's answer from.
    pub(crate) fn io(&mut self) -> TunnelIo<'_> {
        match self {
            TunnelStream::Tcp(s) => TunnelIo::Tcp(s),
            TunnelStream::Carried(c) => TunnelIo::Carried(&mut **c),
        }
    }
}

#[cfg(feature = "proxy")]
impl tokio::io::AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The borrowed form reads for both.
        Pin::new(&mut self.get_mut().io()).poll_read(cx, buf)
    }
}

#[cfg(feature = "proxy")]
impl tokio::io::AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            TunnelStream::Carried(c) => Pin::new(&mut **c).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            TunnelStream::Carried(c) => Pin::new(&mut **c).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            TunnelStream::Tcp(s) => s.is_write_vectored(),
            TunnelStream::Carried(c) => c.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            TunnelStream::Carried(c) => Pin::new(&mut **c).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            TunnelStream::Carried(c) => Pin::new(&mut **c).poll_shutdown(cx),
        }
    }
}

/// What a call through a [`Via`] wants of the tunnel.
#[cfg(feature = "proxy")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `connect`: the tunnel must be a `TcpStream`.
    Tcp,
    /// `connect_tls`: TLS with the origin runs on it.
    Tls,
    /// `connect_tunnel`: any stream.
    Any,
}

/// A tunnel a [`Via`] opened to the target: its stream, or for
/// `connect_tls` the origin's handshake begun on it.
#[cfg(feature = "proxy")]
pub(crate) struct Tunnel<S = TunnelStream> {
    pub(crate) stream: S,
    /// The origin's bytes that came with the proxy's answer, for TLS with
    /// the origin to judge (they came before its ClientHello; empty but for
    /// a `connect_tls` tunnel).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) early: Vec<u8>,
    /// The proxy's address (the connection's peer), when known.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) proxy_addr: Option<SocketAddr>,
    /// The target's address, when the tunnel went to an address (not a
    /// name the proxy resolved): what TLS verifies without a server name.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) origin_ip: Option<IpAddr>,
    /// What errors past the tunnel say about the proxy.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) note: crate::client::error::ProxyNote,
}

/// The default connection attempt delay (RFC 8305 §8, asyncio, trio).
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Opens a TCP connection the way asyncio's `loop.create_connection` does:
/// host names resolved, addresses of both families raced with Happy Eyeballs
/// (RFC 8305), and a plain [`tokio::net::TcpStream`] back.
///
/// | asyncio `create_connection` | here |
/// |---|---|
/// | `host`, `port` | [`ConnectionBuilder::new`] |
/// | `happy_eyeballs_delay` | [`happy_eyeballs`](Self::happy_eyeballs) (default 250 ms), [`sequential`](Self::sequential) for `None` |
/// | `interleave` | [`interleave`](Self::interleave) (default 1) |
/// | `family` | [`family`](Self::family) |
/// | `local_addr` | [`local_addr`](Self::local_addr) |
/// | `sock` | [`ConnectionBuilder::from_stream`] |
/// | `all_errors` | [`all_errors`](Self::all_errors) |
/// | TCP_NODELAY on | [`nodelay`](Self::nodelay) (default `true`) |
///
/// Bad input (a malformed target, port 0 on the target or on any address
/// of a list, a family that no address fits, an option that makes no sense
/// for the call) is refused with a
/// [`ConnectErrorKind::InvalidInput`] error before a resolver is asked or a
/// packet is sent.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tokio::io::AsyncWriteExt;
/// use tokio_endpoints::ConnectionBuilder;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let mut stream = ConnectionBuilder::new("example.com:80")
///         .happy_eyeballs(Duration::from_millis(250))
///         .connect_timeout(Duration::from_secs(10))
///         .connect()
///         .await?;
///     stream.write_all(b"HEAD / HTTP/1.0\r\n\r\n").await?;
///     Ok(())
/// }
/// ```
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ConnectionBuilder {
    pub(crate) source: Source,
    /// The target-independent options, shared with [`Connector`](crate::Connector).
    pub(crate) opts: Options,
}

/// The options of a connection that do not depend on its target: what a
/// [`ConnectionBuilder`] holds besides the target, and what a
/// [`Connector`](crate::Connector) shares between its connections.
///
/// The options most calls never set are in [`Rare`], behind one shared
/// pointer (`None` until one is set): every plain connect future holds its
/// builder, and tokio copies a task's future several times (into the task,
/// its output over it); each byte of a builder costs about 2.7
/// instructions per connect in the burst of `benches/race_memory.rs`. A
/// `Connector`'s calls share its `Rare` (copied only when a builder made
/// from it changes one of them). Fields of `Rare` read and write as if
/// they were this struct's own (`Deref`, `DerefMut`).
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) delay: Option<Duration>,
    /// Saturated at `u32::MAX` (more addresses than any answer has):
    /// with the flags beside it, one word less in every builder.
    pub(crate) interleave: u32,
    pub(crate) family: Family,
    pub(crate) nodelay: bool,
    pub(crate) all_errors: bool,
    /// Whether to ask for HTTPS records; `None`: for `connect_tls` only.
    pub(crate) svcb: Option<bool>,
    pub(crate) history_off: bool,
    pub(crate) adaptive_delay: bool,
    /// How long an outcome is trusted, in milliseconds.
    pub(crate) history_ttl_ms: u32,
    pub(crate) resolver: Option<Resolver>,
    /// The history of earlier connections the call reads and writes: a
    /// connector's own, or (`None`) the process-wide one of one-shot
    /// builders; none at all with `history_off`.
    pub(crate) history: Option<History>,
    pub(crate) rare: Option<Arc<Rare>>,
}

/// The options of [`Options`] that most calls leave as they are.
#[derive(Clone)]
pub(crate) struct Rare {
    /// `local_addr`'s addresses, or why they are refused.
    pub(crate) local: Result<Locals, Arc<str>>,
    /// Who is told of each connection made ([`Connector::on_established`],
    /// [`Connector::qlog`]); `None`: nobody, and nothing is recorded.
    ///
    /// [`Connector::on_established`]: crate::Connector::on_established
    /// [`Connector::qlog`]: crate::Connector::qlog
    pub(crate) report: Option<Arc<Reporting>>,
    /// The proxy connections go through; `None`: directly.
    #[cfg(feature = "proxy")]
    pub(crate) via: Option<Arc<dyn Via>>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) hook: Option<SocketHook>,
    /// Keepalive, user timeout, buffer sizes, interface.
    pub(crate) sockopts: Option<Arc<SocketOptions>>,
    /// Where connections may go; `None`: anywhere.
    pub(crate) policy: Option<AddressPolicy>,
    /// The TLS options, used by `connect_tls` (see `tls.rs`).
    #[cfg(feature = "tls")]
    pub(crate) tls: super::tls_options::TlsSlot,
    /// QUIC in the race (`quic`, `quic_only`) and a connector's endpoints.
    #[cfg(feature = "quic")]
    pub(crate) quic: super::quic_memory::QuicSlot,
}

/// What an [`Options`] without a [`Rare`] of its own reads.
impl Options {
    /// The First Address Family Count ([`ConnectionBuilder::interleave`]).
    pub(crate) fn interleave(&self) -> usize {
        usize::try_from(self.interleave).unwrap_or(usize::MAX)
    }

    pub(crate) fn set_interleave(&mut self, count: usize) {
        self.interleave = u32::try_from(count).unwrap_or(u32::MAX);
    }
}

static DEFAULT_RARE: Rare = Rare {
    local: Ok(Locals(None)),
    report: None,
    #[cfg(feature = "proxy")]
    via: None,
    connect_timeout: None,
    attempt_timeout: None,
    hook: None,
    sockopts: None,
    policy: None,
    #[cfg(feature = "tls")]
    tls: super::tls_options::TlsSlot::EMPTY,
    #[cfg(feature = "quic")]
    quic: super::quic_memory::QuicSlot::OFF,
};

impl std::ops::Deref for Options {
    type Target = Rare;

    #[inline]
    fn deref(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&DEFAULT_RARE)
    }
}

impl std::ops::DerefMut for Options {
    /// The rare options, to change one: made on the first change, copied
    /// first if shared (with a `Connector`, or its other builders).
    fn deref_mut(&mut self) -> &mut Rare {
        Arc::make_mut(
            self.rare
                .get_or_insert_with(|| Arc::new(DEFAULT_RARE.clone())),
        )
    }
}

/// A connector's `on_established` callback.
pub(crate) type OnEstablished = Arc<dyn Fn(&Establishment) + Send + Sync>;

/// Who is told of each connection a connector makes.
#[derive(Clone, Default)]
pub(crate) struct Reporting {
    pub(crate) on_established: Option<OnEstablished>,
    pub(crate) qlog: Option<QlogSink>,
}

impl Reporting {
    /// Tells them of `report`.
    pub(crate) fn tell(&self, report: &Establishment) {
        if let Some(sink) = &self.qlog {
            sink.write(report);
        }
        if let Some(callback) = &self.on_established {
            callback(report);
        }
    }
}

impl fmt::Debug for Reporting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporting")
            .field("on_established", &self.on_established.is_some())
            .field("qlog", &self.qlog)
            .finish()
    }
}

impl Options {
    pub(crate) fn history_ttl(&self) -> Duration {
        Duration::from_millis(u64::from(self.history_ttl_ms))
    }

    pub(crate) fn set_history_ttl(&mut self, ttl: Duration) {
        self.history_ttl_ms = u32::try_from(ttl.as_millis()).unwrap_or(u32::MAX);
    }

    /// The history key's word for what changes the path besides the
    /// target and the local addresses (`history::path_id`): 0, read from
    /// two pointers, without rare options or a resolver of its own.
    pub(crate) fn path_id(&self) -> u64 {
        let resolver = self.resolver.as_ref().map_or(0, Resolver::identity);
        let Some(rare) = self.rare.as_deref() else {
            return crate::client::history::path_id(resolver, 0, false);
        };
        let interface = rare
            .sockopts
            .as_deref()
            .map_or(0, SocketOptions::interface_id);
        crate::client::history::path_id(resolver, interface, rare.hook.is_some())
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            delay: Some(DEFAULT_HAPPY_EYEBALLS_DELAY),
            interleave: 1,
            family: Family::Any,
            nodelay: true,
            all_errors: false,
            svcb: None,
            history_off: false,
            adaptive_delay: false,
            history_ttl_ms: DEFAULT_HISTORY_TTL.as_millis() as u32,
            resolver: None,
            history: None,
            rare: None,
        }
    }
}

impl Options {
    /// `local_addr`, validated once for the builder and the connector.
    pub(crate) fn set_local(&mut self, local: impl IntoLocalAddrs) {
        self.local = match local.into_local_addrs() {
            Ok(v) if v.is_empty() => Err("local_addr was given an empty list".into()),
            Ok(v) => Ok(Locals(Some(v.into()))),
            Err(e) => Err(e.into()),
        };
    }

    /// The socket options, to change one (copied first if shared).
    pub(crate) fn sockopts_mut(&mut self) -> &mut SocketOptions {
        Arc::make_mut(self.sockopts.get_or_insert_with(Default::default))
    }

    /// The fields for a `Debug` of the builder or the connector.
    pub(crate) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("happy_eyeballs", &self.delay)
            .field("interleave", &self.interleave)
            .field("family", &self.family)
            .field("local_addr", &self.local)
            .field("nodelay", &self.nodelay)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("socket_hook", &self.hook.is_some())
            .field("socket_options", &self.sockopts)
            .field("all_errors", &self.all_errors)
            .field("resolver", &self.resolver)
            .field("svcb", &self.svcb)
            .field(
                "history",
                &match (&self.history, self.history_off) {
                    (_, true) => "off",
                    (None, false) => "process-wide",
                    (Some(_), false) => "the connector's",
                },
            )
            .field("history_ttl", &self.history_ttl())
            .field("adaptive_delay", &self.adaptive_delay)
            .field("address_policy", &self.policy)
            .field("report", &self.report);
        #[cfg(feature = "proxy")]
        d.field("proxy", &self.via);
        #[cfg(feature = "tls")]
        self.tls.debug_fields(d);
        #[cfg(feature = "quic")]
        d.field("quic", &self.quic);
    }
}

/// The local addresses of `local_addr`: none (no allocation), or a list
/// shared by every call of a [`Connector`](crate::Connector).
#[derive(Clone, Default)]
pub(crate) struct Locals(Option<Arc<[SocketAddr]>>);

impl std::ops::Deref for Locals {
    type Target = [SocketAddr];

    fn deref(&self) -> &[SocketAddr] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for Locals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

pub(crate) enum Source {
    /// The target, or why it is refused (boxed: its two strings would
    /// double the size of every builder).
    Target(Result<Target, Box<TargetError>>),
    /// An adopted stream, and the options given that only make sense when
    /// we connect ourselves (refused, in the order given). Kept here, not
    /// in the builder, so that every other builder is smaller; boxed, so
    /// that this variant is no larger than a target (inline, it would make
    /// every builder, and every plain connect future, 8 bytes larger).
    Stream(Box<(TcpStream, Vec<&'static str>)>),
}

impl Source {
    pub(crate) fn target(target: impl IntoTarget) -> Source {
        Source::Target(target.into_target().map_err(Box::new))
    }
}

impl ConnectionBuilder {
    /// A builder that connects to `target`: `"host:port"`, `"[v6]:port"`,
    /// `"192.0.2.1:80"`, `(host, port)`, a [`SocketAddr`] or a list of them
    /// (see [`IntoTarget`]).
    ///
    /// A malformed target is not a panic: [`connect`](Self::connect) returns
    /// the [`ConnectErrorKind::InvalidInput`] error that names the problem.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let by_name = ConnectionBuilder::new("example.com:443");
    /// # drop(by_name);
    /// let by_pair = ConnectionBuilder::new(("example.com", 443));
    /// # drop(by_pair);
    /// let v6: SocketAddr = "[::1]:8080".parse().unwrap();
    /// let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// let by_list = ConnectionBuilder::new(vec![v6, v4]);
    /// # drop(by_list);
    /// ```
    pub fn new(target: impl IntoTarget) -> ConnectionBuilder {
        ConnectionBuilder::with_source(Source::target(target))
    }

    /// Adopts a connected stream: asyncio's `sock=`. [`connect`](Self::connect)
    /// then returns it with [`nodelay`](Self::nodelay) applied; the TLS and
    /// framing layers build on it. Options that only apply to establishing a
    /// connection ([`happy_eyeballs`](Self::happy_eyeballs),
    /// [`local_addr`](Self::local_addr), [`resolver`](Self::resolver), ...)
    /// are refused, as asyncio refuses `host` together with `sock`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::net::TcpStream;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let raw = TcpStream::connect("127.0.0.1:8080").await?;
    /// let stream = ConnectionBuilder::from_stream(raw).nodelay(false).connect().await?;
    /// assert!(!stream.nodelay()?);
    /// # Ok(()) }
    /// ```
    pub fn from_stream(stream: TcpStream) -> ConnectionBuilder {
        ConnectionBuilder::with_source(Source::Stream(Box::new((stream, Vec::new()))))
    }

    fn with_source(source: Source) -> ConnectionBuilder {
        ConnectionBuilder::with_options(source, Options::default())
    }

    pub(crate) fn with_options(source: Source, opts: Options) -> ConnectionBuilder {
        ConnectionBuilder { source, opts }
    }

    // Inline: every builder method goes through here, and a call would
    // copy the whole builder in and out.
    #[inline]
    pub(crate) fn connecting(mut self, option: &'static str) -> Self {
        if let Source::Stream(adopted) = &mut self.source {
            let needs_connect = &mut adopted.1;
            if !needs_connect.contains(&option) {
                needs_connect.push(option);
            }
        }
        self
    }

    /// Races addresses with this *connection attempt delay* (RFC 8305 §5,
    /// asyncio's `happy_eyeballs_delay`): the next address is tried when the
    /// delay has passed since the last attempt started, or as soon as a
    /// running attempt fails. The first to connect wins; the others are
    /// closed. `Duration::ZERO` starts every attempt at once.
    ///
    /// RFC 8305 recommends 250 ms and no less than 100 ms, except for
    /// special cases. Default is 250 ms ([`DEFAULT_HAPPY_EYEBALLS_DELAY`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").happy_eyeballs(Duration::from_millis(100));
    /// # drop(b);
    /// ```
    pub fn happy_eyeballs(mut self, delay: Duration) -> Self {
        self.opts.delay = Some(delay);
        self.connecting("happy_eyeballs")
    }

    /// Turns racing off: one attempt at a time, the next only when the
    /// previous one failed (asyncio's `happy_eyeballs_delay=None`, and what
    /// `TcpStream::connect` does). Pair it with
    /// [`attempt_timeout`](Self::attempt_timeout), or a blackholed address
    /// hangs the call for the kernel's connect timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443")
    ///     .sequential()
    ///     .attempt_timeout(Duration::from_secs(3));
    /// # drop(b);
    /// ```
    pub fn sequential(mut self) -> Self {
        self.opts.delay = None;
        self.connecting("sequential")
    }

    /// The First Address Family Count of RFC 8305 §4 (asyncio's
    /// `interleave`): this many addresses of the first family are tried
    /// before the families alternate. `0` keeps the resolver's (or the
    /// list's) order exactly. Default is 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// // [v6a, v6b, v4a, v4b] is tried as v6a, v6b, v4a, v4b.
    /// let b = ConnectionBuilder::new("example.com:443").interleave(2);
    /// # drop(b);
    /// ```
    pub fn interleave(mut self, count: usize) -> Self {
        self.opts.set_interleave(count);
        self.connecting("interleave")
    }

    /// Which address family to use (asyncio's `family`). Addresses of the
    /// other family are dropped; a literal target or local address of the
    /// other family is refused before anything is sent. Default is
    /// [`Family::Any`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ConnectionBuilder, Family};
    ///
    /// let b = ConnectionBuilder::new("example.com:443").family(Family::V6);
    /// # drop(b);
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.opts.family = family;
        self.connecting("family")
    }

    /// Binds each attempt's socket to a local address before connecting
    /// (asyncio's `local_addr`; `bind(2)`): an [`IpAddr`], a [`SocketAddr`]
    /// or a list of them. Each attempt uses the first local address of its
    /// own family; addresses of a family with no local address are not
    /// tried, and when that leaves none the call fails with a clear error.
    /// A port of 0 lets the kernel pick one. Default is no binding.
    ///
    /// A fixed local port can only be bound by one attempt of a family at a
    /// time: the next one fails with `AddrInUse`, and is reported as such.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443")
    ///     .local_addr(vec![IpAddr::from(Ipv6Addr::LOCALHOST), IpAddr::from(Ipv4Addr::LOCALHOST)]);
    /// # drop(b);
    /// ```
    pub fn local_addr(mut self, local: impl IntoLocalAddrs) -> Self {
        self.opts.set_local(local);
        self.connecting("local_addr")
    }

    /// Sets `TCP_NODELAY` (see `tcp(7)`) on the connection, turning Nagle's
    /// algorithm off so small writes go out at once, as asyncio does for
    /// every TCP transport. Default is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").nodelay(false);
    /// # drop(b);
    /// ```
    pub fn nodelay(mut self, on: bool) -> Self {
        self.opts.nodelay = on;
        self
    }

    /// Turns TCP keepalive on for each attempt's socket, with the idle
    /// time, probe interval and probe count of `keepalive` (those it sets;
    /// the system's defaults for the others): `SO_KEEPALIVE` (see
    /// `socket(7)`) and `TCP_KEEPIDLE` / `TCP_KEEPINTVL` / `TCP_KEEPCNT`
    /// (see `tcp(7)`; `TCP_KEEPALIVE` on Apple platforms). The kernel then
    /// probes a peer that has sent nothing for the idle time, and closes a
    /// connection whose peer is gone (reads fail with `TimedOut`), where
    /// without it a dead peer is noticed only on the next write, or never.
    /// hyper-util's `HttpConnector::set_keepalive` and reqwest's
    /// `tcp_keepalive`. Default is not set: the system's default, off.
    ///
    /// # Errors
    ///
    /// A value the system refuses (an idle time over its maximum, 32767 s
    /// on Linux) fails each attempt with the `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio_endpoints::socket2::{SockRef, TcpKeepalive};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let keepalive = TcpKeepalive::new()
    ///         .with_time(Duration::from_secs(60))
    ///         .with_interval(Duration::from_secs(10));
    ///     let stream = ConnectionBuilder::new("example.com:443")
    ///         .tcp_keepalive(keepalive)
    ///         .connect()
    ///         .await?;
    ///     assert!(SockRef::from(&stream).keepalive()?);
    ///     Ok(())
    /// }
    /// ```
    pub fn tcp_keepalive(mut self, keepalive: socket2::TcpKeepalive) -> Self {
        self.opts.sockopts_mut().keepalive = Some(keepalive);
        self.connecting("tcp_keepalive")
    }

    /// Sets `TCP_USER_TIMEOUT` (see `tcp(7)`, RFC 5482) on each attempt's
    /// socket: how long sent data may stay unacknowledged before the kernel
    /// gives up on the connection (writes and reads then fail with
    /// `TimedOut`). With keepalive, it also bounds how long probes go
    /// unanswered. It does not bound the TCP handshake: that is
    /// [`attempt_timeout`](Self::attempt_timeout). hyper-util's
    /// `HttpConnector::set_tcp_user_timeout`, reqwest's `tcp_user_timeout`.
    /// `None` leaves the system's default (retransmissions for about 15
    /// minutes on Linux). Default is `None`.
    ///
    /// Only Linux, Android and Fuchsia have it, and only there is this
    /// method compiled (as hyper-util's and socket2's), so a program that
    /// needs it does not build where it would be dropped.
    ///
    /// # Errors
    ///
    /// What the kernel would misread is refused with
    /// [`ConnectErrorKind::InvalidInput`] before anything is sent, naming
    /// the option: `Duration::ZERO` (read as "the default"), anything under
    /// 1 ms (its unit: it would round to zero) and over `i32::MAX` ms.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let stream = ConnectionBuilder::new("example.com:443")
    ///         .tcp_user_timeout(Duration::from_secs(30))
    ///         .connect()
    ///         .await?;
    /// #   drop(stream);
    ///     Ok(())
    /// }
    /// ```
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))
    )]
    pub fn tcp_user_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.sockopts_mut().user_timeout = timeout.into();
        self.connecting("tcp_user_timeout")
    }

    /// Sets `SO_SNDBUF` (see `socket(7)`) on each attempt's socket: the
    /// size of the kernel's send buffer, in bytes. Linux doubles the value
    /// (for its bookkeeping) and caps it at `net.core.wmem_max`; setting it
    /// turns the kernel's automatic tuning off for that socket. Set before
    /// the connect, as it must be for the window scale the handshake
    /// announces. hyper-util's `HttpConnector::set_send_buffer_size`.
    /// Default is not set: the system's default, tuned automatically.
    /// Over `c_int::MAX` bytes (which the kernel's `int` cannot hold) is
    /// refused with [`ConnectErrorKind::InvalidInput`] before anything is
    /// sent, as for [`recv_buffer_size`](Self::recv_buffer_size).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let stream = ConnectionBuilder::new("example.com:443")
    ///         .send_buffer_size(1 << 20)
    ///         .recv_buffer_size(1 << 20)
    ///         .connect()
    ///         .await?;
    /// #   drop(stream);
    ///     Ok(())
    /// }
    /// ```
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.opts.sockopts_mut().send_buffer = Some(bytes);
        self.connecting("send_buffer_size")
    }

    /// Sets `SO_RCVBUF` (see `socket(7)`) on each attempt's socket: the
    /// size of the kernel's receive buffer, in bytes, which bounds the TCP
    /// window. Linux doubles the value and caps it at
    /// `net.core.rmem_max`; setting it turns automatic tuning off for that
    /// socket. Set before the connect, so the window scale the handshake
    /// announces fits it. hyper-util's
    /// `HttpConnector::set_recv_buffer_size`. Default is not set: the
    /// system's default, tuned automatically.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").recv_buffer_size(4 << 20);
    /// # drop(b);
    /// ```
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.opts.sockopts_mut().recv_buffer = Some(bytes);
        self.connecting("recv_buffer_size")
    }

    /// Binds each attempt's socket to the network interface `name`, so its
    /// packets leave through that interface whatever the routing table
    /// says: `SO_BINDTODEVICE` on Linux and Android (see `socket(7)`; it
    /// needs `CAP_NET_RAW` before Linux 5.7), `IP_BOUND_IF` /
    /// `IPV6_BOUND_IF` on Apple platforms (see `ip(4)`, `ip6(4)`),
    /// `IP_UNICAST_IF` / `IPV6_UNICAST_IF` on Windows, where `name` is the
    /// interface's name (`ethernet_32768`) or the alias Windows shows
    /// (`Ethernet`, `Wi-Fi`).
    /// hyper-util's `HttpConnector::set_interface`, reqwest's `interface`,
    /// curl's `--interface` (a name, not an address: for a source address
    /// use [`local_addr`](Self::local_addr)). Default is not set.
    ///
    /// # Errors
    ///
    /// The name is looked up (`if_nametoindex(3)`) before anything is
    /// sent: a name that no interface has fails the call with
    /// [`ConnectErrorKind::InvalidInput`], naming it. On other platforms
    /// (FreeBSD and the other BSDs) the call fails with
    /// [`ConnectErrorKind::Unsupported`], before anything is sent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let stream = ConnectionBuilder::new("example.com:443")
    ///         .interface("eth0")
    ///         .connect()
    ///         .await?;
    /// #   drop(stream);
    ///     Ok(())
    /// }
    /// ```
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.opts.sockopts_mut().set_interface(name.into());
        self.connecting("interface")
    }

    /// Bounds the whole call, resolution included, and with
    /// [`connect_tls`](Self::connect_tls) every TLS handshake too. When it passes, every
    /// attempt is closed and the call fails with
    /// [`ConnectErrorKind::TimedOut`], keeping the attempts made so far.
    /// `None` means no bound; `Duration::ZERO` is refused (the call fails
    /// with [`ConnectErrorKind::InvalidInput`] before anything is sent), as
    /// for the TLS timeouts. Default is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").connect_timeout(Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.connect_timeout = timeout.into();
        self.connecting("connect_timeout")
    }

    /// Bounds each attempt's TCP connect: an attempt still connecting after
    /// this long fails with `TimedOut` (and the next address starts at
    /// once). A TLS handshake after it has its own bound,
    /// `tls_handshake_timeout`. `None`
    /// leaves each attempt to the kernel's connect timeout;
    /// `Duration::ZERO` is refused (the call fails with
    /// [`ConnectErrorKind::InvalidInput`] before anything is sent). Default
    /// is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").attempt_timeout(Duration::from_secs(2));
    /// # drop(b);
    /// ```
    pub fn attempt_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.attempt_timeout = timeout.into();
        self.connecting("attempt_timeout")
    }

    /// Runs `hook` on each attempt's socket after it is created and before
    /// it is bound and connected, after the options this builder names
    /// ([`tcp_keepalive`](Self::tcp_keepalive), buffer sizes,
    /// [`interface`](Self::interface), ...), which it may override: the
    /// place for the others (`SO_MARK`, `IP_TOS`, `TCP_CONGESTION`). An
    /// error from the hook fails that attempt. Default is no hook.
    ///
    /// # Panics
    ///
    /// A panic in `hook` is not caught: it propagates out of the poll of
    /// the connect future, as a panic in any polled future does (in a
    /// spawned task, its `JoinHandle` returns a `JoinError` whose
    /// `is_panic()` is true). Every socket the call opened, the other
    /// attempts' too, is closed as the future is dropped, and nothing is
    /// poisoned: the same hook, resolver and options work for later calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::{socket2::TcpKeepalive, ConnectionBuilder};
    ///
    /// let b = ConnectionBuilder::new("example.com:443").socket_hook(|socket| {
    ///     socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(30)))
    /// });
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> std::io::Result<()> + Send + Sync + 'static,
    {
        self.opts.hook = Some(Arc::new(hook));
        self.connecting("socket_hook")
    }

    /// How the [`ConnectError`] reads when it becomes one `io::Error`
    /// (asyncio's `all_errors`). The error keeps every attempt either way;
    /// with `false` its message is the one error the attempts share (or the
    /// first one's), with `true` it lists every attempt with its address and
    /// timing. Default is `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").all_errors(true);
    /// # drop(b);
    /// ```
    pub fn all_errors(mut self, all: bool) -> Self {
        self.opts.all_errors = all;
        self
    }

    /// Turns the history of earlier connections on or off for this call:
    /// on (the default), it reads and adds to the history one-shot builders
    /// share process-wide (like the DNS cache), so a second connect to a
    /// host whose IPv6 path is blackholed tries IPv4 first and does not pay
    /// the delay again. A builder from [`Connector::builder`](crate::Connector::builder) uses the
    /// connector's history instead. See
    /// [`Connector::history`](crate::Connector::history) for what is
    /// remembered and how it is used. Default is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").history(false);
    /// # drop(b);
    /// ```
    pub fn history(mut self, on: bool) -> Self {
        self.opts.history_off = !on;
        self
    }

    /// How long an outcome in the history is trusted, for this call. See
    /// [`Connector::history_ttl`](crate::Connector::history_ttl). Default is
    /// 10 minutes.
    ///
    /// # Errors
    ///
    /// Under 1 ms (`Duration::ZERO` too) is refused with
    /// [`ConnectErrorKind::InvalidInput`] when the call starts, before
    /// anything is sent; [`history(false)`](Self::history) turns the
    /// history off.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").history_ttl(Duration::from_secs(60));
    /// # drop(b);
    /// ```
    pub fn history_ttl(mut self, ttl: Duration) -> Self {
        self.opts.set_history_ttl(ttl);
        self
    }

    /// Derives the stagger delay from the target's history. See
    /// [`Connector::adaptive_delay`](crate::Connector::adaptive_delay).
    /// Default is `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443").adaptive_delay(true);
    /// # drop(b);
    /// ```
    pub fn adaptive_delay(mut self, on: bool) -> Self {
        self.opts.adaptive_delay = on;
        self
    }

    /// Who turns the target's host name into addresses. Literal addresses
    /// never reach it. Default is [`Resolver::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ConnectionBuilder, Resolver};
    ///
    /// let b = ConnectionBuilder::new("localhost:80").resolver(Resolver::system());
    /// # drop(b);
    /// ```
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.opts.resolver = Some(Resolver::new(resolver));
        self.connecting("resolver")
    }

    /// Whether to ask for the target host's HTTPS records (RFC 9460, type
    /// 65) beside its AAAA and A records, and let them shape the race
    /// (Happy Eyeballs v3): their address hints join the race before the
    /// address answers come, their `port` is used for their addresses,
    /// services whose ALPN protocols do not meet [`alpn`](Self::alpn) are
    /// skipped. The query name is the host for port 443, `_PORT._https.HOST`
    /// otherwise. A missing, failed or malformed answer only loses the
    /// hints, and a slow one costs at most the resolver's resolution delay.
    /// Only resolvers that know records use them (the hickory resolver,
    /// [`Resolver::fixed_with_services`]); literal addresses never do.
    ///
    /// Default is `true` for [`connect_tls`](Self::connect_tls) (HTTPS
    /// records describe TLS services) and `false` for
    /// [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// // A plain TCP connection to a port that an HTTPS record may move.
    /// let b = ConnectionBuilder::new("example.com:443").svcb(true);
    /// # drop(b);
    /// ```
    pub fn svcb(mut self, on: bool) -> Self {
        self.opts.svcb = Some(on);
        self.connecting("svcb")
    }

    /// Connects only to addresses `policy` allows (see [`AddressPolicy`]):
    /// every address the call would connect to is checked before any
    /// packet is sent, on the address that is then connected: the
    /// resolver's answers, HTTPS record hints and service targets, a
    /// literal target or list. Denied addresses are left out of the race;
    /// when none is left, the call fails with [`ConnectErrorKind::Denied`]
    /// (`io::ErrorKind::PermissionDenied`), and [`ConnectError::denied`]
    /// lists each refused address and why.
    ///
    /// The [`socket_hook`](Self::socket_hook) runs only for allowed
    /// addresses. A proxy resolves names itself: the policy checks the
    /// proxy's address, not where the proxy goes. Default is no policy
    /// (every address allowed).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ConnectErrorKind, ConnectionBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let err = ConnectionBuilder::new("127.0.0.1:6379")
    ///     .address_policy(AddressPolicy::public_only())
    ///     .connect()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ConnectErrorKind::Denied);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "connect to 127.0.0.1:6379: 127.0.0.1: loopback, refused by the address policy"
    /// );
    /// # Ok(()) }
    /// ```
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.opts.policy = Some(policy);
        self.connecting("address_policy")
    }

    /// Connects: resolves the target, races its addresses, and returns the
    /// winner with every loser closed.
    ///
    /// When the first address is known at once (a literal address or list,
    /// a resolver that answers without waiting), its attempt starts with the
    /// call and the race is set up only if that attempt has neither won nor
    /// failed once the runtime has polled its I/O driver: a connect to a
    /// healthy host costs about what `TcpStream::connect` does (see the
    /// README's benchmarks). The timing is the same either way.
    ///
    /// # Errors
    ///
    /// A [`ConnectError`]: bad input, a resolution failure, no usable
    /// address, every attempt failed, or the connect timeout passed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every socket it opened. No task outlives
    /// it (a running `getaddrinfo` of the system resolver finishes on the
    /// blocking pool, holding no socket).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("localhost:8080").connect().await?;
    /// println!("connected to {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    // A plain `fn` returning a hand-written future (`Connect`), not an
    // `async fn`: an `async fn` keeps its argument twice (as the argument
    // and as the local the body moves it to), and the builder is most of
    // every connect future.
    pub fn connect(self) -> impl Future<Output = Result<TcpStream, ConnectError>> + Send {
        let span = tracing::debug_span!("connect", target = %self.describe());
        // Boxed, and only when a subscriber wants it: a disabled span is
        // 40 bytes of every connect future for nothing. Given to the
        // future as it is made, which is then made in place (set
        // afterwards, the future was made, then copied out).
        let span = (!span.is_disabled()).then(|| Box::new(span));
        self.connect_checked(true, None, span)
    }

    /// [`connect`](Self::connect), and what it went through: the
    /// [`Establishment`] report of the resolution, each attempt and the
    /// delays between them. The race runs as for `connect`, with each
    /// event recorded as it happens (the report costs a few microseconds,
    /// see `BENCHMARKS.md`; a plain `connect` records nothing). A
    /// [`Connector`](crate::Connector)'s
    /// [`on_established`](crate::Connector::on_established) and
    /// [`qlog`](crate::Connector::qlog) are told of the connection too.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect): a failed call has no report, its
    /// [`ConnectError`] says what was tried.
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect): dropping the future closes every
    /// socket it opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
    /// println!("{report}");
    /// assert_eq!(report.winner().addr(), stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn connect_reported(
        self,
    ) -> impl Future<Output = Result<(TcpStream, Establishment), ConnectError>> + Send {
        let span = tracing::debug_span!("connect", target = %self.describe());
        tracing::Instrument::instrument(self.reported(true), span)
    }

    /// The reported connect: the race, recorded, and whoever is to be told
    /// of it told. `refuse_tls`: TLS options are refused (not checked again
    /// when `Connect` sends a connect here).
    pub(crate) async fn reported(
        self,
        refuse_tls: bool,
    ) -> Result<(TcpStream, Establishment), ConnectError> {
        if let Source::Stream(..) = &self.source {
            let name = self.describe();
            let report_to = self.opts.report.clone();
            let stream = self.adopt()?;
            let peer = stream.peer_addr().map_err(|e| {
                ConnectError::invalid(
                    name.clone(),
                    format!("the adopted stream is not connected: {e}"),
                )
            })?;
            let report = Establishment::adopted(peer);
            if let Some(to) = report_to {
                to.tell(&report);
            }
            return Ok((stream, report));
        }
        // The connect as `connect` runs it (its first attempt started at
        // once, the race only when needed), recording as it goes.
        let target = match &self.source {
            Source::Target(Ok(target)) => Some(target.clone()),
            _ => None,
        };
        let report_to = self.opts.report.clone();
        let recorder = Recorder::new(Instant::now());
        let mut connect = std::pin::pin!(self.connect_checked(refuse_tls, Some(recorder), None));
        let stream = connect.as_mut().await?;
        let recorder = connect.project().recorder.take();
        let mut recorder = recorder.expect("a recorded connect keeps its recorder");
        let target = target.expect("a connect that succeeded had a target");
        if !recorder.has_won() {
            // Through a proxy: the hop to it, one attempt (the race to the
            // proxy is not recorded).
            let peer = stream.peer_addr().map_err(|e| {
                ConnectError::invalid(
                    target.to_string(),
                    format!("the connection closed at once: {e}"),
                )
            })?;
            let at = recorder.now();
            recorder.started(peer, Duration::ZERO, false);
            recorder.won(peer, Duration::ZERO, AttemptStage::Tcp, at);
        }
        let took = recorder.now();
        let report = recorder.finish(target, took, None);
        if let Some(to) = &report_to {
            to.tell(&report);
        }
        Ok((stream, report))
    }

    /// The target's host name, if it is one.
    fn host(&self) -> Option<&str> {
        match &self.source {
            Source::Target(Ok(target)) => target.host(),
            _ => None,
        }
    }

    /// The resolver that host names are given to: the one set, or the
    /// process-wide default (borrowed, not cloned, when set).
    pub(crate) fn name_resolver(&self) -> std::borrow::Cow<'_, Resolver> {
        match &self.opts.resolver {
            Some(resolver) => std::borrow::Cow::Borrowed(resolver),
            None => std::borrow::Cow::Owned(Resolver::default()),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match &self.source {
            Source::Target(Ok(t)) => t.to_string(),
            Source::Target(Err(e)) => e.input().to_string(),
            Source::Stream(adopted) => match adopted.0.peer_addr() {
                Ok(peer) => format!("adopted stream to {peer}"),
                Err(_) => "adopted stream".to_string(),
            },
        }
    }

    pub(crate) fn invalid(&self, message: impl Into<String>) -> ConnectError {
        ConnectError::invalid(self.describe(), message).with_all_errors(self.opts.all_errors)
    }

    #[cfg(feature = "tls")]
    pub(crate) fn connect_inner(self) -> impl Future<Output = Result<TcpStream, ConnectError>> {
        self.connect_checked(false, None, None)
    }

    /// `connect`, refusing TLS options if `refuse_tls`: a [`Connect`].
    /// `recorder`: what happens is recorded there (`connect_reported`);
    /// `span`: entered at each poll.
    fn connect_checked(
        self,
        refuse_tls: bool,
        recorder: Option<Box<Recorder>>,
        span: Option<Box<tracing::Span>>,
    ) -> Connect {
        Connect {
            span,
            yielded: false,
            builder: Some(self),
            refuse_tls,
            state: State::Start,
            recorder,
        }
    }

    /// The first poll of a [`Connect`]: the checks, then the first attempt
    /// started here when the call is a plain race whose first address is
    /// known at once, or else the whole race, boxed.
    fn start(
        &self,
        refuse_tls: bool,
        cx: &mut Context<'_>,
        mut rec: Option<&mut Recorder>,
    ) -> Started {
        #[cfg(feature = "tls")]
        if refuse_tls && self.opts.tls.any_given() {
            let given = self.opts.tls.given().unwrap_or_default();
            return Started::Done(Err(self.invalid(format!(
                "TLS options given to connect(): {given}; use connect_tls()"
            ))));
        }
        #[cfg(not(feature = "tls"))]
        let _ = refuse_tls;
        if let Source::Stream(..) = &self.source {
            return Started::Adopt;
        }
        // Someone is told of every connection: the reported connect.
        if self.opts.report.is_some() && rec.is_none() {
            return Started::Reported;
        }
        #[cfg(feature = "proxy")]
        if self
            .opts
            .via
            .as_ref()
            .is_some_and(|via| via.applies(self, false))
        {
            return Started::Via;
        }
        let start = Instant::now();
        let (target, locals) = match self.checked() {
            Ok(checked) => checked,
            Err(e) => return Started::Done(Err(e)),
        };
        if let Some(rec) = rec.as_deref_mut() {
            rec.restart(start);
        }
        let services = self.opts.svcb.unwrap_or(false);
        // What earlier connections to this target taught (nothing to learn
        // for one literal address).
        let advice = match target.addrs() {
            [_] => Advice::default(),
            _ => self.advice(target, locals, start),
        };
        if let Some(rec) = rec.as_deref_mut() {
            self.record_opening(rec, target, services, &advice);
        }
        let begun = || {
            let mut begun = Begun::nothing();
            begun.advise(advice.clone());
            begun
        };
        // IPv4 literals on an IPv6-only network: their NAT64 synthesis,
        // once the prefix is known, as a resolution.
        if let Some(synthesized) = self.nat64_literals(target) {
            return Started::race(start, begun(), Some(synthesized));
        }
        // Timeouts need the race's timer from the start; HTTPS records its
        // merger; a delay from the history, the race's stagger.
        if services
            || self.opts.connect_timeout.is_some()
            || self.opts.attempt_timeout.is_some()
            || advice.delay.is_some()
        {
            return Started::race(start, begun(), None);
        }
        // No local address, no policy, any family: every address is usable
        // (what `permitted` would say for each, without asking).
        let all_usable = self.opts.rare.is_none() && self.opts.family == Family::Any;
        // `at`: the address's place in the target's list, or in the
        // resolver's answer (what `First` keeps of it).
        let ((at, addr), rest) = match target.host_name() {
            None if all_usable => match target.addrs() {
                [addr] => ((0, *addr), Rest::Nothing),
                addrs => {
                    let first = (0, addrs[0]);
                    let picked = advice.pick(addrs.iter().copied().enumerate());
                    (picked.unwrap_or(first), Rest::Literal)
                }
            },
            None => {
                let usable = || {
                    target
                        .addrs()
                        .iter()
                        .copied()
                        .enumerate()
                        .filter(|(_, a)| self.permitted(&a.ip()))
                };
                let mut only = usable();
                match (only.next(), only.next()) {
                    (Some(first), None) => (first, Rest::Nothing),
                    (Some(first), Some(_)) => {
                        (advice.pick(usable()).unwrap_or(first), Rest::Literal)
                    }
                    // The race says why none is usable.
                    (None, _) => return Started::race(start, begun(), None),
                }
            }
            // The name as written: an absolute name keeps its dot (it is
            // not searched).
            Some(host) => {
                // A resolver that answers at once (a literal list pinned
                // with `Resolver::fixed`, a cached answer) gives the first
                // address now; any other answer goes to the race.
                let (first, resolving) = self.resolving_first(host, start, cx);
                let ips = match first {
                    Poll::Ready(Some(Ok(ips))) => ips,
                    Poll::Ready(Some(Err(e))) => {
                        if let Some(rec) = rec.as_deref_mut() {
                            rec.resolve_failed(&e);
                        }
                        let mut begun = begun();
                        begun.resolve_errors.push(e);
                        return Started::race(start, begun, Some(resolving));
                    }
                    // Nothing at all: the race reports it, without asking
                    // the resolver again.
                    Poll::Ready(None) => {
                        let ended = futures_util::stream::empty().boxed();
                        return Started::race(start, begun(), Some(ended));
                    }
                    Poll::Pending => {
                        if let Some(rec) = rec.as_deref_mut() {
                            rec.waiting();
                        }
                        return Started::race(start, begun(), Some(resolving));
                    }
                };
                if let Some(rec) = rec.as_deref_mut() {
                    let mut denied = Vec::new();
                    let port = target.port();
                    let add = self
                        .admit(ips.iter().copied(), port, &mut denied)
                        .flatten()
                        .collect();
                    let batch = Batch {
                        seen: ips.len(),
                        add,
                        withdraw: Vec::new(),
                        denied,
                    };
                    rec.answer(&batch);
                }
                // The answer is kept as it came: the race, if there is one,
                // makes the socket addresses.
                let port = target.port();
                let at = |(i, &ip): (usize, &IpAddr)| (i, SocketAddr::new(ip, port));
                let picked = if all_usable {
                    advice.pick(ips.iter().enumerate().map(at))
                } else {
                    let usable = ips.iter().enumerate().filter(|(_, ip)| self.permitted(ip));
                    advice.pick(usable.map(at))
                };
                match picked {
                    Some(addr) => (
                        addr,
                        Rest::Name {
                            ips: ips.into_boxed_slice(),
                            resolving,
                        },
                    ),
                    None => {
                        let mut begun = begun();
                        begun.seen = ips.len();
                        self.admit(ips, target.port(), &mut begun.denied)
                            .for_each(drop);
                        return Started::race(start, begun, Some(resolving));
                    }
                }
            }
        };
        tracing::debug!(%addr, started = %crate::shared::report::Dur(FIRST_STARTED), "attempt started");
        if let Some(rec) = rec {
            // The attempt's record says `FIRST_STARTED`; the report, when
            // it really started (see `Recorder::first`).
            let at = rec.now();
            rec.first = Some((addr, at));
            rec.started(addr, at, false);
        }
        let attempt = self.attempt(locals, addr);
        let preferred = advice.first == Some(addr.ip());
        Started::First(First {
            start,
            at,
            attempt,
            alone: matches!(rest, Rest::Nothing),
            rest: match rest {
                Rest::Name { ips, resolving } => Some(Named { ips, resolving }),
                Rest::Nothing | Rest::Literal => None,
            },
            preferred,
            known: preferred && advice.settled,
            // Boxed only with more to say than that `addr` won: a connect
            // future carries its `First` inline.
            advice: (!advice.last.is_empty()
                || advice.delay.is_some()
                || (advice.first.is_some() && !preferred))
                .then(|| Box::new(advice)),
        })
    }

    /// Records how the call begins: the resolution it starts (or the
    /// literal addresses), and the history's advice with the delay.
    fn record_opening(&self, rec: &mut Recorder, target: &Target, services: bool, advice: &Advice) {
        rec.opened = true;
        match target.host() {
            Some(host) => {
                let resolver = self.name_resolver().into_owned();
                rec.resolving(host, resolver, services);
            }
            None => {
                let at = rec.now();
                rec.push(at, crate::client::establishment::Event::Literal);
            }
        }
        let delay = self.opts.delay.map(|d| advice.delay.unwrap_or(d));
        let adaptive = self.opts.delay.is_some() && advice.delay.is_some();
        rec.advised(advice.first, &advice.last, delay, adaptive);
    }

    /// Resolves the target and races its addresses; each attempt is a TCP
    /// connect and then `finish` on the connection (the TLS handshake of
    /// `connect_tls`, Happy Eyeballs v3), and wins when `finish` does.
    ///
    /// With `services`, the resolver is asked for HTTPS records too.
    ///
    /// Not an `async fn`: the checks need no waiting, and the future is one
    /// of three, each no larger than it must be: a refusal, the connect of
    /// a single literal address (inline), or the race (boxed, with
    /// everything only a race needs).
    // Only `connect_tls` uses it.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn establish<'a, T, H, G>(
        &'a self,
        services: Option<ServiceOptions>,
        recorder: Option<Box<Recorder>>,
        finish: H,
    ) -> impl Future<Output = Result<(T, Option<Box<Recorder>>), ConnectError>> + 'a
    where
        T: 'a,
        H: FnMut(SocketAddr, TcpStream) -> G + 'a,
        G: Future<Output = io::Result<T>> + 'a,
    {
        let start = Instant::now();
        let (target, locals) = match self.checked() {
            Ok(checked) => checked,
            Err(e) => return Either::Left(std::future::ready(Err(e))),
        };
        let synthesized = self.nat64_literals(target);
        // One literal address and no deadline: nothing to race (unless it
        // is recorded: the race records, or synthesized for NAT64).
        if target.host_bytes().is_none()
            && self.opts.connect_timeout.is_none()
            && recorder.is_none()
            && synthesized.is_none()
        {
            let mut usable = target.addrs().iter().filter(|a| self.permitted(&a.ip()));
            if let (Some(&addr), None) = (usable.next(), usable.next()) {
                let fut = single(
                    addr,
                    self.opts.attempt_timeout,
                    start,
                    self.attempt(locals, addr),
                    finish,
                )
                .map(move |result| match result {
                    Ok(won) => Ok((won.value, None)),
                    Err(failure) => Err(self.failed(failure)),
                });
                return Either::Right(Either::Left(fut));
            }
        }
        // Boxed: the race's state (the attempts, the timer, the resolver
        // stream) kept inline would make every connect future that large,
        // the one-address case above included.
        let mut begun = Begun::nothing();
        begun.recorder = recorder.map(|mut rec| {
            rec.restart(start);
            rec
        });
        let race = self.race(start, target, locals, services, begun, synthesized, finish);
        Either::Right(Either::Right(Box::pin(race)))
    }

    /// The race over the target's addresses, from what `begun` says was
    /// done already; `resolving` is a resolution already started (by name,
    /// without HTTPS records).
    ///
    /// Not an `async fn`, which would keep its arguments (`begun`, the
    /// resolution) beside the race they move into, for as long as it runs:
    /// the race is built here, and the future is the race.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn race<'a, T, H, G>(
        &'a self,
        start: Instant,
        target: &'a Target,
        locals: &'a [SocketAddr],
        services: Option<ServiceOptions>,
        mut begun: Begun<TcpConnect>,
        resolving: Option<Addrs>,
        finish: H,
    ) -> impl Future<Output = Result<(T, Option<Box<Recorder>>), ConnectError>> + 'a
    where
        T: 'a,
        H: FnMut(SocketAddr, TcpStream) -> G + 'a,
        G: Future<Output = io::Result<T>> + 'a,
    {
        let port = target.port();
        if let Some(rec) = begun.recorder.as_deref_mut().filter(|r| !r.opened) {
            match target.host() {
                Some(host) => {
                    let resolver = self.name_resolver().into_owned();
                    rec.resolving(host, resolver, services.is_some());
                }
                None => {
                    let at = rec.now();
                    rec.push(at, crate::client::establishment::Event::Literal);
                }
            }
        }
        let addrs = match target.host_name() {
            // Literals, unless a resolution stands for them (NAT64).
            None if resolving.is_none() => {
                if begun.addrs.is_empty() {
                    let ips = target.addrs().iter().map(|a| a.ip());
                    let mut denied = Vec::new();
                    begun.addrs = target
                        .addrs()
                        .iter()
                        .zip(self.admit(ips, port, &mut denied))
                        .filter_map(|(literal, admitted)| admitted.map(|_| *literal))
                        .collect();
                    if let Some(rec) = begun.recorder.as_deref_mut() {
                        rec.refused(&denied);
                    }
                    if begun.addrs.is_empty() && !denied.is_empty() {
                        let refused = self.denied(denied);
                        return Either::Left(std::future::ready(Err(refused)));
                    }
                }
                if begun.addrs.is_empty() {
                    let refused = self.invalid(self.why_unusable("the target"));
                    return Either::Left(std::future::ready(Err(refused)));
                }
                None
            }
            // An absolute name keeps its dot: it is not searched.
            host => {
                let host = host.unwrap_or_default();
                Some(match services.filter(|_| resolving.is_none()) {
                    None => resolving
                        .unwrap_or_else(|| self.resolving(host))
                        .map(move |batch| {
                            batch.map(|ips| {
                                let seen = ips.len();
                                let mut denied = Vec::new();
                                let add = self.admit(ips, port, &mut denied).flatten().collect();
                                Batch {
                                    seen,
                                    add,
                                    withdraw: Vec::new(),
                                    denied,
                                }
                            })
                        })
                        .left_stream(),
                    Some(services) => {
                        // Boxed: the merger is larger than the rest of the
                        // stream, and only this path needs it.
                        let mut merger = Box::new(Merger::new(port, &services));
                        self.resolving_service(host, port)
                            .map(move |item| {
                                item.map(|item| {
                                    let mut batch = merger.take(item);
                                    batch.seen = batch.add.len();
                                    // Service addresses keep their own ports.
                                    let add = std::mem::take(&mut batch.add);
                                    let ips = add.iter().map(|a| a.ip());
                                    let mut denied = Vec::new();
                                    // A record's port is the name's DNS's
                                    // choice: with a policy, only the
                                    // target's or one it lists.
                                    let policy = self.opts.policy.as_ref();
                                    let moved = |a: &SocketAddr| {
                                        policy.is_some_and(|p| !p.allows_record_port(a.port(), port))
                                    };
                                    batch.add = add
                                        .iter()
                                        .zip(self.admit(ips, port, &mut denied))
                                        .filter_map(|(a, admitted)| admitted.map(|_| *a))
                                        .filter(|a| {
                                            let moved = moved(a);
                                            if moved {
                                                tracing::debug!(%a, "HTTPS record port refused by the address policy");
                                            }
                                            !moved
                                        })
                                        .collect();
                                    batch.denied = denied;
                                    batch
                                })
                            })
                            .right_stream()
                    }
                })
            }
        };
        // Nothing to learn, nor to advise, for one literal address (as
        // `start` and `Connect` do).
        let alone = target.host_bytes().is_none() && target.addrs().len() == 1;
        if !begun.advised && !alone {
            let advice = self.advice(target, locals, start);
            begun.advise(advice);
        }
        let preferred = begun.prefer;
        let settled = begun.settled;
        if let Some(rec) = begun.recorder.as_deref_mut().filter(|r| !r.opened) {
            rec.opened = true;
            let delay = self.opts.delay.map(|d| begun.delay.unwrap_or(d));
            let adaptive = self.opts.delay.is_some() && begun.delay.is_some();
            rec.advised(begun.prefer, &begun.avoid, delay, adaptive);
        }
        let config = RaceConfig {
            delay: self.opts.delay.map(|d| begun.delay.unwrap_or(d)),
            interleave: self.opts.interleave(),
            attempt_timeout: self.opts.attempt_timeout,
            deadline: self.opts.connect_timeout.and_then(|t| start.checked_add(t)),
        };
        // The closures below find the target and the local addresses
        // again (`checked` passed: they are there), rather than keep the
        // three words of each for as long as the race runs.
        let attempt = move |addr| self.attempt(self.checked_already().1, addr);
        let race = race_staged(addrs, begun, config, start, attempt, finish);
        // The call's start comes back from the race, which keeps it.
        Either::Right(
            race.with_start(move |result: Result<Won<T>, RaceFailure>, start| {
                let (target, locals) = self.checked_already();
                match result {
                    Ok(won) => {
                        let known =
                            settled && preferred == Some(won.addr.ip()) && won.failed.is_empty();
                        if !known && !alone {
                            self.remember_won(target, locals, &won, preferred, start);
                        }
                        let recorder = won.recorder.map(|mut rec| {
                            rec.failed = won.failed;
                            rec
                        });
                        Ok((won.value, recorder))
                    }
                    Err(failure) => {
                        // What the history said, before this failure changes it.
                        let history = preferred.and_then(|_| self.history_note(target, locals));
                        self.remember_failed(target, locals, &failure.attempts, start);
                        Err(self.failed(failure).with_history(history))
                    }
                }
            }),
        )
    }

    /// The history this call reads and writes, if any.
    fn history_store(&self) -> Option<&History> {
        match &self.opts.history {
            _ if self.opts.history_off => None,
            Some(history) => Some(history),
            None => Some(History::process()),
        }
    }

    /// What the history says about this call's target.
    fn advice(&self, target: &Target, locals: &[SocketAddr], now: Instant) -> Advice {
        let Some(history) = self.history_store() else {
            return Advice::default();
        };
        let key = Key::new(target, locals, self.opts.family, self.opts.path_id());
        let advice = history.advice(key, self.opts.history_ttl(), self.opts.adaptive_delay, now);
        if let Some(first) = advice.first {
            tracing::debug!(%first, "address from history");
        }
        for ip in &advice.last {
            tracing::debug!(%ip, "history says timed out");
        }
        advice
    }

    /// Records a race's winner, and the attempts that failed before it.
    /// `preferred` was tried first: if another family won while it still
    /// ran, it was slow rather than failed.
    fn remember_won<T>(
        &self,
        target: &Target,
        locals: &[SocketAddr],
        won: &Won<T>,
        preferred: Option<IpAddr>,
        start: Instant,
    ) {
        let Some(history) = self.history_store() else {
            return;
        };
        let key = Key::new(target, locals, self.opts.family, self.opts.path_id());
        // Outcomes are stamped with the call's start, read already: the
        // clock is not read again for the history (only to measure the
        // winner for `adaptive_delay`, when the race did not).
        history.failed(key, &failures(&won.failed), start);
        let slow: Vec<IpAddr> = preferred
            .filter(|p| *p != won.addr.ip() && !won.failed.iter().any(|a| a.addr().ip() == *p))
            .into_iter()
            .collect();
        let elapsed = won.elapsed.or_else(|| {
            self.opts
                .adaptive_delay
                .then(|| Instant::now().saturating_duration_since(start + won.started))
        });
        history.won(key, won.addr.ip(), elapsed, &slow, start);
    }

    /// Records the attempts of a race that failed.
    fn remember_failed(
        &self,
        target: &Target,
        locals: &[SocketAddr],
        attempts: &[Attempt],
        start: Instant,
    ) {
        if let Some(history) = self.history_store() {
            let key = Key::new(target, locals, self.opts.family, self.opts.path_id());
            history.failed(key, &failures(attempts), start);
        }
    }

    /// The history's word on the target, for an error report.
    fn history_note(&self, target: &Target, locals: &[SocketAddr]) -> Option<String> {
        let history = self.history_store()?;
        let key = Key::new(target, locals, self.opts.family, self.opts.path_id());
        history
            .describe(key, Instant::now())
            .map(|said| format!("tried first because {said}"))
    }

    /// The first attempt of a plain connect won: recorded as a race's win.
    fn remember_first_won(&self, addr: SocketAddr, start: Instant) {
        if let (Some(history), Source::Target(Ok(target))) = (self.history_store(), &self.source) {
            let locals = self.opts.local.as_deref().unwrap_or_default();
            let key = Key::new(target, locals, self.opts.family, self.opts.path_id());
            let elapsed = self.opts.adaptive_delay.then(|| start.elapsed());
            history.won(key, addr.ip(), elapsed, &[], start);
        }
    }

    /// The target and the local addresses, or the error that refuses them
    /// before anything is sent.
    ///
    /// Inline, for the plain call (a target, no rare option set, which
    /// leaves nothing else to check); the rest out of line.
    #[inline]
    pub(crate) fn checked(&self) -> Result<(&Target, &[SocketAddr]), ConnectError> {
        match &self.source {
            Source::Target(Ok(target))
                if self.opts.rare.is_none()
                    && self.opts.history_ttl_ms != 0
                    && !target.has_zero_port() =>
            {
                Ok((target, &[]))
            }
            _ => self.checked_fully(),
        }
    }

    /// [`checked`](Self::checked), every check.
    #[inline(never)]
    fn checked_fully(&self) -> Result<(&Target, &[SocketAddr]), ConnectError> {
        let target = match &self.source {
            Source::Stream(..) => {
                return Err(self.invalid("an adopted stream is already connected"))
            }
            Source::Target(Err(e)) => return Err(self.invalid(e.reason())),
            Source::Target(Ok(t)) => t,
        };
        if let Some(why) = target.zero_port() {
            return Err(self.invalid(why));
        }
        let locals = self
            .opts
            .local
            .as_deref()
            .map_err(|e| self.invalid(e.to_string()))?;
        for local in locals {
            if !self.opts.family.matches(&local.ip()) {
                return Err(self.invalid(format!(
                    "local_addr {local} is not of the requested family {}",
                    self.opts.family
                )));
            }
        }
        for (option, timeout) in [
            ("connect_timeout", self.opts.connect_timeout),
            ("attempt_timeout", self.opts.attempt_timeout),
        ] {
            positive(option, timeout).map_err(|e| self.invalid(e))?;
        }
        if let Some(why) = self
            .opts
            .policy
            .as_ref()
            .and_then(|p| p.port_refused(target.port()))
        {
            return Err(ConnectError::new(ConnectErrorKind::Denied, self.describe())
                .with_message(why)
                .with_all_errors(self.opts.all_errors));
        }
        // Under 1 ms is stored as 0 (whole milliseconds): refused, not
        // read as "forget at once".
        if self.opts.history_ttl_ms == 0 {
            return Err(self.invalid(
                "history_ttl must be at least 1 ms (history(false) turns the history off)",
            ));
        }
        if let Some(sockopts) = &self.opts.sockopts {
            sockopts.check().map_err(|(kind, message)| {
                ConnectError::new(kind, self.describe())
                    .with_message(message)
                    .with_all_errors(self.opts.all_errors)
            })?;
        }
        Ok((target, locals))
    }

    /// The target and the local addresses of a builder that
    /// [`checked`](Self::checked) passed already: the race that `start`
    /// hands over to does not check them twice.
    fn checked_already(&self) -> (&Target, &[SocketAddr]) {
        match self.opts.local.as_deref() {
            Ok(locals) => (self.target_already(), locals),
            Err(_) => unreachable!("`start` checks the builder before the race"),
        }
    }

    /// The target of a builder that [`checked`](Self::checked) passed
    /// already.
    #[inline]
    fn target_already(&self) -> &Target {
        match &self.source {
            Source::Target(Ok(target)) => target,
            _ => unreachable!("`start` checks the builder before its attempts"),
        }
    }

    /// The identity of the network, when it is IPv6-only (a global IPv6
    /// route, no IPv4 route) and this call may use IPv6: IPv4 addresses
    /// are then reached through their NAT64 synthesis.
    /// `now`: the caller's clock reading, if it has one.
    fn nat64_network(&self, now: Option<Instant>) -> Option<u64> {
        if !self.usable(&IpAddr::V6(Ipv6Addr::UNSPECIFIED)) {
            return None;
        }
        let now = now.map_or_else(std::time::Instant::now, Instant::into_std);
        let (id, ipv6_only) = crate::sys::network_id_at(now);
        ipv6_only.then_some(id)
    }

    /// The NAT64 synthesis of the target's IPv4 literals on an IPv6-only
    /// network, as a resolution; `None` elsewhere, for names, and for
    /// literals that need none (loopback, IPv6), which pay nothing here.
    #[inline]
    fn nat64_literals(&self, target: &Target) -> Option<Addrs> {
        // A name has no literal addresses (`addrs` is empty).
        let needs = |a: &SocketAddr| matches!(a, SocketAddr::V4(v4) if may_synthesize(*v4.ip()));
        if !target.addrs().iter().any(needs) {
            return None;
        }
        self.nat64_synthesized(target)
    }

    /// [`nat64_literals`](Self::nat64_literals) of a target with IPv4
    /// literals that may need it.
    #[inline(never)]
    fn nat64_synthesized(&self, target: &Target) -> Option<Addrs> {
        let port = target.port();
        // A resolution has one port: a list of several keeps its literals.
        if target.addrs().iter().any(|a| a.port() != port) {
            return None;
        }
        let network = self.nat64_network(None)?;
        let ips = target.addrs().iter().map(|a| a.ip()).collect();
        let resolver = self.name_resolver().into_owned();
        Some(nat64::literals(resolver, network, ips))
    }

    /// The resolution of `host` for `now` (the call's start), and its first batch if it is
    /// there at once. A fixed table's answer is taken as it is, with an
    /// ended stream for the rest (boxing a zero-sized stream allocates
    /// nothing): not its one-batch stream boxed and polled.
    fn resolving_first(
        &self,
        host: &str,
        now: Instant,
        cx: &mut Context<'_>,
    ) -> (Poll<Option<Answer>>, Addrs) {
        let network = self.nat64_network(Some(now));
        if network.is_none() {
            if let Some(answer) = self.name_resolver().answer_now(host) {
                let ended = futures_util::stream::empty().boxed();
                return (Poll::Ready(Some(answer)), ended);
            }
        }
        let mut resolving = self.resolving_on(host, network);
        (resolving.poll_next_unpin(cx), resolving)
    }

    /// The resolution of `host` for this call: on an IPv6-only network,
    /// its IPv4 answers are synthesized for NAT64.
    pub(crate) fn resolving(&self, host: &str) -> Addrs {
        self.resolving_on(host, self.nat64_network(None))
    }

    /// The resolution of `host`, its IPv4 answers synthesized for NAT64
    /// when `network` (an IPv6-only network's identity) is given.
    fn resolving_on(&self, host: &str, network: Option<u64>) -> Addrs {
        let resolving = self.name_resolver().resolve(host, self.opts.family);
        match network {
            Some(network) => {
                let resolver = self.name_resolver().into_owned();
                nat64::synthesized(resolver, network, resolving)
            }
            None => resolving,
        }
    }

    /// The service resolution (HTTPS records) of `host` for this call: on
    /// an IPv6-only network, its IPv4 answers and hints are synthesized.
    fn resolving_service(&self, host: &str, port: u16) -> crate::resolve::Resolution {
        let resolution = self
            .name_resolver()
            .resolve_service(host, port, self.opts.family);
        match self.nat64_network(None) {
            Some(network) => {
                let resolver = self.name_resolver().into_owned();
                nat64::synthesized_service(resolver, network, resolution)
            }
            None => resolution,
        }
    }

    /// Whether this call can use `ip`: of the family asked for, and of the
    /// family of a local address, if any were given.
    fn usable(&self, ip: &IpAddr) -> bool {
        let locals = self.opts.local.as_deref().unwrap_or_default();
        self.opts.family.matches(ip)
            && (locals.is_empty() || locals.iter().any(|l| l.is_ipv4() == ip.is_ipv4()))
    }

    /// Whether this call may connect to `ip`: [`usable`](Self::usable),
    /// and allowed by the address policy, if one is set.
    #[inline]
    fn permitted(&self, ip: &IpAddr) -> bool {
        self.usable(ip) && self.opts.policy.as_ref().is_none_or(|p| p.allows(*ip))
    }

    /// The socket address of each of `ips` this call may connect to, in
    /// order (`None` for the others); each address the policy refuses
    /// goes to `denied`. The one place where candidate addresses
    /// (answers, hints, service targets, literals) meet the policy on
    /// their way into the race: what it lets through is what is connected.
    pub(crate) fn admit<'s, I>(
        &'s self,
        ips: I,
        port: u16,
        denied: &'s mut Vec<DeniedAddress>,
    ) -> impl Iterator<Item = Option<SocketAddr>> + 's
    where
        I: IntoIterator<Item = IpAddr>,
        I::IntoIter: 's,
    {
        ips.into_iter().map(move |ip| {
            if !self.usable(&ip) {
                return None;
            }
            if let Some(policy) = &self.opts.policy {
                if let Err(refused) = policy.check(ip) {
                    tracing::debug!(%refused, "address refused");
                    refused.push_to(denied);
                    return None;
                }
            }
            Some(SocketAddr::new(ip, port))
        })
    }

    /// The error for a call whose every address the policy refused.
    pub(crate) fn denied(&self, denied: Vec<DeniedAddress>) -> ConnectError {
        ConnectError::new(ConnectErrorKind::Denied, self.describe())
            .with_denied(denied)
            .with_all_errors(self.opts.all_errors)
    }

    /// The attempt to `addr`: bound to the first local address of its
    /// family, if any were given.
    fn attempt(&self, locals: &[SocketAddr], addr: SocketAddr) -> TcpConnect {
        // No rare option set: no local address, socket options or hook.
        if self.opts.rare.is_none() {
            return connect_one(addr, None, self.opts.nodelay, None, None);
        }
        let local = locals
            .iter()
            .find(|l| l.is_ipv4() == addr.is_ipv4())
            .copied();
        let sockopts = self.opts.sockopts.as_deref();
        connect_one(
            addr,
            local,
            self.opts.nodelay,
            sockopts,
            self.opts.hook.as_ref(),
        )
    }

    /// The error for a race without a winner.
    fn failed(&self, failure: RaceFailure) -> ConnectError {
        let name = self.describe();
        let err = if failure.timed_out {
            let timeout = self.opts.connect_timeout.unwrap_or_default();
            ConnectError::new(ConnectErrorKind::TimedOut, name).with_message(format!(
                "timed out after {}",
                crate::shared::report::Dur(timeout)
            ))
        } else if !failure.attempts.is_empty() {
            ConnectError::new(ConnectErrorKind::AllAttemptsFailed, name)
        } else if !failure.denied.is_empty() {
            ConnectError::new(ConnectErrorKind::Denied, name)
        } else if !failure.resolve_errors.is_empty() {
            ConnectError::new(ConnectErrorKind::Resolve, name)
        } else if failure.seen > 0 {
            ConnectError::new(ConnectErrorKind::NoUsableAddress, name)
                .with_message(self.why_unusable(self.host().unwrap_or("the target")))
        } else {
            ConnectError::new(ConnectErrorKind::Resolve, name)
                .with_message("the resolver returned no address")
        };
        err.with_attempts(failure.attempts)
            .with_resolve_errors(failure.resolve_errors)
            .with_denied(failure.denied)
            .with_all_errors(self.opts.all_errors)
            .tls_when_every_attempt_failed_in_tls()
    }

    /// The error of a `connect_tls` whose `connect_timeout` passed while
    /// the platform's trust roots were being read.
    #[cfg(feature = "tls")]
    pub(crate) fn roots_timed_out(&self, timeout: Duration) -> ConnectError {
        ConnectError::new(ConnectErrorKind::TimedOut, self.describe())
            .with_message(format!(
                "timed out after {} reading the platform's trust roots",
                crate::shared::report::Dur(timeout)
            ))
            .with_all_errors(self.opts.all_errors)
    }

    /// Why `what` has no address this call can use.
    fn why_unusable(&self, what: &str) -> String {
        match &self.opts.local {
            Ok(locals) if !locals.is_empty() => {
                let list: Vec<_> = locals.iter().map(ToString::to_string).collect();
                format!(
                    "{what} has no address of the family of local_addr {}",
                    list.join(", ")
                )
            }
            _ => format!(
                "{what} has no {fam} address, and family(Family::{fam:?}) allows only {fam}",
                fam = self.opts.family
            ),
        }
    }

    fn adopt(self) -> Result<TcpStream, ConnectError> {
        let Source::Stream(adopted) = &self.source else {
            unreachable!("adopt is only called for an adopted stream")
        };
        let (stream, needs_connect) = &**adopted;
        if !needs_connect.is_empty() {
            return Err(self.invalid(format!(
                "{} cannot be used with from_stream: the stream is already connected",
                needs_connect.join(", ")
            )));
        }
        if let Err(e) = stream.peer_addr() {
            return Err(self.invalid(format!(
                "the adopted stream is not connected: {e}",
                e = crate::shared::report::Brief(&e)
            )));
        }
        if let Err(e) = stream.set_nodelay(self.opts.nodelay) {
            return Err(self.invalid(format!(
                "cannot set TCP_NODELAY on the adopted stream: {e}",
                e = crate::shared::report::Brief(&e)
            )));
        }
        match self.source {
            Source::Stream(adopted) => Ok(adopted.0),
            Source::Target(_) => unreachable!("checked above"),
        }
    }
}

pin_project! {
    /// The future of [`ConnectionBuilder::connect`].
    ///
    /// A plain connect to a target whose first address is known at once (a
    /// literal address or list, a resolver that answers at once) starts that
    /// attempt itself and holds it inline: a race won by its first attempt,
    /// the common case, allocates no race and runs none of its bookkeeping.
    /// When the attempt is the only one, this is all the connect does. When
    /// other addresses wait, and the attempt neither wins nor fails by the
    /// time the runtime has polled its I/O driver once (one yield, as the
    /// race does before arming its timer), the attempt moves into the race
    /// (`TcpConnect` is `Unpin`), boxed, which goes on from there with the
    /// same instants. Everything else (timeouts, HTTPS records, a resolver
    /// still waiting) is the race from the start.
    pub(crate) struct Connect {
        // The `connect` span, entered on every poll, if enabled.
        span: Option<Box<tracing::Span>>,
        // Whether the first attempt has yielded once (see `yield_once`).
        // A flag, not Tokio's `yield_now` future kept across polls: that
        // is 16 bytes of every connect future, which Tokio copies several
        // times per task (each byte past 256 costs a slower `memcpy`).
        yielded: bool,
        // `None` once it has moved into the race, or the stream it adopted
        // is returned. Kept out of `state` so that it never moves before.
        builder: Option<ConnectionBuilder>,
        refuse_tls: bool,
        state: State,
        // Where the call records what happens (`connect_reported`); `None`
        // for a plain connect.
        recorder: Option<Box<Recorder>>,
    }
}

pub(crate) enum State {
    Start,
    First(First),
    /// The race; it gives back the recorder it was given.
    #[allow(clippy::type_complexity)]
    Race(
        Pin<
            Box<
                dyn Future<Output = Result<(TcpStream, Option<Box<Recorder>>), ConnectError>>
                    + Send,
            >,
        >,
    ),
    /// The result was returned.
    Done,
}

/// The first attempt, started by [`Connect`] itself, at
/// [`FIRST_STARTED`].
pub(crate) struct First {
    start: Instant,
    /// Where the attempt's address is: its place in the resolver's answer
    /// (`rest`) for a name, in the target's list for literal addresses
    /// (see [`First::addr`]). Not the address itself: 24 bytes less in
    /// every connect future, which keeps it under 256 bytes with a literal
    /// list of two inline in the builder's target.
    at: usize,
    attempt: TcpConnect,
    /// Whether `addr` is the target's only address (nothing to race).
    alone: bool,
    /// What a name's resolution gave and has still to give (`None` for
    /// literal addresses, which the race lists again). Not a [`Rest`],
    /// whose tag would make every connect future 8 bytes larger.
    rest: Option<Named>,
    /// Whether `addr` is the history's winner.
    preferred: bool,
    /// Whether another win of `addr` need not be recorded: the history's
    /// settled winner.
    known: bool,
    /// The rest of the history's advice, when it has more to say (boxed:
    /// most calls have none, and every connect future would carry it).
    advice: Option<Box<Advice>>,
}

/// A batch of a resolver's answers, or its error.
type Answer = Result<Vec<IpAddr>, crate::ResolveError>;

/// When [`Connect`]'s own first attempt starts, counted from the call:
/// nothing was waited for since the call began (the checks and an answer
/// already there take microseconds), so the clock is not read again.
const FIRST_STARTED: Duration = Duration::ZERO;

/// The resolver's first answer (the attempt's address its first usable
/// one) and the rest of its resolution.
struct Named {
    ips: Box<[IpAddr]>,
    resolving: Addrs,
}

/// What else a [`First`] attempt's target has.
enum Rest {
    /// Nothing: one literal address.
    Nothing,
    /// The target's other literal addresses (the race lists them again).
    Literal,
    /// The resolver's first answer (the attempt's address its first
    /// usable one) and the rest of its resolution. Inline, though it makes
    /// every connect future 24 bytes larger than a box would: in a burst,
    /// the allocation (a few hundred instructions) costs more than Tokio's
    /// copies of those bytes.
    Name {
        ips: Box<[IpAddr]>,
        resolving: Addrs,
    },
}

/// What the first poll of a [`Connect`] found to do.
enum Started {
    Done(Result<TcpStream, ConnectError>),
    /// Return the adopted stream (the builder's).
    Adopt,
    /// Run the reported race: someone is told of the connection.
    Reported,
    First(First),
    /// Through a proxy ([`Via`]).
    #[cfg(feature = "proxy")]
    Via,
    /// The race takes over (its state boxed: `Started` is returned by
    /// value, and the common `First` should not be copied at the size of
    /// a `Begun`).
    Race(Box<RaceStart>),
}

/// What a race goes on from: when the call started, what was done
/// already, and a resolution already started (by name, without HTTPS
/// records). One box, which the race's own box keeps a pointer to, not
/// the three inline, for as long as the race runs.
struct RaceStart {
    start: Instant,
    begun: Begun<TcpConnect>,
    resolving: Option<Addrs>,
}

impl RaceStart {
    fn boxed(start: Instant, begun: Begun<TcpConnect>, resolving: Option<Addrs>) -> Box<Self> {
        Box::new(RaceStart {
            start,
            begun,
            resolving,
        })
    }
}

impl Started {
    fn race(start: Instant, begun: Begun<TcpConnect>, resolving: Option<Addrs>) -> Started {
        Started::Race(RaceStart::boxed(start, begun, resolving))
    }
}

impl State {
    /// The [`First`] attempt's state, taken out (`Done` left behind).
    fn take_first(&mut self) -> First {
        match std::mem::replace(self, State::Done) {
            State::First(first) => first,
            _ => unreachable!("called in the `First` state"),
        }
    }

    /// The race, boxed, going on from `from`.
    fn race(builder: ConnectionBuilder, from: Box<RaceStart>) -> State {
        // An async block keeps what it captures for as long as it runs:
        // `from` (about 300 bytes), which moves into the race at once, is
        // captured boxed, and the box is freed as it is unpacked. The race
        // borrows the captured `builder` itself: moving it into a local
        // first (`let builder = builder;`) would keep a second copy. The
        // locals that make the race are scoped to the block that makes it,
        // so that they are not kept beside it while it runs.
        //
        // The box is kept at 608 bytes on x86-64 Linux, 8 of them unused
        // (`reserve`): at 600 (the builder 8 bytes smaller in issue 32's
        // fourth round), glibc packed the blocks of a pending race worse,
        // 2,071 bytes resident per race against 1,909, though every block
        // but this one kept its size (`benches/race_memory.rs`,
        // `RACE_MEMORY_ALLOCS=1`).
        let reserve = [0u8; 8];
        State::Race(Box::pin(async move {
            let _reserve = &reserve;
            {
                let RaceStart {
                    start,
                    begun,
                    resolving,
                } = {
                    let boxed = from;
                    *boxed
                };
                let (target, locals) = builder.checked_already();
                let services = builder
                    .opts
                    .svcb
                    .unwrap_or(false)
                    .then(ServiceOptions::default);
                let identity = |_, tcp| std::future::ready(Ok(tcp));
                builder.race(start, target, locals, services, begun, resolving, identity)
            }
            .await
        }))
    }
}

impl First {
    /// The attempt's address, from `builder`'s target (the one this
    /// attempt was started from).
    #[inline]
    fn addr(&self, builder: &ConnectionBuilder) -> SocketAddr {
        let target = builder.target_already();
        let at = self.at;
        match &self.rest {
            Some(named) => SocketAddr::new(named.ips[at], target.port()),
            None => target.addrs()[at],
        }
    }

    /// The race, going on with this attempt still running, or with its
    /// record if it `failed`.
    fn into_race(
        self,
        builder: ConnectionBuilder,
        failed: Option<Attempt>,
        recorder: Option<Box<Recorder>>,
    ) -> State {
        let addr = self.addr(&builder);
        let First {
            start,
            at: _,
            attempt,
            alone: _,
            rest,
            preferred,
            known,
            advice,
        } = self;
        let mut denied = Vec::new();
        let (addrs, resolving, seen) = match rest {
            Some(Named { ips, resolving }) => {
                let seen = ips.len();
                let batch = builder
                    .admit(ips.into_vec(), addr.port(), &mut denied)
                    .flatten()
                    .collect();
                (batch, Some(resolving), seen)
            }
            // The race lists the target's usable addresses itself.
            None => (Vec::new(), None, 0),
        };
        let mut begun = Begun::with(addrs);
        // Unboxed, the advice was at most that `addr` won.
        let advice = advice.map(|a| *a).unwrap_or_else(|| Advice {
            first: preferred.then(|| addr.ip()),
            settled: known,
            ..Advice::default()
        });
        begun.advise(advice);
        begun.seen = seen;
        begun.denied = denied;
        begun.yielded = true;
        begun.recorder = recorder;
        match failed {
            None => begun.running = Some((addr, FIRST_STARTED, attempt)),
            Some(failed) => begun.failed.push(failed),
        }
        State::race(builder, RaceStart::boxed(start, begun, resolving))
    }
}

/// Tokio's `yield_now`, polled once: the task is woken again after the
/// runtime has polled its I/O driver (Tokio defers the wake-up), so the
/// next poll sees whether the attempt's handshake ended meanwhile. Its
/// second poll would only return `Ready`, which `Connect::yielded` stands
/// for.
fn yield_once(cx: &mut Context<'_>) {
    let yielding = std::pin::pin!(tokio::task::yield_now());
    let _pending = yielding.poll(cx);
}

impl Future for Connect {
    type Output = Result<TcpStream, ConnectError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(|span| span.enter());
        // The state is matched in place, and the builder stays where it is
        // until the race takes it: moving either on every poll would copy
        // them each time.
        loop {
            let first = match this.state {
                State::Start => {
                    let Some(builder) = this.builder.as_ref() else {
                        panic!("`connect`'s future polled after it completed")
                    };
                    *this.state =
                        match builder.start(*this.refuse_tls, cx, this.recorder.as_deref_mut()) {
                            Started::Done(result) => {
                                *this.builder = None;
                                return Poll::Ready(result);
                            }
                            Started::Adopt => {
                                let builder = this.builder.take().expect("checked above");
                                return Poll::Ready(builder.adopt());
                            }
                            Started::Reported => {
                                let builder = this.builder.take().expect("checked above");
                                State::Race(Box::pin(async move {
                                    builder
                                        .reported(false)
                                        .await
                                        .map(|(stream, _)| (stream, None))
                                }))
                            }
                            Started::First(first) => State::First(first),
                            #[cfg(feature = "proxy")]
                            Started::Via => {
                                let builder = this.builder.take().expect("checked above");
                                State::Race(Box::pin(async move {
                                    let via = builder.opts.via.clone().expect("checked above");
                                    let tunnel = via.tunnel(&builder, Purpose::Tcp).await?;
                                    // (`Purpose::Tcp` refuses a proxy whose
                                    // tunnel is not a bare TCP connection.)
                                    Ok((tunnel.stream.into_tcp(), None))
                                }))
                            }
                            Started::Race(mut from) => {
                                let builder = this.builder.take().expect("checked above");
                                from.begun.recorder = this.recorder.take();
                                State::race(builder, from)
                            }
                        };
                    continue;
                }
                State::Race(race) => {
                    return race.as_mut().poll(cx).map(|result| {
                        result.map(|(stream, recorder)| {
                            if recorder.is_some() {
                                *this.recorder = recorder;
                            }
                            stream
                        })
                    })
                }
                State::Done => panic!("`connect`'s future polled after it completed"),
                State::First(first) => first,
            };
            let result = match Pin::new(&mut first.attempt).poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => {
                    // Alone: nothing to race, nothing to wait for but this
                    // attempt.
                    if first.alone {
                        return Poll::Pending;
                    }
                    if !*this.yielded {
                        *this.yielded = true;
                        yield_once(cx);
                        return Poll::Pending;
                    }
                    // Neither won nor failed by now: the others may be
                    // needed, and the race takes over.
                    let first = this.state.take_first();
                    let builder = this.builder.take().expect("held until the race");
                    *this.state = first.into_race(builder, None, this.recorder.take());
                    continue;
                }
            };
            let addr = first.addr(this.builder.as_ref().expect("held until the end"));
            match result {
                Ok(stream) => {
                    tracing::debug!(%addr, "attempt won");
                    if let Some(rec) = this.recorder.as_deref_mut() {
                        let at = rec.now();
                        rec.connected(addr, at, at, false);
                        rec.won(addr, FIRST_STARTED, AttemptStage::Tcp, at);
                    }
                    let start = first.start;
                    // Nothing to learn from one address, nor from the
                    // winner the history already has, won again.
                    let known = first.known;
                    let alone = first.alone;
                    *this.state = State::Done;
                    let builder = this.builder.take().expect("held until the end");
                    if !alone && !known {
                        builder.remember_first_won(addr, start);
                    }
                    return Poll::Ready(Ok(stream));
                }
                Err(error) => {
                    let elapsed = Instant::now() - first.start - FIRST_STARTED;
                    if let Some(rec) = this.recorder.as_deref_mut() {
                        let waiting = !first.alone;
                        rec.failed(addr, AttemptStage::Tcp, elapsed, waiting);
                    }
                    let failed =
                        failed_attempt(addr, FIRST_STARTED, elapsed, error, AttemptStage::Tcp);
                    let first = this.state.take_first();
                    let builder = this.builder.take().expect("held until the race");
                    if first.alone {
                        let failure = RaceFailure::alone(failed);
                        return Poll::Ready(Err(builder.failed(failure)));
                    }
                    // The next address starts at once, in the race.
                    *this.state = first.into_race(builder, Some(failed), this.recorder.take());
                }
            }
        }
    }
}

/// The failed attempts, as the history keeps them.
fn failures(attempts: &[Attempt]) -> Vec<(IpAddr, Failure)> {
    attempts
        .iter()
        .map(|a| {
            (
                a.addr().ip(),
                Failure::of(a.error(), a.stage() == AttemptStage::Tls),
            )
        })
        .collect()
}

/// One attempt: a fresh socket, its options, its bind and its `connect`
/// call, done at once, and the future that waits for the handshake.
fn connect_one(
    addr: SocketAddr,
    local: Option<SocketAddr>,
    nodelay: bool,
    sockopts: Option<&SocketOptions>,
    hook: Option<&SocketHook>,
) -> TcpConnect {
    TcpConnect::new(addr, prepare(addr, local, nodelay, sockopts, hook))
}

/// A TCP connect in progress: the socket, registered with Tokio, until it
/// becomes writable, then `SO_ERROR` says how the handshake ended (what
/// `tokio::net::TcpSocket::connect` does).
///
/// Written by hand rather than with `TcpSocket::connect`: it is the size of
/// a `TcpStream` and `Unpin`, so a race keeps each attempt small, and can
/// move a running attempt (the first one, started before the race needed
/// its own state) into that state.
pub(crate) struct TcpConnect(Connecting);

enum Connecting {
    /// The `connect` call is made; the handshake is under way.
    Pending(TcpStream),
    /// Making the socket, or the `connect` call, failed.
    Failed(io::Error),
    Done,
}

impl TcpConnect {
    /// The connect in progress on `socket`, registered with Tokio. Needs a
    /// Tokio runtime, as `TcpSocket::connect` does.
    fn new(addr: SocketAddr, socket: io::Result<Socket>) -> TcpConnect {
        let started = socket.and_then(|socket| {
            match socket.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if crate::sys::connect_in_progress(&e) => {}
                Err(e) => return Err(e),
            }
            TcpStream::from_std(socket.into())
        });
        TcpConnect(match started {
            Ok(stream) => Connecting::Pending(stream),
            Err(e) => Connecting::Failed(e),
        })
    }
}

impl Future for TcpConnect {
    type Output = io::Result<TcpStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::mem::replace(&mut self.0, Connecting::Done) {
            Connecting::Pending(stream) => match stream.poll_write_ready(cx) {
                Poll::Pending => {
                    self.0 = Connecting::Pending(stream);
                    Poll::Pending
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                // Writable: the handshake ended; `SO_ERROR` says how.
                Poll::Ready(Ok(())) => Poll::Ready(match stream.take_error() {
                    Ok(None) => Ok(stream),
                    Ok(Some(e)) | Err(e) => Err(e),
                }),
            },
            Connecting::Failed(e) => Poll::Ready(Err(e)),
            Connecting::Done => panic!("`TcpConnect` polled after it completed"),
        }
    }
}

/// The socket of an attempt: non-blocking, close-on-exec, its options set
/// (`TCP_NODELAY`, then the [`SocketOptions`], then the hook, which may
/// override them) and bound (as `tokio::net::TcpSocket` makes it).
fn prepare(
    addr: SocketAddr,
    local: Option<SocketAddr>,
    nodelay: bool,
    sockopts: Option<&SocketOptions>,
    hook: Option<&SocketHook>,
) -> io::Result<Socket> {
    let socket = crate::sys::tcp_socket(addr)?;
    if nodelay {
        socket.set_tcp_nodelay(true)?;
    }
    if let Some(sockopts) = sockopts {
        sockopts.apply(&socket, addr)?;
    }
    if let Some(hook) = hook {
        hook(&SockRef::from(&socket)).map_err(|e| {
            let text = format!("socket hook: {e}", e = crate::shared::report::Brief(&e));
            // Marked as ours: the history does not hold it against the address.
            io::Error::new(e.kind(), crate::client::history::HookError(text))
        })?;
    }
    if let Some(local) = local {
        socket.bind(&local.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("bind to {local}: {e}", e = crate::shared::report::Brief(&e)),
            )
        })?;
    }
    Ok(socket)
}

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConnectionBuilder");
        d.field("target", &self.describe());
        self.opts.debug_fields(&mut d);
        d.finish()
    }
}

/// Local addresses for [`ConnectionBuilder::local_addr`]: an IP address
/// (port 0), a socket address, or a list of either.
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use tokio_endpoints::IntoLocalAddrs;
///
/// let one = Ipv4Addr::LOCALHOST.into_local_addrs().unwrap();
/// assert_eq!(one, vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))]);
/// ```
pub trait IntoLocalAddrs {
    /// Converts `self`; an `Err` is a message naming what is wrong.
    ///
    /// # Errors
    ///
    /// A message that names the problem, reported by `connect`.
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String>;
}

impl IntoLocalAddrs for SocketAddr {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        Ok(vec![self])
    }
}

impl IntoLocalAddrs for IpAddr {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        Ok(vec![SocketAddr::new(self, 0)])
    }
}

impl IntoLocalAddrs for Ipv4Addr {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        IpAddr::V4(self).into_local_addrs()
    }
}

impl IntoLocalAddrs for Ipv6Addr {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        IpAddr::V6(self).into_local_addrs()
    }
}

impl<T: IntoLocalAddrs> IntoLocalAddrs for Vec<T> {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        let mut out = Vec::with_capacity(self.len());
        for item in self {
            out.extend(item.into_local_addrs()?);
        }
        Ok(out)
    }
}

impl<T: IntoLocalAddrs, const N: usize> IntoLocalAddrs for [T; N] {
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        Vec::from(self).into_local_addrs()
    }
}

impl IntoLocalAddrs for &str {
    /// An IP address (`"127.0.0.1"`, `"::1"`) or a socket address
    /// (`"127.0.0.1:0"`, `"[::1]:5000"`); host names are not resolved here.
    fn into_local_addrs(self) -> Result<Vec<SocketAddr>, String> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        self.parse::<IpAddr>()
            .map(|ip| vec![SocketAddr::new(ip, 0)])
            .map_err(|_| format!("local_addr {self:?} is not an IP address or socket address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every pending connect holds, beside its sockets and (for a race)
    /// one boxed race: the builder, once, one attempt (the size of a
    /// `TcpStream`), a few addresses and instants, and the tracing span. An
    /// `async fn` that moves the builder would hold it twice, and Tokio's
    /// `TcpSocket::connect` future is over 100 bytes.
    /// A race box holds the builder once (the async block's capture, which
    /// the race borrows), not a second copy beside it, nor the target and
    /// the local addresses again, nor what the race starts from (one
    /// pointer). 648 B on x86-64 in a debug build when measured (792 before
    /// issue 32's second round); the bound leaves room for a field.
    #[cfg(target_pointer_width = "64")]
    #[tokio::test]
    async fn the_race_box_holds_the_builder_once() {
        let builder = std::mem::size_of::<ConnectionBuilder>();
        let b = ConnectionBuilder::new("localhost:1");
        let State::Race(race) =
            State::race(b, RaceStart::boxed(Instant::now(), Begun::nothing(), None))
        else {
            unreachable!("a race")
        };
        let size = std::mem::size_of_val(&*race);
        assert!(size <= 700, "race box {size} B, builder {builder} B");
    }

    #[tokio::test]
    async fn the_connect_future_holds_the_builder_and_one_attempt() {
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let builder = std::mem::size_of::<ConnectionBuilder>();
        let attempt = std::mem::size_of::<TcpConnect>();
        assert!(
            attempt <= std::mem::size_of::<TcpStream>() + 8,
            "attempt {attempt} B"
        );
        let span = std::mem::size_of::<tracing::Span>();
        for fut_size in [
            std::mem::size_of_val(&ConnectionBuilder::new(v4).connect()),
            std::mem::size_of_val(&ConnectionBuilder::new(vec![v6, v4]).connect()),
            std::mem::size_of_val(&ConnectionBuilder::new("localhost:1").connect()),
        ] {
            assert!(
                fut_size <= builder + attempt + span + 160,
                "connect future {fut_size} B, builder {builder} B, attempt {attempt} B"
            );
            // Tokio copies a task's future several times (spawn, the
            // output written over it, read out): glibc's `memcpy` takes
            // its short path up to 256 bytes, and a longer one beyond
            // (about 300 instructions per connect in the burst of
            // `benches/race_memory.rs` at 280 B). 280 B before issue 32's
            // fourth round.
            #[cfg(target_pointer_width = "64")]
            assert!(fut_size <= 256, "connect future {fut_size} B");
        }
    }

    /// The TLS options (144 bytes) are not inline in every builder, and so
    /// in every plain connect future: they are boxed once one is set. The
    /// socket options (keepalive, buffers, interface: about 100 bytes) are
    /// not either: one pointer. The history's handle and settings take 16
    /// bytes (200 before both).
    #[test]
    fn the_builder_carries_no_tls_options_inline() {
        let builder = std::mem::size_of::<ConnectionBuilder>();
        // 232 before the rarely set options moved behind one pointer
        // (issue 32), 200 before the socket options, the address policy
        // and the history; 120 before the adopted stream was boxed and
        // `interleave` stored in 32 bits; 104 before the resolver's
        // handle became one pointer. 96 before the target kept a list of
        // two addresses inline (issue 32's sixth round: 24 bytes more here,
        // and 24 less in `First`, which no longer copies the address).
        assert!(builder <= 120, "builder {builder} B");
        let rare = std::mem::size_of::<Option<Arc<Rare>>>();
        assert_eq!(rare, std::mem::size_of::<usize>());
        let sockopts = std::mem::size_of::<Option<Arc<SocketOptions>>>();
        assert_eq!(sockopts, std::mem::size_of::<usize>());
    }
}
