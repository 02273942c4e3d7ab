//! Stream and framed handles on the connections [`ConnectionBuilder`]
//! makes: asyncio's `open_connection` ([`StreamReader`], [`StreamWriter`])
//! and tokio-util codecs (`connect_framed`).
//!
//! Nothing here connects: every call finishes with
//! [`connect`](ConnectionBuilder::connect) or
//! [`connect_tls`](ConnectionBuilder::connect_tls) and wraps what it
//! returns, so racing, timeouts, `from_stream` and the errors (every attempt
//! kept) are exactly theirs. The halves themselves are shared with the
//! server (`shared::stream`).

#[cfg(feature = "codec")]
use tokio::net::TcpStream;

use super::connect::ConnectionBuilder;
use super::error::ConnectError;
#[cfg(all(feature = "tls", feature = "codec"))]
use super::tls::TlsStream;
#[cfg(feature = "tls")]
use crate::shared::stream::tls_halves;
use crate::shared::stream::{tcp_halves, StreamReader, StreamWriter};

/// Stream and framed handles: asyncio's `open_connection`, and codecs.
impl ConnectionBuilder {
    /// Connects as [`connect`](Self::connect) does and returns the
    /// connection as a reader and a writer half, as asyncio's
    /// `open_connection` does: a buffered [`StreamReader`]
    /// (`read_line`, `read_until`, `read_exact` of [`AsyncBufReadExt`] and
    /// [`AsyncReadExt`]) and a [`StreamWriter`] (`write_all`, `close`).
    /// The halves can move to different tasks; the socket closes when both
    /// are dropped.
    ///
    /// [`open_connection_tls`](Self::open_connection_tls) gives the same
    /// two types over TLS.
    ///
    /// [`AsyncBufReadExt`]: tokio::io::AsyncBufReadExt
    /// [`AsyncReadExt`]: tokio::io::AsyncReadExt
    ///
    /// # Errors
    ///
    /// Every error of [`connect`](Self::connect), unchanged. TLS options
    /// ([`tls_config`](Self::tls_config), [`server_name`](Self::server_name),
    /// ...) are refused with [`ConnectErrorKind::InvalidInput`] before
    /// anything is sent; they belong to
    /// [`open_connection_tls`](Self::open_connection_tls).
    ///
    /// [`ConnectErrorKind::InvalidInput`]: crate::ConnectErrorKind::InvalidInput
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect): dropping the future closes every
    /// socket it opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    /// use tokio::net::TcpListener;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     # let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     # let addr = listener.local_addr()?;
    ///     # tokio::spawn(async move {
    ///     #     let (mut peer, _) = listener.accept().await.unwrap();
    ///     #     peer.write_all(b"hello\n").await.unwrap();
    ///     # });
    ///     // reader, writer = await asyncio.open_connection(host, port)
    ///     let (mut reader, mut writer) = ConnectionBuilder::new(addr).open_connection().await?;
    ///     writer.write_all(b"hi\n").await?;
    ///     let mut line = String::new();
    ///     reader.read_line(&mut line).await?; // await reader.readline()
    ///     assert_eq!(line, "hello\n");
    ///     writer.close().await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn open_connection(self) -> Result<(StreamReader, StreamWriter), ConnectError> {
        #[cfg(feature = "tls")]
        self.refuse_tls_options("open_connection", "open_connection_tls")?;
        let stream = self.connect().await?;
        Ok(tcp_halves(stream))
    }

    /// Connects as [`connect_tls`](Self::connect_tls) does and returns the
    /// TLS connection as a reader and a writer half: asyncio's
    /// `open_connection` with `ssl=`. The same [`StreamReader`] and
    /// [`StreamWriter`] as [`open_connection`](Self::open_connection); the
    /// writer's [`close`](StreamWriter::close) sends close_notify and is
    /// bounded by the [`tls_shutdown_timeout`](Self::tls_shutdown_timeout).
    ///
    /// The end of the stream (a read of `Ok(0)`) is the peer's
    /// close_notify; a peer that closes TCP without one makes the read fail
    /// with `UnexpectedEof`, so a truncation cannot pass for a clean end.
    ///
    /// # Errors
    ///
    /// Every error of [`connect_tls`](Self::connect_tls), unchanged.
    ///
    /// # Cancel safety
    ///
    /// As [`connect_tls`](Self::connect_tls): dropping the future closes
    /// every socket it opened, the one in the middle of a handshake
    /// included.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let (mut reader, mut writer) = ConnectionBuilder::new("example.com:443")
    ///         .open_connection_tls()
    ///         .await?;
    ///     writer
    ///         .write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    ///         .await?;
    ///     let mut status = String::new();
    ///     reader.read_line(&mut status).await?;
    ///     println!("{}", status.trim_end());
    ///     writer.close().await?; // bounded by tls_shutdown_timeout
    ///     Ok(())
    /// }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn open_connection_tls(self) -> Result<(StreamReader, StreamWriter), ConnectError> {
        let stream = self.connect_tls().await?;
        Ok(tls_halves(stream))
    }

    /// Connects as [`connect`](Self::connect) does and frames the stream
    /// with `codec`: a [`Framed`](tokio_util::codec::Framed) that is a
    /// `Stream` of decoded items and a `Sink` of items to encode, so a line
    /// or length-delimited protocol is one call away. The codecs of
    /// [`tokio_util::codec`] (`LinesCodec`, `LengthDelimitedCodec`,
    /// `BytesCodec`, ...) or your own `Decoder` + `Encoder`.
    ///
    /// The end of the stream (`None`) is the peer's close. Closing the
    /// sink (`SinkExt::close`) flushes and shuts the write side down.
    ///
    /// # Errors
    ///
    /// Every error of [`connect`](Self::connect), unchanged. TLS options are
    /// refused with [`ConnectErrorKind::InvalidInput`] before anything is
    /// sent; they belong to [`connect_tls_framed`](Self::connect_tls_framed).
    ///
    /// [`ConnectErrorKind::InvalidInput`]: crate::ConnectErrorKind::InvalidInput
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect): dropping the future closes every
    /// socket it opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::{SinkExt, StreamExt};
    /// use tokio::net::TcpListener;
    /// use tokio_endpoints::tokio_util::codec::{Framed, LinesCodec};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     # let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     # let addr = listener.local_addr()?;
    ///     # tokio::spawn(async move {
    ///     #     let (peer, _) = listener.accept().await.unwrap();
    ///     #     let mut peer = Framed::new(peer, LinesCodec::new());
    ///     #     while let Some(Ok(line)) = peer.next().await {
    ///     #         peer.send(format!("echo: {line}")).await.unwrap();
    ///     #     }
    ///     # });
    ///     let mut lines = ConnectionBuilder::new(addr)
    ///         .connect_framed(LinesCodec::new_with_max_length(8192))
    ///         .await?;
    ///     lines.send("hello").await?;
    ///     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("echo: hello"));
    ///     // LinesCodec encodes any `AsRef<str>`: name the item type to close.
    ///     SinkExt::<&str>::close(&mut lines).await?;
    ///     Ok(())
    /// }
    /// ```
    #[cfg(feature = "codec")]
    #[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
    pub async fn connect_framed<C>(
        self,
        codec: C,
    ) -> Result<tokio_util::codec::Framed<TcpStream, C>, ConnectError> {
        #[cfg(feature = "tls")]
        self.refuse_tls_options("connect_framed", "connect_tls_framed")?;
        let stream = self.connect().await?;
        Ok(tokio_util::codec::Framed::new(stream, codec))
    }

    /// Connects as [`connect_tls`](Self::connect_tls) does and frames the
    /// [`TlsStream`] with `codec`, as
    /// [`connect_framed`](Self::connect_framed) does for TCP.
    ///
    /// The end of the stream (`None`) is the peer's close_notify; a peer
    /// that closes TCP without one yields an `UnexpectedEof` error first.
    ///
    /// Closing the sink (`SinkExt::close`) first flushes what is still
    /// pending, then sends close_notify and shuts the TCP write side. Only
    /// the second part is bounded by the
    /// [`tls_shutdown_timeout`](Self::tls_shutdown_timeout): the flush is a
    /// write like any other, and waits for as long as a peer does not read.
    /// After every `send` has completed nothing is pending, and `close` is
    /// bounded. Where a `send` may have been cancelled against a peer that
    /// stopped reading, shut the [`TlsStream`] down directly,
    /// `framed.get_mut().shutdown().await`: bounded whatever is pending
    /// (frames still in the `Framed`'s own buffer are dropped).
    ///
    /// # Errors
    ///
    /// Every error of [`connect_tls`](Self::connect_tls), unchanged.
    ///
    /// # Cancel safety
    ///
    /// As [`connect_tls`](Self::connect_tls): dropping the future closes
    /// every socket it opened, the one in the middle of a handshake
    /// included.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use futures::{SinkExt, StreamExt};
    /// use tokio_endpoints::tokio_util::codec::LengthDelimitedCodec;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let mut frames = ConnectionBuilder::new("rpc.example.com:8443")
    ///         .alpn(["my-rpc/1"])
    ///         .connect_tls_framed(LengthDelimitedCodec::new())
    ///         .await?;
    ///     frames.send(Bytes::from_static(b"request")).await?;
    ///     if let Some(reply) = frames.next().await.transpose()? {
    ///         println!("{} bytes back", reply.len());
    ///     }
    ///     SinkExt::<Bytes>::close(&mut frames).await?; // see above
    ///     Ok(())
    /// }
    /// ```
    #[cfg(all(feature = "codec", feature = "tls"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "codec", feature = "tls"))))]
    pub async fn connect_tls_framed<C>(
        self,
        codec: C,
    ) -> Result<tokio_util::codec::Framed<TlsStream, C>, ConnectError> {
        let stream = self.connect_tls().await?;
        Ok(tokio_util::codec::Framed::new(stream, codec))
    }

    /// Refuses TLS options on a plain call, naming the call that was made
    /// (`connect` would name itself).
    #[cfg(feature = "tls")]
    fn refuse_tls_options(&self, call: &str, instead: &str) -> Result<(), ConnectError> {
        match self.opts.tls.given() {
            Some(given) => Err(self.invalid(format!(
                "TLS options given to {call}(): {given}; use {instead}()"
            ))),
            None => Ok(()),
        }
    }
}
