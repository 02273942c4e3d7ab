//! The PROXY protocol's cost on accepts, side by side in one run (the
//! machine is shared and noisy: compare the ratio, not one figure).
//!
//! Accepts per second over loopback: a `Listener` with `proxy_protocol`,
//! each client sending a v2 header with an IPv4 address and one TLV (what
//! an AWS NLB sends), against a plain `Listener` whose clients send the
//! same bytes as data (so both clients do the same work; the plain server
//! leaves them unread). Each client connects, writes, and closes; the
//! server counts a connection when `accept` returns it, after its header
//! was read. Rounds alternate which side goes first; reported are the
//! medians, their ratio, and the median of per-round ratios (target
//! >= 0.95x).
//!
//! Run: `cargo bench --features proxy-protocol --bench proxy`

mod support;
use support::median;

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_endpoints::{ProxyProtocol, ServerBuilder};

fn header() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12 + 3 + 23]);
    h.extend([192, 0, 2, 1, 127, 0, 0, 1, 0xdc, 0x05, 0x01, 0xbb]);
    h.extend([0xEA, 0, 23, 0x01]);
    h.extend(b"vpce-0123456789abcdef0");
    h
}

async fn connects(
    addr: SocketAddr,
    n: usize,
    bytes: &[u8],
    counted: &mut mpsc::UnboundedReceiver<()>,
) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(bytes).await.unwrap();
        drop(c);
    }
    for _ in 0..n {
        counted.recv().await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if quick { (1, 50) } else { (21, 1000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let header = header();
        let (proxy_tx, mut proxy_rx) = mpsc::unbounded_channel();
        let mut proxied = ServerBuilder::new("127.0.0.1:0")
            .proxy_protocol(ProxyProtocol::new().trusted(["127.0.0.1/32".parse().unwrap()]))
            .bind()
            .await
            .unwrap();
        let proxy_addr = proxied.local_addrs()[0];
        tokio::spawn(async move {
            loop {
                let (stream, peer) = proxied.accept().await.unwrap();
                assert_eq!(peer.port(), 0xdc05);
                drop(stream);
                let _ = proxy_tx.send(());
            }
        });
        let (plain_tx, mut plain_rx) = mpsc::unbounded_channel();
        let mut plain = ServerBuilder::new("127.0.0.1:0").bind().await.unwrap();
        let plain_addr = plain.local_addrs()[0];
        tokio::spawn(async move {
            loop {
                let (stream, _) = plain.accept().await.unwrap();
                drop(stream);
                let _ = plain_tx.send(());
            }
        });
        // Warm up.
        connects(proxy_addr, per_round, &header, &mut proxy_rx).await;
        connects(plain_addr, per_round, &header, &mut plain_rx).await;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            if i % 2 == 0 {
                a.push(connects(proxy_addr, per_round, &header, &mut proxy_rx).await);
                b.push(connects(plain_addr, per_round, &header, &mut plain_rx).await);
            } else {
                b.push(connects(plain_addr, per_round, &header, &mut plain_rx).await);
                a.push(connects(proxy_addr, per_round, &header, &mut proxy_rx).await);
            }
        }
        let (ma, mb) = (median(&mut a.clone()), median(&mut b.clone()));
        let paired = median(&mut a.iter().zip(&b).map(|(x, y)| x / y).collect::<Vec<_>>());
        println!("accepts/s over loopback, {rounds} interleaved rounds of {per_round}");
        println!("  {:<52} median {ma:>9.0}/s", "Listener::accept, proxy_protocol (v2 header + TLV)");
        println!("  {:<52} median {mb:>9.0}/s", "Listener::accept, plain (same bytes as data)");
        println!(
            "  ratio of medians: {:.3}x; median of per-round ratios: {paired:.3}x (target >= 0.95x)",
            ma / mb
        );
    });
}
