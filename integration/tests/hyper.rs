//! `Connector` as hyper-util's connector: a real hyper server on loopback,
//! HTTP/1.1 over TCP and HTTP/2 over TLS (rcgen certificate, ALPN h2),
//! pooling, fallback from a blackholed address, bad URIs, and errors.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
#[path = "../../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{dual_stack_blackholed_v6, refused, V4, V6};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use support::Ca;
use tokio::net::TcpListener;
use tokio_endpoints::rustls::ServerConfig;
use tokio_endpoints::{
    ConnectError, ConnectErrorKind, Connector, HttpConnecting, HttpInfo, HttpStream, Resolver,
};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// The bounds of tonic's `Endpoint::connect_with_connector` (tonic 0.12 to
/// 0.14), and hyper-util's `Client::build`, checked at compile time.
#[test]
fn connector_meets_the_bounds_of_tonic_and_hyper_util() {
    fn tonic<C>(_: C)
    where
        C: Service<Uri> + Send + 'static,
        C::Response: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
        C::Future: Send + 'static,
        Box<dyn StdError + Send + Sync>: From<C::Error> + Send,
    {
    }
    fn hyper_util<C>(_: C)
    where
        C: Service<Uri> + Clone + Send + Sync + 'static,
        C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
        C::Future: Unpin + Send + 'static,
        C::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
    }
    tonic(Connector::new());
    hyper_util(Connector::new());
    fn send_sync<T: Send + Sync + Unpin + 'static>() {}
    send_sync::<HttpStream>();
    send_sync::<HttpInfo>();
    fn send<T: Send + Unpin + 'static>() {}
    send::<HttpConnecting>();
}

