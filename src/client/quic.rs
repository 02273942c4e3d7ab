//! QUIC raced against TCP+TLS: Happy Eyeballs v3
//! (draft-ietf-happy-happyeyeballs-v3) between HTTP/3 over QUIC and
//! TCP+TLS, on quinn with the crate's rustls configuration.
//!
//! Why a race and not "QUIC, then TCP": UDP is blocked or rate-limited on
//! many corporate, hotel and mobile networks, silently: a QUIC Initial
//! packet gets no answer and no error, and a client that waits for QUIC's
//! own idle timeout stalls for 30 s or more before it tries TCP (quinn
//! users report 30 to 75 s). So the race here gives QUIC a short head
//! start and then lets TCP+TLS run beside it, and the first connection
//! whose handshake completes wins:
//!
//! * QUIC attempts go first, one address after another with the
//!   Happy Eyeballs delay between them (IPv6 and IPv4 interleaved), as the
//!   draft's grouping by protocol says (h3 over QUIC, then TCP+TLS).
//! * TCP+TLS (the whole `connect_tls` race, its own Happy Eyeballs across
//!   addresses included) starts [`QUIC_SOFT_WAIT`] (100 ms) after the first
//!   QUIC attempt when no QUIC attempt has had any answer by then, and
//!   [`QUIC_HARD_WAIT`] (200 ms) after it when one has answered but not
//!   finished its handshake: curl's two timers, which need no RTT sample
//!   (Chromium waits 1.5 × the smoothed RTT, which a first connection does
//!   not have). A QUIC attempt that fails (its handshake refused, the
//!   certificate rejected) lets TCP+TLS go at once; a target whose UDP is
//!   remembered as broken gets TCP+TLS alone.
//! * "Answered" is quinn's handshake data being ready: the server's first
//!   flight arrived and decrypted.
//! * UDP remembered as broken: when TCP+TLS won and no QUIC attempt got any
//!   answer, the target is marked for 5 minutes, then 10, 20, ... up to
//!   48 hours (Chromium's backoff); a QUIC success clears the mark and the
//!   backoff. While marked, the call is `connect_tls` and nothing more: no
//!   quinn endpoint, no QUIC configuration, not one UDP packet (a
//!   network whose UDP came back is noticed when the mark has passed).
//! * When QUIC is tried at all (`quic(true)`): the target's HTTPS record
//!   offers `h3` (its ALPN set, RFC 9460 §7.1.2: the `alpn` values plus
//!   `http/1.1` unless `no-default-alpn`), or the memory says QUIC worked
//!   for it, or there is no HTTPS record to say otherwise (a literal
//!   address, `svcb(false)`, a name with no record): then `quic(true)` is
//!   the caller's prior knowledge. A name whose records exist and offer no
//!   `h3` gets TCP+TLS only.
//!
//! Each attempt offers the ALPN its protocol allows: QUIC the `h3` entries
//! of the builder's `alpn` list (`h3` when it has none), TCP+TLS the rest.
//! Certificates and names are verified on both, by the same rustls
//! configuration; nothing falls back to plaintext. The winner's rivals are
//! closed: the TCP+TLS race is dropped (its sockets closed before
//! `connect_secure` returns), QUIC attempts are dropped, which closes them
//! (quinn sends CONNECTION_CLOSE). A closed QUIC connection drains for
//! three probe timeouts (RFC 9000 §10.2) before quinn lets go of its UDP
//! socket, so a one-shot builder's socket closes a moment after the call
//! returns; a [`Connector`](crate::Connector)'s endpoints (one per address
//! family) live as long as the connector.
//!
//! The plain race (`connect`, `connect_tls`) never comes here: all of this
//! sits behind the `quic` feature, in this module, and a builder without
//! `quic(true)` carries one more field in its shared rare options only.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::client::connect::{ConnectionBuilder, Source};
use crate::client::error::{Attempt, AttemptStage, ConnectError, ConnectErrorKind};
use crate::client::establishment::{Establishment, Event, Recorder, TlsReport};
use crate::client::quic_memory::{Memory, Mode, QuicClient, Shared, PROCESS_MEMORY};
use crate::client::tls::TlsStream;
use crate::client::tls_options::TlsSlot;
use crate::resolve::svcb::Batch;
use crate::resolve::{Resolution, Resolve, ResolveError, Resolved};
use crate::shared::report::Dur;
use crate::shared::target::IntoTarget;
use crate::Connector;

/// How long TCP+TLS waits for any answer to the first QUIC attempt before
/// it starts (curl's soft timeout): 100 ms.
pub const QUIC_SOFT_WAIT: Duration = Duration::from_millis(100);

/// How long TCP+TLS waits at most for a QUIC handshake that has had an
/// answer but not finished, counted from the first QUIC attempt (curl's
/// hard timeout): 200 ms.
pub const QUIC_HARD_WAIT: Duration = Duration::from_millis(200);

/// A secure connection from [`connect_secure`](ConnectionBuilder::connect_secure):
/// QUIC (HTTP/3's transport) or TLS over TCP, whichever won the race.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ConnectionBuilder, Secure};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// match ConnectionBuilder::new("example.com:443")
///     .alpn(["h3", "h2", "http/1.1"])
///     .quic(true)
///     .connect_secure()
///     .await?
/// {
///     Secure::Quic(conn) => println!("HTTP/3 with {}", conn.remote_address()),
///     Secure::Tls(tls) => println!("TCP+TLS, ALPN {:?}", tls.alpn_protocol()),
/// }
/// # Ok(()) }
/// ```
// The TLS stream is a few hundred bytes and a QUIC connection one pointer;
// the variant is not boxed so that `Secure::Tls(tls)` is the TlsStream
// itself, the shape `connect_tls` returns.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Secure {
    /// A QUIC connection whose handshake completed (ALPN `h3`, or the
    /// `alpn` list's QUIC protocols).
    Quic(quinn::Connection),
    /// TLS over TCP.
    Tls(TlsStream),
}

