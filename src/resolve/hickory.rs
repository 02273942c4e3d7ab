//! hickory-resolver, asked for AAAA and A at once, its answers streamed into
//! the race (RFC 8305 §3).
//!
//! # Why not getaddrinfo
//!
//! `getaddrinfo(3)` answers once both the AAAA and the A query are in, so a
//! slow AAAA answer (a name server that drops AAAA queries, a broken IPv6
//! path to it) delays every connection by as long as it takes, even though
//! the IPv4 address was known at once. RFC 8305 §3 asks instead for both
//! queries at once and for each answer to be used as it arrives.
//!
//! # What we do
//!
//! Both lookups run side by side (two lookups, `AAAA` and `A`, each
//! answered from the resolver's cache when it can be, see `cached.rs`).
//! Then:
//!
//! * an AAAA answer that arrives first is handed over at once;
//! * an A answer that arrives first is held for at most the *resolution
//!   delay* (50 ms by default, RFC 8305 §3), waiting for AAAA: when AAAA
//!   comes in time, IPv6 leads the race; when it does not, IPv4 starts at
//!   the end of the delay and the AAAA answer joins the running race when it
//!   arrives;
//! * an AAAA answer whose best address RFC 6724 ranks below IPv4 (no route
//!   to it, or only 6to4, Teredo, unique-local or site-local addresses) is
//!   held the same way, so that IPv4 leads;
//! * two answers there at the first poll (both cached, or a name the hosts
//!   file pins) are handed over as one batch, so that the caller sees both
//!   families at once (the history's advice picks among them all);
//! * only the queries that fit the host's network are sent (HEv3 §4.1,
//!   like `AI_ADDRCONFIG`): no AAAA query without an IPv6 default route,
//!   no A query without an IPv4 one unless the network may have a NAT64
//!   (see `fits`);
//! * a failed query is handed over at once as an error batch, with its
//!   reason (no such name, no records, server failure, timeout), and
//!   releases an answer held for it.
//!
//! Within each answer the addresses are sorted after RFC 6724 (see
//! `order::sort_destinations`), with the source address the kernel would
//! use for each, found by `connect(2)`ing a UDP socket to it: that sends
//! no packet (`sys::cached_source_for`, one lookup per destination prefix
//! and network). A name whose two answers are both cached is sorted once
//! and kept so (`DnsCache::sorted`) until the first answer expires, and for
//! at most `ROUTE_RECHECK` (5 s): a cached name costs a lookup, not a sort
//! per connect.
//!
//! Dropping the stream drops both lookups. hickory keeps its connections to
//! the name servers in tasks of its own, on the Tokio runtime its resolver
//! was first used on, aborted when the last clone of that resolver is
//! dropped. So the resolvers we configure keep their configuration and
//! cache apart from any runtime and make a hickory resolver per resolution
//! that misses the cache, on the caller's runtime, dropped with it (see
//! `cached.rs`): one of them, the default, is shared by the whole process.
//! Only a resolver the user built ([`HickoryResolver::from_resolver`]) is
//! bound to a runtime.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use futures_util::FutureExt;
use hickory_resolver::config::{ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::{Hosts, TokioResolver};
use tokio::time::{sleep_until, Instant};

use super::api::{Addrs, Resolve};
use super::cached::{Cached, Conf, RECHECK, ROUTE_RECHECK};
use super::error::{ResolveError, ResolveErrorKind};
use super::https_lookup::https_lookups;
use super::servers::{dns_error, Servers};
use super::svcb::{self, Resolution, Resolved};
use crate::shared::clock::later;
use crate::shared::order::{ranks_above_ipv4, sort_destinations};
use crate::Family;

/// How long an A answer waits for the AAAA answer (RFC 8305 §3
/// recommends 50 ms).
pub const DEFAULT_RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// A streaming DNS resolver on [hickory-resolver](hickory_resolver): AAAA
/// and A are queried at once and each answer joins the connection race as
/// it arrives (RFC 8305 §3). This is what [`Resolver::default`](crate::Resolver::default) uses when
/// the `hickory` feature is on (it is by default).
///
/// * An AAAA answer that comes first is used at once.
/// * An A answer that comes first waits at most the
///   [resolution delay](Self::resolution_delay) for AAAA; then IPv4 starts,
///   and IPv6 addresses join the race when they arrive.
/// * A failed query is reported with its reason
///   ([`ResolveErrorKind::NoSuchName`], [`NoRecords`](ResolveErrorKind::NoRecords),
///   [`ServerFailure`](ResolveErrorKind::ServerFailure),
///   [`TimedOut`](ResolveErrorKind::TimedOut)); the other family still
///   counts.
/// * With [`Family::V4`] or [`Family::V6`] only that record type is asked.
///   With [`Family::Any`], only what fits the host's network (as
///   `AI_ADDRCONFIG`): no AAAA query where the host has an IPv4 default
///   route and no IPv6 one, no A query where it has an IPv6 route, no
///   IPv4 one and no NAT64 (`ipv4only.arpa` has no AAAA record); a host
///   with neither route (loopback only) asks both. The routes are looked
///   at (without sending anything) at most once a second.
/// * Each answer is ordered after RFC 6724, with the source address the
///   kernel would use for each destination (a connected UDP socket, which
///   sends nothing; kept per /64 or /24 until the network changes):
///   destinations without a route last; then those whose source has
///   their scope and their label first (a global IPv6 destination with
///   only a link-local or unique-local IPv6 source goes behind IPv4); then
///   by precedence (IPv6 `::1` 50, a unique-local address in the source's
///   own /48 45, native IPv6 40, IPv4 35, 6to4 and Teredo 5, other
///   unique-local 3, site-local and IPv4-compatible 1); native before
///   tunnels; smaller scope (loopback, link-local) first; the longest
///   prefix shared with the source (up to 64 bits) first; otherwise in the
///   server's order. A DNS64 answer is ranked as the IPv4 address it
///   carries.
///
/// Clones share one cache, which keeps answers for their TTL (within
/// [`ResolverOpts`]' `positive_min_ttl` / `positive_max_ttl`), and negative
/// answers (no such name, no records) for the SOA minimum the server sent
/// (within `negative_min_ttl` / `negative_max_ttl`), as hickory does; at
/// most 1024 answers. The cache and the configuration are kept apart from
/// any Tokio runtime, and a resolution that misses the cache queries on the
/// runtime it runs on: one resolver may be used from many runtimes, one
/// after the other or at once. (Only [`from_resolver`](Self::from_resolver)
/// gives a resolver bound to the runtime that first uses it.) hickory's
/// `ip_strategy` option is not used: this resolver always makes its own two
/// queries.
///
/// Concurrent resolutions of one name share its queries, as Go's resolver
/// does: a query for a name and record type that is already in flight is
/// joined, not sent again (500 connects at once to a new name send one
/// AAAA and one A query). Each caller still gets each answer as it
/// arrives; a caller that is dropped leaves the query running for the
/// others, and the query is dropped with its last caller. At most 256
/// queries are asked at once (hickory opens a UDP socket for each); a
/// burst of more names waits its turn. A name with a trailing dot is
/// absolute: asked as it is, never with the search list.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let resolver = HickoryResolver::from_system_conf()?.resolution_delay(Duration::from_millis(30));
/// let stream = ConnectionBuilder::new("example.com:443")
///     .resolver(resolver.clone())
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HickoryResolver {
    inner: Arc<Inner>,
    resolution_delay: Duration,
    /// Whether only the queries that fit the network are sent
    /// ([`HickoryResolver::fit_network`]).
    fit_network: bool,
}

enum Inner {
    /// A hickory resolver given to us ([`HickoryResolver::from_resolver`]):
    /// its own cache, bound to the runtime that first used it.
    Given(Arc<TokioResolver>),
    /// Our configuration and answer cache, apart from any runtime (see
    /// `cached.rs`). For [`HickoryResolver::system`], the configuration is
    /// read at first use; a failure is reported by that resolution and
    /// tried again by the next.
    Cached(Arc<Cached>),
}

/// What one resolution queries on: cheap to clone into each query.
#[derive(Clone)]
enum Lookups {
    Given(Arc<TokioResolver>),
    Cached {
        cached: Arc<Cached>,
        conf: Arc<Conf>,
        /// Made at the first miss of this resolution, on its runtime.
        resolver: Arc<OnceLock<Result<TokioResolver, NetError>>>,
    },
}

impl Lookups {
    /// Who this resolution asks, for the error messages.
    fn servers(&self) -> Servers {
        match self {
            Lookups::Given(resolver) => Servers {
                addrs: Vec::new(),
                timeout: resolver.options().timeout,
                attempts: resolver.options().attempts,
            },
            Lookups::Cached { conf, .. } => conf.servers(),
        }
    }

    /// The addresses of `host` from the hosts table or RFC 6761, asked of
    /// no DNS server; `None` for a hickory resolver given to us (it reads
    /// its own hosts table).
    fn pinned(&self, host: &str, family: Family) -> Option<Vec<IpAddr>> {
        match self {
            Lookups::Given(_) => None,
            Lookups::Cached { conf, .. } => conf.pinned(host, family),
        }
    }

    /// The absolute names `host` is asked as, in order (the search list);
    /// a hickory resolver given to us searches itself.
    fn candidates(&self, host: &str) -> Vec<String> {
        match self {
            Lookups::Given(_) => vec![host.to_owned()],
            Lookups::Cached { conf, .. } => conf.candidates(host),
        }
    }

    /// The AAAA (`v6`) or A query for `name`, its failure in words.
    fn query(&self, servers: &Arc<Servers>, name: &str, v6: bool) -> BoxFuture<'static, Answer> {
        let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
        let lookup = self.lookup(name, rtype);
        let host = name.trim_end_matches('.').to_owned();
        let servers = servers.clone();
        async move { answer(&host, rtype, &servers, lookup.await) }.boxed()
    }

    fn lookup(
        &self,
        host: &str,
        rtype: RecordType,
    ) -> BoxFuture<'static, Result<Lookup, NetError>> {
        match self {
            Lookups::Given(resolver) => {
                let resolver = resolver.clone();
                let host = host.to_owned();
                async move { resolver.lookup(host.as_str(), rtype).await }.boxed()
            }
            Lookups::Cached {
                cached,
                conf,
                resolver,
            } => cached.lookup(conf, resolver, host, rtype),
        }
    }
}

