//! Soak: thousands of races and of cancellations at varied points, then
//! the process's descriptors, tasks and resident memory are back to where
//! they started.
//!
//! * Races: a blackholed or refused IPv6 address losing to IPv4; TLS
//!   handshakes racing (Happy Eyeballs v3, the slow one cancelled); names
//!   resolved by hickory from a loopback DNS server that answers late, and
//!   by a `Resolve` whose answers come late.
//! * Cancellations (the connect future dropped): before the fallback
//!   starts, while both attempts are in flight, after an attempt's TCP
//!   connect won while its TLS handshake is in flight, during slow TLS
//!   handshakes, with DNS queries in flight, with a resolver that never
//!   answers. Each at a point that varies from "before the first poll
//!   ends" to several milliseconds in.
//!
//! By default 1,000 of each (under a minute in a debug build on two
//! cores); `TOKIO_ENDPOINTS_SOAK=full` runs 10,000 of each:
//!
//! ```text
//! TOKIO_ENDPOINTS_SOAK=full cargo test --release --all-features --test soak
//! ```
//!
//! Tolerances: descriptors and live tasks exactly back to the baseline
//! after a settle (the servers' side of the last connections closes a
//! moment after the client's); resident memory within 8 MiB of the
//! baseline taken after a warm-up round, and within 4 MiB between the
//! second and the last round. The allocator keeps freed memory for reuse
//! and its arenas' high-water mark moves with how many calls happen to be
//! in flight at once (up to 48 here, each a few kilobytes plus TLS
//! buffers), so a few MiB of drift are noise; a leak of even 100 bytes per
//! call grows by 2 MiB per 10,000 calls, round after round, and shows in
//! the second check of a full run.
//!
//! This binary holds a single test, so nothing else in the process opens
//! descriptors while it counts.

mod common;
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::runtime::Runtime;
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::Message;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio_endpoints::{Addrs, Connector, Family, HickoryResolver, Resolve};
use tokio_rustls::TlsAcceptor;

use common::{dual_stack_blackholed_v6, open_fds, refused, Blackhole, V4, V6};

const MIB: i64 = 1024 * 1024;
/// Resident memory may differ from the baseline by this much at the end.
const RSS_TOLERANCE: i64 = 8 * MIB;
/// ... and grow by at most this much from the second round to the last.
const RSS_GROWTH_TOLERANCE: i64 = 2 * MIB;

/// How many races and how many cancellations: 1,000 each, or 10,000 each
/// with `TOKIO_ENDPOINTS_SOAK=full`.
fn count() -> usize {
    match std::env::var("TOKIO_ENDPOINTS_SOAK").as_deref() {
        Ok("full") => 10_000,
        _ => 1_000,
    }
}

/// The process's resident memory (VmRSS), in bytes.
fn rss() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Accepts and closes at once.
async fn serve_closing(listener: TcpListener) {
    loop {
        if let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    }
}

/// Accepts, waits `delay`, then runs the TLS handshake and closes.
async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, delay: Duration) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await;
        });
    }
}

/// Accepts and never answers (the ClientHello is read and ignored) until
/// the client closes.
async fn serve_silent(listener: TcpListener) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut sink)).await;
        });
    }
}

/// A DNS server on 127.0.0.1 on a thread and runtime of its own, that
/// answers every query `delay` late: AAAA `::1`, A `127.0.0.1`, anything
/// else no records; TTL 0, so no answer is cached and every call asks.
fn late_dns(delay: Duration) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            tx.send(socket.local_addr().unwrap()).unwrap();
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(query) = request.queries.first().cloned() else {
                    continue;
                };
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let mut response =
                        Message::response(request.metadata.id, request.metadata.op_code);
                    response.metadata.recursion_desired = request.metadata.recursion_desired;
                    response.metadata.recursion_available = true;
                    response.edns = request.edns.clone();
                    response.add_query(query.clone());
                    let rdata = match query.query_type() {
                        RecordType::AAAA => Some(RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
                        RecordType::A => Some(RData::A(A(Ipv4Addr::LOCALHOST))),
                        _ => None,
                    };
                    if let Some(rdata) = rdata {
                        response.add_answer(Record::from_rdata(query.name().clone(), 0, rdata));
                    }
                    let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn hickory(dns: SocketAddr) -> HickoryResolver {
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let server = NameServerConfig::new(dns.ip(), true, vec![udp]);
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    options.use_hosts_file = ResolveHosts::Never;
    HickoryResolver::with_config(ResolverConfig::from_name_servers(vec![server]), options)
        .unwrap()
        .fit_network(false)
}

/// A resolver whose answer ([::1, 127.0.0.1]) comes `delay` late, or
/// never.
#[derive(Debug)]
struct Late(Option<Duration>);

impl Resolve for Late {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        match self.0 {
            None => stream::pending().boxed(),
            Some(delay) => stream::once(async move {
                tokio::time::sleep(delay).await;
                Ok(vec![V6, V4])
            })
            .boxed(),
        }
    }
}

