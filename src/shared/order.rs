//! The order in which addresses are tried (RFC 8305 §4).
//!
//! Addresses are grouped by family, keeping the order they came in within
//! each family. The family of the first address is tried first, for
//! `interleave` addresses (the "First Address Family Count"); after that the
//! families alternate, one address each, starting with the other family.
//! When one family runs out, the other continues alone. `interleave == 0`
//! keeps the order exactly as given.
//!
//! This is asyncio's `_interleave_addrinfos`, done as a queue so that
//! addresses that arrive later (a slow AAAA answer) join in their place.
//!
//! Within one resolver answer, destinations are sorted after RFC 6724 by
//! [`sort_destinations`] (rules 1, 2, 5 to 10 with each destination's source
//! address; see there).

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::shared::nat64::unmapped;

/// Addresses waiting to be tried, in RFC 8305 order.
///
/// One list in arrival order, the family order worked out as addresses are
/// taken: a race holds a handful of addresses, and one list lets the first
/// batch's own buffer become the queue (no allocation on the common path).
#[derive(Debug)]
pub(crate) struct Queue {
    /// In 32 bits, as `taken`: a count past four billion addresses is
    /// never reached, and the two share one word of every pending race.
    interleave: u32,
    /// The addresses not yet taken, in the order they came.
    addrs: Vec<SocketAddr>,
    /// The family tried first: that of the first address that came.
    first_is_v6: Option<bool>,
    /// How many addresses have been taken from the queue so far.
    taken: u32,
    /// Whether the last address taken, past the first-family run, was of the first family.
    last_was_first: bool,
    /// An address to take first whenever it is there (the last winner).
    prefer: Option<IpAddr>,
    /// Addresses to take only when no other is left (recent timeouts).
    avoid: Vec<IpAddr>,
}

impl Queue {
    pub(crate) fn new(interleave: usize) -> Queue {
        Queue {
            interleave: u32::try_from(interleave).unwrap_or(u32::MAX),
            addrs: Vec::new(),
            first_is_v6: None,
            taken: 0,
            last_was_first: true,
            prefer: None,
            avoid: Vec::new(),
        }
    }

    /// What earlier connections taught: `prefer` is taken first whenever
    /// it is there, and its family leads the interleaving; the `avoid`ed
    /// addresses are taken only when no other is left.
    pub(crate) fn advise(&mut self, prefer: Option<IpAddr>, avoid: Vec<IpAddr>) {
        if let Some(ip) = prefer {
            self.first_is_v6 = Some(ip.is_ipv6());
        }
        self.prefer = prefer;
        self.avoid = avoid;
    }

    /// Takes `addr` out as [`pop`](Self::pop) would have given it: an
    /// attempt started before the queue was made.
    pub(crate) fn take(&mut self, addr: SocketAddr) {
        if let Some(i) = self.addrs.iter().position(|a| *a == addr) {
            self.addrs.remove(i);
            self.taken = self.taken.saturating_add(1);
            self.last_was_first = self.is_first(&addr);
            if self.prefer == Some(addr.ip()) {
                self.prefer = None;
            }
        }
    }

