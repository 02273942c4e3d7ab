//! `Proxy::from_env` reads the process's environment: `HTTP_PROXY` for
//! plain connections, `NO_PROXY` for the targets that connect directly.
//! One test in a binary of its own, so no other test sees the variables.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{ConnectionBuilder, Proxy, Resolver};

/// A CONNECT proxy that answers 200, counts, and then echoes (it is the
/// origin too).
async fn echoing_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(tcp.read_u8().await.unwrap());
                }
                seen.fetch_add(1, Ordering::SeqCst);
                tcp.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn from_env_reads_http_proxy_and_no_proxy() {
    let (proxy, tunnels) = echoing_proxy().await;
    let direct = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direct_port = direct.local_addr().unwrap().port();
    // The only test of this binary: nothing else reads the environment.
    std::env::set_var("HTTP_PROXY", format!("http://{proxy}"));
    std::env::set_var("NO_PROXY", "direct.test");
    std::env::remove_var("REQUEST_METHOD");
    let env = Proxy::from_env();
    let resolver = Resolver::fixed([
        ("direct.test", vec!["127.0.0.1".parse().unwrap()]),
        ("far.test", vec!["127.0.0.1".parse().unwrap()]),
    ]);

    let mut tunnel = ConnectionBuilder::new("far.test:22")
        .resolver(resolver.clone())
        .proxy(env.clone())
        .connect()
        .await
        .unwrap();
    assert_eq!(tunnel.peer_addr().unwrap(), proxy);
    tunnel.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    tunnel.read_exact(&mut buf).await.unwrap();
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);

    let stream = ConnectionBuilder::new(("direct.test", direct_port))
        .resolver(resolver.clone())
        .proxy(env)
        .connect()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), direct_port);
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);

    // A CGI program: HTTP_PROXY may be a request's header, and is ignored.
    std::env::set_var("REQUEST_METHOD", "GET");
    let cgi = Proxy::from_env();
    let stream = ConnectionBuilder::new(("far.test", direct_port))
        .resolver(resolver)
        .proxy(cgi)
        .connect()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), direct_port);
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    drop(TcpStream::connect(proxy).await);
}
