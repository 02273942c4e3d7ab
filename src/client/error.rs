//! [`ConnectError`]: what a connect call tried, and how each try ended.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::resolve::{ResolveError, ResolveErrorKind};
use crate::shared::policy::DeniedAddress;
use crate::shared::report::{self, Brief, Dur};

/// One connection attempt that did not win: its address, when it started,
/// how long it ran, and how it ended.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() {
/// if let Err(e) = ConnectionBuilder::new("localhost:9").connect().await {
///     for attempt in e.attempts() {
///         println!(
///             "{} started at +{:?}, failed after {:?}: {}",
///             attempt.addr(),
///             attempt.started(),
///             attempt.elapsed(),
///             attempt.error()
///         );
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Attempt {
    pub(crate) addr: SocketAddr,
    pub(crate) started: Duration,
    pub(crate) elapsed: Duration,
    pub(crate) error: io::Error,
    pub(crate) stage: AttemptStage,
}

/// `[::1]:443 (TCP, at +0.05 ms, after 0.27 ms): connection refused (os
/// error 111)`: the address, the stage, when the attempt started (counted
/// from the start of the call) and how long it ran, and its error.
impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

/// The stage of a connection an [`Attempt`] failed in.
///
/// A plain [`connect`](crate::ConnectionBuilder::connect) only has the TCP
/// stage; with [`connect_tls`](crate::ConnectionBuilder::connect_tls) an
/// attempt whose TCP handshake succeeded can still fail in its TLS
/// handshake.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{AttemptStage, ConnectionBuilder};
///
/// # #[tokio::main] async fn main() {
/// if let Err(e) = ConnectionBuilder::new("localhost:443").connect_tls().await {
///     let tls_failures = e.attempts().iter().filter(|a| a.stage() == AttemptStage::Tls).count();
///     eprintln!("{tls_failures} addresses took TCP but failed TLS");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptStage {
    /// Creating the socket, binding it, or the TCP handshake.
    Tcp,
    /// The TLS handshake on a connected TCP stream.
    Tls,
    /// The exchange with a proxy on a connected stream (HTTP `CONNECT`,
    /// SOCKS5), with [`Proxy`](crate::Proxy): its address is the proxy's.
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    Proxy,
    /// A QUIC attempt (its UDP path and its handshake, TLS inside), with
    /// [`quic`](crate::ConnectionBuilder::quic) or
    /// [`quic_only`](crate::ConnectionBuilder::quic_only).
    #[cfg(feature = "quic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
    Quic,
}

impl fmt::Display for AttemptStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttemptStage::Tcp => "TCP",
            AttemptStage::Tls => "TLS",
            #[cfg(feature = "proxy")]
            AttemptStage::Proxy => "proxy",
            #[cfg(feature = "quic")]
            AttemptStage::Quic => "QUIC",
        })
    }
}

impl Attempt {
    /// One attempt in a few words: `[::1]:443 (TCP, at +0.05 ms, after
    /// 0.27 ms): connection refused`; `full` adds the OS error code.
    fn write(&self, f: &mut fmt::Formatter<'_>, full: bool) -> fmt::Result {
        write!(
            f,
            "{} ({}, at +{}, after {}): ",
            self.addr,
            self.stage,
            Dur(self.started),
            Dur(self.elapsed)
        )?;
        if full {
            f.write_str(&report::full(&self.error))
        } else {
            write!(f, "{}", Brief(&self.error))
        }
    }

    /// The address this attempt connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the attempt started, counted from the start of the call.
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long the attempt ran before it failed.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How the attempt failed.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The stage the attempt failed in: TCP (socket, bind, connect) or TLS
    /// (the handshake on a connected stream).
    pub fn stage(&self) -> AttemptStage {
        self.stage
    }
}

