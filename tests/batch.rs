//! `BatchedSocket` on loopback: many datagrams round trip intact and in
//! per-peer order with offload on and off, ECN marks set and read back,
//! destination addresses on a `[::]` socket, the path MTU reported, and bad
//! input refused before any datagram is sent.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::time::timeout;
use tokio_endpoints::{BatchedSocket, DatagramBuilder, Ecn, RecvBatch, SendOptions};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

async fn batched(ip: IpAddr) -> BatchedSocket {
    DatagramBuilder::new()
        .local_addr((ip, 0))
        .bind_batched()
        .await
        .unwrap()
}

fn addr(s: &BatchedSocket) -> SocketAddr {
    s.inner().local_addr().unwrap()
}

/// Receives until `want` datagrams came (a second without one fails the
/// test: a datagram lost), as (peer, bytes, ecn, local ip, interface).
async fn recv_n(socket: &BatchedSocket, batch: &mut RecvBatch, want: usize) -> Vec<Received> {
    let mut got = Vec::new();
    while got.len() < want {
        let n = timeout(Duration::from_secs(2), socket.recv_batch(batch))
            .await
            .unwrap_or_else(|_| panic!("{} of {want} datagrams came", got.len()))
            .unwrap();
        assert_eq!(n, batch.len());
        assert_eq!(n, batch.iter().count());
        assert!(n > 0);
        got.extend(batch.iter().map(|d| Received {
            peer: d.peer(),
            data: d.data().to_vec(),
            ecn: d.ecn(),
            local_ip: d.local_ip(),
            interface: d.interface(),
        }));
    }
    assert_eq!(got.len(), want, "more datagrams came than were sent");
    got
}

#[derive(Debug)]
#[allow(dead_code)]
struct Received {
    peer: SocketAddr,
    data: Vec<u8>,
    ecn: Option<Ecn>,
    local_ip: Option<IpAddr>,
    interface: Option<u32>,
}

/// Datagram `seq` of a client: its sequence number and client id, then
/// filler; sizes vary so that runs end early (a shorter last datagram), a
/// size changes mid-batch, and some datagrams are empty or alone.
fn datagram(client: u8, seq: u32) -> Vec<u8> {
    let len = match seq % 23 {
        7 => 500,
        13 => 0,
        19 => 9000,
        _ => 1200,
    };
    let mut d = vec![client; len.max(5)];
    if len == 0 {
        return Vec::new();
    }
    d[..4].copy_from_slice(&seq.to_be_bytes());
    d[4] = client;
    d.truncate(len);
    d
}

async fn round_trip(ip: IpAddr, offload: bool) {
    let server = batched(ip).await;
    server.set_offload(offload).unwrap();
    let to = addr(&server);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let c = batched(ip).await;
        c.set_offload(offload).unwrap();
        if !offload {
            assert_eq!(c.max_segments(), 1);
            assert_eq!(c.max_receive_segments(), 1);
        }
        clients.push(c);
    }
    if offload && cfg!(target_os = "linux") && clients[0].max_segments() == 1 {
        eprintln!("note: this kernel has no UDP segmentation offload; the offload-on run tests the fallback");
    }
    let mut batch = RecvBatch::new();
    let mut next: HashMap<SocketAddr, u32> = HashMap::new();
    const PER_CLIENT: u32 = 400;
    const BURST: u32 = 20; // three bursts stay inside the receive buffer
    let mut seq = 0;
    while seq < PER_CLIENT {
        let end = (seq + BURST).min(PER_CLIENT);
        let mut want = 0;
        for (id, c) in clients.iter().enumerate() {
            let chunks: Vec<Vec<u8>> = (seq..end).map(|s| datagram(id as u8, s)).collect();
            let payloads: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
            let mut sent = 0;
            while sent < payloads.len() {
                sent += c.send_batch(to, &payloads[sent..]).await.unwrap();
            }
            want += payloads.len();
        }
        for r in recv_n(&server, &mut batch, want).await {
            let id = clients
                .iter()
                .position(|c| addr(c) == r.peer)
                .unwrap_or_else(|| panic!("a datagram from a stranger: {}", r.peer));
            let s = next.entry(r.peer).or_insert(0);
            assert_eq!(r.data, datagram(id as u8, *s), "client {id}, datagram {s}");
            *s += 1;
        }
        seq = end;
    }
    assert_eq!(next.len(), 3);
    assert!(next.values().all(|&n| n == PER_CLIENT));
}

