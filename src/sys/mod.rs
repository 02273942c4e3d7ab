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
//! * the network: default routes, their source addresses and the
//!   network's identity (`network.rs`, the same code on every system);
//! * batched UDP (feature `batch`, `udp_batch.rs`, one file with quinn-udp's
//!   lists): `recvmmsg`, `UDP_GRO`, path MTU, `EISCONN`.
//!
//! A new platform is one more file here; nothing else in the crate names an
//! operating system in a `cfg` list for these facts. Public items that exist
//! on some systems only carry their own `#[cfg]` and
//! `#[cfg_attr(docsrs, doc(cfg(..)))]` where they are declared, so docs.rs
//! shows the label: systemd activation (Linux), `tcp_user_timeout` (Linux,
//! Android, Fuchsia), Unix sockets (Unix), `from_conf_files` (where hickory
//! reads `resolv.conf`).

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

mod network;
#[cfg(feature = "hickory")]
pub(crate) use network::{cached_source_for, network, Network};
pub(crate) use network::{network_id_at, network_until};

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

#[cfg(test)]
mod tests {
    //! The layer's promises, on real loopback sockets, on every platform:
    //! what each family says it can do, it does.

    use std::io;
    use std::net::{SocketAddr, TcpListener};

    use socket2::{Domain, SockRef, Socket, Type};

    use super::*;

    /// The loopback interface, by the name each system gives it (on
    /// Windows its alias depends on the installation: not tested there).
    const LOOPBACK: &str = if cfg!(any(target_vendor = "apple", target_os = "freebsd")) {
        "lo0"
    } else {
        "lo"
    };

    /// IPv4 and (where the host has it) IPv6 loopback, port 0.
    fn loopbacks() -> Vec<SocketAddr> {
        ["127.0.0.1:0", "[::1]:0"]
            .into_iter()
            .map(|a| a.parse().unwrap())
            .filter(|a: &SocketAddr| TcpListener::bind(a).is_ok())
            .collect()
    }

    #[test]
    fn a_listening_socket_is_told_from_one_that_is_not() {
        // The platforms the crate claims can all tell (SO_ACCEPTCONN).
        let tells = cfg!(any(
            target_os = "android",
            target_os = "freebsd",
            target_os = "fuchsia",
            target_os = "linux",
            target_vendor = "apple",
            windows
        ));
        for addr in loopbacks() {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
            socket.bind(&addr.into()).unwrap();
            let seen = is_listening(&SockRef::from(&socket)).unwrap();
            assert_eq!(seen, tells.then_some(false), "{addr} bound");
            socket.listen(8).unwrap();
            let seen = is_listening(&SockRef::from(&socket)).unwrap();
            assert_eq!(seen, tells.then_some(true), "{addr} listening");
        }
    }

    #[test]
    fn the_loopback_interface_is_found_and_a_socket_bound_to_it_connects() {
        assert_eq!(interface_index("no-such-if9"), None);
        if cfg!(windows) {
            let socket = tcp_socket("127.0.0.1:1".parse().unwrap()).unwrap();
            let e = bind_interface(&socket, "no-such-if9", "127.0.0.1:1".parse().unwrap());
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::NotFound);
            return;
        }
        for addr in loopbacks() {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
            let bound = bind_interface(&socket, LOOPBACK, addr);
            if !HAS_INTERFACE {
                assert_eq!(bound.unwrap_err().kind(), io::ErrorKind::Unsupported);
                continue;
            }
            let index = interface_index(LOOPBACK).expect("the loopback interface");
            bound.unwrap();
            #[cfg(any(target_os = "android", target_os = "linux"))]
            assert_eq!(
                socket.device().unwrap().as_deref(),
                Some(LOOPBACK.as_bytes())
            );
            #[cfg(target_vendor = "apple")]
            assert_eq!(
                if addr.is_ipv4() {
                    socket.device_index_v4()
                } else {
                    socket.device_index_v6()
                }
                .unwrap(),
                Some(index)
            );
            let _ = index;
            // Bound to loopback, it still reaches a loopback listener.
            let listener = TcpListener::bind(addr).unwrap();
            socket
                .connect(&listener.local_addr().unwrap().into())
                .unwrap();
        }
    }

    #[test]
    fn a_tcp_socket_is_non_blocking_and_its_connect_is_in_progress() {
        for addr in loopbacks() {
            // A listener that never accepts still completes handshakes,
            // but a non-blocking connect returns before that.
            let listener = TcpListener::bind(addr).unwrap();
            let socket = tcp_socket(addr).unwrap();
            match socket.connect(&listener.local_addr().unwrap().into()) {
                Ok(()) => {}
                Err(e) => assert!(connect_in_progress(&e), "{addr}: {e}"),
            }
            // Nothing to read yet: a blocking socket would wait here.
            let mut buf = [std::mem::MaybeUninit::new(0u8); 1];
            let read = socket.recv(&mut buf);
            assert!(read.is_err(), "{addr}: {read:?}");
        }
    }

    #[test]
    fn error_codes_are_read_as_the_platform_writes_them() {
        let os = io::Error::from_raw_os_error;
        #[cfg(unix)]
        {
            assert!(family_unsupported(&os(libc::EAFNOSUPPORT)));
            assert!(accept_out_of_resources(&os(libc::EMFILE)));
            assert!(accept_connection_failed(&os(libc::EPROTO)));
            assert!(!accept_connection_failed(&os(libc::EBADF)));
            assert!(connect_in_progress(&os(libc::EINPROGRESS)));
        }
        #[cfg(windows)]
        {
            assert!(family_unsupported(&os(10047)));
            assert!(accept_out_of_resources(&os(10024)));
            assert!(connect_in_progress(&os(10035)));
        }
        assert!(!family_unsupported(&io::Error::other("no code")));
        assert!(!accept_out_of_resources(&io::Error::other("no code")));
    }
}
