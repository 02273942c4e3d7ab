//! `Proxy`: connections through real proxies nobody here wrote (tinyproxy
//! for HTTP CONNECT, microsocks for SOCKS5, stunnel in front of tinyproxy
//! for an https proxy; `.ci/run` installs them, and
//! each test that needs one says so and returns when it is missing),
//! started on loopback with a generated configuration; and through a
//! scripted proxy for what real ones rarely do (a status line one byte at
//! a time, `201`, `HTTP/1.0 407`, bytes after the head (kept for `connect`,
//! handed to the origin's TLS for `connect_tls`), silence).

// Shared with the root package's tests.
#[path = "../../tests/common/mod.rs"]
mod common;
// Shared with the root package's tests.
#[path = "../../tests/support/mod.rs"]
mod support;
// The scripted proxy, shared with proxy_fds.rs.
mod scripted_proxy;

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{
    AddressPolicy, AttemptStage, ConnectErrorKind, ConnectionBuilder, Connector, Proxy, ProxyStage,
    Resolver,
};

use common::{V4, V6};
use scripted_proxy::{scripted, through};
use support::{echo_server, Ca, MARGIN, SHORT};

/// A proxy process, killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
    _dir: Option<std::path::PathBuf>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self._dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether `program` is installed; if not, says which test skips.
fn installed(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED {test}: {program} is not installed (.ci/run installs it with apt-get)");
    }
    found
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts on 127.0.0.1:`port`.
async fn wait_listening(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect((V4, port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the proxy exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the proxy does not listen on 127.0.0.1:{port}");
}

/// Starts `command` (quiet), waits until it accepts on 127.0.0.1:`port`,
/// and keeps `dir` (its configuration) until it is dropped.
async fn daemon(mut command: Command, port: u16, dir: Option<std::path::PathBuf>) -> Daemon {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child).await;
    Daemon {
        child,
        port,
        _dir: dir,
    }
}

/// tinyproxy on 127.0.0.1:`port`, in the foreground, with `extra`
/// configuration lines (`BasicAuth user secret`). Every port may be
/// tunnelled to (no `ConnectPort` line).
async fn tinyproxy(port: u16, extra: &str) -> Daemon {
    let dir = std::env::temp_dir().join(format!(
        "tokio-endpoints-tinyproxy-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nLogLevel Critical\n{extra}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new("tinyproxy");
    command.arg("-d").arg("-c").arg(&conf);
    daemon(command, port, Some(dir)).await
}

/// microsocks on 127.0.0.1:`port`, with a user and password if given.
async fn microsocks(port: u16, auth: Option<(&str, &str)>) -> Daemon {
    let mut command = Command::new("microsocks");
    command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if let Some((user, pass)) = auth {
        command.args(["-u", user, "-P", pass]);
    }
    daemon(command, port, None).await
}

/// A TLS echo origin on 127.0.0.1 for `localhost` and `origin.test`, and
/// the client configuration that trusts it.
async fn tls_origin(
    ca: &Ca,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<support::Seen>,
    Arc<tokio_endpoints::rustls::ClientConfig>,
) {
    let leaf = ca.leaf(&["localhost", "origin.test", "127.0.0.1"]);
    let (addr, server) = echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
    (addr, server, ca.client_config())
}

/// An echo round trip over `stream`, then a clean TLS close.
async fn round_trip(mut stream: tokio_endpoints::TlsStream) {
    stream.write_all(b"through the tunnel").await.unwrap();
    let mut buf = [0u8; 18];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"through the tunnel");
    stream.shutdown().await.unwrap();
}

/// `origin.test` resolves to 127.0.0.1 here (for `Proxy::socks5`, which
/// resolves on this side).
fn origin_resolver() -> Resolver {
    Resolver::fixed([("origin.test", vec![V4])])
}

#[tokio::test]
async fn tls_to_an_origin_through_tinyproxy_is_verified_for_the_origin() {
    if !installed("tinyproxy", "tls_to_an_origin_through_tinyproxy") {
        return;
    }
    let proxy_daemon = tinyproxy(free_port(), "").await;
    let proxy = Proxy::http(format!("http://127.0.0.1:{}", proxy_daemon.port)).unwrap();
    let ca = Ca::new("origin CA");
    let (origin, server, config) = tls_origin(&ca).await;
    let stream = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy.clone())
        .tls_config(config)
        .connect_tls()
        .await
        .unwrap();
    // The TCP peer is the proxy; TLS is the origin's.
    assert_eq!(stream.peer_addr().unwrap().port(), proxy_daemon.port);
    round_trip(stream).await;
    let seen = server.await.unwrap();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));

    // An origin whose certificate this side does not trust: refused, in
    // the tunnel, and said so.
    let (origin, server, _) = tls_origin(&ca).await;
    let err = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy)
        .tls_config(Ca::new("another CA").client_config())
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::OriginTls));
    assert!(err.tls_error().is_some(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "connect to localhost:{} through proxy http://127.0.0.1:{} (TLS with the origin, inside the tunnel): TLS handshake",
            origin.port(),
            proxy_daemon.port
        )),
        "{text}"
    );
    assert!(!server.await.unwrap().handshake_ok);
}

