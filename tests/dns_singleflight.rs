//! One query per name, however many callers: concurrent lookups of the
//! same name and record type join the one in flight (Go's `lookupGroup`),
//! against the scripted DNS server on 127.0.0.1, which counts the queries
//! and the client sockets they came from.

#![cfg(feature = "hickory")]

mod dns_server;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use dns_server::{DnsServer, Reply};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, RecordType};
use tokio_endpoints::{ConnectionBuilder, Family, Resolve};

fn loopback(rtype: RecordType) -> Reply {
    Reply::Records(vec![match rtype {
        RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
        _ => RData::A(A(Ipv4Addr::LOCALHOST)),
    }])
}

/// A listener on 127.0.0.1 (and [::1] on the same port, where it can),
/// accepting and dropping connections.
async fn listeners() -> u16 {
    let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await.ok();
    for l in std::iter::once(v4).chain(v6) {
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
    }
    port
}

/// 500 connects at once to one name the resolver has not seen: one AAAA
/// and one A query, from two sockets (each caller without the sharing
/// sent its own two, from sockets of its own: see BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_connects_to_one_name_send_one_query_per_type() {
    const CALLERS: usize = 500;
    let dns = DnsServer::start(|_, rtype| (100, loopback(rtype))).await;
    let resolver = dns.resolver_with_timeout(Duration::from_secs(5));
    let port = listeners().await;
    let started = Instant::now();
    let connects = (0..CALLERS).map(|_| {
        let resolver = resolver.clone();
        tokio::spawn(async move {
            ConnectionBuilder::new(("burst.test", port))
                .resolver(resolver)
                .connect()
                .await
                .map(drop)
        })
    });
    let results = futures::future::join_all(connects).await;
    let failed: Vec<_> = results
        .into_iter()
        .filter_map(|r| r.unwrap().err())
        .collect();
    eprintln!(
        "{CALLERS} concurrent connects to one uncached name: {} queries ({} messages) from {} sockets, {} failed, in {:?}",
        dns.asked("burst.test", RecordType::AAAA) + dns.asked("burst.test", RecordType::A),
        dns.total(),
        dns.sockets(),
        failed.len(),
        started.elapsed()
    );
    assert!(failed.is_empty(), "{:?}", failed.first());
    assert_eq!(dns.asked("burst.test", RecordType::AAAA), 1);
    assert_eq!(dns.asked("burst.test", RecordType::A), 1);
    assert_eq!(dns.sockets(), 2);
}

/// A caller that joined a query and is then dropped does not cancel it for
/// the others: the query is the same, and it answers them.
#[tokio::test]
async fn a_dropped_caller_does_not_cancel_the_query_for_the_others() {
    let dns = DnsServer::start(|_, rtype| (200, loopback(rtype))).await;
    let resolver = dns.resolver_with_timeout(Duration::from_secs(5));
    // The first caller starts the query and polls it, then goes away.
    let mut first = resolver.resolve("shared.test", Family::V4);
    let second = resolver.resolve("shared.test", Family::V4);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), first.next())
            .await
            .is_err(),
        "answered before the server's delay"
    );
    drop(first);
    let got: Vec<_> = second.collect().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(dns.asked("shared.test", RecordType::A), 1);
    // Every caller gone: the query is dropped, not kept waiting for
    // someone; the next caller asks again.
    let mut third = resolver.resolve("dropped.test", Family::V4);
    let _ = tokio::time::timeout(Duration::from_millis(50), third.next()).await;
    drop(third);
    let got: Vec<_> = resolver.resolve("dropped.test", Family::V4).collect().await;
    assert!(got[0].is_ok(), "{got:?}");
    assert_eq!(dns.asked("dropped.test", RecordType::A), 2);
}

/// Each caller of a shared lookup still gets the answers as they arrive:
/// the AAAA answer at once, long before the slow A answer.
#[tokio::test]
async fn every_caller_of_a_shared_lookup_streams_the_answers_as_they_arrive() {
    let dns = DnsServer::start(|_, rtype| match rtype {
        RecordType::AAAA => (200, loopback(rtype)),
        _ => (1500, loopback(rtype)),
    })
    .await;
    let resolver = dns.resolver_with_timeout(Duration::from_secs(5));
    let started = Instant::now();
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let resolver = resolver.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * i)).await;
                let mut batches = resolver.resolve("streamed.test", Family::Any);
                let first = batches.next().await.unwrap().unwrap();
                let first_at = started.elapsed();
                let second = batches.next().await.unwrap().unwrap();
                (first, first_at, second, started.elapsed())
            })
        })
        .collect();
    for caller in callers {
        let (first, first_at, second, second_at) = caller.await.unwrap();
        assert_eq!(first, [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(second, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(first_at < Duration::from_millis(1000), "{first_at:?}");
        assert!(second_at >= Duration::from_millis(1500), "{second_at:?}");
    }
    // The slow A query is retransmitted by hickory (after 333 ms without
    // an answer), as one query.
    assert_eq!(dns.asked("streamed.test", RecordType::AAAA), 1);
    assert_eq!(dns.asked("streamed.test", RecordType::A), 1);
}

/// A burst of different names asks at most 256 queries at once (the
/// resolver's bound: each holds a socket); the rest wait their turn and
/// are answered. Answers come within hickory's retransmission interval
/// (333 ms), so each query is one message on one socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_different_names_opens_a_bounded_number_of_sockets() {
    const NAMES: usize = 600;
    let dns = DnsServer::start(|_, rtype| (150, loopback(rtype))).await;
    let resolver = dns.resolver_with_timeout(Duration::from_secs(5));
    let lookups = (0..NAMES).map(|i| {
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let got: Vec<_> = resolver
                .resolve(&format!("name{i}.test"), Family::V4)
                .collect()
                .await;
            got.into_iter().all(|b| b.is_ok())
        })
    });
    let ok = futures::future::join_all(lookups).await;
    assert!(ok.into_iter().all(|ok| ok.unwrap()));
    eprintln!(
        "{NAMES} different names at once: {} messages from {} sockets, at most {} waiting at once",
        dns.total(),
        dns.sockets(),
        dns.most_waiting()
    );
    assert_eq!(dns.queries(), NAMES);
    // Each retransmission (a query that waited more than 333 ms on a busy
    // machine) is one more socket beyond the bound.
    let retransmitted = dns.total() - dns.queries();
    assert!(
        dns.most_waiting() <= 256 + retransmitted,
        "{} waiting, {retransmitted} retransmitted",
        dns.most_waiting()
    );
}
