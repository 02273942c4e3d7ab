//! HTTPS service records (RFC 9460) for Happy Eyeballs v3
//! (draft-ietf-happy-happyeyeballs-v3-04, §4 and §6).
//!
//! # What a record changes
//!
//! An HTTPS record of a name says where and how its HTTPS service runs: at
//! which name (its TargetName), on which port, with which ALPN protocols,
//! at which addresses (`ipv4hint`, `ipv6hint`, usable before the A and
//! AAAA answers come), and with which Encrypted Client Hello keys (`ech`).
//! AliasMode records (priority 0) send the client to another name, like a
//! CNAME at the zone apex; ServiceMode records (priority 1 and up) describe
//! a service, the lowest priority first.
//!
//! # What we do
//!
//! * The HTTPS query goes out beside AAAA and A, at once. Its name is the
//!   host for port 443, `_PORT._https.HOST` otherwise (RFC 9460 §9.1). A
//!   name the resolver's hosts file pins is not asked for (it is not sent
//!   to the network), nor are `localhost` names (loopback, RFC 6761). Every
//!   name asked is absolute: a TargetName is never completed with the
//!   search list.
//! * AliasMode is followed up to [`MAX_ALIAS_DEPTH`] names; a loop, a
//!   deeper chain or an alias to "." ends with no records (the host's own
//!   A and AAAA are used, as RFC 9460 §3 asks of SVCB-optional clients).
//! * The answers are held, as RFC 8305 §3 holds an A answer for AAAA, until
//!   some address is known (an answer or a hint), the AAAA answer is in (or
//!   an IPv6 hint stands for it; an answer ranking below IPv4, RFC 6724,
//!   waits for A), and the HTTPS answer is in; or until the
//!   resolution delay has passed since the first address was known. A
//!   silent HTTPS query so costs at most the resolution delay, and a failed
//!   or malformed HTTPS answer only loses the hints (draft §4.2). Once the
//!   address answers are all in and handed over, an HTTPS answer still
//!   missing is abandoned, so that it never holds a failing call either.
//! * Hints count as addresses while the A or AAAA answer of their family is
//!   not in; when it comes, it replaces them: hints not yet tried leave the
//!   race and the answer's addresses join it (draft §4.2.1 and §7).
//! * A service whose ALPN set (RFC 9460 §7.1.2: its `alpn` list, plus
//!   `http/1.1` unless `no-default-alpn`) has none of the client's
//!   [`alpn`](crate::ConnectionBuilder::alpn) protocols is skipped (draft
//!   §6.2). Without a client ALPN list nothing is forced on the handshake:
//!   a service is skipped only when it offers HTTP/3 (QUIC) alone.
//! * A service's `port` applies to its addresses; services are tried in
//!   priority order, within the RFC 8305 family interleaving.
//! * A service's `ech` list is kept and given to the TLS stream of a
//!   connection to one of its addresses
//!   ([`TlsStream::ech_config_list`](crate::TlsStream::ech_config_list)).
//!   ECH itself is not used.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::time::{sleep_until, Instant};

use super::error::{ResolveError, ResolveErrorKind};
use crate::shared::clock::later;
use crate::shared::order::sort_destinations;
use crate::shared::policy::DeniedAddress;

/// How many AliasMode records are followed before giving up on a name's
/// HTTPS records.
pub const MAX_ALIAS_DEPTH: usize = 8;

/// One ServiceMode HTTPS record (RFC 9460), as the race uses it.
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use tokio_endpoints::ServiceRecord;
///
/// // example.com. HTTPS 1 . alpn=h2 port=8443 ipv4hint=192.0.2.1
/// let record = ServiceRecord::new(1, ".")
///     .with_alpn(["h2"])
///     .with_port(8443)
///     .with_ipv4_hints([Ipv4Addr::new(192, 0, 2, 1)]);
/// assert_eq!(record.port(), Some(8443));
/// assert!(record.is_for_owner());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    priority: u16,
    target: String,
    port: Option<u16>,
    alpn: Vec<Vec<u8>>,
    no_default_alpn: bool,
    ipv4_hints: Vec<Ipv4Addr>,
    ipv6_hints: Vec<Ipv6Addr>,
    ech: Option<Arc<[u8]>>,
}

impl ServiceRecord {
    /// A ServiceMode record with this SvcPriority (1 and up; 0 is
    /// AliasMode, which resolvers follow and never hand over) and
    /// TargetName: `"."` for the host itself, or another name whose A and
    /// AAAA records hold the service's addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// let record = ServiceRecord::new(2, "pool.example.net.");
    /// assert_eq!(record.target(), "pool.example.net");
    /// assert_eq!(record.priority(), 2);
    /// ```
    pub fn new(priority: u16, target: impl AsRef<str>) -> ServiceRecord {
        let target = target.as_ref();
        let target = if target == "." || target.is_empty() {
            ".".to_string()
        } else {
            super::name::normalize(target)
        };
        ServiceRecord {
            priority,
            target,
            port: None,
            alpn: Vec::new(),
            no_default_alpn: false,
            ipv4_hints: Vec::new(),
            ipv6_hints: Vec::new(),
            ech: None,
        }
    }

