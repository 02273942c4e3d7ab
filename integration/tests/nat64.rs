//! IPv6-only networks, in network namespaces: NAT64 synthesis, DNS64
//! answers judged as the IPv4 address they carry, and the network's
//! identity.
//!
//! Each case is a trial (libtest-mimic, `harness = false`) that runs this
//! binary again as a child under `unshare --net`, with `NAT64_CASE` naming
//! the case. The child makes its network with `ip(8)`: loopback, and a
//! veth pair whose one end carries the case's addresses and default
//! routes (an IPv6-only network: an IPv6 default route and no IPv4 one).
//! There is no NAT64 translator: the child gives itself the synthesized
//! address (`64:ff9b::c000:205` for `192.0.2.5`) and listens on it, so a
//! connection that arrives there is one that dialled the synthesis. Its
//! DNS server (a DNS64) is in-process on 127.0.0.1 (`tests/dns_server`).
//!
//! The suite needs root, `unshare(1)` and `ip(8)` with veth; where it
//! cannot run, every case is reported IGNORED, with the reason on stderr,
//! never as passed.

#[cfg(target_os = "linux")]
#[path = "../../tests/dns_server/mod.rs"]
mod dns_server;

/// Elsewhere there are no network namespaces.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("!!! NAT64 namespace suite NOT RUN: it needs Linux (unshare(1), ip(8))");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::process::{Command, Stdio};

    use futures::StreamExt;
    use libtest_mimic::{Arguments, Failed, Trial};
    use tokio::net::TcpListener;
    use tokio_endpoints::hickory_resolver::proto::op::ResponseCode;
    use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
    use tokio_endpoints::hickory_resolver::proto::rr::{RData, RecordType};
    use tokio_endpoints::{
        AddressPolicy, ConnectErrorKind, ConnectionBuilder, Connector, Family, Resolve, Resolver,
    };

    use super::dns_server::{DnsServer, Reply};

    const CASE_VAR: &str = "NAT64_CASE";

    type Case = fn() -> Result<(), String>;

    const CASES: &[(&str, Case)] = &[
        ("ipv4_literal_connects_via_its_synthesis", ipv4_literal),
        (
            "a_only_name_connects_via_a_network_specific_prefix",
            a_only_name,
        ),
        (
            "dns64_answer_hiding_a_private_address_is_refused",
            dns64_private,
        ),
        ("dual_stack_does_not_synthesize", dual_stack),
        ("queries_fit_the_network", queries_fit),
        ("moving_to_another_network_flushes_the_history", moving),
        ("link_local_only_ipv6_prefers_ipv4", link_local_only),
        ("the_matching_source_prefix_decides", two_prefixes),
    ];

    pub(super) fn main() {
        if let Ok(name) = std::env::var(CASE_VAR) {
            let Some((_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
                eprintln!("no case named {name:?}");
                std::process::exit(2);
            };
            match case() {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("case {name}: {e}");
                    std::process::exit(1);
                }
            }
        }
        let args = Arguments::from_args();
        let cannot_run = preflight().err();
        if let Some(why) = &cannot_run {
            eprintln!("\n!!! NAT64 namespace suite NOT RUN: {why}");
            eprintln!("!!! every case is reported as ignored; run as root on Linux.\n");
        }
        let trials = CASES
            .iter()
            .map(|&(name, _)| {
                let why = cannot_run.clone();
                let ignored = why.is_some();
                Trial::test(name, move || match why {
                    Some(why) => Err(format!("cannot run: {why}").into()),
                    None => run_child(name),
                })
                .with_ignored_flag(ignored)
            })
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }

    /// Whether the suite can run here: root, and a namespace with a veth pair.
    fn preflight() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root (network namespaces need CAP_SYS_ADMIN)".into());
        }
        let out = Command::new("unshare")
            .args([
                "--net", "--", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `unshare`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`unshare --net -- ip link add v0 type veth peer name v1` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    fn run_child(name: &str) -> Result<(), Failed> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let out = Command::new("unshare")
            .args(["--net", "--"])
            .arg(exe)
            .env(CASE_VAR, name)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("spawning the child: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "child failed ({})\nstderr:\n{}\nstdout:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )
        .into())
    }

    /// Runs `ip` with `args` in the child's namespace.
    fn ip(args: &str) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args.split_whitespace())
            .output()
            .map_err(|e| format!("ip {args}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip {args}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Loopback, and a veth end `v0` with the address and default route of
    /// an IPv6-only network (`v6`, a /64), and of IPv4 too with `v4`.
    fn network(v6: &str, v4: Option<&str>) -> Result<(), String> {
        ip("link set lo up")?;
        ip("link add v0 type veth peer name v1")?;
        ip("link set v0 up")?;
        ip("link set v1 up")?;
        ip(&format!("-6 addr add {v6}::2/64 dev v0 nodad"))?;
        ip(&format!("-6 route add default via {v6}::1 dev v0"))?;
        if let Some(v4) = v4 {
            ip(&format!("addr add {v4}.2/24 dev v0"))?;
            ip(&format!("route add default via {v4}.1 dev v0"))?;
        }
        Ok(())
    }

    /// What the NAT64 would do: `addr` is this host's, so a connection to
    /// it arrives here.
    fn translated(addr: &str) -> Result<(), String> {
        ip(&format!("-6 addr add {addr}/128 dev lo nodad"))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    /// A DNS64 on 127.0.0.1: `ipv4only.arpa` AAAA is `ipv4only`, and the
    /// names of `zone` have their records; everything else does not exist.
    async fn dns64(
        ipv4only: &'static [&'static str],
        zone: &'static [(&'static str, &'static str)],
    ) -> DnsServer {
        DnsServer::start(move |name, rtype| {
            let records: Vec<RData> = if name == "ipv4only.arpa" {
                match rtype {
                    RecordType::AAAA => ipv4only
                        .iter()
                        .map(|a| RData::AAAA(AAAA(a.parse().unwrap())))
                        .collect(),
                    _ => Vec::new(),
                }
            } else {
                let mut known = false;
                let records = zone
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .inspect(|_| known = true)
                    .filter_map(|(_, ip)| match (ip.parse::<IpAddr>().unwrap(), rtype) {
                        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
                        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
                        _ => None,
                    })
                    .collect();
                if !known {
                    return (0, Reply::Code(ResponseCode::NXDomain));
                }
                records
            };
            match records.is_empty() {
                true => (0, Reply::Code(ResponseCode::NoError)),
                false => (0, Reply::Records(records)),
            }
        })
        .await
    }

    /// Accepts one connection on `addr` and says where it came to.
    async fn listen(addr: &str) -> Result<(TcpListener, SocketAddr), String> {
        let listener = TcpListener::bind((addr.parse::<IpAddr>().unwrap(), 0))
            .await
            .map_err(|e| format!("listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        Ok((listener, local))
    }

    fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
        match got == want {
            true => Ok(()),
            false => Err(format!("{what}: got {got:?}, want {want:?}")),
        }
    }

    fn ipv4_literal() -> Result<(), String> {
        network("2001:db8:1", None)?;
        translated("64:ff9b::c000:205")?;
        runtime().block_on(async {
            let dns = dns64(&["64:ff9b::c000:aa", "64:ff9b::c000:ab"], &[]).await;
            let (listener, local) = listen("64:ff9b::c000:205").await?;
            let stream = ConnectionBuilder::new(("192.0.2.5", local.port()))
                .resolver(Resolver::new(dns.resolver().fit_network(true)))
                .connect()
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let (accepted, _) = listener.accept().await.map_err(|e| e.to_string())?;
            check("peer", stream.peer_addr().ok(), Some(local))?;
            check("accepted on", accepted.local_addr().ok(), Some(local))?;
            check(
                "ipv4only.arpa asked",
                dns.count("ipv4only.arpa", RecordType::AAAA),
                1,
            )?;
            // The prefix is kept: a second connect does not ask again, and
            // a loopback literal is never synthesized.
            let again = ConnectionBuilder::new(("192.0.2.5", local.port()))
                .resolver(Resolver::new(dns.resolver().fit_network(true)))
                .connect()
                .await
                .map_err(|e| format!("second connect: {e}"))?;
            check("peer", again.peer_addr().ok(), Some(local))?;
            check(
                "ipv4only.arpa asked",
                dns.count("ipv4only.arpa", RecordType::AAAA),
                1,
            )?;
            let lo = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let lo_addr = lo.local_addr().map_err(|e| e.to_string())?;
            let direct = ConnectionBuilder::new(lo_addr)
                .resolver(Resolver::new(dns.resolver().fit_network(true)))
                .connect()
                .await
                .map_err(|e| format!("loopback: {e}"))?;
            check("loopback peer", direct.peer_addr().ok(), Some(lo_addr))
        })
    }

    fn a_only_name() -> Result<(), String> {
        network("2001:db8:1", None)?;
        // A network-specific /64: 192.0.2.6 is 2001:db8:64:0:c0:2:600:0.
        let synthesized = "2001:db8:64:0:c0:2:600:0";
        translated(synthesized)?;
        runtime().block_on(async {
            let dns = dns64(
                &["2001:db8:64:0:c0:0:aa00:0"],
                &[("v4only.test", "192.0.2.6")],
            )
            .await;
            let (_listener, local) = listen(synthesized).await?;
            let stream = ConnectionBuilder::new(("v4only.test", local.port()))
                .resolver(Resolver::new(dns.resolver().fit_network(true)))
                .connect()
                .await
                .map_err(|e| format!("connect: {e}"))?;
            check("peer", stream.peer_addr().ok(), Some(local))
        })
    }

    fn dns64_private() -> Result<(), String> {
        network("2001:db8:1", None)?;
        runtime().block_on(async {
            // DNS64 answers for names whose only A record is 10.0.0.5: under
            // the well-known prefix, and under the network's own prefix.
            let dns = dns64(
                &["2a00:64:64:0:c0:0:aa00:0"],
                &[
                    ("private.test", "64:ff9b::a00:5"),
                    ("nsp-private.test", "2a00:64:64:0:a:0:500:0"),
                    ("nsp-public.test", "2a00:64:64:0:c6:3364:500:0"),
                ],
            )
            .await;
            for name in ["private.test", "nsp-private.test"] {
                let err = ConnectionBuilder::new((name, 443))
                    .resolver(Resolver::new(dns.resolver().fit_network(true)))
                    .address_policy(AddressPolicy::public_only())
                    .connect()
                    .await
                    .err()
                    .ok_or(format!("{name}: connected"))?;
                check(
                    &format!("{name} kind"),
                    err.kind(),
                    ConnectErrorKind::Denied,
                )?;
                let text = err.to_string();
                if !text.contains("10.0.0.5") {
                    return Err(format!("{name}: the error does not name 10.0.0.5: {text}"));
                }
            }
            // 198.51.100.5 is documentation too; the check is that the
            // address is judged as an IPv4 address at all.
            let policy = AddressPolicy::public_only().allow("198.51.100.0/24".parse().unwrap());
            let allowed = policy.allows("2a00:64:64:0:c6:3364:500:0".parse().unwrap());
            check("nsp-public allowed as 198.51.100.5", allowed, true)
        })
    }

    fn dual_stack() -> Result<(), String> {
        network("2001:db8:1", Some("198.51.100"))?;
        ip("addr add 192.0.2.5/32 dev lo")?;
        translated("64:ff9b::c000:205")?;
        runtime().block_on(async {
            let dns = dns64(&["64:ff9b::c000:aa"], &[]).await;
            let v4 = TcpListener::bind((Ipv4Addr::new(192, 0, 2, 5), 0))
                .await
                .map_err(|e| e.to_string())?;
            let port = v4.local_addr().map_err(|e| e.to_string())?.port();
            let _v6 = TcpListener::bind(("64:ff9b::c000:205".parse::<Ipv6Addr>().unwrap(), port))
                .await
                .map_err(|e| e.to_string())?;
            let stream = ConnectionBuilder::new(("192.0.2.5", port))
                .resolver(Resolver::new(dns.resolver().fit_network(true)))
                .connect()
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let want = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 5), port));
            check("peer", stream.peer_addr().ok(), Some(want))?;
            check(
                "ipv4only.arpa asked",
                dns.count("ipv4only.arpa", RecordType::AAAA),
                0,
            )?;
            Ok(())
        })
    }

    fn queries_fit() -> Result<(), String> {
        network("2001:db8:1", None)?;
        runtime().block_on(async {
            // No DNS64 here: ipv4only.arpa has no AAAA record.
            let dns = dns64(
                &[],
                &[
                    ("first.test", "2001:db8:1::2"),
                    ("first.test", "192.0.2.9"),
                    ("later.test", "2001:db8:1::2"),
                    ("later.test", "192.0.2.9"),
                    ("v4.test", "2001:db8:1::2"),
                    ("v4.test", "127.0.0.1"),
                ],
            )
            .await;
            let (_listener, local) = listen("2001:db8:1::2").await?;
            let resolver = Resolver::new(dns.resolver().fit_network(true));
            for name in ["first.test", "later.test"] {
                ConnectionBuilder::new((name, local.port()))
                    .resolver(resolver.clone())
                    .connect()
                    .await
                    .map_err(|e| format!("{name}: {e}"))?;
            }
            check(
                "ipv4only.arpa asked",
                dns.count("ipv4only.arpa", RecordType::AAAA),
                1,
            )?;
            // Once the network is known to have no NAT64, A is not asked.
            check("later.test A", dns.count("later.test", RecordType::A), 0)?;
            check(
                "later.test AAAA",
                dns.count("later.test", RecordType::AAAA),
                1,
            )?;
            // The network becomes IPv4-only: AAAA is no longer asked (once
            // the routes are looked at again, within a second).
            ip("-6 route del default")?;
            ip("addr add 198.51.100.2/24 dev v0")?;
            ip("route add default via 198.51.100.1 dev v0")?;
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let v4 = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let port = v4.local_addr().map_err(|e| e.to_string())?.port();
            let stream = ConnectionBuilder::new(("v4.test", port))
                .resolver(resolver.clone())
                .connect()
                .await
                .map_err(|e| format!("v4.test: {e}"))?;
            check("v4.test AAAA", dns.count("v4.test", RecordType::AAAA), 0)?;
            check(
                "v4.test peer",
                stream.peer_addr().ok(),
                Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
            )
        })
    }

    fn moving() -> Result<(), String> {
        network("2001:db8:1", None)?;
        runtime().block_on(async {
            // [::1] refuses, 127.0.0.1 wins: the history remembers it.
            let v4 = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let port = v4.local_addr().map_err(|e| e.to_string())?.port();
            let target = [
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ];
            let connector = Connector::new();
            let preferred = || async {
                let (_, report) = connector
                    .builder(target)
                    .connect_reported()
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                Ok::<_, String>(report.preferred())
            };
            check("first connect, preferred", preferred().await?, None)?;
            let winner = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
            check("same network, preferred", preferred().await?, winner)?;
            // Another network: another address and default route.
            ip("-6 addr del 2001:db8:1::2/64 dev v0")?;
            ip("-6 addr add 2001:db8:2::2/64 dev v0 nodad")?;
            ip("-6 route replace default via 2001:db8:2::1 dev v0")?;
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            check("another network, preferred", preferred().await?, None)?;
            check("and then", preferred().await?, winner)
        })
    }

    /// The addresses of `name` as the resolver orders them when both
    /// answers are at hand (the second resolution, from the cache).
    async fn order(resolver: &Resolver, name: &str) -> Result<Vec<IpAddr>, String> {
        let _: Vec<_> = resolver.resolve(name, Family::Any).collect().await;
        match resolver.resolve(name, Family::Any).next().await {
            Some(Ok(ips)) => Ok(ips),
            other => Err(format!("{name}: {other:?}")),
        }
    }

    fn ips(s: &str) -> Vec<IpAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    fn link_local_only() -> Result<(), String> {
        // IPv4, and IPv6 with a default route but only a link-local address.
        ip("link set lo up")?;
        ip("link add v0 type veth peer name v1")?;
        ip("link set v0 up")?;
        ip("link set v1 up")?;
        ip("addr add 198.51.100.2/24 dev v0")?;
        ip("route add default via 198.51.100.1 dev v0")?;
        ip("-6 addr add fe80::2/64 dev v0 nodad")?;
        ip("-6 route add default via fe80::1 dev v0")?;
        runtime().block_on(async {
            let dns = dns64(
                &[],
                &[
                    ("both.test", "2001:db8:5::1"),
                    ("both.test", "198.51.100.7"),
                ],
            )
            .await;
            let resolver = Resolver::new(dns.resolver().fit_network(true));
            // Rule 2: the global IPv6 destination's source would be
            // link-local; IPv4's scopes match.
            check(
                "order",
                order(&resolver, "both.test").await?,
                ips("198.51.100.7 2001:db8:5::1"),
            )
        })
    }

    fn two_prefixes() -> Result<(), String> {
        // IPv6 only, with a unique-local and a global prefix: the default
        // route leaves from the global one.
        network("2001:db8:a", None)?;
        ip("-6 addr add fd00:1:2::2/64 dev v0 nodad")?;
        runtime().block_on(async {
            let dns = dns64(
                &[],
                &[
                    // Rule 9: one destination in the source's subnet.
                    ("subnet.test", "2001:db8:c::99"),
                    ("subnet.test", "2001:db8:a::99"),
                    // Rule 5 and the update's known-local row: a
                    // destination in the unique-local source's /48 before
                    // global IPv6; one in another ULA /48 after it.
                    ("ula.test", "fd77::9"),
                    ("ula.test", "2001:db8:c::99"),
                    ("ula.test", "fd00:1:2:3::9"),
                ],
            )
            .await;
            let resolver = Resolver::new(dns.resolver().fit_network(true));
            check(
                "subnet.test",
                order(&resolver, "subnet.test").await?,
                ips("2001:db8:a::99 2001:db8:c::99"),
            )?;
            check(
                "ula.test",
                order(&resolver, "ula.test").await?,
                ips("fd00:1:2:3::9 2001:db8:c::99 fd77::9"),
            )
        })
    }
}
