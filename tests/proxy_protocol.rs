//! The PROXY protocol on real loopback sockets: v1 and v2 headers (IPv4,
//! IPv6, UNIX, LOCAL, TLVs) from a trusted peer reach the handler as the
//! client's address, with no application byte taken; untrusted peers,
//! truncated, garbage and missing headers are closed and counted and never
//! reach a handler; split headers, silent clients, 500 silent clients beside
//! a real one, and TLS after the header.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ppp::v2::{Builder, Command, Protocol, Type, Version};
use support::Ca;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_endpoints::rustls::pki_types::ServerName;
use tokio_endpoints::{ConnectionInfo, Listener, ProxyProtocol, ServerBuilder, ServerErrorKind};

fn loopback() -> ProxyProtocol {
    ProxyProtocol::new().trusted(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])
}

async fn listener(proxy: ProxyProtocol) -> Listener {
    ServerBuilder::new(("localhost", 0))
        .proxy_protocol(proxy)
        .bind()
        .await
        .unwrap()
}

/// Connects to `addr`, sends `bytes` then `after`, and accepts.
async fn through(
    listener: &mut Listener,
    addr: SocketAddr,
    bytes: &[u8],
) -> (TcpStream, ConnectionInfo, TcpStream) {
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(bytes).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    let (mut conn, info) =
        tokio::time::timeout(Duration::from_secs(5), listener.accept_with_info())
            .await
            .expect("no connection accepted")
            .unwrap();
    // No application byte was taken with the header.
    let mut buf = [0; 5];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    (conn, info, client)
}

fn v2(command: Command, addresses: impl Into<ppp::v2::Addresses>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses);
    for (kind, value) in tlvs {
        b = b.write_tlv(*kind, value).unwrap();
    }
    b.build().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn v1_headers_reach_the_handler_as_the_clients_address() {
    let mut l = listener(loopback()).await;
    for local in l.local_addrs() {
        let (conn, info, client) = through(
            &mut l,
            local,
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        )
        .await;
        assert_eq!(info.peer(), addr("192.0.2.1:56324"));
        assert_eq!(info.socket_peer(), client.local_addr().unwrap());
        assert_eq!(info.local(), local);
        let header = info.proxy_header().unwrap();
        assert_eq!(header.version(), 1);
        assert_eq!(header.destination(), Some(addr("198.51.100.7:443")));
        assert!(!header.is_local());
        assert_eq!(header.tlvs().count(), 0);
        drop(conn);

        let (_, info, _) = through(
            &mut l,
            local,
            b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 8443\r\n",
        )
        .await;
        assert_eq!(info.peer(), addr("[2001:db8::1]:40000"));
        assert_eq!(
            info.proxy_header().unwrap().destination(),
            Some(addr("[2001:db8::2]:8443"))
        );

        // UNKNOWN keeps the socket's address.
        let (_, info, client) = through(&mut l, local, b"PROXY UNKNOWN\r\n").await;
        assert_eq!(info.peer(), client.local_addr().unwrap());
        assert_eq!(info.proxy_header().unwrap().source(), None);
    }
    assert_eq!(l.proxy_header_failures(), 0);
}

