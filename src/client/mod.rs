//! The client side: from a target to a connected stream.
//!
//! [`ConnectionBuilder`] (`connect`) and [`Connector`] (`connector`) hold
//! the options and drive one call; `race` decides which attempt starts when
//! and which one wins (Happy Eyeballs, with `timer` for its wake-ups);
//! `tls` runs the handshake on each attempt and bounds it; `error` says
//! what was tried. What the client shares with the server and datagram
//! sides (targets, address order, reports, stream halves, the bounded TLS
//! shutdown) lives in `shared`, and names come from `resolve`: both sit
//! below this module and never import it.

mod connect;
mod connector;
mod error;
mod establishment;
mod history;
#[cfg(feature = "hyper")]
mod http_service;
#[cfg(feature = "proxy")]
mod proxy;
mod qlog;
#[cfg(feature = "quic")]
mod quic;
#[cfg(feature = "quic")]
mod quic_memory;
mod race;
mod sockopts;
mod streams;
mod timer;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_options;
#[cfg(unix)]
mod unix;

pub use connect::{ConnectionBuilder, IntoLocalAddrs, DEFAULT_HAPPY_EYEBALLS_DELAY};
pub use connector::Connector;
#[cfg(feature = "proxy")]
pub use error::ProxyStage;
pub use error::{Attempt, AttemptStage, ConnectError, ConnectErrorKind};
pub use establishment::{AttemptOutcome, AttemptReport, Establishment, ResolutionStep, TlsReport};
#[cfg(feature = "hyper")]
pub use http_service::{HttpConnecting, HttpInfo, HttpStream};
#[cfg(feature = "proxy")]
pub use proxy::{Proxy, ProxyTunnel, DEFAULT_PROXY_HANDSHAKE_TIMEOUT};
pub use qlog::QlogSink;
#[cfg(feature = "quic")]
pub use quic::{Secure, QUIC_HARD_WAIT, QUIC_SOFT_WAIT};
#[cfg(feature = "tls")]
pub use tls::TlsStream;
#[cfg(unix)]
pub use unix::UnixConnectionBuilder;
