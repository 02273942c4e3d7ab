//! The streaming hickory resolver against an in-process DNS server on
//! 127.0.0.1, with per-record-type delays and failures, answering with
//! loopback addresses that have real listeners, so the race is real.
//!
//! No test reads the system's resolv.conf or asks its name servers: every
//! resolver is pointed at the server below (or at files written here).

#![cfg(feature = "hickory")]

mod dns_server;

use dns_server::{DnsServer, Reply, TTL};

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;
use tokio_endpoints::hickory_resolver::proto::op::ResponseCode;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, Family, Resolve, ResolveErrorKind, Resolver,
};

fn v6(ip: Ipv6Addr) -> RData {
    RData::AAAA(AAAA(ip))
}

fn v4(ip: Ipv4Addr) -> RData {
    RData::A(A(ip))
}

fn loopbacks(rtype: RecordType) -> Reply {
    match rtype {
        RecordType::AAAA => Reply::Records(vec![v6(Ipv6Addr::LOCALHOST)]),
        _ => Reply::Records(vec![v4(Ipv4Addr::LOCALHOST)]),
    }
}

/// Listeners on `[::1]:port` and `127.0.0.1:port`, one port for both.
async fn listeners() -> (TcpListener, TcpListener) {
    for _ in 0..20 {
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l6.local_addr().unwrap().port();
        if let Ok(l4) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return (l6, l4);
        }
    }
    panic!("no port free on both ::1 and 127.0.0.1");
}

/// A real listener on `[::1]:port` and a blackholed one on
/// `127.0.0.1:port`: its accept queue is full (`listen(0)` plus one
/// connection never accepted), so Linux drops later SYNs and an attempt to
/// it hangs.
async fn listener_and_blackhole() -> (TcpListener, TcpListener, std::net::TcpStream) {
    for _ in 0..20 {
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l6.local_addr().unwrap().port();
        let socket = TcpSocket::new_v4().unwrap();
        if socket.bind((Ipv4Addr::LOCALHOST, port).into()).is_err() {
            continue;
        }
        let l4 = socket.listen(0).unwrap();
        let filler = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        return (l6, l4, filler);
    }
    panic!("no port free on both ::1 and 127.0.0.1");
}

fn port(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn aaaa_first_connects_over_ipv6_at_once() {
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (0, loopbacks(t)),
        _ => (200, loopbacks(t)),
    })
    .await;
    let (l6, _l4) = listeners().await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("aaaa-first.test:{}", port(&l6)))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap();
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_first_and_aaaa_within_the_resolution_delay_uses_ipv6() {
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (20, loopbacks(t)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let (l6, _l4) = listeners().await;
    let stream = ConnectionBuilder::new(format!("a-first.test:{}", port(&l6)))
        .resolver(dns.resolver().resolution_delay(Duration::from_millis(150)))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
}

#[tokio::test]
async fn a_first_and_aaaa_late_starts_ipv4_at_the_resolution_delay() {
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (1000, loopbacks(t)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let (l6, _l4) = listeners().await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("aaaa-late.test:{}", port(&l6)))
        .resolver(dns.resolver().resolution_delay(Duration::from_millis(100)))
        .connect()
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    // IPv4 waited for the resolution delay, not for AAAA.
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_millis(900), "{took:?}");
}