    /// The `port` parameter: the port of this service's addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// assert_eq!(ServiceRecord::new(1, ".").with_port(8443).port(), Some(8443));
    /// ```
    #[must_use]
    pub fn with_port(mut self, port: u16) -> ServiceRecord {
        self.port = Some(port);
        self
    }

    /// The `alpn` parameter: the protocols the service speaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// let record = ServiceRecord::new(1, ".").with_alpn(["h2", "http/1.1"]);
    /// assert_eq!(record.alpn(), &[b"h2".to_vec(), b"http/1.1".to_vec()]);
    /// ```
    #[must_use]
    pub fn with_alpn<I>(mut self, protocols: I) -> ServiceRecord
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// The `no-default-alpn` parameter: the service does not speak the
    /// default protocol (`http/1.1`) unless its `alpn` names it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// assert!(ServiceRecord::new(1, ".").with_no_default_alpn().no_default_alpn());
    /// ```
    #[must_use]
    pub fn with_no_default_alpn(mut self) -> ServiceRecord {
        self.no_default_alpn = true;
        self
    }

    /// The `ipv4hint` parameter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// let record = ServiceRecord::new(1, ".").with_ipv4_hints([Ipv4Addr::LOCALHOST]);
    /// assert_eq!(record.ipv4_hints(), &[Ipv4Addr::LOCALHOST]);
    /// ```
    #[must_use]
    pub fn with_ipv4_hints(mut self, hints: impl IntoIterator<Item = Ipv4Addr>) -> ServiceRecord {
        self.ipv4_hints = hints.into_iter().collect();
        self
    }

    /// The `ipv6hint` parameter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// let record = ServiceRecord::new(1, ".").with_ipv6_hints([Ipv6Addr::LOCALHOST]);
    /// assert_eq!(record.ipv6_hints(), &[Ipv6Addr::LOCALHOST]);
    /// ```
    #[must_use]
    pub fn with_ipv6_hints(mut self, hints: impl IntoIterator<Item = Ipv6Addr>) -> ServiceRecord {
        self.ipv6_hints = hints.into_iter().collect();
        self
    }

    /// The `ech` parameter: an ECHConfigList (draft-ietf-tls-svcb-ech), as
    /// its wire bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServiceRecord;
    ///
    /// let record = ServiceRecord::new(1, ".").with_ech(vec![0, 4, 1, 2, 3, 4]);
    /// assert_eq!(record.ech_config_list(), Some(&[0, 4, 1, 2, 3, 4][..]));
    /// ```
    #[must_use]
    pub fn with_ech(mut self, ech_config_list: impl Into<Vec<u8>>) -> ServiceRecord {
        self.ech = Some(Arc::from(ech_config_list.into()));
        self
    }

    /// The SvcPriority: lower is preferred.
    pub fn priority(&self) -> u16 {
        self.priority
    }

    /// The effective TargetName, lowercase and without the trailing dot;
    /// `"."` for the host itself.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the service runs at the host itself (TargetName `"."`).
    pub fn is_for_owner(&self) -> bool {
        self.target == "."
    }

    /// The `port` parameter, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The `alpn` parameter (empty when absent).
    pub fn alpn(&self) -> &[Vec<u8>] {
        &self.alpn
    }

    /// Whether `no-default-alpn` is set.
    pub fn no_default_alpn(&self) -> bool {
        self.no_default_alpn
    }

    /// Replaces each IPv4 hint by the IPv6 addresses `synthesize` gives
    /// for it (NAT64 on an IPv6-only network); one it gives none for stays.
    pub(crate) fn synthesize_hints(&mut self, synthesize: impl Fn(Ipv4Addr) -> Vec<Ipv6Addr>) {
        let mut kept = Vec::new();
        for v4 in std::mem::take(&mut self.ipv4_hints) {
            let v6 = synthesize(v4);
            if v6.is_empty() {
                kept.push(v4);
            }
            for ip in v6 {
                if !self.ipv6_hints.contains(&ip) {
                    self.ipv6_hints.push(ip);
                }
            }
        }
        self.ipv4_hints = kept;
    }

    /// The `ipv4hint` addresses.
    pub fn ipv4_hints(&self) -> &[Ipv4Addr] {
        &self.ipv4_hints
    }

    /// The `ipv6hint` addresses.
    pub fn ipv6_hints(&self) -> &[Ipv6Addr] {
        &self.ipv6_hints
    }

    /// The `ech` ECHConfigList, if any.
    pub fn ech_config_list(&self) -> Option<&[u8]> {
        self.ech.as_deref()
    }

    /// Whether the service speaks one of `client`'s protocols (RFC 9460
    /// §7.1.2); see the module docs for a client without a list.
    fn suits(&self, client: Option<&[Vec<u8>]>) -> bool {
        let speaks = |p: &[u8]| {
            self.alpn.iter().any(|a| a == p) || (!self.no_default_alpn && p == b"http/1.1")
        };
        match client {
            Some(list) if !list.is_empty() => list.iter().any(|p| speaks(p)),
            // No ALPN of ours: skip only a QUIC-only service.
            _ => {
                !self.no_default_alpn
                    || self
                        .alpn
                        .iter()
                        .any(|a| !(a.as_slice() == b"h3" || a.starts_with(b"h3-")))
            }
        }
    }
}

