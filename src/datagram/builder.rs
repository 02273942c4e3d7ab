//! [`DatagramBuilder`]: asyncio's `create_datagram_endpoint` for Tokio.
//!
//! Unlike a TCP connect there is nothing to race: a UDP `connect(2)` sends no
//! packet, it only records the peer (and fails at once when there is no
//! route). So the call resolves what it was given, pairs local and remote
//! addresses of the same family, and sets up one socket per pair in order
//! until one is bound (and connected); each socket that fails is closed
//! before the next is opened.
//!
//! # Why there is no `reuse_address`
//!
//! `SO_REUSEADDR` on a UDP socket lets any other socket that sets it too,
//! owned by any user, bind the same address and port, after which the
//! kernel hands some of the datagrams to the newcomer: a local process can
//! take a share of traffic meant for ours. CPython disabled `reuse_address`
//! of `create_datagram_endpoint` for this reason in 3.8.1 (and 3.7.6,
//! 3.6.10) and removed it in 3.11 (bpo-37228). `SO_REUSEPORT` on Linux only
//! lets sockets of the same effective user share a port, which is what
//! [`DatagramBuilder::reuse_port`] offers.
//! Whoever really needs `SO_REUSEADDR` can set it in a
//! [`socket_hook`](DatagramBuilder::socket_hook), knowingly.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures_util::stream::StreamExt;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::resolve::{ResolveError, Resolver};
use crate::shared::policy::AddressPolicy;
use crate::shared::target::{Family, IntoTarget, Target, TargetError};
use crate::sys::{set_reuse_port, HAS_REUSE_PORT};
use crate::{Resolve, SocketHook};

use super::error::{BindAttempt, DatagramError, DatagramErrorKind};
#[cfg(unix)]
use super::unix::UnixDatagramBuilder;

/// Builds a UDP socket the way asyncio's `loop.create_datagram_endpoint`
/// does: local and remote addresses (host names resolved), the address
/// family, `SO_REUSEPORT` and `SO_BROADCAST`, and a plain
/// [`tokio::net::UdpSocket`] back.
///
/// | asyncio `create_datagram_endpoint` | here |
/// |---|---|
/// | `local_addr` | [`local_addr`](Self::local_addr) |
/// | `remote_addr` | [`remote_addr`](Self::remote_addr) |
/// | `family`, `proto`, `flags` | [`family`](Self::family); `proto` is UDP |
/// | `reuse_port` | [`reuse_port`](Self::reuse_port) |
/// | `allow_broadcast` | [`allow_broadcast`](Self::allow_broadcast) |
/// | `sock` | [`DatagramBuilder::from_socket`] |
/// | `family=AF_UNIX` | [`DatagramBuilder::unix`] |
/// | `reuse_address` | not offered: see below |
/// | (returns transport, protocol) | [`bind`](Self::bind) → `UdpSocket`, [`bind_framed`](Self::bind_framed) → `UdpFramed` |
///
/// With neither address the socket is bound to the unspecified address of
/// the [`family`](Self::family), port 0: `0.0.0.0:0` for [`Family::V4`] and
/// for the default [`Family::Any`] (IPv4 is the one family every host has;
/// asyncio refuses `AF_UNSPEC` here with "unexpected address family"), and
/// `[::]:0` for [`Family::V6`].
///
/// There is no `reuse_address`: `SO_REUSEADDR` on UDP lets another process
/// bind the same port and take a share of the datagrams, which is why
/// CPython removed it from `create_datagram_endpoint` (bpo-37228). Use
/// [`reuse_port`](Self::reuse_port), which Linux limits to sockets of the
/// same user.
///
/// Bad input (a malformed address, addresses of different families, port
/// 0 on the remote or on any address of a remote list) is refused with a [`DatagramErrorKind::InvalidInput`] error
/// before a resolver is asked or a socket is opened; a socket that fails to
/// be set up, bound or connected is closed before `bind` returns.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::DatagramBuilder;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let server = DatagramBuilder::new().local_addr("127.0.0.1:0").bind().await?;
///     let client = DatagramBuilder::new()
///         .remote_addr(server.local_addr()?)
///         .bind()
///         .await?; // a plain tokio::net::UdpSocket
///     client.send(b"ping").await?;
///     let mut buf = [0; 16];
///     let (n, from) = server.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, client.local_addr()?);
///     Ok(())
/// }
/// ```
#[must_use = "a builder does nothing until `bind` is called"]
pub struct DatagramBuilder {
    source: Source,
    local: Option<Result<Target, TargetError>>,
    remote: Option<Result<Target, TargetError>>,
    family: Family,
    reuse_port: bool,
    allow_broadcast: bool,
    hook: Option<SocketHook>,
    resolver: Option<Resolver>,
    policy: Option<AddressPolicy>,
    /// Options given, in order, that only make sense when we make the socket.
    making: Vec<&'static str>,
}

