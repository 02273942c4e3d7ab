//! Socket activation, for real: the test binary runs itself as a child
//! (`sh -c 'LISTEN_PID=$$ exec "$0" "$@"'`, so `LISTEN_PID` is the child's
//! own pid: `exec` keeps it) with listening sockets on fd 3 and 4, the way
//! systemd starts a service, and the child serves them. Also a wrong
//! `LISTEN_PID` (refused, nothing taken), sockets that are not listening
//! or not stream sockets (errors naming the fd, close-on-exec all the
//! same), a Unix socket beside a TCP one, UDP sockets for
//! `DatagramBuilder` among stream sockets and a pipe (each side skips what
//! is not its kind), a corrupt `LISTEN_FDS`, and the environment left as
//! it is until the program unsets it.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio_endpoints::{
    DatagramBuilder, DatagramErrorKind, ProxyProtocol, ServerBuilder, ServerErrorKind,
};

/// The child's mode, in its environment.
const MODE: &str = "TOKIO_ENDPOINTS_SYSTEMD_CHILD";

const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Runs this test binary's `child` test in a child process with `fds` on
/// fd 3, 4, ... and `env`; `LISTEN_PID` is the child's pid unless `env`
/// sets it.
fn spawn(mode: &str, fds: &[RawFd], env: &[(&str, String)]) -> std::process::Child {
    // Out of the way of 3 and 4 first, so no dup2 overwrites another.
    let high: Vec<RawFd> = fds
        .iter()
        .map(|fd| {
            let h = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100) };
            assert!(h >= 100);
            h
        })
        .collect();
    let exe = std::env::current_exe().unwrap();
    let own_pid = !env.iter().any(|(k, _)| *k == "LISTEN_PID");
    let mut cmd = if own_pid {
        let mut c = Command::new("sh");
        c.arg("-c").arg(r#"LISTEN_PID=$$ exec "$0" "$@""#).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(MODE, mode)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env("LISTEN_FDS", fds.len().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let targets = high.clone();
    // SAFETY: dup2 is async-signal-safe; the descriptors are open (made
    // above) and dup2 clears FD_CLOEXEC on the copies, as systemd passes
    // them.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in targets.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    for h in high {
        unsafe { libc::close(h) };
    }
    child
}

fn finish(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the child failed:\n{said}");
    assert!(said.contains("1 passed"), "the child ran no test:\n{said}");
    said
}

