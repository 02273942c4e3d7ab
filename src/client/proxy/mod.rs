//! [`Proxy`]: HTTP `CONNECT` and SOCKS5 proxies as one more hop of the
//! connection, with the race kept.
//!
//! # Why the proxy is a hop of its own, and not an inner connector
//!
//! hyper-util's `Tunnel` and `SocksV5` take the crate's `Connector` as
//! their inner connector, and that loses three things a user behind a
//! proxy relies on: the hop to the proxy is where the Happy Eyeballs race
//! matters (a corporate proxy's name often has an IPv6 address on a path
//! that drops packets), TLS to the origin has to run *inside* the tunnel
//! with the builder's settings and timeouts, and the tunnel's answer has
//! to be read the way proxies send it. So here a call through a proxy is:
//!
//! 1. the hop: a [`ConnectionBuilder`] to the proxy's host and port with the
//!    call's options (history, address policy, socket options, delays), so
//!    the proxy's addresses are raced as any target's are (for an https
//!    proxy, its `connect_tls`, TLS raced per attempt);
//! 2. the tunnel: `CONNECT host:port` or the SOCKS5 exchange on the
//!    winner, bounded by the proxy's handshake timeout;
//! 3. for `connect_tls`, the TLS handshake with the origin on the tunnel,
//!    with the builder's configuration, server name and timeouts. It is
//!    begun as soon as the last request to the proxy (`CONNECT`, or the
//!    SOCKS5 request) is out: its ClientHello, with the key generation of
//!    its key share (the costliest step of a client's handshake), is built
//!    while the proxy opens the tunnel rather than after, and nothing of it
//!    is sent until the proxy's answer says the tunnel is open. (With
//!    [`Proxy::socks5`] and several addresses raced, each attempt that
//!    reaches its request builds one.)
//!
//! With [`Proxy::socks5`] this side resolves the origin's name, the
//! address policy judges its addresses, and they are raced, each over a
//! tunnel of its own (one SOCKS5 connection carries one `CONNECT`).
//!
//! # Reading a `CONNECT` answer
//!
//! The answer is read up to its blank line however it arrives (one byte at
//! a time, or with the origin's first bytes in the same segment), and
//! never past it: for `connect` and `connect_tunnel` the stream is a plain
//! `TcpStream`, so the answer is peeked, and only the bytes of the head are
//! taken off the socket. An origin that speaks first (SSH, SMTP) keeps its
//! greeting for the caller. For `connect_tls` over an http proxy the
//! answer is read in one go, as hyper-util's `Tunnel` reads it (a system
//! call fewer), and whatever came with it is judged by rustls (a TLS
//! origin sends nothing before the ClientHello, so these are a non-TLS
//! origin's, and the handshake fails on them at once).
//! Any 2xx opens the tunnel (RFC 9110 §9.3.6); `407`, in HTTP/1.0 or 1.1,
//! says the proxy wants credentials; any other status is named.

mod http_connect;
mod socks5;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use hyper_util::client::proxy::matcher::Matcher;
use tokio::net::TcpStream;
use tokio::time::Instant;

#[cfg(feature = "tls")]
use crate::client::connect::{BeginTls, TlsBegun};
use crate::client::connect::{
    ConnectionBuilder, Purpose, Source, Tunnel, TunnelIo, TunnelStream, Via,
};
use crate::client::connector::Connector;
use crate::client::error::{
    Attempt, AttemptStage, ConnectError, ConnectErrorKind, ProxyNote, ProxyStage,
};
use crate::resolve::Resolve;
use crate::shared::report::Dur;
use crate::shared::target::{IntoTarget, Target};

/// How long the exchange that opens a tunnel (the `CONNECT` request and
/// its answer, or the SOCKS5 greeting, authentication and request) may
/// take once the proxy accepted the connection: 60 s, as
/// [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`](crate::DEFAULT_TLS_HANDSHAKE_TIMEOUT).
pub const DEFAULT_PROXY_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A proxy that connections go through: HTTP `CONNECT`
/// ([`Proxy::http`]), SOCKS5 with the names resolved by the proxy
/// ([`Proxy::socks5h`]) or here ([`Proxy::socks5`]), or whichever the
/// environment names for each target ([`Proxy::from_env`]). Given to
/// [`ConnectionBuilder::proxy`] or [`Connector::proxy`].
///
/// The hop to the proxy is a full Happy Eyeballs race over the proxy's
/// addresses, with the call's options (history, address policy, socket
/// options, timeouts); [`connect`](ConnectionBuilder::connect) returns the
/// tunnel itself, a `TcpStream` to the proxy that carries the origin's
/// bytes ([`connect_tunnel`](ConnectionBuilder::connect_tunnel) returns it
/// for every kind of proxy, [`Proxy::https`] included), and
/// [`connect_tls`](ConnectionBuilder::connect_tls) runs TLS to the origin
/// inside it, verified for the origin's name.
///
/// `Clone` is cheap (an `Arc`); `Debug` never prints credentials.
///
/// # The address policy
///
/// An [`address_policy`](ConnectionBuilder::address_policy) judges the
/// proxy's addresses, and the origin's where this side resolves them
/// ([`Proxy::socks5`], and literal addresses with any proxy). With
/// [`Proxy::http`] and [`Proxy::socks5h`] a host name goes to the proxy,
/// which resolves it: the policy never sees those addresses. A policy that
/// must see every address refuses that combination with
/// [`AddressPolicy::allow_proxy_names(false)`](crate::AddressPolicy::allow_proxy_names).
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ConnectionBuilder, Connector, Proxy};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let connector = Connector::new().proxy(Proxy::http("http://proxy.corp:3128")?);
///     let tls = connector.connect_tls("example.com:443").await?; // TLS inside the tunnel
///
///     let proxy = Proxy::socks5h("socks5h://127.0.0.1:1080")?.basic_auth("user", "secret");
///     let ssh = ConnectionBuilder::new("origin:22").proxy(proxy).connect().await?;
///     # drop((tls, ssh));
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    route: Route,
    /// Credentials given with `basic_auth`, in place of the URL's.
    auth: Option<Auth>,
    handshake_timeout: Option<Duration>,
}

#[derive(Clone)]
enum Route {
    One(Endpoint),
    /// The environment's settings: a proxy per scheme, and `NO_PROXY`
    /// (shared: a matcher cannot be cloned).
    Env(Arc<Matcher>),
}

/// The kinds of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
    Socks5,
    Socks5h,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Socks5 => "socks5",
            Scheme::Socks5h => "socks5h",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Socks5 | Scheme::Socks5h => 1080,
        }
    }

    fn constructor(self) -> &'static str {
        match self {
            Scheme::Http => "Proxy::http",
            Scheme::Https => "Proxy::https",
            Scheme::Socks5 => "Proxy::socks5",
            Scheme::Socks5h => "Proxy::socks5h",
        }
    }

    fn is_socks(self) -> bool {
        matches!(self, Scheme::Socks5 | Scheme::Socks5h)
    }
}

