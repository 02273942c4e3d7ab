//! The socket options every HTTP stack offers, checked on the connected
//! socket with getsockopt (socket2's `SockRef`): TCP keepalive (time,
//! interval, probes), `TCP_USER_TIMEOUT`, `SO_SNDBUF` / `SO_RCVBUF`, the
//! interface (`SO_BINDTODEVICE` to `lo`), on `ConnectionBuilder` and
//! `Connector`, TCP and TLS, IPv4 and IPv6, first-attempt fast path and
//! race; refusals before any packet; the server's inherited options.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::Ca;
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::socket2::{SockRef, TcpKeepalive};
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Connector, Resolver};
use tokio_rustls::TlsAcceptor;

const TIME: Duration = Duration::from_secs(45);
const INTERVAL: Duration = Duration::from_secs(7);
const RETRIES: u32 = 4;
#[cfg(target_os = "linux")]
const USER_TIMEOUT: Duration = Duration::from_millis(12_345);
const SNDBUF: usize = 96 * 1024;
const RCVBUF: usize = 80 * 1024;

fn keepalive() -> TcpKeepalive {
    TcpKeepalive::new()
        .with_time(TIME)
        .with_interval(INTERVAL)
        .with_retries(RETRIES)
}

/// Every option, set on a builder.
fn with_options(b: ConnectionBuilder) -> ConnectionBuilder {
    let b = b
        .tcp_keepalive(keepalive())
        .send_buffer_size(SNDBUF)
        .recv_buffer_size(RCVBUF);
    #[cfg(target_os = "linux")]
    let b = b.tcp_user_timeout(USER_TIMEOUT).interface("lo");
    b
}

/// Every option, set on a connector.
fn connector_with_options() -> Connector {
    let c = Connector::new()
        .tcp_keepalive(keepalive())
        .send_buffer_size(SNDBUF)
        .recv_buffer_size(RCVBUF);
    #[cfg(target_os = "linux")]
    let c = c.tcp_user_timeout(Some(USER_TIMEOUT)).interface("lo");
    c
}

/// getsockopt for each option on the client's socket.
fn assert_options(stream: &TcpStream, what: &str) {
    let sock = SockRef::from(stream);
    assert!(sock.keepalive().unwrap(), "{what}: SO_KEEPALIVE");
    // Windows sets them (SIO_KEEPALIVE_VALS) but cannot read them back.
    #[cfg(not(windows))]
    {
        assert_eq!(
            sock.tcp_keepalive_time().unwrap(),
            TIME,
            "{what}: TCP_KEEPIDLE"
        );
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            INTERVAL,
            "{what}: TCP_KEEPINTVL"
        );
        assert_eq!(
            sock.tcp_keepalive_retries().unwrap(),
            RETRIES,
            "{what}: TCP_KEEPCNT"
        );
    }
    let (snd, rcv) = (
        sock.send_buffer_size().unwrap(),
        sock.recv_buffer_size().unwrap(),
    );
    if cfg!(target_os = "linux") {
        // Linux doubles the value it is given (socket(7)).
        assert_eq!(snd, 2 * SNDBUF, "{what}: SO_SNDBUF");
        assert_eq!(rcv, 2 * RCVBUF, "{what}: SO_RCVBUF");
    } else {
        assert!(snd >= SNDBUF && rcv >= RCVBUF, "{what}: {snd} {rcv}");
    }
    #[cfg(target_os = "linux")]
    {
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(USER_TIMEOUT),
            "{what}: TCP_USER_TIMEOUT"
        );
        assert_eq!(
            sock.device().unwrap().as_deref(),
            Some(&b"lo"[..]),
            "{what}: SO_BINDTODEVICE"
        );
    }
    // The defaults are untouched.
    assert!(sock.tcp_nodelay().unwrap(), "{what}: TCP_NODELAY");
}

/// A listener that accepts and holds every connection, plain or TLS.
async fn listener(bind: &str, tls: Option<TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            match &tls {
                None => held.push(tcp),
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(mut s) = acceptor.accept(tcp).await {
                            let _ = tokio::io::copy(&mut tokio::io::empty(), &mut s).await;
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    });
                }
            }
        }
    });
    addr
}

/// Both builders, both families, TCP and TLS, one address (the
/// first-attempt fast path, and `connect_tls`'s single attempt), a list
/// (the race) and a host name (resolved).
#[tokio::test]
async fn every_option_is_set_on_the_connected_socket() {
    let ca = Ca::new("options test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1", "::1"]);
    let acceptor = TlsAcceptor::from(leaf.server_config(&[]));
    let refused_v6: SocketAddr = {
        let l = std::net::TcpListener::bind("[::1]:0").unwrap();
        l.local_addr().unwrap()
    };
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let plain = listener(bind, None).await;
        let tls = listener(bind, Some(acceptor.clone())).await;
        // A list whose first address is refused: the race goes on to the
        // second, whose socket must have the options too.
        let raced = vec![refused_v6, plain];
        // A name, resolved (by a fixed table: what `localhost` resolves
        // to varies between machines).
        let by_name = ("localhost", plain.port());
        let names = Resolver::fixed([("localhost", vec![plain.ip()])]);
        let tcp = [
            (
                "builder, one address",
                with_options(ConnectionBuilder::new(plain)),
            ),
            (
                "builder, raced list",
                with_options(ConnectionBuilder::new(raced.clone())),
            ),
            (
                "builder, by name",
                with_options(ConnectionBuilder::new(by_name)).resolver(names.clone()),
            ),
            (
                "connector, one address",
                connector_with_options().builder(plain),
            ),
            (
                "builder with a timeout (the race from the start)",
                with_options(ConnectionBuilder::new(plain)).connect_timeout(Duration::from_secs(5)),
            ),
        ];
        for (what, builder) in tcp {
            let stream = builder
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_options(&stream, &format!("{bind} {what}"));
        }
        let stream = connector_with_options().connect(raced).await.unwrap();
        assert_options(&stream, &format!("{bind} connector, raced list"));

        let tls_builders = [
            ("TLS builder", with_options(ConnectionBuilder::new(tls))),
            ("TLS connector", connector_with_options().builder(tls)),
            (
                "TLS builder, raced list",
                with_options(ConnectionBuilder::new(vec![refused_v6, tls])),
            ),
        ];
        for (what, builder) in tls_builders {
            let stream = builder
                .server_name("localhost")
                .tls_config(ca.client_config())
                .connect_tls()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_options(stream.get_ref().0, &format!("{bind} {what}"));
        }
        let stream = connector_with_options()
            .resolver(names)
            .tls_config(ca.client_config())
            .connect_tls(("localhost", tls.port()))
            .await
            .unwrap();
        assert_options(stream.get_ref().0, &format!("{bind} TLS connector by name"));
    }
}

