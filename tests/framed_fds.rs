//! No descriptor leaks on the stream and framed paths.
//!
//! A single test in its own binary, as `tls_fds.rs`: `/proc/self/fd` counts
//! the whole process, and tests of one binary run on parallel threads.

mod common;
mod support;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_endpoints::tokio_util::codec::LinesCodec;
use tokio_endpoints::ConnectionBuilder;

use common::{open_fds, V4, V6};
use support::Ca;

/// One connection to a line echo server, through each call; every server
/// task is awaited, so its sockets are closed too.
async fn round(ca: &Ca) {
    // open_connection over TCP.
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = tcp.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
    });
    let (mut reader, mut writer) = ConnectionBuilder::new(vec![common::refused(V6), addr])
        .open_connection()
        .await
        .unwrap();
    writer.write_all(b"x\n").await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    writer.close().await.unwrap();
    drop((reader, writer));
    server.await.unwrap();

    // connect_tls_framed and open_connection_tls.
    for framed in [true, false] {
        let leaf = ca.leaf(&["localhost"]);
        let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
        let builder = ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_config(ca.client_config());
        if framed {
            let mut lines = builder.connect_tls_framed(LinesCodec::new()).await.unwrap();
            lines.send("x").await.unwrap();
            lines.next().await.unwrap().unwrap();
            SinkExt::<&str>::close(&mut lines).await.unwrap();
        } else {
            let (mut reader, mut writer) = builder.open_connection_tls().await.unwrap();
            writer.write_all(b"x\n").await.unwrap();
            reader.read_line(&mut line).await.unwrap();
            writer.close().await.unwrap();
        }
        server.await.unwrap();
    }

    // Failures.
    let refused = vec![common::refused(V6), common::refused(V4)];
    assert!(ConnectionBuilder::new(refused.clone())
        .connect_framed(LinesCodec::new())
        .await
        .is_err());
    assert!(ConnectionBuilder::new(refused)
        .tls_config(ca.client_config())
        .open_connection_tls()
        .await
        .is_err());
    support::silent_server_times_out(ca).await;
}

#[test]
fn no_descriptor_leaks_on_stream_and_framed_paths() {
    if open_fds().is_none() {
        eprintln!("no /proc/self/fd here; skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca = Ca::new("test CA");
        round(&ca).await; // warm up
        let before = open_fds().unwrap();
        for n in 0..3 {
            round(&ca).await;
            assert_eq!(
                open_fds().unwrap(),
                before,
                "descriptors leaked in round {n}"
            );
        }
    });
}