/// What kind of failure a [`ConnectError`] is.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder};
///
/// # #[tokio::main] async fn main() {
/// match ConnectionBuilder::new("localhost:9").connect().await {
///     Ok(_) => println!("connected"),
///     Err(e) if e.kind() == ConnectErrorKind::InvalidInput => println!("bad input: {e}"),
///     Err(e) => println!("failed: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// The target, an option or a combination of options was refused before
    /// anything was sent.
    InvalidInput,
    /// The host name could not be resolved to any address.
    Resolve,
    /// Resolution gave addresses, but none fits the requested
    /// [`Family`](crate::Family) or the given local addresses.
    NoUsableAddress,
    /// Every address was tried and every attempt failed.
    AllAttemptsFailed,
    /// The whole call ran past its
    /// [`connect_timeout`](crate::ConnectionBuilder::connect_timeout).
    TimedOut,
    /// The TCP connection was made but the TLS handshake on it failed: the
    /// certificate was not trusted (unknown issuer, expired, not valid for
    /// the server name), the peer sent an alert or broke the connection.
    /// [`peer_addr`](ConnectError::peer_addr) names the address,
    /// [`tls_error`](ConnectError::tls_error) the TLS reason. Only
    /// [`connect_tls`](crate::ConnectionBuilder::connect_tls) returns it.
    Tls,
    /// The TCP connection was made but the TLS handshake did not finish
    /// within the
    /// [`tls_handshake_timeout`](crate::ConnectionBuilder::tls_handshake_timeout).
    /// Only [`connect_tls`](crate::ConnectionBuilder::connect_tls) returns it.
    TlsHandshakeTimeout,
    /// An option this platform does not have was asked for
    /// ([`tcp_user_timeout`](crate::ConnectionBuilder::tcp_user_timeout)
    /// where there is no `TCP_USER_TIMEOUT`,
    /// [`interface`](crate::ConnectionBuilder::interface) where a socket
    /// cannot be bound to one), refused before anything was sent rather
    /// than silently left out.
    Unsupported,
    /// The [`address_policy`](crate::ConnectionBuilder::address_policy)
    /// refused every address of the target; nothing was sent.
    /// [`denied`](ConnectError::denied) lists each address and why.
    /// Converts to `io::ErrorKind::PermissionDenied`.
    Denied,
    /// The connection to the [`Proxy`](crate::Proxy) was made, but the
    /// proxy did not open the tunnel: a `CONNECT` answered with a status
    /// other than 2xx (`407`: it wants credentials), a SOCKS5 reply code
    /// other than success, refused credentials, a malformed answer, or no
    /// answer within the proxy's handshake timeout.
    /// [`attempts`](ConnectError::attempts) has the exchange as an attempt
    /// of stage [`AttemptStage::Proxy`]; [`proxy_status`](ConnectError::proxy_status)
    /// gives the status or reply code.
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    Proxy,
}

/// The error of a connect call: it names the target and keeps every attempt.
///
/// `Display` is one line that names the target and what failed; the details
/// are behind [`kind`](Self::kind), [`attempts`](Self::attempts) and
/// [`resolve_errors`](Self::resolve_errors). The line already quotes those
/// errors, so [`source`](StdError::source) does not return them again
/// (`anyhow`'s `{:#}` prints each fact once); it gives the rustls error of
/// a TLS failure, whose message says it in plain words.
/// `{:?}` (what `fn main() -> std::io::Result<()>` prints) is a report: that
/// line, then each attempt on a line of its own (address, stage, start,
/// duration, error), then the resolver's errors; `{:#?}` is the structured
/// form.
///
/// # Conversion to `io::Error`
///
/// `io::Error::from(ConnectError)` (and so `?` in a function returning
/// `io::Result`) keeps the `ConnectError` as the payload, so
/// `io_error.get_ref().and_then(|e| e.downcast_ref::<ConnectError>())` gives
/// every attempt back. Its [`io::ErrorKind`] is:
///
/// * `InvalidInput` for [`ConnectErrorKind::InvalidInput`] and
///   [`ConnectErrorKind::NoUsableAddress`],
/// * `Unsupported` for [`ConnectErrorKind::Unsupported`],
/// * `TimedOut` for [`ConnectErrorKind::TimedOut`] and
///   [`ConnectErrorKind::TlsHandshakeTimeout`],
/// * for [`ConnectErrorKind::Tls`], the kind of the handshake's error
///   (`InvalidData` for a certificate or protocol error, `UnexpectedEof` or
///   `ConnectionReset` when the peer went away),
/// * for [`ConnectErrorKind::AllAttemptsFailed`], the kind the attempts
///   share (all refused: `ConnectionRefused`), or `Other` when they differ,
/// * for [`ConnectErrorKind::Resolve`], the resolver's kind (`NotFound` for
///   a name that does not exist),
/// * `PermissionDenied` for [`ConnectErrorKind::Denied`].
///
/// [`ConnectionBuilder::all_errors`](crate::ConnectionBuilder::all_errors)
/// picks how the message reads: by default, like asyncio, one error (the
/// attempts' common error, or the first attempt's when they differ) and the
/// number of attempts; with `all_errors(true)`, every attempt with its
/// address and timing.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let err = ConnectionBuilder::new("localhost:9").connect().await.unwrap_err();
/// eprintln!("{err}"); // e.g. "connect to localhost:9: connection refused (2 attempts)"
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
/// # Ok(()) }
/// ```
pub struct ConnectError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ConnectErrorKind,
    target: String,
    message: Option<String>,
    attempts: Vec<Attempt>,
    resolve_errors: Vec<ResolveError>,
    all_errors: bool,
    /// The address of the connection a TLS handshake ran on.
    peer: Option<SocketAddr>,
    /// Why the TLS handshake failed.
    source: Option<io::Error>,
    /// What the history of earlier connections made of the order.
    history: Option<String>,
    /// The addresses the address policy refused.
    denied: Vec<DeniedAddress>,
    /// The proxy the call went through, and the hop that failed.
    #[cfg(feature = "proxy")]
    proxy: Option<Box<ProxyNote>>,
}

