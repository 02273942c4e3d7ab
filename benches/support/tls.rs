//! The TLS setup the TLS benchmarks share: a self-signed certificate for
//! `localhost` and `127.0.0.1`, a server config with it and a client config that trusts
//! it, TLS 1.3 only, on ring, resumption off (every handshake is a full
//! one, as a new connection's would be).

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use tokio_endpoints::rustls::client::Resumption;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

pub fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = tokio_endpoints::crypto_provider();
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = Resumption::disabled();
    (Arc::new(client), Arc::new(server))
}

/// A TLS server that completes each handshake and drops the connection:
/// what a benchmark of connects needs on the other side.
pub async fn serve_handshakes(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // The handshake completes when the client's Finished arrives;
            // then the connection is dropped.
            let _ = acceptor.accept(tcp).await;
        });
    }
}
