//! Happy Eyeballs v3 scenarios on loopback: the TLS handshake inside the
//! race. Shared by `hev3.rs` (one test each) and `hev3_fds.rs` (all of them
//! in one process, counting descriptors).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_endpoints::{AttemptStage, ConnectErrorKind, ConnectionBuilder};

use crate::support::{echo_server, Ca, MARGIN};

/// What a bad server does after accepting TCP.
#[derive(Clone, Copy, Debug)]
pub enum Bad {
    /// Resets the connection (RST) at once.
    Reset,
    /// Answers the ClientHello with bytes that are not TLS, then closes.
    Garbage,
    /// Reads the ClientHello and never answers.
    Silent,
}

/// A server on `ip` that takes one connection and misbehaves.
pub async fn bad_server(ip: &str, bad: Bad) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        match bad {
            Bad::Reset => {
                SockRef::from(&tcp)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            Bad::Garbage => {
                let mut buf = [0u8; 16];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
            Bad::Silent => {
                let mut sink = Vec::new();
                let _ = tcp.read_to_end(&mut sink).await;
            }
        }
    });
    (addr, task)
}

/// `[::1]` takes TCP and then fails TLS as `bad` says; `127.0.0.1` serves
/// TLS. connect_tls must win over IPv4, as soon as the IPv6 handshake
/// fails. Returns how long the call took.
pub async fn v6_breaks_tls_v4_wins(ca: &Ca, bad: Bad) -> Duration {
    let leaf = ca.leaf(&["localhost"]);
    let (v6, bad_task) = bad_server("[::1]", bad).await;
    let (v4, good) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let started = Instant::now();
    let stream = ConnectionBuilder::new(vec![v6, v4])
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), v4);
    assert!(took < Duration::from_millis(100), "{bad:?}: {took:?}");
    drop(stream);
    bad_task.await.unwrap();
    assert!(good.await.unwrap().handshake_ok);
    took
}

/// `[::1]` takes TCP and never answers the ClientHello: with a 250 ms
/// delay, IPv4 starts 250 ms after the IPv6 TCP handshake and wins.
pub async fn v6_silent_after_tcp_v4_wins_at_the_delay(ca: &Ca) -> Duration {
    let delay = Duration::from_millis(250);
    let leaf = ca.leaf(&["localhost"]);
    let (v6, silent) = bad_server("[::1]", Bad::Silent).await;
    let (v4, good) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let started = Instant::now();
    let stream = ConnectionBuilder::new(vec![v6, v4])
        .server_name("localhost")
        .happy_eyeballs(delay)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), v4);
    assert!(took >= delay, "{took:?}");
    assert!(took < delay + MARGIN, "{took:?}");
    drop(stream);
    // The IPv6 attempt, mid-handshake, was closed: the silent server sees EOF.
    silent.await.unwrap();
    assert!(good.await.unwrap().handshake_ok);
    took
}

/// The first address has a certificate for another name, the second a good
/// one: the second wins, and verification was not weakened for it.
pub async fn refused_certificate_falls_back(ca: &Ca) {
    let wrong = ca.leaf(&["other.example"]);
    let right = ca.leaf(&["localhost"]);
    let (v6, first) = echo_server("[::1]:0", wrong.server_config(&[])).await;
    let (v4, second) = echo_server("127.0.0.1:0", right.server_config(&[])).await;
    let stream = ConnectionBuilder::new(vec![v6, v4])
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), v4);
    drop(stream);
    assert!(!first.await.unwrap().handshake_ok);
    assert!(second.await.unwrap().handshake_ok);
}

/// Every address fails, in different stages: the error keeps each attempt
/// with its stage, and the TLS reason.
pub async fn all_fail_with_their_stages(ca: &Ca) {
    let wrong = ca.leaf(&["other.example"]);
    let refused = crate::common::refused(crate::common::V6);
    let (v4, server) = echo_server("127.0.0.1:0", wrong.server_config(&[])).await;
    let err = ConnectionBuilder::new(vec![refused, v4])
        .server_name("localhost")
        .tls_config(ca.client_config())
        .all_errors(true)
        .connect_tls()
        .await
        .unwrap_err();
    assert!(!server.await.unwrap().handshake_ok);
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed, "{err}");
    let stages: Vec<_> = err
        .attempts()
        .iter()
        .map(|a| (a.addr(), a.stage()))
        .collect();
    assert_eq!(
        stages,
        vec![(refused, AttemptStage::Tcp), (v4, AttemptStage::Tls)],
        "{err}"
    );
    assert_eq!(
        err.attempts()[0].error().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    assert!(err.tls_error().is_some(), "{err:?}");
    assert!(
        err.to_string()
            .contains("valid for other.example, not for localhost (NotValidForName)"),
        "{err}"
    );
}

/// Two addresses, both failing their handshakes: the error reads as a TLS
/// failure (as with one address), and keeps both attempts.
pub async fn all_fail_in_tls(ca: &Ca) {
    let wrong = ca.leaf(&["other.example"]);
    let (v6, a) = echo_server("[::1]:0", wrong.server_config(&[])).await;
    let (v4, b) = echo_server("127.0.0.1:0", wrong.server_config(&[])).await;
    let err = ConnectionBuilder::new(vec![v6, v4])
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_err();
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.peer_addr(), Some(v6));
    assert_eq!(err.attempts().len(), 2);
    assert!(err
        .attempts()
        .iter()
        .all(|a| a.stage() == AttemptStage::Tls));
    assert!(err.tls_error().is_some(), "{err:?}");
}

/// `connect_timeout` bounds the whole call, handshakes included.
pub async fn connect_timeout_covers_the_handshake(ca: &Ca) {
    let (v4, silent) = bad_server("127.0.0.1", Bad::Silent).await;
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = ConnectionBuilder::new(v4)
        .server_name("localhost")
        .connect_timeout(timeout)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut, "{err}");
    assert!(took >= timeout && took < timeout + MARGIN, "{took:?}");
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.attempts()[0].stage(), AttemptStage::Tls);
    silent.await.unwrap();
}
