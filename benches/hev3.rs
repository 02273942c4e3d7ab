//! Happy Eyeballs v3, two figures, side by side with their peers:
//!
//! 1. **The cost of the handshake inside the race** on the plain path (one
//!    loopback address, TLS 1.3, resumption off so every connect is a full
//!    handshake), in connects per second: `connect_tls` as it is now, the
//!    way `connect_tls` worked before (a TCP race, then one handshake on
//!    the winner: `connect()` + `TlsConnector`), and raw
//!    `TcpStream::connect` + tokio-rustls. Rounds alternate, and the
//!    per-round ratios are reported too (steadier on a busy machine).
//! 2. **Time to a TLS connection when A and AAAA answer 200 ms late** and
//!    the HTTPS record (with an `ipv4hint`) answers at once, in ms
//!    (medians, a fresh name each run so no cache answers): `connect_tls`
//!    with HTTPS records, `connect_tls` with `.svcb(false)`, and
//!    getaddrinfo-style (hickory's `lookup_ip`, which waits for both
//!    answers, then `TcpStream::connect` + tokio-rustls).
//!
//! Everything runs on loopback, with an in-process DNS server.
//!
//! ```text
//! cargo bench --bench hev3
//! ```

mod support;
use support::median;
use support::tls::serve_handshakes;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::svcb::{
    IpHint, SvcParamKey, SvcParamValue, SVCB,
};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, HTTPS};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio_endpoints::hickory_resolver::TokioResolver;
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::rustls::ClientConfig;
use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const ROUNDS: usize = 21;
const CONNECTS_PER_ROUND: usize = 100;
const ADDRESS_LAG: u64 = 200;
const DNS_RUNS: usize = 9;

#[derive(Clone, Copy)]
enum Way {
    /// connect_tls now: the handshake inside the race.
    InRace,
    /// connect_tls before: connect(), then one handshake on the winner.
    RaceThenHandshake,
    /// TcpStream::connect + tokio-rustls.
    Raw,
}

async fn once(way: Way, addr: SocketAddr, config: &Arc<ClientConfig>) {
    let name = ServerName::try_from("localhost").unwrap();
    match way {
        Way::InRace => {
            let s = ConnectionBuilder::new(addr)
                .server_name("localhost")
                .tls_config(config.clone())
                .connect_tls()
                .await
                .unwrap();
            drop(s);
        }
        Way::RaceThenHandshake => {
            let tcp = ConnectionBuilder::new(addr).connect().await.unwrap();
            let s = TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            drop(s);
        }
        Way::Raw => {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let s = TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            drop(s);
        }
    }
}

async fn round(way: Way, addr: SocketAddr, config: &Arc<ClientConfig>) -> f64 {
    let started = Instant::now();
    for _ in 0..CONNECTS_PER_ROUND {
        once(way, addr, config).await;
    }
    CONNECTS_PER_ROUND as f64 / started.elapsed().as_secs_f64()
}

/// HTTPS with `ipv4hint=127.0.0.1` at once; A and AAAA `ADDRESS_LAG` ms late.
async fn dns_server() -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let request = Message::from_vec(&buf[..n]).unwrap();
            let query = request.queries[0].clone();
            let socket = socket.clone();
            tokio::spawn(async move {
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_available = true;
                response.edns = request.edns.clone();
                response.add_query(query.clone());
                let rdata = match query.query_type() {
                    RecordType::HTTPS => Some(RData::HTTPS(HTTPS(SVCB::new(
                        1,
                        Name::root(),
                        vec![(
                            SvcParamKey::Ipv4Hint,
                            SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::LOCALHOST)])),
                        )],
                    )))),
                    RecordType::A => {
                        tokio::time::sleep(Duration::from_millis(ADDRESS_LAG)).await;
                        Some(RData::A(A(Ipv4Addr::LOCALHOST)))
                    }
                    _ => {
                        tokio::time::sleep(Duration::from_millis(ADDRESS_LAG)).await;
                        response.metadata.response_code = ResponseCode::NoError;
                        None
                    }
                };
                if let Some(rdata) = rdata {
                    response.add_answer(Record::from_rdata(query.name().clone(), 300, rdata));
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
            });
        }
    });
    addr
}

