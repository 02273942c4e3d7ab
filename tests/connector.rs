//! Connector: options as on ConnectionBuilder, sharing between tasks.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{Blackhole, V4, V6};
use tokio::net::TcpListener;
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Connector, Family};

#[test]
fn connector_is_clone_send_sync_static_debug_default() {
    fn assert<T: Clone + Send + Sync + 'static + std::fmt::Debug + Default>() {}
    assert::<Connector>();
    let c = Connector::new().nodelay(false);
    let text = format!("{c:?}");
    assert!(text.starts_with("Connector"), "{text}");
    assert!(text.contains("nodelay: false"), "{text}");
}

async fn listener(ip: IpAddr) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// The same option on a builder and on a connector gives the same result.
#[tokio::test]
async fn options_behave_as_on_the_builder() {
    let (_l6, a6) = listener(V6).await;
    let (_l4, a4) = listener(V4).await;
    let both_v4 = vec![a6, a4];

    // family
    let b = ConnectionBuilder::new(both_v4.clone())
        .family(Family::V4)
        .connect()
        .await
        .unwrap();
    let c = Connector::new()
        .family(Family::V4)
        .connect(both_v4.clone())
        .await
        .unwrap();
    assert_eq!(b.peer_addr().unwrap(), a4);
    assert_eq!(c.peer_addr().unwrap(), a4);

    // local_addr: only addresses of its family are tried
    let b = ConnectionBuilder::new(both_v4.clone())
        .local_addr(V4)
        .connect()
        .await
        .unwrap();
    let c = Connector::new()
        .local_addr(V4)
        .connect(both_v4.clone())
        .await
        .unwrap();
    assert_eq!(b.local_addr().unwrap().ip(), V4);
    assert_eq!(c.local_addr().unwrap().ip(), V4);

    // nodelay
    let b = ConnectionBuilder::new(a6)
        .nodelay(false)
        .connect()
        .await
        .unwrap();
    let c = Connector::new().nodelay(false).connect(a6).await.unwrap();
    assert!(!b.nodelay().unwrap());
    assert!(!c.nodelay().unwrap());
    let c = Connector::new().connect(a6).await.unwrap();
    assert!(c.nodelay().unwrap(), "the default is TCP_NODELAY on");

    // connect_timeout on a blackholed path
    let hole = Blackhole::new(V4);
    let t = Duration::from_millis(200);
    let b = ConnectionBuilder::new(hole.addr)
        .connect_timeout(t)
        .connect()
        .await
        .unwrap_err();
    let c = Connector::new()
        .connect_timeout(t)
        .connect(hole.addr)
        .await
        .unwrap_err();
    assert_eq!(b.kind(), ConnectErrorKind::TimedOut);
    assert_eq!(c.kind(), ConnectErrorKind::TimedOut);

    // bad input is refused by each call, with the same message
    let b = ConnectionBuilder::new(a6)
        .local_addr(Vec::<IpAddr>::new())
        .connect()
        .await
        .unwrap_err();
    let c = Connector::new()
        .local_addr(Vec::<IpAddr>::new())
        .connect(a6)
        .await
        .unwrap_err();
    assert_eq!(b.kind(), ConnectErrorKind::InvalidInput);
    assert_eq!(b.to_string(), c.to_string());
}

#[tokio::test]
async fn setters_on_a_clone_leave_the_original_alone() {
    let (_l, a4) = listener(V4).await;
    let one = Connector::new();
    let two = one.clone().nodelay(false);
    assert!(one.connect(a4).await.unwrap().nodelay().unwrap());
    assert!(!two.connect(a4).await.unwrap().nodelay().unwrap());
}