/// One proxy: its kind, host (as in a URL: an IPv6 address in brackets),
/// port and credentials.
#[derive(Clone)]
pub(crate) struct Endpoint {
    scheme: Scheme,
    host: String,
    port: u16,
    auth: Option<Auth>,
}

/// Credentials for a proxy.
#[derive(Clone)]
enum Auth {
    /// A user name and password: HTTP Basic, or SOCKS5 username/password
    /// (RFC 1929).
    UserPass(String, String),
    /// A `Proxy-Authorization` value, as the environment's matcher made
    /// it (HTTP proxies only).
    Header(String),
}

impl Auth {
    /// The `Proxy-Authorization` header's value.
    fn header(&self) -> String {
        match self {
            Auth::UserPass(user, pass) => {
                format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
            }
            Auth::Header(value) => value.clone(),
        }
    }
}

impl fmt::Display for Endpoint {
    /// The proxy's URL, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.name(), self.host, self.port)
    }
}

impl Proxy {
    /// An HTTP proxy that opens tunnels with `CONNECT host:port` (RFC 9110
    /// §9.3.6): `"http://proxy.corp:3128"`, `"proxy.corp:3128"` (the
    /// scheme may be left out), `"http://user:secret@proxy.corp:3128"`
    /// (percent-encoded credentials, sent as HTTP Basic). The port defaults
    /// to 80. The origin's host name goes to the proxy, which resolves it.
    ///
    /// Every target is tunnelled, `http://` URIs of the hyper `Service`
    /// too: this is not a forward proxy that is sent absolute-form
    /// requests.
    ///
    /// # Errors
    ///
    /// An `InvalidInput` error naming the problem for a URL of another
    /// scheme, with a path, a malformed host or port.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::http("http://proxy.corp:3128")?;
    /// assert_eq!(format!("{proxy:?}"), "Proxy { url: \"http://proxy.corp:3128\", credentials: false, handshake_timeout: Some(60s) }");
    /// assert!(Proxy::http("socks5://proxy.corp:1080").is_err());
    /// # Ok(()) }
    /// ```
    pub fn http(url: impl AsRef<str>) -> io::Result<Proxy> {
        Proxy::parse(url.as_ref(), Scheme::Http)
    }

    /// An HTTP proxy reached over TLS (`"https://proxy.corp:443"`), the
    /// port defaulting to 443: each attempt of the race to the proxy's
    /// addresses does TCP then TLS, the proxy's certificate verified for
    /// its host name with the builder's trust roots and TLS configuration
    /// (ALPN `http/1.1` offered to the proxy; the builder's ALPN list goes
    /// to the origin), the handshake bounded by the proxy's
    /// [`handshake_timeout`](Self::handshake_timeout); then `CONNECT` runs
    /// inside that TLS session. A failure there is at
    /// [`ProxyStage::ProxyTls`]; nothing is sent to the proxy in plaintext.
    ///
    /// [`connect_tls`](ConnectionBuilder::connect_tls) runs TLS with the
    /// origin inside the tunnel, and returns the same
    /// [`TlsStream`](crate::TlsStream) (see its
    /// [`into_inner`](crate::TlsStream::into_inner));
    /// [`connect_tunnel`](ConnectionBuilder::connect_tunnel) returns the
    /// tunnel, a [`ProxyTunnel`]. A tunnel inside TLS is not a `TcpStream`:
    /// [`connect`](ConnectionBuilder::connect) through such a proxy fails
    /// with [`ConnectErrorKind::Unsupported`] before anything is sent. The
    /// feature `tls` is needed (without it every call is refused so).
    ///
    /// # Errors
    ///
    /// As [`Proxy::http`], for a URL that is not `https://`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::https("https://proxy.corp:443")?;
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    pub fn https(url: impl AsRef<str>) -> io::Result<Proxy> {
        Proxy::parse(url.as_ref(), Scheme::Https)
    }

    /// A SOCKS5 proxy (RFC 1928) that is sent the addresses: this side
    /// resolves the origin's name (with the builder's resolver and address
    /// policy) and races its addresses, each through a tunnel of its own.
    /// `"socks5://127.0.0.1:1080"`, with `user:password@` for RFC 1929
    /// username/password authentication; the port defaults to 1080.
    ///
    /// # Errors
    ///
    /// As [`Proxy::http`], for a URL that is not `socks5://`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::socks5("socks5://127.0.0.1:1080")?;
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    pub fn socks5(url: impl AsRef<str>) -> io::Result<Proxy> {
        Proxy::parse(url.as_ref(), Scheme::Socks5)
    }

    /// A SOCKS5 proxy that is sent the origin's host name, and resolves
    /// it (`socks5h`, as curl names it): `"socks5h://127.0.0.1:1080"`. A
    /// literal address target is sent as an address.
    ///
    /// # Errors
    ///
    /// As [`Proxy::http`], for a URL that is not `socks5h://`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::socks5h("socks5h://127.0.0.1:1080")?;
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    pub fn socks5h(url: impl AsRef<str>) -> io::Result<Proxy> {
        Proxy::parse(url.as_ref(), Scheme::Socks5h)
    }

    /// The proxies the environment names, as curl reads them, with
    /// hyper-util's matcher: `HTTPS_PROXY` (or `https_proxy`) for
    /// [`connect_tls`](ConnectionBuilder::connect_tls) and `https://` URIs,
    /// `HTTP_PROXY` (or `http_proxy`) for [`connect`](ConnectionBuilder::connect)
    /// and `http://` URIs, `ALL_PROXY` (or `all_proxy`) for both when the
    /// other is not set, and `NO_PROXY` (or `no_proxy`): a comma-separated
    /// list of domains (matching their subdomains too), IP addresses and
    /// networks (`10.0.0.0/8`), or `*`, whose targets connect directly.
    /// The proxies' URLs may be `http://`, `https://`, `socks5://` or
    /// `socks5h://`; a URL without a scheme is HTTP. Read once, here.
    ///
    /// In a CGI program (`REQUEST_METHOD` set), where `HTTP_PROXY` can come
    /// from a request's `Proxy:` header ("httpoxy"), no variable is used, as
    /// hyper-util's matcher does. With none set, every target connects
    /// directly.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{Connector, Proxy};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let connector = Connector::new().proxy(Proxy::from_env().basic_auth("user", "secret"));
    /// let stream = connector.connect_tls("example.com:443").await?;
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Proxy {
        Proxy::with_route(Route::Env(Arc::new(Matcher::from_env())))
    }

