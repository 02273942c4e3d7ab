//! NAT64 prefixes (RFC 6052) and what is learnt of them (RFC 7050).
//!
//! # Why the client synthesizes
//!
//! On an IPv6-only network (most mobile carriers, many new networks) a
//! NAT64 gateway reaches IPv4 hosts for IPv6 clients, and DNS64 hands out
//! IPv6 addresses that embed the IPv4 address of names that have only an A
//! record. What DNS64 cannot rewrite never gets an IPv6 form: an IPv4
//! literal (`203.0.113.5:443`), an HTTPS record's `ipv4hint`, an A answer
//! from a resolver that is not the network's. RFC 8305 §7 (a MUST in
//! Happy Eyeballs v3) asks the client to build that address itself, from
//! the prefix the network uses, found by asking for the AAAA records of
//! `ipv4only.arpa` (RFC 7050): its only A records are `192.0.0.170` and
//! `192.0.0.171`, so an AAAA answer is DNS64's synthesis and shows where
//! the IPv4 address goes.
//!
//! # Where the IPv4 address goes (RFC 6052 §2.2)
//!
//! | prefix | IPv4 bytes at | the rest |
//! |---|---|---|
//! | /32 | 4..8 | byte 8 zero (the "u" octet), suffix zero |
//! | /40 | 5..8 and 9 | byte 8 zero |
//! | /48 | 6..8 and 9..11 | byte 8 zero |
//! | /56 | 7 and 9..12 | byte 8 zero |
//! | /64 | 9..13 | byte 8 zero |
//! | /96 | 12..16 | |
//!
//! Bits 64 to 71 (byte 8) are always zero for compatibility with RFC 4291
//! interface identifiers, so the IPv4 address steps over them.
//!
//! # What is shared
//!
//! The prefixes discovered on the current network are kept process-wide
//! ([`known`]), so the address policy and the address order judge a DNS64
//! answer under a network-specific prefix as the IPv4 address it carries,
//! as they do for the well-known prefix `64:ff9b::/96` always.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;

/// The IPv4 addresses `ipv4only.arpa` has (RFC 7050 §2.2).
const WELL_KNOWN_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];

/// The prefix lengths RFC 6052 §2.2 allows, in the order RFC 7050
/// discovery tries them.
const LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// A NAT64 prefix (RFC 6052): where a network's NAT64 gateway maps the
/// IPv4 address space into IPv6, as `64:ff9b::/96` (the well-known
/// prefix) or a network-specific one such as `2001:db8:64::/64`.
///
/// The crate discovers the current network's prefix itself (RFC 7050,
/// through the connection's resolver) when it needs one; this type is for
/// building and reading such addresses, and for what a discovery found
/// ([`Resolver::nat64_prefixes`](crate::Resolver::nat64_prefixes)).
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, Ipv6Addr};
/// use tokio_endpoints::Nat64Prefix;
///
/// let wkp = Nat64Prefix::WELL_KNOWN;
/// let v6 = wkp.synthesize(Ipv4Addr::new(192, 0, 2, 33));
/// assert_eq!(v6, "64:ff9b::c000:221".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(wkp.extract(v6), Some(Ipv4Addr::new(192, 0, 2, 33)));
///
/// // A network-specific /40: the IPv4 address steps over bits 64..71.
/// let nsp = Nat64Prefix::new("2001:db8:100::/40".parse().unwrap()).unwrap();
/// let v6 = nsp.synthesize(Ipv4Addr::new(192, 0, 2, 33));
/// assert_eq!(v6, "2001:db8:1c0:2:21::".parse::<Ipv6Addr>().unwrap());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nat64Prefix {
    /// The prefix bits, every bit past `len` zero.
    bits: u128,
    len: u8,
}

impl Nat64Prefix {
    /// The well-known prefix `64:ff9b::/96` (RFC 6052 §2.1).
    pub const WELL_KNOWN: Nat64Prefix = Nat64Prefix {
        bits: 0x0064_ff9b << 96,
        len: 96,
    };

    /// The prefix `net`, or `None` when its length is not one RFC 6052
    /// allows (32, 40, 48, 56, 64 or 96). Bits past the length are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Nat64Prefix;
    ///
    /// assert!(Nat64Prefix::new("2001:db8:64::/64".parse().unwrap()).is_some());
    /// assert!(Nat64Prefix::new("2001:db8::/33".parse().unwrap()).is_none());
    /// ```
    pub fn new(net: Ipv6Net) -> Option<Nat64Prefix> {
        let len = net.prefix_len();
        LENGTHS.contains(&len).then(|| Nat64Prefix {
            bits: u128::from(net.trunc().network()),
            len,
        })
    }

