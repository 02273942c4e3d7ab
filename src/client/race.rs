//! The staggered connection race of Happy Eyeballs (RFC 6555, RFC 8305 §5).
//!
//! # Why race at all
//!
//! A host name usually has several addresses, often of both families. Trying
//! them one after the other, as `TcpStream::connect` does, is fine while every
//! path works or fails fast (a refused connect comes back in a round trip).
//! It goes badly when a path is *blackholed*: an IPv6 route that is announced
//! but drops packets, a firewall that silently eats SYNs. Then the first
//! attempt hangs until the kernel gives up, which on Linux is 127 s
//! (`tcp_syn_retries = 6`), and only then is the working IPv4 address tried.
//!
//! # What we do
//!
//! Start the first attempt at once. Start the next one when the *connection
//! attempt delay* has passed since the last start (250 ms by default, the
//! value RFC 8305 §8 recommends and asyncio, trio and Chrome use: long enough
//! that a healthy path nearly always wins before a second attempt starts,
//! short enough that a broken path costs a quarter second, not two minutes),
//! **or** as soon as a running attempt fails, whichever comes first: a
//! refused attempt should not make us wait out the delay. Attempts already
//! running keep running. The first attempt to connect wins.
//!
//! # Why every loser must be closed
//!
//! A losing attempt may have completed its handshake a moment after the
//! winner. Left open, it is a connection the server holds for nothing, and a
//! file descriptor we leak. Each attempt's socket is owned by its future;
//! the futures live in the race's list of running attempts, so returning
//! (won, failed, or timed out) or being dropped closes every socket before
//! the caller sees the result. No task is spawned: nothing outlives the call.
//!
//! # What a race holds
//!
//! A server may hold thousands of pending connects, so the race is written
//! by hand ([`Race`]) rather than as an `async fn` with `select!`, whose
//! state is the sum of every branch and which keeps moved arguments twice.
//! What a pending two-address race holds, after its fallback started:
//!
//! - the race itself, boxed once by the caller (`connect.rs`): the address
//!   queue, whose buffers are freed once every address has started, one
//!   timer, the configuration, and the resolver's stream until it ends
//!   (then it is dropped);
//! - per attempt, its address, start time, and the future of the stage it
//!   is in: the TCP connect and then, in the same place, `finish` (the TLS
//!   handshake). The oldest attempt lives inline in the race, the others in
//!   a box each (they must stay pinned while the list grows). The attempts
//!   are polled in place, in start order, on the race's own waker: no
//!   `FuturesUnordered`, whose every future costs an `Arc`'d task node and
//!   whose empty set already holds one;
//! - one timer, for the next attempt's start and for the deadline, armed
//!   only while one of them is due and freed when neither is.
//!
//! The timer is armed lazily: when the race would first wait on it, it
//! yields once (`tokio::task::yield_now`, woken after the runtime has polled
//! its I/O driver), so an attempt that connects at once, a healthy loopback
//! or LAN path, wins without a timer ever being registered. A burst of
//! connects to healthy hosts pays no timer at all. The stagger's instants are
//! absolute, so the yield moves none of them.
//!
//! A plain `connect` goes one step further (`Connect` in `connect.rs`):
//! when its first address is known at once (a literal address or list, a
//! resolver that answers at once), it starts that attempt itself, without
//! a race, and yields once. An attempt that wins by then costs no race at
//! all: no box, no queue, none of this bookkeeping. Otherwise the race is
//! built from what was begun ([`Begun`]): the running attempt moves into it
//! (a TCP connect is `Unpin`), with its start time, so the next start is
//! still one delay after it, or at once after its failure.
//!
//! # The handshake inside the race (Happy Eyeballs v3)
//!
//! For `connect_tls`, an attempt is TCP and then TLS, and succeeds only
//! when its TLS handshake completes (draft-ietf-happy-happyeyeballs-v3-04,
//! §6.1: "clients SHOULD wait for the TLS handshake to successfully complete
//! before cancelling other connection attempts"): a TCP-terminating proxy
//! or a path that resets after the TCP handshake must not win the race. A
//! failure in either stage starts the next attempt at once, and is recorded
//! with its [`AttemptStage`].
//!
//! The same section asks that the Next Connection Attempt Timer be
//! *extended* when an attempt makes progress: when the attempt started last
//! completes its TCP handshake before the delay has passed, the next
//! attempt starts one delay after that moment, the time we give the
//! handshake to complete. We extend only for the attempt the timer runs
//! for; an older attempt completing TCP leaves the timer alone (the newer
//! attempt is the one that would be cut short). We never shorten it.
//!
//! # Streaming resolution
//!
//! Addresses come in as batches from the resolver (RFC 8305 §3), and join the
//! [`Queue`] in their interleaved place. A batch that arrives while nothing
//! is running starts an attempt at once; one that arrives while an attempt is
//! running waits for the delay like any other address.
//!
//! The race is generic over "start an attempt" so that its timing is tested
//! on fake attempts with paused Tokio time, exactly (as trio's tests do).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{Either, FutureExt};
use futures_util::stream::Stream;
use pin_project_lite::pin_project;
use tokio::time::{timeout, Instant, Timeout};

use crate::client::timer::Stagger;
use crate::shared::clock::later;

use crate::client::error::{Attempt, AttemptStage};
use crate::client::establishment::Recorder;
use crate::resolve::svcb::Batch;
use crate::resolve::ResolveError;
use crate::shared::order::Queue;
use crate::shared::policy::DeniedAddress;

/// How the race is run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RaceConfig {
    /// The connection attempt delay; `None` tries one address at a time.
    pub(crate) delay: Option<Duration>,
    /// The First Address Family Count (see [`crate::shared::order`]).
    pub(crate) interleave: usize,
    /// The bound on one attempt.
    pub(crate) attempt_timeout: Option<Duration>,
    /// When the whole call gives up.
    pub(crate) deadline: Option<Instant>,
}

/// What the race keeps of its [`RaceConfig`] once its queue is made (the
/// queue keeps `interleave`): 8 bytes less in every pending race.
#[derive(Clone, Copy, Debug)]
struct Timing {
    delay: Option<Duration>,
    attempt_timeout: Option<Duration>,
    deadline: Option<Instant>,
}

/// A race's winner: the value its attempt finished with, where and when
/// it started, how long it took, and the attempts that failed before it
/// (for the history of what worked).
#[derive(Debug)]
pub(crate) struct Won<T> {
    pub(crate) value: T,
    pub(crate) addr: SocketAddr,
    /// When the winning attempt started, counted from the call's start.
    pub(crate) started: Duration,
    /// How long it ran, where the race read the clock when it won (a TLS
    /// handshake's end is not read: the clock is read only where needed).
    pub(crate) elapsed: Option<Duration>,
    /// The attempts that failed before the race was won.
    pub(crate) failed: Vec<Attempt>,
    /// What the race recorded, if it was asked to (`connect_reported`).
    pub(crate) recorder: Option<Box<Recorder>>,
}

/// Why a race ended without a winner.
#[derive(Debug)]
pub(crate) struct RaceFailure {
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) resolve_errors: Vec<ResolveError>,
    /// The deadline passed before any attempt won.
    pub(crate) timed_out: bool,
    /// How many addresses the resolution gave, usable or not.
    pub(crate) seen: usize,
    /// The addresses the address policy refused.
    pub(crate) denied: Vec<DeniedAddress>,
}

impl RaceFailure {
    /// The failure of a call that had one attempt to make (one literal
    /// address), and made it.
    pub(crate) fn alone(attempt: Attempt) -> RaceFailure {
        RaceFailure {
            attempts: vec![attempt],
            resolve_errors: Vec::new(),
            timed_out: false,
            seen: 0,
            denied: Vec::new(),
        }
    }
}