impl HickoryResolver {
    /// The system's configuration, read when the resolver is first used:
    /// name servers, search domains and options from `/etc/resolv.conf`
    /// (the registry on Windows, the system configuration on macOS), and
    /// the hosts file. A configuration that is missing or unreadable fails
    /// each resolution with a [`ResolveErrorKind::Other`] error that says
    /// so (and is read again by the next one); there is no fallback to a
    /// public name server. [`Resolver::default`](crate::Resolver::default) is one of these, shared by
    /// the whole process.
    ///
    /// On Unix, `/etc/resolv.conf` and `/etc/hosts` are checked for changes
    /// (`stat(2)`) at most every 5 seconds, by the next resolution; when
    /// either changed, the configuration is read again and the cache is
    /// flushed. An edit is so in use within 5 seconds.
    ///
    /// Use [`from_system_conf`](Self::from_system_conf) to read the
    /// configuration now and get its error at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
    ///
    /// // Nothing is read yet; this cannot fail.
    /// let resolver = HickoryResolver::system();
    /// let builder = ConnectionBuilder::new("example.com:443").resolver(resolver);
    /// ```
    pub fn system() -> HickoryResolver {
        HickoryResolver::lazy(load_system_parts)
    }

    fn lazy(load: fn() -> io::Result<Conf>) -> HickoryResolver {
        let watch = if cfg!(unix) {
            vec!["/etc/resolv.conf".into(), "/etc/hosts".into()]
        } else {
            Vec::new()
        };
        HickoryResolver::cached(Cached::files(load, watch, RECHECK))
    }

    fn cached(cached: Cached) -> HickoryResolver {
        HickoryResolver {
            inner: Arc::new(Inner::Cached(Arc::new(cached))),
            resolution_delay: DEFAULT_RESOLUTION_DELAY,
            fit_network: true,
        }
    }