#[tokio::test]
async fn many_datagrams_round_trip_in_order_with_offload_on_v4() {
    round_trip(V4, true).await;
}

#[tokio::test]
async fn many_datagrams_round_trip_in_order_with_offload_off_v4() {
    round_trip(V4, false).await;
}

#[tokio::test]
async fn many_datagrams_round_trip_in_order_with_offload_on_v6() {
    round_trip(V6, true).await;
}

#[tokio::test]
async fn many_datagrams_round_trip_in_order_with_offload_off_v6() {
    round_trip(V6, false).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn linux_offers_segmentation_and_receive_offload() {
    let s = batched(V4).await;
    assert_eq!(s.max_segments(), 64, "UDP_SEGMENT (Linux 4.18+)");
    assert_eq!(s.max_receive_segments(), 64, "UDP_GRO (Linux 5.0+)");
    s.set_offload(false).unwrap();
    assert_eq!((s.max_segments(), s.max_receive_segments()), (1, 1));
    s.set_offload(true).unwrap();
    assert_eq!((s.max_segments(), s.max_receive_segments()), (64, 64));
}

/// One call with more datagrams than a segmented send carries (64), an
/// empty one among them, read with a batch of more buffers than one
/// `recvmmsg` fills; then the largest datagram loopback carries unfragmented.
#[tokio::test]
async fn one_call_sends_more_than_a_run_and_every_size() {
    let a = batched(V6).await;
    let b = batched(V6).await;
    let mut chunks: Vec<Vec<u8>> = (0..150u32)
        .map(|i| {
            let mut d = vec![(i % 251) as u8; 400];
            d[..4].copy_from_slice(&i.to_be_bytes());
            d
        })
        .collect();
    chunks.insert(70, Vec::new());
    chunks.insert(100, vec![9; 100]);
    let payloads: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
    let mut sent = 0;
    while sent < payloads.len() {
        sent += a.send_batch(addr(&b), &payloads[sent..]).await.unwrap();
    }
    let mut batch = RecvBatch::with_capacity(100);
    let got = recv_n(&b, &mut batch, chunks.len()).await;
    let data: Vec<Vec<u8>> = got.into_iter().map(|r| r.data).collect();
    assert_eq!(data, chunks);

    // Loopback's MTU is 65,536: 65,488 bytes of UDP over IPv6 fit.
    let big = vec![7_u8; 65_488];
    assert_eq!(a.send_batch(addr(&b), &[&big[..], &big]).await.unwrap(), 2);
    let got = recv_n(&b, &mut batch, 2).await;
    assert!(got.iter().all(|r| r.data == big));
}

#[tokio::test]
async fn send_to_many_reaches_each_peer_in_order() {
    let socket = batched(V4).await;
    let peers = [batched(V4).await, batched(V4).await];
    let items: Vec<(SocketAddr, Vec<u8>)> = (0..60u8)
        .map(|i| (addr(&peers[(i as usize / 7) % 2]), vec![i; 300]))
        .collect();
    let sent = socket.send_to_many(&items).await.unwrap();
    assert_eq!(sent, items.len());
    let mut batch = RecvBatch::new();
    for (p, peer) in peers.iter().enumerate() {
        let want: Vec<Vec<u8>> = items
            .iter()
            .filter(|(to, _)| *to == addr(&peers[p]))
            .map(|(_, d)| d.clone())
            .collect();
        let got = recv_n(peer, &mut batch, want.len()).await;
        assert!(got.iter().all(|r| r.peer == addr(&socket)));
        let got: Vec<Vec<u8>> = got.into_iter().map(|r| r.data).collect();
        assert_eq!(got, want);
    }
}

/// ECN marks set per batch come back on each datagram, over IPv4, IPv6
/// and IPv4 on a dual-stack socket, with offload on (a GRO message of five
/// datagrams carries one mark) and off.
#[tokio::test]
async fn ecn_marks_are_set_and_read_back() {
    let dual = DatagramBuilder::new()
        .local_addr("[::]:0")
        .bind_batched()
        .await
        .unwrap();
    let dual_port = addr(&dual).port();
    let mut batch = RecvBatch::new();
    for (name, ip) in [("IPv4", V4), ("IPv6", V6)] {
        for offload in [true, false] {
            let (tx, rx) = (batched(ip).await, batched(ip).await);
            tx.set_offload(offload).unwrap();
            rx.set_offload(offload).unwrap();
            for mark in [None, Some(Ecn::Ect0), Some(Ecn::Ect1), Some(Ecn::Ce)] {
                let options = match mark {
                    Some(m) => SendOptions::new().ecn(m),
                    None => SendOptions::new(),
                };
                let chunks = vec![vec![1_u8; 1200]; 5];
                let sent = tx
                    .send_batch_with(addr(&rx), &chunks, &options)
                    .await
                    .unwrap();
                assert_eq!(sent, 5);
                for r in recv_n(&rx, &mut batch, 5).await {
                    assert_eq!(r.ecn, mark, "{name}, offload {offload}");
                }
            }
        }
    }
    // IPv4 into a dual-stack socket.
    let tx = batched(V4).await;
    let to = SocketAddr::new(V4, dual_port);
    tx.send_batch_with(to, &[&b"ce"[..]], &SendOptions::new().ecn(Ecn::Ce))
        .await
        .unwrap();
    let got = recv_n(&dual, &mut batch, 1).await;
    assert_eq!(got[0].ecn, Some(Ecn::Ce), "IPv4 on [::]");
    // And back out of it, to an IPv4 address (mapped on the way).
    dual.send_batch_with(
        addr(&tx),
        &[&b"ect1"[..]],
        &SendOptions::new().ecn(Ecn::Ect1),
    )
    .await
    .unwrap();
    let got = recv_n(&tx, &mut batch, 1).await;
    assert_eq!(
        (got[0].ecn, &got[0].data[..]),
        (Some(Ecn::Ect1), &b"ect1"[..])
    );
}

/// A server on `[::]` reached at three local addresses (`::1`, and over
/// IPv4 `127.0.0.1` and `127.0.0.2`, both local on Linux) reads which one
/// each datagram was sent to, and answers from it.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn destination_addresses_on_a_wildcard_socket() {
    let server = DatagramBuilder::new()
        .local_addr("[::]:0")
        .bind_batched()
        .await
        .unwrap();
    let port = addr(&server).port();
    let lo = lo_index();
    let asked: [IpAddr; 3] = [V6, V4, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))];
    let mut batch = RecvBatch::new();
    for ip in asked {
        let client =
            tokio::net::UdpSocket::bind(SocketAddr::new(if ip.is_ipv4() { V4 } else { V6 }, 0))
                .await
                .unwrap();
        let to = SocketAddr::new(ip, port);
        client.send_to(b"where?", to).await.unwrap();
        let got = timeout(Duration::from_secs(2), server.recv_batch(&mut batch))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, 1);
        let d = batch.iter().next().unwrap();
        let expected_local = match ip {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        };
        assert_eq!(d.local_ip(), Some(expected_local), "asked {ip}");
        assert_eq!(d.interface(), Some(lo), "asked {ip}");
        // The answer leaves from the address that was asked.
        server
            .send_batch_with(d.peer(), &[&b"here"[..]], &d.reply_options())
            .await
            .unwrap();
        let mut buf = [0; 16];
        let (n, from) = timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&buf[..n], from), (&b"here"[..], to), "asked {ip}");
    }
    // Without reply options the kernel picks the source: for 127.0.0.2
    // that is 127.0.0.1, which is what a plain socket gets wrong.
    let client = tokio::net::UdpSocket::bind((V4, 0)).await.unwrap();
    let to = SocketAddr::new(asked[2], port);
    client.send_to(b"where?", to).await.unwrap();
    recv_n(&server, &mut batch, 1).await;
    let peer = batch.iter().next().unwrap().peer();
    server.send_batch(peer, &[&b"here"[..]]).await.unwrap();
    let mut buf = [0; 16];
    let (_, from) = client.recv_from(&mut buf).await.unwrap();
    assert_ne!(
        from, to,
        "the kernel's choice differs from the address asked"
    );
}

