//! [`Establishment`]: what a connect that succeeded went through, the way
//! [`ConnectError`](crate::ConnectError) says what one that failed tried.
//!
//! Nothing of this exists unless it was asked for
//! ([`connect_reported`](crate::ConnectionBuilder::connect_reported),
//! [`on_established`](crate::Connector::on_established),
//! [`qlog`](crate::Connector::qlog)): the race holds an
//! `Option<Box<Recorder>>`, `None` for a plain `connect`, and every place
//! that records is one test of it. A plain `connect` does not even reach
//! the race when its first attempt wins (see `Connect` in `connect.rs`);
//! a reported one always runs the race, so that every event has a place.
//!
//! The [`Recorder`] keeps events as they happen, each with its offset from
//! the start of the call; [`Recorder::finish`] turns them into the
//! report's parts (attempts, resolution steps, TLS) and keeps the events
//! for the timeline (`Display`) and the qlog trace (`qlog.rs`). How
//! durations and errors read comes from `shared::report`, as in
//! `ConnectError`'s messages.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::client::error::{Attempt, AttemptStage};
use crate::resolve::svcb::Batch;
use crate::resolve::{ResolveError, Resolver};
use crate::shared::policy::DeniedAddress;
use crate::shared::report::{full, Dur};
use crate::shared::target::Target;

/// What a successful connect went through: how the name was resolved, each
/// attempt (the one that won, those that failed, those cancelled when it
/// won), the delay between attempts and why, what the history of earlier
/// connections advised, which addresses the address policy removed, and
/// the TLS handshake.
///
/// `Display` is a timeline, one line per event with its offset from the
/// start of the call in milliseconds; `{:?}` is the structured form. Clones
/// share one report (it is behind an `Arc`).
///
/// Made by [`ConnectionBuilder::connect_reported`](crate::ConnectionBuilder::connect_reported)
/// and [`connect_tls_reported`](crate::ConnectionBuilder::connect_tls_reported),
/// handed to [`Connector::on_established`](crate::Connector::on_established)
/// for every connection of a connector, and written as qlog by
/// [`Connector::qlog`](crate::Connector::qlog).
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
/// println!("{report}");
/// println!(
///     "{} won after {:?}, {} attempts, {} DNS answers",
///     report.winner().addr(),
///     report.duration(),
///     report.attempts().len(),
///     report.resolution().len()
/// );
/// # drop(stream); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Establishment {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    asked: Option<Arc<Asked>>,
    duration: Duration,
    events: Vec<Stamped>,
    attempts: Vec<AttemptReport>,
    winner: usize,
    resolution: Vec<ResolutionStep>,
    delay: Option<Duration>,
    adaptive: bool,
    preferred: Option<IpAddr>,
    avoided: Vec<IpAddr>,
    denied: Vec<DeniedAddress>,
    tls: Option<TlsReport>,
}

impl Establishment {
    /// The target, as it reads in messages (`example.com:443`).
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// How long the call took, from its start until the winner was handed
    /// over (its TLS handshake included).
    pub fn duration(&self) -> Duration {
        self.inner.duration
    }

    /// The attempt that won.
    pub fn winner(&self) -> &AttemptReport {
        &self.inner.attempts[self.inner.winner]
    }

    /// Every attempt, in the order they started, the winner among them:
    /// each with its address, stage, start, duration and outcome (the same
    /// detail [`ConnectError::attempts`](crate::ConnectError::attempts)
    /// gives for a failed call).
    pub fn attempts(&self) -> &[AttemptReport] {
        &self.inner.attempts
    }

    /// What the resolver answered, one step per answer or error, in the
    /// order they came; empty for a literal address.
    pub fn resolution(&self) -> &[ResolutionStep] {
        &self.inner.resolution
    }

    /// The TLS handshake of the winner; `None` for a plain TCP connect.
    pub fn tls(&self) -> Option<&TlsReport> {
        self.inner.tls.as_ref()
    }

    /// The connection attempt delay the race used; `None` when it tried
    /// one address at a time ([`sequential`](crate::ConnectionBuilder::sequential)).
    pub fn delay(&self) -> Option<Duration> {
        self.inner.delay
    }

    /// Whether [`delay`](Self::delay) came from the history of earlier
    /// connections ([`adaptive_delay`](crate::ConnectionBuilder::adaptive_delay))
    /// rather than the fixed [`happy_eyeballs`](crate::ConnectionBuilder::happy_eyeballs)
    /// delay.
    pub fn adaptive_delay(&self) -> bool {
        self.inner.adaptive
    }

    /// The address the history of earlier connections put first (it won
    /// last time), if any.
    pub fn preferred(&self) -> Option<IpAddr> {
        self.inner.preferred
    }

    /// The addresses the history put last (they timed out recently).
    pub fn avoided(&self) -> &[IpAddr] {
        &self.inner.avoided
    }

    /// The addresses the [`address_policy`](crate::ConnectionBuilder::address_policy)
    /// removed, and why.
    pub fn denied(&self) -> &[DeniedAddress] {
        &self.inner.denied
    }

    /// The name resolved and the resolver's name, if a name was resolved.
    pub(crate) fn asked(&self) -> Option<(&str, &str)> {
        self.inner
            .asked
            .as_deref()
            .map(|a| (&*a.host, a.resolver_name()))
    }

    /// The events, for the qlog trace.
    pub(crate) fn events(&self) -> &[Stamped] {
        &self.inner.events
    }

