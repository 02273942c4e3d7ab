//! Client hardening (issue 31): options the kernel would misread are
//! refused before any packet, naming the option; `HttpInfo::remote_addr`.

mod common;

use std::time::Duration;

use common::V4;
use tokio::net::TcpListener;
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Connector, ServerBuilder};

/// A listener and a check that nothing reached it.
async fn untouched_listener() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn assert_no_connection(listener: &TcpListener) {
    let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(accepted.is_err(), "a connection reached the listener");
}

/// Refused with `InvalidInput`, the message naming `option`, and no SYN sent.
async fn refused(builder: ConnectionBuilder, listener: &TcpListener, option: &str) {
    let err = builder.connect().await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains(option), "{option}: {err}");
    assert_no_connection(listener).await;
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
#[tokio::test]
async fn a_tcp_user_timeout_the_kernel_would_misread_is_refused() {
    let (listener, addr) = untouched_listener().await;
    for bad in [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_nanos(1),
        Duration::from_millis(i32::MAX as u64 + 1),
        Duration::MAX,
    ] {
        let b = ConnectionBuilder::new(addr).tcp_user_timeout(bad);
        refused(b, &listener, "tcp_user_timeout").await;
        let err = Connector::new()
            .tcp_user_timeout(bad)
            .connect(addr)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("tcp_user_timeout"), "{err}");
    }
    assert_no_connection(&listener).await;
    // The bounds themselves are fine.
    for good in [
        Duration::from_millis(1),
        Duration::from_millis(i32::MAX as u64),
    ] {
        let stream = ConnectionBuilder::new(addr)
            .tcp_user_timeout(good)
            .connect()
            .await
            .unwrap();
        drop(stream);
        listener.accept().await.unwrap();
    }
}

#[tokio::test]
async fn a_buffer_size_over_c_int_max_is_refused() {
    let (listener, addr) = untouched_listener().await;
    let too_big = i32::MAX as usize + 1;
    let b = ConnectionBuilder::new(addr).send_buffer_size(too_big);
    refused(b, &listener, "send_buffer_size").await;
    let b = ConnectionBuilder::new(addr).recv_buffer_size(usize::MAX);
    refused(b, &listener, "recv_buffer_size").await;
    let err = Connector::new()
        .recv_buffer_size(too_big)
        .connect(addr)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("recv_buffer_size"), "{err}");
    assert_no_connection(&listener).await;

    for server in [
        ServerBuilder::new((V4, 0)).send_buffer_size(too_big),
        ServerBuilder::new((V4, 0)).recv_buffer_size(too_big),
    ] {
        let err = server.bind().await.unwrap_err();
        assert_eq!(
            err.kind(),
            tokio_endpoints::ServerErrorKind::InvalidInput,
            "{err}"
        );
        assert!(err.to_string().contains("_buffer_size("), "{err}");
    }
}

#[tokio::test]
async fn a_history_ttl_under_a_millisecond_is_refused() {
    let (listener, addr) = untouched_listener().await;
    for bad in [Duration::ZERO, Duration::from_micros(999)] {
        let b = ConnectionBuilder::new(addr).history_ttl(bad);
        refused(b, &listener, "history_ttl").await;
        let err = Connector::new()
            .history_ttl(bad)
            .connect(addr)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("history_ttl"), "{err}");
    }
    let stream = ConnectionBuilder::new(addr)
        .history_ttl(Duration::from_millis(1))
        .connect()
        .await
        .unwrap();
    drop(stream);
}

#[cfg(unix)]
mod unix_paths {
    use tokio_endpoints::{
        ConnectErrorKind, ConnectionBuilder, DatagramBuilder, DatagramErrorKind, ServerBuilder,
        ServerErrorKind,
    };

    /// A NUL inside a path: the kernel would read `<dir>/a` and use that
    /// socket. A listener is there to be reached by mistake.
    #[tokio::test]
    async fn a_nul_byte_in_a_unix_path_is_refused_on_every_side() {
        let dir = std::env::temp_dir().join(format!("hardening-nul-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("a");
        let _ = std::fs::remove_file(&real);
        let listener = tokio::net::UnixListener::bind(&real).unwrap();
        let mut bad = real.clone().into_os_string();
        bad.push("\0b");

        let err = ConnectionBuilder::unix(&bad).connect().await.unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("NUL"), "{err}");
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(50), listener.accept()).await;
        assert!(accepted.is_err(), "the client reached the truncated path");

        let err = ServerBuilder::unix(&bad).bind().await.unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("NUL"), "{err}");

