//! Conformance of the default resolver with glibc's getaddrinfo.
//!
//! `Resolver::default()` (hickory on /etc/resolv.conf and /etc/hosts)
//! stands in for the system's getaddrinfo, so for every configuration a
//! program may meet it should find what getaddrinfo finds. Each case here
//! runs both, side by side, under the case's own /etc/resolv.conf,
//! /etc/hosts and /etc/nsswitch.conf (`hosts: files dns`), against a
//! scripted DNS server on 127.0.0.1:53 (`conformance/dns.rs`), and decides:
//!
//! * for each step, both found the same SET of addresses (order is not
//!   compared), or both failed with the same KIND of failure: not found
//!   (EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY / `NoSuchName`, `NoRecords`),
//!   temporary (EAI_AGAIN / `TimedOut`, `ServerFailure`), or other
//!   (EAI_FAIL, EAI_SYSTEM / `Other`);
//! * neither asked the server for a name the case lists as never to be
//!   asked (a search list applied to an absolute name);
//! * a case marked `Differ` documents a deliberate difference, and fails
//!   if the two ever agree (then it should become `Agree`).
//!
//! How: each case is a trial (libtest-mimic, `harness = false`) that runs
//! this binary again as a child under `unshare --mount --net
//! --propagation private`, with `CONFORMANCE_CASE` naming the case. The
//! child has its own mount and network namespaces: it bind-mounts the
//! case's files over the system's and serves DNS on loopback port 53
//! without touching the machine, and cases run in parallel. The child
//! prints one report line per resolver and step; the parent compares.
//!
//! The suite needs root, `unshare(1)` and `ip(8)`; where it cannot run,
//! every case is reported IGNORED, with the reason on stderr, never as
//! passed. `CONFORMANCE_VERBOSE=1` prints every case's files, results and
//! the queries the server saw, passed or not (a failure always does).
//!
//! Each `Resolve` step also runs through the APIs users call, so that
//! they cannot drift from the resolver (a trailing dot lost on the way):
//! `ConnectionBuilder::new((host, 9)).connect()` and
//! `Connector::new().connect((host, 9))`, reported as `builder` and
//! `connector`. Nothing listens on port 9 and only loopback has a route,
//! so every address fails at once: the attempts in the `ConnectError`
//! are the addresses the resolution gave, and without any its resolver
//! errors decide, as below. Each must agree with getaddrinfo as `ours`
//! does (a `Differ` case expects some report to differ).
//!
//! Our side of a step is the union of the `Ok` batches of
//! `resolve(host, Family::Any)`; with none, the first error's kind
//! decides, as it decides the `io::ErrorKind` of the `ConnectError` a user
//! gets: `TimedOut` or `ServerFailure` is temporary, `NoSuchName` or
//! `NoRecords` not found, anything else "other". For `resolve_service`
//! the set is the addresses of the services' targets (`TargetAddrs`, or
//! the host's own `Addrs` for a target of "."), the host's own when there
//! are no services; hints are not counted (the answers replace them).
//! One child runs one case, so our default resolver's cache lives across
//! the steps of a case and no further.

// Shared with the root package's tests.
#[cfg(target_os = "linux")]
#[path = "../../tests/conformance/mod.rs"]
mod conformance;

#[cfg(target_os = "linux")]
use std::collections::BTreeMap;
#[cfg(target_os = "linux")]
use std::fmt::Write as _;
#[cfg(target_os = "linux")]
use std::process::{Command, Stdio};
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use libtest_mimic::{Arguments, Failed, Trial};

#[cfg(target_os = "linux")]
use conformance::{cases, child, Case, Expect, Report, Step};

#[cfg(target_os = "linux")]
/// The variable naming the case a child runs.
const CASE_VAR: &str = "CONFORMANCE_CASE";
#[cfg(target_os = "linux")]
/// Set (to anything) to print every case's reports, passed or not.
const VERBOSE_VAR: &str = "CONFORMANCE_VERBOSE";
#[cfg(target_os = "linux")]
/// How long a child may take before it is killed.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// Elsewhere there is no glibc to compare with, and no namespaces.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("!!! getaddrinfo conformance suite NOT RUN: it needs Linux (glibc, unshare(1))");
}

