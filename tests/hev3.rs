//! Happy Eyeballs v3 on loopback: `connect_tls` races TCP *and* TLS, so an
//! address that takes TCP and then fails TLS falls back to the next one.
//! Real sockets, real (short) timeouts. Descriptor counts are in
//! `hev3_fds.rs`, a binary of its own.

mod common;
mod hev3_support;
mod support;

use hev3_support::Bad;
use support::Ca;

#[tokio::test]
async fn v6_resets_after_tcp_and_v4_wins_at_once() {
    hev3_support::v6_breaks_tls_v4_wins(&Ca::new("test CA"), Bad::Reset).await;
}

#[tokio::test]
async fn v6_speaks_garbage_and_v4_wins_at_once() {
    hev3_support::v6_breaks_tls_v4_wins(&Ca::new("test CA"), Bad::Garbage).await;
}

#[tokio::test]
async fn v6_silent_after_tcp_and_v4_wins_at_the_delay() {
    hev3_support::v6_silent_after_tcp_v4_wins_at_the_delay(&Ca::new("test CA")).await;
}

#[tokio::test]
async fn a_refused_certificate_falls_back_to_the_next_address() {
    hev3_support::refused_certificate_falls_back(&Ca::new("test CA")).await;
}

#[tokio::test]
async fn every_attempt_is_kept_with_its_stage() {
    hev3_support::all_fail_with_their_stages(&Ca::new("test CA")).await;
}

#[tokio::test]
async fn all_handshakes_failing_reads_as_a_tls_error() {
    hev3_support::all_fail_in_tls(&Ca::new("test CA")).await;
}

#[tokio::test]
async fn connect_timeout_covers_the_handshake() {
    hev3_support::connect_timeout_covers_the_handshake(&Ca::new("test CA")).await;
}

mod records {
    //! HTTPS records from `Resolver::fixed_with_services`, and a resolver
    //! that knows only addresses.

    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use futures::stream::{self, StreamExt};
    use tokio_endpoints::{Addrs, ConnectionBuilder, Family, Resolve, Resolver, ServiceRecord};

    use crate::support::{echo_server, Ca};

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn fixed_records_move_the_port_and_carry_ech() {
        let ca = Ca::new("test CA");
        let leaf = ca.leaf(&["svc.test"]);
        let (addr, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
        let closed = closed_port();
        let service = ServiceRecord::new(1, ".")
            .with_port(addr.port())
            .with_ech(vec![9, 9])
            .with_ipv4_hints([Ipv4Addr::LOCALHOST]);
        let resolver = Resolver::fixed_with_services(
            [("svc.test", vec![IpAddr::from(Ipv4Addr::LOCALHOST)])],
            [("svc.test", vec![service])],
        );
        let stream = ConnectionBuilder::new(("svc.test", closed))
            .resolver(resolver)
            .tls_config(ca.client_config())
            .connect_tls()
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        assert_eq!(stream.ech_config_list(), Some(&[9, 9][..]));
        drop(stream);
        assert!(server.await.unwrap().handshake_ok);
    }

    #[derive(Debug)]
    struct AddressesOnly(SocketAddr);

    impl Resolve for AddressesOnly {
        fn resolve(&self, _host: &str, _family: Family) -> Addrs {
            stream::iter([Ok(vec![self.0.ip()])]).boxed()
        }
    }

    #[tokio::test]
    async fn a_resolver_that_knows_only_addresses_still_works() {
        let ca = Ca::new("test CA");
        let leaf = ca.leaf(&["svc.test"]);
        let (addr, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
        let stream = ConnectionBuilder::new(("svc.test", addr.port()))
            .resolver(AddressesOnly(addr))
            .tls_config(ca.client_config())
            .connect_tls()
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        assert_eq!(stream.ech_config_list(), None);
        drop(stream);
        assert!(server.await.unwrap().handshake_ok);
    }
}