    /// This report, with a first line saying that QUIC was not tried (UDP
    /// remembered as broken for `left` more).
    #[cfg(feature = "quic")]
    pub(crate) fn quic_skipped(self, left: Duration) -> Establishment {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            // Shared already (never: it was just made): as it is.
            Err(inner) => return Establishment { inner },
        };
        inner.events.insert(
            0,
            Stamped {
                at: Duration::ZERO,
                event: Event::QuicSkipped { left },
            },
        );
        Establishment {
            inner: Arc::new(inner),
        }
    }

    /// The report of an adopted stream: no resolution, one attempt, won at
    /// once.
    pub(crate) fn adopted(peer: SocketAddr) -> Establishment {
        let target = crate::IntoTarget::into_target(peer).expect("a peer address is a target");
        let mut rec = Recorder::new(Instant::now());
        rec.push(Duration::ZERO, Event::Literal);
        rec.started(peer, Duration::ZERO, false);
        rec.won(peer, Duration::ZERO, AttemptStage::Tcp, Duration::ZERO);
        rec.finish(target, Duration::ZERO, None)
    }
}

impl fmt::Debug for Establishment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Establishment")
            .field("target", &i.target)
            .field("duration", &i.duration)
            .field("winner", &self.winner().addr)
            .field("attempts", &i.attempts)
            .field("resolution", &i.resolution)
            .field("delay", &i.delay)
            .field("adaptive_delay", &i.adaptive)
            .field("preferred", &i.preferred)
            .field("avoided", &i.avoided)
            .field("denied", &i.denied)
            .field("tls", &i.tls)
            .finish()
    }
}

/// The offset of an event, as the timeline prints it: milliseconds with
/// three decimals, right-aligned.
struct Offset(Duration);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>9.3} ms", self.0.as_secs_f64() * 1e3)
    }
}

/// ```text
/// connect to dual.test:8443: 127.0.0.1:8443 won after 281 ms (2 attempts)
///     0.012 ms  resolving dual.test (AAAA and A) with HickoryResolver
///    30.418 ms  AAAA answer: ::1
///    30.440 ms  A answer: 127.0.0.1
///    30.501 ms  attempt 1 to [::1]:8443 started
///   280.533 ms  attempt 2 to 127.0.0.1:8443 started: the 250 ms delay passed
///   280.811 ms  attempt 2 to 127.0.0.1:8443 won (TCP, after 0.28 ms)
///   280.812 ms  attempt 1 to [::1]:8443 cancelled (TCP, after 250 ms)
/// ```
impl fmt::Display for Establishment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        let w = self.winner();
        write!(
            f,
            "connect to {}: {} won after {} ({} attempt{})",
            i.target,
            w.addr,
            Dur(i.duration),
            i.attempts.len(),
            if i.attempts.len() == 1 { "" } else { "s" }
        )?;
        for e in &i.events {
            write!(f, "\n{}  ", Offset(e.at))?;
            self.line(f, e)?;
        }
        Ok(())
    }
}

impl Establishment {
    /// The attempt to `addr` started last before `at`: its number (from
    /// 1) and its record.
    pub(crate) fn attempt_at(&self, addr: SocketAddr, at: Duration) -> (usize, &AttemptReport) {
        self.attempt_in(addr, at, None)
    }

    /// [`attempt_at`](Self::attempt_at), of `stage`'s protocol only when
    /// given (a QUIC and a TCP attempt may go to one address).
    pub(crate) fn attempt_in(
        &self,
        addr: SocketAddr,
        at: Duration,
        stage: Option<AttemptStage>,
    ) -> (usize, &AttemptReport) {
        let attempts = &self.inner.attempts;
        // An attempt that started at `at` exactly, first.
        let exact = attempts
            .iter()
            .position(|a| a.addr == addr && a.started == at);
        if let (Some(n), None) = (exact, stage) {
            return (n + 1, &attempts[n]);
        }
        attempts
            .iter()
            .enumerate()
            .rev()
            .find(|(_, a)| {
                a.addr == addr && a.started <= at && stage.is_none_or(|s| same_protocol(s, a.stage))
            })
            .map(|(n, a)| (n + 1, a))
            .unwrap_or((0, self.winner()))
    }

