//! [`Resolver`]: the cloneable handle the builders hold, which resolver is
//! the default (hickory, or getaddrinfo without the `hickory` feature), and
//! the fixed tables of [`Resolver::fixed`]. The resolvers themselves live
//! beside it (`hickory`, `system`); this module only picks and wraps.

use std::collections::HashMap;
#[cfg(feature = "hickory")]
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use futures_util::stream::{self, StreamExt};

use super::api::{Addrs, Resolve};
use super::error::{ResolveError, ResolveErrorKind};
#[cfg(feature = "hickory")]
use super::hickory::HickoryResolver;
use super::name::normalize;
use super::svcb::{Resolution, Resolved, ServiceRecord};
use super::system::SystemResolver;
use crate::Family;
#[cfg(feature = "hickory")]
use hickory_resolver::config::{ResolverConfig, ResolverOpts};

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
    /// One pointer, not an `Arc<dyn Resolve>` (two): every builder, and
    /// so every connect future, holds a `Resolver`, and Tokio copies a
    /// task's future several times (a connect future over 256 bytes is
    /// copied by a slower `memcpy`). A resolver other than a fixed table
    /// is boxed inside: one more load per resolution.
    inner: Arc<Inner>,
}

/// What a [`Resolver`] shares: a fixed table as it is (so that a connect
/// can take its answer without the stream, see
/// [`Resolver::answer_now`]), any other resolver boxed.
enum Inner {
    Fixed(FixedResolver),
    Other(Box<dyn Resolve>),
}

impl Inner {
    fn get(&self) -> &dyn Resolve {
        match self {
            Inner::Fixed(fixed) => fixed,
            Inner::Other(other) => &**other,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
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
            inner: Arc::new(Inner::Other(Box::new(
                slot.expect("taken only when it is a Resolver"),
            ))),
        }
    }

