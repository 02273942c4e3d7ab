//! QUIC raced against TCP+TLS (Happy Eyeballs v3) on loopback: a quinn
//! server and a TCP+TLS server on one port, a UDP socket that never
//! answers, bad certificates, and `quic(false)` sending nothing over UDP.
#![cfg(feature = "quic")]

mod quic_support;
mod support;

use std::time::{Duration, Instant};

use quic_support::{builder, Servers, Udp};
use support::Ca;
use tokio_endpoints::{
    AttemptStage, ConnectErrorKind, Connector, Secure, QUIC_HARD_WAIT, QUIC_SOFT_WAIT,
};

/// How much later than planned a step may come on a busy machine.
const MARGIN: Duration = Duration::from_millis(700);

#[tokio::test]
async fn quic_only_connects_over_quic_with_h3() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let conn = builder(&ca, servers.addr)
        .alpn(["h3"])
        .quic_only()
        .connect_secure()
        .await
        .unwrap();
    assert!(conn.is_quic());
    assert_eq!(conn.alpn_protocol().as_deref(), Some(&b"h3"[..]));
    assert_eq!(conn.peer_addr().unwrap(), servers.addr);
    let Secure::Quic(conn) = conn else {
        unreachable!()
    };
    // A stream over it works.
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(b"hi").await.unwrap();
    conn.close(0u32.into(), b"done");
    assert_eq!(servers.tcp_accepts(), 0, "quic_only never connects TCP");
    assert_eq!(servers.quic_accepts(), 1);
    servers.stop().await;
}

#[tokio::test]
async fn quic_only_happy_eyeballs_moves_past_a_silent_address() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let silent = Servers::start(Udp::Silent, None).await;
    let good = Servers::start(Udp::Quic(&leaf), None).await;
    let started = Instant::now();
    // The silent address first, the good one second.
    let conn = tokio_endpoints::ConnectionBuilder::new(vec![silent.addr, good.addr])
        .tls_config(ca.client_config())
        .server_name("localhost")
        .happy_eyeballs(Duration::from_millis(50))
        .quic_only()
        .connect_secure()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(conn.peer_addr().unwrap(), good.addr);
    assert!(took >= Duration::from_millis(50), "took {took:?}");
    assert!(took < Duration::from_millis(50) + MARGIN, "took {took:?}");
    assert!(
        silent.silent_got_a_datagram(),
        "the first attempt went to the silent address"
    );
    drop(conn);
    silent.stop().await;
    good.stop().await;
}

#[tokio::test]
async fn quic_only_fails_with_every_attempt_when_nothing_answers() {
    let ca = Ca::new("quic CA");
    let silent = Servers::start(Udp::Silent, None).await;
    let err = builder(&ca, silent.addr)
        .quic_only()
        .attempt_timeout(Duration::from_millis(200))
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed, "{err}");
    assert_eq!(err.attempts().len(), 1, "{err}");
    assert_eq!(err.attempts()[0].stage(), AttemptStage::Quic);
    assert_eq!(
        err.attempts()[0].error().kind(),
        std::io::ErrorKind::TimedOut
    );
    silent.stop().await;
}

#[tokio::test]
async fn healthy_quic_wins_and_tcp_never_connects() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let conn = builder(&ca, servers.addr)
        .alpn(["h3", "h2", "http/1.1"])
        .quic(true)
        .connect_secure()
        .await
        .unwrap();
    assert!(conn.is_quic(), "{conn:?}");
    assert_eq!(conn.alpn_protocol().as_deref(), Some(&b"h3"[..]));
    // TCP would have started QUIC_SOFT_WAIT in: give it that and more.
    tokio::time::sleep(QUIC_HARD_WAIT * 2).await;
    assert_eq!(
        servers.tcp_accepts(),
        0,
        "TCP connected while QUIC was healthy"
    );
    assert_eq!(servers.quic_accepts(), 1);
    drop(conn);
    servers.stop().await;
}