#[tokio::test]
async fn a_late_aaaa_answer_joins_the_running_race() {
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (200, loopbacks(t)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let (l6, _blackhole, _filler) = listener_and_blackhole().await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("join.test:{}", port(&l6)))
        .resolver(dns.resolver())
        .happy_eyeballs(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let took = t0.elapsed();
    // IPv4 started at 50 ms and hangs; ::1 arrived at 200 ms and won.
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
}

#[tokio::test]
async fn a_failed_aaaa_query_leaves_ipv4() {
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (0, Reply::Code(ResponseCode::ServFail)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let (l6, _l4) = listeners().await;
    let stream = ConnectionBuilder::new(format!("aaaa-fails.test:{}", port(&l6)))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap();
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    let batches: Vec<_> = dns
        .resolver()
        .resolve("aaaa-fails.test", Family::Any)
        .collect()
        .await;
    let kinds: Vec<_> = batches
        .iter()
        .map(|b| b.as_ref().map(Vec::len).map_err(|e| e.kind()))
        .collect();
    assert!(
        kinds.contains(&Err(ResolveErrorKind::ServerFailure)),
        "{kinds:?}"
    );
    assert!(kinds.contains(&Ok(1)), "{kinds:?}");
}

/// When the attempts that were made failed and a query failed too, the one
/// line names both: the failed query may be why a working address was never
/// tried. A query with no records (an IPv4-only host's AAAA) is not news and
/// stays in the report only.
#[tokio::test]
async fn a_failed_race_names_the_failed_query_too() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (0, Reply::Code(ResponseCode::ServFail)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let e = ConnectionBuilder::new(("half.test", closed))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        tokio_endpoints::ConnectErrorKind::AllAttemptsFailed
    );
    assert_eq!(
        e.to_string(),
        format!(
            "connect to half.test:{closed}: connection refused (1 attempt); \
             and the resolver: AAAA query: server failure (SERVFAIL) from {}",
            dns.addr
        )
    );

    let dns = DnsServer::start(|_, t| match t {
        RecordType::AAAA => (0, Reply::Code(ResponseCode::NoError)),
        _ => (0, loopbacks(t)),
    })
    .await;
    let e = ConnectionBuilder::new(("v4only.test", closed))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("connect to v4only.test:{closed}: connection refused (1 attempt)")
    );
    assert!(format!("{e:?}").contains("no AAAA records"), "{e:?}");
}

async fn resolve_failure(reply: Reply, host: &str) -> tokio_endpoints::ConnectError {
    let dns = DnsServer::start(move |_, _| (0, reply.clone())).await;
    ConnectionBuilder::new(format!("{host}:80"))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap_err()
}

fn kinds(e: &tokio_endpoints::ConnectError) -> Vec<ResolveErrorKind> {
    e.resolve_errors().iter().map(|r| r.kind()).collect()
}

#[tokio::test]
async fn no_such_name() {
    let e = resolve_failure(Reply::Code(ResponseCode::NXDomain), "nope.test").await;
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(kinds(&e), [ResolveErrorKind::NoSuchName; 2]);
    assert!(e.resolve_errors().iter().all(|r| r.host() == "nope.test"));
    let message = e.to_string();
    assert!(
        message.contains("nope.test") && message.contains("no such name"),
        "{message}"
    );
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn no_records() {
    let e = resolve_failure(Reply::Code(ResponseCode::NoError), "empty.test").await;
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(kinds(&e), [ResolveErrorKind::NoRecords; 2]);
}

#[tokio::test]
async fn server_failure() {
    let e = resolve_failure(Reply::Code(ResponseCode::ServFail), "broken.test").await;
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(kinds(&e), [ResolveErrorKind::ServerFailure; 2]);
    assert!(e.to_string().contains("server failure (SERVFAIL)"), "{e}");
}

#[tokio::test]
async fn no_answer_times_out() {
    let t0 = Instant::now();
    let e = resolve_failure(Reply::Silent, "silent.test").await;
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(kinds(&e), [ResolveErrorKind::TimedOut; 2]);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::TimedOut);
}

/// The error of a connect to `host` through a DNS server that answers
/// each query as `zone` says, and that server's address.
async fn failure_with(
    host: &str,
    zone: impl Fn(&str, RecordType) -> (u64, Reply) + Send + Sync + 'static,
) -> (tokio_endpoints::ConnectError, SocketAddr) {
    let dns = DnsServer::start(zone).await;
    let e = ConnectionBuilder::new(format!("{host}:80"))
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap_err();
    (e, dns.addr)
}

