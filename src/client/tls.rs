//! TLS on a connection: asyncio's `ssl=`, `server_hostname=`,
//! `ssl_handshake_timeout=` and `ssl_shutdown_timeout=`, done with
//! tokio-rustls.
//!
//! tokio-rustls leaves every timeout to its caller, and its most reported
//! problems are the two hangs that follow: a handshake with a server that
//! accepted TCP and never answers, and a shutdown whose flush never ends
//! because the peer stopped reading (its receive window is zero, so our
//! close_notify sits in the send buffer forever). Here both have a bound by
//! default, as in asyncio: 60 s for the handshake, 30 s for the shutdown.
//!
//! The handshake runs inside the race (Happy Eyeballs v3,
//! draft-ietf-happy-happyeyeballs-v3-04, §6.1): an attempt is a TCP connect
//! *and* a TLS handshake, and wins only when its handshake completes. An
//! address whose TCP handshake succeeds and whose TLS handshake fails (a
//! TCP-terminating middlebox, an IPv6 path that resets, a wrong certificate
//! on one server of a pool) is a failed attempt like a refused connect, and
//! the next address starts at once. On a healthy path this costs nothing:
//! the first attempt's handshake completes before a second attempt starts,
//! so each server still sees one handshake.
//!
//! The shutdown deadline lives in [`TlsStream::poll_shutdown`]: the first
//! call starts a timer, and when the timer fires before tokio-rustls has sent
//! close_notify, flushed, and shut the TCP write side, the connection is
//! aborted (`SO_LINGER` 0, both directions shut) and the call returns
//! `TimedOut`.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::ClientConnection;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::Instrument;

use crate::client::connect::{ConnectionBuilder, Source};
use crate::client::error::{ConnectError, ConnectErrorKind, HandshakeTimedOut};
use crate::client::establishment::{Establishment, Recorder, TlsReport};
use crate::resolve::svcb::{EchMap, ServiceOptions};
use crate::shared::tls::ShutdownState;
use crate::shared::tls_words::{explain, Side, TlsContext};

use super::tls_options::TlsOptions;