/// stunnel on 127.0.0.1:`port`, in the foreground, terminating TLS with
/// `leaf` and handing the plaintext to 127.0.0.1:`upstream`: with
/// tinyproxy behind it, an https proxy nobody here wrote.
async fn stunnel(port: u16, upstream: u16, leaf: &support::Leaf) -> Daemon {
    let dir = std::env::temp_dir().join(format!(
        "tokio-endpoints-stunnel-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, conf) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("stunnel.conf"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\ndebug = 0\n[https-proxy]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{upstream}\ncert = {}\nkey = {}\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut command = Command::new("stunnel");
    command.arg(&conf);
    daemon(command, port, Some(dir)).await
}

#[tokio::test]
async fn tls_to_an_origin_through_stunnel_and_tinyproxy_verifies_both() {
    let test = "tls_to_an_origin_through_stunnel_and_tinyproxy";
    if !installed("tinyproxy", test) || !installed("stunnel", test) {
        return;
    }
    let tinyproxy = tinyproxy(free_port(), "").await;
    let proxy_ca = Ca::new("proxy CA");
    let front = stunnel(free_port(), tinyproxy.port, &proxy_ca.leaf(&["localhost"])).await;
    let origin_ca = Ca::new("origin CA");
    let (origin, server, origin_config) = tls_origin(&origin_ca).await;
    // One client configuration that trusts both CAs: the proxy's name is
    // verified with it in the first session, the origin's in the second.
    let mut roots = tokio_endpoints::rustls::RootCertStore::empty();
    for ca in [&proxy_ca, &origin_ca] {
        roots.add(ca.root()).unwrap();
    }
    let config = Arc::new(
        tokio_endpoints::rustls::ClientConfig::builder_with_provider(
            origin_config.crypto_provider().clone(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    // `localhost` is [::1] and 127.0.0.1: stunnel listens on the second,
    // so the hop to the proxy is a race that [::1] loses at once.
    // tinyproxy resolves the origin's name itself: `localhost`.
    let proxy = Proxy::https(format!("https://localhost:{}", front.port)).unwrap();
    let stream = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy.clone())
        .tls_config(config.clone())
        .connect_tls()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), SocketAddr::new(V4, front.port));
    round_trip(stream).await;
    assert_eq!(server.await.unwrap().sni.as_deref(), Some("localhost"));

    // The proxy's certificate is verified: trusting only the origin's CA
    // fails at the proxy's TLS, before any CONNECT.
    let err = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy.clone())
        .tls_config(origin_config)
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::ProxyTls), "{err}");

    // The raw tunnel, through both: a plain echo origin behind it.
    let (echo, _task) = plain_echo().await;
    let mut tunnel = ConnectionBuilder::new(("127.0.0.1", echo.port()))
        .proxy(proxy)
        .tls_config(config)
        .connect_tunnel()
        .await
        .unwrap();
    assert!(tunnel.is_tls());
    tunnel.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    tunnel.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn tls_to_an_origin_through_microsocks_socks5h_and_socks5() {
    if !installed("microsocks", "tls_to_an_origin_through_microsocks") {
        return;
    }
    let daemon = microsocks(free_port(), None).await;
    let ca = Ca::new("origin CA");
    // socks5h: the proxy resolves `localhost`.
    let (origin, server, config) = tls_origin(&ca).await;
    let proxy = Proxy::socks5h(format!("socks5h://127.0.0.1:{}", daemon.port)).unwrap();
    let stream = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy)
        .tls_config(config.clone())
        .connect_tls()
        .await
        .unwrap();
    round_trip(stream).await;
    assert_eq!(server.await.unwrap().sni.as_deref(), Some("localhost"));
    // socks5: this side resolves `origin.test` (the proxy could not), and
    // TLS verifies the name.
    let (origin, server, _) = tls_origin(&ca).await;
    let proxy = Proxy::socks5(format!("socks5://127.0.0.1:{}", daemon.port)).unwrap();
    let stream = ConnectionBuilder::new(("origin.test", origin.port()))
        .resolver(origin_resolver())
        .proxy(proxy.clone())
        .tls_config(config.clone())
        .connect_tls()
        .await
        .unwrap();
    round_trip(stream).await;
    assert_eq!(server.await.unwrap().sni.as_deref(), Some("origin.test"));
    // The addresses resolved here are raced through tunnels of their
    // own: [::1] is refused at the origin (reply 5), 127.0.0.1 wins.
    let (origin, server, _) = tls_origin(&ca).await;
    let stream = ConnectionBuilder::new(("origin.test", origin.port()))
        .resolver(Resolver::fixed([("origin.test", vec![V6, V4])]))
        .proxy(Proxy::socks5(format!("socks5://127.0.0.1:{}", daemon.port)).unwrap())
        .tls_config(config.clone())
        .connect_tls()
        .await
        .unwrap();
    round_trip(stream).await;
    assert!(server.await.unwrap().handshake_ok);
    // A literal origin is verified as the address it is.
    let (origin, server, _) = tls_origin(&ca).await;
    let stream = ConnectionBuilder::new(origin)
        .proxy(proxy)
        .tls_config(config)
        .connect_tls()
        .await
        .unwrap();
    round_trip(stream).await;
    assert!(server.await.unwrap().handshake_ok);
}

