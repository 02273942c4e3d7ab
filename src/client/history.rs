//! What earlier connections to a target taught: which address won, how
//! long it took, which addresses failed and how (RFC 8305 §4 rule 9,
//! draft-ietf-happy-happyeyeballs-v3 §5 "historical data").
//!
//! This module decides what is remembered and what it says about the next
//! race (the address to try first, the addresses to try last, a stagger
//! delay from the round-trip times); the race itself, and the rule that
//! the next address starts one delay later or at once after a failure,
//! stay in `race`. History lives in the process only: nothing is written
//! anywhere, and it is bounded ([`CAPACITY`] targets, least recently used
//! forgotten first) and expires (`history_ttl`).
//!
//! A target's history is keyed by what makes its addresses and paths the
//! same: the host name (or the literal list), the port, the local
//! addresses, the family filter, and a [path id](path_id) for the rest
//! (the resolver, the interface, whether a socket hook runs): a winner
//! learnt through `eth0` or one resolver says nothing about `wg0` or
//! another resolver's answers.
//!
//! Only what the remote side did is remembered. A failure of our own
//! ([`Failure::Local`]: out of descriptors or buffers, a fixed local port
//! in use, a socket hook's error) says nothing about the address, and
//! never demotes a winner.
//!
//! Outcomes hold for the network they were seen on: the table keeps that
//! network's identity (`sys::network`: the default routes and their source
//! addresses, looked at at most once a second) and is emptied when the
//! next lookup finds another (HEv3 §4.3: a change of network flushes what
//! no longer applies).
//!
//! The table is behind a lock. A burst of connects to one healthy target
//! asks it for the same settled advice again and again, so each thread
//! keeps a copy of the last settled advice it was given ([`Memo`]), valid
//! while the table's change count is the one it was taken at: such a
//! lookup takes no lock and hashes nothing, and gives the table's answer.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::shared::target::{Family, Target};

/// The most targets one history remembers; the least recently used is
/// forgotten first. An entry is about 200 bytes plus its host name.
pub(crate) const CAPACITY: usize = 1024;

/// How long an outcome is trusted by default: 10 minutes.
pub(crate) const DEFAULT_HISTORY_TTL: Duration = Duration::from_secs(600);

/// At most this many failed addresses are kept per target.
const MAX_FAILURES: usize = 8;

/// RFC 8305 §5: the bounds of a connection attempt delay derived from
/// round-trip times (the minimum is 100 ms by default, never below 10 ms).
const ADAPTIVE_MIN: Duration = Duration::from_millis(100);
const ADAPTIVE_MAX: Duration = Duration::from_secs(2);

/// A history of outcomes, shared by clones (an `Arc`).
#[derive(Clone, Default)]
pub(crate) struct History {
    inner: Arc<Inner>,
}

struct Inner {
    table: Mutex<Table>,
    /// Keys are hashed from a random seed of this history's own, so the
    /// slots targets land in differ from process to process. (A program
    /// made to connect to chosen names could still make them collide: the
    /// table's bound, 1024 targets, bounds what that costs.)
    seed: u64,
    /// This history's number, unique in the process: what a thread's
    /// [`Memo`] was taken from.
    number: u64,
    /// Counts the table's changes: an entry written, expired or moved in
    /// the order of use, a target added or forgotten, the table flushed.
    /// Bumped under the table's lock; a [`Memo`] holds while it is the
    /// count the memo was taken at.
    changes: AtomicU64,
}

impl Default for Inner {
    fn default() -> Inner {
        static NUMBERS: AtomicU64 = AtomicU64::new(1);
        Inner {
            table: Mutex::default(),
            seed: RandomState::new().hash_one(0u64) | 1,
            number: NUMBERS.fetch_add(1, Ordering::Relaxed),
            changes: AtomicU64::new(0),
        }
    }
}

impl Inner {
    /// The table changed (called with its lock held).
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }
}

/// A thread's copy of the last settled advice it was given: the advice a
/// burst of connects to one healthy target asks for again and again
/// (its winner, won again within an eighth of the TTL, nothing else
/// remembered). It is the table's answer as long as the table has not
/// changed since (its change count is the same), the network is the same
/// and the winner is still settled at the caller's instant; the lookup
/// then takes no lock and hashes nothing. While it holds, its target is
/// the table's most recently used (taking it moved the target there, and
/// any other use would have changed the count), so skipping the table
/// leaves its order of use exact.
///
/// A target is copied in only when it settles twice in a row on the
/// thread: calls alternating between targets copy nothing.
struct Memo {
    /// The hash of the last settled lookup made on the table.
    last: u64,
    /// The advice, and the key of the target it is for.
    kept: Option<(Kept, Id)>,
}