    pub(crate) fn extend(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            self.first_is_v6.get_or_insert(addr.is_ipv6());
            self.addrs.push(addr);
        }
    }

    /// [`extend`](Self::extend) with a list, whose buffer becomes the
    /// queue's when the queue is empty.
    pub(crate) fn extend_vec(&mut self, addrs: Vec<SocketAddr>) {
        if self.addrs.is_empty() {
            if let Some(addr) = addrs.first() {
                self.first_is_v6.get_or_insert(addr.is_ipv6());
            }
            self.addrs = addrs;
        } else {
            self.extend(addrs);
        }
    }

    /// Takes addresses out that are no longer to be tried (HTTPS hints an
    /// A or AAAA answer replaced).
    pub(crate) fn withdraw(&mut self, addrs: &[SocketAddr]) {
        if !addrs.is_empty() {
            self.addrs.retain(|a| !addrs.contains(a));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Whether `addr` is of the family tried first (everything is, with
    /// `interleave == 0`).
    fn is_first(&self, addr: &SocketAddr) -> bool {
        self.interleave == 0 || Some(addr.is_ipv6()) == self.first_is_v6
    }

    pub(crate) fn pop(&mut self) -> Option<SocketAddr> {
        if let Some(ip) = self.prefer {
            if let Some(&addr) = self.addrs.iter().find(|a| a.ip() == ip) {
                self.take(addr);
                self.prefer = None;
                return Some(addr);
            }
        }
        // Avoided addresses count only when nothing else is left.
        let skip_avoided =
            !self.avoid.is_empty() && self.addrs.iter().any(|a| !self.avoid.contains(&a.ip()));
        let eligible = |a: &SocketAddr| !skip_avoided || !self.avoid.contains(&a.ip());
        let has_first = self.addrs.iter().any(|a| eligible(a) && self.is_first(a));
        let from_first = if self.taken < self.interleave || self.interleave == 0 {
            has_first
        } else if self.last_was_first {
            !self.addrs.iter().any(|a| eligible(a) && !self.is_first(a))
        } else {
            has_first
        };
        let i = self
            .addrs
            .iter()
            .position(|a| eligible(a) && self.is_first(a) == from_first)?;
        let addr = self.addrs.remove(i);
        self.taken = self.taken.saturating_add(1);
        self.last_was_first = from_first;
        if self.addrs.is_empty() {
            // Free the buffer: a race whose every address has started
            // keeps nothing here while its attempts run.
            self.addrs = Vec::new();
        }
        Some(addr)
    }
}

/// The RFC 6724 §2.1 default policy table, as draft-ietf-6man-rfc6724-update
/// settles it (6to4 demoted from precedence 30 to 5): the precedence and
/// the label of an address. IPv4 addresses count as their IPv4-mapped form
/// (`::ffff:0:0/96`).
///
/// | prefix | precedence | label |
/// |---|---|---|
/// | `::1/128` | 50 | 0 |
/// | `::/0` (everything else) | 40 | 1 |
/// | `::ffff:0:0/96` (IPv4) | 35 | 4 |
/// | `2002::/16` (6to4) | 5 | 2 |
/// | `2001::/32` (Teredo) | 5 | 5 |
/// | `fc00::/7` (unique local) | 3 | 13 |
/// | `::/96` (IPv4-compatible, deprecated) | 1 | 3 |
/// | `fec0::/10` (site-local, deprecated) | 1 | 11 |
/// | `3ffe::/16` (6bone, returned) | 1 | 12 |
///
/// A unique-local destination in the /48 of the unique-local source used
/// for it is "known-local" (the update's automatic row): precedence 45,
/// label 14 (see [`sort_destinations`]).
fn policy(ip: &IpAddr) -> (u8, u8) {
    let v6 = match ip {
        IpAddr::V4(_) => return (35, 4),
        IpAddr::V6(v6) => v6,
    };
    let s = v6.segments();
    let bits = u128::from(*v6);
    if *v6 == Ipv6Addr::LOCALHOST {
        (50, 0)
    } else if v6.to_ipv4_mapped().is_some() {
        (35, 4)
    } else if s[0] == 0x2002 {
        (5, 2)
    } else if s[0] == 0x2001 && s[1] == 0 {
        (5, 5)
    } else if s[0] & 0xfe00 == 0xfc00 {
        (3, 13)
    } else if bits >> 32 == 0 {
        (1, 3)
    } else if s[0] & 0xffc0 == 0xfec0 {
        (1, 11)
    } else if s[0] == 0x3ffe {
        (1, 12)
    } else {
        (40, 1)
    }
}

/// The label of an address ([`policy`]'s table): rule 5 prefers a
/// destination whose label is its source's.
fn label(ip: &IpAddr) -> u8 {
    policy(ip).1
}

/// The scope of a destination address (RFC 6724 §3.1, RFC 4291 §2.7):
/// 2 for link-local, 5 for site-local, 14 for global, and a multicast
/// address's own scope field. The IPv6 loopback address, IPv4 loopback
/// (`127.0.0.0/8`) and IPv4 link-local (`169.254.0.0/16`) count as
/// link-local, as RFC 6724 §3.2 says; every other IPv4 address (private
/// ones included) counts as global.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn scope(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() || v4.is_link_local() {
                0x2
            } else {
                0xe
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return scope(&IpAddr::V4(v4));
            }
            let s0 = v6.segments()[0];
            if v6.is_multicast() {
                (s0 & 0x000f) as u8
            } else if v6.is_loopback() || s0 & 0xffc0 == 0xfe80 {
                0x2
            } else if s0 & 0xffc0 == 0xfec0 {
                0x5
            } else {
                0xe
            }
        }
    }
}

