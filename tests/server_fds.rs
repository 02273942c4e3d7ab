//! No descriptor leaks on any server path: thousands of accepts, failed
//! and timed-out TLS handshakes, a shutdown with handlers still running,
//! and every refused bind.
//!
//! This binary holds a single test on purpose (see `tests/tls_fds.rs`):
//! `/proc/self/fd` counts the whole process, so a neighbour test opening a
//! socket would make the count flaky.

mod common;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use common::open_fds;
use support::Ca;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_endpoints::{ConnectionBuilder, ServerBuilder};

async fn tls_client(ca: &Ca, addr: SocketAddr) -> tokio_endpoints::TlsStream {
    ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap()
}

async fn round(ca: &Ca) {
    // Thousands of accepts on two sockets.
    let mut listener = ServerBuilder::new(("localhost", 0)).bind().await.unwrap();
    let addrs = listener.local_addrs();
    for i in 0..2000 {
        let client = TcpStream::connect(addrs[i % 2]).await.unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        drop((client, conn));
    }
    drop(listener);

    // A server shut down with handlers that never end.
    let server = ServerBuilder::any(0)
        .serve(|stream, _| async move {
            let _keep = stream;
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown(Duration::from_millis(50)).await;
    drop(server);
    drop(clients);

    // TLS: good, garbage, silent (timed out) and distrusting clients.
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new(("localhost", 0))
        .tls_config(leaf.server_config(&[]))
        .tls_handshake_timeout(Duration::from_millis(200))
        .serve_tls(|mut stream, _| async move {
            let _ = stream.write_all(b"hi").await;
            let _ = stream.shutdown().await;
        })
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(addr).await.unwrap());
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        garbage
            .write_all(b"\x16\x03\x01\x00\x05hello")
            .await
            .unwrap();
        let _ = garbage.read_to_end(&mut Vec::new()).await;
    }
    for _ in 0..50 {
        let mut c = tls_client(ca, addr).await;
        let _ = c.read_to_end(&mut Vec::new()).await;
    }
    let other = Ca::new("another CA");
    for _ in 0..20 {
        let refused = ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_config(other.client_config())
            .connect_tls()
            .await;
        assert!(refused.is_err());
    }
    for mut s in silent {
        let _ = s.read_to_end(&mut Vec::new()).await; // closed at the timeout
    }
    server.shutdown(Duration::from_secs(1)).await;
    drop(server);

    // PROXY headers naming clients the client policy refuses, read at
    // once and through a task (split), and accepted ones.
    #[cfg(feature = "proxy-protocol")]
    {
        use tokio_endpoints::{AddressPolicy, ProxyProtocol};
        let mut listener = ServerBuilder::new("127.0.0.1:0")
            .proxy_protocol(
                ProxyProtocol::new()
                    .trusted(["127.0.0.0/8".parse().unwrap()])
                    .client_policy(AddressPolicy::public_only()),
            )
            .bind()
            .await
            .unwrap();
        let addr = listener.local_addrs()[0];
        for i in 0..100 {
            let mut refused = TcpStream::connect(addr).await.unwrap();
            let header = b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 80\r\n";
            if i % 2 == 0 {
                refused.write_all(header).await.unwrap();
            } else {
                refused.write_all(&header[..9]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
                refused.write_all(&header[9..]).await.unwrap();
            }
            let mut ok = TcpStream::connect(addr).await.unwrap();
            ok.write_all(b"PROXY TCP4 93.184.216.34 10.0.0.1 4000 80\r\n")
                .await
                .unwrap();
            let (conn, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip().to_string(), "93.184.216.34");
            assert_eq!(refused.read(&mut [0; 1]).await.unwrap(), 0);
            drop((conn, ok));
        }
        assert_eq!(listener.denied_peers(), 100);
    }

    // Refused binds.
    let held = ServerBuilder::new("127.0.0.1:0").bind().await.unwrap();
    let busy = held.local_addrs()[0];
    assert!(ServerBuilder::new(vec!["[::1]:0".parse().unwrap(), busy])
        .bind()
        .await
        .is_err());
    assert!(ServerBuilder::new(busy).bind().await.is_err());
    assert!(ServerBuilder::any(0)
        .tls_handshake_timeout(None)
        .bind_tls()
        .await
        .is_err());
    let not_listening =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert!(ServerBuilder::from_listener(not_listening.into())
        .bind()
        .await
        .is_err());
    drop(held);
}

#[test]
fn no_descriptor_leaks_on_server_paths() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = Ca::new("test CA");
        round(&ca).await; // warm up
        let before = open_fds().unwrap();
        round(&ca).await;
        // Aborted tasks drop their sockets when the runtime gets to them.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(open_fds().unwrap(), before, "descriptors leaked");
    });
}