#[tokio::test]
async fn silent_udp_lets_tcp_win_after_the_wait_and_the_second_connect_starts_tcp_at_once() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Silent, Some(&leaf)).await;
    let connector = Connector::new()
        .tls_config(ca.client_config())
        .alpn(["h3", "h2", "http/1.1"])
        .quic(true);
    let connect = || {
        connector
            .builder(servers.addr)
            .server_name("localhost")
            .connect_secure()
    };

    let started = Instant::now();
    let first = connect().await.unwrap();
    let took = started.elapsed();
    let Secure::Tls(tls) = &first else {
        panic!("QUIC won against a silent UDP port")
    };
    // TCP offers the other protocols, never h3.
    assert_eq!(tls.alpn_protocol(), Some(&b"h2"[..]));
    assert!(
        took >= QUIC_SOFT_WAIT,
        "TCP did not wait for QUIC: {took:?}"
    );
    assert!(took < QUIC_SOFT_WAIT + MARGIN, "took {took:?}");
    assert!(servers.silent_got_a_datagram(), "a QUIC Initial went out");
    assert_eq!(servers.tcp_accepts(), 1);

    // UDP is remembered as broken: TCP at once, through a clone too, and
    // not one UDP packet (what the first connect sent drained first).
    tokio::time::sleep(Duration::from_millis(50)).await;
    while servers.silent_got_a_datagram() {}
    let started = Instant::now();
    let second = connector
        .clone()
        .builder(servers.addr)
        .server_name("localhost")
        .connect_secure()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(!second.is_quic());
    assert!(
        took < QUIC_SOFT_WAIT,
        "the second connect waited for QUIC: {took:?}"
    );
    let Secure::Tls(tls) = &second else {
        unreachable!()
    };
    assert_eq!(tls.alpn_protocol(), Some(&b"h2"[..]), "h3 offered over TCP");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !servers.silent_got_a_datagram(),
        "a QUIC packet went to a target remembered as broken"
    );
    assert_eq!(servers.tcp_accepts(), 2);
    // The report says why QUIC was not tried, and so does an error.
    let (tls, report) = connector
        .builder(servers.addr)
        .server_name("localhost")
        .connect_secure_reported()
        .await
        .unwrap();
    assert!(!tls.is_quic());
    let text = report.to_string();
    assert!(
        text.contains("QUIC not tried: UDP remembered as broken for another"),
        "{text}"
    );
    let e = connector
        .builder(servers.addr)
        .server_name("not-the-name.test")
        .connect_secure()
        .await
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("QUIC not tried: UDP remembered as broken"),
        "{e:?}"
    );
    assert!(!servers.silent_got_a_datagram());
    assert_eq!(servers.tcp_accepts(), 4);
    drop(tls);

    // Forgotten: the wait again.
    connector.clear_history();
    let started = Instant::now();
    let third = connect().await.unwrap();
    assert!(!third.is_quic());
    assert!(started.elapsed() >= QUIC_SOFT_WAIT);
    drop((first, second, third));
    servers.stop().await;
}

#[tokio::test]
async fn a_quic_certificate_failure_lets_tcp_go_at_once() {
    let ca = Ca::new("quic CA");
    let good = ca.leaf(&["localhost"]);
    let other = Ca::new("another CA").leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&other), Some(&good)).await;
    let started = Instant::now();
    let conn = builder(&ca, servers.addr)
        .alpn(["h3", "h2"])
        .quic(true)
        // No UDP memory from this call: the failure was no silence.
        .history(false)
        .connect_secure()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        !conn.is_quic(),
        "a QUIC server with an untrusted certificate won"
    );
    assert_eq!(conn.alpn_protocol().as_deref(), Some(&b"h2"[..]));
    assert!(took < QUIC_SOFT_WAIT + MARGIN, "took {took:?}");
    assert_eq!(servers.quic_accepts(), 1);
    assert_eq!(servers.tcp_accepts(), 1);
    drop(conn);
    servers.stop().await;
}

#[tokio::test]
async fn bad_certificates_on_both_fail_with_both_errors() {
    let ca = Ca::new("quic CA");
    let other = Ca::new("another CA").leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&other), Some(&other)).await;
    let err = builder(&ca, servers.addr)
        .quic(true)
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed, "{err}");
    let stages: Vec<AttemptStage> = err.attempts().iter().map(|a| a.stage()).collect();
    assert_eq!(stages, [AttemptStage::Quic, AttemptStage::Tls], "{err}");
    let quic = err.attempts()[0].error().to_string();
    assert!(
        quic.contains("UnknownIssuer") || quic.contains("certificate"),
        "{quic}"
    );
    servers.stop().await;
}