/// Sorts destination addresses after RFC 6724 §6, every rule that a
/// client can know the facts of, with the source address `source` gives
/// for each (`None`: no route; the resolver asks the kernel through a
/// connected UDP socket, which sends nothing, as Go's `addrselect` does):
///
/// * Rule 1, avoid unusable destinations: no source sorts last;
/// * Rule 2, prefer matching scope: the destination's [`scope`] is its
///   source's (a global destination with only a link-local IPv6 source
///   goes behind IPv4);
/// * Rules 3 and 4 (avoid deprecated and prefer home source addresses)
///   need address flags the socket API does not show, and the kernel
///   applied them when it picked the source;
/// * Rule 5, prefer matching label: the destination's [`label`] is its
///   source's (a global IPv6 destination reached from a unique-local
///   source goes behind IPv4 from an IPv4 source);
/// * Rule 6, prefer higher precedence ([`policy`]): native IPv6 before IPv4, and
///   IPv4 before 6to4, Teredo, unique-local, site-local and
///   IPv4-compatible addresses; a known-local unique-local destination
///   (in its unique-local source's /48) at 45, before IPv4;
/// * Rule 7, prefer native transport: 6to4 and Teredo destinations after
///   the others;
/// * Rule 8, prefer smaller [`scope`]: loopback and link-local before global;
/// * Rule 9, longest matching prefix: between IPv6 destinations, the one
///   sharing more leading bits with its source (counted up to 64, the
///   subnet, as Go and the RFC 6724 update do);
/// * Rule 10, otherwise keep the order the addresses came in (the sort is
///   stable).
///
/// The history's round-trip times (HEv3's rule between 8 and 9) are not
/// the resolver's to know: the race puts the last winner first instead.
/// A NAT64 address (DNS64's answer under `64:ff9b::/96` or a prefix
/// discovered on this network) is sorted as the IPv4 address it carries.
/// The reasons are logged at `debug` level (`tracing`).
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn sort_destinations(addrs: &mut [IpAddr], source: impl Fn(&IpAddr) -> Option<IpAddr>) {
    if addrs.len() < 2 {
        return;
    }
    let mut keyed: Vec<(Rank, IpAddr)> = addrs
        .iter()
        .map(|ip| (rank(*ip, source(ip)), *ip))
        .collect();
    keyed.sort_by_key(|(rank, _)| *rank);
    for (slot, (rank, ip)) in addrs.iter_mut().zip(keyed) {
        tracing::trace!(%ip, ?rank, "RFC 6724 order");
        *slot = ip;
    }
    tracing::debug!(order = ?addrs, "destinations sorted (RFC 6724)");
}

/// Whether `ip`, from `source`, sorts before a global IPv4 destination
/// reached from an IPv4 source ([`sort_destinations`]'s rules): whether an
/// AAAA answer should lead the race without waiting for A.
pub(crate) fn ranks_above_ipv4(ip: &IpAddr, source: Option<IpAddr>) -> bool {
    let v4 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    rank(*ip, source) < rank(v4, Some(v4))
}

/// What RFC 6724 §6 compares of one destination, in rule order: smaller
/// sorts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// Rule 1: no source.
    unusable: bool,
    /// Rule 2: scopes differ.
    scope_mismatch: bool,
    /// Rule 5: labels differ.
    label_mismatch: bool,
    /// Rule 6.
    precedence: Reverse<u8>,
    /// Rule 7: reached through a tunnel (6to4, Teredo).
    tunnelled: bool,
    /// Rule 8.
    scope: u8,
    /// Rule 9: leading bits shared with the source (IPv6 only).
    common: Reverse<u8>,
}