/// The record of an attempt that failed, logged as it is made: the race's,
/// [`single`]'s and `connect`'s own first attempt's alike.
pub(crate) fn failed_attempt(
    addr: SocketAddr,
    started: Duration,
    elapsed: Duration,
    error: io::Error,
    stage: AttemptStage,
) -> Attempt {
    tracing::debug!(%addr, elapsed = %crate::shared::report::Dur(elapsed), %error, %stage, "attempt failed");
    Attempt {
        addr,
        started,
        elapsed,
        error,
        stage,
    }
}

/// What happened before the race took over (see `connect.rs`: a plain
/// `connect` starts its first attempt itself and builds the race only when
/// that attempt neither wins at once nor is the only one).
pub(crate) struct Begun<F> {
    /// Addresses known before the race, in the order they came; those
    /// that `running` and `failed` took come first in the queue made from
    /// them, and are not started again.
    pub(crate) addrs: Vec<SocketAddr>,
    /// The attempt still running: its address, its start and its connect.
    pub(crate) running: Option<(SocketAddr, Duration, F)>,
    /// Attempts that already failed.
    pub(crate) failed: Vec<Attempt>,
    /// Errors the resolver already gave.
    pub(crate) resolve_errors: Vec<ResolveError>,
    /// Whether the race may arm its timer without yielding first (see
    /// "What a race holds"): the caller already yielded once, or its
    /// attempt already failed.
    pub(crate) yielded: bool,
    /// How many addresses the resolution gave so far, usable or not.
    pub(crate) seen: usize,
    /// The address the history says to try first, and those to try last.
    pub(crate) prefer: Option<std::net::IpAddr>,
    pub(crate) avoid: Vec<std::net::IpAddr>,
    /// The stagger delay the history derived (`adaptive_delay`).
    pub(crate) delay: Option<Duration>,
    /// Whether the history was asked already (`prefer`, `avoid`, `delay`
    /// are its advice).
    pub(crate) advised: bool,
    /// Whether another win of `prefer` need not be recorded.
    pub(crate) settled: bool,
    /// The addresses the address policy refused so far.
    pub(crate) denied: Vec<DeniedAddress>,
    /// Where the race records what happens; `None` (a plain connect):
    /// nothing is recorded.
    pub(crate) recorder: Option<Box<Recorder>>,
}

impl<F> Begun<F> {
    /// Takes the history's advice for the race's order and delay.
    pub(crate) fn advise(&mut self, advice: crate::client::history::Advice) {
        self.prefer = advice.first;
        self.avoid = advice.last;
        self.delay = advice.delay;
        self.settled = advice.settled;
        self.advised = true;
    }

    /// Nothing begun: the race does everything.
    pub(crate) fn nothing() -> Begun<F> {
        Begun::with(Vec::new())
    }

    /// The addresses `addrs` known, nothing started.
    pub(crate) fn with(addrs: Vec<SocketAddr>) -> Begun<F> {
        Begun {
            addrs,
            running: None,
            failed: Vec::new(),
            resolve_errors: Vec::new(),
            yielded: false,
            seen: 0,
            prefer: None,
            avoid: Vec::new(),
            delay: None,
            advised: false,
            settled: false,
            denied: Vec::new(),
            recorder: None,
        }
    }
}

/// Runs the race over the addresses `addrs` yields, starting each attempt
/// with `attempt`. `start` is the instant the call began (attempt times are
/// counted from it).
/// The failed attempts come back in the order they started.
#[cfg(test)]
pub(crate) async fn race<T, S, A, F>(
    addrs: S,
    config: RaceConfig,
    start: Instant,
    attempt: A,
) -> Result<T, RaceFailure>
where
    S: Stream<Item = Result<Vec<SocketAddr>, ResolveError>>,
    A: FnMut(SocketAddr) -> F,
    F: Future<Output = io::Result<T>>,
{
    race_staged(
        Some(addrs),
        Begun::nothing(),
        config,
        start,
        attempt,
        |_, conn| std::future::ready(Ok(conn)),
    )
    .await
    .map(|won| won.value)
}

/// The race of attempts in two stages (Happy Eyeballs v3): `attempt` makes
/// the TCP connection, bounded by the attempt timeout, and `finish` turns it
/// into what the caller asked for (a TLS handshake, bounded by its own
/// timeout). An attempt wins when `finish` completes; a failure in either
/// stage starts the next address at once and is recorded with its stage.
///
/// When the most recently started attempt completes TCP before the
/// connection attempt delay has passed, the next attempt's start is pushed
/// to one delay after that moment (the draft's "Next Connection Attempt
/// Timer ... SHOULD be extended", §6.1): the handshake gets the time a
/// fresh attempt would.
///
/// `addrs` is the resolution (`None`: every address is in `begun`), and
/// `begun` what the caller did before the race.
pub(crate) fn race_staged<S, B, A, F, C, H, G, T>(
    addrs: Option<S>,
    mut begun: Begun<F>,
    config: RaceConfig,
    start: Instant,
    attempt: A,
    finish: H,
) -> Race<S, A, F, H, G, impl Future<Output = ()>>
where
    S: Stream<Item = Result<B, ResolveError>>,
    B: Into<Batch>,
    A: FnMut(SocketAddr) -> F,
    F: Future<Output = io::Result<C>>,
    H: FnMut(SocketAddr, C) -> G,
    G: Future<Output = io::Result<T>>,
{
    let mut queue = Queue::new(config.interleave);
    queue.advise(begun.prefer, std::mem::take(&mut begun.avoid));
    queue.extend_vec(begun.addrs);
    // The attempts begun are not started again.
    for failed in &begun.failed {
        queue.take(failed.addr());
    }
    if let Some((addr, _, _)) = &begun.running {
        queue.take(*addr);
    }
    let last_started = begun
        .running
        .as_ref()
        .map(|&(addr, started, _)| (addr, started));
    let next_start = match (last_started, config.delay) {
        (Some((_, started)), Some(delay)) => later(start + started, delay),
        _ => start,
    };
    Race {
        addrs,
        yield_first: (!begun.yielded).then(tokio::task::yield_now),
        queue,
        attempt,
        finish,
        first: begun.running.map(|(addr, started, fut)| Running {
            addr,
            started,
            stage: Stage::Tcp { fut },
        }),
        running: Vec::new(),
        failed: begun.failed,
        losses: Losses::boxed(begun.resolve_errors, begun.denied),
        last_started,
        next_start,
        timer: None,
        config: Timing {
            delay: config.delay,
            attempt_timeout: config.attempt_timeout,
            deadline: config.deadline,
        },
        start,
        seen: begun.seen,
        recorder: begun.recorder,
    }
}