/// The proxy's name has a blackholed IPv6 address and a working IPv4
/// one: the hop is raced, so the call takes one delay, not the kernel's
/// connect timeout, and a failed first attempt is in no error.
async fn raced_to(proxy: impl Fn(u16) -> Proxy, daemon: impl AsyncFnOnce(u16) -> Daemon) {
    let (listener, blackhole, port) = common::dual_stack_blackholed_v6();
    drop(listener);
    let daemon = daemon(port).await;
    assert_eq!(blackhole.addr, SocketAddr::new(V6, daemon.port));
    let (origin, echo) = plain_echo().await;
    let started = Instant::now();
    let mut stream = ConnectionBuilder::new(origin)
        .resolver(Resolver::fixed([("proxy.test", vec![V6, V4])]))
        .happy_eyeballs(Duration::from_millis(100))
        .connect_timeout(Duration::from_secs(10))
        .proxy(proxy(port))
        .connect()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_millis(100) + MARGIN * 3, "{took:?}");
    assert_eq!(stream.peer_addr().unwrap(), SocketAddr::new(V4, port));
    stream.write_all(b"raced").await.unwrap();
    let mut buf = [0u8; 5];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"raced");
    drop(stream);
    echo.abort();
}

/// A plain echo origin on 127.0.0.1.
async fn plain_echo() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn the_hop_to_tinyproxy_is_a_happy_eyeballs_race() {
    if !installed("tinyproxy", "the_hop_to_tinyproxy_is_a_happy_eyeballs_race") {
        return;
    }
    raced_to(
        |port| Proxy::http(format!("http://proxy.test:{port}")).unwrap(),
        async |port| tinyproxy(port, "").await,
    )
    .await;
}