impl fmt::Debug for ServiceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alpn: Vec<_> = self
            .alpn
            .iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect();
        f.debug_struct("ServiceRecord")
            .field("priority", &self.priority)
            .field("target", &self.target)
            .field("port", &self.port)
            .field("alpn", &alpn)
            .field("no_default_alpn", &self.no_default_alpn)
            .field("ipv4_hints", &self.ipv4_hints)
            .field("ipv6_hints", &self.ipv6_hints)
            .field("ech", &self.ech.as_ref().map(|e| e.len()))
            .finish()
    }
}

/// One item of a service-aware resolution
/// ([`Resolve::resolve_service`](super::Resolve::resolve_service)).
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use tokio_endpoints::{Resolved, ServiceRecord};
///
/// let ip: IpAddr = "127.0.0.1".parse().unwrap();
/// let items = vec![
///     Resolved::Services(vec![ServiceRecord::new(1, ".").with_port(8443)]),
///     Resolved::Addrs(vec![ip]),
/// ];
/// # drop(items);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolved {
    /// Addresses of the host (an A or AAAA answer).
    Addrs(Vec<IpAddr>),
    /// The host's HTTPS ServiceMode records, AliasMode already followed;
    /// empty when it has none.
    Services(Vec<ServiceRecord>),
    /// Addresses of a service's TargetName other than the host.
    TargetAddrs {
        /// The TargetName, as [`ServiceRecord::target`] gives it.
        target: String,
        /// Its addresses.
        addrs: Vec<IpAddr>,
    },
}

/// The stream [`Resolve::resolve_service`](super::Resolve::resolve_service)
/// returns.
pub type Resolution = BoxStream<'static, Result<Resolved, ResolveError>>;

/// The HTTPS query name for `host` and `port` (RFC 9460 §9.1).
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn query_name(host: &str, port: u16) -> String {
    let host = host.trim_end_matches('.');
    if port == 443 {
        host.to_string()
    } else {
        format!("_{port}._https.{host}")
    }
}

/// What the race does with one resolution item: addresses to add, and
/// hints, not yet tried, that leave the race.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) add: Vec<SocketAddr>,
    pub(crate) withdraw: Vec<SocketAddr>,
    /// How many addresses the resolver gave for this batch, usable or not
    /// (`add` keeps the usable ones): none usable at all is its own error.
    pub(crate) seen: usize,
    /// The addresses the address policy refused (the race reports them
    /// when no address is left).
    pub(crate) denied: Vec<DeniedAddress>,
}

impl From<Vec<SocketAddr>> for Batch {
    fn from(add: Vec<SocketAddr>) -> Batch {
        Batch {
            seen: add.len(),
            add,
            withdraw: Vec::new(),
            denied: Vec::new(),
        }
    }
}

/// The ECHConfigList of each address's service, shared between the
/// resolution and the TLS attempts.
#[derive(Clone, Debug, Default)]
pub(crate) struct EchMap(Arc<Mutex<HashMap<SocketAddr, Arc<[u8]>>>>);

impl EchMap {
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn get(&self, addr: SocketAddr) -> Option<Arc<[u8]>> {
        self.0.lock().ok()?.get(&addr).cloned()
    }

    fn insert(&self, addr: SocketAddr, ech: &Arc<[u8]>) {
        if let Ok(mut map) = self.0.lock() {
            map.entry(addr).or_insert_with(|| ech.clone());
        }
    }
}

/// What a connect call that uses HTTPS records needs: the client's ALPN
/// list, and where the ECH lists go.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceOptions {
    pub(crate) alpn: Option<Vec<Vec<u8>>>,
    pub(crate) ech: EchMap,
}

/// Who still offers an address whose hint an answer replaced.
enum Offer {
    /// Another target's answer: for good.
    Answer,
    /// Another target's hint: until that target answers.
    Hint(String),
}

/// Turns resolution items into the race's batches (see the module docs).
#[derive(Debug)]
pub(crate) struct Merger {
    port: u16,
    alpn: Option<Vec<Vec<u8>>>,
    ech: EchMap,
    /// The usable services, by priority.
    services: Vec<ServiceRecord>,
    /// Answers per target ("." for the host): addresses, and whether each
    /// family has answered.
    answers: HashMap<String, Vec<IpAddr>>,
    /// Hints handed to the race and not replaced: (address, target).
    hinted: Vec<(SocketAddr, String)>,
    emitted: HashSet<SocketAddr>,
}

impl Merger {
    pub(crate) fn new(port: u16, options: &ServiceOptions) -> Merger {
        Merger {
            port,
            alpn: options.alpn.clone(),
            ech: options.ech.clone(),
            services: Vec::new(),
            answers: HashMap::new(),
            hinted: Vec::new(),
            emitted: HashSet::new(),
        }
    }

    pub(crate) fn take(&mut self, item: Resolved) -> Batch {
        let mut batch = Batch::default();
        match item {
            Resolved::Services(records) => {
                let mut records: Vec<_> = records
                    .into_iter()
                    // Priority 0 is AliasMode, for resolvers to follow.
                    .filter(|r| r.priority != 0)
                    .filter(|r| {
                        let suits = r.suits(self.alpn.as_deref());
                        if !suits {
                            tracing::debug!(record = ?r, "service skipped: no ALPN in common");
                        }
                        suits
                    })
                    .collect();
                records.sort_by_key(|r| r.priority);
                self.services.extend(records.clone());
                for record in &records {
                    self.add_service(record, &mut batch);
                }
            }
            Resolved::Addrs(addrs) => self.answer(".".to_string(), addrs, &mut batch),
            Resolved::TargetAddrs { target, addrs } => {
                self.answer(super::name::normalize(&target), addrs, &mut batch)
            }
        }
        batch
    }