impl ConnectError {
    /// What the history of earlier connections made of the order, for the
    /// report.
    pub(crate) fn with_history(mut self, history: Option<String>) -> Self {
        self.inner.history = history;
        self
    }

    /// Adds `note` to what the history made of the call.
    #[cfg(feature = "quic")]
    pub(crate) fn with_history_note(mut self, note: &str) -> Self {
        self.inner.history = Some(match self.inner.history.take() {
            Some(history) => format!("{history}; {note}"),
            None => note.to_string(),
        });
        self
    }

    pub(crate) fn new(kind: ConnectErrorKind, target: impl Into<String>) -> Self {
        ConnectError {
            inner: Box::new(Inner {
                kind,
                target: target.into(),
                message: None,
                attempts: Vec::new(),
                resolve_errors: Vec::new(),
                all_errors: false,
                peer: None,
                source: None,
                history: None,
                denied: Vec::new(),
                #[cfg(feature = "proxy")]
                proxy: None,
            }),
        }
    }

    pub(crate) fn invalid(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ConnectErrorKind::InvalidInput, target).with_message(message)
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// The attempts, taken out (the QUIC race merges them with its own).
    #[cfg(feature = "quic")]
    pub(crate) fn take_attempts(&mut self) -> Vec<Attempt> {
        std::mem::take(&mut self.inner.attempts)
    }

    /// The resolver's errors, taken out.
    #[cfg(feature = "quic")]
    pub(crate) fn take_resolve_errors(&mut self) -> Vec<ResolveError> {
        std::mem::take(&mut self.inner.resolve_errors)
    }

    pub(crate) fn with_resolve_errors(mut self, errors: Vec<ResolveError>) -> Self {
        self.inner.resolve_errors = errors;
        self
    }

    pub(crate) fn with_denied(mut self, denied: Vec<DeniedAddress>) -> Self {
        self.inner.denied = denied;
        self
    }