    /// The system's configuration, read now: `/etc/resolv.conf` (the
    /// registry on Windows, the system configuration on macOS) and the
    /// hosts file (`/etc/hosts`; a missing hosts file counts as empty).
    /// It is not read again: use [`system`](Self::system) to follow edits.
    ///
    /// # Errors
    ///
    /// The DNS configuration is missing, unreadable, or names no name
    /// server; or the hosts file exists but cannot be read. There is no
    /// fallback to a public name server.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let resolver = HickoryResolver::from_system_conf()?;
    /// let stream = ConnectionBuilder::new("example.com:443").resolver(resolver).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn from_system_conf() -> io::Result<HickoryResolver> {
        load_system_parts().map(|conf| HickoryResolver::cached(Cached::fixed(conf)))
    }

    /// Reads the DNS configuration from the `resolv.conf(5)` file at
    /// `resolv_conf` and static host entries from the `hosts(5)` file at
    /// `hosts`, instead of the system's files: for containers, chroots and
    /// tests. Both files must exist.
    ///
    /// # Errors
    ///
    /// Either file cannot be read, or `resolv_conf` names no name server.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let resolver = HickoryResolver::from_conf_files("/srv/jail/etc/resolv.conf", "/srv/jail/etc/hosts")?;
    /// let builder = ConnectionBuilder::new("db.internal:5432").resolver(resolver);
    /// # Ok(()) }
    /// ```
    #[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
    #[cfg_attr(
        docsrs,
        doc(cfg(all(unix, not(any(target_os = "android", target_vendor = "apple")))))
    )]
    pub fn from_conf_files(
        resolv_conf: impl AsRef<std::path::Path>,
        hosts: impl AsRef<std::path::Path>,
    ) -> io::Result<HickoryResolver> {
        let resolv_conf = resolv_conf.as_ref();
        let data = std::fs::read(resolv_conf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot read DNS configuration {}: {e}",
                    resolv_conf.display()
                ),
            )
        })?;
        let (config, options) = hickory_resolver::system_conf::parse_resolv_conf(data)
            .map_err(|e| conf_error(&resolv_conf.display().to_string(), e))?;
        let hosts_path = hosts.as_ref();
        let file = std::fs::File::open(hosts_path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read hosts file {}: {e}", hosts_path.display()),
            )
        })?;
        let mut hosts = Hosts::default();
        hosts.read_hosts_conf(file).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read hosts file {}: {e}", hosts_path.display()),
            )
        })?;
        Ok(HickoryResolver::cached(Cached::fixed(Conf::new(
            config,
            options,
            Some(hosts),
        ))))
    }

    /// Explicit name servers and options, through hickory's own
    /// configuration types (re-exported as
    /// [`tokio_endpoints::hickory_resolver`](crate::hickory_resolver)): to
    /// point at a DNS server of your own, or at one on a non-standard port.
    /// The hosts file is used as `options.use_hosts_file` says (hickory's
    /// default reads the system's hosts file, and takes a missing one as
    /// empty); it is read here, once.
    ///
    /// # Errors
    ///
    /// hickory refused the configuration (for example, a DNS-over-TLS
    /// server where the TLS setup failed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::hickory_resolver::config::{
    ///     ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    /// };
    /// use tokio_endpoints::{ConnectionBuilder, HickoryResolver};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // A DNS server on 127.0.0.1:5353, over UDP.
    /// let mut udp = ConnectionConfig::udp();
    /// udp.port = 5353;
    /// let server = NameServerConfig::new("127.0.0.1".parse().unwrap(), true, vec![udp]);
    /// let mut options = ResolverOpts::default();
    /// options.timeout = Duration::from_secs(2);
    /// options.use_hosts_file = ResolveHosts::Never;
    /// let resolver =
    ///     HickoryResolver::with_config(ResolverConfig::from_name_servers(vec![server]), options)?;
    /// let builder = ConnectionBuilder::new("db.internal:5432").resolver(resolver);
    /// # Ok(()) }
    /// ```
    pub fn with_config(
        config: ResolverConfig,
        options: ResolverOpts,
    ) -> io::Result<HickoryResolver> {
        let conf = Conf::new(config, options, None);
        // Refuse a configuration hickory refuses now, not at each query.
        conf.check()?;
        Ok(HickoryResolver::cached(Cached::fixed(conf)))
    }

    /// Wraps a hickory resolver built your way (DNS over TLS or HTTPS, your
    /// own hosts table, DNSSEC). Clones of the `HickoryResolver` share it,
    /// and hickory's own cache. hickory runs its name server connections as
    /// tasks on the Tokio runtime that first uses it: use it on one runtime
    /// only.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::hickory_resolver::config::{ResolverConfig, ResolverOpts};
    /// use tokio_endpoints::hickory_resolver::net::runtime::TokioRuntimeProvider;
    /// use tokio_endpoints::hickory_resolver::TokioResolver;
    /// use tokio_endpoints::HickoryResolver;
    ///
    /// let config = ResolverConfig::from_name_servers(vec![]);
    /// let hickory = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
    ///     .with_options(ResolverOpts::default())
    ///     .build()
    ///     .unwrap();
    /// let resolver = HickoryResolver::from_resolver(hickory);
    /// ```
    pub fn from_resolver(resolver: TokioResolver) -> HickoryResolver {
        HickoryResolver {
            inner: Arc::new(Inner::Given(Arc::new(resolver))),
            resolution_delay: DEFAULT_RESOLUTION_DELAY,
            fit_network: true,
        }
    }

    /// How long an A answer that arrives before the AAAA answer waits for
    /// it (RFC 8305 §3's *resolution delay*). When AAAA comes within it,
    /// IPv6 addresses lead the race; otherwise IPv4 addresses start when
    /// it passes, and IPv6 ones join when they arrive. `Duration::ZERO`
    /// uses every answer at once. Default is 50 ms
    /// ([`DEFAULT_RESOLUTION_DELAY`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::HickoryResolver;
    ///
    /// let resolver = HickoryResolver::system().resolution_delay(Duration::from_millis(25));
    /// ```
    #[must_use]
    pub fn resolution_delay(mut self, delay: Duration) -> HickoryResolver {
        self.resolution_delay = delay;
        self
    }

    /// Whether to send only the queries that fit the host's network, as
    /// `AI_ADDRCONFIG` does for getaddrinfo (HEv3 §4.1): with
    /// [`Family::Any`], no AAAA query where the host has an IPv4 default
    /// route and no IPv6 one, and no A query on an IPv6-only network where
    /// no NAT64 was found. On by default. `false` asks both record types
    /// whatever the routes say: for a resolver whose servers answer for
    /// names reached another way (a VPN that brings its routes later, a
    /// test server on loopback whose answers are loopback addresses).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::HickoryResolver;
    ///
    /// let resolver = HickoryResolver::system().fit_network(false);
    /// ```
    #[must_use]
    pub fn fit_network(mut self, fit: bool) -> HickoryResolver {
        self.fit_network = fit;
        self
    }

    /// Which of the AAAA and A queries to send for `family`.
    fn asks(&self, family: Family) -> (bool, bool) {
        if self.fit_network {
            fitting(family)
        } else {
            (family != Family::V4, family != Family::V6)
        }
    }

    fn lookups(&self) -> io::Result<Lookups> {
        match &*self.inner {
            Inner::Given(resolver) => Ok(Lookups::Given(resolver.clone())),
            Inner::Cached(cached) => Ok(Lookups::Cached {
                conf: cached.conf(std::time::Instant::now())?,
                cached: cached.clone(),
                resolver: Arc::new(OnceLock::new()),
            }),
        }
    }
}

