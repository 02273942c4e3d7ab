//! The child side: one case, inside its own mount and network namespaces
//! (the parent started us under `unshare --mount --net`).
//!
//! It brings `lo` up, bind-mounts the case's resolv.conf, hosts and
//! nsswitch.conf (`hosts: files dns`) over the system's, starts the case's
//! DNS server(s), and runs each step with glibc's getaddrinfo and then
//! with our default resolver, the server's per-run state reset before
//! each. Each result is printed as one report line (see [`Report`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, Connector, Family, Resolve, ResolveError,
    ResolveErrorKind, Resolved, Resolver,
};

use super::dns::Server;
use super::{Case, Outcome, Report, Step};

/// The nsswitch.conf every case runs under.
const NSSWITCH: &str = "hosts: files dns\n";

/// The variable naming the directory the case's files are written to.
pub const DIR_VAR: &str = "CONFORMANCE_DIR";

/// How long one resolver may take for one step before it counts as hung.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// glibc's values of its non-POSIX error codes (the libc crate does not
/// define them for glibc).
const EAI_NODATA: i32 = -5;
const EAI_ADDRFAMILY: i32 = -9;

/// Runs `case` and prints its reports; `Err` if the namespace could not be
/// set up.
pub fn run(case: Case) -> Result<(), String> {
    setup_files(&case)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let server = Server::start(case.zone.clone(), &case.servers, &case.mute)
            .await
            .map_err(|e| format!("DNS server on {:?} port 53: {e}", case.servers))?;
        for (i, step) in case.steps.iter().enumerate() {
            let (gai_name, ours) = match step {
                Step::Recover => {
                    server.recover();
                    continue;
                }
                Step::Resolve(host) => (*host, None),
                Step::Service { host, reference } => (*reference, Some(*host)),
            };
            server.new_run();
            let started = Instant::now();
            let name = gai_name.to_string();
            let (outcome, detail) = tokio::task::spawn_blocking(move || getaddrinfo(&name))
                .await
                .map_err(|e| format!("getaddrinfo thread: {e}"))?;
            report(i, "getaddrinfo", outcome, detail, started, &server);

            server.new_run();
            let started = Instant::now();
            let resolver = Resolver::default();
            let ours = match ours {
                None => tokio::time::timeout(STEP_LIMIT, resolve(&resolver, gai_name)).await,
                Some(host) => tokio::time::timeout(STEP_LIMIT, service(&resolver, host)).await,
            };
            let (outcome, detail) =
                ours.unwrap_or_else(|_| (Outcome::Failed, format!("hung for {STEP_LIMIT:?}")));
            report(i, "ours", outcome, detail, started, &server);

            // The same name through the APIs users call, so that they
            // cannot drift from `resolve` (a trailing dot lost on the way).
            if let Step::Resolve(host) = step {
                for who in [Via::Builder, Via::Connector] {
                    server.new_run();
                    let started = Instant::now();
                    let got = tokio::time::timeout(STEP_LIMIT, connect(who, host)).await;
                    let (outcome, detail) = got
                        .unwrap_or_else(|_| (Outcome::Failed, format!("hung for {STEP_LIMIT:?}")));
                    report(i, who.name(), outcome, detail, started, &server);
                }
            }
        }
        Ok(())
    })
}

fn report(
    step: usize,
    who: &str,
    outcome: Outcome,
    detail: String,
    started: Instant,
    server: &Server,
) {
    let queries: Vec<String> = server
        .log()
        .iter()
        .map(|q| {
            let tcp = if q.tcp { "/tcp" } else { "" };
            let at = if q.server == IpAddr::from([127, 0, 0, 1]) {
                String::new()
            } else {
                format!("@{}", q.server)
            };
            format!("{}/{}{tcp}{at}", q.name, q.rtype)
        })
        .collect();
    let line = Report {
        step,
        who: who.to_string(),
        outcome,
        detail,
        millis: started.elapsed().as_millis(),
        queries: queries.join(" "),
    }
    .line();
    println!("{line}");
}

