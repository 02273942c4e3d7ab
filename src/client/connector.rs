//! [`Connector`]: one configuration for many connections.
//!
//! A [`ConnectionBuilder`] is used once. A `Connector` holds the same
//! target-independent options behind an `Arc`, and makes a builder with a
//! copy of them for each call, so both go through one code path: an option
//! behaves on a `Connector` exactly as on a builder.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::client::connect::{ConnectionBuilder, IntoLocalAddrs, Options, Source};
use crate::client::error::ConnectError;
use crate::client::establishment::Establishment;
use crate::client::history::History;
use crate::client::qlog::QlogSink;
use crate::resolve::{Resolve, Resolver};
use crate::shared::policy::AddressPolicy;
use crate::shared::target::{Family, IntoTarget};

/// Connects again and again with one configuration: the options of
/// [`ConnectionBuilder`] that do not depend on the target, set once and
/// shared.
///
/// Cloning a `Connector` costs an `Arc` clone; clones share the options,
/// the resolver and its cache, and any number of tasks may connect through
/// one at once. Make one per program (or per kind of peer) and pass clones
/// around, rather than one per connection: with the default resolver this
/// changes nothing for name resolution (every default resolution shares one
/// process-wide cache, see [`Resolver::default`]), but a resolver given with
/// [`resolver`](Self::resolver) keeps its cache only as long as it is kept.
///
/// Every option has the name and meaning it has on [`ConnectionBuilder`];
/// a bad value (an empty `local_addr` list, a zero TLS timeout) is reported
/// by each connect call, before anything is sent. TLS options given to a
/// `Connector` are used by [`connect_tls`](Self::connect_tls) and ignored by
/// [`connect`](Self::connect), so one `Connector` serves plain and TLS
/// connections alike (as it does for `http://` and `https://` URIs with the
/// `hyper` feature).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tokio_endpoints::Connector;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let connector = Connector::new()
///         .connect_timeout(Duration::from_secs(10))
///         .alpn(["h2", "http/1.1"]);
///     let mut tasks = Vec::new();
///     for host in ["example.com:443", "example.org:443"] {
///         let connector = connector.clone();
///         tasks.push(tokio::spawn(async move { connector.connect_tls(host).await }));
///     }
///     for task in tasks {
///         let stream = task.await??;
///         println!("{:?}", stream.peer_addr()?);
///     }
///     Ok(())
/// }
/// ```
#[derive(Clone)]
#[must_use = "a connector does nothing until `connect` is called"]
pub struct Connector {
    pub(crate) opts: Arc<Options>,
    /// The Unix socket every URI is sent over, as a hyper connector
    /// ([`unix_socket`](Self::unix_socket)).
    #[cfg(all(unix, feature = "hyper"))]
    pub(crate) unix: Option<Arc<std::path::Path>>,
}

impl Connector {
    /// A connector with every option at its default, as
    /// [`ConnectionBuilder::new`] has them.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new();
    /// let same = connector.clone(); // shares the options and the resolver
    /// # drop(same);
    /// ```
    pub fn new() -> Connector {
        Connector::default()
    }
}

impl Default for Connector {
    /// As [`Connector::new`].
    fn default() -> Connector {
        let opts = Options {
            history: Some(History::default()),
            ..Options::default()
        };
        Connector {
            opts: Arc::new(opts),
            #[cfg(all(unix, feature = "hyper"))]
            unix: None,
        }
    }
}