    fn line(&self, f: &mut fmt::Formatter<'_>, e: &Stamped) -> fmt::Result {
        let i = &*self.inner;
        match &e.event {
            Event::Resolving { services } => {
                let (name, resolver) = self.asked().unwrap_or_default();
                write!(
                    f,
                    "resolving {name} ({}) with {resolver}",
                    if *services {
                        "HTTPS, AAAA and A"
                    } else {
                        "AAAA and A"
                    }
                )
            }
            Event::Literal => {
                f.write_str("addresses given: ")?;
                list(f, i.target.addrs().iter())
            }
            Event::Answer { step } => {
                let s = &i.resolution[*step];
                write!(f, "{} answer: ", s.query)?;
                if s.addrs.is_empty() {
                    f.write_str("no usable address")?;
                } else {
                    list(f, s.addrs.iter())?;
                }
                if s.cached {
                    f.write_str(" (at once)")?;
                }
                Ok(())
            }
            Event::ResolveFailed { step } => {
                let s = &i.resolution[*step];
                match &s.error {
                    Some(e) => write!(f, "{} failed: {e}", s.query),
                    None => write!(f, "{} failed", s.query),
                }
            }
            #[cfg(feature = "quic")]
            Event::QuicSkipped { left } => write!(
                f,
                "QUIC not tried: UDP remembered as broken for another {}",
                crate::shared::report::Dur(*left)
            ),
            Event::Advice => {
                f.write_str("history: ")?;
                let mut said = false;
                if let Some(p) = i.preferred {
                    write!(f, "{p} first (it won last time)")?;
                    said = true;
                }
                if !i.avoided.is_empty() {
                    if said {
                        f.write_str("; ")?;
                    }
                    list(f, i.avoided.iter())?;
                    f.write_str(" last (timed out recently)")?;
                    said = true;
                }
                if i.adaptive {
                    if said {
                        f.write_str("; ")?;
                    }
                    if let Some(d) = i.delay {
                        write!(f, "delay {} (adaptive)", Dur(d))?;
                    }
                }
                Ok(())
            }
            Event::Denied { addr, reason } => {
                write!(f, "{addr} refused by the address policy: {reason}")
            }
            Event::Started { addr, why } => {
                let (n, a) = self.attempt_at(*addr, e.at);
                write!(f, "attempt {n} to {addr}{} started", over(a.stage))?;
                match why {
                    Why::First => Ok(()),
                    Why::Delay => match i.delay {
                        Some(d) => write!(f, ": the {} delay passed", Dur(d)),
                        None => Ok(()),
                    },
                    Why::Failure => f.write_str(": the one before failed"),
                    Why::Arrived => f.write_str(": its address arrived"),
                }
            }
            Event::Connected { addr, extended } => {
                let (n, a) = self.attempt_at(*addr, e.at);
                write!(
                    f,
                    "attempt {n} to {addr}: TCP connected after {}, TLS handshake started",
                    Dur(e.at.saturating_sub(a.started))
                )?;
                if *extended {
                    f.write_str(" (next attempt's delay extended)")?;
                }
                Ok(())
            }
            Event::Failed { addr, .. }
            | Event::Won { addr, .. }
            | Event::Cancelled { addr, .. } => {
                let (what, stage) = match &e.event {
                    Event::Failed { stage, .. } => ("failed", stage),
                    Event::Won { stage, .. } => ("won", stage),
                    Event::Cancelled { stage, .. } => ("cancelled", stage),
                    _ => unreachable!("matched above"),
                };
                let (n, a) = self.attempt_in(*addr, e.at, Some(*stage));
                write!(
                    f,
                    "attempt {n} to {addr} {what} ({stage}, after {})",
                    Dur(e.at.saturating_sub(a.started))
                )?;
                if let (Event::Failed { .. }, AttemptOutcome::Failed(err)) = (&e.event, &a.outcome)
                {
                    write!(f, ": {}", full(err))?;
                }
                if let (Event::Won { .. }, Some(tls)) = (&e.event, &i.tls) {
                    write!(f, "; {tls}")?;
                }
                Ok(())
            }
        }
    }
}

/// What a start line says of the protocol: nothing for TCP.
fn over(stage: AttemptStage) -> &'static str {
    #[cfg(feature = "quic")]
    if stage == AttemptStage::Quic {
        return " over QUIC";
    }
    let _ = stage;
    ""
}

/// Whether two stages are of one protocol (QUIC, or TCP and TLS on it).
fn same_protocol(a: AttemptStage, b: AttemptStage) -> bool {
    #[cfg(feature = "quic")]
    {
        (a == AttemptStage::Quic) == (b == AttemptStage::Quic)
    }
    #[cfg(not(feature = "quic"))]
    {
        let _ = (a, b);
        true
    }
}

/// `a, b, c`
fn list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
) -> fmt::Result {
    for (n, item) in items.enumerate() {
        if n > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// One attempt of an [`Establishment`]: its address, when it started
/// (counted from the start of the call), how long it ran, the stage it
/// ended in, and how it ended.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{AttemptOutcome, ConnectionBuilder};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (_stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
/// for a in report.attempts() {
///     match a.outcome() {
///         AttemptOutcome::Failed(e) => println!("{} failed after {:?}: {e}", a.addr(), a.elapsed()),
///         outcome => println!("{} at +{:?}: {outcome:?}", a.addr(), a.started()),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AttemptReport {
    addr: SocketAddr,
    started: Duration,
    elapsed: Duration,
    connected: Option<Duration>,
    stage: AttemptStage,
    outcome: AttemptOutcome,
}

impl AttemptReport {
    /// The address of the attempt.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When it started, counted from the start of the call.
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long it ran until it won, failed or was cancelled.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How long its TCP handshake took, if it completed (an attempt of
    /// `connect_tls` then ran its TLS handshake).
    pub fn tcp_handshake(&self) -> Option<Duration> {
        self.connected
    }

    /// The stage it was in when it ended: TCP, or TLS after its TCP
    /// handshake completed.
    pub fn stage(&self) -> AttemptStage {
        self.stage
    }

    /// How it ended.
    pub fn outcome(&self) -> &AttemptOutcome {
        &self.outcome
    }
}

/// How an [`AttemptReport`] ended.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{AttemptOutcome, ConnectionBuilder};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (_stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
/// let failed = report
///     .attempts()
///     .iter()
///     .filter(|a| matches!(a.outcome(), AttemptOutcome::Failed(_)))
///     .count();
/// println!("{failed} attempts failed before one won");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It won: its connection is the one returned.
    Won,
    /// It failed, with this error.
    Failed(io::Error),
    /// It was still running when another won, and was closed.
    Cancelled,
}

/// One step of a name's resolution in an [`Establishment`]: an answer or an
/// error, when it came, and what it gave.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (_stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
/// for step in report.resolution() {
///     println!("{} {} at +{:?} via {}: {:?}", step.name(), step.query(), step.at(), step.resolver(), step.addrs());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ResolutionStep {
    asked: Arc<Asked>,
    query: String,
    at: Duration,
    cached: bool,
    addrs: Vec<SocketAddr>,
    error: Option<ResolveError>,
}