/// DNS failures read in plain words, never with hickory's `Debug` output,
/// and both queries are named where they ended differently.
#[tokio::test]
async fn dns_failures_read_in_plain_words() {
    let (e, _) = failure_with("nope.test", |_, _| (0, Reply::Code(ResponseCode::NXDomain))).await;
    assert_eq!(
        e.to_string(),
        "connect to nope.test:80: cannot resolve nope.test: no such name (NXDOMAIN)"
    );
    // The report says it once, not once per query.
    let report = format!("{e:?}");
    assert_eq!(
        report.matches("no such name (NXDOMAIN)").count(),
        2, // the one line, and the resolver's error
        "{report}"
    );
    let (e, _) = failure_with("empty.test", |_, _| (0, Reply::Code(ResponseCode::NoError))).await;
    assert_eq!(
        e.to_string(),
        "connect to empty.test:80: cannot resolve empty.test: no A or AAAA records"
    );
    let (e, dns) = failure_with("broken.test", |_, _| {
        (0, Reply::Code(ResponseCode::ServFail))
    })
    .await;
    assert_eq!(
        e.to_string(),
        format!("connect to broken.test:80: cannot resolve broken.test: server failure (SERVFAIL) from {dns}")
    );
    let (e, dns) = failure_with("refused.test", |_, _| {
        (0, Reply::Code(ResponseCode::Refused))
    })
    .await;
    assert_eq!(
        e.to_string(),
        format!("connect to refused.test:80: cannot resolve refused.test: query refused (REFUSED) from {dns}")
    );
    let (e, dns) = failure_with("silent.test", |_, _| (0, Reply::Silent)).await;
    assert_eq!(
        e.to_string(),
        format!("connect to silent.test:80: cannot resolve silent.test: DNS server {dns} did not answer within 300 ms")
    );
    let (e, dns) = failure_with("mixed.test", |_, t| match t {
        RecordType::AAAA => (0, Reply::Code(ResponseCode::NoError)),
        _ => (0, Reply::Silent),
    })
    .await;
    assert_eq!(
        e.to_string(),
        format!(
            "connect to mixed.test:80: cannot resolve mixed.test: \
             AAAA: no records; A: DNS server {dns} did not answer within 300 ms"
        )
    );
    // One line per resolver error in `{:?}`, each naming its query.
    assert_eq!(
        format!("{e:?}"),
        format!(
            "{e}\n  resolve errors:\n    mixed.test: no AAAA records\n    \
             mixed.test: A query: DNS server {dns} did not answer within 300 ms"
        )
    );
    // hickory's error is still there, behind `source`.
    let first = &e.resolve_errors()[0];
    assert_eq!(first.query(), Some("AAAA"));
    let hickory = std::error::Error::source(first).unwrap();
    assert!(hickory
        .downcast_ref::<tokio_endpoints::hickory_resolver::net::NetError>()
        .is_some());
    // As an io::Error, the report is what main() would print.
    let io_err = io::Error::from(e);
    assert!(!format!("{io_err:?}").contains("Query {"), "{io_err:?}");
    assert!(!format!("{io_err:?}").contains("Name("), "{io_err:?}");
}

