//! Loopback rigs shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// A path that drops SYNs: a listener with backlog 0 whose one queued
/// connection is never accepted, so Linux drops further SYNs and a connect
/// hangs (the way a blackholed route looks to a client).
pub struct Blackhole {
    listener: Socket,
    held: Socket,
    pub addr: SocketAddr,
}

impl Blackhole {
    pub fn new(ip: IpAddr) -> Blackhole {
        Blackhole::on(SocketAddr::new(ip, 0))
    }

    pub fn on(addr: SocketAddr) -> Blackhole {
        let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        if addr.is_ipv6() {
            listener.set_only_v6(true).unwrap();
        }
        listener.bind(&addr.into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let held = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        held.connect(&addr.into()).unwrap();
        Blackhole {
            listener,
            held,
            addr,
        }
    }
}

/// A port nothing listens on: a connect to it is refused at once.
pub fn refused(ip: IpAddr) -> SocketAddr {
    let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    l.local_addr().unwrap()
}

pub const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
pub const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A port free on both [::1] and 127.0.0.1: a listener bound (and
/// listening) on 127.0.0.1 and an IPv6-only socket bound on [::1].
fn bound_on_both() -> (std::net::TcpListener, Socket, u16) {
    for _ in 0..100 {
        let v4 = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        v6.set_only_v6(true).unwrap();
        if v6.bind(&SocketAddr::new(V6, port).into()).is_err() {
            continue;
        }
        v4.set_nonblocking(true).unwrap();
        return (v4, v6, port);
    }
    panic!("no port free on both families");
}

/// A port free on both [::1] and 127.0.0.1, with a tokio listener on
/// 127.0.0.1 and the IPv6 side blackholed.
pub fn dual_stack_blackholed_v6() -> (tokio::net::TcpListener, Blackhole, u16) {
    let (v4, v6, port) = bound_on_both();
    drop(v6);
    let bh = Blackhole::on(SocketAddr::new(V6, port));
    (tokio::net::TcpListener::from_std(v4).unwrap(), bh, port)
}

/// Tokio listeners on [::1] and on 127.0.0.1, on one port.
pub fn dual_stack() -> (tokio::net::TcpListener, tokio::net::TcpListener, u16) {
    let (v4, v6, port) = bound_on_both();
    v6.listen(128).unwrap();
    v6.set_nonblocking(true).unwrap();
    let v6 = tokio::net::TcpListener::from_std(v6.into()).unwrap();
    (v6, tokio::net::TcpListener::from_std(v4).unwrap(), port)
}

/// The number of open file descriptors of this process, or `None` where
/// there is no `/proc/self/fd`. `read_dir`'s own descriptor is counted every
/// time, so it cancels out of a comparison.
pub fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// [`open_fds`], for tests that only run where `/proc/self/fd` exists.
pub fn fd_count() -> usize {
    open_fds().expect("/proc/self/fd is readable")
}
