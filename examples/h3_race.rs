//! QUIC raced against TCP+TLS (Happy Eyeballs v3) on loopback, offline: a
//! QUIC server and a TCP+TLS server on one port. With both healthy, QUIC
//! wins and TCP never connects; with UDP silent (a socket that never
//! answers), TCP+TLS wins 100 ms in; the next connect through the same
//! `Connector` remembers the broken UDP and starts TCP at once.
//!
//! ```text
//! cargo run --example h3_race --features quic
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rcgen::{CertificateParams, KeyPair};
use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::quinn;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::{Connector, Secure};
use tokio_rustls::TlsAcceptor;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // A self-signed certificate for "localhost", trusted by the client.
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    let provider = tokio_endpoints::crypto_provider();
    let server = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, Box<dyn Error>> {
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    };
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let client = Arc::new(
        ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let connector = Connector::new()
        .tls_config(client)
        .alpn(["h3", "h2", "http/1.1"])
        .quic(true);

    // 1. QUIC and TCP+TLS both healthy, on one port.
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    serve_tls(tcp, server(&[b"h2", b"http/1.1"])?);
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server(&[b"h3"])?)?;
    let quic = quinn::Endpoint::server(quinn::ServerConfig::with_crypto(Arc::new(crypto)), addr)?;
    let q = quic.clone();
    tokio::spawn(async move {
        while let Some(incoming) = q.accept().await {
            tokio::spawn(async move {
                if let Ok(conn) = incoming.await {
                    conn.closed().await;
                }
            });
        }
    });
    show("both healthy", &connector, addr).await?;
    quic.close(0u32.into(), b"");

    // 2. UDP silent: the datagrams go nowhere, as behind a firewall that
    //    drops UDP.
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    serve_tls(tcp, server(&[b"h2", b"http/1.1"])?);
    let _silent = UdpSocket::bind(addr).await?;
    show("UDP silent", &connector, addr).await?;
    // 3. Again: UDP is remembered as broken for this target.
    show("UDP silent, again", &connector, addr).await?;
    Ok(())
}

/// One connect: who won, after how long, and the report's timeline.
async fn show(what: &str, connector: &Connector, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let (conn, report) = connector
        .builder(addr)
        .server_name("localhost")
        .connect_secure_reported()
        .await?;
    let took = started.elapsed();
    let won = match &conn {
        Secure::Quic(_) => "QUIC",
        Secure::Tls(_) => "TCP+TLS",
    };
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(&p).into_owned());
    println!("== {what}: {won} won after {took:.1?}, ALPN {alpn:?}\n{report}\n");
    if let Secure::Quic(conn) = conn {
        conn.close(0u32.into(), b"done");
    }
    Ok(())
}

/// A TCP+TLS server that holds each connection until the client closes.
fn serve_tls(listener: TcpListener, config: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let mut buf = [0u8; 16];
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                }
            });
        }
    });
}
