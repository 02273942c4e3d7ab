//! The PROXY protocol (HAProxy's, versions 1 and 2): [`ProxyProtocol`],
//! the trusted networks (`ipnet::IpNet`), and the reading of the header (its value, [`ProxyHeader`],
//! is in `proxy_header`, below both this module and `info`).
//!
//! # Why the header is read this way
//!
//! A load balancer that passes TCP through (HAProxy in `mode tcp`, AWS and
//! GCP network load balancers, Envoy) sends the client's address in a
//! header before the first application byte. Three things make reading it
//! harder than it looks:
//!
//! * **No application byte may be taken.** The handler (or the TLS
//!   handshake) reads the stream next, so the header is read exactly: the
//!   bytes waiting on the socket are looked at with `peek`, and only the
//!   header's own bytes are taken (v1: up to and including its CRLF, at
//!   most 107 bytes; v2: the 16-byte fixed part, then the length it
//!   announces). Bytes are taken before the header is complete only when
//!   they are certainly header bytes, so a header split over many writes
//!   waits on the socket, never spins.
//! * **Anyone could send one.** A header rewrites who the client is, so it
//!   is honoured only from the peers the server trusts
//!   ([`ProxyProtocol::trusted`]); an untrusted peer that sends one is
//!   closed, and without [`optional`](ProxyProtocol::optional) an
//!   untrusted peer is closed at once (it could never send a valid
//!   header). Two policies judge two different addresses: the server's
//!   [`peer_policy`](crate::ServerBuilder::peer_policy) judges the
//!   socket's peer, which behind a balancer is the balancer, never the
//!   client the header names; [`ProxyProtocol::client_policy`] judges the
//!   header's client address.
//! * **A client that sends nothing must delay no one.** The header is read
//!   in a task per connection, bounded by
//!   [`header_timeout`](ProxyProtocol::header_timeout), like the TLS
//!   handshake and in the same task, header first. A balancer sends the
//!   header with its first packet, so a plain listener first looks at
//!   what is already waiting when the connection is accepted, and a
//!   complete header is read then, without a task (`try_now`). That read
//!   goes to the socket itself (`recv`), not through tokio's `try_read`:
//!   tokio knows a fresh stream is readable only once its reactor has
//!   polled it, so `try_read` refuses with `WouldBlock` however many bytes
//!   are waiting.
//!
//! The bytes are parsed by the `ppp` crate; this module only decides how
//! many bytes are the header. A connection that fails (untrusted, timed
//! out, malformed, truncated, missing) is closed, counted and logged (the
//! first of each kind at `WARN`), never handed on, and never an error of
//! `accept`.

use ipnet::IpNet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ppp::v2::PROTOCOL_PREFIX as V2_PREFIX;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::info::ConnectionInfo;
pub use super::proxy_header::ProxyHeader;
use crate::shared::clock::positive;
use crate::shared::policy::AddressPolicy;

/// The default [`header_timeout`](ProxyProtocol::header_timeout): 5 s.
/// A load balancer sends the header with its first packet; a client that
/// has sent nothing after 5 s is not behind one.
pub const DEFAULT_PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The default [`max_pending`](ProxyProtocol::max_pending): 1024 headers
/// being read at once.
pub const DEFAULT_MAX_PENDING_HEADERS: usize = 1024;

/// The start of a version 1 header.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 header, CRLF included.
const V1_MAX: usize = 107;
/// The fixed part of a version 2 header: signature, version and command,
/// family and protocol, length.
const V2_FIXED: usize = 16;
/// How much is looked at in one peek: a v2 header with Unix addresses
/// (16 + 216 bytes) and some TLVs. Longer headers are read in full anyway.
const PEEK: usize = 512;

