//! Connect benchmarks, measured side by side in one run (the machine is
//! shared and noisy: compare the ratios and medians, not one absolute time).
//!
//! 1. Connect to a literal loopback address: `ConnectionBuilder` against
//!    `tokio::net::TcpStream::connect`, in interleaved rounds.
//! 2. Blackholed IPv6 plus working IPv4, 250 ms connection attempt delay:
//!    time to connect minus the delay, for `ConnectionBuilder`, hyper-util's
//!    `HttpConnector` and CPython's `asyncio` (`benches/happy_eyeballs_asyncio.py`,
//!    when `python3` is on the PATH).
//!
//! Run: `cargo bench --bench connect`

mod support;
use support::{median, FixedDns};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::HttpConnector;
use socket2::{Domain, Socket, Type};
use tokio_endpoints::{ConnectionBuilder, Resolver};
use tower_service::Service;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DELAY: Duration = Duration::from_millis(250);

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    literal_loopback(&rt);
    blackholed_v6(&rt);
}

fn literal_loopback(rt: &tokio::runtime::Runtime) {
    const ROUNDS: usize = 21;
    const PER_ROUND: usize = 300;
    let listener = std::net::TcpListener::bind((V4, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });

    // The variants, run in a shuffled order each round.
    const NAMES: [&str; 4] = [
        "tokio::net::TcpStream::connect",
        "tokio connect + set_nodelay(true)",
        "ConnectionBuilder (nodelay, default)",
        "ConnectionBuilder .nodelay(false)",
    ];
    async fn one(variant: usize, addr: SocketAddr) {
        match variant {
            0 => drop(tokio::net::TcpStream::connect(addr).await.unwrap()),
            1 => {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
            }
            2 => drop(ConnectionBuilder::new(addr).connect().await.unwrap()),
            _ => drop(
                ConnectionBuilder::new(addr)
                    .nodelay(false)
                    .connect()
                    .await
                    .unwrap(),
            ),
        }
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    rt.block_on(async {
        for v in 0..NAMES.len() {
            for _ in 0..100 {
                one(v, addr).await;
            }
        }
        let mut order = support::Shuffled::new(NAMES.len());
        for _ in 0..ROUNDS {
            for &v in order.next_round() {
                let t0 = Instant::now();
                for _ in 0..PER_ROUND {
                    one(v, addr).await;
                }
                per[v].push(t0.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64);
            }
        }
    });
    // Paired ratios per round, against raw tokio and against tokio with the
    // same TCP_NODELAY syscall we make.
    let ratio = |a: usize, b: usize| {
        let mut r: Vec<f64> = per[a].iter().zip(&per[b]).map(|(x, y)| x / y).collect();
        median(&mut r)
    };
    let (r_raw, r_nd, r_plain) = (ratio(2, 0), ratio(2, 1), ratio(3, 0));
    println!("literal loopback connect ({ROUNDS} rounds x {PER_ROUND} connects, medians of per-connect means):");
    for (name, times) in NAMES.iter().zip(per.iter_mut()) {
        println!("  {name:<38} {:8.1} us", median(times));
    }
    println!("  ratio ours/tokio:                         {r_raw:.3}x (target <= 1.05x)");
    println!("  ratio ours/tokio+set_nodelay:             {r_nd:.3}x");
    println!("  ratio ours .nodelay(false)/tokio:         {r_plain:.3}x\n");
}

fn blackholed_v6(rt: &tokio::runtime::Runtime) {
    const ROUNDS: usize = 15;
    let _guard = rt.enter();
    // 127.0.0.1:port accepts; [::1]:port drops SYNs (full accept queue).
    let (v4, _blackhole, port) = loop {
        let v4 = std::net::TcpListener::bind((V4, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        v6.set_only_v6(true).unwrap();
        if v6.bind(&SocketAddr::new(V6, port).into()).is_err() {
            continue;
        }
        v6.listen(0).unwrap();
        let held = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        held.connect(&SocketAddr::new(V6, port).into()).unwrap();
        break (v4, (v6, held), port);
    };
    std::thread::spawn(move || {
        for conn in v4.incoming() {
            drop(conn);
        }
    });
    let pair = vec![SocketAddr::new(V6, port), SocketAddr::new(V4, port)];

    let mut connector = HttpConnector::new_with_resolver(FixedDns(pair.clone()));
    connector.set_happy_eyeballs_timeout(Some(DELAY));
    connector.set_nodelay(true);
    let uri: http::Uri = format!("http://dual-stack.test:{port}/").parse().unwrap();
    let resolver = Resolver::fixed([("dual-stack.test", vec![V6, V4])]);

    let (mut ours, mut hyper) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..ROUNDS {
            let t0 = Instant::now();
            let s = ConnectionBuilder::new(("dual-stack.test", port))
                .resolver(resolver.clone())
                .happy_eyeballs(DELAY)
                .connect()
                .await
                .unwrap();
            ours.push((t0.elapsed() - DELAY).as_secs_f64() * 1e3);
            assert!(s.peer_addr().unwrap().is_ipv4());

            let t0 = Instant::now();
            let s = connector.call(uri.clone()).await.unwrap();
            hyper.push((t0.elapsed().saturating_sub(DELAY)).as_secs_f64() * 1e3);
            drop(s);
        }
    });

    let asyncio = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/happy_eyeballs_asyncio.py"
        ))
        .args([
            port.to_string(),
            ROUNDS.to_string(),
            DELAY.as_secs_f64().to_string(),
        ])
        .output();
    let mut asyncio: Option<Vec<f64>> = match asyncio {
        Ok(out) if out.status.success() => Some(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect(),
        ),
        Ok(out) => {
            eprintln!(
                "asyncio peer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("asyncio peer skipped (python3: {e})");
            None
        }
    };

    let mo = median(&mut ours);
    let mh = median(&mut hyper);
    println!("blackholed [::1] + working 127.0.0.1, 250 ms delay ({ROUNDS} rounds, median time to connect minus the delay):");
    println!("  tokio-endpoints ConnectionBuilder   {mo:7.3} ms  (target <= 1 ms)");
    println!(
        "  hyper-util HttpConnector            {mh:7.3} ms  ({:.1}x ours)",
        mh / mo
    );
    if let Some(a) = asyncio.as_mut().filter(|a| !a.is_empty()) {
        let ma = median(a);
        println!(
            "  CPython asyncio.create_connection   {ma:7.3} ms  ({:.1}x ours)",
            ma / mo
        );
    }
}
