//! [`DatagramError`]: what a datagram endpoint call tried, and how it failed.
//!
//! A separate type from [`ConnectError`](crate::ConnectError): building a
//! datagram endpoint is a bind (and maybe a UDP `connect`, which sends
//! nothing), not a race of connection attempts, so there is no timing to
//! keep, and the message must not read "connect to ..." for a socket that
//! was only bound.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::resolve::ResolveError;
use crate::shared::policy::DeniedAddress;
use crate::shared::report;

/// What kind of failure a [`DatagramError`] is.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{DatagramBuilder, DatagramErrorKind};
///
/// # #[tokio::main] async fn main() {
/// let err = DatagramBuilder::new().local_addr("no port here").bind().await.unwrap_err();
/// assert_eq!(err.kind(), DatagramErrorKind::InvalidInput);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatagramErrorKind {
    /// An address, an option or a combination of them was refused before a
    /// socket was opened: a malformed address, addresses of different
    /// families, options given with an adopted socket, a socket of the wrong
    /// type.
    InvalidInput,
    /// An option the platform does not have, such as `SO_REUSEPORT` on
    /// Windows.
    Unsupported,
    /// A host name could not be resolved to any address.
    Resolve,
    /// Resolution gave addresses, but none fits the requested
    /// [`Family`](crate::Family), or the local and remote addresses share no
    /// family.
    NoUsableAddress,
    /// Every local/remote address pair was tried and each socket failed to
    /// be set up, bound or connected (a busy port is one of these:
    /// `io::ErrorKind::AddrInUse`).
    AllAttemptsFailed,
    /// The [`address_policy`](crate::DatagramBuilder::address_policy)
    /// refused every remote address; no socket was opened.
    /// [`denied`](DatagramError::denied) lists each address and why.
    /// Converts to `io::ErrorKind::PermissionDenied`.
    Denied,
}

/// One socket that was opened and failed: the addresses it was to be bound
/// and connected to, and the error. Its socket was closed before the call
/// returned.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::DatagramBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let first = DatagramBuilder::new().local_addr("127.0.0.1:0").bind().await?;
/// let busy = first.local_addr()?;
/// let err = DatagramBuilder::new().local_addr(busy).bind().await.unwrap_err();
/// let attempt = &err.attempts()[0];
/// assert_eq!(attempt.local(), Some(busy));
/// assert_eq!(attempt.error().kind(), std::io::ErrorKind::AddrInUse);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BindAttempt {
    pub(crate) local: Option<SocketAddr>,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) error: io::Error,
}

/// The attempt's error, which names the step and the address (`bind to
/// 127.0.0.1:5000: address in use (os error 98)`).
impl fmt::Display for BindAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&report::full(&self.error))
    }
}

impl BindAttempt {
    /// The local address the socket was to be bound to; `None` when the
    /// kernel was left to pick one at `connect`.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The remote address the socket was to be connected to, if any.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// How it failed; the message names the step (`bind to ...`,
    /// `connect to ...`, `SO_REUSEPORT`, `socket hook`).
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

/// The error of [`DatagramBuilder::bind`](crate::DatagramBuilder::bind) and
/// [`UnixDatagramBuilder::bind`](crate::UnixDatagramBuilder::bind): it names
/// the endpoint and keeps every attempt.
///
/// `Display` is one line naming the endpoint and what failed; details are
/// behind [`kind`](Self::kind), [`attempts`](Self::attempts),
/// [`resolve_errors`](Self::resolve_errors) and [`source`](StdError::source).
/// `{:?}` (what `fn main() -> std::io::Result<()>` prints) is a report: that
/// line, then each attempt's error on a line of its own, then the
/// resolver's errors; `{:#?}` is the structured form.
///
/// # Conversion to `io::Error`
///
/// `io::Error::from(DatagramError)` (and so `?` in a function returning
/// `io::Result`) keeps the `DatagramError` as the payload. Its
/// [`io::ErrorKind`] is `InvalidInput` for
/// [`DatagramErrorKind::InvalidInput`] and
/// [`DatagramErrorKind::NoUsableAddress`], `Unsupported` for
/// [`DatagramErrorKind::Unsupported`], the resolver's kind for
/// [`DatagramErrorKind::Resolve`], and for
/// [`DatagramErrorKind::AllAttemptsFailed`] the kind the attempts share
/// (`AddrInUse` for a busy port) or `Other` when they differ, and
/// `PermissionDenied` for [`DatagramErrorKind::Denied`].
///
/// # Examples
///
/// ```
/// use tokio_endpoints::DatagramBuilder;
///
/// # #[tokio::main] async fn main() {
/// let err = DatagramBuilder::new()
///     .local_addr("127.0.0.1:0")
///     .remote_addr("[::1]:9000")
///     .bind()
///     .await
///     .unwrap_err();
/// assert!(err.to_string().contains("127.0.0.1:0 (IPv4)"));
/// assert!(err.to_string().contains("[::1]:9000 (IPv6)"));
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// # }
/// ```
pub struct DatagramError {
    inner: Box<Inner>,
}

struct Inner {
    kind: DatagramErrorKind,
    endpoint: String,
    message: Option<String>,
    attempts: Vec<BindAttempt>,
    resolve_errors: Vec<ResolveError>,
    denied: Vec<DeniedAddress>,
}

impl DatagramError {
    pub(crate) fn new(kind: DatagramErrorKind, endpoint: impl Into<String>) -> Self {
        DatagramError {
            inner: Box::new(Inner {
                kind,
                endpoint: endpoint.into(),
                message: None,
                attempts: Vec::new(),
                resolve_errors: Vec::new(),
                denied: Vec::new(),
            }),
        }
    }