fn resolver_config(dns: SocketAddr) -> (ResolverConfig, ResolverOpts) {
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let config =
        ResolverConfig::from_name_servers(vec![NameServerConfig::new(dns.ip(), true, vec![udp])]);
    let mut options = ResolverOpts::default();
    options.use_hosts_file = ResolveHosts::Never;
    (config, options)
}

#[derive(Clone, Copy)]
enum Lookup {
    WithRecords,
    WithoutRecords,
    GetaddrinfoStyle,
}

async fn time_to_tls(
    how: Lookup,
    runs: usize,
    dns: SocketAddr,
    port: u16,
    config: &Arc<ClientConfig>,
) -> f64 {
    let (rc, ro) = resolver_config(dns);
    let mut times = Vec::new();
    for i in 0..runs {
        let host = format!("run-{i}-{}.bench.test", std::process::id());
        let t0 = Instant::now();
        match how {
            Lookup::WithRecords | Lookup::WithoutRecords => {
                let resolver = HickoryResolver::with_config(rc.clone(), ro.clone()).unwrap();
                let s = ConnectionBuilder::new((host.as_str(), port))
                    .resolver(resolver)
                    .server_name("localhost")
                    .svcb(matches!(how, Lookup::WithRecords))
                    .tls_config(config.clone())
                    .connect_tls()
                    .await
                    .unwrap();
                drop(s);
            }
            Lookup::GetaddrinfoStyle => {
                let resolver =
                    TokioResolver::builder_with_config(rc.clone(), TokioRuntimeProvider::default())
                        .with_options(ro.clone())
                        .build()
                        .unwrap();
                let ip = resolver
                    .lookup_ip(host.as_str())
                    .await
                    .unwrap()
                    .iter()
                    .next()
                    .unwrap();
                let tcp = TcpStream::connect((ip, port)).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let s = TlsConnector::from(config.clone())
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .unwrap();
                drop(s);
            }
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    median(&mut times)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, warmup) = if quick { (1, 5) } else { (ROUNDS, 100) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, server) = support::tls::configs();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_handshakes(listener, TlsAcceptor::from(server)));

        let ways = [Way::InRace, Way::RaceThenHandshake, Way::Raw];
        for _ in 0..warmup {
            for way in ways {
                once(way, addr, &client).await;
            }
        }
        let mut rates: [Vec<f64>; 3] = Default::default();
        for i in 0..rounds {
            // Rotate which goes first.
            for k in 0..3 {
                let w = (i + k) % 3;
                rates[w].push(round(ways[w], addr, &client).await);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let m: Vec<f64> = rates.iter().map(|r| median(&mut r.clone())).collect();
        let paired = |a: usize, b: usize| {
            median(&mut rates[a].iter().zip(&rates[b]).map(|(x, y)| y / x).collect::<Vec<_>>())
        };
        println!("1. full TLS 1.3 connects/s, one loopback address, {rounds} rotated rounds of {CONNECTS_PER_ROUND}");
        println!("  connect_tls, handshake in the race   median {:>7.0}/s", m[0]);
        println!("  connect() then one handshake (main)  median {:>7.0}/s", m[1]);
        println!("  TcpStream + TlsConnector (raw)       median {:>7.0}/s", m[2]);
        println!(
            "  time per connect, in-race vs main: {:.3}x (median of per-round ratios {:.3}x; target <= 1.03x)",
            m[1] / m[0],
            paired(0, 1)
        );
        println!(
            "  time per connect, in-race vs raw:  {:.3}x (median of per-round ratios {:.3}x)",
            m[2] / m[0],
            paired(0, 2)
        );

        let dns = dns_server().await;
        let runs = if quick { 1 } else { DNS_RUNS };
        let with = time_to_tls(Lookup::WithRecords, runs, dns, addr.port(), &client).await;
        let without = time_to_tls(Lookup::WithoutRecords, runs, dns, addr.port(), &client).await;
        let gai = time_to_tls(Lookup::GetaddrinfoStyle, runs, dns, addr.port(), &client).await;
        println!("2. time to a TLS connection, A/AAAA {ADDRESS_LAG} ms late, HTTPS (ipv4hint) at once, medians of {runs}");
        println!("  connect_tls with HTTPS records       {with:>6.1} ms");
        println!("  connect_tls, svcb(false)             {without:>6.1} ms  ({:.2}x)", without / with);
        println!("  lookup_ip, then TcpStream + rustls   {gai:>6.1} ms  ({:.2}x)", gai / with);
    });
}