#[tokio::test]
async fn quic_false_never_sends_a_udp_packet() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Silent, Some(&leaf)).await;
    let started = Instant::now();
    let a = builder(&ca, servers.addr)
        .quic(false)
        .connect_secure()
        .await
        .unwrap();
    let b = builder(&ca, servers.addr).connect_secure().await.unwrap();
    let c = Connector::new()
        .tls_config(ca.client_config())
        .quic(true)
        .quic(false)
        .builder(servers.addr)
        .server_name("localhost")
        .connect_secure()
        .await
        .unwrap();
    assert!(
        started.elapsed() < QUIC_SOFT_WAIT * 3,
        "a TCP connect waited"
    );
    assert!(!a.is_quic() && !b.is_quic() && !c.is_quic());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!servers.silent_got_a_datagram(), "a UDP packet was sent");
    assert_eq!(servers.tcp_accepts(), 3);
    drop((a, b, c));
    servers.stop().await;
}

#[tokio::test]
async fn connect_timeout_bounds_the_whole_call() {
    let ca = Ca::new("quic CA");
    let silent = Servers::start(Udp::Silent, None).await;
    let started = Instant::now();
    let err = builder(&ca, silent.addr)
        .quic_only()
        .connect_timeout(Duration::from_millis(150))
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_millis(150) + MARGIN);
    silent.stop().await;
}

