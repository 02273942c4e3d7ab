//! [`AddressPolicy`]: which addresses a connection may go to, and which
//! peers may connect in.
//!
//! # Why here, and why after resolution
//!
//! A program that fetches URLs its users give it (webhooks, link previews,
//! importers) must never be turned against its own network:
//! `http://169.254.169.254/` (cloud metadata), `http://localhost:6379/`, a
//! name that resolves to `10.0.0.5`. A check on the host name or on a first
//! resolution is worthless: DNS rebinding answers a public address to the
//! check and a private one to the connect. So the policy is applied where
//! every candidate address passes on its way into the race (resolver
//! answers, HTTPS hints, service targets, literals), to the very
//! [`SocketAddr`](std::net::SocketAddr) that is then connected, and nothing
//! is resolved twice.
//!
//! # IPv6 forms that carry an IPv4 address
//!
//! `::ffff:10.0.0.5` reaches `10.0.0.5` through a dual-stack socket;
//! `64:ff9b::a00:5` reaches it through a NAT64 gateway; `2002:a00:5::1`
//! through a 6to4 relay. Each such form is judged by the IPv4 address it
//! carries, by the explicit rules and by the base rule alike: `deny`ing
//! `10.0.0.0/8` denies `::ffff:10.0.0.5` too, and `allow`ing
//! `127.0.0.0/8` allows `::ffff:127.0.0.1`. A Teredo address carries two
//! (its server's and its client's) and is allowed only when both are.
//!
//! The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) may embed the
//! IPv4 address at several positions (RFC 6052 prefix lengths /48 to /96),
//! and which one a network uses cannot be known from the address: its
//! `/96` form (`64:ff9b:1::a.b.c.d`, every bit between the prefix and the
//! IPv4 address zero) is judged by the IPv4 address, and every other
//! address of the prefix is refused by [`AddressPolicy::public_only`]
//! (allow the prefix explicitly on a network that translates with it),
//! unless it is the prefix discovered on this network: the NAT64 prefixes
//! found by asking for `ipv4only.arpa` (RFC 7050, see
//! [`Nat64Prefix`](crate::Nat64Prefix)) carry the IPv4 address where that
//! prefix puts it, and their addresses are judged by it.
//!
//! # The registries
//!
//! [`AddressPolicy::public_only`] refuses every entry of the IANA IPv4 and
//! IPv6 Special-Purpose Address Registries, those the registries mark
//! globally reachable too (AS112, AMT, PCP and TURN anycast, ORCHIDv2,
//! DETs): none of them serves a web origin, and refusing the whole
//! registry is a rule a reader can check. It refuses multicast, the limited
//! broadcast address, the deprecated IPv6 site-local range, and every IPv6
//! address outside the global unicast space `2000::/3` (unassigned, so no
//! host can have one) as well.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

