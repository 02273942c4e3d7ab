//! Bytes per second of 1,200-byte datagrams to one peer on loopback:
//! `BatchedSocket::send_batch` against a loop of
//! `tokio::net::UdpSocket::send_to` (target ≥ 5x where the kernel has GSO),
//! and `BatchedSocket::recv_batch` against a loop of `recv_from` (target
//! ≥ 2x where it has GRO), side by side in one run; and the system calls
//! per datagram of each, counted with `strace -c` when it is on PATH.
//!
//! Send: each variant sends `COUNT` datagrams per round to a peer that
//! does not read (a batched socket: once its buffer is full the kernel
//! drops what comes, after the whole send path ran), `send_batch` given
//! 1,024 datagrams a call. Receive: a batched sender (GSO) fills the
//! receiver's buffer with a burst, and only the receiver's draining of it
//! is timed, burst after burst until `COUNT` came; the buffer is raised
//! with `SO_RCVBUFFORCE` where that is allowed (root), so bursts are
//! 1,024 datagrams, else 64. With the offload off (`set_offload(false)`),
//! a batched socket shows what batching without GSO/GRO gives: one
//! `sendmsg` per datagram, `recvmmsg` of up to 32.
//!
//! Variants run in a fresh shuffled order each round, on one thread
//! (Tokio's current-thread runtime); medians are reported, and the ratios
//! of the medians.
//!
//! ```text
//! cargo bench --features batch --bench batch
//! BATCH_BENCH_COUNT=50000 BATCH_BENCH_ROUNDS=21 cargo bench --features batch --bench batch
//! ```

mod support;
use support::{median, Shuffled};

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_endpoints::{BatchedSocket, DatagramBuilder, RecvBatch};

const SIZE: usize = 1200;
/// Datagrams one `send_batch` call is given.
const PER_CALL: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    SendTo,
    SendBatch,
    SendBatchNoOffload,
    RecvFrom,
    RecvBatch,
    RecvBatchNoOffload,
}