    /// As [`from_env`](Self::from_env), from the variables given rather
    /// than the process's environment (a test, a configuration file, a
    /// child's environment): `(name, value)` pairs, the first of a name
    /// counting, as `std::env::vars()` gives them.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// let proxy = Proxy::from_env_vars([
    ///     ("HTTPS_PROXY", "http://proxy.corp:3128"),
    ///     ("NO_PROXY", "localhost,.internal,10.0.0.0/8"),
    /// ]);
    /// # drop(proxy);
    /// ```
    pub fn from_env_vars<I, K, V>(vars: I) -> Proxy
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        const NAMES: [&str; 9] = [
            "ALL_PROXY",
            "all_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "NO_PROXY",
            "no_proxy",
            "REQUEST_METHOD",
        ];
        let mut found: [Option<String>; 9] = Default::default();
        for (name, value) in vars {
            if let Some(i) = NAMES.iter().position(|n| *n == name.as_ref()) {
                found[i].get_or_insert_with(|| value.as_ref().to_string());
            }
        }
        let first = |i: usize| found[i].clone().or_else(|| found[i + 1].clone());
        let matcher = if found[8].is_some() {
            Matcher::builder().build()
        } else {
            Matcher::builder()
                .all(first(0).unwrap_or_default())
                .http(first(2).unwrap_or_default())
                .https(first(4).unwrap_or_default())
                .no(first(6).unwrap_or_default())
                .build()
        };
        Proxy::with_route(Route::Env(Arc::new(matcher)))
    }

    /// Authenticates with `user` and `password`, in place of credentials
    /// in the URL (or the environment's): HTTP Basic in a
    /// `Proxy-Authorization` header of the `CONNECT` request, or SOCKS5
    /// username/password authentication (RFC 1929). Default is the URL's
    /// credentials, or none.
    ///
    /// # Errors
    ///
    /// Checked by each connect call, before anything is sent: a user name
    /// with `:` for an HTTP proxy (RFC 7617), a user name or password over
    /// 255 bytes for a SOCKS5 proxy, fail with
    /// [`ConnectErrorKind::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::http("http://proxy.corp:3128")?.basic_auth("user", "secret");
    /// assert!(!format!("{proxy:?}").contains("secret"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn basic_auth(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        let auth = Auth::UserPass(user.into(), password.into());
        self.set(|shared| shared.auth = Some(auth))
    }

    /// Bounds the exchange that opens the tunnel once the proxy accepted
    /// the connection: the `CONNECT` request and its answer, or the SOCKS5
    /// greeting, authentication and request. A proxy that accepts and
    /// never answers fails the call with [`ConnectErrorKind::Proxy`] (an
    /// `io::ErrorKind::TimedOut` attempt) after this long.
    /// [`connect_timeout`](ConnectionBuilder::connect_timeout) bounds the
    /// whole call, this exchange included. `None` means no bound of its
    /// own; `Duration::ZERO` is refused by each connect call. Default is
    /// 60 s ([`DEFAULT_PROXY_HANDSHAKE_TIMEOUT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_endpoints::Proxy;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let proxy = Proxy::http("proxy.corp:3128")?.handshake_timeout(Duration::from_secs(5));
    /// # drop(proxy);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn handshake_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.set(|shared| shared.handshake_timeout = timeout)
    }

    fn with_route(route: Route) -> Proxy {
        Proxy {
            shared: Arc::new(Shared {
                route,
                auth: None,
                handshake_timeout: Some(DEFAULT_PROXY_HANDSHAKE_TIMEOUT),
            }),
        }
    }

    fn set(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        f(Arc::make_mut(&mut self.shared));
        self
    }

    fn parse(url: &str, expected: Scheme) -> io::Result<Proxy> {
        let endpoint = parse_url(url, expected).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} {url:?}: {why}", expected.constructor()),
            )
        })?;
        Ok(Proxy::with_route(Route::One(endpoint)))
    }

    /// The proxy for the origin `host` (a name, or an IP address in URL
    /// form) and `port`, for a TLS connection or not: `None` to connect
    /// directly; an error for a proxy of the environment that is not
    /// supported.
    #[cfg(test)]
    fn route(&self, host: &str, port: u16, tls: bool) -> Option<Result<Endpoint, String>> {
        self.shared.route(host, port, tls)
    }
}

impl Shared {
    /// The proxy for the origin `host` (a name, or an IP address in URL
    /// form) and `port`, for a TLS connection or not: `None` to connect
    /// directly; an error for a proxy of the environment that is not
    /// supported.
    fn route(&self, host: &str, port: u16, tls: bool) -> Option<Result<Endpoint, String>> {
        let mut endpoint = match &self.route {
            Route::One(endpoint) => endpoint.clone(),
            Route::Env(matcher) => {
                let scheme = if tls { "https" } else { "http" };
                let uri: http::Uri = format!("{scheme}://{host}:{port}/").parse().ok()?;
                let intercept = matcher.intercept(&uri)?;
                match from_intercept(&intercept) {
                    Ok(endpoint) => endpoint,
                    Err(e) => return Some(Err(e)),
                }
            }
        };
        if let Some(auth) = &self.auth {
            endpoint.auth = Some(auth.clone());
        }
        Some(Ok(endpoint))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Proxy");
        match &self.route {
            Route::One(endpoint) => {
                d.field("url", &endpoint.to_string());
                let credentials = endpoint.auth.is_some() || self.auth.is_some();
                d.field("credentials", &credentials);
            }
            // The matcher's `Debug` prints the proxies' URLs, never their
            // credentials.
            Route::Env(matcher) => {
                d.field("from_env", &**matcher);
                d.field("credentials", &self.auth.is_some());
            }
        }
        d.field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// The proxy the environment's matcher picked.
fn from_intercept(
    intercept: &hyper_util::client::proxy::matcher::Intercept,
) -> Result<Endpoint, String> {
    let uri = intercept.uri();
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some("socks5") => Scheme::Socks5,
        Some("socks5h") => Scheme::Socks5h,
        other => {
            return Err(format!(
                "the proxy {uri} from the environment is of the scheme {}, which is not \
                 supported (http, https, socks5 and socks5h are)",
                other.unwrap_or("(none)")
            ))
        }
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("the proxy {uri} from the environment has no host"))?;
    let port = uri.port_u16().unwrap_or(scheme.default_port());
    let auth = if let Some(value) = intercept.basic_auth() {
        Some(Auth::Header(value.to_str().unwrap_or_default().to_string()))
    } else {
        intercept
            .raw_auth()
            .map(|(user, pass)| Auth::UserPass(user.to_string(), pass.to_string()))
    };
    Ok(Endpoint {
        scheme,
        host: host.to_string(),
        port,
        auth,
    })
}

/// A proxy URL of the scheme `expected`: `scheme://[user[:password]@]host[:port][/]`.
fn parse_url(url: &str, expected: Scheme) -> Result<Endpoint, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) => {
            if !scheme.eq_ignore_ascii_case(expected.name()) {
                let instead = match scheme.to_ascii_lowercase().as_str() {
                    "http" => " (use Proxy::http)",
                    "https" => " (use Proxy::https)",
                    "socks5" => " (use Proxy::socks5)",
                    "socks5h" => " (use Proxy::socks5h)",
                    _ => "",
                };
                return Err(format!(
                    "the scheme is {scheme:?}, not {:?}{instead}",
                    expected.name()
                ));
            }
            rest
        }
        None if expected == Scheme::Http => url,
        None => return Err(format!("no scheme: write {}://host:port", expected.name())),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(i) = authority.find(['/', '?', '#']) {
        return Err(format!(
            "a proxy URL has no path, query or fragment ({:?})",
            &authority[i..]
        ));
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let auth = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            Some(Auth::UserPass(
                percent_decode(user).ok_or("the user name is not valid percent-encoded UTF-8")?,
                percent_decode(pass).ok_or("the password is not valid percent-encoded UTF-8")?,
            ))
        }
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address in brackets lacks its ']'")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
        (&host_port[..addr.len() + 2], after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None | Some("") => expected.default_port(),
        Some(text) => match text.parse::<u16>() {
            Ok(p) if p != 0 && text.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(format!("port {text:?} is not a port number (1 to 65535)")),
        },
    };
    (host, port)
        .into_target()
        .map_err(|e| e.reason().to_string())?;
    Ok(Endpoint {
        scheme: expected,
        host: host.to_ascii_lowercase(),
        port,
        auth,
    })
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (RFC 4648 §4), for HTTP Basic.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Proxies: [`Proxy`], behind the feature `proxy`.
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
impl ConnectionBuilder {
    /// Connects through `proxy`: the hop to the proxy is a Happy Eyeballs
    /// race over its addresses with this builder's options (history,
    /// address policy, socket options, delays and timeouts apply to it),
    /// then the proxy opens a tunnel to the target. [`connect`](Self::connect)
    /// returns the tunnel, a `TcpStream` whose peer is the proxy;
    /// [`connect_tls`](Self::connect_tls) runs TLS with the target inside
    /// it, with this builder's TLS settings, verified for the target's
    /// name (or literal address). [`connect_timeout`](Self::connect_timeout)
    /// bounds the whole call. Default is no proxy (the proxy of a
    /// [`Connector`] this builder came from).
    ///
    /// # Errors
    ///
    /// [`ConnectError::proxy_stage`] says which hop failed: reaching the
    /// proxy (the error of any connect, for the proxy's addresses), TLS
    /// with an https proxy, the tunnel ([`ConnectErrorKind::Proxy`]: the `CONNECT` status, the
    /// SOCKS5 reply), or TLS with the origin.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, Proxy};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let proxy = Proxy::http("http://proxy.corp:3128")?;
    ///     let tls = ConnectionBuilder::new("origin:443").proxy(proxy.clone()).connect_tls().await?;
    ///     let tunnel = ConnectionBuilder::new("origin:22").proxy(proxy).connect().await?;
    ///     # drop((tls, tunnel));
    ///     Ok(())
    /// }
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.opts.via = Some(proxy.shared);
        self.connecting("proxy")
    }
}

