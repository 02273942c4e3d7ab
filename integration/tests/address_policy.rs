//! The address policy: the registry table, a property test against a
//! second implementation, and real loopback sockets (nothing here ever
//! sends a packet beyond loopback: "public" addresses are only judged, and
//! the connects that succeed go to 127.0.0.1 under `allow("127.0.0.0/8")`).

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use proptest::prelude::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_endpoints::{
    AddressPolicy, Addrs, ConnectError, ConnectErrorKind, ConnectionBuilder, Connector,
    DatagramBuilder, DatagramErrorKind, Family, Resolve, Resolver, ServerBuilder, ServiceRecord,
};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("{s} is not an address"))
}

/// Each range's first and last address and its neighbours outside it,
/// and every IPv6 form of private and loopback IPv4 addresses, with
/// whether `public_only()` allows it.
const TABLE: &[(&str, bool)] = &[
    // IPv4
    ("0.0.0.0", false),
    ("0.255.255.255", false),
    ("1.0.0.0", true),
    ("9.255.255.255", true),
    ("10.0.0.0", false),
    ("10.255.255.255", false),
    ("11.0.0.0", true),
    ("100.63.255.255", true),
    ("100.64.0.0", false),
    ("100.127.255.255", false),
    ("100.128.0.0", true),
    ("126.255.255.255", true),
    ("127.0.0.0", false),
    ("127.0.0.1", false),
    ("127.255.255.255", false),
    ("128.0.0.0", true),
    ("169.253.255.255", true),
    ("169.254.0.0", false),
    ("169.254.169.254", false),
    ("169.254.255.255", false),
    ("169.255.0.0", true),
    ("172.15.255.255", true),
    ("172.16.0.0", false),
    ("172.31.255.255", false),
    ("172.32.0.0", true),
    ("191.255.255.255", true),
    ("192.0.0.0", false),
    ("192.0.0.9", false),
    ("192.0.0.255", false),
    ("192.0.1.0", true),
    ("192.0.2.0", false),
    ("192.0.2.255", false),
    ("192.0.3.0", true),
    ("192.31.195.255", true),
    ("192.31.196.0", false),
    ("192.31.196.255", false),
    ("192.31.197.0", true),
    ("192.52.192.255", true),
    ("192.52.193.0", false),
    ("192.52.194.0", true),
    ("192.88.98.255", true),
    ("192.88.99.0", false),
    ("192.88.100.0", true),
    ("192.167.255.255", true),
    ("192.168.0.0", false),
    ("192.168.255.255", false),
    ("192.169.0.0", true),
    ("192.175.47.255", true),
    ("192.175.48.0", false),
    ("192.175.49.0", true),
    ("198.17.255.255", true),
    ("198.18.0.0", false),
    ("198.19.255.255", false),
    ("198.20.0.0", true),
    ("198.51.99.255", true),
    ("198.51.100.0", false),
    ("198.51.100.255", false),
    ("198.51.101.0", true),
    ("203.0.112.255", true),
    ("203.0.113.0", false),
    ("203.0.113.255", false),
    ("203.0.114.0", true),
    ("223.255.255.255", true),
    ("224.0.0.0", false),
    ("239.255.255.255", false),
    ("240.0.0.0", false),
    ("255.255.255.254", false),
    ("255.255.255.255", false),
    ("8.8.8.8", true),
    ("93.184.215.14", true),
    // IPv6 itself
    ("::", false),
    ("::1", false),
    ("100::", false),
    ("100::ffff:ffff:ffff:ffff", false),
    ("100:0:0:1::", false),
    ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("2000::", true),
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("2001:200::", true),
    ("2001:2::", false),
    ("2001:10::", false),
    ("2001:20::", false),
    ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
    ("2001:db8::", false),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("2001:db9::", true),
    ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", true),
    ("2620:4f:8000::1", false),
    ("2620:4f:8001::", true),
    ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
    ("3fff::", false),
    ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("3fff:1000::", true),
    ("4000::", false),
    ("5f00::1", false),
    ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("fc00::", false),
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("fe80::1", false),
    ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
    ("fec0::1", false),
    ("ff02::1", false),
    ("ff0e::1", false),
    ("2606:4700:4700::1111", true),
    ("2a00:1450:4001::1", true),
    // IPv4-mapped
    ("::ffff:0.0.0.0", false),
    ("::ffff:127.0.0.1", false),
    ("::ffff:7f00:1", false),
    ("::ffff:10.0.0.5", false),
    ("::ffff:172.16.0.1", false),
    ("::ffff:192.168.1.1", false),
    ("::ffff:169.254.169.254", false),
    ("::ffff:100.64.0.1", false),
    ("::ffff:8.8.8.8", true),
    // IPv4-compatible
    ("::2", false),
    ("::127.0.0.1", false),
    ("::10.0.0.5", false),
    ("::192.168.1.1", false),
    ("::8.8.8.8", true),
    // IPv4-translated
    ("::ffff:0:127.0.0.1", false),
    ("::ffff:0:10.0.0.5", false),
    ("::ffff:0:192.168.1.1", false),
    ("::ffff:0:8.8.8.8", true),
    // NAT64, well-known and local-use
    ("64:ff9b::7f00:1", false),
    ("64:ff9b::a00:5", false),
    ("64:ff9b::ac10:1", false),
    ("64:ff9b::c0a8:101", false),
    ("64:ff9b::808:808", true),
    ("64:ff9b:1::7f00:1", false),
    ("64:ff9b:1::a00:5", false),
    ("64:ff9b:1::c0a8:101", false),
    ("64:ff9b:1::808:808", true),
    ("64:ff9b:1:1::808:808", false),
    // 6to4
    ("2002:7f00:1::1", false),
    ("2002:a00:5::1", false),
    ("2002:ac10:1::1", false),
    ("2002:c0a8:101::1", false),
    ("2002:808:808::1", true),
    // Teredo: server 65.54.227.120, client inverted in the last 32 bits
    ("2001:0:4136:e378::f7f7:f7f7", true),
    ("2001:0:4136:e378::80ff:fffe", false),
    ("2001:0:4136:e378::f5ff:fffa", false),
    ("2001:0:4136:e378::3f57:fefe", false),
    ("2001:0:a00:1::f7f7:f7f7", false),
    ("2001:0:7f00:1::f7f7:f7f7", false),
];