    /// A service's addresses: its target's answers where in, else hints.
    fn add_service(&mut self, record: &ServiceRecord, batch: &mut Batch) {
        let port = record.port.unwrap_or(self.port);
        let known = self
            .answers
            .get(&record.target)
            .cloned()
            .unwrap_or_default();
        let (has_v6, has_v4) = (
            known.iter().any(IpAddr::is_ipv6),
            known.iter().any(IpAddr::is_ipv4),
        );
        let hints = record
            .ipv6_hints
            .iter()
            .map(|ip| IpAddr::V6(*ip))
            .filter(|_| !has_v6)
            .chain(
                record
                    .ipv4_hints
                    .iter()
                    .map(|ip| IpAddr::V4(*ip))
                    .filter(|_| !has_v4),
            );
        for ip in hints {
            let addr = SocketAddr::new(ip, port);
            if self.push(addr, record, batch) {
                self.hinted.push((addr, record.target.clone()));
            }
        }
        for ip in known {
            self.push(SocketAddr::new(ip, port), record, batch);
        }
    }

    /// An A or AAAA answer for `target`: it replaces that family's hints.
    fn answer(&mut self, target: String, addrs: Vec<IpAddr>, batch: &mut Batch) {
        let families: Vec<bool> = addrs.iter().map(IpAddr::is_ipv6).collect();
        self.answers
            .entry(target.clone())
            .or_default()
            .extend(addrs.iter().copied());
        let records: Vec<ServiceRecord> = self
            .services
            .iter()
            .filter(|r| r.target == target)
            .cloned()
            .collect();
        if records.is_empty() {
            if target == "." {
                // No service at the host: its own addresses, its own port.
                for ip in addrs {
                    let addr = SocketAddr::new(ip, self.port);
                    if self.emitted.insert(addr) {
                        batch.add.push(addr);
                    }
                }
            }
            return;
        }
        let mut new = Vec::new();
        for record in &records {
            let port = record.port.unwrap_or(self.port);
            for ip in &addrs {
                let addr = SocketAddr::new(*ip, port);
                new.push(addr);
                self.push(addr, record, batch);
            }
        }
        let mut kept = Vec::new();
        for (addr, t) in std::mem::take(&mut self.hinted) {
            if t == target && families.contains(&addr.is_ipv6()) && !new.contains(&addr) {
                match self.offered_elsewhere(addr, &target) {
                    // Another record still offers it: it stays.
                    Some(Offer::Answer) => {}
                    Some(Offer::Hint(other)) => kept.push((addr, other)),
                    None => {
                        batch.withdraw.push(addr);
                        self.emitted.remove(&addr);
                    }
                }
            } else {
                kept.push((addr, t));
            }
        }
        self.hinted = kept;
    }

    /// Whether a service other than those of `target` still offers `addr`:
    /// its target's answer has it, or its hint does while its target has
    /// not answered for that family.
    fn offered_elsewhere(&self, addr: SocketAddr, target: &str) -> Option<Offer> {
        let mut hinted = None;
        for r in &self.services {
            if r.target == target || r.port.unwrap_or(self.port) != addr.port() {
                continue;
            }
            let answered = self.answers.get(&r.target);
            if answered.is_some_and(|a| a.contains(&addr.ip())) {
                return Some(Offer::Answer);
            }
            let family_answered =
                answered.is_some_and(|a| a.iter().any(|ip| ip.is_ipv6() == addr.is_ipv6()));
            let hint = match addr.ip() {
                IpAddr::V6(ip) => r.ipv6_hints.contains(&ip),
                IpAddr::V4(ip) => r.ipv4_hints.contains(&ip),
            };
            if hint && !family_answered && hinted.is_none() {
                hinted = Some(Offer::Hint(r.target.clone()));
            }
        }
        hinted
    }

    /// Hands `addr` to the race once; returns whether it was new.
    fn push(&mut self, addr: SocketAddr, record: &ServiceRecord, batch: &mut Batch) -> bool {
        if let Some(ech) = &record.ech {
            self.ech.insert(addr, ech);
        }
        let new = self.emitted.insert(addr);
        if new {
            batch.add.push(addr);
        }
        new
    }
}

/// One family's address answer.
pub(crate) type Answer = Result<Vec<IpAddr>, ResolveError>;

/// Runs the HTTPS, AAAA and A lookups side by side and streams their
/// answers as the module docs say. `https` yields the services first, then
/// the addresses of their targets. Generic over the lookups and the route
/// check, so that its timing is tested on fakes with paused time.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn streamed<U>(
    https: Option<Resolution>,
    v6: Option<BoxFuture<'static, Answer>>,
    v4: Option<BoxFuture<'static, Answer>>,
    delay: Duration,
    usable: U,
) -> Resolution
where
    U: Fn(&IpAddr) -> Option<IpAddr> + Send + Sync + 'static,
{
    let state = Triple {
        https_done: https.is_none(),
        v6_done: v6.is_none(),
        v4_done: v4.is_none(),
        v6_leads: true,
        v6_hinted: false,
        v6_negative: v6.is_none(),
        v4_negative: v4.is_none(),
        nxdomain: false,
        negative_at: None,
        https,
        v6,
        v4,
        held: Vec::new(),
        ready: VecDeque::new(),
        known_at: None,
        released: delay.is_zero(),
        delay,
        usable,
    };
    stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
    .boxed()
}

