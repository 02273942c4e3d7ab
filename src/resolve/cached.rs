//! Answers kept across calls and across Tokio runtimes.
//!
//! hickory's `TokioResolver` runs its name server connections as tasks on
//! the runtime that first used it, and keeps its cache inside: a resolver
//! kept past its runtime fails or hangs on the next runtime (every
//! `#[tokio::test]` makes its own, and a program may drop one runtime and
//! start another). So the resolvers this crate configures keep what must
//! outlive a runtime here, in plain `std` types:
//!
//! * the configuration (name servers, options, hosts table), parsed once;
//! * a TTL cache of answers, keyed by (name, record type), behind a `std`
//!   mutex, with `std::time::Instant` expiries: positive answers until the
//!   smallest TTL of their records (hickory's `Lookup::valid_until`, within
//!   `positive_min_ttl` / `positive_max_ttl`), negative answers (no such
//!   name, no records) for the SOA minimum the server sent, within
//!   `negative_min_ttl` / `negative_max_ttl`, as hickory does. Failures
//!   (timeouts, server failures) are not kept. At most [`CAPACITY`]
//!   entries: expired ones go first, then the one that expires soonest.
//! * beside it, a name's two answers merged and sorted as a resolution
//!   hands them out, for the next resolution of the name (see
//!   [`DnsCache::sorted`]), flushed with the cache.
//!
//! On a miss, the query runs on a hickory resolver made for that one call
//! on the caller's runtime, and dropped with it. Making one costs
//! microseconds and sends nothing; it happens only on a miss. A miss for a
//! name and record type already being asked joins that query instead
//! (Go's `lookupGroup`): the query is a `Shared` future that its callers
//! poll, kept weakly in a table while it is in flight, so a dropped caller
//! leaves it to the others and the last one's drop cancels it; no task
//! runs it. (A query joined from another runtime is driven by whichever
//! caller polls, on the sockets of the runtime that started it: should
//! that runtime shut down first, the query fails and is not cached.) At
//! most [`MAX_QUERIES`] queries are asked at once.
//!
//! The system configuration (`/etc/resolv.conf`, `/etc/hosts`) is checked
//! at most every [`RECHECK`] (one `stat(2)` of each file): when either
//! changed, it is read again and the cache is flushed.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hickory_resolver::config::{ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Hosts, TokioResolver};

/// The most answers one cache keeps.
pub(crate) const CAPACITY: usize = 1024;

/// How often, at most, the system configuration files are checked for
/// changes.
pub(crate) const RECHECK: Duration = Duration::from_secs(5);

/// How long a name's sorted answer (see [`DnsCache::sorted`]) is used, at
/// most, before the addresses are sorted again: how long a change of routes
/// (an interface going down, an IPv6 route gone) may go unseen by the
/// order of a cached name's addresses. A connect to an address without a
/// route fails at once, and the race goes on to the next one meanwhile.
pub(crate) const ROUTE_RECHECK: Duration = Duration::from_secs(5);

/// A resolver configuration, kept apart from any runtime.
pub(crate) struct Conf {
    config: ResolverConfig,
    options: ResolverOpts,
    hosts: Arc<Hosts>,
    /// The cache generation this configuration was loaded for: answers
    /// obtained under it are kept only while the cache is still that
    /// generation (a lookup in flight when the files change must not fill
    /// the cache of the new configuration).
    generation: u64,
}

impl Conf {
    /// `hosts`: the table to use; `None` reads the system's hosts file now
    /// if `options.use_hosts_file` says so, as hickory's builder would.
    pub(crate) fn new(
        config: ResolverConfig,
        mut options: ResolverOpts,
        hosts: Option<Hosts>,
    ) -> Conf {
        let hosts = match hosts {
            Some(hosts) => hosts,
            None => match options.use_hosts_file {
                ResolveHosts::Always | ResolveHosts::Auto => {
                    Hosts::from_system().unwrap_or_default()
                }
                ResolveHosts::Never => Hosts::default(),
            },
        };
        // The table is ours: the per-call resolvers must not read the file.
        options.use_hosts_file = ResolveHosts::Never;
        Conf {
            config,
            options,
            hosts: Arc::new(hosts),
            generation: 0,
        }
    }

