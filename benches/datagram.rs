//! Datagrams per second through a socket built by `DatagramBuilder`, against
//! a raw `tokio::net::UdpSocket` on the same workload, and CPython asyncio's
//! datagram endpoint beside them (`benches/datagram_asyncio.py`, run when
//! `python3` is on PATH).
//!
//! Workload: two connected UDP sockets on 127.0.0.1; the sender sends a
//! burst of `BURST` datagrams of `SIZE` bytes, the receiver reads them, and
//! so on until `COUNT` datagrams went through. Bursts stay well inside the
//! receive buffer, so loopback does not drop; a datagram missing for a
//! second is counted lost and the round goes on. One thread (Tokio's
//! current-thread runtime, as asyncio's single event loop).
//!
//! Rounds of the two Rust variants are interleaved (and their order swapped
//! each round) so that drift in the machine's load hits both alike; medians
//! are reported, the ratio of the medians built / raw (target: at least
//! 0.98), and the median of each round's built / raw ratio.
//!
//! Many short rounds (25 of 40 000 datagrams by default) keep each pair of
//! rounds close in time on a loaded machine.
//!
//! ```text
//! cargo bench --bench datagram
//! DATAGRAM_BENCH_COUNT=100000 DATAGRAM_BENCH_ROUNDS=9 cargo bench --bench datagram
//! ```

mod support;
use support::median;

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_endpoints::DatagramBuilder;

const SIZE: usize = 64;
const BURST: usize = 32;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn raw_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.connect(b.local_addr().unwrap()).await.unwrap();
    b.connect(a.local_addr().unwrap()).await.unwrap();
    (a, b)
}

async fn built_pair() -> (UdpSocket, UdpSocket) {
    let b = DatagramBuilder::new()
        .local_addr("127.0.0.1:0")
        .bind()
        .await
        .unwrap();
    let a = DatagramBuilder::new()
        .local_addr("127.0.0.1:0")
        .remote_addr(b.local_addr().unwrap())
        .bind()
        .await
        .unwrap();
    b.connect(a.local_addr().unwrap()).await.unwrap();
    (a, b)
}

/// Datagrams per second sent and received; lost datagrams are not counted.
async fn round(tx: &UdpSocket, rx: &UdpSocket, count: usize) -> (f64, usize) {
    let payload = [0x5a_u8; SIZE];
    let mut buf = [0_u8; 2048];
    let mut received = 0;
    let mut lost = 0;
    let start = Instant::now();
    let mut sent = 0;
    while sent < count {
        let burst = BURST.min(count - sent);
        for _ in 0..burst {
            tx.send(&payload).await.unwrap();
        }
        sent += burst;
        for _ in 0..burst {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv(&mut buf)).await {
                Ok(n) => {
                    assert_eq!(n.unwrap(), SIZE);
                    received += 1;
                }
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    (received as f64 / elapsed, lost)
}

fn main() {
    let count = env_or("DATAGRAM_BENCH_COUNT", 40_000);
    let rounds = env_or("DATAGRAM_BENCH_ROUNDS", 25);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "datagram bench: {count} datagrams of {SIZE} bytes per round, bursts of {BURST}, {rounds} rounds, 127.0.0.1"
    );

    let (raw, built, lost) = rt.block_on(async {
        let raw_sockets = raw_pair().await;
        let built_sockets = built_pair().await;
        // Warm up both.
        round(&raw_sockets.0, &raw_sockets.1, count / 10).await;
        round(&built_sockets.0, &built_sockets.1, count / 10).await;
        let (mut raw, mut built, mut lost) = (Vec::new(), Vec::new(), 0);
        for r in 0..rounds {
            let order = if r % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for use_builder in order {
                let (tx, rx) = if use_builder {
                    (&built_sockets.0, &built_sockets.1)
                } else {
                    (&raw_sockets.0, &raw_sockets.1)
                };
                let (rate, l) = round(tx, rx, count).await;
                lost += l;
                if use_builder { &mut built } else { &mut raw }.push(rate);
            }
        }
        (raw, built, lost)
    });
    let show = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{:.0}k", r / 1e3))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("  raw tokio UdpSocket rounds:  {}", show(&raw));
    println!("  DatagramBuilder rounds:      {}", show(&built));
    let (raw_median, built_median) = (median(&mut raw.clone()), median(&mut built.clone()));
    println!(
        "  raw tokio::net::UdpSocket  median {:>10.0} datagrams/s",
        raw_median
    );
    println!(
        "  DatagramBuilder socket     median {:>10.0} datagrams/s",
        built_median
    );
    let ratio = built_median / raw_median;
    println!(
        "  ratio built / raw          {ratio:.3}x ({})",
        if ratio >= 0.98 {
            "meets the 0.98x target"
        } else {
            "BELOW the 0.98x target"
        }
    );
    // Each round's pair ran back to back: their ratio is less exposed to the
    // load of a shared machine drifting between rounds.
    let mut paired: Vec<f64> = built.iter().zip(&raw).map(|(b, r)| b / r).collect();
    println!("  median of per-round ratios {:.3}x", median(&mut paired));
    if lost > 0 {
        println!("  ({lost} datagrams lost and not counted)");
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/datagram_asyncio.py");
    match Command::new("python3")
        .arg(script)
        .args(["--count", &count.to_string()])
        .args(["--rounds", &rounds.to_string()])
        .args(["--size", &SIZE.to_string(), "--burst", &BURST.to_string()])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{text}");
            let asyncio = text
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("asyncio median"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok());
            if let Some(a) = asyncio {
                println!("  DatagramBuilder / asyncio   {:.2}x", built_median / a);
            }
        }
        Ok(out) => println!(
            "  asyncio: the script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("  asyncio: not run ({e}: is python3 on PATH?)"),
    }
}
