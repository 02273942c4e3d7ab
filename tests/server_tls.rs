//! TlsListener and serve_tls on loopback, with rcgen certificates: the
//! handshake, what the server stream exposes, failures counted and never
//! fatal, silent clients that delay no one, and a bounded shutdown.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Ca, MARGIN, SHORT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_endpoints::rustls::ProtocolVersion;
use tokio_endpoints::{ConnectionBuilder, ServerBuilder, ServerTlsStream, TlsListener};

async fn client(ca: &Ca, addr: SocketAddr) -> tokio_endpoints::TlsStream {
    ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .alpn(["h2", "http/1.1"])
        .connect_tls()
        .await
        .unwrap_or_else(|e| panic!("connect_tls to {addr}: {e}"))
}

/// Accepts in a task of its own (as a server would), handing each stream
/// over a channel.
fn drive(mut listener: TlsListener) -> mpsc::UnboundedReceiver<(ServerTlsStream, SocketAddr)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(accepted) = listener.accept().await {
            if tx.send(accepted).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn tls_listener_round_trip_on_both_loopbacks() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let mut listener = ServerBuilder::new(("localhost", 0))
        .tls_config(leaf.server_config(&["h2"]))
        .bind_tls()
        .await
        .unwrap();
    let addrs = listener.local_addrs();
    assert_eq!(addrs.len(), 2);
    for addr in addrs {
        // The handshake needs both sides: accept while the client connects.
        let (mut c, accepted) = tokio::join!(client(&ca, addr), listener.accept());
        let (mut s, peer) = accepted.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), peer);
        assert_eq!(s.local_addr().unwrap(), addr);
        assert_eq!(s.server_name(), Some("localhost"));
        assert_eq!(s.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert!(s.peer_certificates().is_none());
        assert!(s.get_ref().0.nodelay().unwrap());
        assert_eq!(s.shutdown_timeout(), Some(Duration::from_secs(30)));
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        s.shutdown().await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert_eq!(c.read(&mut buf).await.unwrap(), 0); // close_notify
    }
    assert_eq!(listener.handshake_failures(), 0);
}

#[tokio::test]
async fn failed_handshakes_are_counted_not_returned() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .bind_tls()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let failures = Arc::new(std::sync::Mutex::new(listener));
    // Garbage instead of a ClientHello.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    // A client that does not trust the server.
    let other = Ca::new("another CA");
    let distrust = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(other.client_config());
    // A client that connects and leaves at once.
    let leaver = TcpStream::connect(addr).await.unwrap();
    drop(leaver);

    let mut listener = Arc::try_unwrap(failures).unwrap().into_inner().unwrap();
    let accepting = tokio::spawn(async move {
        let accepted = listener.accept().await.map(|(_, peer)| peer);
        (listener, accepted)
    });
    assert!(distrust.connect_tls().await.is_err());
    let mut buf = Vec::new();
    let _ = garbage.read_to_end(&mut buf).await; // the server closed it
                                                 // Then a good client goes through.
    let good = client(&ca, addr).await;
    let (listener, accepted) = accepting.await.unwrap();
    assert_eq!(accepted.unwrap(), good.local_addr().unwrap());
    assert_eq!(listener.handshake_failures(), 3);
}

