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