/// TLS: asyncio's `ssl=`, `server_hostname=`, `ssl_handshake_timeout=` and
/// `ssl_shutdown_timeout=`. These options only apply to
/// [`connect_tls`](Self::connect_tls); given to [`connect`](Self::connect),
/// they are refused with [`ConnectErrorKind::InvalidInput`], as asyncio
/// refuses `server_hostname` without `ssl`.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl ConnectionBuilder {
    /// The rustls configuration: trust roots, protocol versions, cipher
    /// suites, client certificates, session resumption (asyncio's `ssl=`
    /// with an `SSLContext`). Its crypto provider is the one it was built
    /// with, so any provider works (ring, aws-lc-rs, your own).
    ///
    /// Default is a configuration built once per process: the platform's
    /// trust roots, loaded by
    /// [rustls-native-certs](https://docs.rs/rustls-native-certs) (the
    /// system store on Linux and the BSDs, honouring `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR`; the keychain on macOS; the certificate store on
    /// Windows), or, with the `webpki-roots` feature, Mozilla's roots
    /// compiled in by [webpki-roots](https://docs.rs/webpki-roots) instead;
    /// rustls' safe default protocol versions (TLS 1.2 and 1.3); and the
    /// provider [`crypto_provider`](crate::crypto_provider) names (the
    /// process default if the application installed one, else aws-lc-rs
    /// with the `aws-lc-rs` feature, else *ring*). No process default is
    /// ever needed: nothing here calls `ClientConfig::builder()`, which
    /// panics without one.
    ///
    /// There is no option that turns certificate verification off. A
    /// program that must talk to a server it cannot verify builds a
    /// `ClientConfig` with its own `ServerCertVerifier` and passes it here.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_endpoints::rustls::{self, ClientConfig, RootCertStore};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let my_ca_der = rustls::pki_types::CertificateDer::from(Vec::new());
    /// let mut roots = RootCertStore::empty();
    /// roots.add(my_ca_der)?; // the CA of a private deployment
    /// let provider = tokio_endpoints::crypto_provider();
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let stream = ConnectionBuilder::new("internal.example:8443")
    ///     .tls_config(Arc::new(config))
    ///     .connect_tls()
    ///     .await?;
    /// println!("verified {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.opts.tls.set_config(config);
        self
    }

    /// Trusts exactly the CA certificates of this PEM file, instead of the
    /// platform's trust roots (like `curl --cacert`): the way to connect to
    /// a server whose certificate a private CA signed, or that is
    /// self-signed (then the file is that certificate). The file may hold
    /// several certificates. The configuration is the default one
    /// otherwise (protocol versions, crypto provider).
    ///
    /// Default is the platform's trust roots (see
    /// [`tls_config`](Self::tls_config)).
    ///
    /// # Errors
    ///
    /// [`connect_tls`](Self::connect_tls) fails with
    /// [`ConnectErrorKind::InvalidInput`], before anything is sent, when
    /// the file cannot be read (the message names it), is not PEM, holds
    /// no certificate, or when a [`tls_config`](Self::tls_config) was
    /// given too (add the CA to its root store instead).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("localhost:8443")
    ///     .tls_ca_file("ca.pem")
    ///     .connect_tls()
    ///     .await?;
    /// println!("verified {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn tls_ca_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.opts.tls.set_ca_file(path.as_ref().to_path_buf());
        self
    }

    /// The name the server's certificate must be valid for (asyncio's
    /// `server_hostname`): a DNS name, sent as SNI and checked against the
    /// certificate's DNS names, or an IP address, checked against its IP
    /// address names and not sent (SNI carries host names only).
    ///
    /// Default is the target's host name; for a target of IP addresses, the
    /// address of the connection that won the race. An adopted stream
    /// ([`from_stream`](Self::from_stream)) has no default: `connect_tls`
    /// refuses it without a `server_name`, as asyncio does with `sock=`.
    /// An empty or malformed name is refused before anything is sent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// // Connect to an address, verify the certificate for a name.
    /// let stream = ConnectionBuilder::new("192.0.2.10:443")
    ///     .server_name("www.example.com")
    ///     .connect_tls()
    ///     .await?;
    /// println!("verified {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        let name: String = name.into();
        let unbracketed = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(&name);
        self.opts.tls.server_name = Some(if unbracketed.is_empty() {
            Err("server_name is empty".to_string())
        } else {
            ServerName::try_from(unbracketed.to_string())
                .map_err(|e| format!("server_name {name:?} is not a valid name: {e}"))
        });
        self.opts.tls.give("server_name");
        self
    }

    /// The protocols offered with ALPN (RFC 7301), most preferred first:
    /// `["h2", "http/1.1"]`. What the server picked is
    /// [`TlsStream::alpn_protocol`]. Replaces the `alpn_protocols` of the
    /// [`tls_config`](Self::tls_config); an empty list offers none. An
    /// empty protocol name or one longer than 255 bytes is refused before
    /// anything is sent.
    ///
    /// Default is the configuration's `alpn_protocols` (none in the default
    /// configuration).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443")
    ///     .alpn(["h2", "http/1.1"])
    ///     .connect_tls()
    ///     .await?;
    /// if stream.alpn_protocol() == Some(b"h2") {
    ///     println!("HTTP/2");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn alpn<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.opts.tls.set_alpn(protocols);
        self
    }

    /// Bounds each attempt's TLS handshake (asyncio's
    /// `ssl_handshake_timeout`). The clock starts when the attempt's TCP
    /// connection is made; the time to make it is bounded by
    /// [`attempt_timeout`](Self::attempt_timeout), and the whole call by
    /// [`connect_timeout`](Self::connect_timeout). When it passes, that
    /// connection is closed and the attempt fails, so the next address is
    /// tried at once; when every attempt timed out in its handshake,
    /// `connect_tls` fails with [`ConnectErrorKind::TlsHandshakeTimeout`].
    /// `None` means no bound (a server that accepts TCP and never answers
    /// then holds its attempt until `connect_timeout`, or forever); zero is
    /// refused.
    ///
    /// Default is 60 s ([`DEFAULT_TLS_HANDSHAKE_TIMEOUT`](crate::DEFAULT_TLS_HANDSHAKE_TIMEOUT)), as asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443")
    ///     .tls_handshake_timeout(Duration::from_secs(10));
    /// # drop(b);
    /// ```
    pub fn tls_handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.tls.set_handshake_timeout(timeout.into());
        self
    }

    /// Bounds the shutdown of the [`TlsStream`] this call returns (asyncio's
    /// `ssl_shutdown_timeout`): see [`TlsStream`]'s `poll_shutdown`. `None`
    /// means no bound (a peer that stops reading then hangs the shutdown
    /// forever); zero is refused.
    ///
    /// Default is 30 s ([`DEFAULT_TLS_SHUTDOWN_TIMEOUT`](crate::DEFAULT_TLS_SHUTDOWN_TIMEOUT)), as asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// let b = ConnectionBuilder::new("example.com:443")
    ///     .tls_shutdown_timeout(Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn tls_shutdown_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.tls.set_shutdown_timeout(timeout.into());
        self
    }

    /// Connects with TLS (asyncio's `create_connection` with `ssl=`),
    /// racing addresses with Happy Eyeballs v3
    /// (draft-ietf-happy-happyeyeballs-v3-04): each attempt is a TCP connect
    /// followed by the TLS handshake on that connection, and the race is won
    /// by the first attempt whose *handshake* completes; every other
    /// attempt, one mid-handshake included, is closed then. On an adopted
    /// stream ([`from_stream`](Self::from_stream)) the one handshake runs on
    /// that stream.
    ///
    /// * A failed handshake (reset, alert, refused certificate, handshake
    ///   timeout) fails that attempt only, and starts the next address at
    ///   once, as a refused connect does. Never to plaintext: every attempt
    ///   verifies the certificate for the [`server_name`](Self::server_name)
    ///   as strictly as the first.
    /// * While the attempt started last is in its TLS handshake, the next
    ///   attempt starts one [`happy_eyeballs`](Self::happy_eyeballs) delay
    ///   after that attempt's TCP handshake completed, not after it started:
    ///   the draft's §6.1 asks to extend the Next Connection Attempt Timer
    ///   when an attempt makes progress, to the time its full establishment
    ///   may take. With the default 250 ms delay, a server that accepts TCP
    ///   and never answers the ClientHello costs 250 ms plus one TCP round
    ///   trip before the next address is tried.
    /// * [`connect_timeout`](Self::connect_timeout) bounds the whole call,
    ///   handshakes included; [`tls_handshake_timeout`](Self::tls_handshake_timeout)
    ///   bounds each attempt's handshake.
    ///
    /// # Errors
    ///
    /// Every error of [`connect`](Self::connect), and:
    ///
    /// * [`ConnectErrorKind::InvalidInput`] before anything is sent, for a
    ///   bad `server_name`, `alpn` or timeout, an adopted stream without a
    ///   `server_name`, a [`tls_ca_file`](Self::tls_ca_file) that cannot be
    ///   used, or when the default configuration finds no trust roots;
    /// * [`ConnectErrorKind::Tls`] when every attempt failed in its
    ///   handshake: the error names the first one's address
    ///   ([`ConnectError::peer_addr`]) and TLS reason
    ///   ([`ConnectError::tls_error`]: unknown issuer, name mismatch,
    ///   expired, an alert from the server...); the message says it in
    ///   plain words, with what to do (`the certificate of localhost is a
    ///   CA certificate, not a server certificate`, `the server at
    ///   127.0.0.1:8080 did not answer with TLS (is it a plain-text
    ///   port?)`), and the rustls error stays in the `source()` chain;
    /// * [`ConnectErrorKind::TlsHandshakeTimeout`] when every attempt's
    ///   handshake ran past the
    ///   [`tls_handshake_timeout`](Self::tls_handshake_timeout);
    /// * [`ConnectErrorKind::AllAttemptsFailed`] when attempts failed in
    ///   different stages. Either way [`ConnectError::attempts`] keeps each
    ///   attempt with its [`stage`](crate::Attempt::stage) (TCP or TLS) and
    ///   its error (for TLS, the rustls error is the `io::Error`'s payload).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every socket it opened, the one in the
    /// middle of a handshake included.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut stream = ConnectionBuilder::new("example.com:443")
    ///         .alpn(["http/1.1"])
    ///         .connect_tls()
    ///         .await?;
    ///     println!("{:?}", stream.protocol_version());
    ///     stream
    ///         .write_all(b"HEAD / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    ///         .await?;
    ///     let mut response = Vec::new();
    ///     stream.read_to_end(&mut response).await?;
    ///     stream.shutdown().await?; // bounded by tls_shutdown_timeout
    ///     Ok(())
    /// }
    /// ```
    // A plain `fn` returning an `async` block, not an `async fn`, which
    // would hold the builder twice (the argument, and the block's copy).
    pub fn connect_tls(self) -> impl Future<Output = Result<TlsStream, ConnectError>> + Send {
        // A connector's `on_established` or `qlog` is told of every
        // connection: recorded then, and only then.
        let record = self.opts.report.is_some();
        futures_util::FutureExt::map(self.tls_connect(record), |r| r.map(|(tls, _)| tls))
    }

    /// [`connect_tls`](Self::connect_tls), and what it went through: the
    /// [`Establishment`] report of the resolution, each attempt (TCP, then
    /// its TLS handshake), the delays between them, and the winner's TLS
    /// handshake (its time, version, ALPN, whether it resumed). A
    /// [`Connector`](crate::Connector)'s
    /// [`on_established`](crate::Connector::on_established) and
    /// [`qlog`](crate::Connector::qlog) are told of the connection too.
    ///
    /// # Errors
    ///
    /// As [`connect_tls`](Self::connect_tls).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every socket it opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (tls, report) = ConnectionBuilder::new("example.com:443").connect_tls_reported().await?;
    /// println!("{report}");
    /// println!("handshake: {:?}", report.tls().map(|t| t.handshake()));
    /// # drop(tls); Ok(()) }
    /// ```
    pub fn connect_tls_reported(
        self,
    ) -> impl Future<Output = Result<(TlsStream, Establishment), ConnectError>> + Send {
        futures_util::FutureExt::map(self.tls_connect(true), |r| {
            r.map(|(tls, report)| (tls, report.expect("a recorded connect has its report")))
        })
    }

    /// `connect_tls`, recorded if `record`.
    pub(crate) fn tls_connect(
        mut self,
        record: bool,
    ) -> impl Future<Output = Result<(TlsStream, Option<Establishment>), ConnectError>> + Send {
        let span = tracing::debug_span!("connect_tls", target = %self.describe());
        async move {
            // Read where they are (a connector's calls share them).
            let mut default = None;
            if self.opts.tls.config.is_none() && self.opts.tls.ca_file.is_none() {
                // The platform's trust roots, read once per process on the
                // blocking pool, inside `connect_timeout`: what the read
                // takes is taken from what the race gets.
                let started = tokio::time::Instant::now();
                let loading = default_config();
                // (A zero timeout is refused below, with every other input.)
                let bound = self.opts.connect_timeout.filter(|t| !t.is_zero());
                let loaded = match bound {
                    Some(t) => match tokio::time::timeout(t, loading).await {
                        Ok(loaded) => loaded,
                        Err(_) => return Err(self.roots_timed_out(t)),
                    },
                    None => loading.await,
                };
                default = Some(loaded.map_err(|e| self.invalid(e))?);
                if let Some(t) = bound {
                    let left = t.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(self.roots_timed_out(t));
                    }
                    self.opts.connect_timeout = Some(left);
                }
            }
            let handshake = Handshake::prepare(&self.opts.tls, default, &self)?;
            if let Source::Stream(..) = &self.source {
                let name = self.describe();
                let all_errors = self.opts.all_errors;
                let report_to = self.opts.report.clone();
                let tcp = self.connect_inner().await?;
                let tls = handshake.run(tcp, || name.clone(), all_errors).await?;
                // (The peer asked for only when recorded: a system call.)
                let report = match record.then(|| tls.peer_addr()) {
                    Some(Ok(peer)) => Some(Establishment::adopted(peer)),
                    _ => None,
                };
                if let (Some(report), Some(to)) = (&report, report_to) {
                    to.tell(report);
                }
                return Ok((tls, report));
            }
            // Through a proxy: one handshake, with the origin, in the tunnel.
            #[cfg(feature = "proxy")]
            if let Some(via) = self.opts.via.clone().filter(|via| via.applies(&self, true)) {
                let started = tokio::time::Instant::now();
                let tunnel = via.tunnel_tls(&self, &handshake).await?;
                let tls = handshake.run_in_tunnel(tunnel, &self, started).await?;
                // The report of a proxied connection: the hop to the proxy,
                // one attempt (the race to the proxy is not recorded).
                let report = match record.then(|| tls.peer_addr()) {
                    Some(Ok(peer)) => Some(Establishment::adopted(peer)),
                    _ => None,
                };
                if let (Some(report), Some(to)) = (&report, &self.opts.report) {
                    to.tell(report);
                }
                return Ok((tls, report));
            }
            // Happy Eyeballs v3: the handshake runs inside the race, and
            // HTTPS records are asked for unless turned off.
            // (Literal addresses have no records: nothing to set up.)
            let named = matches!(&self.source, Source::Target(Ok(t)) if t.host().is_some());
            let ech = (named && self.opts.svcb.unwrap_or(true)).then(EchMap::default);
            let services = ech.as_ref().map(|ech| ServiceOptions {
                alpn: match &self.opts.tls.alpn {
                    Some(Ok(alpn)) => Some(alpn.clone()),
                    _ => None,
                },
                ech: ech.clone(),
            });
            let handshake = &handshake;
            let ech = ech.as_ref();
            let recorder = record.then(|| {
                let mut rec = Recorder::new(tokio::time::Instant::now());
                rec.tls = true;
                rec
            });
            let (tls, recorder) = self
                .establish(services, recorder, |addr, tcp| {
                    handshake.attempt(addr, tcp, ech.and_then(|e| e.get(addr)))
                })
                .await?;
            let report = recorder.map(|rec| {
                let took = rec.now();
                let target = match &self.source {
                    Source::Target(Ok(target)) => target.clone(),
                    _ => unreachable!("a race was run for a target"),
                };
                rec.finish(target, took, Some(tls_report(&tls)))
            });
            if let (Some(report), Some(to)) = (&report, &self.opts.report) {
                to.tell(report);
            }
            Ok((tls, report))
        }
        .instrument(span)
    }
}

