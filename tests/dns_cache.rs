//! The resolvers' answer cache: kept across calls and across Tokio
//! runtimes, honouring TTLs and negative TTLs, against an in-process DNS
//! server on 127.0.0.1 that counts queries.
//!
//! The server runs on a runtime of its own thread, so it outlives the
//! runtimes the tests make and drop.

#![cfg(feature = "hickory")]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA, SOA};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, Connector, Family, HickoryResolver, Resolve,
    ResolveErrorKind,
};

type Counts = Arc<Mutex<HashMap<(String, RecordType), usize>>>;

/// Names: `nx*` → NXDOMAIN with an SOA whose minimum is 60 s; `nosoa*` →
/// NXDOMAIN without an SOA; `short*` → loopback with TTL 1; anything else
/// → loopback (AAAA ::1, A 127.0.0.1) with TTL 300.
struct DnsServer {
    addr: SocketAddr,
    queries: Counts,
}

impl DnsServer {
    /// Starts the server on a thread and runtime of its own.
    fn start() -> DnsServer {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let queries: Counts = Arc::default();
                tx.send((socket.local_addr().unwrap(), queries.clone()))
                    .unwrap();
                serve(socket, queries).await;
            });
        });
        let (addr, queries) = rx.recv().unwrap();
        DnsServer { addr, queries }
    }

    fn resolver(&self) -> HickoryResolver {
        let mut udp = ConnectionConfig::udp();
        udp.port = self.addr.port();
        let server = NameServerConfig::new(self.addr.ip(), true, vec![udp]);
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_millis(500);
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        HickoryResolver::with_config(ResolverConfig::from_name_servers(vec![server]), options)
            .unwrap()
    }

    fn count(&self, name: &str, rtype: RecordType) -> usize {
        let queries = self.queries.lock().unwrap();
        queries
            .get(&(name.to_string(), rtype))
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(socket: UdpSocket, queries: Counts) {
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
        let name = query
            .name()
            .to_string()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let rtype = query.query_type();
        *queries
            .lock()
            .unwrap()
            .entry((name.clone(), rtype))
            .or_insert(0) += 1;
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.edns = request.edns.clone();
        response.add_query(query.clone());
        if name.starts_with("nx") || name.starts_with("nosoa") {
            response.metadata.response_code = ResponseCode::NXDomain;
            if name.starts_with("nx") {
                let zone = Name::from_ascii("test.").unwrap();
                let soa = SOA::new(
                    Name::from_ascii("ns.test.").unwrap(),
                    Name::from_ascii("admin.test.").unwrap(),
                    1,
                    3600,
                    600,
                    86400,
                    60,
                );
                response.add_authority(Record::from_rdata(zone, 3600, RData::SOA(soa)));
            }
        } else {
            let ttl = if name.starts_with("short") { 1 } else { 300 };
            let rdata = match rtype {
                RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                _ => RData::A(A(Ipv4Addr::LOCALHOST)),
            };
            response.add_answer(Record::from_rdata(query.name().clone(), ttl, rdata));
        }
        let bytes = response.to_vec().unwrap();
        let _ = socket.send_to(&bytes, peer).await;
    }
}

async fn v4_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[tokio::test]
async fn a_second_connect_to_the_same_name_sends_no_query() {
    let dns = DnsServer::start();
    let (_l, port) = v4_listener().await;
    let connector = Connector::new().family(Family::V4).resolver(dns.resolver());
    for _ in 0..3 {
        let s = connector.connect(("again.test", port)).await.unwrap();
        assert_eq!(s.peer_addr().unwrap().port(), port);
    }
    assert_eq!(dns.count("again.test", RecordType::A), 1);
    assert_eq!(dns.count("again.test", RecordType::AAAA), 0);
    // Names are cached case-insensitively; a new record type is a new query.
    let both = connector.clone().family(Family::Any);
    let _ = both.connect(("AGAIN.test", port)).await;
    assert_eq!(dns.count("again.test", RecordType::AAAA), 1);
}