enum Source {
    New,
    Socket(std::net::UdpSocket),
    /// `from_systemd`: the name asked for, and the socket or why not.
    #[cfg(target_os = "linux")]
    Systemd(Option<String>, Result<std::net::UdpSocket, String>),
}

impl Default for DatagramBuilder {
    fn default() -> DatagramBuilder {
        DatagramBuilder::with_source(Source::New)
    }
}

impl DatagramBuilder {
    /// A builder with no address: [`bind`](Self::bind) then binds the
    /// unspecified address of the family (see the type's docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().bind().await?;
    /// assert_eq!(socket.local_addr()?.ip(), std::net::Ipv4Addr::UNSPECIFIED);
    /// # Ok(()) }
    /// ```
    pub fn new() -> DatagramBuilder {
        DatagramBuilder::default()
    }

    /// Adopts a socket made elsewhere: asyncio's `sock=`.
    /// [`bind`](Self::bind) makes it non-blocking and returns it as a Tokio
    /// socket. As asyncio does, it refuses every option that makes a socket
    /// ([`local_addr`](Self::local_addr), [`remote_addr`](Self::remote_addr),
    /// [`family`](Self::family), [`reuse_port`](Self::reuse_port),
    /// [`allow_broadcast`](Self::allow_broadcast),
    /// [`socket_hook`](Self::socket_hook), [`resolver`](Self::resolver)):
    /// set those on the socket before adopting it. It also refuses a socket
    /// that is not a UDP socket (a `std::net::UdpSocket` can be made from
    /// any descriptor). A refused socket is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_socket.local_addr()?;
    /// let socket = DatagramBuilder::from_socket(std_socket).bind().await?;
    /// assert_eq!(socket.local_addr()?, addr);
    /// # Ok(()) }
    /// ```
    pub fn from_socket(socket: std::net::UdpSocket) -> DatagramBuilder {
        DatagramBuilder::with_source(Source::Socket(socket))
    }

