//! A connector that learns, on real loopback sockets: `[::1]` blackholed
//! beside a working `127.0.0.1` on the same port, behind one name. The
//! first connect pays the stagger delay; later ones start with the address
//! that won.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{dual_stack_blackholed_v6, V4, V6};
use tokio::net::TcpListener;
use tokio_endpoints::{ConnectionBuilder, Connector, Resolver};

const DELAY: Duration = Duration::from_millis(150);

/// Accepts (and drops) every connection on `listener`.
fn serve(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
}

fn fixed(name: &str) -> Resolver {
    Resolver::fixed([(name, [V6, V4])])
}

/// Connects through `connector`; returns how long it took and to where.
async fn timed(connector: &Connector, target: &str) -> (Duration, IpAddr) {
    let t0 = Instant::now();
    let stream = connector.connect(target).await.unwrap();
    (t0.elapsed(), stream.peer_addr().unwrap().ip())
}

#[tokio::test]
async fn only_the_first_connect_pays_the_delay() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    let connector = Connector::new()
        .resolver(fixed("learn.test"))
        .happy_eyeballs(DELAY);
    let target = format!("learn.test:{port}");
    let (first, peer) = timed(&connector, &target).await;
    assert!(first >= DELAY, "{first:?}");
    assert_eq!(peer, V4);
    for _ in 0..5 {
        let (later, peer) = timed(&connector, &target).await;
        assert!(later < DELAY / 2, "{later:?}: the history was not used");
        assert_eq!(peer, V4);
    }
    // A clone, and a builder from the connector, share the history.
    let (cloned, _) = timed(&connector.clone(), &target).await;
    assert!(cloned < DELAY / 2, "{cloned:?}");
    let t0 = Instant::now();
    connector.builder(target.as_str()).connect().await.unwrap();
    assert!(t0.elapsed() < DELAY / 2, "{:?}", t0.elapsed());
}

#[tokio::test]
async fn without_history_every_connect_pays_the_delay() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    let connector = Connector::new()
        .resolver(fixed("forget.test"))
        .happy_eyeballs(DELAY)
        .history(false);
    let target = format!("forget.test:{port}");
    for _ in 0..3 {
        let (took, peer) = timed(&connector, &target).await;
        assert!(took >= DELAY, "{took:?}");
        assert_eq!(peer, V4);
    }
}

#[tokio::test]
async fn after_the_ttl_ipv6_is_tried_first_again() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    let connector = Connector::new()
        .resolver(fixed("ttl.test"))
        .happy_eyeballs(DELAY)
        .history_ttl(Duration::from_millis(400));
    let target = format!("ttl.test:{port}");
    assert!(timed(&connector, &target).await.0 >= DELAY);
    assert!(timed(&connector, &target).await.0 < DELAY / 2);
    tokio::time::sleep(Duration::from_millis(450)).await;
    // Forgotten: a repaired IPv6 path would be used again.
    assert!(timed(&connector, &target).await.0 >= DELAY);
    assert!(timed(&connector, &target).await.0 < DELAY / 2);
    connector.clear_history();
    assert!(timed(&connector, &target).await.0 >= DELAY);
}

#[tokio::test]
async fn one_shot_builders_share_a_process_wide_history() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    // One resolver for both calls: the history keys a name by the
    // resolver that answered it (a fresh one per call would be a fresh key,
    // and would pass only where the allocator reuses its address).
    let resolver = fixed("oneshot.test");
    let connect = |target: String| {
        let resolver = resolver.clone();
        async move {
            let t0 = Instant::now();
            ConnectionBuilder::new(target)
                .resolver(resolver)
                .happy_eyeballs(DELAY)
                .connect()
                .await
                .unwrap();
            t0.elapsed()
        }
    };
    let target = format!("oneshot.test:{port}");
    assert!(connect(target.clone()).await >= DELAY);
    let second = connect(target.clone()).await;
    assert!(second < DELAY / 2, "{second:?}");
    // A literal list learns too.
    let list: Vec<SocketAddr> = vec![SocketAddr::new(V6, port), SocketAddr::new(V4, port)];
    let t0 = Instant::now();
    ConnectionBuilder::new(list.clone())
        .happy_eyeballs(DELAY)
        .connect()
        .await
        .unwrap();
    assert!(t0.elapsed() >= DELAY);
    let t0 = Instant::now();
    ConnectionBuilder::new(list.clone())
        .happy_eyeballs(DELAY)
        .connect()
        .await
        .unwrap();
    assert!(t0.elapsed() < DELAY / 2, "{:?}", t0.elapsed());
    // `history(false)` ignores it.
    let t0 = Instant::now();
    ConnectionBuilder::new(list)
        .happy_eyeballs(DELAY)
        .history(false)
        .connect()
        .await
        .unwrap();
    assert!(t0.elapsed() >= DELAY);
}

