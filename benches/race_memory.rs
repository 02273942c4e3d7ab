//! What a race costs: memory held by a pending race, and the time of a burst
//! of connects.
//!
//! 1. **Memory per pending race.** Thousands of connects against blackholed
//!    loopback addresses (`[::1]` and `127.0.0.1` listeners with a backlog
//!    of 0 and one unaccepted connection, so Linux drops later SYNs and
//!    every connect hangs), each in its own task, held after the fallback
//!    has started (both sockets of a two-address race in flight, checked by
//!    counting the process's descriptors). The process's resident memory
//!    (`/proc/self/statm`) before and after, divided by the number of
//!    connects. Each variant runs in a fresh process (this bench runs
//!    itself again with `--race-memory-child VARIANT`), several times, in
//!    rotating order; the median per variant is printed. Variants: ours by
//!    name through a fixed two-address resolver, ours to a literal list of
//!    the two addresses, hyper-util's `HttpConnector` (same two addresses,
//!    same delay), raw `tokio::net::TcpStream::connect` to one address.
//!    The `size_of` of each future is printed beside.
//!
//! 2. **Burst.** 500 concurrent connects (500 tasks on a current-thread
//!    runtime) to a dual-stack loopback target whose first address,
//!    `[::1]`, accepts (as does `127.0.0.1`): the first attempt of every race
//!    wins and no fallback starts, so the figure is what the race's
//!    machinery costs. Against raw `TcpStream::connect` to `[::1]` (the
//!    address that wins), many rounds in shuffled order, each burst starting
//!    once the listeners have accepted the previous one; the median time
//!    per burst and the median of per-round ratios against raw tokio.
//!
//! Run: `cargo bench --bench race_memory` (Linux only: it reads `/proc`).

mod support;
use support::{median, FixedDns};

use std::future::Future;

use futures::FutureExt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::HttpConnector;
use socket2::{Domain, Socket, Type};
use tokio_endpoints::{ConnectionBuilder, Resolver};
use tower_service::Service;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const NAME: &str = "dual-stack.test";

/// Pending races per child process.
const RACES: usize = 4000;
/// Child processes per variant.
const REPS: usize = 5;
/// The delay for the memory runs: short, so every fallback starts quickly.
const SHORT_DELAY: Duration = Duration::from_millis(10);

/// Burst size and rounds.
const BURST: usize = 500;
const ROUNDS: usize = 61;

/// With `RACE_MEMORY_ALLOCS=1` in a child's environment, the heap blocks the
/// held connects own are counted by size and printed: where the bytes go.
mod allocs {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

    pub(crate) static ON: AtomicBool = AtomicBool::new(false);
    const BUCKETS: usize = 1024;
    /// Live blocks per size, in steps of 8 bytes; the last bucket is "larger".
    static LIVE: [AtomicIsize; BUCKETS] = [const { AtomicIsize::new(0) }; BUCKETS];

    fn bucket(size: usize) -> usize {
        (size / 8).min(BUCKETS - 1)
    }

    pub(crate) struct Counting;

    // SAFETY: forwards to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            if ON.load(Relaxed) {
                LIVE[bucket(l.size())].fetch_add(1, Relaxed);
            }
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            if ON.load(Relaxed) {
                LIVE[bucket(l.size())].fetch_sub(1, Relaxed);
            }
            unsafe { System.dealloc(p, l) }
        }
    }

    /// Blocks that became live since counting began, at least `min` of a
    /// size: (size in bytes, rounded down to 8, count).
    pub(crate) fn live(min: isize) -> Vec<(usize, isize)> {
        (0..BUCKETS)
            .map(|b| (b * 8, LIVE[b].load(Relaxed)))
            .filter(|&(_, n)| n >= min)
            .collect()
    }
}

#[global_allocator]
static GLOBAL: allocs::Counting = allocs::Counting;

const MEMORY_VARIANTS: [&str; 4] = ["ours", "ours-literal", "hyper-util", "tokio"];

