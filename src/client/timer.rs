//! The race's stagger timer: Tokio's clock, with sub-millisecond wake-ups.
//!
//! # Why not just `tokio::time::sleep_until`
//!
//! Tokio's timer wheel has millisecond ticks: a deadline is rounded *up* to
//! the next tick, and the driver then parks in `epoll_wait`, whose timeout is
//! whole milliseconds, rounded up again. A 250 ms sleep wakes 0.4 to 2 ms
//! late (1.4 ms median, measured on the CI machine). For the race, that
//! lateness is added to every fallback: the time a blackholed first address
//! costs is the delay plus the timer's overshoot.
//!
//! # What we do
//!
//! Sleep on Tokio's timer until [`COARSE_MARGIN`] before the deadline, then
//! finish the wait on a one-shot `timerfd` (`timerfd_create(2)`, monotonic
//! clock, the same clock as `Instant`) registered with Tokio's reactor:
//! `epoll_wait` returns when the fd becomes readable, whatever its own
//! timeout, so the wake-up is as precise as the kernel's high-resolution
//! timer. The timerfd exists only for those last milliseconds of a stagger,
//! and is closed with the timer.
//!
//! # Paused time
//!
//! Tests pause Tokio's clock (`time::pause`, `start_paused`). A kernel timer
//! knows nothing of that, so the precise phase runs only when Tokio's clock
//! has kept pace with the real one during the coarse phase. A paused clock
//! that was advanced to the coarse wake-up has run far ahead of real time;
//! then, and for delays too short to tell, the timer is a plain
//! `sleep_until(deadline)`. Whatever the phase, the timer only reports
//! ready once `tokio::time::Instant::now() >= deadline`, so a paused clock
//! sees exact instants and a real one never wakes early.
//!
//! Other platforms use Tokio's timer alone (`crate::sys::PreciseTimer`
//! is the timerfd, where there is one).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{sleep_until, Instant, Sleep};

/// How long before the deadline the coarse Tokio sleep ends.
const COARSE_MARGIN: Duration = Duration::from_millis(3);

/// Below this delay, the precise phase is not worth it (and a paused clock
/// could not be told from a real one).
const PRECISE_MIN: Duration = Duration::from_millis(20);

#[cfg(test)]
thread_local! {
    /// How many times a timer was armed on this thread: the race's tests
    /// check that a race won at once arms none.
    pub(crate) static ARMED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[derive(Debug)]
pub(crate) struct Stagger {
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    phase: Phase,
    /// When the coarse phase began, on the real clock and on Tokio's.
    real_anchor: std::time::Instant,
    tokio_anchor: Instant,
    fine: Option<crate::sys::PreciseTimer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Tokio's timer, until `COARSE_MARGIN` before the deadline.
    Coarse,
    /// The timerfd, until the deadline.
    Fine,
    /// Tokio's timer, until the deadline.
    Exact,
}

impl Stagger {
    /// A timer that is not armed until [`reset`](Self::reset): creating one
    /// costs nothing on the path where the first attempt wins.
    /// `now` is any instant (the race's start): it is not read here.
    pub(crate) fn new(now: Instant) -> Stagger {
        Stagger {
            deadline: now,
            sleep: None,
            phase: Phase::Exact,
            real_anchor: std::time::Instant::now(),
            tokio_anchor: now,
            fine: None,
        }
    }

    /// Arms the timer for `deadline`.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        #[cfg(test)]
        ARMED.with(|n| n.set(n.get() + 1));
        let now = Instant::now();
        self.deadline = deadline;
        self.tokio_anchor = now;
        self.real_anchor = std::time::Instant::now();
        self.fine = None;
        let precise =
            crate::sys::HAS_PRECISE_TIMER && deadline.saturating_duration_since(now) >= PRECISE_MIN;
        let (phase, wake) = if precise {
            (Phase::Coarse, deadline - COARSE_MARGIN)
        } else {
            (Phase::Exact, deadline)
        };
        self.phase = phase;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(wake),
            None => self.sleep = Some(Box::pin(sleep_until(wake))),
        }
    }

    /// Disarms the timer and frees it: a race that waits on nothing but
    /// its attempts holds no timer.
    pub(crate) fn disarm(&mut self) {
        self.sleep = None;
        self.phase = Phase::Exact;
        self.fine = None;
    }

    fn exact(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.phase = Phase::Exact;
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        sleep.as_mut().reset(deadline);
        sleep.as_mut().poll(cx)
    }

    /// Ready once Tokio's clock has reached the deadline.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if Instant::now() >= self.deadline {
                return Poll::Ready(());
            }
            match self.phase {
                Phase::Exact => {
                    let sleep = self
                        .sleep
                        .get_or_insert_with(|| Box::pin(sleep_until(self.deadline)));
                    return sleep.as_mut().poll(cx);
                }
                Phase::Coarse => {
                    let sleep = self.sleep.as_mut().expect("armed by reset");
                    ready!(sleep.as_mut().poll(cx));
                    let ran = Instant::now() - self.tokio_anchor;
                    let real = self.real_anchor.elapsed();
                    // A clock that jumped ahead of real time is paused.
                    if ran > real + COARSE_MARGIN || !self.start_fine() {
                        return self.exact(cx);
                    }
                }
                Phase::Fine => {
                    if let Some(fine) = &self.fine {
                        ready!(fine.poll_expired(cx));
                    }
                    // The kernel's timer fired: Tokio's clock is the same
                    // monotonic clock, so the loop's check now passes; if it
                    // does not (a clock that is not the kernel's), wait on
                    // Tokio's timer.
                    if Instant::now() < self.deadline {
                        return self.exact(cx);
                    }
                }
            }
        }
    }

    /// Moves to the precise phase; `false` where there is no timerfd.
    fn start_fine(&mut self) -> bool {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        match crate::sys::PreciseTimer::new(remaining) {
            Ok(fd) => {
                self.fine = Some(fd);
                self.phase = Phase::Fine;
                true
            }
            Err(e) => {
                tracing::trace!(error = %e, "no timerfd; using Tokio's timer");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_clock_wakes_exactly_at_the_deadline() {
        for ms in [0, 1, 19, 20, 250, 10_000] {
            let t0 = Instant::now();
            let mut s = Stagger::new(t0);
            s.reset(t0 + Duration::from_millis(ms));
            std::future::poll_fn(|cx| s.poll_expired(cx)).await;
            assert_eq!(
                Instant::now() - t0,
                Duration::from_millis(ms),
                "delay {ms} ms"
            );
        }
    }

    #[tokio::test]
    async fn real_clock_wakes_at_the_deadline_and_not_before() {
        let mut lateness = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let deadline = t0 + Duration::from_millis(30);
            let mut s = Stagger::new(t0);
            s.reset(deadline);
            std::future::poll_fn(|cx| s.poll_expired(cx)).await;
            let now = Instant::now();
            assert!(now >= deadline);
            lateness.push(now - deadline);
        }
        lateness.sort();
        // Generous bound for a loaded machine; the benchmark measures the
        // real figure.
        assert!(lateness[2] < Duration::from_millis(20), "{lateness:?}");
    }

    #[tokio::test]
    async fn rearming_moves_the_deadline() {
        let t0 = Instant::now();
        let mut s = Stagger::new(t0);
        s.reset(t0 + Duration::from_secs(60));
        s.reset(t0 + Duration::from_millis(25));
        std::future::poll_fn(|cx| s.poll_expired(cx)).await;
        let took = Instant::now() - t0;
        assert!(
            took >= Duration::from_millis(25) && took < Duration::from_secs(30),
            "{took:?}"
        );
    }
}