    pub(crate) fn with_all_errors(mut self, all_errors: bool) -> Self {
        self.inner.all_errors = all_errors;
        self
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn with_peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.inner.peer = peer;
        self
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn with_source(mut self, source: io::Error) -> Self {
        self.inner.source = Some(source);
        self
    }

    /// A race whose every attempt failed in its TLS handshake reads as a
    /// failed handshake ([`ConnectErrorKind::Tls`] or
    /// [`ConnectErrorKind::TlsHandshakeTimeout`]), naming the first attempt's
    /// address and reason, as it did when one handshake ran on the winner of
    /// a TCP race. Mixed failures stay `AllAttemptsFailed`.
    pub(crate) fn tls_when_every_attempt_failed_in_tls(mut self) -> Self {
        let attempts = &self.inner.attempts;
        if self.inner.kind != ConnectErrorKind::AllAttemptsFailed
            || attempts.is_empty()
            || attempts.iter().any(|a| a.stage != AttemptStage::Tls)
        {
            return self;
        }
        let first = &attempts[0];
        self.inner.peer = Some(first.addr);
        let timeout = |a: &Attempt| {
            a.error
                .get_ref()
                .and_then(|e| e.downcast_ref::<HandshakeTimedOut>())
                .map(|t| t.0)
        };
        if attempts.iter().all(|a| timeout(a).is_some()) {
            let t = timeout(first).unwrap_or_default();
            self.inner.kind = ConnectErrorKind::TlsHandshakeTimeout;
            self.inner.message = Some(format!("timed out after {}", Dur(t)));
        } else {
            let source = duplicate(&first.error);
            self.inner.kind = ConnectErrorKind::Tls;
            self.inner.source = Some(source);
        }
        self
    }

    /// The address of the connection the TLS handshake ran on, for a
    /// [`ConnectErrorKind::Tls`] or [`ConnectErrorKind::TlsHandshakeTimeout`]
    /// failure (`None` for other kinds).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// if let Err(e) = ConnectionBuilder::new("localhost:443").connect_tls().await {
    ///     if let Some(addr) = e.peer_addr() {
    ///         eprintln!("TLS with {addr} failed: {e}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// The rustls error that failed the TLS handshake, for a
    /// [`ConnectErrorKind::Tls`] failure (and, when attempts failed in
    /// different stages, the first TLS attempt's): for instance
    /// `rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)`.
    /// `None` when the handshake failed for an I/O reason (the peer closed
    /// or reset the connection), which [`attempts`](Self::attempts) give.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::rustls::{CertificateError, Error};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ConnectionBuilder::new("localhost:443").connect_tls().await.unwrap_err();
    /// if let Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) = err.tls_error() {
    ///     eprintln!("the server's certificate is not signed by a trusted CA");
    /// }
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        use crate::shared::tls_words::rustls_error as rustls;
        match &self.inner.source {
            Some(source) => rustls(source),
            None => self
                .inner
                .attempts
                .iter()
                .filter(|a| a.stage == AttemptStage::Tls)
                .find_map(|a| rustls(&a.error)),
        }
    }

    /// Marks the error as one of a call through `note`'s proxy, for the
    /// origin `target`.
    #[cfg(feature = "proxy")]
    pub(crate) fn through_proxy(mut self, target: String, note: ProxyNote) -> Self {
        self.inner.target = target;
        if note.stage == ProxyStage::OriginTls {
            self.inner.peer = None;
        }
        self.inner.proxy = Some(Box::new(note));
        self
    }

    /// Which hop of a connection through a [`Proxy`](crate::Proxy) failed:
    /// the connection to the proxy, the tunnel exchange, or TLS with the
    /// origin inside the tunnel. `None` for a call without a proxy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Proxy, ProxyStage};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let err = ConnectionBuilder::new("example.com:443")
    ///     .proxy(Proxy::http("http://127.0.0.1:3128")?)
    ///     .connect_tls()
    ///     .await
    ///     .unwrap_err();
    /// if err.proxy_stage() == Some(ProxyStage::Tunnel) {
    ///     eprintln!("the proxy refused: {err} (status {:?})", err.proxy_status());
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy_stage(&self) -> Option<ProxyStage> {
        self.inner.proxy.as_ref().map(|note| note.stage)
    }