    /// Whether hickory accepts this configuration (building sends nothing).
    pub(crate) fn check(&self) -> io::Result<()> {
        self.build().map(drop).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("hickory resolver: {e}"),
            )
        })
    }

    /// The addresses `host` has without asking DNS, as getaddrinfo with
    /// `hosts: files dns` finds them: the hosts table's entries for the
    /// name as written (canonical name or alias, any case; every family it
    /// lists, and then DNS is not asked, not even for the other family),
    /// else, for `localhost` and names under `.localhost`, the loopback
    /// addresses (RFC 6761 §6.3; glibc would ask DNS). `None`: ask DNS.
    pub(crate) fn pinned(&self, host: &str, family: crate::Family) -> Option<Vec<IpAddr>> {
        let mut ips = Vec::new();
        if let Ok(name) = hickory_resolver::proto::rr::Name::from_ascii(host) {
            for rtype in [RecordType::AAAA, RecordType::A] {
                let query = hickory_resolver::proto::op::Query::query(name.clone(), rtype);
                if let Some(lookup) = self.hosts.lookup_static_host(&query) {
                    ips.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }));
                }
            }
        }
        if ips.is_empty() {
            // Compared as bytes: `host` may be anything a caller of
            // `resolve` gave (not ASCII, not on a char boundary).
            let name = host.trim_end_matches('.').as_bytes();
            if name.eq_ignore_ascii_case(b"localhost")
                || name.len() > 10 && name[name.len() - 10..].eq_ignore_ascii_case(b".localhost")
            {
                ips = vec![Ipv6Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into()];
            }
        }
        ips.retain(|ip| family.matches(ip));
        (!ips.is_empty()).then_some(ips)
    }

    /// The names a relative `host` is asked as, in order, each absolute
    /// (with its trailing dot), as glibc's `res_search` does: a name with
    /// a trailing dot is asked as it is, alone; one with at least `ndots`
    /// dots as it is first, then with each search domain; one with fewer
    /// with each search domain first, then as it is. The search list is
    /// resolv.conf's `search`, else its `domain`.
    pub(crate) fn candidates(&self, host: &str) -> Vec<String> {
        if host.ends_with('.') {
            return vec![host.to_owned()];
        }
        let as_is = format!("{host}.");
        let dots = host.bytes().filter(|&b| b == b'.').count();
        // glibc caps ndots at 15.
        let first = dots >= self.options.ndots.min(15);
        let mut names = Vec::with_capacity(self.config.search().len() + 1);
        if first {
            names.push(as_is.clone());
        }
        let domains: Vec<&hickory_resolver::proto::rr::Name> = if self.config.search().is_empty() {
            self.config.domain().into_iter().collect()
        } else {
            self.config.search().iter().collect()
        };
        for domain in domains {
            let domain = domain.to_ascii();
            let domain = domain.trim_end_matches('.');
            if !domain.is_empty() {
                let name = format!("{host}.{domain}.");
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if !first {
            names.push(as_is);
        }
        names
    }

    /// The name servers asked and how long each is waited for, to say so
    /// in an error.
    pub(crate) fn servers(&self) -> super::servers::Servers {
        let mut addrs = Vec::new();
        for server in self.config.name_servers() {
            for conn in &server.connections {
                let addr = std::net::SocketAddr::new(server.ip, conn.port);
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
        }
        super::servers::Servers {
            addrs,
            timeout: self.options.timeout,
            attempts: self.options.attempts,
        }
    }

    /// A hickory resolver for one call, on the current runtime.
    fn build(&self) -> Result<TokioResolver, NetError> {
        let mut resolver = TokioResolver::builder_with_config(
            self.config.clone(),
            TokioRuntimeProvider::default(),
        )
        .with_options(self.options.clone())
        .build()?;
        // Every name asked is absolute, and the hosts table was read
        // before (`pinned`): the per-call resolver asks DNS only.
        resolver.set_hosts(Arc::new(Hosts::default()));
        Ok(resolver)
    }
}

/// Where a [`Cached`] resolver's configuration comes from.
pub(crate) enum Source {
    /// Given once (explicit name servers).
    Fixed(Arc<Conf>),
    /// Read from files, and read again when they change.
    Files {
        load: Box<dyn Fn() -> io::Result<Conf> + Send + Sync>,
        watch: Vec<PathBuf>,
        state: Mutex<Option<Loaded>>,
        recheck: Duration,
    },
}

pub(crate) struct Loaded {
    /// The configuration, or why it could not be loaded: a failure is
    /// kept like a configuration, so the files are not read again on
    /// every resolution, only when they change (or at the next recheck).
    conf: Result<Arc<Conf>, (io::ErrorKind, String)>,
    checked: Instant,
    stamp: Vec<Option<Stamp>>,
}

impl Loaded {
    fn conf(&self) -> io::Result<Arc<Conf>> {
        self.conf
            .clone()
            .map_err(|(kind, message)| io::Error::new(kind, message))
    }
}

/// What tells us a file changed.
#[derive(PartialEq, Eq, Debug)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    #[cfg(unix)]
    ino: u64,
}

fn stamp(path: &PathBuf) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        ino: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// A configuration and its answer cache: what clones of a resolver share.
pub(crate) struct Cached {
    source: Source,
    cache: DnsCache,
    /// The queries in flight, which a lookup of the same key joins.
    flights: Mutex<Flights>,
    /// One permit per query being asked: [`MAX_QUERIES`].
    queries: tokio::sync::Semaphore,
}

/// The most queries one resolver asks at once (each on a UDP socket of its
/// own, as hickory asks); more wait for one to end. A burst of a thousand
/// different names so opens at most this many sockets, while any number
/// of callers of one name share one query.
pub(crate) const MAX_QUERIES: usize = 256;

/// One query, as the callers that share it poll it.
type Query = BoxFuture<'static, Result<Lookup, NetError>>;

#[derive(Default)]
struct Flights {
    /// Each query's id (see [`Landing`]) and a weak handle to it.
    map: HashMap<Flight, (u64, futures_util::future::WeakShared<Query>)>,
    next_id: u64,
}

/// What a query in flight answers: a name (lower case, as asked) and a
/// record type, under one configuration.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Flight {
    generation: u64,
    name: String,
    rtype: RecordType,
}

/// Owned by a query in flight: when the query ends or is dropped (its
/// last caller gone), its entry leaves the table, unless a newer query
/// took the key meanwhile.
struct Landing {
    cached: Arc<Cached>,
    key: Flight,
    id: u64,
}

impl Drop for Landing {
    fn drop(&mut self) {
        let mut flights = lock(&self.cached.flights);
        if flights
            .map
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            flights.map.remove(&self.key);
        }
    }
}

impl Cached {
    pub(crate) fn fixed(conf: Conf) -> Cached {
        Cached {
            source: Source::Fixed(Arc::new(conf)),
            cache: DnsCache::new(CAPACITY),
            flights: Mutex::default(),
            queries: tokio::sync::Semaphore::new(MAX_QUERIES),
        }
    }

