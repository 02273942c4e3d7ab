//! The scenarios of `Proxy::https`, shared by tests/https_proxy.rs (one
//! test each) and tests/https_proxy_fds.rs (all of them, counting file
//! descriptors): TLS to the proxy, verified for the proxy's name, then
//! `CONNECT` inside it; TLS to the origin inside that (`connect_tls`), or
//! the tunnel itself (`connect_tunnel`). The proxy is scripted: a
//! tokio-rustls server whose `CONNECT` handler splices to the origin, on
//! loopback.

#![allow(dead_code)]

use crate::common;
use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::rustls::ServerConfig;
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Connector, Proxy, ProxyStage};
use tokio_rustls::TlsAcceptor;

use common::V4;

use support::{echo_server, Ca};

/// The accept loops of the scripted servers, stopped by [`stop_servers`].
static SERVERS: Mutex<Vec<tokio::task::AbortHandle>> = Mutex::new(Vec::new());

fn keep(task: tokio::task::JoinHandle<()>) {
    SERVERS.lock().unwrap().push(task.abort_handle());
}

/// Stops every accept loop started so far (their listeners close).
pub fn stop_servers() {
    for task in SERVERS.lock().unwrap().drain(..) {
        task.abort();
    }
}

/// What the scripted proxy saw.
#[derive(Debug, Default)]
struct ProxySeen {
    /// The SNI and ALPN of each TLS session with the proxy.
    sni: Vec<Option<String>>,
    alpn: Vec<Option<String>>,
    /// Each `CONNECT` request's head.
    requests: Vec<String>,
}

/// A `CONNECT` proxy on 127.0.0.1, behind TLS with `config` (or plain
/// TCP for `None`): it reads the request head, answers `answer` (a 2xx
/// opens a tunnel to the target, `origin.test` being 127.0.0.1) and
/// splices both ways.
async fn connect_proxy(
    config: Option<Arc<ServerConfig>>,
    answer: &'static str,
) -> (SocketAddr, Arc<Mutex<ProxySeen>>) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(ProxySeen::default()));
    let saw = seen.clone();
    keep(tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let saw = saw.clone();
            let config = config.clone();
            tokio::spawn(async move {
                match config {
                    Some(config) => {
                        let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await else {
                            return;
                        };
                        {
                            let conn = tls.get_ref().1;
                            let mut saw = saw.lock().unwrap();
                            saw.sni.push(conn.server_name().map(str::to_string));
                            saw.alpn.push(
                                conn.alpn_protocol()
                                    .map(|p| String::from_utf8_lossy(p).into_owned()),
                            );
                        }
                        serve_connect(tls, answer, saw).await;
                    }
                    None => serve_connect(tcp, answer, saw).await,
                }
            });
        }
    }));
    (addr, seen)
}

async fn serve_connect<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    answer: &'static str,
    saw: Arc<Mutex<ProxySeen>>,
) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match client.read_u8().await {
            Ok(b) => head.push(b),
            Err(_) => return,
        }
    }
    let head = String::from_utf8(head).unwrap();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .replace("origin.test", "127.0.0.1");
    saw.lock().unwrap().requests.push(head);
    if !answer.starts_with("HTTP/1.1 2") {
        let _ = client.write_all(answer.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    let _ = client.shutdown().await;
}

/// A SOCKS5 proxy, no authentication, CONNECT to IPv4 addresses only.
async fn socks5_proxy() -> SocketAddr {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    keep(tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut greeting = [0; 2];
                c.read_exact(&mut greeting).await.unwrap();
                let mut methods = vec![0; greeting[1] as usize];
                c.read_exact(&mut methods).await.unwrap();
                c.write_all(&[5, 0]).await.unwrap();
                let mut req = [0; 4];
                c.read_exact(&mut req).await.unwrap();
                assert_eq!(req, [5, 1, 0, 1], "CONNECT to an IPv4 address");
                let mut ip = [0; 4];
                c.read_exact(&mut ip).await.unwrap();
                let port = c.read_u16().await.unwrap();
                let mut up = TcpStream::connect((std::net::Ipv4Addr::from(ip), port))
                    .await
                    .unwrap();
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
            });
        }
    }));
    addr
}

/// A plain echo origin for every connection.
async fn plain_echo() -> SocketAddr {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    keep(tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    }));
    addr
}

/// The proxy's TLS, for `localhost` with the CA's leaf for `names`.
fn proxy_tls(ca: &Ca, names: &[&str]) -> Arc<ServerConfig> {
    ca.leaf(names).server_config(&["http/1.1"])
}

fn https_proxy(addr: SocketAddr) -> Proxy {
    Proxy::https(format!("https://localhost:{}", addr.port())).unwrap()
}

