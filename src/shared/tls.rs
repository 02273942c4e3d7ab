//! The bounded TLS shutdown shared by the client's
//! [`TlsStream`](crate::TlsStream) and the server's
//! [`ServerTlsStream`](crate::ServerTlsStream): the first poll starts a
//! timer, and when it fires before tokio-rustls has sent close_notify,
//! flushed, and shut the TCP write side, the connection is aborted
//! (`SO_LINGER` 0, both directions shut) and the call returns `TimedOut`.
//! And [`crypto_provider`], the rustls provider both sides' own
//! configurations are made with.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The default [`tls_handshake_timeout`](crate::ConnectionBuilder::tls_handshake_timeout):
/// 60 s, as asyncio's `ssl_handshake_timeout`.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The default [`tls_shutdown_timeout`](crate::ConnectionBuilder::tls_shutdown_timeout):
/// 30 s, as asyncio's `ssl_shutdown_timeout`.
pub const DEFAULT_TLS_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The rustls crypto provider this crate makes its own TLS configurations
/// with (the default client configuration, [`tls_ca_file`], the server's
/// [`tls_pem_files`] and self-signed certificate), for configurations of
/// your own that should match.
///
/// The rule, first match wins:
///
/// 1. the process-wide provider, if the program installed one
///    ([`CryptoProvider::install_default`]);
/// 2. with the `aws-lc-rs` feature, aws-lc-rs: rustls's default provider,
///    which prefers post-quantum key exchange (`X25519MLKEM768`), also
///    when *ring* is built too;
/// 3. *ring*, the `tls` feature's provider (no post-quantum key exchange:
///    rustls 0.23.48 deprecates its constructor for that reason; this
///    function is the one place that calls it).
///
/// Steps 2 and 3 make the provider once; each call returns a clone of
/// the same `Arc`.
///
/// [`tls_ca_file`]: crate::ConnectionBuilder::tls_ca_file
/// [`tls_pem_files`]: crate::ServerBuilder::tls_pem_files
/// [`CryptoProvider::install_default`]: rustls::crypto::CryptoProvider::install_default
///
/// # Examples
///
/// ```
/// use tokio_endpoints::rustls::{ClientConfig, RootCertStore};
///
/// let config = ClientConfig::builder_with_provider(tokio_endpoints::crypto_provider())
///     .with_safe_default_protocol_versions()
///     .unwrap()
///     .with_root_certificates(RootCertStore::empty())
///     .with_no_client_auth();
/// # drop(config);
/// ```
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::CryptoProvider;
    use std::sync::{Arc, OnceLock};
    if let Some(installed) = CryptoProvider::get_default() {
        return installed.clone();
    }
    static BUILT_IN: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    BUILT_IN
        .get_or_init(|| Arc::new(built_in_provider()))
        .clone()
}

#[cfg(feature = "aws-lc-rs")]
fn built_in_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(not(feature = "aws-lc-rs"))]
#[allow(deprecated)] // ring's constructor, see `crypto_provider`.
fn built_in_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A tokio-rustls stream over TCP, client or server side.
pub(crate) trait OverTcp: AsyncWrite + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl OverTcp for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl OverTcp for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

pub(crate) enum ShutdownState {
    Open,
    /// Shutting down, with the deadline if there is one.
    Closing(Option<Pin<Box<Sleep>>>),
    Closed,
    Aborted,
}

impl ShutdownState {
    /// `poll_shutdown` of `io`, bounded by `timeout` from the first call.
    pub(crate) fn poll_shutdown<S: OverTcp>(
        &mut self,
        cx: &mut Context<'_>,
        timeout: Option<Duration>,
        io: &mut S,
    ) -> Poll<io::Result<()>> {
        loop {
            match self {
                ShutdownState::Open => {
                    let deadline = timeout.map(|t| Box::pin(tokio::time::sleep(t)));
                    *self = ShutdownState::Closing(deadline);
                }
                ShutdownState::Closing(deadline) => {
                    if let Poll::Ready(result) = Pin::new(&mut *io).poll_shutdown(cx) {
                        *self = ShutdownState::Closed;
                        return Poll::Ready(result);
                    }
                    let expired = match deadline {
                        Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
                        None => false,
                    };
                    if !expired {
                        return Poll::Pending;
                    }
                    let timeout = timeout.unwrap_or_default();
                    tracing::debug!(?timeout, "TLS shutdown timed out; aborting");
                    abort(io.tcp());
                    *self = ShutdownState::Aborted;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "TLS shutdown timed out after {} (the peer is not \
                             reading); the connection was aborted",
                            crate::shared::report::Dur(timeout)
                        ),
                    )));
                }
                ShutdownState::Closed => return Poll::Ready(Ok(())),
                ShutdownState::Aborted => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "TLS shutdown timed out earlier; the connection was aborted",
                    )))
                }
            }
        }
    }
}

/// Gives up on the connection: unsent data is discarded, and the peer gets
/// a reset when the socket closes.
fn abort(tcp: &TcpStream) {
    let sock = SockRef::from(tcp);
    if let Err(e) = sock.set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %e, "setting SO_LINGER to 0 failed");
    }
    // Wakes a reader on a split half; fails harmlessly if already shut.
    let _ = sock.shutdown(std::net::Shutdown::Both);
}
