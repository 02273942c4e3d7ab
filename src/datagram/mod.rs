//! The datagram side: asyncio's `create_datagram_endpoint`.
//!
//! `builder` resolves local and remote addresses, pairs them by family and
//! sets up a UDP socket ([`DatagramBuilder`]); `unix` does the same for a
//! Unix datagram socket; `batch` (feature `batch`) makes a socket that sends
//! and receives many datagrams per system call; `error` says what was tried. Targets, reports and
//! platform facts come from `shared`; host names from `resolve`.

#[cfg(feature = "batch")]
mod batch;
mod builder;
mod error;
#[cfg(unix)]
mod unix;

#[cfg(feature = "batch")]
pub use batch::{BatchedSocket, Ecn, RecvBatch, RecvBatchIter, RecvDatagram, SendOptions};
pub use builder::DatagramBuilder;
pub use error::{BindAttempt, DatagramError, DatagramErrorKind};
#[cfg(unix)]
pub use unix::UnixDatagramBuilder;