pin_project! {
    /// The race's state: a future written by hand, not an `async fn`, so
    /// that its size is what it holds (see "What a race holds" above).
    pub(crate) struct Race<S, A, F, H, G, Y> {
        // The resolution's stream; `None` once it has ended, which frees it.
        #[pin]
        addrs: Option<S>,
        // `tokio::task::yield_now()`, polled once before the timer is first
        // armed; `None` once done.
        #[pin]
        yield_first: Option<Y>,
        queue: Queue,
        attempt: A,
        finish: H,
        // The oldest attempt still running, inline: a race won by its first
        // attempt allocates nothing for it. Only filled while `running` is
        // empty, so it is always older than every attempt there.
        #[pin]
        first: Option<Running<F, G>>,
        // The other attempts still running, in the order they started.
        running: Vec<Pin<Box<Running<F, G>>>>,
        // The attempts that failed.
        failed: Vec<Attempt>,
        // The resolver's errors and the refused addresses, when there are
        // any (boxed: most races have neither, and two lists inline would
        // be 40 bytes more in every pending race).
        losses: Option<Box<Losses>>,
        // The attempt started last, which the stagger timer runs for.
        last_started: Option<(SocketAddr, Duration)>,
        // The earliest instant the next attempt may start while others run.
        next_start: Instant,
        // One timer for the stagger and the deadline, whichever is first,
        // and what it is armed for; boxed when first armed (over 100 bytes
        // that a race won at once, the common case, never uses).
        timer: Option<Box<(Stagger, Option<Instant>)>>,
        config: Timing,
        start: Instant,
        // How many addresses the resolution gave, usable or not.
        seen: usize,
        // What happens, when recorded: one test of this per event.
        recorder: Option<Box<Recorder>>,
    }
}

impl<S, A, F, H, G, Y> Race<S, A, F, H, G, Y> {
    /// The race, its result handed to `then` with the instant the call
    /// started: the race keeps that instant already, so the caller's
    /// closure need not keep a second copy for as long as the race runs.
    pub(crate) fn with_start<R>(self, then: R) -> WithStart<S, A, F, H, G, Y, R> {
        WithStart {
            race: self,
            then: Some(then),
        }
    }
}

pin_project! {
    /// [`Race::with_start`]'s future.
    pub(crate) struct WithStart<S, A, F, H, G, Y, R> {
        #[pin]
        race: Race<S, A, F, H, G, Y>,
        // `None` once called.
        then: Option<R>,
    }
}

impl<S, A, F, H, G, Y, B, C, T, R, O> Future for WithStart<S, A, F, H, G, Y, R>
where
    S: Stream<Item = Result<B, ResolveError>>,
    B: Into<Batch>,
    A: FnMut(SocketAddr) -> F,
    F: Future<Output = io::Result<C>>,
    H: FnMut(SocketAddr, C) -> G,
    G: Future<Output = io::Result<T>>,
    Y: Future<Output = ()>,
    R: FnOnce(Result<Won<T>, RaceFailure>, Instant) -> O,
{
    type Output = O;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let this = self.project();
        let mut race = this.race;
        let Poll::Ready(result) = race.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        let start = *race.project().start;
        let then = this.then.take().expect("a race polled after it completed");
        Poll::Ready(then(result, start))
    }
}

/// What a race lost without an attempt: the resolver's errors, and the
/// addresses the address policy refused.
#[derive(Default)]
struct Losses {
    resolve_errors: Vec<ResolveError>,
    denied: Vec<DeniedAddress>,
}

impl Losses {
    /// `None` when both are empty.
    fn boxed(resolve_errors: Vec<ResolveError>, denied: Vec<DeniedAddress>) -> Option<Box<Losses>> {
        (!resolve_errors.is_empty() || !denied.is_empty()).then(|| {
            Box::new(Losses {
                resolve_errors,
                denied,
            })
        })
    }
}

pin_project! {
    /// One attempt: its address, when it started, and the future of the
    /// stage it is in. Inline in the race for the oldest attempt, boxed for
    /// the others, so that they stay pinned while the list grows.
    struct Running<F, G> {
        addr: SocketAddr,
        started: Duration,
        #[pin]
        stage: Stage<F, G>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F, G> {
        // The TCP connect.
        Tcp { #[pin] fut: F },
        // The TCP connect with the attempt timeout. Boxed: a Tokio timer
        // is over a hundred bytes, which every attempt would carry inline.
        TcpTimed { fut: Pin<Box<Timeout<F>>>, limit: Duration },
        // What `finish` made of the connection (the TLS handshake).
        Finish { #[pin] fut: G },
    }
}

/// What an attempt's stage ended with.
enum Step<C, T> {
    Tcp(io::Result<C>),
    Done(io::Result<T>),
}

impl<F, G, C, T> Running<F, G>
where
    F: Future<Output = io::Result<C>>,
    G: Future<Output = io::Result<T>>,
{
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Step<C, T>> {
        match self.project().stage.project() {
            StageProj::Tcp { fut } => fut.poll(cx).map(Step::Tcp),
            StageProj::TcpTimed { fut, limit } => fut
                .as_mut()
                .poll(cx)
                .map(|r| Step::Tcp(r.unwrap_or_else(|_| Err(attempt_timed_out(*limit))))),
            StageProj::Finish { fut } => fut.poll(cx).map(Step::Done),
        }
    }

    fn stage(&self) -> AttemptStage {
        match self.stage {
            Stage::Finish { .. } => AttemptStage::Tls,
            _ => AttemptStage::Tcp,
        }
    }
}

fn attempt_timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "attempt timed out after {}",
            crate::shared::report::Dur(limit)
        ),
    )
}

