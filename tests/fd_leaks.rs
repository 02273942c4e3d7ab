//! File descriptors before and after thousands of races and cancellations.
//!
//! This binary holds a single test, so nothing else in the process opens or
//! closes descriptors while it counts.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{fd_count, refused, Blackhole, V4, V6};
use futures::FutureExt;
use tokio::net::TcpListener;
use tokio_endpoints::{ConnectionBuilder, Resolver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_descriptor_outlives_a_call() {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let ok = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                break;
            };
            drop(conn);
        }
    });
    let bh6 = Blackhole::new(V6);
    let bh4 = Blackhole::new(V4);
    let bad6 = refused(V6);
    // Warm up the runtime's own descriptors (blocking pool, timers).
    ConnectionBuilder::new(ok).connect().await.unwrap();
    let before = fd_count();

    // Wins after a blackholed loser, and after a refused one.
    for i in 0..1000 {
        let targets: Vec<SocketAddr> = if i % 2 == 0 {
            vec![bh6.addr, ok]
        } else {
            vec![bad6, ok]
        };
        let s = ConnectionBuilder::new(targets)
            .happy_eyeballs(Duration::ZERO)
            .connect()
            .await
            .unwrap();
        drop(s);
    }
    assert_eq!(fd_count(), before, "after 1000 races");

    // Total failures.
    for _ in 0..500 {
        ConnectionBuilder::new(vec![bad6, bh4.addr])
            .attempt_timeout(Duration::from_millis(1))
            .connect()
            .await
            .unwrap_err();
    }
    assert_eq!(fd_count(), before, "after 500 failed races");

    // Cancellation at many points: drop the future after 0..2000 µs, while
    // attempts to blackholed addresses are in flight.
    for i in 0..1000u64 {
        let fut = ConnectionBuilder::new(vec![bh6.addr, bh4.addr, bad6])
            .happy_eyeballs(Duration::from_micros(i % 50 * 10))
            .connect();
        let _ = tokio::time::timeout(Duration::from_micros(i * 2), fut).await;
    }
    assert_eq!(fd_count(), before, "after 1000 cancellations");

    // Dropped after one poll, when the first attempt runs inside the
    // connect future (no race built yet), and after two, when it has moved
    // into the race: its socket is open, then closed with the future.
    let by_name = || {
        // Blackholed `[::1]` first; the second address is not reached.
        ConnectionBuilder::new(("dual.test", bh6.addr.port()))
            .resolver(Resolver::fixed([("dual.test", vec![bh6.addr.ip(), V4])]))
            .connect()
    };
    let by_list = || ConnectionBuilder::new(vec![bh6.addr, bh4.addr]).connect();
    for polls in [1, 2] {
        for mut fut in [
            Box::pin(by_name()).left_future(),
            Box::pin(by_list()).right_future(),
        ] {
            for _ in 0..polls {
                assert!(futures::poll!(&mut fut).is_pending());
            }
            assert_eq!(fd_count(), before + 1, "the first attempt, {polls} polls");
            drop(fut);
            assert_eq!(fd_count(), before, "after {polls} polls");
        }
    }

    // One literal address (no race is needed): refused, timed out, cancelled.
    for i in 0..300u64 {
        ConnectionBuilder::new(bad6).connect().await.unwrap_err();
        ConnectionBuilder::new(bh4.addr)
            .attempt_timeout(Duration::from_millis(1))
            .connect()
            .await
            .unwrap_err();
        let _ = tokio::time::timeout(
            Duration::from_micros(i * 3),
            ConnectionBuilder::new(bh6.addr).connect(),
        )
        .await;
    }
    assert_eq!(fd_count(), before, "after 900 single-address calls");

    // Connect timeouts.
    for _ in 0..200 {
        ConnectionBuilder::new(vec![bh6.addr, bh4.addr])
            .happy_eyeballs(Duration::ZERO)
            .connect_timeout(Duration::from_millis(1))
            .connect()
            .await
            .unwrap_err();
    }
    assert_eq!(fd_count(), before, "after 200 connect timeouts");
    accept.abort();
}
