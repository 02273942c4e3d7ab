//! The server side: asyncio's `create_server` and `start_server`.
//!
//! `builder` binds the listening sockets ([`ServerBuilder`]); `listener`
//! accepts on them and survives accept errors ([`Listener`]); `serve` runs
//! a handler per connection and shuts down ([`Server`]); `tls` runs the
//! handshakes concurrently, each bounded ([`TlsListener`]); `unix` does the
//! same on a Unix socket path. Targets, reports, stream halves and the
//! bounded TLS shutdown come from `shared`; host names from `resolve`.

mod builder;
mod error;
mod listener;
mod serve;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_options;
#[cfg(unix)]
mod unix;

pub use builder::{ServerBuilder, PORT_RETRIES};
pub use error::{ListenAttempt, ServerError, ServerErrorKind};
pub use listener::{Listener, DEFAULT_BACKLOG};
pub use serve::Server;
#[cfg(feature = "tls")]
pub use tls::{ServerTlsStream, TlsListener, DEFAULT_MAX_TLS_HANDSHAKES};
#[cfg(unix)]
pub use unix::UnixServerBuilder;
