//! What the user named: a host and a port, a literal address, or a list.
//!
//! Everything here is checked before a resolver is asked or a packet is
//! sent: a malformed host name, a missing or out-of-range port, or an empty
//! list is refused with a message that names the problem.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Where to connect: a host name and a port, or addresses known in advance.
///
/// Built from what [`ConnectionBuilder::new`](crate::ConnectionBuilder::new)
/// accepts through [`IntoTarget`]; a literal IP address is never sent to a
/// resolver.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::IntoTarget;
///
/// let t = "example.com:443".into_target().unwrap();
/// assert_eq!(t.host(), Some("example.com"));
/// assert_eq!(t.port(), 443);
///
/// let t = "[::1]:8080".into_target().unwrap();
/// assert_eq!(t.host(), None);
/// assert_eq!(t.addrs(), &["[::1]:8080".parse().unwrap()]);
///
/// assert!("example.com".into_target().is_err()); // no port
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Host {
        host: HostName,
        port: u16,
    },
    /// One literal address, inline: the common literal target needs no
    /// allocation. A list of one is always kept this way.
    Addr {
        addr: SocketAddr,
    },
    /// Two literal addresses, inline: a dual-stack host's pair (one IPv6,
    /// one IPv4 address) is the common list, and the caller's `Vec` is then
    /// freed at once rather than held until the connect ends (in a burst
    /// of connects, each `Vec` held costs glibc's allocator about 400
    /// instructions). A list of two is always kept this way.
    Pair {
        addrs: [SocketAddr; 2],
    },
    /// Three or more literal addresses.
    Addrs {
        addrs: Vec<SocketAddr>,
    },
}

/// A validated host name, lower-case: inline when it is short, as most
/// are, so that a target by name allocates nothing (a connect's builder is
/// made per call); on the heap otherwise.
#[derive(Clone, PartialEq, Eq)]
enum HostName {
    /// Made only by [`HostName::lowercase`], from a `str`: `bytes[..len]`
    /// is always UTF-8 (see `as_str`).
    Inline {
        len: u8,
        // Zero past `len`, so that equal names compare equal.
        bytes: [u8; HostName::INLINE],
    },
    Heap(Box<str>),
}

impl HostName {
    /// The longest name kept inline: with the port and the tags, a target
    /// by name is then no larger than one of two literal addresses (a
    /// dual-stack pair, kept inline too), and almost every name fits.
    const INLINE: usize = 46;