#[tokio::test]
async fn silent_clients_delay_no_one_and_time_out() {
    const SILENT: usize = 500;
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let timeout = Duration::from_millis(500);
    let listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .tls_handshake_timeout(timeout)
        .bind_tls()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let mut accepted = drive(listener);

    let started = Instant::now();
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // A real client, after all of them: its handshake is prompt.
    let real_started = Instant::now();
    let c = client(&ca, addr).await;
    let (_s, peer) = accepted.recv().await.unwrap();
    let real = real_started.elapsed();
    assert_eq!(peer, c.local_addr().unwrap());
    assert!(
        real < Duration::from_millis(500),
        "real client took {real:?}"
    );

    // Every silent one is closed by the server at the handshake timeout.
    for mut s in silent {
        let n = tokio::time::timeout(timeout + MARGIN * 3, s.read(&mut [0; 8]))
            .await
            .expect("a silent client was not closed")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    let took = started.elapsed();
    assert!(took >= timeout, "{took:?}");
    println!("real client {real:?}; silent ones closed after {took:?}");
}

#[tokio::test]
async fn serve_tls_runs_a_handler_per_handshake() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new(("localhost", 0))
        .tls_config(leaf.server_config(&[]))
        .tls_handshake_timeout(SHORT)
        .serve_tls(|mut stream, peer| async move {
            let _ = stream.write_all(peer.to_string().as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await
        .unwrap();
    // A silent connection does not hold the others up.
    let _silent = TcpStream::connect(server.local_addrs()[0]).await.unwrap();
    for addr in server.local_addrs() {
        let mut c = client(&ca, addr).await;
        let mut reply = String::new();
        c.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, c.local_addr().unwrap().to_string());
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn server_shutdown_is_bounded_when_the_client_never_reads() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .tls_shutdown_timeout(SHORT)
        .bind_tls()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let (c, accepted) = tokio::join!(client(&ca, addr), listener.accept());
    let (mut s, _) = accepted.unwrap();
    // Fill the client's receive buffer and our send buffer.
    let chunk = vec![0u8; 1 << 20];
    loop {
        if tokio::time::timeout(Duration::from_millis(200), s.write_all(&chunk))
            .await
            .is_err()
        {
            break;
        }
    }
    let started = Instant::now();
    let err = s.shutdown().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    assert_eq!(s.get_ref().0.linger().unwrap(), Some(Duration::ZERO));
    drop(c);
}

#[tokio::test]
async fn serve_tls_streams_is_start_server_with_ssl() {
    use tokio::io::AsyncBufReadExt;
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new(("localhost", 0))
        .tls_config(leaf.server_config(&[]))
        .serve_tls_streams(|mut reader, mut writer| async move {
            assert!(reader.is_tls() && writer.is_tls());
            let mut line = String::new();
            while let Ok(1..) = reader.read_line(&mut line).await {
                let _ = writer.write_all(line.to_uppercase().as_bytes()).await;
                line.clear();
            }
            let _ = writer.close().await;
        })
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    let (mut reader, mut writer) = ConnectionBuilder::new(("localhost", port))
        .server_name("localhost")
        .tls_config(ca.client_config())
        .open_connection_tls()
        .await
        .unwrap();
    writer.write_all(b"one\ntwo\n").await.unwrap();
    writer.close().await.unwrap();
    let mut all = String::new();
    reader.read_to_string(&mut all).await.unwrap();
    assert_eq!(all, "ONE\nTWO\n");
}

/// `serve_tls_streams`' `StreamWriter::close` is bounded by the server's
/// `tls_shutdown_timeout` too: a client that never reads cannot hold a
/// handler (and its socket) forever.
#[tokio::test]
async fn serve_tls_streams_close_is_bounded_when_the_client_never_reads() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .tls_shutdown_timeout(SHORT)
        .serve_tls_streams(move |_reader, mut writer| {
            let tx = tx.clone();
            async move {
                // Fill the client's receive buffer and our send buffer.
                let chunk = vec![0u8; 1 << 20];
                while tokio::time::timeout(Duration::from_millis(200), writer.write_all(&chunk))
                    .await
                    .is_ok()
                {}
                let started = Instant::now();
                let result = writer.close().await;
                let _ = tx.send((result.map_err(|e| e.kind()), started.elapsed()));
            }
        })
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let c = client(&ca, addr).await;
    let (result, took) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the handler's close returned")
        .unwrap();
    assert_eq!(result, Err(std::io::ErrorKind::TimedOut));
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    drop(c);
    server.abort();
}

#[tokio::test]
async fn serve_tls_counts_failed_handshakes() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .tls_handshake_timeout(Duration::from_millis(100))
        .serve_tls(|_, _| async {})
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap()); // silent
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        garbage.write_all(b"not TLS at all\r\n").await.unwrap();
        held.push(garbage);
    }
    for mut s in held {
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut Vec::new())).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(server.tls_handshake_failures(), 6);
    // A good client is still served.
    let c = client(&ca, addr).await;
    drop(c);
}

#[tokio::test]
async fn closing_a_tls_server_closes_handshakes_in_flight() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .serve_tls(|_, _| async {})
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The handshake timeout is 60 s; shutting down must not wait for it.
    let started = Instant::now();
    server.shutdown(Duration::from_secs(5)).await;
    for mut s in silent {
        let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut [0; 8]))
            .await
            .expect("a connection in its handshake was left open")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_handshake_cap_holds_new_connections_in_the_kernel_queue() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let timeout = Duration::from_millis(300);
    let listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .tls_handshake_timeout(timeout)
        .max_tls_handshakes(2)
        .bind_tls()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let mut accepted = drive(listener);
    // Two silent clients fill the cap...
    let _silent = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...so a real client waits until their handshakes time out.
    let started = Instant::now();
    let c = client(&ca, addr).await;
    let (_s, peer) = accepted.recv().await.unwrap();
    let took = started.elapsed();
    assert_eq!(peer, c.local_addr().unwrap());
    assert!(took >= timeout - Duration::from_millis(60), "{took:?}");
    assert!(took < timeout + MARGIN, "{took:?}");
    let err = ServerBuilder::any(0)
        .tls_config(leaf.server_config(&[]))
        .max_tls_handshakes(0)
        .bind_tls()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("max_tls_handshakes must be at least 1"),
        "{err}"
    );
}

/// The socket under a `ServerTlsStream` is at hand on every platform, as
/// the client's `TlsStream`'s is (for socket options on an accepted
/// stream); the cross checks compile this for each of them.
#[allow(dead_code)]
fn the_socket_of_a_tls_stream_is_at_hand(server: &ServerTlsStream) {
    #[cfg(unix)]
    let _ = std::os::fd::AsFd::as_fd(server);
    #[cfg(windows)]
    let _ = std::os::windows::io::AsSocket::as_socket(server);
}
