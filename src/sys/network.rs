//! What the host's network looks like from here: whether it has an IPv4
//! and an IPv6 default route, and an identity that changes when the
//! network does (HEv3 §4.1 and §4.3).
//!
//! # How, on every system
//!
//! A UDP socket `connect(2)`ed to a global address makes the kernel look up
//! the route and pick the source address it would use, and sends nothing
//! (Go's `addrselect` does the same). One such probe per family tells
//! whether a default route exists (the connect fails with `ENETUNREACH`
//! without one) and which local address it leaves from; the pair of
//! source addresses is the network's identity: a new network means a new
//! address or another route to leave by. This runs the same way on Linux,
//! the BSDs, macOS and Windows, with nothing but `std`.
//!
//! # Cost
//!
//! A probe is four system calls per family (socket, connect, getsockname,
//! close). The answer is kept and probed again at most every [`RECHECK`],
//! with its identity hashed once per probe. What the history and the NAT64
//! check need (the identity, whether IPv6-only) is also kept per thread
//! with the instant until which it holds ([`network_id_at`]): a burst of
//! connects pays a comparison of instants each and no lock; a connect to a
//! loopback literal does not ask at all.

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long what the probes found is trusted before they run again.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// The destinations probed: documentation addresses (RFC 5737, RFC 3849)
/// that no network routes specially, so the default route answers. No
/// packet is sent to them.
const PROBE_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The host's network as the default routes show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Network {
    /// The source address of the IPv4 default route, if there is one.
    pub(crate) v4: Option<Ipv4Addr>,
    /// The source address of the IPv6 default route, if there is one.
    pub(crate) v6: Option<Ipv6Addr>,
}

impl Network {
    /// An identity of the network: equal for the same default routes and
    /// source addresses.
    pub(crate) fn id(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }

    /// Whether the host has a global IPv6 route and no IPv4 route: where
    /// IPv4 addresses are reached through NAT64.
    pub(crate) fn ipv6_only(&self) -> bool {
        self.v4.is_none() && self.v6.is_some_and(|v6| !is_link_local(v6))
    }
}

impl Hash for Network {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.v4.hash(h);
        self.v6.hash(h);
    }
}

fn is_link_local(v6: Ipv6Addr) -> bool {
    v6.segments()[0] & 0xffc0 == 0xfe80
}