#[test]
fn the_table_of_verdicts() {
    assert!(TABLE.len() >= 80, "{} addresses", TABLE.len());
    let policy = AddressPolicy::public_only();
    let wrong: Vec<_> = TABLE
        .iter()
        .filter(|(a, allowed)| policy.allows(ip(a)) != *allowed)
        .map(|(a, allowed)| format!("{a}: expected {allowed}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn reasons_name_the_range_and_the_carried_address() {
    let policy = AddressPolicy::public_only();
    let why = |a: &str| policy.check(ip(a)).unwrap_err().to_string();
    assert_eq!(
        why("127.0.0.1"),
        "127.0.0.1: loopback, refused by the address policy"
    );
    assert_eq!(
        why("169.254.169.254"),
        "169.254.169.254: link-local, refused by the address policy"
    );
    assert_eq!(
        why("::ffff:10.0.0.5"),
        "::ffff:10.0.0.5: IPv4-mapped 10.0.0.5, private, refused by the address policy"
    );
    assert_eq!(
        why("64:ff9b::a00:5"),
        "64:ff9b::a00:5: NAT64 10.0.0.5, private, refused by the address policy"
    );
    assert_eq!(
        why("2002:c0a8:101::1"),
        "2002:c0a8:101::1: 6to4 192.168.1.1, private, refused by the address policy"
    );
    let denied = AddressPolicy::allow_all().deny("203.0.113.0/24".parse().unwrap());
    assert_eq!(
        denied.check(ip("203.0.113.9")).unwrap_err().reason(),
        "in the denied range 203.0.113.0/24"
    );
    let only = AddressPolicy::allow_only(["10.0.0.0/8".parse().unwrap()]);
    assert_eq!(
        only.check(ip("8.8.8.8")).unwrap_err().reason(),
        "not in an allowed range"
    );
}

#[test]
fn deny_beats_allow_which_beats_the_base_rule() {
    let policy = AddressPolicy::public_only()
        .allow("10.20.0.0/16".parse().unwrap())
        .deny("10.20.30.0/24".parse().unwrap())
        .deny("8.8.8.0/24".parse().unwrap());
    assert!(policy.allows(ip("10.20.1.1")));
    assert!(policy.allows(ip("::ffff:10.20.1.1")));
    assert!(policy.allows(ip("64:ff9b::a14:101")));
    assert!(!policy.allows(ip("10.20.30.1")));
    assert!(!policy.allows(ip("::ffff:10.20.30.1")));
    assert!(!policy.allows(ip("10.21.0.1")));
    assert!(!policy.allows(ip("8.8.8.8")));
    assert!(
        !policy.allows(ip("2002:808:808::1")),
        "6to4 of a denied range"
    );
    assert!(policy.allows(ip("8.8.4.4")));
    // An allowed IPv6 range is allowed as itself.
    let ula = AddressPolicy::public_only().allow("fd00::/8".parse().unwrap());
    assert!(ula.allows(ip("fd12::1")));
    assert!(!ula.allows(ip("fc00::1")));
    // allow_all with deny; allow_only.
    let all = AddressPolicy::allow_all().deny("127.0.0.0/8".parse().unwrap());
    assert!(all.allows(ip("10.0.0.1")));
    assert!(!all.allows(ip("::ffff:127.0.0.1")));
    assert!(all.allows(ip("::1")));
    let only = AddressPolicy::allow_only(["127.0.0.0/8".parse().unwrap()]);
    assert!(only.allows(ip("127.1.2.3")));
    assert!(only.allows(ip("::ffff:127.1.2.3")));
    assert!(!only.allows(ip("::1")));
    assert!(!only.allows(ip("8.8.8.8")));
    // A single address is a net too.
    let one = AddressPolicy::public_only().allow(ip("192.168.1.10").into());
    assert!(one.allows(ip("192.168.1.10")));
    assert!(!one.allows(ip("192.168.1.11")));
}

// ---------------------------------------------------------------------------
// A second, straightforward implementation, from the IANA tables as
// written there.

const V4_REGISTRY: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
];

const V6_REGISTRY: &[&str] = &[
    "::1/128",
    "::/128",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001:db8::/32",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

fn prefix(s: &str) -> (u128, u32, bool) {
    let (addr, len) = s.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    match addr.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => (u128::from(u32::from(a)), len, true),
        IpAddr::V6(a) => (u128::from(a), len, false),
    }
}

fn within(bits: u128, width: u32, net: &str) -> bool {
    let (p, len, _) = prefix(net);
    let shift = width - len;
    if len == 0 {
        return true;
    }
    (bits >> shift) == (p >> shift)
}

fn reference(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let bits = u128::from(u32::from(a));
            !V4_REGISTRY.iter().any(|n| within(bits, 32, n))
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            let v4 = |b: u128| IpAddr::V4(Ipv4Addr::from((b & 0xffff_ffff) as u32));
            if x <= 1 {
                return false;
            }
            for carrier in [
                "::/96",
                "::ffff:0:0/96",
                "::ffff:0:0:0/96",
                "64:ff9b::/96",
                "64:ff9b:1::/96",
            ] {
                if within(x, 128, carrier) {
                    return reference(v4(x));
                }
            }
            if within(x, 128, "64:ff9b:1::/48") {
                return false;
            }
            if within(x, 128, "2002::/16") {
                return reference(v4(x >> 80));
            }
            if within(x, 128, "2001::/32") {
                return reference(v4(x >> 64)) && reference(v4(!x));
            }
            if V6_REGISTRY.iter().any(|n| within(x, 128, n)) {
                return false;
            }
            within(x, 128, "2000::/3")
        }
    }
}