    /// The proxy's answer, for a [`ConnectErrorKind::Proxy`] failure: the
    /// HTTP status of its `CONNECT` response (`407`, `502`, ...) or the
    /// SOCKS5 reply code (`5`: connection refused; for refused SOCKS5
    /// credentials, the status of the username/password exchange).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Proxy};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = Proxy::http("http://127.0.0.1:3128")?;
    /// match ConnectionBuilder::new("example.com:443").proxy(proxy).connect().await {
    ///     Err(e) if e.proxy_status() == Some(407) => eprintln!("the proxy wants credentials"),
    ///     other => drop(other?),
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy_status(&self) -> Option<u16> {
        self.inner.proxy.as_ref().and_then(|note| note.status)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ConnectErrorKind {
        self.inner.kind
    }

    /// The target as the caller named it (`"example.com:443"`, or the list of
    /// addresses).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Every connection attempt that was made, in the order they started.
    /// Empty when the call failed before connecting (bad input, resolution).
    pub fn attempts(&self) -> &[Attempt] {
        &self.inner.attempts
    }

    /// The resolver's errors, for a [`ConnectErrorKind::Resolve`] failure, or
    /// where one address family failed to resolve and the other's attempts
    /// failed too.
    pub fn resolve_errors(&self) -> &[ResolveError] {
        &self.inner.resolve_errors
    }

    /// The addresses the [`address_policy`](crate::ConnectionBuilder::address_policy)
    /// refused, each with why, in the order they came: every address of a
    /// [`ConnectErrorKind::Denied`] failure, and for other kinds those left
    /// out of the race beside the attempts that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, ConnectionBuilder};
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ConnectionBuilder::new("[::ffff:10.0.0.5]:80")
    ///     .address_policy(AddressPolicy::public_only())
    ///     .connect()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.denied()[0].reason(), "IPv4-mapped 10.0.0.5, private");
    /// # }
    /// ```
    pub fn denied(&self) -> &[DeniedAddress] {
        &self.inner.denied
    }

    /// Whether the error reads as every attempt (see
    /// [`ConnectionBuilder::all_errors`](crate::ConnectionBuilder::all_errors)).
    pub fn is_all_errors(&self) -> bool {
        self.inner.all_errors
    }

    /// The [`io::ErrorKind`] this error converts to (see the type's docs).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self.inner.kind {
            ConnectErrorKind::InvalidInput | ConnectErrorKind::NoUsableAddress => {
                io::ErrorKind::InvalidInput
            }
            ConnectErrorKind::TimedOut | ConnectErrorKind::TlsHandshakeTimeout => {
                io::ErrorKind::TimedOut
            }
            ConnectErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ConnectErrorKind::Tls => self
                .inner
                .source
                .as_ref()
                .map_or(io::ErrorKind::Other, io::Error::kind),
            ConnectErrorKind::Resolve => {
                crate::resolve::resolve_io_kind(&self.inner.resolve_errors)
            }
            ConnectErrorKind::AllAttemptsFailed => self
                .common_kind()
                .or_else(|| self.inner.source.as_ref().map(io::Error::kind))
                .unwrap_or(io::ErrorKind::Other),
            ConnectErrorKind::Denied => io::ErrorKind::PermissionDenied,
            #[cfg(feature = "proxy")]
            ConnectErrorKind::Proxy => self.common_kind().unwrap_or(io::ErrorKind::Other),
        }
    }

    fn common_kind(&self) -> Option<io::ErrorKind> {
        report::common_kind(self.inner.attempts.iter().map(|a| a.error.kind()))
    }

    /// The resolver's failures beside attempts that were made (an AAAA
    /// query that timed out while A answered, say): they may be why the
    /// address that would have worked was never tried, so the one line
    /// names them. A query with no records is left to the report: an
    /// IPv4-only host has no AAAA records, and that is no news.
    fn write_resolve_errors(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<&ResolveError> = self
            .inner
            .resolve_errors
            .iter()
            .filter(|e| e.kind() != ResolveErrorKind::NoRecords)
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        f.write_str("; and the resolver: ")?;
        ResolveError::write_reasons(f, &errors)
    }

    fn write_attempts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = &self.inner.attempts;
        if attempts.is_empty() {
            return f.write_str("no connection attempt was made");
        }
        let plural = if attempts.len() == 1 { "" } else { "s" };
        if self.inner.all_errors {
            write!(f, "{} attempt{plural} failed: ", attempts.len())?;
            for (i, a) in attempts.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                a.write(f, false)?;
            }
            Ok(())
        } else if self.common_kind().is_some()
            && attempts
                .iter()
                .all(|a| a.error.to_string() == attempts[0].error.to_string())
        {
            write!(
                f,
                "{} ({} attempt{plural})",
                Brief(&attempts[0].error),
                attempts.len()
            )
        } else {
            write!(
                f,
                "{}: {} (and {} more attempt{}, differing)",
                attempts[0].addr,
                Brief(&attempts[0].error),
                attempts.len() - 1,
                if attempts.len() == 2 { "" } else { "s" }
            )
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connect to {}", self.inner.target)?;
        #[cfg(feature = "proxy")]
        if let Some(note) = &self.inner.proxy {
            write!(f, " {note}")?;
        }
        f.write_str(": ")?;
        match self.inner.kind {
            ConnectErrorKind::InvalidInput
            | ConnectErrorKind::NoUsableAddress
            | ConnectErrorKind::Unsupported => {
                f.write_str(self.inner.message.as_deref().unwrap_or("invalid input"))
            }
            #[cfg(feature = "proxy")]
            ConnectErrorKind::Proxy => {
                f.write_str(self.inner.message.as_deref().unwrap_or("the proxy refused"))
            }
            ConnectErrorKind::Resolve => crate::resolve::write_resolve_failure(
                f,
                &self.inner.resolve_errors,
                self.inner.message.as_deref(),
            ),
            ConnectErrorKind::TimedOut => {
                f.write_str(self.inner.message.as_deref().unwrap_or("timed out"))?;
                if !self.inner.attempts.is_empty() {
                    f.write_str("; ")?;
                    self.write_attempts(f)?;
                }
                self.write_resolve_errors(f)
            }
            // A connection with no address to attempt (a Unix socket):
            // its one failure, in words that name the path.
            ConnectErrorKind::AllAttemptsFailed
                if self.inner.attempts.is_empty() && self.inner.message.is_some() =>
            {
                f.write_str(self.inner.message.as_deref().unwrap_or_default())
            }
            ConnectErrorKind::AllAttemptsFailed => {
                self.write_attempts(f)?;
                self.write_resolve_errors(f)?;
                if !self.inner.denied.is_empty() {
                    f.write_str("; and ")?;
                    DeniedAddress::write_list(f, &self.inner.denied)?;
                }
                Ok(())
            }
            // Refused before any address was known (a name a proxy would
            // resolve): the message says why.
            ConnectErrorKind::Denied
                if self.inner.denied.is_empty() && self.inner.message.is_some() =>
            {
                f.write_str(self.inner.message.as_deref().unwrap_or_default())
            }
            ConnectErrorKind::Denied => DeniedAddress::write_list(f, &self.inner.denied),
            ConnectErrorKind::Tls | ConnectErrorKind::TlsHandshakeTimeout => {
                f.write_str("TLS handshake")?;
                if let Some(peer) = self.inner.peer {
                    write!(f, " with {peer}")?;
                }
                match (&self.inner.message, &self.inner.source) {
                    (Some(m), _) => write!(f, " {m}"),
                    (None, Some(e)) => write!(f, " failed: {}", Brief(e)),
                    (None, None) => f.write_str(" failed"),
                }
            }
        }
    }
}