impl Secure {
    /// Whether QUIC won.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let conn = tokio_endpoints::ConnectionBuilder::new("example.com:443")
    ///     .quic(true)
    ///     .connect_secure()
    ///     .await?;
    /// println!("QUIC: {}", conn.is_quic());
    /// # Ok(()) }
    /// ```
    pub fn is_quic(&self) -> bool {
        matches!(self, Secure::Quic(_))
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// The TCP socket's `peer_addr` error (a QUIC connection always has
    /// one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let conn = tokio_endpoints::ConnectionBuilder::new("example.com:443")
    ///     .quic(true)
    ///     .connect_secure()
    ///     .await?;
    /// println!("{}", conn.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Secure::Quic(conn) => Ok(conn.remote_address()),
            Secure::Tls(tls) => tls.peer_addr(),
        }
    }

    /// The protocol ALPN agreed on (`b"h3"` for HTTP/3), if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let conn = tokio_endpoints::ConnectionBuilder::new("example.com:443")
    ///     .alpn(["h3", "h2"])
    ///     .quic(true)
    ///     .connect_secure()
    ///     .await?;
    /// println!("{:?}", conn.alpn_protocol());
    /// # Ok(()) }
    /// ```
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        match self {
            Secure::Quic(conn) => conn
                .handshake_data()?
                .downcast::<quinn::crypto::rustls::HandshakeData>()
                .ok()?
                .protocol
                .clone(),
            Secure::Tls(tls) => tls.alpn_protocol().map(<[u8]>::to_vec),
        }
    }
}

