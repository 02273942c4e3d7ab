//! [`ProxyHeader`]: a PROXY protocol header, parsed by `ppp`, as handlers
//! see it. Below `proxy` (which reads it) and `info` (which carries it).

use std::fmt;
use std::net::SocketAddr;

use ppp::v2::Command;

/// A PROXY protocol header a load balancer sent: the client's and the
/// balancer's addresses as the balancer saw them, and (version 2) its
/// TLVs. From [`ConnectionInfo::proxy_header`](crate::ConnectionInfo::proxy_header).
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{ProxyProtocol, ServerBuilder};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ServerBuilder::any(8080)
///     .proxy_protocol(ProxyProtocol::new().trusted(["10.0.0.0/8".parse()?]))
///     .serve_with_info(|_stream, info| async move {
///         if let Some(header) = info.proxy_header() {
///             println!(
///                 "{} to {:?}, authority {:?}, ALPN {:?}",
///                 info.peer(),
///                 header.destination(),
///                 header.authority(),
///                 header.alpn(),
///             );
///         }
///     })
///     .await?;
/// server.wait_closed().await;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    version: u8,
    local: bool,
    addresses: Addresses,
    tlvs: Vec<(u8, Vec<u8>)>,
    raw: Box<[u8]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Addresses {
    /// v1 `UNKNOWN`, v2 `UNSPEC`.
    None,
    Ip(SocketAddr, SocketAddr),
    Unix(Vec<u8>, Vec<u8>),
}

impl ProxyHeader {
    /// The TLV type of the AWS extensions (`PP2_TYPE_AWS`).
    pub const TYPE_AWS: u8 = 0xEA;
    /// The TLV type of the authority, the host name the client asked for
    /// (`PP2_TYPE_AUTHORITY`, SNI).
    pub const TYPE_AUTHORITY: u8 = 0x02;
    /// The TLV type of the ALPN protocol (`PP2_TYPE_ALPN`).
    pub const TYPE_ALPN: u8 = 0x01;
    /// The TLV type of the connection's unique id (`PP2_TYPE_UNIQUE_ID`).
    pub const TYPE_UNIQUE_ID: u8 = 0x05;
    /// The TLV type of the network namespace (`PP2_TYPE_NETNS`).
    pub const TYPE_NETNS: u8 = 0x30;

    /// 1 for a text header, 2 for a binary one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if header.version() == 1 {
    ///     println!("a text header: no TLVs");
    /// }
    /// # }
    /// ```
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Whether this is a v2 `LOCAL` header: a connection the balancer
    /// made itself (a health check), whose peer stays the socket's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if header.is_local() {
    ///     println!("a health check");
    /// }
    /// # }
    /// ```
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The client's address, for a header with IPv4 or IPv6 addresses
    /// (not `LOCAL`, `UNKNOWN`, `UNSPEC` or `UNIX`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if let Some(client) = header.source() {
    ///     println!("client {client}");
    /// }
    /// # }
    /// ```
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.addresses, self.local) {
            (Addresses::Ip(source, _), false) => Some(*source),
            _ => None,
        }
    }

    /// The address the client connected to (the balancer's listener), for
    /// a header with IPv4 or IPv6 addresses.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if let Some(front) = header.destination() {
    ///     println!("the client reached {front}");
    /// }
    /// # }
    /// ```
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.addresses, self.local) {
            (Addresses::Ip(_, destination), false) => Some(*destination),
            _ => None,
        }
    }

    /// The client's socket path, for a v2 header of the `UNIX` family (the
    /// bytes up to the first NUL).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if let Some(path) = header.unix_source() {
    ///     println!("from {}", String::from_utf8_lossy(path));
    /// }
    /// # }
    /// ```
    pub fn unix_source(&self) -> Option<&[u8]> {
        match &self.addresses {
            Addresses::Unix(source, _) if !self.local => Some(source),
            _ => None,
        }
    }

    /// The socket path the client connected to, for a v2 header of the
    /// `UNIX` family.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// let to = header.unix_destination();
    /// # }
    /// ```
    pub fn unix_destination(&self) -> Option<&[u8]> {
        match &self.addresses {
            Addresses::Unix(_, destination) if !self.local => Some(destination),
            _ => None,
        }
    }

    /// Every TLV of a v2 header, type and value, in order (none for v1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// for (kind, value) in header.tlvs() {
    ///     println!("TLV {kind:#04x}: {} bytes", value.len());
    /// }
    /// # }
    /// ```
    pub fn tlvs(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.tlvs.iter().map(|(kind, value)| (*kind, &value[..]))
    }

    /// The value of the first TLV of this type, for the types without an
    /// accessor of their own (`PP2_TYPE_SSL` 0x20, `PP2_TYPE_CRC32C` 0x03,
    /// a vendor's 0xE0..=0xEF).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// // GCP Private Service Connect: the connection id, 8 bytes.
    /// if let Some(id) = header.tlv(0xE0) {
    ///     println!("PSC connection {id:?}");
    /// }
    /// # }
    /// ```
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    /// The host name the client asked for (`PP2_TYPE_AUTHORITY`: the TLS
    /// SNI the balancer saw), if it is UTF-8.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// let host = header.authority().unwrap_or("default");
    /// # }
    /// ```
    pub fn authority(&self) -> Option<&str> {
        self.tlv(Self::TYPE_AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The protocol the client and the balancer agreed with ALPN
    /// (`PP2_TYPE_ALPN`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if header.alpn() == Some(b"h2") {
    ///     println!("HTTP/2");
    /// }
    /// # }
    /// ```
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(Self::TYPE_ALPN)
    }

    /// The connection's unique id, as the balancer made it
    /// (`PP2_TYPE_UNIQUE_ID`, up to 128 bytes), to match its logs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if let Some(id) = header.unique_id() {
    ///     println!("request id {}", String::from_utf8_lossy(id));
    /// }
    /// # }
    /// ```
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(Self::TYPE_UNIQUE_ID)
    }

    /// The AWS VPC endpoint id the client came through (`vpce-...`:
    /// `PP2_TYPE_AWS` with subtype `PP2_SUBTYPE_AWS_VPCE_ID`), for a
    /// Network Load Balancer behind AWS PrivateLink.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// if let Some(endpoint) = header.aws_vpc_endpoint_id() {
    ///     println!("through {endpoint}");
    /// }
    /// # }
    /// ```
    pub fn aws_vpc_endpoint_id(&self) -> Option<&str> {
        self.tlvs()
            .filter(|(kind, _)| *kind == Self::TYPE_AWS)
            .find_map(|(_, value)| match value.split_first() {
                Some((0x01, id)) => std::str::from_utf8(id).ok(),
                _ => None,
            })
    }

    /// The network namespace the balancer accepted the connection in
    /// (`PP2_TYPE_NETNS`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// let netns = header.netns();
    /// # }
    /// ```
    pub fn netns(&self) -> Option<&str> {
        self.tlv(Self::TYPE_NETNS)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The header's bytes, as they came.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use tokio_endpoints::ProxyHeader;
    /// # fn f(header: &ProxyHeader) {
    /// println!("{} bytes of header", header.as_bytes().len());
    /// # }
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
}

