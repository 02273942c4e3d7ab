//! [`UnixDatagramBuilder`]: asyncio's `create_datagram_endpoint` with
//! `family=socket.AF_UNIX`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixDatagram;

use super::error::{BindAttempt, DatagramError, DatagramErrorKind};
use crate::SocketHook;

/// Builds a Unix domain datagram socket bound to and/or connected to paths,
/// and returns a plain [`tokio::net::UnixDatagram`]: asyncio's
/// `create_datagram_endpoint(family=socket.AF_UNIX, local_addr=path,
/// remote_addr=path)`. Made by [`DatagramBuilder::unix`](crate::DatagramBuilder::unix)
/// or [`UnixDatagramBuilder::new`].
///
/// With neither path the socket is unbound and unconnected (it can still
/// `send_to` a path).
///
/// A socket file already at [`local_path`](Self::local_path) that no
/// socket is bound to any more (a program that exited without removing it)
/// is removed before binding, as [`UnixServerBuilder`](crate::UnixServerBuilder)
/// does: asyncio removes any socket file in the way, we first check that it
/// is stale (a probe's connect to it is refused). A path a live socket is
/// bound to fails with `AddrInUse`, and a file that is not a socket is
/// never removed.
/// When connecting fails after the socket was bound, the socket file it
/// created is removed, so a failed call leaves neither a descriptor nor a
/// file behind.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::DatagramBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("tokio-endpoints-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let server_path = dir.join("server.sock");
/// let server = DatagramBuilder::unix().local_path(&server_path).bind().await?;
/// let client = DatagramBuilder::unix()
///     .local_path(dir.join("client.sock"))
///     .remote_path(&server_path)
///     .bind()
///     .await?;
/// client.send(b"hello").await?;
/// let mut buf = [0; 16];
/// let (n, from) = server.recv_from(&mut buf).await?;
/// assert_eq!(&buf[..n], b"hello");
/// assert_eq!(from.as_pathname(), Some(dir.join("client.sock").as_path()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[must_use = "a builder does nothing until `bind` is called"]
#[derive(Default)]
pub struct UnixDatagramBuilder {
    local: Option<PathBuf>,
    remote: Option<PathBuf>,
    hook: Option<SocketHook>,
}

impl UnixDatagramBuilder {
    /// A builder with neither path.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::UnixDatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let unbound = UnixDatagramBuilder::new().bind().await?;
    /// assert!(unbound.local_addr()?.is_unnamed());
    /// # Ok(()) }
    /// ```
    pub fn new() -> UnixDatagramBuilder {
        UnixDatagramBuilder::default()
    }

