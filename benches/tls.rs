//! Full TLS 1.3 connects per second: `ConnectionBuilder::connect_tls` against
//! raw tokio-rustls (`TcpStream::connect` + `TlsConnector::connect`), with
//! the same client configuration (TLS 1.3 only, resumption off, so every
//! connect is a full handshake) against the same loopback server.
//!
//! Rounds alternate between the two (and which goes first), so drift in the
//! machine's load hits both alike. Reported: the median rate of each, their
//! ratio, and the median of the per-round ratios (each round's builder rate
//! over the raw rate measured right next to it), which is the steadier
//! figure on a busy machine.
//!
//! ```text
//! cargo bench --bench tls
//! ```

mod support;
use support::median;
use support::tls::serve_handshakes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::rustls::ClientConfig;
use tokio_endpoints::ConnectionBuilder;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const ROUNDS: usize = 31;
const CONNECTS_PER_ROUND: usize = 150;

async fn via_builder(addr: SocketAddr, config: &Arc<ClientConfig>) {
    let stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(config.clone())
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
}

async fn via_raw(addr: SocketAddr, config: &Arc<ClientConfig>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    // ConnectionBuilder sets TCP_NODELAY by default; so does this, for the
    // same work on both sides.
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    drop(stream);
}

async fn round(addr: SocketAddr, config: &Arc<ClientConfig>, builder: bool) -> f64 {
    let started = Instant::now();
    for _ in 0..CONNECTS_PER_ROUND {
        if builder {
            via_builder(addr, config).await;
        } else {
            via_raw(addr, config).await;
        }
    }
    CONNECTS_PER_ROUND as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this with `--bench`-less arguments; keep
    // that run short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, warmup) = if quick { (1, 10) } else { (ROUNDS, 200) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, server) = support::tls::configs();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_handshakes(listener, TlsAcceptor::from(server)));

        for _ in 0..warmup {
            via_builder(addr, &client).await;
            via_raw(addr, &client).await;
        }
        let (mut builder, mut raw) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            // Alternate which goes first.
            if i % 2 == 0 {
                builder.push(round(addr, &client, true).await);
                raw.push(round(addr, &client, false).await);
            } else {
                raw.push(round(addr, &client, false).await);
                builder.push(round(addr, &client, true).await);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (b, r) = (median(&mut builder.clone()), median(&mut raw.clone()));
        let paired = median(&mut builder.iter().zip(&raw).map(|(b, r)| b / r).collect::<Vec<_>>());
        println!("full TLS 1.3 connects/s over loopback, {rounds} interleaved rounds of {CONNECTS_PER_ROUND}");
        println!("  ConnectionBuilder::connect_tls   median {b:>8.0}/s  rounds {builder:.0?}");
        println!("  TcpStream + TlsConnector (raw)   median {r:>8.0}/s  rounds {raw:.0?}");
        println!("  ratio of medians builder/raw: {:.3}x", b / r);
        println!("  median of per-round ratios:   {paired:.3}x (target >= 0.97x)");
    });
}
