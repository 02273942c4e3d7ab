//! `crypto_provider()` and the `aws-lc-rs` feature (issue 31): the crate's
//! own TLS configurations, client and server, are made with the provider
//! it names, and with `aws-lc-rs` a handshake between them agrees on
//! post-quantum key exchange (X25519MLKEM768); *ring*'s classical groups
//! otherwise.

use tokio_endpoints::rustls::NamedGroup;
use tokio_endpoints::{crypto_provider, ConnectionBuilder, ServerBuilder};

/// The key exchange group of a TLS connect from the crate's default client
/// configuration (`tls_ca_file`) to its own self-signed server.
async fn negotiated_group() -> NamedGroup {
    let server = ServerBuilder::new(("127.0.0.1", 0))
        .tls_self_signed(["localhost", "127.0.0.1"])
        .serve_tls(|_stream, _peer| async {})
        .await
        .unwrap();
    let ca = std::env::temp_dir().join(format!("te-crypto-provider-{}.pem", std::process::id()));
    std::fs::write(&ca, server.self_signed_cert_pem().unwrap()).unwrap();
    let stream = ConnectionBuilder::new(server.local_addrs()[0])
        .server_name("localhost")
        .tls_ca_file(&ca)
        .connect_tls()
        .await
        .unwrap();
    std::fs::remove_file(&ca).unwrap();
    let group = stream
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name();
    drop(stream);
    server.shutdown(std::time::Duration::from_secs(1)).await;
    group
}

#[test]
fn the_provider_is_made_once() {
    assert!(std::sync::Arc::ptr_eq(
        &crypto_provider(),
        &crypto_provider()
    ));
}

#[cfg(feature = "aws-lc-rs")]
#[tokio::test]
async fn with_aws_lc_rs_a_tls_connect_uses_post_quantum_key_exchange() {
    let groups: Vec<NamedGroup> = crypto_provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(
        groups.first(),
        Some(&NamedGroup::X25519MLKEM768),
        "{groups:?}"
    );
    assert_eq!(negotiated_group().await, NamedGroup::X25519MLKEM768);
}

#[cfg(not(feature = "aws-lc-rs"))]
#[tokio::test]
async fn with_ring_a_tls_connect_uses_a_classical_group() {
    // *ring* has no post-quantum group; it prefers secp384r1 (rustls 0.23.48).
    let groups: Vec<NamedGroup> = crypto_provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert!(!groups.contains(&NamedGroup::X25519MLKEM768), "{groups:?}");
    assert_eq!(negotiated_group().await, groups[0]);
}
