//! `connect_tls` against a loopback TLS server with a generated certificate,
//! then the handshake timeout against a server that never speaks. Offline:
//! everything runs on 127.0.0.1.
//!
//! ```text
//! cargo run --example tls_demo
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::ConnectionBuilder;
use tokio_rustls::TlsAcceptor;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // A private CA and a certificate for "localhost" signed by it.
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tls_demo CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf_params
        .distinguished_name
        .push(DnType::OrganizationName, "tokio-endpoints");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "tls_demo server");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

    // The server: rustls with ALPN h2 and http/1.1, echoing one message.
    let provider = tokio_endpoints::crypto_provider();
    let mut server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await?;
        tls.write_all(&buf[..n]).await?;
        tls.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });

    // The client trusts our CA only.
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let client_config = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    let mut stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .alpn(["h2", "http/1.1"])
        .tls_config(client_config.clone())
        .tls_handshake_timeout(Duration::from_secs(5))
        .connect_tls()
        .await?;
    println!(
        "connected to {} (server name \"localhost\")",
        stream.peer_addr()?
    );
    println!("  protocol version: {:?}", stream.protocol_version());
    println!(
        "  ALPN:             {:?}",
        stream.alpn_protocol().map(String::from_utf8_lossy)
    );
    if let Some(leaf) = stream.peer_certificates().and_then(|chain| chain.first()) {
        println!(
            "  peer certificate: {}",
            subject(leaf).unwrap_or("?".into())
        );
    }
    stream.write_all(b"hello").await?;
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo).await?;
    println!("  echo:             {:?}", String::from_utf8_lossy(&echo));
    stream.shutdown().await?; // close_notify, bounded by tls_shutdown_timeout

    // A server that accepts TCP and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let silent_addr = silent.local_addr()?;
    let _hold = tokio::spawn(async move {
        let conn = silent.accept().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(conn);
    });
    let started = Instant::now();
    let err = ConnectionBuilder::new(silent_addr)
        .server_name("localhost")
        .tls_config(client_config)
        .tls_handshake_timeout(Duration::from_millis(500))
        .connect_tls()
        .await
        .unwrap_err();
    println!(
        "silent server: {err} (kind {:?}, after {:?})",
        err.kind(),
        started.elapsed()
    );
    Ok(())
}

/// The subject of a DER certificate as `CN=..., O=...`: a few lines of DER
/// walking, so the demo needs no X.509 parser.
fn subject(cert: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?,
    //   serialNumber, signature, issuer, validity, subject, ... } ... }
    let (_, cert, _) = der(cert)?;
    let (_, mut tbs, _) = der(cert)?;
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 6 {
        let (tag, value, rest) = der(tbs)?;
        if tag != 0xa0 {
            fields.push(value);
        }
        tbs = rest;
    }
    let mut names = fields.get(4).copied()?; // SEQUENCE OF SET OF attribute
    let mut parts = Vec::new();
    while !names.is_empty() {
        let (_, set, rest) = der(names)?;
        let (_, attribute, _) = der(set)?;
        let (_, oid, value) = der(attribute)?;
        let (_, value, _) = der(value)?;
        let label = match oid {
            [0x55, 0x04, 0x03] => "CN",
            [0x55, 0x04, 0x0a] => "O",
            [0x55, 0x04, 0x06] => "C",
            _ => "?",
        };
        parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        names = rest;
    }
    Some(parts.join(", "))
}

/// One DER element: (tag, contents, what follows).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        let bytes = rest.get(..count)?;
        rest = &rest[count..];
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    let value = rest.get(..len)?;
    Some((tag, value, &rest[len..]))
}