fn rank(dest: IpAddr, source: Option<IpAddr>) -> Rank {
    let d = unmapped(dest);
    let (mut precedence, mut dest_label) = policy(&d);
    let (scope_mismatch, mut label_mismatch, common) = match source {
        None => (false, false, 0),
        Some(s) => {
            let common = match (dest, s) {
                (IpAddr::V6(d6), IpAddr::V6(s6)) if d == dest => {
                    (u128::from(d6) ^ u128::from(s6)).leading_zeros().min(64) as u8
                }
                _ => 0,
            };
            // Rule 5 compares what goes on the wire: a NAT64 address is an
            // IPv6 destination from an IPv6 source.
            (scope(&d) != scope(&s), label(&s) != label(&dest), common)
        }
    };
    // The update's known-local unique-local addresses: the destination in
    // the /48 of its unique-local source.
    if let (IpAddr::V6(d6), Some(IpAddr::V6(s6))) = (dest, source) {
        let ula = |a: Ipv6Addr| a.segments()[0] & 0xfe00 == 0xfc00;
        if ula(d6) && ula(s6) && u128::from(d6) >> 80 == u128::from(s6) >> 80 {
            precedence = 45;
            dest_label = 14;
            label_mismatch = false;
        }
    }
    Rank {
        unusable: source.is_none(),
        scope_mismatch,
        label_mismatch,
        precedence: Reverse(precedence),
        tunnelled: matches!(dest_label, 2 | 5),
        scope: scope(&d),
        common: Reverse(common),
    }
}

