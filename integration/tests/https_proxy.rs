//! `Proxy::https` through a scripted TLS-terminating proxy on loopback
//! (see tests/https_proxy_support): TLS to the origin inside TLS to the
//! proxy, both names verified; a wrong proxy certificate; a 407 inside
//! TLS; `connect_tunnel` through each kind of proxy; a dropped future;
//! hyper's `Client` with `http://` and `https://` origins; framed and
//! split streams.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
mod https_proxy_support;
#[path = "../../tests/support/mod.rs"]
mod support;

#[tokio::test]
async fn tls_to_the_origin_inside_tls_to_the_proxy_verifies_both_names() {
    https_proxy_support::tls_to_the_origin_inside_tls_to_the_proxy_verifies_both_names().await;
}

#[tokio::test]
async fn a_wrong_proxy_certificate_fails_at_the_proxy_tls_stage() {
    https_proxy_support::a_wrong_proxy_certificate_fails_at_the_proxy_tls_stage().await;
}

#[tokio::test]
async fn a_407_inside_tls_asks_for_credentials() {
    https_proxy_support::a_407_inside_tls_asks_for_credentials().await;
}

#[tokio::test]
async fn connect_tunnel_through_http_socks5_and_https_proxies() {
    https_proxy_support::connect_tunnel_through_http_socks5_and_https_proxies().await;
}

#[tokio::test]
async fn a_future_dropped_in_the_proxy_handshake_closes_its_socket() {
    https_proxy_support::a_future_dropped_in_the_proxy_handshake_closes_its_socket().await;
}

#[tokio::test]
async fn hyper_fetches_http_and_https_origins_through_an_https_proxy() {
    https_proxy_support::hyper_fetches_http_and_https_origins_through_an_https_proxy().await;
}

#[tokio::test]
async fn framed_and_stream_halves_run_inside_an_https_proxy() {
    https_proxy_support::framed_and_stream_halves_run_inside_an_https_proxy().await;
}