impl Connector {
    /// Turns the history of earlier connections on or off (RFC 8305 §4
    /// rule 9, "historical data"). On (the default), the connector
    /// remembers, per target (host name or literal list, port, local
    /// address, family), which address won and how long it took, and which
    /// addresses failed and how: the next connect tries the last winner
    /// first (its family leading the interleaving) and addresses that
    /// timed out recently last. The race stays: if the remembered winner
    /// fails, the next address starts at once, and the others one delay
    /// apart. So a host whose IPv6 path is blackholed costs the delay once,
    /// not on every connection. Clones of the connector, and builders made
    /// with [`builder`](Self::builder), share the history; it holds at most
    /// 1024 targets (the least recently used forgotten first, about 200
    /// bytes each plus the host name), lives in the process only, and
    /// outcomes older than [`history_ttl`](Self::history_ttl) are
    /// forgotten. `false`: every connect starts from scratch. Default is
    /// `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new()
    ///     .history(true)
    ///     .history_ttl(Duration::from_secs(600));
    /// # drop(connector);
    /// ```
    pub fn history(self, on: bool) -> Self {
        self.set(|o| o.history_off = !on)
    }

    /// How long an outcome is trusted: a remembered winner or failure older
    /// than this is forgotten, so a repaired IPv6 path is tried first again
    /// within this time. Default is 10 minutes. Under 1 ms
    /// (`Duration::ZERO` too) makes each call fail with
    /// [`ConnectErrorKind::InvalidInput`](crate::ConnectErrorKind::InvalidInput)
    /// before anything is sent; [`history(false)`](Self::history) turns
    /// the history off.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().history_ttl(Duration::from_secs(60));
    /// # drop(connector);
    /// ```
    pub fn history_ttl(self, ttl: Duration) -> Self {
        self.set(|o| o.set_history_ttl(ttl))
    }

    /// Derives the stagger delay for a target with history from the round
    /// trips of its winning attempts (RFC 6298's smoothed time plus four
    /// times its variation), within RFC 8305 §5's bounds: at least 100 ms,
    /// at most 2 s. Targets without history use
    /// [`happy_eyeballs`](Self::happy_eyeballs)' delay; with `sequential`
    /// there is no delay to derive. Default is `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().adaptive_delay(true);
    /// # drop(connector);
    /// ```
    pub fn adaptive_delay(self, on: bool) -> Self {
        self.set(|o| o.adaptive_delay = on)
    }

    /// Forgets everything the history holds, for this connector and its
    /// clones.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new();
    /// connector.clear_history();
    /// ```
    pub fn clear_history(&self) {
        if let Some(history) = &self.opts.history {
            history.clear();
        }
        #[cfg(feature = "quic")]
        self.opts.quic.forget();
    }

    pub(crate) fn set(mut self, f: impl FnOnce(&mut Options)) -> Self {
        let opts = Arc::make_mut(&mut self.opts);
        f(opts);
        // The TLS options a connector holds are its `connect_tls`'s: its
        // plain `connect` does not refuse them (a builder's does), so the
        // builders it makes carry no list of them.
        #[cfg(feature = "tls")]
        if opts.tls.any_given() {
            opts.tls.forget_given();
        }
        self
    }

    /// As [`ConnectionBuilder::happy_eyeballs`]: the connection attempt
    /// delay of the race (RFC 8305 §5). Default is 250 ms
    /// ([`DEFAULT_HAPPY_EYEBALLS_DELAY`](crate::DEFAULT_HAPPY_EYEBALLS_DELAY)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().happy_eyeballs(Duration::from_millis(100));
    /// # drop(connector);
    /// ```
    pub fn happy_eyeballs(self, delay: Duration) -> Self {
        self.set(|o| o.delay = Some(delay))
    }

    /// As [`ConnectionBuilder::sequential`]: one attempt at a time. Pair it
    /// with [`attempt_timeout`](Self::attempt_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().sequential().attempt_timeout(Duration::from_secs(3));
    /// # drop(connector);
    /// ```
    pub fn sequential(self) -> Self {
        self.set(|o| o.delay = None)
    }

    /// As [`ConnectionBuilder::interleave`]: the First Address Family Count
    /// of RFC 8305 §4. Default is 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().interleave(2);
    /// # drop(connector);
    /// ```
    pub fn interleave(self, count: usize) -> Self {
        self.set(|o| o.set_interleave(count))
    }