    /// `name`, lower-cased unless it already is (`lowercase`).
    fn lowercase(name: &str, lowercase: bool) -> HostName {
        if name.len() > HostName::INLINE {
            let mut name = name.to_string();
            if !lowercase {
                name.make_ascii_lowercase();
            }
            return HostName::Heap(name.into_boxed_str());
        }
        let mut bytes = [0; HostName::INLINE];
        let kept = &mut bytes[..name.len()];
        kept.copy_from_slice(name.as_bytes());
        if !lowercase {
            kept.make_ascii_lowercase();
        }
        HostName::Inline {
            len: name.len() as u8,
            bytes,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // The bytes of a `str` up to its end, with ASCII letters
            // lower-cased: still UTF-8. Not checked again: the check (150
            // instructions for a short name) ran on every connect by name.
            HostName::Inline { len, bytes } => {
                let kept = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(kept).is_ok());
                // SAFETY: `Inline` is made only by `lowercase`, which
                // copies a whole `str` (`len` of its bytes) and changes
                // only ASCII letters, whose bytes stay ASCII; nothing
                // writes to `bytes` after.
                unsafe { std::str::from_utf8_unchecked(kept) }
            }
            HostName::Heap(name) => name,
        }
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Target {
    /// The host name (validated, lower-cased, without a trailing dot), or
    /// `None` for a target of literal addresses: the name that TLS
    /// verifies and sends as SNI, as browsers and curl do. What is asked
    /// of the resolver keeps an absolute name's dot: see
    /// [`is_absolute`](Self::is_absolute).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::IntoTarget;
    ///
    /// let t = "API.example.com.:443".into_target().unwrap();
    /// assert_eq!(t.host(), Some("api.example.com"));
    /// assert!(t.is_absolute());
    /// ```
    pub fn host(&self) -> Option<&str> {
        match &self.kind {
            Kind::Host { host, .. } => {
                let name = host.as_str();
                Some(name.strip_suffix('.').unwrap_or(name))
            }
            Kind::Addr { .. } | Kind::Addrs { .. } | Kind::Pair { .. } => None,
        }
    }

    /// Whether the host name was written with a trailing dot
    /// (`"api.example.com.:443"`, `("api.example.com.", 443)`,
    /// `https://api.example.com./`): an absolute name, which the resolver
    /// is asked as it is, never completed with the search list of
    /// resolv.conf (Kubernetes' `ndots:5` makes this the usual way to skip
    /// it). `false` for a relative name and for literal addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::IntoTarget;
    ///
    /// assert!(("db.internal.", 5432).into_target().unwrap().is_absolute());
    /// assert!(!"db.internal:5432".into_target().unwrap().is_absolute());
    /// ```
    pub fn is_absolute(&self) -> bool {
        self.host_name().is_some_and(|name| name.ends_with('.'))
    }

    /// The name to give the resolver: [`host`](Self::host), with its
    /// trailing dot when it is absolute, so that it is not searched.
    pub(crate) fn host_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Host { host, .. } => Some(host.as_str()),
            Kind::Addr { .. } | Kind::Addrs { .. } | Kind::Pair { .. } => None,
        }
    }

    /// [`host`](Self::host)'s bytes (without the dot), without the UTF-8
    /// check `host` makes of an inline name: for hashing and comparing on
    /// hot paths.
    pub(crate) fn host_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Host { host, .. } => {
                let bytes = match host {
                    HostName::Inline { len, bytes } => &bytes[..usize::from(*len)],
                    HostName::Heap(name) => name.as_bytes(),
                };
                Some(bytes.strip_suffix(b".").unwrap_or(bytes))
            }
            Kind::Addr { .. } | Kind::Addrs { .. } | Kind::Pair { .. } => None,
        }
    }

    /// [`host_bytes`](Self::host_bytes), [`addrs`](Self::addrs) and
    /// [`port`](Self::port) from one look at the target (the history's key
    /// is made of them on every connect).
    #[inline]
    pub(crate) fn key_parts(&self) -> (Option<&[u8]>, &[SocketAddr], u16) {
        match &self.kind {
            Kind::Host { port, .. } => (self.host_bytes(), &[], *port),
            Kind::Addr { addr } => (None, std::slice::from_ref(addr), addr.port()),
            Kind::Pair { addrs } => (None, addrs, addrs[0].port()),
            Kind::Addrs { addrs } => (None, addrs, addrs[0].port()),
        }
    }

    /// The port: the one given with the host, or the first address's.
    pub fn port(&self) -> u16 {
        match &self.kind {
            Kind::Host { port, .. } => *port,
            Kind::Addr { addr } => addr.port(),
            Kind::Addrs { addrs } => addrs[0].port(),
            Kind::Pair { addrs } => addrs[0].port(),
        }
    }

    /// Why this target is no destination, if it is not: port 0 (which
    /// `connect(2)` cannot reach), on a host's port or on any address of a
    /// list, the address named. A server binds to port 0 and never asks.
    #[inline]
    pub(crate) fn zero_port(&self) -> Option<String> {
        if self.has_zero_port() {
            self.zero_port_why()
        } else {
            None
        }
    }

    /// Whether [`zero_port`](Self::zero_port) has a reason to give.
    #[inline]
    pub(crate) fn has_zero_port(&self) -> bool {
        match &self.kind {
            Kind::Host { port, .. } => *port == 0,
            Kind::Addr { addr } => addr.port() == 0,
            Kind::Pair { addrs } => addrs[0].port() == 0 || addrs[1].port() == 0,
            Kind::Addrs { addrs } => addrs.iter().any(|a| a.port() == 0),
        }
    }

    /// [`zero_port`](Self::zero_port)'s message.
    #[cold]
    #[inline(never)]
    fn zero_port_why(&self) -> Option<String> {
        const WHY: &str = "port 0 is not a destination port";
        match &self.kind {
            Kind::Host { port: 0, .. } => Some(WHY.to_string()),
            Kind::Host { .. } => None,
            Kind::Addr { .. } | Kind::Addrs { .. } | Kind::Pair { .. } => self
                .addrs()
                .iter()
                .find(|a| a.port() == 0)
                .map(|a| format!("{WHY} ({a})")),
        }
    }

    /// The literal addresses of an address target (empty for a host name).
    pub fn addrs(&self) -> &[SocketAddr] {
        match &self.kind {
            Kind::Host { .. } => &[],
            Kind::Addr { addr } => std::slice::from_ref(addr),
            Kind::Addrs { addrs } => addrs,
            Kind::Pair { addrs } => addrs,
        }
    }

    /// The target of a list of none, one or two addresses (`None` for a
    /// longer one): an empty list is refused, and a list of one or two is
    /// kept inline, so that the caller's list is freed at once and the
    /// target allocates nothing.
    fn short_list(list: &[SocketAddr]) -> Option<Result<Target, TargetError>> {
        let kind = match *list {
            [] => return Some(Err(TargetError::new("[]", "the address list is empty"))),
            [addr] => Kind::Addr { addr },
            [a, b] => Kind::Pair { addrs: [a, b] },
            _ => return None,
        };
        Some(Ok(Target { kind }))
    }

    fn from_host_port(host: &str, port: u16) -> Result<Target, TargetError> {
        // The common case first, in one pass over the bytes: a valid host
        // name. It has no ':', '%', '[' or '/', so it is no IP literal or
        // URL, and the checks below would accept it as it is.
        if let Some(lowercase) = plain_host_name(host) {
            // A name that starts with a digit may be an IPv4 address in
            // one of the forms inet_aton(3) reads ("0x7f000001").
            if host.as_bytes()[0].is_ascii_digit() {
                if let Some(ip) = inet_aton(host) {
                    return Ok(Target::from(SocketAddr::new(ip.into(), port)));
                }
            }
            // The trailing dot is kept: an absolute name is not searched.
            return Ok(Target {
                kind: Kind::Host {
                    host: HostName::lowercase(host, lowercase),
                    port,
                },
            });
        }
        if let Some(ip) = inet_aton(host) {
            return Ok(Target::from(SocketAddr::new(ip.into(), port)));
        }
        // A bracketed IPv6 literal given as a host: "[::1]".
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Target::from(SocketAddr::new(ip, port)));
        }
        if let Some(addr) = parse_scoped_v6(unbracketed, port) {
            return Ok(Target::from(SocketAddr::V6(addr)));
        }
        if let Some(url) = Url::parse(host) {
            return Err(TargetError::new(
                host,
                format!("it is a URL; pass the host alone: ({:?}, {port})", url.host),
            ));
        }
        validate_host(host)?;
        Ok(Target {
            kind: Kind::Host {
                host: HostName::lowercase(host, false),
                port,
            },
        })
    }

    fn parse(s: &str) -> Result<Target, TargetError> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Target::from(addr));
        }
        if let Some(url) = Url::parse(s) {
            return Err(TargetError::new(s, url.hint()));
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (host, port) = rest.split_once("]:").ok_or_else(|| {
                let why = if rest.ends_with(']') {
                    format!("missing port: expected \"{s}:port\"")
                } else {
                    "expected \"[IPv6 address]:port\"".to_string()
                };
                TargetError::new(s, why)
            })?;
            let port = parse_port(s, port)?;
            if host.parse::<Ipv6Addr>().is_err() && parse_scoped_v6(host, port).is_none() {
                return Err(TargetError::new(
                    s,
                    format!("{host:?} between brackets is not an IPv6 address"),
                ));
            }
            return Target::from_host_port(host, port);
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(TargetError::new(s, "missing port: expected \"host:port\""));
        };
        if host.contains(':') {
            let example = if host.parse::<Ipv6Addr>().is_ok() {
                format!("[{host}]:{port}")
            } else {
                "[::1]:80".to_string()
            };
            return Err(TargetError::new(
                s,
                format!("an IPv6 address with a port must be in brackets: \"{example}\""),
            ));
        }
        let port = parse_port(s, port)?;
        Target::from_host_port(host, port).map_err(|e| TargetError::new(s, e.reason))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Host { host, port } => write!(f, "{}:{port}", host.as_str()),
            Kind::Addr { addr } => write!(f, "{addr}"),
            Kind::Addrs { .. } | Kind::Pair { .. } => {
                f.write_str("[")?;
                for (i, a) in self.addrs().iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Target {
        Target {
            kind: Kind::Addr { addr },
        }
    }
}

