//! [`UnixConnectionBuilder`]: asyncio's `create_unix_connection` and
//! `open_unix_connection`, a connection to a Unix stream socket.
//!
//! There is nothing to resolve or race: one path, one `connect(2)`. What
//! this adds over `tokio::net::UnixStream::connect` is what the TCP side
//! has: a bound on the whole call, a hook on the socket before it
//! connects, Linux abstract names, and errors that name the path and say
//! what its failure usually means (`ECONNREFUSED` on a path is a stale
//! socket file, nothing listening; `EACCES` is the file's or a directory's
//! permissions).
//!
//! How an abstract name is written: a leading `@` (as `ss`, systemd and
//! Go's `net` package write it), or a leading NUL byte (the kernel's own
//! form). Only Linux and Android have abstract names; elsewhere a leading
//! `@` is part of a file name.

use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use tokio::net::UnixStream;

use crate::client::connect::ConnectionBuilder;
use crate::client::error::{ConnectError, ConnectErrorKind};
use crate::shared::clock::positive;
use crate::shared::report::{Brief, Dur};
use crate::shared::stream::{unix_halves, StreamReader, StreamWriter};
use crate::SocketHook;

/// Connects to a Unix stream socket, as asyncio's
/// `loop.create_unix_connection` (and, with
/// [`open_connection`](Self::open_connection), `asyncio.open_unix_connection`)
/// do, and returns a plain [`tokio::net::UnixStream`]. Made by
/// [`ConnectionBuilder::unix`].
///
/// The path is a file system path, or on Linux and Android an abstract
/// name written with a leading `@` (`"@my-app"`) or a leading NUL byte.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tokio::io::AsyncWriteExt;
/// use tokio_endpoints::ConnectionBuilder;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let mut stream = ConnectionBuilder::unix("/run/app.sock")
///         .connect_timeout(Duration::from_secs(5))
///         .connect()
///         .await?; // a tokio::net::UnixStream
///     stream.write_all(b"PING\n").await?;
///     Ok(())
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct UnixConnectionBuilder {
    path: PathBuf,
    connect_timeout: Option<Duration>,
    hook: Option<SocketHook>,
}

impl ConnectionBuilder {
    /// A builder that connects to the Unix stream socket at `path`:
    /// asyncio's `create_unix_connection(path=...)`. On Linux and Android,
    /// a path that starts with `@` (or a NUL byte) is an abstract name:
    /// `"@my-app"` is the abstract socket `my-app`, with no file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut stream = ConnectionBuilder::unix("/var/run/docker.sock").connect().await?;
    ///     stream.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").await?;
    ///     Ok(())
    /// }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn unix(path: impl AsRef<Path>) -> UnixConnectionBuilder {
        UnixConnectionBuilder {
            path: path.as_ref().to_path_buf(),
            connect_timeout: None,
            hook: None,
        }
    }
}