    pub(crate) fn files(
        load: impl Fn() -> io::Result<Conf> + Send + Sync + 'static,
        watch: Vec<PathBuf>,
        recheck: Duration,
    ) -> Cached {
        Cached {
            source: Source::Files {
                load: Box::new(load),
                watch,
                state: Mutex::new(None),
                recheck,
            },
            cache: DnsCache::new(CAPACITY),
            flights: Mutex::default(),
            queries: tokio::sync::Semaphore::new(MAX_QUERIES),
        }
    }

    /// Whether a configuration has been read.
    pub(crate) fn loaded(&self) -> bool {
        match &self.source {
            Source::Fixed(_) => true,
            Source::Files { state, .. } => lock(state).is_some(),
        }
    }

    /// The configuration to use now: read (again) when needed. The files
    /// are read and parsed without holding the lock, so resolutions that
    /// need the configuration meanwhile are not held up: they use the one
    /// loaded before (or, before the first load, load it too).
    pub(crate) fn conf(&self, now: Instant) -> io::Result<Arc<Conf>> {
        let (load, watch, state, recheck) = match &self.source {
            Source::Fixed(conf) => return Ok(conf.clone()),
            Source::Files {
                load,
                watch,
                state,
                recheck,
            } => (load, watch, state, *recheck),
        };
        {
            let mut state = lock(state);
            if let Some(loaded) = state.as_mut() {
                if now.saturating_duration_since(loaded.checked) < recheck {
                    return loaded.conf();
                }
                // Whoever finds the recheck due checks the stamps; the
                // others go on with what is loaded until it is replaced.
                loaded.checked = now;
                let stamps: Vec<_> = watch.iter().map(stamp).collect();
                if stamps == loaded.stamp {
                    return loaded.conf();
                }
                tracing::debug!("the DNS configuration changed: reading it again");
            }
        }
        // Stamps first: a change made while we read is seen next time.
        let stamps: Vec<_> = watch.iter().map(stamp).collect();
        let loaded = load();
        let mut state = lock(state);
        let generation = self.cache.clear();
        let conf = loaded
            .map(|mut conf| {
                conf.generation = generation;
                Arc::new(conf)
            })
            .map_err(|e| (e.kind(), e.to_string()));
        *state = Some(Loaded {
            conf,
            checked: now,
            stamp: stamps,
        });
        state.as_ref().expect("just set").conf()
    }

    /// One query: from the cache; else joined to the same query already in
    /// flight (same name, record type and configuration: Go's
    /// `lookupGroup`), else asked on `resolver` (made at the first miss of
    /// the call, on the caller's runtime) and then kept.
    ///
    /// The query in flight is a [`Shared`] future that every caller
    /// polls: whoever polls drives it, a caller that is dropped leaves
    /// the others waiting on the same query, and when the last one is
    /// dropped the query is dropped with it (no task runs it). The table
    /// of queries in flight holds only weak handles. Each query holds one
    /// of [`MAX_QUERIES`] permits while it is asked (hickory opens a UDP
    /// socket per query): a burst of different names waits its turn.
    pub(crate) fn lookup(
        self: &Arc<Self>,
        conf: &Arc<Conf>,
        resolver: &Arc<OnceLock<Result<TokioResolver, NetError>>>,
        host: &str,
        rtype: RecordType,
    ) -> BoxFuture<'static, Result<Lookup, NetError>> {
        if let Some(hit) = self.cache.get(host, rtype, Instant::now()) {
            return futures_util::future::ready(hit).boxed();
        }
        let key = Flight {
            generation: conf.generation,
            name: lowercase(host).into_owned(),
            rtype,
        };
        let mut flights = lock(&self.flights);
        if let Some(joined) = flights.map.get(&key).and_then(|(_, weak)| weak.upgrade()) {
            drop(flights);
            tracing::trace!(name = host, %rtype, "joined the query in flight");
            return joined.boxed();
        }
        // An answer that came in since the first look.
        if let Some(hit) = self.cache.get(host, rtype, Instant::now()) {
            return futures_util::future::ready(hit).boxed();
        }
        let id = flights.next_id;
        flights.next_id += 1;
        let landing = Landing {
            cached: self.clone(),
            key: key.clone(),
            id,
        };
        let this = self.clone();
        let conf = conf.clone();
        let resolver = resolver.clone();
        let host = host.to_owned();
        let query = async move {
            let _landing = landing;
            let _permit = this.queries.acquire().await;
            let resolver = resolver.get_or_init(|| conf.build()).clone()?;
            let result = resolver.lookup(host.as_str(), rtype).await;
            this.cache.insert_for(
                conf.generation,
                &host,
                rtype,
                &result,
                &conf.options,
                Instant::now(),
            );
            result
        }
        .boxed()
        .shared();
        if let Some(weak) = query.downgrade() {
            flights.map.insert(key, (id, weak));
        }
        drop(flights);
        query.boxed()
    }

    /// Both answers (AAAA, A) of the absolute `name` if the cache has
    /// both, and when the first of them expires.
    pub(crate) fn both_cached(&self, name: &str, now: Instant) -> Option<BothCached> {
        let (aaaa, until6) = self.cache.get_until(name, RecordType::AAAA, now)?;
        let (a, until4) = self.cache.get_until(name, RecordType::A, now)?;
        Some((aaaa, a, until6.min(until4)))
    }

    /// The addresses of `host` (both families) as a resolution under the
    /// current configuration sorted them a moment ago (see
    /// [`DnsCache::sorted`]). The configuration is looked at first, so a
    /// change of the files flushes this too.
    pub(crate) fn sorted(&self, host: &str, now: Instant) -> Option<Vec<IpAddr>> {
        self.conf(now).ok()?;
        self.cache.sorted(host, now)
    }

    /// Keeps `ips`, the sorted answer of `host` under `conf`, until `until`.
    pub(crate) fn keep_sorted(&self, conf: &Conf, host: &str, ips: &[IpAddr], until: Instant) {
        self.cache.keep_sorted(conf.generation, host, ips, until);
    }

    #[cfg(test)]
    pub(crate) fn cache(&self) -> &DnsCache {
        &self.cache
    }
}