#[tokio::test]
async fn the_hop_to_microsocks_is_a_happy_eyeballs_race() {
    if !installed(
        "microsocks",
        "the_hop_to_microsocks_is_a_happy_eyeballs_race",
    ) {
        return;
    }
    raced_to(
        |port| Proxy::socks5h(format!("socks5h://proxy.test:{port}")).unwrap(),
        async |port| microsocks(port, None).await,
    )
    .await;
}

#[tokio::test]
async fn tinyproxy_wants_credentials_and_refuses_wrong_ones() {
    if !installed("tinyproxy", "tinyproxy_wants_credentials") {
        return;
    }
    let daemon = tinyproxy(free_port(), "BasicAuth alice s3cret").await;
    let (origin, echo) = plain_echo().await;
    let url = |creds: &str| format!("http://{creds}127.0.0.1:{}", daemon.port);
    let connect = |proxy: Proxy| ConnectionBuilder::new(origin).proxy(proxy).connect();

    let err = connect(Proxy::http(url("")).unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::Tunnel));
    assert_eq!(err.proxy_status(), Some(407));
    // An HTTP/1.0 407, from a real proxy.
    assert!(
        err.to_string().contains("the proxy wants credentials (407 Proxy Authentication Required, Proxy-Authenticate: Basic realm=\"Tinyproxy\")"),
        "{err}"
    );
    assert_eq!(err.attempts()[0].stage(), AttemptStage::Proxy);
    assert_eq!(err.attempts()[0].addr(), SocketAddr::new(V4, daemon.port));
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::PermissionDenied
    );

    // tinyproxy answers wrong credentials with 401.
    let wrong = Proxy::http(url("alice:guess@")).unwrap();
    let err = connect(wrong).await.unwrap_err();
    assert_eq!(err.proxy_status(), Some(401));
    assert!(err.to_string().contains("refused the credentials"), "{err}");

    // Right, in the URL or with basic_auth (which takes the URL's place).
    connect(Proxy::http(url("alice:s3cret@")).unwrap())
        .await
        .unwrap();
    let given = Proxy::http(url("alice:guess@"))
        .unwrap()
        .basic_auth("alice", "s3cret");
    assert!(!format!("{given:?}").contains("s3cret"));
    connect(given).await.unwrap();
    echo.abort();
}

#[tokio::test]
async fn microsocks_wants_credentials_and_refuses_wrong_ones() {
    if !installed("microsocks", "microsocks_wants_credentials") {
        return;
    }
    let daemon = microsocks(free_port(), Some(("alice", "s3cret"))).await;
    let (origin, echo) = plain_echo().await;
    let url = |creds: &str| format!("socks5h://{creds}127.0.0.1:{}", daemon.port);
    let connect = |proxy: Proxy| ConnectionBuilder::new(origin).proxy(proxy).connect();

    let err = connect(Proxy::socks5h(url("")).unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
    assert!(err.to_string().contains("wants credentials"), "{err}");
    let err = connect(Proxy::socks5h(url("alice:guess@")).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the SOCKS5 proxy refused the credentials"),
        "{err}"
    );
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::PermissionDenied
    );
    let mut stream = connect(Proxy::socks5h(url("alice:s3cret@")).unwrap())
        .await
        .unwrap();
    stream.write_all(b"ok").await.unwrap();
    let mut buf = [0u8; 2];
    stream.read_exact(&mut buf).await.unwrap();
    echo.abort();
}

#[tokio::test]
async fn a_refused_origin_is_the_proxys_answer() {
    let refused = common::refused(V4);
    if installed("tinyproxy", "a_refused_origin (tinyproxy)") {
        let daemon = tinyproxy(free_port(), "").await;
        let proxy = Proxy::http(format!("http://127.0.0.1:{}", daemon.port)).unwrap();
        let err = ConnectionBuilder::new(refused)
            .proxy(proxy)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
        assert_eq!(err.proxy_status(), Some(500));
        assert_eq!(
            err.to_string(),
            format!(
                "connect to {refused} through proxy http://127.0.0.1:{}: the proxy answered \
                 CONNECT {refused} with 500 Unable to connect",
                daemon.port
            )
        );
    }
    if installed("microsocks", "a_refused_origin (microsocks)") {
        let daemon = microsocks(free_port(), None).await;
        let proxy = Proxy::socks5(format!("socks5://127.0.0.1:{}", daemon.port)).unwrap();
        let err = ConnectionBuilder::new(refused)
            .proxy(proxy)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
        assert_eq!(err.proxy_status(), Some(5), "{err}");
        assert!(
            err.to_string().contains("connection refused (reply 5)"),
            "{err}"
        );
        assert_eq!(
            std::io::Error::from(err).kind(),
            std::io::ErrorKind::ConnectionRefused
        );
    }
}