/// The PROXY protocol for a server behind a load balancer, given to
/// [`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol):
/// every connection starts with a header (version 1, text, or version 2,
/// binary: both are understood) that says who the client is, and the
/// server hands on that address instead of the balancer's.
///
/// | HAProxy / load balancer | here |
/// |---|---|
/// | `send-proxy`, `send-proxy-v2`, AWS NLB "proxy protocol v2", GCP `proxyHeader: PROXY_V1` | [`ProxyProtocol::new`] |
/// | the balancers' addresses | [`trusted`](Self::trusted) (required) |
/// | `timeout client` for the header | [`header_timeout`](Self::header_timeout) (5 s) |
/// | `accept-proxy` on some clients only, during a migration | [`optional`](Self::optional) |
///
/// What happens to each connection:
///
/// * from a trusted peer with a valid header: handed on with the
///   header's source address as the peer, the header in
///   [`ConnectionInfo::proxy_header`]; a v2 `LOCAL` header (a balancer's
///   health check) or one without IP addresses (`UNKNOWN`, `UNSPEC`,
///   `UNIX`) keeps the socket's peer;
/// * an untrusted peer that sends a header, a malformed or truncated
///   header, a connection closed or silent past the timeout, and (unless
///   [`optional`](Self::optional)) a connection without a header: closed,
///   counted ([`Listener::proxy_header_failures`](crate::Listener::proxy_header_failures)),
///   logged, never handed on.
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
///     .serve(|_stream, peer| async move { println!("client {peer}") })
///     .await?;
/// server.wait_closed().await;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
#[derive(Clone, Debug)]
#[must_use = "a ProxyProtocol does nothing until given to ServerBuilder::proxy_protocol"]
pub struct ProxyProtocol {
    trusted: Vec<IpNet>,
    header_timeout: Result<Option<Duration>, String>,
    optional: bool,
    max_pending: Result<usize, String>,
    client_policy: Option<AddressPolicy>,
}

impl ProxyProtocol {
    /// The PROXY protocol, versions 1 and 2, trusting no one yet: add the
    /// balancers' networks with [`trusted`](Self::trusted).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = ProxyProtocol::new().trusted(["10.0.0.0/8".parse()?, "fd00::/8".parse()?]);
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    pub fn new() -> ProxyProtocol {
        ProxyProtocol {
            trusted: Vec::new(),
            header_timeout: Ok(Some(DEFAULT_PROXY_HEADER_TIMEOUT)),
            optional: false,
            max_pending: Ok(DEFAULT_MAX_PENDING_HEADERS),
            client_policy: None,
        }
    }

    /// Adds the networks whose peers may send a header (the load
    /// balancers' addresses, as the server's socket sees them). A header
    /// from any other peer closes the connection. Calls add up.
    ///
    /// These are the balancers' own addresses. The server's
    /// [`peer_policy`](crate::ServerBuilder::peer_policy) judges the same
    /// socket peer (the balancer), never the client a header names; the
    /// clients are judged by [`client_policy`](Self::client_policy).
    ///
    /// Required: a server whose `ProxyProtocol` trusts no network is
    /// refused by `bind` with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput).
    /// To trust every peer (only where nothing but the balancer can reach
    /// the port), pass `0.0.0.0/0` and `::/0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = ProxyProtocol::new().trusted(["10.0.0.0/8".parse()?]);
    /// assert!(proxy.is_trusted("10.1.2.3".parse().unwrap()));
    /// assert!(!proxy.is_trusted("192.0.2.1".parse().unwrap()));
    /// # Ok(()) }
    /// ```
    pub fn trusted(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted.extend(networks);
        self
    }

