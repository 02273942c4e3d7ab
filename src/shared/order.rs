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
//! [`sort_destinations`] (precedence and scope; see there for which rules).

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
    interleave: usize,
    /// The addresses not yet taken, in the order they came.
    addrs: Vec<SocketAddr>,
    /// The family tried first: that of the first address that came.
    first_is_v6: Option<bool>,
    /// How many addresses have been taken from the queue so far.
    taken: usize,
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
            interleave,
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
            self.taken += 1;
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
        self.taken += 1;
        self.last_was_first = from_first;
        if self.addrs.is_empty() {
            // Free the buffer: a race whose every address has started
            // keeps nothing here while its attempts run.
            self.addrs = Vec::new();
        }
        Some(addr)
    }
}

/// RFC 6724 §2.1 default policy table: the precedence of a destination
/// address. IPv4 addresses count as their IPv4-mapped form (`::ffff:0:0/96`).
///
/// | prefix | precedence |
/// |---|---|
/// | `::1/128` | 50 |
/// | `::/0` (everything else) | 40 |
/// | `::ffff:0:0/96` (IPv4) | 35 |
/// | `2002::/16` (6to4) | 30 |
/// | `2001::/32` (Teredo) | 5 |
/// | `fc00::/7` (unique local) | 3 |
/// | `::/96` (IPv4-compatible, deprecated) | 1 |
/// | `fec0::/10` (site-local, deprecated) | 1 |
/// | `3ffe::/16` (6bone, returned) | 1 |
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn precedence(ip: &IpAddr) -> u8 {
    let v6 = match ip {
        IpAddr::V4(_) => return 35,
        IpAddr::V6(v6) => v6,
    };
    let s = v6.segments();
    let bits = u128::from(*v6);
    if *v6 == Ipv6Addr::LOCALHOST {
        50
    } else if v6.to_ipv4_mapped().is_some() {
        35
    } else if s[0] == 0x2002 {
        30
    } else if s[0] == 0x2001 && s[1] == 0 {
        5
    } else if s[0] & 0xfe00 == 0xfc00 {
        3
    } else if bits >> 32 == 0 || s[0] & 0xffc0 == 0xfec0 || s[0] == 0x3ffe {
        1
    } else {
        40
    }
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

/// Sorts destination addresses after RFC 6724 §6, as far as it goes without
/// knowing the source address each would use:
///
/// * Rule 1, avoid unusable destinations: `usable(ip) == false` sorts last
///   (the hickory resolver asks the kernel whether it has a route);
/// * Rule 6, prefer higher [`precedence`]: native IPv6 before IPv4, and
///   IPv4 before 6to4, Teredo, unique-local, site-local and IPv4-compatible
///   addresses;
/// * Rule 8, prefer smaller [`scope`]: loopback and link-local before global;
/// * Rule 10, otherwise keep the order the addresses came in (the sort is
///   stable).
///
/// A NAT64 address (DNS64's answer under `64:ff9b::/96` or a prefix
/// discovered on this network) is sorted as the IPv4 address it carries.
///
/// Rules 2, 3, 4, 5, 7 and 9 need the source address (or its state) and are
/// not applied; rule 7 (prefer native transport) is mostly covered by the
/// low precedence of 6to4 and Teredo.
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn sort_destinations(addrs: &mut [IpAddr], usable: impl Fn(&IpAddr) -> bool) {
    addrs.sort_by_cached_key(|ip| {
        let as_v4 = unmapped(*ip);
        (!usable(ip), Reverse(precedence(&as_v4)), scope(&as_v4))
    });
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

    #[test]
    fn precedence_follows_the_rfc_6724_policy_table() {
        let table = [
            ("::1", 50),
            ("2001:db8::1", 40),
            ("2606:4700::1111", 40),
            ("fe80::1", 40),
            ("192.0.2.1", 35),
            ("::ffff:192.0.2.1", 35),
            ("2002:c000:0201::1", 30),
            ("2001:0:4136:e378::1", 5),
            ("fd00::1", 3),
            ("fc00::1", 3),
            ("::192.0.2.1", 1),
            ("fec0::1", 1),
            ("3ffe::1", 1),
        ];
        for (ip, want) in table {
            assert_eq!(precedence(&ip.parse().unwrap()), want, "{ip}");
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
        sort_destinations(&mut v, |_| true);
        assert_eq!(
            v,
            ips("2001:db8::1 192.0.2.1 2002:c000:201::1 2001:0:4136:e378::1 fd00::1 fec0::1")
        );
    }

    #[test]
    fn loopback_first_and_smaller_scope_first() {
        let mut v = ips("2001:db8::1 ::1");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("::1 2001:db8::1"));
        // Same precedence: link-local before global (rule 8).
        let mut v = ips("2001:db8::1 fe80::1");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("fe80::1 2001:db8::1"));
        let mut v = ips("192.0.2.1 169.254.0.1 127.0.0.1");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("169.254.0.1 127.0.0.1 192.0.2.1"));
    }

    #[test]
    fn dns64_answers_sort_as_their_ipv4_address() {
        // 64:ff9b::c000:201 is 192.0.2.1: behind native IPv6, beside IPv4,
        // ahead of ULA.
        let mut v = ips("fd00::1 64:ff9b::c000:201 2001:db8::1");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("2001:db8::1 64:ff9b::c000:201 fd00::1"));
        // Its scope is the IPv4 address's: 64:ff9b::a9fe:1 is link-local.
        let mut v = ips("192.0.2.1 64:ff9b::a9fe:1");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("64:ff9b::a9fe:1 192.0.2.1"));
    }

    #[test]
    fn unusable_destinations_go_last_and_ties_keep_their_order() {
        let mut v = ips("2001:db8::1 2001:db8::2 192.0.2.1 2001:db8::3");
        sort_destinations(&mut v, |ip| *ip != "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(v, ips("2001:db8::2 2001:db8::3 192.0.2.1 2001:db8::1"));
        let mut v = ips("192.0.2.3 192.0.2.1 192.0.2.2");
        sort_destinations(&mut v, |_| true);
        assert_eq!(v, ips("192.0.2.3 192.0.2.1 192.0.2.2"));
    }
}
