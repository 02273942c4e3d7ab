//! NAT64 prefix discovery (RFC 7050) through the hickory resolver, against
//! an in-process DNS server on 127.0.0.1 that answers `ipv4only.arpa`
//! the way a DNS64 does. (Synthesis on an IPv6-only network needs network
//! namespaces: `integration/tests/nat64.rs`.)

#![cfg(feature = "hickory")]

mod dns_server;

use std::net::Ipv6Addr;

use dns_server::{DnsServer, Reply};
use tokio_endpoints::hickory_resolver::proto::op::ResponseCode;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::AAAA;
use tokio_endpoints::hickory_resolver::proto::rr::{RData, RecordType};
use tokio_endpoints::{Nat64Prefix, ResolveErrorKind, Resolver};

/// A DNS64 server: `ipv4only.arpa` AAAA is `answer`, nothing else exists.
async fn dns64(answer: &'static [&'static str]) -> DnsServer {
    DnsServer::start(move |name, rtype| match (name, rtype) {
        ("ipv4only.arpa", RecordType::AAAA) => (
            0,
            Reply::Records(
                answer
                    .iter()
                    .map(|a| RData::AAAA(AAAA(a.parse::<Ipv6Addr>().unwrap())))
                    .collect(),
            ),
        ),
        ("ipv4only.arpa", _) => (0, Reply::Code(ResponseCode::NoError)),
        _ => (0, Reply::Code(ResponseCode::NXDomain)),
    })
    .await
}

fn prefix(s: &str) -> Nat64Prefix {
    Nat64Prefix::new(s.parse().unwrap()).unwrap()
}

#[tokio::test]
async fn the_well_known_prefix_is_discovered() {
    let dns = dns64(&["64:ff9b::c000:aa", "64:ff9b::c000:ab"]).await;
    let resolver = Resolver::new(dns.resolver());
    assert_eq!(
        resolver.nat64_prefixes().await.unwrap(),
        [Nat64Prefix::WELL_KNOWN]
    );
    assert_eq!(dns.count("ipv4only.arpa", RecordType::AAAA), 1);
}

#[tokio::test]
async fn a_network_specific_96_and_64_are_discovered() {
    // 2001:db8:96::/96 and 2001:db8:64::/64 carrying 192.0.0.170.
    let dns = dns64(&["2001:db8:96::c000:aa", "2001:db8:64:0:c0:0:aa00:0"]).await;
    let resolver = Resolver::new(dns.resolver());
    assert_eq!(
        resolver.nat64_prefixes().await.unwrap(),
        [prefix("2001:db8:96::/96"), prefix("2001:db8:64::/64")]
    );
    let nsp = prefix("2001:db8:64::/64");
    assert_eq!(
        nsp.synthesize("203.0.113.5".parse().unwrap()).to_string(),
        "2001:db8:64:0:cb:71:500:0"
    );
}

#[tokio::test]
async fn no_dns64_is_no_prefix_and_a_dead_server_is_an_error() {
    let plain = DnsServer::start(|_, _| (0, Reply::Code(ResponseCode::NoError))).await;
    let resolver = Resolver::new(plain.resolver());
    assert_eq!(resolver.nat64_prefixes().await.unwrap(), []);
    let silent = DnsServer::start(|_, _| (0, Reply::Silent)).await;
    let resolver = Resolver::new(silent.resolver());
    let e = resolver.nat64_prefixes().await.unwrap_err();
    assert_eq!(e.kind(), ResolveErrorKind::TimedOut);
}