impl fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryResolver")
            .field(
                "loaded",
                &match &*self.inner {
                    Inner::Given(_) => true,
                    Inner::Cached(cached) => cached.loaded(),
                },
            )
            .field("resolution_delay", &self.resolution_delay)
            .field("fit_network", &self.fit_network)
            .finish()
    }
}

/// Why `host` is no name to ask DNS for, as [`IntoTarget`](crate::IntoTarget)
/// would refuse it: `resolve` is public, and a caller may give it
/// anything (not ASCII, empty, too long). Nothing is sent for it.
fn malformed(host: &str) -> Option<ResolveError> {
    let e = crate::shared::target::check_host(host).err()?;
    Some(ResolveError::new(host, ResolveErrorKind::Other).with_reason(e.reason().to_string()))
}

impl Resolve for HickoryResolver {
    fn resolve(&self, host: &str, family: Family) -> Addrs {
        // Sorted a moment ago from two cached answers: as it was (a name
        // kept there passed every check below).
        if let (Inner::Cached(cached), Family::Any) = (&*self.inner, family) {
            if let Some(ips) = cached.sorted(host, std::time::Instant::now()) {
                return stream::iter([Ok(ips)]).boxed();
            }
        }
        if let Some(e) = malformed(host) {
            return stream::iter([Err(e)]).boxed();
        }
        let lookups = match self.lookups() {
            Ok(lookups) => lookups,
            Err(e) => {
                let e = ResolveError::new(host, ResolveErrorKind::Other).with_source(e);
                return stream::iter([Err(e)]).boxed();
            }
        };
        if let Some(ips) = lookups.pinned(host, family) {
            let (v6, v4) = by_family(ips);
            return streamed(v6, v4, self.resolution_delay, has_route);
        }
        let servers = Arc::new(lookups.servers());
        let candidates = lookups.candidates(host);
        if let Some(ips) = both_cached(&lookups, host, &candidates, family, &servers) {
            return stream::iter([Ok(ips)]).boxed();
        }
        let delay = self.resolution_delay;
        let (ask6, ask4) = self.asks(family);
        search(candidates, has_addrs, move |name| {
            let v6 = ask6.then(|| lookups.query(&servers, name, true));
            let v4 = ask4.then(|| lookups.query(&servers, name, false));
            streamed(v6, v4, delay, has_route)
        })
    }

    /// HTTPS, AAAA and A asked at once (Happy Eyeballs v3); see `svcb.rs`.
    fn resolve_service(&self, host: &str, port: u16, family: Family) -> Resolution {
        if let Some(e) = malformed(host) {
            return stream::iter([Err(e)]).boxed();
        }
        let lookups = match self.lookups() {
            Ok(lookups) => lookups,
            Err(e) => {
                let e = ResolveError::new(host, ResolveErrorKind::Other).with_source(e);
                return stream::iter([Err(e)]).boxed();
            }
        };
        if let Some(ips) = lookups.pinned(host, family) {
            // A name the hosts file pins is not sent to the network for
            // its HTTPS records either.
            let (v6, v4) = by_family(ips);
            return svcb::streamed(None, v6, v4, self.resolution_delay, has_route);
        }
        let servers = Arc::new(lookups.servers());
        let delay = self.resolution_delay;
        let (ask6, ask4) = self.asks(family);
        // On an IPv6-only network, `ipv4hint`s become IPv6 hints (their
        // NAT64 synthesis) before the merge, so that they may lead the
        // race as IPv6 hints do.
        let nat64 = match crate::sys::network() {
            network if family != Family::V4 && network.ipv6_only() => {
                Some((self.clone(), network.id()))
            }
            _ => None,
        };
        search(lookups.candidates(host), has_service, move |name| {
            let v6 = ask6.then(|| lookups.query(&servers, name, true));
            let v4 = ask4.then(|| lookups.query(&servers, name, false));
            let https = {
                let lookups = lookups.clone();
                // Every name the HTTPS lookups ask is absolute: the host
                // as searched, `_port._https.` under it, the records'
                // targets (RFC 9460: TargetName is a full name).
                https_lookups(
                    move |name, rtype| match name.ends_with('.') {
                        true => lookups.lookup(name, rtype),
                        false => lookups.lookup(&format!("{name}."), rtype),
                    },
                    name,
                    port,
                    family,
                )
            };
            let https = match &nat64 {
                Some((resolver, network)) => {
                    super::nat64::synthesized_service(resolver.clone(), *network, https)
                }
                None => https,
            };
            svcb::streamed(Some(https), v6, v4, delay, has_route)
        })
    }
}

/// What the search would give at its first poll when the first name it
/// asks has both answers cached and both have addresses: the two answers
/// as one batch, sorted after RFC 6724 (as [`Dual`] makes it), kept sorted
/// for the next resolution of `host` (see `DnsCache::sorted`). `None`
/// when the search must run.
fn both_cached(
    lookups: &Lookups,
    host: &str,
    candidates: &[String],
    family: Family,
    servers: &Servers,
) -> Option<Vec<IpAddr>> {
    let (Lookups::Cached { cached, conf, .. }, Family::Any) = (lookups, family) else {
        return None;
    };
    let name = candidates.first()?;
    let now = std::time::Instant::now();
    let (aaaa, a, until) = cached.both_cached(name, now)?;
    let asked = name.trim_end_matches('.');
    let mut ips = answer(asked, RecordType::AAAA, servers, aaaa).ok()?;
    ips.extend(answer(asked, RecordType::A, servers, a).ok()?);
    sort_destinations(&mut ips, has_route);
    tracing::debug!(n = ips.len(), "both answers at once");
    let until = now
        .checked_add(ROUTE_RECHECK)
        .map_or(until, |t| t.min(until));
    cached.keep_sorted(conf, host, &ips, until);
    Some(ips)
}

