//! ServerBuilder on loopback: one port on every address, fair accepts,
//! socket options, serving and shutting down, Unix servers, and every bad
//! input refused. TLS is in `tests/server_tls.rs`; descriptor counts in
//! `tests/server_fds.rs` (a binary of its own, so no other test's sockets
//! are counted).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_endpoints::{
    ConnectionBuilder, Family, Listener, Resolver, ServerBuilder, ServerError, ServerErrorKind,
};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

async fn bind(b: ServerBuilder) -> Listener {
    b.bind().await.unwrap_or_else(|e| panic!("bind: {e}"))
}

async fn refused(b: ServerBuilder) -> ServerError {
    match b.bind().await {
        Ok(l) => panic!("expected an error, got a listener on {:?}", l.local_addrs()),
        Err(e) => e,
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    ConnectionBuilder::new(addr)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// Accepts one connection and checks it is the client's.
async fn accepts(listener: &mut Listener, client: &TcpStream) {
    let (conn, peer) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("accept timed out")
        .unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(conn.peer_addr().unwrap(), peer);
}

#[tokio::test]
async fn localhost_port_0_gives_both_loopbacks_one_port() {
    let mut listener = bind(ServerBuilder::new(("localhost", 0))).await;
    let addrs = listener.local_addrs();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    let port = addrs[0].port();
    assert_ne!(port, 0);
    assert_eq!(
        addrs,
        vec![SocketAddr::new(V6, port), SocketAddr::new(V4, port)]
    );
    // Both reached with ConnectionBuilder, by address and by name.
    for addr in &addrs {
        let client = connect(*addr).await;
        accepts(&mut listener, &client).await;
    }
    let client = ConnectionBuilder::new(("localhost", port))
        .connect()
        .await
        .unwrap();
    accepts(&mut listener, &client).await;
    // The special case does not need a resolver.
    let none = Resolver::fixed(Vec::<(&str, Vec<IpAddr>)>::new());
    let l = bind(ServerBuilder::new("app.localhost:0").resolver(none)).await;
    assert_eq!(l.local_addrs().len(), 2);
}

#[tokio::test]
async fn any_port_0_is_both_unspecified_addresses_one_port() {
    let mut listener = bind(ServerBuilder::any(0)).await;
    let addrs = listener.local_addrs();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    let port = addrs[0].port();
    assert_eq!(
        addrs,
        vec![
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
        ]
    );
    // The IPv6 socket is V6ONLY: an IPv4 client reaches the IPv4 socket.
    assert!(SockRef::from(&listener.listeners()[0]).only_v6().unwrap());
    for ip in [V6, V4] {
        let client = connect(SocketAddr::new(ip, port)).await;
        accepts(&mut listener, &client).await;
    }
    let v4 = bind(ServerBuilder::any(0).family(Family::V4)).await;
    assert_eq!(v4.local_addrs().len(), 1);
    assert!(v4.local_addrs()[0].is_ipv4());
    let v6 = bind(ServerBuilder::default().family(Family::V6)).await;
    assert_eq!(v6.local_addrs().len(), 1);
    assert!(v6.local_addrs()[0].is_ipv6());
}

#[tokio::test]
async fn port_0_gives_one_port_to_every_address_on_a_busy_host() {
    // Take many IPv6 loopback ports; each bind of the pair must still end
    // with one port on both. (The retry itself is tested deterministically
    // on fake sockets in src/server/mod.rs.)
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap());
    }
    for _ in 0..20 {
        let l = bind(ServerBuilder::new(vec![
            SocketAddr::new(V4, 0),
            SocketAddr::new(V6, 0),
        ]))
        .await;
        let addrs = l.local_addrs();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[0].port(), addrs[1].port());
    }
}

