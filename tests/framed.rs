//! `open_connection`, `open_connection_tls`, `connect_framed` and
//! `connect_tls_framed` against loopback servers: round trips, the peer's
//! close as the end of the stream, the bounded TLS close, and the builder's
//! errors coming through unchanged. Real sockets, so real (short) timeouts
//! and never paused time. Descriptor leaks are checked in `framed_fds.rs`,
//! a test binary of its own.

mod common;
mod support;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_endpoints::tokio_util::codec::{LengthDelimitedCodec, LinesCodec};
use tokio_endpoints::{ConnectError, ConnectErrorKind, ConnectionBuilder};
use tokio_rustls::TlsAcceptor;

use common::{Blackhole, V4, V6};
use support::{Ca, MARGIN, SHORT};

/// A TCP server for one connection that echoes bytes until the client's
/// end of stream, then closes its side.
async fn tcp_echo_server(ip: IpAddr) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let (mut r, mut w) = tcp.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    (addr, task)
}

/// A TCP server for one connection that sends `script` and closes.
async fn tcp_server_sends(script: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        tcp.write_all(script).await.unwrap();
    });
    (addr, task)
}

/// A TLS server for one connection that sends "bye\n" and then closes:
/// with close_notify when `clean`, else by closing TCP without one.
async fn tls_server_says_bye(ca: &Ca, clean: bool) -> (SocketAddr, JoinHandle<()>) {
    let acceptor = TlsAcceptor::from(ca.leaf(&["localhost"]).server_config(&[]));
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let mut tls = acceptor.accept(tcp).await.unwrap();
        tls.write_all(b"bye\n").await.unwrap();
        tls.flush().await.unwrap();
        if clean {
            tls.shutdown().await.unwrap();
            // Until the client goes away.
            let _ = tls.read_to_end(&mut Vec::new()).await;
        } else {
            drop(tls.into_inner().0);
        }
    });
    (addr, task)
}

/// A TLS server that completes the handshake and never reads; it holds the
/// connection until `done` is sent.
async fn tls_server_never_reads(ca: &Ca) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let acceptor = TlsAcceptor::from(ca.leaf(&["localhost"]).server_config(&[]));
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let tls = acceptor.accept(tcp).await.unwrap();
        let _ = done_rx.await;
        drop(tls);
    });
    (addr, done_tx, task)
}

fn tls_builder(ca: &Ca, addr: SocketAddr) -> ConnectionBuilder {
    ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
}

// --- connect_framed and connect_tls_framed --------------------------------

