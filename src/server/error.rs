//! [`ServerError`]: what a server builder tried, and how it failed.
//!
//! A separate type from [`DatagramError`](crate::DatagramError) and
//! [`ConnectError`](crate::ConnectError), in the same style: a kind, the
//! endpoint as the caller named it, and one [`ListenAttempt`] per address a
//! listening socket was opened for.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::resolve::ResolveError;
use crate::shared::report;

/// What kind of failure a [`ServerError`] is.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ServerBuilder, ServerErrorKind};
///
/// # #[tokio::main] async fn main() {
/// let err = ServerBuilder::new("no port here").bind().await.unwrap_err();
/// assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// An address, an option or a combination of them was refused before a
    /// socket was opened: a malformed host, a TLS option without a
    /// `tls_config`, options given with an adopted listener, an adopted
    /// socket that is not listening.
    InvalidInput,
    /// An option the platform does not have, such as `SO_REUSEPORT` on
    /// Windows.
    Unsupported,
    /// A host name could not be resolved to any address.
    Resolve,
    /// Resolution gave addresses, but none of the requested
    /// [`Family`](crate::Family).
    NoUsableAddress,
    /// No listening socket could be made: every address failed, or one
    /// failed for a reason other than the address or family being
    /// unavailable (a busy port is one of these:
    /// `io::ErrorKind::AddrInUse`). Every socket opened was closed.
    BindFailed,
}

/// One address a listening socket was opened for and failed, and why; or
/// one that was skipped because the address or its family is not available
/// on this host (`EADDRNOTAVAIL`, `EAFNOSUPPORT`) while others were bound.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let first = ServerBuilder::new("127.0.0.1:0").bind().await?;
/// let busy = first.local_addrs()[0];
/// let err = ServerBuilder::new(busy).bind().await.unwrap_err();
/// let attempt = &err.attempts()[0];
/// assert_eq!(attempt.addr(), Some(busy));
/// assert_eq!(attempt.error().kind(), std::io::ErrorKind::AddrInUse);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ListenAttempt {
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) error: io::Error,
}

/// The attempt's error, which names the step and the address (`bind to
/// 127.0.0.1:5000: address in use (os error 98)`).
impl fmt::Display for ListenAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&report::full(&self.error))
    }
}

impl ListenAttempt {
    /// The address the socket was to listen on; `None` for a Unix socket
    /// or an adopted listener.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// What went wrong; its message names the step (`socket`, `bind to
    /// [::1]:8080`, `listen`, an option) and the address.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

/// Why a [`ServerBuilder`](crate::ServerBuilder) could not make its
/// listeners: the kind ([`kind`](Self::kind)), the endpoint as given
/// ([`endpoint`](Self::endpoint)), and every address tried
/// ([`attempts`](Self::attempts)). `Display` is one line that names each
/// failing address and its error.
/// `{:?}` (what `fn main() -> std::io::Result<()>` prints) is a report: that
/// line, then each attempt's error on a line of its own, then the
/// resolver's errors; `{:#?}` is the structured form.
///
/// No socket stays open when a call fails.
///
/// # Conversion to `io::Error`
///
/// `io::Error::from(ServerError)` (and so `?` in a function returning
/// `io::Result`) keeps the `ServerError` as the payload. Its
/// [`io::ErrorKind`] is `InvalidInput` for
/// [`ServerErrorKind::InvalidInput`] and
/// [`ServerErrorKind::NoUsableAddress`], `Unsupported` for
/// [`ServerErrorKind::Unsupported`], the resolver's kind for
/// [`ServerErrorKind::Resolve`], and for [`ServerErrorKind::BindFailed`]
/// the kind of the first fatal attempt (`AddrInUse` for a busy port).
///
/// # Examples
///
/// ```
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let first = ServerBuilder::new("127.0.0.1:0").bind().await?;
/// let busy = first.local_addrs()[0];
/// let err = ServerBuilder::new(busy).bind().await.unwrap_err();
/// assert!(err.to_string().contains(&format!("bind to {busy}")));
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse);
/// # Ok(()) }
/// ```
pub struct ServerError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ServerErrorKind,
    endpoint: String,
    message: Option<String>,
    attempts: Vec<ListenAttempt>,
    resolve_errors: Vec<ResolveError>,
}

impl ServerError {
    pub(crate) fn new(kind: ServerErrorKind, endpoint: impl Into<String>) -> Self {
        ServerError {
            inner: Box::new(Inner {
                kind,
                endpoint: endpoint.into(),
                message: None,
                attempts: Vec::new(),
                resolve_errors: Vec::new(),
            }),
        }
    }

