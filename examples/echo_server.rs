//! An echo server on `localhost` (both `::1` and `127.0.0.1`, one port),
//! built with `ServerBuilder::serve_streams` (asyncio's `start_server`),
//! and a client that talks to it over each address, then a graceful
//! shutdown. With `--tls`, the same over TLS with a certificate generated
//! on the spot (rcgen), served by `serve_tls`. Runs offline:
//!
//! ```text
//! cargo run --example echo_server
//! cargo run --example echo_server -- --tls
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::{ConnectionBuilder, Server, ServerBuilder};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let tls = std::env::args().any(|a| a == "--tls");
    let (server, client_config) = if tls {
        let (client, server) = generated_configs();
        (serve_tls(server).await?, Some(client))
    } else {
        (serve().await?, None)
    };
    println!("echo server on {:?}", server.local_addrs());

    for addr in server.local_addrs() {
        let line = format!("hello over {addr}\n");
        let reply = match &client_config {
            None => {
                let (mut reader, mut writer) =
                    ConnectionBuilder::new(addr).open_connection().await?;
                writer.write_all(line.as_bytes()).await?;
                let mut reply = String::new();
                reader.read_line(&mut reply).await?;
                writer.close().await?;
                reply
            }
            Some(config) => {
                let mut stream = ConnectionBuilder::new(addr)
                    .server_name("localhost")
                    .tls_config(config.clone())
                    .connect_tls()
                    .await?;
                stream.write_all(line.as_bytes()).await?;
                let mut reply = String::new();
                BufReader::new(&mut stream).read_line(&mut reply).await?;
                println!(
                    "  {:?}, peer {}",
                    stream.protocol_version(),
                    stream.peer_addr()?
                );
                stream.shutdown().await?;
                reply
            }
        };
        println!("  sent {line:?}, got back {reply:?}");
        assert_eq!(reply, line);
    }

    // Stop accepting, give the handlers a second, abort the rest.
    server.shutdown(Duration::from_secs(1)).await;
    println!("server shut down");
    Ok(())
}

/// `asyncio.start_server(handle, "localhost", 0)`: a reader and a writer
/// per connection.
async fn serve() -> std::io::Result<Server> {
    let server = ServerBuilder::new(("localhost", 0))
        .serve_streams(|mut reader, mut writer| async move {
            let mut line = String::new();
            while let Ok(1..) = reader.read_line(&mut line).await {
                if writer.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                line.clear();
            }
            let _ = writer.close().await;
        })
        .await?;
    Ok(server)
}

/// The same over TLS: handshakes run concurrently, each bounded by 10 s.
async fn serve_tls(config: Arc<ServerConfig>) -> std::io::Result<Server> {
    let server = ServerBuilder::new(("localhost", 0))
        .tls_config(config)
        .tls_handshake_timeout(Duration::from_secs(10))
        .serve_tls(|mut stream, peer| async move {
            println!("  server: TLS from {peer}, SNI {:?}", stream.server_name());
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = stream.shutdown().await;
        })
        .await?;
    Ok(server)
}

/// A self-signed certificate for `localhost`, and a client that trusts it.
fn generated_configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let provider = tokio_endpoints::crypto_provider();
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(client), Arc::new(server))
}