impl<S, A, F, H, G, Y, B, C, T> Future for Race<S, A, F, H, G, Y>
where
    S: Stream<Item = Result<B, ResolveError>>,
    B: Into<Batch>,
    A: FnMut(SocketAddr) -> F,
    F: Future<Output = io::Result<C>>,
    H: FnMut(SocketAddr, C) -> G,
    G: Future<Output = io::Result<T>>,
    Y: Future<Output = ()>,
{
    type Output = Result<Won<T>, RaceFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let config = *this.config;
        let start = *this.start;
        // The clock, read once per poll when first needed, and again only
        // when it may have moved on: after polling a TLS handshake (its
        // poll does real work), after the timer fired. Starting an attempt
        // or polling a TCP connect takes microseconds: a TCP stage's end
        // and the next attempt's start are measured from the same reading.
        let mut clock: Option<Instant> = None;
        // Every running attempt was polled, and was pending, since the last
        // change (an attempt started or finished a stage): their wakers are
        // registered, and polling them again in this call is wasted work.
        let mut settled = false;
        loop {
            // Start the next attempt if nothing runs, or the delay has
            // passed (or a failure moved `next_start` to now). The clock is
            // read only when an address waits.
            let now = (!this.queue.is_empty()).then(|| *clock.get_or_insert_with(Instant::now));
            if let Some(now) = now.filter(|&now| {
                (this.first.is_none() && this.running.is_empty())
                    || (config.delay.is_some() && now >= *this.next_start)
            }) {
                if let Some(addr) = this.queue.pop() {
                    let started = now - start;
                    tracing::debug!(%addr, started = %crate::shared::report::Dur(started), "attempt started");
                    let fut = (this.attempt)(addr);
                    let stage = match config.attempt_timeout {
                        None => Stage::Tcp { fut },
                        Some(limit) => Stage::TcpTimed {
                            fut: Box::pin(timeout(limit, fut)),
                            limit,
                        },
                    };
                    let attempt = Running {
                        addr,
                        started,
                        stage,
                    };
                    if let Some(rec) = this.recorder.as_deref_mut() {
                        let running = !(this.first.is_none() && this.running.is_empty());
                        rec.started(addr, started, running);
                    }
                    if this.first.is_none() && this.running.is_empty() {
                        this.first.set(Some(attempt));
                    } else {
                        this.running.push(Box::pin(attempt));
                    }
                    *this.last_started = Some((addr, started));
                    settled = false;
                    if let Some(delay) = config.delay {
                        *this.next_start = later(now, delay);
                    }
                    continue;
                }
            }
            if this.first.is_none() && this.running.is_empty() && this.addrs.is_none() {
                let mut attempts = std::mem::take(this.failed);
                attempts.sort_by_key(|a: &Attempt| a.started);
                let Losses {
                    resolve_errors,
                    denied,
                } = this.losses.take().map(|l| *l).unwrap_or_default();
                return Poll::Ready(Err(RaceFailure {
                    attempts,
                    resolve_errors,
                    timed_out: false,
                    seen: *this.seen,
                    denied,
                }));
            }

            // The attempts, oldest first; one that finished a stage is
            // handled and the loop starts over.
            // `None` stands for `first`, `Some(i)` for `running[i]`.
            let mut finished = None;
            if !settled {
                // Whether a TLS handshake was polled: it may have taken
                // time.
                let mut worked = false;
                if let Some(r) = this.first.as_mut().as_pin_mut() {
                    worked |= r.stage() == AttemptStage::Tls;
                    if let Poll::Ready(step) = r.poll_step(cx) {
                        finished = Some((None, step));
                    }
                }
                if finished.is_none() {
                    finished = this.running.iter_mut().enumerate().find_map(|(i, r)| {
                        worked |= r.stage() == AttemptStage::Tls;
                        match r.as_mut().poll_step(cx) {
                            Poll::Ready(step) => Some((Some(i), step)),
                            Poll::Pending => None,
                        }
                    });
                }
                if worked {
                    clock = None;
                }
                settled = finished.is_none();
            }
            if let Some((at, step)) = finished {
                let (addr, started) = match at {
                    Some(i) => (this.running[i].addr, this.running[i].started),
                    None => {
                        let r = this.first.as_ref().get_ref().as_ref();
                        let r = r.expect("the first attempt just finished a stage");
                        (r.addr, r.started)
                    }
                };
                // A TCP stage's end: this poll's reading. A handshake's:
                // read now if it failed (the attempt's record keeps it),
                // and for the log only if it won.
                let now = match &step {
                    Step::Tcp(_) => Some(*clock.get_or_insert_with(Instant::now)),
                    Step::Done(Err(_)) => Some(*clock.insert(Instant::now())),
                    Step::Done(Ok(_)) => None,
                };
                // Durations are worked out where they are kept or logged
                // (the log's fields only when it is on).
                let (result, stage) = match step {
                    Step::Tcp(Ok(conn)) => {
                        let now = now.expect("read for a TCP stage");
                        tracing::debug!(%addr, elapsed = %crate::shared::report::Dur(now - start - started), "TCP connected");
                        let mut extended = false;
                        if let Some(delay) = config.delay {
                            if *this.last_started == Some((addr, started)) && now < *this.next_start
                            {
                                *this.next_start = later(now, delay);
                                extended = true;
                            }
                        }
                        if let Some(rec) = this.recorder.as_deref_mut() {
                            let at = now - start;
                            rec.connected(addr, at, at.saturating_sub(started), extended);
                        }
                        // The handshake takes the connect's place, in the
                        // same slot.
                        let fut = (this.finish)(addr, conn);
                        let r = match at {
                            Some(i) => this.running[i].as_mut(),
                            None => this.first.as_mut().as_pin_mut().expect("just polled"),
                        };
                        r.project().stage.set(Stage::Finish { fut });
                        continue;
                    }
                    Step::Tcp(Err(e)) => (Err(e), AttemptStage::Tcp),
                    Step::Done(r) => (r, AttemptStage::Tls),
                };
                match at {
                    Some(i) => drop(this.running.remove(i)),
                    None => this.first.set(None),
                }
                match result {
                    Ok(conn) => {
                        let elapsed = now.map(|now| now - start - started);
                        tracing::debug!(
                            %addr,
                            elapsed = %crate::shared::report::Dur(
                                now.unwrap_or_else(Instant::now) - start - started
                            ),
                            "attempt won"
                        );
                        let mut recorder = this.recorder.take();
                        if let Some(rec) = recorder.as_deref_mut() {
                            let at = rec.now();
                            rec.won(addr, started, stage, at);
                            let first = this.first.as_ref().get_ref().as_ref();
                            for r in first.into_iter().chain(this.running.iter().map(|r| &**r)) {
                                rec.cancelled(r.addr, r.started, r.stage(), at);
                            }
                            if let Some(losses) = this.losses.take() {
                                rec.resolve_errors = losses.resolve_errors;
                                for d in losses.denied {
                                    d.push_to(&mut rec.denied);
                                }
                            }
                        }
                        // The losers are closed before the caller sees the
                        // winner.
                        this.first.set(None);
                        this.running.clear();
                        return Poll::Ready(Ok(Won {
                            value: conn,
                            addr,
                            started,
                            elapsed,
                            failed: std::mem::take(this.failed),
                            recorder,
                        }));
                    }
                    Err(error) => {
                        let now = now.expect("read for a failure");
                        let elapsed = now - start - started;
                        if let Some(rec) = this.recorder.as_deref_mut() {
                            rec.failed(addr, stage, now - start, !this.queue.is_empty());
                        }
                        this.failed
                            .push(failed_attempt(addr, started, elapsed, error, stage));
                        // A failure starts the next attempt at once, if
                        // one waits; otherwise the next start stays one
                        // delay after the last, for addresses yet to come.
                        if !this.queue.is_empty() {
                            *this.next_start = now;
                        }
                    }
                }
                continue;
            }

            // The resolution.
            if let Some(addrs) = this.addrs.as_mut().as_pin_mut() {
                if let Poll::Ready(item) = addrs.poll_next(cx) {
                    match item {
                        Some(Ok(batch)) => {
                            let batch: Batch = batch.into();
                            if let Some(rec) = this.recorder.as_deref_mut() {
                                rec.answer(&batch);
                            }
                            *this.seen += batch.seen;
                            if !batch.denied.is_empty() {
                                let losses = this.losses.get_or_insert_with(Box::default);
                                for refused in batch.denied {
                                    refused.push_to(&mut losses.denied);
                                }
                            }
                            this.queue.withdraw(&batch.withdraw);
                            this.queue.extend_vec(batch.add);
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "resolution failed");
                            if let Some(rec) = this.recorder.as_deref_mut() {
                                rec.resolve_failed(&e);
                            }
                            let losses = this.losses.get_or_insert_with(Box::default);
                            losses.resolve_errors.push(e);
                        }
                        // Ended: the stream and what it holds are freed.
                        None => this.addrs.set(None),
                    }
                    continue;
                }
                if let Some(rec) = this.recorder.as_deref_mut() {
                    rec.waiting();
                }
            }

            // The timer: for the next attempt's start while addresses wait
            // and attempts run, and for the deadline.
            let stagger = (config.delay.is_some()
                && !this.queue.is_empty()
                && !(this.first.is_none() && this.running.is_empty()))
            .then_some(*this.next_start);
            let wake = match (stagger, config.deadline) {
                (Some(s), Some(d)) => Some(s.min(d)),
                (s, d) => s.or(d),
            };
            let Some(wake) = wake else {
                if let Some((timer, armed_at)) = this.timer.as_deref_mut() {
                    if armed_at.take().is_some() {
                        timer.disarm();
                    }
                }
                return Poll::Pending;
            };
            // Before the timer is first armed, yield once: the runtime
            // polls its I/O driver, and an attempt that connects at once
            // (a healthy loopback or LAN path) wins without a timer.
            if let Some(y) = this.yield_first.as_mut().as_pin_mut() {
                if y.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.yield_first.set(None);
                continue;
            }
            let (timer, armed_at) = &mut **this
                .timer
                .get_or_insert_with(|| Box::new((Stagger::new(start), None)));
            if *armed_at != Some(wake) {
                timer.reset(wake);
                *armed_at = Some(wake);
            }
            if timer.poll_expired(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            clock = Some(now);
            if stagger.is_some_and(|s| now >= s) {
                // Time for the next attempt.
                continue;
            }
            tracing::debug!("deadline passed");
            let now = now - start;
            let mut attempts = std::mem::take(this.failed);
            let first = this.first.as_ref().get_ref().as_ref();
            let in_flight = first.into_iter().chain(this.running.iter().map(|r| &**r));
            attempts.extend(in_flight.map(|r| {
                let stage = r.stage();
                Attempt {
                    addr: r.addr,
                    started: r.started,
                    elapsed: now - r.started,
                    error: io::Error::new(
                        io::ErrorKind::TimedOut,
                        match stage {
                            AttemptStage::Tls => {
                                "still in the TLS handshake when the connect timeout passed"
                            }
                            _ => "still connecting when the connect timeout passed",
                        },
                    ),
                    stage,
                }
            }));
            // Every attempt is closed before the caller sees the error.
            this.first.set(None);
            this.running.clear();
            attempts.sort_by_key(|a: &Attempt| a.started);
            let Losses {
                resolve_errors,
                denied,
            } = this.losses.take().map(|l| *l).unwrap_or_default();
            return Poll::Ready(Err(RaceFailure {
                attempts,
                resolve_errors,
                timed_out: true,
                seen: *this.seen,
                denied,
            }));
        }
    }
}

