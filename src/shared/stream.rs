//! The two halves of a connection, asyncio's `StreamReader` and
//! `StreamWriter`, over TCP or TLS, for both sides: the client's
//! `open_connection` (in `client::streams`) and the server's `serve_streams`
//! (in `server`). This module knows neither side: a TLS stream of either
//! side comes in as a [`TlsConn`], a trait the sides implement.
//!
//! The connection is split with [`tokio::io::split`] rather than
//! `TcpStream::into_split`, so TCP and TLS give the same two types: a
//! TLS session cannot be cut into independent halves (one rustls state
//! serves both directions), and one type for both is what asyncio gives.
//! The cost is a lock taken for the length of each poll, contended only
//! when both halves are polled at the same instant on different threads.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{
    AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;

/// A TLS stream of either side (the client's `TlsStream`, the server's
/// `ServerTlsStream`) under a pair of halves: readable, writable with a
/// bounded shutdown, over a TCP stream whose addresses the halves report.
#[cfg(feature = "tls")]
pub(crate) trait TlsConn: AsyncRead + AsyncWrite + Send + Sync + Unpin + fmt::Debug {
    /// The TCP stream under the TLS session.
    fn tcp(&self) -> &TcpStream;
}

/// The connection under the two halves.
#[derive(Debug)]
enum Conn {
    Tcp(TcpStream),
    // Boxed: a TLS session is a few hundred bytes, a TcpStream a few words.
    #[cfg(feature = "tls")]
    Tls(Box<dyn TlsConn>),
    /// A Unix stream socket (`ConnectionBuilder::unix`).
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Conn::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            // Bounded by the TLS shutdown timeout (see `TlsStream`).
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// What both halves know of the connection, read once when it is split.
#[derive(Debug, Clone, Copy)]
struct Info {
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
    unix: bool,
}

impl Info {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer.ok_or_else(|| self.no_addr("peer"))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local.ok_or_else(|| self.no_addr("local"))
    }

    fn no_addr(&self, which: &str) -> io::Error {
        if self.unix {
            return io::Error::new(
                io::ErrorKind::Unsupported,
                format!("a Unix socket connection has no {which} IP address"),
            );
        }
        no_addr(which)
    }
}

fn no_addr(which: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("the {which} address was not available when the connection was opened"),
    )
}

/// A plain TCP connection as a reader and a writer half (the server's
/// `serve_streams`).
pub(crate) fn tcp_halves(stream: TcpStream) -> (StreamReader, StreamWriter) {
    halves(Conn::Tcp(stream))
}

/// A TLS connection of either side as a reader and a writer half (the
/// client's `open_connection_tls`, the server's `serve_tls_streams`).
#[cfg(feature = "tls")]
pub(crate) fn tls_halves(stream: impl TlsConn + 'static) -> (StreamReader, StreamWriter) {
    halves(Conn::Tls(Box::new(stream)))
}

/// A Unix stream connection as a reader and a writer half (the client's
/// `UnixConnectionBuilder::open_connection`): they have no IP addresses.
#[cfg(unix)]
pub(crate) fn unix_halves(stream: tokio::net::UnixStream) -> (StreamReader, StreamWriter) {
    halves(Conn::Unix(stream))
}

fn halves(conn: Conn) -> (StreamReader, StreamWriter) {
    let (tcp, tls) = match &conn {
        Conn::Tcp(s) => (Some(s), false),
        #[cfg(feature = "tls")]
        Conn::Tls(s) => (Some(s.tcp()), true),
        #[cfg(unix)]
        Conn::Unix(_) => (None, false),
    };
    let info = Info {
        peer: tcp.and_then(|t| t.peer_addr().ok()),
        local: tcp.and_then(|t| t.local_addr().ok()),
        tls,
        unix: tcp.is_none(),
    };
    let (read, write) = tokio::io::split(conn);
    (
        StreamReader {
            inner: BufReader::new(read),
            info,
        },
        StreamWriter { inner: write, info },
    )
}