impl fmt::Debug for ProxyHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProxyHeader");
        d.field("version", &self.version)
            .field("local", &self.local);
        match &self.addresses {
            Addresses::None => {}
            Addresses::Ip(s, t) => {
                d.field("source", s).field("destination", t);
            }
            Addresses::Unix(s, t) => {
                d.field("unix_source", &String::from_utf8_lossy(s))
                    .field("unix_destination", &String::from_utf8_lossy(t));
            }
        }
        d.field("tlvs", &self.tlvs).finish()
    }
}

/// Parsing, with the `ppp` crate.
impl ProxyHeader {
    pub(crate) fn parse_v1(bytes: Vec<u8>) -> Result<ProxyHeader, String> {
        let header = ppp::v1::Header::try_from(&bytes[..]).map_err(|e| e.to_string())?;
        let addresses = match header.addresses {
            ppp::v1::Addresses::Unknown => Addresses::None,
            ppp::v1::Addresses::Tcp4(a) => Addresses::Ip(
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
            ppp::v1::Addresses::Tcp6(a) => Addresses::Ip(
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
        };
        Ok(ProxyHeader {
            version: 1,
            local: false,
            addresses,
            tlvs: Vec::new(),
            raw: bytes.into_boxed_slice(),
        })
    }

    pub(crate) fn parse_v2(bytes: Vec<u8>) -> Result<ProxyHeader, String> {
        let header = ppp::v2::Header::try_from(&bytes[..]).map_err(|e| e.to_string())?;
        let addresses = match header.addresses {
            ppp::v2::Addresses::Unspecified => Addresses::None,
            ppp::v2::Addresses::IPv4(a) => Addresses::Ip(
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
            ppp::v2::Addresses::IPv6(a) => Addresses::Ip(
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
            ppp::v2::Addresses::Unix(a) => {
                Addresses::Unix(until_nul(&a.source), until_nul(&a.destination))
            }
        };
        let mut tlvs = Vec::new();
        for tlv in header.tlvs() {
            let tlv = tlv.map_err(|e| e.to_string())?;
            tlvs.push((tlv.kind, tlv.value.into_owned()));
        }
        let local = header.command == Command::Local;
        drop(header);
        Ok(ProxyHeader {
            version: 2,
            local,
            addresses,
            tlvs,
            raw: bytes.into_boxed_slice(),
        })
    }
}

fn until_nul(path: &[u8]) -> Vec<u8> {
    let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
    path[..end].to_vec()
}
