//! Loopback servers for the QUIC tests: a quinn server and a TCP+TLS
//! server on one port, a UDP socket that never answers, accept counts.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_endpoints::quinn;
use tokio_endpoints::rustls::ServerConfig;
use tokio_endpoints::ConnectionBuilder;

use crate::support::{Ca, Leaf};

/// What answers on the UDP side of the port.
pub enum Udp<'a> {
    /// A quinn server with this leaf.
    Quic(&'a Leaf),
    /// A UDP socket bound to the port that never reads nor answers.
    Silent,
    /// Nothing bound.
    Nothing,
}

/// A TCP+TLS server and a UDP side on one loopback port.
pub struct Servers {
    pub addr: SocketAddr,
    pub tcp_accepts: Arc<AtomicUsize>,
    pub quic_accepts: Arc<AtomicUsize>,
    /// The address each QUIC connection came from.
    pub quic_peers: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    /// The silent socket (to check that nothing reached it).
    pub silent: Option<UdpSocket>,
    quic: Option<quinn::Endpoint>,
    tasks: Vec<JoinHandle<()>>,
}

impl Servers {
    /// `tcp`: the TCP+TLS server's leaf (ALPN h2, http/1.1); `None`: no
    /// TCP listener (the port is still reserved by an unaccepted one).
    pub async fn start(udp: Udp<'_>, tcp: Option<&Leaf>) -> Servers {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp_accepts = Arc::new(AtomicUsize::new(0));
        let quic_accepts = Arc::new(AtomicUsize::new(0));
        let quic_peers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        if let Some(leaf) = tcp {
            let acceptor = tokio_rustls::TlsAcceptor::from(leaf.server_config(&["h2", "http/1.1"]));
            let accepts = tcp_accepts.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    accepts.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(mut tls) = acceptor.accept(stream).await {
                            // Until the client closes.
                            let mut buf = [0u8; 64];
                            let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                        }
                    });
                }
            }));
        } else {
            tasks.push(tokio::spawn(async move {
                let _keep = listener;
                std::future::pending::<()>().await
            }));
        }
        let mut silent = None;
        let mut quic = None;
        match udp {
            Udp::Quic(leaf) => {
                let endpoint = quic_server(leaf.server_config(&["h3"]), addr);
                let accepts = quic_accepts.clone();
                let e = endpoint.clone();
                let peers = quic_peers.clone();
                tasks.push(tokio::spawn(async move {
                    while let Some(incoming) = e.accept().await {
                        accepts.fetch_add(1, Ordering::SeqCst);
                        peers.lock().unwrap().push(incoming.remote_address());
                        tokio::spawn(async move {
                            if let Ok(conn) = incoming.await {
                                conn.closed().await;
                            }
                        });
                    }
                }));
                quic = Some(endpoint);
            }
            Udp::Silent => silent = Some(UdpSocket::bind(addr).await.unwrap()),
            Udp::Nothing => {}
        }
        Servers {
            addr,
            tcp_accepts,
            quic_accepts,
            quic_peers,
            silent,
            quic,
            tasks,
        }
    }

    pub fn tcp_accepts(&self) -> usize {
        self.tcp_accepts.load(Ordering::SeqCst)
    }

    pub fn quic_accepts(&self) -> usize {
        self.quic_accepts.load(Ordering::SeqCst)
    }

    /// Whether any datagram reached the silent socket.
    pub fn silent_got_a_datagram(&self) -> bool {
        let mut buf = [0u8; 2048];
        let socket = self.silent.as_ref().expect("a silent UDP side");
        !matches!(socket.try_recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Stops the servers and waits until their sockets are closed.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(endpoint) = self.quic.take() {
            endpoint.close(0u32.into(), b"");
            endpoint.wait_idle().await;
        }
        drop(self.silent.take());
    }
}

pub fn quic_server(config: Arc<ServerConfig>, addr: SocketAddr) -> quinn::Endpoint {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(config).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn::Endpoint::server(config, addr).unwrap()
}

/// A builder for `addr` that trusts `ca` and verifies the name localhost.
pub fn builder(ca: &Ca, addr: SocketAddr) -> ConnectionBuilder {
    ConnectionBuilder::new(addr)
        .tls_config(ca.client_config())
        .server_name("localhost")
}
