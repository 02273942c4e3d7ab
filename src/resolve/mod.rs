//! Who turns a host name into addresses.
//!
//! Resolution is a stream of address batches, so a resolver that asks for
//! AAAA and A records at once can hand each answer to the race as it arrives
//! (RFC 8305 §3). A resolver that answers once (getaddrinfo) yields one batch.
//!
//! Host names are validated before any resolver is called, and a literal IP
//! address never reaches one.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use futures_util::stream::{self, BoxStream, StreamExt};

use crate::Family;

#[cfg(feature = "hickory")]
mod cached;
#[cfg(feature = "hickory")]
mod hickory;
pub(crate) mod svcb;
mod system;

#[cfg(feature = "hickory")]
pub use hickory::{HickoryResolver, DEFAULT_RESOLUTION_DELAY};
pub use svcb::{Resolution, Resolved, ServiceRecord, MAX_ALIAS_DEPTH};
pub use system::SystemResolver;

/// The stream a [`Resolve`] implementation returns: batches of addresses as
/// they arrive, and errors for the queries that failed. The stream ends when
/// resolution is complete.
pub type Addrs = BoxStream<'static, Result<Vec<IpAddr>, ResolveError>>;

/// Resolves host names to IP addresses.
///
/// Implement it to plug in your own resolution (a service registry, a test
/// double); most users pick one of the [`Resolver`] constructors instead.
/// `host` has been validated (see [`IntoTarget`](crate::IntoTarget)) and is
/// never an IP literal. `family` is what the caller asked for; returning
/// addresses of the other family is allowed (they are filtered out) but
/// wasteful.
///
/// # Panics
///
/// A panic in [`resolve`](Self::resolve) or
/// [`resolve_service`](Self::resolve_service), or while the returned stream
/// is polled, is not caught: it propagates out of the poll of the connect
/// (or bind) future that called it, as a panic in any polled future does
/// (in a spawned task, its `JoinHandle` returns a `JoinError` whose
/// `is_panic()` is true). The sockets that call opened (attempts already in
/// flight) are closed as the future is dropped, and nothing of the crate's
/// is poisoned: the same [`Resolver`], connector and builder options work
/// for later calls (a resolver's own state is its own to keep sound).
///
/// # Examples
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use futures_util::stream::{self, StreamExt};
/// use tokio_endpoints::{Addrs, ConnectionBuilder, Family, Resolve};
///
/// #[derive(Debug)]
/// struct Registry;
///
/// impl Resolve for Registry {
///     fn resolve(&self, _host: &str, _family: Family) -> Addrs {
///         stream::iter([Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])]).boxed()
///     }
/// }
///
/// let builder = ConnectionBuilder::new("db.internal:5432").resolver(Registry);
/// # drop(builder);
/// ```
pub trait Resolve: fmt::Debug + Send + Sync + 'static {
    /// Starts resolving `host`. Dropping the stream cancels the resolution.
    fn resolve(&self, host: &str, family: Family) -> Addrs;

    /// Starts resolving `host` for a connection to `port`, with its HTTPS
    /// service records (RFC 9460): the stream yields the host's address
    /// answers ([`Resolved::Addrs`]), its service records
    /// ([`Resolved::Services`], AliasMode followed), and the addresses of
    /// their other target names ([`Resolved::TargetAddrs`]), each as it
    /// arrives. [`connect_tls`](crate::ConnectionBuilder::connect_tls) calls
    /// this (and [`connect`](crate::ConnectionBuilder::connect) with
    /// [`svcb(true)`](crate::ConnectionBuilder::svcb)).
    ///
    /// The default knows no records: it yields [`resolve`](Self::resolve)'s
    /// batches as [`Resolved::Addrs`], so a resolver that knows only
    /// addresses keeps working.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use futures_util::stream::{self, StreamExt};
    /// use tokio_endpoints::{Addrs, Family, Resolution, Resolve, Resolved, ServiceRecord};
    ///
    /// #[derive(Debug)]
    /// struct Registry;
    ///
    /// impl Resolve for Registry {
    ///     fn resolve(&self, _host: &str, _family: Family) -> Addrs {
    ///         stream::iter([Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])]).boxed()
    ///     }
    ///
    ///     fn resolve_service(&self, host: &str, _port: u16, family: Family) -> Resolution {
    ///         let service = ServiceRecord::new(1, ".").with_port(8443).with_alpn(["h2"]);
    ///         stream::iter([Ok(Resolved::Services(vec![service]))])
    ///             .chain(self.resolve(host, family).map(|b| b.map(Resolved::Addrs)))
    ///             .boxed()
    ///     }
    /// }
    /// # drop(Registry);
    /// ```
    fn resolve_service(&self, host: &str, port: u16, family: Family) -> Resolution {
        let _ = port;
        self.resolve(host, family)
            .map(|batch| batch.map(Resolved::Addrs))
            .boxed()
    }
}