    pub(crate) fn invalid(endpoint: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(DatagramErrorKind::InvalidInput, endpoint).with_message(message)
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: Vec<BindAttempt>) -> Self {
        self.inner.attempts = attempts;
        self
    }

    pub(crate) fn with_resolve_errors(mut self, errors: Vec<ResolveError>) -> Self {
        self.inner.resolve_errors = errors;
        self
    }

    pub(crate) fn with_denied(mut self, denied: Vec<DeniedAddress>) -> Self {
        self.inner.denied = denied;
        self
    }

    /// The remote addresses the
    /// [`address_policy`](crate::DatagramBuilder::address_policy) refused,
    /// each with why, for a [`DatagramErrorKind::Denied`] failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{AddressPolicy, DatagramBuilder};
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = DatagramBuilder::new()
    ///     .remote_addr("127.0.0.1:53")
    ///     .address_policy(AddressPolicy::public_only())
    ///     .bind()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.denied()[0].reason(), "loopback");
    /// # }
    /// ```
    pub fn denied(&self) -> &[DeniedAddress] {
        &self.inner.denied
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> DatagramErrorKind {
        self.inner.kind
    }

    /// The endpoint as the caller described it (`"local 127.0.0.1:0, remote
    /// [::1]:9000"`, `"adopted socket 127.0.0.1:5000"`, ...).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Every socket that was opened and failed, in order. Empty when the
    /// call failed before opening one (bad input, resolution).
    pub fn attempts(&self) -> &[BindAttempt] {
        &self.inner.attempts
    }

    /// The resolver's errors, for a [`DatagramErrorKind::Resolve`] failure.
    pub fn resolve_errors(&self) -> &[ResolveError] {
        &self.inner.resolve_errors
    }

    /// The [`io::ErrorKind`] this error converts to (see the type's docs).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self.inner.kind {
            DatagramErrorKind::InvalidInput | DatagramErrorKind::NoUsableAddress => {
                io::ErrorKind::InvalidInput
            }
            DatagramErrorKind::Unsupported => io::ErrorKind::Unsupported,
            DatagramErrorKind::Resolve => {
                crate::resolve::resolve_io_kind(&self.inner.resolve_errors)
            }
            DatagramErrorKind::AllAttemptsFailed => {
                report::common_kind(self.inner.attempts.iter().map(|a| a.error.kind()))
                    .unwrap_or(io::ErrorKind::Other)
            }
            DatagramErrorKind::Denied => io::ErrorKind::PermissionDenied,
        }
    }
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "datagram endpoint ({}): ", self.inner.endpoint)?;
        match self.inner.kind {
            DatagramErrorKind::Resolve => crate::resolve::write_resolve_failure(
                f,
                &self.inner.resolve_errors,
                self.inner.message.as_deref(),
            ),
            DatagramErrorKind::AllAttemptsFailed if self.inner.message.is_none() => {
                report::write_errors(
                    f,
                    "attempts",
                    "no socket was opened",
                    self.inner.attempts.iter().map(|a| &a.error),
                )
            }
            // Refused before any address was known (a port the policy
            // does not list): the message says why.
            DatagramErrorKind::Denied
                if self.inner.denied.is_empty() && self.inner.message.is_some() =>
            {
                write!(
                    f,
                    "remote_addr {}",
                    self.inner.message.as_deref().unwrap_or_default()
                )
            }
            DatagramErrorKind::Denied => {
                f.write_str("remote_addr ")?;
                DeniedAddress::write_list(f, &self.inner.denied)
            }
            _ => f.write_str(self.inner.message.as_deref().unwrap_or("invalid input")),
        }
    }
}

/// `{:?}` is what `fn main() -> std::io::Result<()>` prints after
/// `Error: `, so it reads as a report: the one-line message, then each
/// attempt's error on its own line, then the resolver's errors. `{:#?}` is
/// the structured form, every field.
impl fmt::Debug for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("DatagramError")
                .field("kind", &self.inner.kind)
                .field("endpoint", &self.inner.endpoint)
                .field("message", &self.inner.message)
                .field("attempts", &self.inner.attempts)
                .field("resolve_errors", &self.inner.resolve_errors)
                .field("denied", &self.inner.denied)
                .finish();
        }
        report::debug_report(f, self, &self.inner.attempts, &self.inner.resolve_errors)
    }
}

/// No `source()`: the message already quotes every attempt's error and the
/// resolver's (each fact said once; see `shared/report.rs`). The errors
/// themselves are behind the accessors.
impl StdError for DatagramError {}

impl From<DatagramError> for io::Error {
    fn from(e: DatagramError) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}