impl ResolutionStep {
    /// The name that was resolved.
    pub fn name(&self) -> &str {
        &self.asked.host
    }

    /// The resolver that was asked: its type's name (`HickoryResolver`,
    /// `SystemResolver`, or the name of your own [`Resolve`](crate::Resolve)).
    pub fn resolver(&self) -> &str {
        self.asked.resolver_name()
    }

    /// What the step answered: `AAAA` or `A` (an answer's addresses all of
    /// one family), `AAAA+A` (both, as getaddrinfo answers), `HTTPS`, or
    /// the query an error names.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// When the answer or the error came, counted from the start of the
    /// call (the resolution starts with the call).
    pub fn at(&self) -> Duration {
        self.at
    }

    /// Whether the answer was there at once, without waiting: from the
    /// resolver's cache (or a hosts file, or a fixed table).
    pub fn cached(&self) -> bool {
        self.cached
    }

    /// The addresses the answer gave that the call could use (of the
    /// family asked for; those the address policy refused are in
    /// [`Establishment::denied`]).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The error of a step that failed.
    pub fn error(&self) -> Option<&ResolveError> {
        self.error.as_ref()
    }
}

/// What was asked of whom: the name and the resolver, whose name is read
/// (from its `Debug`) only when a report is read.
pub(crate) struct Asked {
    host: Box<str>,
    resolver: Resolver,
    name: OnceLock<String>,
}

impl Asked {
    fn resolver_name(&self) -> &str {
        self.name.get_or_init(|| resolver_name(&self.resolver))
    }
}

impl fmt::Debug for Asked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asked")
            .field("host", &self.host)
            .field("resolver", &self.resolver_name())
            .finish()
    }
}

/// The TLS handshake of an [`Establishment`]'s winner.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (_tls, report) = ConnectionBuilder::new("example.com:443")
///     .alpn(["h2", "http/1.1"])
///     .connect_tls_reported()
///     .await?;
/// if let Some(tls) = report.tls() {
///     println!("{:?} {:?} in {:?}, resumed: {}", tls.version(), tls.alpn(), tls.handshake(), tls.resumed());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TlsReport {
    pub(crate) handshake: Duration,
    pub(crate) version: Option<String>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) resumed: bool,
}

impl TlsReport {
    /// How long the handshake took, from the TCP connection to its end.
    pub fn handshake(&self) -> Duration {
        self.handshake
    }

    /// The protocol version agreed: `TLSv1_3`, `TLSv1_2`.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The protocol ALPN chose, if any (`b"h2"`).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Whether the session was resumed (a ticket or PSK from an earlier
    /// connection) rather than a full handshake.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
}

/// `TLSv1_3, ALPN h2, full handshake in 1.2 ms`
impl fmt::Display for TlsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version.as_deref().unwrap_or("TLS"))?;
        if let Some(alpn) = &self.alpn {
            write!(f, ", ALPN {}", String::from_utf8_lossy(alpn))?;
        }
        write!(
            f,
            ", {} handshake in {}",
            if self.resumed { "resumed" } else { "full" },
            Dur(self.handshake)
        )
    }
}

/// An event and its offset from the start of the call.
#[derive(Debug)]
pub(crate) struct Stamped {
    pub(crate) at: Duration,
    pub(crate) event: Event,
}

/// What happened, as the race and the resolution saw it.
#[derive(Debug)]
pub(crate) enum Event {
    /// The resolution of a name started.
    Resolving {
        services: bool,
    },
    /// The target's literal addresses (the report's target has them).
    Literal,
    /// An answer: the step it became.
    Answer {
        step: usize,
    },
    /// An error of the resolver: the step it became.
    ResolveFailed {
        step: usize,
    },
    /// The history's advice (in the report's fields).
    Advice,
    /// QUIC was not tried: the target's UDP is remembered as broken for
    /// this much longer.
    #[cfg(feature = "quic")]
    QuicSkipped {
        left: Duration,
    },
    /// The address policy refused an address.
    Denied {
        addr: IpAddr,
        reason: String,
    },
    Started {
        addr: SocketAddr,
        why: Why,
    },
    /// TCP connected; the TLS handshake starts. `extended`: the next
    /// attempt's start was pushed back (HEv3 §6.1).
    Connected {
        addr: SocketAddr,
        extended: bool,
    },
    Failed {
        addr: SocketAddr,
        stage: AttemptStage,
    },
    Won {
        addr: SocketAddr,
        stage: AttemptStage,
    },
    Cancelled {
        addr: SocketAddr,
        stage: AttemptStage,
    },
}

/// Why an attempt started when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// The first attempt.
    First,
    /// The connection attempt delay passed.
    Delay,
    /// The attempt before it failed.
    Failure,
    /// Nothing was running, and its address arrived.
    Arrived,
}

impl Why {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Why::First => "first",
            Why::Delay => "timer_expired",
            Why::Failure => "previous_attempt_failed",
            Why::Arrived => "candidate_discovered",
        }
    }
}