/// What a [`Memo`] says, and while what it holds.
#[derive(Clone, Copy)]
struct Kept {
    /// [`Inner::number`].
    history: u64,
    /// [`Inner::changes`] when the memo was taken.
    changes: u64,
    /// The TTL it was settled under.
    ttl: Duration,
    /// The memo holds until then: the winner's win plus an eighth of the
    /// TTL, or before that the instant until which this thread is told the
    /// network is the one the table's outcomes were seen on
    /// (`sys::network_until`: a network found changed after that flushes
    /// the table, which changes its count).
    until: Instant,
    first: IpAddr,
}

impl Memo {
    /// Keeps `kept` for `key`, whose hash is `hash`, if the last settled
    /// lookup was of the same hash.
    fn keep(&mut self, key: &Key<'_>, hash: u64, kept: Kept) {
        if self.last != hash {
            self.last = hash;
            self.kept = None;
            return;
        }
        match &mut self.kept {
            Some((old, id)) if key.matches(id) => *old = kept,
            other => *other = Some((kept, key.to_id())),
        }
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = const { RefCell::new(Memo { last: 0, kept: None }) };
}

#[cfg(test)]
thread_local! {
    /// Lookups answered by this thread's [`Memo`] (for the tests).
    static MEMO_HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// FxHash's mixing (rustc's), eight bytes at a time: a few instructions
/// per word, where SipHash takes hundreds per key. A lookup runs on every
/// connect.
struct Fx(u64);

impl Fx {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Fx::K);
    }

    /// A host name (already lower-cased by the target), eight bytes a
    /// word, then its length.
    fn name(&mut self, name: &[u8]) {
        for chunk in name.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        self.add(name.len() as u64);
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("targets", &lock(&self.inner.table).len())
            .finish()
    }
}

/// The table is keyed by the key's hash (already SipHash with the
/// history's random key): hashing it again would only cost.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here (`write_u64`); anything else
        // still spreads.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The end of [`Table`]'s list.
const NIL: u32 = u32::MAX;

/// The targets, most recently used first: a map from a key's hash to a
/// slot, and the slots in a doubly linked list threaded through a `Vec`.
/// A use moves its slot to the front and a new target at capacity takes
/// the back one's place, each in a few instructions: nothing scans the
/// table (which is up to [`CAPACITY`] entries long, and is locked).
struct Table {
    /// The identity of the network the outcomes were seen on.
    network: u64,
    map: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>,
    slots: Vec<Slot>,
    /// The most and the least recently used slots.
    head: u32,
    tail: u32,
}

struct Slot {
    hash: u64,
    prev: u32,
    next: u32,
    entry: Entry,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            network: 0,
            map: HashMap::default(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl Table {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.slots.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    fn unlink(&mut self, i: u32) {
        let Slot { prev, next, .. } = self.slots[i as usize];
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = old;
        match old {
            NIL => self.tail = i,
            h => self.slots[h as usize].prev = i,
        }
        self.head = i;
    }

    /// The entry of `hash`, without marking it used.
    fn get(&self, hash: u64) -> Option<&Entry> {
        let i = *self.map.get(&hash)?;
        Some(&self.slots[i as usize].entry)
    }

    /// The entry of `hash`, marked as the most recently used.
    fn get_mut(&mut self, hash: u64) -> Option<&mut Entry> {
        self.touch(hash).map(|(entry, _)| entry)
    }

    /// The same, and whether that moved it (it was not the most recently
    /// used already).
    fn touch(&mut self, hash: u64) -> Option<(&mut Entry, bool)> {
        let i = *self.map.get(&hash)?;
        let moved = self.head != i;
        if moved {
            self.unlink(i);
            self.push_front(i);
        }
        Some((&mut self.slots[i as usize].entry, moved))
    }

    /// The entry of `hash`, made by `new` if there is none; at capacity,
    /// in the place of the least recently used.
    fn get_or_insert(&mut self, hash: u64, new: impl FnOnce() -> Entry) -> &mut Entry {
        if self.map.contains_key(&hash) {
            return self.get_mut(hash).expect("just found");
        }
        let slot = Slot {
            hash,
            prev: NIL,
            next: NIL,
            entry: new(),
        };
        let i = if self.slots.len() < CAPACITY {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        } else {
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(&mut self.slots[i as usize], slot);
            self.map.remove(&old.hash);
            i
        };
        self.map.insert(hash, i);
        self.push_front(i);
        &mut self.slots[i as usize].entry
    }
}

/// How an attempt failed, as far as the order of the next race goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Refused,
    TimedOut,
    Tls,
    Other,
    /// Our own failure, not the remote side's: not remembered.
    Local,
}

impl Failure {
    pub(crate) fn of(error: &io::Error, in_tls: bool) -> Failure {
        if crate::sys::accept_out_of_resources(error)
            || error.get_ref().is_some_and(|e| e.is::<HookError>())
        {
            return Failure::Local;
        }
        match error.kind() {
            // A fixed local port in use, a local address gone, no
            // ephemeral port left: from `bind` or `connect`, about us.
            io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable => Failure::Local,
            _ if in_tls => Failure::Tls,
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Other,
        }
    }
}

/// The payload of a socket hook's error (`prepare` in `connect.rs`), so
/// that the history can tell it from the remote side's failures.
#[derive(Debug)]
pub(crate) struct HookError(pub(crate) String);

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HookError {}

/// What changes a connection's path besides its target and local
/// addresses, as one word for the history's key: the resolver (its shared
/// allocation: clones are one resolver; `0` for the default one), the
/// interface (`name_id` of its name, worked out when it is set; `0` for
/// none), and whether a socket hook runs (it may set a mark, a route, a
/// namespace). Worked out on each connect from what the options hold, in
/// a few instructions: no string is hashed here.
pub(crate) fn path_id(resolver: usize, interface: u64, hook: bool) -> u64 {
    // An allocation's address is even: its low bit holds `hook`.
    (resolver as u64 | u64::from(hook)) ^ interface.rotate_left(1)
}

/// An interface name as a `path_id` word, worked out once when it is set.
pub(crate) fn name_id(name: &str) -> u64 {
    let mut h = Fx(Fx::K);
    h.name(name.as_bytes());
    h.0 | 1
}

struct Entry {
    /// The target the hash stands for, to tell collisions apart.
    id: Id,
    winner: Option<Winner>,
    failures: Vec<(IpAddr, Failure, Instant)>,
    /// Smoothed round-trip time and its variation (RFC 6298), from the
    /// winners' connect times.
    srtt: Option<(Duration, Duration)>,
}

struct Winner {
    addr: IpAddr,
    /// How long its attempt took (TCP connect, and TLS handshake), where
    /// it was measured.
    connect: Option<Duration>,
    at: Instant,
    /// Wins by the other family while this winner's attempt was still
    /// running (slow, not failed): two in a row move the winner.
    lost_to_other_family: u8,
}

/// What makes a target's history its own, owned.
#[derive(PartialEq, Eq)]
struct Id {
    host: Option<Box<[u8]>>,
    addrs: Box<[SocketAddr]>,
    port: u16,
    locals: Box<[SocketAddr]>,
    family: Family,
    path: u64,
}

/// The same, borrowed from a call: looking a target up allocates nothing.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    /// The host name as the target keeps it: lower-cased, without a
    /// trailing dot.
    host: Option<&'a [u8]>,
    addrs: &'a [SocketAddr],
    port: u16,
    locals: &'a [SocketAddr],
    family: Family,
    /// [`path_id`].
    path: u64,
}

