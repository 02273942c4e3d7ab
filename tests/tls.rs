//! `connect_tls` against loopback servers with rcgen certificates. Timeouts
//! are short (300 ms) and real: these tests use real sockets, so never
//! paused time. Descriptor leaks are checked in `tls_fds.rs`, a test binary
//! of its own (tests here run in parallel threads, which open and close
//! descriptors at any moment).

mod support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use support::{Ca, SHORT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_endpoints::rustls::{CertificateError, Error as TlsError, ProtocolVersion};
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Resolver};

/// Sets one option on a builder.
type SetOption<'a> = Box<dyn Fn(ConnectionBuilder) -> ConnectionBuilder + 'a>;

#[tokio::test]
async fn echo_round_trip_and_clean_close() {
    let ca = Ca::new("test CA");
    let seen = support::echo_round_trip(&ca, |addr| {
        ConnectionBuilder::new(addr).server_name("localhost")
    })
    .await;
    assert!(seen.handshake_ok);
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn default_server_name_is_the_target_host() {
    let ca = Ca::new("test CA");
    let seen = support::echo_round_trip(&ca, |addr| {
        let resolver = Resolver::fixed([("localhost", vec![addr.ip()])]);
        ConnectionBuilder::new(("localhost", addr.port())).resolver(resolver)
    })
    .await;
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn stream_exposes_the_connection() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(stream.alpn_protocol(), None);
    assert_eq!(stream.peer_certificates().unwrap(), &leaf.chain[..]);
    assert_eq!(stream.peer_addr().unwrap(), addr);
    assert_eq!(
        stream.get_ref().0.local_addr().unwrap(),
        stream.local_addr().unwrap()
    );
    assert!(
        stream.get_ref().0.nodelay().unwrap(),
        "nodelay applies under TLS"
    );
    assert_eq!(stream.shutdown_timeout(), Some(Duration::from_secs(30)));
    assert!(format!("{stream:?}").contains("TLSv1_3"));
    drop(stream);
    server.await.unwrap();
}

#[tokio::test]
async fn wrong_server_name_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let err = support::failing_handshake(ca.client_config(), leaf.server_config(&[]), |addr| {
        ConnectionBuilder::new(addr).server_name("other.example")
    })
    .await;
    assert!(
        matches!(
            err.tls_error(),
            Some(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let ca = Ca::new("test CA");
    let other = Ca::new("another CA");
    let leaf = other.leaf(&["localhost"]);
    let err = support::failing_handshake(ca.client_config(), leaf.server_config(&[]), |addr| {
        ConnectionBuilder::new(addr).server_name("localhost")
    })
    .await;
    assert!(
        matches!(
            err.tls_error(),
            Some(TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // In plain words, with what to do.
    assert!(
        err.to_string()
            .contains("not signed by a trusted CA (UnknownIssuer); trust its CA"),
        "{err}"
    );
}

#[tokio::test]
async fn expired_leaf_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.expired_leaf(&["localhost"]);
    let err = support::failing_handshake(ca.client_config(), leaf.server_config(&[]), |addr| {
        ConnectionBuilder::new(addr).server_name("localhost")
    })
    .await;
    assert!(
        matches!(
            err.tls_error(),
            Some(TlsError::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn ip_target_verifies_the_ip_san_and_sends_no_sni() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let stream = ConnectionBuilder::new(addr)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
    let seen = server.await.unwrap();
    assert!(seen.handshake_ok);
    assert_eq!(seen.sni, None, "SNI carries host names only");
}

#[tokio::test]
async fn ipv6_target_verifies_the_ip_san() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["::1"]);
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(listener);
    let (addr, server) = support::echo_server("[::1]:0", leaf.server_config(&[])).await;
    let stream = ConnectionBuilder::new(addr)
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
    assert_eq!(server.await.unwrap().sni, None);
}

#[tokio::test]
async fn ip_target_without_an_ip_san_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let err = support::failing_handshake(
        ca.client_config(),
        leaf.server_config(&[]),
        ConnectionBuilder::new,
    )
    .await;
    assert!(
        matches!(
            err.tls_error(),
            Some(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_name_may_be_an_ip_address() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let resolver = Resolver::fixed([("db.internal", vec![addr.ip()])]);
    let stream = ConnectionBuilder::new(("db.internal", addr.port()))
        .resolver(resolver)
        .server_name("127.0.0.1")
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    drop(stream);
    assert_eq!(server.await.unwrap().sni, None);
}

#[tokio::test]
async fn alpn_is_negotiated() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) =
        support::echo_server("127.0.0.1:0", leaf.server_config(&["http/1.1", "h2"])).await;
    let stream = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .alpn(["h2", "http/1.1"])
        .tls_config(ca.client_config())
        .connect_tls()
        .await
        .unwrap();
    // rustls servers pick by their own preference among those offered.
    assert_eq!(stream.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(stream);
    server.await.unwrap();
}

#[tokio::test]
async fn alpn_mismatch_fails_the_handshake() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let err = support::failing_handshake(ca.client_config(), leaf.server_config(&["h2"]), |addr| {
        ConnectionBuilder::new(addr)
            .server_name("localhost")
            .alpn(["http/1.1"])
    })
    .await;
    assert!(err.tls_error().is_some(), "{err:?}");
}

#[tokio::test]
async fn silent_server_times_the_handshake_out() {
    let ca = Ca::new("test CA");
    support::silent_server_times_out(&ca).await;
}

#[tokio::test]
async fn shutdown_is_bounded_when_the_peer_never_reads() {
    let ca = Ca::new("test CA");
    support::peer_never_reads(&ca).await;
}

#[tokio::test]
async fn tls_over_from_stream() {
    let ca = Ca::new("test CA");
    support::over_from_stream(&ca).await;
}

#[tokio::test]
async fn from_stream_needs_a_server_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let err = ConnectionBuilder::from_stream(tcp)
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert!(err.to_string().contains("server_name"), "{err}");
}

#[tokio::test]
async fn tls_options_are_refused_on_plain_connect() {
    let ca = Ca::new("test CA");
    let cases: Vec<(&str, SetOption<'_>)> = vec![
        ("tls_config", Box::new(|b| b.tls_config(ca.client_config()))),
        ("server_name", Box::new(|b| b.server_name("localhost"))),
        ("alpn", Box::new(|b| b.alpn(["h2"]))),
        (
            "tls_handshake_timeout",
            Box::new(|b| b.tls_handshake_timeout(SHORT)),
        ),
        (
            "tls_shutdown_timeout",
            Box::new(|b| b.tls_shutdown_timeout(SHORT)),
        ),
    ];
    for (option, set) in cases {
        let (addr, untouched) = support::untouched_listener();
        let err = set(ConnectionBuilder::new(addr))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{option}");
        let message = err.to_string();
        assert!(message.contains(option), "{message}");
        assert!(message.contains("connect_tls"), "{message}");
        untouched();
    }
    // Also on an adopted stream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let err = ConnectionBuilder::from_stream(tcp)
        .server_name("localhost")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
}

#[tokio::test]
async fn bad_tls_input_is_refused_before_any_packet() {
    let ca = Ca::new("test CA");
    let cases: Vec<(&str, SetOption<'_>)> = vec![
        ("server_name is empty", Box::new(|b| b.server_name(""))),
        ("not a valid name", Box::new(|b| b.server_name("bad name!"))),
        ("alpn", Box::new(|b| b.alpn([""]))),
        ("alpn", Box::new(|b| b.alpn([vec![b'x'; 256]]))),
        (
            "tls_handshake_timeout",
            Box::new(|b| b.tls_handshake_timeout(Duration::ZERO)),
        ),
        (
            "tls_shutdown_timeout",
            Box::new(|b| b.tls_shutdown_timeout(Duration::ZERO)),
        ),
    ];
    for (expected, set) in cases {
        let (addr, untouched) = support::untouched_listener();
        let err = set(ConnectionBuilder::new(addr).tls_config(ca.client_config()))
            .connect_tls()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ConnectErrorKind::InvalidInput,
            "{expected}: {err}"
        );
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        untouched();
    }
}

#[tokio::test]
async fn no_timeouts_is_allowed() {
    let ca = Ca::new("test CA");
    let seen = support::echo_round_trip(&ca, |addr: SocketAddr| {
        ConnectionBuilder::new(addr)
            .server_name("localhost")
            .tls_handshake_timeout(None)
            .tls_shutdown_timeout(None)
    })
    .await;
    assert!(seen.handshake_ok);
}

/// The default configuration needs no process-default crypto provider (none
/// is installed in this test binary) and does not trust our test CA.
#[tokio::test]
async fn default_config_never_panics() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    let err = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .connect_tls()
        .await
        .unwrap_err();
    match err.kind() {
        ConnectErrorKind::Tls => assert!(
            matches!(
                err.tls_error(),
                Some(TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        ),
        // A machine without any trust roots: refused before connecting.
        ConnectErrorKind::InvalidInput => {
            assert!(err.to_string().contains("trust roots"), "{err}");
            drop(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        other => panic!("unexpected {other:?}: {err}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn dropping_connect_tls_mid_handshake_closes_the_socket() {
    let ca = Ca::new("test CA");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connecting = ConnectionBuilder::new(addr)
        .server_name("localhost")
        .tls_config(ca.client_config())
        .connect_tls();
    // The server never answers; give up after 100 ms by dropping the future.
    assert!(tokio::time::timeout(Duration::from_millis(100), connecting)
        .await
        .is_err());
    let (mut tcp, _) = listener.accept().await.unwrap();
    let mut sink = Vec::new();
    // EOF (or a reset): the client's socket is gone.
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut sink))
        .await
        .expect("the client socket was not closed");
    assert!(!sink.is_empty(), "a ClientHello was sent");
    let _ = tcp.shutdown().await;
}

#[tokio::test]
async fn a_malformed_target_is_reported_first() {
    let err = ConnectionBuilder::new("example.com")
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert!(err.to_string().contains("missing port"), "{err}");
}