/// What the report says of the winner's handshake (its time is the
/// report's: from the TCP connection to the win).
fn tls_report(tls: &TlsStream) -> TlsReport {
    let (_, conn) = tls.get_ref();
    TlsReport {
        handshake: Duration::ZERO,
        version: conn.protocol_version().map(|v| format!("{v:?}")),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
    }
}

/// Everything a handshake needs, checked before anything is sent.
struct Handshake {
    /// The configuration, with the ALPN list applied.
    connector: TlsConnector,
    /// `None`: the address of the connection that won.
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
}

impl Handshake {
    /// `default`: the platform's configuration, for options that name none.
    fn prepare(
        options: &TlsOptions,
        default: Option<Arc<ClientConfig>>,
        builder: &ConnectionBuilder,
    ) -> Result<Handshake, ConnectError> {
        let invalid = |message: String| builder.invalid(message);
        if let Source::Target(Err(e)) = &builder.source {
            // The target's own error comes first.
            return Err(invalid(e.reason().to_string()));
        }
        let handshake_timeout = options.handshake_timeout.clone().map_err(invalid)?;
        let shutdown_timeout = options.shutdown_timeout.clone().map_err(invalid)?;
        let alpn = match &options.alpn {
            Some(Ok(alpn)) => Some(alpn),
            Some(Err(e)) => return Err(invalid(e.clone())),
            None => None,
        };
        let server_name = match &options.server_name {
            Some(name) => Some(name.clone().map_err(invalid)?),
            None => match &builder.source {
                Source::Target(Ok(target)) => match target.host() {
                    Some(host) => Some(ServerName::try_from(host.to_string()).map_err(|e| {
                        invalid(format!("host {host:?} is not a valid TLS server name: {e}"))
                    })?),
                    None => None,
                },
                Source::Target(Err(_)) => None,
                Source::Stream(..) => {
                    return Err(invalid(
                        "connect_tls on an adopted stream needs a server_name to verify \
                         the certificate against"
                            .into(),
                    ))
                }
            },
        };
        let config = match (options.config.clone().or(default), &options.ca_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "tls_ca_file and tls_config were both given: add the CA to the \
                     tls_config's root store, or leave the tls_config out"
                        .into(),
                ))
            }
            (Some(config), None) => config,
            (None, Some(file)) => file
                .loaded
                .get_or_init(|| ca_file_config(&file.path))
                .clone()
                .map_err(invalid)?,
            // Loaded by `connect_tls` before it prepares the handshake.
            (None, None) => return Err(invalid("no TLS configuration".into())),
        };
        // Built once per set of options, not per call.
        let config = match alpn {
            Some(alpn) => options.with_alpn(config, alpn),
            None => config,
        };
        let connector = TlsConnector::from(config);
        Ok(Handshake {
            connector,
            server_name,
            handshake_timeout,
            shutdown_timeout,
        })
    }

    /// The handshake of one attempt of the race, on the connection to
    /// `addr`, bounded by the handshake timeout. A timeout fails with a
    /// `TimedOut` error whose payload says so.
    fn attempt(
        &self,
        addr: SocketAddr,
        tcp: TcpStream,
        ech_config_list: Option<Arc<[u8]>>,
    ) -> impl Future<Output = io::Result<TlsStream>> {
        let server_name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::IpAddress(addr.ip().into()),
        };
        let connecting = self.connector.connect(server_name.clone(), tcp);
        let handshake_timeout = self.handshake_timeout;
        let shutdown_timeout = self.shutdown_timeout;
        async move {
            let result = match handshake_timeout {
                Some(timeout) => tokio::time::timeout(timeout, connecting)
                    .await
                    .map_err(|_| {
                        tracing::debug!(%addr, ?timeout, "TLS handshake timed out");
                        io::Error::new(io::ErrorKind::TimedOut, HandshakeTimedOut(timeout))
                    })?,
                None => connecting.await,
            };
            match result {
                Ok(stream) => {
                    tracing::debug!(%addr, "TLS handshake done");
                    Ok(TlsStream {
                        inner: Inner::Direct(stream),
                        shutdown_timeout,
                        shutdown: ShutdownState::Open,
                        ech_config_list,
                    })
                }
                Err(e) => {
                    let e = explain(
                        e,
                        &TlsContext {
                            side: Side::Client,
                            name: Some(&server_name),
                            peer: Some(addr),
                        },
                    );
                    tracing::debug!(%addr, error = %e, "TLS handshake failed");
                    Err(e)
                }
            }
        }
    }

    /// The handshake with the origin inside a proxy's tunnel (begun while
    /// the proxy opened it), within what is left of the `connect_timeout`
    /// since `started`; a literal target is verified as the address it
    /// named, not the proxy's.
    #[cfg(feature = "proxy")]
    async fn run_in_tunnel(
        self,
        tunnel: crate::client::connect::Tunnel<crate::client::connect::TlsBegun>,
        builder: &ConnectionBuilder,
        started: tokio::time::Instant,
    ) -> Result<TlsStream, ConnectError> {
        use crate::client::connect::TlsConnecting;
        // The origin's description, formatted only on failure.
        let target = || builder.describe();
        let all_errors = builder.opts.all_errors;
        let note = tunnel.note.at(crate::client::error::ProxyStage::OriginTls);
        let (peer, early) = (tunnel.proxy_addr, tunnel.early);
        let server_name = tunnel.stream.server_name;
        // Bytes that came with the proxy's answer came before the
        // ClientHello was sent, which a TLS server never does: judged as
        // rustls judges them, at once.
        let refused =
            (!early.is_empty()).then(|| spoke_first(&self.connector, &server_name, &early));
        let run = async {
            match tunnel.stream.connecting {
                // An http or SOCKS5 proxy: TLS on its TCP connection.
                TlsConnecting::Tcp(connecting) => {
                    self.drive(connecting, server_name, refused, target, all_errors, peer)
                        .await
                }
                // An https proxy: TLS inside its TLS.
                TlsConnecting::Carried(connecting) => {
                    self.drive(connecting, server_name, refused, target, all_errors, peer)
                        .await
                }
            }
        };
        let result = match builder.opts.connect_timeout {
            None => run.await,
            Some(t) => match tokio::time::timeout(t.saturating_sub(started.elapsed()), run).await {
                Ok(result) => result,
                Err(_) => Err(ConnectError::new(ConnectErrorKind::TimedOut, target())
                    .with_message(format!("timed out after {}", crate::shared::report::Dur(t)))
                    .with_all_errors(all_errors)),
            },
        };
        result.map_err(|e| e.through_proxy(target(), note))
    }

    /// The handshake on `tcp`. `target`: the call's description, for its
    /// errors.
    async fn run(
        self,
        tcp: TcpStream,
        target: impl Fn() -> String,
        all_errors: bool,
    ) -> Result<TlsStream, ConnectError> {
        let peer = tcp.peer_addr().ok();
        let server_name = match (&self.server_name, peer) {
            (Some(name), _) => name.clone(),
            (None, Some(peer)) => ServerName::IpAddress(peer.ip().into()),
            (None, None) => {
                return Err(ConnectError::new(ConnectErrorKind::Tls, target())
                    .with_all_errors(all_errors)
                    .with_message("failed: the connection has no peer address to verify"))
            }
        };
        let connecting = self.connector.connect(server_name.clone(), tcp);
        self.drive(connecting, server_name, None, target, all_errors, peer)
            .await
    }

    /// `connecting`, verified as `server_name`, driven to its end within
    /// the handshake timeout (`refused`: its error, known already).
    /// `target`: the call's description, for its errors; `peer`: the
    /// connection's peer, for them.
    async fn drive<S: Transport>(
        self,
        connecting: tokio_rustls::Connect<S>,
        server_name: ServerName<'static>,
        refused: Option<io::Error>,
        target: impl Fn() -> String,
        all_errors: bool,
        peer: Option<SocketAddr>,
    ) -> Result<TlsStream, ConnectError> {
        let error = |kind| {
            ConnectError::new(kind, target())
                .with_peer(peer)
                .with_all_errors(all_errors)
        };
        let result = match (refused, self.handshake_timeout) {
            (Some(e), _) => Ok(Err(e)),
            (None, Some(timeout)) => tokio::time::timeout(timeout, connecting).await,
            (None, None) => Ok(connecting.await),
        };
        match result {
            Ok(Ok(stream)) => {
                tracing::debug!(?peer, "TLS handshake done");
                Ok(TlsStream {
                    inner: S::wrap(stream),
                    shutdown_timeout: self.shutdown_timeout,
                    shutdown: ShutdownState::Open,
                    ech_config_list: None,
                })
            }
            Ok(Err(e)) => {
                let e = explain(
                    e,
                    &TlsContext {
                        side: Side::Client,
                        name: Some(&server_name),
                        peer,
                    },
                );
                tracing::debug!(?peer, error = %e, "TLS handshake failed");
                Err(error(ConnectErrorKind::Tls).with_source(e))
            }
            Err(_elapsed) => {
                let timeout = self.handshake_timeout.unwrap_or_default();
                tracing::debug!(?peer, ?timeout, "TLS handshake timed out");
                Err(
                    error(ConnectErrorKind::TlsHandshakeTimeout).with_message(format!(
                        "timed out after {}",
                        crate::shared::report::Dur(timeout)
                    )),
                )
            }
        }
    }
}

