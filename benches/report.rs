//! What the establishment report costs, side by side in one run:
//! `connect_reported` against `connect`, to a literal loopback address and
//! by name (a resolver that answers at once), and a `Connector` with an
//! `on_established` callback against one without; raw
//! `tokio::net::TcpStream::connect` as the floor. Interleaved rounds in a
//! shuffled order; medians of per-connect means and of per-round ratios.
//!
//! Run: `cargo bench --bench report`
//!
//! `REPORT_ONLY=N`: run variant N alone, a fixed number of connects (for
//! `valgrind --tool=callgrind`, whose counts BENCHMARKS.md gives).

mod support;
use support::median;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio_endpoints::{ConnectionBuilder, Connector, Establishment, Resolver};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

const NAMES: [&str; 7] = [
    "tokio::net::TcpStream::connect",
    "literal: connect",
    "literal: connect_reported",
    "by name: connect",
    "by name: connect_reported",
    "Connector by name: connect",
    "Connector + on_established: connect",
];

struct Rig {
    addr: SocketAddr,
    resolver: Resolver,
    plain: Connector,
    told: Connector,
}

async fn one(v: usize, rig: &Rig) {
    let addr = rig.addr;
    let name = ("bench.test", addr.port());
    match v {
        0 => drop(tokio::net::TcpStream::connect(addr).await.unwrap()),
        1 => drop(ConnectionBuilder::new(addr).connect().await.unwrap()),
        2 => drop(
            ConnectionBuilder::new(addr)
                .connect_reported()
                .await
                .unwrap(),
        ),
        3 => drop(
            ConnectionBuilder::new(name)
                .resolver(rig.resolver.clone())
                .connect()
                .await
                .unwrap(),
        ),
        4 => drop(
            ConnectionBuilder::new(name)
                .resolver(rig.resolver.clone())
                .connect_reported()
                .await
                .unwrap(),
        ),
        5 => drop(rig.plain.connect(name).await.unwrap()),
        _ => drop(rig.told.connect(name).await.unwrap()),
    }
}

fn main() {
    const ROUNDS: usize = 31;
    const PER_ROUND: usize = 300;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind((V4, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let resolver = Resolver::fixed([("bench.test", vec![V4])]);
    let rig = Rig {
        addr,
        resolver: resolver.clone(),
        plain: Connector::new().resolver(resolver.clone()),
        told: Connector::new()
            .resolver(resolver)
            .on_established(|r: &Establishment| {
                std::hint::black_box(r.duration());
            }),
    };
    if let Some(v) = std::env::var("REPORT_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        rt.block_on(async {
            for _ in 0..2000 {
                one(v, &rig).await;
            }
        });
        println!("{}: 2000 connects", NAMES[v]);
        return;
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    rt.block_on(async {
        for v in 0..NAMES.len() {
            for _ in 0..100 {
                one(v, &rig).await;
            }
        }
        let mut order = support::Shuffled::new(NAMES.len());
        for _ in 0..ROUNDS {
            for &v in order.next_round() {
                let t0 = Instant::now();
                for _ in 0..PER_ROUND {
                    one(v, &rig).await;
                }
                per[v].push(t0.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64);
            }
        }
    });
    let ratio = |a: usize, b: usize| {
        let mut r: Vec<f64> = per[a].iter().zip(&per[b]).map(|(x, y)| x / y).collect();
        median(&mut r)
    };
    println!(
        "the establishment report ({ROUNDS} rounds x {PER_ROUND} connects to 127.0.0.1, \
         medians of per-connect means):"
    );
    for (name, times) in NAMES.iter().zip(per.iter()) {
        println!("  {name:<40} {:8.1} us", median(&mut times.clone()));
    }
    println!(
        "  literal: connect_reported / connect          {:.3}x (target <= 1.03x)",
        ratio(2, 1)
    );
    println!(
        "  by name: connect_reported / connect          {:.3}x (target <= 1.03x)",
        ratio(4, 3)
    );
    println!(
        "  Connector: on_established / none             {:.3}x",
        ratio(6, 5)
    );
    println!(
        "  literal: connect / tokio                     {:.3}x",
        ratio(1, 0)
    );
}