/// Which address family to connect with: asyncio's `family=`.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ConnectionBuilder, Family};
///
/// // Only IPv4 addresses of the host are tried.
/// let builder = ConnectionBuilder::new("localhost:80").family(Family::V4);
/// # drop(builder);
/// assert!(Family::V6.matches(&"::1".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Family {
    /// Both IPv6 and IPv4 (asyncio's `AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 only (`AF_INET`).
    V4,
    /// IPv6 only (`AF_INET6`).
    V6,
}

impl Family {
    /// Whether `ip` belongs to this family.
    pub fn matches(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Any => "any",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// A URL given where a target was expected (`"https://example.com/path"`):
/// what it names, to say what to pass instead.
struct Url<'a> {
    /// The host as written in the URL (brackets kept for IPv6).
    host: &'a str,
    /// The port written in the URL, or the scheme's well-known one.
    port: Option<u16>,
}

impl<'a> Url<'a> {
    /// `scheme://[userinfo@]host[:port][/path...]`, where the scheme is a
    /// letter then letters, digits, '+', '-' or '.' (RFC 3986 §3.1).
    fn parse(s: &'a str) -> Option<Url<'a>> {
        let (scheme, rest) = s.split_once("://")?;
        let mut chars = scheme.chars();
        if !chars.next()?.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return None;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((ip, after)) => (&authority[..ip.len() + 2], after.strip_prefix(':')),
                None => (authority, None),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let written = port.and_then(|p| p.parse::<u16>().ok());
        let port = written.or(match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            "ftp" => Some(21),
            _ => None,
        });
        Some(Url { host, port })
    }