/// The source address the kernel picks for `dest`, without sending
/// anything; `None` when it has no route there.
pub(crate) fn source_for(dest: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect((dest, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

fn probe() -> Network {
    let v4 = match source_for(IpAddr::V4(PROBE_V4)) {
        Some(IpAddr::V4(ip)) => Some(ip),
        _ => None,
    };
    let v6 = match source_for(IpAddr::V6(PROBE_V6)) {
        Some(IpAddr::V6(ip)) => Some(ip),
        _ => None,
    };
    Network { v4, v6 }
}

/// The network probed last, its identity (hashed once per probe, not per
/// call) and when it was probed.
static NETWORK: Mutex<Option<(Network, u64, Instant)>> = Mutex::new(None);

/// The host's network, probed at most every [`RECHECK`] (what the
/// default resolver fits its queries and sorting to).
#[cfg(any(feature = "hickory", test))]
pub(crate) fn network() -> Network {
    probed_at(Instant::now()).0
}

/// The host's network, its [`id`](Network::id) and when it was probed,
/// probed at most every [`RECHECK`] before `now` (an instant the caller
/// read already: a call that has one pays no clock read here).
fn probed_at(now: Instant) -> (Network, u64, Instant) {
    let mut cached = NETWORK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((network, id, at)) = *cached {
        // A caller's instant from a paused Tokio clock may run ahead of
        // the real one: the real clock decides before a probe.
        if now.saturating_duration_since(at) < RECHECK
            || Instant::now().saturating_duration_since(at) < RECHECK
        {
            return (network, id, at);
        }
    }
    let network = probe();
    if cached.is_some_and(|(old, _, _)| old != network) {
        tracing::debug!(?network, "the network changed");
    }
    let id = network.id();
    let at = now.min(Instant::now());
    *cached = Some((network, id, at));
    (network, id, at)
}

/// What the history and the NAT64 check need of the network: its
/// [`id`](Network::id) and whether it is [IPv6-only](Network::ipv6_only).
/// As [`probed_at`], without its lock while the last probe holds (a
/// copy per thread: the same answer as the lock's until that probe's
/// [`RECHECK`] is up, when the next one may run).
pub(crate) fn network_id_at(now: Instant) -> (u64, bool) {
    let (id, ipv6_only, _) = network_until(now);
    (id, ipv6_only)
}

/// [`network_id_at`], and the instant until which this thread is given
/// the same answer (for any `now` before it) without another probe.
pub(crate) fn network_until(now: Instant) -> (u64, bool, Instant) {
    if let Some((until, id, ipv6_only)) = LAST.with(Cell::get) {
        if now < until {
            return (id, ipv6_only, until);
        }
    }
    let (network, id, at) = probed_at(now);
    let ipv6_only = network.ipv6_only();
    let until = at + RECHECK;
    LAST.with(|last| last.set(Some((until, id, ipv6_only))));
    (id, ipv6_only, until)
}

thread_local! {
    /// This thread's copy of the last probe's identity and whether the
    /// network is IPv6-only, with until when they hold: an instant
    /// compared (a few instructions), where a deadline kept in an atomic
    /// cost a conversion of the caller's instant (about 100).
    static LAST: Cell<Option<(Instant, u64, bool)>> = const { Cell::new(None) };
}

/// The source addresses looked up, by destination prefix, for the network
/// of that identity.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
struct Sources {
    network: u64,
    /// (destination prefix, source): a /64 for IPv6, a /24 for IPv4.
    by_prefix: Vec<(IpAddr, Option<IpAddr>)>,
}

/// At most this many destination prefixes are kept; then the list starts over.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
const SOURCES: usize = 256;

#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
static SOURCE_CACHE: Mutex<Sources> = Mutex::new(Sources {
    network: 0,
    by_prefix: Vec::new(),
});

/// [`source_for`], kept per destination prefix (a /64 for IPv6, a /24 for
/// IPv4: one route and one source for the whole prefix, as good as
/// always) until the network changes. Loopback needs no lookup.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn cached_source_for(dest: IpAddr) -> Option<IpAddr> {
    match dest {
        IpAddr::V4(v4) if v4.is_loopback() => return Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(v6) if v6.is_loopback() => return Some(dest),
        _ => {}
    }
    let prefix = match dest {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & !0xff)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
    };
    let (network, _) = network_id_at(Instant::now());
    {
        let mut cache = SOURCE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if cache.network != network {
            cache.network = network;
            cache.by_prefix.clear();
        }
        if let Some((_, source)) = cache.by_prefix.iter().find(|(p, _)| *p == prefix) {
            return *source;
        }
    }
    let source = source_for(dest);
    let mut cache = SOURCE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.network == network {
        if cache.by_prefix.len() >= SOURCES {
            cache.by_prefix.clear();
        }
        cache.by_prefix.push((prefix, source));
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_only_needs_a_global_ipv6_source_and_no_ipv4_route() {
        let v4 = Some(Ipv4Addr::new(192, 0, 2, 2));
        let global = Some("2001:db8:1::2".parse().unwrap());
        let link = Some("fe80::1".parse().unwrap());
        let table = [
            (None, global, true),
            (v4, global, false),
            (None, link, false),
            (None, None, false),
            (v4, None, false),
        ];
        for (v4, v6, want) in table {
            assert_eq!(Network { v4, v6 }.ipv6_only(), want, "{v4:?} {v6:?}");
        }
        assert_ne!(
            Network { v4, v6: None }.id(),
            Network { v4, v6: global }.id()
        );
    }

    #[test]
    fn loopback_always_has_a_route() {
        assert_eq!(
            source_for(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Some(Ipv4Addr::LOCALHOST.into())
        );
        // Cached: the same answer twice in a row.
        assert_eq!(network(), network());
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(cached_source_for(v6), Some(v6));
    }
}
