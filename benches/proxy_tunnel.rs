//! TLS connections through a real HTTP proxy (tinyproxy on loopback),
//! side by side in one run: a `Connector` with `Proxy::http` and
//! `connect_tls`, against hyper-util's `Tunnel` over its `HttpConnector`
//! followed by the TLS handshake with tokio-rustls (what hyper-rustls's
//! `HttpsConnector` does over the `Tunnel`: hyper-rustls is not in this
//! build, and its handshake is the tokio-rustls call made here), and
//! against raw tokio (`TcpStream::connect`, `CONNECT` written and read by
//! hand, tokio-rustls), the floor.
//!
//! Beside them: ours with no proxy (direct), and through an https proxy
//! (`Proxy::https`: TLS with the proxy, `CONNECT` inside it, TLS with the
//! origin inside that) against raw tokio doing the same by hand with
//! tokio-rustls. The https proxy is scripted here (tokio-rustls in front
//! of a `CONNECT` handler that splices to the origin, in this process).
//!
//! Each connect is a full TLS 1.3 handshake (resumption off) with the
//! origin, inside the tunnel, verified for `localhost`; then the
//! connection is dropped. Rounds run the variants in a fresh order each time;
//! reported are each one's median rate and the median of per-round ratios
//! (target: ours / hyper-util >= 1.0x). Beside hyper-util as it ships, it
//! again with the two bounds ours has by default (the `CONNECT` exchange
//! and the TLS handshake each in a 60 s `tokio::time::timeout`): the same
//! work, timers included.
//!
//! `PROXY_TUNNEL_ONLY=ours` (or `peer`, `raw`) runs that variant alone,
//! `PROXY_TUNNEL_N` connects (default 1000) after the warm-up, for `strace`
//! and `valgrind --tool=callgrind` (per connect: the difference of two runs
//! of different `N`, divided by the difference of the connects).
//!
//! Needs `tinyproxy` (`apt-get install tinyproxy`); without it, says so
//! and exits.
//!
//! ```text
//! cargo bench --features proxy,tls,hyper --bench proxy_tunnel
//! ```

mod support;
use support::tls::serve_handshakes;
use support::{median, Shuffled};

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::{Connector, Proxy};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower_service::Service;

const ROUNDS: usize = 31;
const CONNECTS_PER_ROUND: usize = 100;
const NAMES: [&str; 7] = [
    "tokio-endpoints",
    "hyper-util Tunnel+rustls",
    "raw tokio",
    "ours, direct (no proxy)",
    "ours, https proxy",
    "raw tokio, https proxy",
    "hyper-util, our 2 bounds",
];

struct Tinyproxy(Child, std::path::PathBuf);

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

async fn tinyproxy() -> Option<(Tinyproxy, SocketAddr)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let conf = std::env::temp_dir().join(format!("bench-tinyproxy-{}.conf", std::process::id()));
    std::fs::write(
        &conf,
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 256\nLogLevel Critical\n"),
    )
    .ok()?;
    let child = Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let daemon = Tinyproxy(child, conf);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_ok() {
            return Some((daemon, addr));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// A scripted https proxy: TLS, then `CONNECT host:port` read byte by
/// byte, `200`, and a splice to the origin.
async fn https_proxy(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // As a real proxy does: without it Nagle holds the relayed
        // records back for the peer's delayed ACK.
        tcp.set_nodelay(true).unwrap();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let Ok(b) = tls.read_u8().await else { return };
                head.push(b);
            }
            let head = String::from_utf8(head).unwrap();
            let target = head[8..].split(' ').next().unwrap().to_string();
            let Ok(mut up) = TcpStream::connect(&target).await else {
                return;
            };
            up.set_nodelay(true).unwrap();
            if tls.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.is_err() {
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        });
    }
}