/// The AAAA and A answers of a name, and the sooner of their expiries.
pub(crate) type BothCached = (Result<Lookup, NetError>, Result<Lookup, NetError>, Instant);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `name` as the cache keys it: lower case, copied only when it is not
/// already (a target's host always is).
fn lowercase(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

struct Entry {
    rtype: RecordType,
    result: Result<Lookup, NetError>,
    expires: Instant,
    /// Its place in [`Table::order`] (with `expires`).
    seq: u64,
}

/// A bounded TTL cache of DNS answers, keyed by (lowercased name, record
/// type). The clock is an argument, so tests move it.
///
/// A hit costs one FxHash of the name (eight bytes a word, from a random
/// seed; SipHash takes hundreds of instructions per key), no allocation
/// (names come lower-cased), and a look at the name's few record types.
/// Eviction takes the entries in the order they expire from a `BTreeMap`
/// beside the table: every expired entry, then the one that expires
/// soonest, each in O(log n), never a scan of the table under the lock.
pub(crate) struct DnsCache {
    entries: Mutex<Table>,
    capacity: usize,
}

struct Table {
    /// Each name's answers, one per record type asked (a few at most).
    map: HashMap<Arc<str>, Vec<Entry>, FxBuild>,
    /// Names (as the caller wrote them, lower-cased) whose two answers
    /// were both cached, merged and sorted: see [`DnsCache::sorted`].
    sorted: HashMap<Box<str>, Sorted, FxBuild>,
    /// Every entry by (expiry, sequence number): the soonest first.
    order: BTreeMap<(Instant, u64), (Arc<str>, RecordType)>,
    next_seq: u64,
    /// Bumped by every `clear`: an answer obtained before it is not kept.
    generation: u64,
}

impl Table {
    /// Drops the entry of `name` and `rtype`, if there is one, from both
    /// the table and the order.
    fn remove(&mut self, name: &str, rtype: RecordType) {
        if let Some(entries) = self.map.get_mut(name) {
            if let Some(i) = entries.iter().position(|e| e.rtype == rtype) {
                let e = entries.swap_remove(i);
                self.order.remove(&(e.expires, e.seq));
            }
            if entries.is_empty() {
                self.map.remove(name);
            }
        }
    }
}

/// A name's addresses of both families, sorted, and until when they are
/// used as they are.
struct Sorted {
    ips: Box<[IpAddr]>,
    until: Instant,
}

/// FxHash's mixing (rustc's), from a random seed per cache.
#[derive(Clone)]
struct FxBuild(u64);

impl std::hash::BuildHasher for FxBuild {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher(self.0)
    }
}

struct FxHasher(u64);

impl FxHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FxHasher::K);
    }
}

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
}