#[tokio::test]
async fn a_connector_shares_one_endpoint_per_family_between_clones() {
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let connector = Connector::new().tls_config(ca.client_config()).quic(true);
    let mut locals = Vec::new();
    for c in [connector.clone(), connector.clone(), connector] {
        let conn = c
            .builder(servers.addr)
            .server_name("localhost")
            .connect_secure()
            .await
            .unwrap();
        let Secure::Quic(conn) = conn else {
            panic!("TCP won on loopback")
        };
        locals.push(conn);
    }
    // One UDP socket: the server sees every connection from one port.
    let peers = servers.quic_peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
    // A one-shot builder opens its own.
    let own = builder(&ca, servers.addr)
        .quic(true)
        .connect_secure()
        .await
        .unwrap();
    assert!(own.is_quic());
    assert_ne!(servers.quic_peers.lock().unwrap()[3], peers[0]);
    assert_eq!(servers.quic_accepts(), 4);
    assert_eq!(servers.tcp_accepts(), 0);
    drop((locals, own));
    servers.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_before_any_packet() {
    let ca = Ca::new("quic CA");
    let servers = Servers::start(Udp::Silent, None).await;
    let err = builder(&ca, servers.addr)
        .alpn([""; 1])
        .quic(true)
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    let err = tokio_endpoints::ConnectionBuilder::new("127.0.0.1:0")
        .quic_only()
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    // TLS 1.2 only: no QUIC.
    let tls12 = tokio_endpoints::rustls::ClientConfig::builder_with_provider(
        tokio_endpoints::crypto_provider(),
    )
    .with_protocol_versions(&[&tokio_endpoints::rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(tokio_endpoints::rustls::RootCertStore::empty())
    .with_no_client_auth();
    let err = tokio_endpoints::ConnectionBuilder::new(servers.addr)
        .tls_config(std::sync::Arc::new(tls12))
        .quic_only()
        .connect_secure()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("TLS 1.3"), "{err}");
    assert!(!servers.silent_got_a_datagram());
    servers.stop().await;
}

/// A resolver that names `quic.test` 127.0.0.1, with these HTTPS records.
fn named(records: Vec<tokio_endpoints::ServiceRecord>) -> tokio_endpoints::Resolver {
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    tokio_endpoints::Resolver::fixed_with_services(
        [("quic.test", vec![ip])],
        [("quic.test", records)],
    )
}

fn by_name(
    ca: &Ca,
    port: u16,
    resolver: tokio_endpoints::Resolver,
) -> tokio_endpoints::ConnectionBuilder {
    tokio_endpoints::ConnectionBuilder::new(("quic.test", port))
        .resolver(resolver)
        .tls_config(ca.client_config())
        .server_name("localhost")
        .alpn(["h3", "h2"])
        .quic(true)
}

#[tokio::test]
async fn an_https_record_offering_h3_brings_quic_in() {
    use tokio_endpoints::ServiceRecord;
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let port = servers.addr.port();
    let h3 = named(vec![ServiceRecord::new(1, ".").with_alpn(["h3", "h2"])]);
    let conn = by_name(&ca, port, h3).connect_secure().await.unwrap();
    assert!(conn.is_quic());
    // no-default-alpn with h3 alone: still QUIC.
    let only_h3 = named(vec![ServiceRecord::new(1, ".")
        .with_alpn(["h3"])
        .with_no_default_alpn()]);
    let conn2 = by_name(&ca, port, only_h3).connect_secure().await.unwrap();
    assert!(conn2.is_quic());
    // No record at all: quic(true) is the prior knowledge.
    let none = named(Vec::new());
    let conn3 = by_name(&ca, port, none).connect_secure().await.unwrap();
    assert!(conn3.is_quic());
    assert_eq!(servers.tcp_accepts(), 0);
    drop((conn, conn2, conn3));
    servers.stop().await;
}

#[tokio::test]
async fn records_without_h3_mean_tcp_alone_unless_quic_worked_before() {
    use tokio_endpoints::ServiceRecord;
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let port = servers.addr.port();
    let h2 = || named(vec![ServiceRecord::new(1, ".").with_alpn(["h2"])]);
    let started = Instant::now();
    let conn = by_name(&ca, port, h2())
        .history(false)
        .connect_secure()
        .await
        .unwrap();
    assert!(!conn.is_quic());
    assert!(
        started.elapsed() < QUIC_SOFT_WAIT,
        "TCP waited for a QUIC never tried"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        servers.quic_accepts(),
        0,
        "QUIC was tried though the record offers no h3"
    );

    // A connector that saw QUIC work for the target tries it again.
    let connector = Connector::new()
        .tls_config(ca.client_config())
        .alpn(["h3", "h2"])
        .quic(true);
    let first = connector
        .builder(("quic.test", port))
        .resolver(named(Vec::new()))
        .server_name("localhost")
        .connect_secure()
        .await
        .unwrap();
    assert!(first.is_quic());
    let again = connector
        .builder(("quic.test", port))
        .resolver(h2())
        .server_name("localhost")
        .connect_secure()
        .await
        .unwrap();
    assert!(again.is_quic(), "the memory of QUIC working was not used");
    drop((conn, first, again));
    servers.stop().await;
}

#[tokio::test]
async fn the_report_and_qlog_show_the_quic_attempts() {
    use std::sync::{Arc, Mutex};
    use tokio_endpoints::{AttemptOutcome, QlogSink};
    let ca = Ca::new("quic CA");
    let leaf = ca.leaf(&["localhost"]);
    // QUIC wins: one QUIC attempt, its handshake in the report.
    let servers = Servers::start(Udp::Quic(&leaf), Some(&leaf)).await;
    let (conn, report) = builder(&ca, servers.addr)
        .quic(true)
        .connect_secure_reported()
        .await
        .unwrap();
    assert!(conn.is_quic());
    assert_eq!(report.winner().stage(), AttemptStage::Quic, "{report}");
    assert_eq!(report.winner().addr(), servers.addr);
    assert_eq!(report.tls().and_then(|t| t.alpn()), Some(&b"h3"[..]));
    assert!(report.to_string().contains("(QUIC, after"), "{report}");
    assert!(report.to_string().contains("over QUIC started"), "{report}");
    drop(conn);
    servers.stop().await;

    // TCP wins over silent UDP: the QUIC attempt cancelled, TCP's won,
    // both in a connector's qlog and on_established.
    let servers = Servers::start(Udp::Silent, Some(&leaf)).await;
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let qlog = Shared::default();
    let told = Arc::new(Mutex::new(Vec::new()));
    let t = told.clone();
    let connector = Connector::new()
        .tls_config(ca.client_config())
        .quic(true)
        .qlog(QlogSink::new(qlog.clone()))
        .on_established(move |r| t.lock().unwrap().push(r.clone()));
    let conn = connector
        .builder(servers.addr)
        .server_name("localhost")
        .connect_secure()
        .await
        .unwrap();
    assert!(!conn.is_quic());
    let reports = told.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "told once");
    let report = &reports[0];
    let stages: Vec<(AttemptStage, bool)> = report
        .attempts()
        .iter()
        .map(|a| (a.stage(), matches!(a.outcome(), AttemptOutcome::Won)))
        .collect();
    assert_eq!(
        stages,
        [(AttemptStage::Quic, false), (AttemptStage::Tls, true)],
        "{report}"
    );
    assert!(matches!(
        report.attempts()[0].outcome(),
        AttemptOutcome::Cancelled
    ));
    assert!(report.winner().started() >= QUIC_SOFT_WAIT, "{report}");
    let qlog = String::from_utf8(qlog.0.lock().unwrap().clone()).unwrap();
    assert!(qlog.contains("\"stage\":\"quic\""), "{qlog}");
    drop(conn);
    servers.stop().await;
}
