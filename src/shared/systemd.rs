//! Socket activation: the sockets systemd (or any service manager speaking
//! its protocol, `sd_listen_fds(3)`) passes on fd 3 and up, read once and
//! kept in a table of this process for the server side (listening TCP and
//! Unix stream sockets) and the datagram side (UDP sockets).
//!
//! # What is trusted, and why
//!
//! The protocol is three environment variables: `LISTEN_FDS` (how many
//! sockets, from fd 3), `LISTEN_PID` (the process they are for) and
//! `LISTEN_FDNAMES` (their names, colon-separated, from `FileDescriptorName=`).
//! A child inherits its parent's environment, so a process started by a
//! socket-activated one sees variables that were never meant for it, and
//! the descriptors they name are whatever that child has there. So:
//!
//! * the sockets are taken only when `LISTEN_PID` is this process (a child
//!   has a pid of its own, so it takes nothing);
//! * `LISTEN_FDS` is bounded (`MAX_LISTEN_FDS`, 4096): a corrupt value is
//!   refused, not walked through a billion descriptors;
//! * every descriptor gets `FD_CLOEXEC` first (systemd passes them
//!   without), before any check can refuse one, so programs the process
//!   starts inherit none of them, taken or not;
//! * each is then sorted by kind: a listening stream socket, TCP or Unix
//!   (for the server side); a UDP socket (for `DatagramBuilder`); anything
//!   else (a Unix datagram socket, a FIFO from `ListenFIFO=`, a netlink
//!   socket) is left alone. A stream socket that is not listening (with
//!   `Accept=yes` systemd passes one connection, not a listening socket)
//!   and a descriptor that is not open are errors naming the fd;
//! * the sockets are kept in a table of this process for later calls (one
//!   per name: `from_systemd_named("web")`, then `("admin")`), each taken
//!   once, so two owners never close the same descriptor.
//!
//! The environment is **not** changed: `std::env::remove_var` while other
//! threads may read the environment (a resolver calling `getaddrinfo`, a
//! logger reading `TZ`) is undefined behaviour in C's `getenv`, which is
//! why `remove_var` is `unsafe` in Rust 2024. A program that wants its
//! children not to see the variables removes them where it is safe to:
//! [`unset_systemd_environment`] (an `unsafe fn`, called before threads
//! start), or `Command::env_remove` on each child. Children are safe
//! without either, by the `LISTEN_PID` check; only a program that `exec`s
//! in place (same pid) must remove them first.
//!
//! # The precondition
//!
//! The descriptors from fd 3 are taken as this process's own: no other
//! code in the process may have adopted them (another socket-activation
//! library, `sd_listen_fds` from C, a `File::from_raw_fd(3)`). Two owners
//! of one descriptor close it twice, and the second close may close an
//! unrelated file that reused the number. The table makes the takes of
//! this crate safe among themselves; code outside it must leave fd 3 and
//! up alone.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use socket2::{Domain, SockRef, Type};

use crate::shared::report::Brief;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The most sockets `LISTEN_FDS` may announce: a larger number is refused
/// as corrupt (nothing is taken). Far above what a service is passed (one
/// per `Listen*=` line of its socket units), and it bounds the work.
pub(crate) const MAX_LISTEN_FDS: usize = 4096;

/// The three variables of the protocol.
const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// What a passed socket is, for the side that may take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A listening TCP socket (`ListenStream=8080`).
    Tcp,
    /// A listening Unix stream socket (`ListenStream=/run/app.sock`).
    Unix,
    /// A UDP socket (`ListenDatagram=5353`).
    Udp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "TCP",
            Kind::Unix => "Unix stream",
            Kind::Udp => "UDP",
        }
    }

    /// Where a socket of this kind is taken.
    fn taken_by(self) -> &'static str {
        match self {
            Kind::Tcp => "ServerBuilder::from_systemd",
            Kind::Unix => "ServerBuilder::systemd_unix_listeners",
            Kind::Udp => "DatagramBuilder::from_systemd",
        }
    }
}

/// What one passed descriptor turned out to be.
#[derive(Debug)]
enum Found {
    /// A socket of a kind some side takes; `None` once taken.
    Socket(Kind, Option<OwnedFd>),
    /// Refused for the takes of this kind (a stream socket that is not
    /// listening), or of every kind (`None`: not open, so `LISTEN_FDS`
    /// does not describe this process).
    Refused(Option<Kind>, String),
    /// Something no side takes: skipped unless asked for by name.
    Other(String),
}

/// One descriptor systemd passed, its name, and what it is.
#[derive(Debug)]
struct Passed {
    fd: RawFd,
    name: String,
    found: Found,
}

/// What systemd passed, read once.
static PASSED: Mutex<Option<Result<Vec<Passed>, String>>> = Mutex::new(None);

/// Removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the
/// environment, as `sd_listen_fds(1)` does, so programs this process
/// starts do not see them. Reading the sockets never changes the
/// environment (see *Safety*); call this where changing it is safe, before
/// or after the sockets are taken: the sockets are read the first time
/// any `from_systemd` function runs, and a call after this one finds no
/// variables.
///
/// Children are protected without it: the variables name the process
/// they are for (`LISTEN_PID`), and every passed socket is close-on-exec
/// once read. It matters for a program that `exec`s in place (the same
/// pid) and for tidiness; `Command::env_remove` per child is the safe
/// alternative.
///
/// # Safety
///
/// As [`std::env::remove_var`]: no other thread may read or write the
/// environment at the same time, through Rust or C (`getenv`, which
/// `getaddrinfo`, time zone and locale code call). Call it at the start of
/// `main`, before a Tokio runtime (or any other thread) starts.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ServerBuilder;
///
/// fn main() -> std::io::Result<()> {
///     // Read the sockets, then tidy the environment, before any thread.
///     let builder = ServerBuilder::from_systemd();
///     // SAFETY: no other thread runs yet.
///     unsafe { tokio_endpoints::unset_systemd_environment() };
///     tokio::runtime::Runtime::new()?.block_on(async {
///         let server = builder.serve(|_stream, _peer| async {}).await?;
///         server.wait_closed().await;
///         Ok(())
///     })
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub unsafe fn unset_systemd_environment() {
    for var in VARIABLES {
        // SAFETY: the caller's promise, as this function's contract says.
        unsafe { std::env::remove_var(var) };
    }
}

fn read_environment() -> Result<Vec<Passed>, String> {
    let var = |name| std::env::var(name).ok();
    let (pid, fds, names) = (var("LISTEN_PID"), var("LISTEN_FDS"), var("LISTEN_FDNAMES"));
    let fds = fds.ok_or(
        "LISTEN_FDS is not set: this process was not started by systemd socket activation \
         (a .socket unit, or systemd-socket-activate)",
    )?;
    let pid = pid.ok_or(
        "LISTEN_PID is not set: systemd sets it to the process the sockets are for; none taken",
    )?;
    let me = std::process::id();
    if pid.trim().parse::<u32>() != Ok(me) {
        return Err(format!(
            "LISTEN_PID is {pid}, not this process ({me}): the sockets were passed to another \
             process (a parent that left the variables set); none taken"
        ));
    }
    let n: usize = fds
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS is {fds:?}, not a number of sockets; none taken"))?;
    if n > MAX_LISTEN_FDS {
        return Err(format!(
            "LISTEN_FDS is {n}, more than the {MAX_LISTEN_FDS} sockets a process is passed \
             (a corrupt environment?); none taken"
        ));
    }
    let names: Vec<String> = match names {
        Some(list) => {
            let names: Vec<String> = list.split(':').map(str::to_string).collect();
            if names.len() != n {
                return Err(format!(
                    "LISTEN_FDNAMES names {} sockets ({list:?}), but LISTEN_FDS is {n}; none \
                     taken",
                    names.len()
                ));
            }
            names
        }
        // systemd's name for a socket without FileDescriptorName=.
        None => vec!["unknown".to_string(); n],
    };
    // n ≤ MAX_LISTEN_FDS, so the descriptor numbers fit.
    let fds: Vec<RawFd> = (0..n).map(|i| FIRST_FD + i as RawFd).collect();
    // Close-on-exec first, before any check can return: nothing passed
    // leaks into a program started later, whatever it turns out to be.
    let open: Vec<Result<(), String>> = fds.iter().map(|&fd| close_on_exec(fd)).collect();
    Ok(fds
        .into_iter()
        .zip(names)
        .zip(open)
        .map(|((fd, name), open)| {
            let found = match open {
                Err(why) => Found::Refused(None, why),
                Ok(()) => sort(fd),
            };
            Passed { fd, name, found }
        })
        .collect())
}

/// Sets `FD_CLOEXEC` on `fd`, or says why not (not open).
fn close_on_exec(fd: RawFd) -> Result<(), String> {
    // SAFETY: F_GETFD only reads the descriptor's flags; on a descriptor
    // that is not open it fails with EBADF and touches nothing.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        let e = io::Error::last_os_error();
        return Err(format!("is not open: {}", Brief(&e)));
    }
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: sets a flag on an open descriptor.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            let e = io::Error::last_os_error();
            return Err(format!("FD_CLOEXEC: {}", Brief(&e)));
        }
    }
    Ok(())
}