#[test]
fn the_reference_agrees_with_the_table() {
    for (a, allowed) in TABLE {
        assert_eq!(reference(ip(a)), *allowed, "{a}");
    }
}

/// Addresses near every range of both registries and every carrier form.
fn address() -> impl Strategy<Value = IpAddr> {
    let v4_nets: Vec<&str> = V4_REGISTRY.to_vec();
    let v6_nets: Vec<&str> = V6_REGISTRY
        .iter()
        .copied()
        .chain([
            "::/96",
            "::ffff:0:0/96",
            "::ffff:0:0:0/96",
            "64:ff9b::/96",
            "64:ff9b:1::/48",
            "64:ff9b:1::/96",
            "2002::/16",
            "2001::/32",
            "2000::/3",
        ])
        .collect();
    let v4_in = |nets: Vec<&'static str>| {
        (prop::sample::select(nets), any::<u32>(), any::<bool>()).prop_map(|(n, r, edge)| {
            let (p, len, _) = prefix(n);
            let host = if len == 32 { 0 } else { u32::MAX >> len };
            // Now and then, a neighbour just outside the range.
            let r = if edge { r & 1 } else { r };
            let inside = (p as u32) | (r & host);
            Ipv4Addr::from(if edge && r & 1 == 1 {
                inside.wrapping_add(host).wrapping_add(1)
            } else {
                inside
            })
        })
    };
    let v4_interesting = v4_in(v4_nets.clone());
    prop_oneof![
        any::<u32>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<u128>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        v4_in(v4_nets).prop_map(IpAddr::V4),
        (prop::sample::select(v6_nets), any::<u128>()).prop_map(|(n, r)| {
            let (p, len, _) = prefix(n);
            let host = if len == 128 { 0 } else { u128::MAX >> len };
            IpAddr::V6(Ipv6Addr::from(p | (r & host)))
        }),
        // Carrier forms of interesting IPv4 addresses.
        (v4_interesting, 0..7usize, any::<u128>()).prop_map(|(v4, form, r)| {
            let v = u128::from(u32::from(v4));
            let x = match form {
                0 => v,
                1 => 0xffff_0000_0000 | v,
                2 => (0xffff << 48) | v,
                3 => (0x0064_ff9b << 96) | v,
                4 => (0x0064_ff9b_0001 << 80) | v,
                5 => (0x2002 << 112) | (v << 80) | (r & ((1 << 80) - 1)),
                _ => (0x2001 << 112) | (v << 64) | (r & 0xffff_ffff_0000_0000) | !v & 0xffff_ffff,
            };
            IpAddr::V6(Ipv6Addr::from(x))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn public_only_agrees_with_the_registries(addr in address()) {
        prop_assert_eq!(AddressPolicy::public_only().allows(addr), reference(addr), "{}", addr);
    }

    #[test]
    fn an_explicit_deny_always_wins(addr in address()) {
        let net = tokio_endpoints::ipnet::IpNet::from(addr);
        let policy = AddressPolicy::allow_all().allow(net).deny(net);
        prop_assert!(!policy.allows(addr));
    }
}

// ---------------------------------------------------------------------------
// Real sockets.

/// A listener on 127.0.0.1 that counts what it accepts.
struct Counted {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
}

async fn counted() -> Counted {
    let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let seen = accepts.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    Counted { addr, accepts }
}

impl Counted {
    /// The accepts so far, after the kernel and the accept task have had
    /// time to deliver any connection made.
    async fn accepts(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.accepts.load(Ordering::SeqCst)
    }
}

fn loopback_allowed() -> AddressPolicy {
    AddressPolicy::public_only().allow("127.0.0.0/8".parse().unwrap())
}

fn hinted(name: &str, port: u16) -> Resolver {
    // The name itself has no address; its HTTPS record hints 127.0.0.1 on
    // the listener's port, and a service target name has it as well.
    let hint = ServiceRecord::new(1, ".")
        .with_port(port)
        .with_ipv4_hints([LOOPBACK]);
    let target = ServiceRecord::new(2, "svc.test").with_port(port);
    Resolver::fixed_with_services(
        [("svc.test", vec![IpAddr::V4(LOOPBACK)])],
        [(name, vec![hint, target])],
    )
}

/// Every way a call gets an address: a literal, a list, a name, an
/// HTTPS hint and service target, with and without TLS.
async fn every_way(policy: AddressPolicy, port: u16) -> Vec<(String, Result<(), ConnectError>)> {
    let literal = SocketAddr::from((LOOPBACK, port));
    let mapped = SocketAddr::new(ip("::ffff:127.0.0.1"), port);
    let by_name = Resolver::fixed([("victim.test", vec![IpAddr::V4(LOOPBACK)])]);
    let mut out = Vec::new();
    let ok = |r: Result<tokio::net::TcpStream, ConnectError>| r.map(drop);
    out.push((
        "literal".to_string(),
        ok(ConnectionBuilder::new(literal)
            .address_policy(policy.clone())
            .connect()
            .await),
    ));
    out.push((
        "literal with a timeout (the race)".to_string(),
        ok(ConnectionBuilder::new(literal)
            .address_policy(policy.clone())
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await),
    ));
    out.push((
        "literal list".to_string(),
        ok(ConnectionBuilder::new(vec![mapped, literal])
            .address_policy(policy.clone())
            .family(Family::V4)
            .connect()
            .await),
    ));
    out.push((
        "name".to_string(),
        ok(ConnectionBuilder::new(("victim.test", port))
            .resolver(by_name.clone())
            .address_policy(policy.clone())
            .connect()
            .await),
    ));
    out.push((
        "name through a Connector".to_string(),
        ok(Connector::new()
            .resolver(by_name)
            .address_policy(policy.clone())
            .connect(("victim.test", port))
            .await),
    ));
    out.push((
        "HTTPS hint and service target".to_string(),
        ok(ConnectionBuilder::new(("hinted.test", port))
            .resolver(hinted("hinted.test", port))
            .svcb(true)
            .address_policy(policy.clone())
            .connect()
            .await),
    ));
    out
}

#[tokio::test]
async fn denied_connects_send_nothing_by_any_way() {
    let server = counted().await;
    let results = every_way(AddressPolicy::public_only(), server.addr.port()).await;
    for (way, result) in &results {
        let e = result.as_ref().expect_err(way);
        assert_eq!(e.kind(), ConnectErrorKind::Denied, "{way}: {e}");
        assert!(e.attempts().is_empty(), "{way}");
        assert!(!e.denied().is_empty(), "{way}");
        assert!(
            e.to_string()
                .contains("loopback, refused by the address policy"),
            "{way}: {e}"
        );
        assert_eq!(e.io_kind(), io::ErrorKind::PermissionDenied, "{way}");
    }
    // TLS takes the same path.
    let e = ConnectionBuilder::new(server.addr)
        .address_policy(AddressPolicy::public_only())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::Denied);
    assert_eq!(server.accepts().await, 0, "a denied address was connected");
}

#[tokio::test]
async fn an_allowed_range_lets_every_way_through() {
    let server = counted().await;
    let results = every_way(loopback_allowed(), server.addr.port()).await;
    for (way, result) in &results {
        assert!(result.is_ok(), "{way}: {result:?}");
    }
    assert_eq!(server.accepts().await, results.len());
}

#[tokio::test]
async fn the_message_names_the_target_and_each_address() {
    let e = ConnectionBuilder::new("127.0.0.1:9")
        .address_policy(AddressPolicy::public_only())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "connect to 127.0.0.1:9: 127.0.0.1: loopback, refused by the address policy"
    );
    let resolver = Resolver::fixed([(
        "internal.test",
        vec![ip("10.0.0.5"), ip("::ffff:169.254.169.254")],
    )]);
    let e = ConnectionBuilder::new("internal.test:80")
        .resolver(resolver)
        .address_policy(AddressPolicy::public_only())
        .connect()
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(
        message.starts_with("connect to internal.test:80: "),
        "{message}"
    );
    assert!(message.contains("10.0.0.5: private"), "{message}");
    assert!(
        message.contains("::ffff:169.254.169.254: IPv4-mapped 169.254.169.254, link-local"),
        "{message}"
    );
    assert_eq!(e.denied().len(), 2);
}

