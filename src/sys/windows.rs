//! Windows: Winsock. No `SO_REUSEPORT` (its `SO_REUSEADDR` lets another
//! process steal a bound port, so it is not offered in its place), no
//! `TCP_USER_TIMEOUT`, and `WSA*` error codes.

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// There is no `SO_REUSEPORT` on Windows.
pub(crate) const HAS_REUSE_PORT: bool = false;

/// Fails: there is no `SO_REUSEPORT` ([`HAS_REUSE_PORT`] is false).
pub(crate) fn set_reuse_port(_: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform has no SO_REUSEPORT",
    ))
}

/// There is no `TCP_USER_TIMEOUT` on Windows.
pub(crate) const HAS_USER_TIMEOUT: bool = false;

/// Fails: there is no `TCP_USER_TIMEOUT` ([`HAS_USER_TIMEOUT`] is false,
/// so the option was refused before any socket was made).
pub(crate) fn set_user_timeout(_: &Socket, _: Duration) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform has no TCP_USER_TIMEOUT",
    ))
}

/// Whether this platform can bind a socket to an interface.
pub(crate) const HAS_INTERFACE: bool = false;

/// The index of the interface `name`, or `None`.
pub(crate) fn interface_index(_: &str) -> Option<NonZeroU32> {
    None
}

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
    let _ = sock;
    Ok(None)
}

/// The protocol of `sock`, `None` where the platform cannot tell.
pub(crate) fn protocol(sock: &SockRef<'_>) -> io::Result<Option<Protocol>> {
    let _ = sock;
    Ok(None)
}

/// A TCP socket for `addr`, non-blocking and not inherited by child
/// processes (socket2 sets `WSA_FLAG_NO_HANDLE_INHERIT`).
pub(crate) fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Whether `connect` on a non-blocking socket failed only because the
/// handshake is under way (`WSAEWOULDBLOCK`).
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// `WSAEAFNOSUPPORT`: the address family is not on this host.
pub(crate) fn family_unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(10047)
}

/// `WSAEMFILE` or `WSAENOBUFS` from `accept`: out of sockets or buffers.
pub(crate) fn accept_out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(10024 | 10055))
}

/// An `accept` error about the one connection it took (beyond the
/// `io::ErrorKind`s every platform shares): none on Windows.
pub(crate) fn accept_connection_failed(_: &io::Error) -> bool {
    false
}