#[tokio::test]
async fn v2_headers_ipv4_ipv6_unix_local_and_tlvs() {
    let mut l = listener(loopback()).await;
    let to = l.local_addrs()[1]; // 127.0.0.1

    let mut aws = vec![0x01];
    aws.extend_from_slice(b"vpce-0123456789abcdef0");
    let header = v2(
        Command::Proxy,
        (addr("203.0.113.9:1234"), addr("198.51.100.1:443")),
        &[
            (Type::Authority.into(), b"example.com"),
            (Type::ALPN.into(), b"h2"),
            (Type::UniqueId.into(), b"req-42"),
            (0xEA, &aws),
            (Type::NetworkNamespace.into(), b"blue"),
            (0xE0, &[0, 0, 0, 0, 0, 0, 0, 9]),
        ],
    );
    let (_, info, _) = through(&mut l, to, &header).await;
    assert_eq!(info.peer(), addr("203.0.113.9:1234"));
    let h = info.proxy_header().unwrap();
    assert_eq!(h.version(), 2);
    assert_eq!(h.destination(), Some(addr("198.51.100.1:443")));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.unique_id(), Some(&b"req-42"[..]));
    assert_eq!(h.aws_vpc_endpoint_id(), Some("vpce-0123456789abcdef0"));
    assert_eq!(h.netns(), Some("blue"));
    assert_eq!(h.tlv(0xE0), Some(&[0, 0, 0, 0, 0, 0, 0, 9][..]));
    assert_eq!(h.tlvs().count(), 6);
    assert_eq!(h.as_bytes(), &header[..]);

    let header = v2(
        Command::Proxy,
        (addr("[2001:db8::7]:5555"), addr("[2001:db8::1]:443")),
        &[],
    );
    let v6 = l.local_addrs()[0];
    let (_, info, _) = through(&mut l, v6, &header).await;
    assert_eq!(info.peer(), addr("[2001:db8::7]:5555"));

    // UNIX: the paths are in the header, the peer stays the socket's.
    let mut source = [0u8; 108];
    source[..13].copy_from_slice(b"/run/haproxy1");
    let mut destination = [0u8; 108];
    destination[..9].copy_from_slice(b"/run/app1");
    let header = v2(Command::Proxy, ppp::v2::Unix::new(source, destination), &[]);
    let (_, info, client) = through(&mut l, to, &header).await;
    assert_eq!(info.peer(), client.local_addr().unwrap());
    let h = info.proxy_header().unwrap();
    assert_eq!(h.unix_source(), Some(&b"/run/haproxy1"[..]));
    assert_eq!(h.unix_destination(), Some(&b"/run/app1"[..]));

    // LOCAL (a health check): the socket's address, whatever the header says.
    let header = v2(
        Command::Local,
        (addr("203.0.113.9:1234"), addr("198.51.100.1:443")),
        &[],
    );
    let (_, info, client) = through(&mut l, to, &header).await;
    assert_eq!(info.peer(), client.local_addr().unwrap());
    assert!(info.proxy_header().unwrap().is_local());
    assert_eq!(info.proxy_header().unwrap().source(), None);

    assert_eq!(l.proxy_header_failures(), 0);
}

#[tokio::test]
async fn accept_and_handlers_get_the_headers_address() {
    let mut l = listener(loopback()).await;
    let to = l.local_addrs()[0];
    let mut client = TcpStream::connect(to).await.unwrap();
    client
        .write_all(b"PROXY TCP4 192.0.2.44 192.0.2.1 1000 80\r\n")
        .await
        .unwrap();
    let (_, peer) = l.accept().await.unwrap();
    assert_eq!(peer, addr("192.0.2.44:1000"));

    let server = ServerBuilder::new("127.0.0.1:0")
        .proxy_protocol(loopback())
        .serve(|mut stream, peer| async move {
            let _ = stream.write_all(peer.to_string().as_bytes()).await;
        })
        .await
        .unwrap();
    let mut client = TcpStream::connect(server.local_addrs()[0]).await.unwrap();
    client
        .write_all(b"PROXY TCP4 192.0.2.45 192.0.2.1 1001 80\r\n")
        .await
        .unwrap();
    let mut said = String::new();
    client.read_to_string(&mut said).await.unwrap();
    assert_eq!(said, "192.0.2.45:1001");
    assert_eq!(server.proxy_header_failures(), 0);
}

/// Whether the server closed the connection without handing it on: a read
/// sees the end (or a reset), and nothing was written.
async fn closed(client: &mut TcpStream) -> bool {
    let mut buf = [0; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// A server whose handler counts connections and says "served".
async fn counting(proxy: ProxyProtocol) -> (tokio_endpoints::Server, Arc<AtomicUsize>) {
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let server = ServerBuilder::new("127.0.0.1:0")
        .proxy_protocol(proxy)
        .serve(move |mut stream, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let _ = stream.write_all(b"served").await;
            }
        })
        .await
        .unwrap();
    (server, handled)
}