impl DnsCache {
    pub(crate) fn new(capacity: usize) -> DnsCache {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0u64);
        DnsCache {
            entries: Mutex::new(Table {
                map: HashMap::with_hasher(FxBuild(seed)),
                sorted: HashMap::with_hasher(FxBuild(seed)),
                order: BTreeMap::new(),
                next_seq: 0,
                generation: 0,
            }),
            capacity,
        }
    }

    pub(crate) fn get(
        &self,
        name: &str,
        rtype: RecordType,
        now: Instant,
    ) -> Option<Result<Lookup, NetError>> {
        self.get_until(name, rtype, now).map(|(result, _)| result)
    }

    /// [`get`](Self::get), and when the answer expires.
    pub(crate) fn get_until(
        &self,
        name: &str,
        rtype: RecordType,
        now: Instant,
    ) -> Option<(Result<Lookup, NetError>, Instant)> {
        let name = lowercase(name);
        let mut table = lock(&self.entries);
        let entry = table.map.get(&*name)?.iter().find(|e| e.rtype == rtype)?;
        if now < entry.expires {
            return Some((entry.result.clone(), entry.expires));
        }
        table.remove(&name, rtype);
        None
    }

    /// The addresses of both families of `host` (as a caller wrote it:
    /// the search list is not applied again), merged and sorted by an
    /// earlier resolution from two cached answers, until the sooner of
    /// their expiries and at most [`ROUTE_RECHECK`] after the sort: a
    /// cached name costs one lookup here, not two lookups, a merge, a sort
    /// and a route check per address.
    pub(crate) fn sorted(&self, host: &str, now: Instant) -> Option<Vec<IpAddr>> {
        let host = lowercase(host);
        let mut table = lock(&self.entries);
        let sorted = table.sorted.get(&*host)?;
        if now < sorted.until {
            return Some(sorted.ips.to_vec());
        }
        table.sorted.remove(&*host);
        None
    }

    /// Keeps the sorted answer of `host` until `until`, if the cache is
    /// still the `generation` it was sorted in. At most `capacity` names:
    /// when full, the expired ones go, or else all of them (they are
    /// sorted again from the answers, which stay).
    pub(crate) fn keep_sorted(&self, generation: u64, host: &str, ips: &[IpAddr], until: Instant) {
        if self.capacity == 0 {
            return;
        }
        let host = lowercase(host);
        let mut table = lock(&self.entries);
        if table.generation != generation {
            return;
        }
        if table.sorted.len() >= self.capacity && !table.sorted.contains_key(&*host) {
            let now = Instant::now();
            table.sorted.retain(|_, s| now < s.until);
            if table.sorted.len() >= self.capacity {
                table.sorted.clear();
            }
        }
        let sorted = Sorted {
            ips: ips.into(),
            until,
        };
        table.sorted.insert(host.into(), sorted);
    }

    /// Keeps `result` for as long as its TTL says, if it is an answer
    /// (positive, or no such name / no records), in the current
    /// generation.
    #[cfg(test)]
    pub(crate) fn insert(
        &self,
        name: &str,
        rtype: RecordType,
        result: &Result<Lookup, NetError>,
        options: &ResolverOpts,
        now: Instant,
    ) {
        let generation = lock(&self.entries).generation;
        self.insert_for(generation, name, rtype, result, options, now);
    }

    /// Keeps `result` for as long as its TTL says, if it is an answer
    /// (positive, or no such name / no records) and the cache is still
    /// the `generation` it was asked in.
    pub(crate) fn insert_for(
        &self,
        generation: u64,
        name: &str,
        rtype: RecordType,
        result: &Result<Lookup, NetError>,
        options: &ResolverOpts,
        now: Instant,
    ) {
        let Some(ttl) = ttl(result, options) else {
            return;
        };
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let name = lowercase(name);
        let expires = now.checked_add(ttl).unwrap_or(now + MAX_TTL);
        let mut table = lock(&self.entries);
        if table.generation != generation {
            tracing::debug!(
                name = &*name,
                "an answer for a configuration since replaced is not kept"
            );
            return;
        }
        table.remove(&name, rtype);
        // Expired entries go first, then (when full) the soonest to expire:
        // both are at the front of `order`.
        while let Some((&(at, _), _)) = table.order.first_key_value() {
            if now < at && table.order.len() < self.capacity {
                break;
            }
            if let Some((_, (old, old_type))) = table.order.pop_first() {
                // Out of `order` already; now out of the table.
                table.remove(&old, old_type);
            }
        }
        let seq = table.next_seq;
        table.next_seq += 1;
        let key: Arc<str> = match table.map.get_key_value(&*name) {
            Some((key, _)) => key.clone(),
            None => Arc::from(&*name),
        };
        table.order.insert((expires, seq), (key.clone(), rtype));
        table.map.entry(key).or_default().push(Entry {
            rtype,
            result: result.clone(),
            expires,
            seq,
        });
    }

    /// Forgets every answer and starts a new generation, which it
    /// returns.
    pub(crate) fn clear(&self) -> u64 {
        let mut table = lock(&self.entries);
        table.map.clear();
        table.order.clear();
        table.sorted.clear();
        table.generation += 1;
        table.generation
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let table = lock(&self.entries);
        debug_assert_eq!(
            table.order.len(),
            table.map.values().map(Vec::len).sum::<usize>()
        );
        table.order.len()
    }
}

/// The longest a negative answer (no such name, no records) is kept
/// unless `ResolverOpts::negative_max_ttl` says otherwise: 30 s, whatever
/// the SOA minimum (the root zone's is a day). getaddrinfo keeps nothing
/// (nscd, where it runs, 20 s); a name created after a failed lookup is
/// found again within this time.
pub(crate) const NEGATIVE_TTL_CAP: Duration = Duration::from_secs(30);

/// The longest a DNS answer may be kept (RFC 2181 §8: 2^31 - 1 s).
const MAX_TTL: Duration = Duration::from_secs(2_147_483_647);

