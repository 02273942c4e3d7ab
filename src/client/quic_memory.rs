//! What QUIC keeps between calls, apart from the race in `quic.rs` (so
//! that the builder's rare options can hold it without the builder
//! importing the race): the mode a builder asked for, a connector's shared
//! quinn endpoints, and the memory of which targets spoke QUIC and whose
//! UDP looked broken (5 min, doubling to 48 h, cleared by a success).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::shared::report::Dur;

/// How long broken UDP is remembered first; each new failure after the
/// mark has passed doubles it, up to [`BROKEN_MAX`].
pub(super) const BROKEN_FIRST: Duration = Duration::from_secs(5 * 60);
pub(super) const BROKEN_MAX: Duration = Duration::from_secs(48 * 3600);
/// Targets remembered at most (the oldest mark forgotten first).
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
            shared
                .memory
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
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
}

/// What earlier calls learnt of QUIC per target.
#[derive(Default)]
pub(super) struct Memory(pub(super) Mutex<HashMap<String, Remembered>>);

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
    pub(super) fn get(&self, key: &str) -> Remembered {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().unwrap_or_default()
    }

    pub(super) fn update(&self, key: &str, f: impl FnOnce(&mut Remembered)) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MEMORY_CAP && !map.contains_key(key) {
            let oldest = map
                .iter()
                .min_by_key(|(_, r)| r.broken_until)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        f(map.entry(key.to_string()).or_default());
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