/// QUIC in the race. These options apply to
/// [`connect_secure`](Self::connect_secure) only.
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
impl ConnectionBuilder {
    /// Races QUIC against TCP+TLS in [`connect_secure`](Self::connect_secure)
    /// (Happy Eyeballs v3): QUIC attempts first, across the addresses with
    /// the Happy Eyeballs delay between them, and TCP+TLS
    /// ([`connect_tls`](Self::connect_tls)'s race) from
    /// [`QUIC_SOFT_WAIT`] after the first QUIC attempt when no QUIC attempt
    /// had an answer by then, [`QUIC_HARD_WAIT`] when one had; at once when
    /// a QUIC attempt fails. The first handshake to complete wins, every
    /// other attempt is closed. A target whose UDP stayed silent while
    /// TCP+TLS won is remembered as broken (5 minutes, doubling up to 48
    /// hours, cleared by a QUIC success): meanwhile the call is
    /// `connect_tls` alone, not one UDP packet sent, and its report and
    /// error say so.
    ///
    /// QUIC is tried when the target's HTTPS record offers `h3`, when QUIC
    /// worked for it before, or when no HTTPS record says otherwise (a
    /// literal address, [`svcb(false)`](Self::svcb), a name with no
    /// record); a name whose records offer no `h3` gets TCP+TLS alone.
    /// QUIC attempts offer the `h3` entries of the [`alpn`](Self::alpn)
    /// list (`h3` when it has none), TCP+TLS attempts the others.
    ///
    /// `false`: `connect_secure` is `connect_tls`, and not one UDP packet
    /// is sent. Default is `false`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Secure};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let conn = ConnectionBuilder::new("example.com:443")
    ///     .alpn(["h3", "h2", "http/1.1"])
    ///     .quic(true)
    ///     .connect_secure()
    ///     .await?;
    /// if let Secure::Quic(quic) = &conn {
    ///     println!("HTTP/3 over QUIC to {}", quic.remote_address());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn quic(mut self, on: bool) -> Self {
        self.opts.quic.mode = if on { Mode::Race } else { Mode::Off };
        self
    }

    /// QUIC attempts alone in [`connect_secure`](Self::connect_secure):
    /// Happy Eyeballs across the addresses (IPv6 and IPv4 interleaved, the
    /// [`happy_eyeballs`](Self::happy_eyeballs) delay between attempts, the
    /// next one at once when one fails), no TCP. QUIC attempts offer the
    /// whole [`alpn`](Self::alpn) list (`h3` when none is given).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Secure};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let Secure::Quic(conn) = ConnectionBuilder::new("localhost:4433")
    ///     .quic_only()
    ///     .connect_secure()
    ///     .await?
    /// else {
    ///     unreachable!("quic_only never connects TCP")
    /// };
    /// println!("{}", conn.remote_address());
    /// # Ok(()) }
    /// ```
    pub fn quic_only(mut self) -> Self {
        self.opts.quic.mode = Mode::Only;
        self
    }

    /// Connects securely: TCP+TLS as [`connect_tls`](Self::connect_tls)
    /// does, raced against QUIC with [`quic(true)`](Self::quic), or QUIC
    /// alone with [`quic_only`](Self::quic_only).
    /// [`connect_timeout`](Self::connect_timeout) bounds the whole call;
    /// [`attempt_timeout`](Self::attempt_timeout) and
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout) bound each
    /// QUIC attempt (quinn's 30 s idle timeout otherwise). A target
    /// reached through a [`Proxy`](crate::Proxy), or an adopted stream,
    /// gets TCP+TLS only (`quic_only` refuses them).
    ///
    /// # Errors
    ///
    /// Every error of [`connect_tls`](Self::connect_tls); when both
    /// protocols were tried and failed,
    /// [`ConnectErrorKind::AllAttemptsFailed`] with every attempt, QUIC's
    /// ([`AttemptStage::Quic`]) and TCP's, in [`ConnectError::attempts`];
    /// [`ConnectErrorKind::InvalidInput`] for a TLS configuration QUIC
    /// cannot use (no TLS 1.3).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every TCP socket it opened and every
    /// QUIC attempt (a one-shot builder's UDP socket closes when quinn has
    /// drained them).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Secure};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// match ConnectionBuilder::new("example.com:443").quic(true).connect_secure().await? {
    ///     Secure::Quic(conn) => drop(conn.open_bi().await?),
    ///     Secure::Tls(tls) => drop(tls),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connect_secure(self) -> impl Future<Output = Result<Secure, ConnectError>> + Send {
        // A connector's `on_established` or `qlog` is told of every
        // connection: recorded then, and only then.
        let record = self.opts.report.is_some();
        futures_util::FutureExt::map(self.secure(record), |r| r.map(|(secure, _)| secure))
    }

    /// [`connect_secure`](Self::connect_secure), and what it went through:
    /// the [`Establishment`] report of the resolution and of every attempt,
    /// QUIC ([`AttemptStage::Quic`]) and TCP+TLS, and the winner's
    /// handshake. The TCP+TLS attempts still running when QUIC won are
    /// closed without a line of their own. A
    /// [`Connector`](crate::Connector)'s
    /// [`on_established`](crate::Connector::on_established) and
    /// [`qlog`](crate::Connector::qlog) are told of the connection too.
    ///
    /// # Errors
    ///
    /// As [`connect_secure`](Self::connect_secure).
    ///
    /// # Cancel safety
    ///
    /// As [`connect_secure`](Self::connect_secure).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (conn, report) = ConnectionBuilder::new("example.com:443")
    ///     .quic(true)
    ///     .connect_secure_reported()
    ///     .await?;
    /// println!("{report}"); // each QUIC and TCP+TLS attempt, and who won
    /// # drop(conn); Ok(()) }
    /// ```
    pub fn connect_secure_reported(
        self,
    ) -> impl Future<Output = Result<(Secure, Establishment), ConnectError>> + Send {
        futures_util::FutureExt::map(self.secure(true), |r| {
            r.map(|(secure, report)| (secure, report.expect("a recorded connect has its report")))
        })
    }

    /// `connect_secure`, recorded if `record`.
    fn secure(
        self,
        record: bool,
    ) -> impl Future<Output = Result<(Secure, Option<Establishment>), ConnectError>> + Send {
        let span = tracing::debug_span!("connect_secure", target = %self.describe());
        async move {
            let tls_only = |b: ConnectionBuilder| {
                futures_util::FutureExt::map(b.tls_connect(record), |r| {
                    r.map(|(tls, report)| (Secure::Tls(tls), report))
                })
            };
            let mode = self.opts.quic.mode;
            if mode == Mode::Off {
                return tls_only(self).await;
            }
            if let Source::Stream(..) = &self.source {
                if mode == Mode::Only {
                    return Err(self.invalid(
                        "quic_only needs a target to connect to: an adopted stream is TCP",
                    ));
                }
                return tls_only(self).await;
            }
            #[cfg(feature = "proxy")]
            if self
                .opts
                .via
                .as_ref()
                .is_some_and(|via| via.applies(&self, true))
            {
                if mode == Mode::Only {
                    return Err(self.invalid(
                        "quic_only cannot go through a proxy (QUIC is not tunnelled); \
                         leave the proxy out for this target",
                    ));
                }
                tracing::debug!("through a proxy: TCP+TLS only");
                return tls_only(self).await;
            }
            // UDP remembered as broken: TCP+TLS alone, at the cost of
            // `connect_tls` (no endpoint, no QUIC configuration, no UDP
            // packet) until the mark has passed.
            // The report and the error say so.
            if let Some(left) = self.udp_remembered_broken(mode) {
                let mut tcp = self;
                tcp.opts.quic.mode = Mode::Off;
                let shared = tcp.opts.quic.shared.clone();
                tcp_side_alpn(&mut tcp.opts.tls, shared.as_deref());
                let to = tcp.opts.report.take();
                return match tcp.tls_connect(record).await {
                    Ok((tls, report)) => {
                        let report = report.map(|r| r.quic_skipped(left));
                        if let (Some(report), Some(to)) = (&report, &to) {
                            to.tell(report);
                        }
                        Ok((Secure::Tls(tls), report))
                    }
                    Err(e) => Err(e.with_history_note(&format!(
                        "QUIC not tried: UDP remembered as broken for another {}",
                        Dur(left)
                    ))),
                };
            }
            self.checked()?;
            let (secure, report) = match self.opts.connect_timeout {
                Some(t) => match tokio::time::timeout(t, race(&self, mode, record)).await {
                    Ok(result) => result?,
                    Err(_) => {
                        return Err(
                            ConnectError::new(ConnectErrorKind::TimedOut, self.describe())
                                .with_message(format!("timed out after {}", Dur(t)))
                                .with_all_errors(self.opts.all_errors),
                        )
                    }
                },
                None => race(&self, mode, record).await?,
            };
            if let (Some(report), Some(to)) = (&report, &self.opts.report) {
                to.tell(report);
            }
            Ok((secure, report))
        }
        .instrument(span)
    }

    /// How much longer the memory marks this target's UDP as broken, if
    /// it does and `mode` races QUIC (`quic_only` tries QUIC anyway).
    fn udp_remembered_broken(&self, mode: Mode) -> Option<Duration> {
        let (Mode::Race, Source::Target(Ok(target)), Some(memory)) =
            (mode, &self.source, self.quic_memory())
        else {
            return None;
        };
        let key = target.to_string();
        let now = Instant::now();
        let left = memory
            .get(&key)
            .broken_until
            .filter(|t| *t > now)
            .map(|t| t - now)?;
        tracing::debug!(target = %key, for_ = %Dur(left), "UDP remembered as broken: TCP+TLS alone");
        Some(left)
    }

    /// The memory this call reads and writes (none with `history(false)`).
    fn quic_memory(&self) -> Option<&Memory> {
        if self.opts.history_off {
            return None;
        }
        Some(match &self.opts.quic.shared {
            Some(shared) => &shared.memory,
            None => &PROCESS_MEMORY,
        })
    }
}