#[tokio::test]
async fn untrusted_peers_never_reach_the_handler() {
    let elsewhere = ProxyProtocol::new().trusted(["192.0.2.0/24".parse().unwrap()]);
    let (server, handled) = counting(elsewhere.clone()).await;
    let to = server.local_addrs()[0];
    for bytes in [
        &b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"[..],
        &v2(
            Command::Proxy,
            (addr("192.0.2.1:1"), addr("192.0.2.2:2")),
            &[],
        ),
        b"GET / HTTP/1.0\r\n\r\n",
    ] {
        let mut client = TcpStream::connect(to).await.unwrap();
        let _ = client.write_all(bytes).await;
        assert!(closed(&mut client).await);
    }
    assert_eq!(server.proxy_header_failures(), 3);

    // Optional: an untrusted peer without a header is served with its own
    // address; with one, closed.
    let mut l = ServerBuilder::new("127.0.0.1:0")
        .proxy_protocol(elsewhere.optional(true))
        .bind()
        .await
        .unwrap();
    let to = l.local_addrs()[0];
    let mut with_header = TcpStream::connect(to).await.unwrap();
    with_header
        .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
        .await
        .unwrap();
    let mut without = TcpStream::connect(to).await.unwrap();
    without.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let (gone, accepted) = tokio::join!(closed(&mut with_header), l.accept_with_info());
    assert!(gone);
    let (_conn, info) = accepted.unwrap();
    assert_eq!(info.peer(), without.local_addr().unwrap());
    assert!(info.proxy_header().is_none());
    assert_eq!(l.proxy_header_failures(), 1);
    assert_eq!(handled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn truncated_garbage_and_missing_headers_are_closed_and_counted() {
    let (server, handled) = counting(loopback().header_timeout(Duration::from_secs(2))).await;
    let to = server.local_addrs()[0];
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(200, b'1');
    let mut bad_length = v2(
        Command::Proxy,
        (addr("192.0.2.1:1"), addr("192.0.2.2:2")),
        &[],
    );
    bad_length[15] = 4; // too short for IPv4 addresses
    let mut bad_tlv = v2(
        Command::Proxy,
        (addr("192.0.2.1:1"), addr("192.0.2.2:2")),
        &[(0x05, b"id")],
    );
    let n = bad_tlv.len();
    bad_tlv[n - 3] = 0xFF; // a TLV longer than the header
    let mut bad_version = v2(
        Command::Proxy,
        (addr("192.0.2.1:1"), addr("192.0.2.2:2")),
        &[],
    );
    bad_version[12] = 0x31;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "missing",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            false,
        ),
        (
            "garbage v1",
            b"PROXY TCP4 999.0.0.1 192.0.2.2 1 2\r\n".to_vec(),
            false,
        ),
        (
            "bad protocol v1",
            b"PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n".to_vec(),
            false,
        ),
        ("no CRLF in 107 bytes", long, false),
        ("bad v2 length", bad_length, false),
        ("bad v2 TLV", bad_tlv, false),
        ("bad v2 version", bad_version, false),
        ("truncated v1", b"PROXY TCP4 192.0.2.1 19".to_vec(), true),
        (
            "truncated v2",
            v2(
                Command::Proxy,
                (addr("192.0.2.1:1"), addr("192.0.2.2:2")),
                &[],
            )[..20]
                .to_vec(),
            true,
        ),
        ("truncated v2 signature", b"\r\n\r\n\0".to_vec(), true),
        ("closed at once", Vec::new(), true),
    ];
    let count = cases.len() as u64;
    for (what, bytes, then_close) in cases {
        let mut client = TcpStream::connect(to).await.unwrap();
        client.write_all(&bytes).await.unwrap();
        if then_close {
            client.shutdown().await.unwrap();
        }
        assert!(closed(&mut client).await, "{what}: not closed");
    }
    // The accept loop goes on.
    let mut client = TcpStream::connect(to).await.unwrap();
    client
        .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
        .await
        .unwrap();
    let mut said = String::new();
    client.read_to_string(&mut said).await.unwrap();
    assert_eq!(said, "served");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(server.proxy_header_failures(), count);
}