    /// Bounds the reading of the header, counted from the accept. When it
    /// passes, the connection is closed and counted as a failure. `None`
    /// means no bound (a client that connects and sends nothing then holds
    /// a descriptor until it leaves); zero is refused.
    ///
    /// With TLS, the handshake that follows has its own bound
    /// ([`tls_handshake_timeout`](crate::ServerBuilder::tls_handshake_timeout)),
    /// counted from the end of the header.
    ///
    /// Default is 5 s ([`DEFAULT_PROXY_HEADER_TIMEOUT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// let proxy = ProxyProtocol::new().header_timeout(Duration::from_secs(2));
    /// # drop(proxy);
    /// ```
    pub fn header_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_timeout = positive("header_timeout", timeout.into());
        self
    }

    /// Lets connections without a header through, keeping the socket's
    /// peer address: for a migration, while some clients come through the
    /// balancer and some directly. Whether a header is there is decided by
    /// its signature (`PROXY ` for v1, the 12-byte v2 signature), so the
    /// protocol must be one where the client speaks first (HTTP, TLS): a
    /// client that waits for the server to speak is closed at the
    /// [`header_timeout`](Self::header_timeout). A header from an
    /// untrusted peer still closes the connection.
    ///
    /// Default is `false`: every connection must start with a header.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = ProxyProtocol::new().trusted(["10.0.0.0/8".parse()?]).optional(true);
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    pub fn optional(mut self, on: bool) -> Self {
        self.optional = on;
        self
    }

    /// The most headers being read at once by a plain
    /// [`Listener`](crate::Listener). Past it, new connections wait in the
    /// kernel's accept queue. (With TLS, the header and the handshake are
    /// one task, bounded by
    /// [`max_tls_handshakes`](crate::ServerBuilder::max_tls_handshakes).)
    /// Zero is refused.
    ///
    /// Default is 1024 ([`DEFAULT_MAX_PENDING_HEADERS`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// let proxy = ProxyProtocol::new().max_pending(10_000);
    /// # drop(proxy);
    /// ```
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = if max == 0 {
            Err("max_pending must be at least 1".to_string())
        } else {
            Ok(max)
        };
        self
    }

    /// Accepts only the clients `policy` allows, judged by the client
    /// address a header names ([`ProxyHeader::source`]; an IPv4 client
    /// written as `::ffff:10.0.0.5` is judged as `10.0.0.5`). A connection
    /// whose header names a refused client is closed once its header is
    /// read, before a TLS handshake or a handler, counted with the peers
    /// the peer policy refused ([`Listener::denied_peers`](crate::Listener::denied_peers),
    /// [`Server::denied_peers`](crate::Server::denied_peers)) and logged
    /// at `DEBUG`.
    ///
    /// Behind a balancer the two policies judge two addresses: the
    /// server's [`peer_policy`](crate::ServerBuilder::peer_policy) judges
    /// the socket's peer, which is the balancer (and is judged before
    /// anything is read), this one the client the balancer speaks for. A
    /// connection without a client address in its header (a v2 `LOCAL`
    /// health check, `UNKNOWN`, `UNSPEC`, `UNIX`, or no header under
    /// [`optional`](Self::optional)) keeps the socket's peer as its peer,
    /// which only the peer policy judges.
    ///
    /// Default is no policy: every client a trusted balancer names is
    /// accepted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{AddressPolicy, ProxyProtocol, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerBuilder::any(8080)
    ///     // Only the balancers may connect ...
    ///     .peer_policy(AddressPolicy::allow_only(["10.0.0.0/24".parse()?]))
    ///     .proxy_protocol(
    ///         ProxyProtocol::new()
    ///             .trusted(["10.0.0.0/24".parse()?])
    ///             // ... and they may speak only for clients on the internet.
    ///             .client_policy(AddressPolicy::public_only()),
    ///     )
    ///     .serve(|_stream, client| async move { println!("{client}") })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub fn client_policy(mut self, policy: AddressPolicy) -> Self {
        self.client_policy = Some(policy);
        self
    }

    /// Whether a peer at `ip` may send a header.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ProxyProtocol;
    ///
    /// let proxy = ProxyProtocol::new();
    /// assert!(!proxy.is_trusted("127.0.0.1".parse().unwrap())); // no one yet
    /// ```
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted
            .iter()
            .any(|net| net.contains(&ip.to_canonical()))
    }

    /// The checked settings, or why not.
    pub(crate) fn settings(&self) -> Result<ProxySettings, String> {
        if self.trusted.is_empty() {
            return Err(
                "proxy_protocol trusts no peer: add the load balancers' networks with \
                 ProxyProtocol::trusted (0.0.0.0/0 and ::/0 trust every peer)"
                    .to_string(),
            );
        }
        Ok(ProxySettings {
            trusted: self.trusted.clone(),
            timeout: self.header_timeout.clone()?,
            optional: self.optional,
            max_pending: self.max_pending.clone()?,
            client_policy: self.client_policy.clone(),
            denied: Arc::default(),
        })
    }
}

