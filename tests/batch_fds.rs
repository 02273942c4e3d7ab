//! `BatchedSocket` leaves no descriptor open: sockets that sent and
//! received batches, and `bind_batched` calls that failed, are all closed.
//! A binary of its own with a single `#[test]` (see `datagram_fds.rs` for
//! why counting `/proc/self/fd` needs that).
#![cfg(target_os = "linux")]

mod common;

use common::fd_count;
use tokio_endpoints::{DatagramBuilder, RecvBatch};

#[test]
fn batched_sockets_leave_no_descriptor_open() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up: the first socket of each kind may allocate lazily.
        drop(DatagramBuilder::new().bind_batched().await.unwrap());
        let busy = DatagramBuilder::new()
            .local_addr("127.0.0.1:0")
            .bind()
            .await
            .unwrap();
        let busy = busy.local_addr().unwrap();
        let before = fd_count();

        for _ in 0..3 {
            let a = DatagramBuilder::new()
                .local_addr("[::1]:0")
                .bind_batched()
                .await
                .unwrap();
            let b = DatagramBuilder::new()
                .local_addr("[::1]:0")
                .bind_batched()
                .await
                .unwrap();
            let chunks = vec![vec![1_u8; 1200]; 100];
            let to = b.inner().local_addr().unwrap();
            let mut sent = 0;
            while sent < chunks.len() {
                sent += a.send_batch(to, &chunks[sent..]).await.unwrap();
            }
            let mut batch = RecvBatch::new();
            let mut got = 0;
            while got < 100 {
                got += b.recv_batch(&mut batch).await.unwrap();
            }
            // Refused input opens nothing either.
            let empty: [&[u8]; 0] = [];
            a.send_batch(to, &empty).await.unwrap_err();
        }
        let e = DatagramBuilder::new()
            .local_addr(busy)
            .bind_batched()
            .await
            .unwrap_err();
        assert_eq!(
            e.attempts()[0].error().kind(),
            std::io::ErrorKind::AddrInUse
        );
        DatagramBuilder::new()
            .local_addr("nope")
            .bind_batched()
            .await
            .unwrap_err();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let not_udp = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(tcp));
        DatagramBuilder::from_socket(not_udp)
            .bind_batched()
            .await
            .unwrap_err();

        assert_eq!(fd_count(), before, "a descriptor was left open");
    });
}