/// How long to keep `result`, or `None` for a failure not to keep.
fn ttl(result: &Result<Lookup, NetError>, options: &ResolverOpts) -> Option<Duration> {
    match result {
        Ok(lookup) => Some(
            lookup
                .valid_until()
                .saturating_duration_since(Instant::now())
                .min(MAX_TTL),
        ),
        Err(NetError::Dns(DnsError::NoRecordsFound(no))) => {
            let min = options.negative_min_ttl.unwrap_or(Duration::ZERO);
            let max = options
                .negative_max_ttl
                .unwrap_or(NEGATIVE_TTL_CAP)
                .max(min);
            Some(match no.negative_ttl {
                Some(secs) => Duration::from_secs(u64::from(secs)).clamp(min, max),
                None => min,
            })
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::net::NoRecords;
    use hickory_resolver::proto::op::{Query, ResponseCode};
    use hickory_resolver::proto::rr::rdata::A;
    use hickory_resolver::proto::rr::{Name, RData, Record};

    fn positive(name: &str, ttl: u32) -> Result<Lookup, NetError> {
        let name = Name::from_ascii(name).unwrap();
        let query = Query::query(name.clone(), RecordType::A);
        let record = Record::from_rdata(name, ttl, RData::A(A::new(192, 0, 2, 1)));
        let valid_until = Instant::now() + Duration::from_secs(u64::from(ttl));
        Ok(Lookup::new_with_deadline(query, [record], valid_until))
    }

    fn negative(name: &str, negative_ttl: Option<u32>) -> Result<Lookup, NetError> {
        let query = Query::query(Name::from_ascii(name).unwrap(), RecordType::A);
        let mut no = NoRecords::new(query, ResponseCode::NXDomain);
        no.negative_ttl = negative_ttl;
        Err(NetError::Dns(DnsError::NoRecordsFound(no)))
    }

    #[test]
    fn positive_answers_expire_at_their_ttl() {
        let cache = DnsCache::new(8);
        let t0 = Instant::now();
        let opts = ResolverOpts::default();
        cache.insert("A.test", RecordType::A, &positive("a.test.", 60), &opts, t0);
        assert!(cache.get("a.test", RecordType::A, t0).unwrap().is_ok());
        assert!(cache.get("a.test", RecordType::AAAA, t0).is_none());
        let almost = t0 + Duration::from_secs(59);
        assert!(cache.get("a.TEST", RecordType::A, almost).is_some());
        let after = t0 + Duration::from_secs(61);
        assert!(cache.get("a.test", RecordType::A, after).is_none());
        assert_eq!(cache.len(), 0, "an expired entry is dropped when seen");
    }

    #[test]
    fn a_sorted_answer_lasts_until_its_time_and_no_longer_than_the_cache() {
        let cache = DnsCache::new(2);
        let t0 = Instant::now();
        let ips: Vec<IpAddr> = vec![Ipv6Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into()];
        let until = t0 + Duration::from_secs(5);
        cache.keep_sorted(0, "Dual.test", &ips, until);
        assert_eq!(cache.sorted("dual.TEST", t0), Some(ips.clone()));
        assert_eq!(cache.sorted("dual.test.", t0), None, "the name as written");
        assert_eq!(cache.sorted("dual.test", until), None, "kept until `until`");
        assert_eq!(
            cache.sorted("dual.test", t0),
            None,
            "dropped when seen expired"
        );
        // A flush (the files changed) forgets it; an answer sorted under
        // the configuration before is not kept.
        cache.keep_sorted(0, "dual.test", &ips, until);
        let generation = cache.clear();
        assert_eq!(cache.sorted("dual.test", t0), None);
        cache.keep_sorted(generation - 1, "dual.test", &ips, until);
        assert_eq!(cache.sorted("dual.test", t0), None);
        // Full: the expired ones go, else all of them.
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        cache.keep_sorted(generation, "a.test", &ips, now);
        cache.keep_sorted(generation, "b.test", &ips, later);
        cache.keep_sorted(generation, "c.test", &ips, later);
        assert_eq!(cache.sorted("b.test", now), Some(ips.clone()));
        assert_eq!(cache.sorted("c.test", now), Some(ips.clone()));
        cache.keep_sorted(generation, "d.test", &ips, later);
        assert_eq!(cache.sorted("d.test", now), Some(ips.clone()));
        assert_eq!(cache.sorted("b.test", now), None);
    }

    #[test]
    fn negative_answers_follow_the_soa_minimum_within_the_options() {
        let cache = DnsCache::new(8);
        let t0 = Instant::now();
        let mut opts = ResolverOpts::default();
        cache.insert(
            "n.test",
            RecordType::A,
            &negative("n.test.", Some(30)),
            &opts,
            t0,
        );
        assert!(cache
            .get("n.test", RecordType::A, t0 + Duration::from_secs(29))
            .unwrap()
            .is_err());
        assert!(cache
            .get("n.test", RecordType::A, t0 + Duration::from_secs(31))
            .is_none());
        // Without an SOA: kept for negative_min_ttl (hickory's default: 0, not kept).
        cache.insert(
            "s.test",
            RecordType::A,
            &negative("s.test.", None),
            &opts,
            t0,
        );
        assert!(cache.get("s.test", RecordType::A, t0).is_none());
        opts.negative_max_ttl = Some(Duration::from_secs(10));
        cache.insert(
            "m.test",
            RecordType::A,
            &negative("m.test.", Some(3600)),
            &opts,
            t0,
        );
        assert!(cache
            .get("m.test", RecordType::A, t0 + Duration::from_secs(9))
            .is_some());
        assert!(cache
            .get("m.test", RecordType::A, t0 + Duration::from_secs(11))
            .is_none());
    }

    #[test]
    fn failures_are_not_kept() {
        let cache = DnsCache::new(8);
        let opts = ResolverOpts::default();
        cache.insert(
            "t.test",
            RecordType::A,
            &Err(NetError::Timeout),
            &opts,
            Instant::now(),
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_soonest_to_expire() {
        let cache = DnsCache::new(3);
        let t0 = Instant::now();
        let opts = ResolverOpts::default();
        cache.insert(
            "short.test",
            RecordType::A,
            &positive("short.test.", 1),
            &opts,
            t0,
        );
        cache.insert(
            "mid.test",
            RecordType::A,
            &positive("mid.test.", 100),
            &opts,
            t0,
        );
        cache.insert(
            "long.test",
            RecordType::A,
            &positive("long.test.", 200),
            &opts,
            t0,
        );
        let later = t0 + Duration::from_secs(2);
        cache.insert(
            "new1.test",
            RecordType::A,
            &positive("new1.test.", 300),
            &opts,
            later,
        );
        assert_eq!(cache.len(), 3);
        assert!(cache.get("short.test", RecordType::A, later).is_none());
        cache.insert(
            "new2.test",
            RecordType::A,
            &positive("new2.test.", 300),
            &opts,
            later,
        );
        assert_eq!(cache.len(), 3);
        assert!(
            cache.get("mid.test", RecordType::A, later).is_none(),
            "soonest to expire goes"
        );
        assert!(cache.get("long.test", RecordType::A, later).is_some());
        assert!(cache.get("new2.test", RecordType::A, later).is_some());
    }

    #[test]
    fn changed_files_are_read_again_after_the_recheck_interval() {
        let dir = std::env::temp_dir().join(format!("te-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts");
        std::fs::write(&file, "127.0.0.1 a.test\n").unwrap();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = loads.clone();
        let cached = Cached::files(
            move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Conf::new(
                    ResolverConfig::default(),
                    ResolverOpts::default(),
                    Some(Hosts::default()),
                ))
            },
            vec![file.clone()],
            Duration::from_secs(5),
        );
        let count = || loads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(!cached.loaded());
        let t0 = Instant::now();
        cached.conf(t0).unwrap();
        assert_eq!(count(), 1);
        let opts = ResolverOpts::default();
        cached.cache().insert(
            "a.test",
            RecordType::A,
            &positive("a.test.", 300),
            &opts,
            t0,
        );
        // Unchanged: checked, not read.
        cached.conf(t0 + Duration::from_secs(6)).unwrap();
        assert_eq!(count(), 1);
        // Changed, but within the interval: not looked at yet.
        std::fs::write(&file, "127.0.0.1 a.test b.test other.test\n").unwrap();
        cached.conf(t0 + Duration::from_secs(7)).unwrap();
        assert_eq!(count(), 1);
        assert_eq!(cached.cache().len(), 1);
        // After the interval: read again, the cache flushed.
        cached.conf(t0 + Duration::from_secs(12)).unwrap();
        assert_eq!(count(), 2);
        assert_eq!(cached.cache().len(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A cache that counts the loads of a configuration from `file`, and
    /// fails them while `fail` is set.
    fn counting(
        file: &std::path::Path,
        fail: Arc<std::sync::atomic::AtomicBool>,
    ) -> (Cached, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering::SeqCst;
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = loads.clone();
        let cached = Cached::files(
            move || {
                counter.fetch_add(1, SeqCst);
                if fail.load(SeqCst) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bad resolv.conf",
                    ));
                }
                Ok(Conf::new(
                    ResolverConfig::default(),
                    ResolverOpts::default(),
                    Some(Hosts::default()),
                ))
            },
            vec![file.to_path_buf()],
            Duration::from_secs(5),
        );
        (cached, loads)
    }

    #[test]
    fn an_answer_for_a_replaced_configuration_is_not_kept() {
        let dir = std::env::temp_dir().join(format!("te-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("resolv.conf");
        std::fs::write(&file, "nameserver 127.0.0.1\n").unwrap();
        let (cached, _) = counting(&file, Arc::default());
        let t0 = Instant::now();
        let old = cached.conf(t0).unwrap();
        // The files change while a lookup made under `old` is in flight.
        std::fs::write(&file, "nameserver 127.0.0.2\nsearch changed.test\n").unwrap();
        let new = cached.conf(t0 + Duration::from_secs(6)).unwrap();
        assert_ne!(old.generation, new.generation);
        let opts = ResolverOpts::default();
        let answer = positive("late.test.", 300);
        cached.cache().insert_for(
            old.generation,
            "late.test.",
            RecordType::A,
            &answer,
            &opts,
            t0,
        );
        assert_eq!(
            cached.cache().len(),
            0,
            "the old configuration's answer filled the new cache"
        );
        cached.cache().insert_for(
            new.generation,
            "late.test.",
            RecordType::A,
            &answer,
            &opts,
            t0,
        );
        assert_eq!(cached.cache().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_load_is_not_retried_until_the_files_change() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = std::env::temp_dir().join(format!("te-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("resolv.conf");
        std::fs::write(&file, "garbage\n").unwrap();
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cached, loads) = counting(&file, fail.clone());
        let t0 = Instant::now();
        let e = cached.conf(t0).err().expect("the load fails");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("bad resolv.conf"), "{e}");
        // Every resolution meanwhile gets the same error without a read.
        for s in [0, 1, 4, 6, 12] {
            assert!(cached.conf(t0 + Duration::from_secs(s)).is_err());
        }
        assert_eq!(loads.load(SeqCst), 1);
        // Fixed on disk: read again at the next recheck.
        fail.store(false, SeqCst);
        std::fs::write(&file, "nameserver 127.0.0.1\n").unwrap();
        cached.conf(t0 + Duration::from_secs(18)).unwrap();
        assert_eq!(loads.load(SeqCst), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn negative_answers_are_capped_at_30_s() {
        let cache = DnsCache::new(8);
        let t0 = Instant::now();
        // The root zone's SOA minimum is a day.
        let nx = negative("typo.", Some(86_400));
        cache.insert("typo.", RecordType::A, &nx, &ResolverOpts::default(), t0);
        assert!(cache
            .get("typo.", RecordType::A, t0 + Duration::from_secs(29))
            .is_some());
        assert!(cache
            .get("typo.", RecordType::A, t0 + Duration::from_secs(31))
            .is_none());
        assert_eq!(NEGATIVE_TTL_CAP, Duration::from_secs(30));
    }

    // hickory parses resolv.conf text only where it reads resolv.conf.
    #[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
    #[test]
    fn search_candidates_follow_glibc() {
        let conf = |text: &str| {
            let (config, options) = hickory_resolver::system_conf::parse_resolv_conf(text).unwrap();
            Conf::new(config, options, Some(Hosts::default()))
        };
        let k8s = conf(
            "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
        );
        assert_eq!(
            k8s.candidates("web"),
            [
                "web.ns1.svc.cluster.local.",
                "web.svc.cluster.local.",
                "web.cluster.local.",
                "web."
            ]
        );
        // Fewer dots than ndots: the search list first; as many: as is first.
        assert_eq!(
            k8s.candidates("a.b.c.d.e")[0],
            "a.b.c.d.e.ns1.svc.cluster.local."
        );
        assert_eq!(k8s.candidates("a.b.c.d.e.f")[0], "a.b.c.d.e.f.");
        assert_eq!(k8s.candidates("a.b.c.d.e.f").len(), 4);
        // A trailing dot: absolute, never searched.
        assert_eq!(k8s.candidates("example.com."), ["example.com."]);
        let plain = conf("nameserver 127.0.0.1\nsearch corp.example\n");
        assert_eq!(
            plain.candidates("host.example.com"),
            ["host.example.com.", "host.example.com.corp.example."]
        );
        assert_eq!(plain.candidates("host"), ["host.corp.example.", "host."]);
        let none = conf("nameserver 127.0.0.1\n");
        assert_eq!(none.candidates("host"), ["host."]);
    }

    // hickory parses resolv.conf text only where it reads resolv.conf.
    #[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
    #[test]
    fn the_hosts_table_answers_alone_and_localhost_is_loopback() {
        let mut hosts = Hosts::default();
        hosts
            .read_hosts_conf("127.0.0.10 myhost myalias\n192.0.2.54 v4only.test\n".as_bytes())
            .unwrap();
        let (config, options) = hickory_resolver::system_conf::parse_resolv_conf(
            "nameserver 127.0.0.1\nsearch ns1.svc.cluster.local\noptions ndots:5\n",
        )
        .unwrap();
        let conf = Conf::new(config, options, Some(hosts));
        let v4 = |s: &str| vec![s.parse::<IpAddr>().unwrap()];
        assert_eq!(
            conf.pinned("myhost", crate::Family::Any),
            Some(v4("127.0.0.10"))
        );
        assert_eq!(
            conf.pinned("MyAlias", crate::Family::Any),
            Some(v4("127.0.0.10"))
        );
        // Pinned to IPv4: DNS is not asked for IPv6 either.
        assert_eq!(
            conf.pinned("v4only.test", crate::Family::Any),
            Some(v4("192.0.2.54"))
        );
        assert_eq!(conf.pinned("v4only.test", crate::Family::V6), None);
        assert_eq!(
            conf.pinned("app.localhost", crate::Family::Any),
            Some(vec![
                IpAddr::from(Ipv6Addr::LOCALHOST),
                IpAddr::from(Ipv4Addr::LOCALHOST)
            ])
        );
        assert_eq!(conf.pinned("notlocalhost", crate::Family::Any), None);
        assert_eq!(conf.pinned("other.test", crate::Family::Any), None);
    }

    /// Any string, not only a valid name: compared as bytes, never sliced
    /// inside a character (`"éabcdefghi"` panicked).
    #[test]
    fn pinned_takes_any_string() {
        let conf = Conf::new(
            ResolverConfig::default(),
            ResolverOpts::default(),
            Some(Hosts::default()),
        );
        for name in [
            "éabcdefghi",
            // What the hosts fuzz target found in seconds with the old
            // slice (fuzz/corpus/hosts/regression-pinned-char-boundary).
            "\u{c1}\u{3c9}\u{2}\u{2}\u{2}\u{2}\u{2}\u{2}\u{2}",
            "éabcdefghij",
            "élocalhost",
            "é",
            "",
            ".",
            "\0",
        ] {
            assert_eq!(conf.pinned(name, crate::Family::Any), None, "{name:?}");
            let _ = conf.candidates(name);
        }
        assert!(conf.pinned("é.localhost", crate::Family::Any).is_some());
    }

    /// Eviction takes the soonest to expire from the order beside the
    /// table, whatever the table's size; replacing an answer moves it.
    #[test]
    fn eviction_follows_the_expiry_order() {
        let cache = DnsCache::new(100);
        let t0 = Instant::now();
        let opts = ResolverOpts::default();
        for i in 0..100u32 {
            let name = format!("n{i}.test.");
            cache.insert(&name, RecordType::A, &positive(&name, 1000 + i), &opts, t0);
        }
        // n0 is replaced by a longer-lived answer: n1 is now the soonest.
        cache.insert(
            "N0.test.",
            RecordType::A,
            &positive("n0.test.", 5000),
            &opts,
            t0,
        );
        assert_eq!(cache.len(), 100);
        cache.insert(
            "new.test.",
            RecordType::A,
            &positive("new.test.", 9000),
            &opts,
            t0,
        );
        assert_eq!(cache.len(), 100);
        assert!(cache.get("n1.test.", RecordType::A, t0).is_none());
        assert!(cache.get("n0.test.", RecordType::A, t0).is_some());
        assert!(cache.get("n2.test.", RecordType::A, t0).is_some());
        // Past the expiry of n2..n9: all of them go at the next insert.
        let later = t0 + Duration::from_secs(1010);
        cache.insert(
            "late.test.",
            RecordType::A,
            &positive("late.test.", 9000),
            &opts,
            later,
        );
        assert_eq!(cache.len(), 100 - 8 + 1 - 1);
        // Another record type of a name is its own entry.
        cache.insert(
            "n50.test.",
            RecordType::AAAA,
            &positive("n50.test.", 9000),
            &opts,
            later,
        );
        assert!(cache.get("n50.test.", RecordType::A, later).is_some());
        assert!(cache.get("n50.test.", RecordType::AAAA, later).is_some());
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn hosts_file_names_are_known() {
        let mut hosts = Hosts::default();
        hosts
            .read_hosts_conf("127.0.0.1 pinned.test\n::1 v6only.test\n".as_bytes())
            .unwrap();
        let conf = Conf::new(
            ResolverConfig::default(),
            ResolverOpts::default(),
            Some(hosts),
        );
        let any = crate::Family::Any;
        assert!(conf.pinned("pinned.test", any).is_some());
        assert!(conf.pinned("PINNED.test.", any).is_some());
        assert!(conf.pinned("v6only.test", any).is_some());
        assert!(conf.pinned("other.test", any).is_none());
        assert!(conf.pinned("not a name!", any).is_none());
    }
}
