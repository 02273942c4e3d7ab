//! Input refused before any packet, on every way to connect: a zero
//! `connect_timeout` or `attempt_timeout`, a port 0 anywhere in a list of
//! addresses, and (with `hyper`) a URI whose port is not a port. Each case
//! runs against a loopback listener that must never see a connection.

mod support;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use support::untouched_listener;
use tokio_endpoints::tokio_util::codec::BytesCodec;
use tokio_endpoints::{ConnectError, ConnectErrorKind, ConnectionBuilder, Connector};

type Call = Pin<Box<dyn Future<Output = Result<(), ConnectError>>>>;

/// Every finishing call of a builder, and of a connector configured the
/// same way: the plain and TLS connects, the streams, the framed variants.
fn every_call(
    builder: impl Fn() -> ConnectionBuilder,
    connector: impl Fn() -> Connector,
    target: Vec<SocketAddr>,
) -> Vec<(&'static str, Call)> {
    let t = || target.clone();
    vec![
        ("connect", Box::pin(ok(builder().connect()))),
        ("connect_tls", Box::pin(ok(builder().connect_tls()))),
        ("open_connection", Box::pin(ok(builder().open_connection()))),
        (
            "open_connection_tls",
            Box::pin(ok(builder().open_connection_tls())),
        ),
        (
            "connect_framed",
            Box::pin(ok(builder().connect_framed(BytesCodec::new()))),
        ),
        (
            "connect_tls_framed",
            Box::pin(ok(builder().connect_tls_framed(BytesCodec::new()))),
        ),
        ("Connector::connect", Box::pin(ok(connector().connect(t())))),
        (
            "Connector::connect_tls",
            Box::pin(ok(connector().connect_tls(t()))),
        ),
    ]
}

async fn ok<T>(call: impl Future<Output = Result<T, ConnectError>>) -> Result<(), ConnectError> {
    call.await.map(drop)
}