pub async fn tls_to_the_origin_inside_tls_to_the_proxy_verifies_both_names() {
    let ca = Ca::new("test CA");
    let (proxy, seen) = connect_proxy(
        Some(proxy_tls(&ca, &["localhost"])),
        "HTTP/1.1 200 Connection established\r\n\r\n",
    )
    .await;
    let leaf = ca.leaf(&["origin.test"]);
    let (origin, server) = echo_server("127.0.0.1:0", leaf.server_config(&["h2"])).await;
    let mut stream = ConnectionBuilder::new(("origin.test", origin.port()))
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config())
        .alpn(["h2"])
        .connect_tls()
        .await
        .unwrap();
    // The origin's session, on the TCP connection to the proxy.
    assert_eq!(stream.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(stream.get_ref().0.peer_addr().unwrap(), proxy);
    assert_eq!(stream.peer_addr().unwrap(), proxy);
    stream.write_all(b"inside two TLS sessions").await.unwrap();
    let mut buf = [0u8; 23];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"inside two TLS sessions");
    stream.shutdown().await.unwrap();
    drop(stream);
    let origin_saw = server.await.unwrap();
    assert!(origin_saw.handshake_ok);
    assert_eq!(origin_saw.sni.as_deref(), Some("origin.test"));
    {
        let seen = seen.lock().unwrap();
        // The proxy was verified as localhost, and offered http/1.1 only.
        assert_eq!(seen.sni, vec![Some("localhost".to_string())]);
        assert_eq!(seen.alpn, vec![Some("http/1.1".to_string())]);
        assert_eq!(
            seen.requests,
            vec![format!(
                "CONNECT origin.test:{0} HTTP/1.1\r\nHost: origin.test:{0}\r\n\r\n",
                origin.port()
            )]
        );
    }
}

pub async fn a_wrong_proxy_certificate_fails_at_the_proxy_tls_stage() {
    let ca = Ca::new("test CA");
    let (proxy, seen) = connect_proxy(
        Some(proxy_tls(&ca, &["other.test"])),
        "HTTP/1.1 200 OK\r\n\r\n",
    )
    .await;
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::ProxyTls), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "through proxy https://localhost:{} (TLS with the proxy)",
            proxy.port()
        )),
        "{text}"
    );
    assert!(text.contains("localhost"), "{text}");
    assert!(text.contains("not for localhost"), "{text}");
    // An untrusted proxy certificate too: another CA.
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(https_proxy(proxy))
        .tls_config(Ca::new("another CA").client_config())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.proxy_stage(), Some(ProxyStage::ProxyTls), "{err}");
    // No plaintext fallback: the proxy never got a CONNECT.
    assert!(seen.lock().unwrap().requests.is_empty());
}

pub async fn a_407_inside_tls_asks_for_credentials() {
    let ca = Ca::new("test CA");
    let (proxy, seen) = connect_proxy(
        Some(proxy_tls(&ca, &["localhost"])),
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n\r\n",
    )
    .await;
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(https_proxy(proxy).basic_auth("Aladdin", "open sesame"))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
    assert_eq!(err.proxy_status(), Some(407));
    assert_eq!(err.proxy_stage(), Some(ProxyStage::Tunnel));
    // The credentials went inside TLS.
    let seen = seen.lock().unwrap();
    assert!(
        seen.requests[0].contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        "{:?}",
        seen.requests
    );
}

pub async fn connect_tunnel_through_http_socks5_and_https_proxies() {
    let ca = Ca::new("test CA");
    let origin = plain_echo().await;
    let (http, _) = connect_proxy(None, "HTTP/1.1 200 OK\r\n\r\n").await;
    let socks = socks5_proxy().await;
    let (https, _) = connect_proxy(
        Some(proxy_tls(&ca, &["localhost"])),
        "HTTP/1.1 200 OK\r\n\r\n",
    )
    .await;
    for (proxy, peer, tls) in [
        (Proxy::http(format!("http://{http}")).unwrap(), http, false),
        (
            Proxy::socks5(format!("socks5://{socks}")).unwrap(),
            socks,
            false,
        ),
        (https_proxy(https), https, true),
    ] {
        let connector = Connector::new().proxy(proxy).tls_config(ca.client_config());
        let mut tunnel = connector.connect_tunnel(origin).await.unwrap();
        assert_eq!(tunnel.is_tls(), tls);
        assert_eq!(tunnel.tcp().peer_addr().unwrap(), peer);
        tunnel.write_all(b"tunnelled").await.unwrap();
        let mut buf = [0u8; 9];
        tunnel.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"tunnelled");
        tunnel.shutdown().await.unwrap();
        assert_eq!(tunnel.into_tcp().is_ok(), !tls);
    }
    // `connect` cannot return a tunnel inside TLS: refused before any
    // packet, naming the call that can.
    let (untouched, check) = support::untouched_listener();
    let err = ConnectionBuilder::new(origin)
        .proxy(Proxy::https(format!("https://{untouched}")).unwrap())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("connect_tunnel"), "{err}");
    check();
}