/// Proxies: [`Proxy`], behind the feature `proxy`.
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
impl ConnectionBuilder {
    /// The tunnel through the proxy to the target, for every kind of
    /// proxy: a [`ProxyTunnel`] that carries the target's bytes. Through a
    /// [`Proxy::https`] the tunnel runs inside TLS with the proxy, which
    /// [`connect`](Self::connect) cannot return as a `TcpStream` (it
    /// refuses that proxy, naming this call); through an http or SOCKS5
    /// proxy it is the `TcpStream` to the proxy ([`ProxyTunnel::into_tcp`]).
    /// With no proxy for the target (none given, or `NO_PROXY`), the
    /// direct connection [`connect`](Self::connect) makes.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect) through the proxy; TLS with an https
    /// proxy fails at [`ProxyStage::ProxyTls`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio::io::AsyncWriteExt;
    /// use tokio_endpoints::{ConnectionBuilder, Proxy};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = Proxy::https("https://proxy.corp:443")?;
    /// let mut tunnel = ConnectionBuilder::new("origin:22").proxy(proxy).connect_tunnel().await?;
    /// assert!(tunnel.is_tls());
    /// tunnel.write_all(b"SSH-2.0-me\r\n").await?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::manual_async_fn)] // the `Send + 'static` bound is part of the contract
    pub fn connect_tunnel(
        self,
    ) -> impl Future<Output = Result<ProxyTunnel, ConnectError>> + Send + 'static {
        async move {
            match self
                .opts
                .via
                .clone()
                .filter(|via| via.applies(&self, false))
            {
                Some(via) => {
                    let tunnel = via.tunnel(&self, Purpose::Any).await?;
                    Ok(ProxyTunnel {
                        stream: tunnel.stream,
                    })
                }
                None => Ok(ProxyTunnel {
                    stream: TunnelStream::Tcp(self.connect().await?),
                }),
            }
        }
    }
}

/// A tunnel through a proxy, from [`ConnectionBuilder::connect_tunnel`]:
/// the target's bytes, over TCP to the proxy or, through a
/// [`Proxy::https`], inside TLS with the proxy. Reads and writes are the
/// target's; `shutdown` ends the proxy's TLS session (close_notify, within
/// the builder's [`tls_shutdown_timeout`](ConnectionBuilder::tls_shutdown_timeout))
/// and shuts the TCP write side.
///
/// # Examples
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_endpoints::{Connector, Proxy};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = Connector::new().proxy(Proxy::socks5h("socks5h://127.0.0.1:1080")?);
/// let mut tunnel = connector.connect_tunnel("origin:7").await?;
/// tunnel.write_all(b"echo").await?;
/// let mut back = [0; 4];
/// tunnel.read_exact(&mut back).await?;
/// println!("through {}", tunnel.tcp().peer_addr()?);
/// # Ok(()) }
/// ```
pub struct ProxyTunnel {
    stream: TunnelStream,
}

impl ProxyTunnel {
    /// The TCP connection at the bottom: to the proxy (or the target, with
    /// no proxy). Its bytes are the tunnel's: reading or writing it
    /// directly corrupts a TLS session with the proxy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::{ConnectionBuilder, Proxy};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = Proxy::http("http://proxy.corp:3128")?;
    /// let tunnel = ConnectionBuilder::new("origin:22").proxy(proxy).connect_tunnel().await?;
    /// println!("proxy at {}", tunnel.tcp().peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn tcp(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// Whether the tunnel runs inside TLS with the proxy ([`Proxy::https`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::{ConnectionBuilder, Proxy};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = Proxy::https("https://proxy.corp")?;
    /// let tunnel = ConnectionBuilder::new("origin:22").proxy(proxy).connect_tunnel().await?;
    /// assert!(tunnel.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, TunnelStream::Carried(_))
    }

    /// The `TcpStream` that carries the tunnel, for an http or SOCKS5
    /// proxy (or none); a tunnel inside TLS with the proxy back as `Err`.
    ///
    /// # Errors
    ///
    /// The tunnel itself, when it [`is_tls`](Self::is_tls).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::{ConnectionBuilder, Proxy};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = Proxy::http("http://proxy.corp:3128")?;
    /// let tunnel = ConnectionBuilder::new("origin:22").proxy(proxy).connect_tunnel().await?;
    /// let tcp: tokio::net::TcpStream = tunnel.into_tcp().expect("not inside TLS");
    /// # drop(tcp);
    /// # Ok(()) }
    /// ```
    pub fn into_tcp(self) -> Result<TcpStream, ProxyTunnel> {
        match self.stream {
            TunnelStream::Tcp(tcp) => Ok(tcp),
            stream => Err(ProxyTunnel { stream }),
        }
    }
}