/// `{:?}` is what `fn main() -> std::io::Result<()>` prints after
/// `Error: `, so it reads as a report: the one-line message, then each
/// attempt on its own line (address, stage, start, duration, error), then
/// the resolver's errors. `{:#?}` is the structured form, every field.
///
/// ```text
/// connect to localhost:9: connection refused (2 attempts)
///   attempts:
///     [::1]:9 (TCP, at +0.04 ms, after 0.11 ms): connection refused (os error 111)
///     127.0.0.1:9 (TCP, at +0.17 ms, after 0.05 ms): connection refused (os error 111)
/// ```
impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            let mut d = f.debug_struct("ConnectError");
            d.field("kind", &self.inner.kind)
                .field("target", &self.inner.target)
                .field("message", &self.inner.message)
                .field("attempts", &self.inner.attempts)
                .field("resolve_errors", &self.inner.resolve_errors)
                .field("peer", &self.inner.peer)
                .field("source", &self.inner.source)
                .field("denied", &self.inner.denied);
            #[cfg(feature = "proxy")]
            d.field("proxy", &self.inner.proxy);
            return d.finish();
        }
        report::debug_report(f, self, &self.inner.attempts, &self.inner.resolve_errors)?;
        if let Some(history) = &self.inner.history {
            write!(f, "\n  history: {history}")?;
        }
        Ok(())
    }
}

