//! Names as users type them, through every API: an absolute name (a
//! trailing dot) is asked as it is and never completed with the search
//! list; TLS verifies and sends the name without the dot; IPv4 addresses
//! in inet_aton's forms are the addresses they denote; no input panics.
//! DNS runs on the scripted server on 127.0.0.1.

#![cfg(all(feature = "hickory", feature = "tls"))]

mod dns_server;
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dns_server::{DnsServer, Reply};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::A;
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio_endpoints::{
    AddressPolicy, ConnectErrorKind, ConnectionBuilder, Connector, Family, HickoryResolver,
    IntoTarget, Resolve, Resolver, SystemResolver,
};

/// The zone: `api.example` is 127.0.0.1, where the listener is; every
/// name under the search domain `corp.test` (a wildcard) is 127.0.0.2,
/// where nothing listens: a searched name goes to the wrong host.
fn zone(name: &str, rtype: RecordType) -> (u64, Reply) {
    let ip = match name {
        "api.example" => Ipv4Addr::LOCALHOST,
        n if n.ends_with(".corp.test") => Ipv4Addr::new(127, 0, 0, 2),
        _ => {
            return (
                0,
                Reply::Code(tokio_endpoints::hickory_resolver::proto::op::ResponseCode::NXDomain),
            )
        }
    };
    match rtype {
        RecordType::A => (0, Reply::Records(vec![RData::A(A(ip))])),
        _ => (0, Reply::Records(vec![])),
    }
}

/// A resolver on `dns` with the search list `corp.test` and Kubernetes'
/// `ndots:5`: a relative name is asked with the search domain first.
fn searching(dns: &DnsServer) -> HickoryResolver {
    let mut config = dns.config();
    config.add_search(Name::from_ascii("corp.test.").unwrap());
    let mut options = dns.options_with_timeout(Duration::from_secs(2));
    options.ndots = 5;
    HickoryResolver::with_config(config, options)
        .unwrap()
        .fit_network(false)
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[tokio::test]
async fn a_trailing_dot_is_never_searched_whichever_api_is_used() {
    let dns = DnsServer::start(zone).await;
    let resolver = searching(&dns);
    let (_l, port) = listener().await;
    let want = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let builder = |t: tokio_endpoints::Target| {
        ConnectionBuilder::new(t)
            .resolver(resolver.clone())
            .family(Family::V4)
    };
    // ConnectionBuilder::new("h.:port") and new(("h.", port)).
    let s = builder(format!("api.example.:{port}").into_target().unwrap())
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap(), want);
    let s = builder(("api.example.", port).into_target().unwrap())
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap(), want);
    // Connector::connect.
    let connector = Connector::new()
        .resolver(Resolver::new(resolver.clone()))
        .family(Family::V4);
    let s = connector.connect(("api.example.", port)).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), want);
    // A hyper URI through the Connector's tower Service.
    #[cfg(feature = "hyper")]
    {
        use tower_service::Service;
        let mut connector = connector.clone();
        let uri: http::Uri = format!("http://api.example.:{port}/").parse().unwrap();
        let s = connector.call(uri).await.unwrap();
        drop(s);
    }
    // A datagram endpoint's remote address.
    let udp = tokio_endpoints::DatagramBuilder::new()
        .remote_addr(("api.example.", port))
        .resolver(resolver.clone())
        .family(Family::V4)
        .bind()
        .await
        .unwrap();
    assert_eq!(udp.peer_addr().unwrap(), want);
    // A server's own address.
    let server = tokio_endpoints::ServerBuilder::new("api.example.:0")
        .resolver(resolver.clone())
        .family(Family::V4)
        .bind()
        .await
        .unwrap();
    assert_eq!(
        server.local_addrs()[0].ip(),
        std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    assert_eq!(
        dns.count("api.example.corp.test", RecordType::A),
        0,
        "an absolute name was searched"
    );
    assert!(dns.count("api.example", RecordType::A) >= 1);

    // The same name without the dot is searched first (ndots:5), and the
    // wildcard sends it to the wrong host: what the dot is for.
    let e = builder(("api.example", port).into_target().unwrap())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(dns.count("api.example.corp.test", RecordType::A), 1);
    assert_eq!(
        e.attempts()[0].addr(),
        SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), port))
    );
}