#[tokio::test]
async fn the_race_uses_the_allowed_addresses_only() {
    // [::1] listens too, and is denied: it must see nothing.
    // None: no IPv6 on this host.
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).await.ok();
    let server = counted().await;
    let port = server.addr.port();
    let mut list = vec![server.addr];
    if let Some(v6) = &v6 {
        list.insert(0, v6.local_addr().unwrap());
    }
    let stream = ConnectionBuilder::new(list)
        .address_policy(loopback_allowed())
        .happy_eyeballs(Duration::ZERO)
        .connect()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), server.addr);
    if let Some(v6) = v6 {
        let accepted = tokio::time::timeout(Duration::from_millis(50), v6.accept()).await;
        assert!(accepted.is_err(), "the denied [::1] was connected");
    }
    // By name, the same.
    let resolver = Resolver::fixed([("both.test", vec![ip("::1"), IpAddr::V4(LOOPBACK)])]);
    let stream = ConnectionBuilder::new(("both.test", port))
        .resolver(resolver)
        .address_policy(loopback_allowed())
        .connect()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), server.addr);
}

/// Answers 127.0.0.1 (public for these tests, under `allow(127/8)`) on
/// the first call and 10.0.0.5 on every later one: DNS rebinding.
#[derive(Debug, Default)]
struct Rebinding {
    calls: AtomicUsize,
}

