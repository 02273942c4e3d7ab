//! Deadlines from durations a user gave: a zero timeout is refused (it
//! could only fail, and `None` is how to ask for no bound), and a duration
//! too long to add to the clock (`Duration::MAX` and its like) means no
//! bound, never a panic.

use std::time::Duration;

use tokio::time::Instant;

/// `t + d`, or a moment some 30 years away when that overflows an
/// `Instant` (`Duration::MAX` and its like): a duration too long to add
/// means no bound, never a panic.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(86_400 * 365 * 30))
}

/// A timeout option's value, refused when zero: a call bounded by zero
/// could only fail, so a zero is taken for a mistake (`None` is no bound).
/// One rule for every timeout: `connect_timeout`, `attempt_timeout`, and
/// the TLS handshake and shutdown timeouts of both sides.
pub(crate) fn positive(
    option: &str,
    timeout: Option<Duration>,
) -> Result<Option<Duration>, String> {
    match timeout {
        Some(t) if t.is_zero() => Err(format!(
            "{option} must be greater than zero (None means no bound)"
        )),
        t => Ok(t),
    }
}
