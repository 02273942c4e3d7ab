//! Happy Eyeballs v3 on loopback, offline: `[::1]` takes TCP and then
//! resets every connection, `127.0.0.1` serves TLS. `connect_tls` falls
//! back to IPv4 as soon as the IPv6 handshake fails (RFC 8305 would have
//! handed over the IPv6 connection and failed). Then an HTTPS record
//! (pinned with `Resolver::fixed_with_services`) moves the connection to
//! the service's port.
//!
//! ```text
//! cargo run --example hev3_demo
//! ```

use std::error::Error;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use socket2::SockRef;
use tokio::net::TcpListener;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::{ConnectionBuilder, Resolver, ServiceRecord};
use tokio_rustls::TlsAcceptor;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // A self-signed certificate for "demo.test", trusted by the client.
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["demo.test".to_string()])?.self_signed(&key)?;
    let provider = tokio_endpoints::crypto_provider();
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let client = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    // [::1]: accepts TCP, then resets (a broken path after the TCP handshake).
    let v6 = TcpListener::bind("[::1]:0").await?;
    let v6_addr = v6.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = v6.accept().await {
            let _ = SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
        }
    });
    // 127.0.0.1: a TLS server.
    let v4 = TcpListener::bind("127.0.0.1:0").await?;
    let v4_addr = v4.local_addr()?;
    let acceptor = TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = v4.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    drop(tls);
                }
            });
        }
    });

    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(vec![v6_addr, v4_addr])
        .server_name("demo.test")
        .tls_config(client.clone())
        .connect_tls()
        .await?;
    println!(
        "[::1] reset its handshake; connected over {} in {:?}",
        stream.peer_addr()?,
        t0.elapsed()
    );
    drop(stream);

    // An HTTPS record: the service of demo.test runs on the IPv4 server's
    // port, whatever port the target names; its hint is used before any
    // address answer.
    let record = ServiceRecord::new(1, ".")
        .with_port(v4_addr.port())
        .with_ipv4_hints([Ipv4Addr::LOCALHOST]);
    let resolver = Resolver::fixed_with_services(
        [("demo.test", vec![IpAddr::from(Ipv4Addr::LOCALHOST)])],
        [("demo.test", vec![record])],
    );
    let stream = ConnectionBuilder::new("demo.test:443")
        .resolver(resolver)
        .tls_config(client)
        .connect_tls()
        .await?;
    println!(
        "demo.test:443 with its HTTPS record: connected to {}",
        stream.peer_addr()?
    );
    Ok(())
}