/// One attempt, failing with `TimedOut` after `limit`.
///
/// A plain function returning combinators, not an `async fn`: an `async fn`
/// keeps its argument and the future it awaits side by side, and this wraps
/// the connect future, whose size every caller pays.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
fn bounded<T, F>(fut: F, limit: Option<Duration>) -> impl Future<Output = io::Result<T>>
where
    F: Future<Output = io::Result<T>>,
{
    match limit {
        None => Either::Left(fut),
        // Boxed: a Tokio timer is over a hundred bytes, and inline it would
        // grow every connect future, timeout or not.
        Some(t) => Either::Right(
            Box::pin(timeout(t, fut)).map(move |r| r.unwrap_or_else(|_| Err(attempt_timed_out(t)))),
        ),
    }
}

/// The race of one known address and no deadline: nothing to stagger, so
/// none of the race's bookkeeping. Same results as [`race_staged`] would
/// give.
// Only `connect_tls` uses it (`connect` has its own first attempt).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn single<T, C, F, G>(
    addr: SocketAddr,
    attempt_timeout: Option<Duration>,
    start: Instant,
    fut: F,
    finish: impl FnOnce(SocketAddr, C) -> G,
) -> impl Future<Output = Result<Won<T>, RaceFailure>>
where
    F: Future<Output = io::Result<C>>,
    G: Future<Output = io::Result<T>>,
{
    let started = Instant::now() - start;
    tracing::debug!(%addr, started = %crate::shared::report::Dur(started), "attempt started");
    bounded(fut, attempt_timeout)
        .then(move |tcp| match tcp {
            Ok(conn) => {
                Either::Left(finish(addr, conn).map(|r| r.map_err(|e| (e, AttemptStage::Tls))))
            }
            Err(e) => Either::Right(std::future::ready(Err((e, AttemptStage::Tcp)))),
        })
        .map(move |result| match result {
            Ok(conn) => {
                tracing::debug!(%addr, "attempt won");
                Ok(Won {
                    value: conn,
                    addr,
                    started,
                    elapsed: None,
                    failed: Vec::new(),
                    recorder: None,
                })
            }
            Err((error, stage)) => {
                let elapsed = Instant::now() - start - started;
                let failed = failed_attempt(addr, started, elapsed, error, stage);
                Err(RaceFailure::alone(failed))
            }
        })
}

#[cfg(test)]
mod tests {
    //! The race's timing, on fake attempts and paused time.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures_util::stream::{self, StreamExt};

    use super::*;

    /// What a fake attempt to an address does: succeed or fail after a time,
    /// or hang forever.
    #[derive(Clone, Copy)]
    enum Outcome {
        Connect(u64),
        Fail(u64),
        Hang,
        /// Connects as soon as another task has run, with no time passing:
        /// a healthy path, whose connect completes when the runtime next
        /// polls its I/O driver.
        AtOnce,
    }

    /// Records when each attempt started and whether its "socket" was closed.
    #[derive(Default, Clone)]
    struct Scenario {
        outcomes: HashMap<SocketAddr, Outcome>,
        log: Arc<Mutex<Log>>,
    }

    #[derive(Default)]
    struct Log {
        starts: Vec<(SocketAddr, u64)>,
        open: usize,
        closed: Vec<SocketAddr>,
    }

    /// A fake socket: counts itself open until dropped.
    struct FakeSocket {
        addr: SocketAddr,
        log: Arc<Mutex<Log>>,
    }

    impl Drop for FakeSocket {
        fn drop(&mut self) {
            let mut log = self.log.lock().unwrap();
            log.open -= 1;
            log.closed.push(self.addr);
        }
    }

    fn addr(s: &str) -> SocketAddr {
        if s.contains(':') {
            format!("[{s}]:80").parse().unwrap()
        } else {
            format!("{s}:80").parse().unwrap()
        }
    }

    impl Scenario {
        fn new(outcomes: &[(&str, Outcome)]) -> Scenario {
            Scenario {
                outcomes: outcomes.iter().map(|(a, o)| (addr(a), *o)).collect(),
                log: Arc::default(),
            }
        }

        fn attempt(
            &self,
            t0: Instant,
        ) -> impl FnMut(SocketAddr) -> futures_util::future::BoxFuture<'static, io::Result<FakeSocket>>
        {
            let this = self.clone();
            move |a| {
                let outcome = this.outcomes[&a];
                let log = this.log.clone();
                let started = (Instant::now() - t0).as_millis() as u64;
                Box::pin(async move {
                    {
                        let mut l = log.lock().unwrap();
                        l.starts.push((a, started));
                        l.open += 1;
                    }
                    let socket = FakeSocket { addr: a, log };
                    match outcome {
                        Outcome::Connect(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok(socket)
                        }
                        Outcome::Fail(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            drop(socket);
                            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                        }
                        Outcome::Hang => std::future::pending().await,
                        Outcome::AtOnce => {
                            let (tx, rx) = tokio::sync::oneshot::channel();
                            tokio::spawn(async move { tx.send(()) });
                            rx.await.unwrap();
                            Ok(socket)
                        }
                    }
                })
            }
        }

        async fn run(
            &self,
            addrs: &[&str],
            config: RaceConfig,
        ) -> (Result<FakeSocket, RaceFailure>, u64) {
            let t0 = Instant::now();
            let batch: Vec<_> = addrs.iter().map(|a| addr(a)).collect();
            let result = race(stream::iter([Ok(batch)]), config, t0, self.attempt(t0)).await;
            (result, (Instant::now() - t0).as_millis() as u64)
        }

        fn starts(&self) -> Vec<(SocketAddr, u64)> {
            self.log.lock().unwrap().starts.clone()
        }

        fn open(&self) -> usize {
            self.log.lock().unwrap().open
        }
    }

    fn cfg(delay: Option<u64>) -> RaceConfig {
        RaceConfig {
            delay: delay.map(Duration::from_millis),
            interleave: 1,
            attempt_timeout: None,
            deadline: None,
        }
    }

    /// Each failed attempt: address, start and duration in ms, error kind.
    fn timeline(lost: &RaceFailure) -> Vec<(SocketAddr, u64, u64, io::ErrorKind)> {
        lost.attempts
            .iter()
            .map(|a| {
                let ms = |d: Duration| d.as_millis() as u64;
                (a.addr, ms(a.started), ms(a.elapsed), a.error.kind())
            })
            .collect()
    }