/// What the open descriptor `fd` is; takes it when it is a socket some
/// side takes.
fn sort(fd: RawFd) -> Found {
    let brief = |e: &io::Error| Brief(e).to_string();
    // SAFETY: the descriptor is open (close_on_exec checked it) and stays
    // open while borrowed: systemd passed it to this process (LISTEN_PID
    // is ours), nothing else in the process owns it (the module's
    // precondition), and it is read once, under the table's lock.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let ty = match sock.r#type() {
        Ok(ty) => ty,
        Err(e) => {
            return Found::Other(format!(
                "is not a socket ({}; a FIFO or file from ListenFIFO= or ListenSpecial=?)",
                brief(&e)
            ))
        }
    };
    // The family of its address (getsockname), which every platform has;
    // `SO_DOMAIN` is Linux's.
    let domain = match sock.local_addr() {
        Ok(addr) => addr.domain(),
        Err(e) => return Found::Other(format!("getsockname: {}", brief(&e))),
    };
    let ip = domain == Domain::IPV4 || domain == Domain::IPV6;
    let kind = if ty == Type::STREAM && ip {
        Kind::Tcp
    } else if ty == Type::STREAM && domain == Domain::UNIX {
        Kind::Unix
    } else if ty == Type::DGRAM && ip {
        Kind::Udp
    } else {
        return Found::Other(format!(
            "is a socket no builder takes ({domain:?}, {ty:?}; TCP and Unix stream sockets \
             serve through ServerBuilder, UDP sockets through DatagramBuilder)"
        ));
    };
    if kind != Kind::Udp {
        match crate::sys::is_listening(&sock) {
            Ok(Some(true) | None) => {}
            Ok(Some(false)) => {
                return Found::Refused(
                    Some(kind),
                    "is not listening (SO_ACCEPTCONN is off): with Accept=yes systemd passes \
                     one connection, not a listening socket; use Accept=no"
                        .to_string(),
                )
            }
            Err(e) => return Found::Refused(Some(kind), format!("SO_ACCEPTCONN: {}", brief(&e))),
        }
    }
    // SAFETY: systemd passed the descriptor for this process to own (see
    // above); this is the only place it is taken, once.
    Found::Socket(kind, Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Takes the sockets of `kind` (named `name`, if given) not taken yet: all
/// of them, or the first when `one`. Without a name, descriptors of other
/// kinds are skipped; with one, a descriptor of that name that is not of
/// `kind` is an error.
pub(crate) fn take(name: Option<&str>, kind: Kind, one: bool) -> Result<Vec<OwnedFd>, String> {
    let mut table = PASSED.lock().unwrap_or_else(|e| e.into_inner());
    let passed = match table.get_or_insert_with(read_environment) {
        Ok(passed) => passed,
        Err(why) => return Err(why.clone()),
    };
    let refused = |p: &Passed, why: &str| format!("fd {} ({}) from systemd {why}", p.fd, p.name);
    let mut chosen = Vec::new();
    let mut taken_before = false;
    for (i, p) in passed.iter().enumerate() {
        if name.is_some_and(|n| n != p.name) {
            continue;
        }
        match &p.found {
            Found::Refused(of, why) if of.is_none_or(|of| of == kind) || name.is_some() => {
                return Err(refused(p, why));
            }
            Found::Other(why) if name.is_some() => return Err(refused(p, why)),
            Found::Socket(k, _) if *k != kind && name.is_some() => {
                return Err(refused(
                    p,
                    &format!("is a {} socket: take it with {}", k.name(), k.taken_by()),
                ));
            }
            Found::Socket(k, Some(_)) if *k == kind => chosen.push(i),
            Found::Socket(k, None) if *k == kind => taken_before = true,
            _ => {}
        }
    }
    if one {
        chosen.truncate(1);
    }
    if chosen.is_empty() {
        let named = name.map(|n| format!(" named {n:?}")).unwrap_or_default();
        if taken_before {
            return Err(format!(
                "the {} sockets systemd passed{named} were taken by an earlier call",
                kind.name()
            ));
        }
        let names: Vec<&str> = passed.iter().map(|p| p.name.as_str()).collect();
        return Err(match name {
            Some(name) => format!(
                "systemd passed no socket named {name:?} (the names, LISTEN_FDNAMES: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            None => format!(
                "systemd passed no {} socket ({} sockets in all{})",
                kind.name(),
                passed.len(),
                others(passed)
            ),
        });
    }
    Ok(chosen
        .into_iter()
        .filter_map(|i| match &mut passed[i].found {
            Found::Socket(_, socket) => socket.take(),
            _ => None,
        })
        .collect())
}

/// What else was passed, for an error that found nothing of its kind.
fn others(passed: &[Passed]) -> String {
    let list: Vec<String> = passed
        .iter()
        .map(|p| match &p.found {
            Found::Socket(kind, _) => format!("fd {} ({}): {}", p.fd, p.name, kind.name()),
            Found::Refused(_, why) | Found::Other(why) => {
                format!("fd {} ({}) {why}", p.fd, p.name)
            }
        })
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!(": {}", list.join("; "))
    }
}