struct Triple<U> {
    https: Option<Resolution>,
    v6: Option<BoxFuture<'static, Answer>>,
    v4: Option<BoxFuture<'static, Answer>>,
    https_done: bool,
    v6_done: bool,
    v4_done: bool,
    /// Whether the AAAA answer ranks above IPv4 (RFC 6724 rules 1 and 6).
    v6_leads: bool,
    /// Whether a service record gave IPv6 hints, which count as an AAAA
    /// answer until it comes (draft §4.2.1).
    v6_hinted: bool,
    /// Whether the AAAA (A) query was not asked, or said the name does not
    /// exist or has no such records.
    v6_negative: bool,
    v4_negative: bool,
    /// Whether an address query said the name does not exist.
    nxdomain: bool,
    /// When every address query had said the name has no address.
    negative_at: Option<Instant>,
    /// Answers waiting, with their place in the release order.
    held: Vec<(u8, Resolved)>,
    ready: VecDeque<Result<Resolved, ResolveError>>,
    /// When the first address (answer or hint) came.
    known_at: Option<Instant>,
    /// Whether the race has started: later answers join it at once.
    released: bool,
    delay: Duration,
    usable: U,
}

impl<U: Fn(&IpAddr) -> Option<IpAddr>> Triple<U> {
    async fn next(&mut self) -> Option<Result<Resolved, ResolveError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.released && self.v6.is_none() && self.v4.is_none() && !self.https_done {
                // The addresses are all in and racing: an HTTPS answer that
                // has not come by now must not keep the call waiting (a
                // name server that drops type 65 queries would hold every
                // failure for its timeout).
                tracing::debug!("HTTPS answer abandoned");
                self.https = None;
                self.https_done = true;
            }
            if self.v6_negative && self.v4_negative && !self.https_done {
                // Every address query says the name has none. If it does
                // not exist (RFC 8020: nothing exists below it), an HTTPS
                // answer that has not come must not hold the failure; if it
                // exists without addresses, its HTTPS records may still
                // name a service elsewhere: they get the resolution delay.
                let now = Instant::now();
                let since = *self.negative_at.get_or_insert(now);
                if self.nxdomain || now >= later(since, self.delay) {
                    tracing::debug!("HTTPS answer abandoned: the name has no address");
                    self.https = None;
                    self.https_done = true;
                }
            }
            let all_done = self.https.is_none() && self.v6.is_none() && self.v4.is_none();
            if !self.released && !self.held.is_empty() && (all_done || self.may_start()) {
                self.release();
                continue;
            }
            if all_done {
                if self.held.is_empty() {
                    return None;
                }
                self.release();
                continue;
            }
            let until = self
                .known_at
                .filter(|_| !self.released)
                .map(|t| later(t, self.delay))
                .or_else(|| {
                    self.negative_at
                        .filter(|_| !self.https_done)
                        .map(|t| later(t, self.delay))
                });
            tokio::select! {
                item = async { self.https.as_mut().expect("guarded").next().await }, if self.https.is_some() => {
                    match item {
                        None => {
                            self.https = None;
                            self.https_done = true;
                        }
                        Some(Ok(item)) => {
                            self.https_done = true;
                            let rank = if matches!(item, Resolved::Services(_)) { 0 } else { 1 };
                            self.take(rank, item);
                        }
                        Some(Err(e)) => {
                            // Only the hints are lost.
                            tracing::debug!(error = %e, "HTTPS query failed");
                            self.https_done = true;
                        }
                    }
                }
                answer = async { self.v6.as_mut().expect("guarded").await }, if self.v6.is_some() => {
                    self.v6 = None;
                    self.v6_done = true;
                    self.address_answer(answer, true);
                }
                answer = async { self.v4.as_mut().expect("guarded").await }, if self.v4.is_some() => {
                    self.v4 = None;
                    self.v4_done = true;
                    self.address_answer(answer, false);
                }
                () = sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => {
                    tracing::debug!("resolution delay passed");
                    self.release();
                }
            }
        }
    }

    /// The draft's first condition set (§4.2): an address is known, the
    /// preferred family (IPv6, unless its answer ranks below IPv4) has
    /// answered, and the HTTPS answer is in.
    fn may_start(&self) -> bool {
        let preferred = (self.v6_done && (self.v6_leads || self.v4_done)) || self.v6_hinted;
        self.known_at.is_some() && preferred && self.https_done
    }

    fn address_answer(&mut self, answer: Answer, is_v6: bool) {
        match answer {
            Ok(mut ips) => {
                sort_destinations(&mut ips, &self.usable);
                if is_v6 {
                    self.v6_leads = ips.first().is_some_and(|ip| {
                        crate::shared::order::ranks_above_ipv4(ip, (self.usable)(ip))
                    });
                }
                let rank = match (is_v6, self.v6_leads) {
                    (true, true) => 2,
                    (false, _) => 3,
                    (true, false) => 4,
                };
                self.take(rank, Resolved::Addrs(ips));
            }
            // Errors are not held.
            Err(e) => {
                self.nxdomain |= e.kind() == ResolveErrorKind::NoSuchName;
                if matches!(
                    e.kind(),
                    ResolveErrorKind::NoSuchName | ResolveErrorKind::NoRecords
                ) {
                    if is_v6 {
                        self.v6_negative = true;
                    } else {
                        self.v4_negative = true;
                    }
                }
                self.ready.push_back(Err(e));
            }
        }
    }

    fn take(&mut self, rank: u8, item: Resolved) {
        let has_address = match &item {
            Resolved::Addrs(a) | Resolved::TargetAddrs { addrs: a, .. } => !a.is_empty(),
            Resolved::Services(s) => s
                .iter()
                .any(|r| !r.ipv4_hints.is_empty() || !r.ipv6_hints.is_empty()),
        };
        if let Resolved::Services(records) = &item {
            self.v6_hinted |= records.iter().any(|r| !r.ipv6_hints.is_empty());
        }
        if has_address && self.known_at.is_none() {
            self.known_at = Some(Instant::now());
        }
        if self.released {
            self.ready.push_back(Ok(item));
        } else {
            self.held.push((rank, item));
        }
    }

    fn release(&mut self) {
        self.released = true;
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|(rank, _)| *rank);
        self.ready
            .extend(held.into_iter().map(|(_, item)| Ok(item)));
    }
}