    /// The prefix as a network (`64:ff9b::/96`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Nat64Prefix;
    ///
    /// assert_eq!(Nat64Prefix::WELL_KNOWN.net().to_string(), "64:ff9b::/96");
    /// ```
    pub fn net(&self) -> Ipv6Net {
        Ipv6Net::new(Ipv6Addr::from(self.bits), self.len).expect("a length RFC 6052 allows")
    }

    /// The IPv6 address that reaches `v4` through this prefix's NAT64
    /// (RFC 6052 §2.2; the suffix is zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use tokio_endpoints::Nat64Prefix;
    ///
    /// let nsp = Nat64Prefix::new("2001:db8:64::/64".parse().unwrap()).unwrap();
    /// assert_eq!(nsp.synthesize(Ipv4Addr::new(10, 0, 0, 5)).to_string(), "2001:db8:64:0:a:0:500:0");
    /// ```
    pub fn synthesize(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut bytes = self.bits.to_be_bytes();
        for (at, b) in positions(self.len).zip(v4.octets()) {
            bytes[at] = b;
        }
        Ipv6Addr::from(bytes)
    }

    /// The IPv4 address `v6` carries, if it is under this prefix (with the
    /// "u" octet, bits 64 to 71, zero for /32 to /64); the suffix is not
    /// checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use tokio_endpoints::Nat64Prefix;
    ///
    /// let wkp = Nat64Prefix::WELL_KNOWN;
    /// assert_eq!(wkp.extract("64:ff9b::a00:5".parse().unwrap()), Some(Ipv4Addr::new(10, 0, 0, 5)));
    /// assert_eq!(wkp.extract("2001:db8::a00:5".parse().unwrap()), None);
    /// ```
    pub fn extract(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        let bits = u128::from(v6);
        if bits & mask(self.len) != self.bits {
            return None;
        }
        let bytes = bits.to_be_bytes();
        if self.len < 96 && bytes[8] != 0 {
            return None;
        }
        let mut v4 = [0; 4];
        for (b, at) in v4.iter_mut().zip(positions(self.len)) {
            *b = bytes[at];
        }
        Some(Ipv4Addr::from(v4))
    }

    /// The prefixes an AAAA answer for `ipv4only.arpa` shows (RFC 7050
    /// §3): for each address, the RFC 6052 position at which it carries
    /// `192.0.0.170` or `192.0.0.171`. Where an address carries one at
    /// more than one position, the position at which another address of
    /// the answer carries the other with the same prefix wins (RFC 7050
    /// §3's way to tell them apart); otherwise the longest prefix. No
    /// prefix appears twice, and the order is the answer's.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Nat64Prefix;
    ///
    /// let found = Nat64Prefix::from_ipv4only(&["64:ff9b::c000:aa".parse().unwrap()]);
    /// assert_eq!(found, [Nat64Prefix::WELL_KNOWN]);
    /// ```
    pub fn from_ipv4only(answer: &[Ipv6Addr]) -> Vec<Nat64Prefix> {
        let mut found = Vec::new();
        for &v6 in answer {
            let at = |len: u8| {
                let prefix = Nat64Prefix {
                    bits: u128::from(v6) & mask(len),
                    len,
                };
                let v4 = prefix.extract(v6)?;
                let wka = WELL_KNOWN_V4.iter().position(|w| *w == v4)?;
                Some((prefix, wka))
            };
            let candidates: Vec<(Nat64Prefix, usize)> =
                LENGTHS.iter().filter_map(|&l| at(l)).collect();
            let confirmed = candidates.iter().find(|(prefix, wka)| {
                let other = prefix.synthesize(WELL_KNOWN_V4[1 - wka]);
                answer.contains(&other)
            });
            if let Some(&(prefix, _)) = confirmed.or(candidates.first()) {
                if !found.contains(&prefix) {
                    found.push(prefix);
                }
            }
        }
        found
    }
}

impl fmt::Debug for Nat64Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nat64Prefix({})", self.net())
    }
}

impl fmt::Display for Nat64Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.net(), f)
    }
}

/// The byte positions of the four IPv4 bytes under a prefix of `len` bits:
/// from the byte after the prefix on, stepping over byte 8 (the "u"
/// octet) below /96.
fn positions(len: u8) -> impl Iterator<Item = usize> {
    (usize::from(len / 8)..16)
        .filter(move |&i| len == 96 || i != 8)
        .take(4)
}