#[tokio::test]
async fn a_failed_remembered_winner_says_so_and_is_no_longer_first() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    let connector = Connector::new()
        .resolver(fixed("gone.test"))
        .happy_eyeballs(DELAY)
        .connect_timeout(Duration::from_millis(600));
    let target = format!("gone.test:{port}");
    let accepting = tokio::spawn(async move {
        let _ = v4.accept().await;
        v4 // closed once the first connect is in
    });
    connector.connect(target.as_str()).await.unwrap();
    drop(accepting.await.unwrap());
    // IPv4 is now refused, IPv6 still blackholed.
    let e = connector.connect(target.as_str()).await.unwrap_err();
    let report = format!("{e:?}");
    assert!(
        report.contains("history: tried first because 127.0.0.1 won"),
        "{report}"
    );
    // The refused address costs nothing: the next starts at once, not a
    // delay later.
    let e = connector.connect(target.as_str()).await.unwrap_err();
    let v6 = e
        .attempts()
        .iter()
        .find(|a| a.addr().ip() == V6)
        .expect("IPv6 tried");
    assert!(v6.started() < DELAY / 2, "{e:?}");
}

/// The history is keyed by the path as well as the target (issue 31): a
/// winner learnt without a socket hook, through the default interface or
/// one resolver says nothing about a connect with a hook, through an
/// interface, or with another resolver, and each learns on its own.
#[tokio::test]
async fn the_path_is_part_of_the_key() {
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    let connector = Connector::new()
        .resolver(fixed("path.test"))
        .happy_eyeballs(DELAY);
    let target = format!("path.test:{port}");
    assert!(timed(&connector, &target).await.0 >= DELAY);
    assert!(timed(&connector, &target).await.0 < DELAY / 2);
    type Make<'a> = Box<dyn Fn() -> ConnectionBuilder + 'a>;
    let builders: Vec<(&str, Make<'_>)> = vec![
        (
            "a socket hook",
            Box::new(|| connector.builder(target.as_str()).socket_hook(|_| Ok(()))),
        ),
        (
            "another resolver",
            Box::new(|| {
                static OTHER: std::sync::OnceLock<Resolver> = std::sync::OnceLock::new();
                let other = OTHER.get_or_init(|| fixed("path.test"));
                connector.builder(target.as_str()).resolver(other.clone())
            }),
        ),
        #[cfg(target_os = "linux")]
        (
            "an interface",
            Box::new(|| connector.builder(target.as_str()).interface("lo")),
        ),
    ];
    for (what, builder) in &builders {
        let t0 = Instant::now();
        let stream = builder().connect().await.unwrap();
        assert!(
            t0.elapsed() >= DELAY,
            "{what}: used the history of another path"
        );
        assert_eq!(stream.peer_addr().unwrap().ip(), V4);
        let t0 = Instant::now();
        builder().connect().await.unwrap();
        assert!(t0.elapsed() < DELAY / 2, "{what}: did not learn on its own");
    }
    assert!(timed(&connector, &target).await.0 < DELAY / 2);
}

/// Only what the remote side did is remembered: a socket hook's error (as
/// out of descriptors, or a fixed local port in use) says nothing about
/// the address, and does not demote the winner.
#[tokio::test]
async fn a_local_failure_does_not_demote_the_winner() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (v4, _hole, port) = dual_stack_blackholed_v6();
    serve(v4);
    let failing = Arc::new(AtomicBool::new(false));
    let hook_fails = failing.clone();
    let connector = Connector::new()
        .resolver(fixed("local.test"))
        .happy_eyeballs(DELAY)
        .socket_hook(move |_| {
            if hook_fails.load(Ordering::SeqCst) {
                Err(std::io::Error::other("out of file descriptors"))
            } else {
                Ok(())
            }
        });
    let target = format!("local.test:{port}");
    assert!(timed(&connector, &target).await.0 >= DELAY);
    assert!(timed(&connector, &target).await.0 < DELAY / 2);
    failing.store(true, Ordering::SeqCst);
    let e = connector.connect(target.as_str()).await.unwrap_err();
    assert!(!e.attempts().is_empty(), "{e:?}");
    assert!(e.to_string().contains("socket hook"), "{e}");
    failing.store(false, Ordering::SeqCst);
    let (took, peer) = timed(&connector, &target).await;
    assert!(
        took < DELAY / 2,
        "{took:?}: the hook's failure demoted the winner"
    );
    assert_eq!(peer, V4);
}

/// A burst of connects to a healthy target is answered by the winner the
/// history settled on without asking its table again; the first change
/// (here the winner refusing) is seen by the very next connect.
#[tokio::test]
async fn a_settled_winner_is_dropped_as_soon_as_it_fails() {
    let (v6, v4, port) = common::dual_stack();
    let v6 = tokio::spawn(async move {
        for _ in 0..20 {
            drop(v6.accept().await.unwrap());
        }
        v6 // closed after twenty connects
    });
    serve(v4);
    let connector = Connector::new()
        .resolver(fixed("settled.test"))
        .happy_eyeballs(DELAY);
    let target = format!("settled.test:{port}");
    for _ in 0..20 {
        let (_, peer) = timed(&connector, &target).await;
        assert_eq!(peer, V6);
    }
    drop(v6.await.unwrap());
    // IPv6 refuses now: this connect falls back at once, and the next one
    // starts with IPv4.
    let (took, peer) = timed(&connector, &target).await;
    assert_eq!(peer, V4);
    assert!(took < DELAY, "{took:?}");
    let (_, report) = connector
        .builder(target.as_str())
        .connect_reported()
        .await
        .unwrap();
    assert_eq!(report.preferred(), Some(V4), "{report:?}");
    assert_eq!(report.attempts()[0].addr().ip(), V4, "{report:?}");
    assert_eq!(report.attempts().len(), 1, "{report:?}");
}
