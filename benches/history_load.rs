//! The connect history under contention: 8 tasks on a multi-thread
//! runtime connect, through one `Connector`, to 2,000 different targets
//! (names, each resolved by a fixed table to `[::1]` and `127.0.0.1`,
//! both accepting): more targets than the history holds, so most calls
//! miss, record a winner and evict the least recently used target. The
//! same loads through a `Connector` with `.history(false)`, side by side,
//! rounds alternating who goes first; the median time per connect and the
//! median of the per-round ratios (history on / off).
//!
//! Run: `cargo bench --bench history_load`.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::median;
use tokio_endpoints::{Connector, Resolver};

const TARGETS: usize = 2000;
const TASKS: usize = 8;
/// Connects per task per round.
const PER_TASK: usize = 250;
const ROUNDS: usize = 21;

/// A listener on `addr` with room for a whole round in its accept queue,
/// accepting and closing on its own thread.
fn accepting(addr: SocketAddr) -> Option<u16> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        s.set_only_v6(true).unwrap();
    }
    s.set_reuse_address(true).unwrap();
    s.bind(&addr.into()).ok()?;
    s.listen(4096).unwrap();
    let l: std::net::TcpListener = s.into();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            drop(conn);
        }
    });
    Some(port)
}

/// One round: `TASKS` tasks, each connecting `PER_TASK` times, to targets
/// spread over all `TARGETS` (task `k` starts at its own offset). Returns
/// the time per connect, in microseconds.
async fn round(connector: &Connector, names: &Arc<Vec<String>>, port: u16, offset: usize) -> f64 {
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|k| {
            let connector = connector.clone();
            let names = names.clone();
            tokio::spawn(async move {
                for j in 0..PER_TASK {
                    let i = (offset + k * (TARGETS / TASKS) + j * 7) % TARGETS;
                    let stream = connector.connect((names[i].as_str(), port)).await.unwrap();
                    drop(stream);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    t0.elapsed().as_secs_f64() * 1e6 / (TASKS * PER_TASK) as f64
}

fn main() {
    let port = loop {
        let port = accepting(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0)).unwrap();
        if accepting(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).is_some() {
            break port;
        }
    };
    let names: Arc<Vec<String>> = Arc::new((0..TARGETS).map(|i| format!("h{i}.test")).collect());
    let both = vec![
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    ];
    let resolver = Resolver::fixed(names.iter().map(|n| (n.as_str(), both.clone())));
    let on = Connector::new().resolver(resolver.clone());
    let off = Connector::new().resolver(resolver).history(false);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        round(&on, &names, port, 0).await;
        round(&off, &names, port, 0).await;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            let offset = r * 131;
            if r % 2 == 0 {
                a.push(round(&on, &names, port, offset).await);
                b.push(round(&off, &names, port, offset).await);
            } else {
                b.push(round(&off, &names, port, offset).await);
                a.push(round(&on, &names, port, offset).await);
            }
            // Let the listeners' threads catch up.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
        let per_round = median(&mut ratios);
        println!(
            "{TASKS} tasks, multi-thread runtime, {TARGETS} targets through one Connector \
             ({ROUNDS} rounds of {} connects; median time per connect):",
            TASKS * PER_TASK
        );
        println!("  {:<40} {:7.2} us", "history on (the default)", median(&mut a));
        println!("  {:<40} {:7.2} us", ".history(false)", median(&mut b));
        println!(
            "  median of per-round ratios: {per_round:.3}x (rounds {:.3}x to {:.3}x; target <= 1.10x)",
            ratios[0],
            ratios[ratios.len() - 1]
        );
    });
}
