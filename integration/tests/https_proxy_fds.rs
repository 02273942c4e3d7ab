//! No socket is left open by `Proxy::https` calls: every scenario of
//! tests/https_proxy_support, in one test (a binary of its own, so that
//! no other test's sockets or runtime are counted), the descriptors
//! counted before and after; one of them drops a future in the middle of
//! the TLS handshake with the proxy.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
mod https_proxy_support;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

#[tokio::test]
async fn no_socket_is_left_open() {
    let before = common::fd_count();
    https_proxy_support::tls_to_the_origin_inside_tls_to_the_proxy_verifies_both_names().await;
    https_proxy_support::a_wrong_proxy_certificate_fails_at_the_proxy_tls_stage().await;
    https_proxy_support::a_407_inside_tls_asks_for_credentials().await;
    https_proxy_support::connect_tunnel_through_http_socks5_and_https_proxies().await;
    https_proxy_support::a_future_dropped_in_the_proxy_handshake_closes_its_socket().await;
    https_proxy_support::hyper_fetches_http_and_https_origins_through_an_https_proxy().await;
    https_proxy_support::framed_and_stream_halves_run_inside_an_https_proxy().await;
    // The scripted servers' connections end with the client's; their
    // listeners are closed here.
    https_proxy_support::stop_servers();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(common::fd_count(), before);
}