    /// What to say: `it is a URL; pass "example.com:443" (host:port)`.
    fn hint(&self) -> String {
        let host = if self.host.is_empty() {
            "host"
        } else {
            self.host
        };
        match self.port {
            Some(port) => format!("it is a URL; pass \"{host}:{port}\" (host:port)"),
            None => format!("it is a URL; pass \"{host}:<port>\" (host:port)"),
        }
    }
}

/// An IPv4 address in any form `inet_aton(3)` reads, as getaddrinfo,
/// curl and WHATWG URLs read it: one to four parts separated by dots, each
/// decimal, octal (a leading `0`) or hexadecimal (`0x`), the last filling
/// the bytes that remain (`127.1` is 127.0.0.1, `2130706433` and
/// `0x7f000001` are too, `0177.0.0.1` is 127.0.0.1). Nothing else: no
/// sign, no space, no empty part, no trailing dot (glibc's
/// `inet_aton_exact`, which getaddrinfo uses).
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u32; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 {
            return None;
        }
        let b = part.as_bytes();
        let (digits, radix) = match b {
            [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
            [b'0', rest @ ..] => (rest, 8),
            [b'1'..=b'9', ..] => (b, 10),
            _ => return None,
        };
        if radix == 16 && digits.is_empty() {
            return None;
        }
        let mut value: u64 = 0;
        for &d in digits {
            let digit = char::from(d).to_digit(radix)?;
            value = value * u64::from(radix) + u64::from(digit);
            if value > u64::from(u32::MAX) {
                return None;
            }
        }
        parts[n] = value as u32;
        n += 1;
    }
    // Every part but the last is one byte; the last fills the rest.
    let (head, last) = (&parts[..n - 1], parts[n - 1]);
    if head.iter().any(|&p| p > 0xff) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 32 && last >> rest_bits != 0 {
        return None;
    }
    let mut value = last;
    for (i, &p) in head.iter().enumerate() {
        value |= p << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(value))
}

/// `"fe80::1%3"`: a link-local literal with a numeric scope id.
fn parse_scoped_v6(host: &str, port: u16) -> Option<SocketAddrV6> {
    let (ip, scope) = host.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let scope: u32 = scope.parse().ok()?;
    Some(SocketAddrV6::new(ip, port, 0, scope))
}

fn parse_port(whole: &str, port: &str) -> Result<u16, TargetError> {
    if port.is_empty() {
        return Err(TargetError::new(whole, "missing port after ':'"));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::new(
            whole,
            format!("port {port:?} is not a number"),
        ));
    }
    port.parse::<u16>()
        .map_err(|_| TargetError::new(whole, format!("port {port} is out of range (0 to 65535)")))
}

/// Whether `host` is a host name that [`validate_host`] accepts, checked
/// in one pass over its bytes: `Some(true)` if it is also lower-case
/// already, `None` if it is not a valid name (or not a plain one: the
/// slow path then says why, or finds an IP literal or a URL).
fn plain_host_name(host: &str) -> Option<bool> {
    let name = host.strip_suffix('.').unwrap_or(host).as_bytes();
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    // What the bytes are, all at once (a loop without branches): any byte
    // not allowed, any upper-case letter, anything but digits and dots (an
    // all-numeric name is a malformed IPv4 address); and in the same pass,
    // each byte against the one before it (the name starts as after a
    // dot): an empty label (a dot after a dot, or first), a label starting
    // with '-' (after a dot, or first) or ending with it (a dot after '-').
    let mut all = 0u8;
    let mut misplaced = 0u8;
    let mut prev = DOT;
    for &b in name {
        let class = BYTE_CLASS[b as usize];
        all |= class;
        misplaced |= NOT_AFTER[usize::from(prev & 63)] & class;
        prev = class;
    }
    // The last label: not empty (a name that ended in two dots), not
    // ending with '-'.
    misplaced |= prev & (DOT | HYPHEN);
    if all & NOT_ALLOWED != 0 || misplaced != 0 || all & (LOWER | UPPER | HYPHEN) == 0 {
        return None;
    }
    // Labels of at most 63 bytes: only a longer name can have a longer one.
    if name.len() > 63 && name.split(|&b| b == b'.').any(|label| label.len() > 63) {
        return None;
    }
    Some(all & UPPER == 0)
}

/// Classes of the bytes of a host name, for [`plain_host_name`]: one bit
/// each, below 64 (see [`NOT_AFTER`]).
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
const DOT: u8 = 8;
const HYPHEN: u8 = 16;
const NOT_ALLOWED: u8 = 32;
/// The classes a byte may not have after one of the class of the index:
/// a dot or a '-' after a dot, a dot after a '-'.
static NOT_AFTER: [u8; 64] = {
    let mut table = [0u8; 64];
    table[DOT as usize] = DOT | HYPHEN;
    table[HYPHEN as usize] = DOT;
    table
};
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match i as u8 {
            b'a'..=b'z' | b'_' => LOWER,
            b'A'..=b'Z' => UPPER,
            b'0'..=b'9' => DIGIT,
            b'.' => DOT,
            b'-' => HYPHEN,
            _ => NOT_ALLOWED,
        };
        i += 1;
    }
    table
};

/// Whether a resolver may be asked for `host`: a valid host name (the
/// one-pass check first: this runs on every resolution), or an IP literal.
#[cfg(any(feature = "hickory", fuzzing))]
pub(crate) fn check_host(host: &str) -> Result<(), TargetError> {
    if plain_host_name(host).is_some() || host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    validate_host(host)
}