fn mask(len: u8) -> u128 {
    u128::MAX.checked_shl(u32::from(128 - len)).unwrap_or(0)
}

/// Whether an IPv4 address may be reached through a NAT64 synthesis:
/// every address but "this network" (`0.0.0.0/8`), loopback
/// (`127.0.0.0/8`), link-local (`169.254.0.0/16`) and the limited
/// broadcast address, which only mean something on the host or its link
/// (draft-ietf-happy-happyeyeballs-v3 §7.1).
pub(crate) fn may_synthesize(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(a == 0 || a == 127 || (a == 169 && b == 254) || v4 == Ipv4Addr::BROADCAST)
}

static KNOWN: RwLock<Option<Arc<[Nat64Prefix]>>> = RwLock::new(None);

/// The NAT64 prefixes discovered last (`None` before a discovery, when it
/// failed, or when it found none).
pub(crate) fn known() -> Option<Arc<[Nat64Prefix]>> {
    KNOWN.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn set_known(prefixes: Option<Arc<[Nat64Prefix]>>) {
    *KNOWN.write().unwrap_or_else(|e| e.into_inner()) = prefixes.filter(|p| !p.is_empty());
}

/// What was discovered, on which network, and when.
struct Discovered {
    network: u64,
    at: Instant,
    /// `None`: the discovery failed.
    prefixes: Option<Arc<[Nat64Prefix]>>,
}

static DISCOVERED: Mutex<Option<Discovered>> = Mutex::new(None);

/// Records what a discovery on the network `network` found (`None`: it
/// failed), for [`discovered`], [`none_found`] and [`known`].
pub(crate) fn record(network: u64, prefixes: Option<Arc<[Nat64Prefix]>>) {
    set_known(prefixes.clone());
    *DISCOVERED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Discovered {
        network,
        at: Instant::now(),
        prefixes,
    });
}

/// What a discovery on the network `network` found, if one did (a failed
/// one counts as "none" for `retry` after it).
pub(crate) fn discovered(network: u64, retry: Duration) -> Option<Arc<[Nat64Prefix]>> {
    let found = DISCOVERED.lock().unwrap_or_else(|e| e.into_inner());
    let d = found.as_ref().filter(|d| d.network == network)?;
    match &d.prefixes {
        Some(prefixes) => Some(prefixes.clone()),
        None if d.at.elapsed() < retry => Some(Arc::from([])),
        None => None,
    }
}

/// Whether a discovery on the network `network` found that it has no
/// NAT64 (no DNS64 answer for `ipv4only.arpa`).
#[cfg_attr(not(feature = "hickory"), allow(dead_code))]
pub(crate) fn none_found(network: u64) -> bool {
    let found = DISCOVERED.lock().unwrap_or_else(|e| e.into_inner());
    found
        .as_ref()
        .is_some_and(|d| d.network == network && d.prefixes.as_deref().is_some_and(<[_]>::is_empty))
}

/// The IPv4 address a NAT64 address carries: under the well-known prefix,
/// or under a prefix discovered on this network.
pub(crate) fn carried_v4(v6: Ipv6Addr) -> Option<(Nat64Prefix, Ipv4Addr)> {
    if let Some(v4) = Nat64Prefix::WELL_KNOWN.extract(v6) {
        return Some((Nat64Prefix::WELL_KNOWN, v4));
    }
    // The common case, a plain IPv6 address and no discovered prefix, reads
    // one lock and nothing else.
    let known = known()?;
    known.iter().find_map(|p| p.extract(v6).map(|v4| (*p, v4)))
}