/// The reading half of [`ConnectionBuilder::open_connection`](crate::ConnectionBuilder::open_connection) (and
/// [`open_connection_tls`](crate::ConnectionBuilder::open_connection_tls)):
/// asyncio's `StreamReader`. It is buffered ([`AsyncBufRead`], 8 KiB), so
/// the methods of [`AsyncBufReadExt`] and [`AsyncReadExt`] work on it
/// directly, and it is [`AsyncRead`], so a `FramedRead` can decode it.
///
/// | asyncio `StreamReader` | here |
/// |---|---|
/// | `await reader.read(n)` | [`read(&mut buf)`](tokio::io::AsyncReadExt::read) (`Ok(0)`: end of stream) |
/// | `await reader.read()` (to EOF) | [`read_to_end`](tokio::io::AsyncReadExt::read_to_end) |
/// | `await reader.readline()` | [`read_line`](tokio::io::AsyncBufReadExt::read_line) (`String`, UTF-8 checked), or [`read_until(b'\n', ..)`](tokio::io::AsyncBufReadExt::read_until) (bytes) |
/// | `await reader.readuntil(sep)` | [`read_until(byte, ..)`](tokio::io::AsyncBufReadExt::read_until) for a one-byte separator; for a longer one, `read_until` its last byte and check the end, or decode with a `Decoder` of your own in a `FramedRead` |
/// | `await reader.readexactly(n)` | [`read_exact`](tokio::io::AsyncReadExt::read_exact) (`UnexpectedEof` where asyncio raises `IncompleteReadError`) |
/// | `reader.at_eof()` | [`fill_buf().await?.is_empty()`](tokio::io::AsyncBufReadExt::fill_buf) |
/// | `async for line in reader` | [`lines()`](tokio::io::AsyncBufReadExt::lines) |
///
/// One difference matters: asyncio's `readline` stops at its `limit` (64
/// KiB by default), while `read_line` and `read_until` grow their buffer
/// for as long as the peer sends bytes without a newline. Against a peer
/// you do not trust, read through [`take`](tokio::io::AsyncReadExt::take), or decode
/// with `LinesCodec::new_with_max_length` in a `FramedRead`.
///
/// The end of the stream, `Ok(0)` from a read, is the peer's close: its
/// FIN over TCP, its close_notify over TLS. A TLS peer that closes TCP
/// without a close_notify makes the read fail with `UnexpectedEof`.
///
/// [`AsyncBufReadExt`]: tokio::io::AsyncBufReadExt
/// [`AsyncReadExt`]: tokio::io::AsyncReadExt
///
/// # Cancel safety
///
/// Those of the tokio methods used: `read`, `fill_buf`, `read_until` (the
/// bytes read so far stay in its buffer) and `lines().next_line()` are
/// cancel safe; `read_line` and `read_exact` are not (bytes they consumed
/// before being cancelled are lost to the caller).
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
/// use tokio::net::TcpListener;
/// use tokio_endpoints::ConnectionBuilder;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     # let listener = TcpListener::bind("127.0.0.1:0").await?;
///     # let addr = listener.local_addr()?;
///     # tokio::spawn(async move {
///     #     let (mut peer, _) = listener.accept().await.unwrap();
///     #     peer.write_all(b"220 ready\r\nkey:value;\x00\x01\x02\x03").await.unwrap();
///     # });
///     let (mut reader, _writer) = ConnectionBuilder::new(addr).open_connection().await?;
///
///     let mut line = String::new();
///     reader.read_line(&mut line).await?; // readline()
///     assert_eq!(line, "220 ready\r\n");
///
///     let mut field = Vec::new();
///     reader.read_until(b';', &mut field).await?; // readuntil(b";")
///     assert_eq!(field, b"key:value;");
///
///     let mut header = [0u8; 4];
///     reader.read_exact(&mut header).await?; // readexactly(4)
///     assert_eq!(header, [0, 1, 2, 3]);
///
///     assert_eq!(reader.read(&mut [0u8; 16]).await?, 0); // the peer closed
///     Ok(())
/// }
/// ```
pub struct StreamReader {
    inner: BufReader<ReadHalf<Conn>>,
    info: Info,
}

impl StreamReader {
    /// The remote address of the connection.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the address could not be read when the connection
    /// was opened (the peer had already reset it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (reader, _writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// println!("reading from {}", reader.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.info.peer_addr()
    }

    /// The local address of the connection.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the address could not be read when the connection
    /// was opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (reader, _writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// println!("reading at {}", reader.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.info.local_addr()
    }

    /// Whether the connection is TLS
    /// ([`open_connection_tls`](crate::ConnectionBuilder::open_connection_tls)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (reader, _writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// assert!(!reader.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        self.info.tls
    }

    /// The bytes received and buffered but not read yet.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncBufReadExt;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (mut reader, _writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// reader.fill_buf().await?;
    /// println!("{} bytes waiting", reader.buffer().len());
    /// # Ok(()) }
    /// ```
    pub fn buffer(&self) -> &[u8] {
        self.inner.buffer()
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.inner).consume(amt)
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("peer_addr", &self.info.peer)
            .field("local_addr", &self.info.local)
            .field("tls", &self.info.tls)
            .field("buffered", &self.inner.buffer().len())
            .finish_non_exhaustive()
    }
}

