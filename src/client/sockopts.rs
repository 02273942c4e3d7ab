//! The socket options every HTTP stack offers (hyper-util's
//! `HttpConnector`, reqwest, curl): TCP keepalive, `TCP_USER_TIMEOUT`,
//! buffer sizes and the interface, set on each attempt's socket before it
//! connects, the same for a [`ConnectionBuilder`](crate::ConnectionBuilder)
//! and a [`Connector`](crate::Connector).
//!
//! Two rules shape this module. An option the user asked for is never
//! dropped silently: where the platform lacks it, the call fails with
//! `Unsupported` before any packet is sent, rather than connecting without
//! it (quinn-udp logs and goes on for tuning it discovers itself; these are
//! asked for by name). And an interface name is looked up
//! (`if_nametoindex(3)`) before anything is sent, so a typo is one clear
//! error naming the interface, not one `ENODEV` per attempt.
//!
//! Each option is applied after `TCP_NODELAY` and before the socket hook,
//! so a hook sees them set and may override them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Socket, TcpKeepalive};

use crate::client::error::ConnectErrorKind;
use crate::shared::report::{buffer_size_error, Brief};
use crate::sys::{
    bind_interface, interface_index, set_user_timeout, HAS_INTERFACE, HAS_USER_TIMEOUT,
};

/// The options of this module, boxed behind an `Arc` in the connect
/// options once one is set: a builder without them carries one pointer.
#[derive(Clone, Default)]
pub(crate) struct SocketOptions {
    pub(crate) keepalive: Option<TcpKeepalive>,
    pub(crate) user_timeout: Option<Duration>,
    pub(crate) send_buffer: Option<usize>,
    pub(crate) recv_buffer: Option<usize>,
    pub(crate) interface: Option<String>,
    /// `history::name_id` of `interface`, for the history's key; 0: none.
    interface_id: u64,
    /// The interface name `check` found (`if_nametoindex(3)`), so that the
    /// calls of a `Connector` look it up once, not once each (it takes a
    /// socket and an ioctl). A name that stops naming an interface later
    /// fails each attempt's bind, naming it.
    interface_found: std::sync::OnceLock<String>,
}

impl SocketOptions {
    /// Sets `interface`, forgetting the one found before.
    pub(crate) fn set_interface(&mut self, name: String) {
        self.interface_id = crate::client::history::name_id(&name);
        self.interface = Some(name);
        self.interface_found = Default::default();
    }

    /// The interface as a word of the history's key (0: none).
    pub(crate) fn interface_id(&self) -> u64 {
        self.interface_id
    }

    /// Refuses what cannot be applied, before anything is sent: an option
    /// this platform lacks (`Unsupported`), a user timeout the kernel
    /// would misread (under 1 ms, over `i32::MAX` ms), a buffer size over
    /// `c_int::MAX` (`SO_SNDBUF`/`SO_RCVBUF` take an `int`), an
    /// interface name that is empty, holds a NUL, or names no interface
    /// (`InvalidInput`). The message names the option and the value.
    pub(crate) fn check(&self) -> Result<(), (ConnectErrorKind, String)> {
        let invalid = |m: String| Err((ConnectErrorKind::InvalidInput, m));
        if let Some(timeout) = self.user_timeout {
            if !HAS_USER_TIMEOUT {
                return Err((
                    ConnectErrorKind::Unsupported,
                    "tcp_user_timeout: this platform has no TCP_USER_TIMEOUT".into(),
                ));
            }
            if timeout.is_zero() {
                return invalid(
                    "tcp_user_timeout must be greater than zero (None leaves the system's default)"
                        .into(),
                );
            }
            // The kernel takes whole milliseconds in an `int`: less than
            // one would be read as zero ("the default"), more than
            // `i32::MAX` is refused by it (or wraps).
            if timeout < Duration::from_millis(1) {
                return invalid(format!(
                    "tcp_user_timeout({timeout:?}) is under one millisecond, the kernel's unit"
                ));
            }
            if timeout.as_millis() > i32::MAX as u128 {
                return invalid(format!(
                    "tcp_user_timeout({timeout:?}) is over {} ms, the most the kernel takes",
                    i32::MAX
                ));
            }
        }
        if let Some(message) = buffer_size_error(self.send_buffer, self.recv_buffer) {
            return invalid(message);
        }
        if let Some(name) = &self.interface {
            if !HAS_INTERFACE {
                return Err((
                    ConnectErrorKind::Unsupported,
                    format!(
                        "interface({name:?}): this platform cannot bind a socket to an interface \
                         (SO_BINDTODEVICE, IP_BOUND_IF, IP_UNICAST_IF)"
                    ),
                ));
            }
            if name.is_empty() || name.contains('\0') {
                return invalid(format!("interface({name:?}) is not an interface name"));
            }
            if self.interface_found.get() != Some(name) {
                if interface_index(name).is_none() {
                    return invalid(format!(
                        "interface({name:?}): there is no network interface named {name:?}"
                    ));
                }
                let _ = self.interface_found.set(name.clone());
            }
        }
        Ok(())
    }

