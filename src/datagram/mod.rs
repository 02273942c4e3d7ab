//! The datagram side: asyncio's `create_datagram_endpoint`.
//!
//! `builder` resolves local and remote addresses, pairs them by family and
//! sets up a UDP socket ([`DatagramBuilder`]); `unix` does the same for a
//! Unix datagram socket; `error` says what was tried. Targets, reports and
//! platform facts come from `shared`; host names from `resolve`.

mod builder;
mod error;
#[cfg(unix)]
mod unix;

pub use builder::DatagramBuilder;
pub use error::{BindAttempt, DatagramError, DatagramErrorKind};
#[cfg(unix)]
pub use unix::UnixDatagramBuilder;