/// Which addresses a connection may go to ([`ConnectionBuilder::address_policy`](crate::ConnectionBuilder::address_policy),
/// [`Connector::address_policy`](crate::Connector::address_policy),
/// [`DatagramBuilder::address_policy`](crate::DatagramBuilder::address_policy)),
/// or which peers may connect in ([`ServerBuilder::peer_policy`](crate::ServerBuilder::peer_policy)):
/// protection against server-side request forgery (SSRF) that DNS
/// rebinding cannot get around.
///
/// A policy is a base rule ([`public_only`](Self::public_only),
/// [`allow_all`](Self::allow_all) or [`allow_only`](Self::allow_only)) and
/// explicit ranges: an address in a range given to [`deny`](Self::deny) is
/// refused, whatever else says; otherwise an address in a range given to
/// [`allow`](Self::allow) is allowed; otherwise the base rule decides. An
/// IPv6 address that carries an IPv4 address (`::ffff:10.0.0.5`,
/// `64:ff9b::a00:5`, 6to4, Teredo, ...) is judged by that IPv4 address (see
/// [`public_only`](Self::public_only)).
///
/// On the client side, every address a call would connect to is checked,
/// before any packet is sent: the resolver's answers, HTTPS record hints
/// and service targets, literal targets and lists. A denied address is
/// never connected; the others are raced as usual, and when none is left
/// the call fails with [`ConnectErrorKind::Denied`](crate::ConnectErrorKind::Denied).
///
/// Cloning is cheap (an `Arc`).
///
/// # What it does not cover
///
/// - A proxy that resolves names itself ([`Proxy::http`](crate::Proxy::http),
///   [`Proxy::socks5h`](crate::Proxy::socks5h)): the connection to the
///   proxy is checked (the proxy's address), the proxy's own connections
///   are not. [`allow_proxy_names(false)`](Self::allow_proxy_names)
///   refuses that combination; [`Proxy::socks5`](crate::Proxy::socks5)
///   resolves here, and its addresses are checked.
/// - A [`socket_hook`](crate::ConnectionBuilder::socket_hook) runs on each
///   attempt's socket before it connects, and only on allowed addresses.
/// - A UDP socket's `send_to` is the kernel's: the policy covers the
///   remote address given to [`DatagramBuilder::remote_addr`](crate::DatagramBuilder::remote_addr),
///   not later `send_to` calls (check those with [`allows`](Self::allows)).
/// - Redirects of an HTTP client are connections like any other: each goes
///   through the [`Connector`](crate::Connector) and is checked.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{AddressPolicy, ConnectErrorKind, ConnectionBuilder};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let policy = AddressPolicy::public_only()
///         .allow("10.20.0.0/16".parse()?) // except this internal range
///         .deny("203.0.113.0/24".parse()?); // and refuse this one too
///     let err = ConnectionBuilder::new("169.254.169.254:80")
///         .address_policy(policy)
///         .connect()
///         .await
///         .unwrap_err();
///     assert_eq!(err.kind(), ConnectErrorKind::Denied);
///     Ok(())
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    rules: Arc<Rules>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rules {
    base: Base,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    /// Whether a host name may go to a proxy that resolves it.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    proxy_names: bool,
    /// The destination ports `allow_ports` listed; `None`: any.
    ports: Option<Vec<u16>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    All,
    Nothing,
    Public,
}

impl AddressPolicy {
    fn with_base(base: Base) -> AddressPolicy {
        AddressPolicy {
            rules: Arc::new(Rules {
                base,
                allow: Vec::new(),
                deny: Vec::new(),
                proxy_names: true,
                ports: None,
            }),
        }
    }

    /// Allows every address except the special-purpose ones: the whole IANA
    /// IPv4 and IPv6 Special-Purpose Address Registries (loopback,
    /// unspecified, "this network" `0.0.0.0/8`, private `10/8`,
    /// `172.16/12`, `192.168/16`, shared `100.64/10`, link-local
    /// `169.254/16` with the cloud metadata address `169.254.169.254`,
    /// benchmarking `198.18/15`, documentation, IETF protocol assignments,
    /// AS112, AMT, the 6to4 relay anycast, ULA `fc00::/7`, link-local
    /// `fe80::/10`, discard-only `100::/64`, ORCHID, SRv6 SIDs, ...),
    /// multicast, broadcast, reserved `240/4`, site-local `fec0::/10`, and
    /// IPv6 outside the global unicast `2000::/3`.
    ///
    /// IPv6 forms that carry an IPv4 address are judged by it: IPv4-mapped
    /// `::ffff:0:0/96`, IPv4-compatible `::/96`, IPv4-translated
    /// `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48` (its
    /// `/96` form only; see the module notes in the source), 6to4
    /// `2002::/16`, and Teredo `2001::/32` (both its server and its client
    /// address).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// let policy = AddressPolicy::public_only();
    /// assert!(policy.allows("93.184.215.14".parse().unwrap()));
    /// assert!(!policy.allows("169.254.169.254".parse().unwrap()));
    /// assert!(!policy.allows("::ffff:10.0.0.5".parse().unwrap()));
    /// assert!(!policy.allows("64:ff9b::a00:5".parse().unwrap()));
    /// ```
    pub fn public_only() -> AddressPolicy {
        AddressPolicy::with_base(Base::Public)
    }