/// Which of the AAAA and A queries to send for `family` on this host's
/// network (HEv3 §4.1, what `AI_ADDRCONFIG` does for getaddrinfo).
fn fitting(family: Family) -> (bool, bool) {
    if family != Family::Any {
        return (family == Family::V6, family == Family::V4);
    }
    let network = crate::sys::network();
    fits(network, crate::shared::nat64::none_found(network.id()))
}

/// The queries that fit `network`: no AAAA without an IPv6 route, no A
/// without an IPv4 route unless a NAT64 may reach IPv4 (`no_nat64`: a
/// discovery on this network found none). A host with neither route (only
/// loopback: a container, a test namespace) asks both, so that a name
/// served for loopback still resolves; so does a host with both. Names
/// the hosts file pins (`localhost` among them) are answered before this.
fn fits(network: crate::sys::Network, no_nat64: bool) -> (bool, bool) {
    match (network.v6.is_some(), network.v4.is_some()) {
        (true, false) => (true, !no_nat64),
        (false, true) => (false, true),
        _ => (true, true),
    }
}

/// Pinned addresses as the answers of an AAAA and an A query that have
/// come: ordered and handed out as DNS answers are.
#[allow(clippy::type_complexity)]
fn by_family(
    ips: Vec<IpAddr>,
) -> (
    Option<BoxFuture<'static, Answer>>,
    Option<BoxFuture<'static, Answer>>,
) {
    let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = ips.into_iter().partition(IpAddr::is_ipv6);
    let ready =
        |ips: Vec<IpAddr>| (!ips.is_empty()).then(|| futures_util::future::ready(Ok(ips)).boxed());
    (ready(v6), ready(v4))
}

/// Whether an address batch has an address: the search stops at the name
/// that gave one.
fn has_addrs(item: &Answer) -> bool {
    matches!(item, Ok(ips) if !ips.is_empty())
}

/// Whether an item of a service resolution says the name exists with
/// something to connect to: the search stops at that name.
fn has_service(item: &Result<Resolved, ResolveError>) -> bool {
    match item {
        Ok(Resolved::Addrs(ips) | Resolved::TargetAddrs { addrs: ips, .. }) => !ips.is_empty(),
        Ok(Resolved::Services(records)) => !records.is_empty(),
        Err(_) => false,
    }
}

/// glibc's `res_search` over streamed answers: the names of `candidates`
/// are asked one after the other, each through `ask` (AAAA and A at once,
/// and HTTPS), until one gives an answer that `found` accepts; from then
/// on that name's stream is the result, and no other name is asked. The
/// search goes past a name that does not exist or has no records, and
/// past one whose server failed or did not answer (as glibc 2.36 does),
/// so a flaky first candidate costs its timeout, not the answer. When no
/// name answers, the failures come in the order that gives glibc's
/// verdict through the first one (what `ConnectError`'s kind is made
/// from): server failures first (glibc: EAI_AGAIN), then the last "no
/// such name" or "no records" (EAI_NONAME), then timeouts (EAI_AGAIN only
/// when every name timed out); every one stays in the report. Each query is cached under the absolute name it asked, never
/// under the name the caller wrote.
fn search<T, F>(
    candidates: Vec<String>,
    found: fn(&Result<T, ResolveError>) -> bool,
    mut ask: F,
) -> BoxStream<'static, Result<T, ResolveError>>
where
    T: Send + 'static,
    F: FnMut(&str) -> BoxStream<'static, Result<T, ResolveError>> + Send + 'static,
{
    if let [only] = candidates.as_slice() {
        return ask(only);
    }
    struct Search<T, F> {
        names: VecDeque<String>,
        ask: F,
        current: Option<BoxStream<'static, Result<T, ResolveError>>>,
        /// The current name's items, held until it is known to answer.
        held: VecDeque<Result<T, ResolveError>>,
        /// Whether the current name answered: its items pass through.
        committed: bool,
        /// Server failures (SERVFAIL, REFUSED) and other errors: they make
        /// the whole resolution a temporary failure, as in glibc.
        failed: Vec<ResolveError>,
        /// The "no such name" and "no records" of the last name that said so.
        last: Vec<ResolveError>,
        /// Queries that got no answer in time: reported last, so that a
        /// silent name before one that does not exist reads as glibc's
        /// "not found" (EAI_NONAME), with the timeout still in the report.
        unanswered: Vec<ResolveError>,
    }
    let state = Search {
        names: candidates.into(),
        ask,
        current: None,
        held: VecDeque::new(),
        committed: false,
        failed: Vec::new(),
        last: Vec::new(),
        unanswered: Vec::new(),
    };
    stream::unfold(state, move |mut s| async move {
        loop {
            if s.committed {
                if let Some(item) = s.held.pop_front() {
                    return Some((item, s));
                }
                let item = s.current.as_mut()?.next().await?;
                return Some((item, s));
            }
            let Some(current) = s.current.as_mut() else {
                let Some(name) = s.names.pop_front() else {
                    // No name answered: the failures, once.
                    let mut errors = std::mem::take(&mut s.failed);
                    errors.append(&mut s.last);
                    errors.append(&mut s.unanswered);
                    s.held = errors.into_iter().map(Err).collect();
                    s.committed = true;
                    s.current = Some(stream::empty().boxed());
                    continue;
                };
                tracing::debug!(%name, "search: asking");
                s.current = Some((s.ask)(&name));
                continue;
            };
            match current.next().await {
                Some(item) if found(&item) => {
                    s.committed = true;
                    s.held.push_back(item);
                }
                Some(item) => s.held.push_back(item),
                None => {
                    // This name gave nothing: the next one.
                    s.current = None;
                    let mut negative = Vec::new();
                    for item in s.held.drain(..) {
                        if let Err(e) = item {
                            match e.kind() {
                                ResolveErrorKind::NoSuchName | ResolveErrorKind::NoRecords => {
                                    negative.push(e);
                                }
                                ResolveErrorKind::TimedOut => s.unanswered.push(e),
                                _ => s.failed.push(e),
                            }
                        }
                    }
                    if !negative.is_empty() {
                        s.last = negative;
                    }
                }
            }
        }
    })
    .boxed()
}

