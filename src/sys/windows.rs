//! Windows: Winsock. `IP_UNICAST_IF` / `IPV6_UNICAST_IF` bind to an
//! interface (hyper-util has none here), `SO_ACCEPTCONN` tells a listening
//! socket; no `SO_REUSEPORT` (its `SO_REUSEADDR` lets another process
//! steal a bound port, so it is not offered in its place), no
//! `TCP_USER_TIMEOUT`, and `WSA*` error codes.

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use std::os::windows::io::AsRawSocket;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    if_nametoindex, ConvertInterfaceAliasToLuid, ConvertInterfaceLuidToIndex,
};
use windows_sys::Win32::NetworkManagement::Ndis::NET_LUID_LH;
use windows_sys::Win32::Networking::WinSock::{
    getsockopt, setsockopt, IPPROTO_IP, IPPROTO_IPV6, IPV6_UNICAST_IF, IP_UNICAST_IF, SOCKET,
    SOCKET_ERROR, SOL_SOCKET, SO_ACCEPTCONN, WSAEAFNOSUPPORT, WSAEMFILE, WSAENOBUFS,
};

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

/// Windows binds a socket to an interface with `IP_UNICAST_IF` and
/// `IPV6_UNICAST_IF`.
pub(crate) const HAS_INTERFACE: bool = true;

/// The index of the interface `name`, or `None`: its name as
/// `if_nametoindex` knows it (`ethernet_32768`), or its alias, the name
/// Windows shows (`Ethernet`, `Wi-Fi`; `ConvertInterfaceAliasToLuid`).
pub(crate) fn interface_index(name: &str) -> Option<NonZeroU32> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the call.
    let index = unsafe { if_nametoindex(c_name.as_ptr().cast()) };
    if let Some(index) = NonZeroU32::new(index) {
        return Some(index);
    }
    let wide: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
    // SAFETY: a NET_LUID_LH is a plain integer union; all zeros is valid.
    let mut luid: NET_LUID_LH = unsafe { std::mem::zeroed() };
    // SAFETY: `wide` is NUL-terminated UTF-16 and `luid` is valid for
    // writes, for the calls.
    if unsafe { ConvertInterfaceAliasToLuid(wide.as_ptr(), &mut luid) } != 0 {
        return None;
    }
    let mut index = 0u32;
    // SAFETY: `luid` was filled in above; `index` is valid for writes.
    if unsafe { ConvertInterfaceLuidToIndex(&luid, &mut index) } != 0 {
        return None;
    }
    NonZeroU32::new(index)
}

/// Binds `socket` to the interface `name`: `IP_UNICAST_IF` for an attempt
/// to an IPv4 `addr` (the index in network byte order, as Winsock wants
/// it), `IPV6_UNICAST_IF` for IPv6 (in host byte order).
pub(crate) fn bind_interface(socket: &Socket, name: &str, addr: SocketAddr) -> io::Result<()> {
    let index = interface_index(name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the interface is gone"))?
        .get();
    let (level, option, value) = if addr.is_ipv4() {
        (IPPROTO_IP, IP_UNICAST_IF, index.to_be())
    } else {
        (IPPROTO_IPV6, IPV6_UNICAST_IF, index)
    };
    // SAFETY: the socket is open (borrowed for the call); `value` is a
    // DWORD, valid for reads of its size.
    let r = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            level,
            option,
            (&value as *const u32).cast(),
            std::mem::size_of::<u32>() as i32,
        )
    };
    if r == SOCKET_ERROR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `sock` listens (`SO_ACCEPTCONN`): adopted sockets
/// (`from_listener`) are checked with it.
pub(crate) fn is_listening(sock: &SockRef<'_>) -> io::Result<Option<bool>> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as i32;
    // SAFETY: the socket is open (borrowed for the call); `value` and
    // `len` are valid for writes of the sizes given.
    let r = unsafe {
        getsockopt(
            sock.as_raw_socket() as SOCKET,
            SOL_SOCKET,
            SO_ACCEPTCONN,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    if r == SOCKET_ERROR {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(value != 0))
}

/// The protocol of `sock` (from `WSAPROTOCOL_INFOW`): an adopted UDP
/// socket is checked with it.
pub(crate) fn protocol(sock: &SockRef<'_>) -> io::Result<Option<Protocol>> {
    sock.protocol()
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
    e.raw_os_error() == Some(WSAEAFNOSUPPORT)
}

/// `WSAEMFILE` or `WSAENOBUFS` from `accept`: out of sockets or buffers.
pub(crate) fn accept_out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(WSAEMFILE | WSAENOBUFS))
}

/// An `accept` error about the one connection it took (beyond the
/// `io::ErrorKind`s every platform shares): none on Windows.
pub(crate) fn accept_connection_failed(_: &io::Error) -> bool {
    false
}