/// The writing half of [`ConnectionBuilder::open_connection`](crate::ConnectionBuilder::open_connection) (and
/// [`open_connection_tls`](crate::ConnectionBuilder::open_connection_tls)):
/// asyncio's `StreamWriter`. It is [`AsyncWrite`] and keeps no buffer of
/// its own: a write returns when the socket has taken the bytes (over TLS,
/// the TLS session; `flush` then waits until the session has passed its
/// records to the socket), so `write_all` is asyncio's `write` and `drain`.
///
/// | asyncio `StreamWriter` | here |
/// |---|---|
/// | `writer.write(data)`; `await writer.drain()` | [`write_all(data)`](tokio::io::AsyncWriteExt::write_all) (over TLS, then [`flush`](tokio::io::AsyncWriteExt::flush)) |
/// | `writer.writelines(lines)` | `write_all` for each, or [`write_vectored`](tokio::io::AsyncWriteExt::write_vectored) |
/// | `writer.write_eof()` | [`close`](Self::close) (over TCP: a half close, reading goes on) |
/// | `writer.close()`; `await writer.wait_closed()` | [`close`](Self::close), then drop both halves |
/// | `writer.get_extra_info("peername")` | [`peer_addr`](Self::peer_addr) |
/// | `writer.get_extra_info("sockname")` | [`local_addr`](Self::local_addr) |
///
/// The socket itself closes when both halves are dropped.
///
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::net::TcpListener;
/// use tokio_endpoints::ConnectionBuilder;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     # let listener = TcpListener::bind("127.0.0.1:0").await?;
///     # let addr = listener.local_addr()?;
///     # let peer = tokio::spawn(async move {
///     #     let (mut peer, _) = listener.accept().await.unwrap();
///     #     let mut got = String::new();
///     #     peer.read_to_string(&mut got).await.unwrap();
///     #     got
///     # });
///     let (_reader, mut writer) = ConnectionBuilder::new(addr).open_connection().await?;
///     writer.write_all(b"PING\r\n").await?;
///     writer.write_all(b"QUIT\r\n").await?;
///     writer.close().await?; // the peer reads to its end of stream
///     # assert_eq!(peer.await.unwrap(), "PING\r\nQUIT\r\n");
///     Ok(())
/// }
/// ```
pub struct StreamWriter {
    inner: WriteHalf<Conn>,
    info: Info,
}

impl StreamWriter {
    /// Closes the writing direction: flushes, and shuts the write side
    /// down, so the peer reads to the end of its stream (asyncio's
    /// `close()` with `wait_closed()`, or `write_eof()` over TCP). The
    /// [`StreamReader`] can still read what the peer sends; the socket
    /// closes when both halves are dropped. The same as
    /// [`AsyncWriteExt::shutdown`].
    ///
    /// Over TLS it sends close_notify first, and takes at most the
    /// [`tls_shutdown_timeout`](crate::ConnectionBuilder::tls_shutdown_timeout)
    /// (30 s by default): when a peer that stopped reading keeps the flush
    /// from ever finishing, the connection is aborted (the reader then sees
    /// its end, too) and `close` fails with `TimedOut`. It does not wait for
    /// the peer's close_notify: read to `Ok(0)` for that. See [`TlsStream`](crate::TlsStream).
    ///
    /// Calling it again after it returned returns at once (over TLS, the
    /// same `TimedOut` after an abort).
    ///
    /// # Errors
    ///
    /// The error of the flush or the shutdown; `TimedOut` over TLS as above.
    ///
    /// # Cancel safety
    ///
    /// Cancelling leaves the close half done; calling `close` again carries
    /// on. Over TLS the shutdown timeout counts from the first call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (_reader, mut writer) = ConnectionBuilder::new("example.com:443")
    ///     .tls_shutdown_timeout(Duration::from_secs(5))
    ///     .open_connection_tls()
    ///     .await?;
    /// writer.write_all(b"bye").await?;
    /// writer.close().await?; // at most 5 s, even if the server never reads
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
    }

    /// The remote address of the connection (asyncio's
    /// `get_extra_info("peername")`).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the address could not be read when the connection
    /// was opened (the peer had already reset it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (_reader, writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// println!("connected to {}", writer.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.info.peer_addr()
    }

    /// The local address of the connection (asyncio's
    /// `get_extra_info("sockname")`).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the address could not be read when the connection
    /// was opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (_reader, writer) = ConnectionBuilder::new("example.com:80").open_connection().await?;
    /// println!("from {}", writer.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.info.local_addr()
    }

    /// Whether the connection is TLS
    /// ([`open_connection_tls`](crate::ConnectionBuilder::open_connection_tls)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (_reader, writer) = ConnectionBuilder::new("example.com:443")
    ///     .open_connection_tls()
    ///     .await?;
    /// assert!(writer.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        self.info.tls
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("peer_addr", &self.info.peer)
            .field("local_addr", &self.info.local)
            .field("tls", &self.info.tls)
            .finish_non_exhaustive()
    }
}
