//! QUIC in the race, on loopback, side by side in one run:
//!
//! * a UDP-silent host (a UDP socket on the port that never answers, a
//!   TCP+TLS server beside it): the first connect of a fresh `Connector`
//!   with `quic(true)` (it waits `QUIC_SOFT_WAIT` for QUIC), the second
//!   connect of a `Connector` that remembers the broken UDP (TCP+TLS at
//!   once, no QUIC packet; target: ≤ 1.10x TCP+TLS alone), and
//!   TCP+TLS alone (`connect_tls`, the same connector options without QUIC);
//! * a healthy host: `connect_secure` won by QUIC, beside raw quinn
//!   (`Endpoint::connect` on one shared endpoint) and TCP+TLS alone.
//!
//! Each figure is the median connect time in microseconds over rounds that
//! alternate the cases (so drift in the machine's load hits all alike);
//! ratios are of medians, and the median of per-round ratios.
//!
//! ```text
//! cargo bench --bench quic --features quic
//! ```

mod support;
use support::median;
use support::tls::serve_handshakes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::rustls::{ClientConfig, ServerConfig};
use tokio_endpoints::{quinn, Connector, Secure};
use tokio_rustls::TlsAcceptor;

const ROUNDS: usize = 21;
const PER_ROUND: usize = 20;

fn with_alpn(config: &Arc<ServerConfig>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut config = (**config).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn serve_quic(config: Arc<ServerConfig>, addr: SocketAddr) -> quinn::Endpoint {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(config).unwrap();
    let endpoint =
        quinn::Endpoint::server(quinn::ServerConfig::with_crypto(Arc::new(crypto)), addr).unwrap();
    let e = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = e.accept().await {
            tokio::spawn(async move {
                if let Ok(conn) = incoming.await {
                    conn.closed().await;
                }
            });
        }
    });
    endpoint
}

fn close(conn: Secure) {
    if let Secure::Quic(conn) = conn {
        conn.close(0u32.into(), b"");
    }
}

/// Microseconds of one connect.
async fn time<F: std::future::Future<Output = Secure>>(f: F) -> f64 {
    let started = Instant::now();
    let conn = f.await;
    let us = started.elapsed().as_secs_f64() * 1e6;
    close(conn);
    us
}