/// A cloneable handle to a resolver; clones share it (and its cache, where
/// it has one).
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ConnectionBuilder, Resolver};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let resolver = Resolver::system();
/// let a = ConnectionBuilder::new("example.com:80").resolver(resolver.clone()).connect().await?;
/// let b = ConnectionBuilder::new("example.org:80").resolver(resolver).connect().await?;
/// println!("{:?} {:?}", a.peer_addr()?, b.peer_addr()?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Resolver {
    inner: Arc<dyn Resolve>,
}

impl Resolver {
    /// Wraps any [`Resolve`] implementation. A `Resolver` given here is
    /// returned as it is (a clone shares its resolver), not wrapped again.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Resolver;
    ///
    /// let shared = Resolver::fixed([("db.internal", ["127.0.0.1".parse().unwrap()])]);
    /// let same = Resolver::new(shared.clone());
    /// # drop(same);
    /// ```
    pub fn new(resolver: impl Resolve) -> Resolver {
        // `builder.resolver(shared.clone())` is the usual call: unwrap it
        // rather than put one `Arc` inside another on every connect.
        let mut slot = Some(resolver);
        if let Some(resolver) = (&mut slot as &mut dyn std::any::Any)
            .downcast_mut::<Option<Resolver>>()
            .and_then(Option::take)
        {
            return resolver;
        }
        Resolver {
            inner: Arc::new(slot.expect("taken only when it is a Resolver")),
        }
    }

    /// The operating system's resolver: `getaddrinfo(3)` on Tokio's blocking
    /// thread pool, as [`tokio::net::lookup_host`] does. It honours
    /// nsswitch (hosts file, mDNS, LDAP, ...), and answers once both
    /// families are in.
    ///
    /// `getaddrinfo` cannot be cancelled: when the connect future is
    /// dropped, the blocking thread finishes the lookup and its answer is
    /// thrown away. It holds no socket of ours.
    pub fn system() -> Resolver {
        Resolver::new(SystemResolver::default())
    }

    /// A fixed table of names and their addresses, for tests and for
    /// deployments that pin addresses. Names match case-insensitively and
    /// without a trailing dot; a name not in the table fails with
    /// [`ResolveErrorKind::NoSuchName`]. Each name answers with one batch,
    /// in the order given.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use tokio_endpoints::{ConnectionBuilder, Resolver};
    ///
    /// let v6: IpAddr = "::1".parse().unwrap();
    /// let v4: IpAddr = "127.0.0.1".parse().unwrap();
    /// let resolver = Resolver::fixed([("db.internal", vec![v6, v4])]);
    /// let builder = ConnectionBuilder::new("db.internal:5432").resolver(resolver);
    /// # drop(builder);
    /// ```
    pub fn fixed<N, A>(entries: impl IntoIterator<Item = (N, A)>) -> Resolver
    where
        N: AsRef<str>,
        A: IntoIterator<Item = IpAddr>,
    {
        let table = entries
            .into_iter()
            .map(|(name, addrs)| (normalize(name.as_ref()), addrs.into_iter().collect()))
            .collect();
        Resolver::new(FixedResolver {
            table,
            services: HashMap::new(),
        })
    }

    /// [`Resolver::fixed`] with HTTPS service records too: for each name,
    /// its ServiceMode records, handed over before its addresses by
    /// [`Resolve::resolve_service`]. A record whose target is another name
    /// gets that name's addresses from the table as
    /// [`Resolved::TargetAddrs`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tokio_endpoints::{ConnectionBuilder, Resolver, ServiceRecord};
    ///
    /// let v4: IpAddr = "192.0.2.1".parse().unwrap();
    /// let service = ServiceRecord::new(1, ".")
    ///     .with_port(8443)
    ///     .with_ipv4_hints([Ipv4Addr::new(192, 0, 2, 1)]);
    /// let resolver = Resolver::fixed_with_services(
    ///     [("api.internal", vec![v4])],
    ///     [("api.internal", vec![service])],
    /// );
    /// let builder = ConnectionBuilder::new("api.internal:443").resolver(resolver);
    /// # drop(builder);
    /// ```
    pub fn fixed_with_services<N, A, M, R>(
        entries: impl IntoIterator<Item = (N, A)>,
        services: impl IntoIterator<Item = (M, R)>,
    ) -> Resolver
    where
        N: AsRef<str>,
        A: IntoIterator<Item = IpAddr>,
        M: AsRef<str>,
        R: IntoIterator<Item = ServiceRecord>,
    {
        let table = entries
            .into_iter()
            .map(|(name, addrs)| (normalize(name.as_ref()), addrs.into_iter().collect()))
            .collect();
        let services = services
            .into_iter()
            .map(|(name, records)| (normalize(name.as_ref()), records.into_iter().collect()))
            .collect();
        Resolver::new(FixedResolver { table, services })
    }
}

