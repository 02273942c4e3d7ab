//! hyper-util's proxy connectors, `Tunnel` (HTTP CONNECT) and `SocksV5`,
//! with our `Connector` as their inner connector: a minimal CONNECT proxy
//! and a minimal SOCKS5 proxy, written here, on loopback, and an HTTP
//! origin fetched through each by hyper-util's `Client`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{Connector, HttpInfo};

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(format!(
        "origin {}",
        req.uri().path()
    )))))
}

/// An HTTP/1.1 origin on 127.0.0.1.
async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hello)),
            );
        }
    });
    addr
}

/// A CONNECT proxy: reads the request head, connects to its target,
/// answers 200 and relays both ways. Counts the tunnels it opened.
async fn connect_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap()
                    .to_string();
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, tunnels)
}

/// A SOCKS5 proxy (RFC 1928), no authentication, CONNECT only, IPv4,
/// IPv6 and domain targets. Counts the connections it relayed.
async fn socks5_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relayed = Arc::new(AtomicUsize::new(0));
    let count = relayed.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                // Greeting: version 5, the methods; we take "no auth".
                assert_eq!(c.read_u8().await.unwrap(), 5);
                let n = c.read_u8().await.unwrap();
                let mut methods = vec![0; n as usize];
                c.read_exact(&mut methods).await.unwrap();
                assert!(methods.contains(&0));
                c.write_all(&[5, 0]).await.unwrap();
                // Request: 5, CONNECT, reserved, address type, address, port.
                let mut req = [0; 4];
                c.read_exact(&mut req).await.unwrap();
                assert_eq!(&req[..3], &[5, 1, 0]);
                let host = match req[3] {
                    1 => {
                        let mut ip = [0; 4];
                        c.read_exact(&mut ip).await.unwrap();
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    4 => {
                        let mut ip = [0; 16];
                        c.read_exact(&mut ip).await.unwrap();
                        format!("[{}]", std::net::Ipv6Addr::from(ip))
                    }
                    3 => {
                        let len = c.read_u8().await.unwrap();
                        let mut name = vec![0; len as usize];
                        c.read_exact(&mut name).await.unwrap();
                        String::from_utf8(name).unwrap()
                    }
                    other => panic!("address type {other}"),
                };
                let port = c.read_u16().await.unwrap();
                let Ok(mut upstream) = TcpStream::connect(format!("{host}:{port}")).await else {
                    let _ = c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c, &mut upstream).await;
            });
        }
    });
    (addr, relayed)
}

async fn body_of(response: Response<Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn http_connect_tunnel_over_our_connector() {
    let origin = origin().await;
    let (proxy, tunnels) = connect_proxy().await;
    let proxy_uri: Uri = format!("http://localhost:{}", proxy.port())
        .parse()
        .unwrap();
    let tunnel = Tunnel::new(proxy_uri, Connector::new());
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(tunnel);
    for target in [
        format!("127.0.0.1:{}", origin.port()),
        format!("localhost:{}", origin.port()),
    ] {
        let uri: Uri = format!("http://{target}/through-connect").parse().unwrap();
        let response = client.get(uri).await.unwrap();
        // The connection is the one our connector made: to the proxy.
        let info = response.extensions().get::<HttpInfo>().unwrap().clone();
        assert_eq!(info.remote_addr().map(|a| a.port()), Some(proxy.port()));
        assert_eq!(body_of(response).await, "origin /through-connect");
    }
    assert_eq!(tunnels.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn socks5_over_our_connector() {
    let origin = origin().await;
    let (proxy, relayed) = socks5_proxy().await;
    let proxy_uri: Uri = format!("http://localhost:{}", proxy.port())
        .parse()
        .unwrap();
    // A name the proxy resolves (address type 3), then an IPv4 address.
    for (host, local_dns) in [("localhost", false), ("127.0.0.1", true)] {
        let socks = SocksV5::new(proxy_uri.clone(), Connector::new()).local_dns(local_dns);
        let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(socks);
        let uri: Uri = format!("http://{host}:{}/through-socks", origin.port())
            .parse()
            .unwrap();
        let response = client.get(uri).await.unwrap();
        assert_eq!(body_of(response).await, "origin /through-socks");
    }
    assert_eq!(relayed.load(Ordering::SeqCst), 2);
}