impl tokio::io::AsyncRead for ProxyTunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ProxyTunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl fmt::Debug for ProxyTunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tcp = self.tcp();
        f.debug_struct("ProxyTunnel")
            .field("local_addr", &tcp.local_addr().ok())
            .field("peer_addr", &tcp.peer_addr().ok())
            .field("tls", &self.is_tls())
            .finish()
    }
}

/// Proxies: [`Proxy`], behind the feature `proxy`.
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
impl Connector {
    /// As [`ConnectionBuilder::connect_tunnel`], to `target`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{Connector, Proxy};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let connector = Connector::new().proxy(Proxy::https("https://proxy.corp")?);
    /// let tunnel = connector.connect_tunnel("origin:22").await?;
    /// # drop(tunnel);
    /// # Ok(()) }
    /// ```
    pub fn connect_tunnel(
        &self,
        target: impl IntoTarget,
    ) -> impl Future<Output = Result<ProxyTunnel, ConnectError>> + Send + 'static {
        self.builder(target).connect_tunnel()
    }

    /// As [`ConnectionBuilder::proxy`]: every connection of this connector
    /// goes through `proxy` (with [`Proxy::from_env`], those the
    /// environment says), the hyper `Service`'s too (both `http://` and
    /// `https://` URIs are tunnelled). Default is no proxy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{Connector, Proxy};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let connector = Connector::new().proxy(Proxy::socks5h("socks5h://127.0.0.1:1080")?);
    /// let stream = connector.connect_tls("example.com:443").await?;
    /// # drop(stream);
    /// # Ok(()) }
    /// ```
    pub fn proxy(self, proxy: Proxy) -> Self {
        self.set(|opts| opts.via = Some(proxy.shared))
    }
}

/// The proxy a call goes through, picked for its target.
struct Hop {
    endpoint: Result<Endpoint, String>,
    handshake_timeout: Option<Duration>,
}

impl Shared {
    /// The proxy `builder`'s call to its target goes through (`tls`: for
    /// `connect_tls`), or `None` to connect directly (a target the
    /// environment's `NO_PROXY` names, or a malformed target, which the
    /// direct path reports).
    fn hop(&self, builder: &ConnectionBuilder, tls: bool) -> Option<Hop> {
        let Source::Target(Ok(target)) = &builder.source else {
            return None;
        };
        let host = match (target.host(), target.addrs().first()) {
            (Some(host), _) => host.to_string(),
            (None, Some(SocketAddr::V6(a))) => format!("[{}]", a.ip()),
            (None, Some(SocketAddr::V4(a))) => a.ip().to_string(),
            (None, None) => return None,
        };
        let endpoint = self.route(&host, target.port(), tls)?;
        Some(Hop {
            endpoint,
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// A `Proxy` is what the connect path knows as a [`Via`]: it decides per
/// call, and opens the tunnel; `connect` returns it, `connect_tls` runs
/// its handshake on it (`client::tls`).
impl Via for Shared {
    fn applies(&self, builder: &ConnectionBuilder, tls: bool) -> bool {
        self.hop(builder, tls).is_some()
    }

    fn tunnel<'a>(
        &'a self,
        builder: &'a ConnectionBuilder,
        purpose: Purpose,
    ) -> Pin<Box<dyn Future<Output = Result<Tunnel, ConnectError>> + Send + 'a>> {
        Box::pin(self.open(builder, purpose, &Plain))
    }

    #[cfg(feature = "tls")]
    fn tunnel_tls<'a>(
        &'a self,
        builder: &'a ConnectionBuilder,
        tls: &'a dyn BeginTls,
    ) -> Pin<Box<dyn Future<Output = Result<Tunnel<TlsBegun>, ConnectError>> + Send + 'a>> {
        Box::pin(async move {
            let tunnel = self.open(builder, Purpose::Tls, &StartTls(tls)).await?;
            match tunnel.stream {
                Ok(begun) => Ok(Tunnel {
                    stream: begun,
                    early: tunnel.early,
                    proxy_addr: tunnel.proxy_addr,
                    origin_ip: tunnel.origin_ip,
                    note: tunnel.note,
                }),
                // A tunnel goes to an address unless the target is a name,
                // and a name is the handshake's server name: not reached.
                Err(_) => Err(ConnectError::new(ConnectErrorKind::Tls, builder.describe())
                    .with_message(
                        "the tunnel's origin has neither a server name nor an address to \
                         verify its certificate against",
                    )
                    .with_all_errors(builder.opts.all_errors)),
            }
        })
    }
}

impl Shared {
    /// The tunnel for `purpose`, its stream left as `ending` makes it.
    async fn open<E: Ending>(
        &self,
        builder: &ConnectionBuilder,
        purpose: Purpose,
        ending: &E,
    ) -> Result<Tunnel<E::Stream>, ConnectError> {
        let Some(hop) = self.hop(builder, purpose == Purpose::Tls) else {
            return Err(builder.invalid("no proxy for this target"));
        };
        let endpoint = hop.checked(builder, purpose)?;
        builder.checked()?;
        let stage = AtomicU8::new(AT_CONNECT);
        let work = tunnel(builder, &hop, endpoint, &stage, ending);
        let opened = bounded(builder, &hop, endpoint, &stage, work).await?;
        Ok(Tunnel {
            stream: opened.stream,
            early: opened.early,
            proxy_addr: opened.proxy_addr,
            origin_ip: opened.dest.ip(),
            note: hop.note(endpoint, ProxyStage::Tunnel, None),
        })
    }
}

/// What a tunnel's stream becomes once the last request to the proxy is
/// out, before its answer is read: itself ([`Plain`]), or the origin's TLS
/// handshake begun on it ([`StartTls`]).
trait Ending: Sync {
    type Stream: Send;
    /// TLS with the origin follows, and takes the bytes that come with
    /// the proxy's answer.
    const TLS: bool;
    fn end(&self, stream: TunnelStream, dest: &Dest) -> Self::Stream;
    /// The connection to read the proxy's answer from.
    fn io(stream: &mut Self::Stream) -> TunnelIo<'_>;
}

/// `connect` and `connect_tunnel`: the stream as it is.
struct Plain;

impl Ending for Plain {
    type Stream = TunnelStream;
    const TLS: bool = false;
    fn end(&self, stream: TunnelStream, _: &Dest) -> TunnelStream {
        stream
    }
    fn io(stream: &mut TunnelStream) -> TunnelIo<'_> {
        stream.io()
    }
}

/// `connect_tls`: the origin's handshake begun while the proxy opens the
/// tunnel (`Err`: the stream, when there is no name to verify).
#[cfg(feature = "tls")]
struct StartTls<'a>(&'a dyn BeginTls);

#[cfg(feature = "tls")]
impl Ending for StartTls<'_> {
    type Stream = Result<TlsBegun, TunnelStream>;
    const TLS: bool = true;
    fn end(&self, stream: TunnelStream, dest: &Dest) -> Self::Stream {
        self.0.begin(stream, dest.ip())
    }
    fn io(stream: &mut Self::Stream) -> TunnelIo<'_> {
        match stream {
            Ok(begun) => begun.connecting.stream_mut(),
            Err(stream) => stream.io(),
        }
    }
}

