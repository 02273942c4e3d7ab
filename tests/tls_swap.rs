//! Swapping a server's TLS configuration without a restart: handshakes
//! after the swap use the new certificate, open connections are
//! untouched, and 1,000 handshakes during swaps lose none.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::Ca;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_endpoints::rustls::pki_types::CertificateDer;
use tokio_endpoints::{ConnectionBuilder, ServerBuilder, ServerErrorKind};

async fn client(ca: &Ca, to: SocketAddr) -> tokio_endpoints::TlsStream {
    ConnectionBuilder::new(to)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_or_else(|e| panic!("connect_tls: {e}"))
}

fn served(stream: &tokio_endpoints::TlsStream) -> CertificateDer<'static> {
    stream.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn tls_listener_swap_applies_to_the_next_handshake() {
    let ca = Ca::new("test CA");
    let (a, b) = (ca.leaf(&["localhost"]), ca.leaf(&["localhost"]));
    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(a.server_config(&[]))
        .bind_tls()
        .await
        .unwrap();
    let to = listener.local_addrs()[0];
    let (mut old, accepted) = tokio::join!(client(&ca, to), listener.accept());
    let (mut old_server, _) = accepted.unwrap();
    assert_eq!(served(&old), a.chain[0]);

    listener.set_tls_config(b.server_config(&[]));
    let (new, accepted) = tokio::join!(client(&ca, to), listener.accept());
    accepted.unwrap();
    assert_eq!(served(&new), b.chain[0]);

    // The connection opened before the swap is untouched.
    old.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    old_server.read_exact(&mut buf).await.unwrap();
    old_server.write_all(&buf).await.unwrap();
    old.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(listener.handshake_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_under_1000_handshakes_loses_none() {
    const CLIENTS: usize = 8;
    const EACH: usize = 125;
    let ca = Arc::new(Ca::new("test CA"));
    let (a, b) = (ca.leaf(&["localhost"]), ca.leaf(&["localhost"]));
    let (config_a, config_b) = (a.server_config(&[]), b.server_config(&[]));
    let server = Arc::new(
        ServerBuilder::new("127.0.0.1:0")
            .tls_config(config_a.clone())
            .serve_tls(|mut stream, _| async move {
                let _ = stream.write_all(b"ok").await;
                let _ = stream.shutdown().await;
            })
            .await
            .unwrap(),
    );
    let to = server.local_addrs()[0];

    // A connection open across every swap.
    let mut long_lived = client(&ca, to).await;
    let mut buf = [0; 2];
    long_lived.read_exact(&mut buf).await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (server, done) = (server.clone(), done.clone());
        tokio::spawn(async move {
            let mut swaps = 0u32;
            while !done.load(Ordering::Relaxed) {
                let next = if swaps.is_multiple_of(2) {
                    &config_b
                } else {
                    &config_a
                };
                server.set_tls_config(next.clone()).unwrap();
                swaps += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            swaps
        })
    };
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let ca = ca.clone();
        clients.push(tokio::spawn(async move {
            let mut certs = Vec::with_capacity(EACH);
            for _ in 0..EACH {
                let mut c = client(&ca, to).await;
                let mut said = Vec::new();
                c.read_to_end(&mut said).await.unwrap();
                assert_eq!(said, b"ok");
                certs.push(served(&c));
            }
            certs
        }));
    }
    let mut certs = Vec::new();
    for c in clients {
        certs.extend(c.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let swaps = swapper.await.unwrap();
    assert_eq!(certs.len(), CLIENTS * EACH);
    let with_a = certs.iter().filter(|c| **c == a.chain[0]).count();
    let with_b = certs.iter().filter(|c| **c == b.chain[0]).count();
    println!(
        "{} handshakes, {swaps} swaps: {with_a} with A, {with_b} with B",
        certs.len()
    );
    assert_eq!(with_a + with_b, certs.len());
    assert!(with_a > 0 && with_b > 0, "both certificates were served");
    assert_eq!(server.tls_handshake_failures(), 0);
    // The long-lived connection saw none of it.
    assert_eq!(long_lived.read(&mut buf).await.unwrap(), 0); // close_notify after "ok"
    assert_eq!(served(&long_lived), a.chain[0]);
}

#[tokio::test]
async fn a_plain_server_refuses_a_swap_with_an_error() {
    let ca = Ca::new("test CA");
    let server = ServerBuilder::new("127.0.0.1:0")
        .serve(|_, _| async {})
        .await
        .unwrap();
    let err = server
        .set_tls_config(ca.leaf(&["localhost"]).server_config(&[]))
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(err.to_string().contains("does not serve TLS"), "{err}");
    assert!(err.to_string().contains("set_tls_config"), "{err}");
    let err = server
        .reload_tls_pem_files("cert.pem", "key.pem")
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(err.to_string().contains("reload_tls_pem_files"), "{err}");
    assert!(server.is_serving());
}