/// QUIC in the race, for every connection of a connector.
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
impl Connector {
    /// As [`ConnectionBuilder::quic`], for [`connect_secure`](Self::connect_secure)
    /// and the builders this connector makes. The connector opens one quinn
    /// endpoint (one UDP socket) per address family at its first QUIC
    /// attempt of that family, shared by its clones and builders, and
    /// remembers per target whether QUIC worked and whether UDP is broken
    /// ([`clear_history`](Self::clear_history) forgets it). Default is
    /// `false`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().alpn(["h3", "h2"]).quic(true);
    /// let first = connector.connect_secure("example.com:443").await?;
    /// // The same endpoint; TCP+TLS alone if UDP turned out broken.
    /// let second = connector.clone().connect_secure("example.com:443").await?;
    /// # drop((first, second)); Ok(()) }
    /// ```
    pub fn quic(self, on: bool) -> Self {
        self.set(|o| {
            o.quic.mode = if on { Mode::Race } else { Mode::Off };
            if on && o.quic.shared.is_none() {
                o.quic.shared = Some(Arc::default());
            }
        })
    }

    /// Connects as [`ConnectionBuilder::connect_secure`] does, with this
    /// connector's options and endpoints. The future borrows nothing: it
    /// may be spawned.
    ///
    /// # Errors
    ///
    /// As [`ConnectionBuilder::connect_secure`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes every TCP socket and QUIC attempt it
    /// opened.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{Connector, Secure};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().quic(true);
    /// if let Secure::Quic(conn) = connector.connect_secure("example.com:443").await? {
    ///     println!("{:?}", conn.rtt());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connect_secure(
        &self,
        target: impl IntoTarget,
    ) -> impl Future<Output = Result<Secure, ConnectError>> + Send + 'static {
        self.builder(target).connect_secure()
    }
}

/// Whether `protocol` is HTTP/3 (`h3`, or a draft's `h3-NN`).
fn is_h3(protocol: &[u8]) -> bool {
    protocol == b"h3" || protocol.starts_with(b"h3-")
}

/// The ALPN lists of the QUIC attempts and (`Some`: changed from the
/// builder's) of the TCP+TLS attempts.
fn split_alpn(alpn: Option<&[Vec<u8>]>, mode: Mode) -> (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>) {
    let h3 = || vec![b"h3".to_vec()];
    let Some(list) = alpn else {
        return (h3(), None);
    };
    if mode == Mode::Only {
        return (if list.is_empty() { h3() } else { list.to_vec() }, None);
    }
    let (quic, tcp): (Vec<_>, Vec<_>) = list.iter().cloned().partition(|p| is_h3(p));
    match quic.is_empty() {
        true => (h3(), None),
        false => (quic, Some(tcp)),
    }
}

/// The TCP+TLS side's ALPN: the builder's list without `h3` (through the
/// connector's cache: derived once, not per call).
fn tcp_side_alpn(tls: &mut TlsSlot, shared: Option<&Shared>) {
    // Nothing to take out: the options stay shared, not copied.
    if !matches!(&tls.alpn, Some(Ok(list)) if list.iter().any(|p| is_h3(p))) {
        return;
    }
    let derive = |list: &[Vec<u8>]| split_alpn(Some(list), Mode::Race).1;
    match shared {
        Some(shared) => tls.derive_alpn(derive, &shared.tcp_alpn),
        None => tls.derive_alpn(derive, &Mutex::new(None)),
    }
}

/// The quinn client configuration of the QUIC attempts: `tls` with the
/// QUIC attempts' ALPN. A connector's is made once per TLS configuration
/// and mode and shared by its calls; a one-shot builder's per call.
fn client_config(
    builder: &ConnectionBuilder,
    tls: &Arc<rustls::ClientConfig>,
    mode: Mode,
) -> Result<quinn::ClientConfig, ConnectError> {
    let alpn = match &builder.opts.tls.alpn {
        Some(Ok(list)) => Some(list),
        _ => None,
    };
    let shared = builder.opts.quic.shared.as_deref();
    let mut cached = shared.map(|s| s.client.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(Some(c)) = cached.as_deref() {
        if Arc::ptr_eq(&c.tls, tls) && c.mode == mode && c.alpn.as_ref() == alpn {
            return Ok(c.client.clone());
        }
    }
    // (quinn would panic on a configuration without TLS 1.3.)
    if !supports_tls13(tls) {
        return Err(builder.invalid(
            "the TLS configuration cannot be used for QUIC: QUIC needs TLS 1.3, \
             and the configuration allows TLS 1.2 only",
        ));
    }
    let mut crypto = (**tls).clone();
    crypto.alpn_protocols = split_alpn(alpn.map(Vec::as_slice), mode).0;
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(crypto)).map_err(|e| {
            builder.invalid(format!(
                "the TLS configuration cannot be used for QUIC ({e}): QUIC needs TLS 1.3 \
                 with TLS_AES_128_GCM_SHA256"
            ))
        })?;
    let client = quinn::ClientConfig::new(Arc::new(crypto));
    if let Some(cached) = cached.as_deref_mut() {
        *cached = Some(QuicClient {
            tls: tls.clone(),
            mode,
            alpn: alpn.cloned(),
            client: client.clone(),
        });
    }
    Ok(client)
}