impl<'a> Key<'a> {
    pub(crate) fn new(
        target: &'a Target,
        locals: &'a [SocketAddr],
        family: Family,
        path: u64,
    ) -> Key<'a> {
        let (host, addrs, port) = target.key_parts();
        Key {
            host,
            addrs,
            port,
            locals,
            family,
            path,
        }
    }

    fn hash(&self, seed: u64) -> u64 {
        let mut h = Fx(seed);
        match self.host {
            Some(host) => h.name(host),
            None => {
                for addr in self.addrs {
                    h.add(addr_word(addr));
                }
            }
        }
        h.add(u64::from(self.port) | (self.family as u64) << 16 | (self.locals.len() as u64) << 24);
        for local in self.locals {
            h.add(addr_word(local));
        }
        if self.path != 0 {
            h.add(self.path);
        }
        h.0
    }

    fn matches(&self, id: &Id) -> bool {
        // The cheap fields first.
        if self.port != id.port
            || self.family != id.family
            || self.path != id.path
            || self.locals.len() != id.locals.len()
        {
            return false;
        }
        let target = match (self.host, &id.host) {
            (Some(a), Some(b)) => a == &**b,
            (None, None) => self.addrs == &*id.addrs,
            _ => false,
        };
        target && self.locals == &*id.locals
    }

    fn to_id(self) -> Id {
        Id {
            host: self.host.map(Into::into),
            addrs: self.addrs.into(),
            port: self.port,
            locals: self.locals.into(),
            family: self.family,
            path: self.path,
        }
    }
}

/// An address as one word for [`Fx`]: its bits folded, and its port.
fn addr_word(addr: &SocketAddr) -> u64 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (bits >> 64) as u64 ^ bits as u64
        }
    };
    ip.rotate_left(16) ^ u64::from(addr.port())
}

/// What the history says about the next race to a target.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Advice {
    /// The address that won last: tried first, its family leading.
    pub(crate) first: Option<IpAddr>,
    /// Addresses that timed out recently: tried after the others.
    pub(crate) last: Vec<IpAddr>,
    /// The stagger delay from the round-trip times (with `adaptive_delay`).
    pub(crate) delay: Option<Duration>,
    /// Whether `first` won recently (within an eighth of the TTL) and
    /// nothing else is remembered: another win of `first` need not be
    /// recorded (what a burst of connects to a healthy host does).
    pub(crate) settled: bool,
}