type Answer = Result<Vec<IpAddr>, ResolveError>;

/// The addresses of a lookup, or why there are none.
fn answer(
    host: &str,
    rtype: RecordType,
    servers: &Servers,
    lookup: Result<Lookup, NetError>,
) -> Answer {
    let lookup = lookup.map_err(|e| dns_error(host, rtype, servers, e))?;
    let ips: Vec<IpAddr> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    if ips.is_empty() {
        return Err(
            ResolveError::new(host, ResolveErrorKind::NoRecords).with_query(rtype.to_string())
        );
    }
    Ok(ips)
}

/// The source address the kernel would use for `ip` (`None`: no route;
/// RFC 6724 rule 1), kept per destination prefix until the network
/// changes: `connect(2)`ing a UDP socket picks a route and a source
/// address without sending anything.
fn has_route(ip: &IpAddr) -> Option<IpAddr> {
    crate::sys::cached_source_for(*ip)
}

/// Whether an AAAA answer, sorted, should lead IPv4: its best address
/// ranks above IPv4 by RFC 6724 (a route, a source of its scope and
/// label, a higher precedence).
fn v6_leads(sorted: &[IpAddr], usable: &impl Fn(&IpAddr) -> Option<IpAddr>) -> bool {
    sorted
        .first()
        .is_some_and(|ip| ranks_above_ipv4(ip, usable(ip)))
}

/// Runs the AAAA and A lookups side by side and streams their answers as
/// described in the module docs. Generic over the lookups and the route
/// check, so that its timing is tested on fake lookups and paused time.
fn streamed<U>(
    v6: Option<BoxFuture<'static, Answer>>,
    v4: Option<BoxFuture<'static, Answer>>,
    delay: Duration,
    usable: U,
) -> Addrs
where
    U: Fn(&IpAddr) -> Option<IpAddr> + Send + Sync + 'static,
{
    let state = Dual {
        first: v6.is_some() && v4.is_some(),
        v6,
        v4,
        held: None,
        ready: VecDeque::new(),
        delay,
        usable,
    };
    stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
    .boxed()
}

struct Dual<U> {
    /// Whether both lookups are yet to be polled: when both answer at the
    /// first poll (a cache hit, a hosts-file name), their addresses go out
    /// as one batch, so that the caller sees both families at once (the
    /// history's advice picks among all of them).
    first: bool,
    v6: Option<BoxFuture<'static, Answer>>,
    v4: Option<BoxFuture<'static, Answer>>,
    /// An answer waiting for the other family's, and until when it waits.
    held: Option<(Vec<IpAddr>, Instant)>,
    /// Batches to hand out, in order.
    ready: VecDeque<Answer>,
    delay: Duration,
    usable: U,
}

impl<U: Fn(&IpAddr) -> Option<IpAddr>> Dual<U> {
    async fn next(&mut self) -> Option<Answer> {
        if std::mem::take(&mut self.first) {
            self.both_at_once().await;
        }
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.v6.is_none() && self.v4.is_none() {
                return self.held.take().map(|(ips, _)| Ok(ips));
            }
            let hold_until = self.held.as_ref().map(|(_, until)| *until);
            tokio::select! {
                answer = async { self.v6.as_mut().expect("guarded").await }, if self.v6.is_some() => {
                    self.v6 = None;
                    self.take(answer, true);
                }
                answer = async { self.v4.as_mut().expect("guarded").await }, if self.v4.is_some() => {
                    self.v4 = None;
                    self.take(answer, false);
                }
                () = sleep_until(hold_until.unwrap_or_else(Instant::now)), if hold_until.is_some() => {
                    let (ips, _) = self.held.take().expect("guarded");
                    tracing::debug!(n = ips.len(), "resolution delay passed");
                    self.ready.push_back(Ok(ips));
                }
            }
        }
    }

    /// Polls both lookups once: two answers at once become one batch,
    /// sorted after RFC 6724 across the families; one answer is taken as
    /// `next` would take it.
    async fn both_at_once(&mut self) {
        let (Some(v6), Some(v4)) = (self.v6.as_mut(), self.v4.as_mut()) else {
            return;
        };
        let (a6, a4) = std::future::poll_fn(|cx| {
            std::task::Poll::Ready((v6.poll_unpin(cx), v4.poll_unpin(cx)))
        })
        .await;
        use std::task::Poll::Ready;
        match (a6, a4) {
            (Ready(a6), Ready(a4)) => {
                self.v6 = None;
                self.v4 = None;
                match (a6, a4) {
                    (Ok(mut ips), Ok(v4)) => {
                        ips.extend(v4);
                        sort_destinations(&mut ips, &self.usable);
                        tracing::debug!(n = ips.len(), "both answers at once");
                        self.ready.push_back(Ok(ips));
                    }
                    // An answer goes before the other family's failure.
                    (a6 @ Err(_), a4 @ Ok(_)) => {
                        self.take(a4, false);
                        self.take(a6, true);
                    }
                    (a6, a4) => {
                        self.take(a6, true);
                        self.take(a4, false);
                    }
                }
            }
            (Ready(a6), _) => {
                self.v6 = None;
                self.take(a6, true);
            }
            (_, Ready(a4)) => {
                self.v4 = None;
                self.take(a4, false);
            }
            _ => {}
        }
    }

    /// Takes one family's answer: hands it out, or holds it for the other.
    fn take(&mut self, answer: Answer, is_v6: bool) {
        let mut ips = match answer {
            Ok(ips) => ips,
            Err(e) => {
                tracing::debug!(error = %e, v6 = is_v6, "query failed");
                // Nothing more is coming that a held answer waits for.
                if let Some((held, _)) = self.held.take() {
                    self.ready.push_back(Ok(held));
                }
                self.ready.push_back(Err(e));
                return;
            }
        };
        let usable = &self.usable;
        sort_destinations(&mut ips, usable);
        let leads = is_v6 && v6_leads(&ips, usable);
        let other_pending = if is_v6 {
            self.v4.is_some()
        } else {
            self.v6.is_some()
        };
        tracing::debug!(n = ips.len(), v6 = is_v6, "answer");
        if other_pending && !leads && !self.delay.is_zero() {
            self.held = Some((ips, later(Instant::now(), self.delay)));
        } else if let Some((held, _)) = self.held.take() {
            // A held AAAA answer was held for ranking below IPv4.
            let this_first = !is_v6 || leads;
            if this_first {
                self.ready.push_back(Ok(ips));
                self.ready.push_back(Ok(held));
            } else {
                self.ready.push_back(Ok(held));
                self.ready.push_back(Ok(ips));
            }
        } else {
            self.ready.push_back(Ok(ips));
        }
    }
}

