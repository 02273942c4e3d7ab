//! What RFC 6724 source-address selection costs (issue 29): the kernel's
//! route and source lookup through a connected UDP socket (what an
//! uncached lookup does, once per destination prefix and network), and a
//! resolution whose answer is sorted with the cached lookups (a name the
//! hosts file pins, both families at once) beside the same addresses from
//! `Resolver::fixed`, which sorts nothing. Medians of 15 rounds, ns per
//! call. A literal address (`127.0.0.1:80`) never sorts and pays none of
//! this. Run with `cargo bench --bench addrselect`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Instant;

const ROUNDS: usize = 15;
const CALLS: u32 = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The lookup `sys::source_for` makes: socket, connect, getsockname, close.
fn probe(dest: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect((dest, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

fn time(mut f: impl FnMut()) -> f64 {
    median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..CALLS {
                    f();
                }
                t.elapsed().as_nanos() as f64 / f64::from(CALLS)
            })
            .collect(),
    )
}

fn main() {
    let v4: IpAddr = "127.0.0.1".parse().unwrap();
    let v6: IpAddr = "::1".parse().unwrap();
    let uncached4 = time(|| assert!(probe(v4).is_some()));
    let uncached6 = time(|| assert!(probe(v6).is_some()));

    println!("source-address lookup (connected UDP socket), ns per call, medians of {ROUNDS}");
    println!("  uncached, IPv4:                              {uncached4:8.0}");
    println!("  uncached, IPv6:                              {uncached6:8.0}");
    sorted_resolution();
}

/// A sorted resolution beside `Resolver::fixed`: the hickory resolver read
/// from files (`from_conf_files`, where resolv.conf is the system's
/// configuration).
#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
fn sorted_resolution() {
    use futures::StreamExt;
    use tokio_endpoints::{Family, HickoryResolver, Resolve, Resolver};

    let dir = std::env::temp_dir().join(format!("addrselect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resolv = dir.join("resolv.conf");
    let hosts = dir.join("hosts");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    // Loopback's /64 and /24 need no lookup; these do (once, then cached).
    let ips = ["2001:db8::5", "2001:db8::6", "192.0.2.5", "192.0.2.6"];
    let mut table = String::new();
    for ip in ips {
        table.push_str(&format!("{ip} both.test\n"));
    }
    std::fs::write(&hosts, table).unwrap();
    let sorted = Resolver::new(HickoryResolver::from_conf_files(&resolv, &hosts).unwrap());
    let parsed: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
    let fixed = Resolver::fixed([("both.test", parsed)]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resolve = |r: &Resolver| {
        rt.block_on(async {
            let batch = r.resolve("both.test", Family::Any).next().await;
            assert!(matches!(batch, Some(Ok(ips)) if ips.len() == 4));
        })
    };
    let with_sort = time(|| resolve(&sorted));
    let without = time(|| resolve(&fixed));
    let _ = std::fs::remove_dir_all(&dir);

    println!("4 addresses pinned by the hosts file, both families, ns per resolution");
    println!("  hickory, RFC 6724 sort with cached sources:  {with_sort:8.0}");
    println!("  Resolver::fixed, no sort (peer):             {without:8.0}");
    println!(
        "  difference: {:.0} ns ({:.2}x)",
        with_sort - without,
        with_sort / without
    );
}

#[cfg(not(all(unix, not(any(target_os = "android", target_vendor = "apple")))))]
fn sorted_resolution() {
    println!("(the sorted resolution needs HickoryResolver::from_conf_files: Linux and the BSDs)");
}