    /// As [`ConnectionBuilder::family`]: which address family to use.
    /// Default is [`Family::Any`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{Connector, Family};
    ///
    /// let connector = Connector::new().family(Family::V4);
    /// # drop(connector);
    /// ```
    pub fn family(self, family: Family) -> Self {
        self.set(|o| o.family = family)
    }

    /// As [`ConnectionBuilder::local_addr`]: binds each attempt's socket
    /// (`bind(2)`) to the first local address of its family. Default is no
    /// binding.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().local_addr(Ipv4Addr::LOCALHOST);
    /// # drop(connector);
    /// ```
    pub fn local_addr(self, local: impl IntoLocalAddrs) -> Self {
        self.set(|o| o.set_local(local))
    }

    /// As [`ConnectionBuilder::nodelay`]: sets `TCP_NODELAY` (see
    /// `tcp(7)`). Default is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().nodelay(false);
    /// # drop(connector);
    /// ```
    pub fn nodelay(self, on: bool) -> Self {
        self.set(|o| o.nodelay = on)
    }

    /// As [`ConnectionBuilder::tcp_keepalive`]: `SO_KEEPALIVE` and
    /// `TCP_KEEPIDLE` / `TCP_KEEPINTVL` / `TCP_KEEPCNT` (see `tcp(7)`) on
    /// each attempt's socket, so a connection kept in a pool notices a
    /// peer that is gone. Default is not set: the system's default, off.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::{socket2::TcpKeepalive, Connector};
    ///
    /// let connector = Connector::new().tcp_keepalive(
    ///     TcpKeepalive::new()
    ///         .with_time(Duration::from_secs(60))
    ///         .with_interval(Duration::from_secs(10))
    ///         .with_retries(5),
    /// );
    /// # drop(connector);
    /// ```
    pub fn tcp_keepalive(self, keepalive: socket2::TcpKeepalive) -> Self {
        self.set(|o| o.sockopts_mut().keepalive = Some(keepalive))
    }