impl Default for ProxyProtocol {
    /// [`ProxyProtocol::new`].
    fn default() -> ProxyProtocol {
        ProxyProtocol::new()
    }
}

/// Checked options, shared by the tasks that read headers.
#[derive(Debug)]
pub(crate) struct ProxySettings {
    trusted: Vec<IpNet>,
    timeout: Option<Duration>,
    optional: bool,
    pub(crate) max_pending: usize,
    client_policy: Option<AddressPolicy>,
    /// The listener's count of refused peers, which the clients the
    /// client policy refuses join.
    pub(crate) denied: Arc<AtomicU64>,
}

/// The failed headers of one server: a count, and which kinds were
/// already logged at `WARN`.
#[derive(Debug, Default)]
pub(crate) struct ProxyFailures {
    count: AtomicU64,
    warned: Mutex<Vec<&'static str>>,
}

impl ProxyFailures {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn failed(&self, peer: SocketAddr, failure: Failure) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.contains(&failure.kind) {
            tracing::debug!(%peer, "PROXY header: {}; connection closed", failure.message);
        } else {
            warned.push(failure.kind);
            tracing::warn!(
                %peer,
                "PROXY header: {}; connection closed (later failures of this kind are logged at DEBUG)",
                failure.message
            );
        }
    }
}

/// Why a connection was closed.
#[derive(Debug)]
pub(crate) struct Failure {
    kind: &'static str,
    message: String,
}