#[tokio::test]
async fn framed_lines_over_tcp_with_a_refused_address_first() {
    let (addr, server) = tcp_echo_server(V4).await;
    // The race still runs: the refused [::1] port fails, 127.0.0.1 wins.
    let refused = common::refused(V6);
    let mut lines = ConnectionBuilder::new(vec![refused, addr])
        .connect_framed(LinesCodec::new())
        .await
        .unwrap();
    assert_eq!(lines.get_ref().peer_addr().unwrap(), addr);
    lines.send("hello").await.unwrap();
    lines.send("world").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "hello");
    assert_eq!(lines.next().await.unwrap().unwrap(), "world");
    // Our close shuts the write side; the server then closes: None.
    SinkExt::<&str>::close(&mut lines).await.unwrap();
    assert!(lines.next().await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn framed_length_delimited_over_tcp_v6() {
    let (addr, server) = tcp_echo_server(V6).await;
    let mut frames = ConnectionBuilder::new(addr)
        .connect_framed(LengthDelimitedCodec::new())
        .await
        .unwrap();
    let big = Bytes::from(vec![7u8; 200_000]);
    frames.send(Bytes::from_static(b"one")).await.unwrap();
    frames.send(Bytes::new()).await.unwrap();
    frames.send(big.clone()).await.unwrap();
    assert_eq!(&frames.next().await.unwrap().unwrap()[..], b"one");
    assert!(frames.next().await.unwrap().unwrap().is_empty());
    assert_eq!(frames.next().await.unwrap().unwrap(), big);
    SinkExt::<Bytes>::close(&mut frames).await.unwrap();
    assert!(frames.next().await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn framed_lines_over_tls() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let mut lines = tls_builder(&ca, addr)
        .connect_tls_framed(LinesCodec::new())
        .await
        .unwrap();
    assert!(lines.get_ref().protocol_version().is_some());
    lines.send("over TLS").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "over TLS");
    // close sends close_notify; the server answers with its own: None.
    SinkExt::<&str>::close(&mut lines).await.unwrap();
    assert!(lines.next().await.is_none());
    let seen = server.await.unwrap();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn framed_length_delimited_over_tls() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let mut frames = tls_builder(&ca, addr)
        .connect_tls_framed(LengthDelimitedCodec::new())
        .await
        .unwrap();
    let big = Bytes::from(vec![42u8; 100_000]);
    frames.send(Bytes::from_static(b"first")).await.unwrap();
    frames.send(big.clone()).await.unwrap();
    assert_eq!(&frames.next().await.unwrap().unwrap()[..], b"first");
    assert_eq!(frames.next().await.unwrap().unwrap(), big);
    SinkExt::<Bytes>::close(&mut frames).await.unwrap();
    assert!(frames.next().await.is_none());
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn framed_over_an_adopted_stream() {
    let (addr, server) = tcp_echo_server(V4).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut lines = ConnectionBuilder::from_stream(tcp)
        .connect_framed(LinesCodec::new())
        .await
        .unwrap();
    assert!(lines.get_ref().nodelay().unwrap());
    lines.send("adopted").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "adopted");
    SinkExt::<&str>::close(&mut lines).await.unwrap();
    assert!(lines.next().await.is_none());
    server.await.unwrap();

    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut lines = ConnectionBuilder::from_stream(tcp)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls_framed(LinesCodec::new())
        .await
        .unwrap();
    lines.send("adopted over TLS").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "adopted over TLS");
    SinkExt::<&str>::close(&mut lines).await.unwrap();
    assert!(lines.next().await.is_none());
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn framed_tls_peer_close_notify_is_the_end() {
    let ca = Ca::new("test CA");
    let (addr, server) = tls_server_says_bye(&ca, true).await;
    let mut lines = tls_builder(&ca, addr)
        .connect_tls_framed(LinesCodec::new())
        .await
        .unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "bye");
    assert!(lines.next().await.is_none());
    drop(lines);
    server.await.unwrap();
}

/// `SinkExt::close` flushes first, unbounded like any write; shutting the
/// TLS stream down directly is bounded whatever is pending.
#[tokio::test]
async fn framed_tls_shutdown_is_bounded_when_the_peer_never_reads() {
    let ca = Ca::new("test CA");
    let (addr, done, server) = tls_server_never_reads(&ca).await;
    let mut frames = tls_builder(&ca, addr)
        .tls_shutdown_timeout(SHORT)
        .connect_tls_framed(LengthDelimitedCodec::new())
        .await
        .unwrap();
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    let filled = tokio::time::timeout(Duration::from_secs(20), async {
        while tokio::time::timeout(Duration::from_millis(200), frames.send(chunk.clone()))
            .await
            .is_ok()
        {}
    })
    .await;
    assert!(filled.is_ok(), "sends never blocked");
    let started = Instant::now();
    let err = frames.get_mut().shutdown().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    drop(frames);
    let _ = done.send(());
    server.await.unwrap();
}

// --- open_connection and open_connection_tls ------------------------------

#[tokio::test]
async fn open_connection_reads_lines_until_the_peer_closes() {
    let (addr, server) = tcp_server_sends(b"one\ntwo\r\nkey=value;\x01\x02\x03last").await;
    let (mut reader, writer) = ConnectionBuilder::new(addr)
        .open_connection()
        .await
        .unwrap();
    assert!(!reader.is_tls() && !writer.is_tls());
    assert_eq!(reader.peer_addr().unwrap(), addr);
    assert_eq!(writer.peer_addr().unwrap(), addr);
    assert_eq!(reader.local_addr().unwrap(), writer.local_addr().unwrap());
    assert_eq!(reader.local_addr().unwrap().ip(), V4);

    let mut line = String::new();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 4);
    assert_eq!(line, "one\n");
    line.clear();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "two\r\n");
    let mut field = Vec::new();
    reader.read_until(b';', &mut field).await.unwrap();
    assert_eq!(field, b"key=value;");
    let mut three = [0u8; 3];
    reader.read_exact(&mut three).await.unwrap();
    assert_eq!(three, [1, 2, 3]);
    // The last line has no newline; then the end of the stream.
    line.clear();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 4);
    assert_eq!(line, "last");
    line.clear();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
    assert_eq!(reader.read(&mut [0u8; 8]).await.unwrap(), 0);
    assert!(reader.fill_buf().await.unwrap().is_empty());
    // readexactly past the end: asyncio's IncompleteReadError.
    let err = reader.read_exact(&mut three).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    server.await.unwrap();
}

