//! Every failed `bind` leaves no descriptor open.
//!
//! Counting `/proc/self/fd` only means something when nothing else in the
//! process opens or closes descriptors meanwhile. The tests of one binary
//! run on parallel threads, so this check lives in a binary of its own with
//! a single `#[test]`, on a current-thread runtime built before the first
//! count (its epoll and eventfd descriptors are there from the start), and
//! only the fixed resolver (getaddrinfo may open files and sockets of its
//! own). A `--test-threads` setting or a `serial` crate is not needed then.
#![cfg(target_os = "linux")]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tokio_endpoints::{DatagramBuilder, Family, Resolver};

use common::fd_count;

#[test]
fn failures_leave_no_socket_open() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let busy = DatagramBuilder::new()
            .local_addr((v4, 0))
            .bind()
            .await
            .unwrap();
        let busy = busy.local_addr().unwrap();
        let dir = std::env::temp_dir().join(format!("tokio-endpoints-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let taken = dir.join("taken.sock");
        let _holder = DatagramBuilder::unix()
            .local_path(&taken)
            .bind()
            .await
            .unwrap();

        // Warm up: the first socket of each kind may allocate lazily.
        drop(DatagramBuilder::new().bind().await.unwrap());
        let before = fd_count();

        // Each case is made inside the count, so an adopted socket that is
        // refused must be closed too.
        type Case = Box<dyn Fn() -> DatagramBuilder>;
        let cases: Vec<(&str, Case)> = vec![
            (
                "malformed",
                Box::new(|| DatagramBuilder::new().local_addr("nope")),
            ),
            (
                "family mismatch",
                Box::new(|| {
                    DatagramBuilder::new()
                        .local_addr("127.0.0.1:0")
                        .remote_addr("[::1]:53")
                }),
            ),
            (
                "resolved family mismatch",
                Box::new(move || {
                    DatagramBuilder::new()
                        .local_addr(("me.test", 0))
                        .remote_addr(("far.test", 53))
                        .resolver(Resolver::fixed([("me.test", [v4]), ("far.test", [v6])]))
                }),
            ),
            (
                "no such name",
                Box::new(|| {
                    DatagramBuilder::new()
                        .remote_addr(("nowhere.test", 53))
                        .resolver(Resolver::fixed([("x.test", [])]))
                }),
            ),
            (
                "wrong family",
                Box::new(|| {
                    DatagramBuilder::new()
                        .local_addr("[::1]:0")
                        .family(Family::V4)
                }),
            ),
            (
                "busy port",
                Box::new(move || DatagramBuilder::new().local_addr(busy)),
            ),
            (
                "busy port through a host name",
                Box::new(move || {
                    DatagramBuilder::new()
                        .local_addr(("me.test", busy.port()))
                        .resolver(Resolver::fixed([("me.test", [v4])]))
                }),
            ),
            (
                "failing hook",
                Box::new(|| {
                    DatagramBuilder::new()
                        .remote_addr("127.0.0.1:9")
                        .socket_hook(|_| Err(std::io::Error::other("no")))
                }),
            ),
            (
                "adopted with options",
                Box::new(|| {
                    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    DatagramBuilder::from_socket(s).allow_broadcast(true)
                }),
            ),
            (
                "adopted TCP socket",
                Box::new(|| {
                    let s =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                            .unwrap();
                    DatagramBuilder::from_socket(s.into())
                }),
            ),
        ];
        for (name, case) in &cases {
            assert!(case().bind().await.is_err(), "{name} should fail");
            assert_eq!(fd_count(), before, "{name} left a descriptor open");
        }

        let unix_cases = [
            DatagramBuilder::unix().local_path(&taken),
            DatagramBuilder::unix().remote_path(dir.join("nobody.sock")),
            DatagramBuilder::unix()
                .local_path(dir.join("mine.sock"))
                .remote_path(dir.join("nobody.sock")),
            DatagramBuilder::unix().socket_hook(|_| Err(std::io::Error::other("no"))),
        ];
        for builder in unix_cases {
            let shown = format!("{builder:?}");
            assert!(builder.bind().await.is_err(), "{shown} should fail");
            assert_eq!(fd_count(), before, "{shown} left a descriptor open");
        }
        assert!(!dir.join("mine.sock").exists());

        // And the count does move when a socket is open: the check works.
        let open = DatagramBuilder::new().bind().await.unwrap();
        assert_eq!(fd_count(), before + 1);
        drop(open);
        assert_eq!(fd_count(), before);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