/// Everything the rounds connect to, made before the baseline.
struct Rig {
    ok4: SocketAddr,
    bh6: Blackhole,
    bh4: Blackhole,
    bad6: SocketAddr,
    /// Port where [::1] is blackholed and 127.0.0.1 accepts.
    dual: u16,
    /// TLS at once on 127.0.0.1; TLS 30 ms late on [::1] and 127.0.0.1.
    tls4: SocketAddr,
    slow_tls6: SocketAddr,
    slow_tls4: SocketAddr,
    silent6: SocketAddr,
    silent4: SocketAddr,
    plain: Connector,
    tls: Connector,
    dns_soon: Connector,
    dns_late: Connector,
    late: Connector,
    never: Connector,
}

async fn rig() -> Rig {
    let ok4 = TcpListener::bind((V4, 0)).await.unwrap();
    let ok4_addr = ok4.local_addr().unwrap();
    tokio::spawn(serve_closing(ok4));
    let (dual_listener, bh_dual, dual) = dual_stack_blackholed_v6();
    tokio::spawn(serve_closing(dual_listener));
    std::mem::forget(bh_dual); // lives as long as the process

    let ca = support::Ca::new("soak CA");
    let leaf = ca.leaf(&["localhost"]);
    let acceptor = TlsAcceptor::from(leaf.server_config(&[]));
    let bind = |ip: IpAddr| async move {
        let l = TcpListener::bind((ip, 0)).await.unwrap();
        (l.local_addr().unwrap(), l)
    };
    let (tls4, l) = bind(V4).await;
    tokio::spawn(serve_tls(l, acceptor.clone(), Duration::ZERO));
    let (slow_tls6, l) = bind(V6).await;
    tokio::spawn(serve_tls(l, acceptor.clone(), Duration::from_millis(30)));
    let (slow_tls4, l) = bind(V4).await;
    tokio::spawn(serve_tls(l, acceptor.clone(), Duration::from_millis(30)));
    let (silent6, l) = bind(V6).await;
    tokio::spawn(serve_silent(l));
    let (silent4, l) = bind(V4).await;
    tokio::spawn(serve_silent(l));

    let soon = late_dns(Duration::from_millis(2));
    let late = late_dns(Duration::from_millis(30));
    let quick = Duration::from_millis(2);
    Rig {
        ok4: ok4_addr,
        bh6: Blackhole::new(V6),
        bh4: Blackhole::new(V4),
        bad6: refused(V6),
        dual,
        tls4,
        slow_tls6,
        slow_tls4,
        silent6,
        silent4,
        plain: Connector::new(),
        tls: Connector::new()
            .tls_config(ca.client_config())
            .happy_eyeballs(quick),
        dns_soon: Connector::new()
            .resolver(hickory(soon))
            .happy_eyeballs(quick),
        dns_late: Connector::new()
            .resolver(hickory(late))
            .happy_eyeballs(quick),
        late: Connector::new()
            .resolver(Late(Some(Duration::from_millis(1))))
            .happy_eyeballs(quick),
        never: Connector::new().resolver(Late(None)),
    }
}

/// Race `i`: one of five kinds, each won by IPv4.
async fn race(rig: &Rig, i: usize) {
    let won = match i % 5 {
        // A blackholed IPv6 attempt in flight when IPv4 wins.
        0 => rig
            .plain
            .builder(vec![rig.bh6.addr, rig.ok4])
            .happy_eyeballs(Duration::from_micros((i % 4) as u64 * 300))
            .connect()
            .await
            .map(|s| s.peer_addr().unwrap()),
        // A refused IPv6 attempt: the fallback starts at once.
        1 => rig
            .plain
            .connect(vec![rig.bad6, rig.ok4])
            .await
            .map(|s| s.peer_addr().unwrap()),
        // TLS handshakes racing: [::1]'s is 30 ms slow and cancelled.
        2 => rig
            .tls
            .builder(vec![rig.slow_tls6, rig.tls4])
            .server_name("localhost")
            .connect_tls()
            .await
            .map(|s| s.get_ref().0.peer_addr().unwrap()),
        // hickory, from a DNS server that answers 2 ms late.
        3 => rig
            .dns_soon
            .connect(format!("race{}.soak.test:{}", i % 7, rig.dual))
            .await
            .map(|s| s.peer_addr().unwrap()),
        // A resolver whose answer comes 1 ms late.
        _ => rig
            .late
            .connect(format!("late.soak.test:{}", rig.dual))
            .await
            .map(|s| s.peer_addr().unwrap()),
    };
    let won = won.unwrap_or_else(|e| panic!("race {i}: {e}"));
    // [::1]'s slow handshake may still win on a loaded machine (then
    // 127.0.0.1's is the one cancelled); elsewhere IPv6 cannot win.
    if i % 5 != 2 {
        assert_eq!(won.ip(), V4, "race {i}");
    }
}