const VARIANTS: [Variant; 6] = [
    Variant::SendTo,
    Variant::SendBatch,
    Variant::SendBatchNoOffload,
    Variant::RecvFrom,
    Variant::RecvBatch,
    Variant::RecvBatchNoOffload,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::SendTo => "tokio send_to loop",
            Variant::SendBatch => "send_batch",
            Variant::SendBatchNoOffload => "send_batch, offload off",
            Variant::RecvFrom => "tokio recv_from loop",
            Variant::RecvBatch => "recv_batch",
            Variant::RecvBatchNoOffload => "recv_batch, offload off",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Variant::SendTo => "send_to",
            Variant::SendBatch => "send_batch",
            Variant::SendBatchNoOffload => "send_batch_off",
            Variant::RecvFrom => "recv_from",
            Variant::RecvBatch => "recv_batch",
            Variant::RecvBatchNoOffload => "recv_batch_off",
        }
    }

    fn sends(self) -> bool {
        matches!(
            self,
            Variant::SendTo | Variant::SendBatch | Variant::SendBatchNoOffload
        )
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn batched(offload: bool) -> BatchedSocket {
    let s = DatagramBuilder::new()
        .local_addr("127.0.0.1:0")
        .bind_batched()
        .await
        .unwrap();
    s.set_offload(offload).unwrap();
    s
}

/// Raises the receive buffer to 16 MiB past `rmem_max` (`SO_RCVBUFFORCE`,
/// root only); whether it worked.
fn force_rcvbuf(socket: &UdpSocket) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 16 << 20;
        // SAFETY: a socket we own, an int option of the size given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

struct Bench {
    payload: Vec<u8>,
    /// The peer of the send variants, never read.
    sink: BatchedSocket,
    tokio_tx: UdpSocket,
    batched_tx: BatchedSocket,
    batched_tx_off: BatchedSocket,
    /// The sender of the receive variants.
    filler: BatchedSocket,
    tokio_rx: UdpSocket,
    batched_rx: BatchedSocket,
    batched_rx_off: BatchedSocket,
    burst: usize,
    batch: RecvBatch,
}

impl Bench {
    async fn new() -> Bench {
        let tokio_rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let batched_rx = batched(true).await;
        let batched_rx_off = batched(false).await;
        let forced = force_rcvbuf(&tokio_rx)
            && force_rcvbuf(batched_rx.inner())
            && force_rcvbuf(batched_rx_off.inner());
        Bench {
            payload: vec![0x5a; SIZE],
            sink: batched(true).await,
            tokio_tx: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            batched_tx: batched(true).await,
            batched_tx_off: batched(false).await,
            filler: batched(true).await,
            tokio_rx,
            batched_rx,
            batched_rx_off,
            burst: if forced { 1024 } else { 64 },
            batch: RecvBatch::new(),
        }
    }

    /// Bytes per second of one round of `count` datagrams, and how many
    /// were lost (receive variants).
    async fn round(&mut self, variant: Variant, count: usize) -> (f64, usize) {
        let payloads: Vec<&[u8]> = vec![&self.payload[..]; PER_CALL];
        let to = self.sink.inner().local_addr().unwrap();
        if variant.sends() {
            let start = Instant::now();
            match variant {
                Variant::SendTo => {
                    for _ in 0..count {
                        self.tokio_tx.send_to(&self.payload, to).await.unwrap();
                    }
                }
                _ => {
                    let tx = if variant == Variant::SendBatch {
                        &self.batched_tx
                    } else {
                        &self.batched_tx_off
                    };
                    let mut sent = 0;
                    while sent < count {
                        let n = PER_CALL.min(count - sent);
                        sent += tx.send_batch(to, &payloads[..n]).await.unwrap();
                    }
                }
            }
            let secs = start.elapsed().as_secs_f64();
            return ((count * SIZE) as f64 / secs, 0);
        }
        let rx_addr: SocketAddr = match variant {
            Variant::RecvFrom => self.tokio_rx.local_addr().unwrap(),
            Variant::RecvBatch => self.batched_rx.inner().local_addr().unwrap(),
            _ => self.batched_rx_off.inner().local_addr().unwrap(),
        };
        let mut buf = vec![0_u8; 65_536];
        let (mut timed, mut received, mut lost) = (Duration::ZERO, 0, 0);
        while received < count {
            let burst = self.burst.min(count - received);
            let mut sent = 0;
            while sent < burst {
                let n = PER_CALL.min(burst - sent);
                sent += self
                    .filler
                    .send_batch(rx_addr, &payloads[..n])
                    .await
                    .unwrap();
            }
            let start = Instant::now();
            let mut got = 0;
            while got < burst {
                let wait = Duration::from_secs(1);
                let r = match variant {
                    Variant::RecvFrom => {
                        tokio::time::timeout(wait, self.tokio_rx.recv_from(&mut buf))
                            .await
                            .map(|r| r.map(|_| 1))
                    }
                    Variant::RecvBatch => {
                        tokio::time::timeout(wait, self.batched_rx.recv_batch(&mut self.batch))
                            .await
                    }
                    _ => {
                        tokio::time::timeout(wait, self.batched_rx_off.recv_batch(&mut self.batch))
                            .await
                    }
                };
                match r {
                    Ok(n) => got += n.unwrap(),
                    Err(_) => {
                        lost += burst - got;
                        break;
                    }
                }
            }
            timed += start.elapsed();
            received += burst;
        }
        (((count - lost) * SIZE) as f64 / timed.as_secs_f64(), lost)
    }
}

/// The system calls of one variant's round of `count` datagrams, counted by
/// `strace -c` on a child run of this binary: (send or receive calls, and
/// `epoll_wait` calls), or why not.
fn syscalls(variant: Variant, count: usize) -> Result<(u64, u64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::env::temp_dir().join(format!(
        "batch-bench-strace-{}-{}",
        std::process::id(),
        variant.key()
    ));
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&out)
        .args([
            "-e",
            "trace=sendto,sendmsg,sendmmsg,recvfrom,recvmsg,recvmmsg,epoll_wait,epoll_pwait",
        ])
        .arg(&exe)
        .env("BATCH_BENCH_CHILD", variant.key())
        .env("BATCH_BENCH_COUNT", count.to_string())
        .status()
        .map_err(|e| format!("strace not run ({e}); `apt-get install strace`"))?;
    if !status.success() {
        return Err(format!("strace: {status}"));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    let (mut io, mut epoll) = (0, 0);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(calls)) = (fields.last(), fields.get(3)) else {
            continue;
        };
        let Ok(calls) = calls.parse::<u64>() else {
            continue;
        };
        let wanted = if variant.sends() {
            name.starts_with("send")
        } else {
            name.starts_with("recv")
        };
        if wanted {
            io += calls;
        } else if name.starts_with("epoll") {
            epoll += calls;
        }
    }
    Ok((io, epoll))
}