        let err = DatagramBuilder::unix()
            .local_path(&bad)
            .bind()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), DatagramErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("local_path"), "{err}");
        let err = DatagramBuilder::unix()
            .remote_path(&bad)
            .bind()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), DatagramErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("remote_path"), "{err}");

        // An abstract name's leading NUL is its marker, not a NUL inside.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let err = ConnectionBuilder::unix("\0ab\0c")
                .connect()
                .await
                .unwrap_err();
            assert!(err.to_string().contains("NUL"), "{err}");
            let name = format!("\0hardening-{}", std::process::id());
            let server = ServerBuilder::unix(&name).bind().await.unwrap();
            let _client = ConnectionBuilder::unix(&name).connect().await.unwrap();
            drop(server);
        }
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `remote_addr` is the server's address over TCP, `None` over a Unix
/// socket (where the deprecated `peer_addr` said `0.0.0.0:0`).
#[cfg(feature = "hyper")]
#[tokio::test]
async fn http_info_remote_addr_is_the_server_or_none_over_unix() {
    use tower_service::Service;
    let (listener, addr) = untouched_listener().await;
    let mut connector = Connector::new();
    let uri: http::Uri = format!("http://{addr}/").parse().unwrap();
    let stream = connector.call(uri).await.unwrap();
    assert_eq!(stream.info().remote_addr(), Some(addr));
    #[allow(deprecated)]
    let old = stream.info().peer_addr();
    assert_eq!(old, addr);
    drop(listener);

    #[cfg(unix)]
    {
        let path = std::env::temp_dir().join(format!("hardening-http-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = tokio::net::UnixListener::bind(&path).unwrap();
        let mut connector = Connector::new().unix_socket(&path);
        let stream = connector
            .call("http://app/".parse().unwrap())
            .await
            .unwrap();
        assert!(stream.info().is_unix());
        assert_eq!(stream.info().remote_addr(), None);
        drop(unix);
        let _ = std::fs::remove_file(&path);
    }
}

/// An address policy on a datagram socket without a remote address would
/// check nothing (`send_to` goes anywhere): refused, no socket opened.
#[tokio::test]
async fn a_datagram_policy_without_a_remote_address_is_refused() {
    use tokio_endpoints::{AddressPolicy, DatagramBuilder, DatagramErrorKind};
    let err = DatagramBuilder::new()
        .local_addr((V4, 0))
        .address_policy(AddressPolicy::public_only())
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DatagramErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string().contains("address_policy needs remote_addr"),
        "{err}"
    );
    // With a remote address the policy applies, as before.
    let peer = std::net::UdpSocket::bind((V4, 0)).unwrap();
    let err = DatagramBuilder::new()
        .remote_addr(peer.local_addr().unwrap())
        .address_policy(AddressPolicy::public_only())
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DatagramErrorKind::Denied, "{err}");
}

/// `unix_socket` with an address policy: the policy cannot check a Unix
/// socket, so each request is refused rather than sent unchecked.
#[cfg(all(unix, feature = "hyper"))]
#[tokio::test]
async fn a_unix_socket_connector_with_a_policy_is_refused() {
    use tokio_endpoints::AddressPolicy;
    use tower_service::Service;
    let path = std::env::temp_dir().join(format!("hardening-policy-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let mut connector = Connector::new()
        .address_policy(AddressPolicy::public_only())
        .unix_socket(&path);
    let err = match connector.call("http://app/".parse().unwrap()).await {
        Ok(_) => panic!("the policy was dropped"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("address_policy"), "{err}");
    let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(accepted.is_err(), "the request reached the socket");
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

/// Ports: a target port the policy does not list is refused before any
/// packet; an HTTPS record's port is used only when the policy lists it.
mod ports {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use tokio_endpoints::{
        AddressPolicy, DatagramBuilder, DatagramErrorKind, Resolver, ServiceRecord,
    };

    #[tokio::test]
    async fn a_target_port_the_policy_does_not_list_is_denied() {
        let (listener, addr) = untouched_listener().await;
        let policy = AddressPolicy::allow_all().allow_ports([443]);
        assert!(!policy.allows_port(addr.port()));
        let err = ConnectionBuilder::new(addr)
            .address_policy(policy.clone())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::Denied, "{err}");
        assert!(
            err.to_string().contains(&format!("port {}", addr.port())),
            "{err}"
        );
        assert_no_connection(&listener).await;
        let stream = ConnectionBuilder::new(addr)
            .address_policy(policy.allow_ports([addr.port()]))
            .connect()
            .await
            .unwrap();
        drop(stream);

        let err = DatagramBuilder::new()
            .remote_addr((V4, 53))
            .address_policy(AddressPolicy::allow_all().allow_ports([443]))
            .bind()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), DatagramErrorKind::Denied, "{err}");
        assert!(err.to_string().contains("port 53"), "{err}");
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind((V4, 0)).unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn an_https_record_port_is_used_only_when_the_policy_lists_it() {
        let (listener, addr) = untouched_listener().await;
        let closed = closed_port();
        let resolver = || {
            let service = ServiceRecord::new(1, ".")
                .with_port(addr.port())
                .with_ipv4_hints([Ipv4Addr::LOCALHOST]);
            Resolver::fixed_with_services(
                [("svc.test", vec![IpAddr::from(Ipv4Addr::LOCALHOST)])],
                [("svc.test", vec![service])],
            )
        };
        let connect = |policy: Option<AddressPolicy>| {
            let mut b = ConnectionBuilder::new(("svc.test", closed))
                .resolver(resolver())
                .svcb(true);
            if let Some(p) = policy {
                b = b.address_policy(p);
            }
            b.connect()
        };
        // No policy: the record moves the connection to its port.
        let s = connect(None).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        drop(s);
        listener.accept().await.unwrap();
        // A policy without a port list: the record's port is not used.
        let err = connect(Some(AddressPolicy::allow_all())).await.unwrap_err();
        assert_no_connection(&listener).await;
        assert_ne!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        // Listed: used.
        let policy = AddressPolicy::allow_all().allow_ports([closed, addr.port()]);
        let s = connect(Some(policy)).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
    }
}