fn fail(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// What [`try_now`] could do without waiting.
pub(crate) enum Now {
    /// Done: the connection, or `None` when it failed (counted).
    Done(Option<(TcpStream, ConnectionInfo)>),
    /// The header is not all there yet: read it in a task, these bytes of
    /// it taken already.
    Later(TcpStream, Vec<u8>),
}

/// The common case without a task: the whole header is waiting on the
/// socket when it is accepted (a balancer sends it with the first
/// packet). One non-blocking peek and one read of exactly the header;
/// anything else is left to [`accept`], in a task.
pub(crate) fn try_now(
    stream: TcpStream,
    socket_peer: SocketAddr,
    local: SocketAddr,
    settings: &ProxySettings,
    failures: &ProxyFailures,
) -> Now {
    let trusted = settings
        .trusted
        .iter()
        .any(|net| net.contains(&socket_peer.ip().to_canonical()));
    if !trusted && !settings.optional {
        failures.failed(socket_peer, untrusted_at_once(socket_peer));
        return Now::Done(None);
    }
    let mut uninit = [std::mem::MaybeUninit::<u8>::uninit(); PEEK];
    let n = match socket2::SockRef::from(&stream).peek(&mut uninit) {
        Ok(n) if n > 0 => n,
        _ => return Now::Later(stream, Vec::new()),
    };
    // SAFETY: `peek` initialized the first `n` bytes (socket2's contract).
    let view: &[u8] = unsafe { std::slice::from_raw_parts(uninit.as_ptr().cast::<u8>(), n) };
    let total = match signature(view) {
        Signature::None if settings.optional => {
            return Now::Done(Some((stream, ConnectionInfo::direct(socket_peer, local))));
        }
        Signature::V2 if trusted && n >= V2_FIXED => {
            V2_FIXED + usize::from(u16::from_be_bytes([view[14], view[15]]))
        }
        Signature::V1 if trusted => {
            match view[..n.min(V1_MAX)].windows(2).position(|w| w == b"\r\n") {
                Some(end) => end + 2,
                None => return Now::Later(stream, Vec::new()),
            }
        }
        _ => return Now::Later(stream, Vec::new()),
    };
    if total > n {
        return Now::Later(stream, Vec::new());
    }
    let mut bytes = vec![0; total];
    // From the socket itself, not `stream.try_read`: on a stream just
    // accepted tokio has no readiness yet, and `try_read` would refuse
    // with `WouldBlock` although the bytes were just peeked (see the
    // module docs). The bytes are there, so this does not block.
    match io::Read::read(&mut &*socket2::SockRef::from(&stream), &mut bytes) {
        Ok(k) if k == total => {}
        Ok(k) => {
            bytes.truncate(k);
            return Now::Later(stream, bytes);
        }
        Err(_) => return Now::Later(stream, Vec::new()),
    }
    let parsed = if bytes.starts_with(V2_PREFIX) {
        parse_v2(bytes, socket_peer)
    } else {
        parse_v1(bytes, socket_peer)
    };
    match parsed {
        Ok(header) => {
            Now::Done(info(header, socket_peer, local, settings).map(|info| (stream, info)))
        }
        Err(failure) => {
            failures.failed(socket_peer, failure);
            Now::Done(None)
        }
    }
}

/// What is known of a connection whose header was read, or `None` when
/// the client policy refuses the client it names (counted with the
/// refused peers and logged).
fn info(
    header: ProxyHeader,
    socket_peer: SocketAddr,
    local: SocketAddr,
    settings: &ProxySettings,
) -> Option<ConnectionInfo> {
    let client = header.source();
    if let (Some(policy), Some(client)) = (&settings.client_policy, client) {
        if let Err(refused) = policy.check(client.ip()) {
            let count = settings.denied.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(
                %client,
                balancer = %socket_peer,
                %refused,
                denied_peers = count,
                "connection closed: the client its PROXY header names is refused by the client policy"
            );
            return None;
        }
    }
    let peer = client.unwrap_or(socket_peer);
    Some(ConnectionInfo::proxied(peer, socket_peer, local, header))
}

/// Reads the header of a connection just accepted (trust, timeout,
/// parsing), records a failure, and says who the client is. `taken`: the
/// header bytes taken from the stream already.
pub(crate) async fn accept(
    mut stream: TcpStream,
    socket_peer: SocketAddr,
    local: SocketAddr,
    taken: Vec<u8>,
    settings: &ProxySettings,
    failures: &ProxyFailures,
) -> Option<(TcpStream, ConnectionInfo)> {
    match read(&mut stream, socket_peer, taken, settings).await {
        Ok(header) => {
            let info = match header {
                None => ConnectionInfo::direct(socket_peer, local),
                Some(header) => info(header, socket_peer, local, settings)?,
            };
            Some((stream, info))
        }
        Err(failure) => {
            failures.failed(socket_peer, failure);
            None
        }
    }
}

fn untrusted_at_once(peer: SocketAddr) -> Failure {
    fail(
        "untrusted",
        format!(
            "{peer} is not among the trusted proxies (ProxyProtocol::trusted), and every \
             connection must start with a header only they may send"
        ),
    )
}

async fn read(
    stream: &mut TcpStream,
    peer: SocketAddr,
    taken: Vec<u8>,
    settings: &ProxySettings,
) -> Result<Option<ProxyHeader>, Failure> {
    let trusted = settings
        .trusted
        .iter()
        .any(|net| net.contains(&peer.ip().to_canonical()));
    if !trusted && !settings.optional {
        return Err(untrusted_at_once(peer));
    }
    let reading = read_header(stream, peer, taken, trusted, settings.optional);
    match settings.timeout {
        None => reading.await,
        Some(t) => match tokio::time::timeout(t, reading).await {
            Ok(result) => result,
            Err(_) => Err(fail(
                "timeout",
                format!(
                    "the peer at {peer} sent no complete header within {} (header_timeout)",
                    crate::shared::report::Dur(t)
                ),
            )),
        },
    }
}

/// What the first bytes say.
enum Signature {
    V1,
    V2,
    /// The bytes so far begin a signature: wait for more.
    Maybe,
    /// Not a header.
    None,
}

fn signature(bytes: &[u8]) -> Signature {
    if bytes.starts_with(V2_PREFIX) {
        Signature::V2
    } else if bytes.starts_with(V1_PREFIX) {
        Signature::V1
    } else if V2_PREFIX.starts_with(bytes) || V1_PREFIX.starts_with(bytes) {
        Signature::Maybe
    } else {
        Signature::None
    }
}

/// Reads exactly the header's bytes (see the module docs). `Ok(None)`: no
/// header, under `optional`, and nothing taken from the stream.
async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    // The header bytes taken so far.
    mut taken: Vec<u8>,
    trusted: bool,
    optional: bool,
) -> Result<Option<ProxyHeader>, Failure> {
    let mut buf = [0u8; PEEK];
    let mut nap = Duration::from_millis(1);
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|e| io_failure(&e, peer))?;
        if n == 0 {
            return Err(if taken.is_empty() {
                fail(
                    "closed",
                    format!("the peer at {peer} closed the connection before sending anything"),
                )
            } else {
                fail(
                    "truncated",
                    format!(
                        "the peer at {peer} closed the connection after {} bytes of a header \
                         (truncated)",
                        taken.len()
                    ),
                )
            });
        }
        let joined;
        let view: &[u8] = if taken.is_empty() {
            &buf[..n]
        } else {
            joined = [&taken[..], &buf[..n]].concat();
            &joined
        };
        match signature(view) {
            Signature::None => {
                return if optional && taken.is_empty() {
                    Ok(None)
                } else {
                    Err(fail(
                        "missing",
                        format!(
                            "the peer at {peer} sent no PROXY header (it began with {:?})",
                            Shown(&view[..view.len().min(16)])
                        ),
                    ))
                };
            }
            Signature::Maybe if optional => {
                // Not a header yet, maybe application bytes: nothing may be
                // taken, and a peek would return the same bytes at once. A
                // signature split over writes is rare; look again shortly.
                tokio::time::sleep(nap).await;
                nap = (nap * 2).min(Duration::from_millis(16));
            }
            Signature::Maybe => take(stream, &mut taken, n, peer).await?,
            Signature::V1 | Signature::V2 if !trusted => {
                return Err(fail(
                    "untrusted",
                    format!(
                        "{peer} sent a PROXY header but is not among the trusted proxies \
                         (ProxyProtocol::trusted)"
                    ),
                ));
            }
            Signature::V2 if view.len() < V2_FIXED => take(stream, &mut taken, n, peer).await?,
            Signature::V2 => {
                let length = usize::from(u16::from_be_bytes([view[14], view[15]]));
                let rest = V2_FIXED + length - taken.len();
                take(stream, &mut taken, rest, peer).await?;
                return parse_v2(taken, peer).map(Some);
            }
            Signature::V1 => {
                let limit = view.len().min(V1_MAX);
                if let Some(end) = view[..limit].windows(2).position(|w| w == b"\r\n") {
                    let rest = end + 2 - taken.len();
                    take(stream, &mut taken, rest, peer).await?;
                    return parse_v1(taken, peer).map(Some);
                }
                if view.len() >= V1_MAX {
                    return Err(fail(
                        "malformed",
                        format!(
                            "the peer at {peer} sent a v1 PROXY header with no CRLF within \
                             {V1_MAX} bytes"
                        ),
                    ));
                }
                // Every byte waiting belongs to the header: take them, and
                // the next peek waits for more.
                take(stream, &mut taken, n, peer).await?;
            }
        }
    }
}

