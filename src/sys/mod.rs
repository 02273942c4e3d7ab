//! The platform layer: every difference between operating systems that the
//! socket code meets, behind one set of names, as mio keeps `sys/unix/` and
//! `sys/windows/` and tokio's `net/` calls `sys::` without naming a system.
//!
//! One file per family of systems, each offering the same items:
//!
//! | file            | systems                                             |
//! |-----------------|-----------------------------------------------------|
//! | `linux.rs`      | Linux, Android, Fuchsia                             |
//! | `apple.rs`      | macOS, iOS and the other Apple systems              |
//! | `other_unix.rs` | FreeBSD, the other BSDs, illumos and any other Unix |
//! | `windows.rs`    | Windows                                             |
//!
//! and `unix.rs` for what every Unix shares (`if_nametoindex(3)`, `errno`
//! values, stale socket files). What each family offers:
//!
//! * socket options: `SO_REUSEPORT` ([`HAS_REUSE_PORT`], [`set_reuse_port`]),
//!   `TCP_USER_TIMEOUT` ([`HAS_USER_TIMEOUT`], [`set_user_timeout`]), binding
//!   to an interface ([`HAS_INTERFACE`], [`interface_index`],
//!   [`bind_interface`]);
//! * sockets: a non-blocking TCP socket ([`tcp_socket`]) and its connect in
//!   progress ([`connect_in_progress`]);
//! * checks of adopted sockets: listening ([`is_listening`], `SO_ACCEPTCONN`)
//!   and the protocol ([`protocol`]);
//! * error codes: a family the host lacks ([`family_unsupported`]), accept
//!   errors ([`accept_out_of_resources`], [`accept_connection_failed`]);
//! * Unix socket names: abstract names (`HAS_ABSTRACT_NAMES`);
//! * timers: a kernel timer for the race's sub-millisecond wake-ups
//!   ([`HAS_PRECISE_TIMER`], [`PreciseTimer`]);
//! * batched UDP (feature `batch`, `udp_batch.rs`, one file with quinn-udp's
//!   lists): `recvmmsg`, `UDP_GRO`, path MTU, `EISCONN`.
//!
//! A new platform is one more file here; nothing else in the crate names an
//! operating system in a `cfg` list.

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
#[path = "linux.rs"]
mod imp;

#[cfg(target_vendor = "apple")]
#[path = "apple.rs"]
mod imp;

#[cfg(all(
    unix,
    not(any(
        target_os = "android",
        target_os = "fuchsia",
        target_os = "linux",
        target_vendor = "apple"
    ))
))]
#[path = "other_unix.rs"]
mod imp;

#[cfg(windows)]
#[path = "windows.rs"]
mod imp;

#[cfg(unix)]
mod unix;

#[cfg(feature = "batch")]
mod udp_batch;
#[cfg(feature = "batch")]
pub(crate) use udp_batch::*;

pub(crate) use imp::*;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(any(target_os = "android", target_os = "linux")))]
pub(crate) use no_timerfd::{PreciseTimer, HAS_PRECISE_TIMER};

/// Where there is no `timerfd`: the race's stagger timer uses Tokio's
/// timer alone, and a [`PreciseTimer`] is never made.
#[cfg(not(any(target_os = "android", target_os = "linux")))]
mod no_timerfd {
    use std::io;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// There is no kernel timer to finish a wait on here.
    pub(crate) const HAS_PRECISE_TIMER: bool = false;

    /// Never made: [`PreciseTimer::new`] always fails here.
    #[derive(Debug)]
    pub(crate) enum PreciseTimer {}

    impl PreciseTimer {
        /// Fails: there is no timerfd here.
        pub(crate) fn new(_: Duration) -> io::Result<PreciseTimer> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this platform has no timerfd",
            ))
        }

        /// Never called: no `PreciseTimer` exists.
        pub(crate) fn poll_expired(&self, _: &mut Context<'_>) -> Poll<()> {
            match *self {}
        }
    }
}