#[tokio::test]
async fn resolved_names_listen_on_every_address_without_duplicates() {
    let resolver = Resolver::fixed([("app.test", vec![V4, V6, V4])]);
    let l = bind(ServerBuilder::new("app.test:0").resolver(resolver.clone())).await;
    let addrs = l.local_addrs();
    assert_eq!(
        addrs.iter().map(|a| a.ip()).collect::<Vec<_>>(),
        vec![V4, V6]
    );
    let l = bind(
        ServerBuilder::new("app.test:0")
            .resolver(resolver.clone())
            .family(Family::V6),
    )
    .await;
    assert_eq!(l.local_addrs().len(), 1);
    assert_eq!(l.local_addrs()[0].ip(), V6);

    let err = refused(ServerBuilder::new("nope.test:0").resolver(resolver)).await;
    assert_eq!(err.kind(), ServerErrorKind::Resolve);
    let v4_only = Resolver::fixed([("v4.test", vec![V4])]);
    let err = refused(
        ServerBuilder::new("v4.test:0")
            .resolver(v4_only)
            .family(Family::V6),
    )
    .await;
    assert_eq!(err.kind(), ServerErrorKind::NoUsableAddress);
    assert!(
        err.to_string().contains("v4.test has no IPv6 address"),
        "{err}"
    );
}

#[tokio::test]
async fn a_busy_port_is_a_clear_error() {
    let first = bind(ServerBuilder::new("127.0.0.1:0")).await;
    let busy = first.local_addrs()[0];
    let err = refused(ServerBuilder::new(busy)).await;
    assert_eq!(err.kind(), ServerErrorKind::BindFailed);
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.attempts()[0].addr(), Some(busy));
    assert_eq!(err.io_kind(), io::ErrorKind::AddrInUse);
    let msg = err.to_string();
    assert!(msg.contains(&format!("bind to {busy}")), "{msg}");
    assert!(msg.contains("reuse_port"), "{msg}");

    // One busy address of two fails the whole call, naming both.
    let port = busy.port();
    let free_v6 = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    drop(free_v6);
    let err = refused(ServerBuilder::new(vec![SocketAddr::new(V6, port), busy])).await;
    assert_eq!(err.kind(), ServerErrorKind::BindFailed);
    assert!(err.to_string().contains(&busy.to_string()), "{err}");
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::AddrInUse);
}

#[tokio::test]
async fn unavailable_addresses_are_skipped_while_one_binds() {
    // 192.0.2.1 (TEST-NET-1) is not on this host: EADDRNOTAVAIL, skipped.
    let absent: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let l = bind(ServerBuilder::new(vec![absent, SocketAddr::new(V4, 0)])).await;
    assert_eq!(l.local_addrs().len(), 1);
    assert_eq!(l.local_addrs()[0].ip(), V4);
    // Alone, it is an error naming it.
    let err = refused(ServerBuilder::new(absent)).await;
    assert_eq!(err.kind(), ServerErrorKind::BindFailed);
    assert_eq!(err.io_kind(), io::ErrorKind::AddrNotAvailable);
    assert!(err.to_string().contains("192.0.2.1:0"), "{err}");
}

/// Windows has no SO_REUSEPORT: see `reuse_port_is_unsupported_here`.
#[cfg(unix)]
#[tokio::test]
async fn reuse_port_lets_two_servers_share_a_port() {
    let a = bind(ServerBuilder::new(("localhost", 0)).reuse_port(true)).await;
    let b = bind(ServerBuilder::new(a.local_addrs()).reuse_port(true)).await;
    assert_eq!(a.local_addrs(), b.local_addrs());
    // Without it on the second, the port is busy.
    let err = refused(ServerBuilder::new(a.local_addrs())).await;
    assert_eq!(err.io_kind(), io::ErrorKind::AddrInUse);
}

/// Where there is no SO_REUSEPORT, asking for it fails before any bind.
#[cfg(windows)]
#[tokio::test]
async fn reuse_port_is_unsupported_here() {
    let err = refused(ServerBuilder::new("127.0.0.1:0").reuse_port(true)).await;
    assert_eq!(err.kind(), ServerErrorKind::Unsupported, "{err}");
}