/// Where the tunnel goes: a name the proxy resolves, or an address.
#[derive(Clone, Debug)]
enum Dest {
    Name(String, u16),
    Addr(SocketAddr),
}

impl Dest {
    /// The address, when the tunnel goes to one: what TLS with the origin
    /// verifies without a server name.
    fn ip(&self) -> Option<IpAddr> {
        match self {
            Dest::Addr(addr) => Some(addr.ip()),
            Dest::Name(..) => None,
        }
    }
}

impl fmt::Display for Dest {
    /// As `CONNECT` names it: `host:port`, `[v6]:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Name(host, port) => write!(f, "{host}:{port}"),
            Dest::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

/// A tunnel that the proxy opened, and where it goes.
struct Opened<S> {
    stream: S,
    dest: Dest,
    /// The origin's bytes that came with the `CONNECT` answer (only when
    /// the tunnel is for TLS with the origin, which judges them).
    early: Vec<u8>,
    /// The proxy's address, the connection's peer.
    proxy_addr: Option<SocketAddr>,
}

/// Why a proxy did not open a tunnel: the payload of the failed
/// attempt's `io::Error`.
#[derive(Debug)]
pub(crate) struct Refusal {
    kind: io::ErrorKind,
    message: String,
    status: Option<u16>,
}

impl Refusal {
    fn new(kind: io::ErrorKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            status: None,
        }
    }

    fn with_status(mut self, status: u16) -> Refusal {
        self.status = Some(status);
        self
    }

    /// An I/O error while `doing` the exchange.
    fn io(doing: &'static str) -> impl Fn(io::Error) -> Refusal {
        move |e| {
            Refusal::new(
                e.kind(),
                format!("{doing}: {}", crate::shared::report::Brief(&e)),
            )
        }
    }

    /// The proxy closed the connection while `doing`.
    fn closed(doing: &str) -> Refusal {
        Refusal::new(
            io::ErrorKind::UnexpectedEof,
            format!("the proxy closed the connection {doing}"),
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The numbering of [`ProxyStage`] in the stage a call has reached.
const AT_CONNECT: u8 = 0;
const AT_TUNNEL: u8 = 1;

fn stage_of(at: u8) -> ProxyStage {
    match at {
        AT_CONNECT => ProxyStage::Connect,
        _ => ProxyStage::Tunnel,
    }
}

impl Hop {
    /// The proxy, checked before anything is sent: the environment's
    /// proxy is supported, the credentials fit the protocol, the
    /// handshake timeout is not zero.
    fn checked(
        &self,
        builder: &ConnectionBuilder,
        purpose: Purpose,
    ) -> Result<&Endpoint, ConnectError> {
        let endpoint = self
            .endpoint
            .as_ref()
            .map_err(|e| builder.invalid(e.clone()))?;
        crate::shared::clock::positive("Proxy::handshake_timeout", self.handshake_timeout)
            .map_err(|e| builder.invalid(e))?;
        let socks = endpoint.scheme.is_socks();
        match &endpoint.auth {
            Some(Auth::UserPass(user, pass)) if socks && (user.len() > 255 || pass.len() > 255) => {
                return Err(
                    builder.invalid("SOCKS5 credentials are at most 255 bytes each (RFC 1929)")
                );
            }
            Some(Auth::UserPass(user, _)) if !socks && user.contains(':') => {
                return Err(
                    builder.invalid("an HTTP Basic user name cannot contain ':' (RFC 7617)")
                );
            }
            Some(Auth::Header(_)) if socks => {
                return Err(builder.invalid("a SOCKS5 proxy takes a user name and password"));
            }
            _ => {}
        }
        let refuse = |why: String| {
            Err(
                ConnectError::new(ConnectErrorKind::Unsupported, builder.describe())
                    .with_message(why)
                    .with_all_errors(builder.opts.all_errors),
            )
        };
        if endpoint.scheme == Scheme::Https && !cfg!(feature = "tls") {
            return refuse(format!(
                "the https proxy {endpoint} needs the feature `tls` of tokio-endpoints"
            ));
        }
        if endpoint.scheme == Scheme::Https && purpose == Purpose::Tcp {
            return refuse(format!(
                "connect through the https proxy {endpoint}: a tunnel inside TLS with the proxy \
                 is not a TcpStream; use connect_tunnel (a ProxyTunnel), or connect_tls"
            ));
        }
        Ok(endpoint)
    }

    fn note(&self, endpoint: &Endpoint, stage: ProxyStage, status: Option<u16>) -> ProxyNote {
        ProxyNote {
            url: endpoint.to_string(),
            stage,
            status,
        }
    }
}

/// `work` within the builder's `connect_timeout`, if it has one.
async fn bounded<T>(
    builder: &ConnectionBuilder,
    hop: &Hop,
    endpoint: &Endpoint,
    stage: &AtomicU8,
    work: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    let Some(timeout) = builder.opts.connect_timeout else {
        return work.await;
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => {
            let stage = stage_of(stage.load(Ordering::Relaxed));
            Err(
                ConnectError::new(ConnectErrorKind::TimedOut, builder.describe())
                    .with_message(format!("timed out after {}", Dur(timeout)))
                    .with_all_errors(builder.opts.all_errors)
                    .through_proxy(builder.describe(), hop.note(endpoint, stage, None)),
            )
        }
    }
}

/// The tunnel to the builder's target: its destinations (the name, or the
/// addresses this side resolved or was given), raced as the builder races
/// addresses, each through a connection to the proxy of its own, each
/// stream left as `ending` makes it.
async fn tunnel<E: Ending>(
    builder: &ConnectionBuilder,
    hop: &Hop,
    endpoint: &Endpoint,
    stage: &AtomicU8,
    ending: &E,
) -> Result<Opened<E::Stream>, ConnectError> {
    let start = Instant::now();
    let (target, _) = builder.checked()?;
    let dests = destinations(builder, target, endpoint).await?;
    let delay = builder.opts.delay;
    let raced = race(dests, delay, |dest| {
        one_tunnel(builder, hop, endpoint, dest, start, stage, ending)
    });
    // With every destination failed, the first one's error: with one
    // destination, the only one.
    raced.await.map_err(|mut errors| errors.remove(0))
}

/// Where the tunnels may go, checked by the address policy where this
/// side knows the address.
async fn destinations(
    builder: &ConnectionBuilder,
    target: &Target,
    endpoint: &Endpoint,
) -> Result<Vec<Dest>, ConnectError> {
    let port = target.port();
    let policy = builder.opts.policy.as_ref();
    let mut denied = Vec::new();
    let addrs: Vec<SocketAddr> = match target.host() {
        Some(name) if endpoint.scheme != Scheme::Socks5 => {
            if policy.is_some_and(|p| !p.allows_proxy_names()) {
                return Err(
                    ConnectError::new(ConnectErrorKind::Denied, builder.describe())
                        .with_message(format!(
                            "the proxy {endpoint} would resolve {name} itself, and the address \
                         policy must see every address (allow_proxy_names(false)); use \
                         Proxy::socks5, which resolves here"
                        ))
                        .with_all_errors(builder.opts.all_errors),
                );
            }
            return Ok(vec![Dest::Name(name.to_string(), port)]);
        }
        Some(name) => {
            let mut resolving = builder.name_resolver().resolve(name, builder.opts.family);
            let mut ips: Vec<IpAddr> = Vec::new();
            let mut errors = Vec::new();
            while let Some(batch) = resolving.next().await {
                match batch {
                    Ok(batch) => ips.extend(batch),
                    Err(e) => errors.push(e),
                }
            }
            if ips.is_empty() {
                return Err(
                    ConnectError::new(ConnectErrorKind::Resolve, builder.describe())
                        .with_resolve_errors(errors)
                        .with_message("the resolver returned no address")
                        .with_all_errors(builder.opts.all_errors),
                );
            }
            let seen = ips.len();
            let admitted: Vec<SocketAddr> =
                builder.admit(ips, port, &mut denied).flatten().collect();
            // In the order a race takes them: families interleaved.
            let mut queue = crate::shared::order::Queue::new(builder.opts.interleave());
            queue.extend(admitted);
            let addrs: Vec<SocketAddr> = std::iter::from_fn(|| queue.pop()).collect();
            if addrs.is_empty() && denied.is_empty() && seen > 0 {
                return Err(builder.invalid(format!("{name} has no address this call can use")));
            }
            addrs
        }
        None => {
            let ips = target.addrs().iter().map(|a| a.ip());
            target
                .addrs()
                .iter()
                .zip(builder.admit(ips, port, &mut denied))
                .filter_map(|(literal, admitted)| admitted.map(|_| *literal))
                .collect()
        }
    };
    if addrs.is_empty() {
        if !denied.is_empty() {
            return Err(builder.denied(denied));
        }
        return Err(builder.invalid("the target has no address this call can use"));
    }
    Ok(addrs.into_iter().map(Dest::Addr).collect())
}

/// One tunnel: the hop to the proxy (its own race), then the exchange;
/// once its last request is out, `ending` makes the stream what the call
/// wants (for `connect_tls`, the origin's handshake begun: its ClientHello
/// built while the proxy opens the tunnel), and the answer is read.
async fn one_tunnel<E: Ending>(
    builder: &ConnectionBuilder,
    hop: &Hop,
    endpoint: &Endpoint,
    dest: Dest,
    start: Instant,
    stage: &AtomicU8,
    ending: &E,
) -> Result<Opened<E::Stream>, ConnectError> {
    let mut opts = builder.opts.clone();
    opts.via = None;
    // The proxy's name has no HTTPS records of the origin's service.
    opts.svcb = Some(false);
    #[cfg(feature = "tls")]
    opts.tls.forget_given();
    let to_proxy = (endpoint.host.as_str(), endpoint.port).into_target();
    let to_proxy =
        ConnectionBuilder::with_options(Source::Target(to_proxy.map_err(Box::new)), opts);
    let stream = hop_to(to_proxy, hop, endpoint, builder).await?;
    stage.fetch_max(AT_TUNNEL, Ordering::Relaxed);
    // Asked once: the failed attempt's report and the origin's TLS errors
    // name it.
    let proxy_addr = stream.tcp().peer_addr().ok();
    let started = start.elapsed();
    let exchange = async {
        let mut stream = stream;
        let connect = matches!(endpoint.scheme, Scheme::Http | Scheme::Https);
        let authority = if connect {
            dest.to_string()
        } else {
            String::new()
        };
        let header = endpoint.auth.as_ref().filter(|_| connect).map(Auth::header);
        if connect {
            http_connect::request(&mut stream, &authority, header.as_deref()).await?;
        } else {
            let auth = match &endpoint.auth {
                Some(Auth::UserPass(user, pass)) => Some((user.as_str(), pass.as_str())),
                _ => None,
            };
            socks5::request(&mut stream, &dest, auth).await?;
        }
        // The last request is out: while the proxy opens the tunnel.
        let mut stream = ending.end(stream, &dest);
        let early = if connect {
            http_connect::answer(E::io(&mut stream), &authority, header.is_some(), E::TLS).await?
        } else {
            socks5::reply(&mut E::io(&mut stream), &dest).await?;
            Vec::new()
        };
        Ok((stream, early))
    };
    let result = match hop.handshake_timeout {
        Some(timeout) => tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Refusal::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the proxy did not open the tunnel within {} (Proxy::handshake_timeout)",
                        Dur(timeout)
                    ),
                ))
            }),
        None => exchange.await,
    };
    match result {
        Ok((stream, early)) => {
            tracing::debug!(proxy = %endpoint, %dest, "tunnel open");
            Ok(Opened {
                stream,
                dest,
                early,
                proxy_addr,
            })
        }
        Err(refusal) => {
            tracing::debug!(proxy = %endpoint, %dest, error = %refusal, "tunnel refused");
            let status = refusal.status;
            let message = refusal.message.clone();
            let attempt = Attempt {
                addr: proxy_addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                started,
                elapsed: start.elapsed().saturating_sub(started),
                error: io::Error::new(refusal.kind, refusal),
                stage: AttemptStage::Proxy,
            };
            // Only now: the origin's description is formatted on failure.
            let origin = builder.describe();
            Err(ConnectError::new(ConnectErrorKind::Proxy, origin.clone())
                .with_message(message)
                .with_attempts(vec![attempt])
                .with_all_errors(builder.opts.all_errors)
                .through_proxy(origin, hop.note(endpoint, ProxyStage::Tunnel, status)))
        }
    }
}

