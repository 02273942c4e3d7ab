//! HTTPS records (RFC 9460) in the race (Happy Eyeballs v3), through the
//! hickory resolver against an in-process DNS server on 127.0.0.1 that
//! answers type 65 (built with hickory-proto's SVCB types), with TLS
//! servers on loopback. Nothing here asks the system's name servers.
//!
//! The server is `dns_server`, shared with `dns.rs`.

mod dns_server;
mod support;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio_endpoints::hickory_resolver::proto::op::ResponseCode;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, SvcParamKey, SvcParamValue, SVCB,
};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, HTTPS};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio_endpoints::ConnectionBuilder;

use dns_server::{DnsServer, Reply};
use support::Ca;

/// The query timeout of the resolvers here.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// An HTTPS record: priority, target and parameters.
fn https(priority: u16, target: &str, params: Vec<(SvcParamKey, SvcParamValue)>) -> RData {
    RData::HTTPS(HTTPS(SVCB::new(
        priority,
        Name::from_ascii(target).unwrap(),
        params,
    )))
}

fn port(p: u16) -> (SvcParamKey, SvcParamValue) {
    (SvcParamKey::Port, SvcParamValue::Port(p))
}

fn ipv4hint(ip: Ipv4Addr) -> (SvcParamKey, SvcParamValue) {
    (
        SvcParamKey::Ipv4Hint,
        SvcParamValue::Ipv4Hint(IpHint(vec![A(ip)])),
    )
}

fn alpn(protocols: &[&str]) -> (SvcParamKey, SvcParamValue) {
    (
        SvcParamKey::Alpn,
        SvcParamValue::Alpn(Alpn(protocols.iter().map(|p| p.to_string()).collect())),
    )
}

fn no_records() -> (u64, Reply) {
    (0, Reply::Code(ResponseCode::NoError))
}

fn localhost_v4() -> Reply {
    Reply::Records(vec![RData::A(A(Ipv4Addr::LOCALHOST))])
}

/// A TLS server on 127.0.0.1 with a certificate for `svc.test`, and a
/// closed port (a connect to it is refused).
async fn tls_server(ca: &Ca) -> (u16, tokio::task::JoinHandle<support::Seen>, u16) {
    let leaf = ca.leaf(&["svc.test"]);
    let (addr, task) =
        support::echo_server("127.0.0.1:0", leaf.server_config(&["h2", "http/1.1"])).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    (addr.port(), task, closed_port)
}

#[tokio::test]
async fn hints_are_used_before_slow_address_answers() {
    let ca = Ca::new("test CA");
    let (p, server, _) = tls_server(&ca).await;
    let qname = format!("_{p}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => (
            0,
            Reply::Records(vec![https(1, ".", vec![ipv4hint(Ipv4Addr::LOCALHOST)])]),
        ),
        RecordType::A => (300, localhost_v4()),
        RecordType::AAAA => (300, Reply::Code(ResponseCode::NoError)),
        _ => no_records(),
    })
    .await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        stream.peer_addr().unwrap(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, p))
    );
    // The hint is used when the resolution delay (50 ms) passes.
    assert!(took < Duration::from_millis(200), "{took:?}");
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
    assert_eq!(
        dns.count(&format!("_{p}._https.svc.test"), RecordType::HTTPS),
        1
    );
}

