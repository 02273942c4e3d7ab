//! Socket activation: the listening sockets systemd (or any service
//! manager speaking its protocol, `sd_listen_fds(3)`) passes on fd 3 and
//! up.
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
//! * the sockets are taken only when `LISTEN_PID` is this process;
//! * the three variables are removed when they are first read (as
//!   `sd_listen_fds(1)` does), so children do not see them, and the
//!   sockets are kept in a table of this process for later calls (one per
//!   name: `from_systemd_named("web")`, then `("admin")`);
//! * each descriptor is checked to be a socket, a stream socket, listening
//!   (`SO_ACCEPTCONN`, where the platform reports it), and TCP or Unix;
//!   one that is not is an error naming its fd (with `Accept=yes` systemd
//!   passes a connection, not a listening socket);
//! * each gets `FD_CLOEXEC` (systemd passes them without), so programs the
//!   server starts do not inherit them.
//!
//! TCP sockets serve through a [`ServerBuilder`] like any other; Unix
//! sockets are handed out as std listeners
//! ([`ServerBuilder::systemd_unix_listeners`]), since a [`Listener`](crate::Listener)
//! is of TCP streams.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use socket2::{Domain, SockRef, Type};

use super::builder::{ServerBuilder, Source};
use super::error::ServerError;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Unix,
}

/// One descriptor systemd passed: its name, and the socket (until taken)
/// or why it is not one.
#[derive(Debug)]
struct Passed {
    fd: RawFd,
    name: String,
    socket: Result<(Kind, Option<OwnedFd>), String>,
}

/// What systemd passed, read once: the environment is removed after it.
static PASSED: Mutex<Option<Result<Vec<Passed>, String>>> = Mutex::new(None);

fn read_environment() -> Result<Vec<Passed>, String> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
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
    let n: RawFd = fds
        .trim()
        .parse()
        .ok()
        .filter(|n| (0..=(RawFd::MAX - FIRST_FD)).contains(n))
        .ok_or(format!("LISTEN_FDS is {fds:?}, not a number of sockets"))?;
    let names: Vec<String> = match names {
        Some(list) => {
            let names: Vec<String> = list.split(':').map(str::to_string).collect();
            if names.len() != n as usize {
                return Err(format!(
                    "LISTEN_FDNAMES names {} sockets ({list:?}), but LISTEN_FDS is {n}",
                    names.len()
                ));
            }
            names
        }
        // systemd's name for a socket without FileDescriptorName=.
        None => vec!["unknown".to_string(); n as usize],
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let fd = FIRST_FD + i as RawFd;
            let socket = check(fd, &name).map(|(kind, owned)| (kind, Some(owned)));
            Passed { fd, name, socket }
        })
        .collect())
}

/// Checks that `fd` is a listening stream socket, TCP or Unix, sets
/// `FD_CLOEXEC` and takes it.
fn check(fd: RawFd, name: &str) -> Result<(Kind, OwnedFd), String> {
    let refused = |what: String| format!("fd {fd} ({name}) from systemd {what}");
    let brief = |e: &io::Error| crate::shared::report::Brief(e).to_string();
    // SAFETY: F_GETFD only reads the descriptor's flags; on a descriptor
    // that is not open it fails with EBADF and touches nothing.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        let e = io::Error::last_os_error();
        return Err(refused(format!("is not open: {}", brief(&e))));
    }
    // SAFETY: the descriptor is open (checked above) and stays open while
    // borrowed: systemd passed it to this process (LISTEN_PID is ours),
    // nothing else in the process owns it, and it is read once, under the
    // table's lock.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let ty = sock
        .r#type()
        .map_err(|e| refused(format!("is not a socket: {}", brief(&e))))?;
    if ty != Type::STREAM {
        return Err(refused(format!(
            "is not a stream socket ({ty:?}; ListenDatagram= sockets are for DatagramBuilder)"
        )));
    }
    match crate::sys::is_listening(&sock) {
        Ok(Some(true) | None) => {}
        Ok(Some(false)) => {
            return Err(refused(
                "is not listening (SO_ACCEPTCONN is off): with Accept=yes systemd passes one \
                 connection, not a listening socket; use Accept=no"
                    .to_string(),
            ))
        }
        Err(e) => return Err(refused(format!("SO_ACCEPTCONN: {}", brief(&e)))),
    }
    let domain = sock
        .domain()
        .map_err(|e| refused(format!("SO_DOMAIN: {}", brief(&e))))?;
    let kind = if domain == Domain::IPV4 || domain == Domain::IPV6 {
        Kind::Tcp
    } else if domain == Domain::UNIX {
        Kind::Unix
    } else {
        return Err(refused(format!(
            "is neither a TCP nor a Unix socket ({domain:?})"
        )));
    };
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: sets a flag on an open descriptor.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            let e = io::Error::last_os_error();
            return Err(refused(format!("FD_CLOEXEC: {}", brief(&e))));
        }
    }
    // SAFETY: systemd passed the descriptor for this process to own (see
    // above); this is the only place it is taken, once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((kind, owned))
}

