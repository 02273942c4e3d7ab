//! Socket activation for servers: the listening TCP and Unix stream
//! sockets systemd (or any service manager speaking its protocol,
//! `sd_listen_fds(3)`) passes on fd 3 and up. The sockets are read, checked
//! and kept by `shared::systemd` (see its docs for what is trusted and
//! why), which the datagram side takes its UDP sockets from too.
//!
//! TCP sockets serve through a [`ServerBuilder`] like any other; Unix
//! sockets are handed out as std listeners
//! ([`ServerBuilder::systemd_unix_listeners`]), since a [`Listener`](crate::Listener)
//! is of TCP streams.

use std::os::fd::OwnedFd;

use super::builder::{ServerBuilder, Source};
use super::error::ServerError;
use crate::shared::systemd::{take, Kind};

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
    /// The first call of any `from_systemd` function (here or on
    /// [`DatagramBuilder`](crate::DatagramBuilder)) reads `LISTEN_PID`,
    /// `LISTEN_FDS` (at most 4096) and `LISTEN_FDNAMES`, sets
    /// `FD_CLOEXEC` on every passed descriptor, sorts them (listening TCP
    /// and Unix stream sockets, UDP sockets, others) and keeps them for
    /// this and later calls, each socket taken once. Sockets of other
    /// kinds are skipped: Unix ones are left for
    /// [`systemd_unix_listeners`](Self::systemd_unix_listeners), UDP ones
    /// for [`DatagramBuilder::from_systemd`](crate::DatagramBuilder::from_systemd).
    ///
    /// The environment is left as it is (removing variables while other
    /// threads may read them is undefined behaviour in C's `getenv`);
    /// children take nothing, since `LISTEN_PID` is not theirs. To remove
    /// the variables anyway, call the `unsafe`
    /// [`unset_systemd_environment`](crate::unset_systemd_environment)
    /// before other threads start.
    ///
    /// **Precondition**: no other code in the process adopted these
    /// descriptors (another socket-activation library, `sd_listen_fds`
    /// from C, `from_raw_fd(3)`); two owners would close the same
    /// descriptor twice.
    ///
    /// # Errors
    ///
    /// [`bind`](Self::bind) (and the `serve` methods) fail with
    /// [`ServerErrorKind::InvalidInput`](crate::ServerErrorKind::InvalidInput)
    /// when the variables are missing, `LISTEN_PID` is not this process
    /// (no socket is taken then), `LISTEN_FDS` is not a number up to 4096,
    /// `LISTEN_FDNAMES` does not match `LISTEN_FDS`, a passed descriptor is
    /// not open or is a TCP socket that is not listening (`Accept=yes`;
    /// the error names its fd), there is no TCP socket, or the sockets
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
    /// that name (the error lists the names passed), or one of that name
    /// that is not a listening TCP socket (a Unix or UDP socket, or one of
    /// no kind a builder takes; the error says which).
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
        let sockets = take(name, Kind::Tcp, false).map(|fds| {
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
    /// and no socket of that name, or one of that name that is not a
    /// listening Unix stream socket.
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
    let fds: Vec<OwnedFd> =
        take(name, Kind::Unix, false).map_err(|why| ServerError::invalid(&endpoint, why))?;
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