/// `connect_tls` through a proxy begins the origin's handshake as soon as
/// the last request to the proxy is out: the ClientHello (its key share's
/// key generation above all) is built while the proxy opens the tunnel,
/// and sent once its answer says the tunnel is open.
#[cfg(feature = "proxy")]
impl crate::client::connect::BeginTls for Handshake {
    fn begin(
        &self,
        stream: crate::client::connect::TunnelStream,
        origin_ip: Option<std::net::IpAddr>,
    ) -> Result<crate::client::connect::TlsBegun, crate::client::connect::TunnelStream> {
        use crate::client::connect::{TlsBegun, TlsConnecting, TunnelStream};
        let server_name = match (&self.server_name, origin_ip) {
            (Some(name), _) => name.clone(),
            (None, Some(ip)) => ServerName::IpAddress(ip.into()),
            (None, None) => return Err(stream),
        };
        let connecting = match stream {
            TunnelStream::Tcp(tcp) => {
                TlsConnecting::Tcp(self.connector.connect(server_name.clone(), tcp))
            }
            carried => TlsConnecting::Carried(self.connector.connect(server_name.clone(), carried)),
        };
        Ok(TlsBegun {
            connecting,
            server_name,
        })
    }
}

/// What rustls makes of `bytes` from a server that spoke before the
/// ClientHello (with a proxy, bytes that came with its answer): the error
/// the handshake fails with.
#[cfg(feature = "proxy")]
fn spoke_first(
    connector: &TlsConnector,
    server_name: &ServerName<'static>,
    bytes: &[u8],
) -> io::Error {
    let judged = ClientConnection::new(connector.config().clone(), server_name.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        .and_then(|mut conn| feed(&mut conn, bytes));
    judged.err().unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the origin sent {} bytes before the ClientHello: a TLS server speaks only \
                 after it",
                bytes.len()
            ),
        )
    })
}