/// Whether a record set offers HTTP/3 (RFC 9460 §7.1.2: the record's
/// `alpn` values, and `http/1.1` unless `no-default-alpn`; h3 is never a
/// default).
fn offers_h3(records: &[crate::ServiceRecord]) -> bool {
    records.iter().any(|r| r.alpn().iter().any(|p| is_h3(p)))
}

/// The QUIC endpoints of one call: the connector's, or its own.
struct Endpoints<'a> {
    shared: Option<&'a Shared>,
    own: [Option<quinn::Endpoint>; 2],
    locals: &'a [SocketAddr],
}

impl Endpoints<'_> {
    /// The endpoint for addresses of `addr`'s family, opened at first use.
    fn get(&mut self, addr: SocketAddr, fresh: bool) -> io::Result<quinn::Endpoint> {
        let i = usize::from(addr.is_ipv6());
        let local = self.locals.iter().find(|l| l.is_ipv4() == addr.is_ipv4());
        let bind = match (local, addr) {
            (Some(local), _) => *local,
            (None, SocketAddr::V4(_)) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            (None, SocketAddr::V6(_)) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let open = || {
            tracing::debug!(%bind, "QUIC endpoint opened");
            quinn::Endpoint::client(bind)
        };
        match self.shared.filter(|_| local.is_none()) {
            Some(shared) => {
                let mut endpoints = shared.endpoints.lock().unwrap_or_else(|e| e.into_inner());
                if fresh || endpoints[i].is_none() {
                    endpoints[i] = Some(open()?);
                }
                Ok(endpoints[i].clone().expect("just opened"))
            }
            None => {
                if fresh || self.own[i].is_none() {
                    self.own[i] = Some(open()?);
                }
                Ok(self.own[i].clone().expect("just opened"))
            }
        }
    }
}

/// How one QUIC attempt ended: its address, when it started, and the
/// connection or the error with whether the peer had answered.
type Ended = (
    SocketAddr,
    Instant,
    Result<quinn::Connection, (io::Error, bool)>,
);

/// A quinn connection error as an `io::Error`, and whether it means the
/// peer answered (anything but silence or our own close).
fn connection_error(e: quinn::ConnectionError) -> (io::Error, bool) {
    use quinn::ConnectionError as E;
    let (kind, answered) = match &e {
        E::TimedOut => (io::ErrorKind::TimedOut, false),
        E::LocallyClosed | E::CidsExhausted => (io::ErrorKind::Other, false),
        E::Reset => (io::ErrorKind::ConnectionReset, true),
        E::ConnectionClosed(_) | E::ApplicationClosed(_) => {
            (io::ErrorKind::ConnectionRefused, true)
        }
        _ => (io::ErrorKind::InvalidData, true),
    };
    (io::Error::new(kind, e), answered)
}

/// One QUIC attempt: connect, tell `answered` when the server's first
/// flight arrived, then the rest of the handshake; within `bound`.
async fn attempt(
    connecting: Result<quinn::Connecting, io::Error>,
    addr: SocketAddr,
    started: Instant,
    answered: tokio::sync::mpsc::UnboundedSender<SocketAddr>,
    bound: Option<Duration>,
) -> Ended {
    let run = async {
        let mut connecting = connecting.map_err(|e| (e, false))?;
        match connecting.handshake_data().await {
            Ok(_) => {
                tracing::debug!(%addr, "QUIC attempt answered");
                let _ = answered.send(addr);
            }
            Err(e) => return Err(connection_error(e)),
        }
        connecting.await.map_err(connection_error)
    };
    let result = match bound {
        Some(t) => tokio::time::timeout(t, run).await.unwrap_or_else(|_| {
            Err((
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no QUIC handshake within {}", Dur(t)),
                ),
                false,
            ))
        }),
        None => run.await,
    };
    (addr, started, result)
}

/// Addresses waiting for their QUIC attempt: IPv6 and IPv4 taken in turn.
#[derive(Default)]
struct Queue {
    v6: VecDeque<SocketAddr>,
    v4: VecDeque<SocketAddr>,
    seen: HashSet<SocketAddr>,
    next_v4: bool,
}