    /// As [`ConnectionBuilder::tcp_user_timeout`]: `TCP_USER_TIMEOUT` (see
    /// `tcp(7)`) on each attempt's socket, how long sent data may stay
    /// unacknowledged. `None` leaves the system's default. Default is
    /// `None`.
    ///
    /// Compiled only where there is `TCP_USER_TIMEOUT`: Linux, Android,
    /// Fuchsia.
    ///
    /// # Errors
    ///
    /// Zero is refused with `InvalidInput`, before anything is sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().tcp_user_timeout(Some(Duration::from_secs(30)));
    /// # drop(connector);
    /// ```
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))
    )]
    pub fn tcp_user_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|o| o.sockopts_mut().user_timeout = timeout)
    }

    /// As [`ConnectionBuilder::send_buffer_size`]: `SO_SNDBUF` (see
    /// `socket(7)`; Linux doubles it) on each attempt's socket, in bytes.
    /// Default is not set: the system's default, tuned automatically.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().send_buffer_size(1 << 20);
    /// # drop(connector);
    /// ```
    pub fn send_buffer_size(self, bytes: usize) -> Self {
        self.set(|o| o.sockopts_mut().send_buffer = Some(bytes))
    }

    /// As [`ConnectionBuilder::recv_buffer_size`]: `SO_RCVBUF` (see
    /// `socket(7)`; Linux doubles it) on each attempt's socket, in bytes.
    /// Default is not set: the system's default, tuned automatically.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().recv_buffer_size(1 << 20);
    /// # drop(connector);
    /// ```
    pub fn recv_buffer_size(self, bytes: usize) -> Self {
        self.set(|o| o.sockopts_mut().recv_buffer = Some(bytes))
    }

    /// As [`ConnectionBuilder::interface`]: binds each attempt's socket to
    /// the network interface `name` (`SO_BINDTODEVICE` on Linux and
    /// Android, `IP_BOUND_IF` / `IPV6_BOUND_IF` on Apple platforms,
    /// `IP_UNICAST_IF` / `IPV6_UNICAST_IF` on Windows).
    /// Default is not set.
    ///
    /// # Errors
    ///
    /// Each call fails before anything is sent when no interface has that
    /// name ([`ConnectErrorKind::InvalidInput`](crate::ConnectErrorKind::InvalidInput),
    /// naming it), or on a platform that cannot bind to one
    /// ([`ConnectErrorKind::Unsupported`](crate::ConnectErrorKind::Unsupported)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().interface("eth0");
    /// # drop(connector);
    /// ```
    pub fn interface(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set(|o| o.sockopts_mut().set_interface(name))
    }

    /// As [`ConnectionBuilder::connect_timeout`]: bounds each whole call,
    /// resolution included. `None` means no bound; `Duration::ZERO` is
    /// refused (each call fails with `InvalidInput`, nothing sent). Default
    /// is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().connect_timeout(Duration::from_secs(5));
    /// # drop(connector);
    /// ```
    pub fn connect_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|o| o.connect_timeout = timeout)
    }

    /// As [`ConnectionBuilder::attempt_timeout`]: bounds each attempt.
    /// `None` leaves it to the kernel; `Duration::ZERO` is refused (each
    /// call fails with `InvalidInput`, nothing sent). Default is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().attempt_timeout(Duration::from_secs(2));
    /// # drop(connector);
    /// ```
    pub fn attempt_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|o| o.attempt_timeout = timeout)
    }

    /// As [`ConnectionBuilder::socket_hook`]: runs `hook` on each attempt's
    /// socket before it is bound and connected. Default is no hook.
    ///
    /// # Panics
    ///
    /// As with [`ConnectionBuilder::socket_hook`], a panic in `hook`
    /// propagates out of the poll of the connect future; the call's sockets
    /// are closed as the future is dropped, and the connector keeps working
    /// for later calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::{socket2::TcpKeepalive, Connector};
    ///
    /// let connector = Connector::new().socket_hook(|socket| {
    ///     socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(30)))
    /// });
    /// # drop(connector);
    /// ```
    pub fn socket_hook<F>(self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> std::io::Result<()> + Send + Sync + 'static,
    {
        self.set(|o| o.hook = Some(Arc::new(hook)))
    }

    /// As [`ConnectionBuilder::all_errors`]: how a [`ConnectError`] reads
    /// as one `io::Error`. Default is `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().all_errors(true);
    /// # drop(connector);
    /// ```
    pub fn all_errors(self, all: bool) -> Self {
        self.set(|o| o.all_errors = all)
    }

    /// As [`ConnectionBuilder::resolver`]: who turns host names into
    /// addresses. Clones of the connector share it. Default is
    /// [`Resolver::default`], one process-wide resolver with a cache.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{Connector, Resolver};
    ///
    /// let connector = Connector::new().resolver(Resolver::system());
    /// # drop(connector);
    /// ```
    pub fn resolver(self, resolver: impl Resolve) -> Self {
        let resolver = Resolver::new(resolver);
        self.set(|o| o.resolver = Some(resolver))
    }

    /// As [`ConnectionBuilder::svcb`]: whether to ask for the host's HTTPS
    /// records (RFC 9460) beside AAAA and A and let them shape the race
    /// (Happy Eyeballs v3). Default is `true` for `connect_tls` and `false`
    /// for `connect`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().svcb(false);
    /// # drop(connector);
    /// ```
    pub fn svcb(self, on: bool) -> Self {
        self.set(|o| o.svcb = Some(on))
    }

    /// Connects only to addresses `policy` allows, on every connection of
    /// this connector (and so of a hyper-util `Client` built on it: every
    /// URI, redirects included): see
    /// [`ConnectionBuilder::address_policy`](crate::ConnectionBuilder::address_policy).
    /// Default is no policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ConnectErrorKind, Connector};
    ///
    /// # #[tokio::main] async fn main() {
    /// let connector = Connector::new().address_policy(AddressPolicy::public_only());
    /// let err = connector.connect("169.254.169.254:80").await.unwrap_err();
    /// assert_eq!(err.kind(), ConnectErrorKind::Denied);
    /// # }
    /// ```
    pub fn address_policy(self, policy: AddressPolicy) -> Self {
        self.set(|o| o.policy = Some(policy))
    }

    /// A [`ConnectionBuilder`] for `target` with this connector's options,
    /// for what changes per call ([`server_name`](ConnectionBuilder::server_name),
    /// or any option). The connector's TLS options are defaults for its
    /// `connect_tls`: its plain `connect` does not refuse them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new();
    /// let stream = connector
    ///     .builder("192.0.2.10:443")
    ///     .server_name("www.example.com")
    ///     .connect_tls()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(&self, target: impl IntoTarget) -> ConnectionBuilder {
        // A shallow copy: what is large (the local addresses, the TLS
        // options, the socket options, the policy, the resolver, the
        // history) is shared, and copied only if the builder changes it.
        ConnectionBuilder::with_options(Source::target(target), Options::clone(&self.opts))
    }

    /// Connects to `target` as [`ConnectionBuilder::connect`] does, with
    /// this connector's options. The future borrows nothing: it may be
    /// spawned.
    ///
    /// # Errors
    ///
    /// As [`ConnectionBuilder::connect`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every socket it opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new();
    /// let stream = connector.connect("localhost:8080").await?;
    /// println!("connected to {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn connect(
        &self,
        target: impl IntoTarget,
    ) -> impl Future<Output = Result<TcpStream, ConnectError>> + Send + 'static {
        self.builder(target).connect()
    }
}

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl Connector {
    /// As [`ConnectionBuilder::tls_config`]: the rustls configuration for
    /// [`connect_tls`](Self::connect_tls). Default is a configuration built
    /// once per process on the platform's trust roots.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_endpoints::rustls::{self, ClientConfig, RootCertStore};
    /// use tokio_endpoints::Connector;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let my_ca_der = rustls::pki_types::CertificateDer::from(Vec::new());
    /// let mut roots = RootCertStore::empty();
    /// roots.add(my_ca_der)?;
    /// let provider = tokio_endpoints::crypto_provider();
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let connector = Connector::new().tls_config(Arc::new(config));
    /// # Ok(()) }
    /// ```
    pub fn tls_config(self, config: Arc<rustls::ClientConfig>) -> Self {
        self.set(|o| o.tls.set_config(config))
    }

    /// As [`ConnectionBuilder::tls_ca_file`]: trust exactly the CA
    /// certificates of this PEM file (like `curl --cacert`). The file is
    /// read at the first [`connect_tls`](Self::connect_tls), once for this
    /// connector and its clones. Default is the platform's trust roots.
    ///
    /// # Errors
    ///
    /// `connect_tls` fails with
    /// [`ConnectErrorKind::InvalidInput`](crate::ConnectErrorKind::InvalidInput),
    /// before anything is sent, when the file cannot be read, holds no
    /// certificate, or a [`tls_config`](Self::tls_config) was given too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().tls_ca_file("ca.pem");
    /// let stream = connector.connect_tls("internal.example:8443").await?;
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    pub fn tls_ca_file(self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        self.set(|o| o.tls.set_ca_file(path))
    }

    /// As [`ConnectionBuilder::alpn`]: the protocols offered with ALPN
    /// (RFC 7301), most preferred first. Default is the configuration's.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().alpn(["h2", "http/1.1"]);
    /// # drop(connector);
    /// ```
    pub fn alpn<I>(self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.set(|o| o.tls.set_alpn(protocols))
    }

    /// As [`ConnectionBuilder::tls_handshake_timeout`]: bounds each TLS
    /// handshake. `None` means no bound; zero is refused. Default is 60 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().tls_handshake_timeout(Duration::from_secs(10));
    /// # drop(connector);
    /// ```
    pub fn tls_handshake_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|o| o.tls.set_handshake_timeout(timeout))
    }

    /// As [`ConnectionBuilder::tls_shutdown_timeout`]: bounds the shutdown
    /// of each [`TlsStream`](crate::TlsStream). `None` means no bound; zero
    /// is refused. Default is 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Connector;
    ///
    /// let connector = Connector::new().tls_shutdown_timeout(Duration::from_secs(5));
    /// # drop(connector);
    /// ```
    pub fn tls_shutdown_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|o| o.tls.set_shutdown_timeout(timeout))
    }

    /// Connects to `target` and runs the TLS handshake, as
    /// [`ConnectionBuilder::connect_tls`] does, with this connector's
    /// options; the server name is the target's host name (use
    /// [`builder`](Self::builder) to give another). The future borrows
    /// nothing: it may be spawned.
    ///
    /// # Errors
    ///
    /// As [`ConnectionBuilder::connect_tls`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every socket it opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().alpn(["http/1.1"]);
    /// let stream = connector.connect_tls("example.com:443").await?;
    /// println!("{:?}", stream.alpn_protocol());
    /// # Ok(()) }
    /// ```
    pub fn connect_tls(
        &self,
        target: impl IntoTarget,
    ) -> impl Future<Output = Result<crate::TlsStream, ConnectError>> + Send + 'static {
        self.builder(target).connect_tls()
    }
}

