//! The cost of an address policy on a connect: a literal loopback connect
//! with `AddressPolicy::public_only().allow("127.0.0.0/8")` against the
//! same connect without a policy, side by side in shuffled, interleaved
//! rounds (the machine is shared and noisy: the figure is the median of
//! the per-round ratios). Target: at most 1.01x. Also the time of one
//! `allows` check.
//!
//! Run: `cargo bench --bench policy`

mod support;
use support::median;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio_endpoints::{AddressPolicy, ConnectionBuilder};

fn main() {
    const ROUNDS: usize = 31;
    const PER_ROUND: usize = 300;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let policy = AddressPolicy::public_only().allow("127.0.0.0/8".parse().unwrap());

    const NAMES: [&str; 2] = ["without a policy", "public_only().allow(127/8)"];
    async fn one(variant: usize, addr: SocketAddr, policy: &AddressPolicy) {
        let builder = ConnectionBuilder::new(addr);
        let builder = match variant {
            0 => builder,
            _ => builder.address_policy(policy.clone()),
        };
        drop(builder.connect().await.unwrap());
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    rt.block_on(async {
        for v in 0..NAMES.len() {
            for _ in 0..100 {
                one(v, addr, &policy).await;
            }
        }
        let mut order = support::Shuffled::new(NAMES.len());
        for _ in 0..ROUNDS {
            for &v in order.next_round() {
                let t0 = Instant::now();
                for _ in 0..PER_ROUND {
                    one(v, addr, &policy).await;
                }
                per[v].push(t0.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64);
            }
        }
    });
    let mut ratios: Vec<f64> = per[1].iter().zip(&per[0]).map(|(p, n)| p / n).collect();
    let ratio = median(&mut ratios);
    println!("literal loopback connect ({ROUNDS} rounds x {PER_ROUND} connects, medians of per-connect means):");
    for (name, times) in NAMES.iter().zip(per.iter_mut()) {
        println!("  {name:<28} {:8.1} us", median(times));
    }
    println!("  ratio with policy / without:  {ratio:.3}x (target <= 1.01x)");

    // One check, alone.
    const CHECKS: usize = 1_000_000;
    let ips: [IpAddr; 4] = [
        "127.0.0.1".parse().unwrap(),
        "93.184.215.14".parse().unwrap(),
        "::ffff:10.0.0.5".parse().unwrap(),
        "2606:4700:4700::1111".parse().unwrap(),
    ];
    for ip in ips {
        let t0 = Instant::now();
        for _ in 0..CHECKS {
            black_box(black_box(&policy).allows(black_box(ip)));
        }
        let ns = t0.elapsed().as_secs_f64() * 1e9 / CHECKS as f64;
        println!("  allows({ip}): {ns:.1} ns");
    }
}
