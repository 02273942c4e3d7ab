//! FreeBSD, the other BSDs, illumos and any other Unix: `SO_REUSEPORT`
//! where socket2 has it, `SO_ACCEPTCONN` where socket2 reads it; no
//! `TCP_USER_TIMEOUT`, no way to bind to an interface by name, no abstract
//! Unix names.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Whether this platform has `SO_REUSEPORT` (where socket2 offers it).
pub(crate) const HAS_REUSE_PORT: bool = cfg!(not(any(
    target_os = "solaris",
    target_os = "illumos",
    target_os = "cygwin",
    target_os = "nuttx",
    target_os = "wasi"
)));

/// Sets `SO_REUSEPORT`, or fails with `Unsupported` where the platform has
/// none ([`HAS_REUSE_PORT`] is `false`).
pub(crate) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    #[cfg(not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    )))]
    return socket.set_reuse_port(true);
    #[cfg(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))]
    {
        let _ = socket;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this platform has no SO_REUSEPORT",
        ))
    }
}

/// There is no `TCP_USER_TIMEOUT` here.
pub(crate) const HAS_USER_TIMEOUT: bool = false;

/// Fails: there is no `TCP_USER_TIMEOUT` ([`HAS_USER_TIMEOUT`] is false,
/// so the option was refused before any socket was made).
pub(crate) fn set_user_timeout(_: &Socket, _: Duration) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform has no TCP_USER_TIMEOUT",
    ))
}

/// These systems cannot bind a socket to an interface by name (FreeBSD
/// routes by FIB, `SO_SETFIB`, not by interface).
pub(crate) const HAS_INTERFACE: bool = false;

/// Fails: [`HAS_INTERFACE`] is false, so the option was refused before any
/// socket was made.
pub(crate) fn bind_interface(_: &Socket, _: &str, _: SocketAddr) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform cannot bind a socket to an interface",
    ))
}

/// Whether `sock` listens (`SO_ACCEPTCONN`), `None` where the platform
/// cannot tell.
pub(crate) fn is_listening(sock: &SockRef<'_>) -> io::Result<Option<bool>> {
    #[cfg(target_os = "freebsd")]
    return sock.is_listener().map(Some);
    #[cfg(not(target_os = "freebsd"))]
    {
        let _ = sock;
        Ok(None)
    }
}

/// The protocol of `sock`, `None` where the platform cannot tell.
pub(crate) fn protocol(sock: &SockRef<'_>) -> io::Result<Option<Protocol>> {
    let _ = sock;
    Ok(None)
}

/// A TCP socket for `addr`, non-blocking and close-on-exec, as
/// `tokio::net::TcpSocket` makes it: in one call where there is
/// `SOCK_NONBLOCK`.
pub(crate) fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    #[cfg(any(
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "netbsd",
        target_os = "openbsd",
    ))]
    return Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP));
    #[cfg(not(any(
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "netbsd",
        target_os = "openbsd",
    )))]
    {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// An `accept(2)` error about the one connection it took: accept the next
/// one (no network errors of the new connection are reported here).
pub(crate) fn accept_connection_failed(e: &io::Error) -> bool {
    super::unix::accept_protocol_error(e)
}

/// There are no abstract Unix socket names here.
pub(crate) const HAS_ABSTRACT_NAMES: bool = false;