impl StdError for ConnectError {
    /// The rustls error of a TLS failure whose message says it in plain
    /// words (the words replaced rustls's text); `None` otherwise, since
    /// the message already quotes every attempt's error and the resolver's
    /// (each fact said once; see `shared/report.rs`). The errors themselves
    /// are behind [`attempts`](Self::attempts),
    /// [`resolve_errors`](Self::resolve_errors) and `tls_error`.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        #[cfg(feature = "tls")]
        if self.inner.kind == ConnectErrorKind::Tls && self.inner.message.is_none() {
            return self
                .inner
                .source
                .as_ref()
                .and_then(crate::shared::tls_words::replaced_rustls_error)
                .map(|e| e as &(dyn StdError + 'static));
        }
        None
    }
}

/// Which hop of a connection through a [`Proxy`](crate::Proxy) failed
/// ([`ConnectError::proxy_stage`]).
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ConnectionBuilder, Proxy, ProxyStage};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let proxy = Proxy::socks5h("socks5h://127.0.0.1:1080")?;
/// match ConnectionBuilder::new("example.com:443").proxy(proxy).connect_tls().await {
///     Ok(_) => {}
///     Err(e) if e.proxy_stage() == Some(ProxyStage::Connect) => eprintln!("no proxy: {e}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok(()) }
/// ```
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyStage {
    /// Reaching the proxy: resolving its name and racing its addresses
    /// (the error's [`attempts`](ConnectError::attempts) are the proxy's).
    Connect,
    /// The exchange that opens the tunnel: the `CONNECT` request and its
    /// answer, or the SOCKS5 greeting, authentication and request
    /// ([`ConnectErrorKind::Proxy`]).
    Tunnel,
    /// The TLS handshake with the proxy itself, for
    /// [`Proxy::https`](crate::Proxy::https): its certificate verified for
    /// the proxy's name ([`ConnectErrorKind::Tls`] or
    /// [`ConnectErrorKind::TlsHandshakeTimeout`]; the attempts are the
    /// proxy's). Nothing is ever sent to the proxy in plaintext.
    ProxyTls,
    /// The TLS handshake with the origin, inside the tunnel
    /// ([`ConnectErrorKind::Tls`] or
    /// [`ConnectErrorKind::TlsHandshakeTimeout`]).
    OriginTls,
}

/// What a [`ConnectError`] says about the proxy: its URL, the hop that
/// failed, and the proxy's answer.
#[cfg(feature = "proxy")]
#[derive(Debug, Clone)]
pub(crate) struct ProxyNote {
    pub(crate) url: String,
    pub(crate) stage: ProxyStage,
    pub(crate) status: Option<u16>,
}

#[cfg(feature = "proxy")]
impl ProxyNote {
    /// The same proxy, for a failure at `stage`.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn at(mut self, stage: ProxyStage) -> ProxyNote {
        self.stage = stage;
        self.status = None;
        self
    }
}

#[cfg(feature = "proxy")]
impl fmt::Display for ProxyNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "through proxy {}", self.url)?;
        f.write_str(match self.stage {
            ProxyStage::Connect => " (connecting to the proxy)",
            ProxyStage::Tunnel => "",
            ProxyStage::ProxyTls => " (TLS with the proxy)",
            ProxyStage::OriginTls => " (TLS with the origin, inside the tunnel)",
        })
    }
}

/// The error of an attempt whose TLS handshake ran past the
/// `tls_handshake_timeout` (the payload of its `io::Error`).
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct HandshakeTimedOut(pub(crate) Duration);

impl fmt::Display for HandshakeTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS handshake timed out after {}", Dur(self.0))
    }
}

impl StdError for HandshakeTimedOut {}

/// A copy of an attempt's error for [`ConnectError`]'s `source`, keeping
/// what callers look for: the kind, the OS error code, and a rustls error
/// as the payload (`io::Error` is not `Clone`).
fn duplicate(e: &io::Error) -> io::Error {
    #[cfg(feature = "tls")]
    if let Some(copy) = crate::shared::tls_words::duplicate_explained(e) {
        return copy;
    }
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}