/// Takes `n` more bytes of the header from the stream.
async fn take(
    stream: &mut TcpStream,
    taken: &mut Vec<u8>,
    n: usize,
    peer: SocketAddr,
) -> Result<(), Failure> {
    let start = taken.len();
    taken.resize(start + n, 0);
    match stream.read_exact(&mut taken[start..]).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(fail(
            "truncated",
            format!(
                "the peer at {peer} closed the connection in the middle of a header (truncated)"
            ),
        )),
        Err(e) => Err(io_failure(&e, peer)),
    }
}

fn io_failure(e: &io::Error, peer: SocketAddr) -> Failure {
    fail(
        "closed",
        format!(
            "reading the header of {peer}: {e}",
            e = crate::shared::report::Brief(e)
        ),
    )
}

fn malformed(peer: SocketAddr, error: impl fmt::Display) -> Failure {
    fail(
        "malformed",
        format!("the peer at {peer} sent a malformed PROXY header: {error}"),
    )
}

fn parse_v1(bytes: Vec<u8>, peer: SocketAddr) -> Result<ProxyHeader, Failure> {
    ProxyHeader::parse_v1(bytes).map_err(|e| malformed(peer, e))
}

fn parse_v2(bytes: Vec<u8>, peer: SocketAddr) -> Result<ProxyHeader, Failure> {
    ProxyHeader::parse_v2(bytes).map_err(|e| malformed(peer, e))
}