    /// Binds the socket to this path (asyncio's `local_addr`; `bind(2)`,
    /// see `unix(7)`): the file is created; a stale socket file there is
    /// replaced (see the type's docs), any other file refused. Datagrams
    /// sent from this socket carry the path as their sender, so a peer can
    /// answer. Default is unbound.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// let b = DatagramBuilder::unix().local_path("/run/myapp/client.sock");
    /// # drop(b);
    /// ```
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.local = Some(path.as_ref().to_path_buf());
        self
    }

    /// Connects the socket to this path (asyncio's `remote_addr`;
    /// `connect(2)`): `send` goes there and `recv` only takes datagrams
    /// from it. A socket must be bound at the path. Default is unconnected.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// let b = DatagramBuilder::unix().remote_path("/dev/log");
    /// # drop(b);
    /// ```
    pub fn remote_path(mut self, path: impl AsRef<Path>) -> Self {
        self.remote = Some(path.as_ref().to_path_buf());
        self
    }

    /// Runs `hook` on the socket after it is created and before it is bound
    /// (buffer sizes, `SO_PASSCRED`). An error from the hook fails the call.
    /// Default is no hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// let b = DatagramBuilder::unix().socket_hook(|socket| socket.set_send_buffer_size(1 << 16));
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Makes the socket: creates it, runs the hook, binds and connects.
    ///
    /// # Errors
    ///
    /// A [`DatagramError`]: [`DatagramErrorKind::InvalidInput`] for an empty
    /// path, a path with a NUL byte or one too long for `sun_path`, before a
    /// socket is opened; [`DatagramErrorKind::AllAttemptsFailed`] when the
    /// socket failed (a path that exists: `AddrInUse`; nothing bound at the
    /// remote path: `ConnectionRefused` or `NotFound`). No socket stays
    /// open.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = DatagramBuilder::unix().remote_path("/nonexistent/x.sock").bind().await.unwrap_err();
    /// assert!(err.to_string().contains("connect to /nonexistent/x.sock"));
    /// # }
    /// ```
    pub async fn bind(self) -> Result<UnixDatagram, DatagramError> {
        let local = self.sock_addr("local_path", self.local.as_deref())?;
        let remote = self.sock_addr("remote_path", self.remote.as_deref())?;
        self.open(local.as_ref(), remote.as_ref())
            .and_then(UnixDatagram::from_std)
            .map_err(|error| {
                DatagramError::new(DatagramErrorKind::AllAttemptsFailed, self.describe())
                    .with_attempts(vec![BindAttempt {
                        local: None,
                        remote: None,
                        error,
                    }])
            })
    }

    fn sock_addr(
        &self,
        what: &str,
        path: Option<&Path>,
    ) -> Result<Option<SockAddr>, DatagramError> {
        let Some(path) = path else { return Ok(None) };
        if path.as_os_str().is_empty() {
            return Err(DatagramError::invalid(
                self.describe(),
                format!("{what} is empty"),
            ));
        }
        if let Some(why) = crate::shared::report::unix_path_nul_error(what, path) {
            return Err(DatagramError::invalid(self.describe(), why));
        }
        SockAddr::unix(path).map(Some).map_err(|e| {
            DatagramError::invalid(
                self.describe(),
                format!(
                    "{what} {}: {e}",
                    path.display(),
                    e = crate::shared::report::Brief(&e)
                ),
            )
        })
    }

    fn open(
        &self,
        local: Option<&SockAddr>,
        remote: Option<&SockAddr>,
    ) -> io::Result<std::os::unix::net::UnixDatagram> {
        if let Some(path) = &self.local {
            crate::sys::remove_stale_socket(path, Type::DGRAM, "a socket is bound there")?;
        }
        let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
        socket.set_nonblocking(true)?;
        if let Some(hook) = &self.hook {
            hook(&socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("socket hook: {e}", e = crate::shared::report::Brief(&e)),
                )
            })?;
        }
        if let (Some(addr), Some(path)) = (local, &self.local) {
            socket.bind(addr).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::AddrInUse {
                    " (another file is at the path)"
                } else {
                    ""
                };
                io::Error::new(
                    e.kind(),
                    format!(
                        "bind to {}: {e}{hint}",
                        path.display(),
                        e = crate::shared::report::Brief(&e)
                    ),
                )
            })?;
        }
        if let (Some(addr), Some(path)) = (remote, &self.remote) {
            if let Err(e) = socket.connect(addr) {
                // Take back the socket file this call created.
                if let Some(local) = &self.local {
                    let _ = std::fs::remove_file(local);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "connect to {}: {e}",
                        path.display(),
                        e = crate::shared::report::Brief(&e)
                    ),
                ));
            }
        }
        Ok(socket.into())
    }

    fn describe(&self) -> String {
        match (&self.local, &self.remote) {
            (None, None) => "unix, unbound".to_string(),
            (Some(l), None) => format!("unix local {}", l.display()),
            (None, Some(r)) => format!("unix remote {}", r.display()),
            (Some(l), Some(r)) => format!("unix local {}, remote {}", l.display(), r.display()),
        }
    }
}

impl fmt::Debug for UnixDatagramBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagramBuilder")
            .field("local_path", &self.local)
            .field("remote_path", &self.remote)
            .field("socket_hook", &self.hook.is_some())
            .finish()
    }
}