pub async fn a_future_dropped_in_the_proxy_handshake_closes_its_socket() {
    let ca = Ca::new("test CA");
    // A proxy that accepts and never speaks TLS.
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let proxy = listener.local_addr().unwrap();
    keep(tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            // Silent until the client closes.
            tokio::spawn(async move {
                let _ = tcp.read_to_end(&mut Vec::new()).await;
            });
        }
    }));
    let connecting = ConnectionBuilder::new("origin.test:443")
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config())
        .connect_tls();
    assert!(tokio::time::timeout(Duration::from_millis(200), connecting)
        .await
        .is_err());
    // And a handshake timeout at the proxy is named as such.
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(https_proxy(proxy).handshake_timeout(Duration::from_millis(100)))
        .tls_config(ca.client_config())
        .connect_tunnel()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TlsHandshakeTimeout, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::ProxyTls));
}

/// An HTTP/1.1 origin on 127.0.0.1 that answers with the request's path,
/// behind TLS with `config` (or plain for `None`).
async fn http_origin(config: Option<Arc<ServerConfig>>) -> SocketAddr {
    use hyper_util::rt::TokioIo;
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    keep(tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = config.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let _: &hyper::body::Incoming = req.body();
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(hyper::body::Bytes::from(format!(
                            "origin {}",
                            req.uri().path()
                        ))),
                    ))
                });
                let http = hyper::server::conn::http1::Builder::new();
                match config {
                    Some(config) => {
                        if let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    }));
    addr
}

pub async fn hyper_fetches_http_and_https_origins_through_an_https_proxy() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let ca = Ca::new("test CA");
    let (proxy, seen) = connect_proxy(
        Some(proxy_tls(&ca, &["localhost"])),
        "HTTP/1.1 200 OK\r\n\r\n",
    )
    .await;
    let plain = http_origin(None).await;
    let secure = http_origin(Some(ca.leaf(&["origin.test"]).server_config(&[]))).await;
    let connector = Connector::new()
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config());
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Empty<hyper::body::Bytes>>(connector);
    for (uri, tls) in [
        (format!("http://origin.test:{}/plain", plain.port()), false),
        (
            format!("https://origin.test:{}/secure", secure.port()),
            true,
        ),
    ] {
        let response = client.get(uri.parse().unwrap()).await.unwrap();
        let info = response
            .extensions()
            .get::<tokio_endpoints::HttpInfo>()
            .unwrap()
            .clone();
        // The connection is to the proxy; TLS is the origin's.
        assert_eq!(info.remote_addr(), Some(proxy), "{uri}");
        assert_eq!(info.is_tls(), tls, "{uri}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let path = uri.rsplit('/').next().unwrap();
        assert_eq!(body, format!("origin /{path}"));
    }
    drop(client);
    assert_eq!(seen.lock().unwrap().requests.len(), 2);
}

pub async fn framed_and_stream_halves_run_inside_an_https_proxy() {
    use futures::{SinkExt, StreamExt};
    use tokio_endpoints::tokio_util::codec::LinesCodec;
    let ca = Ca::new("test CA");
    let (proxy, _) = connect_proxy(
        Some(proxy_tls(&ca, &["localhost"])),
        "HTTP/1.1 200 OK\r\n\r\n",
    )
    .await;
    let leaf = ca.leaf(&["origin.test"]);
    let (origin, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let mut lines = ConnectionBuilder::new(("origin.test", origin.port()))
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config())
        .connect_tls_framed(LinesCodec::new())
        .await
        .unwrap();
    lines.send("a line, framed").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "a line, framed");
    drop(lines);
    assert!(server.await.unwrap().handshake_ok);
    let (origin, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let (mut reader, mut writer) = ConnectionBuilder::new(("origin.test", origin.port()))
        .proxy(https_proxy(proxy))
        .tls_config(ca.client_config())
        .open_connection_tls()
        .await
        .unwrap();
    assert!(reader.is_tls() && writer.is_tls());
    assert_eq!(writer.peer_addr().unwrap(), proxy);
    writer.write_all(b"halves").await.unwrap();
    let mut buf = [0u8; 6];
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"halves");
    drop((reader, writer));
    assert_eq!(server.await.unwrap().sni.as_deref(), Some("origin.test"));
}