#[tokio::test]
async fn the_record_port_is_honoured() {
    let ca = Ca::new("test CA");
    let (p, server, closed) = tls_server(&ca).await;
    // The target names a closed port; the record moves it to the server.
    let qname = format!("_{closed}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => {
            (0, Reply::Records(vec![https(1, ".", vec![port(p)])]))
        }
        RecordType::A => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let stream = ConnectionBuilder::new(format!("svc.test:{closed}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), p);
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn a_service_without_a_common_alpn_is_skipped() {
    let ca = Ca::new("test CA");
    let (p, server, closed) = tls_server(&ca).await;
    // An h2-only service on the closed port: skipped by an http/1.1
    // client, which connects to the host's own address and port.
    let qname = format!("_{p}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => (
            0,
            Reply::Records(vec![https(
                1,
                ".",
                vec![
                    alpn(&["h2"]),
                    (SvcParamKey::NoDefaultAlpn, SvcParamValue::NoDefaultAlpn),
                    port(closed),
                    ipv4hint(Ipv4Addr::LOCALHOST),
                ],
            )]),
        ),
        RecordType::A => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let err_free = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .alpn(["http/1.1"])
        .all_errors(true)
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(err_free.peer_addr().unwrap().port(), p);
    assert_eq!(err_free.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(err_free);
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn alias_mode_is_followed_and_the_target_is_resolved() {
    let ca = Ca::new("test CA");
    let (p, server, closed) = tls_server(&ca).await;
    let qname = format!("_{closed}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match (name, t) {
        (n, RecordType::HTTPS) if n == qname => {
            (0, Reply::Records(vec![https(0, "pool.test.", vec![])]))
        }
        ("pool.test", RecordType::HTTPS) => (
            0,
            Reply::Records(vec![https(1, ".", vec![alpn(&["h2"]), port(p)])]),
        ),
        ("pool.test", RecordType::A) => (0, localhost_v4()),
        // The host's own address is refused (its port is closed).
        ("svc.test", RecordType::A) => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let stream = ConnectionBuilder::new(format!("svc.test:{closed}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap().port(), p);
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
    assert_eq!(dns.count("pool.test", RecordType::HTTPS), 1);
    assert_eq!(dns.count("pool.test", RecordType::A), 1);
}

#[tokio::test]
async fn an_alias_loop_is_refused_and_loses_only_the_records() {
    let ca = Ca::new("test CA");
    let (p, server, _) = tls_server(&ca).await;
    let qname = format!("_{p}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match (name, t) {
        (n, RecordType::HTTPS) if n == qname => {
            (0, Reply::Records(vec![https(0, "a.test.", vec![])]))
        }
        ("a.test", RecordType::HTTPS) => (0, Reply::Records(vec![https(0, "b.test.", vec![])])),
        ("b.test", RecordType::HTTPS) => (0, Reply::Records(vec![https(0, "a.test.", vec![])])),
        ("svc.test", RecordType::A) => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(stream.peer_addr().unwrap().port(), p);
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
    assert_eq!(dns.count("a.test", RecordType::HTTPS), 1);
    assert_eq!(dns.count("b.test", RecordType::HTTPS), 1);
}

/// Connects with the HTTPS query answered as `reply`; returns how long it
/// took.
async fn with_https_reply(reply: Reply) -> Duration {
    let ca = Ca::new("test CA");
    let (p, server, _) = tls_server(&ca).await;
    let dns = DnsServer::start(move |_, t| match t {
        RecordType::HTTPS => (0, reply.clone()),
        RecordType::A => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(stream.peer_addr().unwrap().port(), p);
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
    took
}

#[tokio::test]
async fn a_silent_https_query_costs_at_most_the_resolution_delay() {
    let took = with_https_reply(Reply::Silent).await;
    // The 500 ms DNS timeout is not waited for: 50 ms, plus the handshake.
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_millis(250), "{took:?}");
}

#[tokio::test]
async fn malformed_and_failed_https_answers_are_ignored() {
    for reply in [Reply::Malformed, Reply::Code(ResponseCode::ServFail)] {
        let took = with_https_reply(reply).await;
        assert!(took < Duration::from_millis(250), "{took:?}");
    }
}

#[tokio::test]
async fn the_ech_config_list_of_the_record_is_kept() {
    let ca = Ca::new("test CA");
    let (p, server, _) = tls_server(&ca).await;
    let qname = format!("_{p}._https.svc.test");
    let ech = vec![0, 4, 0xfe, 0x0d, 0, 0];
    let list = ech.clone();
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => (
            0,
            Reply::Records(vec![https(
                1,
                ".",
                vec![(
                    SvcParamKey::EchConfigList,
                    SvcParamValue::EchConfigList(EchConfigList(list.clone())),
                )],
            )]),
        ),
        RecordType::A => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let stream = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.ech_config_list(), Some(&ech[..]));
    drop(stream);
    server.await.unwrap();
}

#[tokio::test]
async fn plain_connect_asks_for_https_records_only_when_told() {
    let ca = Ca::new("test CA");
    let (p, server, closed) = tls_server(&ca).await;
    let qname = format!("_{closed}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => {
            (0, Reply::Records(vec![https(1, ".", vec![port(p)])]))
        }
        RecordType::A => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let refused = ConnectionBuilder::new(format!("svc.test:{closed}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .connect()
        .await;
    assert!(refused.is_err());
    assert_eq!(
        dns.count(&format!("_{closed}._https.svc.test"), RecordType::HTTPS),
        0
    );
    let tcp = ConnectionBuilder::new(format!("svc.test:{closed}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .svcb(true)
        .connect()
        .await
        .unwrap();
    assert_eq!(tcp.peer_addr().unwrap().port(), p);
    drop(tcp);
    server.await.unwrap();
    // And connect_tls can be told not to.
    let err = ConnectionBuilder::new(format!("svc.test:{closed}"))
        .resolver(dns.resolver_with_timeout(QUERY_TIMEOUT))
        .svcb(false)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.attempts()[0].addr().port(), closed);
}

#[tokio::test]
async fn an_ipv6_hint_starts_the_race_when_the_record_comes() {
    use tokio_endpoints::hickory_resolver::proto::rr::rdata::AAAA;
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["svc.test"]);
    let (addr, server) = support::echo_server("[::1]:0", leaf.server_config(&[])).await;
    let p = addr.port();
    let qname = format!("_{p}._https.svc.test");
    let dns = DnsServer::start(move |name, t| match t {
        RecordType::HTTPS if name == qname => (
            0,
            Reply::Records(vec![https(
                1,
                ".",
                vec![(
                    SvcParamKey::Ipv6Hint,
                    SvcParamValue::Ipv6Hint(IpHint(vec![AAAA(Ipv6Addr::LOCALHOST)])),
                )],
            )]),
        ),
        RecordType::AAAA => (
            300,
            Reply::Records(vec![RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))]),
        ),
        RecordType::A => (300, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(format!("svc.test:{p}"))
        .resolver(
            dns.resolver_with_timeout(QUERY_TIMEOUT)
                .resolution_delay(Duration::from_millis(250)),
        )
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    // Not the 250 ms resolution delay, nor the 300 ms of the address
    // answers: the IPv6 hint stands for the AAAA answer.
    assert!(took < Duration::from_millis(200), "{took:?}");
    drop(stream);
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn with_more_than_four_targets_the_preferred_ones_are_looked_up() {
    use futures::StreamExt;
    use tokio_endpoints::{Family, Resolve};
    // Six services, listed least preferred first.
    let dns = DnsServer::start(|name, t| match (name, t) {
        ("svc.test", RecordType::HTTPS) => (
            0,
            Reply::Records(
                (1..=6u16)
                    .rev()
                    .map(|p| https(p, &format!("t{p}.test."), vec![]))
                    .collect(),
            ),
        ),
        (n, RecordType::A) if n.starts_with('t') => (0, localhost_v4()),
        _ => no_records(),
    })
    .await;
    let resolver = dns.resolver_with_timeout(QUERY_TIMEOUT);
    let items: Vec<_> = resolver
        .resolve_service("svc.test", 443, Family::V4)
        .collect()
        .await;
    assert!(!items.is_empty());
    for p in 1..=4 {
        assert_eq!(dns.count(&format!("t{p}.test"), RecordType::A), 1, "t{p}");
    }
    for p in 5..=6 {
        assert_eq!(dns.count(&format!("t{p}.test"), RecordType::A), 0, "t{p}");
    }
}

#[tokio::test]
async fn a_silent_https_query_does_not_hold_a_name_without_addresses() {
    // RFC 8020: the A and AAAA answers say the name does not exist; the
    // HTTPS query that never answers must not hold the failure.
    let dns = DnsServer::start(|_, t| match t {
        RecordType::HTTPS => (0, Reply::Silent),
        _ => (0, Reply::Code(ResponseCode::NXDomain)),
    })
    .await;
    let t0 = Instant::now();
    let e = ConnectionBuilder::new("gone.test:443")
        .resolver(dns.resolver_with_timeout(Duration::from_secs(5)))
        .connect_tls()
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.kind(), tokio_endpoints::ConnectErrorKind::Resolve, "{e}");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_silent_https_query_holds_a_name_without_records_at_most_the_resolution_delay() {
    // The name exists without addresses (NODATA for A and AAAA): its HTTPS
    // records could still name a service elsewhere, so they get the 50 ms
    // resolution delay, not the DNS timeout.
    let dns = DnsServer::start(|_, t| match t {
        RecordType::HTTPS => (0, Reply::Silent),
        _ => (0, Reply::Code(ResponseCode::NoError)),
    })
    .await;
    let t0 = Instant::now();
    let e = ConnectionBuilder::new("empty.test:443")
        .resolver(dns.resolver_with_timeout(Duration::from_secs(5)))
        .connect_tls()
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.kind(), tokio_endpoints::ConnectErrorKind::Resolve, "{e}");
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
}
