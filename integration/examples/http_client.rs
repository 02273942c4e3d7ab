//! hyper-util's `Client` on a `Connector`, offline: a hyper server on
//! loopback whose IPv6 side is blackholed (the first address a client
//! tries), fetched over HTTP/1.1 and over HTTPS with HTTP/2 chosen by ALPN
//! (a certificate generated here). The timeline shows Happy Eyeballs
//! falling back to IPv4 after 250 ms, and the pooled connection answering
//! the next request at once.
//!
//! ```text
//! cargo run -p tokio-endpoints-integration --example http_client
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio_endpoints::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_endpoints::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_endpoints::{Connector, HttpInfo, Resolver};
use tokio_rustls::TlsAcceptor;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let at = move || format!("{:>7.1} ms", start.elapsed().as_secs_f64() * 1000.0);

    // A private CA, and a certificate for "app.test" signed by it.
    let (server_tls, client_tls) = certificates()?;

    // Two servers on 127.0.0.1 (plain and TLS), each with the same port
    // blackholed on [::1]: a listener with a full accept queue, so SYNs
    // are dropped, as on a broken IPv6 path.
    let (plain, _hole1, plain_port) = dual_stack_blackholed_v6()?;
    let (secure, _hole2, tls_port) = dual_stack_blackholed_v6()?;
    serve(plain, None);
    serve(secure, Some(server_tls));

    // "app.test" resolves to [::1] first, then 127.0.0.1.
    let connector = Connector::new()
        .resolver(Resolver::fixed([("app.test", vec![V6, V4])]))
        .tls_config(client_tls)
        .alpn(["h2", "http/1.1"]);
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);

    println!("{} start", at());
    for (scheme, port) in [("http", plain_port), ("https", tls_port)] {
        for path in ["/first", "/second"] {
            let uri = format!("{scheme}://app.test:{port}{path}").parse()?;
            println!("{} GET {uri}", at());
            let response = client.get(uri).await?;
            let info = response
                .extensions()
                .get::<HttpInfo>()
                .expect("our HttpInfo")
                .clone();
            let version = response.version();
            let body = response.into_body().collect().await?.to_bytes();
            println!(
                "{} {version:?} from {:?} (tls: {}): {}",
                at(),
                info.remote_addr(),
                info.is_tls(),
                String::from_utf8_lossy(&body)
            );
        }
    }
    Ok(())
}

/// Serves "hello from <path>" over HTTP/1.1 or HTTP/2 (TLS with ALPN).
fn serve(listener: TcpListener, tls: Option<Arc<ServerConfig>>) {
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let body = format!("hello from {}", req.uri().path());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = match tls {
                    Some(config) => match TlsAcceptor::from(config).accept(tcp).await {
                        Ok(stream) => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Err(_) => return,
                    },
                    None => builder.serve_connection(TokioIo::new(tcp), service).await,
                };
            });
        }
    });
}

/// A listener on [::1] with a full accept queue, and the connection that
/// fills it: SYNs to it are dropped while both are open.
type Blackhole = (Socket, Socket);

/// A listener on 127.0.0.1 and the same port blackholed on [::1].
fn dual_stack_blackholed_v6() -> Result<(TcpListener, Blackhole, u16), Box<dyn Error>> {
    for _ in 0..100 {
        let v4 = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = v4.local_addr()?.port();
        let addr = SocketAddr::new(V6, port);
        let v6 = Socket::new(Domain::IPV6, Type::STREAM, None)?;
        v6.set_only_v6(true)?;
        if v6.bind(&addr.into()).is_err() {
            continue;
        }
        v6.listen(0)?;
        let held = Socket::new(Domain::IPV6, Type::STREAM, None)?;
        held.connect(&addr.into())?;
        v4.set_nonblocking(true)?;
        return Ok((TcpListener::from_std(v4)?, (v6, held), port));
    }
    Err("no port free on both families".into())
}

fn certificates() -> Result<(Arc<ServerConfig>, Arc<ClientConfig>), Box<dyn Error>> {
    let provider = tokio_endpoints::crypto_provider();
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "http_client CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let leaf =
        CertificateParams::new(vec!["app.test".to_string()])?.signed_by(&leaf_key, &ca, &ca_key)?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client)))
}
