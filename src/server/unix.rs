//! [`UnixServerBuilder`]: asyncio's `create_unix_server`.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::{unix, UnixListener, UnixStream};

use super::builder::ServerBuilder;
use super::error::{ListenAttempt, ServerError, ServerErrorKind};
use super::listener::{classify, AcceptError, DEFAULT_BACKLOG, FIRST_BACKOFF, MAX_BACKOFF};
use super::serve::{Accept, Server};
use crate::SocketHook;

/// Unix domain stream servers.
impl ServerBuilder {
    /// A builder for a Unix domain stream server (asyncio's
    /// `create_unix_server`): see [`UnixServerBuilder`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = ServerBuilder::unix("/run/myapp.sock").bind().await?; // a tokio::net::UnixListener
    /// let (stream, _) = listener.accept().await?;
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn unix(path: impl AsRef<std::path::Path>) -> UnixServerBuilder {
        UnixServerBuilder::new(path)
    }
}

/// Builds a listening Unix domain stream socket at a path and returns a
/// plain [`tokio::net::UnixListener`] ([`bind`](Self::bind)), or serves it
/// ([`serve`](Self::serve)): asyncio's `create_unix_server(path=...)`. Made
/// by [`ServerBuilder::unix`](crate::ServerBuilder::unix).
///
/// # A socket file already at the path
///
/// A server that exits without removing its socket file leaves it behind,
/// and binding the path again fails with `AddrInUse`. As asyncio does, a
/// stale socket file is removed before binding, but only when it is a
/// socket and nothing listens on it (a connect to it is refused): a live
/// server's path is refused with `AddrInUse`, and a file that is not a
/// socket is never removed.
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("tokio-endpoints-srv-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("app.sock");
/// let listener = ServerBuilder::unix(&path).bind().await?;
/// let mut client = tokio::net::UnixStream::connect(&path).await?;
/// let (mut conn, _) = listener.accept().await?;
/// client.write_all(b"hi").await?;
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[must_use = "a builder does nothing until `bind` or `serve` is called"]
pub struct UnixServerBuilder {
    path: PathBuf,
    backlog: u32,
    hook: Option<SocketHook>,
}

impl UnixServerBuilder {
    /// A builder for a server at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::UnixServerBuilder;
    ///
    /// let b = UnixServerBuilder::new("/run/myapp.sock");
    /// # drop(b);
    /// ```
    pub fn new(path: impl AsRef<Path>) -> UnixServerBuilder {
        UnixServerBuilder {
            path: path.as_ref().to_path_buf(),
            backlog: DEFAULT_BACKLOG,
            hook: None,
        }
    }

    /// The accept queue length (`listen(2)`'s `backlog`), clipped by the
    /// kernel. Default is 1024 ([`DEFAULT_BACKLOG`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::unix("/run/myapp.sock").backlog(128);
    /// # drop(b);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Runs `hook` on the socket after it is created and before it is
    /// bound (buffer sizes, `SO_PASSCRED`). An error from the hook fails
    /// the call. Default is no hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// let b = ServerBuilder::unix("/run/myapp.sock").socket_hook(|s| s.set_recv_buffer_size(1 << 16));
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Makes the listening socket: removes a stale socket file (see the
    /// type's docs), creates the socket, runs the hook, binds and listens.
    ///
    /// # Errors
    ///
    /// A [`ServerError`]: [`ServerErrorKind::InvalidInput`] for an empty
    /// path, one with a NUL byte or one too long for `sun_path`;
    /// [`ServerErrorKind::BindFailed`] when a server listens at the path
    /// or a file that is not a socket is there (`AddrInUse`), or the
    /// directory does not exist (`NotFound`). No socket stays open.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() {
    /// let err = ServerBuilder::unix("/nonexistent/dir/x.sock").bind().await.unwrap_err();
    /// assert!(err.to_string().contains("bind to /nonexistent/dir/x.sock"));
    /// # }
    /// ```
    pub async fn bind(self) -> Result<UnixListener, ServerError> {
        if self.path.as_os_str().is_empty() {
            return Err(ServerError::invalid(self.describe(), "the path is empty"));
        }
        if let Some(why) = crate::shared::report::unix_path_nul_error("the path", &self.path) {
            return Err(ServerError::invalid(self.describe(), why));
        }
        let addr = SockAddr::unix(&self.path).map_err(|e| {
            ServerError::invalid(
                self.describe(),
                format!(
                    "{}: {e}",
                    self.path.display(),
                    e = crate::shared::report::Brief(&e)
                ),
            )
        })?;
        self.open(&addr)
            .and_then(UnixListener::from_std)
            .map_err(|error| {
                ServerError::new(ServerErrorKind::BindFailed, self.describe())
                    .with_attempts(vec![ListenAttempt { addr: None, error }])
            })
    }

    /// Binds as [`bind`](Self::bind) does and serves: a task accepts
    /// connections and spawns `handler(stream, peer)` for each. Transient
    /// accept errors are waited out as [`Listener`](crate::Listener) does.
    /// When the server stops, its socket file is removed if it is still
    /// the one it made (asyncio 3.13's `cleanup_socket`). The [`Server`]'s
    /// [`local_addrs`](Server::local_addrs) is empty (the socket has a
    /// path, not an IP address).
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::unix("/run/myapp.sock")
    ///     .serve(|mut stream, _peer| async move {
    ///         let _ = stream.write_all(b"hello\n").await;
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve<F, Fut>(self, handler: F) -> Result<Server, ServerError>
    where
        F: Fn(UnixStream, unix::SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let path = self.path.clone();
        let listener = self.bind().await?;
        Ok(Server::start(
            UnixAcceptor::new(listener, path),
            Vec::new(),
            handler,
        ))
    }

    fn open(&self, addr: &SockAddr) -> io::Result<std::os::unix::net::UnixListener> {
        crate::sys::remove_stale_socket(&self.path, Type::STREAM, "a server is listening there")?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        if let Some(hook) = &self.hook {
            hook(&socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("socket hook: {e}", e = crate::shared::report::Brief(&e)),
                )
            })?;
        }
        socket.bind(addr).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::AddrInUse {
                " (a file that is not a socket exists at the path)"
            } else {
                ""
            };
            io::Error::new(
                e.kind(),
                format!(
                    "bind to {}: {e}{hint}",
                    self.path.display(),
                    e = crate::shared::report::Brief(&e)
                ),
            )
        })?;
        let backlog = i32::try_from(self.backlog).unwrap_or(i32::MAX);
        if let Err(e) = socket.listen(backlog) {
            let _ = std::fs::remove_file(&self.path);
            return Err(io::Error::new(
                e.kind(),
                format!("listen: {e}", e = crate::shared::report::Brief(&e)),
            ));
        }
        Ok(socket.into())
    }

    fn describe(&self) -> String {
        format!("unix {}", self.path.display())
    }
}

