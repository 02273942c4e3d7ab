//! Issue 32's figure, in the root package (a light build): a name the
//! hickory resolver has cached, connected through a `Connector`, against a
//! literal address through the same `Connector`.
//!
//! A DNS server in this process answers A 127.0.0.1 and AAAA ::1 (TTL 300)
//! 5 ms late; the warm-up fills the resolver's cache, and every later
//! connect by name is a cache hit. Both variants connect to a port that
//! `[::1]` and `127.0.0.1` both accept, one connect at a time, alternating,
//! many rounds; the median time of each and the median of the per-round
//! ratios are printed (`cargo bench -p tokio-endpoints-integration --bench
//! connector` gives the same figure beside the others).
//!
//! `CACHED_NAME_ONLY=name` (or `literal`) runs that variant alone, for
//! `valgrind --tool=callgrind` (instructions per connect: the difference of
//! two runs divided by the connects).
//!
//! Run: `cargo bench --bench cached_name`.

mod support;
use support::median;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::Message;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio_endpoints::{Connector, HickoryResolver};

const DNS_DELAY: Duration = Duration::from_millis(5);
const TTL: u32 = 300;
const NAME: &str = "bench.test";
/// Rounds, each one connect of every variant, and connects per variant in
/// a round (their total time is the round's figure).
const ROUNDS: usize = 41;
const PER_ROUND: usize = 100;

/// A DNS server answering A 127.0.0.1 and AAAA ::1, `DNS_DELAY` late.
async fn dns_server() -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(query) = request.queries.first().cloned() else {
                continue;
            };
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DNS_DELAY).await;
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
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
                    response.add_answer(Record::from_rdata(query.name().clone(), TTL, rdata));
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
            });
        }
    });
    addr
}

fn hickory(dns: SocketAddr) -> HickoryResolver {
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let config =
        ResolverConfig::from_name_servers(vec![NameServerConfig::new(dns.ip(), true, vec![udp])]);
    let mut options = ResolverOpts::default();
    options.use_hosts_file = ResolveHosts::Never;
    HickoryResolver::with_config(config, options).unwrap()
}

/// A port with an accepting listener on both [::1] and 127.0.0.1.
async fn listeners() -> u16 {
    loop {
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l6.local_addr().unwrap().port();
        if let Ok(l4) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            for l in [l6, l4] {
                tokio::spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        drop(s);
                    }
                });
            }
            return port;
        }
    }
}

async fn run() {
    let dns = dns_server().await;
    let port = listeners().await;
    let literal = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let connector = Connector::new().resolver(hickory(dns));
    let by_name = |c: Connector| async move { c.connect((NAME, port)).await.unwrap() };
    let by_literal = |c: Connector| async move { c.connect(literal).await.unwrap() };
    // Warm up: the cache and the history filled.
    for _ in 0..10 {
        drop(by_name(connector.clone()).await);
        drop(by_literal(connector.clone()).await);
    }
    if let Ok(only) = std::env::var("CACHED_NAME_ONLY") {
        let n = ROUNDS * PER_ROUND;
        let t0 = Instant::now();
        for _ in 0..n {
            match only.as_str() {
                "name" => drop(by_name(connector.clone()).await),
                "literal" => drop(by_literal(connector.clone()).await),
                other => panic!("CACHED_NAME_ONLY={other}: name or literal"),
            }
        }
        println!("{only}: {n} connects in {:?}", t0.elapsed());
        return;
    }
    let (mut names, mut literals, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut times = [0.0f64; 2];
        for k in 0..2 {
            // Alternate who goes first.
            let which = (k + round) % 2;
            let t0 = Instant::now();
            for _ in 0..PER_ROUND {
                match which {
                    0 => drop(by_name(connector.clone()).await),
                    _ => drop(by_literal(connector.clone()).await),
                }
            }
            times[which] = t0.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64;
        }
        names.push(times[0]);
        literals.push(times[1]);
        ratios.push(times[0] / times[1]);
    }
    println!(
        "a cached name through a Connector against a literal through it: \
         {ROUNDS} rounds of {PER_ROUND} connects each (loopback)"
    );
    println!(
        "{:<40} {:>10.1} us",
        "Connector, cached name",
        median(&mut names)
    );
    println!(
        "{:<40} {:>10.1} us",
        "Connector, literal [::1]",
        median(&mut literals)
    );
    println!(
        "median of per-round ratios: {:.3}x (target <= 1.05x)",
        median(&mut ratios)
    );
}

fn main() {
    // As `--bench connector` runs it: two workers, the bench on the
    // thread that blocks on it. `CACHED_NAME_RT=current` for one thread.
    let rt = match std::env::var("CACHED_NAME_RT").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    };
    rt.block_on(run());
}