#[tokio::test]
async fn cname_chains_are_followed() {
    let name = |s: &str| Name::from_ascii(s).unwrap();
    let dns = DnsServer::start(move |n, t| {
        let addr = match t {
            RecordType::AAAA => v6(Ipv6Addr::LOCALHOST),
            _ => v4(Ipv4Addr::LOCALHOST),
        };
        match n {
            // The whole chain in one answer.
            "alias.test" => (
                0,
                Reply::Answers(vec![
                    Record::from_rdata(
                        name("alias.test."),
                        TTL,
                        RData::CNAME(CNAME(name("mid.test."))),
                    ),
                    Record::from_rdata(
                        name("mid.test."),
                        TTL,
                        RData::CNAME(CNAME(name("real.test."))),
                    ),
                    Record::from_rdata(name("real.test."), TTL, addr),
                ]),
            ),
            // Only the alias: the resolver has to ask for the target.
            "hop.test" => (
                0,
                Reply::Answers(vec![Record::from_rdata(
                    name("hop.test."),
                    TTL,
                    RData::CNAME(CNAME(name("real.test."))),
                )]),
            ),
            "real.test" => (0, Reply::Records(vec![addr])),
            _ => (0, Reply::Code(ResponseCode::NXDomain)),
        }
    })
    .await;
    let (l6, _l4) = listeners().await;
    let resolver = dns.resolver();
    for host in ["alias.test", "hop.test"] {
        let stream = ConnectionBuilder::new((host, port(&l6)))
            .resolver(resolver.clone())
            .connect()
            .await
            .unwrap();
        assert_eq!(
            stream.peer_addr().unwrap().ip(),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let batches: Vec<Vec<IpAddr>> = resolver
            .resolve(host, Family::Any)
            .map(|b| b.unwrap())
            .collect()
            .await;
        // Both families, through the chain. One batch when both answers
        // are cached by now; the connect returns once [::1] answers, so on
        // a loaded machine the A query (two hops for "hop.test") may still
        // be under way, and its answer comes as a second batch.
        assert!(batches.len() <= 2, "{host}: {batches:?}");
        assert_eq!(
            batches.concat(),
            vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            ],
            "{host}: {batches:?}"
        );
    }
}

#[tokio::test]
async fn answers_of_many_addresses() {
    // 19 IPv4 loopback addresses nobody listens on (refused at once), then
    // 127.0.0.1; and 24 IPv6 addresses, more than fit in 512 bytes.
    let many_v4: Vec<Ipv4Addr> = (2..=20)
        .map(|i| Ipv4Addr::new(127, 0, 0, i))
        .chain([Ipv4Addr::LOCALHOST])
        .collect();
    let many_v6: Vec<Ipv6Addr> = (1..=24)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
        .collect();
    let (a, aaaa) = (many_v4.clone(), many_v6.clone());
    let dns = DnsServer::start(move |n, t| match (n, t) {
        ("many.test", RecordType::A) => (0, Reply::Records(a.iter().copied().map(v4).collect())),
        ("six.test", RecordType::AAAA) => {
            (0, Reply::Records(aaaa.iter().copied().map(v6).collect()))
        }
        _ => (0, Reply::Code(ResponseCode::NoError)),
    })
    .await;
    let resolver = dns.resolver();
    let got: Vec<IpAddr> = resolver
        .resolve("six.test", Family::V6)
        .flat_map(|b| futures::stream::iter(b.unwrap()))
        .collect()
        .await;
    assert_eq!(
        got,
        many_v6.iter().copied().map(IpAddr::V6).collect::<Vec<_>>()
    );

    let (l6, _l4) = listeners().await;
    let stream = ConnectionBuilder::new(format!("many.test:{}", port(&l6)))
        .resolver(resolver)
        .connect()
        .await
        .unwrap();
    assert_eq!(
        stream.peer_addr().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
}

#[tokio::test]
async fn the_cache_is_shared_by_clones_and_honours_ttls() {
    let dns = DnsServer::start_with_ttl(1, |_, t| (0, loopbacks(t))).await;
    let one = Resolver::new(dns.resolver());
    let two = one.clone();
    // The addresses, however batched (a miss gives two, a hit one).
    let ask = |r: &Resolver| {
        r.resolve("cached.test", Family::Any)
            .map(|b| b.unwrap())
            .concat()
    };
    assert_eq!(ask(&one).await.len(), 2);
    assert_eq!(ask(&two).await.len(), 2);
    assert_eq!(dns.count("cached.test", RecordType::AAAA), 1);
    assert_eq!(dns.count("cached.test", RecordType::A), 1);
    // The TTL is one second: after it, the name is asked again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ask(&two).await.len(), 2);
    assert_eq!(dns.count("cached.test", RecordType::AAAA), 2);
    assert_eq!(dns.count("cached.test", RecordType::A), 2);
}

#[tokio::test]
async fn one_family_asks_one_record_type() {
    let dns = DnsServer::start(|_, t| (0, loopbacks(t))).await;
    let (l6, _l4) = listeners().await;
    let stream = ConnectionBuilder::new(format!("v4only.test:{}", port(&l6)))
        .resolver(dns.resolver())
        .family(Family::V4)
        .connect()
        .await
        .unwrap();
    assert!(stream.peer_addr().unwrap().is_ipv4());
    assert_eq!(dns.count("v4only.test", RecordType::A), 1);
    assert_eq!(dns.count("v4only.test", RecordType::AAAA), 0);
}

#[tokio::test]
async fn invalid_names_never_reach_the_server() {
    let dns = DnsServer::start(|_, t| (0, loopbacks(t))).await;
    for target in ["bad_name!.test:80", "-dash.test:80", "a..b.test:80"] {
        let e = ConnectionBuilder::new(target)
            .resolver(dns.resolver())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ConnectErrorKind::InvalidInput, "{target}: {e}");
    }
    assert_eq!(dns.total(), 0);
}