#[tokio::test]
async fn options_round_trip_through_getsockopt() {
    let l = bind(ServerBuilder::new("127.0.0.1:0")).await;
    let s = SockRef::from(&l.listeners()[0]);
    assert!(s.reuse_address().unwrap());
    #[cfg(unix)]
    assert!(!s.reuse_port().unwrap());
    assert!(!s.keepalive().unwrap());
    // socket2 reads SO_ACCEPTCONN on these; the crate reads it everywhere.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    assert!(s.is_listener().unwrap());

    let hooked = Arc::new(AtomicUsize::new(0));
    let seen = hooked.clone();
    let l = bind(
        ServerBuilder::new(("localhost", 0))
            .reuse_address(false)
            .reuse_port(cfg!(unix))
            .keep_alive(true)
            .backlog(7)
            .socket_hook(move |s| {
                seen.fetch_add(1, Ordering::SeqCst);
                s.set_recv_buffer_size(1 << 16)
            }),
    )
    .await;
    assert_eq!(hooked.load(Ordering::SeqCst), 2);
    for listener in l.listeners() {
        let s = SockRef::from(listener);
        assert!(!s.reuse_address().unwrap());
        #[cfg(unix)]
        assert!(s.reuse_port().unwrap());
        assert!(s.keepalive().unwrap());
    }
}

#[tokio::test]
async fn accepted_streams_have_nodelay_and_inherit_keep_alive() {
    let mut l = bind(ServerBuilder::new("127.0.0.1:0").keep_alive(true)).await;
    let client = connect(l.local_addrs()[0]).await;
    let (conn, _) = l.accept().await.unwrap();
    assert!(conn.nodelay().unwrap());
    assert!(SockRef::from(&conn).keepalive().unwrap());
    drop(client);

    let mut l = bind(ServerBuilder::new("127.0.0.1:0").nodelay(false)).await;
    let _client = connect(l.local_addrs()[0]).await;
    let (conn, _) = l.accept().await.unwrap();
    assert!(!conn.nodelay().unwrap());
    assert!(!SockRef::from(&conn).keepalive().unwrap());
}

#[tokio::test]
async fn accept_takes_the_sockets_in_turn() {
    let mut l = bind(ServerBuilder::new(("localhost", 0))).await;
    let port = l.local_addrs()[0].port();
    // Six connections waiting on each socket.
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(connect(SocketAddr::new(V6, port)).await);
        clients.push(connect(SocketAddr::new(V4, port)).await);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut families = Vec::new();
    for _ in 0..12 {
        let (_, peer) = l.accept().await.unwrap();
        families.push(peer.is_ipv6());
    }
    // Alternating: never the same socket twice in a row.
    assert!(families.windows(2).all(|w| w[0] != w[1]), "{families:?}");
}

#[tokio::test]
async fn listener_is_a_stream_of_connections() {
    let mut l = bind(ServerBuilder::new("[::1]:0")).await;
    let addr = l.local_addrs()[0];
    let client = connect(addr).await;
    let (conn, peer) = l.next().await.unwrap().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    drop(conn);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_socket() {
    let cases: Vec<(ServerBuilder, &str)> = vec![
        (ServerBuilder::new("no port"), "missing port"),
        (
            ServerBuilder::new(("bad host!", 80)),
            "not allowed in a host name",
        ),
        (ServerBuilder::new("[::1]80"), "[IPv6 address]:port"),
        (
            ServerBuilder::new("127.0.0.1:0").family(Family::V6),
            "not of the requested family IPv6",
        ),
        (
            ServerBuilder::from_listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
                .reuse_port(true)
                .backlog(5),
            "reuse_port, backlog cannot be used with from_listener",
        ),
    ];
    for (builder, expected) in cases {
        let err = refused(builder).await;
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(expected), "{err} / {expected}");
        assert!(err.attempts().is_empty());
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }
}

