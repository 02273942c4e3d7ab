//! Platform facts shared by the socket builders: one list of the platforms
//! with `SO_REUSEPORT`, so the datagram and the server builders agree.

use std::io;

use socket2::Socket;

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