#[cfg(test)]
mod tests {
    //! The merging of records into the race's batches, and the timing of
    //! the three queries, on fakes and paused time.

    use super::*;
    use crate::resolve::ResolveErrorKind;

    fn ips(s: &str) -> Vec<IpAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    fn sa(s: &str) -> Vec<SocketAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    fn merger(alpn: Option<&[&str]>) -> Merger {
        let options = ServiceOptions {
            alpn: alpn.map(|l| l.iter().map(|p| p.as_bytes().to_vec()).collect()),
            ech: EchMap::default(),
        };
        Merger::new(443, &options)
    }

    fn batch(add: &str, withdraw: &str) -> Batch {
        Batch {
            add: sa(add),
            withdraw: sa(withdraw),
            seen: 0,
            denied: Vec::new(),
        }
    }

    #[test]
    fn the_query_name_follows_rfc_9460() {
        assert_eq!(query_name("example.com", 443), "example.com");
        assert_eq!(query_name("example.com.", 8443), "_8443._https.example.com");
    }

    #[test]
    fn without_records_the_host_addresses_keep_the_port() {
        let mut m = merger(None);
        assert_eq!(
            m.take(Resolved::Addrs(ips("::1 127.0.0.1"))),
            batch("[::1]:443 127.0.0.1:443", "")
        );
        assert_eq!(m.take(Resolved::Services(vec![])), batch("", ""));
    }

    #[test]
    fn hints_come_first_and_answers_replace_them() {
        let mut m = merger(None);
        let record = ServiceRecord::new(1, ".")
            .with_ipv4_hints(["192.0.2.1".parse().unwrap()])
            .with_ipv6_hints(["2001:db8::1".parse().unwrap()]);
        assert_eq!(
            m.take(Resolved::Services(vec![record])),
            batch("[2001:db8::1]:443 192.0.2.1:443", "")
        );
        // The A answer replaces the IPv4 hint, not the IPv6 one.
        assert_eq!(
            m.take(Resolved::Addrs(ips("192.0.2.7"))),
            batch("192.0.2.7:443", "192.0.2.1:443")
        );
        // An answer that repeats a hint keeps it, and adds nothing twice.
        assert_eq!(
            m.take(Resolved::Addrs(ips("2001:db8::1 2001:db8::2"))),
            batch("[2001:db8::2]:443", "")
        );
    }

    #[test]
    fn a_hint_two_records_offer_stays_until_both_targets_answer() {
        let mut m = merger(None);
        let shared: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let a = ServiceRecord::new(1, "a.example").with_ipv4_hints([shared]);
        let b = ServiceRecord::new(2, "b.example").with_ipv4_hints([shared]);
        assert_eq!(
            m.take(Resolved::Services(vec![a, b])),
            batch("192.0.2.1:443", "")
        );
        // a.example's answer replaces its hint, but b.example still offers it.
        let a_answer = Resolved::TargetAddrs {
            target: "a.example".into(),
            addrs: ips("192.0.2.9"),
        };
        assert_eq!(m.take(a_answer), batch("192.0.2.9:443", ""));
        // b.example's answer replaces the last offer: now it goes.
        let b_answer = Resolved::TargetAddrs {
            target: "b.example".into(),
            addrs: ips("192.0.2.7"),
        };
        assert_eq!(m.take(b_answer), batch("192.0.2.7:443", "192.0.2.1:443"));
    }

    #[test]
    fn a_hint_another_target_answered_with_is_never_withdrawn() {
        let mut m = merger(None);
        let shared: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let a = ServiceRecord::new(1, "a.example").with_ipv4_hints([shared]);
        let b = ServiceRecord::new(2, "b.example");
        assert_eq!(
            m.take(Resolved::Services(vec![a, b])),
            batch("192.0.2.1:443", "")
        );
        let b_answer = Resolved::TargetAddrs {
            target: "b.example".into(),
            addrs: ips("192.0.2.1"),
        };
        assert_eq!(m.take(b_answer), batch("", ""));
        let a_answer = Resolved::TargetAddrs {
            target: "a.example".into(),
            addrs: ips("192.0.2.9"),
        };
        assert_eq!(m.take(a_answer), batch("192.0.2.9:443", ""));
    }