fn main() {
    if !cfg!(target_os = "linux") {
        eprintln!("race_memory: not run, it needs Linux (/proc, RLIMIT_NOFILE)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--race-memory-child") {
        child(&args[i + 1]);
        return;
    }
    raise_fd_limit();
    // `--burst-only`: skip the memory runs (for profiling the burst).
    if !args.iter().any(|a| a == "--burst-only") {
        memory();
    }
    burst();
}

// ---------------------------------------------------------------------------
// Memory per pending race
// ---------------------------------------------------------------------------

fn memory() {
    let exe = std::env::current_exe().unwrap();
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); MEMORY_VARIANTS.len()];
    let mut sizes: Vec<String> = vec![String::new(); MEMORY_VARIANTS.len()];
    for rep in 0..REPS {
        for k in 0..MEMORY_VARIANTS.len() {
            let v = (rep + k) % MEMORY_VARIANTS.len();
            let out = Command::new(&exe)
                .args(["--race-memory-child", MEMORY_VARIANTS[v]])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                panic!(
                    "child {} failed: {stdout}{}",
                    MEMORY_VARIANTS[v],
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            for line in stdout.lines() {
                if let Some(b) = line.strip_prefix("bytes_per_race ") {
                    per[v].push(b.trim().parse().unwrap());
                } else if let Some(s) = line.strip_prefix("size_of ") {
                    sizes[v] = s.to_string();
                }
            }
        }
    }
    println!(
        "memory held per pending connect, fallback started ({RACES} per fresh process, \
         {REPS} processes per variant, median; resident memory delta / connects):"
    );
    let tokio = median(&mut per[3].clone());
    for (v, name) in MEMORY_VARIANTS.iter().enumerate() {
        let mut all = per[v].clone();
        let m = median(&mut all);
        let (lo, hi) = (all[0], all[all.len() - 1]);
        println!(
            "  {:<48} {:7.0} B  (runs {lo:.0} to {hi:.0}; {:.1}x raw tokio; future {})",
            describe(name),
            m,
            m / tokio,
            sizes[v]
        );
    }
    println!("  target for a two-address race: <= 2048 B (issue 32)\n");
}

fn describe(variant: &str) -> &'static str {
    match variant {
        "ours" => "ConnectionBuilder, name, 2-address resolver",
        "ours-literal" => "ConnectionBuilder, literal [v6, v4] list",
        "hyper-util" => "hyper-util HttpConnector, 2 addresses",
        _ => "tokio::net::TcpStream::connect, 1 address",
    }
}

/// A listening socket on `ip:port` (IPv6 only for an IPv6 address, so the
/// two families can share a port), or `None` when the port is taken.
fn listener(ip: IpAddr, port: u16, backlog: i32, reuse_address: bool) -> Option<Socket> {
    let domain = if ip.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let l = Socket::new(domain, Type::STREAM, None).unwrap();
    if ip.is_ipv6() {
        l.set_only_v6(true).unwrap();
    }
    if reuse_address {
        l.set_reuse_address(true).unwrap();
    }
    l.bind(&SocketAddr::new(ip, port).into()).ok()?;
    l.listen(backlog).unwrap();
    Some(l)
}

/// A listener that drops SYNs: a backlog of 0 and one connection it never
/// accepts. Returns what must be kept alive.
fn blackhole(ip: IpAddr, port: u16) -> Option<(Socket, Socket)> {
    let l = listener(ip, port, 0, false)?;
    let addr = l.local_addr().unwrap();
    let held = Socket::new(addr.domain(), Type::STREAM, None).unwrap();
    held.connect(&addr).unwrap();
    Some((l, held))
}

/// `[::1]:port` and `127.0.0.1:port`, both blackholed.
fn blackholed_pair() -> (u16, Vec<(Socket, Socket)>) {
    loop {
        let (l6, h6) = blackhole(V6, 0).unwrap();
        let port = l6.local_addr().unwrap().as_socket().unwrap().port();
        if let Some(v4) = blackhole(V4, port) {
            return (port, vec![(l6, h6), v4]);
        }
    }
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * page_size()
}