/// `lo` up, and the case's files over the system's.
fn setup_files(case: &Case) -> Result<(), String> {
    let ip = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("running `ip link set lo up`: {e}"))?;
    if !ip.success() {
        return Err(format!("`ip link set lo up` failed: {ip}"));
    }
    // The parent names the directory (and removes it when we are done).
    let dir = std::env::var_os(DIR_VAR)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("conformance-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (file, text) in [
        ("resolv.conf", case.resolv_conf.as_str()),
        ("hosts", case.hosts.as_str()),
        ("nsswitch.conf", NSSWITCH),
    ] {
        let ours = dir.join(file);
        std::fs::write(&ours, text).map_err(|e| format!("{}: {e}", ours.display()))?;
        bind(&ours, &Path::new("/etc").join(file))?;
    }
    Ok(())
}

fn bind(from: &Path, onto: &Path) -> Result<(), String> {
    let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).expect("a path without NUL");
    let (src, dst) = (c(from), c(onto));
    // SAFETY: both are NUL-terminated paths; a bind mount reads no data.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "bind-mounting {} over {}: {e}",
            from.display(),
            onto.display()
        ));
    }
    Ok(())
}

/// glibc's getaddrinfo(host, NULL, {AF_UNSPEC, SOCK_STREAM}).
fn getaddrinfo(host: &str) -> (Outcome, String) {
    let Ok(name) = CString::new(host) else {
        return (Outcome::Failed, "a NUL in the name".into());
    };
    // SAFETY: a zeroed addrinfo is a valid hints value (no flags, any
    // protocol); the result list is freed below, once read.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut list: *mut libc::addrinfo = std::ptr::null_mut();
        let rc = libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut list);
        if rc != 0 {
            let text = CStr::from_ptr(libc::gai_strerror(rc)).to_string_lossy();
            let (outcome, code) = match rc {
                libc::EAI_NONAME => (Outcome::NotFound, "EAI_NONAME"),
                EAI_NODATA => (Outcome::NotFound, "EAI_NODATA"),
                EAI_ADDRFAMILY => (Outcome::NotFound, "EAI_ADDRFAMILY"),
                libc::EAI_AGAIN => (Outcome::Temporary, "EAI_AGAIN"),
                libc::EAI_FAIL => (Outcome::Failed, "EAI_FAIL"),
                libc::EAI_SYSTEM => (Outcome::Failed, "EAI_SYSTEM"),
                _ => (Outcome::Failed, "EAI_?"),
            };
            return (outcome, format!("{code} ({rc}): {text}"));
        }
        let mut addrs = Vec::new();
        let mut p = list;
        while !p.is_null() {
            let ai = &*p;
            match ai.ai_family {
                libc::AF_INET => {
                    let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
                    addrs.push(IpAddr::from(
                        u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    ));
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ai.ai_addr as *const libc::sockaddr_in6);
                    addrs.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                }
                _ => {}
            }
            p = ai.ai_next;
        }
        libc::freeaddrinfo(list);
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        (
            Outcome::Addrs(addrs.into_iter().collect()),
            format!("ok [{}]", shown.join(", ")),
        )
    }
}

/// The kind of failure our errors add up to, as a user sees it: the
/// first error's (a `ConnectError` made from a resolution failure takes
/// its `io::ErrorKind` from the first resolver error). Temporary for a
/// timeout or a server failure, "not found" for no such name or no
/// records, else failed.
fn classify(errors: &[ResolveError]) -> Outcome {
    match errors.first().map(ResolveError::kind) {
        Some(ResolveErrorKind::TimedOut | ResolveErrorKind::ServerFailure) => Outcome::Temporary,
        Some(ResolveErrorKind::NoSuchName | ResolveErrorKind::NoRecords) | None => {
            Outcome::NotFound
        }
        Some(_) => Outcome::Failed,
    }
}

fn describe_errors(errors: &[ResolveError]) -> String {
    let list: Vec<String> = errors
        .iter()
        .map(|e| format!("{:?}: {e}", e.kind()))
        .collect();
    list.join("; ")
}