#[tokio::test]
async fn a_status_line_one_byte_at_a_time_opens_the_tunnel() {
    let (addr, request, task) = scripted(
        Some(b"HTTP/1.1 200 Connection established\r\nVia: 1.1 scripted\r\n\r\n"),
        1,
        Duration::from_millis(2),
    )
    .await;
    let mut stream = ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr).basic_auth("Aladdin", "open sesame"))
        .connect()
        .await
        .unwrap();
    stream.write_all(b"after").await.unwrap();
    let mut buf = [0u8; 5];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"after");
    assert_eq!(
        *request.lock().unwrap(),
        "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\
         Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
    );
    drop(stream);
    task.await.unwrap();
}

#[tokio::test]
async fn any_2xx_opens_the_tunnel() {
    let (addr, _, task) = scripted(Some(b"HTTP/1.1 201 Created\r\n\r\n"), 64, Duration::ZERO).await;
    let stream = ConnectionBuilder::new("[::1]:22")
        .proxy(through(addr))
        .connect()
        .await
        .unwrap();
    drop(stream);
    task.await.unwrap();
}

#[tokio::test]
async fn an_http_1_0_407_asks_for_credentials() {
    let (addr, _, task) = scripted(
        Some(b"HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n\r\n"),
        7,
        Duration::from_millis(1),
    )
    .await;
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Proxy);
    assert_eq!(err.proxy_status(), Some(407));
    assert_eq!(
        err.to_string(),
        format!(
            "connect to origin.test:443 through proxy http://{addr}: the proxy wants credentials \
             (407 Proxy Authentication Required, Proxy-Authenticate: Basic realm=\"corp\"): give \
             them with Proxy::basic_auth or in the proxy's URL"
        )
    );
    // The report lists the exchange as an attempt, as any attempt.
    let report = format!("{err:?}");
    assert!(report.contains(&format!("{addr} (proxy, at +")), "{report}");
    drop(err);
    task.await.unwrap();
}

#[tokio::test]
async fn bytes_after_the_head_stay_for_the_stream() {
    // An SSH server speaks first: its banner arrives with the answer.
    let (addr, _, task) = scripted(
        Some(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-OpenSSH_9.2\r\n"),
        1024,
        Duration::ZERO,
    )
    .await;
    let mut stream = ConnectionBuilder::new("origin.test:22")
        .proxy(through(addr))
        .connect()
        .await
        .unwrap();
    let mut banner = [0u8; 21];
    stream.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"SSH-2.0-OpenSSH_9.2\r\n");
    drop(stream);
    task.await.unwrap();
}

#[tokio::test]
async fn bytes_after_the_head_reach_the_origins_tls() {
    // With `connect_tls` the answer is read whole, not peeked: what came
    // with it is the origin's, and rustls judges it at once (an SSH
    // server is not a TLS server), not after the handshake timeout.
    let (addr, _, task) = scripted(
        Some(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-OpenSSH_9.2\r\n"),
        1024,
        Duration::ZERO,
    )
    .await;
    let started = Instant::now();
    let err = ConnectionBuilder::new("origin.test:22")
        .proxy(through(addr))
        .connect_tls()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ConnectErrorKind::Tls, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::OriginTls), "{err}");
    // The SSH banner's, not what the echo would have sent back later.
    assert!(err.to_string().contains("did not answer with TLS"), "{err}");
    drop(err);
    task.await.unwrap();
}