    pub(crate) fn invalid(endpoint: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ServerErrorKind::InvalidInput, endpoint).with_message(message)
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: Vec<ListenAttempt>) -> Self {
        self.inner.attempts = attempts;
        self
    }

    pub(crate) fn with_resolve_errors(mut self, errors: Vec<ResolveError>) -> Self {
        self.inner.resolve_errors = errors;
        self
    }

    /// What kind of failure this is.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ServerBuilder, ServerErrorKind};
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::new(("bad host!", 0)).bind().await.unwrap_err();
    /// assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    /// # }
    /// ```
    pub fn kind(&self) -> ServerErrorKind {
        self.inner.kind
    }

    /// The endpoint as the caller described it (`"localhost:8080"`,
    /// `"any port 8080"`, `"adopted listener 127.0.0.1:5000"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::new("bad host!:80").bind().await.unwrap_err();
    /// assert_eq!(err.endpoint(), "bad host!:80");
    /// # }
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Every address a socket was opened for and failed, or was skipped,
    /// in order. Empty when the call failed before opening one (bad input,
    /// resolution).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::new("nonsense").bind().await.unwrap_err();
    /// assert!(err.attempts().is_empty());
    /// # }
    /// ```
    pub fn attempts(&self) -> &[ListenAttempt] {
        &self.inner.attempts
    }

    /// The resolver's errors, for a [`ServerErrorKind::Resolve`] failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{Resolver, ServerBuilder, ServerErrorKind};
    ///
    /// # #[tokio::main] async fn main() {
    /// let resolver = Resolver::fixed([("known.test", vec!["127.0.0.1".parse().unwrap()])]);
    /// let err = ServerBuilder::new("unknown.test:0").resolver(resolver).bind().await.unwrap_err();
    /// assert_eq!(err.kind(), ServerErrorKind::Resolve);
    /// assert_eq!(err.resolve_errors().len(), 1);
    /// # }
    /// ```
    pub fn resolve_errors(&self) -> &[ResolveError] {
        &self.inner.resolve_errors
    }

    /// The [`io::ErrorKind`] this error converts to (see the type's docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::new("nonsense").bind().await.unwrap_err();
    /// assert_eq!(err.io_kind(), std::io::ErrorKind::InvalidInput);
    /// # }
    /// ```
    pub fn io_kind(&self) -> io::ErrorKind {
        match self.inner.kind {
            ServerErrorKind::InvalidInput | ServerErrorKind::NoUsableAddress => {
                io::ErrorKind::InvalidInput
            }
            ServerErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ServerErrorKind::Resolve => crate::resolve::resolve_io_kind(&self.inner.resolve_errors),
            ServerErrorKind::BindFailed => self
                .inner
                .attempts
                .iter()
                .map(|a| a.error.kind())
                .find(|k| *k != io::ErrorKind::AddrNotAvailable)
                .or_else(|| self.inner.attempts.first().map(|a| a.error.kind()))
                .unwrap_or(io::ErrorKind::Other),
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server ({}): ", self.inner.endpoint)?;
        match self.inner.kind {
            ServerErrorKind::Resolve => crate::resolve::write_resolve_failure(
                f,
                &self.inner.resolve_errors,
                self.inner.message.as_deref(),
            ),
            ServerErrorKind::BindFailed if self.inner.message.is_none() => report::write_errors(
                f,
                "addresses",
                "no socket was opened",
                self.inner.attempts.iter().map(|a| &a.error),
            ),
            _ => f.write_str(self.inner.message.as_deref().unwrap_or("invalid input")),
        }
    }
}

/// `{:?}` is what `fn main() -> std::io::Result<()>` prints after
/// `Error: `, so it reads as a report: the one-line message, then each
/// attempt's error on its own line, then the resolver's errors. `{:#?}` is
/// the structured form, every field.
impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("ServerError")
                .field("kind", &self.inner.kind)
                .field("endpoint", &self.inner.endpoint)
                .field("message", &self.inner.message)
                .field("attempts", &self.inner.attempts)
                .field("resolve_errors", &self.inner.resolve_errors)
                .finish();
        }
        report::debug_report(f, self, &self.inner.attempts, &self.inner.resolve_errors)
    }
}

/// No `source()`: the message already quotes every attempt's error and the
/// resolver's (each fact said once; see `shared/report.rs`). The errors
/// themselves are behind the accessors.
impl StdError for ServerError {}

impl From<ServerError> for io::Error {
    fn from(e: ServerError) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}