    #[test]
    fn answers_in_before_the_record_beat_its_hints() {
        let mut m = merger(None);
        assert_eq!(
            m.take(Resolved::Addrs(ips("192.0.2.7"))),
            batch("192.0.2.7:443", "")
        );
        let record = ServiceRecord::new(1, ".")
            .with_port(8443)
            .with_ipv4_hints(["192.0.2.1".parse().unwrap()]);
        // The IPv4 answer is in: the hint is not used; the port is.
        assert_eq!(
            m.take(Resolved::Services(vec![record])),
            batch("192.0.2.7:8443", "")
        );
    }

    #[test]
    fn the_port_applies_to_the_service_addresses() {
        let mut m = merger(None);
        let record = ServiceRecord::new(1, ".").with_port(8443);
        assert_eq!(m.take(Resolved::Services(vec![record])), batch("", ""));
        assert_eq!(m.take(Resolved::Addrs(ips("::1"))), batch("[::1]:8443", ""));
    }

    #[test]
    fn services_go_in_priority_order() {
        let mut m = merger(None);
        let second =
            ServiceRecord::new(2, "b.example").with_ipv4_hints(["192.0.2.2".parse().unwrap()]);
        let first =
            ServiceRecord::new(1, "a.example").with_ipv4_hints(["192.0.2.1".parse().unwrap()]);
        assert_eq!(
            m.take(Resolved::Services(vec![second, first])),
            batch("192.0.2.1:443 192.0.2.2:443", "")
        );
        // A target's addresses replace its own hints only.
        assert_eq!(
            m.take(Resolved::TargetAddrs {
                target: "B.example.".into(),
                addrs: ips("192.0.2.9")
            }),
            batch("192.0.2.9:443", "192.0.2.2:443")
        );
        // The host's own addresses are not a service's: default port.
        assert_eq!(
            m.take(Resolved::Addrs(ips("192.0.2.5"))),
            batch("192.0.2.5:443", "")
        );
    }

    #[test]
    fn alias_mode_records_are_never_used_as_services() {
        let mut m = merger(None);
        let alias =
            ServiceRecord::new(0, "other.example").with_ipv4_hints(["192.0.2.1".parse().unwrap()]);
        assert_eq!(m.take(Resolved::Services(vec![alias])), batch("", ""));
        assert_eq!(
            m.take(Resolved::Addrs(ips("192.0.2.7"))),
            batch("192.0.2.7:443", "")
        );
    }

    #[test]
    fn alpn_mismatches_are_skipped() {
        let h2_only = ServiceRecord::new(1, ".")
            .with_alpn(["h2"])
            .with_no_default_alpn()
            .with_ipv4_hints(["192.0.2.1".parse().unwrap()]);
        let h3_only = ServiceRecord::new(1, ".")
            .with_alpn(["h3"])
            .with_no_default_alpn()
            .with_ipv4_hints(["192.0.2.3".parse().unwrap()]);
        let default = ServiceRecord::new(2, ".").with_ipv4_hints(["192.0.2.2".parse().unwrap()]);
        let all = vec![h2_only.clone(), h3_only.clone(), default.clone()];
        // http/1.1 only: the default ALPN of the third record fits.
        let mut m = merger(Some(&["http/1.1"]));
        assert_eq!(
            m.take(Resolved::Services(all.clone())),
            batch("192.0.2.2:443", "")
        );
        // h2: the first fits, and the third (http/1.1 by default) does not.
        let mut m = merger(Some(&["h2"]));
        assert_eq!(
            m.take(Resolved::Services(all.clone())),
            batch("192.0.2.1:443", "")
        );
        // No client ALPN: only the QUIC-only service is skipped.
        let mut m = merger(None);
        assert_eq!(
            m.take(Resolved::Services(all)),
            batch("192.0.2.1:443 192.0.2.2:443", "")
        );
        assert!(h2_only.suits(None) && !h3_only.suits(None) && default.suits(None));
    }

    #[test]
    fn ech_lists_follow_their_addresses() {
        let options = ServiceOptions::default();
        let mut m = Merger::new(443, &options);
        let record = ServiceRecord::new(1, ".")
            .with_ech(vec![1, 2, 3])
            .with_ipv4_hints(["192.0.2.1".parse().unwrap()]);
        m.take(Resolved::Services(vec![record]));
        m.take(Resolved::Addrs(ips("192.0.2.7")));
        let got = |a: &str| options.ech.get(a.parse().unwrap());
        assert_eq!(got("192.0.2.1:443").as_deref(), Some(&[1, 2, 3][..]));
        assert_eq!(got("192.0.2.7:443").as_deref(), Some(&[1, 2, 3][..]));
        assert_eq!(got("192.0.2.9:443"), None);
    }

    // The timing of the three queries.

    type Item = (u64, Result<Resolved, ResolveErrorKind>);

