//! Platform facts shared by the socket builders: one list of the platforms
//! with `SO_REUSEPORT`, so the datagram and the server builders agree, one
//! of those that can tell a listening socket (`SO_ACCEPTCONN`), and the
//! stale Unix socket file check they share.

use std::io;

use socket2::{SockRef, Socket};

/// Whether `sock` listens (`SO_ACCEPTCONN`), or `None` where the platform
/// cannot tell: adopted sockets (`from_listener`, systemd's) are checked
/// with it.
pub(crate) fn is_listening(sock: &SockRef<'_>) -> io::Result<Option<bool>> {
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "linux"
    ))]
    return sock.is_listener().map(Some);
    #[cfg(not(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "linux"
    )))]
    {
        let _ = sock;
        Ok(None)
    }
}

/// Whether this platform has `SO_REUSEPORT` (where socket2 offers it).
pub(crate) const HAS_REUSE_PORT: bool = cfg!(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
));

/// Sets `SO_REUSEPORT`, or fails with `Unsupported` where the platform has
/// none ([`HAS_REUSE_PORT`] is `false`).
#[cfg(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
))]
pub(crate) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

/// Sets `SO_REUSEPORT`, or fails with `Unsupported` where the platform has
/// none ([`HAS_REUSE_PORT`] is `false`).
#[cfg(not(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
)))]
pub(crate) fn set_reuse_port(_: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform has no SO_REUSEPORT",
    ))
}

/// Removes the socket file at `path` when nothing uses it, so a Unix socket
/// can be bound there again: asyncio removes any socket file in the way;
/// we first check that it is stale. A probe socket of type `ty` connects
/// to it: refused means no socket is bound there any more, and the file is
/// removed. A live socket's path fails with `AddrInUse`, saying `in_use`;
/// no file, a file that is not a socket, or a probe that cannot tell (no
/// permission) leave the path alone, and `bind` reports what is there.
#[cfg(unix)]
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
