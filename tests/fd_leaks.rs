//! File descriptors before and after thousands of races and cancellations.
//!
//! This binary holds a single test, so nothing else in the process opens or
//! closes descriptors while it counts.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{fd_count, refused, Blackhole, V4, V6};
use tokio::net::TcpListener;
use tokio_endpoints::ConnectionBuilder;

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