/// Bytes for a log line: printable ASCII as is, the rest escaped.
struct Shown<'a>(&'a [u8]);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(
            &self
                .0
                .iter()
                .flat_map(|b| std::ascii::escape_default(*b))
                .collect::<Vec<u8>>(),
        ))
    }
}

/// The state a [`Listener`](crate::Listener) keeps for the PROXY protocol:
/// the settings, the reads in flight, the failures.
pub(crate) struct Proxy {
    pub(crate) settings: Arc<ProxySettings>,
    pub(crate) failures: Arc<ProxyFailures>,
    pub(crate) pending: tokio::task::JoinSet<Option<(TcpStream, ConnectionInfo)>>,
}

impl Proxy {
    pub(crate) fn new(settings: ProxySettings) -> Proxy {
        Proxy {
            settings: Arc::new(settings),
            failures: Arc::default(),
            pending: tokio::task::JoinSet::new(),
        }
    }

    /// Reads the header of a connection just accepted: at once when it
    /// is all there, else in a task. The connection, when it is ready now.
    pub(crate) fn start(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<(TcpStream, ConnectionInfo)> {
        match try_now(stream, peer, local, &self.settings, &self.failures) {
            Now::Done(done) => done,
            Now::Later(stream, taken) => {
                let settings = self.settings.clone();
                let failures = self.failures.clone();
                self.pending.spawn(async move {
                    accept(stream, peer, local, taken, &settings, &failures).await
                });
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header already waiting when the connection is accepted is read
    /// at once, and no task is spawned, whatever readiness tokio has for
    /// the stream: `from_std` registers it with none, as `accept` did
    /// before tokio 1.54 (which starts accepted streams as readable), so
    /// `try_read` would refuse here with `WouldBlock`.
    #[tokio::test]
    async fn a_waiting_header_is_read_without_a_task() {
        use std::io::Write;
        use tokio::io::AsyncReadExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let cases: [(&[u8], &str); 2] = [
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhello",
                "192.0.2.1:56324",
            ),
            (
                b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\nhello",
                "[2001:db8::1]:4000",
            ),
        ];
        for (bytes, client) in cases {
            let mut c = std::net::TcpStream::connect(local).unwrap();
            c.write_all(bytes).unwrap();
            let (accepted, peer) = listener.accept().unwrap();
            // Wait (blocking) until every byte is in the socket's queue.
            let mut buf = [0; 128];
            while accepted.peek(&mut buf).unwrap() < bytes.len() {}
            accepted.set_nonblocking(true).unwrap();
            let stream = TcpStream::from_std(accepted).unwrap();
            let settings = ProxyProtocol::new()
                .trusted(["127.0.0.0/8".parse().unwrap()])
                .settings()
                .unwrap();
            let mut proxy = Proxy::new(settings);
            let ready = proxy.start(stream, peer, local);
            assert!(proxy.pending.is_empty(), "a task was spawned for {client}");
            let (mut stream, info) = ready.expect("the connection, at once");
            assert_eq!(info.peer(), client.parse().unwrap());
            assert_eq!(info.socket_peer(), peer);
            let mut hello = [0; 5];
            stream.read_exact(&mut hello).await.unwrap();
            assert_eq!(&hello, b"hello");
            assert_eq!(proxy.failures.count(), 0);
        }
    }

    #[test]
    fn signatures() {
        assert!(matches!(signature(b"PROXY TCP4"), Signature::V1));
        assert!(matches!(signature(b"PRO"), Signature::Maybe));
        assert!(matches!(signature(b"PROPFIND"), Signature::None));
        assert!(matches!(signature(b"\r\n\r\n"), Signature::Maybe));
        assert!(matches!(signature(V2_PREFIX), Signature::V2));
        assert!(matches!(signature(b"GET / HTTP/1.1"), Signature::None));
    }
}
