//! [`Connector`] as the connector of hyper-util's legacy `Client` and of
//! tonic's `Endpoint::connect_with_connector`: a
//! `tower_service::Service<http::Uri>`.
//!
//! `http://` URIs get a TCP connection, `https://` URIs a TLS one (with the
//! `tls` feature), both through the same race as
//! [`Connector::connect`]. The stream, [`HttpStream`], implements hyper's
//! I/O traits and hyper-util's `Connection`, which reports HTTP/2 when ALPN
//! chose `h2` and carries a [`HttpInfo`] (peer and local addresses) into
//! every response's extensions, as hyper-util's own `HttpConnector` does
//! with its `HttpInfo` (which has no public constructor).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::client::error::ConnectError;
use crate::client::establishment::Establishment;
use crate::Connector;

/// What an [`HttpStream`] is connected to: hyper-util puts it into the
/// extensions of every response that comes over the connection, as its own
/// `HttpConnector` does with its `HttpInfo`.
///
/// # Examples
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tokio_endpoints::{Connector, HttpInfo};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(Connector::new());
/// let response = client.get("http://localhost:8080/".parse()?).await?;
/// if let Some(info) = response.extensions().get::<HttpInfo>() {
///     println!("from {:?} (local {})", info.remote_addr(), info.local_addr());
/// }
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[derive(Clone, Debug)]
pub struct HttpInfo {
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    unix: bool,
    establishment: Option<Establishment>,
}

/// Equal when the addresses and the kind of connection are: the report
/// of how each was made is not compared.
impl PartialEq for HttpInfo {
    fn eq(&self, other: &HttpInfo) -> bool {
        (self.peer, self.local, self.tls, self.unix)
            == (other.peer, other.local, other.tls, other.unix)
    }
}

impl Eq for HttpInfo {}

/// What [`HttpInfo`] reports as the addresses of a Unix socket connection,
/// which has none: `0.0.0.0:0`.
const NO_IP: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

impl HttpInfo {
    /// The address of the server: the one that won the race; `None` for a
    /// connection over a Unix socket ([`is_unix`](Self::is_unix)), which
    /// has no IP address. hyper-util's `HttpInfo` has the same name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut connector = Connector::new();
    /// let stream = connector.call("http://localhost:8080/".parse()?).await?;
    /// assert_eq!(stream.info().remote_addr().map(|a| a.port()), Some(8080));
    /// # Ok(()) }
    /// ```
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        (!self.unix).then_some(self.peer)
    }

    /// The address of the server; `0.0.0.0:0` over a Unix socket.
    #[deprecated(note = "use `remote_addr`, which is `None` over a Unix socket")]
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The local address of the connection; `0.0.0.0:0` over a Unix
    /// socket ([`is_unix`](Self::is_unix)).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether the connection is TLS (an `https://` URI).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the connection is over the Unix socket of
    /// [`Connector::unix_socket`]; its addresses are then `0.0.0.0:0`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut connector = Connector::new().unix_socket("/run/app.sock");
    /// let stream = connector.call("http://app/".parse()?).await?;
    /// assert!(stream.info().is_unix());
    /// # Ok(()) }
    /// ```
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// What the connection went through (the resolution, each attempt,
    /// the TLS handshake), when the connector records its connections:
    /// with [`Connector::on_established`] or [`Connector::qlog`] set;
    /// `None` otherwise, and over a Unix socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use http_body_util::Empty;
    /// use hyper::body::Bytes;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use tokio_endpoints::{Connector, HttpInfo};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let connector = Connector::new().on_established(|_| {});
    /// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
    /// let response = client.get("http://localhost:8080/".parse()?).await?;
    /// let info = response.extensions().get::<HttpInfo>().unwrap();
    /// if let Some(report) = info.establishment() {
    ///     println!("{report}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn establishment(&self) -> Option<&Establishment> {
        self.establishment.as_ref()
    }
}

