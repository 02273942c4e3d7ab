//! New connections through hyper-util's `Client` with pooling off (one
//! new connection per request), side by side in one run:
//!
//! 1. `https://`: our `Connector` (with `tls_config` and `alpn`) against
//!    hyper-rustls' `HttpsConnector<HttpConnector>`, the same
//!    `ClientConfig` (generated certificate, TLS 1.3, resumption off, so
//!    every request pays a full handshake) and the same ALPN list
//!    (`http/1.1`), both with `TCP_NODELAY` on.
//! 2. `http://`: our `Connector` against hyper-util's `HttpConnector`
//!    (`TCP_NODELAY` on, as ours).
//!
//! A hyper HTTP/1.1 server on 127.0.0.1 answers each request with five
//! bytes. Rounds of `REQUESTS` requests, the two clients alternating who
//! goes first; the medians of requests per second and the median of the
//! per-round ratios (ours / theirs, above 1 is ours faster).
//!
//! Run: `cargo bench -p tokio-endpoints-integration --bench hyper_clients`.

#[path = "../../benches/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{CertificateParams, KeyPair};
use support::median;
use tokio::net::TcpListener;
use tokio_endpoints::rustls::client::Resumption;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::Connector;
use tokio_rustls::TlsAcceptor;

const ROUNDS: usize = 21;
const REQUESTS: usize = 100;

fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = tokio_endpoints::crypto_provider();
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
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

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// An HTTP/1.1 server on 127.0.0.1, over TLS with `tls`.
async fn server(tls: Option<TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let http = hyper::server::conn::http1::Builder::new();
                let service = hyper::service::service_fn(hello);
                let _ = match tls {
                    Some(tls) => match tls.accept(tcp).await {
                        Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                        Err(_) => return,
                    },
                    None => http.serve_connection(TokioIo::new(tcp), service).await,
                };
            });
        }
    });
    addr
}

fn client<C>(connector: C) -> Client<C, Empty<Bytes>>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// Requests per second of one round.
async fn round<C>(client: &Client<C, Empty<Bytes>>, uri: &Uri) -> f64
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let t0 = Instant::now();
    for _ in 0..REQUESTS {
        let response = client.get(uri.clone()).await.unwrap();
        assert!(response.status().is_success());
        response.into_body().collect().await.unwrap();
    }
    REQUESTS as f64 / t0.elapsed().as_secs_f64()
}

async fn compare<A, B>(
    what: &str,
    uri: &Uri,
    ours: Client<A, Empty<Bytes>>,
    peer: &str,
    theirs: Client<B, Empty<Bytes>>,
) where
    A: Connect + Clone + Send + Sync + 'static,
    B: Connect + Clone + Send + Sync + 'static,
{
    // Warm up both (the runtime's threads, the allocator, the server).
    round(&ours, uri).await;
    round(&theirs, uri).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        if i % 2 == 0 {
            a.push(round(&ours, uri).await);
            b.push(round(&theirs, uri).await);
        } else {
            b.push(round(&theirs, uri).await);
            a.push(round(&ours, uri).await);
        }
    }
    let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
    let per_round = median(&mut ratios);
    let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
    let (a, b) = (median(&mut a), median(&mut b));
    println!(
        "{what}: hyper-util Client, pooling off, {ROUNDS} rounds of {REQUESTS} requests \
         (median requests/s)"
    );
    println!("  {:<44} {a:>9.0}/s", "tokio_endpoints::Connector");
    println!("  {peer:<44} {b:>9.0}/s");
    println!(
        "  median of per-round ratios: {per_round:.3}x (rounds {lo:.3}x to {hi:.3}x; \
         target >= 1.0x)"
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client_config, server_config) = configs();
        let tls_addr = server(Some(TlsAcceptor::from(server_config))).await;
        let uri: Uri = format!("https://{tls_addr}/").parse().unwrap();
        let ours = client(
            Connector::new()
                .tls_config(client_config.clone())
                .alpn(["http/1.1"]),
        );
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*client_config).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        compare(
            "https://",
            &uri,
            ours,
            "hyper-rustls HttpsConnector<HttpConnector>",
            client(https),
        )
        .await;

        let plain_addr = server(None).await;
        let uri: Uri = format!("http://{plain_addr}/").parse().unwrap();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        println!();
        compare(
            "http://",
            &uri,
            client(Connector::new()),
            "hyper-util HttpConnector",
            client(http),
        )
        .await;
    });
}
