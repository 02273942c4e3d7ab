//! ConnectionBuilder on real loopback sockets (real time, no paused clock).

mod common;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{dual_stack_blackholed_v6, refused, Blackhole, V4, V6};
use futures::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{
    Addrs, ConnectError, ConnectErrorKind, ConnectionBuilder, Family, Resolve, ResolveErrorKind,
    Resolver,
};

async fn listener(ip: IpAddr) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A resolver that counts its calls, to prove bad input never reaches one.
#[derive(Debug, Default, Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    answer: Vec<IpAddr>,
}

impl Resolve for Counting {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        self.calls.fetch_add(1, Ordering::SeqCst);
        stream::iter([Ok(self.answer.clone())]).boxed()
    }
}

#[tokio::test]
async fn blackholed_ipv6_falls_back_to_ipv4_after_one_delay() {
    let (v4, _bh, port) = dual_stack_blackholed_v6();
    let resolver = Resolver::fixed([("dual.test", vec![V6, V4])]);
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(("dual.test", port))
        .resolver(resolver)
        .happy_eyeballs(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), SocketAddr::new(V4, port));
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The winner is a working connection.
    let (mut server, _) = v4.accept().await.unwrap();
    let mut stream = stream;
    stream.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

/// A plain connect starts its first attempt before any race exists, and
/// moves it into the race only once it has neither won nor failed: the
/// fallback still starts exactly one delay after the first attempt (paused
/// clock; the sockets are real), by name and by literal list.
#[tokio::test(start_paused = true)]
async fn the_fallback_starts_exactly_one_delay_after_the_first_attempt() {
    let (v4, bh, port) = dual_stack_blackholed_v6();
    let fallback = SocketAddr::new(V4, port);
    let by_name = || {
        ConnectionBuilder::new(("dual.test", port))
            .resolver(Resolver::fixed([("dual.test", vec![V6, V4])]))
    };
    let by_list = || ConnectionBuilder::new(vec![bh.addr, fallback]);
    for builder in [by_name(), by_list()] {
        let t0 = tokio::time::Instant::now();
        let stream = builder
            .happy_eyeballs(Duration::from_millis(100))
            .connect()
            .await
            .unwrap();
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
        assert_eq!(stream.peer_addr().unwrap(), fallback);
        drop(v4.accept().await.unwrap());
    }
}

#[tokio::test]
async fn tokio_connect_hangs_where_we_do_not() {
    // The contrast the crate exists for: sequential connect to the same pair
    // is still stuck on the blackholed address after a second.
    let (_v4, bh, port) = dual_stack_blackholed_v6();
    let pair = [bh.addr, SocketAddr::new(V4, port)];
    let stuck =
        tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(&pair[..])).await;
    assert!(
        stuck.is_err(),
        "TcpStream::connect should hang on the blackholed address"
    );
    let ours = tokio::time::timeout(
        Duration::from_millis(1000),
        ConnectionBuilder::new(pair).connect(),
    )
    .await;
    assert_eq!(ours.unwrap().unwrap().peer_addr().unwrap(), pair[1]);
}

#[tokio::test]
async fn a_refused_first_address_does_not_wait_for_the_delay() {
    let (_l, ok) = listener(V4).await;
    let bad = refused(V6);
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(vec![bad, ok])
        .happy_eyeballs(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), ok);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn all_refused_keeps_every_attempt() {
    let a = refused(V6);
    let b = refused(V4);
    let err = ConnectionBuilder::new(vec![a, b])
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed);
    let tried: Vec<_> = err.attempts().iter().map(|x| x.addr()).collect();
    assert_eq!(tried, vec![a, b]);
    assert!(err
        .attempts()
        .iter()
        .all(|x| x.error().kind() == io::ErrorKind::ConnectionRefused));
    assert_eq!(err.io_kind(), io::ErrorKind::ConnectionRefused);
    let line = err.to_string();
    assert!(
        line.starts_with(&format!("connect to [{a}, {b}]: ")),
        "{line}"
    );
    assert!(line.contains("(2 attempts)"), "{line}");
    assert!(!line.contains('\n'));
    // The line quotes the attempts' errors: `source()` does not repeat
    // them (issue 31; tests/error_chains.rs), `attempts()` has them.
    assert!(std::error::Error::source(&err).is_none());

    // all_errors(true): the message lists every attempt.
    let err = ConnectionBuilder::new(vec![a, b])
        .all_errors(true)
        .connect()
        .await
        .unwrap_err();
    let line = err.to_string();
    assert!(
        line.contains(&a.to_string()) && line.contains(&b.to_string()),
        "{line}"
    );
    assert!(line.contains("2 attempts failed"), "{line}");

    // As an io::Error: the common kind, and the attempts are still there.
    let io_err: io::Error = err.into();
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
    let inner = io_err
        .get_ref()
        .unwrap()
        .downcast_ref::<ConnectError>()
        .unwrap();
    assert_eq!(inner.attempts().len(), 2);
}