#[cfg(target_os = "linux")]
fn lo_index() -> u32 {
    // SAFETY: a NUL-terminated name.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

fn assert_invalid(e: io::Error, words: &[&str]) {
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    let text = e.to_string();
    for w in words {
        assert!(text.contains(w), "{text:?} lacks {w:?}");
    }
}

/// Bad input is refused with an error naming the problem, and nothing of
/// a refused batch is sent: the receiver's first datagram is the marker
/// sent after them.
#[tokio::test]
async fn bad_input_is_refused_before_any_datagram() {
    let v4 = batched(V4).await;
    let v6only = DatagramBuilder::new()
        .local_addr("[::1]:0")
        .bind_batched()
        .await
        .unwrap();
    let rx4 = batched(V4).await;
    let rx6 = batched(V6).await;
    let to4 = addr(&rx4);
    let to6 = addr(&rx6);
    let empty: [&[u8]; 0] = [];
    let ok = vec![1_u8; 100];

    let e = v4.send_batch(to4, &empty).await.unwrap_err();
    assert_invalid(e, &["send_batch", "empty"]);
    let none: [(SocketAddr, &[u8]); 0] = [];
    let e = v4.send_to_many(&none).await.unwrap_err();
    assert_invalid(e, &["send_to_many", "empty"]);

    let big4 = vec![0_u8; 65_508];
    let e = v4
        .send_batch(to4, &[&ok[..], &ok, &big4])
        .await
        .unwrap_err();
    assert_invalid(
        e,
        &["datagram 2", "65508 bytes", "65507-byte limit", "IPv4"],
    );
    let big6 = vec![0_u8; 70_000];
    let e = rx6.send_batch(to6, &[&big6[..]]).await.unwrap_err();
    assert_invalid(
        e,
        &["datagram 0", "70000 bytes", "65527-byte limit", "IPv6"],
    );
    let e = v4
        .send_to_many(&[(to4, &ok[..]), (to4, &big4[..])])
        .await
        .unwrap_err();
    assert_invalid(e, &["send_to_many", "datagram 1", "65508 bytes"]);

    let e = v4.send_batch(to6, &[&ok[..]]).await.unwrap_err();
    assert_invalid(e, &["[::1]", "IPv6 destination", "socket is IPv4"]);
    let e = v4
        .send_to_many(&[(to4, &ok[..]), (to6, &ok[..])])
        .await
        .unwrap_err();
    assert_invalid(e, &["IPv6 destination", "datagram 1"]);
    // A socket bound to ::1 is IPv6 only on Linux (a v4 peer cannot reach
    // it); where it is not, the IPv4 destination is mapped.
    if tokio_endpoints::socket2::SockRef::from(v6only.inner())
        .only_v6()
        .unwrap()
    {
        let e = v6only.send_batch(to4, &[&ok[..]]).await.unwrap_err();
        assert_invalid(e, &["IPv4 destination", "IPv6 only"]);
    }
    let e = v4
        .send_batch_with(to4, &[&ok[..]], &SendOptions::new().source_ip(V6))
        .await
        .unwrap_err();
    assert_invalid(e, &["source_ip ::1", "other address family"]);
    let e = v4
        .send_batch(SocketAddr::new(V4, 0), &[&ok[..]])
        .await
        .unwrap_err();
    assert_invalid(e, &["port 0"]);
    let e = v4
        .recv_batch(&mut RecvBatch::with_capacity(0))
        .await
        .unwrap_err();
    assert_invalid(e, &["recv_batch", "no buffer"]);

    // Nothing of the refused batches reached anyone.
    v4.send_batch(to4, &[&b"marker"[..]]).await.unwrap();
    rx6.send_batch(to6, &[&b"marker"[..]]).await.unwrap();
    let mut batch = RecvBatch::new();
    for rx in [&rx4, &rx6] {
        let got = recv_n(rx, &mut batch, 1).await;
        assert_eq!(got[0].data, b"marker");
    }
}

/// `remote_addr`, `reuse_port` and `from_socket` apply to `bind_batched`;
/// a connected socket sends to its peer only.
#[tokio::test]
async fn builder_options_apply() {
    let server = batched(V4).await;
    let client = DatagramBuilder::new()
        .remote_addr(addr(&server))
        .bind_batched()
        .await
        .unwrap();
    assert_eq!(client.inner().peer_addr().unwrap(), addr(&server));
    let other = batched(V4).await;
    let e = client
        .send_batch(addr(&other), &[&b"x"[..]])
        .await
        .unwrap_err();
    assert_invalid(e, &["connected to", "remote_addr"]);
    let chunks = vec![vec![3_u8; 1200]; 10];
    assert_eq!(client.send_batch(addr(&server), &chunks).await.unwrap(), 10);
    let mut batch = RecvBatch::new();
    let got = recv_n(&server, &mut batch, 10).await;
    assert!(got
        .iter()
        .all(|r| r.peer == addr(&client) && r.data == chunks[0]));

    #[cfg(unix)]
    {
        let a = DatagramBuilder::new()
            .local_addr("127.0.0.1:0")
            .reuse_port(true)
            .bind_batched()
            .await
            .unwrap();
        let b = DatagramBuilder::new()
            .local_addr(addr(&a))
            .reuse_port(true)
            .bind_batched()
            .await
            .unwrap();
        assert_eq!(addr(&a), addr(&b));
    }

    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = std_socket.local_addr().unwrap();
    let adopted = DatagramBuilder::from_socket(std_socket)
        .bind_batched()
        .await
        .unwrap();
    assert_eq!(addr(&adopted), at);
    let e = DatagramBuilder::new()
        .local_addr("nope")
        .bind_batched()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), tokio_endpoints::DatagramErrorKind::InvalidInput);
}

