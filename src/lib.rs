//! # tokio-endpoints
//!
//! The endpoint APIs of Python's asyncio event loop, for Tokio, returning
//! plain Tokio types so nothing else in a program has to change.
//!
//! [`ConnectionBuilder`] is `loop.create_connection`: it resolves a host,
//! races its addresses with Happy Eyeballs (RFC 8305), and hands back a
//! [`tokio::net::TcpStream`]. Where `TcpStream::connect` tries addresses one
//! after the other, and so hangs for the kernel's connect timeout (over two
//! minutes on Linux) when the first address is blackholed, the builder
//! starts the next address 250 ms later and takes whichever connects first.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokio_endpoints::ConnectionBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let stream = ConnectionBuilder::new("example.com:443")
//!         .happy_eyeballs(Duration::from_millis(250))
//!         .connect()
//!         .await?; // a plain tokio::net::TcpStream
//!     println!("connected to {}", stream.peer_addr()?);
//!     Ok(())
//! }
//! ```
//!
//! ## What is here
//!
//! | capability | start with |
//! |---|---|
//! | [connections](#many-connections-connector) | [`ConnectionBuilder`], [`Connector`] |
//! | [TLS](#tls) | [`connect_tls`](ConnectionBuilder::connect_tls), [`TlsStream`] |
//! | [address policy](#address-policy) | [`AddressPolicy`] |
//! | [Unix sockets](#unix-sockets) | [`ConnectionBuilder::unix`], [`ServerBuilder::unix`], [`DatagramBuilder::unix`] |
//! | [proxies](#proxies) | [`Proxy`], [`ProxyProtocol`] |
//! | [servers](#servers) | [`ServerBuilder`], [`Listener`], [`Server`], [`TlsListener`] |
//! | [datagrams](#datagrams) | [`DatagramBuilder`], [`BatchedSocket`] |
//! | [DNS](#dns) | [`Resolver`], [`HickoryResolver`], [`Resolve`] |
//! | [establishment reports](#establishment-reports) | [`connect_reported`](ConnectionBuilder::connect_reported), [`Establishment`] |
//! | [errors](#errors) | [`ConnectError`], [`ServerError`], [`DatagramError`], [`ResolveError`]; the details in [`errors`] |
//!
//! ## asyncio's parameters here
//!
//! | asyncio (`create_connection`) | here (`ConnectionBuilder`) |
//! |---|---|
//! | `host`, `port` | [`ConnectionBuilder::new`] (`"host:port"`, `(host, port)`, addresses) |
//! | `happy_eyeballs_delay` | [`happy_eyeballs`](ConnectionBuilder::happy_eyeballs) (on, 250 ms), [`sequential`](ConnectionBuilder::sequential) |
//! | `interleave` | [`interleave`](ConnectionBuilder::interleave) (default 1) |
//! | `family` | [`family`](ConnectionBuilder::family) |
//! | `local_addr` | [`local_addr`](ConnectionBuilder::local_addr) |
//! | `sock` | [`ConnectionBuilder::from_stream`] |
//! | `all_errors` | [`all_errors`](ConnectionBuilder::all_errors); [`ConnectError`] keeps every attempt |
//! | TCP_NODELAY on | [`nodelay`](ConnectionBuilder::nodelay) (default `true`) |
//! | `ssl`, `server_hostname` | [`tls_config`](ConnectionBuilder::tls_config), [`server_name`](ConnectionBuilder::server_name), [`connect_tls`](ConnectionBuilder::connect_tls) (feature `tls`) |
//! | `ssl_handshake_timeout` | [`tls_handshake_timeout`](ConnectionBuilder::tls_handshake_timeout) (default 60 s) |
//! | `ssl_shutdown_timeout` | [`tls_shutdown_timeout`](ConnectionBuilder::tls_shutdown_timeout) (default 30 s), honoured by [`TlsStream`]'s shutdown |
//! | (none) | [`connect_timeout`](ConnectionBuilder::connect_timeout), [`attempt_timeout`](ConnectionBuilder::attempt_timeout), [`socket_hook`](ConnectionBuilder::socket_hook), [`resolver`](ConnectionBuilder::resolver) |
//! | (none; hyper-util's `HttpConnector`, reqwest) | [`tcp_keepalive`](ConnectionBuilder::tcp_keepalive), [`tcp_user_timeout`](ConnectionBuilder::tcp_user_timeout), [`send_buffer_size`](ConnectionBuilder::send_buffer_size), [`recv_buffer_size`](ConnectionBuilder::recv_buffer_size), [`interface`](ConnectionBuilder::interface) |
//! | `create_unix_connection`, `open_unix_connection` | [`ConnectionBuilder::unix`] → [`UnixConnectionBuilder`] (`@name`: a Linux abstract name) |
//! | `asyncio.open_connection()` | [`open_connection`](ConnectionBuilder::open_connection), [`open_connection_tls`](ConnectionBuilder::open_connection_tls) → ([`StreamReader`], [`StreamWriter`]) |
//! | (transport, protocol) | [`connect`](ConnectionBuilder::connect), [`connect_tls`](ConnectionBuilder::connect_tls), [`connect_framed`](ConnectionBuilder::connect_framed), [`connect_tls_framed`](ConnectionBuilder::connect_tls_framed) (feature `codec`) |
//!
//! ## Many connections: [`Connector`]
//!
//! A [`ConnectionBuilder`] is used once; a [`Connector`] holds the same
//! options (all but the target, with the same names) and connects again and
//! again. Cloning it is an `Arc` clone: make one, and hand clones to the
//! tasks that connect. Name resolution remembers either way: the default
//! [`Resolver`] is one per process, with a cache that honours TTLs and works
//! across Tokio runtimes.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokio_endpoints::Connector;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let connector = Connector::new().connect_timeout(Duration::from_secs(10));
//!     let a = connector.connect("db.internal:5432").await?;
//!     let b = connector.connect("db.internal:5432").await?; // no DNS query: cached
//!     Ok(())
//! }
//! ```
//!
//! With the `hyper` feature, a `Connector` is the connector of hyper-util's
//! `Client` and of tonic (a `tower_service::Service<http::Uri>`, see
//! `HttpStream`).
//!
//! ## TLS
//!
//! With the `tls` feature (on by default),
//! [`connect_tls`](ConnectionBuilder::connect_tls) races TCP connects and
//! rustls handshakes together (Happy Eyeballs v3: an address whose handshake
//! fails falls back to the next one, and the host's HTTPS records shape the
//! race) and returns a [`TlsStream`]. Certificates
//! and names are always verified (the platform's trust roots by default,
//! through rustls-native-certs; Mozilla's with the `webpki-roots` feature);
//! the handshake and the shutdown have timeouts, so neither a server that
//! never answers nor a peer that never reads can hang the program.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokio_endpoints::ConnectionBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let stream = ConnectionBuilder::new("example.com:443")
//!         .alpn(["h2", "http/1.1"])
//!         .tls_handshake_timeout(Duration::from_secs(10))
//!         .connect_tls()
//!         .await?;
//!     println!("{:?}, ALPN {:?}", stream.protocol_version(), stream.alpn_protocol());
//!     Ok(())
//! }
//! ```
//!
//! ### TLS from PEM files
//!
//! A server takes its certificate and key from PEM files with
//! [`tls_pem_files`](ServerBuilder::tls_pem_files), checked before it
//! serves (a missing file, a key that does not match, an expired
//! certificate: each refused with what to do; a CA certificate used as the
//! server's own is served with a warning); a client trusts a private CA, or a self-signed
//! certificate, with [`tls_ca_file`](ConnectionBuilder::tls_ca_file) (like
//! `curl --cacert`). Handshake failures read in plain words on both sides
//! (the rustls error stays the `source()`), and a server keeps its last
//! few ([`TlsListener::recent_handshake_failures`]).
//!
//! ```no_run
//! use tokio_endpoints::{ConnectionBuilder, ServerBuilder};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = ServerBuilder::new(("localhost", 8443))
//!         .tls_pem_files("cert.pem", "key.pem")
//!         .serve_tls(|_stream, _peer| async {})
//!         .await?;
//!     let stream = ConnectionBuilder::new("localhost:8443")
//!         .tls_ca_file("ca.pem")
//!         .connect_tls()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Address policy
//!
//! An [`AddressPolicy`] says where connections may go, checked on every
//! address after resolution and before any packet (so a name that resolves
//! to `127.0.0.1` or `169.254.169.254` is refused like the literal):
//! [`public_only`](AddressPolicy::public_only) for fetchers of URLs that
//! users give, [`allow_only`](AddressPolicy::allow_only) for a fixed set of
//! networks, and [`allow_ports`](AddressPolicy::allow_ports) for the ports.
//! A refusal is [`ConnectErrorKind::Denied`], naming each address and why
//! ([`DeniedAddress`]). The same policy applies to datagram remotes and to
//! the clients a server behind a PROXY-protocol balancer names.
//!
//! ```no_run
//! use tokio_endpoints::{AddressPolicy, Connector};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let fetcher = Connector::new().address_policy(AddressPolicy::public_only());
//!     let stream = fetcher.connect("example.com:80").await?; // never a private address
//!     Ok(())
//! }
//! ```
//!
//! ## Unix sockets
//!
//! Each side has its Unix form, with the same options and errors where they
//! apply: [`ConnectionBuilder::unix`] (`create_unix_connection`),
//! [`ServerBuilder::unix`] (`create_unix_server`, a stale socket file
//! removed only when nothing listens on it), [`DatagramBuilder::unix`], and
//! [`Connector::unix_socket`] to send every HTTP request over one path.
//! A path that starts with `@` is a Linux abstract name.
//!
//! ```no_run
//! # #[cfg(unix)]
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! use tokio_endpoints::ConnectionBuilder;
//!
//! let stream = ConnectionBuilder::unix("/run/app.sock").connect().await?; // a UnixStream
//! # Ok(()) }
//! # #[cfg(not(unix))] fn main() {}
//! ```
//!
//! ## Proxies
//!
//! With the `proxy` feature, [`ConnectionBuilder::proxy`] takes a [`Proxy`]
//! (HTTP `CONNECT`, HTTPS, SOCKS5 with names resolved locally or by the
//! proxy, or the environment's `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` with
//! [`Proxy::from_env`]); the origin's TLS runs inside the tunnel, and an
//! error names the hop that failed ([`ProxyStage`]). On the server side,
//! with `proxy-protocol`, [`ServerBuilder::proxy_protocol`] reads the PROXY
//! header of HAProxy, cloud load balancers and Envoy ([`ProxyProtocol`]):
//! only from the balancers its `peer_policy` allows, with a
//! `client_policy` for the clients they name.
//!
//! ```no_run
//! # #[cfg(feature = "proxy")]
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! use tokio_endpoints::{ConnectionBuilder, Proxy};
//!
//! let stream = ConnectionBuilder::new("example.com:443")
//!     .proxy(Proxy::http("http://proxy.internal:3128")?)
//!     .connect_tls()
//!     .await?;
//! # Ok(()) }
//! # #[cfg(not(feature = "proxy"))] fn main() {}
//! ```
//!
//! ## Servers
//!
//! [`ServerBuilder`] is `loop.create_server` and `asyncio.start_server`:
//! one listening socket per address of a host (`localhost` is `::1` and
//! `127.0.0.1`), one port for all of them, and a [`Listener`] of plain
//! [`tokio::net::TcpStream`]s back, or a running [`Server`] that spawns a
//! handler per connection. With TLS ([`TlsListener`]), handshakes run
//! concurrently, each bounded by a timeout, so a client that connects and
//! says nothing delays no one.
//!
//! ```
//! use tokio::io::AsyncWriteExt;
//! use tokio_endpoints::ServerBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = ServerBuilder::new(("localhost", 0))
//!         .serve(|mut stream, peer| async move {
//!             let _ = stream.write_all(format!("hello {peer}\n").as_bytes()).await;
//!         })
//!         .await?;
//!     println!("serving on {:?}", server.local_addrs());
//!     server.shutdown(std::time::Duration::from_secs(1)).await;
//!     Ok(())
//! }
//! ```
//!
//! Servers come from systemd's socket activation too
//! ([`ServerBuilder::from_systemd`]), and keep going when the process runs
//! out of descriptors (accepts pause, then resume).
//!
//! ## Datagrams
//!
//! [`DatagramBuilder`] is `loop.create_datagram_endpoint`: local and remote
//! addresses (host names resolved, families matched), `SO_REUSEPORT`,
//! `SO_BROADCAST`, an adopted socket or a Unix datagram socket, and a plain
//! [`tokio::net::UdpSocket`] back (or a `UdpFramed` with the `codec`
//! feature, on by default).
//!
//! With the `batch` feature, [`DatagramBuilder::bind_batched`] gives a
//! [`BatchedSocket`]: many datagrams per system call (GSO, GRO,
//! `recvmmsg`), ECN marks, and each datagram's destination address.
//!
//! ```no_run
//! use tokio_endpoints::DatagramBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let socket = DatagramBuilder::new().remote_addr("localhost:5353").bind().await?;
//!     socket.send(b"ping").await?; // a plain tokio::net::UdpSocket
//!     Ok(())
//! }
//! ```
//!
//! ## DNS
//!
//! Names are resolved by the [`Resolver`] a builder is given, by default
//! one per process: [`HickoryResolver`] (feature `hickory`, on by default)
//! on the system's configuration (`/etc/resolv.conf`, the hosts file),
//! asking AAAA and A (and HTTPS records for `connect_tls`) at once and
//! racing each answer as it arrives, with a cache that honours TTLs and
//! one query in flight per name however many callers wait for it; or
//! [`Resolver::system`] (getaddrinfo), [`Resolver::fixed`] (a table), or
//! a [`Resolve`] of your own. A name with a trailing dot
//! (`api.example.com.`) is absolute: never completed with the search list,
//! whichever API it is given to.
//!
//! ```no_run
//! use tokio_endpoints::{ConnectionBuilder, Resolver};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let resolver = Resolver::fixed([("db.internal", ["10.0.0.5".parse().unwrap()])]);
//!     let stream = ConnectionBuilder::new("db.internal:5432").resolver(resolver).connect().await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Establishment reports
//!
//! [`connect_reported`](ConnectionBuilder::connect_reported) returns, with
//! the stream, an [`Establishment`]: each resolution step
//! ([`ResolutionStep`]), each attempt with its start, duration and outcome
//! ([`AttemptReport`], [`AttemptOutcome`]), the TLS handshake
//! ([`TlsReport`]), and what the history advised. A [`Connector`] hands one
//! to [`on_established`](Connector::on_established) for every connection,
//! or writes them as qlog ([`Connector::qlog`], [`QlogSink`]).
//!
//! ```no_run
//! use tokio_endpoints::ConnectionBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let (stream, report) = ConnectionBuilder::new("example.com:80").connect_reported().await?;
//!     println!("{report}"); // who won, when each attempt started, how each ended
//!     Ok(())
//! }
//! ```
//!
//! ## Errors
//!
//! Each side has one error type that says what was tried: [`ConnectError`],
//! [`ServerError`], [`DatagramError`], and the resolver's
//! [`ResolveError`]. `Display` is one line that reads on its own; `{:?}`
//! (what `fn main() -> io::Result<()>` prints) is a report with a line per
//! attempt; walked through `source()` (`anyhow`'s `{:#}`), each fact is
//! said once. Each converts to `io::Error` with a matching kind and stays
//! its payload. Their details (kinds, attempts, denied addresses) are
//! grouped in [`errors`].
//!
//! ## Streams and framing
//!
//! [`open_connection`](ConnectionBuilder::open_connection) is asyncio's
//! `open_connection`: a buffered [`StreamReader`] (tokio's `read_line`,
//! `read_until`, `read_exact` for `readline`, `readuntil`, `readexactly`)
//! and a [`StreamWriter`] whose [`close`](StreamWriter::close) is bounded by
//! the TLS shutdown timeout, the same two types over TCP and TLS
//! ([`open_connection_tls`](ConnectionBuilder::open_connection_tls)).
//! With the `codec` feature (on by default),
//! [`connect_framed`](ConnectionBuilder::connect_framed) and
//! [`connect_tls_framed`](ConnectionBuilder::connect_tls_framed) return a
//! `tokio_util::codec::Framed`. All of them finish with `connect` or
//! `connect_tls`, so racing, timeouts and errors are the same.
//!
//! ```no_run
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//! use tokio_endpoints::ConnectionBuilder;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let (mut reader, mut writer) = ConnectionBuilder::new("example.com:80")
//!         .open_connection()
//!         .await?;
//!     writer.write_all(b"HEAD / HTTP/1.0\r\n\r\n").await?;
//!     let mut status = String::new();
//!     reader.read_line(&mut status).await?;
//!     writer.close().await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Cargo features
//!
//! * `tls` (default): [`connect_tls`](ConnectionBuilder::connect_tls),
//!   [`TlsStream`] and `pub use rustls`, with tokio-rustls on the *ring*
//!   crypto provider (it needs only a C compiler to build). The checks of
//!   `tls_pem_files` use rustls-webpki, which rustls builds anyway: no
//!   crate is added for them. A configuration
//!   passed to [`tls_config`](ConnectionBuilder::tls_config) may use any
//!   provider (aws-lc-rs, ...); [`crypto_provider`] is the one the crate's
//!   own configurations use.
//! * `aws-lc-rs`: the crate's own configurations use aws-lc-rs, rustls's
//!   default provider, with post-quantum key exchange (`X25519MLKEM768`)
//!   preferred, instead of *ring* (which stays built). It compiles aws-lc's
//!   C code, so it is off by default.
//! * `hickory` (default): the default [`Resolver`] is [`HickoryResolver`]
//!   on the system's configuration: AAAA and A asked at once, answers raced
//!   as they arrive (RFC 8305 §3), with a TTL-honouring cache; the default
//!   resolver is one per process and works across Tokio runtimes.
//!   Without it, the default is [`Resolver::system`] (getaddrinfo).
//! * `self-signed`: `ServerBuilder::tls_self_signed` and `self_signed`, a
//!   fresh self-signed certificate for local development (its PEM for
//!   clients from `SelfSigned::cert_pem` or the listener's
//!   `self_signed_cert_pem`), made with rcgen.
//! * `webpki-roots`: the default configuration trusts Mozilla's roots,
//!   compiled in, instead of the platform's.
//! * `codec` (default): `connect_framed`, `connect_tls_framed` and
//!   `DatagramBuilder::bind_framed`, on tokio-util (re-exported as
//!   `tokio_util`).
//! * `batch`: `DatagramBuilder::bind_batched` and `BatchedSocket`, a UDP
//!   socket that sends and receives many datagrams per system call
//!   (segmentation and receive offload, `recvmmsg`), with ECN marks and
//!   the destination address of each datagram, on quinn-udp.
//! * `hyper`: [`Connector`] implements `tower_service::Service<http::Uri>`,
//!   for hyper-util's legacy `Client` and tonic's
//!   `Endpoint::connect_with_connector` (`HttpStream`, `HttpInfo`,
//!   `HttpConnecting`), also inside hyper-util's proxy connectors (`Tunnel`,
//!   `SocksV5`), and `Connector::unix_socket` sends every request over a
//!   Unix socket. It adds hyper, hyper-util, http and tower-service.
//!
//! ## Layers
//!
//! target → addresses ([`Resolve`]) → ordered attempts (RFC 8305 §4
//! interleaving) → the race → a `TcpStream` → (TLS, on the winner only).
//! Each attempt's socket is owned by the call: when it returns, or its
//! future is dropped, every socket it opened and did not hand back is
//! closed.
//!
//! ## Tracing
//!
//! Each call runs in a `connect` span (at `DEBUG`), with an event for every
//! attempt started, failed and won.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]
// The docs link to the items of the `tls`, `codec`, `hickory` and `hyper`
// features from items that exist without them (`connect` names
// `connect_tls`, the crate docs name `TlsListener`). Where a feature is off,
// those links have no target and read as plain text; every link is checked
// where the targets exist: `cargo doc --all-features` with `-D warnings` in
// `.ci/run`, and on docs.rs, which builds with every feature.
#![cfg_attr(
    not(all(
        feature = "tls",
        feature = "codec",
        feature = "hickory",
        feature = "hyper",
        feature = "self-signed",
        feature = "proxy"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

// README.md's Rust blocks are doc tests of the `integration/` member
// (`integration/src/lib.rs`), whose dev-dependencies (tonic, hyper's
// server) they use.

mod client;
mod datagram;
// The fuzz targets' entry points (`fuzz/`; cargo-fuzz sets `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod resolve;
mod server;
mod shared;
mod sys;

/// A socket option hook, shared by the TCP and UDP builders.
type SocketHook = std::sync::Arc<dyn Fn(&socket2::Socket) -> std::io::Result<()> + Send + Sync>;

pub use client::ConnectError;
pub use client::Connector;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use client::UnixConnectionBuilder;
// The error details: documented in `errors`, and reachable here as well.
#[cfg(feature = "proxy")]
#[doc(no_inline)]
pub use client::ProxyStage;
#[doc(no_inline)]
pub use client::{Attempt, AttemptStage, ConnectErrorKind};
pub use client::{
    AttemptOutcome, AttemptReport, Establishment, QlogSink, ResolutionStep, TlsReport,
};
pub use client::{ConnectionBuilder, IntoLocalAddrs, DEFAULT_HAPPY_EYEBALLS_DELAY};
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use client::{HttpConnecting, HttpInfo, HttpStream};
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub use client::{Proxy, ProxyTunnel, DEFAULT_PROXY_HANDSHAKE_TIMEOUT};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use datagram::UnixDatagramBuilder;
#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
pub use datagram::{BatchedSocket, Ecn, RecvBatch, RecvBatchIter, RecvDatagram, SendOptions};
#[doc(no_inline)]
pub use datagram::{BindAttempt, DatagramErrorKind};
pub use datagram::{DatagramBuilder, DatagramError};
#[doc(no_inline)]
pub use resolve::ResolveErrorKind;
pub use resolve::{
    Addrs, Resolution, Resolve, ResolveError, Resolved, Resolver, ServiceRecord, SystemResolver,
    MAX_ALIAS_DEPTH,
};
#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub use resolve::{HickoryResolver, DEFAULT_RESOLUTION_DELAY};
#[cfg(feature = "tls")]
#[doc(no_inline)]
pub use server::HandshakeFailure;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use server::UnixServerBuilder;
#[cfg(feature = "self-signed")]
#[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
pub use server::{self_signed, SelfSigned};
pub use server::{
    ConnectionInfo, Listener, Server, ServerBuilder, ServerError, DEFAULT_BACKLOG, PORT_RETRIES,
};
#[doc(no_inline)]
pub use server::{ListenAttempt, ServerErrorKind};
#[cfg(feature = "proxy-protocol")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
pub use server::{
    ProxyHeader, ProxyProtocol, DEFAULT_MAX_PENDING_HEADERS, DEFAULT_PROXY_HEADER_TIMEOUT,
};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use server::{
    ServerTlsStream, TlsListener, DEFAULT_MAX_TLS_HANDSHAKES, RECENT_HANDSHAKE_FAILURES,
};
pub use shared::nat64::Nat64Prefix;
pub use shared::policy::AddressPolicy;
#[doc(no_inline)]
pub use shared::policy::DeniedAddress;
pub use shared::stream::{StreamReader, StreamWriter};
#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub use shared::systemd::unset_systemd_environment;
#[doc(no_inline)]
pub use shared::target::TargetError;
pub use shared::target::{Family, IntoTarget, Target};

/// The details of the crate's errors, in one place: each error's kind,
/// the attempts it keeps, and the smaller errors it is made of.
///
/// Each side has one error type that says what was tried
/// ([`ConnectError`], [`ServerError`], [`DatagramError`], and the
/// resolver's [`ResolveError`]); what it holds is here. Every item is
/// also at the crate root (`tokio_endpoints::ConnectErrorKind` and
/// `tokio_endpoints::errors::ConnectErrorKind` are one type).
///
/// | error | its kind | its attempts, and what else it holds |
/// |---|---|---|
/// | [`ConnectError`] | [`ConnectErrorKind`] | [`Attempt`] ([`AttemptStage`]), [`ResolveError`], [`DeniedAddress`], [`ProxyStage`] |
/// | [`ServerError`] | [`ServerErrorKind`] | [`ListenAttempt`], [`ResolveError`] |
/// | [`DatagramError`] | [`DatagramErrorKind`] | [`BindAttempt`], [`ResolveError`], [`DeniedAddress`] |
/// | [`ResolveError`] | [`ResolveErrorKind`] | the query, the resolver's own error |
/// | [`TargetError`] | | why a target does not parse |
/// | [`HandshakeFailure`] | | a server's failed TLS handshake, kept by [`TlsListener`] |
///
/// Walked through `source()` (`anyhow`'s `{:#}`, `tracing`), each fact is
/// said once: the errors' one-line messages already quote their attempts
/// and the resolver, so `source()` does not return them again; the
/// accessors do.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::errors::{AttemptStage, ConnectErrorKind};
/// use tokio_endpoints::ConnectionBuilder;
///
/// # #[tokio::main] async fn main() {
/// match ConnectionBuilder::new("localhost:443").connect_tls().await {
///     Ok(_) => {}
///     Err(e) if e.kind() == ConnectErrorKind::Resolve => eprintln!("DNS: {e}"),
///     Err(e) => {
///         for a in e.attempts().iter().filter(|a| a.stage() == AttemptStage::Tls) {
///             eprintln!("{} took TCP, then: {}", a.addr(), a.error());
///         }
///     }
/// }
/// # }
/// ```
pub mod errors {
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub use crate::client::ProxyStage;
    pub use crate::client::{Attempt, AttemptStage, ConnectError, ConnectErrorKind};
    pub use crate::datagram::{BindAttempt, DatagramError, DatagramErrorKind};
    pub use crate::resolve::{ResolveError, ResolveErrorKind};
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub use crate::server::HandshakeFailure;
    pub use crate::server::{ListenAttempt, ServerError, ServerErrorKind};
    pub use crate::shared::policy::DeniedAddress;
    pub use crate::shared::target::TargetError;
}

/// The hickory-resolver version [`HickoryResolver`] is built on, for its
/// configuration types (`config::ResolverConfig`, `config::ResolverOpts`).
#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub use hickory_resolver;

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use client::TlsStream;
#[cfg(feature = "quic")]
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
pub use client::{Secure, QUIC_HARD_WAIT, QUIC_SOFT_WAIT};

/// The quinn version [`Secure::Quic`] holds a `Connection` of.
#[cfg(feature = "quic")]
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
pub use quinn;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use shared::tls::{
    crypto_provider, DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_TLS_SHUTDOWN_TIMEOUT,
};

/// The rustls version [`ConnectionBuilder::tls_config`] takes configurations
/// of and [`TlsStream`] exposes, so a program builds its `ClientConfig` with
/// the matching version.
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use rustls;

/// The ipnet version [`AddressPolicy`] takes ranges of (`IpNet`, made with
/// `"10.0.0.0/8".parse()?` or `IpNet::from(ip)`).
pub use ipnet;

/// The socket2 version [`ConnectionBuilder::socket_hook`] hands sockets of.
pub use socket2;

/// The tokio-util version [`DatagramBuilder::bind_framed`] returns a
/// `UdpFramed` of and [`ConnectionBuilder::connect_framed`] a `Framed` of,
/// with its codecs.
#[cfg(feature = "codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
pub use tokio_util;