#[cfg(all(unix, feature = "hyper"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "hyper"))))]
impl Connector {
    /// As hyper's connector, sends every request over the Unix stream
    /// socket at `path`, whatever the URI's host and port: the URI gives
    /// the `Host` header and the request's path, as reqwest's
    /// `ClientBuilder::unix_socket` and curl's `--unix-socket` do (Docker's
    /// API at `/var/run/docker.sock`, containerd, systemd's services). The
    /// URI must still be a valid `http://` URI with a host
    /// (`http://localhost/v1.45/containers/json`); `https://` URIs are
    /// refused, as TLS over a Unix socket is not offered. On Linux and
    /// Android, `@name` is an abstract socket name (see
    /// [`ConnectionBuilder::unix`]).
    ///
    /// [`connect_timeout`](Self::connect_timeout) and
    /// [`socket_hook`](Self::socket_hook) apply to the Unix socket; the
    /// TCP options (keepalive, buffers, interface, the race's) do not.
    /// The connection's [`HttpInfo`](crate::HttpInfo) says
    /// [`is_unix`](crate::HttpInfo::is_unix). Plain [`connect`](Self::connect)
    /// and [`connect_tls`](Self::connect_tls) calls are not affected.
    /// Default is not set: TCP (or TLS) to the URI's host.
    ///
    /// # Errors
    ///
    /// With an [`address_policy`](Self::address_policy) set, each request
    /// fails with [`ConnectErrorKind::InvalidInput`](crate::ConnectErrorKind::InvalidInput)
    /// before a socket is opened: a policy checks IP addresses, a Unix
    /// socket has none, and the policy is never dropped silently.
    ///
    /// Each request's connect fails as
    /// [`UnixConnectionBuilder::connect`](crate::UnixConnectionBuilder::connect)
    /// does, naming the path (`no such file`, `connection refused: nothing
    /// listens on PATH`, `permission denied`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use http_body_util::{BodyExt, Empty};
    /// use hyper::body::Bytes;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use tokio_endpoints::Connector;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let connector = Connector::new().unix_socket("/var/run/docker.sock");
    ///     let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
    ///     let response = client.get("http://docker/version".parse()?).await?;
    ///     let body = response.into_body().collect().await?.to_bytes();
    ///     println!("{}", String::from_utf8_lossy(&body));
    ///     Ok(())
    /// }
    /// ```
    pub fn unix_socket(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.unix = Some(Arc::from(path.as_ref()));
        self
    }
}

