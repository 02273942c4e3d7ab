//! TLS from PEM files, both sides, offline: makes a CA and a server
//! certificate signed by it (with rcgen, as `openssl` would), writes them
//! to a temporary directory, serves with `tls_pem_files`, connects with
//! `tls_ca_file`, and shows what the crate says about the usual mistake: a
//! CA certificate used as the server's own (served with a warning; this
//! crate's client refuses it, and says why).
//!
//! ```text
//! cargo run --example tls_files
//! ```

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_endpoints::{ConnectionBuilder, ServerBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tls-files-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir).await;
    std::fs::remove_dir_all(&dir)?;
    result
}

async fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // A CA, and a leaf for localhost signed by it.
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "example CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = ca.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key)?;

    let ca_pem = dir.join("ca.pem");
    let cert_pem = dir.join("cert.pem");
    let key_pem = dir.join("key.pem");
    std::fs::write(&ca_pem, pem("CERTIFICATE", ca.der()))?;
    std::fs::write(&cert_pem, pem("CERTIFICATE", leaf.der()))?;
    std::fs::write(&key_pem, pem("PRIVATE KEY", &leaf_key.serialize_der()))?;
    println!(
        "wrote {}, {} and {}",
        ca_pem.display(),
        cert_pem.display(),
        key_pem.display()
    );

    // The server: TLS in one call.
    let server = ServerBuilder::new(("localhost", 0))
        .tls_pem_files(&cert_pem, &key_pem)
        .serve_tls(|mut stream, peer| async move {
            let _ = stream.write_all(format!("hello {peer}\n").as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await?;
    let port = server.local_addrs()[0].port();
    println!("serving TLS on {:?}", server.local_addrs());

    // The client: trust exactly that CA.
    let mut stream = ConnectionBuilder::new(("localhost", port))
        .tls_ca_file(&ca_pem)
        .connect_tls()
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    println!(
        "{:?} with {}: {}",
        stream.protocol_version().unwrap(),
        stream.peer_addr()?,
        answer.trim()
    );

    // The usual mistake: serving the CA certificate itself (what OpenSSL 3's
    // `openssl req -x509` makes by default). It is served, with a WARN that
    // says how to make a leaf: curl and OpenSSL clients that trust it accept
    // it, but clients that verify with webpki (rustls, this crate) refuse it.
    let ca_key_pem = dir.join("ca-key.pem");
    std::fs::write(&ca_key_pem, pem("PRIVATE KEY", &ca_key.serialize_der()))?;
    let ca_server = ServerBuilder::new(("localhost", 0))
        .tls_pem_files(&ca_pem, &ca_key_pem)
        .serve_tls(|_stream, _peer| async {})
        .await?;
    match ConnectionBuilder::new(("localhost", ca_server.local_addrs()[0].port()))
        .tls_ca_file(&ca_pem)
        .connect_tls()
        .await
    {
        Ok(_) => println!("unexpected: this crate's client accepted a CA certificate"),
        Err(e) => {
            println!("the CA certificate itself, served: this crate's client refuses it:\n  {e}")
        }
    }
    ca_server.abort();

    // A client that does not trust the CA is told what to do.
    if let Err(e) = ConnectionBuilder::new(("localhost", port))
        .tls_ca_file(&cert_pem) // the leaf is not a CA: its issuer stays unknown
        .server_name("localhost")
        .connect_tls()
        .await
    {
        println!("a client without the CA:\n  {e}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await; // the server's side
    for failure in server.recent_handshake_failures() {
        println!("the server saw: {failure}");
    }
    server.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(())
}

/// DER as PEM (rcgen's `pem` feature would do it; this example keeps the
/// build lean).
fn pem(label: &str, der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in der.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            b64.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out + &format!("-----END {label}-----\n")
}
