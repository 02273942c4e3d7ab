//! Platform facts of batched UDP sockets (feature `batch`, quinn-udp):
//! which systems read many messages per receive call, the socket options
//! this crate changes after quinn-udp's setup (Linux and Android only),
//! and the error of a destination on a connected socket. One file for all
//! families: the facts are few, and quinn-udp's own `cfg` lists are what
//! they follow.

use std::io;

use socket2::SockRef;

/// Whether quinn-udp receives with `recvmmsg(2)` here (many messages a
/// call); elsewhere each receive call reads one message, so a batch reads
/// on until the socket has nothing left. The list is quinn-udp's.
pub(crate) const UDP_RECVMMSG: bool = cfg!(all(
    unix,
    not(any(
        target_vendor = "apple",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly",
        target_os = "redox",
        target_os = "hurd",
        target_os = "solaris",
        target_os = "illumos"
    ))
));

/// What this crate changes of quinn-udp's setup, best effort (the socket
/// works either way; failures are logged at `DEBUG`):
///
/// * the path MTU the kernel knows is honoured (`IP_PMTUDISC_DO`) instead
///   of quinn-udp's probe mode (`IP_PMTUDISC_PROBE`, which sends up to the
///   interface MTU whatever the path said), so a datagram too large for the
///   path fails with `EMSGSIZE`;
/// * receive timestamps (`SO_TIMESTAMPNS`) are turned off: this crate does
///   not report them, and with them quinn-udp's 96-byte control buffer
///   cannot hold a GRO message's control messages (`UDP_GRO`, timestamp,
///   `IP_PKTINFO`, `IP_TOS`: 112 bytes), so the kernel cuts the last one,
///   the ECN mark.
pub(crate) fn udp_prepare(socket: &SockRef<'_>, v6: bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let mut results = vec![
            (
                "IP_MTU_DISCOVER",
                set_int(
                    fd,
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DO,
                ),
            ),
            (
                "SO_TIMESTAMPNS",
                set_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 0),
            ),
        ];
        if v6 {
            results.push((
                "IPV6_MTU_DISCOVER",
                set_int(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    libc::IPV6_PMTUDISC_DO,
                ),
            ));
        }
        for (option, result) in results {
            if let Err(error) = result {
                tracing::debug!(option, %error, "left as quinn-udp set it");
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (socket, v6);
}

/// Turns receive offload (`UDP_GRO`) on or off, where the system has it.
pub(crate) fn udp_set_gro(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        set_int(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            libc::c_int::from(on),
        )
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (socket, on);
        Ok(())
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_int(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is a socket the caller borrows for the call, and the
    // option's value is a `c_int` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `e` is the refusal of a destination on a connected socket
/// (`EISCONN`; Winsock's `WSAEISCONN`).
pub(crate) fn is_already_connected(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::EISCONN);
    #[cfg(windows)]
    return e.raw_os_error() == Some(10056); // WSAEISCONN
    #[cfg(not(any(unix, windows)))]
    {
        let _ = e;
        false
    }
}

/// Whether `e` says the datagram was too large (`EMSGSIZE`, Winsock's
/// `WSAEMSGSIZE`).
pub(crate) fn is_message_too_long(e: &io::Error) -> bool {
    quinn_udp::is_msg_size_err(e)
}