    fn starts(v: &[(&str, u64)]) -> Vec<(SocketAddr, u64)> {
        v.iter().map(|(a, t)| (addr(a), *t)).collect()
    }

    /// Runs a race whose history advises `prefer` first and `avoid` last.
    async fn advised(
        s: &Scenario,
        addrs: &[&str],
        prefer: Option<&str>,
        avoid: &[&str],
    ) -> Result<Won<FakeSocket>, RaceFailure> {
        let t0 = Instant::now();
        let batch: Vec<_> = addrs.iter().map(|a| addr(a)).collect();
        let mut begun = Begun::nothing();
        begun.advise(crate::client::history::Advice {
            first: prefer.map(|p| addr(p).ip()),
            last: avoid.iter().map(|a| addr(a).ip()).collect(),
            delay: None,
            settled: false,
        });
        let finish = |_, conn| std::future::ready(Ok(conn));
        race_staged(
            Some(stream::iter([Ok(batch)])),
            begun,
            cfg(Some(250)),
            t0,
            s.attempt(t0),
            finish,
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn the_remembered_winner_starts_first_and_wins_at_once() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("127.0.0.1", Outcome::Connect(1))]);
        let won = advised(&s, &["::1", "127.0.0.1"], Some("127.0.0.1"), &[])
            .await
            .unwrap();
        assert_eq!(won.addr, addr("127.0.0.1"));
        assert_eq!(s.starts(), starts(&[("127.0.0.1", 0)]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_remembered_winner_starts_the_next_at_once_and_the_rest_a_delay_apart() {
        let s = Scenario::new(&[
            ("::1", Outcome::Hang),
            ("::2", Outcome::Hang),
            ("127.0.0.1", Outcome::Fail(10)),
            ("127.0.0.2", Outcome::Hang),
        ]);
        let run = advised(
            &s,
            &["::1", "::2", "127.0.0.1", "127.0.0.2"],
            Some("127.0.0.1"),
            &[],
        );
        assert!(tokio::time::timeout(Duration::from_millis(600), run)
            .await
            .is_err());
        // The winner's family leads, alternating after it: 127.0.0.1, ::1,
        // 127.0.0.2, ::2; its failure starts ::1 at once.
        assert_eq!(
            s.starts(),
            starts(&[
                ("127.0.0.1", 0),
                ("::1", 10),
                ("127.0.0.2", 260),
                ("::2", 510)
            ])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_that_timed_out_recently_is_tried_last() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("127.0.0.1", Outcome::Connect(1))]);
        let won = advised(&s, &["::1", "127.0.0.1"], None, &["::1"])
            .await
            .unwrap();
        assert_eq!(won.addr, addr("127.0.0.1"));
        assert_eq!(s.starts(), starts(&[("127.0.0.1", 0)]));
    }

    #[tokio::test(start_paused = true)]
    async fn blackholed_first_address_costs_one_delay() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("1.0.0.1", Outcome::Connect(10))]);
        let (won, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        assert_eq!(took, 260);
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 250)]));
        // The winner is the only socket still open; the hung loser was closed.
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_start_at_each_delay_like_trio() {
        // trio's test_basic_fallthrough, shifted: every attempt hangs but the last.
        let s = Scenario::new(&[
            ("1.1.1.1", Outcome::Hang),
            ("2.2.2.2", Outcome::Hang),
            ("3.3.3.3", Outcome::Connect(100)),
        ]);
        let c = RaceConfig {
            interleave: 0,
            ..cfg(Some(250))
        };
        let (won, took) = s.run(&["1.1.1.1", "2.2.2.2", "3.3.3.3"], c).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("3.3.3.3"));
        assert_eq!(took, 600);
        assert_eq!(
            s.starts(),
            starts(&[("1.1.1.1", 0), ("2.2.2.2", 250), ("3.3.3.3", 500)])
        );
        assert_eq!(s.open(), 1);
        let closed = s.log.lock().unwrap().closed.clone();
        assert_eq!(closed.len(), 2);
        assert!(closed.contains(&addr("1.1.1.1")) && closed.contains(&addr("2.2.2.2")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_the_next_attempt_at_once() {
        let s = Scenario::new(&[
            ("::1", Outcome::Fail(100)),
            ("1.0.0.1", Outcome::Fail(30)),
            ("::2", Outcome::Hang),
            ("1.0.0.2", Outcome::Connect(5)),
        ]);
        let (won, took) = s
            .run(&["::1", "::2", "1.0.0.1", "1.0.0.2"], cfg(Some(250)))
            .await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("1.0.0.2"));
        // ::1 fails at 100 -> 1.0.0.1 starts, fails at 130 -> ::2 starts,
        // hangs; 1.0.0.2 starts a delay later, at 380, and connects at 385.
        assert_eq!(
            s.starts(),
            starts(&[("::1", 0), ("1.0.0.1", 100), ("::2", 130), ("1.0.0.2", 380)])
        );
        assert_eq!(took, 385);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_winner_starts_nothing_else() {
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(20)),
            ("1.0.0.1", Outcome::Connect(1)),
        ]);
        let (won, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("::1"));
        assert_eq!(took, 20);
        assert_eq!(s.starts(), starts(&[("::1", 0)]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_to_connect_wins_even_if_started_later() {
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(400)),
            ("1.0.0.1", Outcome::Connect(100)),
        ]);
        let (won, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        assert_eq!(took, 350);
        // The slower ::1 attempt, still connecting, was closed.
        assert_eq!(s.open(), 1);
        assert_eq!(s.log.lock().unwrap().closed, vec![addr("::1")]);
    }

    fn timers_armed() -> usize {
        crate::client::timer::ARMED.with(|n| n.get())
    }

    /// A pending attempt is polled once per poll of the race, not again
    /// each time the race loops over a resolver batch or its end: its waker
    /// is registered.
    #[tokio::test(start_paused = true)]
    async fn a_pending_attempt_is_polled_once_per_poll() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        let attempt = move |_: SocketAddr| {
            let counted = counted.clone();
            std::future::poll_fn(move |_| {
                counted.fetch_add(1, SeqCst);
                Poll::<io::Result<()>>::Pending
            })
        };
        let addrs = stream::iter([Ok(vec![addr("::1"), addr("127.0.0.1")])]);
        let mut race = std::pin::pin!(race(addrs, cfg(Some(250)), Instant::now(), attempt));
        assert!(futures_util::poll!(race.as_mut()).is_pending());
        assert_eq!(polls.load(SeqCst), 1);
        assert!(futures_util::poll!(race.as_mut()).is_pending());
        assert_eq!(polls.load(SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_won_at_once_arms_no_timer() {
        let s = Scenario::new(&[("::1", Outcome::AtOnce), ("1.0.0.1", Outcome::Hang)]);
        let before = timers_armed();
        let (won, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("::1"));
        assert_eq!(took, 0);
        assert_eq!(s.starts(), starts(&[("::1", 0)]));
        assert_eq!(timers_armed() - before, 0);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_is_armed_once_the_first_attempt_waits() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("1.0.0.1", Outcome::AtOnce)]);
        let before = timers_armed();
        let (won, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        // The yield before arming moved nothing: the fallback is at 250.
        assert_eq!(took, 250);
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 250)]));
        assert_eq!(timers_armed() - before, 1);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn sequential_waits_for_each_failure() {
        let s = Scenario::new(&[
            ("::1", Outcome::Fail(1000)),
            ("1.0.0.1", Outcome::Fail(2000)),
            ("::2", Outcome::Connect(10)),
        ]);
        let (won, took) = s.run(&["::1", "::2", "1.0.0.1"], cfg(None)).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("::2"));
        assert_eq!(
            s.starts(),
            starts(&[("::1", 0), ("1.0.0.1", 1000), ("::2", 3000)])
        );
        assert_eq!(took, 3010);
    }

    #[tokio::test(start_paused = true)]
    async fn all_failures_are_kept_in_start_order() {
        let s = Scenario::new(&[("::1", Outcome::Fail(300)), ("1.0.0.1", Outcome::Fail(10))]);
        let (lost, took) = s.run(&["::1", "1.0.0.1"], cfg(Some(250))).await;
        let lost = lost.err().unwrap();
        assert!(!lost.timed_out);
        // 1.0.0.1 started at 250 and failed at 260; ::1 failed at 300.
        let refused = io::ErrorKind::ConnectionRefused;
        assert_eq!(
            timeline(&lost),
            vec![
                (addr("::1"), 0, 300, refused),
                (addr("1.0.0.1"), 250, 10, refused)
            ]
        );
        assert_eq!(took, 300);
        assert_eq!(s.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_race_and_closes_everything() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("1.0.0.1", Outcome::Hang)]);
        let c = RaceConfig {
            deadline: Some(Instant::now() + Duration::from_millis(1000)),
            ..cfg(Some(250))
        };
        let (lost, took) = s.run(&["::1", "1.0.0.1"], c).await;
        let lost = lost.err().unwrap();
        assert!(lost.timed_out);
        assert_eq!(took, 1000);
        // Attempts still running at the deadline are reported as timed out.
        assert_eq!(
            timeline(&lost),
            vec![
                (addr("::1"), 0, 1000, io::ErrorKind::TimedOut),
                (addr("1.0.0.1"), 250, 750, io::ErrorKind::TimedOut)
            ]
        );
        assert_eq!(s.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_attempt_timeout_fails_one_attempt_and_starts_the_next() {
        let s = Scenario::new(&[("::1", Outcome::Hang), ("1.0.0.1", Outcome::Connect(10))]);
        let c = RaceConfig {
            attempt_timeout: Some(Duration::from_millis(100)),
            ..cfg(None)
        };
        let (won, took) = s.run(&["::1", "1.0.0.1"], c).await;
        let won = won.unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 100)]));
        assert_eq!(took, 110);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_race_closes_every_attempt() {
        let s = Scenario::new(&[
            ("::1", Outcome::Hang),
            ("1.0.0.1", Outcome::Hang),
            ("::2", Outcome::Hang),
        ]);
        let t0 = Instant::now();
        let batch = vec![addr("::1"), addr("1.0.0.1"), addr("::2")];
        let fut = race(stream::iter([Ok(batch)]), cfg(Some(250)), t0, s.attempt(t0));
        let timed = tokio::time::timeout(Duration::from_millis(600), fut).await;
        assert!(timed.is_err());
        assert_eq!(
            s.starts(),
            starts(&[("::1", 0), ("1.0.0.1", 250), ("::2", 500)])
        );
        assert_eq!(s.open(), 0);
    }

    /// What `connect` hands over: the first address taken and its attempt
    /// running since +0 (started 30 ms before the race exists), or failed.
    /// The race goes on from the same instants: the next start is one delay
    /// after the first attempt's, or at once after its failure.
    #[tokio::test(start_paused = true)]
    async fn a_race_goes_on_from_what_was_begun() {
        for failed_first in [false, true] {
            let s = Scenario::new(&[("::1", Outcome::Hang), ("127.0.0.1", Outcome::Connect(10))]);
            let t0 = Instant::now();
            let mut attempt = s.attempt(t0);
            let v6 = addr("::1");
            let running = attempt(v6);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut begun = Begun::with(vec![v6, addr("127.0.0.1")]);
            begun.yielded = true;
            if failed_first {
                begun.failed.push(Attempt {
                    addr: v6,
                    started: Duration::ZERO,
                    elapsed: Duration::from_millis(30),
                    error: io::ErrorKind::ConnectionRefused.into(),
                    stage: AttemptStage::Tcp,
                });
            } else {
                begun.running = Some((v6, Duration::ZERO, running));
            }
            let addrs = None::<stream::Empty<Result<Vec<SocketAddr>, ResolveError>>>;
            let finish = |_, conn| std::future::ready(Ok(conn));
            let won = race_staged(addrs, begun, cfg(Some(250)), t0, attempt, finish)
                .await
                .unwrap();
            assert_eq!(won.addr, addr("127.0.0.1"));
            // The begun attempt is not started again (a fake attempt is
            // logged when first polled, with the instant it was made: the
            // failed one never was polled); the fallback starts one delay
            // after it, or as soon as the race has its failure.
            let (expected, fallback_at) = if failed_first {
                (starts(&[("127.0.0.1", 30)]), 30)
            } else {
                (starts(&[("::1", 0), ("127.0.0.1", 250)]), 250)
            };
            assert_eq!(s.starts(), expected, "failed first: {failed_first}");
            assert_eq!(Instant::now() - t0, Duration::from_millis(fallback_at + 10));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_with_nothing_waiting_keeps_the_stagger_for_later_batches() {
        // 1.0.0.2 fails at 260 ms while 1.0.0.1 still runs and no address
        // waits; the AAAA answer at 300 ms must start one delay after
        // 1.0.0.2's start (500 ms), not at once.
        let s = Scenario::new(&[
            ("1.0.0.1", Outcome::Hang),
            ("1.0.0.2", Outcome::Fail(10)),
            ("::1", Outcome::Connect(10)),
        ]);
        let t0 = Instant::now();
        let batches = stream::iter([
            (0, vec![addr("1.0.0.1"), addr("1.0.0.2")]),
            (300, vec![addr("::1")]),
        ])
        .then(move |(at, batch)| async move {
            tokio::time::sleep_until(t0 + Duration::from_millis(at)).await;
            Ok(batch)
        });
        let won = race(batches, cfg(Some(250)), t0, s.attempt(t0)).await;
        assert_eq!(won.ok().unwrap().addr, addr("::1"));
        assert_eq!(
            s.starts(),
            starts(&[("1.0.0.1", 0), ("1.0.0.2", 250), ("::1", 500)])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn late_batches_join_the_running_race() {
        // A answers at once, AAAA 400 ms later: IPv4 attempts hang, and the
        // IPv6 address joins the race when it arrives.
        let s = Scenario::new(&[
            ("1.0.0.1", Outcome::Hang),
            ("1.0.0.2", Outcome::Hang),
            ("::1", Outcome::Connect(10)),
        ]);
        let t0 = Instant::now();
        let batches = stream::iter([
            (0, vec![addr("1.0.0.1"), addr("1.0.0.2")]),
            (400, vec![addr("::1")]),
        ])
        .then(move |(at, batch)| async move {
            tokio::time::sleep_until(t0 + Duration::from_millis(at)).await;
            Ok(batch)
        });
        let won = race(batches, cfg(Some(250)), t0, s.attempt(t0)).await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("::1"));
        // ::1 arrives at 400, but the delay since 1.0.0.2's start runs to 500.
        assert_eq!(
            s.starts(),
            starts(&[("1.0.0.1", 0), ("1.0.0.2", 250), ("::1", 500)])
        );
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_arriving_after_all_failed_starts_at_once() {
        let s = Scenario::new(&[
            ("1.0.0.1", Outcome::Fail(10)),
            ("::1", Outcome::Connect(10)),
        ]);
        let t0 = Instant::now();
        let batches = stream::iter([(0, vec![addr("1.0.0.1")]), (50, vec![addr("::1")])]).then(
            move |(at, batch)| async move {
                tokio::time::sleep_until(t0 + Duration::from_millis(at)).await;
                Ok(batch)
            },
        );
        let won = race(batches, cfg(Some(250)), t0, s.attempt(t0)).await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("::1"));
        assert_eq!(s.starts(), starts(&[("1.0.0.1", 0), ("::1", 50)]));
    }

    #[tokio::test(start_paused = true)]
    async fn resolution_errors_are_kept() {
        let s = Scenario::new(&[("1.0.0.1", Outcome::Fail(5))]);
        let t0 = Instant::now();
        let batches = stream::iter([
            Err(ResolveError::new(
                "h",
                crate::ResolveErrorKind::ServerFailure,
            )),
            Ok(vec![addr("1.0.0.1")]),
        ]);
        let lost = race(batches, cfg(Some(250)), t0, s.attempt(t0))
            .await
            .err()
            .unwrap();
        assert_eq!(lost.resolve_errors.len(), 1);
        assert_eq!(lost.attempts.len(), 1);
    }

    /// What a fake TLS handshake on a connected fake socket does.
    #[derive(Clone, Copy)]
    enum Handshake {
        Done(u64),
        Fail(u64),
        Hang,
    }

    impl Scenario {
        /// Runs the two-stage race: TCP as `outcomes` says, then the
        /// handshake as `handshakes` says.
        async fn run_staged(
            &self,
            addrs: &[&str],
            handshakes: &[(&str, Handshake)],
            config: RaceConfig,
        ) -> (Result<FakeSocket, RaceFailure>, u64) {
            let t0 = Instant::now();
            let batch: Vec<_> = addrs.iter().map(|a| addr(a)).collect();
            let handshakes: HashMap<SocketAddr, Handshake> =
                handshakes.iter().map(|(a, h)| (addr(a), *h)).collect();
            let finish = move |a: SocketAddr, socket: FakeSocket| {
                let h = handshakes[&a];
                async move {
                    match h {
                        Handshake::Done(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok(socket)
                        }
                        Handshake::Fail(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            drop(socket);
                            Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "bad certificate",
                            ))
                        }
                        Handshake::Hang => std::future::pending().await,
                    }
                }
            };
            let result = race_staged(
                Some(stream::iter([Ok(batch)])),
                Begun::nothing(),
                config,
                t0,
                self.attempt(t0),
                finish,
            )
            .await
            .map(|won| won.value);
            (result, (Instant::now() - t0).as_millis() as u64)
        }
    }

    fn stages(lost: &RaceFailure) -> Vec<(SocketAddr, AttemptStage)> {
        lost.attempts.iter().map(|a| (a.addr, a.stage)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_handshake_starts_the_next_attempt_at_once() {
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(10)),
            ("1.0.0.1", Outcome::Connect(10)),
        ]);
        let (won, took) = s
            .run_staged(
                &["::1", "1.0.0.1"],
                &[
                    ("::1", Handshake::Fail(5)),
                    ("1.0.0.1", Handshake::Done(20)),
                ],
                cfg(Some(250)),
            )
            .await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        // ::1: TCP at 10, handshake refused at 15; 1.0.0.1 starts then.
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 15)]));
        assert_eq!(took, 45);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handshake_in_progress_extends_the_delay() {
        // ::1 connects at 100 and its handshake hangs: the next attempt
        // waits a delay from 100 (draft §6.1), not from ::1's start.
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(100)),
            ("1.0.0.1", Outcome::Connect(10)),
        ]);
        let (won, took) = s
            .run_staged(
                &["::1", "1.0.0.1"],
                &[("::1", Handshake::Hang), ("1.0.0.1", Handshake::Done(10))],
                cfg(Some(250)),
            )
            .await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 350)]));
        assert_eq!(took, 370);
        // The loser, mid-handshake, was closed.
        assert_eq!(s.open(), 1);
        assert_eq!(s.log.lock().unwrap().closed, vec![addr("::1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_latest_attempt_extends_the_delay() {
        // ::1 connects at 300, after 1.0.0.1 started at 250: the timer runs
        // for 1.0.0.1 and is not moved.
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(300)),
            ("1.0.0.1", Outcome::Hang),
            ("::2", Outcome::Connect(10)),
        ]);
        let (won, took) = s
            .run_staged(
                &["::1", "1.0.0.1", "::2"],
                &[("::1", Handshake::Hang), ("::2", Handshake::Done(10))],
                RaceConfig {
                    interleave: 0,
                    ..cfg(Some(250))
                },
            )
            .await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("::2"));
        assert_eq!(
            s.starts(),
            starts(&[("::1", 0), ("1.0.0.1", 250), ("::2", 500)])
        );
        assert_eq!(took, 520);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handshake_that_wins_first_wins() {
        // The first to finish its handshake wins, even if another finished
        // TCP first.
        let s = Scenario::new(&[
            ("::1", Outcome::Connect(5)),
            ("1.0.0.1", Outcome::Connect(5)),
        ]);
        let (won, took) = s
            .run_staged(
                &["::1", "1.0.0.1"],
                &[
                    ("::1", Handshake::Done(500)),
                    ("1.0.0.1", Handshake::Done(10)),
                ],
                cfg(Some(250)),
            )
            .await;
        let won = won.ok().unwrap();
        assert_eq!(won.addr, addr("1.0.0.1"));
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 255)]));
        assert_eq!(took, 270);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_keeps_its_stage() {
        let s = Scenario::new(&[
            ("::1", Outcome::Fail(10)),
            ("1.0.0.1", Outcome::Connect(10)),
        ]);
        let (lost, took) = s
            .run_staged(
                &["::1", "1.0.0.1"],
                &[("1.0.0.1", Handshake::Fail(5))],
                cfg(Some(250)),
            )
            .await;
        let lost = lost.err().unwrap();
        assert_eq!(
            stages(&lost),
            vec![
                (addr("::1"), AttemptStage::Tcp),
                (addr("1.0.0.1"), AttemptStage::Tls)
            ]
        );
        assert_eq!(
            timeline(&lost),
            vec![
                (addr("::1"), 0, 10, io::ErrorKind::ConnectionRefused),
                (addr("1.0.0.1"), 10, 15, io::ErrorKind::InvalidData)
            ]
        );
        assert_eq!(took, 25);
        assert_eq!(s.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_reports_the_stage_each_attempt_was_in() {
        let s = Scenario::new(&[("::1", Outcome::Connect(10)), ("1.0.0.1", Outcome::Hang)]);
        let c = RaceConfig {
            deadline: Some(Instant::now() + Duration::from_millis(1000)),
            ..cfg(Some(250))
        };
        let (lost, took) = s
            .run_staged(&["::1", "1.0.0.1"], &[("::1", Handshake::Hang)], c)
            .await;
        let lost = lost.err().unwrap();
        assert!(lost.timed_out);
        assert_eq!(took, 1000);
        // ::1 connected at 10, so 1.0.0.1 started a delay later, at 260.
        assert_eq!(s.starts(), starts(&[("::1", 0), ("1.0.0.1", 260)]));
        assert_eq!(
            stages(&lost),
            vec![
                (addr("::1"), AttemptStage::Tls),
                (addr("1.0.0.1"), AttemptStage::Tcp)
            ]
        );
        assert_eq!(s.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn single_reports_the_stage() {
        let t0 = Instant::now();
        let fut = single(addr("::1"), None, t0, async { Ok(()) }, |_, ()| async {
            Err::<(), _>(io::Error::new(io::ErrorKind::InvalidData, "alert"))
        });
        let lost = fut.await.err().unwrap();
        assert_eq!(stages(&lost), vec![(addr("::1"), AttemptStage::Tls)]);
    }
}