/// The stream a [`Connector`] gives hyper for one URI: TCP for `http://`,
/// TLS for `https://`, the Unix socket of
/// [`unix_socket`](Connector::unix_socket) when one is set. It implements `hyper::rt::Read`, `hyper::rt::Write`
/// and hyper-util's `Connection`, and is `Unpin + Send + 'static`.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::Connector;
/// use tower_service::Service;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut connector = Connector::new();
/// let stream = connector.call("http://localhost:8080/".parse()?).await?;
/// println!("{:?} tls: {}", stream.info().remote_addr(), stream.info().is_tls());
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub struct HttpStream {
    io: TokioIo<Conn>,
    info: HttpInfo,
    h2: bool,
}

impl HttpStream {
    fn new(conn: Conn, establishment: Option<Establishment>) -> io::Result<HttpStream> {
        let (tcp, tls, h2) = match &conn {
            Conn::Tcp(s) => (Some(s), false, false),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => (Some(s.get_ref().0), true, s.alpn_protocol() == Some(b"h2")),
            #[cfg(unix)]
            Conn::Unix(_) => (None, false, false),
            // TLS with the proxy only: HTTP with the origin is plain.
            #[cfg(feature = "proxy")]
            Conn::Tunnel(t) => (Some(t.tcp()), false, false),
        };
        let info = match tcp {
            Some(tcp) => HttpInfo {
                peer: tcp.peer_addr()?,
                local: tcp.local_addr()?,
                tls,
                unix: false,
                establishment,
            },
            None => HttpInfo {
                peer: NO_IP,
                local: NO_IP,
                tls: false,
                unix: true,
                establishment: None,
            },
        };
        Ok(HttpStream {
            io: TokioIo::new(conn),
            info,
            h2,
        })
    }

    /// The addresses of the connection and whether it is TLS.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let stream = Connector::new().call("http://localhost:8080/".parse()?).await?;
    /// assert!(!stream.info().is_tls());
    /// # Ok(()) }
    /// ```
    pub fn info(&self) -> HttpInfo {
        self.info.clone()
    }

    /// Whether ALPN chose HTTP/2 (`h2`) on a TLS connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::Connector;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut connector = Connector::new().alpn(["h2", "http/1.1"]);
    /// let stream = connector.call("https://example.com/".parse()?).await?;
    /// println!("HTTP/2: {}", stream.is_h2());
    /// # Ok(()) }
    /// ```
    pub fn is_h2(&self) -> bool {
        self.h2
    }
}

impl fmt::Debug for HttpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("info", &self.info)
            .field("h2", &self.h2)
            .finish()
    }
}

impl Connection for HttpStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(self.info.clone());
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for HttpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for HttpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.io), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.io), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.io), cx)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.io), cx, bufs)
    }
}

/// TCP, TLS or Unix under an [`HttpStream`].
enum Conn {
    Tcp(TcpStream),
    // Boxed: a TLS session is a few hundred bytes, a TcpStream a few words.
    #[cfg(feature = "tls")]
    Tls(Box<crate::TlsStream>),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
    /// A tunnel inside TLS with an https proxy, for `http://`.
    #[cfg(feature = "proxy")]
    Tunnel(Box<crate::ProxyTunnel>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Conn::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "proxy")]
            Conn::Tunnel(s) => s.is_write_vectored(),
        }
    }
}

/// The future of [`Connector`]'s `Service::call`: an [`HttpStream`] or the
/// [`ConnectError`]. `Send + 'static`; dropping it closes every socket it
/// opened.
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[must_use = "futures do nothing unless polled"]
pub struct HttpConnecting {
    inner: Pin<Box<dyn Future<Output = Result<HttpStream, ConnectError>> + Send>>,
}

impl Future for HttpConnecting {
    type Output = Result<HttpStream, ConnectError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for HttpConnecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnecting").finish_non_exhaustive()
    }
}

