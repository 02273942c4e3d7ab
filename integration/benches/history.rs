//! A connector that learns: 200 new connections (hyper-util's `Client`,
//! pooling off) to a host whose IPv6 path is blackholed (`[::1]` listening
//! with a full backlog, `127.0.0.1` serving HTTP on the same port), side by
//! side in one run:
//!
//! * `Connector` (history on, the default): the first connection pays the
//!   250 ms stagger delay, the others start with the address that won;
//! * `Connector` with `.history(false)`: every connection pays the delay;
//! * hyper-util's `HttpConnector` (its 300 ms happy eyeballs timeout):
//!   every connection pays it.
//!
//! `cargo bench -p tokio-endpoints-integration --bench history`

// Shared with the root package's benches.
#[path = "../../benches/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio_endpoints::{Connector, Resolver};

const CONNECTIONS: usize = 200;
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// `127.0.0.1:port` serving HTTP, `[::1]:port` dropping SYNs (backlog 0,
/// one connection held unaccepted). The sockets it returns keep it so.
fn dual_stack_blackholed_v6() -> (std::net::TcpListener, Socket, Socket, u16) {
    for _ in 0..100 {
        let v4 = std::net::TcpListener::bind((V4, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        v6.set_only_v6(true).unwrap();
        if v6.bind(&SocketAddr::new(V6, port).into()).is_err() {
            continue;
        }
        v6.listen(0).unwrap();
        let held = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        held.connect(&SocketAddr::new(V6, port).into()).unwrap();
        return (v4, v6, held, port);
    }
    panic!("no port free on both families");
}

async fn total<C>(client: &Client<C, Empty<Bytes>>, uri: &Uri) -> Duration
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let t0 = Instant::now();
    for _ in 0..CONNECTIONS {
        let response = client.get(uri.clone()).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    t0.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (v4, _v6, _held, port) = dual_stack_blackholed_v6();
        v4.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(v4).unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hello))
                        .await;
                });
            }
        });
        let uri: Uri = format!("http://dual.test:{port}/").parse().unwrap();
        let resolver = Resolver::fixed([("dual.test", [V6, V4])]);
        let client = |connector: Connector| {
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build::<_, Empty<Bytes>>(connector)
        };
        let learning = client(Connector::new().resolver(resolver.clone()));
        let forgetting = client(Connector::new().resolver(resolver).history(false));
        let dns = support::FixedDns(vec![SocketAddr::new(V6, port), SocketAddr::new(V4, port)]);
        let mut http = HttpConnector::new_with_resolver(dns);
        http.set_nodelay(true);
        let theirs = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build::<_, Empty<Bytes>>(http);

        let ours = total(&learning, &uri).await;
        let off = total(&forgetting, &uri).await;
        let hyper_util = total(&theirs, &uri).await;
        // Once more, history warm: what a long-running client sees.
        let warm = total(&learning, &uri).await;
        println!(
            "{CONNECTIONS} new connections (hyper-util Client, pooling off) to a host whose \
             IPv6 is blackholed, in total:"
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{:<44} {:>10} {:>10}", "", "total", "faster");
        for (name, d) in [
            ("Connector (history, first connect included)", ours),
            ("Connector (history warm)", warm),
            ("Connector .history(false)", off),
            ("hyper-util HttpConnector", hyper_util),
        ] {
            println!(
                "{name:<44} {:>7.0} ms {:>9.1}x",
                ms(d),
                hyper_util.as_secs_f64() / d.as_secs_f64()
            );
        }
        println!(
            "ours with history against HttpConnector: {:.1}x faster (target >= 50x)",
            hyper_util.as_secs_f64() / ours.as_secs_f64()
        );
    });
}