/// Checks a host name as resolvers expect it (RFC 1035 and RFC 1123, with
/// the underscore that real DNS names carry): at most 253 characters without
/// a trailing dot, labels of 1 to 63 letters, digits, '-' and '_', no label
/// starting or ending with '-', and not all-numeric (that is a malformed IPv4
/// address, not a name).
pub(crate) fn validate_host(host: &str) -> Result<(), TargetError> {
    if host.is_empty() {
        return Err(TargetError::new(host, "empty host name"));
    }
    if !host.is_ascii() {
        return Err(TargetError::new(
            host,
            "host name is not ASCII: give internationalised names in their \"xn--\" (punycode) form",
        ));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(TargetError::new(
            host,
            format!(
                "host name is {} characters long; at most 253 are allowed",
                name.len()
            ),
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(TargetError::new(
                host,
                "host name has an empty label (\"..\" or a leading dot)",
            ));
        }
        if label.len() > 63 {
            return Err(TargetError::new(
                host,
                format!(
                    "label {label:?} is {} characters long; at most 63 are allowed",
                    label.len()
                ),
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(TargetError::new(
                host,
                format!("character {c:?} is not allowed in a host name"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(TargetError::new(
                host,
                format!("label {label:?} starts or ends with '-'"),
            ));
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(TargetError::new(host, "not a valid IPv4 address"));
    }
    Ok(())
}

/// Why a target was refused.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::IntoTarget;
///
/// let err = "example.com:http".into_target().unwrap_err();
/// assert_eq!(err.to_string(), "invalid target \"example.com:http\": port \"http\" is not a number");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError {
    input: String,
    reason: String,
}

impl TargetError {
    pub(crate) fn new(input: impl Into<String>, reason: impl Into<String>) -> Self {
        TargetError {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// The input as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid target {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for TargetError {}

/// Anything [`ConnectionBuilder::new`](crate::ConnectionBuilder::new) accepts
/// as a target: `"host:port"`, `"[v6]:port"`, `"192.0.2.1:80"`, a
/// `(host, port)` pair, a [`SocketAddr`], or a list of addresses (raced in
/// the list's order, after interleaving).
///
/// A host with a trailing dot (`"api.example.com.:443"`) is absolute: the
/// resolver gets it with its dot and never completes it with a search list
/// ([`Target::is_absolute`]). IPv4 addresses are read as getaddrinfo
/// (`inet_aton(3)`), curl and WHATWG URLs read them: `127.1`,
/// `0x7f000001`, `2130706433` and `0177.0.0.1` are all 127.0.0.1, a
/// literal address that no resolver is asked for and that the address
/// policy judges as such.
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use tokio_endpoints::IntoTarget;
///
/// assert!("localhost:80".into_target().is_ok());
/// assert!(("localhost", 80).into_target().is_ok());
/// assert!((Ipv4Addr::LOCALHOST, 80).into_target().is_ok());
/// let list: Vec<SocketAddr> = vec!["[::1]:80".parse().unwrap(), "127.0.0.1:80".parse().unwrap()];
/// assert_eq!(list.clone().into_target().unwrap().addrs(), &list[..]);
/// assert!(Vec::<SocketAddr>::new().into_target().is_err());
/// assert_eq!("127.1:80".into_target().unwrap().addrs(), &["127.0.0.1:80".parse().unwrap()]);
/// ```
pub trait IntoTarget {
    /// Checks and converts `self`.
    ///
    /// # Errors
    ///
    /// A [`TargetError`] naming what is malformed.
    fn into_target(self) -> Result<Target, TargetError>;
}

impl IntoTarget for Target {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(self)
    }
}

impl IntoTarget for &str {
    fn into_target(self) -> Result<Target, TargetError> {
        Target::parse(self)
    }
}

impl IntoTarget for String {
    fn into_target(self) -> Result<Target, TargetError> {
        Target::parse(&self)
    }
}

impl IntoTarget for &String {
    fn into_target(self) -> Result<Target, TargetError> {
        Target::parse(self)
    }
}

impl IntoTarget for (&str, u16) {
    fn into_target(self) -> Result<Target, TargetError> {
        Target::from_host_port(self.0, self.1)
    }
}

impl IntoTarget for (String, u16) {
    fn into_target(self) -> Result<Target, TargetError> {
        Target::from_host_port(&self.0, self.1)
    }
}

impl IntoTarget for (IpAddr, u16) {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(SocketAddr::from(self).into())
    }
}

impl IntoTarget for (Ipv4Addr, u16) {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(SocketAddr::from(self).into())
    }
}

impl IntoTarget for (Ipv6Addr, u16) {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(SocketAddr::from(self).into())
    }
}

impl IntoTarget for SocketAddr {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(self.into())
    }
}

impl IntoTarget for SocketAddrV4 {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(SocketAddr::V4(self).into())
    }
}

impl IntoTarget for SocketAddrV6 {
    fn into_target(self) -> Result<Target, TargetError> {
        Ok(SocketAddr::V6(self).into())
    }
}

impl IntoTarget for Vec<SocketAddr> {
    fn into_target(self) -> Result<Target, TargetError> {
        match Target::short_list(&self) {
            Some(short) => short,
            None => Ok(Target {
                kind: Kind::Addrs { addrs: self },
            }),
        }
    }
}

impl IntoTarget for &[SocketAddr] {
    fn into_target(self) -> Result<Target, TargetError> {
        match Target::short_list(self) {
            Some(short) => short,
            None => Ok(Target {
                kind: Kind::Addrs {
                    addrs: self.to_vec(),
                },
            }),
        }
    }
}

impl<const N: usize> IntoTarget for [SocketAddr; N] {
    fn into_target(self) -> Result<Target, TargetError> {
        self.as_slice().into_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Target {
        s.into_target().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn reason(s: &str) -> String {
        s.into_target().unwrap_err().reason().to_string()
    }

    #[test]
    fn parses_hosts_and_literals() {
        let t = ok("Example.COM.:443");
        assert_eq!((t.host(), t.port()), (Some("example.com"), 443));
        assert_eq!(
            ok("127.0.0.1:80").addrs(),
            &["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            ok("[::1]:80").addrs(),
            &["[::1]:80".parse::<SocketAddr>().unwrap()]
        );
        let scoped = ok("[fe80::1%3]:80");
        match scoped.addrs()[0] {
            SocketAddr::V6(a) => assert_eq!(a.scope_id(), 3),
            other => panic!("{other}"),
        }
        assert_eq!(
            ok("_srv.my-host1.example:1").host(),
            Some("_srv.my-host1.example")
        );
        let t = ("::1", 5).into_target().unwrap();
        assert_eq!(t.addrs(), &["[::1]:5".parse::<SocketAddr>().unwrap()]);
        let t = ("[::1]", 5).into_target().unwrap();
        assert_eq!(t.addrs(), &["[::1]:5".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn refuses_malformed_input_with_a_reason() {
        assert_eq!(
            reason("example.com"),
            "missing port: expected \"host:port\""
        );
        assert_eq!(reason("example.com:"), "missing port after ':'");
        assert_eq!(reason("example.com:http"), "port \"http\" is not a number");
        assert_eq!(
            reason("example.com:65536"),
            "port 65536 is out of range (0 to 65535)"
        );
        assert_eq!(reason("example.com:-1"), "port \"-1\" is not a number");
        assert_eq!(
            reason("::1:80"),
            "an IPv6 address with a port must be in brackets: \"[::1]:80\""
        );
        assert_eq!(
            reason("fe80::2:53"),
            "an IPv6 address with a port must be in brackets: \"[fe80::2]:53\""
        );
        assert_eq!(reason("[::1]"), "missing port: expected \"[::1]:port\"");
        assert!(reason("[example.com]:80").contains("is not an IPv6 address"));
        assert!(reason("[::1]80").contains("[IPv6 address]:port"));
        assert_eq!(reason(":80"), "empty host name");
        assert!(reason("exa mple.com:80").contains("' '"));
        assert!(reason("a..b:80").contains("empty label"));
        assert!(reason(".a:80").contains("empty label"));
        assert!(reason("-a.com:80").contains("starts or ends with '-'"));
        assert!(reason("bücher.de:80").contains("punycode"));
        assert!(reason(&format!("{}.com:80", "a".repeat(64))).contains("at most 63"));
        let long = vec!["a".repeat(50); 6].join(".");
        assert!(reason(&format!("{long}:80")).contains("at most 253"));
        assert_eq!(reason("256.1.1.1:80"), "not a valid IPv4 address");
        assert_eq!(reason("1.2.3.4.5:80"), "not a valid IPv4 address");
        assert!(reason("host\0:80").contains("'\\0'"));
        assert!(Vec::<SocketAddr>::new().into_target().is_err());
    }

    #[test]
    fn a_url_says_what_to_pass_instead() {
        let cases = [
            (
                "http://localhost:80",
                "it is a URL; pass \"localhost:80\" (host:port)",
            ),
            (
                "http://localhost",
                "it is a URL; pass \"localhost:80\" (host:port)",
            ),
            (
                "https://example.com/path",
                "it is a URL; pass \"example.com:443\" (host:port)",
            ),
            ("ws://host", "it is a URL; pass \"host:80\" (host:port)"),
            (
                "WSS://host/x?y#z",
                "it is a URL; pass \"host:443\" (host:port)",
            ),
            (
                "https://user:pw@example.com:8443/",
                "it is a URL; pass \"example.com:8443\" (host:port)",
            ),
            (
                "http://[::1]:8080/",
                "it is a URL; pass \"[::1]:8080\" (host:port)",
            ),
            (
                "https://[::1]/",
                "it is a URL; pass \"[::1]:443\" (host:port)",
            ),
            (
                "redis://cache",
                "it is a URL; pass \"cache:<port>\" (host:port)",
            ),
            ("http://", "it is a URL; pass \"host:80\" (host:port)"),
        ];
        for (url, want) in cases {
            assert_eq!(reason(url), want, "{url}");
        }
        let e = ("https://example.com", 443).into_target().unwrap_err();
        assert_eq!(
            e.reason(),
            "it is a URL; pass the host alone: (\"example.com\", 443)"
        );
        // Not URLs: a scheme must start with a letter and be followed by "://".
        assert!(!reason("1http://x:80").contains("URL"));
    }

    /// A trailing dot makes the name absolute: kept for the resolver,
    /// left out of `host()` (TLS, the history), however it was given.
    #[test]
    fn a_trailing_dot_is_kept_for_the_resolver_only() {
        let given = [
            "API.example.com.:443".into_target().unwrap(),
            ("api.example.com.", 443).into_target().unwrap(),
            ("API.EXAMPLE.COM.".to_string(), 443).into_target().unwrap(),
        ];
        for t in &given {
            assert_eq!(t.host(), Some("api.example.com"));
            assert_eq!(t.host_name(), Some("api.example.com."));
            assert!(t.is_absolute());
            assert_eq!(t.to_string(), "api.example.com.:443");
        }
        let relative = ("api.example.com", 443).into_target().unwrap();
        assert!(!relative.is_absolute());
        assert_eq!(relative.host_name(), Some("api.example.com"));
        assert_eq!(relative.host_bytes(), given[0].host_bytes());
        assert!(!"[::1]:80".into_target().unwrap().is_absolute());
        // Two dots are an empty label, still.
        assert!(reason("a.com..:80").contains("empty label"));
    }

    /// inet_aton's forms, as glibc reads them (`inet_aton_exact`).
    #[test]
    fn ipv4_numbers_read_as_inet_aton_does() {
        let v4 = |s: &str| inet_aton(s).map(|ip| ip.to_string());
        let same = [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "0177.0.0.1",
            "0x7f.0x0.0.01",
            "017700000001",
        ];
        for s in same {
            assert_eq!(v4(s).as_deref(), Some("127.0.0.1"), "{s}");
        }
        assert_eq!(v4("0").as_deref(), Some("0.0.0.0"));
        assert_eq!(v4("00").as_deref(), Some("0.0.0.0"));
        assert_eq!(v4("4294967295").as_deref(), Some("255.255.255.255"));
        assert_eq!(v4("1.16777215").as_deref(), Some("1.255.255.255"));
        assert_eq!(v4("1.2.65535").as_deref(), Some("1.2.255.255"));
        for s in [
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            "1.2.3.4.",
            "1.2.3.4.5",
            "256.0.0.1",
            "1.256.0.1",
            "1.2.3.256",
            "1.2.65536",
            "1.16777216",
            "4294967296",
            "0x",
            "0x1g",
            "08",
            "09.1",
            "0x100.1",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1e5",
            "0x7f000001x",
            "99999999999999999999",
            "é",
        ] {
            assert_eq!(v4(s), None, "{s:?}");
        }
        // Leading zeros of a hexadecimal part are no overflow.
        assert_eq!(v4("0x0000007f.1").as_deref(), Some("127.0.0.1"));
        // Through the target: the address it denotes, never a name.
        for s in [
            "0x7f000001:80",
            "127.1:80",
            "2130706433:80",
            "0177.0.0.1:80",
        ] {
            assert_eq!(
                ok(s).addrs(),
                &["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
            );
        }
        let t = ("0x7f000001", 80).into_target().unwrap();
        assert_eq!(t.host(), None);
        // A name that starts with a digit is still a name.
        assert_eq!(ok("1password.com:443").host(), Some("1password.com"));
        assert_eq!(
            ok("0xdeadbeef.example:443").host(),
            Some("0xdeadbeef.example")
        );
    }

    #[test]
    fn a_253_character_name_is_accepted() {
        let name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(name.len(), 253);
        assert!(validate_host(&name).is_ok());
        assert!(validate_host(&format!("{name}.")).is_ok());
        assert!(validate_host(&format!("{name}e")).is_err());
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// One literal address is kept inline, however it was given: a list of
    /// one is the same target, with the same `Display` and `addrs()`.
    #[test]
    fn one_address_is_one_target_however_given() {
        let a: SocketAddr = "[::1]:8080".parse().unwrap();
        let single = a.into_target().unwrap();
        let list = vec![a].into_target().unwrap();
        let text = "[::1]:8080".into_target().unwrap();
        assert_eq!(single, list);
        assert_eq!(single, text);
        assert_eq!(single.addrs(), &[a]);
        assert_eq!(single.port(), 8080);
        assert_eq!(single.host(), None);
        assert_eq!(list.to_string(), "[::1]:8080");
        let b: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let two = vec![a, b].into_target().unwrap();
        assert_eq!(two.addrs(), &[a, b]);
        assert_eq!(two.to_string(), "[[::1]:8080, 127.0.0.1:8080]");
    }

    /// A list reads back as it was given, in its order, whether it came as
    /// a `Vec`, a slice or an array, and of two (kept inline) or more (on
    /// the heap); the same list is the same target however given, and an
    /// empty one is refused however given.
    #[test]
    fn a_list_is_one_target_however_given() {
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let other: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let lists: [&[SocketAddr]; 4] = [&[v6, v4], &[v4, v6], &[v6, v4, other], &[v4, v4]];
        for list in lists {
            let from_vec = list.to_vec().into_target().unwrap();
            let from_slice = list.into_target().unwrap();
            assert_eq!(from_vec, from_slice);
            assert_eq!(from_vec.addrs(), list);
            assert_eq!(from_vec.port(), 80);
            assert_eq!((from_vec.host(), from_vec.host_bytes()), (None, None));
            assert_eq!(from_vec.zero_port(), None);
            let listed: Vec<String> = list.iter().map(|a| a.to_string()).collect();
            assert_eq!(from_vec.to_string(), format!("[{}]", listed.join(", ")));
        }
        assert_eq!([v6, v4].into_target().unwrap().addrs(), &[v6, v4]);
        assert_eq!(
            [v6, v4, other].into_target().unwrap().addrs(),
            &[v6, v4, other]
        );
        assert_ne!(
            [v6, v4].into_target().unwrap(),
            [v4, v6].into_target().unwrap()
        );
        let zero: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let why = vec![v6, zero].into_target().unwrap().zero_port().unwrap();
        assert!(why.contains("127.0.0.1:0"), "{why}");
        let empty: [SocketAddr; 0] = [];
        for target in [
            Vec::new().into_target(),
            empty.as_slice().into_target(),
            empty.into_target(),
        ] {
            assert_eq!(target.unwrap_err().reason(), "the address list is empty");
        }
    }

    /// The one-pass check agrees with `validate_host` on every short string
    /// over an alphabet of the bytes that matter, and on long labels and
    /// names at their limits.
    /// Short names are kept inline, long ones on the heap: both read back
    /// the same (lower-cased, without the trailing dot), compare alike, and
    /// a target by name is no larger than one of two literal addresses.
    #[test]
    fn host_names_read_back_whatever_their_length() {
        let n = HostName::INLINE;
        for len in [1, n - 1, n, n + 1, 100, 253] {
            let name: String = (0..len)
                .map(|i| match i % 4 {
                    1 if i + 1 < len => '.',
                    2 => 'B',
                    _ => 'a',
                })
                .collect();
            for given in [name.clone(), format!("{name}.")] {
                let target = Target::from_host_port(&given, 443).unwrap();
                let want = name.to_ascii_lowercase();
                let written = given.to_ascii_lowercase();
                assert_eq!(target.host(), Some(want.as_str()), "{given:?}");
                assert_eq!(target.host_bytes(), Some(want.as_bytes()), "{given:?}");
                assert_eq!(target.host_name(), Some(written.as_str()), "{given:?}");
                assert_eq!(target.is_absolute(), given.ends_with('.'));
                assert_eq!(target.to_string(), format!("{written}:443"));
                assert!(format!("{target:?}").contains(&format!("host: {written:?}")));
                let lower = Target::from_host_port(&written, 443).unwrap();
                assert_eq!(target, lower);
                assert_eq!(target.clone(), lower);
            }
        }
        let other = Target::from_host_port("ab", 443).unwrap();
        assert_ne!(Target::from_host_port("a", 443).unwrap(), other);
        // Two literal addresses inline (a dual-stack pair), and a name up
        // to `HostName::INLINE` bytes in the same room.
        assert!(
            std::mem::size_of::<Target>() <= 2 * std::mem::size_of::<SocketAddr>(),
            "{} B",
            std::mem::size_of::<Target>()
        );
    }

    #[test]
    fn plain_host_name_agrees_with_validate_host() {
        let alphabet = ["a", "Z", "0", "-", "_", ".", ":", "%", "/", "é"];
        let mut inputs: Vec<String> = vec![String::new()];
        for len in 1..=4 {
            let mut idx = vec![0usize; len];
            loop {
                inputs.push(idx.iter().map(|&i| alphabet[i]).collect());
                let mut k = 0;
                while k < len {
                    idx[k] += 1;
                    if idx[k] < alphabet.len() {
                        break;
                    }
                    idx[k] = 0;
                    k += 1;
                }
                if k == len {
                    break;
                }
            }
        }
        for n in [62, 63, 64] {
            inputs.push(format!("{}.com", "a".repeat(n)));
            inputs.push(format!("{}.com.", "B".repeat(n)));
        }
        let long = |n: usize| vec!["abc"; n].join(".");
        for name in [
            long(63),
            long(64),
            format!("{}.", long(63)),
            format!("{}x", long(63)),
        ] {
            inputs.push(name);
        }
        for input in &inputs {
            match plain_host_name(input) {
                Some(lowercase) => {
                    assert!(validate_host(input).is_ok(), "{input:?}");
                    assert_eq!(lowercase, !input.bytes().any(|b| b.is_ascii_uppercase()));
                    let target = Target::from_host_port(input, 80).unwrap();
                    let want = input.trim_end_matches('.').to_ascii_lowercase();
                    assert_eq!(target.host(), Some(want.as_str()), "{input:?}");
                }
                None => assert!(validate_host(input).is_err(), "{input:?}"),
            }
        }
    }
}