impl Default for Resolver {
    /// The crate's default resolver, one per process: every call returns a
    /// clone of the same resolver, so every [`ConnectionBuilder`](crate::ConnectionBuilder)
    /// and [`Connector`](crate::Connector) without a
    /// [`resolver`](crate::ConnectionBuilder::resolver) shares its cache.
    ///
    /// With the `hickory` feature (on by default) it is
    /// [`HickoryResolver::system`]: the streaming DNS resolver on the
    /// system's configuration, read at first use (a missing configuration
    /// fails that resolution, never this call), with a cache that keeps
    /// answers for their TTL (negative answers for the SOA minimum) and
    /// works across Tokio runtimes. The configuration files
    /// (`/etc/resolv.conf`, `/etc/hosts`) are checked for changes at most
    /// every 5 seconds, and read again (the cache flushed) when they changed.
    ///
    /// Without the `hickory` feature it is [`Resolver::system`]
    /// (`getaddrinfo`, which keeps nothing itself).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::ConnectionBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// // The second call finds the answer of the first in the shared cache.
    /// let a = ConnectionBuilder::new("example.com:80").connect().await?;
    /// let b = ConnectionBuilder::new("example.com:80").connect().await?;
    /// # Ok(()) }
    /// ```
    fn default() -> Resolver {
        static DEFAULT: OnceLock<Resolver> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                #[cfg(feature = "hickory")]
                {
                    Resolver::hickory()
                }
                #[cfg(not(feature = "hickory"))]
                {
                    Resolver::system()
                }
            })
            .clone()
    }
}

impl Resolve for Resolver {
    fn resolve(&self, host: &str, family: Family) -> Addrs {
        self.inner.resolve(host, family)
    }

    fn resolve_service(&self, host: &str, port: u16, family: Family) -> Resolution {
        self.inner.resolve_service(host, port, family)
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The entry of `name` in a table of normalised names, matched as
/// [`normalize`] would: a short table (most are a few names) is scanned,
/// which is cheaper than hashing the name; a longer one is looked up by
/// hash, with the name normalised only when it is not already.
fn lookup<'a, V>(table: &'a HashMap<String, V>, name: &str) -> Option<&'a V> {
    let trimmed = name.trim_end_matches('.');
    if table.len() <= 8 {
        // Equal bytes first: a target's host is already normalised.
        return table
            .iter()
            .find(|(key, _)| **key == *trimmed || key.eq_ignore_ascii_case(trimmed))
            .map(|(_, value)| value);
    }
    if trimmed.len() == name.len() && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        table.get(name)
    } else {
        table.get(&normalize(name))
    }
}

#[derive(Debug)]
struct FixedResolver {
    table: HashMap<String, Vec<IpAddr>>,
    services: HashMap<String, Vec<ServiceRecord>>,
}

impl Resolve for FixedResolver {
    fn resolve_service(&self, host: &str, port: u16, family: Family) -> Resolution {
        let Some(records) = lookup(&self.services, host) else {
            return self
                .resolve(host, family)
                .map(|batch| batch.map(Resolved::Addrs))
                .boxed();
        };
        let _ = port;
        let mut items = vec![Ok(Resolved::Services(records.clone()))];
        let mut targets: Vec<&str> = Vec::new();
        for r in records {
            if !r.is_for_owner() && !targets.contains(&r.target()) {
                targets.push(r.target());
            }
        }
        for target in targets {
            if let Some(addrs) = self.table.get(target) {
                items.push(Ok(Resolved::TargetAddrs {
                    target: target.to_string(),
                    addrs: addrs.clone(),
                }));
            }
        }
        let _ = family;
        items.push(self.answer(host).map(Resolved::Addrs));
        stream::iter(items).boxed()
    }

    fn resolve(&self, host: &str, _family: Family) -> Addrs {
        stream::iter([self.answer(host)]).boxed()
    }
}

impl FixedResolver {
    fn answer(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        match lookup(&self.table, host) {
            Some(addrs) if addrs.is_empty() => {
                Err(ResolveError::new(host, ResolveErrorKind::NoRecords))
            }
            Some(addrs) => Ok(addrs.clone()),
            None => Err(ResolveError::new(host, ResolveErrorKind::NoSuchName)),
        }
    }
}