/// Windows has none of the calls below; `main` returns before them.
#[cfg(windows)]
mod libc_less {
    pub(crate) fn page_size() -> usize {
        unreachable!("Linux only")
    }
    pub(crate) fn raise_fd_limit() -> usize {
        unreachable!("Linux only")
    }
    pub(crate) fn thread_cpu() -> std::time::Duration {
        unreachable!("Linux only")
    }
}
#[cfg(windows)]
use libc_less::{page_size, raise_fd_limit, thread_cpu};

#[cfg(unix)]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[cfg(unix)]
fn raise_fd_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to a rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur as usize
}

fn child(variant: &str) {
    let limit = raise_fd_limit();
    let races = RACES.min(limit.saturating_sub(200) / 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (port, _blackholes) = blackholed_pair();
    let pair = vec![SocketAddr::new(V6, port), SocketAddr::new(V4, port)];
    let resolver = Resolver::fixed([(NAME, vec![V6, V4])]);
    let mut connector = HttpConnector::new_with_resolver(FixedDns(pair.clone()));
    connector.set_happy_eyeballs_timeout(Some(SHORT_DELAY));
    connector.set_nodelay(true);
    let uri: http::Uri = format!("http://{NAME}:{port}/").parse().unwrap();

    // The size of the connect future itself, before it is polled.
    let size = match variant {
        "ours" => std::mem::size_of_val(
            &ConnectionBuilder::new((NAME, port))
                .resolver(resolver.clone())
                .happy_eyeballs(SHORT_DELAY)
                .connect(),
        ),
        "ours-literal" => std::mem::size_of_val(
            &ConnectionBuilder::new(pair.clone())
                .happy_eyeballs(SHORT_DELAY)
                .connect(),
        ),
        "hyper-util" => std::mem::size_of_val(&connector.call(uri.clone())),
        _ => std::mem::size_of_val(&tokio::net::TcpStream::connect(pair[1])),
    };
    let size_note = if variant == "hyper-util" {
        format!("{size} B, boxed inside")
    } else {
        format!("{size} B")
    };

    let sockets_per = if variant == "tokio" { 1 } else { 2 };
    let per_race = rt.block_on(async {
        match variant {
            "ours" => {
                hold(races, sockets_per, || {
                    let fut = ConnectionBuilder::new((NAME, port))
                        .resolver(resolver.clone())
                        .happy_eyeballs(SHORT_DELAY)
                        .connect();
                    fut.map(drop)
                })
                .await
            }
            "ours-literal" => {
                hold(races, sockets_per, || {
                    let fut = ConnectionBuilder::new(pair.clone())
                        .happy_eyeballs(SHORT_DELAY)
                        .connect();
                    fut.map(drop)
                })
                .await
            }
            "hyper-util" => {
                hold(races, sockets_per, || {
                    let fut = connector.call(uri.clone());
                    fut.map(drop)
                })
                .await
            }
            "tokio" => {
                hold(races, sockets_per, || {
                    let fut = tokio::net::TcpStream::connect(pair[1]);
                    fut.map(drop)
                })
                .await
            }
            other => panic!("unknown variant {other}"),
        }
    });
    println!("bytes_per_race {per_race}");
    println!("size_of {size_note}");
}

/// Spawns `races` tasks running `start()`, waits until each has
/// `sockets_per` sockets open, and returns the resident memory they hold,
/// per task.
async fn hold<F>(races: usize, sockets_per: usize, mut start: impl FnMut() -> F) -> f64
where
    F: Future<Output = ()> + Send + 'static,
{
    // The connect futures are spawned as they are (mapped to `()`): an
    // `async move { fut.await }` around them would hold each one twice.
    // Warm up: lazily built state (tracing call sites, the timer wheel,
    // the resolver) is not what a race holds.
    let warm: Vec<_> = (0..64).map(|_| tokio::spawn(start())).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for h in &warm {
        h.abort();
    }
    for h in warm {
        let _ = h.await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let base_fds = open_fds();
    let mut handles = Vec::with_capacity(races);
    let before = resident_bytes();
    let tracing_allocs = std::env::var_os("RACE_MEMORY_ALLOCS").is_some();
    allocs::ON.store(tracing_allocs, std::sync::atomic::Ordering::Relaxed);
    for _ in 0..races {
        handles.push(tokio::spawn(start()));
    }
    // Wait until every fallback has started: all sockets are open.
    let want = base_fds + races * sockets_per;
    let t0 = Instant::now();
    while open_fds() < want {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "only {} of {want} descriptors open",
            open_fds()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = resident_bytes();
    if tracing_allocs {
        allocs::ON.store(false, std::sync::atomic::Ordering::Relaxed);
        let mut total = 0;
        for (size, n) in allocs::live(races as isize / 2) {
            println!("  live blocks of {size}..{} B: {n}", size + 7);
            total += size as isize * n;
        }
        println!("  about {} B per connect in those", total / races as isize);
    }
    assert!(
        handles.iter().all(|h| !h.is_finished()),
        "a connect to a blackholed address finished"
    );
    for h in &handles {
        h.abort();
    }
    (after as f64 - before as f64) / races as f64
}

// ---------------------------------------------------------------------------
// Burst
// ---------------------------------------------------------------------------

/// A listener on `ip:port` with room for a whole burst in its accept queue,
/// accepting and closing on its own thread.
fn accepting(ip: IpAddr, port: u16) -> Option<u16> {
    let l = listener(ip, port, 4096, true)?;
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    let l: std::net::TcpListener = l.into();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            drop(conn);
            ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    Some(port)
}

/// Connections the burst listeners have accepted (and closed).
static ACCEPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Waits until the listeners have accepted `total` connections: each burst
/// starts with the previous one's server side done, so that no variant pays
/// for another's leftovers.
fn drained(total: usize) {
    while ACCEPTED.load(std::sync::atomic::Ordering::Relaxed) < total {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_millis(2));
}

fn burst() {
    let port = loop {
        let port = accepting(V6, 0).unwrap();
        if accepting(V4, port).is_some() {
            break port;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let v6 = SocketAddr::new(V6, port);
    let pair = vec![v6, SocketAddr::new(V4, port)];
    let resolver = Resolver::fixed([(NAME, vec![V6, V4])]);
    let mut connector = HttpConnector::new_with_resolver(FixedDns(pair.clone()));
    connector.set_happy_eyeballs_timeout(Some(Duration::from_millis(250)));
    connector.set_nodelay(true);
    let uri: http::Uri = format!("http://{NAME}:{port}/").parse().unwrap();

    const NAMES: [&str; 7] = [
        "tokio::net::TcpStream::connect, [::1]",
        "ConnectionBuilder, name, 2-address resolver",
        "ConnectionBuilder, literal [v6, v4] list",
        "hyper-util HttpConnector, 2 addresses",
        "tokio connect + set_nodelay(true), [::1]",
        "ConnectionBuilder, one literal [::1]",
        "ConnectionBuilder, name, .history(false)",
    ];
    fn is_v6(s: &tokio::net::TcpStream) -> bool {
        s.peer_addr().unwrap().is_ipv6()
    }
    // Each connect future is spawned as it is (mapped to whether it
    // reached [::1]), so no variant's future is held twice.
    let mut one = |v: usize| -> tokio::task::JoinHandle<bool> {
        match v {
            0 => tokio::spawn(tokio::net::TcpStream::connect(v6).map(|r| is_v6(&r.unwrap()))),
            1 => tokio::spawn(
                ConnectionBuilder::new((NAME, port))
                    .resolver(resolver.clone())
                    .connect()
                    .map(|r| is_v6(&r.unwrap())),
            ),
            2 => tokio::spawn(
                ConnectionBuilder::new(pair.clone())
                    .connect()
                    .map(|r| is_v6(&r.unwrap())),
            ),
            3 => tokio::spawn(
                connector
                    .call(uri.clone())
                    .map(|r| is_v6(r.unwrap().inner())),
            ),
            4 => tokio::spawn(tokio::net::TcpStream::connect(v6).map(|r| {
                let s = r.unwrap();
                s.set_nodelay(true).unwrap();
                is_v6(&s)
            })),
            5 => tokio::spawn(
                ConnectionBuilder::new(v6)
                    .connect()
                    .map(|r| is_v6(&r.unwrap())),
            ),
            _ => tokio::spawn(
                ConnectionBuilder::new((NAME, port))
                    .resolver(resolver.clone())
                    .history(false)
                    .connect()
                    .map(|r| is_v6(&r.unwrap())),
            ),
        }
    };
    // Connects that reached the fallback, 127.0.0.1 (a machine so loaded
    // that a loopback connect took the 250 ms delay), per variant.
    let mut fallbacks = [0usize; NAMES.len()];
    let mut total = 0;
    // CPU time the connecting thread (the runtime's) spent per burst, in
    // the kernel and out: less disturbed than wall time by other processes
    // on a shared machine.
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    let mut run = |v: usize| -> f64 {
        drained(total);
        total += BURST;
        rt.block_on(async {
            let c0 = thread_cpu();
            let t0 = Instant::now();
            let handles: Vec<_> = (0..BURST).map(|_| one(v)).collect();
            for h in handles {
                if !h.await.unwrap() {
                    fallbacks[v] += 1;
                }
            }
            let took = t0.elapsed().as_secs_f64() * 1e3;
            cpu[v].push((thread_cpu() - c0).as_secs_f64() * 1e3);
            took
        })
    };
    for v in 0..NAMES.len() {
        for _ in 0..3 {
            run(v);
        }
    }
    // `RACE_MEMORY_BURST_ONLY=N`: run variant N alone (for strace / perf).
    if let Some(v) = std::env::var("RACE_MEMORY_BURST_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut t: Vec<f64> = (0..ROUNDS).map(|_| run(v)).collect();
        println!("  {:<48} {:7.2} ms", NAMES[v], median(&mut t));
        return;
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    // Each round runs every variant once, in a shuffled order (a fixed
    // rotation would always put the same variant after another).
    let mut order = support::Shuffled::new(NAMES.len());
    for _ in 0..ROUNDS {
        for &v in order.next_round() {
            per[v].push(run(v));
        }
    }
    // The warm-up's CPU times are not the rounds'.
    let cpu: Vec<Vec<f64>> = cpu.iter().map(|c| c[c.len() - ROUNDS..].to_vec()).collect();
    let ratio = |per: &[Vec<f64>], a: usize| {
        let mut r: Vec<f64> = per[a].iter().zip(&per[0]).map(|(x, y)| x / y).collect();
        median(&mut r)
    };
    println!(
        "burst of {BURST} concurrent connects, first address answers ({ROUNDS} rounds, \
         shuffled order; median wall time per burst and median of per-round ratios; \
         the same for the connecting thread's CPU time):"
    );
    for (v, name) in NAMES.iter().enumerate() {
        let m = median(&mut per[v].clone());
        let c = median(&mut cpu[v].clone());
        println!(
            "  {name:<48} {m:7.2} ms  {:.3}x raw tokio   cpu {c:6.2} ms  {:.3}x",
            ratio(&per, v),
            ratio(&cpu, v)
        );
    }
    println!("  target: <= 1.05x raw tokio");
    for (v, n) in fallbacks.iter().enumerate() {
        if *n > 0 {
            println!("  ({}: {n} connects won by the fallback)", NAMES[v]);
        }
    }
}

/// The CPU time of the calling thread.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