/// A hyper server (HTTP/1.1 and HTTP/2) that answers "<version> <path>"
/// and counts the connections it accepted.
struct Server {
    accepts: Arc<AtomicUsize>,
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("{:?} {}", req.version(), req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

impl Server {
    fn start(listener: TcpListener, tls: Option<Arc<ServerConfig>>) -> Server {
        let accepts = Arc::new(AtomicUsize::new(0));
        let count = accepts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let service = hyper::service::service_fn(hello);
                    match tls {
                        Some(config) => {
                            let Ok(stream) = TlsAcceptor::from(config).accept(tcp).await else {
                                return;
                            };
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Server { accepts }
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

async fn listener(ip: IpAddr) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

async fn body(response: Response<Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn client(connector: Connector) -> Client<Connector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build(connector)
}

#[tokio::test]
async fn http1_over_tcp_with_pooling() {
    let (l, addr) = listener(V4).await;
    let server = Server::start(l, None);
    let client = client(Connector::new());
    for path in ["/a", "/b", "/c"] {
        let uri: Uri = format!("http://{addr}{path}").parse().unwrap();
        let response = client.get(uri).await.unwrap();
        let info = response.extensions().get::<HttpInfo>().unwrap().clone();
        assert_eq!(info.remote_addr(), Some(addr));
        assert_eq!(info.local_addr().ip(), V4);
        assert!(!info.is_tls());
        assert_eq!(body(response).await, format!("HTTP/1.1 {path}"));
    }
    assert_eq!(server.accepts(), 1, "the pooled connection is reused");
}

#[tokio::test]
async fn http2_over_tls_through_alpn() {
    let ca = Ca::new("hyper test CA");
    let server_config = ca
        .leaf(&["localhost", "::1"])
        .server_config(&["h2", "http/1.1"]);
    let (l, addr) = listener(V6).await;
    let server = Server::start(l, Some(server_config));
    let connector = Connector::new()
        .tls_config(ca.client_config())
        .alpn(["h2", "http/1.1"])
        .resolver(Resolver::fixed([("localhost", vec![V6])]));
    let client = client(connector.clone());
    for path in ["/x", "/y"] {
        // By name: verified for "localhost".
        let uri: Uri = format!("https://localhost:{}{path}", addr.port())
            .parse()
            .unwrap();
        let response = client.get(uri).await.unwrap();
        assert!(response.extensions().get::<HttpInfo>().unwrap().is_tls());
        assert_eq!(body(response).await, format!("HTTP/2.0 {path}"));
    }
    // By IPv6 address: verified as an IP address.
    let uri: Uri = format!("https://[::1]:{}/ip", addr.port()).parse().unwrap();
    let response = client.get(uri).await.unwrap();
    assert_eq!(body(response).await, "HTTP/2.0 /ip");
    // One connection for the name, one for the address (hyper-util pools by
    // scheme and authority).
    assert_eq!(server.accepts(), 2);

    // Without ALPN, HTTP/1.1 over TLS.
    let stream = Connector::new()
        .tls_config(ca.client_config())
        .call(format!("https://[::1]:{}/", addr.port()).parse().unwrap())
        .await
        .unwrap();
    assert!(!stream.is_h2());
    assert!(!stream.connected().is_negotiated_h2());
    let mut c = connector;
    let stream = c
        .call(format!("https://[::1]:{}/", addr.port()).parse().unwrap())
        .await
        .unwrap();
    assert!(stream.is_h2());
    assert!(stream.connected().is_negotiated_h2());
}

#[tokio::test]
async fn a_blackholed_first_address_falls_back() {
    let (l4, hole, port) = dual_stack_blackholed_v6();
    let server = Server::start(l4, None);
    let connector = Connector::new()
        .happy_eyeballs(Duration::from_millis(50))
        .resolver(Resolver::fixed([("dual.test", vec![V6, V4])]));
    let client = client(connector);
    let started = std::time::Instant::now();
    let uri: Uri = format!("http://dual.test:{port}/fallback").parse().unwrap();
    let response = client.get(uri).await.unwrap();
    assert_eq!(
        response
            .extensions()
            .get::<HttpInfo>()
            .unwrap()
            .remote_addr(),
        Some(SocketAddr::new(V4, port))
    );
    assert_eq!(body(response).await, "HTTP/1.1 /fallback");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.accepts(), 1);
    drop(hole);
}

#[tokio::test]
async fn bad_uris_are_refused_before_anything_is_sent() {
    let calls = Arc::new(AtomicUsize::new(0));
    #[derive(Debug)]
    struct Counting(Arc<AtomicUsize>);
    impl tokio_endpoints::Resolve for Counting {
        fn resolve(&self, _: &str, _: tokio_endpoints::Family) -> tokio_endpoints::Addrs {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(futures::stream::empty())
        }
    }
    let mut connector = Connector::new().resolver(Counting(calls.clone()));
    let cases = [
        ("ftp://example.test/", "ftp"),
        ("/just/a/path", "no scheme"),
        ("http://example.test:0/", "port 0"),
        ("https://example.test:0/", "port 0"),
        ("http://[::1]:0/", "port 0"),
    ];
    for (uri, why) in cases {
        let uri: Uri = uri.parse().unwrap();
        let e = connector.call(uri.clone()).await.unwrap_err();
        assert_eq!(e.kind(), ConnectErrorKind::InvalidInput, "{uri}");
        assert!(e.to_string().contains(why), "{uri}: {e}");
    }
    // A URI without a host (scheme and path only) cannot be parsed by
    // `http`; build one from parts.
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some("/x".parse().unwrap());
    let no_host = Uri::from_parts(parts).unwrap();
    let e = connector.call(no_host).await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no resolver was asked");
}

#[tokio::test]
async fn client_errors_keep_our_connect_error_in_their_source_chain() {
    let closed = refused(V4);
    let client = client(Connector::new().all_errors(true));
    let uri: Uri = format!("http://{closed}/").parse().unwrap();
    let e = client.get(uri).await.unwrap_err();
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    let mut found = None;
    while let Some(err) = source {
        if let Some(ours) = err.downcast_ref::<ConnectError>() {
            found = Some(ours);
            break;
        }
        source = err.source();
    }
    let ours = found.expect("our ConnectError in the chain");
    assert_eq!(ours.kind(), ConnectErrorKind::AllAttemptsFailed);
    assert_eq!(ours.attempts().len(), 1);
    assert_eq!(ours.attempts()[0].addr(), closed);
    assert!(e.is_connect());
}