/// What went wrong in a resolution.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ResolveError, ResolveErrorKind};
///
/// let e = ResolveError::new("nope.example", ResolveErrorKind::NoSuchName);
/// assert_eq!(e.to_string(), "nope.example: no such name");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResolveErrorKind {
    /// The name does not exist (NXDOMAIN; getaddrinfo's `EAI_NONAME`).
    NoSuchName,
    /// The name exists but has no address records of the asked family.
    NoRecords,
    /// The name server failed to answer (SERVFAIL, REFUSED).
    ServerFailure,
    /// No answer came in time.
    TimedOut,
    /// Any other failure; see [`ResolveError::source`](StdError::source).
    Other,
}

impl ResolveErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ResolveErrorKind::NoSuchName => "no such name",
            ResolveErrorKind::NoRecords => "no address records",
            ResolveErrorKind::ServerFailure => "name server failure",
            ResolveErrorKind::TimedOut => "no answer in time",
            ResolveErrorKind::Other => "resolution failed",
        }
    }
}

/// A failed resolution: the host name, the kind of failure, the query it
/// ended (`AAAA`, `A`, `HTTPS`) where known, and its cause.
///
/// `Display` reads `host: what happened`, in plain words: `nope.test: no
/// such name (NXDOMAIN)`, `h.test: no AAAA records`, `h.test: A query: DNS
/// server 127.0.0.1:53 did not answer within 5 s`. The resolver's own error
/// (hickory's, getaddrinfo's) stays behind [`source`](StdError::source).
///
/// # Examples
///
/// ```
/// use std::io;
/// use tokio_endpoints::{ResolveError, ResolveErrorKind};
///
/// let cause = io::Error::new(io::ErrorKind::Other, "SERVFAIL from 127.0.0.1:53");
/// let e = ResolveError::new("example.com", ResolveErrorKind::ServerFailure).with_source(cause);
/// assert_eq!(e.kind(), ResolveErrorKind::ServerFailure);
/// assert_eq!(e.to_string(), "example.com: name server failure: SERVFAIL from 127.0.0.1:53");
///
/// let e = ResolveError::new("example.com", ResolveErrorKind::NoRecords).with_query("AAAA");
/// assert_eq!(e.to_string(), "example.com: no AAAA records");
/// ```
#[derive(Debug)]
pub struct ResolveError {
    host: String,
    kind: ResolveErrorKind,
    query: Option<String>,
    /// What happened, in plain words, said instead of the kind's phrase
    /// and the source's message.
    reason: Option<String>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ResolveError {
    /// A resolution error for `host`.
    pub fn new(host: impl Into<String>, kind: ResolveErrorKind) -> ResolveError {
        ResolveError {
            host: host.into(),
            kind,
            query: None,
            reason: None,
            source: None,
        }
    }

    /// Attaches the underlying cause. Unless a reason was given
    /// ([`with_reason`](Self::with_reason)), its message ends this error's.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> ResolveError {
        self.source = Some(source.into());
        self
    }

    /// Names the query that failed: a DNS record type such as `"AAAA"`,
    /// `"A"` or `"HTTPS"`. An error message then names it where the
    /// queries for one name ended differently.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::TimedOut).with_query("A");
    /// assert_eq!(e.query(), Some("A"));
    /// assert_eq!(e.to_string(), "h.test: A query: no answer in time");
    /// ```
    #[must_use]
    pub fn with_query(mut self, query: impl Into<String>) -> ResolveError {
        self.query = Some(query.into());
        self
    }

    /// Says what happened in plain words, instead of the kind's phrase and
    /// the source's message (the source stays behind
    /// [`source`](StdError::source)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::ServerFailure)
    ///     .with_reason("server failure (SERVFAIL) from 127.0.0.1:5300");
    /// assert_eq!(e.to_string(), "h.test: server failure (SERVFAIL) from 127.0.0.1:5300");
    /// ```
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> ResolveError {
        self.reason = Some(reason.into());
        self
    }