/// Takes the sockets of `kind` (named `name`, if given) not taken yet.
fn take(name: Option<&str>, kind: Kind) -> Result<Vec<OwnedFd>, String> {
    let mut table = PASSED.lock().unwrap_or_else(|e| e.into_inner());
    let passed = match table.get_or_insert_with(read_environment) {
        Ok(passed) => passed,
        Err(why) => return Err(why.clone()),
    };
    let other = match kind {
        Kind::Tcp => "a Unix socket: take it with ServerBuilder::systemd_unix_listeners",
        Kind::Unix => "a TCP socket: serve it with ServerBuilder::from_systemd",
    };
    let mut chosen = Vec::new();
    for p in passed.iter() {
        if name.is_some_and(|n| n != p.name) {
            continue;
        }
        match &p.socket {
            Err(why) => return Err(why.clone()),
            Ok((k, _)) if *k != kind => {
                if name.is_some() {
                    return Err(format!("fd {} ({}) from systemd is {other}", p.fd, p.name));
                }
            }
            Ok(_) => chosen.push(p.fd),
        }
    }
    let what = match kind {
        Kind::Tcp => "TCP",
        Kind::Unix => "Unix",
    };
    if chosen.is_empty() {
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
                "systemd passed no {what} socket ({} sockets in all)",
                passed.len()
            ),
        });
    }
    let owned: Vec<OwnedFd> = passed
        .iter_mut()
        .filter(|p| chosen.contains(&p.fd))
        .filter_map(|p| match &mut p.socket {
            Ok((_, socket)) => socket.take(),
            Err(_) => None,
        })
        .collect();
    if owned.is_empty() {
        return Err(format!(
            "the {what} sockets systemd passed{} were taken by an earlier call",
            name.map(|n| format!(" named {n:?}")).unwrap_or_default()
        ));
    }
    Ok(owned)
}

/// Socket activation: the listening sockets systemd passed.
impl ServerBuilder {
    /// A builder for every TCP socket systemd passed this process (socket
    /// activation: `LISTEN_FDS` sockets from fd 3, for the process
    /// `LISTEN_PID`) and not taken yet. It serves like any other builder:
    /// [`bind`](Self::bind), [`serve`](Self::serve), TLS,
    /// [`proxy_protocol`](Self::proxy_protocol), shutdown. As with
    /// [`from_listener`](Self::from_listener), the options that make a
    /// socket (backlog, reuse_port, ...) belong in the `.socket` unit and
    /// are refused here; [`nodelay`](Self::nodelay),
    /// [`keep_alive`](Self::keep_alive) and the TLS options apply.
    ///
    /// The first call reads and removes `LISTEN_PID`, `LISTEN_FDS` and
    /// `LISTEN_FDNAMES`, checks every descriptor (a listening stream
    /// socket, TCP or Unix), sets `FD_CLOEXEC` on them and keeps them for
    /// this and later calls; see the module docs of `systemd.rs` for why.
    /// Call it early, before threads that read the environment start.
    /// Unix sockets are left for
    /// [`systemd_unix_listeners`](Self::systemd_unix_listeners).
    ///
    /// # Errors
    ///
    /// [`bind`](Self::bind) (and the `serve` methods) fail with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput)
    /// when the variables are missing, `LISTEN_PID` is not this process
    /// (no socket is taken then), `LISTEN_FDNAMES` does not match
    /// `LISTEN_FDS`, a passed descriptor is not a listening stream socket
    /// (the error names its fd), there is no TCP socket, or the sockets
    /// were taken by an earlier call.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// // my.socket: [Socket] ListenStream=8080
    /// // my.service: [Service] ExecStart=/usr/bin/my-server
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let server = ServerBuilder::from_systemd()
    ///     .serve(|mut stream, _peer| async move {
    ///         let _ = stream.write_all(b"hello\n").await;
    ///     })
    ///     .await?;
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn from_systemd() -> ServerBuilder {
        ServerBuilder::systemd(None)
    }