async fn assert_refused(calls: Vec<(&'static str, Call)>, expected: &str) {
    for (name, call) in calls {
        let err = call.await.expect_err(name);
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{name}: {err}");
        assert!(
            err.to_string().contains(expected),
            "{name}: {err} should say {expected:?}"
        );
        assert!(err.attempts().is_empty(), "{name}: {err:?}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }
}

#[tokio::test]
async fn zero_timeouts_are_refused_before_any_packet() {
    let (addr, untouched) = untouched_listener();
    for option in ["connect_timeout", "attempt_timeout"] {
        let set_b = |b: ConnectionBuilder| match option {
            "connect_timeout" => b.connect_timeout(Duration::ZERO),
            _ => b.attempt_timeout(Duration::ZERO),
        };
        let set_c = |c: Connector| match option {
            "connect_timeout" => c.connect_timeout(Duration::ZERO),
            _ => c.attempt_timeout(Duration::ZERO),
        };
        let calls = every_call(
            || set_b(ConnectionBuilder::new(addr)),
            || set_c(Connector::new()),
            vec![addr],
        );
        let expected = format!("{option} must be greater than zero (None means no bound)");
        assert_refused(calls, &expected).await;
    }
    untouched();
}

#[tokio::test]
async fn nonzero_and_no_timeouts_still_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for timeout in [None, Some(Duration::from_secs(5))] {
        ConnectionBuilder::new(addr)
            .connect_timeout(timeout)
            .attempt_timeout(timeout)
            .connect()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_zero_server_tls_handshake_timeout_is_refused() {
    use tokio_endpoints::{ServerBuilder, ServerErrorKind};
    let ca = support::Ca::new("review");
    for option in ["tls_handshake_timeout", "tls_shutdown_timeout"] {
        let config = ca.leaf(&["localhost"]).server_config(&[]);
        let b = ServerBuilder::new("127.0.0.1:0").tls_config(config);
        let b = match option {
            "tls_handshake_timeout" => b.tls_handshake_timeout(Duration::ZERO),
            _ => b.tls_shutdown_timeout(Duration::ZERO),
        };
        let err = b.bind_tls().await.unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains(&format!(
                "{option} must be greater than zero (None means no bound)"
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn port_0_anywhere_in_a_list_is_refused_before_any_packet() {
    let (addr, untouched) = untouched_listener();
    // The listener first: a race would connect to it, then try port 0.
    let zero: SocketAddr = "[::1]:0".parse().unwrap();
    for list in [vec![addr, zero], vec![zero, addr]] {
        let calls = every_call(
            || ConnectionBuilder::new(list.clone()).happy_eyeballs(Duration::ZERO),
            || Connector::new().happy_eyeballs(Duration::ZERO),
            list.clone(),
        );
        assert_refused(calls, "port 0 is not a destination port ([::1]:0)").await;
    }
    // A host name with port 0 reads as it did.
    let err = ConnectionBuilder::new("localhost:0")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert!(err.to_string().contains("port 0 is not a destination port"));
    untouched();
}

#[tokio::test]
async fn datagram_remote_port_0_anywhere_in_a_list_is_refused() {
    use tokio_endpoints::{DatagramBuilder, DatagramErrorKind};
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let good = peer.local_addr().unwrap();
    let zero: SocketAddr = "[::1]:0".parse().unwrap();
    for list in [vec![good, zero], vec![zero, good]] {
        let err = DatagramBuilder::new()
            .remote_addr(list)
            .bind()
            .await
            .expect_err("a remote list with port 0");
        assert_eq!(err.kind(), DatagramErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string()
                .contains("remote_addr port 0 is not a destination port ([::1]:0)"),
            "{err}"
        );
        assert!(err.attempts().is_empty(), "{err:?}");
    }
}

/// A port the `http` crate parses but cannot read (it reports no port)
/// must not become 80 or 443.
#[tokio::test]
async fn hyper_uris_with_a_port_that_is_no_port_are_refused() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tower_service::Service;

    #[derive(Clone, Debug, Default)]
    struct Counting(Arc<AtomicUsize>);
    impl tokio_endpoints::Resolve for Counting {
        fn resolve(&self, _: &str, _: tokio_endpoints::Family) -> tokio_endpoints::Addrs {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(futures::stream::empty())
        }
    }
    let counting = Counting::default();
    let mut connector = Connector::new().resolver(counting.clone());
    for (uri, port) in [
        ("http://127.0.0.1:99999/", "99999"),
        ("https://127.0.0.1:8o80/", "8o80"),
        ("http://[::1]:65536/", "65536"),
        ("http://example.test:99999/", "99999"),
        ("https://example.test:8o80/", "8o80"),
    ] {
        let uri: http::Uri = uri.parse().expect("the http crate accepts it");
        assert_eq!(uri.port_u16(), None, "{uri}");
        let err = connector.call(uri.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{uri}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&uri.to_string())
                && text.contains(&format!("port \"{port}\" is not a port number")),
            "{uri}: {err}"
        );
        assert!(err.attempts().is_empty(), "{uri}: {err:?}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        0,
        "no resolver was asked"
    );
}

/// Durations too long to add to the clock mean "no bound": never a panic
/// ("overflow when adding duration to instant"), on the builder and the
/// connector, for the connect and the TLS timeouts and the stagger delay.
#[tokio::test]
async fn huge_durations_mean_no_bound_and_never_panic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        for _ in 0..3 {
            let _ = listener.accept().await;
        }
    });
    let huge = Duration::MAX;
    let list = vec![addr, addr];
    ConnectionBuilder::new(list.clone())
        .connect_timeout(huge)
        .attempt_timeout(huge)
        .happy_eyeballs(huge)
        .connect()
        .await
        .unwrap();
    tokio_endpoints::Connector::new()
        .connect_timeout(huge)
        .happy_eyeballs(huge)
        .connect(list)
        .await
        .unwrap();
    let resolver = tokio_endpoints::HickoryResolver::system().resolution_delay(huge);
    ConnectionBuilder::new(("localhost", addr.port()))
        .resolver(resolver)
        .family(tokio_endpoints::Family::V4)
        .connect_timeout(huge)
        .connect()
        .await
        .unwrap();
    accept.await.unwrap();
}
