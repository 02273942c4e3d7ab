//! DatagramBuilder on loopback: options, port sharing, connect and family
//! filtering, send and receive, resolution, framing, Unix sockets, adoption,
//! and every bad input refused.
//!
//! That failures leave no descriptor open is checked in
//! `tests/datagram_fds.rs`, a binary of its own (see there why).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use socket2::SockRef;
use tokio::net::UdpSocket;
use tokio_endpoints::{DatagramBuilder, DatagramError, DatagramErrorKind, Family, Resolver};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

async fn bind(b: DatagramBuilder) -> UdpSocket {
    b.bind().await.unwrap_or_else(|e| panic!("bind: {e}"))
}

async fn refused(b: DatagramBuilder) -> DatagramError {
    match b.bind().await {
        Ok(s) => panic!("expected an error, got a socket on {:?}", s.local_addr()),
        Err(e) => e,
    }
}

type Check = fn(&SockRef<'_>) -> io::Result<bool>;
type SetOption = fn(DatagramBuilder) -> DatagramBuilder;

#[tokio::test]
async fn options_round_trip_through_getsockopt() {
    // (name, the builder's option, what getsockopt must say)
    let table: Vec<(&str, SetOption, Check)> = vec![
        ("default", |b| b, |s| Ok(!s.broadcast()? && !reuse_port(s)?)),
        (
            "allow_broadcast(true)",
            |b| b.allow_broadcast(true),
            |s| s.broadcast(),
        ),
        (
            "allow_broadcast(false)",
            |b| b.allow_broadcast(false),
            |s| Ok(!s.broadcast()?),
        ),
        ("reuse_port(true)", |b| b.reuse_port(true), reuse_port),
        (
            "reuse_port(false)",
            |b| b.reuse_port(false),
            |s| Ok(!reuse_port(s)?),
        ),
        (
            "socket_hook(SO_RCVBUF)",
            |b| b.socket_hook(|s| s.set_recv_buffer_size(64 * 1024)),
            // Linux doubles the value for bookkeeping (socket(7)).
            |s| Ok(s.recv_buffer_size()? >= 64 * 1024),
        ),
        (
            "socket_hook(IPV6_V6ONLY or IP_TTL)",
            |b| {
                // Unbound, getsockname still tells the family.
                b.socket_hook(|s| match s.local_addr()?.is_ipv6() {
                    true => s.set_only_v6(true),
                    false => s.set_ttl_v4(7),
                })
            },
            |s| match s.local_addr()?.is_ipv6() {
                true => s.only_v6(),
                false => Ok(s.ttl_v4()? == 7),
            },
        ),
    ];
    for ip in [V4, V6] {
        for (name, option, check) in &table {
            if !cfg!(unix) && name.starts_with("reuse_port(true)") {
                continue;
            }
            let socket = bind(option(DatagramBuilder::new().local_addr((ip, 0)))).await;
            let sock = SockRef::from(&socket);
            assert!(check(&sock).unwrap(), "{name} on {ip}");
            assert_eq!(socket.local_addr().unwrap().ip(), ip, "{name} on {ip}");
        }
    }
}

#[cfg(unix)]
fn reuse_port(s: &SockRef<'_>) -> io::Result<bool> {
    s.reuse_port()
}

/// No SO_REUSEPORT here: `reuse_port_is_unsupported_here` covers it.
#[cfg(not(unix))]
fn reuse_port(_: &SockRef<'_>) -> io::Result<bool> {
    Ok(false)
}

#[tokio::test]
async fn family_picks_the_unspecified_address() {
    for (family, ip) in [
        (Family::Any, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        (Family::V4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        (Family::V6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ] {
        let socket = bind(DatagramBuilder::new().family(family)).await;
        let local = socket.local_addr().unwrap();
        assert_eq!(local.ip(), ip, "{family}");
        assert_ne!(local.port(), 0);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn two_sockets_share_a_port_with_reuse_port_and_not_without() {
    for ip in [V4, V6] {
        let a = bind(DatagramBuilder::new().local_addr((ip, 0)).reuse_port(true)).await;
        let addr = a.local_addr().unwrap();
        let b = bind(DatagramBuilder::new().local_addr(addr).reuse_port(true)).await;
        assert_eq!(b.local_addr().unwrap(), addr);

        // Without reuse_port on the newcomer: refused, and the error says why.
        let e = refused(DatagramBuilder::new().local_addr(addr)).await;
        assert_eq!(e.kind(), DatagramErrorKind::AllAttemptsFailed);
        assert_eq!(e.io_kind(), io::ErrorKind::AddrInUse);
        let msg = e.to_string();
        assert!(msg.contains(&format!("bind to {addr}")), "{msg}");
        assert!(msg.contains("reuse_port"), "{msg}");
        assert_eq!(e.attempts().len(), 1);
        assert_eq!(e.attempts()[0].local(), Some(addr));

        // A port held without reuse_port cannot be shared by one that sets it.
        let plain = bind(DatagramBuilder::new().local_addr((ip, 0))).await;
        let held = plain.local_addr().unwrap();
        let e = refused(DatagramBuilder::new().local_addr(held).reuse_port(true)).await;
        assert_eq!(e.io_kind(), io::ErrorKind::AddrInUse, "{e}");
    }
}

#[tokio::test]
async fn remote_addr_connects_and_filters_by_family() {
    let s6 = bind(DatagramBuilder::new().local_addr((V6, 0))).await;
    let s4 = bind(DatagramBuilder::new().local_addr((V4, 0))).await;
    let (a6, a4) = (s6.local_addr().unwrap(), s4.local_addr().unwrap());
    let both = vec![a6, a4];

    for (family, want) in [(Family::Any, a6), (Family::V6, a6), (Family::V4, a4)] {
        let c = bind(
            DatagramBuilder::new()
                .remote_addr(both.clone())
                .family(family),
        )
        .await;
        assert_eq!(c.peer_addr().unwrap(), want, "{family}");
    }
    // The local address's family picks the remote address too.
    let c = bind(
        DatagramBuilder::new()
            .local_addr("127.0.0.1:0")
            .remote_addr(both.clone()),
    )
    .await;
    assert_eq!(c.peer_addr().unwrap(), a4);
    assert_eq!(c.local_addr().unwrap().ip(), V4);
}

#[tokio::test]
async fn the_next_remote_address_is_tried_when_connect_fails() {
    let server = bind(DatagramBuilder::new().local_addr((V4, 0))).await;
    let good = server.local_addr().unwrap();
    // Loopback always has a route, so a hook that fails the first socket
    // stands in for a connect that fails with "no route".
    let bad: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let tries = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = tries.clone();
    let c = bind(
        DatagramBuilder::new()
            .remote_addr(vec![bad, good])
            .socket_hook(move |_| {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(io::Error::new(
                        io::ErrorKind::NetworkUnreachable,
                        "no route",
                    ))
                } else {
                    Ok(())
                }
            }),
    )
    .await;
    assert_eq!(c.peer_addr().unwrap(), good);
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn send_and_receive() {
    for ip in [V4, V6] {
        let server = bind(DatagramBuilder::new().local_addr((ip, 0))).await;
        let client = bind(DatagramBuilder::new().remote_addr(server.local_addr().unwrap())).await;
        client.send(b"ping").await.unwrap();
        let mut buf = [0; 64];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, client.local_addr().unwrap());
        server.send_to(b"pong", from).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
    }
}

#[tokio::test]
async fn host_names_resolve_through_a_fixed_resolver() {
    let server = bind(DatagramBuilder::new().local_addr((V4, 0))).await;
    let port = server.local_addr().unwrap().port();
    let resolver = Resolver::fixed([("echo.test", vec![V6, V4]), ("me.test", vec![V4])]);

    // "me.test" is IPv4 only, so the IPv4 address of "echo.test" is used.
    let client = bind(
        DatagramBuilder::new()
            .local_addr(("me.test", 0))
            .remote_addr(("echo.test", port))
            .resolver(resolver.clone()),
    )
    .await;
    assert_eq!(client.peer_addr().unwrap(), SocketAddr::new(V4, port));
    client.send(b"by name").await.unwrap();
    let mut buf = [0; 64];
    let (n, _) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"by name");

    // With Family::Any and no local address, the first address is used.
    let client = bind(
        DatagramBuilder::new()
            .remote_addr(format!("echo.test:{port}"))
            .resolver(resolver),
    )
    .await;
    assert_eq!(client.peer_addr().unwrap(), SocketAddr::new(V6, port));
}

#[cfg(feature = "codec")]
#[tokio::test]
async fn framed_echo_with_a_codec() {
    use futures::{SinkExt, StreamExt};
    use tokio_endpoints::tokio_util::codec::{BytesCodec, LinesCodec};

    let mut server = DatagramBuilder::new()
        .local_addr("[::1]:0")
        .bind_framed(BytesCodec::new())
        .await
        .unwrap();
    let server_addr = server.get_ref().local_addr().unwrap();
    let echo = tokio::spawn(async move {
        for _ in 0..2 {
            let (frame, from) = server.next().await.unwrap().unwrap();
            server.send((frame.freeze(), from)).await.unwrap();
        }
    });

    let mut client = DatagramBuilder::new()
        .local_addr("[::1]:0")
        .bind_framed(LinesCodec::new())
        .await
        .unwrap();
    for line in ["hello", "world"] {
        client.send((line.to_string(), server_addr)).await.unwrap();
        let (got, from) = client.next().await.unwrap().unwrap();
        assert_eq!((got.as_str(), from), (line, server_addr));
    }
    echo.await.unwrap();
}

#[tokio::test]
async fn adopts_a_socket() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_socket.local_addr().unwrap();
    let adopted = DatagramBuilder::from_socket(std_socket)
        .bind()
        .await
        .unwrap();
    assert_eq!(adopted.local_addr().unwrap(), addr);

    let peer = bind(DatagramBuilder::new().local_addr((V4, 0))).await;
    peer.send_to(b"to adopted", addr).await.unwrap();
    let mut buf = [0; 64];
    let (n, from) = adopted.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"to adopted");
    assert_eq!(from, peer.local_addr().unwrap());
}

/// Every bad input, its error kind, and words the message must contain.
#[tokio::test]
async fn bad_input_is_refused_with_a_clear_error() {
    let busy = bind(DatagramBuilder::new().local_addr((V4, 0))).await;
    let busy = busy.local_addr().unwrap();
    use DatagramErrorKind::*;
    let cases: Vec<(DatagramBuilder, DatagramErrorKind, &[&str])> = vec![
        (
            DatagramBuilder::new().local_addr("localhost"),
            InvalidInput,
            &["local_addr \"localhost\"", "missing port"],
        ),
        (
            DatagramBuilder::new().remote_addr("::1:53"),
            InvalidInput,
            &["remote_addr", "must be in brackets"],
        ),
        (
            DatagramBuilder::new().remote_addr("bad host!:53"),
            InvalidInput,
            &["remote_addr", "not allowed in a host name"],
        ),
        (
            DatagramBuilder::new().remote_addr("127.0.0.1:0"),
            InvalidInput,
            &["port 0 is not a destination port"],
        ),
        (
            DatagramBuilder::new()
                .local_addr("127.0.0.1:0")
                .remote_addr("[::1]:53"),
            InvalidInput,
            &[
                "127.0.0.1:0 (IPv4)",
                "[::1]:53 (IPv6)",
                "share no address family",
            ],
        ),
        (
            DatagramBuilder::new()
                .local_addr("127.0.0.1:0")
                .family(Family::V6),
            InvalidInput,
            &["local_addr 127.0.0.1:0", "requested family IPv6"],
        ),
        (
            DatagramBuilder::new()
                .local_addr(("me.test", 0))
                .remote_addr(("far.test", 53))
                .resolver(Resolver::fixed([("me.test", [V4]), ("far.test", [V6])])),
            NoUsableAddress,
            &[
                "127.0.0.1:0 (IPv4)",
                "[::1]:53 (IPv6)",
                "share no address family",
            ],
        ),
        (
            DatagramBuilder::new()
                .remote_addr(("far.test", 53))
                .family(Family::V4)
                .resolver(Resolver::fixed([("far.test", [V6])])),
            NoUsableAddress,
            &["far.test has no IPv4 address"],
        ),
        (
            DatagramBuilder::new()
                .remote_addr(("nowhere.test", 53))
                .resolver(Resolver::fixed([("far.test", [V6])])),
            Resolve,
            &["nowhere.test: no such name"],
        ),
        (
            DatagramBuilder::new().local_addr(busy),
            AllAttemptsFailed,
            &["bind to", "reuse_port"],
        ),
        (
            DatagramBuilder::new()
                .local_addr("127.0.0.1:0")
                .socket_hook(|_| Err(io::Error::other("nope"))),
            AllAttemptsFailed,
            &["socket hook: nope"],
        ),
        (
            DatagramBuilder::from_socket(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
                .local_addr("127.0.0.1:0")
                .reuse_port(true),
            InvalidInput,
            &["local_addr, reuse_port cannot be used with from_socket"],
        ),
        (
            DatagramBuilder::from_socket(tcp_as_udp()),
            InvalidInput,
            &["wrong socket type: SOCK_STREAM"],
        ),
        #[cfg(unix)]
        (
            DatagramBuilder::from_socket(unix_as_udp()),
            InvalidInput,
            &["wrong socket family"],
        ),
    ];
    for (builder, kind, words) in cases {
        let shown = format!("{builder:?}");
        let e = refused(builder).await;
        let msg = e.to_string();
        assert_eq!(e.kind(), kind, "{shown}: {msg}");
        for w in words {
            assert!(msg.contains(w), "{shown}: {msg:?} lacks {w:?}");
        }
        let io: io::Error = e.into();
        assert!(io.get_ref().unwrap().is::<DatagramError>());
    }
}

/// A `std::net::UdpSocket` over a TCP socket: what `from_socket` must refuse.
pub fn tcp_as_udp() -> std::net::UdpSocket {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .unwrap()
        .into()
}

/// A `std::net::UdpSocket` over a Unix datagram socket.
#[cfg(unix)]
pub fn unix_as_udp() -> std::net::UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None).unwrap();
    s.into()
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
#[tokio::test]
async fn reuse_port_is_unsupported_here() {
    let e = refused(DatagramBuilder::new().reuse_port(true)).await;
    assert_eq!(e.kind(), DatagramErrorKind::Unsupported);
    assert_eq!(e.io_kind(), io::ErrorKind::Unsupported);
}

#[cfg(unix)]
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tokio-endpoints-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
#[tokio::test]
async fn unix_datagram_pair() {
    let dir = temp_dir("unix-pair");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    let a = DatagramBuilder::unix()
        .local_path(&a_path)
        .bind()
        .await
        .unwrap();
    let b = DatagramBuilder::unix()
        .local_path(&b_path)
        .remote_path(&a_path)
        .bind()
        .await
        .unwrap();
    b.send(b"from b").await.unwrap();
    let mut buf = [0; 64];
    let (n, from) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"from b");
    assert_eq!(from.as_pathname(), Some(b_path.as_path()));
    a.send_to(b"to b", &b_path).await.unwrap();
    let n = b.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"to b");

    // Connected only, unbound: can send, has no name.
    let c = DatagramBuilder::unix()
        .remote_path(&a_path)
        .bind()
        .await
        .unwrap();
    assert!(c.local_addr().unwrap().is_unnamed());
    c.send(b"anon").await.unwrap();
    let (n, _) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"anon");

    // A live socket's path is not taken over, and its file is kept.
    let e = DatagramBuilder::unix()
        .local_path(&a_path)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(e.io_kind(), io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains("a socket is bound there"), "{e}");
    assert!(a_path.exists());
    a.send_to(b"still a", &b_path).await.unwrap();
    let n = b.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"still a");

    // A stale socket file (its socket closed, the file left behind, as by a
    // program that exited) is replaced.
    let stale_path = dir.join("stale.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale_path).unwrap());
    assert!(stale_path.exists());
    let fresh = DatagramBuilder::unix()
        .local_path(&stale_path)
        .bind()
        .await
        .unwrap();
    a.send_to(b"to fresh", &stale_path).await.unwrap();
    let n = fresh.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"to fresh");

    // A file that is not a socket is never removed.
    let plain = dir.join("plain");
    std::fs::write(&plain, b"keep me").unwrap();
    let e = DatagramBuilder::unix()
        .local_path(&plain)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(e.io_kind(), io::ErrorKind::AddrInUse, "{e}");
    assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");

    // A failed connect takes back the socket file it bound.
    let d_path = dir.join("d.sock");
    let e = DatagramBuilder::unix()
        .local_path(&d_path)
        .remote_path(dir.join("nobody.sock"))
        .bind()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("connect to"), "{e}");
    assert!(!d_path.exists());

    // Bad paths are refused before a socket is opened.
    let e = DatagramBuilder::unix()
        .local_path("")
        .bind()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DatagramErrorKind::InvalidInput);
    assert!(e.to_string().contains("local_path is empty"), "{e}");
    let long = dir.join("x".repeat(200));
    let e = DatagramBuilder::unix()
        .remote_path(&long)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DatagramErrorKind::InvalidInput, "{e}");

    std::fs::remove_dir_all(&dir).unwrap();
}
