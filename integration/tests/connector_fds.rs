//! No descriptor leaks through a `Connector`: cache misses (a hickory
//! resolver made per resolution), cache hits, refused and blackholed
//! addresses, and hyper-util's `Client` with pooling off.
//!
//! One test in this binary on purpose (see `tls_fds.rs`): `/proc/self/fd`
//! counts the whole process.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
#[path = "../../tests/counting_dns/mod.rs"]
mod counting_dns;

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::{open_fds, refused, Blackhole, V4};
use counting_dns::DnsServer;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_endpoints::{Connector, Family};

#[test]
fn no_descriptor_leaks_through_a_connector() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    let dns = DnsServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        let connector = Connector::new().family(Family::V4).resolver(dns.resolver());
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build::<_, Empty<Bytes>>(connector.clone());
        let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
        let settle = || tokio::time::sleep(Duration::from_millis(100));

        let round = |i: usize| {
            let connector = connector.clone();
            let client = client.clone();
            let uri = uri.clone();
            async move {
                // A miss, then hits.
                let name = format!("fd{i}.test");
                for _ in 0..3 {
                    drop(
                        connector
                            .connect((name.as_str(), addr.port()))
                            .await
                            .unwrap(),
                    );
                }
                // Refused, blackholed (timed out), a bad URI.
                let closed = refused(V4);
                assert!(connector.connect(closed).await.is_err());
                let hole = Blackhole::new(V4);
                let short = connector
                    .clone()
                    .connect_timeout(Duration::from_millis(100));
                assert!(short.connect(hole.addr).await.is_err());
                drop(hole);
                let bad: hyper::Uri = "ftp://x.test/".parse().unwrap();
                assert!(client.get(bad).await.is_err());
                // Requests, each on a new connection.
                for _ in 0..3 {
                    let response = client.get(uri.clone()).await.unwrap();
                    response.into_body().collect().await.unwrap();
                }
            }
        };
        // Warm up: anything made lazily on first use is made now.
        round(0).await;
        settle().await;
        let before = open_fds().unwrap();
        for i in 1..4 {
            round(i).await;
            settle().await;
            let after = open_fds().unwrap();
            assert_eq!(after, before, "descriptors leaked in round {i}");
        }
    });
}