/// Records a call's events while it runs (see the module's docs).
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    /// The attempts are TCP and then TLS (`connect_tls`); otherwise the
    /// race's second stage is nothing and every attempt is TCP only.
    pub(crate) tls: bool,
    /// The call's beginning (its resolution or literal addresses, the
    /// history's advice) is recorded: the race does not record it again.
    pub(crate) opened: bool,
    /// The first attempt of a plain connect, started before the race
    /// (its records say it started at +0, `FIRST_STARTED`), and when it
    /// really started.
    pub(crate) first: Option<(SocketAddr, Duration)>,
    events: Vec<Stamped>,
    steps: Vec<ResolutionStep>,
    /// Which step each error of the race's `resolve_errors` became.
    error_steps: Vec<usize>,
    /// The name being resolved and the resolver, for the steps.
    asked: Option<Arc<Asked>>,
    /// The resolution stream has made the race wait.
    waited: bool,
    /// An attempt failed while addresses waited: the next starts now.
    after_failure: bool,
    /// Any attempt started.
    any_started: bool,
    /// When each attempt's TCP handshake completed.
    connected: Vec<(SocketAddr, Duration)>,
    cancelled: Vec<(SocketAddr, Duration, AttemptStage, Duration)>,
    won: Option<(SocketAddr, Duration, AttemptStage, Duration)>,
    pub(crate) failed: Vec<Attempt>,
    pub(crate) resolve_errors: Vec<ResolveError>,
    pub(crate) delay: Option<Duration>,
    pub(crate) adaptive: bool,
    pub(crate) preferred: Option<IpAddr>,
    pub(crate) avoided: Vec<IpAddr>,
    pub(crate) denied: Vec<DeniedAddress>,
}

impl Recorder {
    pub(crate) fn new(start: Instant) -> Box<Recorder> {
        Box::new(Recorder {
            start,
            tls: false,
            opened: false,
            first: None,
            events: Vec::with_capacity(12),
            steps: Vec::new(),
            error_steps: Vec::new(),
            asked: None,
            waited: false,
            after_failure: false,
            any_started: false,
            connected: Vec::new(),
            cancelled: Vec::new(),
            won: None,
            failed: Vec::new(),
            resolve_errors: Vec::new(),
            delay: None,
            adaptive: false,
            preferred: None,
            avoided: Vec::new(),
            denied: Vec::new(),
        })
    }

    /// Counts from `start` instead: the race's start, for a recorder made
    /// before it.
    pub(crate) fn restart(&mut self, start: Instant) {
        self.start = start;
    }

    /// The offset of now.
    pub(crate) fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    pub(crate) fn push(&mut self, at: Duration, event: Event) {
        self.events.push(Stamped { at, event });
    }

    /// The resolution of `name` with `resolver` starts.
    pub(crate) fn resolving(&mut self, name: &str, resolver: Resolver, services: bool) {
        self.asked = Some(Arc::new(Asked {
            host: name.into(),
            resolver,
            name: OnceLock::new(),
        }));
        let at = self.now();
        self.push(at, Event::Resolving { services });
    }

    /// What was asked, for a step.
    fn asked(&self) -> Arc<Asked> {
        match &self.asked {
            Some(asked) => asked.clone(),
            None => Arc::new(Asked {
                host: "".into(),
                resolver: Resolver::system(),
                name: OnceLock::new(),
            }),
        }
    }

    /// The history's advice and the delay the race runs with.
    pub(crate) fn advised(
        &mut self,
        preferred: Option<IpAddr>,
        avoided: &[IpAddr],
        delay: Option<Duration>,
        adaptive: bool,
    ) {
        self.preferred = preferred;
        self.avoided = avoided.to_vec();
        self.delay = delay;
        self.adaptive = adaptive;
        if preferred.is_some() || !avoided.is_empty() || adaptive {
            let at = self.now();
            self.push(at, Event::Advice);
        }
    }

    /// The address policy refused these.
    pub(crate) fn refused(&mut self, denied: &[DeniedAddress]) {
        if denied.is_empty() {
            return;
        }
        let at = self.now();
        for d in denied {
            self.push(
                at,
                Event::Denied {
                    addr: d.addr(),
                    reason: d.reason(),
                },
            );
            d.clone().push_to(&mut self.denied);
        }
    }

    /// The resolution stream made the race wait.
    pub(crate) fn waiting(&mut self) {
        self.waited = true;
    }

    /// A batch of addresses came from the resolution.
    pub(crate) fn answer(&mut self, batch: &Batch) {
        let at = self.now();
        self.refused(&batch.denied);
        if batch.add.is_empty() && batch.seen == 0 && !batch.denied.is_empty() {
            return;
        }
        let v6 = batch.add.iter().any(|a| a.is_ipv6())
            || batch.denied.iter().any(|d| d.addr().is_ipv6());
        let v4 = batch.add.iter().any(|a| a.is_ipv4())
            || batch.denied.iter().any(|d| d.addr().is_ipv4());
        let query = match (v6, v4) {
            (true, false) => "AAAA",
            (false, true) => "A",
            (true, true) => "AAAA+A",
            (false, false) if !batch.withdraw.is_empty() => "HTTPS",
            (false, false) => "address",
        };
        self.steps.push(ResolutionStep {
            asked: self.asked(),
            query: query.to_string(),
            at,
            cached: !self.waited,
            addrs: batch.add.clone(),
            error: None,
        });
        let step = self.steps.len() - 1;
        self.push(at, Event::Answer { step });
    }

