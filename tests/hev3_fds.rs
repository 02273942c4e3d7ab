//! No descriptor leaks when handshakes race (Happy Eyeballs v3). One test
//! alone in its binary, so that `/proc/self/fd` counts only its sockets.

mod common;
mod hev3_support;
mod support;

use hev3_support::Bad;
use support::Ca;

use common::open_fds;

#[test]
fn no_descriptor_leaks_when_handshakes_race() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = Ca::new("test CA");
        hev3_support::refused_certificate_falls_back(&ca).await;
        let before = open_fds().unwrap();
        for round in 0..2 {
            hev3_support::v6_breaks_tls_v4_wins(&ca, Bad::Reset).await;
            hev3_support::v6_breaks_tls_v4_wins(&ca, Bad::Garbage).await;
            hev3_support::v6_silent_after_tcp_v4_wins_at_the_delay(&ca).await;
            hev3_support::refused_certificate_falls_back(&ca).await;
            hev3_support::all_fail_with_their_stages(&ca).await;
            hev3_support::all_fail_in_tls(&ca).await;
            hev3_support::connect_timeout_covers_the_handshake(&ca).await;
            let after = open_fds().unwrap();
            assert_eq!(after, before, "descriptors leaked in round {round}");
        }
    });
}
