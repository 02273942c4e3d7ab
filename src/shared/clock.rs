//! Deadlines from durations a user gave: a duration too long to add to
//! the clock (`Duration::MAX` and its like) means no bound, never a panic.

use std::time::Duration;

use tokio::time::Instant;

/// `t + d`, or a moment some 30 years away when that overflows an
/// `Instant` (`Duration::MAX` and its like): a duration too long to add
/// means no bound, never a panic.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(86_400 * 365 * 30))
}