    /// Allows every address: a base for [`deny`](Self::deny).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = AddressPolicy::allow_all().deny("169.254.0.0/16".parse()?);
    /// assert!(policy.allows("127.0.0.1".parse()?));
    /// assert!(!policy.allows("169.254.169.254".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn allow_all() -> AddressPolicy {
        AddressPolicy::with_base(Base::All)
    }

    /// Allows the addresses of `nets` and nothing else (a single address is
    /// a net too: `IpNet::from(ip)`). An IPv6 form of an IPv4 address in
    /// `nets` is allowed as well.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = AddressPolicy::allow_only(["10.0.0.0/8".parse()?, "fd00::/8".parse()?]);
    /// assert!(policy.allows("10.1.2.3".parse()?));
    /// assert!(policy.allows("::ffff:10.1.2.3".parse()?));
    /// assert!(!policy.allows("192.168.1.1".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn allow_only(nets: impl IntoIterator<Item = IpNet>) -> AddressPolicy {
        let mut policy = AddressPolicy::with_base(Base::Nothing);
        Arc::make_mut(&mut policy.rules).allow = nets.into_iter().collect();
        policy
    }

    /// Allows the addresses of `net` (and the IPv6 forms that carry an IPv4
    /// address of it), unless a [`deny`](Self::deny) range holds them.
    /// `"10.20.0.0/16".parse()?` makes an [`IpNet`]; so does
    /// `IpNet::from(ip)` for one address.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = AddressPolicy::public_only().allow("127.0.0.0/8".parse()?);
    /// assert!(policy.allows("127.0.0.1".parse()?));
    /// assert!(policy.allows("::ffff:127.0.0.1".parse()?));
    /// assert!(!policy.allows("::1".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn allow(mut self, net: IpNet) -> Self {
        Arc::make_mut(&mut self.rules).allow.push(net.trunc());
        self
    }

    /// Refuses the addresses of `net` (and the IPv6 forms that carry an
    /// IPv4 address of it), whatever [`allow`](Self::allow) and the base
    /// rule say.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = AddressPolicy::public_only()
    ///     .allow("10.0.0.0/8".parse()?)
    ///     .deny("10.0.0.0/24".parse()?);
    /// assert!(policy.allows("10.0.1.1".parse()?));
    /// assert!(!policy.allows("10.0.0.1".parse()?));
    /// assert!(!policy.allows("64:ff9b::a00:1".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn deny(mut self, net: IpNet) -> Self {
        Arc::make_mut(&mut self.rules).deny.push(net.trunc());
        self
    }

    /// Whether a host name may be sent to a [`Proxy`](crate::Proxy) that
    /// resolves it ([`Proxy::http`](crate::Proxy::http),
    /// [`Proxy::socks5h`](crate::Proxy::socks5h)), where this policy never
    /// sees the addresses the proxy connects to. With `false`, such a call
    /// fails with [`ConnectErrorKind::Denied`](crate::ConnectErrorKind::Denied)
    /// before anything is sent; [`Proxy::socks5`](crate::Proxy::socks5)
    /// resolves here, and its addresses are judged. Default is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// let policy = AddressPolicy::public_only().allow_proxy_names(false);
    /// # drop(policy);
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn allow_proxy_names(mut self, allowed: bool) -> Self {
        Arc::make_mut(&mut self.rules).proxy_names = allowed;
        self
    }

    /// Whether a host name may go to a proxy that resolves it.
    #[cfg(feature = "proxy")]
    pub(crate) fn allows_proxy_names(&self) -> bool {
        self.rules.proxy_names
    }

    /// Allows connections to these destination ports only (each call adds
    /// to the list): a target whose port is not listed fails with
    /// [`ConnectErrorKind::Denied`](crate::ConnectErrorKind::Denied) (or
    /// [`DatagramErrorKind::Denied`](crate::DatagramErrorKind::Denied))
    /// before anything is resolved or sent. Without it every port of the
    /// target is allowed.
    ///
    /// An HTTPS record's `port` (which the name's DNS, not the program,
    /// chooses) is used only when this list names it: with a policy set,
    /// a record that moves the connection to a port not listed (or to any
    /// other port than the target's, without a list) is skipped, and its
    /// addresses are not connected. The ports cover destinations only,
    /// not the peers of [`ServerBuilder::peer_policy`](crate::ServerBuilder::peer_policy)
    /// (whose ports are ephemeral); through a proxy, the target's port is
    /// checked, not the proxy's.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// let policy = AddressPolicy::public_only().allow_ports([80, 443]);
    /// assert!(policy.allows_port(443));
    /// assert!(!policy.allows_port(6379));
    /// ```
    pub fn allow_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        Arc::make_mut(&mut self.rules)
            .ports
            .get_or_insert_with(Vec::new)
            .extend(ports);
        self
    }

    /// Whether the policy allows connections to destination port `port`:
    /// always without [`allow_ports`](Self::allow_ports), else when it
    /// was listed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// assert!(AddressPolicy::public_only().allows_port(6379));
    /// assert!(!AddressPolicy::public_only().allow_ports([443]).allows_port(6379));
    /// ```
    pub fn allows_port(&self, port: u16) -> bool {
        self.rules.ports.as_ref().is_none_or(|p| p.contains(&port))
    }

    /// Why a connection to the target's `port` is refused, if it is.
    pub(crate) fn port_refused(&self, port: u16) -> Option<String> {
        (!self.allows_port(port)).then(|| {
            format!(
                "port {port} is not one the address policy allows (allow_ports: {:?})",
                self.rules.ports.as_deref().unwrap_or_default()
            )
        })
    }

    /// Whether an HTTPS record may move a connection to the target's
    /// `origin` port to `port`: the same port, or one `allow_ports` listed.
    pub(crate) fn allows_record_port(&self, port: u16, origin: u16) -> bool {
        port == origin || self.rules.ports.as_ref().is_some_and(|p| p.contains(&port))
    }

    /// Whether the policy allows `ip`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// let policy = AddressPolicy::public_only();
    /// assert!(!policy.allows("127.0.0.1".parse().unwrap()));
    /// ```
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.check(ip).is_ok()
    }

    /// Whether the policy allows `ip`, and if not, why.
    ///
    /// # Errors
    ///
    /// A [`DeniedAddress`] naming the address and the rule that refused it
    /// (`127.0.0.1: loopback, refused by the address policy`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::AddressPolicy;
    ///
    /// let denied = AddressPolicy::public_only().check("127.0.0.1".parse().unwrap()).unwrap_err();
    /// assert_eq!(denied.to_string(), "127.0.0.1: loopback, refused by the address policy");
    /// ```
    pub fn check(&self, ip: IpAddr) -> Result<(), DeniedAddress> {
        let rules = &*self.rules;
        let carried = carried(ip);
        let denied = |carried, reason| {
            Err(DeniedAddress {
                addr: ip,
                carried,
                reason,
            })
        };
        for net in &rules.deny {
            if net.contains(&ip) {
                return denied(None, Reason::DeniedRange(*net));
            }
        }
        for &(form, v4) in carried.iter().flatten() {
            for net in &rules.deny {
                if net.contains(&IpAddr::V4(v4)) {
                    return denied(Some((form, v4)), Reason::DeniedRange(*net));
                }
            }
        }
        if rules.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        if carried[0].is_some() {
            for &(form, v4) in carried.iter().flatten() {
                let allowed = rules.allow.iter().any(|n| n.contains(&IpAddr::V4(v4)));
                if !allowed {
                    if let Err(reason) = rules.base(IpAddr::V4(v4)) {
                        return denied(Some((form, v4)), reason);
                    }
                }
            }
            return Ok(());
        }
        rules.base(ip).or_else(|reason| denied(None, reason))
    }
}

