//! Time to connect when the AAAA answer comes 200 ms after the A answer:
//! the streaming hickory resolver (RFC 8305 §3) against getaddrinfo-style
//! resolution (wait for both answers, then race), in ms over the
//! theoretical minimum (both answers at once), medians.
//!
//! Everything runs on loopback: an in-process DNS server on 127.0.0.1 and
//! listeners on `[::1]` and `127.0.0.1`. Run with
//! `cargo bench --bench dns`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::Message;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio_endpoints::{Addrs, ConnectionBuilder, Family, HickoryResolver, Resolve, Resolver};

const AAAA_LAG: u64 = 200;
const RUNS: usize = 25;

/// A and AAAA for any name; AAAA `AAAA_LAG` ms late for names starting with
/// "slow".
async fn dns_server() -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let request = Message::from_vec(&buf[..n]).unwrap();
            let query = request.queries[0].clone();
            let slow = query.name().to_string().starts_with("slow");
            let socket = socket.clone();
            tokio::spawn(async move {
                let rdata = match query.query_type() {
                    RecordType::AAAA => {
                        if slow {
                            tokio::time::sleep(Duration::from_millis(AAAA_LAG)).await;
                        }
                        RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))
                    }
                    _ => RData::A(A(Ipv4Addr::LOCALHOST)),
                };
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_available = true;
                response.edns = request.edns.clone();
                response.add_query(query.clone());
                response.add_answer(Record::from_rdata(query.name().clone(), 300, rdata));
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

/// getaddrinfo-style: the same queries, but one answer once both are in.
#[derive(Debug)]
struct WaitForBoth(HickoryResolver);

impl Resolve for WaitForBoth {
    fn resolve(&self, host: &str, family: Family) -> Addrs {
        let batches = self.0.resolve(host, family);
        stream::once(async move {
            let mut all: Vec<IpAddr> = Vec::new();
            let mut batches = batches;
            while let Some(batch) = batches.next().await {
                all.extend(batch?);
            }
            all.sort_by_key(|ip| ip.is_ipv4()); // IPv6 first, as getaddrinfo
            Ok(all)
        })
        .boxed()
    }
}

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

async fn median_ms(resolver: &Resolver, prefix: &str, port: u16) -> (f64, String) {
    let mut times = Vec::with_capacity(RUNS);
    let mut family = String::new();
    for i in 0..RUNS {
        // A fresh name each run, so the cache never answers.
        let host = format!("{prefix}-{i}-{}.bench.test", std::process::id());
        let t0 = Instant::now();
        let stream = ConnectionBuilder::new((host.as_str(), port))
            .resolver(resolver.clone())
            .connect()
            .await
            .expect("connect");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        family = if stream.peer_addr().unwrap().is_ipv6() {
            "IPv6"
        } else {
            "IPv4"
        }
        .to_string();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[RUNS / 2], family)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dns = dns_server().await;
        let port = listeners().await;
        let streaming = Resolver::new(hickory(dns));
        let waiting = Resolver::new(WaitForBoth(hickory(dns).resolution_delay(Duration::ZERO)));

        let (min, _) = median_ms(&streaming, "fast", port).await;
        let (s, s_family) = median_ms(&streaming, "slow", port).await;
        let (w, w_family) = median_ms(&waiting, "slow", port).await;

        println!("connect with AAAA {AAAA_LAG} ms after A, median of {RUNS} runs, loopback");
        println!("theoretical minimum (both answers at once): {min:.2} ms");
        println!(
            "{:<38} {:>10} {:>16} {:>8}",
            "resolver", "median", "over minimum", "won"
        );
        println!(
            "{:<38} {:>7.2} ms {:>13.2} ms {:>8}",
            "streaming (hickory, 50 ms delay)",
            s,
            s - min,
            s_family
        );
        println!(
            "{:<38} {:>7.2} ms {:>13.2} ms {:>8}",
            "getaddrinfo-style (wait for both)",
            w,
            w - min,
            w_family
        );
    });
}