/// Reads the system's DNS configuration and hosts file.
fn load_system_parts() -> io::Result<Conf> {
    let (config, options) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| conf_error("the system DNS configuration", e))?;
    let hosts = match Hosts::from_system() {
        Ok(hosts) => hosts,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Hosts::default(),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot read the system hosts file: {e}"),
            ))
        }
    };
    Ok(Conf::new(config, options, Some(hosts)))
}

/// Off Linux, hickory reads the system configuration with a `ProtoError`.
fn conf_error(what: &str, e: impl Into<NetError>) -> io::Error {
    let e = e.into();
    let kind = match &e {
        NetError::Io(io) => io.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("cannot use {what}: {e}"))
}

#[cfg(test)]
mod tests {
    //! The streaming logic's timing, on fake lookups and paused time.

    use super::*;
    use crate::resolve::Resolver;
    use hickory_resolver::net::DnsError;
    use hickory_resolver::proto::op::ResponseCode;

    fn ips(s: &str) -> Vec<IpAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    /// A lookup that answers `answer` after `ms`.
    fn after(ms: u64, answer: Answer) -> Option<BoxFuture<'static, Answer>> {
        Some(
            async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                answer
            }
            .boxed(),
        )
    }

    fn fail(kind: ResolveErrorKind) -> Answer {
        Err(ResolveError::new("h.test", kind))
    }

    /// Collects (ms since start, batch) pairs, errors as their kind.
    async fn run(
        v6: Option<BoxFuture<'static, Answer>>,
        v4: Option<BoxFuture<'static, Answer>>,
        delay: u64,
    ) -> Vec<(u64, Result<Vec<IpAddr>, ResolveErrorKind>)> {
        run_with(v6, v4, delay, |ip: &IpAddr| {
            *ip != "2001:db8::dead".parse::<IpAddr>().unwrap()
        })
        .await
    }

    async fn run_with(
        v6: Option<BoxFuture<'static, Answer>>,
        v4: Option<BoxFuture<'static, Answer>>,
        delay: u64,
        usable: impl Fn(&IpAddr) -> bool + Send + Sync + 'static,
    ) -> Vec<(u64, Result<Vec<IpAddr>, ResolveErrorKind>)> {
        let t0 = Instant::now();
        let source = move |ip: &IpAddr| usable(ip).then_some(*ip);
        streamed(v6, v4, Duration::from_millis(delay), source)
            .map(|b| {
                (
                    (Instant::now() - t0).as_millis() as u64,
                    b.map_err(|e| e.kind()),
                )
            })
            .collect()
            .await
    }

    #[test]
    fn queries_fit_the_network() {
        use crate::sys::Network;
        let v4 = Some(std::net::Ipv4Addr::new(192, 0, 2, 2));
        let v6 = Some("2001:db8:1::2".parse().unwrap());
        let table = [
            // (v4 route, v6 route, no NAT64 found) -> (AAAA, A)
            (v4, v6, false, (true, true)),
            (v4, None, false, (false, true)),
            (None, v6, false, (true, true)),
            (None, v6, true, (true, false)),
            // Loopback only: both, as before.
            (None, None, false, (true, true)),
            (None, None, true, (true, true)),
        ];
        for (v4, v6, none, want) in table {
            assert_eq!(fits(Network { v4, v6 }, none), want, "{v4:?} {v6:?} {none}");
        }
        let all = HickoryResolver::system().fit_network(false);
        assert_eq!(all.asks(Family::Any), (true, true));
        assert_eq!(all.asks(Family::V6), (true, false));
        assert_eq!(fitting(Family::V4), (false, true));
        assert_eq!(fitting(Family::V6), (true, false));
    }

    #[tokio::test(start_paused = true)]
    async fn aaaa_first_is_used_at_once() {
        let got = run(
            after(10, Ok(ips("2001:db8::1"))),
            after(30, Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![(10, Ok(ips("2001:db8::1"))), (30, Ok(ips("192.0.2.1")))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_waits_for_aaaa_within_the_delay() {
        let got = run(
            after(40, Ok(ips("2001:db8::1"))),
            after(10, Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        // AAAA came at 40, within A's delay (10 + 50): IPv6 leads.
        assert_eq!(
            got,
            vec![(40, Ok(ips("2001:db8::1"))), (40, Ok(ips("192.0.2.1")))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_goes_at_the_delay_and_late_aaaa_joins() {
        let got = run(
            after(300, Ok(ips("2001:db8::1"))),
            after(10, Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![(60, Ok(ips("192.0.2.1"))), (300, Ok(ips("2001:db8::1")))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_delay_holds_nothing() {
        let got = run(
            after(300, Ok(ips("2001:db8::1"))),
            after(10, Ok(ips("192.0.2.1"))),
            0,
        )
        .await;
        assert_eq!(
            got,
            vec![(10, Ok(ips("192.0.2.1"))), (300, Ok(ips("2001:db8::1")))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_aaaa_releases_a_at_once() {
        let got = run(
            after(20, fail(ResolveErrorKind::ServerFailure)),
            after(10, Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![
                (20, Ok(ips("192.0.2.1"))),
                (20, Err(ResolveErrorKind::ServerFailure))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_not_held() {
        let got = run(
            after(100, Ok(ips("2001:db8::1"))),
            after(10, fail(ResolveErrorKind::NoRecords)),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![
                (10, Err(ResolveErrorKind::NoRecords)),
                (100, Ok(ips("2001:db8::1")))
            ]
        );
    }

    /// A cache hit answers both at the first poll: one batch, sorted
    /// across the families, so that the caller sees both at once.
    #[tokio::test(start_paused = true)]
    async fn answers_ready_at_once_are_one_batch() {
        let now = |answer: Answer| Some(futures_util::future::ready(answer).boxed());
        let got = run(now(Ok(ips("2001:db8::1"))), now(Ok(ips("192.0.2.1"))), 50).await;
        assert_eq!(got, vec![(0, Ok(ips("2001:db8::1 192.0.2.1")))]);
        // IPv6 ranked below IPv4 (no route) goes after it in that batch.
        let got = run(
            now(Ok(ips("2001:db8::dead"))),
            now(Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(got, vec![(0, Ok(ips("192.0.2.1 2001:db8::dead")))]);
        // A failure goes after the other family's answer, held for nothing.
        let got = run(
            now(fail(ResolveErrorKind::NoRecords)),
            now(Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![
                (0, Ok(ips("192.0.2.1"))),
                (0, Err(ResolveErrorKind::NoRecords))
            ]
        );
        // One ready, the other not: as before, the A answer waits.
        let got = run(
            after(20, Ok(ips("2001:db8::1"))),
            now(Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![(20, Ok(ips("2001:db8::1"))), (20, Ok(ips("192.0.2.1")))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_family_streams_its_answer_alone() {
        let got = run(None, after(10, Ok(ips("192.0.2.1"))), 50).await;
        assert_eq!(got, vec![(10, Ok(ips("192.0.2.1")))]);
        let got = run(after(10, Ok(ips("2001:db8::1"))), None, 50).await;
        assert_eq!(got, vec![(10, Ok(ips("2001:db8::1")))]);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_sorted_after_rfc_6724() {
        let got = run(
            after(10, Ok(ips("2001:db8::dead 2002:c000:201::1 2001:db8::1"))),
            after(20, Ok(ips("192.0.2.1 127.0.0.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![
                (10, Ok(ips("2001:db8::1 2002:c000:201::1 2001:db8::dead"))),
                (20, Ok(ips("127.0.0.1 192.0.2.1")))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn aaaa_ranked_below_ipv4_waits_for_a() {
        // Only a Teredo address: IPv4 should lead (RFC 6724 rule 6).
        let got = run(
            after(10, Ok(ips("2001:0:4136:e378::1"))),
            after(30, Ok(ips("192.0.2.1"))),
            50,
        )
        .await;
        assert_eq!(
            got,
            vec![
                (30, Ok(ips("192.0.2.1"))),
                (30, Ok(ips("2001:0:4136:e378::1")))
            ]
        );
        // No route to any IPv6 address (rule 1): held at most the delay.
        let got = run_with(
            after(10, Ok(ips("2001:db8::1"))),
            after(300, Ok(ips("192.0.2.1"))),
            50,
            |ip| ip.is_ipv4(),
        )
        .await;
        assert_eq!(
            got,
            vec![(60, Ok(ips("2001:db8::1"))), (300, Ok(ips("192.0.2.1")))]
        );
    }

    #[tokio::test]
    async fn a_missing_system_configuration_fails_each_resolution() {
        fn missing() -> io::Result<Conf> {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "cannot use the system DNS configuration: no such file",
            ))
        }
        let resolver = HickoryResolver::lazy(missing);
        for _ in 0..2 {
            let got: Vec<_> = resolver
                .resolve("example.test", Family::Any)
                .collect()
                .await;
            assert_eq!(got.len(), 1);
            let e = got.into_iter().next().unwrap().unwrap_err();
            assert_eq!(e.kind(), ResolveErrorKind::Other);
            assert!(e.to_string().contains("system DNS configuration"), "{e}");
        }
    }

    /// hickory's errors in plain words, with the query and the servers,
    /// never hickory's `Debug` output; hickory's error kept as the source.
    #[test]
    fn dns_errors_read_in_plain_words() {
        use hickory_resolver::net::NoRecords;
        use hickory_resolver::proto::op::Query;
        use hickory_resolver::proto::rr::Name;

        let one = Servers {
            addrs: vec!["127.0.0.1:5300".parse().unwrap()],
            timeout: Duration::from_secs(5),
            attempts: 2,
        };
        let two = Servers {
            addrs: vec!["10.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()],
            timeout: Duration::from_millis(1500),
            attempts: 1,
        };
        let unknown = Servers::default();
        let nx = || {
            let query = Query::query(Name::from_ascii("t0.nx.test.").unwrap(), RecordType::AAAA);
            NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(
                query,
                ResponseCode::NXDomain,
            )))
        };
        let code = |c| NetError::Dns(DnsError::ResponseCode(c));
        let cases = [
            (
                dns_error("t0.nx.test", RecordType::AAAA, &one, nx()),
                "t0.nx.test: no such name (NXDOMAIN)",
            ),
            (
                dns_error("h.test", RecordType::A, &one, code(ResponseCode::ServFail)),
                "h.test: A query: server failure (SERVFAIL) from 127.0.0.1:5300",
            ),
            (
                dns_error("h.test", RecordType::A, &two, code(ResponseCode::Refused)),
                "h.test: A query: query refused (REFUSED) from 10.0.0.1:53, [::1]:53",
            ),
            (
                dns_error("h.test", RecordType::A, &one, code(ResponseCode::NotAuth)),
                "h.test: A query: error response (NOTAUTH) from 127.0.0.1:5300",
            ),
            (
                dns_error("h.test", RecordType::AAAA, &one, NetError::Timeout),
                "h.test: AAAA query: DNS server 127.0.0.1:5300 did not answer within 5 s, 2 tries",
            ),
            (
                dns_error("h.test", RecordType::AAAA, &two, NetError::Timeout),
                "h.test: AAAA query: DNS servers 10.0.0.1:53, [::1]:53 did not answer within 1.5 s",
            ),
            (
                dns_error("h.test", RecordType::HTTPS, &unknown, NetError::Timeout),
                "h.test: HTTPS query: the DNS server did not answer in time",
            ),
            (
                dns_error("h.test", RecordType::A, &one, NetError::NoConnections),
                "h.test: A query: no connection to DNS server 127.0.0.1:5300 could be made",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
            assert!(!e.to_string().contains("Query {"), "{e}");
            let source = std::error::Error::source(&e).expect("hickory's error is the source");
            assert!(source.downcast_ref::<NetError>().is_some());
        }
        let no_records = answer(
            "h.test",
            RecordType::AAAA,
            &one,
            Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(
                Query::query(Name::from_ascii("h.test.").unwrap(), RecordType::AAAA),
                ResponseCode::NoError,
            )))),
        )
        .unwrap_err();
        assert_eq!(no_records.kind(), ResolveErrorKind::NoRecords);
        assert_eq!(no_records.to_string(), "h.test: no AAAA records");
    }

    #[test]
    fn the_default_resolver_does_not_read_anything_when_made() {
        let r = Resolver::default();
        assert!(format!("{r:?}").contains("loaded: false"), "{r:?}");
    }
}
