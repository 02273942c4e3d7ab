//! The server side: asyncio's `create_server` and `start_server`.
//!
//! `builder` binds the listening sockets ([`ServerBuilder`]); `listener`
//! accepts on them and survives accept errors ([`Listener`]); `serve` runs
//! a handler per connection and shuts down ([`Server`]); `info` is what is
//! known of an accepted connection ([`ConnectionInfo`]); `proxy` reads
//! PROXY protocol headers ([`ProxyProtocol`]) in a bounded task per
//! connection; `systemd` adopts the sockets of socket activation; `tls` runs the
//! handshakes concurrently, each bounded ([`TlsListener`]), with
//! `tls_files` checking PEM files before serving, `handshakes` keeping the
//! failures and `self_signed` making a development certificate; `unix` does the
//! same on a Unix socket path. Targets, reports, stream halves and the
//! bounded TLS shutdown come from `shared`; host names from `resolve`.

mod builder;
mod error;
#[cfg(feature = "tls")]
mod handshakes;
mod info;
mod listener;
#[cfg(feature = "proxy-protocol")]
mod proxy;
#[cfg(feature = "proxy-protocol")]
mod proxy_header;
#[cfg(feature = "self-signed")]
mod self_signed;
mod serve;
#[cfg(target_os = "linux")]
mod systemd;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_files;
#[cfg(feature = "tls")]
mod tls_options;
#[cfg(unix)]
mod unix;

pub use builder::{ServerBuilder, PORT_RETRIES};
pub use error::{ListenAttempt, ServerError, ServerErrorKind};
#[cfg(feature = "tls")]
pub use handshakes::{HandshakeFailure, RECENT_HANDSHAKE_FAILURES};
pub use info::ConnectionInfo;
pub use listener::{Listener, DEFAULT_BACKLOG};
#[cfg(feature = "proxy-protocol")]
pub use proxy::{
    ProxyHeader, ProxyProtocol, DEFAULT_MAX_PENDING_HEADERS, DEFAULT_PROXY_HEADER_TIMEOUT,
};
#[cfg(feature = "self-signed")]
pub use self_signed::{self_signed, SelfSigned};
pub use serve::Server;
#[cfg(feature = "tls")]
pub use tls::{ServerTlsStream, TlsListener, DEFAULT_MAX_TLS_HANDSHAKES};
#[cfg(unix)]
pub use unix::UnixServerBuilder;
