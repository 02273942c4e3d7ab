//! The resolvers' answer cache: kept across calls and across Tokio
//! runtimes, honouring TTLs and negative TTLs, against an in-process DNS
//! server on 127.0.0.1 that counts queries.
//!
//! The server runs on a runtime of its own thread, so it outlives the
//! runtimes the tests make and drop.

#![cfg(feature = "hickory")]

mod common;
mod counting_dns;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{dual_stack_blackholed_v6, V4};
use counting_dns::DnsServer;

use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_endpoints::hickory_resolver::proto::rr::RecordType;
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, Connector, Family, HickoryResolver, Resolve,
    ResolveErrorKind,
};

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

/// A cached name's AAAA and A answers come as one batch, so the history's
/// advice (IPv4 won last time) applies to the next connect: with IPv6
/// blackholed, it starts IPv4 at once instead of after the Happy Eyeballs
/// delay (paused clock for the second connect; the sockets are real).
#[tokio::test]
async fn a_cached_name_follows_the_history_at_once() {
    let dns = DnsServer::start();
    let (v4, _blackhole, port) = dual_stack_blackholed_v6();
    let connector = Connector::new()
        .resolver(dns.resolver())
        .happy_eyeballs(Duration::from_millis(100));
    let first = connector.connect(("held.test", port)).await.unwrap();
    assert_eq!(first.peer_addr().unwrap().ip(), V4);
    let _accepted = v4.accept().await.unwrap();
    tokio::time::pause();
    let t0 = tokio::time::Instant::now();
    let second = connector.connect(("held.test", port)).await.unwrap();
    assert_eq!(second.peer_addr().unwrap().ip(), V4);
    assert_eq!(t0.elapsed(), Duration::ZERO, "IPv4 waited for IPv6");
    // Both answers came from the cache.
    assert_eq!(dns.count("held.test", RecordType::AAAA), 1);
    assert_eq!(dns.count("held.test", RecordType::A), 1);
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

/// A cached name of both families is one batch, sorted (`::1` first), the
/// same at every call after the first; kept sorted no longer than its answers: once they
/// expire, both are asked again.
#[tokio::test]
async fn a_cached_dual_stack_name_is_one_sorted_batch_until_it_expires() {
    let dns = DnsServer::start();
    let resolver = dns.resolver();
    let expected: Vec<std::net::IpAddr> = vec![common::V6, V4];
    // Asked: each answer as it comes.
    let got: Vec<_> = resolver
        .resolve("short-dual.test", Family::Any)
        .collect()
        .await;
    let ips: Vec<_> = got.into_iter().flat_map(Result::unwrap).collect();
    assert_eq!(ips.len(), 2, "{ips:?}");
    for _ in 0..3 {
        let got: Vec<_> = resolver
            .resolve("short-dual.test", Family::Any)
            .collect()
            .await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap(), &expected);
    }
    assert_eq!(dns.count("short-dual.test", RecordType::AAAA), 1);
    assert_eq!(dns.count("short-dual.test", RecordType::A), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got: Vec<_> = resolver
        .resolve("SHORT-dual.test", Family::Any)
        .collect()
        .await;
    let ips: Vec<_> = got.into_iter().flat_map(Result::unwrap).collect();
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert_eq!(dns.count("short-dual.test", RecordType::AAAA), 2);
    assert_eq!(dns.count("short-dual.test", RecordType::A), 2);
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
