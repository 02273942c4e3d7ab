//! No descriptor leaks on any TLS path.
//!
//! This binary holds a single test on purpose: Rust runs the tests of one
//! binary in parallel threads of one process, and `/proc/self/fd` counts the
//! whole process, so a neighbour test opening a socket would make the count
//! flaky. Alone here, every descriptor opened or closed between the two
//! counts is ours. Each scenario waits for its server task, so the server's
//! sockets are closed too when the scenario returns.

mod common;
mod support;

use std::net::SocketAddr;

use support::Ca;
use tokio_endpoints::ConnectionBuilder;

use common::open_fds;

#[test]
fn no_descriptor_leaks_on_tls_paths() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    // The runtime's own descriptors (epoll, wakers, the timer) exist before
    // the first count; a current-thread runtime opens no more later.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = Ca::new("test CA");
        let by_name = |addr: SocketAddr| ConnectionBuilder::new(addr).server_name("localhost");
        // Warm up: anything created lazily on first use is created now.
        support::echo_round_trip(&ca, by_name).await;

        let before = open_fds().unwrap();
        for round in 0..3 {
            support::echo_round_trip(&ca, by_name).await;

            let other = Ca::new("another CA");
            let leaf = other.leaf(&["localhost"]);
            support::failing_handshake(ca.client_config(), leaf.server_config(&[]), by_name).await;

            let expired = ca.expired_leaf(&["localhost"]);
            support::failing_handshake(ca.client_config(), expired.server_config(&[]), |addr| {
                ConnectionBuilder::new(addr).server_name("wrong.example")
            })
            .await;

            support::silent_server_times_out(&ca).await;
            support::peer_never_reads(&ca).await;
            support::over_from_stream(&ca).await;

            let (addr, untouched) = support::untouched_listener();
            let refused = ConnectionBuilder::new(addr).alpn(["h2"]).connect().await;
            assert!(refused.is_err());
            let refused = ConnectionBuilder::new(addr)
                .server_name("")
                .connect_tls()
                .await;
            assert!(refused.is_err());
            untouched();

            let after = open_fds().unwrap();
            assert_eq!(after, before, "descriptors leaked in round {round}");
        }
    });
}