fn main() {
    let count = env_or("BATCH_BENCH_COUNT", 20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(key) = std::env::var("BATCH_BENCH_CHILD") {
        let variant = VARIANTS.into_iter().find(|v| v.key() == key).unwrap();
        rt.block_on(async {
            let mut bench = Bench::new().await;
            bench.round(variant, count).await;
        });
        return;
    }
    let rounds = env_or("BATCH_BENCH_ROUNDS", 15);
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let (segments, burst, lost) = rt.block_on(async {
        let mut bench = Bench::new().await;
        for v in VARIANTS {
            bench.round(v, count / 10).await; // warm up
        }
        let mut order = Shuffled::new(VARIANTS.len());
        let mut lost = 0;
        for _ in 0..rounds {
            for &i in order.next_round() {
                let (rate, l) = bench.round(VARIANTS[i], count).await;
                results[i].push(rate);
                lost += l;
            }
        }
        (
            (
                bench.batched_tx.max_segments(),
                bench.batched_rx.max_receive_segments(),
            ),
            bench.burst,
            lost,
        )
    });
    println!(
        "batch bench: {count} datagrams of {SIZE} bytes per round to one peer, {rounds} rounds, 127.0.0.1; \
         max_segments {} (send), {} (receive); receive bursts of {burst}",
        segments.0, segments.1
    );
    let medians: Vec<f64> = results.iter_mut().map(|r| median(r)).collect();
    for (i, v) in VARIANTS.iter().enumerate() {
        println!(
            "  {:<26} median {:>8.1} MiB/s  ({:.0}k datagrams/s)",
            v.name(),
            medians[i] / (1 << 20) as f64,
            medians[i] / SIZE as f64 / 1e3
        );
    }
    let ratio = |a: Variant, b: Variant| {
        let at = |v| VARIANTS.iter().position(|x| *x == v).unwrap();
        medians[at(a)] / medians[at(b)]
    };
    let send = ratio(Variant::SendBatch, Variant::SendTo);
    let recv = ratio(Variant::RecvBatch, Variant::RecvFrom);
    println!(
        "  send_batch / send_to            {send:.2}x ({})",
        if send >= 5.0 {
            "meets the 5x target"
        } else {
            "BELOW the 5x target"
        }
    );
    println!(
        "  send_batch offload off / send_to {:.2}x",
        ratio(Variant::SendBatchNoOffload, Variant::SendTo)
    );
    println!(
        "  recv_batch / recv_from          {recv:.2}x ({})",
        if recv >= 2.0 {
            "meets the 2x target"
        } else {
            "BELOW the 2x target"
        }
    );
    println!(
        "  recv_batch offload off / recv_from {:.2}x",
        ratio(Variant::RecvBatchNoOffload, Variant::RecvFrom)
    );
    if lost > 0 {
        println!("  ({lost} datagrams lost in receive rounds and not counted)");
    }
    println!("  system calls per datagram (strace -c, one round of {count} in a child):");
    for v in VARIANTS {
        match syscalls(v, count) {
            Ok((io, epoll)) => println!(
                "    {:<26} {:.4} {} calls, {:.4} epoll_wait",
                v.name(),
                io as f64 / count as f64,
                if v.sends() { "send" } else { "receive" },
                epoll as f64 / count as f64
            ),
            Err(why) => {
                println!("    not counted: {why}");
                break;
            }
        }
    }
}