/// Hands `bytes`, the server's first bytes already read off the
/// connection, to rustls, as if read from the socket, and processes them
/// (an error is what the handshake would have failed with).
#[cfg(feature = "proxy")]
fn feed(conn: &mut ClientConnection, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        if conn.read_tls(&mut bytes)? == 0 {
            break;
        }
    }
    conn.process_new_packets()
        .map(drop)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The default configuration, built once per process. Reading the
/// platform's trust store takes tens of milliseconds (hundreds on a cold
/// disk): it runs on the blocking pool, and the first calls wait for it
/// without holding a runtime worker.
async fn default_config() -> Result<Arc<ClientConfig>, String> {
    static DEFAULT: tokio::sync::OnceCell<Result<Arc<ClientConfig>, String>> =
        tokio::sync::OnceCell::const_new();
    load_once(&DEFAULT, build_default_config).await
}

/// `build`'s result, built once in `cell` on the blocking pool; every
/// caller waits for it asynchronously.
async fn load_once<T: Clone + Send + 'static>(
    cell: &tokio::sync::OnceCell<Result<T, String>>,
    build: fn() -> Result<T, String>,
) -> Result<T, String> {
    cell.get_or_init(|| async {
        tokio::task::spawn_blocking(build)
            .await
            .unwrap_or_else(|e| Err(format!("loading the platform's trust roots failed: {e}")))
    })
    .await
    .clone()
}