#[tokio::test]
async fn a_silent_proxy_times_out() {
    // The proxy's own handshake bound.
    let (addr, _, task) = scripted(None, 1, Duration::ZERO).await;
    let started = Instant::now();
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr).handshake_timeout(SHORT))
        .connect()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    assert_eq!(err.kind(), ConnectErrorKind::Proxy, "{err}");
    assert!(
        err.to_string()
            .contains("did not open the tunnel within 300 ms"),
        "{err}"
    );
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::TimedOut
    );
    task.await.unwrap();

    // connect_timeout bounds the whole call, the exchange included.
    let (addr, _, task) = scripted(None, 1, Duration::ZERO).await;
    let started = Instant::now();
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(through(addr).handshake_timeout(None))
        .connect_timeout(SHORT)
        .connect_tls()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::Tunnel));
    task.await.unwrap();
}

#[tokio::test]
async fn the_hop_fails_as_any_connect_and_says_it_was_the_proxy() {
    let refused = common::refused(V4);
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(through(refused))
        .connect_tls()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::Connect));
    assert_eq!(err.target(), "origin.test:443");
    assert_eq!(err.attempts()[0].addr(), refused);
    assert!(
        err.to_string().starts_with(&format!(
            "connect to origin.test:443 through proxy http://{refused} (connecting to the proxy): connection refused"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_any_packet() {
    let (addr, untouched) = support::untouched_listener();
    for (proxy, why) in [
        (
            through(addr).basic_auth("us:er", "pw"),
            "an HTTP Basic user name cannot contain ':'",
        ),
        (
            Proxy::socks5h(format!("socks5h://{addr}"))
                .unwrap()
                .basic_auth("u".repeat(256), "pw"),
            "at most 255 bytes",
        ),
        (
            through(addr).handshake_timeout(Duration::ZERO),
            "Proxy::handshake_timeout must be greater than zero",
        ),
        (
            Proxy::from_env_vars([("ALL_PROXY", format!("socks4://{addr}"))]),
            "socks4, which is not supported",
        ),
    ] {
        let err = ConnectionBuilder::new("origin.test:443")
            .proxy(proxy)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(why), "{err}");
    }
    // An https proxy: its tunnel is not a TcpStream, and `connect` says
    // which call returns it.
    let err = ConnectionBuilder::new("origin.test:443")
        .proxy(Proxy::https(format!("https://{addr}")).unwrap())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("use connect_tunnel"), "{err}");
    // A proxy on an adopted stream.
    let tcp = TcpStream::connect(plain_echo().await.0).await.unwrap();
    let err = ConnectionBuilder::from_stream(tcp)
        .proxy(through(addr))
        .connect()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("proxy cannot be used with from_stream"),
        "{err}"
    );
    // Malformed URLs never make a Proxy.
    let e = Proxy::http("socks5://127.0.0.1:1080").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "Proxy::http \"socks5://127.0.0.1:1080\": the scheme is \"socks5\", not \"http\" (use Proxy::socks5)"
    );
    untouched();
}

#[tokio::test]
async fn the_address_policy_judges_the_proxy_and_the_addresses_resolved_here() {
    let (addr, untouched) = support::untouched_listener();
    // The proxy's own address.
    let err = ConnectionBuilder::new("origin.test:443")
        .address_policy(AddressPolicy::public_only())
        .proxy(through(addr))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Denied, "{err}");
    assert_eq!(err.proxy_stage(), Some(ProxyStage::Connect));
    // A name the proxy would resolve, with a policy that must see every
    // address.
    let loopback = AddressPolicy::public_only().allow("127.0.0.0/8".parse().unwrap());
    let err = ConnectionBuilder::new("origin.test:443")
        .address_policy(loopback.clone().allow_proxy_names(false))
        .proxy(through(addr))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Denied, "{err}");
    assert!(
        err.to_string().contains("would resolve origin.test itself"),
        "{err}"
    );
    // socks5 resolves here: the origin's address is judged.
    let err = ConnectionBuilder::new("origin.test:443")
        .resolver(Resolver::fixed([(
            "origin.test",
            vec!["10.0.0.5".parse::<IpAddr>().unwrap()],
        )]))
        .address_policy(loopback.allow_proxy_names(false))
        .proxy(Proxy::socks5(format!("socks5://{addr}")).unwrap())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Denied, "{err}");
    assert_eq!(
        err.denied()[0].addr(),
        "10.0.0.5".parse::<IpAddr>().unwrap()
    );
    untouched();
}

