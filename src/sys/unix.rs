//! What every Unix shares: interface names (`if_nametoindex(3)`), the
//! `errno` values the crate reads, and stale Unix socket files.

use std::io;
use std::num::NonZeroU32;

use socket2::Socket;

/// `if_nametoindex(3)`: the index of the interface `name`, or `None`.
pub(crate) fn interface_index(name: &str) -> Option<NonZeroU32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    NonZeroU32::new(index)
}

/// Whether `connect(2)` on a non-blocking socket failed only because the
/// handshake is under way (`EINPROGRESS`).
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `EAFNOSUPPORT` or `EPROTONOSUPPORT`: the address family is not on this
/// host (no IPv6, say).
pub(crate) fn family_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
    )
}

/// An `accept(2)` error that says the process or the system is out of
/// descriptors or memory: wait, then accept again.
pub(crate) fn accept_out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// An `accept(2)` error every Unix reports about the one connection it
/// took (`EPROTO`: dead in the queue; `EPERM`: refused by a firewall
/// rule); each family's `accept_connection_failed` adds its own.
pub(super) fn accept_protocol_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

/// Removes the socket file at `path` when nothing uses it, so a Unix socket
/// can be bound there again: asyncio removes any socket file in the way;
/// we first check that it is stale. A probe socket of type `ty` connects
/// to it: refused means no socket is bound there any more, and the file is
/// removed. A live socket's path fails with `AddrInUse`, saying `in_use`;
/// no file, a file that is not a socket, or a probe that cannot tell (no
/// permission) leave the path alone, and `bind` reports what is there.
pub(crate) fn remove_stale_socket(
    path: &std::path::Path,
    ty: socket2::Type,
    in_use: &str,
) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;

    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Ok(());
    }
    let probe = Socket::new(socket2::Domain::UNIX, ty, None)?;
    probe.set_nonblocking(true)?;
    let in_use = || {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("bind to {}: {in_use}", path.display()),
        )
    };
    match probe.connect(&socket2::SockAddr::unix(path)?) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::debug!(path = %path.display(), "removing a stale socket file");
            std::fs::remove_file(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "removing the stale socket file {}: {e}",
                        path.display(),
                        e = crate::shared::report::Brief(&e)
                    ),
                )
            })
        }
        // Connected, or in progress (a listener's full queue): in use.
        Ok(()) => Err(in_use()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(in_use()),
        Err(_) => Ok(()),
    }
}