/// A datagram larger than the path's MTU is reported (`EMSGSIZE`, a
/// message naming it), alone and inside a segmented run, and smaller ones
/// go through: in a network namespace whose loopback has an MTU of 1300
/// bytes. Needs root (`unshare(CLONE_NEWNET)`) and `ip`; elsewhere it says
/// why it did not run.
#[cfg(target_os = "linux")]
#[test]
fn too_large_for_the_path_is_reported() {
    let result = std::thread::spawn(|| {
        // SAFETY: unshare on this thread only; it touches no memory.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {} (needs root)",
                io::Error::last_os_error()
            ));
        }
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up", "mtu", "1300"])
            .status()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if !up.success() {
            return Err(format!("`ip link set lo up mtu 1300`: {up}"));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for ip in [V4, V6] {
                let a = batched(ip).await;
                let b = batched(ip).await;
                let to = addr(&b);
                let big = vec![1_u8; 1400];
                let e = a.send_batch(to, &[&big[..]]).await.unwrap_err();
                assert!(
                    e.to_string().contains("1400 bytes") && e.to_string().contains("path MTU"),
                    "{e}"
                );
                // A run of three: refused whole by the kernel (its segments
                // exceed the MTU), then one by one: the first is reported.
                let e = a.send_batch(to, &[&big[..], &big, &big]).await.unwrap_err();
                assert!(e.to_string().contains("path MTU"), "{e}");
                // Smaller datagrams go, segmented or not.
                let small = vec![2_u8; 1000];
                let mut sent = 0;
                let payloads = [&small[..]; 20];
                while sent < 20 {
                    sent += a.send_batch(to, &payloads[sent..]).await.unwrap();
                }
                let mut batch = RecvBatch::new();
                let got = recv_n(&b, &mut batch, 20).await;
                assert!(got.iter().all(|r| r.data == small));
                // A small one after a big one in one call: the big one
                // comes first and fails, nothing is sent.
                let e = a.send_batch(to, &[&big[..], &small]).await.unwrap_err();
                assert!(e.to_string().contains("path MTU"), "{e}");
                // A big one after small ones: the small ones went.
                let n = a.send_batch(to, &[&small[..], &small, &big]).await.unwrap();
                assert_eq!(n, 2);
                let got = recv_n(&b, &mut batch, 2).await;
                assert!(got.iter().all(|r| r.data == small));
            }
        });
        Ok(())
    })
    .join()
    .unwrap();
    if let Err(why) = result {
        eprintln!("skipped: {why}");
    }
}
