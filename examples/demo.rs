//! Happy Eyeballs on this machine, with no internet.
//!
//! A loopback server listens on 127.0.0.1 and "[::1]" on one port, but its
//! IPv6 side is blackholed (its accept queue is full, so the kernel drops new
//! SYNs, which is how a broken IPv6 route looks to a client). The name
//! `dual-stack.test` resolves to both addresses, IPv6 first, as most
//! resolvers order them.
//!
//! `tokio::net::TcpStream::connect` tries the IPv6 address and waits for the
//! kernel to give up (over two minutes); we stop it after two seconds.
//! `ConnectionBuilder` starts IPv4 250 ms later and wins.
//!
//! Run: `cargo run --example demo`
//!
//! The log lines (`tokio_endpoints=debug`) are stamped with the time since
//! the start of the connect they belong to, not since the program started.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_endpoints::{ConnectionBuilder, Resolver};

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `Targets` rather than an `EnvFilter`: this crate's events at DEBUG,
    // without building the regex engine an `EnvFilter` needs.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_timer(SinceConnect)
        .with_target(false)
        .with_ansi(false)
        .compact()
        .finish()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("tokio_endpoints", tracing::Level::DEBUG),
        )
        .init();
    println!("(log times count from the start of each connect: \"+250.31 ms\")\n");

    let (listener, _blackhole, port) = dual_stack_server_with_blackholed_v6()?;
    tokio::spawn(echo(listener));
    let addrs = [SocketAddr::new(V6, port), SocketAddr::new(V4, port)];
    println!("server: 127.0.0.1:{port} works, [::1]:{port} is blackholed");
    println!(
        "dual-stack.test resolves to {} and {}\n",
        addrs[0], addrs[1]
    );

    println!("1. tokio::net::TcpStream::connect (tries the addresses one after the other)");
    let t0 = connect_starts();
    match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addrs[..])).await {
        Ok(Ok(s)) => println!(
            "   connected to {} after {:.2?}",
            s.peer_addr()?,
            t0.elapsed()
        ),
        Ok(Err(e)) => println!("   failed after {:.2?}: {e}", t0.elapsed()),
        Err(_) => println!(
            "   still stuck on {} after {:.2?}: gave up waiting\n",
            addrs[0],
            t0.elapsed()
        ),
    }

    println!("2. tokio_endpoints::ConnectionBuilder (Happy Eyeballs, 250 ms delay)");
    let t0 = connect_starts();
    let mut stream = ConnectionBuilder::new(("dual-stack.test", port))
        .resolver(Resolver::fixed([("dual-stack.test", vec![V6, V4])]))
        .happy_eyeballs(Duration::from_millis(250))
        .connect()
        .await?;
    let took = t0.elapsed();
    stream.write_all(b"hello").await?;
    let mut reply = [0; 5];
    stream.read_exact(&mut reply).await?;
    println!(
        "   winner: {} after {took:.2?}, echoed {:?}\n",
        stream.peer_addr()?,
        String::from_utf8_lossy(&reply)
    );

    println!("3. every attempt refused: the error keeps them all");
    let closed = [closed_port(V6)?, closed_port(V4)?];
    connect_starts();
    let err = ConnectionBuilder::new(closed.to_vec())
        .all_errors(true)
        .connect()
        .await
        .unwrap_err();
    // `{:?}` is the report `fn main() -> io::Result<()>` would print: the
    // message, then each attempt with its start and duration.
    println!("   {}", format!("{err:?}").replace('\n', "\n   "));
    Ok(())
}

/// When the connect being logged started.
static CONNECT_START: Mutex<Option<Instant>> = Mutex::new(None);

/// Marks the start of a connect: log times count from here.
fn connect_starts() -> Instant {
    let now = Instant::now();
    *CONNECT_START.lock().unwrap() = Some(now);
    now
}

/// Log times as `+250.31 ms`, counted from the start of the current
/// connect.
struct SinceConnect;

impl tracing_subscriber::fmt::time::FormatTime for SinceConnect {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let start = CONNECT_START.lock().unwrap().unwrap_or_else(Instant::now);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        write!(w, "+{ms:>8.2} ms")
    }
}

async fn echo(listener: TcpListener) {
    while let Ok((mut conn, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = [0; 1024];
            while let Ok(n) = conn.read(&mut buf).await {
                if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// 127.0.0.1:port accepting, and [::1]:port with a full accept queue
/// (backlog 0 and one connection never accepted: Linux drops later SYNs).
fn dual_stack_server_with_blackholed_v6() -> std::io::Result<(TcpListener, (Socket, Socket), u16)> {
    loop {
        let v4 = std::net::TcpListener::bind((V4, 0))?;
        let port = v4.local_addr()?.port();
        let v6 = Socket::new(Domain::IPV6, Type::STREAM, None)?;
        v6.set_only_v6(true)?;
        if v6.bind(&SocketAddr::new(V6, port).into()).is_err() {
            continue; // taken on IPv6; try another port
        }
        v6.listen(0)?;
        let held = Socket::new(Domain::IPV6, Type::STREAM, None)?;
        held.connect(&SocketAddr::new(V6, port).into())?;
        v4.set_nonblocking(true)?;
        return Ok((TcpListener::from_std(v4)?, (v6, held), port));
    }
}

fn closed_port(ip: IpAddr) -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind((ip, 0))?.local_addr()
}