fn build_default_config() -> Result<Arc<ClientConfig>, String> {
    config_with_roots(default_roots()?)
}

/// The default configuration, on the roots of a `tls_ca_file` instead of
/// the platform's.
fn ca_file_config(path: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    use rustls::pki_types::pem::{self, PemObject};
    let shown = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| match e {
            pem::Error::Io(e) => format!("cannot read the CA file {shown} (tls_ca_file): {e}"),
            e => format!("the CA file {shown} (tls_ca_file) is not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate in the CA file {shown} (tls_ca_file): it should hold \
             -----BEGIN CERTIFICATE----- blocks"
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "certificate {} of the CA file {shown} (tls_ca_file) cannot be a trust root: {e}",
                i + 1
            )
        })?;
    }
    tracing::debug!(file = %shown, roots = roots.len(), "trust roots loaded from tls_ca_file");
    config_with_roots(roots)
}

fn config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let config = ClientConfig::builder_with_provider(crate::shared::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("the crypto provider cannot make a TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(feature = "webpki-roots")]
fn default_roots() -> Result<RootCertStore, String> {
    Ok(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

#[cfg(not(feature = "webpki-roots"))]
fn default_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "loading a platform trust root failed");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "platform trust roots loaded");
    if roots.is_empty() {
        let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no trust roots found on this platform (rustls-native-certs){}; pass a tls_config",
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        ));
    }
    Ok(roots)
}

/// A TLS connection over TCP, from
/// [`ConnectionBuilder::connect_tls`]: [`AsyncRead`] and [`AsyncWrite`],
/// with the TCP stream and the rustls connection at hand.
///
/// # Shutdown
///
/// [`AsyncWriteExt::shutdown`](https://docs.rs/tokio/1/tokio/io/trait.AsyncWriteExt.html#method.shutdown) (that
/// is, `poll_shutdown`) sends close_notify, flushes everything written so
/// far, and shuts the TCP write side, and takes at most the
/// [`tls_shutdown_timeout`](ConnectionBuilder::tls_shutdown_timeout)
/// (30 s by default), counted from its first poll. When a peer has stopped
/// reading, the flush can never finish; when the timeout passes, the
/// connection is aborted and the call fails with
/// [`io::ErrorKind::TimedOut`]. Aborted means: `SO_LINGER` is set to zero
/// and both directions are shut, so unsent data is discarded and the peer
/// gets a reset (RST) when the stream is dropped, rather than the kernel
/// retrying to deliver it for minutes.
///
/// Shutdown does **not** wait for the peer's close_notify. TLS 1.3 (RFC 8446
/// §6.1) lets a peer answer a close_notify whenever it likes, or close
/// without one, and waiting for a peer without bound is a denial-of-service
/// risk (the same peer that never reads can also never answer). Reading
/// still works after shutdown: to see the peer's close_notify, read until
/// `Ok(0)` under your own timeout. A read that hits TCP end-of-file without
/// a close_notify fails with `UnexpectedEof` (a truncation attack cannot
/// pass for a clean end).
///
/// Dropping the stream without a shutdown closes the socket without a
/// close_notify.
///
/// Only shutdown has a bound: a write to a peer that stopped reading waits
/// like any Tokio write; wrap it in [`tokio::time::timeout`] where that
/// matters.
///
/// # Examples
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let mut stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
/// println!(
///     "{:?} with {}, ALPN {:?}",
///     stream.protocol_version(),
///     stream.peer_addr()?,
///     stream.alpn_protocol()
/// );
/// stream.write_all(b"ping").await?;
/// stream.shutdown().await?;
/// let mut rest = Vec::new();
/// stream.read_to_end(&mut rest).await?; // until the peer's close_notify
/// # Ok(()) }
/// ```
pub struct TlsStream {
    inner: Inner,
    shutdown_timeout: Option<Duration>,
    shutdown: ShutdownState,
    /// The `ech` of the HTTPS record of the address that won.
    ech_config_list: Option<Arc<[u8]>>,
}