/// What a connector tells of each connection it makes.
impl Connector {
    /// Calls `callback` with the [`Establishment`] of every connection this
    /// connector (its clones, and builders made with
    /// [`builder`](Self::builder)) makes: [`connect`](Self::connect),
    /// [`connect_tls`](Self::connect_tls), and the connections of hyper-util's
    /// `Client` and tonic through it (whose responses then carry it in
    /// [`HttpInfo::establishment`](crate::HttpInfo::establishment)). Never
    /// for a call that failed: its [`ConnectError`] says what was tried.
    ///
    /// The callback runs on the task that connected, as the connect
    /// returns: keep it short (count, log, send to a channel). A
    /// connection is recorded only when a callback or a
    /// [`qlog`](Self::qlog) sink is set; recording costs a few
    /// microseconds per connect (see `BENCHMARKS.md`). Setting another
    /// callback replaces this one. Default is none.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use tokio_endpoints::{Connector, Establishment};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let fallbacks = Arc::new(AtomicU64::new(0));
    /// let counter = fallbacks.clone();
    /// let connector = Connector::new().on_established(move |r: &Establishment| {
    ///     if r.attempts().len() > 1 {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     tracing::debug!("{r}");
    /// });
    /// let stream = connector.connect("localhost:8080").await?;
    /// # drop(stream); Ok(()) }
    /// ```
    pub fn on_established<F>(self, callback: F) -> Self
    where
        F: Fn(&Establishment) + Send + Sync + 'static,
    {
        self.set(|o| {
            let mut report = o.report.as_deref().cloned().unwrap_or_default();
            report.on_established = Some(Arc::new(callback));
            o.report = Some(Arc::new(report));
        })
    }