#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
mod conf_files {
    use super::*;
    use tokio_endpoints::HickoryResolver;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tokio-endpoints-dns-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn hosts_file_entries_are_used_without_a_query() {
        let dns = DnsServer::start(|_, _| (0, Reply::Code(ResponseCode::NXDomain))).await;
        let dir = temp_dir("hosts");
        let resolv_conf = dir.join("resolv.conf");
        let hosts = dir.join("hosts");
        // resolv.conf cannot name a port: the DNS server on its random port
        // is unreachable through it, and must not be needed.
        std::fs::write(
            &resolv_conf,
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
        std::fs::write(
            &hosts,
            "# test\n::1 hosted.test\n127.0.0.1 hosted.test other.test\n",
        )
        .unwrap();
        let resolver = HickoryResolver::from_conf_files(&resolv_conf, &hosts).unwrap();
        let (l6, _l4) = listeners().await;
        let stream = ConnectionBuilder::new(format!("hosted.test:{}", port(&l6)))
            .resolver(resolver.clone())
            .connect()
            .await
            .unwrap();
        assert_eq!(
            stream.peer_addr().unwrap().ip(),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let batches: Vec<_> = resolver
            .resolve("HOSTED.test", Family::Any)
            .map(|b| b.unwrap())
            .collect()
            .await;
        assert_eq!(
            batches,
            // Pinned: one batch, both families.
            vec![vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            ]]
        );
        assert_eq!(dns.total(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_or_empty_configuration_is_a_clear_error() {
        let dir = temp_dir("missing");
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "").unwrap();
        let missing = dir.join("no-resolv.conf");
        let e = HickoryResolver::from_conf_files(&missing, &hosts).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-resolv.conf"), "{e}");

        let empty = dir.join("resolv.conf");
        std::fs::write(&empty, "# no name server here\nsearch example.test\n").unwrap();
        let e = HickoryResolver::from_conf_files(&empty, &hosts).unwrap_err();
        assert!(e.to_string().contains("no nameservers"), "{e}");

        std::fs::write(&empty, "nameserver 127.0.0.1\n").unwrap();
        let e = HickoryResolver::from_conf_files(&empty, dir.join("no-hosts")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-hosts"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[tokio::test]
async fn dropping_the_resolver_leaves_no_task_behind() {
    let dns = DnsServer::start(|_, t| (0, loopbacks(t))).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    // The server's task is alive; let its reply tasks finish between steps.
    let settle = || tokio::time::sleep(Duration::from_millis(50));
    settle().await;
    let before = metrics.num_alive_tasks();
    let (l6, _l4) = listeners().await;
    let resolver = dns.resolver();
    let stream = ConnectionBuilder::new(format!("tasks.test:{}", port(&l6)))
        .resolver(resolver.clone())
        .connect()
        .await
        .unwrap();
    drop(stream);
    settle().await;
    // The hickory resolver of a resolution (and its connection task) goes
    // with the resolution: the cache is kept apart from any runtime.
    assert_eq!(metrics.num_alive_tasks(), before);
    drop(resolver);
    settle().await;
    assert_eq!(metrics.num_alive_tasks(), before);
}