    /// Sets the options on the socket of an attempt to `addr`.
    pub(crate) fn apply(&self, socket: &Socket, addr: SocketAddr) -> io::Result<()> {
        let step = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}", e = Brief(&e)))
        };
        if let Some(keepalive) = &self.keepalive {
            socket
                .set_tcp_keepalive(keepalive)
                .map_err(step("SO_KEEPALIVE / TCP_KEEP*"))?;
        }
        if let Some(timeout) = self.user_timeout {
            set_user_timeout(socket, timeout).map_err(step("TCP_USER_TIMEOUT"))?;
        }
        if let Some(size) = self.send_buffer {
            socket
                .set_send_buffer_size(size)
                .map_err(step("SO_SNDBUF"))?;
        }
        if let Some(size) = self.recv_buffer {
            socket
                .set_recv_buffer_size(size)
                .map_err(step("SO_RCVBUF"))?;
        }
        if let Some(name) = &self.interface {
            bind_interface(socket, name, addr).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("bind to interface {name:?}: {e}", e = Brief(&e)),
                )
            })?;
        }
        Ok(())
    }
}

impl fmt::Debug for SocketOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketOptions")
            .field("tcp_keepalive", &self.keepalive)
            .field("tcp_user_timeout", &self.user_timeout)
            .field("send_buffer_size", &self.send_buffer)
            .field("recv_buffer_size", &self.recv_buffer)
            .field("interface", &self.interface)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_interface_is_refused_by_name() {
        let opts = SocketOptions {
            interface: Some("no-such-if0".into()),
            ..SocketOptions::default()
        };
        let (kind, message) = opts.check().unwrap_err();
        if HAS_INTERFACE {
            assert_eq!(kind, ConnectErrorKind::InvalidInput);
            assert!(message.contains("\"no-such-if0\""), "{message}");
        } else {
            assert_eq!(kind, ConnectErrorKind::Unsupported);
        }
    }

    /// An interface found once is not looked up again by the calls that
    /// share these options (a `Connector`'s); a new name is.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_interface_is_looked_up_once_per_name() {
        let mut opts = SocketOptions::default();
        opts.set_interface("lo".into());
        assert!(opts.check().is_ok());
        assert_eq!(opts.interface_found.get().map(String::as_str), Some("lo"));
        let shared = opts.clone();
        assert_eq!(shared.interface_found.get().map(String::as_str), Some("lo"));
        opts.set_interface("no-such-if0".into());
        assert!(opts.interface_found.get().is_none());
        assert!(opts.check().is_err());
        assert!(shared.check().is_ok());
    }

    #[test]
    fn a_user_timeout_is_refused_where_the_platform_lacks_it() {
        let opts = SocketOptions {
            user_timeout: Some(Duration::from_secs(5)),
            ..SocketOptions::default()
        };
        assert_eq!(opts.check().is_ok(), HAS_USER_TIMEOUT);
        let zero = SocketOptions {
            user_timeout: Some(Duration::ZERO),
            ..SocketOptions::default()
        };
        assert!(zero.check().is_err());
    }
}