#[tokio::test]
async fn an_adopted_socket_must_be_listening() {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(V4, 0).into()).unwrap();
    let not_listening: std::net::TcpListener = socket.into();
    let err = refused(ServerBuilder::from_listener(not_listening)).await;
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(err.to_string().contains("not listening"), "{err}");

    let udp = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    udp.bind(&SocketAddr::new(V4, 0).into()).unwrap();
    let err = refused(ServerBuilder::from_listener(std::net::TcpListener::from(
        udp,
    )))
    .await;
    assert!(err.to_string().contains("SOCK_STREAM"), "{err}");

    // A listening one is adopted, and nodelay and keep_alive apply.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let mut l = bind(ServerBuilder::from_listener(std_listener).keep_alive(true)).await;
    assert_eq!(l.local_addrs(), vec![addr]);
    let client = connect(addr).await;
    let (conn, _) = l.accept().await.unwrap();
    assert!(conn.nodelay().unwrap());
    assert!(SockRef::from(&conn).keepalive().unwrap());
    drop(client);
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_options_need_tls_config_and_bind_tls() {
    let err = refused(ServerBuilder::any(0).tls_handshake_timeout(Duration::from_secs(1))).await;
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("tls_handshake_timeout only applies to bind_tls"),
        "{err}"
    );
    let err = ServerBuilder::any(0)
        .tls_shutdown_timeout(None)
        .bind_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("need a certificate: tls_pem_files"),
        "{err}"
    );
    let err = ServerBuilder::any(0)
        .serve_tls(|_, _| async {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
}

#[tokio::test]
async fn serve_spawns_a_handler_per_connection() {
    let server = ServerBuilder::new(("localhost", 0))
        .serve(|mut stream, peer| async move {
            let reply = format!("{peer}\n");
            let _ = stream.write_all(reply.as_bytes()).await;
        })
        .await
        .unwrap();
    assert!(server.is_serving());
    for addr in server.local_addrs() {
        let mut client = connect(addr).await;
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, format!("{}\n", client.local_addr().unwrap()));
    }
    server.close();
    assert!(!server.is_serving());
    tokio::time::timeout(Duration::from_secs(5), server.wait_closed())
        .await
        .unwrap();
    // The listening sockets are closed.
    for addr in server.local_addrs() {
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}

#[tokio::test]
async fn a_handler_need_not_be_sync() {
    // Fn + Send is enough: the handler lives in the accept task only.
    let served = std::cell::Cell::new(0u32);
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(move |mut stream, _| {
            served.set(served.get() + 1);
            let n = served.get();
            async move {
                let _ = stream.write_all(n.to_string().as_bytes()).await;
            }
        })
        .await
        .unwrap();
    for expected in ["1", "2"] {
        let mut client = connect(server.local_addrs()[0]).await;
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, expected);
    }
}

#[tokio::test]
async fn a_handler_that_panics_does_not_stop_the_server() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(move |mut stream, _| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("handler panics on purpose");
                }
                let _ = stream.write_all(b"ok").await;
            }
        })
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut first = connect(addr).await;
    let mut buf = Vec::new();
    // The panicking handler's stream is dropped: EOF.
    let _ = first.read_to_end(&mut buf).await;
    assert!(buf.is_empty());
    let mut second = connect(addr).await;
    second.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf, b"ok");
    assert!(server.is_serving());
}

