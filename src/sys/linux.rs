//! Linux, Android and Fuchsia: the socket API of Linux, which has every
//! option the crate offers (`SO_BINDTODEVICE`, `TCP_USER_TIMEOUT`,
//! `SO_REUSEPORT`, `SO_ACCEPTCONN`, `SO_PROTOCOL`, abstract Unix names).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// This platform has `SO_REUSEPORT`.
pub(crate) const HAS_REUSE_PORT: bool = true;

/// Sets `SO_REUSEPORT`.
pub(crate) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

/// This platform has `TCP_USER_TIMEOUT`.
pub(crate) const HAS_USER_TIMEOUT: bool = true;

/// Sets `TCP_USER_TIMEOUT` (`tcp(7)`).
pub(crate) fn set_user_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    socket.set_tcp_user_timeout(Some(timeout))
}

/// Whether this platform can bind a socket to an interface:
/// `SO_BINDTODEVICE` (Linux, Android; Fuchsia has none).
pub(crate) const HAS_INTERFACE: bool = cfg!(any(target_os = "android", target_os = "linux"));

/// Binds `socket` to the interface `name` (`SO_BINDTODEVICE`,
/// `socket(7)`), for an attempt to `addr` of either family.
pub(crate) fn bind_interface(socket: &Socket, name: &str, addr: SocketAddr) -> io::Result<()> {
    let _ = addr;
    #[cfg(any(target_os = "android", target_os = "linux"))]
    return socket.bind_device(Some(name.as_bytes()));
    #[cfg(not(any(target_os = "android", target_os = "linux")))]
    {
        // `HAS_INTERFACE` is false: refused before any socket was made.
        let _ = (socket, name);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this platform cannot bind a socket to an interface",
        ))
    }
}

/// Whether `sock` listens (`SO_ACCEPTCONN`): adopted sockets
/// (`from_listener`, systemd's) are checked with it. `None` where the
/// platform cannot tell (never here).
pub(crate) fn is_listening(sock: &SockRef<'_>) -> io::Result<Option<bool>> {
    sock.is_listener().map(Some)
}

/// The protocol of `sock` (`SO_PROTOCOL`), `None` where the platform cannot
/// tell: an adopted UDP socket is checked with it.
pub(crate) fn protocol(sock: &SockRef<'_>) -> io::Result<Option<Protocol>> {
    sock.protocol()
}

/// A TCP socket for `addr`, non-blocking (`SOCK_NONBLOCK`, one call) and
/// close-on-exec, as `tokio::net::TcpSocket` makes it.
pub(crate) fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
}

/// An `accept(2)` error about the one connection it took: accept the next
/// one. Linux passes the pending network errors of the new socket on to
/// `accept(2)`: the connection died, not the listener.
pub(crate) fn accept_connection_failed(e: &io::Error) -> bool {
    super::unix::accept_protocol_error(e)
        || matches!(
            e.raw_os_error(),
            Some(
                libc::ENETDOWN
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::EOPNOTSUPP
                    | libc::ENETUNREACH
            )
        )
}

/// Whether Unix socket names may be abstract (`unix(7)`: a name in its own
/// namespace, with no file): Linux and Android.
pub(crate) const HAS_ABSTRACT_NAMES: bool = cfg!(any(target_os = "android", target_os = "linux"));

/// [`PreciseTimer`] is a kernel timer (`timerfd_create(2)`) on Linux and
/// Android (Fuchsia has none: `mod.rs` gives it the fallback).
#[cfg(any(target_os = "android", target_os = "linux"))]
pub(crate) const HAS_PRECISE_TIMER: bool = true;

#[cfg(any(target_os = "android", target_os = "linux"))]
pub(crate) use timerfd::PreciseTimer;

#[cfg(any(target_os = "android", target_os = "linux"))]
mod timerfd {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A one-shot monotonic timerfd in Tokio's reactor: the race's stagger
    /// timer finishes its wait on it (`client/timer.rs` says why).
    #[derive(Debug)]
    pub(crate) struct PreciseTimer {
        fd: AsyncFd<OwnedFd>,
    }

    impl PreciseTimer {
        /// A timer that fires `after` from now (on the monotonic clock).
        pub(crate) fn new(after: Duration) -> io::Result<PreciseTimer> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
            )?;
            // A zero it_value disarms a timerfd: wait at least 1 ns.
            let after = after.max(Duration::from_nanos(1));
            let spec = Itimerspec {
                it_interval: Timespec::default(),
                it_value: Timespec {
                    tv_sec: after.as_secs() as _,
                    tv_nsec: after.subsec_nanos() as _,
                },
            };
            timerfd_settime(&fd, TimerfdTimerFlags::empty(), &spec)?;
            // Tokio 1.54 deprecates `with_interest` because a generic
            // `AsRawFd` may hand out a different fd over time; an `OwnedFd`
            // cannot, so the call is sound. Its replacement,
            // `register_with_interest`, only exists from Tokio 1.54.
            #[allow(deprecated)]
            let fd = AsyncFd::with_interest(fd, Interest::READABLE)?;
            Ok(PreciseTimer { fd })
        }

        /// Ready when the timer has expired (the fd is readable). Errors
        /// count as expired: the caller then checks the clock itself.
        pub(crate) fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
            match self.fd.poll_read_ready(cx) {
                Poll::Ready(_) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            }
        }
    }
}