#[tokio::test]
async fn an_expired_answer_is_asked_again() {
    let dns = DnsServer::start();
    let resolver = dns.resolver();
    let ask = |r: &HickoryResolver| {
        let r = r.clone();
        async move {
            let got: Vec<_> = r.resolve("short.test", Family::V4).collect().await;
            assert!(got[0].is_ok(), "{got:?}");
        }
    };
    ask(&resolver).await;
    ask(&resolver).await;
    assert_eq!(dns.count("short.test", RecordType::A), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ask(&resolver).await;
    assert_eq!(dns.count("short.test", RecordType::A), 2);
}

#[tokio::test]
async fn negative_answers_are_kept_for_the_soa_minimum() {
    let dns = DnsServer::start();
    let resolver = dns.resolver();
    for _ in 0..3 {
        let got: Vec<_> = resolver.resolve("nx.test", Family::V4).collect().await;
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            ResolveErrorKind::NoSuchName
        );
    }
    assert_eq!(dns.count("nx.test", RecordType::A), 1);
    // Without an SOA there is no negative TTL: asked every time.
    for _ in 0..2 {
        let got: Vec<_> = resolver.resolve("nosoa.test", Family::V4).collect().await;
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            ResolveErrorKind::NoSuchName
        );
    }
    assert_eq!(dns.count("nosoa.test", RecordType::A), 2);
    // And the error reads the same from the cache.
    let e = ConnectionBuilder::new("nx.test:80")
        .resolver(resolver.clone())
        .family(Family::V4)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(dns.count("nx.test", RecordType::A), 1);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Connects to `name` through `connector` within 5 s.
async fn connect_within(connector: &Connector, name: &str, port: u16) {
    let c = connector.clone().connect_timeout(Duration::from_secs(5));
    let s = tokio::time::timeout(Duration::from_secs(10), c.connect((name, port)))
        .await
        .expect("no hang")
        .unwrap();
    assert_eq!(s.peer_addr().unwrap().port(), port);
}

#[test]
fn a_resolver_outlives_the_runtime_it_was_made_in() {
    let dns = DnsServer::start();
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connector = Connector::new().family(Family::V4).resolver(dns.resolver());
    let first = runtime();
    first.block_on(connect_within(&connector, "one.test", port));
    drop(first);
    let second = runtime();
    // A cached name and a new one, on the next runtime.
    second.block_on(connect_within(&connector, "one.test", port));
    second.block_on(connect_within(&connector, "two.test", port));
    drop(second);
    assert_eq!(dns.count("one.test", RecordType::A), 1);
    assert_eq!(dns.count("two.test", RecordType::A), 1);
}

#[test]
fn one_resolver_serves_two_runtimes_at_once() {
    let dns = DnsServer::start();
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connector = Connector::new().family(Family::V4).resolver(dns.resolver());
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let connector = connector.clone();
            std::thread::spawn(move || {
                let rt = runtime();
                for round in 0..5 {
                    rt.block_on(connect_within(
                        &connector,
                        &format!("t{i}r{round}.test"),
                        port,
                    ));
                    rt.block_on(connect_within(&connector, "shared.test", port));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for i in 0..2 {
        for round in 0..5 {
            assert_eq!(dns.count(&format!("t{i}r{round}.test"), RecordType::A), 1);
        }
    }
    assert!(dns.count("shared.test", RecordType::A) <= 2);
}

/// The default resolution (no `.resolver(..)`), across runtimes, on a name
/// the hosts file or hickory answers locally (`localhost`): no packet
/// leaves the machine.
#[test]
fn the_default_resolution_works_across_runtimes() {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connector = Connector::new().family(Family::V4);
    for _ in 0..2 {
        let rt = runtime();
        rt.block_on(async {
            connect_within(&connector, "localhost.", port).await;
            let s = tokio::time::timeout(
                Duration::from_secs(10),
                ConnectionBuilder::new(("localhost.", port))
                    .family(Family::V4)
                    .connect(),
            )
            .await
            .expect("no hang")
            .unwrap();
            assert_eq!(s.peer_addr().unwrap().port(), port);
        });
    }
}
