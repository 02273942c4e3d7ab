//! A `Listener` out of descriptors (`EMFILE`) backs off and goes on: it
//! neither returns the error nor spins, and accepts the waiting connection
//! once descriptors are free again.
//!
//! A binary of its own: it uses up every descriptor the process may open,
//! which would fail any test running beside it.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_endpoints::ServerBuilder;

#[test]
fn emfile_is_waited_out() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await.unwrap();
        let addr = listener.local_addrs()[0];
        let client = TcpStream::connect(addr).await.unwrap();

        // Use up every descriptor (ulimit -n is a few thousand here).
        let mut filler = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => filler.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(24), "{e}"); // EMFILE
                    break;
                }
            }
            assert!(filler.len() < 1_000_000, "no descriptor limit?");
        }
        // accept fails with EMFILE: the listener must neither return nor
        // spin (the backoff grows to 1 s; at most ~10 attempts in 300 ms).
        let started = Instant::now();
        let waited = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(waited.is_err(), "accept returned while out of descriptors");
        assert!(started.elapsed() >= Duration::from_millis(300));

        // Free some descriptors: the connection is accepted within the
        // backoff (at most 1 s).
        filler.truncate(filler.len() - 10);
        let (conn, peer) = tokio::time::timeout(Duration::from_secs(2), listener.accept())
            .await
            .expect("not accepted after descriptors were freed")
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop((conn, filler));
    });
}
