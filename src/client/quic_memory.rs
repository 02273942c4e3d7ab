//! What QUIC keeps between calls, apart from the race in `quic.rs` (so
//! that the builder's rare options can hold it without the builder
//! importing the race): the mode a builder asked for, a connector's shared
//! quinn endpoints, and the memory of which targets spoke QUIC and whose
//! UDP looked broken (5 min, doubling to 48 h, cleared by a success).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::client::tls_options::DerivedAlpn;
use crate::shared::report::Dur;

/// How long broken UDP is remembered first; each new failure after the
/// mark has passed doubles it, up to [`BROKEN_MAX`].
pub(super) const BROKEN_FIRST: Duration = Duration::from_secs(5 * 60);
pub(super) const BROKEN_MAX: Duration = Duration::from_secs(48 * 3600);
/// Targets remembered at most (the one remembered first forgotten first).
pub(super) const MEMORY_CAP: usize = 1024;

/// Whether and how QUIC takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// TCP+TLS only; nothing is sent over UDP.
    Off,
    /// QUIC first, TCP+TLS after the wait.
    Race,
    /// QUIC alone.
    Only,
}

/// The QUIC options of a builder or connector (in its rare options).
#[derive(Clone)]
pub(crate) struct QuicSlot {
    pub(crate) mode: Mode,
    /// A connector's endpoints and memory; `None`: a one-shot builder's
    /// (endpoints per call, the process-wide memory).
    pub(super) shared: Option<Arc<Shared>>,
}

impl QuicSlot {
    pub(crate) const OFF: QuicSlot = QuicSlot {
        mode: Mode::Off,
        shared: None,
    };

    /// Forgets what the memory holds (a connector's `clear_history`).
    pub(crate) fn forget(&self) {
        if let Some(shared) = &self.shared {
            shared.memory.clear();
        }
    }
}

impl fmt::Debug for QuicSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quic")
            .field("mode", &self.mode)
            .field("shared_endpoints", &self.shared.is_some())
            .finish()
    }
}

/// A connector's QUIC state, shared by its clones and builders.
#[derive(Default)]
pub(super) struct Shared {
    /// IPv4, IPv6.
    pub(super) endpoints: Mutex<[Option<quinn::Endpoint>; 2]>,
    pub(super) memory: Memory,
    /// The quinn client configuration of the last TLS configuration used.
    pub(super) client: Mutex<Option<QuicClient>>,
    /// The TCP+TLS side's ALPN list (the builder's without `h3`).
    pub(super) tcp_alpn: Mutex<Option<DerivedAlpn>>,
}

/// A quinn client configuration and what it was made from: a rustls
/// configuration (kept, so that its address stays its own), the mode and
/// the builder's ALPN list (which give the QUIC attempts' ALPN).
pub(super) struct QuicClient {
    pub(super) tls: Arc<rustls::ClientConfig>,
    pub(super) mode: Mode,
    pub(super) alpn: Option<Vec<Vec<u8>>>,
    pub(super) client: quinn::ClientConfig,
}

/// What earlier calls learnt of QUIC per target.
#[derive(Default)]
pub(super) struct Memory(Mutex<Table>);

/// The targets remembered, and their keys in the order they came: at
/// [`MEMORY_CAP`], a new target takes the place of the one remembered
/// first, found at the queue's front (nothing scans the map).
#[derive(Default)]
struct Table {
    map: HashMap<Arc<str>, Remembered>,
    /// Every key of `map`, once, oldest first.
    order: VecDeque<Arc<str>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Remembered {
    /// A QUIC connection to the target succeeded.
    pub(super) worked: bool,
    /// UDP is broken until then.
    pub(super) broken_until: Option<Instant>,
    /// The next mark's length (zero: [`BROKEN_FIRST`]).
    pub(super) backoff: Duration,
}

impl Remembered {
    pub(super) fn broken(&self, now: Instant) -> bool {
        self.broken_until.is_some_and(|t| t > now)
    }
}

impl Memory {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &str) -> Remembered {
        self.table().map.get(key).copied().unwrap_or_default()
    }

    /// How many targets are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.table().map.len()
    }

    /// Forgets every target.
    pub(super) fn clear(&self) {
        let mut table = self.table();
        table.map.clear();
        table.order.clear();
    }

    pub(super) fn update(&self, key: &str, f: impl FnOnce(&mut Remembered)) {
        let mut table = self.table();
        if let Some(r) = table.map.get_mut(key) {
            return f(r);
        }
        if table.map.len() >= MEMORY_CAP {
            if let Some(oldest) = table.order.pop_front() {
                table.map.remove(&oldest);
            }
        }
        let key: Arc<str> = Arc::from(key);
        table.order.push_back(key.clone());
        f(table.map.entry(key).or_default());
    }

    /// QUIC won: the mark and the backoff go.
    pub(super) fn worked(&self, key: &str) {
        self.update(key, |r| {
            *r = Remembered {
                worked: true,
                ..Remembered::default()
            }
        });
    }

    /// No QUIC attempt had an answer while TCP+TLS connected: marked
    /// broken, unless it is marked already.
    pub(super) fn udp_broken(&self, key: &str, now: Instant) {
        self.update(key, |r| {
            if r.broken(now) {
                return;
            }
            let backoff = if r.backoff.is_zero() {
                BROKEN_FIRST
            } else {
                r.backoff
            };
            r.broken_until = Some(now + backoff);
            r.backoff = (backoff * 2).min(BROKEN_MAX);
            tracing::debug!(target = key, for_ = %Dur(backoff), "UDP remembered as broken");
        });
    }
}

/// The memory of one-shot builders (a connector has its own).
pub(super) static PROCESS_MEMORY: LazyLock<Memory> = LazyLock::new(Memory::default);

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap, each new target pushes out the one remembered first,
    /// in the order they came; a target updated again keeps its place
    /// and nothing else goes.
    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_first_remembered_goes_first() {
        let memory = Memory::default();
        let now = Instant::now();
        for i in 0..MEMORY_CAP {
            memory.udp_broken(&format!("h{i}:443"), now);
        }
        assert_eq!(memory.len(), MEMORY_CAP);
        // Known targets: updated in place, nothing forgotten.
        memory.worked("h0:443");
        memory.udp_broken("h5:443", now);
        assert_eq!(memory.len(), MEMORY_CAP);
        assert!(memory.get("h0:443").worked);
        for (new, gone) in [
            ("n0:443", "h0:443"),
            ("n1:443", "h1:443"),
            ("n2:443", "h2:443"),
        ] {
            memory.udp_broken(new, now);
            assert_eq!(memory.len(), MEMORY_CAP);
            assert!(memory.get(new).broken(now), "{new} not remembered");
            let r = memory.get(gone);
            assert!(
                !r.worked && r.broken_until.is_none(),
                "{gone} still remembered"
            );
            assert!(memory.get("h3:443").broken(now));
        }
        assert!(memory.get(&format!("h{}:443", MEMORY_CAP - 1)).broken(now));
        memory.clear();
        assert_eq!(memory.len(), 0);
        // The queue was emptied too: a full cap again before anything goes.
        for i in 0..MEMORY_CAP {
            memory.udp_broken(&format!("m{i}:443"), now);
        }
        assert!(memory.get("m0:443").broken(now));
        memory.udp_broken("x:443", now);
        assert_eq!(memory.len(), MEMORY_CAP);
        assert!(!memory.get("m0:443").broken(now));
    }
}