impl Advice {
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.last.is_empty() && self.delay.is_none()
    }

    /// The address to start with among `usable` (in the order they came,
    /// each with what the caller tells it by, its place in a list say):
    /// the last winner if it is there, else the first that did not time
    /// out recently, else the first.
    pub(crate) fn pick<T>(
        &self,
        mut usable: impl Iterator<Item = (T, SocketAddr)> + Clone,
    ) -> Option<(T, SocketAddr)> {
        if let Some(first) = self.first {
            if let Some(found) = usable.clone().find(|(_, a)| a.ip() == first) {
                return Some(found);
            }
        }
        if !self.last.is_empty() {
            if let Some(found) = usable.clone().find(|(_, a)| !self.last.contains(&a.ip())) {
                return Some(found);
            }
        }
        usable.next()
    }
}

impl History {
    /// The history one-shot builders share, like the DNS cache.
    pub(crate) fn process() -> &'static History {
        static PROCESS: OnceLock<History> = OnceLock::new();
        PROCESS.get_or_init(History::default)
    }

    pub(crate) fn clear(&self) {
        let mut table = lock(&self.inner.table);
        table.clear();
        self.inner.changed();
    }

    /// The advice for `key`, from outcomes younger than `ttl`.
    pub(crate) fn advice(
        &self,
        key: Key<'_>,
        ttl: Duration,
        adaptive: bool,
        now: Instant,
    ) -> Advice {
        if !adaptive {
            if let Some(first) = self.remembered(&key, ttl, now) {
                return Advice {
                    first: Some(first),
                    last: Vec::new(),
                    delay: None,
                    settled: true,
                };
            }
        }
        let hash = key.hash(self.inner.seed);
        let (mut table, network_until) = self.table_until(now);
        let Some((entry, moved)) = table.touch(hash) else {
            return Advice::default();
        };
        // Moved to the front of the order of use: a change.
        let mut changed = moved;
        if !key.matches(&entry.id) {
            if changed {
                self.inner.changed();
            }
            return Advice::default();
        }
        // Freshness as a comparison with one instant worked out once (an
        // `Instant` difference per outcome cost more than the lookup):
        // `at` is fresh when `now - at < ttl`, i.e. `at > now - ttl`; with
        // no such instant (a clock younger than the TTL), everything is.
        let younger_than = |age: Duration| {
            let cutoff = now.checked_sub(age);
            move |at: Instant| cutoff.is_none_or(|c| at > c)
        };
        // The winner's age, worked out once for both of its checks (its
        // freshness, and whether it is settled).
        let winner_age = entry
            .winner
            .as_ref()
            .map(|w| now.saturating_duration_since(w.at));
        if winner_age.is_some_and(|age| age >= ttl) {
            entry.winner = None;
            entry.srtt = None;
            changed = true;
        }
        if !entry.failures.is_empty() {
            let fresh = younger_than(ttl);
            let before = entry.failures.len();
            entry.failures.retain(|&(_, _, at)| fresh(at));
            changed |= entry.failures.len() != before;
        }
        let first = entry.winner.as_ref().map(|w| w.addr);
        let mut last: Vec<IpAddr> = Vec::new();
        if !entry.failures.is_empty() {
            last.extend(
                entry
                    .failures
                    .iter()
                    .filter(|&&(ip, kind, _)| kind == Failure::TimedOut && Some(ip) != first)
                    .map(|&(ip, _, _)| ip),
            );
            last.dedup();
        }
        let delay = if adaptive {
            entry
                .srtt
                .map(|(srtt, var)| (srtt + 4 * var).clamp(ADAPTIVE_MIN, ADAPTIVE_MAX))
        } else {
            None
        };
        let settled = !adaptive
            && entry.failures.is_empty()
            && entry.winner.as_ref().is_some_and(|w| {
                w.lost_to_other_family == 0 && winner_age.is_some_and(|age| age < ttl / 8)
            });
        let until = entry
            .winner
            .as_ref()
            .and_then(|w| w.at.checked_add(ttl / 8))
            .map(|settled| settled.min(network_until));
        if changed {
            self.inner.changed();
        }
        if let (true, Some(first), Some(until)) = (settled, first, until) {
            let kept = Kept {
                history: self.inner.number,
                // Read under the lock, which every change holds.
                changes: self.inner.changes.load(Ordering::Relaxed),
                ttl,
                until,
                first,
            };
            drop(table);
            let _ = MEMO.try_with(|memo| memo.borrow_mut().keep(&key, hash, kept));
        }
        Advice {
            first,
            last,
            delay,
            settled,
        }
    }

    /// The winner this thread's [`Memo`] holds for `key`, if it still is
    /// the table's settled advice at `now` under `ttl`.
    fn remembered(&self, key: &Key<'_>, ttl: Duration, now: Instant) -> Option<IpAddr> {
        MEMO.try_with(|memo| {
            let memo = memo.borrow();
            let (kept, id) = memo.kept.as_ref()?;
            let holds = kept.history == self.inner.number
                && kept.changes == self.inner.changes.load(Ordering::Acquire)
                && kept.ttl == ttl
                && now < kept.until
                && key.matches(id);
            #[cfg(test)]
            if holds {
                MEMO_HITS.with(|hits| hits.set(hits.get() + 1));
            }
            holds.then_some(kept.first)
        })
        .ok()
        .flatten()
    }

    /// A race to `key` was won by `addr`, whose attempt took `connect`
    /// (its TCP connect, and its TLS handshake with `connect_tls`). `slow`
    /// are the addresses whose attempts were still running (neither won
    /// nor failed).
    pub(crate) fn won(
        &self,
        key: Key<'_>,
        addr: IpAddr,
        connect: Option<Duration>,
        slow: &[IpAddr],
        now: Instant,
    ) {
        self.update(key, now, |entry| {
            entry.failures.retain(|&(ip, _, _)| ip != addr);
            let keep_old = match &mut entry.winner {
                // An IPv6 (or IPv4) winner that was only slow this time,
                // beaten by the other family: kept until it happens twice.
                Some(old)
                    if old.addr != addr
                        && old.addr.is_ipv6() != addr.is_ipv6()
                        && slow.contains(&old.addr)
                        && old.lost_to_other_family == 0 =>
                {
                    old.lost_to_other_family += 1;
                    true
                }
                _ => false,
            };
            if !keep_old {
                entry.winner = Some(Winner {
                    addr,
                    connect,
                    at: now,
                    lost_to_other_family: 0,
                });
            } else if let Some(old) = &mut entry.winner {
                old.at = now;
            }
            // RFC 6298's estimator on the connect times.
            if let Some(connect) = connect {
                entry.srtt = Some(match entry.srtt {
                    None => (connect, connect / 2),
                    Some((srtt, var)) => {
                        let diff = srtt.abs_diff(connect);
                        (srtt * 7 / 8 + connect / 8, var * 3 / 4 + diff / 4)
                    }
                });
            }
        });
    }

    /// Attempts of a race to `key` failed: `(address, how)`.
    pub(crate) fn failed(&self, key: Key<'_>, failures: &[(IpAddr, Failure)], now: Instant) {
        if failures.is_empty() {
            return;
        }
        if failures.iter().all(|&(_, kind)| kind == Failure::Local) {
            return;
        }
        self.update(key, now, |entry| {
            for &(ip, kind) in failures {
                if kind == Failure::Local {
                    continue;
                }
                entry.failures.retain(|&(other, _, _)| other != ip);
                if entry.failures.len() == MAX_FAILURES {
                    entry.failures.remove(0);
                }
                entry.failures.push((ip, kind, now));
                // The winner that failed is no longer the one to try first.
                if entry.winner.as_ref().is_some_and(|w| w.addr == ip) {
                    entry.winner = None;
                }
            }
        });
    }

    fn update(&self, key: Key<'_>, now: Instant, f: impl FnOnce(&mut Entry)) {
        let hash = key.hash(self.inner.seed);
        let mut table = self.table(now);
        let new = || Entry {
            id: key.to_id(),
            winner: None,
            failures: Vec::new(),
            srtt: None,
        };
        let entry = table.get_or_insert(hash, new);
        if !key.matches(&entry.id) {
            // Another target with the same hash: this one takes its place.
            *entry = new();
        }
        f(entry);
        self.inner.changed();
    }

    /// The number of targets remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner.table).len()
    }

    /// What the history holds for a target, in words, for an error report.
    pub(crate) fn describe(&self, key: Key<'_>, now: Instant) -> Option<String> {
        let table = self.table(now);
        let entry = table
            .get(key.hash(self.inner.seed))
            .filter(|e| key.matches(&e.id))?;
        let w = entry.winner.as_ref()?;
        let took = w
            .connect
            .map(|d| format!(", in {}", crate::shared::report::Dur(d)))
            .unwrap_or_default();
        Some(format!(
            "{} won {} ago{took}",
            w.addr,
            crate::shared::report::Dur(now.saturating_duration_since(w.at)),
        ))
    }
}