#[cfg(target_os = "linux")]
fn main() {
    if let Ok(name) = std::env::var(CASE_VAR) {
        std::process::exit(run_child(&name));
    }
    let mut args = Arguments::from_args();
    // The cases mostly wait (for timeouts, for the other process): more
    // of them at once than there are cores.
    if args.test_threads.is_none() {
        args.test_threads = Some(8);
    }
    let cannot_run = preflight().err();
    if let Some(why) = &cannot_run {
        eprintln!();
        eprintln!("!!! getaddrinfo conformance suite NOT RUN: {why}");
        eprintln!("!!! every case is reported as ignored; run as root on Linux with unshare(1).");
        eprintln!();
    }
    let trials = cases::all()
        .into_iter()
        .map(|case| {
            let name = case.name;
            let why = cannot_run.clone();
            let ignored = why.is_some();
            Trial::test(name, move || match why {
                Some(why) => Err(format!("cannot run: {why}").into()),
                None => run_case(case),
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

#[cfg(target_os = "linux")]
/// Whether the suite can run here: root, and `unshare` can make the
/// namespaces in which `ip` brings the loopback interface up.
fn preflight() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("not Linux".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root (bind mounts over /etc need CAP_SYS_ADMIN)".into());
    }
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "--"])
        .args(["ip", "link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `unshare`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`unshare --mount --net -- ip link set lo up` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
/// The child's side: run the case named `name`.
fn run_child(name: &str) -> i32 {
    let Some(case) = cases::all().into_iter().find(|c| c.name == name) else {
        eprintln!("no case named {name:?}");
        return 2;
    };
    match child::run(case) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("case {name}: setup failed: {e}");
            3
        }
    }
}

#[cfg(target_os = "linux")]
/// The parent's side: run the case in a child and compare its reports.
fn run_case(case: Case) -> Result<(), Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let started = Instant::now();
    let dir =
        std::env::temp_dir().join(format!("conformance-{}-{}", std::process::id(), case.name));
    let result = run_child_of(&case, &exe, &dir, started);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(target_os = "linux")]
/// Runs the child for `case` (its files in `dir`) and judges its reports.
fn run_child_of(
    case: &Case,
    exe: &std::path::Path,
    dir: &std::path::Path,
    started: Instant,
) -> Result<(), Failed> {
    let mut child = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "--"])
        .arg(exe)
        .env(CASE_VAR, case.name)
        .env(child::DIR_VAR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    // Read both pipes on threads so a chatty child never blocks.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting: {e}"))? {
            break status;
        }
        if started.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("case {}: child killed after {CHILD_LIMIT:?}", case.name).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "case {}: child failed ({status})\nstderr:\n{stderr}\nstdout:\n{stdout}",
            case.name
        )
        .into());
    }
    let reports: Vec<Report> = stdout.lines().filter_map(Report::parse).collect();
    if std::env::var_os(VERBOSE_VAR).is_some() {
        eprintln!("case {}:\n{}", case.name, describe(case, &reports));
    }
    judge(case, &reports).map_err(|problems| {
        let mut msg = format!("case {}: {problems}\n", case.name);
        msg.push_str(&describe(case, &reports));
        msg.into()
    })
}

#[cfg(target_os = "linux")]
/// Whether the reports meet the case's expectation; `Err` says why not.
fn judge(case: &Case, reports: &[Report]) -> Result<(), String> {
    // Per step: getaddrinfo's report, and ours (`resolve`), then the
    // builder's and the connector's for a `Resolve` step.
    let mut by_step: BTreeMap<usize, (Option<&Report>, Vec<&Report>)> = BTreeMap::new();
    for r in reports {
        let entry = by_step.entry(r.step).or_default();
        match r.who.as_str() {
            "getaddrinfo" => entry.0 = Some(r),
            _ => entry.1.push(r),
        }
    }
    let mut problems = Vec::new();
    let mut differing = Vec::new();
    for (i, step) in case.steps.iter().enumerate() {
        if matches!(step, Step::Recover) {
            continue;
        }
        let wanted: &[&str] = match step {
            Step::Resolve(_) => &["ours", "builder", "connector"],
            _ => &["ours"],
        };
        match by_step.get(&i) {
            Some((Some(gai), others)) => {
                for who in wanted {
                    let Some(r) = others.iter().find(|r| r.who == *who) else {
                        problems.push(format!("step {i}: no report from {who}"));
                        continue;
                    };
                    if gai.outcome != r.outcome {
                        differing.push(format!(
                            "step {i} ({}): getaddrinfo {} but {who} {}",
                            step.label(),
                            gai.outcome,
                            r.outcome
                        ));
                    }
                }
            }
            _ => problems.push(format!("step {i}: no report from the child")),
        }
    }
    for r in reports {
        for name in &case.never_asked {
            let asked = r
                .queries
                .split_whitespace()
                .any(|q| q.split('/').next() == Some(*name));
            if asked {
                problems.push(format!(
                    "step {}: {} asked for {name}, which it must never ask",
                    r.step, r.who
                ));
            }
        }
    }
    match &case.expect {
        Expect::Agree => problems.extend(differing),
        Expect::Differ { why } => {
            if differing.is_empty() {
                problems.push(format!(
                    "expected a documented difference ({why}), but both agree: make it Agree"
                ));
            } else {
                eprintln!(
                    "case {}: differs as documented ({why}): {}",
                    case.name,
                    differing.join("; ")
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

#[cfg(target_os = "linux")]
/// The case's files and every report, for a human.
fn describe(case: &Case, reports: &[Report]) -> String {
    let mut s = String::new();
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("    | {l}\n"))
            .collect::<String>()
    };
    let _ = write!(
        s,
        "  /etc/resolv.conf:\n{}  /etc/hosts:\n{}",
        indent(&case.resolv_conf),
        indent(&case.hosts)
    );
    let _ = writeln!(
        s,
        "  servers up: {:?}; silent: {:?}",
        case.servers, case.mute
    );
    for (i, step) in case.steps.iter().enumerate() {
        if matches!(step, Step::Recover) {
            let _ = writeln!(s, "  step {i}: {}", step.label());
            continue;
        }
        let _ = writeln!(s, "  step {i}: {}", step.label());
        for r in reports.iter().filter(|r| r.step == i) {
            let _ = writeln!(
                s,
                "    {:<11} {} in {} ms: {}\n                asked: {}",
                r.who,
                r.outcome,
                r.millis,
                r.detail,
                if r.queries.is_empty() {
                    "(nothing)"
                } else {
                    &r.queries
                }
            );
        }
    }
    s
}