#[tokio::test]
async fn builder_carries_the_options_and_allows_per_call_changes() {
    let (_l, a4) = listener(V4).await;
    let connector = Connector::new().nodelay(false);
    let s = connector.builder(a4).connect().await.unwrap();
    assert!(!s.nodelay().unwrap());
    let s = connector.builder(a4).nodelay(true).connect().await.unwrap();
    assert!(s.nodelay().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_connect_through_one_connector_at_once() {
    let (l, a4) = listener(V4).await;
    let accepts = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..64 {
            held.push(l.accept().await.unwrap().0);
        }
        held.len()
    });
    let connector = Connector::new().connect_timeout(Duration::from_secs(5));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let c = connector.clone();
            tokio::spawn(async move { c.connect(a4).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().peer_addr().unwrap(), a4);
    }
    assert_eq!(accepts.await.unwrap(), 64);
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_options_serve_connect_tls_and_are_ignored_by_connect() {
    let (_l, a4) = listener(V4).await;
    let connector = Connector::new().alpn(["h2"]);
    // A plain connect through a connector with TLS options is fine...
    connector.connect(a4).await.unwrap();
    // ...while the builder keeps refusing TLS options given to it.
    let e = ConnectionBuilder::new(a4)
        .alpn(["h2"])
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
    // A bad TLS option on the connector is reported by connect_tls.
    let e = Connector::new()
        .tls_handshake_timeout(Duration::ZERO)
        .connect_tls(a4)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
    assert!(e.to_string().contains("tls_handshake_timeout"), "{e}");
}

/// The `Debug` of a builder and of a connector shows their TLS options
/// (readably: not the `ClientConfig`'s own dump), so a log of either says
/// how connections will be made.
#[cfg(feature = "tls")]
#[test]
fn debug_shows_the_tls_options() {
    let config = tokio_endpoints::rustls::ClientConfig::builder_with_provider(
        tokio_endpoints::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(tokio_endpoints::rustls::RootCertStore::empty())
    .with_no_client_auth();
    let connector = Connector::new()
        .tls_config(std::sync::Arc::new(config))
        .alpn(["h2", "http/1.1"])
        .tls_handshake_timeout(Duration::from_secs(7));
    for debug in [
        format!("{connector:?}"),
        format!("{:?}", connector.builder("example.com:443")),
    ] {
        assert!(debug.contains("tls_config: \"given\""), "{debug}");
        assert!(debug.contains("\"h2\", \"http/1.1\""), "{debug}");
        assert!(
            debug.contains("tls_handshake_timeout: Ok(Some(7s))"),
            "{debug}"
        );
        assert!(!debug.contains("ClientConfig"), "{debug}");
    }
    let plain = format!("{:?}", ConnectionBuilder::new("example.com:443"));
    assert!(plain.contains("tls_config: \"default\""), "{plain}");
}

/// A resolver whose answer is empty at once, counting how often it is asked.
#[derive(Debug, Default)]
struct Empty(std::sync::atomic::AtomicUsize);

impl tokio_endpoints::Resolve for Empty {
    fn resolve(&self, _host: &str, _family: tokio_endpoints::Family) -> tokio_endpoints::Addrs {
        use futures::StreamExt;
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        futures::stream::empty().boxed()
    }
}

#[tokio::test]
async fn a_resolver_that_answers_nothing_is_asked_once() {
    let resolver = std::sync::Arc::new(Empty::default());
    let shared = tokio_endpoints::Resolver::new(ArcResolve(resolver.clone()));
    let e = tokio_endpoints::ConnectionBuilder::new("nothing.test:80")
        .resolver(shared)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), tokio_endpoints::ConnectErrorKind::Resolve, "{e}");
    assert!(e.attempts().is_empty());
    assert_eq!(resolver.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Lets the test keep a handle on the resolver it gives away.
#[derive(Debug)]
struct ArcResolve(std::sync::Arc<Empty>);

impl tokio_endpoints::Resolve for ArcResolve {
    fn resolve(&self, host: &str, family: tokio_endpoints::Family) -> tokio_endpoints::Addrs {
        self.0.resolve(host, family)
    }
}