impl History {
    /// The table, emptied first when the network is another than the one
    /// its outcomes were seen on.
    /// `now` is the caller's clock reading (the network is probed again
    /// at most every second of it).
    fn table(&self, now: Instant) -> std::sync::MutexGuard<'_, Table> {
        self.table_until(now).0
    }

    /// [`table`](Self::table), and the instant until which this thread is
    /// told the network is the same (`sys::network_until`).
    fn table_until(&self, now: Instant) -> (std::sync::MutexGuard<'_, Table>, Instant) {
        let (network, _, until) = crate::sys::network_until(now.into_std());
        let mut table = lock(&self.inner.table);
        if table.network != network {
            if table.len() > 0 {
                tracing::debug!(
                    flushed = table.len(),
                    "the network changed: history flushed"
                );
            }
            table.clear();
            table.network = network;
            self.inner.changed();
        }
        (table, Instant::from_std(until))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::target::IntoTarget;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const TTL: Duration = Duration::from_secs(600);

    #[tokio::test(start_paused = true)]
    async fn the_winner_leads_and_a_timeout_goes_last_until_they_expire() {
        let h = History::default();
        let target = "host.test:443".into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let t0 = Instant::now();
        assert!(h.advice(key, TTL, false, t0).is_empty());
        h.failed(key, &[(ip("::1"), Failure::TimedOut)], t0);
        h.won(
            key,
            ip("127.0.0.1"),
            Some(Duration::from_millis(1)),
            &[],
            t0,
        );
        let advice = h.advice(key, TTL, false, t0);
        assert_eq!(advice.first, Some(ip("127.0.0.1")));
        assert_eq!(advice.last, vec![ip("::1")]);
        // Older than the TTL: forgotten, IPv6 gets its chance again.
        let later = t0 + TTL + Duration::from_millis(1);
        assert!(h.advice(key, TTL, false, later).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_winner_is_not_tried_first() {
        let h = History::default();
        let target = "host.test:443".into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let t0 = Instant::now();
        h.won(key, ip("::1"), Some(Duration::from_millis(1)), &[], t0);
        h.failed(key, &[(ip("::1"), Failure::Refused)], t0);
        assert_eq!(h.advice(key, TTL, false, t0).first, None);
    }

    /// Out of descriptors or buffers, a fixed local port in use, a socket
    /// hook's error: ours, not the address's. They neither demote the
    /// winner nor put the address last.
    #[tokio::test(start_paused = true)]
    async fn local_failures_do_not_demote_a_winner() {
        #[cfg(unix)]
        let codes = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS];
        #[cfg(windows)]
        let codes = [10024, 10055]; // WSAEMFILE, WSAENOBUFS
        let mut local: Vec<io::Error> = codes.map(io::Error::from_raw_os_error).into();
        local.push(io::Error::new(
            io::ErrorKind::AddrInUse,
            "bind to 127.0.0.1:4000: address in use",
        ));
        local.push(io::Error::from(io::ErrorKind::AddrNotAvailable));
        local.push(io::Error::new(
            io::ErrorKind::PermissionDenied,
            HookError("socket hook: denied".into()),
        ));
        let h = History::default();
        let target = "host.test:443".into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let t0 = Instant::now();
        h.won(key, ip("::1"), Some(Duration::from_millis(1)), &[], t0);
        for e in &local {
            for in_tls in [false, true] {
                let kind = Failure::of(e, in_tls);
                assert_eq!(kind, Failure::Local, "{e}");
                h.failed(key, &[(ip("::1"), kind)], t0);
                let advice = h.advice(key, TTL, false, t0);
                assert_eq!(advice.first, Some(ip("::1")), "{e}");
                assert!(advice.last.is_empty(), "{e}");
            }
        }
        // What the remote side did still counts.
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        h.failed(key, &[(ip("::1"), Failure::of(&refused, false))], t0);
        assert_eq!(h.advice(key, TTL, false, t0).first, None);
    }

    /// The resolver, the interface and a socket hook change the path: a
    /// winner learnt through one says nothing about the others.
    #[tokio::test(start_paused = true)]
    async fn targets_are_told_apart_by_resolver_interface_and_hook() {
        let h = History::default();
        let t0 = Instant::now();
        let target = "host.test:443".into_target().unwrap();
        let resolver = 0x7f00_1000usize;
        let paths = [
            0,
            path_id(resolver, 0, false),
            path_id(resolver + 16, 0, false),
            path_id(0, name_id("eth0"), false),
            path_id(0, name_id("wg0"), false),
            path_id(0, 0, true),
            path_id(resolver, name_id("eth0"), true),
        ];
        for (i, &path) in paths.iter().enumerate() {
            let won = [ip("::1"), ip("127.0.0.1")][i % 2];
            h.won(
                Key::new(&target, &[], Family::Any, path),
                won,
                None,
                &[],
                t0,
            );
        }
        for (i, &path) in paths.iter().enumerate() {
            let want = [ip("::1"), ip("127.0.0.1")][i % 2];
            let key = Key::new(&target, &[], Family::Any, path);
            assert_eq!(h.advice(key, TTL, false, t0).first, Some(want), "path {i}");
        }
        assert_eq!(h.len(), paths.len());
    }

    #[tokio::test(start_paused = true)]
    async fn one_slow_ipv4_win_does_not_demote_an_ipv6_winner() {
        let h = History::default();
        let target = "host.test:443".into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let t0 = Instant::now();
        let d = Duration::from_millis(1);
        h.won(key, ip("::1"), Some(d), &[], t0);
        // IPv6 was slow (still running), IPv4 won: once is not enough.
        h.won(key, ip("127.0.0.1"), Some(d), &[ip("::1")], t0);
        assert_eq!(h.advice(key, TTL, false, t0).first, Some(ip("::1")));
        // Twice in a row: IPv4 leads.
        h.won(key, ip("127.0.0.1"), Some(d), &[ip("::1")], t0);
        assert_eq!(h.advice(key, TTL, false, t0).first, Some(ip("127.0.0.1")));
    }

    #[tokio::test(start_paused = true)]
    async fn targets_are_told_apart_by_port_local_address_and_family() {
        let h = History::default();
        let t0 = Instant::now();
        let a = "host.test:443".into_target().unwrap();
        let b = "host.test:80".into_target().unwrap();
        let local: [SocketAddr; 1] = ["127.0.0.2:0".parse().unwrap()];
        h.won(
            Key::new(&a, &[], Family::Any, 0),
            ip("::1"),
            Some(Duration::ZERO),
            &[],
            t0,
        );
        assert!(h
            .advice(Key::new(&b, &[], Family::Any, 0), TTL, false, t0)
            .is_empty());
        assert!(h
            .advice(Key::new(&a, &local, Family::Any, 0), TTL, false, t0)
            .is_empty());
        assert!(h
            .advice(Key::new(&a, &[], Family::V6, 0), TTL, false, t0)
            .is_empty());
        // The name's case and a trailing dot do not matter.
        let same = "HOST.test.:443".into_target().unwrap();
        assert_eq!(
            h.advice(Key::new(&same, &[], Family::Any, 0), TTL, false, t0)
                .first,
            Some(ip("::1"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_delay_follows_the_round_trip_times_within_rfc_8305_bounds() {
        let h = History::default();
        let target = "host.test:443".into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let t0 = Instant::now();
        h.won(key, ip("::1"), Some(Duration::from_millis(200)), &[], t0);
        // srtt 200, var 100: 200 + 400.
        assert_eq!(
            h.advice(key, TTL, true, t0).delay,
            Some(Duration::from_millis(600))
        );
        assert_eq!(h.advice(key, TTL, false, t0).delay, None);
        let fast = "fast.test:443".into_target().unwrap();
        let fast = Key::new(&fast, &[], Family::Any, 0);
        h.won(fast, ip("::1"), Some(Duration::from_millis(1)), &[], t0);
        assert_eq!(h.advice(fast, TTL, true, t0).delay, Some(ADAPTIVE_MIN));
        let slow = "slow.test:443".into_target().unwrap();
        let slow = Key::new(&slow, &[], Family::Any, 0);
        h.won(slow, ip("::1"), Some(Duration::from_secs(5)), &[], t0);
        assert_eq!(h.advice(slow, TTL, true, t0).delay, Some(ADAPTIVE_MAX));
    }

    #[tokio::test(start_paused = true)]
    async fn the_history_is_bounded() {
        let h = History::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY + 10 {
            let target = format!("h{i}.test:443").into_target().unwrap();
            h.won(
                Key::new(&target, &[], Family::Any, 0),
                ip("::1"),
                Some(Duration::ZERO),
                &[],
                t0,
            );
        }
        assert_eq!(h.len(), CAPACITY);
        // The least recently used went first.
        let first = "h0.test:443".into_target().unwrap();
        assert!(h
            .advice(Key::new(&first, &[], Family::Any, 0), TTL, false, t0)
            .is_empty());
    }

    /// Eviction follows use, not insertion: a target read (or written)
    /// again moves to the front and outlives those added after it, and
    /// each new target at capacity replaces exactly the least recently
    /// used one (taken from the list's end, not found by a scan).
    #[tokio::test(start_paused = true)]
    async fn eviction_takes_the_least_recently_used_in_order() {
        let h = History::default();
        let t0 = Instant::now();
        let targets: Vec<Target> = (0..CAPACITY + 3)
            .map(|i| format!("h{i}.test:443").into_target().unwrap())
            .collect();
        let key = |i: usize| Key::new(&targets[i], &[], Family::Any, 0);
        let win = |i: usize| h.won(key(i), ip("::1"), None, &[], t0);
        for i in 0..CAPACITY {
            win(i);
        }
        // h0 read again, h1 written again: h2 is now the oldest.
        assert_eq!(h.advice(key(0), TTL, false, t0).first, Some(ip("::1")));
        h.failed(key(1), &[(ip("127.0.0.1"), Failure::Refused)], t0);
        win(CAPACITY);
        assert_eq!(h.len(), CAPACITY);
        assert!(h.advice(key(2), TTL, false, t0).is_empty());
        for i in [0, 1, 3, CAPACITY] {
            assert_eq!(
                h.advice(key(i), TTL, false, t0).first,
                Some(ip("::1")),
                "h{i}"
            );
        }
        // Then h4, h5 go, in that order (h3 was just read).
        win(CAPACITY + 1);
        assert!(h.advice(key(4), TTL, false, t0).is_empty());
        win(CAPACITY + 2);
        assert!(h.advice(key(5), TTL, false, t0).is_empty());
        assert_eq!(h.advice(key(3), TTL, false, t0).first, Some(ip("::1")));
        h.clear();
        assert_eq!(h.len(), 0);
        win(7);
        assert_eq!(h.advice(key(7), TTL, false, t0).first, Some(ip("::1")));
    }

    fn memo_hits() -> usize {
        MEMO_HITS.with(std::cell::Cell::get)
    }

    /// A settled winner asked for again and again is answered from the
    /// thread's memo, with the table's own answer, until anything changes
    /// it: a failure, another history, the winner's settled time running
    /// out, another target used.
    #[tokio::test(start_paused = true)]
    async fn a_settled_winner_is_remembered_until_the_table_changes() {
        let h = History::default();
        let t0 = Instant::now();
        let list = vec![
            "[::1]:443".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
        ];
        let target = list.into_target().unwrap();
        let key = Key::new(&target, &[], Family::Any, 0);
        let settled = Advice {
            first: Some(ip("::1")),
            last: Vec::new(),
            delay: None,
            settled: true,
        };
        h.won(key, ip("::1"), None, &[], t0);
        // Settled twice from the table, then remembered.
        let hits = memo_hits();
        assert_eq!(h.advice(key, TTL, false, t0), settled);
        assert_eq!(h.advice(key, TTL, false, t0), settled);
        assert_eq!(memo_hits(), hits);
        for _ in 0..3 {
            assert_eq!(h.advice(key, TTL, false, t0), settled);
        }
        assert_eq!(memo_hits(), hits + 3);
        // Another history, another TTL or the adaptive delay: not this memo.
        let other = History::default();
        assert!(other.advice(key, TTL, false, t0).is_empty());
        assert!(h.advice(key, TTL / 2, false, t0).settled);
        assert_eq!(h.advice(key, TTL, true, t0).first, Some(ip("::1")));
        assert_eq!(memo_hits(), hits + 3);
        // Another target looked up (it moves to the front): the table
        // answers again, the same.
        let name = "host.test:443".into_target().unwrap();
        let other_key = Key::new(&name, &[], Family::Any, 0);
        h.won(other_key, ip("::1"), None, &[], t0);
        assert_eq!(h.advice(other_key, TTL, false, t0).first, Some(ip("::1")));
        assert_eq!(h.advice(key, TTL, false, t0), settled);
        assert_eq!(h.advice(key, TTL, false, t0), settled);
        assert_eq!(memo_hits(), hits + 3);
        assert_eq!(h.advice(key, TTL, false, t0), settled);
        assert_eq!(memo_hits(), hits + 4);
        // Past an eighth of the TTL the winner is no longer settled (a new
        // win is recorded), though it still leads.
        let later = t0 + TTL / 8;
        let advice = h.advice(key, TTL, false, later);
        assert_eq!(advice.first, Some(ip("::1")));
        assert!(!advice.settled);
        // The winner refused: never the memo's word again.
        h.won(key, ip("::1"), None, &[], later);
        for _ in 0..3 {
            assert!(h.advice(key, TTL, false, later).settled);
        }
        let hits = memo_hits();
        h.failed(key, &[(ip("::1"), Failure::Refused)], later);
        let advice = h.advice(key, TTL, false, later);
        assert_eq!(advice.first, None);
        assert!(!advice.settled);
        h.clear();
        assert!(h.advice(key, TTL, false, later).is_empty());
        assert_eq!(memo_hits(), hits);
    }

    /// Answers from the memo leave the order of use as the table's own
    /// would: a remembered target stays the most recently used, and is not
    /// the one forgotten when the table is full.
    #[tokio::test(start_paused = true)]
    async fn a_remembered_target_is_not_forgotten_first() {
        let h = History::default();
        let t0 = Instant::now();
        let targets: Vec<Target> = (0..=CAPACITY)
            .map(|i| format!("h{i}.test:443").into_target().unwrap())
            .collect();
        let key = |i: usize| Key::new(&targets[i], &[], Family::Any, 0);
        h.won(key(0), ip("::1"), None, &[], t0);
        for i in 1..CAPACITY {
            h.won(key(i), ip("::1"), None, &[], t0);
            // h0 is used between each write, from the memo when it can.
            for _ in 0..3 {
                assert!(h.advice(key(0), TTL, false, t0).settled);
            }
        }
        let hits = memo_hits();
        for _ in 0..3 {
            assert!(h.advice(key(0), TTL, false, t0).settled);
        }
        assert_eq!(memo_hits(), hits + 3);
        // Full: the next target takes the place of the least recently
        // used, h1, not h0.
        h.won(key(CAPACITY), ip("::1"), None, &[], t0);
        assert_eq!(h.len(), CAPACITY);
        assert!(h.advice(key(1), TTL, false, t0).is_empty());
        assert_eq!(h.advice(key(0), TTL, false, t0).first, Some(ip("::1")));
    }
}