    /// Writes every connection this connector makes as a qlog trace of
    /// Happy Eyeballs events to `sink` (see [`QlogSink`] for the format),
    /// as [`on_established`](Self::on_established) is told of them (the
    /// two work together). Setting another sink replaces this one. Default
    /// is none.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{Connector, QlogSink};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().qlog(QlogSink::file("connects.sqlog")?);
    /// let stream = connector.connect("localhost:8080").await?;
    /// # drop(stream); Ok(()) }
    /// ```
    pub fn qlog(self, sink: QlogSink) -> Self {
        self.set(|o| {
            let mut report = o.report.as_deref().cloned().unwrap_or_default();
            report.qlog = Some(sink);
            o.report = Some(Arc::new(report));
        })
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Connector");
        self.opts.debug_fields(&mut d);
        #[cfg(all(unix, feature = "hyper"))]
        d.field("unix_socket", &self.unix);
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Connector`'s calls share its rarely set options (local
    /// addresses, timeouts, socket options, policy, TLS options): a
    /// builder it makes points at the same allocation, and gets a copy of
    /// its own only when it changes one of them (copy on write), which
    /// leaves the connector's as they were.
    #[test]
    fn builders_share_the_connectors_options_until_they_change_one() {
        let connector = Connector::new()
            .local_addr(std::net::Ipv4Addr::LOCALHOST)
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(socket2::TcpKeepalive::new());
        #[cfg(feature = "tls")]
        let connector = connector.alpn(["h2"]);
        let shared = connector.opts.rare.as_ref().expect("set above");
        let a = connector.builder("example.test:443");
        let b = connector.builder(("example.test", 80));
        for builder in [&a, &b] {
            let rare = builder.opts.rare.as_ref().expect("shared");
            assert!(Arc::ptr_eq(rare, shared));
        }
        let changed = a.connect_timeout(Duration::from_secs(1));
        let rare = changed.opts.rare.as_ref().expect("copied");
        assert!(!Arc::ptr_eq(rare, shared));
        assert_eq!(changed.opts.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(connector.opts.connect_timeout, Some(Duration::from_secs(5)));
        // The copy is shallow: the local addresses and the socket options
        // are still the connector's.
        assert!(std::ptr::eq(
            changed.opts.local.as_deref().unwrap(),
            connector.opts.local.as_deref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            changed.opts.sockopts.as_ref().unwrap(),
            connector.opts.sockopts.as_ref().unwrap()
        ));
        // A plain builder carries none of it.
        let plain = Connector::new().builder("example.test:443");
        assert!(plain.opts.rare.is_none());
    }
}
