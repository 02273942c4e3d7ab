//! No socket is left open by calls through a proxy: a tunnel dropped, a
//! refusal, and a silent proxy given up on, the descriptors counted before
//! and after. A binary of its own (as `https_proxy_fds.rs`): in
//! `proxies.rs` the other tests' proxies, daemons and sockets, running in
//! parallel in the same process, were counted too, and made it flaky.

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
mod scripted_proxy;

use std::time::Duration;

use scripted_proxy::{scripted, through};
use tokio_endpoints::ConnectionBuilder;

#[tokio::test]
async fn no_socket_is_left_open() {
    let before = common::fd_count();
    // A tunnel dropped, a refusal, and a silent proxy given up on.
    let (addr, _, task) = scripted(Some(b"HTTP/1.1 200 OK\r\n\r\n"), 64, Duration::ZERO).await;
    drop(
        ConnectionBuilder::new("origin.test:443")
            .proxy(through(addr))
            .connect()
            .await
            .unwrap(),
    );
    task.await.unwrap();
    let (addr, _, task) = scripted(Some(b"HTTP/1.1 403 No\r\n\r\n"), 64, Duration::ZERO).await;
    ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr))
        .connect()
        .await
        .unwrap_err();
    task.await.unwrap();
    let (addr, _, task) = scripted(None, 1, Duration::ZERO).await;
    ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr).handshake_timeout(Duration::from_millis(50)))
        .connect()
        .await
        .unwrap_err();
    task.await.unwrap();
    // Each scripted proxy's task has ended (awaited above), its sockets
    // with it; the calls closed theirs before they returned.
    assert_eq!(common::fd_count(), before);
}