/// Cancellation `i`: one of six kinds, dropped at a point that varies.
async fn cancel(rig: &Rig, i: usize) {
    // From "the first poll only" (0) to several milliseconds in.
    let at = |max_us: u64| Duration::from_micros((i as u64 * 397) % max_us);
    let done = match i % 6 {
        // Before the fallback starts: only [::1] (blackholed) in flight.
        0 => tokio::time::timeout(
            at(3_000),
            rig.plain
                .builder(vec![rig.bh6.addr, rig.ok4])
                .happy_eyeballs(Duration::from_millis(250))
                .connect(),
        )
        .await
        .is_ok(),
        // During the fallback: both attempts blackholed and in flight.
        1 => tokio::time::timeout(
            Duration::from_millis(2) + at(3_000),
            rig.plain
                .builder(vec![rig.bh6.addr, rig.bh4.addr])
                .happy_eyeballs(Duration::from_millis(1))
                .connect(),
        )
        .await
        .is_ok(),
        // After TCP won: handshakes in flight with silent servers, one
        // or both families.
        2 => tokio::time::timeout(
            Duration::from_millis(1) + at(5_000),
            rig.tls
                .builder(vec![rig.silent6, rig.silent4])
                .server_name("localhost")
                .connect_tls(),
        )
        .await
        .is_ok(),
        // Slow TLS servers: handshakes in flight, or about to finish.
        3 => tokio::time::timeout(
            at(20_000),
            rig.tls
                .builder(vec![rig.slow_tls6, rig.slow_tls4])
                .server_name("localhost")
                .connect_tls(),
        )
        .await
        .is_ok(),
        // DNS queries in flight (answers 30 ms late), or the race just
        // started on them.
        4 => tokio::time::timeout(
            at(35_000),
            rig.dns_late
                .connect(format!("cancel{}.soak.test:{}", i % 11, rig.dual)),
        )
        .await
        .is_ok(),
        // A resolver that never answers.
        _ => tokio::time::timeout(
            at(2_000),
            rig.never.connect(format!("never.soak.test:{}", rig.dual)),
        )
        .await
        .is_ok(),
    };
    // The never-answering resolver and the blackholes cannot finish.
    if matches!(i % 6, 1 | 2 | 5) {
        assert!(!done, "cancellation {i} finished");
    }
}

/// Races and cancellations, `n` of each, `parallel` at a time.
fn round(rt: &Runtime, rig: &Rig, n: usize) {
    rt.block_on(async {
        stream::iter(0..n)
            .for_each_concurrent(16, |i| race(rig, i))
            .await;
        stream::iter(0..n)
            .for_each_concurrent(32, |i| cancel(rig, i))
            .await;
    });
}

/// Waits (up to 10 s) for the descriptor and task counts to come back.
fn settle(rt: &Runtime, fds: usize, tasks: usize) -> (usize, usize) {
    let started = Instant::now();
    loop {
        let now = (open_fds().unwrap(), rt.metrics().num_alive_tasks());
        if now == (fds, tasks) || started.elapsed() > Duration::from_secs(10) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The descriptor and task counts once they have not moved for 200 ms.
fn quiet(rt: &Runtime) -> (usize, usize) {
    let mut last = (usize::MAX, usize::MAX);
    let mut same = 0;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = (open_fds().unwrap(), rt.metrics().num_alive_tasks());
        same = if now == last { same + 1 } else { 0 };
        if same == 4 {
            return now;
        }
        last = now;
    }
}

#[test]
fn descriptors_tasks_and_memory_come_back_after_races_and_cancellations() {
    if open_fds().is_none() || rss().is_none() {
        eprintln!("no /proc/self here; skipped");
        return;
    }
    let n = count();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rig = rt.block_on(rig());
    let started = Instant::now();

    // Warm up: every kind, so that lazily made state (the runtime's,
    // rustls', hickory's, the allocator's arenas) is in the baseline.
    round(&rt, &rig, 120);
    let (fds, tasks) = quiet(&rt);
    let rss0 = rss().unwrap();

    // Four rounds of n/4 races and n/4 cancellations each.
    let rounds = 4;
    let mut after_round = Vec::new();
    for r in 0..rounds {
        round(&rt, &rig, n / rounds);
        let now = settle(&rt, fds, tasks);
        assert_eq!(now.0, fds, "descriptors after round {r}");
        assert_eq!(now.1, tasks, "live tasks after round {r}");
        after_round.push(rss().unwrap());
    }
    let took = started.elapsed();
    let rss_end = *after_round.last().unwrap();
    let mib = |b: i64| b as f64 / MIB as f64;
    eprintln!(
        "soak: {n} races + {n} cancellations in {took:.1?}; fds {fds}, tasks {tasks}; \
         RSS baseline {:.1} MiB, after each round {:?} MiB, end - baseline {:+.2} MiB, \
         last - second {:+.2} MiB",
        mib(rss0),
        after_round
            .iter()
            .map(|b| format!("{:.1}", mib(*b)))
            .collect::<Vec<_>>(),
        mib(rss_end - rss0),
        mib(rss_end - after_round[1]),
    );
    assert!(
        (rss_end - rss0).abs() <= RSS_TOLERANCE,
        "resident memory moved by {:+.2} MiB",
        mib(rss_end - rss0)
    );
    assert!(
        rss_end - after_round[1] <= RSS_GROWTH_TOLERANCE,
        "resident memory grew by {:+.2} MiB after the second round",
        mib(rss_end - after_round[1])
    );
    drop(rig);
}