impl Rules {
    fn base(&self, ip: IpAddr) -> Result<(), Reason> {
        match self.base {
            Base::All => Ok(()),
            Base::Nothing => Err(Reason::NotAllowed),
            Base::Public => match special(ip) {
                None => Ok(()),
                Some(what) => Err(Reason::Special(what)),
            },
        }
    }
}

impl fmt::Debug for AddressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.rules.base {
            Base::All => "allow_all",
            Base::Nothing => "allow_only",
            Base::Public => "public_only",
        };
        let mut d = f.debug_struct("AddressPolicy");
        d.field("base", &format_args!("{base}"))
            .field("allow", &self.rules.allow)
            .field("deny", &self.rules.deny);
        if let Some(ports) = &self.rules.ports {
            d.field("ports", ports);
        }
        d.finish()
    }
}

/// An address an [`AddressPolicy`] refused, and why:
/// `127.0.0.1: loopback, refused by the address policy`,
/// `::ffff:10.0.0.5: IPv4-mapped 10.0.0.5, private, refused by the address policy`.
///
/// [`ConnectError::denied`](crate::ConnectError::denied) and
/// [`DatagramError::denied`](crate::DatagramError::denied) list them.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::AddressPolicy;
///
/// let ip = "::ffff:10.0.0.5".parse().unwrap();
/// let denied = AddressPolicy::public_only().check(ip).unwrap_err();
/// assert_eq!(denied.addr(), ip);
/// assert_eq!(denied.reason(), "IPv4-mapped 10.0.0.5, private");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeniedAddress {
    addr: IpAddr,
    /// The IPv4 address that was judged, and the form that carried it.
    carried: Option<(&'static str, Ipv4Addr)>,
    reason: Reason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// A special-purpose address: what it is.
    Special(&'static str),
    /// In a range given to `deny`.
    DeniedRange(IpNet),
    /// Not in a range given to `allow_only` or `allow`.
    NotAllowed,
}

impl DeniedAddress {
    /// The address that was refused.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Why, in a few words: `loopback`, `in the denied range
    /// 203.0.113.0/24`, `not in an allowed range`, `IPv4-mapped 10.0.0.5,
    /// private`.
    pub fn reason(&self) -> String {
        self.reason_text().to_string()
    }

    fn reason_text(&self) -> impl fmt::Display + '_ {
        struct Text<'a>(&'a DeniedAddress);
        impl fmt::Display for Text<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if let Some((form, v4)) = self.0.carried {
                    write!(f, "{form} {v4}, ")?;
                }
                match self.0.reason {
                    Reason::Special(what) => f.write_str(what),
                    Reason::DeniedRange(net) => write!(f, "in the denied range {net}"),
                    Reason::NotAllowed => f.write_str("not in an allowed range"),
                }
            }
        }
        Text(self)
    }

    /// `a: why; b: why, refused by the address policy`: the list as one
    /// sentence, for the errors of the connect and datagram calls.
    pub(crate) fn write_list(f: &mut fmt::Formatter<'_>, denied: &[DeniedAddress]) -> fmt::Result {
        for (i, d) in denied.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", d.addr, d.reason_text())?;
        }
        let every = if denied.len() > 1 { " (each)" } else { "" };
        write!(f, ", refused by the address policy{every}")
    }

    /// Adds `self` to `list` unless its address is there already (a hint
    /// and an answer may name the same address).
    pub(crate) fn push_to(self, list: &mut Vec<DeniedAddress>) {
        if !list.iter().any(|d| d.addr == self.addr) {
            list.push(self);
        }
    }
}