/// What a [`TlsStream`] runs on: TCP (every connection without a proxy,
/// or through an http or SOCKS5 proxy), or a tunnel inside TLS with an
/// https proxy. Without the feature `proxy` the enum has one variant, and
/// with it the direct path pays one branch per call.
#[allow(clippy::large_enum_variant)] // the direct stream stays inline: it is the hot path
enum Inner {
    Direct(tokio_rustls::client::TlsStream<TcpStream>),
    /// Boxed: rare, and a TLS session is several hundred bytes.
    #[cfg(feature = "proxy")]
    Tunnelled(Box<tokio_rustls::client::TlsStream<crate::client::connect::TunnelStream>>),
}

/// `$body` with `$s` the tokio-rustls stream of either variant of `$inner`.
macro_rules! each {
    ($inner:expr, $s:ident => $body:expr) => {
        match $inner {
            Inner::Direct($s) => $body,
            #[cfg(feature = "proxy")]
            Inner::Tunnelled($s) => $body,
        }
    };
}

impl Inner {
    /// The TCP connection at the bottom (to the origin, or the proxy), and
    /// the origin's TLS session.
    fn get_ref(&self) -> (&TcpStream, &ClientConnection) {
        match self {
            Inner::Direct(s) => s.get_ref(),
            #[cfg(feature = "proxy")]
            Inner::Tunnelled(s) => {
                let (io, tls) = s.get_ref();
                (io.tcp(), tls)
            }
        }
    }

    fn get_mut(&mut self) -> (&mut TcpStream, &mut ClientConnection) {
        match self {
            Inner::Direct(s) => s.get_mut(),
            #[cfg(feature = "proxy")]
            Inner::Tunnelled(s) => {
                let (io, tls) = s.get_mut();
                (io.tcp_mut(), tls)
            }
        }
    }

    fn into_inner(self) -> (TcpStream, ClientConnection) {
        match self {
            Inner::Direct(s) => s.into_inner(),
            #[cfg(feature = "proxy")]
            Inner::Tunnelled(s) => {
                let (io, tls) = s.into_inner();
                (io.into_tcp(), tls)
            }
        }
    }
}

impl AsyncRead for Inner {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Inner {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each!(self, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

impl crate::shared::tls::OverTcp for Inner {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// What a handshake runs on, and the [`Inner`] it makes.
trait Transport: AsyncRead + AsyncWrite + Unpin {
    fn wrap(stream: tokio_rustls::client::TlsStream<Self>) -> Inner
    where
        Self: Sized;
}

impl Transport for TcpStream {
    fn wrap(stream: tokio_rustls::client::TlsStream<TcpStream>) -> Inner {
        Inner::Direct(stream)
    }
}

#[cfg(feature = "proxy")]
impl Transport for crate::client::connect::TunnelStream {
    fn wrap(stream: tokio_rustls::client::TlsStream<Self>) -> Inner {
        Inner::Tunnelled(Box::new(stream))
    }
}

/// TLS with an https proxy, under a tunnel.
#[cfg(feature = "proxy")]
impl crate::client::connect::Carrier for TlsStream {
    fn tcp(&self) -> &TcpStream {
        self.inner.get_ref().0
    }

    fn tcp_mut(&mut self) -> &mut TcpStream {
        self.inner.get_mut().0
    }

    fn into_tcp(self: Box<Self>) -> TcpStream {
        self.inner.into_inner().0
    }
}

impl TlsStream {
    /// The TCP stream and the rustls connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// let (tcp, tls) = stream.get_ref();
    /// println!("{} {:?}", tcp.peer_addr()?, tls.negotiated_cipher_suite());
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> (&TcpStream, &ClientConnection) {
        self.inner.get_ref()
    }

    /// The TCP stream and the rustls connection, mutably. Reading or writing
    /// the TCP stream directly corrupts the TLS session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// let (tcp, _tls) = stream.get_mut();
    /// tcp.set_nodelay(false)?;
    /// # Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> (&mut TcpStream, &mut ClientConnection) {
        self.inner.get_mut()
    }

    /// The TCP stream and the rustls connection, taking the stream apart
    /// (no close_notify is sent).
    ///
    /// Through a [`Proxy::https`](crate::Proxy::https), the TCP stream is
    /// the one to the proxy and the rustls connection the origin's: the
    /// proxy's TLS session, which carried the origin's records, is dropped,
    /// so neither can go on talking to the origin. [`get_ref`](Self::get_ref)
    /// and [`get_mut`](Self::get_mut) return the same pair, and work.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// let (tcp, tls) = stream.into_inner();
    /// println!("{} {:?}", tcp.peer_addr()?, tls.protocol_version());
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> (TcpStream, ClientConnection) {
        self.inner.into_inner()
    }

    /// The TLS version negotiated (`TLSv1_3`, `TLSv1_2`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::rustls::ProtocolVersion;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// assert_eq!(stream.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    /// # Ok(()) }
    /// ```
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.get_ref().1.protocol_version()
    }

    /// The protocol the server picked with ALPN, or `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443")
    ///     .alpn(["h2", "http/1.1"])
    ///     .connect_tls()
    ///     .await?;
    /// match stream.alpn_protocol() {
    ///     Some(b"h2") => println!("HTTP/2"),
    ///     _ => println!("HTTP/1.1"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.get_ref().1.alpn_protocol()
    }