/// Orders a complete list of addresses: see the module docs.
#[cfg(test)]
pub(crate) fn interleave(
    addrs: impl IntoIterator<Item = SocketAddr>,
    interleave: usize,
) -> Vec<SocketAddr> {
    let mut queue = Queue::new(interleave);
    queue.extend(addrs);
    std::iter::from_fn(|| queue.pop()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        if s.contains(':') {
            format!("[{s}]:80").parse().unwrap()
        } else {
            format!("{s}:80").parse().unwrap()
        }
    }

    fn list(s: &str) -> Vec<SocketAddr> {
        s.split_whitespace().map(a).collect()
    }

    fn drain(mut q: Queue) -> Vec<SocketAddr> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn the_last_winner_goes_first_and_its_family_leads() {
        let mut q = Queue::new(1);
        q.advise(Some("127.0.0.2".parse().unwrap()), Vec::new());
        q.extend(list("::1 ::2 127.0.0.1 127.0.0.2"));
        assert_eq!(drain(q), list("127.0.0.2 ::1 127.0.0.1 ::2"));
    }

    #[test]
    fn a_winner_that_comes_late_is_still_taken_next() {
        let mut q = Queue::new(1);
        q.advise(Some("127.0.0.1".parse().unwrap()), Vec::new());
        q.extend(list("::1 ::2"));
        assert_eq!(q.pop(), Some(a("::1")));
        q.extend(list("127.0.0.1"));
        assert_eq!(q.pop(), Some(a("127.0.0.1")));
        assert_eq!(q.pop(), Some(a("::2")));
    }

    #[test]
    fn recent_timeouts_go_behind_the_others() {
        let mut q = Queue::new(1);
        q.advise(None, vec!["::1".parse().unwrap()]);
        q.extend(list("::1 ::2 127.0.0.1"));
        assert_eq!(drain(q), list("::2 127.0.0.1 ::1"));
        // Only avoided ones left: they are still tried.
        let mut q = Queue::new(1);
        q.advise(None, vec!["::1".parse().unwrap()]);
        q.extend(list("::1"));
        assert_eq!(drain(q), list("::1"));
    }

    #[test]
    fn an_attempt_begun_before_the_queue_is_not_given_again() {
        let mut q = Queue::new(1);
        q.advise(Some("127.0.0.1".parse().unwrap()), Vec::new());
        q.extend(list("::1 127.0.0.1 ::2"));
        q.take(a("127.0.0.1"));
        assert_eq!(drain(q), list("::1 ::2"));
    }

    #[test]
    fn interleave_matches_asyncio() {
        let input = list("::1 ::2 ::3 1.0.0.1 1.0.0.2 1.0.0.3");
        assert_eq!(
            interleave(input.clone(), 1),
            list("::1 1.0.0.1 ::2 1.0.0.2 ::3 1.0.0.3")
        );
        assert_eq!(
            interleave(input.clone(), 2),
            list("::1 ::2 1.0.0.1 ::3 1.0.0.2 1.0.0.3")
        );
        assert_eq!(
            interleave(input.clone(), 3),
            list("::1 ::2 ::3 1.0.0.1 1.0.0.2 1.0.0.3")
        );
        assert_eq!(interleave(input.clone(), 0), input);
        // The first address's family leads.
        let v4_first = list("1.0.0.1 ::1 ::2 1.0.0.2");
        assert_eq!(interleave(v4_first, 1), list("1.0.0.1 ::1 1.0.0.2 ::2"));
        // One family alone keeps its order.
        assert_eq!(interleave(list("::3 ::1 ::2"), 1), list("::3 ::1 ::2"));
        // A family that runs out leaves the other to continue.
        assert_eq!(
            interleave(list("::1 1.0.0.1 1.0.0.2 1.0.0.3"), 1),
            list("::1 1.0.0.1 1.0.0.2 1.0.0.3")
        );
    }

    #[test]
    fn late_addresses_join_in_their_place() {
        // A answered first; AAAA comes after two attempts have started.
        let mut q = Queue::new(1);
        q.extend(list("1.0.0.1 1.0.0.2 1.0.0.3"));
        assert_eq!(q.pop(), Some(a("1.0.0.1")));
        assert_eq!(q.pop(), Some(a("1.0.0.2")));
        q.extend(list("::1 ::2"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some(a("::1")));
        assert_eq!(q.pop(), Some(a("1.0.0.3")));
        assert_eq!(q.pop(), Some(a("::2")));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    fn ips(s: &str) -> Vec<IpAddr> {
        s.split_whitespace().map(|a| a.parse().unwrap()).collect()
    }

    /// Every destination its own source, so that rules 2, 5 and 9 all
    /// agree; a unique-local one from another /48 (not known-local).
    fn itself(ip: &IpAddr) -> Option<IpAddr> {
        match ip {
            IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00 => {
                Some("fd99:9999:9999::1".parse().unwrap())
            }
            ip => Some(*ip),
        }
    }

    /// Sorts `dests`, each with the source `sources` pairs it with.
    fn sorted(dests: &str, sources: &[(&str, &str)]) -> Vec<IpAddr> {
        let mut v = ips(dests);
        let table: Vec<(IpAddr, IpAddr)> = sources
            .iter()
            .map(|(d, s)| (d.parse().unwrap(), s.parse().unwrap()))
            .collect();
        sort_destinations(&mut v, |ip| {
            table.iter().find(|(d, _)| d == ip).map(|(_, s)| *s)
        });
        v
    }

    #[test]
    fn rfc_6724_rules_with_source_addresses() {
        // Rule 2: a global IPv6 destination with only a link-local source
        // goes behind IPv4.
        let got = sorted(
            "2001:db8:5::1 198.51.100.7",
            &[
                ("2001:db8:5::1", "fe80::2"),
                ("198.51.100.7", "198.51.100.2"),
            ],
        );
        assert_eq!(got, ips("198.51.100.7 2001:db8:5::1"));
        // Rule 5: from a unique-local source, a global IPv6 destination
        // goes behind IPv4 (glibc and Go agree).
        let got = sorted(
            "2001:db8:5::1 198.51.100.7",
            &[
                ("2001:db8:5::1", "fd00:1::2"),
                ("198.51.100.7", "198.51.100.2"),
            ],
        );
        assert_eq!(got, ips("198.51.100.7 2001:db8:5::1"));
        // ... and with a global source, IPv6 leads (rule 6).
        let got = sorted(
            "198.51.100.7 2001:db8:5::1",
            &[
                ("2001:db8:5::1", "2001:db8:1::2"),
                ("198.51.100.7", "198.51.100.2"),
            ],
        );
        assert_eq!(got, ips("2001:db8:5::1 198.51.100.7"));
        // Rule 9: the destination sharing the source's subnet first.
        let got = sorted(
            "2001:db8:c::99 2001:db8:a::99",
            &[
                ("2001:db8:c::99", "2001:db8:a::2"),
                ("2001:db8:a::99", "2001:db8:a::2"),
            ],
        );
        assert_eq!(got, ips("2001:db8:a::99 2001:db8:c::99"));
        // Rule 9 counts 64 bits at most: within one subnet, the order stays.
        let got = sorted(
            "2001:db8:a::ff 2001:db8:a::3",
            &[
                ("2001:db8:a::ff", "2001:db8:a::2"),
                ("2001:db8:a::3", "2001:db8:a::2"),
            ],
        );
        assert_eq!(got, ips("2001:db8:a::ff 2001:db8:a::3"));
        // Rule 1 before all: no route, last.
        let got = sorted("::1 127.0.0.1", &[("127.0.0.1", "127.0.0.1")]);
        assert_eq!(got, ips("127.0.0.1 ::1"));
    }

    #[test]
    fn known_local_unique_local_addresses_go_before_ipv4() {
        // fd00:1:2::/48 is the source's own: known-local, precedence 45.
        let got = sorted(
            "198.51.100.7 fd00:1:2:3::9 fd99::9",
            &[
                ("198.51.100.7", "198.51.100.2"),
                ("fd00:1:2:3::9", "fd00:1:2::2"),
                ("fd99::9", "fd00:1:2::2"),
            ],
        );
        assert_eq!(got, ips("fd00:1:2:3::9 198.51.100.7 fd99::9"));
    }

    #[test]
    fn precedence_follows_the_rfc_6724_policy_table() {
        let table = [
            ("::1", 50),
            ("2001:db8::1", 40),
            ("2606:4700::1111", 40),
            ("fe80::1", 40),
            ("192.0.2.1", 35),
            ("::ffff:192.0.2.1", 35),
            ("2002:c000:0201::1", 5),
            ("2001:0:4136:e378::1", 5),
            ("fd00::1", 3),
            ("fc00::1", 3),
            ("::192.0.2.1", 1),
            ("fec0::1", 1),
            ("3ffe::1", 1),
        ];
        for (ip, want) in table {
            assert_eq!(policy(&ip.parse().unwrap()).0, want, "{ip}");
        }
    }

    #[test]
    fn scope_of_destinations() {
        let table = [
            ("::1", 2),
            ("fe80::1", 2),
            ("fec0::1", 5),
            ("2001:db8::1", 14),
            ("ff02::1", 2),
            ("ff05::1", 5),
            ("ff0e::1", 14),
            ("127.0.0.1", 2),
            ("169.254.1.1", 2),
            ("10.0.0.1", 14),
            ("192.0.2.1", 14),
            ("::ffff:127.0.0.1", 2),
        ];
        for (ip, want) in table {
            assert_eq!(scope(&ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn native_ipv6_before_ipv4_before_tunnels_and_ula() {
        let mut v =
            ips("2001:0:4136:e378::1 fd00::1 192.0.2.1 2002:c000:201::1 2001:db8::1 fec0::1");
        sort_destinations(&mut v, itself);
        // 6to4 and Teredo tie on precedence 5 (the RFC 6724 update) and
        // keep their order.
        assert_eq!(
            v,
            ips("2001:db8::1 192.0.2.1 2001:0:4136:e378::1 2002:c000:201::1 fd00::1 fec0::1")
        );
    }

    #[test]
    fn loopback_first_and_smaller_scope_first() {
        let mut v = ips("2001:db8::1 ::1");
        sort_destinations(&mut v, itself);
        assert_eq!(v, ips("::1 2001:db8::1"));
        // Same precedence: link-local before global (rule 8).
        let mut v = ips("2001:db8::1 fe80::1");
        sort_destinations(&mut v, itself);
        assert_eq!(v, ips("fe80::1 2001:db8::1"));
        let mut v = ips("192.0.2.1 169.254.0.1 127.0.0.1");
        sort_destinations(&mut v, itself);
        assert_eq!(v, ips("169.254.0.1 127.0.0.1 192.0.2.1"));
    }

    #[test]
    fn dns64_answers_sort_as_their_ipv4_address() {
        // 64:ff9b::c000:201 is 192.0.2.1: behind native IPv6, beside IPv4,
        // ahead of ULA.
        let mut v = ips("fd00::1 64:ff9b::c000:201 2001:db8::1");
        sort_destinations(&mut v, itself);
        assert_eq!(v, ips("2001:db8::1 64:ff9b::c000:201 fd00::1"));
    }

    #[test]
    fn unusable_destinations_go_last_and_ties_keep_their_order() {
        let mut v = ips("2001:db8::1 2001:db8::2 192.0.2.1 2001:db8::3");
        sort_destinations(&mut v, |ip| {
            (*ip != "2001:db8::1".parse::<IpAddr>().unwrap()).then_some(*ip)
        });
        assert_eq!(v, ips("2001:db8::2 2001:db8::3 192.0.2.1 2001:db8::1"));
        let mut v = ips("192.0.2.3 192.0.2.1 192.0.2.2");
        sort_destinations(&mut v, itself);
        assert_eq!(v, ips("192.0.2.3 192.0.2.1 192.0.2.2"));
    }
}