    /// Adopts the next UDP socket systemd passed this process (socket
    /// activation, `ListenDatagram=5353` in the `.socket` unit) and not
    /// taken yet, in the order they were passed; [`bind`](Self::bind)
    /// returns it as a Tokio socket. As with
    /// [`from_socket`](Self::from_socket), the options that make a socket
    /// belong in the `.socket` unit and are refused.
    ///
    /// The sockets are read once per process, with those of
    /// [`ServerBuilder::from_systemd`](crate::ServerBuilder::from_systemd)
    /// (see there: `LISTEN_PID` must be this process, every passed
    /// descriptor is made close-on-exec, the environment is left as it
    /// is); descriptors of other kinds are skipped. The same
    /// precondition: no other code in the process adopted them.
    ///
    /// # Errors
    ///
    /// [`bind`](Self::bind) fails with
    /// [`DatagramErrorKind::InvalidInput`] when the process was not
    /// socket-activated (`LISTEN_FDS`, `LISTEN_PID` missing, or
    /// `LISTEN_PID` another process's), the variables are malformed, a
    /// passed descriptor is not open, systemd passed no UDP socket (the
    /// error lists what it passed), or every one was taken by an earlier
    /// call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// // dns.socket: [Socket] ListenDatagram=5353
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::from_systemd().bind().await?;
    /// let mut buf = [0; 1500];
    /// let (n, from) = socket.recv_from(&mut buf).await?;
    /// socket.send_to(&buf[..n], from).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn from_systemd() -> DatagramBuilder {
        DatagramBuilder::systemd(None)
    }

    /// Adopts the next UDP socket systemd passed under this name
    /// (`FileDescriptorName=` in the `.socket` unit; `LISTEN_FDNAMES`), as
    /// [`from_systemd`](Self::from_systemd) does.
    ///
    /// # Errors
    ///
    /// Those of [`from_systemd`](Self::from_systemd), and no socket of
    /// that name (the error lists the names passed), or one of that name
    /// that is not a UDP socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// // syslog.socket: ListenDatagram=514, FileDescriptorName=syslog
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let syslog = DatagramBuilder::from_systemd_named("syslog").bind().await?;
    /// # drop(syslog);
    /// # Ok(()) }
    /// ```
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn from_systemd_named(name: &str) -> DatagramBuilder {
        DatagramBuilder::systemd(Some(name))
    }

    #[cfg(target_os = "linux")]
    fn systemd(name: Option<&str>) -> DatagramBuilder {
        use crate::shared::systemd::{take, Kind};
        let socket = take(name, Kind::Udp, true)
            .map(|fds| fds.into_iter().next().map(std::net::UdpSocket::from))
            .and_then(|one| one.ok_or_else(|| "systemd passed no UDP socket".to_string()));
        DatagramBuilder::with_source(Source::Systemd(name.map(str::to_string), socket))
    }

    /// A builder for a Unix domain datagram socket (asyncio's
    /// `family=socket.AF_UNIX`): see [`UnixDatagramBuilder`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::unix()
    ///     .local_path("/tmp/client.sock")
    ///     .remote_path("/tmp/server.sock")
    ///     .bind()
    ///     .await?; // a tokio::net::UnixDatagram
    /// socket.send(b"hello").await?;
    /// # Ok(()) }
    /// ```
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn unix() -> UnixDatagramBuilder {
        UnixDatagramBuilder::new()
    }

    fn with_source(source: Source) -> DatagramBuilder {
        DatagramBuilder {
            source,
            local: None,
            remote: None,
            family: Family::Any,
            reuse_port: false,
            allow_broadcast: false,
            hook: None,
            resolver: None,
            policy: None,
            making: Vec::new(),
        }
    }

    fn making(mut self, option: &'static str) -> Self {
        if !self.making.contains(&option) {
            self.making.push(option);
        }
        self
    }

    /// Binds the socket to this local address (asyncio's `local_addr`;
    /// `bind(2)`): `"host:port"`, `"[v6]:port"`, `(host, port)` or a
    /// [`SocketAddr`] (see [`IntoTarget`]). A host name is resolved, and
    /// its addresses of the [`family`](Self::family) are tried in order.
    /// Port 0 lets the kernel pick one. Default is the unspecified address
    /// of the family, port 0, when no [`remote_addr`](Self::remote_addr) is
    /// given, and the kernel's choice at `connect` when one is.
    ///
    /// A port another socket is bound to fails with `AddrInUse`, unless
    /// every socket on it sets [`reuse_port`](Self::reuse_port).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// let by_string = DatagramBuilder::new().local_addr("127.0.0.1:5353");
    /// let by_pair = DatagramBuilder::new().local_addr(("localhost", 0));
    /// # drop((by_string, by_pair));
    /// ```
    pub fn local_addr(mut self, addr: impl IntoTarget) -> Self {
        self.local = Some(addr.into_target());
        self.making("local_addr")
    }

    /// Connects the socket to this remote address (asyncio's `remote_addr`;
    /// `connect(2)` on a UDP socket sends nothing: it sets the default
    /// destination of `send` and makes `recv` accept datagrams from it
    /// only). A host name is resolved; the first address whose family fits
    /// the [`family`](Self::family) and the
    /// [`local_addr`](Self::local_addr) is used, the next one if connecting
    /// fails (no route). Default is unconnected.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().remote_addr("example.com:53").bind().await?;
    /// socket.send(b"query").await?;
    /// # Ok(()) }
    /// ```
    pub fn remote_addr(mut self, addr: impl IntoTarget) -> Self {
        self.remote = Some(addr.into_target());
        self.making("remote_addr")
    }

    /// Which address family to use (asyncio's `family`): resolved
    /// addresses of the other family are dropped, and a literal address of
    /// the other family is refused. With neither address it picks the
    /// unspecified address bound: `[::]:0` for [`Family::V6`], `0.0.0.0:0`
    /// otherwise. Default is [`Family::Any`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{DatagramBuilder, Family};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().family(Family::V6).bind().await?;
    /// assert!(socket.local_addr()?.is_ipv6());
    /// # Ok(()) }
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self.making("family")
    }

    /// Sets `SO_REUSEPORT` (see `socket(7)`) before binding, so several
    /// sockets can bind the same address and port; on Linux the kernel
    /// spreads incoming datagrams across them, and only sockets of the same
    /// effective user may share a port. Every socket on the port must set
    /// it. Default is `false`.
    ///
    /// # Errors
    ///
    /// Asked for and not available, it fails the call: with
    /// [`DatagramErrorKind::Unsupported`] on platforms without
    /// `SO_REUSEPORT` (Windows, illumos, Solaris), before a socket is
    /// opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// # if cfg!(windows) { return Ok(()) }
    /// let a = DatagramBuilder::new().local_addr("127.0.0.1:0").reuse_port(true).bind().await?;
    /// let port = a.local_addr()?.port();
    /// let b = DatagramBuilder::new()
    ///     .local_addr(("127.0.0.1", port))
    ///     .reuse_port(true)
    ///     .bind()
    ///     .await?;
    /// assert_eq!(b.local_addr()?.port(), port);
    /// # Ok(()) }
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self.making("reuse_port")
    }

    /// Sets `SO_BROADCAST` (see `socket(7)`), which lets the socket send to
    /// a broadcast address; without it such a send fails with `EACCES`.
    /// Default is `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().allow_broadcast(true).bind().await?;
    /// assert!(socket.broadcast()?);
    /// # Ok(()) }
    /// ```
    pub fn allow_broadcast(mut self, on: bool) -> Self {
        self.allow_broadcast = on;
        self.making("allow_broadcast")
    }

    /// Runs `hook` on the socket after it is created and its options are
    /// set, before it is bound: the place for options this builder does not
    /// name (buffer sizes, `IP_TOS`, `IPV6_V6ONLY`, multicast). An error from
    /// the hook fails that socket (and the next address pair is tried).
    /// Default is no hook.
    ///
    /// # Panics
    ///
    /// A panic in `hook` is not caught: it propagates out of the poll of
    /// the bind future, as a panic in any polled future does. The socket is
    /// closed as the future is dropped, and nothing is poisoned: the same
    /// hook and options work for later calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// let b = DatagramBuilder::new().socket_hook(|socket| socket.set_recv_buffer_size(1 << 20));
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self.making("socket_hook")
    }

    /// Who turns host names of [`local_addr`](Self::local_addr) and
    /// [`remote_addr`](Self::remote_addr) into addresses. Literal addresses
    /// never reach it. Default is [`Resolver::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tokio_endpoints::{DatagramBuilder, Resolver};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let resolver = Resolver::fixed([("me.test", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])]);
    /// let socket = DatagramBuilder::new().local_addr("me.test:0").resolver(resolver).bind().await?;
    /// assert_eq!(socket.local_addr()?.ip(), Ipv4Addr::LOCALHOST);
    /// # Ok(()) }
    /// ```
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Resolver::new(resolver));
        self.making("resolver")
    }

    /// Connects only to remote addresses `policy` allows (see
    /// [`AddressPolicy`]): each address of
    /// [`remote_addr`](Self::remote_addr), resolved or literal, is checked
    /// before a socket is opened; denied ones are skipped, and when none is
    /// left the call fails with [`DatagramErrorKind::Denied`]
    /// (`io::ErrorKind::PermissionDenied`). Local addresses are not checked.
    ///
    /// The policy covers the remote address given to the builder only, so
    /// it needs one: without [`remote_addr`](Self::remote_addr), `bind`
    /// fails with [`DatagramErrorKind::InvalidInput`] rather than make a
    /// socket whose `send_to` no policy checks. A later `send_to` on a
    /// connected socket goes wherever the program says: check such
    /// addresses with [`AddressPolicy::allows`]. Default is no policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, DatagramBuilder, DatagramErrorKind};
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = DatagramBuilder::new()
    ///     .remote_addr("[::ffff:192.168.1.1]:53")
    ///     .address_policy(AddressPolicy::public_only())
    ///     .bind()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), DatagramErrorKind::Denied);
    /// # }
    /// ```
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.policy = Some(policy);
        self.making("address_policy")
    }

    /// Makes the socket: resolves the addresses, then for each local/remote
    /// pair of one family, in order, opens a socket, sets the options, runs
    /// the hook, binds and connects, until one succeeds.
    ///
    /// # Errors
    ///
    /// A [`DatagramError`]: bad input, an unsupported option, a resolution
    /// failure, no address pair of one family, or every socket failed (a busy
    /// port: `AddrInUse`). No socket stays open.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (it only waits on the resolver) closes every
    /// socket it opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("[::1]:0").bind().await?;
    /// println!("listening on {}", socket.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub async fn bind(self) -> Result<UdpSocket, DatagramError> {
        let span = tracing::debug_span!("bind_datagram", endpoint = %self.describe());
        tracing::Instrument::instrument(self.bind_inner(), span).await
    }

    /// [`bind`](Self::bind), then wraps the socket in a
    /// [`tokio_util::udp::UdpFramed`] with `codec`: a `Stream` of decoded
    /// frames with their sender, and a `Sink` of `(frame, address)`.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{SinkExt, StreamExt};
    /// use tokio_endpoints::tokio_util::codec::LinesCodec;
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut a = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_framed(LinesCodec::new()).await?;
    /// let mut b = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_framed(LinesCodec::new()).await?;
    /// a.send(("hello".to_string(), b.get_ref().local_addr()?)).await?;
    /// let (line, from) = b.next().await.unwrap()?;
    /// assert_eq!((line.as_str(), from), ("hello", a.get_ref().local_addr()?));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "codec")]
    #[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
    pub async fn bind_framed<C>(
        self,
        codec: C,
    ) -> Result<tokio_util::udp::UdpFramed<C>, DatagramError> {
        Ok(tokio_util::udp::UdpFramed::new(self.bind().await?, codec))
    }

    pub(super) fn describe(&self) -> String {
        fn show(t: &Result<Target, TargetError>) -> String {
            match t {
                Ok(t) => t.to_string(),
                Err(e) => e.input().to_string(),
            }
        }
        match &self.source {
            Source::Socket(s) => match s.local_addr() {
                Ok(a) => format!("adopted socket {a}"),
                Err(_) => "adopted socket".to_string(),
            },
            #[cfg(target_os = "linux")]
            Source::Systemd(name, socket) => {
                let named = name
                    .as_ref()
                    .map(|n| format!(" named {n:?}"))
                    .unwrap_or_default();
                match socket.as_ref().map(|s| s.local_addr()) {
                    Ok(Ok(a)) => format!("UDP socket from systemd{named} {a}"),
                    _ => format!("UDP socket from systemd{named}"),
                }
            }
            Source::New => match (&self.local, &self.remote) {
                (None, None) => format!("unspecified {}", unspecified(self.family)),
                (Some(l), None) => format!("local {}", show(l)),
                (None, Some(r)) => format!("remote {}", show(r)),
                (Some(l), Some(r)) => format!("local {}, remote {}", show(l), show(r)),
            },
        }
    }

    fn invalid(&self, message: impl Into<String>) -> DatagramError {
        DatagramError::invalid(self.describe(), message)
    }

    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    async fn bind_inner(mut self) -> Result<UdpSocket, DatagramError> {
        #[cfg(target_os = "linux")]
        if let Source::Systemd(_, socket) = &self.source {
            if !self.making.is_empty() {
                return Err(self.invalid(format!(
                    "{} cannot be used with from_systemd: systemd made the socket; set its \
                     options in the .socket unit",
                    self.making.join(", ")
                )));
            }
            if let Err(why) = socket {
                return Err(self.invalid(why.clone()));
            }
            let Source::Systemd(_, Ok(socket)) = std::mem::replace(&mut self.source, Source::New)
            else {
                unreachable!("checked above")
            };
            self.source = Source::Socket(socket);
        }
        if let Source::Socket(_) = self.source {
            return self.adopt();
        }
        if self.reuse_port && !HAS_REUSE_PORT {
            return Err(
                DatagramError::new(DatagramErrorKind::Unsupported, self.describe())
                    .with_message("reuse_port: this platform has no SO_REUSEPORT"),
            );
        }
        let local = self.checked("local_addr", self.local.as_ref())?;
        let remote = self.checked("remote_addr", self.remote.as_ref())?;
        if self.policy.is_some() && remote.is_none() {
            return Err(self.invalid(
                "address_policy needs remote_addr: the policy checks the remote address of a \
                 connected socket, and send_to cannot be checked for it (check each destination \
                 with AddressPolicy::allows)",
            ));
        }
        if let Some(remote) = remote {
            if let Some(why) = remote.zero_port() {
                return Err(self.invalid(format!("remote_addr {why}")));
            }
            if let Some(why) = self
                .policy
                .as_ref()
                .and_then(|p| p.port_refused(remote.port()))
            {
                return Err(
                    DatagramError::new(DatagramErrorKind::Denied, self.describe())
                        .with_message(why),
                );
            }
        }
        // Literal addresses of different families: refuse before anything.
        if let (Some(l), Some(r)) = (local, remote) {
            if l.host().is_none() && r.host().is_none() {
                let paired = r
                    .addrs()
                    .iter()
                    .any(|r| l.addrs().iter().any(|l| l.is_ipv4() == r.is_ipv4()));
                if !paired {
                    return Err(self.invalid(mismatch(l.addrs(), r.addrs())));
                }
            }
        }

        let resolver = self.resolver.clone().unwrap_or_default();
        let family = self.family;
        let (locals, remotes) = futures_util::future::join(
            resolve(&resolver, local, family),
            resolve(&resolver, remote, family),
        )
        .await;
        let locals = locals.map_err(|e| self.resolve_failed("local_addr", e))?;
        let remotes = remotes.map_err(|e| self.resolve_failed("remote_addr", e))?;
        let remotes = self.admitted(remotes)?;

        let pairs: Vec<(Option<SocketAddr>, Option<SocketAddr>)> = match (&locals, &remotes) {
            (None, None) => vec![(Some(unspecified(family)), None)],
            (Some(ls), None) => ls.iter().map(|l| (Some(*l), None)).collect(),
            (None, Some(rs)) => rs.iter().map(|r| (None, Some(*r))).collect(),
            (Some(ls), Some(rs)) => rs
                .iter()
                .filter_map(|r| {
                    let l = ls.iter().find(|l| l.is_ipv4() == r.is_ipv4())?;
                    Some((Some(*l), Some(*r)))
                })
                .collect(),
        };
        if pairs.is_empty() {
            let (ls, rs) = (locals.unwrap_or_default(), remotes.unwrap_or_default());
            return Err(
                DatagramError::new(DatagramErrorKind::NoUsableAddress, self.describe())
                    .with_message(mismatch(&ls, &rs)),
            );
        }

        let mut attempts = Vec::new();
        for (local, remote) in pairs {
            let result = self
                .open(local, remote)
                .and_then(|std| UdpSocket::from_std(std));
            match result {
                Ok(socket) => {
                    tracing::debug!(?local, ?remote, "datagram socket ready");
                    return Ok(socket);
                }
                Err(error) => {
                    tracing::debug!(?local, ?remote, %error, "datagram socket failed");
                    attempts.push(BindAttempt {
                        local,
                        remote,
                        error,
                    });
                }
            }
        }
        Err(
            DatagramError::new(DatagramErrorKind::AllAttemptsFailed, self.describe())
                .with_attempts(attempts),
        )
    }

    /// A parsed address, or the error naming what is wrong with it, and a
    /// literal of the wrong family refused.
    fn checked<'a>(
        &self,
        what: &str,
        target: Option<&'a Result<Target, TargetError>>,
    ) -> Result<Option<&'a Target>, DatagramError> {
        let target = match target {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(self.invalid(format!("{what} {:?}: {}", e.input(), e.reason())))
            }
            Some(Ok(t)) => t,
        };
        if target.host().is_none() && !target.addrs().iter().any(|a| self.family.matches(&a.ip())) {
            return Err(self.invalid(format!(
                "{what} {target} is not of the requested family {}",
                self.family
            )));
        }
        Ok(Some(target))
    }

    /// The remote addresses the address policy allows, or the error
    /// naming each refused one when none is left.
    fn admitted(
        &self,
        remotes: Option<Vec<SocketAddr>>,
    ) -> Result<Option<Vec<SocketAddr>>, DatagramError> {
        let Some(policy) = &self.policy else {
            return Ok(remotes);
        };
        let Some(mut remotes) = remotes else {
            return Ok(None);
        };
        let mut denied = Vec::new();
        remotes.retain(|r| match policy.check(r.ip()) {
            Ok(()) => true,
            Err(refused) => {
                tracing::debug!(%refused, "remote address refused");
                refused.push_to(&mut denied);
                false
            }
        });
        if remotes.is_empty() {
            return Err(
                DatagramError::new(DatagramErrorKind::Denied, self.describe()).with_denied(denied),
            );
        }
        Ok(Some(remotes))
    }

    fn resolve_failed(&self, what: &str, failure: ResolveFailure) -> DatagramError {
        let name = self.describe();
        match failure {
            ResolveFailure::Errors(errors) => {
                DatagramError::new(DatagramErrorKind::Resolve, name).with_resolve_errors(errors)
            }
            ResolveFailure::Empty => DatagramError::new(DatagramErrorKind::Resolve, name)
                .with_message(format!("the resolver returned no address for {what}")),
            ResolveFailure::NoFamily(host) => {
                DatagramError::new(DatagramErrorKind::NoUsableAddress, name)
                    .with_message(format!("{what} {host} has no {} address", self.family))
            }
        }
    }

    /// One socket: create, options, hook, bind, connect.
    fn open(
        &self,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> io::Result<std::net::UdpSocket> {
        let Some(addr) = local.or(remote) else {
            unreachable!("every pair has a local or a remote address")
        };
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        if self.reuse_port {
            set_reuse_port(&socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("SO_REUSEPORT: {e}", e = crate::shared::report::Brief(&e)),
                )
            })?;
        }
        if self.allow_broadcast {
            socket.set_broadcast(true).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("SO_BROADCAST: {e}", e = crate::shared::report::Brief(&e)),
                )
            })?;
        }
        if let Some(hook) = &self.hook {
            hook(&socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("socket hook: {e}", e = crate::shared::report::Brief(&e)),
                )
            })?;
        }
        if let Some(local) = local {
            socket.bind(&local.into()).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::AddrInUse {
                    if self.reuse_port {
                        " (a socket without reuse_port holds the port)"
                    } else {
                        " (another socket holds the port; sockets share a port only when each sets reuse_port)"
                    }
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("bind to {local}: {e}{hint}", e = crate::shared::report::Brief(&e)))
            })?;
        }
        if let Some(remote) = remote {
            socket.connect(&remote.into()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "connect to {remote}: {e}",
                        e = crate::shared::report::Brief(&e)
                    ),
                )
            })?;
        }
        Ok(socket.into())
    }

    fn adopt(self) -> Result<UdpSocket, DatagramError> {
        if !self.making.is_empty() {
            return Err(self.invalid(format!(
                "{} cannot be used with from_socket: the socket is already made; set its options before adopting it",
                self.making.join(", ")
            )));
        }
        let Source::Socket(socket) = &self.source else {
            unreachable!("adopt is only called for an adopted socket")
        };
        if let Err(why) = check_udp(socket) {
            return Err(self.invalid(format!("from_socket: {why}")));
        }
        let result = socket.set_nonblocking(true).map_err(|e| {
            format!(
                "cannot make the adopted socket non-blocking: {e}",
                e = crate::shared::report::Brief(&e)
            )
        });
        if let Err(why) = result {
            return Err(self.invalid(why));
        }
        let name = self.describe();
        let Source::Socket(socket) = self.source else {
            unreachable!("checked above")
        };
        UdpSocket::from_std(socket).map_err(|e| {
            DatagramError::new(DatagramErrorKind::AllAttemptsFailed, name).with_attempts(vec![
                BindAttempt {
                    local: None,
                    remote: None,
                    error: e,
                },
            ])
        })
    }
}