#[tokio::test]
async fn open_connection_echo_and_close_over_tcp() {
    let (addr, server) = tcp_echo_server(V6).await;
    let (reader, mut writer) = ConnectionBuilder::new(addr)
        .open_connection()
        .await
        .unwrap();
    // The halves work from different tasks.
    let reading = tokio::spawn(async move {
        let mut lines = reader.lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        got
    });
    writer.write_all(b"ping\npong\n").await.unwrap();
    writer.close().await.unwrap();
    // Closing again is a no-op.
    writer.close().await.unwrap();
    assert_eq!(reading.await.unwrap(), ["ping", "pong"]);
    server.await.unwrap();
}

#[tokio::test]
async fn open_connection_over_an_adopted_stream() {
    let (addr, server) = tcp_echo_server(V4).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = ConnectionBuilder::from_stream(tcp)
        .open_connection()
        .await
        .unwrap();
    writer.write_all(b"adopted\n").await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "adopted\n");
    writer.close().await.unwrap();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
    server.await.unwrap();
}

#[tokio::test]
async fn open_connection_tls_reads_lines() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let (mut reader, mut writer) = tls_builder(&ca, addr).open_connection_tls().await.unwrap();
    assert!(reader.is_tls() && writer.is_tls());
    assert_eq!(writer.peer_addr().unwrap(), addr);
    writer.write_all(b"alpha\nbeta\n\x00\x01").await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "alpha\n");
    line.clear();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "beta\n");
    let mut two = [0u8; 2];
    reader.read_exact(&mut two).await.unwrap();
    assert_eq!(two, [0, 1]);
    let started = Instant::now();
    writer.close().await.unwrap();
    assert!(started.elapsed() < SHORT, "a clean close is quick");
    // The server answers our close_notify with its own: the end.
    line.clear();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn open_connection_tls_peer_close_notify_is_the_end() {
    let ca = Ca::new("test CA");
    let (addr, server) = tls_server_says_bye(&ca, true).await;
    let (mut reader, writer) = tls_builder(&ca, addr).open_connection_tls().await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "bye\n");
    line.clear();
    assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
    drop((reader, writer));
    server.await.unwrap();
}

#[tokio::test]
async fn open_connection_tls_truncation_is_not_a_clean_end() {
    let ca = Ca::new("test CA");
    let (addr, server) = tls_server_says_bye(&ca, false).await;
    let (mut reader, _writer) = tls_builder(&ca, addr).open_connection_tls().await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "bye\n");
    line.clear();
    let err = reader.read_line(&mut line).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn writer_close_over_tls_is_bounded_when_the_peer_never_reads() {
    let ca = Ca::new("test CA");
    let (addr, done, server) = tls_server_never_reads(&ca).await;
    let (reader, mut writer) = tls_builder(&ca, addr)
        .tls_shutdown_timeout(SHORT)
        .open_connection_tls()
        .await
        .unwrap();
    // A reader waiting on another task; the abort must wake it.
    let reading = tokio::spawn(async move {
        let mut reader = reader;
        let mut line = String::new();
        reader.read_line(&mut line).await.map_err(|e| e.kind())
    });
    let chunk = vec![0u8; 1 << 20];
    let filled = tokio::time::timeout(Duration::from_secs(20), async {
        while tokio::time::timeout(Duration::from_millis(200), writer.write_all(&chunk))
            .await
            .is_ok()
        {}
    })
    .await;
    assert!(filled.is_ok(), "writes never blocked");
    let started = Instant::now();
    let err = writer.close().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    // Asking again does not hang either.
    let again = writer.close().await.unwrap_err();
    assert_eq!(again.kind(), io::ErrorKind::TimedOut);
    let read = tokio::time::timeout(Duration::from_secs(2), reading)
        .await
        .expect("the reader was not woken by the abort")
        .unwrap();
    assert_ne!(read, Ok(1), "the peer sent nothing");
    drop(writer);
    let _ = done.send(());
    server.await.unwrap();
}

// --- errors come through unchanged ----------------------------------------

/// The four calls of this module.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    Open,
    OpenTls,
    Framed,
    TlsFramed,
}

const CALLS: [Call; 4] = [Call::Open, Call::OpenTls, Call::Framed, Call::TlsFramed];

impl Call {
    fn is_tls(self) -> bool {
        matches!(self, Call::OpenTls | Call::TlsFramed)
    }