#[tokio::test]
async fn differing_failures_read_as_other() {
    let bh = Blackhole::new(V4);
    let bad = refused(V6);
    let err = ConnectionBuilder::new(vec![bad, bh.addr])
        .attempt_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    let kinds: Vec<_> = err.attempts().iter().map(|a| a.error().kind()).collect();
    assert_eq!(
        kinds,
        vec![io::ErrorKind::ConnectionRefused, io::ErrorKind::TimedOut]
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::Other);
}

#[tokio::test]
async fn sequential_waits_for_the_attempt_timeout() {
    let (_v4, bh, port) = dual_stack_blackholed_v6();
    let t0 = Instant::now();
    let stream = ConnectionBuilder::new(vec![bh.addr, SocketAddr::new(V4, port)])
        .sequential()
        .attempt_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    assert!(stream.peer_addr().unwrap().is_ipv4());
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn connect_timeout_bounds_the_call_and_reports_the_running_attempts() {
    let a = Blackhole::new(V6);
    let b = Blackhole::new(V4);
    let t0 = Instant::now();
    let err = ConnectionBuilder::new(vec![a.addr, b.addr])
        .happy_eyeballs(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    let running: Vec<_> = err
        .attempts()
        .iter()
        .map(|x| (x.addr(), x.error().kind()))
        .collect();
    assert_eq!(
        running,
        vec![
            (a.addr, io::ErrorKind::TimedOut),
            (b.addr, io::ErrorKind::TimedOut)
        ]
    );
    assert!(err.attempts()[1].started() >= Duration::from_millis(100));
    assert!(
        err.to_string().starts_with(&format!(
            "connect to [{}, {}]: timed out after 300 ms",
            a.addr, b.addr
        )),
        "{err}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_resolver_or_packet() {
    let counting = Counting::default();
    let cases: Vec<(ConnectionBuilder, &str)> = vec![
        (ConnectionBuilder::new("no-port.example"), "missing port"),
        (
            ConnectionBuilder::new("bad host:80"),
            "not allowed in a host name",
        ),
        (ConnectionBuilder::new("host:99999"), "out of range"),
        (ConnectionBuilder::new("::1:80"), "in brackets"),
        (ConnectionBuilder::new("host.example:0"), "port 0"),
        (
            ConnectionBuilder::new("127.0.0.1:80").family(Family::V6),
            "has no IPv6 address",
        ),
        (
            ConnectionBuilder::new("[::1]:80").local_addr(V4),
            "no address of the family of local_addr 127.0.0.1:0",
        ),
        (
            ConnectionBuilder::new("host.example:80")
                .family(Family::V6)
                .local_addr(V4),
            "local_addr 127.0.0.1:0 is not of the requested family IPv6",
        ),
        (
            ConnectionBuilder::new("host.example:80").local_addr("not-an-ip"),
            "is not an IP address",
        ),
        (
            ConnectionBuilder::new("host.example:80").local_addr(Vec::<IpAddr>::new()),
            "empty list",
        ),
    ];
    for (builder, expect) in cases {
        let err = builder
            .resolver(counting.clone())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains(expect),
            "{err:?} should say {expect:?}"
        );
        assert!(err.attempts().is_empty());
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn literal_addresses_never_reach_the_resolver() {
    let (_l, addr) = listener(V4).await;
    let counting = Counting::default();
    ConnectionBuilder::new(addr)
        .resolver(counting.clone())
        .connect()
        .await
        .unwrap();
    ConnectionBuilder::new(addr.to_string())
        .resolver(counting.clone())
        .connect()
        .await
        .unwrap();
    ConnectionBuilder::new(("127.0.0.1", addr.port()))
        .resolver(counting.clone())
        .connect()
        .await
        .unwrap();
    assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn resolution_failures_name_the_host() {
    let err = ConnectionBuilder::new("missing.test:80")
        .resolver(Resolver::fixed([("other.test", vec![V4])]))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(err.resolve_errors()[0].kind(), ResolveErrorKind::NoSuchName);
    assert_eq!(
        err.to_string(),
        "connect to missing.test:80: cannot resolve missing.test: no such name"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn family_filters_resolved_addresses() {
    let (_l6, a6) = listener(V6).await;
    let counting = Counting {
        answer: vec![V6, V4],
        ..Default::default()
    };
    let s = ConnectionBuilder::new(("dual.test", a6.port()))
        .resolver(counting.clone())
        .family(Family::V6)
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap(), a6);

    let only_v6 = Counting {
        answer: vec![V6],
        ..Default::default()
    };
    let err = ConnectionBuilder::new("v6only.test:80")
        .resolver(only_v6)
        .family(Family::V4)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::NoUsableAddress);
    assert_eq!(
        err.to_string(),
        "connect to v6only.test:80: v6only.test has no IPv4 address, and family(Family::V4) allows only IPv4"
    );
}

#[tokio::test]
async fn local_addr_binds_each_attempt_to_its_family() {
    let (l4, a4) = listener(V4).await;
    let (_l6, a6) = listener(V6).await;
    let s = ConnectionBuilder::new(a4)
        .local_addr(vec![V6, V4])
        .connect()
        .await
        .unwrap();
    assert_eq!(s.local_addr().unwrap().ip(), V4);
    let s6 = ConnectionBuilder::new(a6)
        .local_addr(vec![V6, V4])
        .connect()
        .await
        .unwrap();
    assert_eq!(s6.local_addr().unwrap().ip(), V6);
    // A v4-only local address drops the v6 candidates.
    let s = ConnectionBuilder::new(vec![a6, a4])
        .local_addr(V4)
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap(), a4);
    // A fixed local port is used.
    let port = refused(V4).port();
    let s = ConnectionBuilder::new(a4)
        .local_addr(SocketAddr::new(V4, port))
        .connect()
        .await
        .unwrap();
    assert_eq!(s.local_addr().unwrap(), SocketAddr::new(V4, port));
    let (_srv, peer) = l4.accept().await.unwrap();
    assert_eq!(peer.ip(), V4);
}

#[tokio::test]
async fn nodelay_and_the_socket_hook_reach_the_socket() {
    let (_l, addr) = listener(V4).await;
    let s = ConnectionBuilder::new(addr).connect().await.unwrap();
    assert!(s.nodelay().unwrap(), "TCP_NODELAY is on by default");
    let s = ConnectionBuilder::new(addr)
        .nodelay(false)
        .connect()
        .await
        .unwrap();
    assert!(!s.nodelay().unwrap());

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let s = ConnectionBuilder::new(addr)
        .socket_hook(move |sock| {
            c.fetch_add(1, Ordering::SeqCst);
            sock.set_keepalive(true)?;
            sock.set_recv_buffer_size(64 * 1024)
        })
        .connect()
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(socket2::SockRef::from(&s).keepalive().unwrap());

    // A failing hook fails the attempt, and says so.
    let err = ConnectionBuilder::new(addr)
        .socket_hook(|_| {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "no SO_MARK for you",
            ))
        })
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        err.attempts()[0].error().kind(),
        io::ErrorKind::PermissionDenied
    );
    assert!(
        err.to_string().contains("socket hook: no SO_MARK for you"),
        "{err}"
    );
}

#[tokio::test]
async fn from_stream_adopts_a_connected_socket() {
    let (l, addr) = listener(V4).await;
    let raw = TcpStream::connect(addr).await.unwrap();
    let local = raw.local_addr().unwrap();
    assert!(!raw.nodelay().unwrap());
    let s = ConnectionBuilder::from_stream(raw).connect().await.unwrap();
    assert_eq!(s.local_addr().unwrap(), local);
    assert!(s.nodelay().unwrap());
    let (_srv, peer) = l.accept().await.unwrap();
    assert_eq!(peer, local);

    let raw = TcpStream::connect(addr).await.unwrap();
    let err = ConnectionBuilder::from_stream(raw)
        .happy_eyeballs(Duration::from_millis(10))
        .local_addr(V4)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("happy_eyeballs, local_addr cannot be used with from_stream"),
        "{err}"
    );
}

