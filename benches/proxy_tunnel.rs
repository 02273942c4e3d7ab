//! TLS connections through a real HTTP proxy (tinyproxy on loopback),
//! side by side in one run: a `Connector` with `Proxy::http` and
//! `connect_tls`, against hyper-util's `Tunnel` over its `HttpConnector`
//! followed by the TLS handshake with tokio-rustls (what hyper-rustls's
//! `HttpsConnector` does over the `Tunnel`: hyper-rustls is not in this
//! build, and its handshake is the tokio-rustls call made here), and
//! against raw tokio (`TcpStream::connect`, `CONNECT` written and read by
//! hand, tokio-rustls), the floor.
//!
//! Each connect is a full TLS 1.3 handshake (resumption off) with the
//! origin, inside the tunnel, verified for `localhost`; then the
//! connection is dropped. Rounds run the three in a fresh order each time;
//! reported are each one's median rate and the median of per-round ratios
//! (target: ours / hyper-util >= 1.0x).
//!
//! Needs `tinyproxy` (`apt-get install tinyproxy`); without it, says so
//! and exits.
//!
//! ```text
//! cargo bench --features proxy,tls,hyper --bench proxy_tunnel
//! ```

mod support;
use support::{median, Shuffled};

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::{Connector, Proxy};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower_service::Service;

const ROUNDS: usize = 31;
const CONNECTS_PER_ROUND: usize = 100;
const NAMES: [&str; 3] = ["tokio-endpoints", "hyper-util Tunnel+rustls", "raw tokio"];

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

async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = acceptor.accept(tcp).await;
        });
    }
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

async fn raw(proxy: SocketAddr, origin: SocketAddr, tls: &TlsConnector) {
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Read in one go: the origin sends nothing before the ClientHello, so
    // nothing past the head can arrive (the floor cuts that corner).
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed");
        head.extend_from_slice(&buf[..n]);
    }
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
    tokio::spawn(serve(listener, TlsAcceptor::from(server)));

    let connector = Connector::new()
        .proxy(Proxy::http(format!("http://{proxy}")).unwrap())
        .tls_config(client.clone());
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let mut tunnel = Tunnel::new(format!("http://{proxy}").parse().unwrap(), http);
    let dst: Uri = format!("https://{origin}").parse().unwrap();
    let tls = TlsConnector::from(client);

    // Warm up: tinyproxy's threads, the history, the allocator.
    for _ in 0..50 {
        ours(&connector, origin).await;
        hyper_util(&mut tunnel, &dst, &tls).await;
        raw(proxy, origin, &tls).await;
    }

    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut ratio_hyper = Vec::new();
    let mut ratio_raw = Vec::new();
    let mut order = Shuffled::new(3);
    for _ in 0..ROUNDS {
        let mut round = [0.0; 3];
        for &variant in order.next_round() {
            let started = Instant::now();
            for _ in 0..CONNECTS_PER_ROUND {
                match variant {
                    0 => ours(&connector, origin).await,
                    1 => hyper_util(&mut tunnel, &dst, &tls).await,
                    _ => raw(proxy, origin, &tls).await,
                }
            }
            round[variant] = CONNECTS_PER_ROUND as f64 / started.elapsed().as_secs_f64();
        }
        for (i, rate) in round.iter().enumerate() {
            rates[i].push(*rate);
        }
        ratio_hyper.push(round[0] / round[1]);
        ratio_raw.push(round[0] / round[2]);
    }
    println!("TLS connects through tinyproxy ({ROUNDS} rounds of {CONNECTS_PER_ROUND}, medians):");
    for (name, rates) in NAMES.iter().zip(rates.iter_mut()) {
        println!("  {name:<26} {:>8.0} /s", median(rates));
    }
    println!(
        "  ours / hyper-util: {:.3}x (median of per-round ratios)",
        median(&mut ratio_hyper)
    );
    println!(
        "  ours / raw tokio:  {:.3}x (median of per-round ratios)",
        median(&mut ratio_raw)
    );
}
