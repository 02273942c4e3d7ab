//! [`ConnectionInfo`]: what a server knows of an accepted connection
//! besides the stream: the client's address (from a PROXY header when the
//! server is behind a load balancer), the socket's own addresses, and the
//! header itself.

use std::net::SocketAddr;
#[cfg(feature = "proxy-protocol")]
use std::sync::Arc;

/// What a server knows of one accepted connection: the client's address,
/// the addresses of the socket, and (with
/// [`proxy_protocol`](crate::ServerBuilder::proxy_protocol), feature
/// `proxy-protocol`) the PROXY header the load balancer sent.
///
/// From [`Listener::accept_with_info`](crate::Listener::accept_with_info),
/// [`TlsListener::accept_with_info`](crate::TlsListener::accept_with_info),
/// and handed to the handlers of
/// [`serve_with_info`](crate::ServerBuilder::serve_with_info) and
/// [`serve_tls_with_info`](crate::ServerBuilder::serve_tls_with_info).
///
/// # Examples
///
/// ```
/// use tokio_endpoints::ServerBuilder;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
/// let client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
/// let (_stream, info) = listener.accept_with_info().await?;
/// assert_eq!(info.peer(), client.local_addr()?);
/// assert_eq!(info.socket_peer(), info.peer()); // no load balancer in between
/// assert_eq!(info.local(), listener.local_addrs()[0]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    peer: SocketAddr,
    socket_peer: SocketAddr,
    local: SocketAddr,
    #[cfg(feature = "proxy-protocol")]
    header: Option<Arc<super::proxy_header::ProxyHeader>>,
}

impl ConnectionInfo {
    /// A connection without a PROXY header.
    pub(crate) fn direct(socket_peer: SocketAddr, local: SocketAddr) -> ConnectionInfo {
        ConnectionInfo {
            peer: socket_peer,
            socket_peer,
            local,
            #[cfg(feature = "proxy-protocol")]
            header: None,
        }
    }

    #[cfg(feature = "proxy-protocol")]
    pub(crate) fn proxied(
        peer: SocketAddr,
        socket_peer: SocketAddr,
        local: SocketAddr,
        header: super::proxy_header::ProxyHeader,
    ) -> ConnectionInfo {
        ConnectionInfo {
            peer,
            socket_peer,
            local,
            header: Some(Arc::new(header)),
        }
    }

    /// The client's address: the source address of the PROXY header when
    /// a trusted load balancer sent one with an IPv4 or IPv6 source, else
    /// the socket's peer ([`socket_peer`](Self::socket_peer)). This is the
    /// `peer` that [`Listener::accept`](crate::Listener::accept) returns
    /// and handlers get.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
    /// let (_stream, info) = listener.accept_with_info().await?;
    /// println!("client {}", info.peer());
    /// # Ok(()) }
    /// ```
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The address the TCP connection came from: the load balancer's,
    /// behind one; the same as [`peer`](Self::peer) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
    /// let (stream, info) = listener.accept_with_info().await?;
    /// assert_eq!(info.socket_peer(), stream.peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn socket_peer(&self) -> SocketAddr {
        self.socket_peer
    }

    /// The connection's local address (the listening address it arrived
    /// on; for a wildcard listener, the address the client reached). The
    /// address the client meant behind a load balancer is the header's
    /// [`destination`](crate::ProxyHeader::destination).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::ServerBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let mut listener = ServerBuilder::new("127.0.0.1:0").bind().await?;
    /// let _client = tokio::net::TcpStream::connect(listener.local_addrs()[0]).await?;
    /// let (_stream, info) = listener.accept_with_info().await?;
    /// assert_eq!(info.local(), listener.local_addrs()[0]);
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The PROXY header the load balancer sent, with its TLVs (authority,
    /// ALPN, unique id, AWS VPC endpoint id, ...); `None` without
    /// [`proxy_protocol`](crate::ServerBuilder::proxy_protocol), or for a
    /// client that sent none under [`optional`](crate::ProxyProtocol::optional).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ProxyProtocol, ServerBuilder};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut listener = ServerBuilder::any(8080)
    ///     .proxy_protocol(ProxyProtocol::new().trusted(["10.0.0.0/8".parse()?]))
    ///     .bind()
    ///     .await?;
    /// let (_stream, info) = listener.accept_with_info().await?;
    /// if let Some(header) = info.proxy_header() {
    ///     println!("{} via {}, endpoint {:?}", info.peer(), info.socket_peer(), header.aws_vpc_endpoint_id());
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "proxy-protocol")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
    pub fn proxy_header(&self) -> Option<&super::proxy_header::ProxyHeader> {
        self.header.as_deref()
    }
}