/// `CONNECT` to `origin` written by hand on `stream`, and the answer's
/// head. Read in one go: the origin sends nothing before the ClientHello,
/// so nothing past the head can arrive (the floor cuts that corner).
async fn connect_by_hand<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    origin: SocketAddr,
) -> Vec<u8> {
    stream
        .write_all(format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed");
        head.extend_from_slice(&buf[..n]);
    }
    head
}

async fn raw_https(proxy: SocketAddr, origin: SocketAddr, tls: &TlsConnector) {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut outer = tls
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let head = connect_by_hand(&mut outer, origin).await;
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), outer)
        .await
        .unwrap();
    drop(stream);
}

async fn ours(connector: &Connector, origin: SocketAddr) {
    let stream = connector
        .builder(origin)
        .server_name("localhost")
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
}

async fn hyper_util(tunnel: &mut Tunnel<HttpConnector>, dst: &Uri, tls: &TlsConnector) {
    let io = tunnel.call(dst.clone()).await.unwrap();
    let tcp = io.into_inner();
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    drop(stream);
}

/// hyper-util with the two bounds ours has by default: the `CONNECT`
/// exchange and the TLS handshake each within 60 s (ours:
/// `DEFAULT_PROXY_HANDSHAKE_TIMEOUT`, `DEFAULT_TLS_HANDSHAKE_TIMEOUT`),
/// what a user of hyper-util adds so that a silent proxy or origin cannot
/// hang the call. Each is a Tokio timer, and a timer registered when the
/// time driver has none wakes the driver's thread (an eventfd write and an
/// `epoll_wait` per connect, seen with `strace -f -c`).
async fn hyper_util_bounded(tunnel: &mut Tunnel<HttpConnector>, dst: &Uri, tls: &TlsConnector) {
    let bound = Duration::from_secs(60);
    let io = tokio::time::timeout(bound, tunnel.call(dst.clone()))
        .await
        .unwrap()
        .unwrap();
    let tcp = io.into_inner();
    let stream = tokio::time::timeout(
        bound,
        tls.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    drop(stream);
}

async fn raw(proxy: SocketAddr, origin: SocketAddr, tls: &TlsConnector) {
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let head = connect_by_hand(&mut tcp, origin).await;
    assert!(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"));
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    drop(stream);
}

#[tokio::main]
async fn main() {
    let Some((_daemon, proxy)) = tinyproxy().await else {
        println!("SKIPPED: tinyproxy is not installed (apt-get install tinyproxy)");
        return;
    };
    let (client, server) = support::tls::configs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = listener.local_addr().unwrap();
    tokio::spawn(serve_handshakes(
        listener,
        TlsAcceptor::from(server.clone()),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_proxy = listener.local_addr().unwrap();
    tokio::spawn(https_proxy(listener, TlsAcceptor::from(server)));

    // `PROXY_TUNNEL_TIMEOUTS=off`: ours without its default bounds (the
    // proxy's handshake timeout, the TLS handshake timeout), as the peer
    // runs, to measure what the two timers cost (a diagnosis, not a figure).
    let bounded = std::env::var("PROXY_TUNNEL_TIMEOUTS").as_deref() != Ok("off");
    let mut through_tinyproxy = Proxy::http(format!("http://{proxy}")).unwrap();
    let mut connector = Connector::new();
    if !bounded {
        through_tinyproxy = through_tinyproxy.handshake_timeout(None);
        connector = connector.tls_handshake_timeout(None);
    }
    let connector = connector
        .proxy(through_tinyproxy)
        .tls_config(client.clone());
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let mut tunnel = Tunnel::new(format!("http://{proxy}").parse().unwrap(), http);
    let dst: Uri = format!("https://{origin}").parse().unwrap();
    let direct = Connector::new().tls_config(client.clone());
    let through_https = Connector::new()
        .proxy(Proxy::https(format!("https://{tls_proxy}")).unwrap())
        .tls_config(client.clone());
    let tls = TlsConnector::from(client);

    // Warm up: tinyproxy's threads, the history, the allocator.
    for _ in 0..50 {
        ours(&connector, origin).await;
        hyper_util(&mut tunnel, &dst, &tls).await;
        raw(proxy, origin, &tls).await;
        ours(&direct, origin).await;
        ours(&through_https, origin).await;
        raw_https(tls_proxy, origin, &tls).await;
        hyper_util_bounded(&mut tunnel, &dst, &tls).await;
    }

    if let Ok(only) = std::env::var("PROXY_TUNNEL_ONLY") {
        let n: usize = std::env::var("PROXY_TUNNEL_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let t0 = Instant::now();
        for _ in 0..n {
            match only.as_str() {
                "ours" => ours(&connector, origin).await,
                "peer" => hyper_util(&mut tunnel, &dst, &tls).await,
                "peer-bounded" => hyper_util_bounded(&mut tunnel, &dst, &tls).await,
                "raw" => raw(proxy, origin, &tls).await,
                other => panic!("PROXY_TUNNEL_ONLY={other}: ours, peer, peer-bounded or raw"),
            }
        }
        println!("{only}: {n} connects in {:?}", t0.elapsed());
        return;
    }

    let mut rates: [Vec<f64>; 7] = Default::default();
    let mut ratio_hyper = Vec::new();
    let mut ratio_bounded = Vec::new();
    let mut ratio_raw = Vec::new();
    let mut ratio_https_raw = Vec::new();
    let mut ratio_https_http = Vec::new();
    let mut ratio_http_direct = Vec::new();
    let mut order = Shuffled::new(7);
    for _ in 0..ROUNDS {
        let mut round = [0.0; 7];
        for &variant in order.next_round() {
            let started = Instant::now();
            for _ in 0..CONNECTS_PER_ROUND {
                match variant {
                    0 => ours(&connector, origin).await,
                    1 => hyper_util(&mut tunnel, &dst, &tls).await,
                    2 => raw(proxy, origin, &tls).await,
                    3 => ours(&direct, origin).await,
                    4 => ours(&through_https, origin).await,
                    5 => raw_https(tls_proxy, origin, &tls).await,
                    _ => hyper_util_bounded(&mut tunnel, &dst, &tls).await,
                }
            }
            round[variant] = CONNECTS_PER_ROUND as f64 / started.elapsed().as_secs_f64();
        }
        for (i, rate) in round.iter().enumerate() {
            rates[i].push(*rate);
        }
        ratio_hyper.push(round[0] / round[1]);
        ratio_bounded.push(round[0] / round[6]);
        ratio_raw.push(round[0] / round[2]);
        ratio_https_raw.push(round[4] / round[5]);
        ratio_https_http.push(round[4] / round[0]);
        ratio_http_direct.push(round[0] / round[3]);
    }
    println!(
        "TLS connects through tinyproxy, direct, and through a scripted https proxy \
         ({ROUNDS} rounds of {CONNECTS_PER_ROUND}, medians):"
    );
    for (name, rates) in NAMES.iter().zip(rates.iter_mut()) {
        println!("  {name:<26} {:>8.0} /s", median(rates));
    }
    println!(
        "  ours / hyper-util: {:.3}x (median of per-round ratios)",
        median(&mut ratio_hyper)
    );
    println!(
        "  ours / hyper-util with our 2 bounds: {:.3}x (median of per-round ratios)",
        median(&mut ratio_bounded)
    );
    println!(
        "  ours / raw tokio:  {:.3}x (median of per-round ratios)",
        median(&mut ratio_raw)
    );
    println!(
        "  https proxy, ours / raw tokio: {:.3}x",
        median(&mut ratio_https_raw)
    );
    println!(
        "  ours, https proxy / http proxy (tinyproxy): {:.3}x",
        median(&mut ratio_https_http)
    );
    println!(
        "  ours, http proxy / direct: {:.3}x",
        median(&mut ratio_http_direct)
    );
}
