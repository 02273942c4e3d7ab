//! tonic over our `Connector`: a tonic server on loopback, on a port whose
//! `[::1]` is blackholed beside a working `127.0.0.1`, and a tonic client
//! through `Endpoint::connect_with_connector(Connector)`, over h2c and over
//! TLS with ALPN `h2`. The service is hand-written (a unary echo with a
//! bytes codec), so nothing needs protoc or generated code.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
#[path = "../../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use common::{dual_stack_blackholed_v6, V4, V6};
use support::Ca;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{Connector, Resolver};
use tokio_rustls::TlsAcceptor;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::server::Connected;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};

/// Messages are raw bytes: no protobuf, no codegen.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

const METHOD: &str = "/test.Echo/Echo";

/// The unary method: the request's bytes, prefixed with "echo: ".
struct EchoMethod;

impl tonic::server::UnaryService<Bytes> for EchoMethod {
    type Response = Bytes;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let mut out = b"echo: ".to_vec();
        out.extend_from_slice(request.get_ref());
        std::future::ready(Ok(Response::new(Bytes::from(out))))
    }
}

/// The service tonic's server runs: what generated code would be.
#[derive(Clone)]
struct EchoService;

impl tower_service::Service<http::Request<tonic::body::Body>> for EchoService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if req.uri().path() != METHOD {
                return Ok(Status::unimplemented(req.uri().path().to_string()).into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(EchoMethod, req).await)
        })
    }
}

/// A TLS stream tonic's server can take (tonic's own `Connected` for
/// tokio-rustls needs its TLS features, which these tests leave off).
struct Tls(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for Tls {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// tonic's server on `listener`, plain (h2c) or behind TLS.
fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) {
    match tls {
        None => {
            let incoming = futures::stream::unfold(listener, |l| async move {
                let accepted = l.accept().await.map(|(s, _)| s);
                Some((accepted, l))
            });
            tokio::spawn(Server::builder().serve_with_incoming(EchoService, incoming));
        }
        Some(acceptor) => {
            let incoming = futures::stream::unfold(listener, move |l| {
                let acceptor = acceptor.clone();
                async move {
                    let accepted = match l.accept().await {
                        Ok((tcp, _)) => acceptor.accept(tcp).await.map(Tls),
                        Err(e) => Err(e),
                    };
                    Some((accepted, l))
                }
            });
            tokio::spawn(Server::builder().serve_with_incoming(EchoService, incoming));
        }
    }
}

/// `localhost` as `[::1]` then `127.0.0.1`, whatever the machine's hosts
/// file says, so the race meets the blackholed `[::1]` first.
fn both_loopbacks() -> Resolver {
    Resolver::fixed([("localhost", vec![V6, V4])])
}

/// One unary call through a channel.
async fn echo(channel: tonic::transport::Channel, message: &'static str) -> Bytes {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(METHOD);
    grpc.unary(
        Request::new(Bytes::from_static(message.as_bytes())),
        path,
        RawCodec,
    )
    .await
    .unwrap()
    .into_inner()
}

/// h2c: `http://localhost:PORT`, `[::1]` blackholed: the race falls back
/// to 127.0.0.1 after the Happy Eyeballs delay, not the kernel's timeout.
#[tokio::test]
async fn tonic_over_h2c_with_a_blackholed_v6() {
    let (listener, _blackhole, port) = dual_stack_blackholed_v6();
    serve(listener, None);
    let connector = Connector::new()
        .happy_eyeballs(Duration::from_millis(100))
        .resolver(both_loopbacks());
    let start = Instant::now();
    let channel = Endpoint::from_shared(format!("http://localhost:{port}"))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(100),
        "[::1] was not tried first: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(echo(channel.clone(), "hello").await, "echo: hello");
    assert_eq!(echo(channel, "again").await, "echo: again");
}

/// TLS with ALPN `h2`: `https://localhost:PORT`, the certificate from a
/// test CA, `[::1]` blackholed.
#[tokio::test]
async fn tonic_over_tls_with_alpn_h2() {
    let ca = Ca::new("tonic test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (listener, _blackhole, port) = dual_stack_blackholed_v6();
    serve(
        listener,
        Some(TlsAcceptor::from(leaf.server_config(&["h2"]))),
    );
    let connector = Connector::new()
        .happy_eyeballs(Duration::from_millis(100))
        .resolver(both_loopbacks())
        .tls_config(ca.client_config())
        .alpn(["h2"]);
    let channel = Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .unwrap();
    assert_eq!(echo(channel, "over TLS").await, "echo: over TLS");
}

/// The README's tonic block, as written there (a lazy channel, so it
/// runs without a server).
#[tokio::test]
async fn the_readme_tonic_block_builds_a_channel() {
    let connector = Connector::new()
        .connect_timeout(Duration::from_secs(5))
        .tcp_keepalive(
            tokio_endpoints::socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)),
        )
        .alpn(["h2"]);
    let channel =
        Endpoint::from_static("https://grpc.example.com").connect_with_connector_lazy(connector);
    drop(channel);
}