/// Without the options, nothing is set: the defaults are the system's.
#[tokio::test]
async fn no_option_means_the_system_defaults() {
    let addr = listener("127.0.0.1:0", None).await;
    let stream = ConnectionBuilder::new(addr).connect().await.unwrap();
    let sock = SockRef::from(&stream);
    assert!(!sock.keepalive().unwrap());
    #[cfg(target_os = "linux")]
    {
        assert_eq!(sock.tcp_user_timeout().unwrap(), None);
        assert_eq!(sock.device().unwrap(), None);
    }
}

/// A listener that must see no connection at all: nothing was sent.
async fn assert_nothing_arrived(listener: &TcpListener) {
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a connection arrived: {accepted:?}");
}

/// An interface that does not exist is refused before any packet, with an
/// error naming it, on every way to connect; so is a zero user timeout.
#[tokio::test]
async fn an_unknown_interface_is_refused_before_any_packet() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = Connector::new().interface("nosuchif9");
    let errors = [
        ConnectionBuilder::new(addr)
            .interface("nosuchif9")
            .connect()
            .await
            .unwrap_err(),
        ConnectionBuilder::new(addr)
            .interface("nosuchif9")
            .connect_tls()
            .await
            .unwrap_err(),
        connector.connect(addr).await.unwrap_err(),
        connector.connect_tls(addr).await.unwrap_err(),
        connector
            .clone()
            .resolver(Resolver::fixed([("localhost", vec![addr.ip()])]))
            .connect(("localhost", addr.port()))
            .await
            .unwrap_err(),
    ];
    for e in errors {
        if cfg!(any(
            target_os = "linux",
            target_os = "android",
            target_vendor = "apple",
            windows
        )) {
            assert_eq!(e.kind(), ConnectErrorKind::InvalidInput, "{e}");
            assert!(e.to_string().contains("\"nosuchif9\""), "{e}");
        } else {
            assert_eq!(e.kind(), ConnectErrorKind::Unsupported, "{e}");
        }
        assert!(e.attempts().is_empty(), "{e:?}");
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    {
        let e = ConnectionBuilder::new(addr)
            .tcp_user_timeout(Duration::ZERO)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ConnectErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("tcp_user_timeout"), "{e}");
    }
    assert_nothing_arrived(&listener).await;
}

/// An adopted stream is already connected: the options are refused.
#[tokio::test]
async fn the_options_are_refused_with_from_stream() {
    let addr = listener("127.0.0.1:0", None).await;
    let raw = TcpStream::connect(addr).await.unwrap();
    let e = ConnectionBuilder::from_stream(raw)
        .tcp_keepalive(keepalive())
        .recv_buffer_size(RCVBUF)
        .connect()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("tcp_keepalive, recv_buffer_size"),
        "{e}"
    );
}

/// The server's options are set on the listening socket, and the accepted
/// connections inherit them (Linux copies them at accept).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn accepted_sockets_inherit_the_servers_options() {
    use tokio_endpoints::ServerBuilder;

    let mut listener = ServerBuilder::new("127.0.0.1:0")
        .tcp_keepalive(keepalive())
        .send_buffer_size(SNDBUF)
        .recv_buffer_size(RCVBUF)
        .bind()
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    let _client = TcpStream::connect(addr).await.unwrap();
    let (conn, _) = listener.accept().await.unwrap();
    let sock = SockRef::from(&conn);
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.tcp_keepalive_time().unwrap(), TIME);
    assert_eq!(sock.tcp_keepalive_interval().unwrap(), INTERVAL);
    assert_eq!(sock.tcp_keepalive_retries().unwrap(), RETRIES);
    assert_eq!(sock.send_buffer_size().unwrap(), 2 * SNDBUF);
    assert_eq!(sock.recv_buffer_size().unwrap(), 2 * RCVBUF);

    // An adopted listener gets them too.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut adopted = ServerBuilder::from_listener(std_listener)
        .tcp_keepalive(keepalive())
        .bind()
        .await
        .unwrap();
    let _client = TcpStream::connect(adopted.local_addrs()[0]).await.unwrap();
    let (conn, _) = adopted.accept().await.unwrap();
    assert_eq!(SockRef::from(&conn).tcp_keepalive_time().unwrap(), TIME);
}

/// The options show in `Debug`, for logs.
#[test]
fn the_options_show_in_debug() {
    let b = format!(
        "{:?}",
        ConnectionBuilder::new("a.test:1").recv_buffer_size(4096)
    );
    assert!(b.contains("recv_buffer_size: Some(4096)"), "{b}");
    let c = format!("{:?}", Connector::new().interface("eth0"));
    assert!(c.contains("\"eth0\""), "{c}");
}
