//! What a TLS server remembers of its failed handshakes: a count, the last
//! [`RECENT_HANDSHAKE_FAILURES`] failures ([`HandshakeFailure`]: peer,
//! when, why, in plain words), and which kinds of failure were already
//! logged at `WARN`. Shared by a [`TlsListener`](crate::TlsListener) and
//! the [`Server`](crate::Server) that runs it, so the failures are visible
//! without a tracing subscriber.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::{AlertDescription, Error as E};

use crate::shared::tls_words::{explain, rustls_error, Side, TlsContext};

/// How many failed handshakes a [`TlsListener`](crate::TlsListener) or
/// [`Server`](crate::Server) keeps for
/// [`recent_handshake_failures`](crate::TlsListener::recent_handshake_failures):
/// the last 16.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub const RECENT_HANDSHAKE_FAILURES: usize = 16;

/// A TLS handshake a server accepted a connection for and that failed:
/// the client's address, when it failed, and why, in plain words (the
/// rustls error, where there is one, is the error's `source()` and
/// [`tls_error`](Self::tls_error)).
///
/// From [`TlsListener::recent_handshake_failures`](crate::TlsListener::recent_handshake_failures)
/// and [`Server::recent_handshake_failures`](crate::Server::recent_handshake_failures).
///
/// `Display` is one line: `TLS handshake with 127.0.0.1:51514 failed: the
/// client at 127.0.0.1:51514 did not speak TLS (plain text to a TLS port?)`.
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
///     eprintln!("{:?}: {failure}", failure.at());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub struct HandshakeFailure {
    peer: SocketAddr,
    at: SystemTime,
    error: Arc<io::Error>,
}

impl HandshakeFailure {
    /// The client's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(8443).tls_pem_files("cert.pem", "key.pem").bind_tls().await?;
    /// for failure in listener.recent_handshake_failures() {
    ///     println!("{}", failure.peer());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When the handshake failed (the wall clock).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(8443).tls_pem_files("cert.pem", "key.pem").bind_tls().await?;
    /// for failure in listener.recent_handshake_failures() {
    ///     println!("{:?} ago", failure.at().elapsed().unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// Why the handshake failed: its message is in plain words; its kind is
    /// `TimedOut` for the handshake timeout, `UnexpectedEof` or
    /// `ConnectionReset` when the client went away, `InvalidData` for a
    /// TLS error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(8443).tls_pem_files("cert.pem", "key.pem").bind_tls().await?;
    /// let timeouts = listener
    ///     .recent_handshake_failures()
    ///     .iter()
    ///     .filter(|f| f.error().kind() == std::io::ErrorKind::TimedOut)
    ///     .count();
    /// # Ok(()) }
    /// ```
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The rustls error, for a failure in TLS itself (not a timeout or a
    /// closed connection).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::rustls::Error;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::any(8443).tls_pem_files("cert.pem", "key.pem").bind_tls().await?;
    /// for failure in listener.recent_handshake_failures() {
    ///     if let Some(Error::AlertReceived(alert)) = failure.tls_error() {
    ///         println!("{} sent the alert {alert:?}", failure.peer());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        rustls_error(&self.error)
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS handshake with {} failed: {}", self.peer, self.error)
    }
}

/// The failures of one listener, shared with its [`Server`](crate::Server).
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    count: AtomicU64,
    recent: Mutex<Recent>,
    /// The PEM of a `tls_self_signed` certificate.
    #[cfg_attr(not(feature = "self-signed"), allow(dead_code))]
    pub(crate) self_signed_pem: Option<String>,
}

#[derive(Debug, Default)]
struct Recent {
    failures: VecDeque<HandshakeFailure>,
    /// The kinds of failure already logged at `WARN`.
    warned: Vec<&'static str>,
}

impl Handshakes {
    pub(crate) fn new(self_signed_pem: Option<String>) -> Handshakes {
        Handshakes {
            self_signed_pem,
            ..Handshakes::default()
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn recent(&self) -> Vec<HandshakeFailure> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.failures.iter().cloned().collect()
    }

    /// Counts a handshake whose task failed (a panic in rustls): there is
    /// no peer to keep it under.
    pub(crate) fn task_failed(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts and keeps a failed handshake, in plain words; the first of
    /// each kind is logged at `WARN` with what to do, the others at
    /// `DEBUG`.
    pub(crate) fn failed(&self, peer: SocketAddr, error: io::Error) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let kind = kind_of(&error);
        let error = words(error, peer);
        let failure = HandshakeFailure {
            peer,
            at: SystemTime::now(),
            error: Arc::new(error),
        };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.warned.contains(&kind) {
            tracing::debug!(%peer, error = %failure.error, "TLS handshake failed");
        } else {
            recent.warned.push(kind);
            tracing::warn!(
                %peer,
                "TLS handshake failed: {} (later failures of this kind are logged at DEBUG; \
                 the last {RECENT_HANDSHAKE_FAILURES} are in recent_handshake_failures())",
                failure.error
            );
        }
        if recent.failures.len() == RECENT_HANDSHAKE_FAILURES {
            recent.failures.pop_front();
        }
        recent.failures.push_back(failure);
    }
}

/// The kind of a failure, for logging the first of each kind at `WARN`.
fn kind_of(error: &io::Error) -> &'static str {
    use AlertDescription as A;
    match rustls_error(error) {
        Some(E::InvalidMessage(_)) => "not TLS",
        Some(E::AlertReceived(
            A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::UnsupportedCertificate,
        )) => "certificate refused",
        Some(E::AlertReceived(_)) => "alert",
        Some(E::PeerIncompatible(_) | E::NoApplicationProtocol) => "incompatible",
        Some(_) => "TLS error",
        None => match error.kind() {
            io::ErrorKind::TimedOut => "timeout",
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => "closed",
            _ => "other",
        },
    }
}

/// A server's handshake error in plain words, naming the client.
fn words(error: io::Error, peer: SocketAddr) -> io::Error {
    if rustls_error(&error).is_some() {
        let cx = TlsContext {
            side: Side::Server,
            name: None,
            peer: Some(peer),
        };
        return explain(error, &cx);
    }
    let said = match error.kind() {
        io::ErrorKind::UnexpectedEof => format!(
            "the client at {peer} closed the connection during the TLS handshake (a port \
             probe, or a client that refused the certificate without saying why)"
        ),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            format!("the client at {peer} reset the connection during the TLS handshake")
        }
        _ => return error,
    };
    io::Error::new(error.kind(), said)
}
