//! TLS connections through a real HTTP proxy (tinyproxy on loopback),
//! side by side in one run: a `Connector` with `Proxy::http` and
//! `connect_tls`, against hyper-rustls' `HttpsConnector` over hyper-util's
//! `Tunnel<HttpConnector>` (the composition a hyper user has today: the
//! issue's peer), against the same `Tunnel` followed by a bare
//! tokio-rustls handshake (hyper-rustls without its boxed future and
//! wrappers: the stricter peer), and against raw tokio
//! (`TcpStream::connect`, `CONNECT` written and read by hand,
//! tokio-rustls), the floor.
//!
//! Beside them: ours with no proxy (direct), and through an https proxy
//! (`Proxy::https`: TLS with the proxy, `CONNECT` inside it, TLS with the
//! origin inside that) against raw tokio doing the same by hand with
//! tokio-rustls. The https proxy is scripted here (tokio-rustls in front
//! of a `CONNECT` handler that splices to the origin, in this process).
//!
//! Each connect is a full TLS 1.3 handshake (resumption off, no ALPN on
//! any side: hyper-rustls with HTTP/1 only offers none) with the origin,
//! inside the tunnel, verified for `localhost`; then the connection is
//! dropped. Rounds run the variants in a fresh order each time; reported
//! are each one's median rate and the median of per-round ratios (target:
//! ours / hyper-rustls >= 1.0x). Ours keeps its two default bounds (the
//! proxy's handshake timeout and the TLS handshake timeout, 60 s each);
//! the peers have none.
//!
//! `PROXY_TUNNEL_ONLY=ours` (or `hyper-rustls`, `peer`, `raw`) runs that
//! variant alone, `PROXY_TUNNEL_N` connects (default 1000) after the
//! warm-up, for `strace` and `valgrind --tool=callgrind` (per connect: the
//! difference of two runs of different `N`, divided by the difference of
//! the connects). `PROXY_TUNNEL_TIMEOUTS=off` runs ours without its two
//! bounds (a diagnosis of what its timers cost, not a figure);
//! `PROXY_TUNNEL_RT=current` runs it all on a current-thread runtime.
//!
//! Needs `tinyproxy` (`apt-get install tinyproxy`); without it, says so
//! and exits.
//!
//! ```text
//! cargo bench -p tokio-endpoints-integration --bench proxy_tunnel
//! ```

#[path = "../../benches/support/mod.rs"]
mod support;
#[path = "../../benches/support/tls.rs"]
#[allow(dead_code)]
mod tls_support;
use support::{median, Shuffled};
use tls_support::serve_handshakes;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_rustls::{
    FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream,
};
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
const NAMES: [&str; 8] = [
    "tokio-endpoints",
    "hyper-rustls over Tunnel",
    "Tunnel + bare tokio-rustls",
    "raw tokio",
    "ours, direct (no proxy)",
    "ours, https proxy",
    "raw tokio, https proxy",
    "ours without its 2 bounds",
];

/// hyper-rustls' connector over hyper-util's tunnel.
type HyperRustls = HttpsConnector<Tunnel<HttpConnector>>;

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

/// hyper-rustls' `HttpsConnector` over the tunnel: what a hyper user
/// composes today (its `call` boxes the tunnel's future and the
/// handshake's).
async fn hyper_rustls(https: &mut HyperRustls, dst: &Uri) {
    let stream = https.call(dst.clone()).await.unwrap();
    assert!(matches!(stream, MaybeHttpsStream::Https(_)));
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

/// User and system CPU of process `pid` ("self" for this one), in clock
/// ticks (10 ms), from `/proc/<pid>/stat`; 0 where there is none.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // After the command's closing parenthesis: fields 3 on; utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// A future and the count of its polls (each but the last found it
/// pending: the calling thread went to sleep, or ran something else).
struct Polls<'a, F>(std::pin::Pin<Box<F>>, &'a mut u64);

impl<F: std::future::Future> std::future::Future for Polls<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        *self.1 += 1;
        self.0.as_mut().poll(cx)
    }
}

/// Context switches of this process's threads so far (voluntary and not).
fn switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn main() {
    // `PROXY_TUNNEL_RT=current`: everything in this process on one thread
    // (a current-thread runtime), without the cross-thread wake-ups of the
    // default multi-thread one.
    let mut runtime = match std::env::var("PROXY_TUNNEL_RT").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    runtime.enable_all().build().unwrap().block_on(run());
}

