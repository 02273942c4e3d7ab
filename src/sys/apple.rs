//! macOS, iOS and the other Apple systems: `IP_BOUND_IF` /
//! `IPV6_BOUND_IF` bind to an interface; there is no `TCP_USER_TIMEOUT`,
//! no `SOCK_NONBLOCK` and no abstract Unix names.

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

/// Apple systems bind a socket to an interface with `IP_BOUND_IF` and
/// `IPV6_BOUND_IF`.
pub(crate) const HAS_INTERFACE: bool = true;

/// Binds `socket` to the interface `name`: `IP_BOUND_IF` for an attempt to
/// an IPv4 `addr`, `IPV6_BOUND_IF` for IPv6 (`ip(4)`, `ip6(4)`).
pub(crate) fn bind_interface(socket: &Socket, name: &str, addr: SocketAddr) -> io::Result<()> {
    let index = super::unix::interface_index(name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the interface is gone"))?;
    if addr.is_ipv4() {
        socket.bind_device_by_index_v4(Some(index))
    } else {
        socket.bind_device_by_index_v6(Some(index))
    }
}

/// Whether `sock` listens (`SO_ACCEPTCONN`), `None` where the platform
/// cannot tell.
pub(crate) fn is_listening(sock: &SockRef<'_>) -> io::Result<Option<bool>> {
    let _ = sock;
    Ok(None)
}

/// The protocol of `sock`: Apple systems have no `SO_PROTOCOL`.
pub(crate) fn protocol(sock: &SockRef<'_>) -> io::Result<Option<Protocol>> {
    let _ = sock;
    Ok(None)
}

/// A TCP socket for `addr`, non-blocking and close-on-exec (two calls:
/// there is no `SOCK_NONBLOCK`; socket2 sets `FD_CLOEXEC` and
/// `SO_NOSIGPIPE`), as `tokio::net::TcpSocket` makes it.
pub(crate) fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// An `accept(2)` error about the one connection it took: accept the next
/// one (no network errors of the new connection are reported here).
pub(crate) fn accept_connection_failed(e: &io::Error) -> bool {
    super::unix::accept_protocol_error(e)
}

/// There are no abstract Unix socket names here.
pub(crate) const HAS_ABSTRACT_NAMES: bool = false;