#[tokio::test]
async fn system_resolver_resolves_localhost() {
    let (_l, addr) = listener(V4).await;
    let s = ConnectionBuilder::new(("localhost", addr.port()))
        .resolver(Resolver::system())
        .family(Family::V4)
        .connect()
        .await
        .unwrap();
    assert_eq!(s.peer_addr().unwrap(), addr);
}

#[tokio::test]
async fn losers_are_closed_before_connect_returns() {
    // Two working listeners; a zero delay starts both attempts at once.
    // Whichever loses must be closed: its server side sees end of stream.
    let (l6, a6) = listener(V6).await;
    let (l4, a4) = listener(V4).await;
    let s = ConnectionBuilder::new(vec![a6, a4])
        .happy_eyeballs(Duration::ZERO)
        .connect()
        .await
        .unwrap();
    let winner = s.local_addr().unwrap();
    for l in [l6, l4] {
        // Either side may not have seen a connection at all if it lost before
        // its SYN; give it a moment.
        if let Ok(Ok((mut conn, peer))) =
            tokio::time::timeout(Duration::from_millis(200), l.accept()).await
        {
            if peer == winner {
                continue;
            }
            let mut buf = [0; 1];
            let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await;
            assert!(
                matches!(n, Ok(Ok(0)) | Ok(Err(_))),
                "the loser {peer} is still open: {n:?}"
            );
        }
    }
}