    /// Who this resolver is, for the connection history's key: its shared
    /// allocation (clones are one resolver). Even, never 0.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// The answer for `host` when this resolver has it without a stream (a
    /// fixed table: its one batch); `None` for any other resolver, which
    /// [`resolve`](Resolve::resolve) asks. A connect takes the answer this
    /// way, without boxing a stream and polling it.
    pub(crate) fn answer_now(&self, host: &str) -> Option<Result<Vec<IpAddr>, ResolveError>> {
        match &*self.inner {
            Inner::Fixed(fixed) => Some(fixed.answer(host)),
            Inner::Other(_) => None,
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
        Resolver::fixed_table(FixedResolver {
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
        Resolver::fixed_table(FixedResolver { table, services })
    }
}

impl Resolver {
    /// Asks this resolver for the AAAA records of `ipv4only.arpa` and
    /// returns the NAT64 prefixes they show (RFC 7050): on a network with
    /// DNS64, the prefix its NAT64 gateway uses (the well-known
    /// `64:ff9b::/96` or a network-specific one); elsewhere none.
    ///
    /// Connections do this themselves when they need it (an IPv4 address
    /// to reach on an IPv6-only network), once per network; this is for
    /// looking, logging or synthesizing addresses yourself.
    ///
    /// # Errors
    ///
    /// The query failed without saying the name has no AAAA records (a
    /// timeout, a server failure). "No records" and "no such name" mean no
    /// DNS64, and give an empty list.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Resolver;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), tokio_endpoints::ResolveError> {
    /// for prefix in Resolver::default().nat64_prefixes().await? {
    ///     println!("NAT64 through {prefix}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn nat64_prefixes(&self) -> Result<Vec<crate::Nat64Prefix>, ResolveError> {
        super::nat64::discover(self).await
    }
}

impl Resolver {
    fn fixed_table(fixed: FixedResolver) -> Resolver {
        Resolver {
            inner: Arc::new(Inner::Fixed(fixed)),
        }
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
        self.inner.get().resolve(host, family)
    }

    fn resolve_service(&self, host: &str, port: u16, family: Family) -> Resolution {
        self.inner.get().resolve_service(host, port, family)
    }
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

#[cfg(feature = "hickory")]
impl Resolver {
    /// The streaming DNS resolver ([`HickoryResolver::system`]) on the
    /// system's configuration, read at first use: AAAA and A are asked at
    /// once and each answer joins the race as it arrives (RFC 8305 §3).
    /// This is [`Resolver::default`] when the `hickory` feature is on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Resolver};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let resolver = Resolver::hickory(); // clones share its cache
    /// let a = ConnectionBuilder::new("example.com:443").resolver(resolver.clone()).connect().await?;
    /// let b = ConnectionBuilder::new("example.com:443").resolver(resolver).connect().await?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
    pub fn hickory() -> Resolver {
        Resolver::new(HickoryResolver::system())
    }

    /// The streaming DNS resolver on the system's configuration, read now
    /// ([`HickoryResolver::from_system_conf`]).
    ///
    /// # Errors
    ///
    /// The DNS configuration is missing, unreadable or names no name
    /// server, or the hosts file cannot be read. There is no fallback to a
    /// public name server.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Resolver};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let resolver = Resolver::hickory_from_system_conf()?;
    /// let stream = ConnectionBuilder::new("example.com:443").resolver(resolver).connect().await?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
    pub fn hickory_from_system_conf() -> io::Result<Resolver> {
        HickoryResolver::from_system_conf().map(Resolver::new)
    }

    /// The streaming DNS resolver with explicit name servers and options
    /// ([`HickoryResolver::with_config`], which has a
    /// [`resolution_delay`](HickoryResolver::resolution_delay) knob).
    ///
    /// # Errors
    ///
    /// hickory refused the configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    /// use tokio_endpoints::{ConnectionBuilder, Resolver};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let server = NameServerConfig::udp_and_tcp("192.0.2.53".parse().unwrap());
    /// let config = ResolverConfig::from_name_servers(vec![server]);
    /// let resolver = Resolver::hickory_with_config(config, ResolverOpts::default())?;
    /// let builder = ConnectionBuilder::new("example.com:443").resolver(resolver);
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
    pub fn hickory_with_config(
        config: ResolverConfig,
        options: ResolverOpts,
    ) -> io::Result<Resolver> {
        HickoryResolver::with_config(config, options).map(Resolver::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connect takes from a fixed table without its stream is what
    /// the stream would give; other resolvers are asked as they are.
    #[tokio::test]
    async fn a_fixed_answer_taken_at_once_is_the_streams() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let fixed = Resolver::fixed([("Db.Internal.", vec![ip]), ("empty", vec![])]);
        for host in ["db.internal", "DB.internal.", "empty", "missing"] {
            let now = fixed
                .answer_now(host)
                .expect("a fixed table answers at once");
            let mut streamed: Vec<_> = fixed.resolve(host, Family::Any).collect().await;
            assert_eq!(streamed.len(), 1, "{host}");
            match (now, streamed.remove(0)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{host}"),
                (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{host}"),
                (a, b) => panic!("{host}: {a:?} against {b:?}"),
            }
        }
        assert!(Resolver::system().answer_now("db.internal").is_none());
    }

    /// Two resolvers of a type without fields are two resolvers to the
    /// history (the box of a zero-sized value has no address of its own:
    /// the identity is the shared `Arc`'s).
    #[test]
    fn zero_sized_resolvers_have_identities_of_their_own() {
        #[derive(Debug)]
        struct Nothing;
        impl Resolve for Nothing {
            fn resolve(&self, _host: &str, _family: Family) -> Addrs {
                stream::empty().boxed()
            }
        }
        let a = Resolver::new(Nothing);
        let b = Resolver::new(Nothing);
        assert_ne!(a.identity(), b.identity());
        assert_eq!(a.identity(), a.clone().identity());
        let c = Resolver::fixed([("a.test", [IpAddr::from([127, 0, 0, 1])])]);
        assert_eq!(c.identity(), c.clone().identity());
        assert_eq!(a.identity() % 2, 0);
    }

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