/// A `std::net::UdpSocket` can be made from any descriptor: refuse what is
/// not a UDP socket over IPv4 or IPv6 (asyncio checks `sock.type`).
fn check_udp(socket: &std::net::UdpSocket) -> Result<(), String> {
    let sock = SockRef::from(socket);
    let ty = sock.r#type().map_err(|e| {
        format!(
            "cannot read the socket type (SO_TYPE): {e}",
            e = crate::shared::report::Brief(&e)
        )
    })?;
    if ty != Type::DGRAM {
        // socket2 shows types by their C names: "SOCK_STREAM".
        return Err(format!(
            "wrong socket type: {ty:?}, expected SOCK_DGRAM (a UDP socket)"
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
            "wrong socket family: not an IPv4 or IPv6 socket (use DatagramBuilder::unix for Unix sockets)"
                .to_string(),
        );
    }
    if let Ok(Some(protocol)) = crate::sys::protocol(&sock) {
        if protocol != Protocol::UDP {
            return Err(format!("wrong socket protocol: {protocol:?}, expected UDP"));
        }
    }
    Ok(())
}

fn unspecified(family: Family) -> SocketAddr {
    match family {
        Family::V6 => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        Family::V4 | Family::Any => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
    }
}

fn mismatch(locals: &[SocketAddr], remotes: &[SocketAddr]) -> String {
    fn list(addrs: &[SocketAddr]) -> String {
        let shown: Vec<_> = addrs
            .iter()
            .map(|a| format!("{a} ({})", Family::of(&a.ip())))
            .collect();
        shown.join(", ")
    }
    format!(
        "local_addr {} and remote_addr {} share no address family",
        list(locals),
        list(remotes)
    )
}