    /// The host name that failed to resolve.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> ResolveErrorKind {
        self.kind
    }

    /// The query that failed (`"AAAA"`, `"A"`, `"HTTPS"`), where known.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::NoRecords).with_query("AAAA");
    /// assert_eq!(e.query(), Some("AAAA"));
    /// assert_eq!(ResolveError::new("h.test", ResolveErrorKind::Other).query(), None);
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self.kind {
            ResolveErrorKind::NoSuchName | ResolveErrorKind::NoRecords => io::ErrorKind::NotFound,
            ResolveErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ResolveErrorKind::ServerFailure | ResolveErrorKind::Other => io::ErrorKind::Other,
        }
    }

    /// What happened, without the host and without the query's name
    /// (`no records` for a query without records).
    fn bare_reason(&self) -> String {
        if let Some(reason) = &self.reason {
            return reason.clone();
        }
        if self.kind == ResolveErrorKind::NoRecords && self.query.is_some() {
            return "no records".to_string();
        }
        match &self.source {
            Some(source) => format!("{}: {source}", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }

    /// What happened, without the host: the query is named where it is
    /// known (`no AAAA records`, `A query: ...`).
    fn reason_with_query(&self) -> String {
        match &self.query {
            Some(q) if self.kind == ResolveErrorKind::NoRecords && self.reason.is_none() => {
                format!("no {q} records")
            }
            // A name that does not exist does not exist for every query.
            Some(q) if self.kind != ResolveErrorKind::NoSuchName => {
                format!("{q} query: {}", self.bare_reason())
            }
            _ => self.bare_reason(),
        }
    }

    /// The errors of one host's queries as one phrase: said once where
    /// they agree (`no such name (NXDOMAIN)`, `no A or AAAA records`),
    /// each named where they differ (`AAAA: no records; A: ...`).
    pub(crate) fn write_reasons(
        f: &mut fmt::Formatter<'_>,
        errors: &[&ResolveError],
    ) -> fmt::Result {
        let Some(first) = errors.first() else {
            return Ok(());
        };
        if errors.len() == 1 {
            return f.write_str(&first.reason_with_query());
        }
        let same = errors
            .iter()
            .all(|e| e.kind == first.kind && e.bare_reason() == first.bare_reason());
        if same {
            if first.kind == ResolveErrorKind::NoRecords && first.reason.is_none() {
                let mut queries: Vec<&str> = errors.iter().filter_map(|e| e.query()).collect();
                queries.sort_unstable();
                queries.dedup();
                if !queries.is_empty() {
                    return write!(f, "no {} records", queries.join(" or "));
                }
            }
            return f.write_str(&first.bare_reason());
        }
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &e.query {
                Some(q) => write!(f, "{q}: {}", e.bare_reason())?,
                None => f.write_str(&e.bare_reason())?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.reason_with_query())
    }
}

impl StdError for ResolveError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolver_given_to_new_is_not_wrapped_again() {
        let shared = Resolver::fixed([("a.test", [IpAddr::from([127, 0, 0, 1])])]);
        let same = Resolver::new(shared.clone());
        assert!(Arc::ptr_eq(&shared.inner, &same.inner));
    }

    #[test]
    fn the_default_resolver_is_one_per_process() {
        let a = Resolver::default();
        let b = Resolver::default();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
    }

    #[tokio::test]
    async fn fixed_resolver_matches_names_case_insensitively() {
        let ip: IpAddr = "::1".parse().unwrap();
        let r = Resolver::fixed([("Db.Internal.", vec![ip]), ("empty", vec![])]);
        let got: Vec<_> = r.resolve("db.internal", Family::Any).collect().await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap(), &vec![ip]);
        let got: Vec<_> = r.resolve("other", Family::Any).collect().await;
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            ResolveErrorKind::NoSuchName
        );
        let got: Vec<_> = r.resolve("empty", Family::Any).collect().await;
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            ResolveErrorKind::NoRecords
        );
    }

    /// Short tables are scanned, long ones hashed: both match the same
    /// names (any case, trailing dots or none) and no others.
    #[tokio::test]
    async fn fixed_tables_match_alike_whatever_their_size() {
        let ip = |i: u8| IpAddr::from([10, 0, 0, i]);
        for size in [1u8, 8, 9, 40] {
            let r = Resolver::fixed((0..size).map(|i| (format!("Host{i}.Test."), vec![ip(i)])));
            let last = size - 1;
            for name in [
                format!("host{last}.test"),
                format!("HOST{last}.TEST"),
                format!("host{last}.test."),
                format!("Host{last}.Test.."),
            ] {
                let got: Vec<_> = r.resolve(&name, Family::Any).collect().await;
                assert_eq!(
                    got[0].as_ref().unwrap(),
                    &vec![ip(last)],
                    "{size} names: {name}"
                );
            }
            for name in [
                format!("host{size}.test"),
                "host0.tes".into(),
                "ost0.test".into(),
            ] {
                let got: Vec<_> = r.resolve(&name, Family::Any).collect().await;
                let kind = got[0].as_ref().unwrap_err().kind();
                assert_eq!(kind, ResolveErrorKind::NoSuchName, "{size} names: {name}");
            }
        }
    }
}