/// Where a URI leads: host, port, and whether it wants TLS.
fn endpoint(uri: &Uri) -> Result<(String, u16, bool), String> {
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(format!(
                "URI scheme {other:?} is not supported: use http or https"
            ))
        }
        None => return Err("the URI has no scheme: use http:// or https://".into()),
    };
    let host = match uri.host() {
        Some(host) if !host.is_empty() => host,
        _ => return Err("the URI has no host".into()),
    };
    // Not `uri.port()`: the `http` crate accepts an authority whose port
    // is no u16 (`host:99999`, `host:8o80`) and then reports no port at
    // all, which would send us to 80 or 443. The port's text decides.
    let port = match uri.authority().and_then(|a| port_text(a.as_str())) {
        // `host:` with nothing after: the default (RFC 3986 §3.2.3).
        None | Some("") if tls => 443,
        None | Some("") => 80,
        Some(text) => match text.parse::<u16>() {
            Ok(0) => return Err("port 0 is not a destination port".into()),
            Ok(p) if text.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(format!("port {text:?} is not a port number (1 to 65535)")),
        },
    };
    Ok((host.to_string(), port, tls))
}

/// The port's text in an authority (`userinfo@host:port`): what follows
/// the last `:` after the host (outside an IPv6 literal's brackets), or
/// `None` without a `:`.
fn port_text(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = host_port
        .rfind(']')
        .map_or(host_port, |i| &host_port[i + 1..]);
    after_host.rfind(':').map(|i| &after_host[i + 1..])
}

/// hyper-util's legacy `Client` and tonic connect through this: `http://`
/// URIs over TCP, `https://` URIs over TLS (feature `tls`), with the server
/// name taken from the URI's host (an IP host, `[v6]` included, is verified
/// as an IP address). The ports default to 80 and 443. Another scheme, a
/// URI without a host, or a bad port (0, or any port text that is not a
/// number from 1 to 65535, such as `:99999` or `:8o80`, which the `http`
/// crate parses as no port at all) fails with
/// [`ConnectErrorKind::InvalidInput`](crate::ConnectErrorKind::InvalidInput)
/// before anything is sent.
///
/// With a [`proxy`](Connector::proxy) (feature `proxy`), both schemes are
/// tunnelled, and `https://` runs TLS with the origin inside the tunnel;
/// [`HttpInfo::peer_addr`] is then the proxy's address.
///
/// For HTTP/2 over TLS, offer it with [`alpn`](Connector::alpn)
/// (`["h2", "http/1.1"]`): the stream reports `negotiated_h2` when the
/// server chose it.
///
/// # Examples
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tokio_endpoints::Connector;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = Connector::new().alpn(["h2", "http/1.1"]);
/// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
/// let response = client.get("https://example.com/".parse()?).await?;
/// println!("{}", response.status());
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
impl tower_service::Service<Uri> for Connector {
    type Response = HttpStream;
    type Error = ConnectError;
    type Future = HttpConnecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> HttpConnecting {
        let (host, port, tls) = match endpoint(&uri) {
            Ok(found) => found,
            Err(message) => {
                let e = ConnectError::invalid(uri.to_string(), message)
                    .with_all_errors(self.opts.all_errors);
                return HttpConnecting {
                    inner: Box::pin(std::future::ready(Err(e))),
                };
            }
        };
        #[cfg(unix)]
        if let Some(path) = &self.unix {
            return self.call_unix(path, tls, uri);
        }
        let builder = self.builder((host, port));
        // Recorded when someone is told of each connection; the report then
        // rides in `HttpInfo` too.
        let reported = self.opts.report.is_some();
        let inner: Pin<Box<dyn Future<Output = _> + Send>> = if tls {
            #[cfg(feature = "tls")]
            {
                Box::pin(async move {
                    if reported {
                        let (stream, report) = builder.connect_tls_reported().await?;
                        return new_stream(Conn::Tls(Box::new(stream)), Some(report), &uri);
                    }
                    let stream = builder.connect_tls().await?;
                    new_stream(Conn::Tls(Box::new(stream)), None, &uri)
                })
            }
            #[cfg(not(feature = "tls"))]
            {
                let e = ConnectError::invalid(
                    uri.to_string(),
                    "https URIs need the `tls` feature of tokio-endpoints",
                );
                drop(builder);
                Box::pin(std::future::ready(Err(e)))
            }
        } else {
            Box::pin(async move {
                // Through a proxy: its tunnel, which through an https proxy
                // runs inside TLS with it (not a `TcpStream`). (A reported
                // call takes `connect`'s path, which refuses an https proxy.)
                #[cfg(feature = "proxy")]
                if builder.opts.via.is_some() && !reported {
                    return match builder.connect_tunnel().await?.into_tcp() {
                        Ok(tcp) => new_stream(Conn::Tcp(tcp), None, &uri),
                        Err(tunnel) => new_stream(Conn::Tunnel(Box::new(tunnel)), None, &uri),
                    };
                }
                if reported {
                    let (stream, report) = builder.connect_reported().await?;
                    return new_stream(Conn::Tcp(stream), Some(report), &uri);
                }
                let stream = builder.connect().await?;
                new_stream(Conn::Tcp(stream), None, &uri)
            })
        };
        HttpConnecting { inner }
    }
}