/// The accept loop's side of a Unix server: transient accept errors waited
/// out as [`Listener`](crate::Listener) does, and the socket file removed
/// when the server stops (asyncio 3.13's `cleanup_socket`), if it is still
/// the one this server made.
struct UnixAcceptor {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's device and inode when it was bound.
    file: Option<(u64, u64)>,
    delay: Duration,
}

impl UnixAcceptor {
    fn new(listener: UnixListener, path: PathBuf) -> UnixAcceptor {
        let file = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        UnixAcceptor {
            listener,
            path,
            file,
            delay: FIRST_BACKOFF,
        }
    }
}

impl Accept for UnixAcceptor {
    type Conn = UnixStream;
    type Addr = unix::SocketAddr;
    async fn accept(&mut self) -> io::Result<(UnixStream, unix::SocketAddr)> {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    self.delay = FIRST_BACKOFF;
                    return Ok(accepted);
                }
                Err(e) => match classify(&e) {
                    AcceptError::Connection => {
                        tracing::debug!(error = %e, "accept: connection failed before it was accepted; going on");
                    }
                    AcceptError::Resources => {
                        let delay = self.delay;
                        tracing::warn!(error = %e, ?delay, "accept: out of resources; backing off");
                        self.delay = (delay * 2).min(MAX_BACKOFF);
                        tokio::time::sleep(delay).await;
                    }
                    AcceptError::Fatal => return Err(e),
                },
            }
        }
    }
}

impl Drop for UnixAcceptor {
    fn drop(&mut self) {
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if now.is_some() && now == self.file {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::debug!(path = %self.path.display(), error = %e, "removing the socket file failed");
            }
        }
    }
}

impl fmt::Debug for UnixServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixServerBuilder")
            .field("path", &self.path)
            .field("backlog", &self.backlog)
            .field("socket_hook", &self.hook.is_some())
            .finish()
    }
}