/// Our `resolve(host, Family::Any)`: the union of its address batches, or
/// the kind of its errors.
async fn resolve(resolver: &Resolver, host: &str) -> (Outcome, String) {
    let items: Vec<_> = resolver.resolve(host, Family::Any).collect().await;
    let mut addrs = BTreeSet::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(batch) => addrs.extend(batch),
            Err(e) => errors.push(e),
        }
    }
    let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let mut detail = format!("ok [{}]", shown.join(", "));
    if !errors.is_empty() {
        let _ = write!(detail, "; errors: {}", describe_errors(&errors));
    }
    if addrs.is_empty() {
        return (classify(&errors), describe_errors(&errors));
    }
    (Outcome::Addrs(addrs), detail)
}

/// Our `resolve_service(host, 443, Family::Any)`: the addresses a
/// connection would use. With ServiceMode records, those of their targets
/// (the host's own for a record whose target is the host); without any,
/// or when the targets have no addresses, the host's own.
async fn service(resolver: &Resolver, host: &str) -> (Outcome, String) {
    let items: Vec<_> = resolver
        .resolve_service(host, 443, Family::Any)
        .collect()
        .await;
    let mut own = BTreeSet::new();
    let mut services = Vec::new();
    let mut targets: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(Resolved::Addrs(batch)) => own.extend(batch),
            Ok(Resolved::Services(records)) => services = records,
            Ok(Resolved::TargetAddrs { target, addrs }) => {
                targets.entry(target).or_default().extend(addrs)
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut chosen = BTreeSet::new();
    for record in &services {
        if record.is_for_owner() {
            chosen.extend(own.iter().copied());
        } else if let Some(addrs) = targets.get(record.target()) {
            chosen.extend(addrs.iter().copied());
        }
    }
    if chosen.is_empty() {
        chosen = own.clone();
    }
    let listed: Vec<String> = services
        .iter()
        .map(|s| {
            format!(
                "{} {} hints {:?} {:?}",
                s.priority(),
                s.target(),
                s.ipv4_hints(),
                s.ipv6_hints()
            )
        })
        .collect();
    let mut detail = format!(
        "services [{}]; targets {targets:?}; own {own:?}",
        listed.join(", ")
    );
    if !errors.is_empty() {
        let _ = write!(detail, "; errors: {}", describe_errors(&errors));
    }
    if chosen.is_empty() {
        return (classify(&errors), detail);
    }
    (Outcome::Addrs(chosen), detail)
}

/// The user-facing ways to connect that each `Resolve` step also takes.
#[derive(Clone, Copy)]
enum Via {
    /// `ConnectionBuilder::new((host, port)).connect()`.
    Builder,
    /// `Connector::new().connect((host, port))`.
    Connector,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Builder => "builder",
            Via::Connector => "connector",
        }
    }
}

/// A connect to `host` on a port where nothing listens, in a namespace
/// where only loopback has a route: every address fails at once (refused
/// or unreachable), so the attempts are every address the resolution
/// gave, and with none the resolver's errors decide, as in [`resolve`].
async fn connect(via: Via, host: &str) -> (Outcome, String) {
    const PORT: u16 = 9;
    let result = match via {
        Via::Builder => ConnectionBuilder::new((host, PORT)).connect().await,
        Via::Connector => Connector::new().connect((host, PORT)).await,
    };
    let e = match result {
        Ok(stream) => {
            return (
                Outcome::Failed,
                format!(
                    "connected to {:?}: something listens on port {PORT}",
                    stream.peer_addr()
                ),
            )
        }
        Err(e) => e,
    };
    let tried: BTreeSet<IpAddr> = e.attempts().iter().map(|a| a.addr().ip()).collect();
    let detail = format!("{e}");
    if !tried.is_empty() {
        return (Outcome::Addrs(tried), detail);
    }
    if e.kind() == ConnectErrorKind::InvalidInput {
        return (Outcome::Failed, detail);
    }
    (classify(e.resolve_errors()), detail)
}