#[cfg(unix)]
impl Connector {
    /// `call` for a connector with a [`unix_socket`](Connector::unix_socket).
    fn call_unix(&self, path: &std::path::Path, tls: bool, uri: Uri) -> HttpConnecting {
        if tls {
            let e = ConnectError::invalid(
                uri.to_string(),
                "https URIs cannot be sent over unix_socket: TLS over a Unix socket is not offered; use http://",
            )
            .with_all_errors(self.opts.all_errors);
            return HttpConnecting {
                inner: Box::pin(std::future::ready(Err(e))),
            };
        }
        // A policy says which IP addresses may be reached; a Unix socket
        // has none, so it would be dropped silently: refused instead.
        if self.opts.policy.is_some() {
            let e = ConnectError::invalid(
                uri.to_string(),
                format!(
                    "address_policy cannot apply to unix_socket ({}): a policy checks IP                      addresses and a Unix socket has none; use a connector without one of them",
                    path.display()
                ),
            )
            .with_all_errors(self.opts.all_errors);
            return HttpConnecting {
                inner: Box::pin(std::future::ready(Err(e))),
            };
        }
        let builder = crate::ConnectionBuilder::unix(path)
            .connect_timeout(self.opts.connect_timeout)
            .hook(self.opts.hook.clone());
        HttpConnecting {
            inner: Box::pin(async move {
                let stream = builder.connect().await?;
                new_stream(Conn::Unix(stream), None, &uri)
            }),
        }
    }
}

fn new_stream(
    conn: Conn,
    establishment: Option<Establishment>,
    uri: &Uri,
) -> Result<HttpStream, ConnectError> {
    HttpStream::new(conn, establishment).map_err(|e| {
        ConnectError::new(crate::ConnectErrorKind::AllAttemptsFailed, uri.to_string())
            .with_message(format!("the connection closed at once: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_their_endpoint() {
        let e = |s: &str| endpoint(&s.parse().unwrap());
        assert_eq!(e("http://a.test/x"), Ok(("a.test".into(), 80, false)));
        assert_eq!(e("https://a.test"), Ok(("a.test".into(), 443, true)));
        assert_eq!(e("https://[::1]:8443/"), Ok(("[::1]".into(), 8443, true)));
        assert_eq!(
            e("http://127.0.0.1:81"),
            Ok(("127.0.0.1".into(), 81, false))
        );
        assert!(e("ftp://a.test").unwrap_err().contains("ftp"));
        assert!(e("/relative").unwrap_err().contains("no scheme"));
        assert!(e("http://a.test:0/").unwrap_err().contains("port 0"));
        assert_eq!(e("http://a.test:/"), Ok(("a.test".into(), 80, false)));
        assert_eq!(e("https://[::1]/"), Ok(("[::1]".into(), 443, true)));
        assert_eq!(e("http://u:p@a.test/"), Ok(("a.test".into(), 80, false)));
        assert_eq!(e("http://u:p@a.test:81/"), Ok(("a.test".into(), 81, false)));
        for (uri, port) in [
            ("http://a.test:99999/", "\"99999\""),
            ("https://a.test:8o80/", "\"8o80\""),
            ("https://[::1]:65536/", "\"65536\""),
            ("http://a.test:+80/", "\"+80\""),
        ] {
            let err = e(uri).unwrap_err();
            assert!(
                err.contains(&format!("port {port} is not a port")),
                "{uri}: {err}"
            );
        }
    }
}