/// The connection to the proxy: TCP, or for an https proxy TLS with it
/// (each attempt of the race does TCP then TLS, as `connect_tls` does),
/// verified for the proxy's name with the builder's trust roots and TLS
/// configuration, offering ALPN `http/1.1` (the origin's ALPN list is for
/// the origin), its handshake bounded by the proxy's handshake timeout.
async fn hop_to(
    to_proxy: ConnectionBuilder,
    hop: &Hop,
    endpoint: &Endpoint,
    origin: &ConnectionBuilder,
) -> Result<TunnelStream, ConnectError> {
    let failed = |e: ConnectError, stage| {
        e.through_proxy(origin.describe(), hop.note(endpoint, stage, None))
    };
    #[cfg(feature = "tls")]
    if endpoint.scheme == Scheme::Https {
        let to_proxy = to_proxy
            .server_name(endpoint.host.as_str())
            .alpn(["http/1.1"])
            .tls_handshake_timeout(hop.handshake_timeout);
        return match to_proxy.connect_tls().await {
            Ok(tls) => Ok(TunnelStream::Carried(Box::new(tls))),
            Err(e) => {
                let stage = match e.kind() {
                    ConnectErrorKind::Tls | ConnectErrorKind::TlsHandshakeTimeout => {
                        ProxyStage::ProxyTls
                    }
                    _ => ProxyStage::Connect,
                };
                Err(failed(e, stage))
            }
        };
    }
    match to_proxy.connect().await {
        Ok(tcp) => Ok(TunnelStream::Tcp(tcp)),
        Err(e) => Err(failed(e, ProxyStage::Connect)),
    }
}

