//! NAT64 prefix discovery (RFC 7050) through the crate's resolver, and the
//! synthesis of IPv6 addresses for IPv4 ones on an IPv6-only network
//! (RFC 8305 §7, draft-ietf-happy-happyeyeballs-v3 §7).
//!
//! The prefix is asked once per network: what a discovery found is kept
//! (`shared::nat64::record`) with the identity of the network it was found
//! on (`sys::network`) and asked again when that changes. A discovery that
//! failed (no answer in time) is kept [`RETRY`] so that a burst of
//! connects does not wait on it each. What it found is what the address
//! policy and the order read (`shared::nat64::known`), so that they judge
//! addresses under a network-specific prefix as the IPv4 addresses they
//! carry.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::api::{Addrs, Resolve};
use super::error::{ResolveError, ResolveErrorKind};
use super::svcb::{Resolution, Resolved};
use crate::shared::nat64::{discovered, may_synthesize, record, Nat64Prefix};
use crate::Family;

/// The name whose AAAA records show the NAT64 prefix (RFC 7050 §2.2).
pub(crate) const IPV4ONLY_ARPA: &str = "ipv4only.arpa.";

/// How long a failed discovery is kept before the next connect asks again.
const RETRY: Duration = Duration::from_secs(30);

/// The NAT64 prefixes the AAAA records of `ipv4only.arpa` show (RFC 7050),
/// asked of `resolver`: see [`Resolver::nat64_prefixes`](crate::Resolver::nat64_prefixes).
pub(crate) async fn discover<R: Resolve>(resolver: &R) -> Result<Vec<Nat64Prefix>, ResolveError> {
    let mut answers: Vec<Ipv6Addr> = Vec::new();
    let mut error = None;
    let mut batches = resolver.resolve(IPV4ONLY_ARPA, Family::V6);
    while let Some(batch) = batches.next().await {
        match batch {
            Ok(ips) => answers.extend(ips.into_iter().filter_map(|ip| match ip {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })),
            Err(e) => error = Some(e),
        }
    }
    match error {
        Some(e)
            if answers.is_empty()
                && !matches!(
                    e.kind(),
                    ResolveErrorKind::NoRecords | ResolveErrorKind::NoSuchName
                ) =>
        {
            Err(e)
        }
        _ => Ok(Nat64Prefix::from_ipv4only(&answers)),
    }
}

/// The NAT64 prefixes of the network `network`, discovered through
/// `resolver` unless already known for it.
pub(crate) async fn prefixes<R: Resolve>(resolver: &R, network: u64) -> Arc<[Nat64Prefix]> {
    if let Some(prefixes) = discovered(network, RETRY) {
        return prefixes;
    }
    let prefixes: Option<Arc<[Nat64Prefix]>> = match discover(resolver).await {
        Ok(prefixes) => {
            tracing::debug!(?prefixes, "NAT64 prefix discovery (ipv4only.arpa)");
            Some(prefixes.into())
        }
        Err(e) => {
            tracing::debug!(error = %e, "NAT64 prefix discovery failed");
            None
        }
    };
    record(network, prefixes.clone());
    prefixes.unwrap_or_else(|| Arc::from([]))
}

/// `ips` with each IPv4 address replaced by its synthesis under each of
/// `prefixes` (an address [`may_synthesize`] refuses is kept as it is),
/// and no address twice.
pub(crate) fn synthesize(ips: Vec<IpAddr>, prefixes: &[Nat64Prefix]) -> Vec<IpAddr> {
    if prefixes.is_empty() || !ips.iter().any(IpAddr::is_ipv4) {
        return ips;
    }
    let mut out = Vec::with_capacity(ips.len() * prefixes.len());
    for ip in ips {
        let mut push = |ip: IpAddr| {
            if !out.contains(&ip) {
                out.push(ip);
            }
        };
        match ip {
            IpAddr::V4(v4) if may_synthesize(v4) => {
                for prefix in prefixes {
                    push(IpAddr::V6(prefix.synthesize(v4)));
                }
            }
            ip => push(ip),
        }
    }
    out
}