impl fmt::Display for DeniedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, refused by the address policy",
            self.addr,
            self.reason_text()
        )
    }
}

impl StdError for DeniedAddress {}

/// The IPv4 addresses an IPv6 address carries, with the name of its form;
/// two for Teredo (server, client), none for an IPv4 address or a plain
/// IPv6 one.
fn carried(ip: IpAddr) -> [Option<(&'static str, Ipv4Addr)>; 2] {
    let IpAddr::V6(v6) = ip else {
        return [None, None];
    };
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let last = v4(s[6], s[7]);
    let one = |form| [Some((form, last)), None];
    match s {
        // `::` and `::1` are themselves, not IPv4-compatible forms.
        [0, 0, 0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0, 0, 0, 1] => [None, None],
        [0, 0, 0, 0, 0, 0, _, _] => one("IPv4-compatible"),
        [0, 0, 0, 0, 0, 0xffff, _, _] => one("IPv4-mapped"),
        [0, 0, 0, 0, 0xffff, 0, _, _] => one("IPv4-translated"),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => one("NAT64"),
        [0x64, 0xff9b, 1, 0, 0, 0, _, _] => one("local-use NAT64"),
        [0x2002, hi, lo, ..] => [Some(("6to4", v4(hi, lo))), None],
        [0x2001, 0, hi, lo, _, _, chi, clo] => [
            Some(("Teredo server", v4(hi, lo))),
            Some(("Teredo client", v4(!chi, !clo))),
        ],
        // A prefix discovered on this network (RFC 7050) carries one too.
        _ => match crate::shared::nat64::carried_v4(v6) {
            Some((_, v4)) => [Some(("NAT64", v4)), None],
            None => [None, None],
        },
    }
}

/// What special-purpose address `ip` is, if it is one; IPv6 forms that
/// carry an IPv4 address are the caller's (see [`carried`]).
fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// The IANA IPv4 Special-Purpose Address Registry, most specific first,
/// with multicast and reserved.
const V4: &[(u32, u8, &str)] = &[
    (0x0000_0000, 32, "unspecified"),
    (0x0000_0000, 8, "\"this network\""),
    (0x0a00_0000, 8, "private"),
    (0x6440_0000, 10, "shared address space"),
    (0x7f00_0000, 8, "loopback"),
    (0xa9fe_0000, 16, "link-local"),
    (0xac10_0000, 12, "private"),
    (0xc000_0000, 24, "IETF protocol assignment"),
    (0xc000_0200, 24, "documentation"),
    (0xc01f_c400, 24, "AS112"),
    (0xc034_c100, 24, "AMT"),
    (0xc058_6300, 24, "6to4 relay anycast"),
    (0xc0a8_0000, 16, "private"),
    (0xc0af_3000, 24, "AS112"),
    (0xc612_0000, 15, "benchmarking"),
    (0xc633_6400, 24, "documentation"),
    (0xcb00_7100, 24, "documentation"),
    (0xe000_0000, 4, "multicast"),
    (0xffff_ffff, 32, "broadcast"),
    (0xf000_0000, 4, "reserved"),
];

/// The IANA IPv6 Special-Purpose Address Registry (the forms that carry
/// IPv4 addresses aside), most specific first, with site-local and
/// multicast; anything else outside `2000::/3` is unassigned.
const V6: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use NAT64, not in its /96 form",
    ),
    (0x0100 << 112, 64, "discard-only"),
    (0x0100_0000_0000_0001 << 64, 64, "dummy prefix"),
    (0x2001_0002_0000 << 80, 48, "benchmarking"),
    (0x2001_0010 << 96, 28, "ORCHID"),
    (0x2001_0020 << 96, 28, "ORCHIDv2"),
    (0x2001_0030 << 96, 28, "drone remote ID"),
    (0x2001 << 112, 23, "IETF protocol assignment"),
    (0x2001_0db8 << 96, 32, "documentation"),
    (0x2620_004f_8000 << 80, 48, "AS112"),
    (0x3fff << 112, 20, "documentation"),
    (0x5f00 << 112, 16, "segment routing (SRv6)"),
    (0xfc00 << 112, 7, "unique local"),
    (0xfe80 << 112, 10, "link-local"),
    (0xfec0 << 112, 10, "site-local"),
    (0xff00 << 112, 8, "multicast"),
];

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4.iter()
        .find(|&&(prefix, len, _)| bits & mask32(len) == prefix)
        .map(|&(_, _, what)| what)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let found = V6
        .iter()
        .find(|&&(prefix, len, _)| bits & mask128(len) == prefix)
        .map(|&(_, _, what)| what);
    // Outside 2000::/3 (and not one of the forms above): unassigned.
    found.or_else(|| (bits >> 125 != 1).then_some("reserved (outside 2000::/3)"))
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask32(0), 0);
        assert_eq!(mask32(8), 0xff00_0000);
        assert_eq!(mask32(32), u32::MAX);
        assert_eq!(mask128(128), u128::MAX);
        assert_eq!(mask128(7), 0xfe << 120);
    }

    #[test]
    fn table_prefixes_have_no_bits_past_their_length() {
        for &(p, len, what) in V4 {
            assert_eq!(p & !mask32(len), 0, "{what}");
        }
        for &(p, len, what) in V6 {
            assert_eq!(p & !mask128(len), 0, "{what}");
        }
    }

    #[test]
    fn a_policy_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Option<AddressPolicy>>(),
            std::mem::size_of::<usize>()
        );
    }
}