/// Races `dests` as Happy Eyeballs races addresses: the next starts when
/// `delay` has passed since the last one started, or at once when a
/// running one fails (only then, with no delay: `sequential`). The first
/// to succeed wins and the others are dropped (their sockets closed);
/// when all fail, their errors, in the order they ended.
async fn race<T, E, F, Fut>(
    dests: Vec<Dest>,
    delay: Option<Duration>,
    mut start: F,
) -> Result<T, Vec<E>>
where
    F: FnMut(Dest) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // One destination (an http proxy, or a name the proxy resolves): no
    // race to run.
    if let [_] = dests.as_slice() {
        let only = dests.into_iter().next().expect("one destination");
        return start(only).await.map_err(|e| vec![e]);
    }
    let mut waiting = dests.into_iter();
    let mut running = FuturesUnordered::new();
    let mut errors = Vec::new();
    match waiting.next() {
        Some(first) => running.push(start(first)),
        None => unreachable!("a race of no destinations"),
    }
    loop {
        let more = waiting.len() > 0;
        let next = async {
            match delay {
                Some(delay) if more => tokio::time::sleep(delay).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            ended = running.next() => match ended {
                Some(Ok(won)) => return Ok(won),
                Some(Err(e)) => {
                    errors.push(e);
                    match waiting.next() {
                        Some(dest) => running.push(start(dest)),
                        None if running.is_empty() => return Err(errors),
                        None => {}
                    }
                }
                None => return Err(errors),
            },
            () = next => {
                if let Some(dest) = waiting.next() {
                    running.push(start(dest));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The destinations of a `socks5` call are raced as addresses are:
    /// the next one delay after the last start, or at once when one
    /// fails; the first success wins and the rest are dropped.
    #[tokio::test(start_paused = true)]
    async fn destinations_are_staggered_and_a_failure_starts_the_next() {
        for (delay, starts, won_at) in [
            (Some(250), vec![("a", 0), ("b", 250), ("c", 260)], 360),
            (None, vec![("a", 0), ("b", 1000), ("c", 1010)], 1110),
        ] {
            let t0 = Instant::now();
            let starts_seen = std::sync::Mutex::new(Vec::new());
            let dests = ["a", "b", "c"]
                .map(|n| Dest::Name(n.to_string(), 1))
                .to_vec();
            let won = race(dests, delay.map(Duration::from_millis), |dest| {
                let Dest::Name(name, _) = dest else {
                    unreachable!()
                };
                let at = t0.elapsed().as_millis() as u64;
                starts_seen.lock().unwrap().push((name.clone(), at));
                async move {
                    let (runs, ok) = match name.as_str() {
                        "a" => (1000, false),
                        "b" => (10, false),
                        _ => (100, true),
                    };
                    tokio::time::sleep(Duration::from_millis(runs)).await;
                    if ok {
                        Ok(name)
                    } else {
                        Err(name)
                    }
                }
            })
            .await;
            assert_eq!(won.as_deref(), Ok("c"));
            assert_eq!(t0.elapsed(), Duration::from_millis(won_at));
            let seen: Vec<(String, u64)> = starts_seen.into_inner().unwrap();
            let want: Vec<(String, u64)> =
                starts.iter().map(|(n, t)| (n.to_string(), *t)).collect();
            assert_eq!(seen, want, "delay {delay:?}");
        }
    }

    #[test]
    fn base64_is_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn urls_parse_as_curl_writes_them() {
        let ok = |url: &str, scheme| {
            let e = parse_url(url, scheme).unwrap_or_else(|e| panic!("{url}: {e}"));
            (e.to_string(), e.auth.map(|a| a.header()))
        };
        assert_eq!(
            ok("http://proxy.corp:3128", Scheme::Http).0,
            "http://proxy.corp:3128"
        );
        assert_eq!(
            ok("proxy.corp:3128", Scheme::Http).0,
            "http://proxy.corp:3128"
        );
        assert_eq!(
            ok("http://Proxy.Corp/", Scheme::Http).0,
            "http://proxy.corp:80"
        );
        assert_eq!(
            ok("https://proxy.corp", Scheme::Https).0,
            "https://proxy.corp:443"
        );
        assert_eq!(
            ok("socks5h://[::1]", Scheme::Socks5h).0,
            "socks5h://[::1]:1080"
        );
        assert_eq!(
            ok("SOCKS5://127.0.0.1:9050", Scheme::Socks5).0,
            "socks5://127.0.0.1:9050"
        );
        assert_eq!(
            ok("http://Aladdin:open%20sesame@proxy:8080", Scheme::Http).1,
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
        let err = |url: &str, scheme| parse_url(url, scheme).err().expect(url);
        assert!(err("socks5://p:1", Scheme::Http).contains("use Proxy::socks5"));
        assert!(err("p:1", Scheme::Socks5).contains("no scheme"));
        assert!(err("http://p:1/x", Scheme::Http).contains("no path"));
        assert!(err("http://p:0", Scheme::Http).contains("port \"0\""));
        assert!(err("http://p:99999", Scheme::Http).contains("port \"99999\""));
        assert!(err("http://[::1:3128", Scheme::Http).contains("']'"));
        assert!(err("http://:3128", Scheme::Http).contains("no host"));
        assert!(err("http://u:%zz@p:1", Scheme::Http).contains("percent"));
    }

    #[test]
    fn the_environment_picks_a_proxy_per_scheme_and_no_proxy() {
        let proxy = Proxy::from_env_vars([
            ("HTTPS_PROXY", "http://u:p@tls-proxy:3128"),
            ("http_proxy", "socks5h://plain-proxy"),
            ("NO_PROXY", "internal.test, 10.0.0.0/8, ::1"),
        ]);
        let route = |host: &str, tls| proxy.route(host, 443, tls).map(|r| r.unwrap().to_string());
        assert_eq!(
            route("example.com", true).as_deref(),
            Some("http://tls-proxy:3128")
        );
        assert_eq!(
            route("example.com", false).as_deref(),
            Some("socks5h://plain-proxy:1080")
        );
        assert_eq!(route("a.internal.test", true), None);
        assert_eq!(route("10.1.2.3", true), None);
        assert_eq!(route("[::1]", true), None);
        assert_eq!(
            route("[::2]", true).as_deref(),
            Some("http://tls-proxy:3128")
        );
        // ALL_PROXY for a scheme that has none of its own.
        let all = Proxy::from_env_vars([("ALL_PROXY", "socks5://all:1"), ("HTTP_PROXY", "h:2")]);
        assert_eq!(
            all.route("x.test", 443, true)
                .map(|r| r.unwrap().to_string())
                .as_deref(),
            Some("socks5://all:1")
        );
        // CGI: none of them.
        let cgi = Proxy::from_env_vars([("HTTP_PROXY", "h:2"), ("REQUEST_METHOD", "GET")]);
        assert!(cgi.route("x.test", 80, false).is_none());
        // Unsupported: named as such.
        let socks4 = Proxy::from_env_vars([("ALL_PROXY", "socks4://p:1")]);
        let why = match socks4.route("x.test", 80, false) {
            Some(Err(why)) => why,
            _ => panic!("socks4 is not refused"),
        };
        assert!(why.contains("socks4"), "{why}");
    }
}