#[tokio::test]
async fn shutdown_waits_for_the_grace_period_then_aborts() {
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(|stream, _| async move {
            let _keep = stream;
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
    let mut client = connect(server.local_addrs()[0]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    server.shutdown(Duration::from_millis(200)).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The handler was aborted: its stream closed.
    let n = client.read(&mut [0; 8]).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(!server.is_serving());

    // Handlers that end by themselves end the shutdown early.
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(|_, _| async {})
        .await
        .unwrap();
    let _client = connect(server.local_addrs()[0]).await;
    let started = Instant::now();
    server.shutdown(Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn close_lets_running_handlers_finish() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(move |mut stream, _| {
            let rx = rx.clone();
            async move {
                let rx = rx.lock().await.take().unwrap();
                let _ = rx.await;
                let _ = stream.write_all(b"done").await;
            }
        })
        .await
        .unwrap();
    let mut client = connect(server.local_addrs()[0]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.close();
    let waiting = tokio::time::timeout(Duration::from_millis(100), server.wait_closed()).await;
    assert!(
        waiting.is_err(),
        "wait_closed returned with a handler running"
    );
    tx.send(()).unwrap();
    let mut buf = Vec::new();
    client.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf, b"done");
    tokio::time::timeout(Duration::from_secs(5), server.wait_closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(|stream, _| async move {
            let _keep = stream;
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut client = connect(addr).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(server);
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut [0; 8]))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serve_streams_is_start_server() {
    let server = ServerBuilder::new(("localhost", 0))
        .serve_streams(|mut reader, mut writer| async move {
            let mut line = String::new();
            while reader.read_line(&mut line).await.unwrap_or(0) > 0 {
                let _ = writer.write_all(line.to_uppercase().as_bytes()).await;
                line.clear();
            }
            let _ = writer.close().await;
        })
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    let (mut reader, mut writer) = ConnectionBuilder::new(("localhost", port))
        .open_connection()
        .await
        .unwrap();
    writer.write_all(b"one\ntwo\n").await.unwrap();
    writer.close().await.unwrap();
    let mut all = String::new();
    reader.read_to_string(&mut all).await.unwrap();
    assert_eq!(all, "ONE\nTWO\n");
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::path::PathBuf;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tokio-endpoints-server-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn unix_server_binds_serves_and_replaces_a_stale_file() {
        let dir = dir("stale");
        let path = dir.join("s.sock");
        // A stale socket file: bound, never listening, closed.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let listener = ServerBuilder::unix(&path).bind().await.unwrap();
        let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        conn.write_all(b"hi").await.unwrap();
        let mut buf = [0; 2];
        client.read_exact(&mut buf).await.unwrap();

        // A live server's path is refused, and its file is kept.
        let err = ServerBuilder::unix(&path).bind().await.unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::BindFailed);
        assert_eq!(err.io_kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains("a server is listening there"),
            "{err}"
        );
        assert!(path.exists());
        drop(listener);

        // A file that is not a socket is never removed.
        let plain = dir.join("plain");
        std::fs::write(&plain, b"keep me").unwrap();
        let err = ServerBuilder::unix(&plain).bind().await.unwrap_err();
        assert_eq!(err.io_kind(), io::ErrorKind::AddrInUse);
        assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");

        let err = ServerBuilder::unix("").bind().await.unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
        let long = dir.join("x".repeat(200));
        let err = ServerBuilder::unix(long).bind().await.unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn unix_serve() {
        let dir = dir("serve");
        let path = dir.join("s.sock");
        let server = ServerBuilder::unix(&path)
            .serve(|mut stream, _| async move {
                let _ = stream.write_all(b"hello").await;
            })
            .await
            .unwrap();
        assert!(server.local_addrs().is_empty());
        let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut buf = Vec::new();
        client.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"hello");
        assert!(path.exists());
        server.shutdown(Duration::from_secs(1)).await;
        // The socket file is cleaned up (asyncio 3.13's cleanup_socket).
        assert!(!path.exists());

        // Not when another server's file has replaced it.
        let server = ServerBuilder::unix(&path)
            .serve(|_, _| async {})
            .await
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        server.shutdown(Duration::from_secs(1)).await;
        assert!(path.exists());
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// An accept error the listener does not absorb makes the accept loop
/// pause 1 s before it tries again; close and abort end the pause at
/// once. The error: `shutdown(SHUT_RD)` on a listening socket (through a
/// duplicate of its descriptor) makes Linux fail every accept with
/// `EINVAL`. Paused time: the pause would show as a virtual second.
#[cfg(target_os = "linux")]
#[tokio::test(start_paused = true)]
async fn close_and_abort_end_the_pause_after_an_accept_error() {
    for abort in [false, true] {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dup = std_listener.try_clone().unwrap();
        let server = ServerBuilder::from_listener(std_listener)
            .serve(|_, _| async {})
            .await
            .unwrap();
        SockRef::from(&dup)
            .shutdown(std::net::Shutdown::Read)
            .unwrap();
        // Let the accept loop see the error and start its pause (each
        // sleep lets every woken task run first).
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let t0 = tokio::time::Instant::now();
        if abort {
            server.abort();
        } else {
            server.close();
        }
        server.wait_closed().await;
        let took = t0.elapsed();
        assert!(
            took < Duration::from_millis(100),
            "abort: {abort}: wait_closed took {took:?}"
        );
    }
}