    /// The resolver's error (the race keeps it; it comes back with the
    /// winner, see [`finish`](Self::finish)).
    pub(crate) fn resolve_failed(&mut self, e: &ResolveError) {
        let at = self.now();
        self.steps.push(ResolutionStep {
            asked: self.asked(),
            query: e.query().unwrap_or("address").to_string(),
            at,
            cached: !self.waited,
            addrs: Vec::new(),
            error: None,
        });
        let step = self.steps.len() - 1;
        self.error_steps.push(step);
        self.push(at, Event::ResolveFailed { step });
    }

    /// An attempt starts at `at`; `running`: others still run.
    pub(crate) fn started(&mut self, addr: SocketAddr, at: Duration, running: bool) {
        let why = if !self.any_started {
            Why::First
        } else if self.after_failure {
            Why::Failure
        } else if running {
            Why::Delay
        } else {
            Why::Arrived
        };
        self.after_failure = false;
        self.any_started = true;
        self.push(at, Event::Started { addr, why });
    }

    /// An attempt's TCP handshake completed at `at`, after `took`.
    pub(crate) fn connected(
        &mut self,
        addr: SocketAddr,
        at: Duration,
        took: Duration,
        extended: bool,
    ) {
        self.connected.push((addr, took));
        if self.tls {
            self.push(at, Event::Connected { addr, extended });
        }
    }

    /// An attempt failed at `at`; `waiting`: the next starts at once.
    pub(crate) fn failed(
        &mut self,
        addr: SocketAddr,
        stage: AttemptStage,
        at: Duration,
        waiting: bool,
    ) {
        let stage = self.stage(stage);
        self.after_failure |= waiting;
        self.push(at, Event::Failed { addr, stage });
    }

    /// The attempt that started at `started` won at `at`.
    pub(crate) fn won(
        &mut self,
        addr: SocketAddr,
        started: Duration,
        stage: AttemptStage,
        at: Duration,
    ) {
        let stage = self.stage(stage);
        self.won = Some((addr, started, stage, at));
        self.push(at, Event::Won { addr, stage });
    }

    /// Whether an attempt was recorded winning.
    pub(crate) fn has_won(&self) -> bool {
        self.won.is_some()
    }

    /// An attempt still running when another won is closed.
    pub(crate) fn cancelled(
        &mut self,
        addr: SocketAddr,
        started: Duration,
        stage: AttemptStage,
        at: Duration,
    ) {
        let stage = self.stage(stage);
        self.cancelled.push((addr, started, stage, at));
        self.push(at, Event::Cancelled { addr, stage });
    }

    /// The stage as the report says it: TCP for a plain connect, whose
    /// second stage is nothing.
    fn stage(&self, stage: AttemptStage) -> AttemptStage {
        if self.tls {
            stage
        } else {
            AttemptStage::Tcp
        }
    }

    /// The report, once the race was won: `duration` is the call's, `tls`
    /// the winner's handshake.
    pub(crate) fn finish(
        mut self,
        target: Target,
        duration: Duration,
        tls: Option<TlsReport>,
    ) -> Establishment {
        let mut attempts: Vec<AttemptReport> = Vec::new();
        let connected = std::mem::take(&mut self.connected);
        let tcp = |addr: SocketAddr| {
            connected
                .iter()
                .rev()
                .find(|(a, _)| *a == addr)
                .map(|c| c.1)
        };
        for a in std::mem::take(&mut self.failed) {
            attempts.push(AttemptReport {
                addr: a.addr,
                started: a.started,
                elapsed: a.elapsed,
                connected: (a.stage == AttemptStage::Tls)
                    .then(|| tcp(a.addr))
                    .flatten(),
                stage: if self.tls { a.stage } else { AttemptStage::Tcp },
                outcome: AttemptOutcome::Failed(a.error),
            });
        }
        for (addr, started, stage, at) in std::mem::take(&mut self.cancelled) {
            attempts.push(AttemptReport {
                addr,
                started,
                elapsed: at.saturating_sub(started),
                connected: (stage == AttemptStage::Tls).then(|| tcp(addr)).flatten(),
                stage,
                outcome: AttemptOutcome::Cancelled,
            });
        }
        let (addr, started, stage, at) = self.won.expect("a report is made of a race that was won");
        attempts.push(AttemptReport {
            addr,
            started,
            elapsed: at.saturating_sub(started),
            connected: tcp(addr)
                .or((stage == AttemptStage::Tcp).then(|| at.saturating_sub(started))),
            stage,
            outcome: AttemptOutcome::Won,
        });
        // The first attempt of a plain connect reads when it started.
        if let Some((addr, at)) = self.first {
            for a in attempts.iter_mut() {
                if a.addr == addr && a.started.is_zero() {
                    a.elapsed = a.elapsed.saturating_sub(at);
                    a.started = at;
                }
            }
        }
        attempts.sort_by_key(|a| a.started);
        let winner = attempts
            .iter()
            .position(|a| matches!(a.outcome, AttemptOutcome::Won))
            .expect("the winner is listed");
        // The resolver's errors, back from the race, in the steps they
        // became.
        for (e, step) in std::mem::take(&mut self.resolve_errors)
            .into_iter()
            .zip(self.error_steps.iter())
        {
            self.steps[*step].error = Some(e);
        }
        let tls = tls.map(|mut t| {
            if let Some(tcp) = attempts[winner].connected {
                t.handshake = attempts[winner].elapsed.saturating_sub(tcp);
            }
            t
        });
        // Events in the order of their offsets (the race records each as it
        // sees it; a sort keeps those at the same instant in that order).
        self.events.sort_by_key(|e| e.at);
        Establishment {
            inner: Arc::new(Inner {
                target,
                asked: self.asked,
                duration,
                events: self.events,
                attempts,
                winner,
                resolution: self.steps,
                delay: self.delay,
                adaptive: self.adaptive,
                preferred: self.preferred,
                avoided: self.avoided,
                denied: self.denied,
                tls,
            }),
        }
    }
}

