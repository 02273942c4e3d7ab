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

use rustls::{AlertDescription, CertificateError as C, Error as E};

use crate::shared::tls_words::{date, explain, rustls_error, with_words, Side, TlsContext};

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
            A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::DecryptError,
        )) => "certificate refused",
        Some(E::InvalidCertificate(_) | E::NoCertificatesPresented) => "client certificate",
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
    if let Some(tls) = rustls_error(&error) {
        if let Some(words) = server_words(tls, peer) {
            return with_words(error, words);
        }
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

/// The words only a server says: about the client's certificate (checked
/// against the roots this server trusts for clients, for clientAuth), and
/// about alerts that refuse this server's certificate. `None`: the words
/// both sides share fit.
fn server_words(e: &rustls::Error, peer: SocketAddr) -> Option<String> {
    match e {
        E::InvalidCertificate(c) => Some(client_certificate_words(c, peer)),
        E::AlertReceived(AlertDescription::DecryptError) => Some(format!(
            "the client at {peer} ended the handshake with the fatal alert decrypt_error: \
             usually it refused this server's certificate because the signature on it does \
             not verify with the CA the client trusts under its issuer's name (the client \
             holds another CA of the same name, such as a regenerated test CA: give it the CA \
             that signed this certificate, or serve a chain from the CA it has); else a \
             handshake signature did not verify"
        )),
        _ => None,
    }
}

/// A client certificate this server refused, in words for the server's
/// operator: what to change in the client verifier's roots, or what the
/// client must change.
fn client_certificate_words(c: &C, peer: SocketAddr) -> String {
    let cert = format!("the client certificate of {peer}");
    let not_for_clients = || {
        format!(
            "{cert} is not for TLS client authentication: its extendedKeyUsage lacks \
             clientAuth (the client needs a certificate made with \
             -addext extendedKeyUsage=clientAuth, or without the extension)"
        )
    };
    #[allow(deprecated)]
    match c {
        C::UnknownIssuer => format!(
            "{cert} is not signed by a CA this server trusts for client certificates \
             (UnknownIssuer): add the CA that signed it to the roots of the server's client \
             verifier (WebPkiClientVerifier::builder(roots)), or give the client a \
             certificate from one of those CAs"
        ),
        C::BadSignature | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
            "{cert} is signed with a key that does not match the CA of that name this server \
             trusts for clients (a regenerated CA of the same name among the client roots?)"
        ),
        C::Expired => format!("{cert} has expired (Expired): the client must renew it"),
        C::ExpiredContext { not_after, .. } => format!(
            "{cert} expired on {} (Expired): the client must renew it",
            date(*not_after)
        ),
        C::NotValidYet => format!(
            "{cert} is not valid yet (NotValidYet): is this machine's clock right, or the \
             client's CA's?"
        ),
        C::NotValidYetContext { not_before, .. } => format!(
            "{cert} is not valid until {} (NotValidYet): is this machine's clock right?",
            date(*not_before)
        ),
        C::Revoked => {
            format!("{cert} was revoked (Revoked) by a revocation list this server checks")
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => not_for_clients(),
        C::ApplicationVerificationFailure => format!(
            "{cert} was refused by this server's client certificate verifier \
             (ApplicationVerificationFailure)"
        ),
        C::BadEncoding => format!("{cert} is malformed (BadEncoding)"),
        C::UnhandledCriticalExtension => format!(
            "{cert} has a critical extension this server does not understand \
             (UnhandledCriticalExtension)"
        ),
        C::UnsupportedSignatureAlgorithm | C::UnsupportedSignatureAlgorithmContext { .. } => {
            format!(
                "{cert} is signed with an algorithm this server does not support \
                 (UnsupportedSignatureAlgorithm)"
            )
        }
        C::UnknownRevocationStatus => format!(
            "the revocation status of {cert} is unknown (UnknownRevocationStatus): the \
             server's revocation lists do not cover its CA"
        ),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => format!(
            "the revocation list this server checks {cert} against has expired \
             (ExpiredRevocationList)"
        ),
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => format!(
                "{cert} is a CA certificate, not a client certificate (CaUsedAsEndEntity): the \
                 client must present a leaf certificate signed by that CA"
            ),
            Some(
                webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_),
            ) => not_for_clients(),
            _ => format!("{cert} was refused ({other})"),
        },
        other => format!("{cert} was refused ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(e: rustls::Error) -> String {
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        words(io::Error::new(io::ErrorKind::InvalidData, e), peer).to_string()
    }

    /// A server speaks of the client's certificate in its own terms:
    /// clientAuth and the roots it trusts for clients, never the advice a
    /// client gets about a server certificate.
    #[test]
    fn client_certificate_failures_read_as_the_servers() {
        #[allow(deprecated)]
        let errors = [
            C::UnknownIssuer,
            C::BadSignature,
            C::Expired,
            C::NotValidYet,
            C::Revoked,
            C::InvalidPurpose,
            C::ApplicationVerificationFailure,
            C::BadEncoding,
            C::UnhandledCriticalExtension,
            C::Other(rustls::OtherError(Arc::new(
                webpki::Error::CaUsedAsEndEntity,
            ))),
            C::Other(rustls::OtherError(Arc::new(
                webpki::Error::RequiredEkuNotFound,
            ))),
        ];
        for c in errors {
            let words = said(E::InvalidCertificate(c.clone()));
            assert!(
                words.contains("the client certificate of 192.0.2.7:4000"),
                "{c:?}: {words}"
            );
            for client_advice in [
                "tls_ca_file",
                "serverAuth",
                "server_name",
                "server certificate",
            ] {
                assert!(!words.contains(client_advice), "{c:?}: {words}");
            }
        }
        let unknown = said(E::InvalidCertificate(C::UnknownIssuer));
        assert!(
            unknown.contains("trusts for client certificates"),
            "{unknown}"
        );
        assert!(unknown.contains("client verifier"), "{unknown}");
        let eku = said(E::InvalidCertificate(C::InvalidPurpose));
        assert!(eku.contains("clientAuth"), "{eku}");
    }

    #[test]
    fn decrypt_error_is_explained_like_the_certificate_alerts() {
        let words = said(E::AlertReceived(AlertDescription::DecryptError));
        assert!(words.contains("decrypt_error"), "{words}");
        assert!(
            words.contains("refused this server's certificate"),
            "{words}"
        );
        assert!(words.contains("CA of the same name"), "{words}");
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            E::AlertReceived(AlertDescription::DecryptError),
        );
        assert_eq!(kind_of(&e), "certificate refused");
    }
}