/// A resolution's batches with their IPv4 addresses synthesized for the
/// NAT64 of an IPv6-only network `network`: the prefix is discovered (or
/// taken from what was) when the first batch comes.
///
/// An address handed out once is not handed out again: DNS64's AAAA answer
/// and the synthesis of the A answer are the same addresses.
pub(crate) fn synthesized<R: Resolve + Clone>(resolver: R, network: u64, addrs: Addrs) -> Addrs {
    let seen = Arc::new(Mutex::new(Vec::<IpAddr>::new()));
    addrs
        .then(move |batch| {
            let resolver = resolver.clone();
            let seen = seen.clone();
            async move {
                let mut ips = batch?;
                // Known before any address is handed out, IPv6 ones too:
                // a DNS64 answer under the network's prefix is judged and
                // sorted as the IPv4 address it carries.
                let prefixes = prefixes(&resolver, network).await;
                if ips
                    .iter()
                    .any(|ip| matches!(ip, IpAddr::V4(v4) if may_synthesize(*v4)))
                {
                    ips = synthesize(ips, &prefixes);
                    tracing::debug!(?ips, "IPv4 addresses synthesized for NAT64");
                }
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                ips.retain(|ip| !seen.contains(ip));
                seen.extend_from_slice(&ips);
                Ok(ips)
            }
        })
        .filter(|batch| std::future::ready(!matches!(batch, Ok(ips) if ips.is_empty())))
        .boxed()
}

/// A service resolution (HTTPS records) with its IPv4 answers and
/// `ipv4hint`s synthesized for the NAT64 of an IPv6-only network `network`.
pub(crate) fn synthesized_service<R: Resolve + Clone>(
    resolver: R,
    network: u64,
    resolution: Resolution,
) -> Resolution {
    resolution
        .then(move |item| {
            let resolver = resolver.clone();
            async move {
                let item = item?;
                let prefixes = prefixes(&resolver, network).await;
                Ok(match item {
                    Resolved::Addrs(ips) => Resolved::Addrs(synthesize(ips, &prefixes)),
                    Resolved::TargetAddrs { target, addrs } => Resolved::TargetAddrs {
                        target,
                        addrs: synthesize(addrs, &prefixes),
                    },
                    Resolved::Services(mut records) => {
                        for record in &mut records {
                            record.synthesize_hints(|v4| match may_synthesize(v4) {
                                true => prefixes.iter().map(|p| p.synthesize(v4)).collect(),
                                false => Vec::new(),
                            });
                        }
                        Resolved::Services(records)
                    }
                })
            }
        })
        .boxed()
}

/// IPv4 literals as a resolution of their synthesized addresses, for an
/// IPv6-only network `network`.
pub(crate) fn literals<R: Resolve + Clone>(resolver: R, network: u64, ips: Vec<IpAddr>) -> Addrs {
    synthesized(resolver, network, stream::iter([Ok(ips)]).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::Resolver;

    fn ips(s: &str) -> Vec<IpAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn ipv4_addresses_become_one_per_prefix_and_host_ranges_stay() {
        let nsp = Nat64Prefix::new("2001:db8:64::/64".parse().unwrap()).unwrap();
        let both = [Nat64Prefix::WELL_KNOWN, nsp];
        assert_eq!(
            synthesize(ips("192.0.2.1 2001:db8::1 127.0.0.1 169.254.0.1"), &both),
            ips("64:ff9b::c000:201 2001:db8:64:0:c0:2:100:0 2001:db8::1 127.0.0.1 169.254.0.1")
        );
        // No prefix: nothing to do.
        assert_eq!(synthesize(ips("192.0.2.1"), &[]), ips("192.0.2.1"));
        // A DNS64 answer beside the A answer is not given twice.
        assert_eq!(
            synthesize(ips("64:ff9b::c000:201 192.0.2.1"), &both[..1]),
            ips("64:ff9b::c000:201")
        );
    }

    #[test]
    fn ipv4_hints_become_ipv6_hints() {
        use super::super::svcb::ServiceRecord;
        let mut record = ServiceRecord::new(1, ".")
            .with_ipv4_hints(["192.0.2.1".parse().unwrap(), "127.0.0.1".parse().unwrap()]);
        let wkp = Nat64Prefix::WELL_KNOWN;
        record.synthesize_hints(|v4| match may_synthesize(v4) {
            true => vec![wkp.synthesize(v4)],
            false => Vec::new(),
        });
        assert_eq!(
            record.ipv6_hints(),
            ["64:ff9b::c000:201".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(
            record.ipv4_hints(),
            ["127.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn discovery_through_a_fixed_resolver() {
        let resolver = Resolver::fixed([(
            "ipv4only.arpa",
            ips("64:ff9b::c000:aa 2001:db8:64:0:c0:0:ab00:0"),
        )]);
        let found = resolver.nat64_prefixes().await.unwrap();
        let nsp = Nat64Prefix::new("2001:db8:64::/64".parse().unwrap()).unwrap();
        assert_eq!(found, [Nat64Prefix::WELL_KNOWN, nsp]);
        // No such name: no DNS64, and no error.
        let none = Resolver::fixed([("other.test", ips("192.0.2.1"))]);
        assert_eq!(none.nat64_prefixes().await.unwrap(), []);
    }
}
