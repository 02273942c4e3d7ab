//! Server benchmarks, side by side in one run (the machine is shared and
//! noisy: compare the ratios, not one absolute figure).
//!
//! 1. Accepts per second: `Listener::accept` against a raw
//!    `tokio::net::TcpListener::accept` loop doing the same work (each
//!    accepted stream gets `TCP_NODELAY`, as ours does by default).
//! 2. Full TLS 1.3 handshakes per second: `TlsListener::accept` against a
//!    raw tokio-rustls loop (`accept`, then `TlsAcceptor::accept` in a
//!    spawned task, as every tokio-rustls server does).
//! 3. A real client's handshake time while 500 clients sit connected and
//!    silent: `TlsListener` against the naive loop that runs each
//!    handshake in the accept loop (given a 5 ms handshake timeout, the
//!    most favourable to it; with asyncio's 60 s it would wait 500 minutes).
//!
//! Rounds alternate which side goes first; reported are the medians, their
//! ratio, and the median of per-round ratios.
//!
//! Run: `cargo bench --bench server`

mod support;
use support::median;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::rustls::{ClientConfig, ServerConfig};
use tokio_endpoints::ServerBuilder;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn report(title: &str, unit: &str, names: [&str; 2], a: &[f64], b: &[f64], target: &str) {
    let (ma, mb) = (median(&mut a.to_vec()), median(&mut b.to_vec()));
    let paired = median(&mut a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>());
    println!("{title}");
    println!("  {:<44} median {ma:>9.0}{unit}", names[0]);
    println!("  {:<44} median {mb:>9.0}{unit}", names[1]);
    println!(
        "  ratio of medians: {:.3}x; median of per-round ratios: {paired:.3}x{target}",
        ma / mb
    );
}

/// Connects `n` times, one after the other, and waits until the server
/// side has counted `n`; connections per second.
async fn connects(addr: SocketAddr, n: usize, counted: &mut mpsc::UnboundedReceiver<()>) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        drop(TcpStream::connect(addr).await.unwrap());
    }
    for _ in 0..n {
        counted.recv().await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn handshakes(
    addr: SocketAddr,
    n: usize,
    config: &Arc<ClientConfig>,
    counted: &mut mpsc::UnboundedReceiver<()>,
) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        handshake(addr, config).await;
    }
    for _ in 0..n {
        counted.recv().await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn handshake(addr: SocketAddr, config: &Arc<ClientConfig>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    drop(tls);
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        accepts(quick).await;
        tls_handshakes(quick).await;
        silent_clients(quick).await;
    });
}

async fn accepts(quick: bool) {
    let (rounds, per_round) = if quick { (1, 50) } else { (21, 1000) };
    let (ours_tx, mut ours_rx) = mpsc::unbounded_channel();
    let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await.unwrap();
    let ours_addr = listener.local_addrs()[0];
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
            let _ = ours_tx.send(());
        }
    });
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel();
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw_addr = raw.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = raw.accept().await else {
                continue;
            };
            stream.set_nodelay(true).unwrap();
            drop(stream);
            let _ = raw_tx.send(());
        }
    });
    connects(ours_addr, per_round, &mut ours_rx).await;
    connects(raw_addr, per_round, &mut raw_rx).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        if i % 2 == 0 {
            a.push(connects(ours_addr, per_round, &mut ours_rx).await);
            b.push(connects(raw_addr, per_round, &mut raw_rx).await);
        } else {
            b.push(connects(raw_addr, per_round, &mut raw_rx).await);
            a.push(connects(ours_addr, per_round, &mut ours_rx).await);
        }
    }
    report(
        &format!("accepts/s over loopback, {rounds} interleaved rounds of {per_round}"),
        "/s",
        ["Listener::accept", "tokio TcpListener::accept (raw)"],
        &a,
        &b,
        " (target >= 0.97x)",
    );
}

async fn tls_handshakes(quick: bool) {
    let (rounds, per_round) = if quick { (1, 10) } else { (21, 150) };
    let (client, server) = support::tls::configs();
    let (ours_tx, mut ours_rx) = mpsc::unbounded_channel();
    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .tls_config(server.clone())
        .bind_tls()
        .await
        .unwrap();
    let ours_addr = listener.local_addrs()[0];
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
            let _ = ours_tx.send(());
        }
    });
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel();
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw_addr = raw.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = raw.accept().await else {
                continue;
            };
            tcp.set_nodelay(true).unwrap();
            let acceptor = acceptor.clone();
            let tx = raw_tx.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    drop(tls);
                    let _ = tx.send(());
                }
            });
        }
    });
    handshakes(ours_addr, per_round, &client, &mut ours_rx).await;
    handshakes(raw_addr, per_round, &client, &mut raw_rx).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        if i % 2 == 0 {
            a.push(handshakes(ours_addr, per_round, &client, &mut ours_rx).await);
            b.push(handshakes(raw_addr, per_round, &client, &mut raw_rx).await);
        } else {
            b.push(handshakes(raw_addr, per_round, &client, &mut raw_rx).await);
            a.push(handshakes(ours_addr, per_round, &client, &mut ours_rx).await);
        }
    }
    report(
        &format!(
            "full TLS 1.3 handshakes/s over loopback, {rounds} interleaved rounds of {per_round}"
        ),
        "/s",
        [
            "TlsListener::accept",
            "accept + spawn(TlsAcceptor::accept) (raw)",
        ],
        &a,
        &b,
        " (target >= 0.97x)",
    );
}

/// How long a real client's handshake takes with `silent` connected
/// clients that never send a ClientHello, against our listener or the
/// naive loop; in milliseconds.
async fn with_silent(
    ours: bool,
    silent: usize,
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> f64 {
    let naive_timeout = Duration::from_millis(5);
    let (addr, task) = if ours {
        let mut listener = ServerBuilder::new("127.0.0.1:0")
            .tls_config(server.clone())
            .bind_tls()
            .await
            .unwrap();
        let addr = listener.local_addrs()[0];
        let task = tokio::spawn(async move {
            loop {
                let _ = listener.accept().await;
            }
        });
        (addr, task)
    } else {
        let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = raw.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = raw.accept().await else {
                    continue;
                };
                // The handshake in the accept loop: the naive server.
                let _ = tokio::time::timeout(naive_timeout, acceptor.accept(tcp)).await;
            }
        });
        (addr, task)
    };
    let mut held = Vec::with_capacity(silent);
    for _ in 0..silent {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    handshake(addr, client).await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    task.abort();
    drop(held);
    took
}

async fn silent_clients(quick: bool) {
    let (rounds, silent) = if quick { (1, 20) } else { (5, 500) };
    let (client, server) = support::tls::configs();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(with_silent(true, silent, &client, &server).await);
        b.push(with_silent(false, silent, &client, &server).await);
    }
    let (ma, mb) = (median(&mut a.clone()), median(&mut b.clone()));
    println!(
        "a real client's TLS handshake with {silent} silent clients connected, {rounds} rounds"
    );
    println!(
        "  {:<44} median {ma:>9.2} ms  rounds {a:.2?}",
        "TlsListener (handshakes concurrent)"
    );
    println!(
        "  {:<44} median {mb:>9.2} ms  rounds {b:.0?}",
        "naive accept-then-handshake, 5 ms timeout"
    );
    println!("  naive / ours: {:.0}x", mb / ma);
}