    /// The server's certificate chain, leaf first, as the server sent it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// let chain = stream.peer_certificates().unwrap_or_default();
    /// println!("{} certificates, leaf {} bytes", chain.len(), chain[0].len());
    /// # Ok(()) }
    /// ```
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.get_ref().1.peer_certificates()
    }

    /// The remote address of the TCP connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// println!("connected to {}", stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }

    /// The local address of the TCP connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// println!("from {}", stream.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.local_addr()
    }

    /// The ECHConfigList (draft-ietf-tls-svcb-ech) that the HTTPS record
    /// of this connection's service offered, as its wire bytes; `None`
    /// when the record had none, or no record was used. What was offered,
    /// not what was used: the handshake does not use Encrypted Client
    /// Hello.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// if let Some(list) = stream.ech_config_list() {
    ///     println!("the service offers ECH ({} bytes of configs)", list.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ech_config_list(&self) -> Option<&[u8]> {
        self.ech_config_list.as_deref()
    }

    /// The bound on shutdown (see the type's docs); `None` for no bound.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let stream = ConnectionBuilder::new("example.com:443").connect_tls().await?;
    /// assert_eq!(stream.shutdown_timeout(), Some(Duration::from_secs(30)));
    /// # Ok(()) }
    /// ```
    pub fn shutdown_timeout(&self) -> Option<Duration> {
        self.shutdown_timeout
    }
}

/// Under [`StreamReader`](crate::StreamReader) and
/// [`StreamWriter`](crate::StreamWriter).
impl crate::shared::stream::TlsConn for TlsStream {
    fn tcp(&self) -> &TcpStream {
        self.inner.get_ref().0
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends close_notify, flushes and shuts the TCP write side, within the
    /// shutdown timeout; see the type's docs.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.shutdown
            .poll_shutdown(cx, this.shutdown_timeout, &mut this.inner)
    }
}

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::unix::io::AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        std::os::unix::io::AsRawFd::as_raw_fd(self.inner.get_ref().0)
    }
}

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::unix::io::AsFd for TlsStream {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        std::os::unix::io::AsFd::as_fd(self.inner.get_ref().0)
    }
}

#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
impl std::os::windows::io::AsRawSocket for TlsStream {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        std::os::windows::io::AsRawSocket::as_raw_socket(self.inner.get_ref().0)
    }
}

#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
impl std::os::windows::io::AsSocket for TlsStream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        std::os::windows::io::AsSocket::as_socket(self.inner.get_ref().0)
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tcp, tls) = self.inner.get_ref();
        f.debug_struct("TlsStream")
            .field("local_addr", &tcp.local_addr().ok())
            .field("peer_addr", &tcp.peer_addr().ok())
            .field("protocol_version", &tls.protocol_version())
            .field(
                "alpn_protocol",
                &tls.alpn_protocol().map(String::from_utf8_lossy),
            )
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// What a QUIC attempt takes of the TLS options (`client::quic`): the
/// configuration (trust roots, client certificate, provider) as
/// `connect_tls` would use it, the name to verify, and the handshake
/// timeout. Checked as for `connect_tls`, before anything is sent.
#[cfg(feature = "quic")]
pub(crate) struct QuicTls {
    pub(crate) config: Arc<ClientConfig>,
    /// `None`: the address of each attempt.
    pub(crate) server_name: Option<ServerName<'static>>,
    pub(crate) handshake_timeout: Option<Duration>,
}

#[cfg(feature = "quic")]
impl ConnectionBuilder {
    /// The TLS side of a QUIC attempt (the platform's trust roots loaded
    /// once per process, as for `connect_tls`).
    pub(crate) async fn quic_tls(&self) -> Result<QuicTls, ConnectError> {
        let mut default = None;
        if self.opts.tls.config.is_none() && self.opts.tls.ca_file.is_none() {
            default = Some(default_config().await.map_err(|e| self.invalid(e))?);
        }
        let handshake = Handshake::prepare(&self.opts.tls, default, self)?;
        Ok(QuicTls {
            config: handshake.connector.config().clone(),
            server_name: handshake.server_name,
            handshake_timeout: handshake.handshake_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static BUILDS: AtomicUsize = AtomicUsize::new(0);

    /// A trust store that takes 200 ms to read.
    fn slow_build() -> Result<u32, String> {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        Ok(7)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_roots_are_read_once_off_the_runtime() {
        static CELL: tokio::sync::OnceCell<Result<u32, String>> =
            tokio::sync::OnceCell::const_new();
        // The runtime's only thread keeps ticking while the roots are read.
        let ticks = tokio::spawn(async {
            let mut n = 0;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                n += 1;
            }
            n
        });
        let (a, b) = tokio::join!(load_once(&CELL, slow_build), load_once(&CELL, slow_build));
        assert_eq!((a, b), (Ok(7), Ok(7)));
        assert!(ticks.is_finished(), "the read held the runtime's thread");
        assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    }
}