#[tokio::test]
async fn a_header_split_over_many_writes() {
    let mut l = listener(loopback()).await;
    let to = l.local_addrs()[1];
    let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n".to_vec();
    let v2 = v2(
        Command::Proxy,
        (addr("203.0.113.9:1234"), addr("198.51.100.1:443")),
        &[(Type::Authority.into(), b"example.com")],
    );
    for (header, peer) in [(v1, "192.0.2.1:56324"), (v2, "203.0.113.9:1234")] {
        let mut client = TcpStream::connect(to).await.unwrap();
        client.set_nodelay(true).unwrap();
        let writing = tokio::spawn(async move {
            for byte in &header {
                client.write_all(&[*byte]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            client.write_all(b"hello").await.unwrap();
            client
        });
        let (mut conn, info) = l.accept_with_info().await.unwrap();
        assert_eq!(info.peer(), addr(peer));
        let mut buf = [0; 5];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        writing.await.unwrap();
    }
    assert_eq!(l.proxy_header_failures(), 0);
}

#[tokio::test]
async fn optional_headers_keep_application_bytes() {
    let mut l = listener(loopback().optional(true)).await;
    let to = l.local_addrs()[1];
    // No header: the socket's address, every byte left for the handler,
    // even one that starts like a signature ("PRO", then "PFIND").
    let mut client = TcpStream::connect(to).await.unwrap();
    client.set_nodelay(true).unwrap();
    client.write_all(b"PRO").await.unwrap();
    let write_rest = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(b"PFIND / HTTP/1.1\r\n").await.unwrap();
    };
    let ((mut conn, info), ()) =
        tokio::join!(async { l.accept_with_info().await.unwrap() }, write_rest);
    assert_eq!(info.peer(), client.local_addr().unwrap());
    assert!(info.proxy_header().is_none());
    let mut buf = [0; 8];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"PROPFIND");
    // With a header: the header's address.
    let (_, info, _) = through(&mut l, to, b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n").await;
    assert_eq!(info.peer(), addr("192.0.2.1:1"));
    assert_eq!(l.proxy_header_failures(), 0);
}

#[tokio::test]
async fn a_silent_client_is_closed_at_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let (server, handled) = counting(loopback().header_timeout(timeout)).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(server.local_addrs()[0]).await.unwrap();
    assert!(closed(&mut client).await);
    let took = started.elapsed();
    assert!(took >= timeout, "closed after {took:?}");
    assert!(took < timeout + support::MARGIN, "closed after {took:?}");
    assert_eq!(server.proxy_header_failures(), 1);
    assert_eq!(handled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn options_are_checked_before_a_socket_is_opened() {
    for (proxy, says) in [
        (ProxyProtocol::new(), "trusts no peer"),
        (loopback().header_timeout(Duration::ZERO), "header_timeout"),
        (loopback().max_pending(0), "max_pending"),
    ] {
        let err = ServerBuilder::new("127.0.0.1:0")
            .proxy_protocol(proxy)
            .bind()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
        assert!(err.to_string().contains(says), "{err}");
    }
}

/// The time a real client takes from connect to its reply: the least of a
/// few tries, so one scheduling hiccup of a loaded machine does not count.
async fn real_client(to: SocketAddr) -> Duration {
    let mut best = Duration::MAX;
    for i in 0..7u16 {
        let started = Instant::now();
        let mut client = TcpStream::connect(to).await.unwrap();
        client
            .write_all(format!("PROXY TCP4 192.0.2.1 192.0.2.2 {} 80\r\n", 1000 + i).as_bytes())
            .await
            .unwrap();
        let mut said = String::new();
        client.read_to_string(&mut said).await.unwrap();
        assert_eq!(said, "served");
        best = best.min(started.elapsed());
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_silent_clients_delay_no_one() {
    const SILENT: usize = 500;
    let timeout = Duration::from_secs(10);
    let (server, _) = counting(loopback().header_timeout(timeout)).await;
    let to = server.local_addrs()[0];
    let alone = real_client(to).await;
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(TcpStream::connect(to).await.unwrap());
    }
    // Let the server take them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let beside = real_client(to).await;
    let extra = beside.saturating_sub(alone);
    println!("real client alone {alone:?}, beside {SILENT} silent ones {beside:?} (+{extra:?})");
    assert!(
        extra < Duration::from_millis(5),
        "{SILENT} silent clients delayed a real one by {extra:?}"
    );
    assert!(beside < timeout / 100);
    assert_eq!(server.proxy_header_failures(), 0);
    drop(silent);
}

async fn tls_client(
    ca: &Ca,
    to: SocketAddr,
    header: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut tcp = TcpStream::connect(to).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(header).await.unwrap();
    tokio_rustls::TlsConnector::from(ca.client_config())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn tls_after_the_proxy_header() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let mut listener = ServerBuilder::new(("localhost", 0))
        .tls_config(leaf.server_config(&[]))
        .proxy_protocol(loopback())
        .bind_tls()
        .await
        .unwrap();
    let to = listener.local_addrs()[0];
    let header = v2(
        Command::Proxy,
        (addr("203.0.113.9:1234"), addr("198.51.100.1:443")),
        &[(Type::Authority.into(), b"localhost")],
    );
    let (mut client, accepted) =
        tokio::join!(tls_client(&ca, to, &header), listener.accept_with_info());
    let (mut stream, info) = accepted.unwrap();
    assert_eq!(info.peer(), addr("203.0.113.9:1234"));
    assert_eq!(info.proxy_header().unwrap().authority(), Some("localhost"));
    assert_eq!(stream.server_name(), Some("localhost"));
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // accept gives the header's address too; a plain client without a
    // header is closed and counted, not a handshake failure.
    let (_client, accepted) = tokio::join!(
        tls_client(&ca, to, b"PROXY TCP4 192.0.2.1 192.0.2.2 7 443\r\n"),
        listener.accept()
    );
    assert_eq!(accepted.unwrap().1, addr("192.0.2.1:7"));
    let mut plain = TcpStream::connect(to).await.unwrap();
    plain
        .write_all(&[0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0])
        .await
        .unwrap();
    let (gone, accepted) = tokio::join!(
        closed(&mut plain),
        tokio::time::timeout(Duration::from_millis(500), listener.accept())
    );
    assert!(gone);
    assert!(accepted.is_err(), "nothing is handed on");
    assert_eq!(listener.proxy_header_failures(), 1);
    assert_eq!(listener.handshake_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tls_with_info_behind_a_balancer_beside_500_silent_clients() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = ServerBuilder::new("127.0.0.1:0")
        .tls_config(leaf.server_config(&[]))
        .proxy_protocol(loopback().header_timeout(Duration::from_secs(10)))
        .serve_tls_with_info(|mut stream, info| async move {
            let _ = stream.write_all(info.peer().to_string().as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await
        .unwrap();
    let to = server.local_addrs()[0];
    let real = || async {
        let mut best = Duration::MAX;
        for _ in 0..7 {
            let started = Instant::now();
            let mut c = tls_client(&ca, to, b"PROXY TCP6 2001:db8::5 2001:db8::1 99 443\r\n").await;
            let mut said = String::new();
            c.read_to_string(&mut said).await.unwrap();
            assert_eq!(said, "[2001:db8::5]:99");
            best = best.min(started.elapsed());
        }
        best
    };
    let alone = real().await;
    let mut silent = Vec::new();
    for _ in 0..500 {
        silent.push(TcpStream::connect(to).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let beside = real().await;
    let extra = beside.saturating_sub(alone);
    println!("TLS behind PROXY: alone {alone:?}, beside 500 silent {beside:?} (+{extra:?})");
    assert!(extra < Duration::from_millis(5), "delayed by {extra:?}");
    assert_eq!(server.proxy_header_failures(), 0);
    assert_eq!(server.tls_handshake_failures(), 0);
    drop(silent);
}

/// A balancer sends the header with its first packet: when it is waiting
/// on the socket at accept, the connection is handed on in the same poll,
/// without a task. (Through a task it could not be: on this
/// current-thread runtime the task runs only after the poll returns.)
#[tokio::test]
async fn a_header_waiting_at_accept_is_read_without_a_task() {
    let mut l = listener(loopback()).await;
    let v2 = v2(
        Command::Proxy,
        (addr("203.0.113.9:1234"), addr("198.51.100.1:443")),
        &[],
    );
    let cases: [(&[u8], &str); 2] = [
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhello",
            "192.0.2.1:56324",
        ),
        (&[&v2[..], b"hello"].concat(), "203.0.113.9:1234"),
    ];
    for to in l.local_addrs() {
        for (bytes, peer) in &cases {
            let mut client = TcpStream::connect(to).await.unwrap();
            client.write_all(bytes).await.unwrap();
            // The bytes reach the accepted socket's queue (loopback), and
            // the reactor sees the listener readable.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut accepting = std::pin::pin!(l.accept_with_info());
            let std::task::Poll::Ready(accepted) = futures::poll!(accepting.as_mut()) else {
                panic!("the header was waiting, yet the first poll did not return the connection (read in a task)");
            };
            let (mut conn, info) = accepted.unwrap();
            assert_eq!(info.peer(), addr(peer));
            let mut buf = [0; 5];
            conn.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
        }
    }
    assert_eq!(l.proxy_header_failures(), 0);
}

/// `peer_policy` judges the balancer (the socket's peer), `client_policy`
/// the client a header names, on the fast path, through a task (a split
/// header) and with TLS; a header without a client address keeps the
/// balancer as the peer, which only the peer policy judges.
#[tokio::test]
async fn client_policy_judges_the_headers_client_and_peer_policy_the_balancer() {
    use tokio_endpoints::AddressPolicy;
    let proxy = loopback().client_policy(AddressPolicy::public_only());
    // The balancer is on loopback: a public_only peer policy would refuse
    // it, so the peer policy allows the balancer's network only.
    let balancers = AddressPolicy::allow_only(["127.0.0.0/8".parse().unwrap()]);
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let server = ServerBuilder::new("127.0.0.1:0")
        .peer_policy(balancers.clone())
        .proxy_protocol(proxy.clone())
        .serve(move |mut stream, peer| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let _ = stream.write_all(peer.to_string().as_bytes()).await;
            }
        })
        .await
        .unwrap();
    let to = server.local_addrs()[0];
    let said = |bytes: Vec<u8>, split: bool| async move {
        let mut client = TcpStream::connect(to).await.unwrap();
        client.set_nodelay(true).unwrap();
        if split {
            for b in &bytes {
                client.write_all(&[*b]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        } else {
            client.write_all(&bytes).await.unwrap();
        }
        let mut said = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut said))
            .await
            .expect("neither served nor closed");
        said
    };
    for split in [false, true] {
        // A public client: served, with its address.
        let public = said(
            b"PROXY TCP4 93.184.216.34 10.0.0.1 4000 80\r\n".to_vec(),
            split,
        )
        .await;
        assert_eq!(public, "93.184.216.34:4000");
        // A private client, and one in a documentation range: closed.
        for refused in [
            b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 80\r\n".to_vec(),
            v2(
                Command::Proxy,
                (addr("[::ffff:192.168.1.1]:1"), addr("[::1]:2")),
                &[],
            ),
        ] {
            assert_eq!(said(refused, split).await, "");
        }
        // LOCAL (a health check): the balancer is the peer, judged by the
        // peer policy only.
        let local = said(
            v2(Command::Local, ppp::v2::Addresses::Unspecified, &[]),
            split,
        )
        .await;
        assert!(local.starts_with("127.0.0.1:"), "{local}");
    }
    assert_eq!(server.denied_peers(), 4);
    assert_eq!(server.proxy_header_failures(), 0);
    assert_eq!(handled.load(Ordering::SeqCst), 4);

    // With TLS: the same, before the handshake.
    let ca = Ca::new("test CA");
    let mut tls = ServerBuilder::new("127.0.0.1:0")
        .peer_policy(balancers)
        .proxy_protocol(proxy)
        .tls_config(ca.leaf(&["localhost"]).server_config(&[]))
        .bind_tls()
        .await
        .unwrap();
    let to = tls.local_addrs()[0];
    let mut refused = TcpStream::connect(to).await.unwrap();
    refused
        .write_all(b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 80\r\n")
        .await
        .unwrap();
    let (gone, ()) = tokio::join!(closed(&mut refused), async {
        tokio::select! {
            _ = tls.accept() => panic!("a refused client was handed on"),
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    });
    assert!(gone);
    assert_eq!(tls.denied_peers(), 1);
    assert_eq!(tls.handshake_failures(), 0);
}