#[test]
fn connect_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fut = ConnectionBuilder::new("localhost:80").connect();
    assert_send(&fut);
}

/// A resolver that never answers.
#[derive(Debug)]
struct Silent;

impl Resolve for Silent {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        stream::pending().boxed()
    }
}

#[tokio::test]
async fn connect_timeout_covers_resolution() {
    let t0 = Instant::now();
    let err = ConnectionBuilder::new("slow-dns.test:80")
        .resolver(Silent)
        .connect_timeout(Duration::from_millis(150))
        .connect()
        .await
        .unwrap_err();
    assert!(t0.elapsed() >= Duration::from_millis(150) && t0.elapsed() < Duration::from_secs(2));
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    assert!(err.attempts().is_empty());
    assert_eq!(
        err.to_string(),
        "connect to slow-dns.test:80: timed out after 150 ms"
    );
}

#[tokio::test]
async fn a_single_refused_address_is_one_attempt() {
    let bad = refused(V4);
    let err = ConnectionBuilder::new(bad).connect().await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed);
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.attempts()[0].addr(), bad);
    assert_eq!(
        err.to_string(),
        // The OS error in plain words; its code is in the attempt.
        format!("connect to {bad}: connection refused (1 attempt)")
    );
}

#[test]
fn the_connect_future_stays_small() {
    // The one-address path must not carry the race's state (timers,
    // attempt queue) inline: every caller holds this future, and moves it.
    let fut = ConnectionBuilder::new("127.0.0.1:80").connect();
    let size = std::mem::size_of_val(&fut);
    assert!(size <= 2048, "connect future is {size} bytes");
}