    /// Runs the call, adding a TLS configuration for the TLS ones.
    async fn run(self, ca: &Ca, builder: ConnectionBuilder) -> Result<(), ConnectError> {
        let builder = if self.is_tls() {
            builder.tls_config(ca.client_config())
        } else {
            builder
        };
        match self {
            Call::Open => builder.open_connection().await.map(drop),
            Call::OpenTls => builder.open_connection_tls().await.map(drop),
            Call::Framed => builder.connect_framed(LinesCodec::new()).await.map(drop),
            Call::TlsFramed => builder
                .connect_tls_framed(LinesCodec::new())
                .await
                .map(drop),
        }
    }
}

#[tokio::test]
async fn all_refused_keeps_every_attempt() {
    let ca = Ca::new("test CA");
    for call in CALLS {
        let addrs = vec![common::refused(V6), common::refused(V4)];
        let err = call
            .run(&ca, ConnectionBuilder::new(addrs.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::AllAttemptsFailed,
            "{call:?}: {err}"
        );
        let tried: Vec<SocketAddr> = err.attempts().iter().map(|a| a.addr()).collect();
        assert_eq!(tried, addrs, "{call:?}");
        for attempt in err.attempts() {
            assert_eq!(attempt.error().kind(), io::ErrorKind::ConnectionRefused);
        }
        assert_eq!(
            io::Error::from(err).kind(),
            io::ErrorKind::ConnectionRefused
        );
    }
}

#[tokio::test]
async fn connect_timeout_is_timed_out() {
    let ca = Ca::new("test CA");
    let blackhole = Blackhole::new(V4);
    for call in CALLS {
        let started = Instant::now();
        let err = call
            .run(
                &ca,
                ConnectionBuilder::new(blackhole.addr).connect_timeout(SHORT),
            )
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), ConnectErrorKind::TimedOut, "{call:?}: {err}");
        assert!(took >= SHORT && took < SHORT + MARGIN, "{call:?}: {took:?}");
    }
}

#[tokio::test]
async fn tls_handshake_timeout_comes_through() {
    let ca = Ca::new("test CA");
    for call in CALLS.into_iter().filter(|c| c.is_tls()) {
        let listener = TcpListener::bind((V4, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            // Read the ClientHello until the client gives up; never answer.
            let _ = tcp.read_to_end(&mut Vec::new()).await;
        });
        let started = Instant::now();
        let builder = ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_handshake_timeout(SHORT);
        let err = call.run(&ca, builder).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::TlsHandshakeTimeout,
            "{call:?}: {err}"
        );
        assert_eq!(err.peer_addr(), Some(addr));
        assert!(took >= SHORT && took < SHORT + MARGIN, "{call:?}: {took:?}");
        server.await.unwrap();
    }
}

#[tokio::test]
async fn tls_verification_failure_comes_through() {
    let ca = Ca::new("test CA");
    let other = Ca::new("another CA");
    for call in CALLS.into_iter().filter(|c| c.is_tls()) {
        let leaf = other.leaf(&["localhost"]);
        let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
        let builder = ConnectionBuilder::new(addr).server_name("localhost");
        let err = call.run(&ca, builder).await.unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::Tls, "{call:?}: {err}");
        assert!(err.tls_error().is_some(), "{call:?}: {err}");
        assert!(!server.await.unwrap().handshake_ok);
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_any_packet() {
    let ca = Ca::new("test CA");
    for call in CALLS {
        let err = call
            .run(&ca, ConnectionBuilder::new("no port here"))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::InvalidInput,
            "{call:?}: {err}"
        );

        let (addr, untouched) = support::untouched_listener();
        let err = call
            .run(
                &ca,
                ConnectionBuilder::new(addr).tls_shutdown_timeout(Duration::ZERO),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::InvalidInput,
            "{call:?}: {err}"
        );
        untouched();
    }
}

#[tokio::test]
async fn tls_options_on_a_plain_call_name_the_tls_call() {
    let ca = Ca::new("test CA");
    for (call, instead) in [
        (Call::Open, "open_connection_tls()"),
        (Call::Framed, "connect_tls_framed()"),
    ] {
        let (addr, untouched) = support::untouched_listener();
        let err = call
            .run(&ca, ConnectionBuilder::new(addr).server_name("localhost"))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::InvalidInput,
            "{call:?}: {err}"
        );
        assert!(err.to_string().contains("server_name"), "{err}");
        assert!(err.to_string().contains(instead), "{err}");
        untouched();
    }
}