enum ResolveFailure {
    /// Every query failed.
    Errors(Vec<ResolveError>),
    /// The resolver answered with nothing and no error.
    Empty,
    /// Addresses came, none of the family; the host name.
    NoFamily(String),
}

/// Every address of `target` that fits `family`, in the resolver's order:
/// all batches collected, since there is no race to feed.
async fn resolve(
    resolver: &Resolver,
    target: Option<&Target>,
    family: Family,
) -> Result<Option<Vec<SocketAddr>>, ResolveFailure> {
    let Some(target) = target else {
        return Ok(None);
    };
    let Some(host) = target.host() else {
        let addrs = target
            .addrs()
            .iter()
            .copied()
            .filter(|a| family.matches(&a.ip()))
            .collect();
        return Ok(Some(addrs));
    };
    // An absolute name keeps its dot: it is not searched.
    let mut batches = resolver.resolve(target.host_name().unwrap_or(host), family);
    let mut ips: Vec<IpAddr> = Vec::new();
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
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    for ip in ips.into_iter().filter(|ip| family.matches(ip)) {
        let addr = SocketAddr::new(ip, target.port());
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(ResolveFailure::NoFamily(host.to_string()));
    }
    Ok(Some(addrs))
}

impl fmt::Debug for DatagramBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramBuilder")
            .field("endpoint", &self.describe())
            .field("family", &self.family)
            .field("reuse_port", &self.reuse_port)
            .field("allow_broadcast", &self.allow_broadcast)
            .field("socket_hook", &self.hook.is_some())
            .field("resolver", &self.resolver)
            .field("address_policy", &self.policy)
            .finish()
    }
}