async fn run() {
    let Some((_daemon, proxy)) = tinyproxy().await else {
        println!("SKIPPED: tinyproxy is not installed (apt-get install tinyproxy)");
        return;
    };
    let (client, server) = tls_support::configs();
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
    // proxy's handshake timeout, the TLS handshake timeout), as the peers
    // run, to measure what the two timers cost (a diagnosis, not a figure).
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
    let mut https: HyperRustls = HttpsConnectorBuilder::new()
        .with_tls_config((*client).clone())
        .https_only()
        .with_server_name_resolver(FixedServerNameResolver::new(
            ServerName::try_from("localhost").unwrap(),
        ))
        .enable_http1()
        .wrap_connector(tunnel.clone());
    let dst: Uri = format!("https://{origin}").parse().unwrap();
    let unbounded = Connector::new()
        .tls_handshake_timeout(None)
        .proxy(
            Proxy::http(format!("http://{proxy}"))
                .unwrap()
                .handshake_timeout(None),
        )
        .tls_config(client.clone());
    let direct = Connector::new().tls_config(client.clone());
    let through_https = Connector::new()
        .proxy(Proxy::https(format!("https://{tls_proxy}")).unwrap())
        .tls_config(client.clone());
    let tls = TlsConnector::from(client);

    // Warm up: tinyproxy's threads, the history, the allocator.
    for _ in 0..50 {
        ours(&connector, origin).await;
        hyper_rustls(&mut https, &dst).await;
        hyper_util(&mut tunnel, &dst, &tls).await;
        raw(proxy, origin, &tls).await;
        ours(&direct, origin).await;
        ours(&through_https, origin).await;
        raw_https(tls_proxy, origin, &tls).await;
        ours(&unbounded, origin).await;
    }

    if let Ok(only) = std::env::var("PROXY_TUNNEL_ONLY") {
        let n: usize = std::env::var("PROXY_TUNNEL_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let pid = _daemon.0.id();
        let (ours0, proxy0) = (cpu_ticks("self"), cpu_ticks(&pid.to_string()));
        let switches0 = switches();
        let t0 = Instant::now();
        let mut polls = 0u64;
        for _ in 0..n {
            match only.as_str() {
                "ours" => Polls(Box::pin(ours(&connector, origin)), &mut polls).await,
                "hyper-rustls" => Polls(Box::pin(hyper_rustls(&mut https, &dst)), &mut polls).await,
                "peer" => Polls(Box::pin(hyper_util(&mut tunnel, &dst, &tls)), &mut polls).await,
                "raw" => Polls(Box::pin(raw(proxy, origin, &tls)), &mut polls).await,
                other => panic!("PROXY_TUNNEL_ONLY={other}: ours, hyper-rustls, peer or raw"),
            }
        }
        let elapsed = t0.elapsed();
        let per = |ticks: u64| ticks as f64 * 10_000.0 / n as f64;
        println!(
            "{only}: {n} connects in {elapsed:?}; per connect: CPU of this process {:.0} us, \
             of tinyproxy {:.0} us; {:.2} context switches here; {:.2} polls",
            per(cpu_ticks("self") - ours0),
            per(cpu_ticks(&pid.to_string()) - proxy0),
            (switches() - switches0) as f64 / n as f64,
            polls as f64 / n as f64,
        );
        return;
    }

    let mut rates: [Vec<f64>; 8] = Default::default();
    let mut ratio_hyper_rustls = Vec::new();
    let mut ratio_bare = Vec::new();
    let mut ratio_raw = Vec::new();
    let mut ratio_https_raw = Vec::new();
    let mut ratio_https_http = Vec::new();
    let mut ratio_http_direct = Vec::new();
    let mut ratio_bounds = Vec::new();
    let mut order = Shuffled::new(8);
    for _ in 0..ROUNDS {
        let mut round = [0.0; 8];
        for &variant in order.next_round() {
            let started = Instant::now();
            for _ in 0..CONNECTS_PER_ROUND {
                match variant {
                    0 => ours(&connector, origin).await,
                    1 => hyper_rustls(&mut https, &dst).await,
                    2 => hyper_util(&mut tunnel, &dst, &tls).await,
                    3 => raw(proxy, origin, &tls).await,
                    4 => ours(&direct, origin).await,
                    5 => ours(&through_https, origin).await,
                    6 => raw_https(tls_proxy, origin, &tls).await,
                    _ => ours(&unbounded, origin).await,
                }
            }
            round[variant] = CONNECTS_PER_ROUND as f64 / started.elapsed().as_secs_f64();
        }
        for (i, rate) in round.iter().enumerate() {
            rates[i].push(*rate);
        }
        ratio_hyper_rustls.push(round[0] / round[1]);
        ratio_bare.push(round[0] / round[2]);
        ratio_raw.push(round[0] / round[3]);
        ratio_https_raw.push(round[5] / round[6]);
        ratio_https_http.push(round[5] / round[0]);
        ratio_http_direct.push(round[0] / round[4]);
        ratio_bounds.push(round[0] / round[7]);
    }
    println!(
        "TLS connects through tinyproxy, direct, and through a scripted https proxy \
         ({ROUNDS} rounds of {CONNECTS_PER_ROUND}, medians):"
    );
    for (name, rates) in NAMES.iter().zip(rates.iter_mut()) {
        println!("  {name:<26} {:>8.0} /s", median(rates));
    }
    println!(
        "  ours / hyper-rustls over Tunnel: {:.3}x (median of per-round ratios)",
        median(&mut ratio_hyper_rustls)
    );
    println!(
        "  ours / Tunnel + bare tokio-rustls: {:.3}x (median of per-round ratios)",
        median(&mut ratio_bare)
    );
    println!(
        "  ours / ours without its 2 bounds: {:.3}x (what the two timers cost)",
        median(&mut ratio_bounds)
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