/// `ip` as the IPv4 address it stands for when it is a NAT64 address
/// ([`carried_v4`]), else itself: how DNS64 answers are sorted and shown.
pub(crate) fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => carried_v4(v6).map_or(ip, |(_, v4)| IpAddr::V4(v4)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Nat64Prefix {
        Nat64Prefix::new(s.parse().unwrap()).unwrap()
    }

    /// RFC 6052 §2.4's table, 192.0.2.33 under each length.
    const RFC_6052_EXAMPLES: [(&str, &str); 7] = [
        ("2001:db8::/32", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
    ];

    #[test]
    fn synthesis_and_extraction_follow_rfc_6052_examples() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        for (prefix, want) in RFC_6052_EXAMPLES {
            let want: Ipv6Addr = want.parse().unwrap();
            assert_eq!(p(prefix).synthesize(v4), want, "{prefix}");
            assert_eq!(p(prefix).extract(want), Some(v4), "{prefix}");
        }
    }

    #[test]
    fn extraction_refuses_other_prefixes_and_a_set_u_octet() {
        let table = [
            ("2001:db8::/32", "2001:db9:c000:221::"),
            ("2001:db8::/32", "2001:db8:c000:221:ff00::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:ffc0:2:2100:0"),
            ("64:ff9b::/96", "64:ff9b:1::c000:221"),
        ];
        for (prefix, ip) in table {
            assert_eq!(
                p(prefix).extract(ip.parse().unwrap()),
                None,
                "{prefix} {ip}"
            );
        }
    }

    #[test]
    fn only_rfc_6052_lengths_are_prefixes() {
        for len in 0..=128u8 {
            let net = Ipv6Net::new("2001:db8::".parse().unwrap(), len).unwrap();
            assert_eq!(
                Nat64Prefix::new(net).is_some(),
                LENGTHS.contains(&len),
                "/{len}"
            );
        }
        // Bits past the length do not count.
        assert_eq!(p("64:ff9b::1/96"), Nat64Prefix::WELL_KNOWN);
        assert_eq!(Nat64Prefix::WELL_KNOWN.to_string(), "64:ff9b::/96");
    }

    #[test]
    fn discovery_finds_every_length() {
        for (prefix, _) in RFC_6052_EXAMPLES {
            let prefix = p(prefix);
            for wka in WELL_KNOWN_V4 {
                let answer = [prefix.synthesize(wka)];
                assert_eq!(
                    Nat64Prefix::from_ipv4only(&answer),
                    [prefix],
                    "{prefix} {wka}"
                );
            }
        }
    }

    #[test]
    fn discovery_reads_several_prefixes_and_ignores_other_addresses() {
        let answer: Vec<Ipv6Addr> = [
            "64:ff9b::c000:aa",
            "64:ff9b::c000:ab",
            "2001:db8:64:0:c0:0:aa00:0",
            "2001:db8::1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(
            Nat64Prefix::from_ipv4only(&answer),
            [Nat64Prefix::WELL_KNOWN, p("2001:db8:64::/64")]
        );
        assert!(Nat64Prefix::from_ipv4only(&[]).is_empty());
    }

    #[test]
    fn the_second_well_known_address_tells_ambiguous_positions_apart() {
        // An address that reads as 192.0.0.170 both at /96 and at /32:
        // alone, it counts as the longest prefix; with 192.0.0.171 at /32
        // beside it, the /32 reading is the one both agree on.
        let odd: Ipv6Addr = "2001:db8:c000:aa::c000:aa".parse().unwrap();
        assert_eq!(
            Nat64Prefix::from_ipv4only(&[odd]),
            [p("2001:db8:c000:aa::/96")]
        );
        let twin: Ipv6Addr = "2001:db8:c000:ab::".parse().unwrap();
        assert_eq!(
            Nat64Prefix::from_ipv4only(&[odd, twin]),
            [p("2001:db8::/32")]
        );
    }

    #[test]
    fn host_and_link_addresses_are_never_synthesized() {
        let table = [
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("127.0.0.1", false),
            ("127.255.0.1", false),
            ("169.254.169.254", false),
            ("255.255.255.255", false),
            ("10.0.0.5", true),
            ("192.0.2.33", true),
            ("169.255.0.1", true),
            ("203.0.113.5", true),
        ];
        for (ip, want) in table {
            assert_eq!(may_synthesize(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn known_prefixes_unmap_their_addresses() {
        let nsp = p("2001:db8:64::/64");
        let v6 = nsp.synthesize(Ipv4Addr::new(10, 0, 0, 5));
        let wk: Ipv6Addr = "64:ff9b::a00:5".parse().unwrap();
        assert_eq!(unmapped(wk.into()), IpAddr::from([10, 0, 0, 5]));
        record(1, Some(Arc::from([nsp])));
        assert_eq!(unmapped(v6.into()), IpAddr::from([10, 0, 0, 5]));
        assert_eq!(discovered(1, Duration::ZERO).as_deref(), Some(&[nsp][..]));
        assert_eq!(discovered(2, Duration::ZERO), None);
        assert!(!none_found(1));
        record(1, Some(Arc::from([])));
        assert!(none_found(1));
        record(1, None);
        assert!(!none_found(1));
        assert_eq!(unmapped(v6.into()), IpAddr::V6(v6));
    }
}
