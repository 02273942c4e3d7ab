//! [`Resolve`]: the trait every resolver implements, and the stream of
//! address batches it returns.

use std::fmt;
use std::net::IpAddr;

use futures_util::stream::{BoxStream, StreamExt};

use super::error::ResolveError;
use super::svcb::{Resolution, Resolved};
use crate::Family;

/// The stream a [`Resolve`] implementation returns: batches of addresses as
/// they arrive, and errors for the queries that failed. The stream ends when
/// resolution is complete.
pub type Addrs = BoxStream<'static, Result<Vec<IpAddr>, ResolveError>>;

/// Resolves host names to IP addresses.
///
/// Implement it to plug in your own resolution (a service registry, a test
/// double); most users pick one of the [`Resolver`](crate::Resolver) constructors instead.
/// `host` has been validated (see [`IntoTarget`](crate::IntoTarget)) and is
/// never an IP literal. A name the user wrote with a trailing dot
/// (`"api.example.com."`) keeps it: it is absolute, and a resolver with a
/// search list must ask it as it is. `family` is what the caller asked for; returning
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
/// is poisoned: the same [`Resolver`](crate::Resolver), connector and builder options work
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
