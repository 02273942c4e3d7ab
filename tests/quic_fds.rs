//! No descriptor leaks on the QUIC paths: a QUIC win, a TCP+TLS win over
//! a silent UDP port, a certificate failure on both, a future dropped in
//! the middle of the race, and a connector's shared endpoints.
//!
//! One test in this binary on purpose (`/proc/self/fd` counts the whole
//! process). A closed QUIC connection drains for three probe timeouts
//! before quinn closes its UDP socket (RFC 9000 §10.2), so the count is
//! awaited (a few seconds at most), not taken at once.
#![cfg(feature = "quic")]

mod common;
mod quic_support;
mod support;

use std::time::{Duration, Instant};

use common::open_fds;
use quic_support::{builder, Servers, Udp};
use support::Ca;
use tokio_endpoints::{Connector, Secure};

/// Waits until the count is back at `before` (quinn drains first).
async fn settles_at(before: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = open_fds().unwrap();
        if now == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {now} descriptors, {before} before"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn no_descriptor_leaks_on_quic_paths() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = Ca::new("quic CA");
        let leaf = ca.leaf(&["localhost"]);
        let other = Ca::new("another CA").leaf(&["localhost"]);
        // Warm up (the trust roots, lazily made statics).
        let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
        drop(
            builder(&ca, servers.addr)
                .quic(true)
                .connect_secure()
                .await
                .unwrap(),
        );
        servers.stop().await;

        let before = open_fds().unwrap();
        for round in 0..2 {
            // QUIC wins; the connection closed by the caller.
            let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
            let conn = builder(&ca, servers.addr)
                .quic(true)
                .connect_secure()
                .await
                .unwrap();
            let Secure::Quic(conn) = conn else {
                panic!("TCP won on loopback")
            };
            conn.close(0u32.into(), b"bye");
            drop(conn);
            servers.stop().await;

            // TCP+TLS wins over a silent UDP port (no memory: the wait).
            let servers = Servers::start(Udp::Silent, Some(&leaf)).await;
            let conn = builder(&ca, servers.addr)
                .quic(true)
                .history(false)
                .connect_secure()
                .await
                .unwrap();
            assert!(!conn.is_quic());
            drop(conn);
            servers.stop().await;

            // Certificates refused on both.
            let servers = Servers::start(Udp::Quic(&other), Some(&other)).await;
            let err = builder(&ca, servers.addr).quic(true).connect_secure().await;
            assert!(err.is_err());
            servers.stop().await;

            // Dropped in the middle: QUIC unanswered, TCP in its TLS
            // handshake with a listener that never accepts.
            let servers = Servers::start(Udp::Silent, None).await;
            let connecting = builder(&ca, servers.addr)
                .quic(true)
                .history(false)
                .connect_secure();
            let dropped = tokio::time::timeout(Duration::from_millis(300), connecting).await;
            assert!(dropped.is_err(), "the connect finished: {dropped:?}");
            servers.stop().await;

            // A connector's shared endpoints close with the connector.
            let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
            let connector = Connector::new().tls_config(ca.client_config()).quic(true);
            for _ in 0..3 {
                let conn = connector
                    .builder(servers.addr)
                    .server_name("localhost")
                    .connect_secure()
                    .await
                    .unwrap();
                assert!(conn.is_quic());
            }
            drop(connector);
            servers.stop().await;

            settles_at(before, &format!("round {round}")).await;
        }
    });
}