#[tokio::test]
async fn an_absolute_name_reaches_a_custom_resolver_with_its_dot() {
    #[derive(Debug, Default, Clone)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    impl Resolve for Seen {
        fn resolve(&self, host: &str, _family: Family) -> tokio_endpoints::Addrs {
            self.0.lock().unwrap().push(host.to_string());
            futures::stream::iter([Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])]).boxed()
        }
    }
    let seen = Seen::default();
    let (_l, port) = listener().await;
    for target in [
        format!("Api.Example.:{port}"),
        format!("api.example:{port}"),
    ] {
        ConnectionBuilder::new(target)
            .resolver(seen.clone())
            .connect()
            .await
            .unwrap();
    }
    assert_eq!(*seen.0.lock().unwrap(), ["api.example.", "api.example"]);
}

/// TLS verifies the certificate for the name without the dot and sends
/// it so as SNI, as browsers and curl do.
#[tokio::test]
async fn tls_uses_the_name_without_the_dot() {
    let ca = support::Ca::new("names test CA");
    let leaf = ca.leaf(&["api.example"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let resolver = Resolver::fixed([("api.example", [addr.ip()])]);
    let stream = ConnectionBuilder::new(("api.example.", addr.port()))
        .resolver(resolver)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
    let seen = server.await.unwrap();
    assert!(seen.handshake_ok);
    assert_eq!(seen.sni.as_deref(), Some("api.example"));
}

/// IPv4 in the forms getaddrinfo (inet_aton), curl and WHATWG URLs read
/// is the address it denotes, on every API: no DNS query, and the address
/// policy judges the address.
#[tokio::test]
async fn ipv4_number_forms_are_the_addresses_they_denote() {
    let (_l, port) = listener().await;
    let want = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // A resolver that must never be asked.
    let nobody = Resolver::fixed(Vec::<(&str, Vec<IpAddr>)>::new());
    for form in [
        "0x7f000001",
        "127.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.0.1",
    ] {
        let t = format!("{form}:{port}").into_target().unwrap();
        assert_eq!(t.addrs(), [want], "{form}");
        assert_eq!(
            (form, port).into_target().unwrap().addrs(),
            [want],
            "{form}"
        );
        let s = ConnectionBuilder::new(t)
            .resolver(nobody.clone())
            .connect()
            .await
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), want, "{form}");
        let s = Connector::new()
            .resolver(nobody.clone())
            .connect((form, port))
            .await
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), want, "{form}");
        // The policy sees 127.0.0.1, however it was written.
        let e = ConnectionBuilder::new((form, port))
            .address_policy(AddressPolicy::public_only())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ConnectErrorKind::Denied, "{form}: {e}");
    }
    // Not addresses, and not names either: one message.
    for bad in [
        "256.0.0.1",
        "1.2.3.4.5",
        "08.0.0.1",
        "4294967296",
        "127.0.0.1.",
    ] {
        let e = format!("{bad}:80").into_target().unwrap_err();
        assert_eq!(e.reason(), "not a valid IPv4 address", "{bad}");
    }
}

/// What getaddrinfo itself makes of the forms: the same addresses.
#[tokio::test]
async fn getaddrinfo_reads_the_forms_alike() {
    for form in ["0x7f000001", "127.1", "2130706433", "0177.0.0.1"] {
        let got: Vec<_> = SystemResolver::default()
            .resolve(form, Family::V4)
            .collect()
            .await;
        assert_eq!(
            got[0].as_ref().unwrap(),
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            "{form}"
        );
    }
}

/// Any string given to a resolver's public `resolve` is an error at worst,
/// never a panic, and a malformed name is refused before any packet.
#[tokio::test]
async fn no_name_makes_a_resolver_panic() {
    let dns = DnsServer::start(zone).await;
    let resolvers: Vec<Resolver> = vec![
        Resolver::default(),
        Resolver::new(searching(&dns)),
        Resolver::fixed([("a.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])]),
    ];
    let names = [
        "éabcdefghi",
        "é",
        "abcdefghié",
        "x.localhosté",
        "ä.localhost",
        "",
        ".",
        "..",
        "a\0b",
        "-",
        "\u{7f}",
        &"a".repeat(300),
        &"é".repeat(200),
        "[::1]",
        "a b",
    ];
    for resolver in &resolvers {
        for name in names {
            for family in [Family::Any, Family::V4, Family::V6] {
                let got: Vec<_> = resolver.resolve(name, family).collect().await;
                let _: Vec<_> = resolver.resolve_service(name, 443, family).collect().await;
                assert!(!got.is_empty(), "{name:?}: nothing at all");
            }
        }
    }
    assert_eq!(dns.total(), 0, "a malformed name was sent");
}