impl UnixConnectionBuilder {
    /// Bounds the call: a connect still waiting after this long fails with
    /// [`ConnectErrorKind::TimedOut`]. (A Unix connect rarely waits: a
    /// listener with a full queue refuses at once with `WouldBlock`.)
    /// `None` means no bound; `Duration::ZERO` is refused with
    /// [`ConnectErrorKind::InvalidInput`]. Default is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::unix("/run/app.sock").connect_timeout(Duration::from_secs(2));
    /// # drop(b);
    /// ```
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// Runs `hook` on the socket after it is created and before it
    /// connects (`SO_SNDBUF`, `SO_PASSCRED`, ...). An error from the hook
    /// fails the call. Default is no hook.
    ///
    /// # Panics
    ///
    /// A panic in `hook` propagates out of the poll of the connect future;
    /// the socket is closed as the future is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::unix("/run/app.sock")
    ///     .socket_hook(|socket| socket.set_send_buffer_size(1 << 20));
    /// # drop(b);
    /// ```
    pub fn socket_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The path (or `@name`) this builder connects to, as given.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::unix("/run/app.sock");
    /// assert_eq!(b.path(), Path::new("/run/app.sock"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connects and returns a plain [`tokio::net::UnixStream`]
    /// (asyncio's `create_unix_connection`).
    ///
    /// # Errors
    ///
    /// A [`ConnectError`] whose target is the path:
    ///
    /// * [`ConnectErrorKind::InvalidInput`]: an empty path, one too long
    ///   for a Unix socket address (108 bytes on Linux), a zero timeout;
    /// * [`ConnectErrorKind::AllAttemptsFailed`], with the OS error as its
    ///   `source()` and its `io::ErrorKind`: `no such file` (`NotFound`:
    ///   the server is not running, or the path is wrong), `connection
    ///   refused: nothing listens on PATH` (`ConnectionRefused`: a stale
    ///   socket file, left by a server that is gone), `permission denied`
    ///   (`PermissionDenied`: connecting needs write permission on the
    ///   socket file and search permission on its directories), a full
    ///   queue (`WouldBlock`), a failed hook;
    /// * [`ConnectErrorKind::TimedOut`] when the connect timeout passed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio::net::UnixListener;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     # let dir = std::env::temp_dir().join(format!("te-doc-{}", std::process::id()));
    ///     # std::fs::create_dir_all(&dir)?;
    ///     let path = dir.join("app.sock");
    ///     # let _ = std::fs::remove_file(&path);
    ///     let listener = UnixListener::bind(&path)?;
    ///     let mut client = ConnectionBuilder::unix(&path).connect().await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.write_all(b"hi").await?;
    ///     let mut buf = [0; 2];
    ///     server.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"hi");
    ///
    ///     drop(listener); // the file stays: a stale socket file
    ///     let err = ConnectionBuilder::unix(&path).connect().await.unwrap_err();
    ///     assert!(err.to_string().contains("connection refused: nothing listens on"));
    ///     # std::fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn connect(self) -> Result<UnixStream, ConnectError> {
        let addr = self.address().map_err(|m| self.invalid(m))?;
        let timeout =
            positive("connect_timeout", self.connect_timeout).map_err(|m| self.invalid(m))?;
        let connecting = self.connect_to(&addr);
        match timeout {
            None => connecting.await,
            Some(limit) => match tokio::time::timeout(limit, connecting).await {
                Ok(result) => result,
                Err(_) => Err(
                    ConnectError::new(ConnectErrorKind::TimedOut, self.describe())
                        .with_message(format!("timed out after {}", Dur(limit))),
                ),
            },
        }
    }

    /// Connects as [`connect`](Self::connect) does and returns the
    /// connection as a buffered reader half and a writer half: asyncio's
    /// `open_unix_connection`. They are the types
    /// [`ConnectionBuilder::open_connection`] returns; their `peer_addr`
    /// and `local_addr` fail with `Unsupported` (a Unix socket has no IP
    /// address).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let (mut reader, mut writer) = ConnectionBuilder::unix("/run/app.sock")
    ///         .open_connection()
    ///         .await?;
    ///     writer.write_all(b"PING\n").await?;
    ///     let mut line = String::new();
    ///     reader.read_line(&mut line).await?;
    ///     writer.close().await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn open_connection(self) -> Result<(StreamReader, StreamWriter), ConnectError> {
        self.connect().await.map(unix_halves)
    }

    /// The connector's hook, for `Connector::unix_socket`.
    #[cfg(feature = "hyper")]
    pub(crate) fn hook(mut self, hook: Option<SocketHook>) -> Self {
        self.hook = hook;
        self
    }

    /// The path as errors name it: an abstract name with its `@`.
    fn describe(&self) -> String {
        let bytes = self.path.as_os_str().as_bytes();
        match bytes.first() {
            Some(0) => format!("@{}", String::from_utf8_lossy(&bytes[1..])),
            _ => self.path.display().to_string(),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> ConnectError {
        ConnectError::invalid(self.describe(), message)
    }

    /// The socket address of the path: an abstract name for `@name` (or
    /// `\0name`) on Linux and Android, a file otherwise.
    fn address(&self) -> Result<SockAddr, String> {
        let bytes = self.path.as_os_str().as_bytes();
        if bytes.is_empty() {
            return Err("the Unix socket path is empty".into());
        }
        if let Some(why) =
            crate::shared::report::unix_path_nul_error("the Unix socket path", &self.path)
        {
            return Err(why);
        }
        let abstract_name = match bytes {
            [0, ..] => Some(&bytes[1..]),
            [b'@', ..] if crate::sys::HAS_ABSTRACT_NAMES => Some(&bytes[1..]),
            _ => None,
        };
        let addr = match abstract_name {
            Some(name) => {
                if !crate::sys::HAS_ABSTRACT_NAMES {
                    return Err("abstract Unix socket names exist on Linux and Android only".into());
                }
                let mut kernel = vec![0u8];
                kernel.extend_from_slice(name);
                // A leading NUL, which socket2 reads as an abstract name.
                SockAddr::unix(std::ffi::OsStr::from_bytes(&kernel))
            }
            None => SockAddr::unix(&self.path),
        };
        addr.map_err(|_| {
            format!(
                "the Unix socket path is {} bytes, longer than a socket address holds \
                 (108 bytes on Linux, 104 on macOS and the BSDs)",
                bytes.len()
            )
        })
    }

    /// The connect itself: a fresh socket, the hook, `connect(2)`, and the
    /// wait for it to finish where the platform makes one wait.
    async fn connect_to(&self, addr: &SockAddr) -> Result<UnixStream, ConnectError> {
        let socket = self.prepare().map_err(|e| self.failed(&e))?;
        match socket.connect(addr) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(self.failed(&e)),
        }
        let stream = UnixStream::from_std(std::os::unix::net::UnixStream::from(socket))
            .map_err(|e| self.failed(&e))?;
        // Writable: the connect ended; `SO_ERROR` says how.
        stream.writable().await.map_err(|e| self.failed(&e))?;
        match stream.take_error() {
            Ok(None) => Ok(stream),
            Ok(Some(e)) | Err(e) => Err(self.failed(&e)),
        }
    }

    fn prepare(&self) -> io::Result<Socket> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        // Close-on-exec already: socket2 sets it on every socket it makes.
        socket.set_nonblocking(true)?;
        if let Some(hook) = &self.hook {
            hook(&SockRef::from(&socket))
                .map_err(|e| io::Error::new(e.kind(), format!("socket hook: {}", Brief(&e))))?;
        }
        Ok(socket)
    }

    /// The error of a failed connect, in words that name the path.
    fn failed(&self, e: &io::Error) -> ConnectError {
        let path = self.describe();
        let message = match e.kind() {
            io::ErrorKind::NotFound => format!("no such file: {path} does not exist"),
            io::ErrorKind::ConnectionRefused => {
                format!("connection refused: nothing listens on {path}")
            }
            io::ErrorKind::PermissionDenied => format!(
                "permission denied: connecting to {path} needs write permission on it \
                 and search permission on its directories"
            ),
            io::ErrorKind::WouldBlock => {
                format!("the server's queue is full: {path} accepts no more connections now")
            }
            _ => Brief(e).to_string(),
        };
        let source = match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        ConnectError::new(ConnectErrorKind::AllAttemptsFailed, path)
            .with_message(message)
            .with_source(source)
    }
}

impl fmt::Debug for UnixConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixConnectionBuilder")
            .field("path", &self.describe())
            .field("connect_timeout", &self.connect_timeout)
            .field("socket_hook", &self.hook.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_names_are_written_with_an_at_sign() {
        let b = ConnectionBuilder::unix("@tokio-endpoints-test");
        let addr = b.address().unwrap();
        if crate::sys::HAS_ABSTRACT_NAMES {
            assert_eq!(
                addr.as_abstract_namespace(),
                Some(&b"tokio-endpoints-test"[..])
            );
        }
        assert_eq!(b.describe(), "@tokio-endpoints-test");
        let nul = ConnectionBuilder::unix("\0x");
        assert_eq!(nul.describe(), "@x");
    }

    #[test]
    fn bad_paths_are_refused_by_length() {
        assert!(ConnectionBuilder::unix("").address().is_err());
        let long = "/tmp/".to_string() + &"x".repeat(200);
        let why = ConnectionBuilder::unix(long).address().unwrap_err();
        assert!(why.contains("205 bytes"), "{why}");
    }
}