impl Resolve for Rebinding {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = if call == 0 {
            IpAddr::V4(LOOPBACK)
        } else {
            ip("10.0.0.5")
        };
        stream::iter([Ok(vec![answer])]).boxed()
    }
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Rebinding>);

impl Resolve for Shared {
    fn resolve(&self, host: &str, family: Family) -> Addrs {
        self.0.resolve(host, family)
    }
}

#[tokio::test]
async fn a_rebinding_resolver_is_refused_on_the_second_call() {
    let server = counted().await;
    let resolver = Shared::default();
    let connector = Connector::new()
        .resolver(resolver.clone())
        .address_policy(loopback_allowed());
    let target = ("rebind.test", server.addr.port());
    connector
        .connect(target)
        .await
        .expect("the first answer is allowed");
    let e = connector.connect(target).await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::Denied);
    assert_eq!(e.denied()[0].addr(), ip("10.0.0.5"));
    assert_eq!(
        resolver.0.calls.load(Ordering::SeqCst),
        2,
        "one resolution per call"
    );
    assert_eq!(server.accepts().await, 1);
}

#[tokio::test]
async fn hyper_client_refusals_keep_our_error_in_the_chain() {
    let server = counted().await;
    let port = server.addr.port();
    let connector = Connector::new().address_policy(AddressPolicy::public_only());
    let client: Client<Connector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    for uri in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let e = client.get(uri.parse().unwrap()).await.unwrap_err();
        let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
        let mut found = None;
        while let Some(err) = source {
            if let Some(ours) = err.downcast_ref::<ConnectError>() {
                found = Some(ours);
                break;
            }
            source = err.source();
        }
        let ours = found.unwrap_or_else(|| panic!("{uri}: no ConnectError in {e:?}"));
        assert_eq!(ours.kind(), ConnectErrorKind::Denied, "{uri}");
    }
    assert_eq!(server.accepts().await, 0);
}