struct Case {
    name: &'static str,
    rounds: Vec<f64>,
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, per_round, first_per_round) = if quick {
        (1, 2, 1)
    } else {
        (ROUNDS, PER_ROUND, 3)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, server): (Arc<ClientConfig>, _) = support::tls::configs();
        let tcp_server = with_alpn(&server, &[b"h2", b"http/1.1"]);
        // The UDP-silent host.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = listener.local_addr().unwrap();
        tokio::spawn(serve_handshakes(listener, TlsAcceptor::from(tcp_server.clone())));
        let _silent = UdpSocket::bind(silent_addr).await.unwrap();
        // The healthy host: QUIC and TCP+TLS on one port.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let healthy = listener.local_addr().unwrap();
        tokio::spawn(serve_handshakes(listener, TlsAcceptor::from(tcp_server)));
        let _quic_server = serve_quic(with_alpn(&server, &[b"h3"]), healthy);

        let base = || {
            Connector::new()
                .tls_config(client.clone())
                .alpn(["h3", "h2", "http/1.1"])
        };
        let tcp_alone = base();
        let remembered = base().quic(true);
        let quic = base().quic(true);
        // Raw quinn: one endpoint, the same client configuration.
        let mut raw_config = (*client).clone();
        raw_config.alpn_protocols = vec![b"h3".to_vec()];
        let raw_config = quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(raw_config)).unwrap(),
        ));
        let raw = quinn::Endpoint::client("0.0.0.0:0".parse().unwrap()).unwrap();

        let secure = |c: &Connector, addr: SocketAddr| {
            let f = c.builder(addr).server_name("localhost").connect_secure();
            async move { f.await.unwrap() }
        };
        let tls_alone = |addr: SocketAddr| {
            let f = tcp_alone.builder(addr).server_name("localhost").connect_tls();
            async move { Secure::Tls(f.await.unwrap()) }
        };
        // `connect_with` inside the timed future: it builds the ClientHello
        // (the key share), and the endpoint sends it and the server starts
        // answering at once, all of which our `connect_secure` does inside
        // its future too. (Called before the clock started, it hid about
        // 370 µs of every raw connect, 1.1 ms after an idle gap.)
        let raw_quinn = || async {
            let connecting = raw.connect_with(raw_config.clone(), healthy, "localhost").unwrap();
            Secure::Quic(connecting.await.unwrap())
        };

        // Warm up; the remembering connector learns that UDP is broken.
        for _ in 0..20 {
            close(tls_alone(silent_addr).await);
            close(secure(&remembered, silent_addr).await);
            close(secure(&quic, healthy).await);
            close(raw_quinn().await);
        }
        assert!(!secure(&remembered, silent_addr).await.is_quic());
        assert!(secure(&quic, healthy).await.is_quic());
        // `QUIC_ONLY=CASE[:N]`: N connects (default 500) of one case
        // alone (0, 2, 3, 4, 5 as below), for counting under callgrind.
        if let Ok(only) = std::env::var("QUIC_ONLY") {
            let (case, n) = only.split_once(':').unwrap_or((&only, "500"));
            let n: usize = n.parse().unwrap();
            for _ in 0..n {
                match case {
                    "0" => close(tls_alone(silent_addr).await),
                    "2" => close(secure(&remembered, silent_addr).await),
                    "3" => close(tls_alone(healthy).await),
                    "4" => close(secure(&quic, healthy).await),
                    _ => close(raw_quinn().await),
                }
            }
            return;
        }

        let mut cases: Vec<Case> = [
            "TCP+TLS alone (connect_tls), UDP-silent host",
            "quic(true) first connect, UDP-silent host",
            "quic(true) second connect (UDP remembered broken)",
            "TCP+TLS alone (connect_tls), healthy host",
            "quic(true), healthy host (QUIC wins)",
            "raw quinn Endpoint::connect, healthy host",
        ]
        .into_iter()
        .map(|name| Case {
            name,
            rounds: Vec::new(),
        })
        .collect();
        for round in 0..rounds {
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
            for i in 0..per_round {
                // Alternate the order of the cases.
                let order: Vec<usize> = if (round + i) % 2 == 0 {
                    vec![0, 2, 3, 4, 5]
                } else {
                    vec![5, 4, 3, 2, 0]
                };
                for c in order {
                    let us = match c {
                        0 => time(tls_alone(silent_addr)).await,
                        2 => time(secure(&remembered, silent_addr)).await,
                        3 => time(tls_alone(healthy)).await,
                        4 => time(secure(&quic, healthy)).await,
                        _ => time(raw_quinn()).await,
                    };
                    samples[c].push(us);
                }
            }
            // The first connect waits ~100 ms each: fewer of them.
            for _ in 0..first_per_round {
                let fresh = base().quic(true);
                samples[1].push(time(secure(&fresh, silent_addr)).await);
            }
            for (case, mut s) in cases.iter_mut().zip(samples) {
                case.rounds.push(median(&mut s));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "connect times over loopback (µs), median of {rounds} interleaved rounds of {per_round}"
        );
        let med: Vec<f64> = cases.iter().map(|c| median(&mut c.rounds.clone())).collect();
        for (case, m) in cases.iter().zip(&med) {
            println!("  {:<52} median {m:>9.0} µs", case.name);
        }
        let paired = |a: usize, b: usize| {
            median(
                &mut cases[a]
                    .rounds
                    .iter()
                    .zip(&cases[b].rounds)
                    .map(|(x, y)| x / y)
                    .collect::<Vec<_>>(),
            )
        };
        println!(
            "  UDP-silent second connect / TCP+TLS alone: {:.3}x (per-round {:.3}x; target <= 1.10x)",
            med[2] / med[0],
            paired(2, 0)
        );
        println!(
            "  UDP-silent first connect / TCP+TLS alone:  {:.2}x (the {:?} QUIC wait)",
            med[1] / med[0],
            tokio_endpoints::QUIC_SOFT_WAIT
        );
        println!(
            "  QUIC (connect_secure) / raw quinn:        {:.3}x (per-round {:.3}x)",
            med[4] / med[5],
            paired(4, 5)
        );
        println!(
            "  QUIC (connect_secure) / TCP+TLS alone:    {:.3}x (per-round {:.3}x)",
            med[4] / med[3],
            paired(4, 3)
        );
    });
}