fn tcp_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[test]
fn named_sockets_serve_with_proxy_protocol_and_tls() {
    let (web, admin) = (tcp_listener(), tcp_listener());
    let (web_addr, admin_addr) = (web.local_addr().unwrap(), admin.local_addr().unwrap());
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("te-systemd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let child = spawn(
        "named",
        &[web.as_raw_fd(), admin.as_raw_fd()],
        &[
            ("LISTEN_FDNAMES", "web:admin".to_string()),
            ("TE_PEM_DIR", dir.display().to_string()),
        ],
    );
    // Only the child accepts from now on.
    drop((web, admin));

    // web: the PROXY protocol, the header's address in the reply.
    let mut c = std::net::TcpStream::connect(web_addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"PROXY TCP4 192.0.2.9 192.0.2.1 4242 80\r\n")
        .unwrap();
    let mut said = String::new();
    c.read_to_string(&mut said).unwrap();
    assert_eq!(said, "web 192.0.2.9:4242");

    // admin: TLS with the certificate from the PEM files.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::AsyncReadExt;
        use tokio_endpoints::rustls::{ClientConfig, RootCertStore};
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let config = ClientConfig::builder_with_provider(tokio_endpoints::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tls = tokio_endpoints::ConnectionBuilder::new(admin_addr)
            .server_name("localhost")
            .tls_config(Arc::new(config))
            .connect_tls()
            .await
            .unwrap();
        let mut said = String::new();
        tls.read_to_string(&mut said).await.unwrap();
        assert_eq!(said, "admin");
    });
    let said = finish(child);
    assert!(said.contains("child: served both"), "{said}");
    println!("{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_socket_tcp_and_unix() {
    let tcp = tcp_listener();
    let path = std::env::temp_dir().join(format!("te-systemd-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let child = spawn(
        "all",
        &[tcp.as_raw_fd(), unix.as_raw_fd()],
        &[("TE_TCP_ADDR", tcp.local_addr().unwrap().to_string())],
    );
    drop((tcp, unix));
    finish(child);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_wrong_listen_pid_is_refused() {
    let tcp = tcp_listener();
    let child = spawn(
        "wrong_pid",
        &[tcp.as_raw_fd()],
        &[("LISTEN_PID", "1".to_string())],
    );
    finish(child);
}

#[test]
fn sockets_that_are_not_listening_stream_sockets_are_named() {
    let bound = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    bound
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let child = spawn(
        "not_listening",
        &[bound.as_raw_fd(), udp.as_raw_fd()],
        &[
            ("LISTEN_FDNAMES", "a:b".to_string()),
            ("TE_UDP_ADDR", udp.local_addr().unwrap().to_string()),
        ],
    );
    finish(child);
}

#[test]
fn udp_sockets_for_datagram_builder_among_stream_sockets_and_a_pipe() {
    let (udp, udp2) = (
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let tcp = tcp_listener();
    let path = std::env::temp_dir().join(format!("te-systemd-mixed-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut pipe = [0; 2];
    assert_eq!(
        unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    let child = spawn(
        "mixed",
        &[
            udp.as_raw_fd(),
            tcp.as_raw_fd(),
            unix.as_raw_fd(),
            pipe[0],
            udp2.as_raw_fd(),
        ],
        &[
            (
                "LISTEN_FDNAMES",
                "unknown:unknown:unknown:pipe:unknown".to_string(),
            ),
            ("TE_UDP_ADDR", udp.local_addr().unwrap().to_string()),
            ("TE_UDP2_ADDR", udp2.local_addr().unwrap().to_string()),
            ("TE_TCP_ADDR", tcp.local_addr().unwrap().to_string()),
        ],
    );
    drop((udp, udp2, tcp, unix));
    unsafe { libc::close(pipe[0]) };
    unsafe { libc::close(pipe[1]) };
    finish(child);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_corrupt_listen_fds_is_refused() {
    let tcp = tcp_listener();
    // Two billion: refused at once, nothing touched.
    let child = spawn(
        "corrupt",
        &[tcp.as_raw_fd()],
        &[
            ("LISTEN_FDS", "2000000000".to_string()),
            ("TE_EXPECT", "huge".to_string()),
        ],
    );
    finish(child);
    // More sockets than were passed: the descriptors past them are not
    // open, and the error says so.
    let child = spawn(
        "corrupt",
        &[tcp.as_raw_fd()],
        &[
            ("LISTEN_FDS", "200".to_string()),
            ("TE_EXPECT", "closed".to_string()),
        ],
    );
    finish(child);
}

/// The child's side; does nothing in a normal test run.
#[test]
fn child() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    // Before any runtime thread: take the TCP sockets, then unset the
    // environment, which is sound only while no other thread runs.
    let early = (mode == "all").then(|| {
        let tcp = ServerBuilder::from_systemd();
        for var in ["LISTEN_PID", "LISTEN_FDS"] {
            assert!(std::env::var_os(var).is_some(), "{var} was removed");
        }
        // SAFETY: this thread is the child's only one (libtest runs the
        // test on the main thread with --test-threads=1; no runtime yet).
        unsafe { tokio_endpoints::unset_systemd_environment() };
        for var in VARIABLES {
            assert!(std::env::var_os(var).is_none(), "{var} was not removed");
        }
        tcp
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match mode.as_str() {
        "named" => rt.block_on(named()),
        "all" => rt.block_on(all(early.unwrap())),
        "wrong_pid" => rt.block_on(wrong_pid()),
        "not_listening" => rt.block_on(not_listening()),
        "mixed" => rt.block_on(mixed()),
        "corrupt" => rt.block_on(corrupt()),
        other => panic!("unknown mode {other}"),
    }
}

fn cloexec(fd: RawFd) -> bool {
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

async fn named() {
    use tokio::io::AsyncWriteExt;
    let web = ServerBuilder::from_systemd_named("web");
    let admin = ServerBuilder::from_systemd_named("admin");
    // Reading the sockets leaves the environment alone (other threads may
    // be reading it).
    for var in VARIABLES {
        assert!(std::env::var_os(var).is_some(), "{var} was removed");
    }
    assert!(
        cloexec(3) && cloexec(4),
        "FD_CLOEXEC is set on the sockets taken"
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let web_tx = tx.clone();
    let web = web
        .proxy_protocol(ProxyProtocol::new().trusted(["127.0.0.1/32".parse().unwrap()]))
        .serve(move |mut stream, peer| {
            let tx = web_tx.clone();
            async move {
                let _ = stream.write_all(format!("web {peer}").as_bytes()).await;
                let _ = tx.send("web");
            }
        })
        .await
        .unwrap();
    let dir = std::path::PathBuf::from(std::env::var("TE_PEM_DIR").unwrap());
    let admin = admin
        .tls_pem_files(dir.join("cert.pem"), dir.join("key.pem"))
        .serve_tls(move |mut stream, _| {
            let tx = tx.clone();
            async move {
                let _ = stream.write_all(b"admin").await;
                let _ = stream.shutdown().await;
                let _ = tx.send("admin");
            }
        })
        .await
        .unwrap();
    let mut seen = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    seen.sort();
    assert_eq!(seen, ["admin", "web"]);
    // Taken once: a second call for the same name is refused.
    let again = ServerBuilder::from_systemd_named("web")
        .bind()
        .await
        .unwrap_err();
    assert!(again.to_string().contains("taken"), "{again}");
    let missing = ServerBuilder::from_systemd_named("nope")
        .bind()
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("web, admin"), "{missing}");
    web.shutdown(Duration::from_secs(1)).await;
    admin.shutdown(Duration::from_secs(1)).await;
    println!("child: served both");
}

async fn all(early: ServerBuilder) {
    // Taken before the environment was unset: the table keeps what was
    // read, for every later call.
    let listener = early.bind().await.unwrap();
    let expected: SocketAddr = std::env::var("TE_TCP_ADDR").unwrap().parse().unwrap();
    assert_eq!(listener.local_addrs(), vec![expected]);
    let unix = ServerBuilder::systemd_unix_listeners().unwrap();
    assert_eq!(unix.len(), 1);
    let unix = tokio::net::UnixListener::from_std(unix.into_iter().next().unwrap()).unwrap();
    assert!(unix.local_addr().unwrap().as_pathname().is_some());
    let err = ServerBuilder::from_systemd().bind().await.unwrap_err();
    assert!(err.to_string().contains("taken"), "{err}");
    // Options that make a socket belong in the .socket unit.
    let err = ServerBuilder::from_systemd()
        .backlog(10)
        .bind()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("from_systemd"), "{err}");
}

async fn wrong_pid() {
    let err = ServerBuilder::from_systemd().bind().await.unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    assert!(err.to_string().contains("LISTEN_PID is 1"), "{err}");
    // The environment is left as it is.
    assert!(std::env::var_os("LISTEN_FDS").is_some());
    // Nothing was taken: fd 3 is still there, untouched.
    assert!(!cloexec(3));
    assert!(unsafe { libc::fcntl(3, libc::F_GETFD) } >= 0);
}

async fn not_listening() {
    let a = ServerBuilder::from_systemd_named("a")
        .bind()
        .await
        .unwrap_err();
    assert_eq!(a.kind(), ServerErrorKind::InvalidInput);
    assert!(a.to_string().contains("fd 3 (a)"), "{a}");
    assert!(a.to_string().contains("not listening"), "{a}");
    let b = ServerBuilder::from_systemd_named("b")
        .bind()
        .await
        .unwrap_err();
    assert!(b.to_string().contains("fd 4 (b)"), "{b}");
    assert!(
        b.to_string()
            .contains("is a UDP socket: take it with DatagramBuilder::from_systemd"),
        "{b}"
    );
    // Without a name, the TCP side refuses the socket that is not
    // listening (Accept=yes), and the datagram side takes the UDP one.
    let all = ServerBuilder::from_systemd().bind().await.unwrap_err();
    assert!(all.to_string().contains("fd 3 (a)"), "{all}");
    assert!(all.to_string().contains("Accept=yes"), "{all}");
    let udp = DatagramBuilder::from_systemd().bind().await.unwrap();
    assert_eq!(
        udp.local_addr().unwrap().to_string(),
        std::env::var("TE_UDP_ADDR").unwrap()
    );
    // Close-on-exec was set on both before any check refused one.
    assert!(cloexec(3) && cloexec(4));
}

/// UDP, TCP, a Unix stream socket, a pipe and another UDP socket, without
/// names: each side takes its own kind and skips the rest.
async fn mixed() {
    let addr = |var: &str| -> SocketAddr { std::env::var(var).unwrap().parse().unwrap() };
    let listener = ServerBuilder::from_systemd().bind().await.unwrap();
    assert_eq!(listener.local_addrs(), vec![addr("TE_TCP_ADDR")]);
    let first = DatagramBuilder::from_systemd().bind().await.unwrap();
    assert_eq!(first.local_addr().unwrap(), addr("TE_UDP_ADDR"));
    let second = DatagramBuilder::from_systemd().bind().await.unwrap();
    assert_eq!(second.local_addr().unwrap(), addr("TE_UDP2_ADDR"));
    // Served: a datagram to each comes back.
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for socket in [&first, &second] {
        client
            .send_to(b"ping", socket.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0; 8];
        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, client.local_addr().unwrap());
    }
    let none_left = DatagramBuilder::from_systemd().bind().await.unwrap_err();
    assert_eq!(none_left.kind(), DatagramErrorKind::InvalidInput);
    assert!(
        none_left.to_string().contains("taken by an earlier call"),
        "{none_left}"
    );
    // Options that make a socket belong in the .socket unit.
    let options = DatagramBuilder::from_systemd()
        .reuse_port(true)
        .bind()
        .await
        .unwrap_err();
    assert!(
        options
            .to_string()
            .contains("cannot be used with from_systemd"),
        "{options}"
    );
    let unix = ServerBuilder::systemd_unix_listeners().unwrap();
    assert_eq!(unix.len(), 1);
    // The pipe (fd 6) is nobody's: asked for by name, it is named.
    let pipe = ServerBuilder::from_systemd_named("pipe")
        .bind()
        .await
        .unwrap_err();
    assert!(
        pipe.to_string()
            .contains("fd 6 (pipe) from systemd is not a socket"),
        "{pipe}"
    );
    // Every passed descriptor is close-on-exec, the pipe too.
    assert!((3..8).all(cloexec));
}

/// LISTEN_FDS that cannot describe this process.
async fn corrupt() {
    let err = ServerBuilder::from_systemd().bind().await.unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
    let said = err.to_string();
    match std::env::var("TE_EXPECT").unwrap().as_str() {
        "huge" => {
            assert!(
                said.contains("LISTEN_FDS is 2000000000, more than the 4096"),
                "{said}"
            );
            // Nothing was touched.
            assert!(!cloexec(3));
        }
        "closed" => assert!(said.contains("is not open"), "{said}"),
        other => panic!("unknown expectation {other}"),
    }
    let udp = DatagramBuilder::from_systemd().bind().await.unwrap_err();
    assert_eq!(udp.kind(), DatagramErrorKind::InvalidInput);
}