#[tokio::test]
async fn datagram_remote_addresses_are_checked() {
    let e = DatagramBuilder::new()
        .remote_addr("127.0.0.1:53")
        .address_policy(AddressPolicy::public_only())
        .bind()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DatagramErrorKind::Denied);
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::PermissionDenied);
    let resolver = Resolver::fixed([("dns.test", vec![ip("::ffff:10.0.0.53")])]);
    let e = DatagramBuilder::new()
        .remote_addr("dns.test:53")
        .resolver(resolver)
        .address_policy(AddressPolicy::public_only())
        .bind()
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("::ffff:10.0.0.53: IPv4-mapped 10.0.0.53, private"),
        "{e}"
    );
    let socket = DatagramBuilder::new()
        .remote_addr("127.0.0.1:53")
        .address_policy(loopback_allowed())
        .bind()
        .await
        .unwrap();
    assert_eq!(socket.peer_addr().unwrap(), "127.0.0.1:53".parse().unwrap());
}

#[tokio::test]
async fn a_denied_peer_never_reaches_the_handler() {
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let server = ServerBuilder::new("127.0.0.1:0")
        .peer_policy(AddressPolicy::allow_only(["10.0.0.0/8".parse().unwrap()]))
        .serve(move |_, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(server.denied_peers(), 1);
    assert_eq!(handled.load(Ordering::SeqCst), 0);

    // The same server type with loopback allowed hands it on.
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let server = ServerBuilder::new("127.0.0.1:0")
        .peer_policy(loopback_allowed())
        .serve(move |_, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .await
        .unwrap();
    let _client = tokio::net::TcpStream::connect(server.local_addrs()[0])
        .await
        .unwrap();
    for _ in 0..100 {
        if handled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(server.denied_peers(), 0);
}

#[tokio::test]
async fn a_denied_peer_is_never_returned_by_accept() {
    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .peer_policy(AddressPolicy::public_only())
        .bind()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a denied peer was returned by accept");
    assert_eq!(listener.denied_peers(), 1);
}