    /// A builder for the TCP sockets systemd passed under this name
    /// (`FileDescriptorName=` in the `.socket` unit; `LISTEN_FDNAMES`), as
    /// [`from_systemd`](Self::from_systemd) for all of them: one builder
    /// per name, each served its own way.
    ///
    /// # Errors
    ///
    /// Those of [`from_systemd`](Self::from_systemd), and no socket of
    /// that name (the error lists the names passed) or one that is a Unix
    /// socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// // web.socket: ListenStream=443, FileDescriptorName=web
    /// // admin.socket: ListenStream=127.0.0.1:9000, FileDescriptorName=admin
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let web = ServerBuilder::from_systemd_named("web")
    ///     .tls_pem_files("/etc/web/cert.pem", "/etc/web/key.pem")
    ///     .serve_tls(|_stream, _peer| async {})
    ///     .await?;
    /// let admin = ServerBuilder::from_systemd_named("admin")
    ///     .serve(|_stream, _peer| async {})
    ///     .await?;
    /// web.wait_closed().await;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn from_systemd_named(name: &str) -> ServerBuilder {
        ServerBuilder::systemd(Some(name))
    }

    fn systemd(name: Option<&str>) -> ServerBuilder {
        let sockets = take(name, Kind::Tcp).map(|fds| {
            fds.into_iter()
                .map(std::net::TcpListener::from)
                .collect::<Vec<_>>()
        });
        ServerBuilder::with_source(Source::Systemd(name.map(str::to_string), sockets))
    }

    /// The Unix stream sockets systemd passed this process
    /// (`ListenStream=/run/app.sock`) and not taken yet, checked as
    /// [`from_systemd`](Self::from_systemd) checks them, non-blocking and
    /// close-on-exec: for [`tokio::net::UnixListener::from_std`]. (A
    /// [`ServerBuilder`] serves TCP; the first call of either reads the
    /// environment for both.) systemd removes the socket file when the
    /// socket unit stops; nothing here removes it.
    ///
    /// # Errors
    ///
    /// A [`ServerError`] of kind
    /// [`InvalidInput`](crate::ServerErrorKind::InvalidInput), for the
    /// reasons of [`from_systemd`](Self::from_systemd), or when systemd
    /// passed no Unix socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// for std_listener in ServerBuilder::systemd_unix_listeners()? {
    ///     let listener = tokio::net::UnixListener::from_std(std_listener)?;
    ///     tokio::spawn(async move {
    ///         while let Ok((_stream, _)) = listener.accept().await {}
    ///     });
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn systemd_unix_listeners() -> Result<Vec<std::os::unix::net::UnixListener>, ServerError> {
        unix_listeners(None)
    }

    /// The Unix stream sockets systemd passed under this name, as
    /// [`systemd_unix_listeners`](Self::systemd_unix_listeners).
    ///
    /// # Errors
    ///
    /// Those of [`systemd_unix_listeners`](Self::systemd_unix_listeners),
    /// and no socket of that name, or one that is a TCP socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let api = ServerBuilder::systemd_unix_listeners_named("api")?;
    /// # drop(api);
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn systemd_unix_listeners_named(
        name: &str,
    ) -> Result<Vec<std::os::unix::net::UnixListener>, ServerError> {
        unix_listeners(Some(name))
    }
}

fn unix_listeners(
    name: Option<&str>,
) -> Result<Vec<std::os::unix::net::UnixListener>, ServerError> {
    let endpoint = match name {
        Some(name) => format!("Unix sockets from systemd named {name:?}"),
        None => "Unix sockets from systemd".to_string(),
    };
    let fds = take(name, Kind::Unix).map_err(|why| ServerError::invalid(&endpoint, why))?;
    fds.into_iter()
        .map(|fd| {
            let listener = std::os::unix::net::UnixListener::from(fd);
            listener.set_nonblocking(true).map_err(|e| {
                ServerError::invalid(
                    &endpoint,
                    format!(
                        "cannot make a Unix socket from systemd non-blocking: {}",
                        crate::shared::report::Brief(&e)
                    ),
                )
            })?;
            Ok(listener)
        })
        .collect()
}