/// A relaying CONNECT proxy that counts its tunnels.
async fn counting_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap()
                    .to_string();
                let mut upstream = TcpStream::connect(target).await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn hyper_clients_go_through_the_environments_proxy_unless_no_proxy_says() {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let origin = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(tcp),
                hyper::service::service_fn(|req| async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(Bytes::from(format!(
                            "origin {}",
                            req.uri().path()
                        ))),
                    ))
                }),
            ));
        }
    });
    let (proxy, tunnels) = counting_proxy().await;
    for (no_proxy, through_proxy) in [
        ("", true),
        ("other.test, 10.0.0.0/8", true),
        ("localhost", false),
        (".localhost", false),
        ("*", false),
    ] {
        tunnels.store(0, Ordering::SeqCst);
        let env = Proxy::from_env_vars([
            ("HTTP_PROXY", format!("http://{proxy}")),
            ("NO_PROXY", no_proxy.to_string()),
        ]);
        let connector = Connector::new()
            .resolver(Resolver::fixed([("localhost", vec![V4])]))
            .proxy(env);
        let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
        let uri = format!("http://localhost:{}/hello", origin.port());
        let response = client.get(uri.parse().unwrap()).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"origin /hello");
        assert_eq!(
            tunnels.load(Ordering::SeqCst),
            usize::from(through_proxy),
            "NO_PROXY={no_proxy:?}"
        );
    }
}

#[tokio::test]
async fn framed_and_stream_halves_run_tls_inside_the_tunnel() {
    use futures::{SinkExt, StreamExt};
    use tokio_endpoints::tokio_util::codec::LinesCodec;
    if !installed(
        "tinyproxy",
        "framed_and_stream_halves_run_tls_inside_the_tunnel",
    ) {
        return;
    }
    let daemon = tinyproxy(free_port(), "").await;
    let proxy = Proxy::http(format!("http://127.0.0.1:{}", daemon.port)).unwrap();
    let ca = Ca::new("origin CA");
    let (origin, server, config) = tls_origin(&ca).await;
    let mut lines = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy.clone())
        .tls_config(config.clone())
        .connect_tls_framed(LinesCodec::new())
        .await
        .unwrap();
    lines.send("a line, framed").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "a line, framed");
    drop(lines);
    server.await.unwrap();
    let (origin, server, _) = tls_origin(&ca).await;
    let (reader, writer) = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(proxy)
        .tls_config(config)
        .open_connection_tls()
        .await
        .unwrap();
    assert!(reader.is_tls() && writer.is_tls());
    assert_eq!(writer.peer_addr().unwrap().port(), daemon.port);
    drop((reader, writer));
    assert!(server.await.unwrap().handshake_ok);
}

#[tokio::test]
async fn connect_tls_sends_nothing_until_the_tunnel_is_open() {
    // The origin's ClientHello is built while the proxy opens the tunnel,
    // and sent only once the answer says it is open: a proxy that holds
    // its answer sees no byte past the request, then the handshake
    // completes through it, verified for the origin.
    let ca = Ca::new("origin CA");
    let (origin, server, config) = tls_origin(&ca).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let relay = tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(client.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(
                format!("CONNECT localhost:{} HTTP/1.1\r\n", origin.port()).as_bytes()
            ),
            "{}",
            String::from_utf8_lossy(&head)
        );
        // Held: nothing may arrive before the answer.
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(SHORT, client.read(&mut byte)).await;
        assert!(
            early.is_err(),
            "the client sent {early:?} before the answer"
        );
        let mut upstream = TcpStream::connect(origin).await.unwrap();
        client.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let stream = ConnectionBuilder::new(("localhost", origin.port()))
        .proxy(through(proxy))
        .tls_config(config)
        .connect_tls()
        .await
        .unwrap();
    round_trip(stream).await;
    let seen = server.await.unwrap();
    assert!(seen.handshake_ok);
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    relay.await.unwrap();
}