impl Queue {
    fn push(&mut self, addr: SocketAddr) {
        if self.seen.insert(addr) {
            match addr {
                SocketAddr::V6(_) => self.v6.push_back(addr),
                SocketAddr::V4(_) => self.v4.push_back(addr),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.v6.is_empty() && self.v4.is_empty()
    }

    fn pop(&mut self) -> Option<SocketAddr> {
        let (first, second) = match self.next_v4 {
            true => (&mut self.v4, &mut self.v6),
            false => (&mut self.v6, &mut self.v4),
        };
        let addr = first.pop_front().or_else(|| second.pop_front())?;
        self.next_v4 = addr.is_ipv6();
        Some(addr)
    }
}

/// The TCP+TLS race: its stream, and its report when recorded.
type TcpRace = dyn Future<Output = Result<(TlsStream, Option<Establishment>), ConnectError>> + Send;

/// Where the TCP+TLS side of the race is.
enum Tcp {
    /// Not started (the builder it will run).
    Waiting(Box<ConnectionBuilder>),
    Running(Instant, std::pin::Pin<Box<TcpRace>>),
    Failed(Instant, ConnectError),
    /// `quic_only`, or taken.
    Never,
}

/// Whether `config` allows TLS 1.3 (rustls keeps that private: a QUIC
/// session is made and thrown away, once per configuration in a row).
fn supports_tls13(config: &Arc<rustls::ClientConfig>) -> bool {
    static LAST: Mutex<Option<(std::sync::Weak<rustls::ClientConfig>, bool)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((weak, ok)) = &*last {
        if std::ptr::eq(weak.as_ptr(), Arc::as_ptr(config)) && weak.strong_count() > 0 {
            return *ok;
        }
    }
    let ok = rustls::quic::ClientConnection::new(
        config.clone(),
        rustls::quic::Version::V1,
        rustls::pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()),
        Vec::new(),
    )
    .is_ok();
    *last = Some((Arc::downgrade(config), ok));
    ok
}

/// The race of `builder`'s target (checked already).
async fn race(
    builder: &ConnectionBuilder,
    mode: Mode,
    record: bool,
) -> Result<(Secure, Option<Establishment>), ConnectError> {
    let start = Instant::now();
    let mut rec = record.then(|| {
        let mut rec = Recorder::new(start);
        rec.tls = true;
        rec
    });
    let (target, locals) = builder.checked()?;
    let tls = builder.quic_tls().await?;
    let client = client_config(builder, &tls.config, mode)?;
    let bound = match (builder.opts.attempt_timeout, tls.handshake_timeout) {
        (Some(a), Some(h)) => Some(a.min(h)),
        (a, h) => a.or(h),
    };
    let key = target.to_string();
    let memory = builder.quic_memory();
    let remembered = memory.map(|m| m.get(&key)).unwrap_or_default();
    let broken = mode == Mode::Race && remembered.broken(start);
    if broken {
        tracing::debug!(target = %key, "UDP remembered as broken: TCP+TLS at once");
    }

    // Whether QUIC is tried: `None` until the HTTPS records tell.
    let mut eligible = (mode == Mode::Only || remembered.worked).then_some(true);
    let mut queue = Queue::default();
    let mut denied = Vec::new();
    let mut resolve_errors: Vec<ResolveError> = Vec::new();
    let mut resolving: Option<Resolution> = None;
    let port = target.port();
    match target.host() {
        None => {
            if let Some(rec) = rec.as_deref_mut() {
                let at = rec.now();
                rec.push(at, Event::Literal);
            }
            // Each with its own port (a list may name several).
            for a in target.addrs() {
                for addr in builder.admit([a.ip()], a.port(), &mut denied).flatten() {
                    queue.push(addr);
                }
            }
            eligible.get_or_insert(true);
        }
        Some(host) => {
            let host = target.host_name().unwrap_or(host);
            let resolver = builder.name_resolver();
            let services = builder.opts.svcb.unwrap_or(true);
            if let Some(rec) = rec.as_deref_mut() {
                rec.opened = true;
                rec.resolving(host, resolver.clone().into_owned(), services);
            }
            if services {
                resolving = Some(resolver.resolve_service(host, port, builder.opts.family));
            } else {
                let addrs = resolver.resolve(host, builder.opts.family);
                resolving = Some(addrs.map(|b| b.map(Resolved::Addrs)).boxed());
                eligible.get_or_insert(true);
            }
        }
    }

    let mut tcp = match mode {
        Mode::Only => Tcp::Never,
        _ => {
            let mut tcp = ConnectionBuilder::with_options(
                Source::Target(Ok(target.clone())),
                builder.opts.clone(),
            );
            // The whole call is bounded, and reported, here.
            tcp.opts.connect_timeout = None;
            tcp.opts.report = None;
            tcp.opts.quic.mode = Mode::Off;
            tcp_side_alpn(&mut tcp.opts.tls, builder.opts.quic.shared.as_deref());
            Tcp::Waiting(Box::new(tcp))
        }
    };
    let delay = builder.opts.delay;
    let mut endpoints = Endpoints {
        shared: builder.opts.quic.shared.as_deref(),
        own: [None, None],
        locals,
    };
    let server_name = |addr: SocketAddr| match &tls.server_name {
        Some(name) => name.to_str().into_owned(),
        None => addr.ip().to_string(),
    };
    let (answers, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut running = FuturesUnordered::new();
    let mut failed: Vec<Attempt> = Vec::new();
    let mut first_quic: Option<Instant> = None;
    let mut next_quic: Option<Instant> = None;
    let mut tcp_at: Option<Instant> = None;
    let mut answered = false;
    // The QUIC attempts running: address, start (from the call's).
    let mut live: Vec<(SocketAddr, Duration)> = Vec::new();

    loop {
        let now = Instant::now();
        // A name whose records offer no h3: TCP+TLS alone.
        if eligible == Some(false) {
            tcp_at = Some(now);
        }
        // The next QUIC attempt: at once for the first or when none runs,
        // then one delay after the last.
        if eligible == Some(true) {
            while !queue.is_empty() && (running.is_empty() || next_quic.is_some_and(|t| t <= now)) {
                let addr = queue.pop().expect("not empty");
                let connecting = endpoints.get(addr, false).and_then(|endpoint| {
                    let connect = |e: &quinn::Endpoint| {
                        e.connect_with(client.clone(), addr, &server_name(addr))
                    };
                    match connect(&endpoint) {
                        // A connector's endpoint from a runtime that is
                        // gone: a new one, in this runtime.
                        Err(quinn::ConnectError::EndpointStopping) => {
                            connect(&endpoints.get(addr, true)?).map_err(io::Error::other)
                        }
                        other => other.map_err(io::Error::other),
                    }
                });
                tracing::debug!(%addr, "QUIC attempt started");
                let at = now - start;
                if let Some(rec) = rec.as_deref_mut() {
                    rec.started(addr, at, !running.is_empty());
                }
                live.push((addr, at));
                running.push(attempt(connecting, addr, now, answers.clone(), bound));
                next_quic = delay.map(|d| now + d);
                if first_quic.is_none() {
                    first_quic = Some(now);
                    if mode == Mode::Race {
                        tcp_at = Some(if broken { now } else { now + QUIC_SOFT_WAIT });
                    }
                }
            }
        }
        let quic_done = running.is_empty()
            && queue.is_empty()
            && (resolving.is_none() || eligible == Some(false));
        // Nothing (more) to try over QUIC: TCP+TLS now.
        if quic_done {
            tcp_at = Some(now);
        }
        if let Tcp::Waiting(_) = &tcp {
            if tcp_at.is_some_and(|t| t <= now) {
                let Tcp::Waiting(b) = std::mem::replace(&mut tcp, Tcp::Never) else {
                    unreachable!()
                };
                tracing::debug!(
                    after = %Dur(now - start),
                    quic_answered = answered,
                    "TCP+TLS started"
                );
                tcp = Tcp::Running(now, Box::pin(b.tls_connect(record)));
            }
        }
        if quic_done && matches!(tcp, Tcp::Failed(..) | Tcp::Never) {
            if first_quic.is_some() && !answered {
                if let Some(memory) = memory {
                    memory.udp_broken(&key, now);
                }
            }
            return Err(failure(builder, start, failed, tcp, resolve_errors, denied));
        }
        let wake = [
            next_quic.filter(|_| !queue.is_empty() && eligible == Some(true)),
            tcp_at.filter(|_| matches!(tcp, Tcp::Waiting(_))),
        ]
        .into_iter()
        .flatten()
        .min();
        let tcp_running = matches!(tcp, Tcp::Running(..));
        tokio::select! {
            item = async { resolving.as_mut().expect("resolving").next().await },
                if resolving.is_some() =>
            {
                match item {
                    None => {
                        resolving = None;
                        // No record said otherwise.
                        eligible.get_or_insert(true);
                    }
                    Some(Ok(Resolved::Addrs(ips))) => {
                        let seen = ips.len();
                        let mut refused = Vec::new();
                        let add: Vec<SocketAddr> =
                            builder.admit(ips, port, &mut refused).flatten().collect();
                        if let Some(rec) = rec.as_deref_mut() {
                            rec.answer(&Batch {
                                seen,
                                add: add.clone(),
                                withdraw: Vec::new(),
                                denied: refused.clone(),
                            });
                        }
                        denied.extend(refused);
                        for addr in add {
                            queue.push(addr);
                        }
                    }
                    Some(Ok(Resolved::Services(records))) => {
                        if eligible.is_none() {
                            let offered = records.is_empty() || offers_h3(&records);
                            tracing::debug!(
                                records = records.len(),
                                h3 = offered,
                                "HTTPS records: QUIC {}",
                                if offered { "tried" } else { "not offered" }
                            );
                            eligible = Some(offered);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        if let Some(rec) = rec.as_deref_mut() {
                            rec.resolve_failed(&e);
                        }
                        resolve_errors.push(e);
                    }
                }
            }
            Some((addr, started, result)) = running.next(), if !running.is_empty() => {
                let began = started - start;
                live.retain(|l| *l != (addr, began));
                match result {
                    Ok(conn) => {
                        tracing::debug!(%addr, after = %Dur(start.elapsed()), "QUIC won");
                        if let Some(memory) = memory {
                            memory.worked(&key);
                        }
                        let report = rec.map(|mut rec| {
                            let at = rec.now();
                            for (other, from) in live.drain(..) {
                                rec.cancelled(other, from, AttemptStage::Quic, at);
                            }
                            rec.failed = failed;
                            rec.won(addr, began, AttemptStage::Quic, at);
                            let alpn = Secure::Quic(conn.clone()).alpn_protocol();
                            rec.finish(target.clone(), at, Some(TlsReport {
                                handshake: at.saturating_sub(began),
                                version: Some("TLSv1_3".to_string()),
                                alpn,
                                resumed: false,
                            }))
                        });
                        // The TCP+TLS race and the other QUIC attempts
                        // are dropped (closed) on return.
                        return Ok((Secure::Quic(conn), report));
                    }
                    Err((error, peer_answered)) => {
                        answered |= peer_answered;
                        tracing::debug!(%addr, %error, "QUIC attempt failed");
                        let now = Instant::now();
                        if let Some(rec) = rec.as_deref_mut() {
                            rec.failed(addr, AttemptStage::Quic, now - start, !queue.is_empty());
                        }
                        failed.push(Attempt {
                            addr,
                            started: started - start,
                            elapsed: now - started,
                            error,
                            stage: AttemptStage::Quic,
                        });
                        // The next address, and TCP+TLS, at once.
                        next_quic = Some(now);
                        if mode == Mode::Race {
                            tcp_at = Some(now);
                        }
                    }
                }
            }
            Some(addr) = answered_rx.recv() => {
                let _ = addr;
                answered = true;
                if let (Tcp::Waiting(_), Some(first)) = (&tcp, first_quic) {
                    if !broken {
                        tcp_at = Some(tcp_at.map_or(first + QUIC_HARD_WAIT, |t| t.max(first + QUIC_HARD_WAIT)));
                    }
                }
            }
            result = async {
                match &mut tcp {
                    Tcp::Running(_, f) => f.await,
                    _ => unreachable!("polled only while running"),
                }
            }, if tcp_running => {
                match result {
                    Ok((tls, tcp_report)) => {
                        tracing::debug!(after = %Dur(start.elapsed()), "TCP+TLS won");
                        if first_quic.is_some() && !answered {
                            if let Some(memory) = memory {
                                memory.udp_broken(&key, Instant::now());
                            }
                        }
                        let report = match (rec, tcp_report, &tcp) {
                            (Some(mut rec), Some(report), Tcp::Running(at, _)) => {
                                let now = rec.now();
                                for (other, from) in live.drain(..) {
                                    rec.cancelled(other, from, AttemptStage::Quic, now);
                                }
                                rec.failed = failed;
                                Some(report.beside_quic(*at - start, now, rec.into_beside()))
                            }
                            (_, report, _) => report,
                        };
                        return Ok((Secure::Tls(tls), report));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "TCP+TLS failed");
                        let Tcp::Running(at, _) = std::mem::replace(&mut tcp, Tcp::Never) else {
                            unreachable!()
                        };
                        tcp = Tcp::Failed(at, e);
                    }
                }
            }
            () = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            }, if wake.is_some() => {}
        }
    }
}

/// The error of a race nobody won: every attempt of both protocols.
fn failure(
    builder: &ConnectionBuilder,
    start: Instant,
    mut attempts: Vec<Attempt>,
    tcp: Tcp,
    mut resolve_errors: Vec<ResolveError>,
    denied: Vec<crate::DeniedAddress>,
) -> ConnectError {
    let all_errors = builder.opts.all_errors;
    if let Tcp::Failed(at, mut e) = tcp {
        // TCP+TLS alone was tried: its error as it is.
        if attempts.is_empty() {
            return e;
        }
        let offset = at - start;
        attempts.extend(e.take_attempts().into_iter().map(|mut a| {
            a.started += offset;
            a
        }));
        resolve_errors.extend(e.take_resolve_errors());
    }
    attempts.sort_by_key(|a| a.started);
    let kind = if !attempts.is_empty() {
        ConnectErrorKind::AllAttemptsFailed
    } else if !denied.is_empty() {
        ConnectErrorKind::Denied
    } else {
        ConnectErrorKind::Resolve
    };
    let mut err = ConnectError::new(kind, builder.describe());
    if kind == ConnectErrorKind::Resolve && resolve_errors.is_empty() {
        err = err.with_message("the resolver returned no address");
    }
    err.with_attempts(attempts)
        .with_resolve_errors(resolve_errors)
        .with_denied(denied)
        .with_all_errors(all_errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::quic_memory::{BROKEN_FIRST, BROKEN_MAX};

    #[test]
    fn alpn_is_split_between_the_protocols() {
        let list = [b"h3".to_vec(), b"h2".to_vec(), b"http/1.1".to_vec()];
        let (quic, tcp) = split_alpn(Some(&list[..]), Mode::Race);
        assert_eq!(quic, vec![b"h3".to_vec()]);
        assert_eq!(tcp, Some(vec![b"h2".to_vec(), b"http/1.1".to_vec()]));
        let (quic, tcp) = split_alpn(None, Mode::Race);
        assert_eq!(quic, vec![b"h3".to_vec()]);
        assert_eq!(tcp, None);
        let h2 = [b"h2".to_vec()];
        assert_eq!(
            split_alpn(Some(&h2[..]), Mode::Race),
            (vec![b"h3".to_vec()], None)
        );
        let hq = vec![b"hq-interop".to_vec()];
        assert_eq!(split_alpn(Some(&hq[..]), Mode::Only).0, hq);
    }

    #[test]
    fn records_offer_h3_by_their_alpn() {
        use crate::ServiceRecord;
        assert!(offers_h3(&[
            ServiceRecord::new(1, ".").with_alpn(["h2", "h3"])
        ]));
        assert!(!offers_h3(&[ServiceRecord::new(1, ".").with_alpn(["h2"])]));
        assert!(!offers_h3(&[
            ServiceRecord::new(1, ".").with_no_default_alpn()
        ]));
    }

    #[tokio::test(start_paused = true)]
    async fn broken_udp_backs_off_doubling_to_48_hours_and_success_resets() {
        let memory = Memory::default();
        let t0 = Instant::now();
        memory.udp_broken("h:443", t0);
        let r = memory.get("h:443");
        assert_eq!(r.broken_until, Some(t0 + BROKEN_FIRST));
        assert!(r.broken(t0 + BROKEN_FIRST - Duration::from_secs(1)));
        assert!(!r.broken(t0 + BROKEN_FIRST));
        // Marked already: no doubling within the mark.
        memory.udp_broken("h:443", t0 + Duration::from_secs(1));
        assert_eq!(memory.get("h:443").broken_until, Some(t0 + BROKEN_FIRST));
        let mut at = t0 + BROKEN_FIRST;
        let mut expect = BROKEN_FIRST * 2;
        for _ in 0..12 {
            memory.udp_broken("h:443", at);
            assert_eq!(memory.get("h:443").broken_until, Some(at + expect));
            at += expect;
            expect = (expect * 2).min(BROKEN_MAX);
        }
        assert_eq!(expect, BROKEN_MAX);
        memory.worked("h:443");
        let r = memory.get("h:443");
        assert!(r.worked && r.broken_until.is_none() && r.backoff.is_zero());
        memory.udp_broken("h:443", at);
        assert_eq!(memory.get("h:443").broken_until, Some(at + BROKEN_FIRST));
    }

    #[test]
    fn the_queue_interleaves_families_from_ipv6() {
        let mut q = Queue::default();
        for a in [
            "127.0.0.1:1",
            "127.0.0.2:1",
            "[::1]:1",
            "[::2]:1",
            "[::1]:1",
        ] {
            q.push(a.parse().unwrap());
        }
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|a| a.to_string())
            .collect();
        assert_eq!(order, ["[::1]:1", "127.0.0.1:1", "[::2]:1", "127.0.0.2:1"]);
    }
}