/// A resolver's name from its `Debug`: `Resolver { inner: HickoryResolver
/// { .. } }` reads `HickoryResolver`. Only the start of the `Debug` is
/// formatted: the writer stops it after the name (a resolver's whole
/// `Debug`, its configuration or table, would cost a report more than the
/// rest of it).
fn resolver_name(resolver: &dyn fmt::Debug) -> String {
    const WRAPPER: &str = "Resolver { inner: ";
    struct Name {
        seen: usize,
        name: String,
    }
    impl fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                // The wrapper's text, skipped.
                if self.seen < WRAPPER.len() && self.name.is_empty() {
                    if WRAPPER[self.seen..].starts_with(c) {
                        self.seen += c.len_utf8();
                        continue;
                    }
                    self.seen = WRAPPER.len();
                }
                if c.is_alphanumeric() || c == '_' {
                    self.name.push(c);
                } else {
                    return Err(fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut name = Name {
        seen: 0,
        name: String::new(),
    };
    let _ = fmt::write(&mut name, format_args!("{resolver:?}"));
    if name.name.is_empty() {
        "resolver".to_string()
    } else {
        name.name
    }
}

/// QUIC beside the TCP+TLS race (`client::quic`).
#[cfg(feature = "quic")]
impl Recorder {
    /// The QUIC attempts recorded beside a TCP+TLS race that won: each
    /// failed or cancelled, and their events.
    pub(crate) fn into_beside(mut self) -> (Vec<AttemptReport>, Vec<Stamped>) {
        let mut attempts: Vec<AttemptReport> = std::mem::take(&mut self.failed)
            .into_iter()
            .map(|a| AttemptReport {
                addr: a.addr,
                started: a.started,
                elapsed: a.elapsed,
                connected: None,
                stage: a.stage,
                outcome: AttemptOutcome::Failed(a.error),
            })
            .collect();
        for (addr, started, stage, at) in std::mem::take(&mut self.cancelled) {
            attempts.push(AttemptReport {
                addr,
                started,
                elapsed: at.saturating_sub(started),
                connected: None,
                stage,
                outcome: AttemptOutcome::Cancelled,
            });
        }
        let events = self
            .events
            .into_iter()
            .filter(|e| {
                matches!(
                    e.event,
                    Event::Started { .. } | Event::Failed { .. } | Event::Cancelled { .. }
                )
            })
            .collect();
        (attempts, events)
    }
}

#[cfg(feature = "quic")]
impl Establishment {
    /// The report of a TCP+TLS race that started `offset` into a call of
    /// `duration`, with the QUIC attempts that ran beside it.
    pub(crate) fn beside_quic(
        self,
        offset: Duration,
        duration: Duration,
        (attempts, events): (Vec<AttemptReport>, Vec<Stamped>),
    ) -> Establishment {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            // Shared already (never: it was just made): as it is.
            Err(inner) => return Establishment { inner },
        };
        for e in &mut inner.events {
            e.at += offset;
        }
        for a in &mut inner.attempts {
            a.started += offset;
        }
        for step in &mut inner.resolution {
            step.at += offset;
        }
        inner.events.extend(events);
        inner.events.sort_by_key(|e| e.at);
        inner.attempts.extend(attempts);
        inner.attempts.sort_by_key(|a| a.started);
        inner.winner = inner
            .attempts
            .iter()
            .position(|a| matches!(a.outcome, AttemptOutcome::Won))
            .unwrap_or(0);
        inner.duration = duration;
        Establishment {
            inner: Arc::new(inner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A race over a blackholed `[::1]` and a working `127.0.0.1`, as the
    /// race records it, reads as a timeline with the right numbers.
    #[tokio::test(start_paused = true)]
    async fn the_timeline_reads_what_happened() {
        let v6 = addr("[::1]:8443");
        let v4 = addr("127.0.0.1:8443");
        let mut rec = Recorder::new(Instant::now());
        rec.resolving(
            "dual.test",
            Resolver::new(Named("HickoryResolver { .. }")),
            false,
        );
        rec.advised(None, &[], Some(ms(250)), false);
        tokio::time::advance(ms(30)).await;
        rec.waiting();
        rec.answer(&Batch {
            seen: 1,
            add: vec![v6],
            withdraw: Vec::new(),
            denied: Vec::new(),
        });
        rec.answer(&Batch {
            seen: 1,
            add: vec![v4],
            withdraw: Vec::new(),
            denied: Vec::new(),
        });
        rec.started(v6, ms(30), false);
        rec.started(v4, ms(280), true);
        rec.won(v4, ms(280), AttemptStage::Tcp, ms(281));
        rec.cancelled(v6, ms(30), AttemptStage::Tcp, ms(281));
        let target = crate::IntoTarget::into_target("dual.test:8443").unwrap();
        let report = rec.finish(target, ms(281), None);
        assert_eq!(
            report.to_string(),
            "connect to dual.test:8443: 127.0.0.1:8443 won after 281 ms (2 attempts)\n\
             \x20\x20\x20\x200.000 ms  resolving dual.test (AAAA and A) with HickoryResolver\n\
             \x20\x20\x2030.000 ms  AAAA answer: [::1]:8443\n\
             \x20\x20\x2030.000 ms  A answer: 127.0.0.1:8443\n\
             \x20\x20\x2030.000 ms  attempt 1 to [::1]:8443 started\n\
             \x20\x20280.000 ms  attempt 2 to 127.0.0.1:8443 started: the 250 ms delay passed\n\
             \x20\x20281.000 ms  attempt 2 to 127.0.0.1:8443 won (TCP, after 1 ms)\n\
             \x20\x20281.000 ms  attempt 1 to [::1]:8443 cancelled (TCP, after 251 ms)"
        );
        assert_eq!(report.winner().addr(), v4);
        assert_eq!(report.attempts().len(), 2);
        assert!(matches!(
            report.attempts()[0].outcome(),
            AttemptOutcome::Cancelled
        ));
        assert_eq!(report.resolution()[0].query(), "AAAA");
        assert!(!report.resolution()[0].cached());
        assert_eq!(report.resolution()[0].resolver(), "HickoryResolver");
        assert_eq!(report.delay(), Some(ms(250)));
    }

    /// The race records what it does, at the instants it does it: on fake
    /// attempts and paused time, `[::1]` hangs, `1.0.0.1` is refused after
    /// 10 ms, `[::2]` connects in 10 ms; the second batch arrives at 100 ms.
    #[tokio::test(start_paused = true)]
    async fn the_race_records_each_event_at_its_instant() {
        use crate::client::race::{race_staged, Begun, RaceConfig};
        use futures_util::stream::{self, StreamExt};

        let t0 = Instant::now();
        let v6 = addr("[::1]:80");
        let refused = addr("1.0.0.1:80");
        let v6b = addr("[::2]:80");
        let attempt = |a: SocketAddr| async move {
            match a {
                a if a == refused => {
                    tokio::time::sleep(ms(10)).await;
                    Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                }
                a if a == v6b => {
                    tokio::time::sleep(ms(10)).await;
                    Ok(a)
                }
                _ => std::future::pending().await,
            }
        };
        let batches = stream::iter([(0, vec![v6, refused]), (100, vec![v6b])]).then(
            move |(at, batch)| async move {
                tokio::time::sleep_until(t0 + ms(at)).await;
                Ok::<_, ResolveError>(batch)
            },
        );
        let mut begun = Begun::nothing();
        let mut rec = Recorder::new(t0);
        rec.advised(None, &[], Some(ms(250)), false);
        begun.recorder = Some(rec);
        let config = RaceConfig {
            delay: Some(ms(250)),
            interleave: 1,
            attempt_timeout: None,
            deadline: None,
        };
        let finish = |_, conn| std::future::ready(Ok(conn));
        let won = race_staged(Some(batches), begun, config, t0, attempt, finish)
            .await
            .unwrap();
        assert_eq!(won.value, v6b);
        let mut rec = won.recorder.unwrap();
        rec.failed = won.failed;
        let target = crate::IntoTarget::into_target("h.test:80").unwrap();
        let report = rec.finish(target, ms(270), None);
        let got: Vec<_> = report
            .attempts()
            .iter()
            .map(|a| {
                let outcome = match a.outcome() {
                    AttemptOutcome::Won => "won",
                    AttemptOutcome::Failed(_) => "failed",
                    AttemptOutcome::Cancelled => "cancelled",
                };
                (a.addr(), a.started(), a.elapsed(), outcome)
            })
            .collect();
        // [::1] at 0; 1.0.0.1 one delay later, refused at 260, which starts
        // [::2] at once; it wins at 270 and [::1] is cancelled.
        assert_eq!(
            got,
            vec![
                (v6, ms(0), ms(270), "cancelled"),
                (refused, ms(250), ms(10), "failed"),
                (v6b, ms(260), ms(10), "won"),
            ]
        );
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            vec![
                "    0.000 ms  AAAA+A answer: [::1]:80, 1.0.0.1:80 (at once)",
                "    0.000 ms  attempt 1 to [::1]:80 started",
                "  100.000 ms  AAAA answer: [::2]:80",
                "  250.000 ms  attempt 2 to 1.0.0.1:80 started: the 250 ms delay passed",
                "  260.000 ms  attempt 2 to 1.0.0.1:80 failed (TCP, after 10 ms): connection refused",
                "  260.000 ms  attempt 3 to [::2]:80 started: the one before failed",
                "  270.000 ms  attempt 3 to [::2]:80 won (TCP, after 10 ms)",
                "  270.000 ms  attempt 1 to [::1]:80 cancelled (TCP, after 270 ms)",
            ],
            "{text}"
        );
    }

    /// Prints its text as its `Debug`, as a resolver's derive would.
    struct Named(&'static str);

    impl crate::Resolve for Named {
        fn resolve(&self, _: &str, _: crate::Family) -> crate::Addrs {
            unreachable!("only named")
        }
    }

    impl fmt::Debug for Named {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    #[test]
    fn resolver_names_come_from_their_debug() {
        let name = |s| resolver_name(&Named(s));
        assert_eq!(name("Resolver { inner: SystemResolver }"), "SystemResolver");
        assert_eq!(name("Fixed { map: {} }"), "Fixed");
        assert_eq!(name("{}"), "resolver");
        assert_eq!(name("Resolver { inner: Fixed(Table { .. }) }"), "Fixed");
    }
}