    fn after(ms: u64, answer: Answer) -> Option<BoxFuture<'static, Answer>> {
        Some(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer
        }))
    }

    /// An HTTPS query answering `services` after `ms`, or timing out after
    /// a second.
    fn https(
        ms: Option<u64>,
        services: Result<Vec<ServiceRecord>, ResolveErrorKind>,
    ) -> Option<Resolution> {
        Some(
            stream::once(async move {
                let services = match ms {
                    Some(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        services
                    }
                    None => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Err(ResolveErrorKind::TimedOut)
                    }
                };
                services
                    .map(Resolved::Services)
                    .map_err(|k| ResolveError::new("h.test", k))
            })
            .boxed(),
        )
    }

    async fn run(
        https: Option<Resolution>,
        v6: Option<BoxFuture<'static, Answer>>,
        v4: Option<BoxFuture<'static, Answer>>,
    ) -> Vec<Item> {
        let t0 = Instant::now();
        streamed(https, v6, v4, Duration::from_millis(50), |ip: &IpAddr| {
            Some(*ip)
        })
        .map(|item| {
            (
                (Instant::now() - t0).as_millis() as u64,
                item.map_err(|e| e.kind()),
            )
        })
        .collect()
        .await
    }

    fn hinted() -> ServiceRecord {
        ServiceRecord::new(1, ".").with_ipv4_hints(["127.0.0.1".parse().unwrap()])
    }

    #[tokio::test(start_paused = true)]
    async fn hints_start_the_race_a_delay_after_they_come() {
        // HTTPS with a hint at once, AAAA and A 300 ms late: the hint is
        // handed over when the resolution delay passes, not at 300.
        let got = run(
            https(Some(0), Ok(vec![hinted()])),
            after(300, Ok(ips("::1"))),
            after(300, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(got[0], (50, Ok(Resolved::Services(vec![hinted()]))));
        assert_eq!(
            got[1..].iter().map(|i| i.0).collect::<Vec<_>>(),
            vec![300, 300]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_hints_count_as_the_aaaa_answer() {
        // An IPv6 hint stands for the preferred family's answer: the race
        // starts when the record comes.
        let record = ServiceRecord::new(1, ".").with_ipv6_hints(["::1".parse().unwrap()]);
        let got = run(
            https(Some(5), Ok(vec![record.clone()])),
            after(300, Ok(ips("::1"))),
            after(300, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(got[0], (5, Ok(Resolved::Services(vec![record]))));
    }

    #[tokio::test(start_paused = true)]
    async fn everything_in_goes_at_once() {
        let got = run(
            https(Some(5), Ok(vec![hinted()])),
            after(10, Ok(ips("::1"))),
            after(1, Ok(ips("127.0.0.1"))),
        )
        .await;
        // At 10 every answer is in: services, then IPv6, then IPv4.
        assert_eq!(
            got,
            vec![
                (10, Ok(Resolved::Services(vec![hinted()]))),
                (10, Ok(Resolved::Addrs(ips("::1")))),
                (10, Ok(Resolved::Addrs(ips("127.0.0.1")))),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_https_query_costs_the_resolution_delay() {
        let got = run(
            https(None, Ok(vec![])),
            after(10, Ok(ips("::1"))),
            after(10, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(
            got,
            vec![
                (60, Ok(Resolved::Addrs(ips("::1")))),
                (60, Ok(Resolved::Addrs(ips("127.0.0.1")))),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_https_query_loses_nothing_but_the_hints() {
        let got = run(
            https(Some(5), Err(ResolveErrorKind::ServerFailure)),
            after(10, Ok(ips("::1"))),
            after(20, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(
            got,
            vec![
                (10, Ok(Resolved::Addrs(ips("::1")))),
                (20, Ok(Resolved::Addrs(ips("127.0.0.1")))),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_still_waits_for_aaaa_and_https() {
        let got = run(
            https(Some(30), Ok(vec![])),
            after(40, Ok(ips("::1"))),
            after(10, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(
            got,
            vec![
                (40, Ok(Resolved::Services(vec![]))),
                (40, Ok(Resolved::Addrs(ips("::1")))),
                (40, Ok(Resolved::Addrs(ips("127.0.0.1")))),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn late_answers_join_at_once_and_errors_are_not_held() {
        let got = run(
            https(Some(200), Ok(vec![hinted()])),
            after(
                300,
                Err(ResolveError::new("h.test", ResolveErrorKind::NoRecords)),
            ),
            after(10, Ok(ips("127.0.0.1"))),
        )
        .await;
        assert_eq!(
            got,
            vec![
                (60, Ok(Resolved::Addrs(ips("127.0.0.1")))),
                (200, Ok(Resolved::Services(vec![hinted()]))),
                (300, Err(ResolveErrorKind::NoRecords)),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_https_answer_later_than_every_address_is_abandoned() {
        let got = run(
            https(Some(200), Ok(vec![hinted()])),
            after(
                5,
                Err(ResolveError::new("h.test", ResolveErrorKind::NoRecords)),
            ),
            after(10, Ok(ips("127.0.0.1"))),
        )
        .await;
        // Both address answers are in at 10 and handed over at 60: the
        // stream ends then, without waiting for the HTTPS answer.
        assert_eq!(
            got,
            vec![
                (5, Err(ResolveErrorKind::NoRecords)),
                (60, Ok(Resolved::Addrs(ips("127.0.0.1")))),
            ]
        );
    }
}
