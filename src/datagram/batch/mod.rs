//! [`BatchedSocket`]: many datagrams per system call, on quinn-udp.
//!
//! A `tokio::net::UdpSocket` makes one system call per datagram, and for a
//! program that moves volume over UDP (QUIC, media, telemetry, DNS) those
//! calls are the cost. The kernel offers three ways out, and quinn-udp
//! wraps them for every platform it knows:
//!
//! * segmentation offload (GSO, `UDP_SEGMENT` on Linux; USO on Windows):
//!   one `sendmsg` carries up to 64 datagrams of one size to one peer, cut
//!   by the kernel or the NIC;
//! * receive offload (GRO, `UDP_GRO`; URO on Windows): one message of a
//!   receive holds several datagrams of one peer, each `stride` bytes;
//! * `recvmmsg(2)`: up to 32 messages in one call.
//!
//! # How a batch is cut
//!
//! [`send_batch`](BatchedSocket::send_batch) goes through the datagrams in
//! order and puts each run of consecutive datagrams to one destination of
//! one size (the last of a run may be shorter, as GSO allows), at most
//! [`max_segments`](BatchedSocket::max_segments) of them and at most one
//! UDP datagram's worth of bytes (65,507 over IPv4) together, into one
//! `sendmsg`, copied into one buffer; a datagram alone is sent from the
//! caller's slice. Where there is no offload (`max_segments() == 1`, or
//! [`set_offload(false)`](BatchedSocket::set_offload)), that is one
//! `sendmsg` per datagram: the loop of ordinary calls, with the same
//! results. When the kernel refuses a run (a driver without GSO answers
//! `EIO` or `EINVAL`; quinn-udp then stops asking for offload on the
//! socket), the run's datagrams are sent again one by one, so a refusal of
//! offload never loses a datagram.
//!
//! Bad input (an empty batch, a datagram over the UDP limit, a destination
//! of the other family, port 0) is refused before any datagram is sent,
//! with an `InvalidInput` error naming the problem and the datagram.
//!
//! # What the socket is set to
//!
//! quinn-udp's `UdpSocketState::new` turns on, where the system has them,
//! the ECN and destination-address control messages (`IP_RECVTOS`,
//! `IPV6_RECVTCLASS`, `IP_PKTINFO`, `IPV6_RECVPKTINFO`), `UDP_GRO`, and
//! forbids IP fragmentation (`IP_MTU_DISCOVER`, `IPV6_DONTFRAG`). On
//! Linux this crate then asks for the path MTU to be honoured
//! (`IP_PMTUDISC_DO` rather than quinn-udp's probe mode), so a datagram too
//! large for the path, as the kernel knows it, fails with `EMSGSIZE` and is
//! reported instead of being fragmented or dropped, and turns receive
//! timestamps off, which would push the ECN mark of a GRO message out of
//! quinn-udp's control buffer (see `sys::udp_prepare`, `src/sys/udp_batch.rs`).

mod recv;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use quinn_udp::{EcnCodepoint, Transmit, UdpSockRef, UdpSocketState};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::builder::DatagramBuilder;
use super::error::{BindAttempt, DatagramError, DatagramErrorKind};
use crate::shared::report::Brief;
use crate::sys;

pub use recv::{RecvBatch, RecvBatchIter, RecvDatagram};

/// The largest UDP payload over IPv4: 65,535 bytes less the IPv4 and UDP
/// headers.
const MAX_V4: usize = 65_507;
/// The largest UDP payload over IPv6 (without jumbograms): 65,535 bytes
/// less the UDP header.
const MAX_V6: usize = 65_527;

/// An ECN mark (RFC 3168) of a datagram: set per batch with
/// [`SendOptions::ecn`], read per datagram with [`RecvDatagram::ecn`].
/// Not ECN-capable (`Not-ECT`) is the absence of a mark (`None`).
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{DatagramBuilder, Ecn, RecvBatch, SendOptions};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let a = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
/// let b = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
/// let to = b.inner().local_addr()?;
/// a.send_batch_with(to, &[&b"marked"[..]], &SendOptions::new().ecn(Ecn::Ect0)).await?;
/// let mut batch = RecvBatch::new();
/// b.recv_batch(&mut batch).await?;
/// # if cfg!(target_os = "linux") {
/// assert_eq!(batch.iter().next().unwrap().ecn(), Some(Ecn::Ect0));
/// # }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// ECT(0): the sender is ECN-capable (the codepoint QUIC and TCP use).
    Ect0,
    /// ECT(1): the sender is ECN-capable (L4S, RFC 9331).
    Ect1,
    /// CE: a router on the path experienced congestion.
    Ce,
}

impl Ecn {
    fn to_quinn(self) -> EcnCodepoint {
        match self {
            Ecn::Ect0 => EcnCodepoint::Ect0,
            Ecn::Ect1 => EcnCodepoint::Ect1,
            Ecn::Ce => EcnCodepoint::Ce,
        }
    }

    fn from_quinn(ecn: EcnCodepoint) -> Ecn {
        match ecn {
            EcnCodepoint::Ect0 => Ecn::Ect0,
            EcnCodepoint::Ect1 => Ecn::Ect1,
            EcnCodepoint::Ce => Ecn::Ce,
        }
    }
}

/// What every datagram of one batch is sent with: an ECN mark and the
/// local address it leaves from. The default is neither: no mark, and the
/// address the kernel picks (the bound one, or by the route on a socket
/// bound to `[::]` or `0.0.0.0`).
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use tokio_endpoints::{Ecn, SendOptions};
///
/// let options = SendOptions::new().ecn(Ecn::Ect0).source_ip(Ipv4Addr::LOCALHOST.into());
/// assert_ne!(options, SendOptions::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct SendOptions {
    ecn: Option<Ecn>,
    source_ip: Option<IpAddr>,
}

impl SendOptions {
    /// No ECN mark, the kernel's source address.
    pub fn new() -> SendOptions {
        SendOptions::default()
    }

    /// Marks every datagram of the batch with `ecn` (`IP_TOS` /
    /// `IPV6_TCLASS` control message). Default is no mark (Not-ECT).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{Ecn, SendOptions};
    ///
    /// let options = SendOptions::new().ecn(Ecn::Ect1);
    /// assert_ne!(options, SendOptions::new());
    /// ```
    pub fn ecn(mut self, ecn: Ecn) -> SendOptions {
        self.ecn = Some(ecn);
        self
    }

    /// Sends every datagram of the batch from this local address
    /// (`IP_PKTINFO` / `IPV6_PKTINFO`): on a socket bound to `[::]` or
    /// `0.0.0.0` on a host with several addresses, answer from the one the
    /// peer asked ([`RecvDatagram::local_ip`],
    /// [`RecvDatagram::reply_options`]). It must be an address of this host
    /// and of the destination's family. Default is the kernel's choice.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// use tokio_endpoints::SendOptions;
    ///
    /// let options = SendOptions::new().source_ip(Ipv6Addr::LOCALHOST.into());
    /// assert_ne!(options, SendOptions::new());
    /// ```
    pub fn source_ip(mut self, ip: IpAddr) -> SendOptions {
        self.source_ip = Some(ip);
        self
    }
}

/// A UDP socket that sends and receives many datagrams per system call:
/// segmentation offload (GSO) on send, receive offload (GRO) and
/// `recvmmsg` on receive where the system has them, and a loop of ordinary
/// calls where it does not, with the same API and results. Each received
/// datagram says where it was sent to and on which interface, and ECN
/// marks are set per batch and read per datagram.
///
/// Made by [`DatagramBuilder::bind_batched`] (every builder option
/// applies) or from a Tokio socket with `BatchedSocket::try_from`;
/// [`inner`](Self::inner) is the `tokio::net::UdpSocket` underneath, for
/// everything else. Built on quinn-udp (feature `batch`). See the module
/// notes in the source for how a batch is cut and what the socket is set
/// to: IP fragmentation is off, as for QUIC, so a datagram too large for
/// the path fails with `EMSGSIZE` (a message naming it) rather than being
/// fragmented.
///
/// All methods take `&self`: share the socket (in an `Arc`) between a
/// task that receives and tasks that send.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{DatagramBuilder, RecvBatch};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let server = DatagramBuilder::new().local_addr("[::1]:0").bind_batched().await?;
/// let client = DatagramBuilder::new().local_addr("[::1]:0").bind_batched().await?;
///
/// let chunks = vec![vec![7_u8; 1200]; 100];
/// let payloads: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
/// let to = server.inner().local_addr()?;
/// let mut sent = 0;
/// while sent < payloads.len() {
///     sent += client.send_batch(to, &payloads[sent..]).await?; // GSO where the system has it
/// }
///
/// let mut batch = RecvBatch::new();
/// let mut received = 0;
/// while received < 100 {
///     received += server.recv_batch(&mut batch).await?; // GRO / recvmmsg
///     for d in batch.iter() {
///         assert_eq!(d.data(), &[7; 1200][..]);
///         assert_eq!(d.peer(), client.inner().local_addr()?);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct BatchedSocket {
    io: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
    v6only: bool,
    peer: Option<SocketAddr>,
    offload: AtomicBool,
}

impl TryFrom<UdpSocket> for BatchedSocket {
    type Error = io::Error;

    /// Sets the socket up for batches (see [`BatchedSocket`]).
    ///
    /// # Errors
    ///
    /// A socket whose address cannot be read, or an option quinn-udp
    /// requires failing (`IP_PKTINFO`, `IPV6_RECVPKTINFO`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::BatchedSocket;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let tokio_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let socket = BatchedSocket::try_from(tokio_socket)?;
    /// assert!(socket.max_segments() >= 1);
    /// # Ok(()) }
    /// ```
    fn try_from(io: UdpSocket) -> io::Result<BatchedSocket> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("batched UDP socket: {what}: {e}", e = Brief(&e)),
            )
        };
        let state = UdpSocketState::new(UdpSockRef::from(&io))
            .map_err(|e| context("setting the socket up (quinn-udp)", e))?;
        let local = io
            .local_addr()
            .map_err(|e| context("reading its address", e))?;
        let v6only = match local {
            SocketAddr::V4(_) => false,
            SocketAddr::V6(_) => SockRef::from(&io)
                .only_v6()
                .map_err(|e| context("IPV6_V6ONLY", e))?,
        };
        sys::udp_prepare(&SockRef::from(&io), local.is_ipv6());
        let peer = io.peer_addr().ok();
        Ok(BatchedSocket {
            io,
            state,
            local,
            v6only,
            peer,
            offload: AtomicBool::new(true),
        })
    }
}

impl BatchedSocket {
    /// The `tokio::net::UdpSocket` underneath, for everything this type
    /// does not name (`local_addr`, `peer_addr`, `set_ttl`, multicast,
    /// plain `send_to` and `recv_from`). Its datagrams are the same
    /// datagrams: one read with `recv_from` is not in a later batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
    /// println!("bound to {}", socket.inner().local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn inner(&self) -> &UdpSocket {
        &self.io
    }

    /// The `tokio::net::UdpSocket` underneath, by value. The options set
    /// for batches (control messages, no fragmentation) stay set.
    pub fn into_inner(self) -> UdpSocket {
        self.io
    }

    /// How many datagrams one send system call may carry: 1 without
    /// segmentation offload (or after [`set_offload(false)`](Self::set_offload)),
    /// 64 on Linux with `UDP_SEGMENT` (4.18 and later). quinn-udp lowers it
    /// to 1 for good when a driver refuses offload.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().bind_batched().await?;
    /// println!("up to {} datagrams per sendmsg", socket.max_segments());
    /// # Ok(()) }
    /// ```
    pub fn max_segments(&self) -> usize {
        if self.offload.load(Ordering::Relaxed) {
            self.state.max_gso_segments()
        } else {
            1
        }
    }

    /// How many datagrams one received message may hold: 64 with receive
    /// offload (`UDP_GRO`, Linux), 1 without (or after
    /// [`set_offload(false)`](Self::set_offload)).
    pub fn max_receive_segments(&self) -> usize {
        if self.offload.load(Ordering::Relaxed) {
            self.state.gro_segments()
        } else {
            1
        }
    }

    /// Turns segmentation offload on or off for this socket: off, every
    /// datagram is its own `sendmsg` and the kernel hands over received
    /// datagrams one per message (`UDP_GRO` off, Linux); receives are still
    /// batched by `recvmmsg`. For comparing, and for paths where offload
    /// misbehaves. Default is on (where the system has it).
    ///
    /// # Errors
    ///
    /// The system refusing to turn `UDP_GRO` off or back on; the sending
    /// side follows `on` either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().bind_batched().await?;
    /// socket.set_offload(false)?;
    /// assert_eq!(socket.max_segments(), 1);
    /// # Ok(()) }
    /// ```
    pub fn set_offload(&self, on: bool) -> io::Result<()> {
        self.offload.store(on, Ordering::Relaxed);
        if self.state.gro_segments() > 1 {
            sys::udp_set_gro(&SockRef::from(&self.io), on)
                .map_err(|e| io::Error::new(e.kind(), format!("UDP_GRO: {e}", e = Brief(&e))))?;
        }
        Ok(())
    }

    /// Sends `payloads` to `to`, in order, as few system calls as the
    /// system allows (see the type's docs), and returns how many went:
    /// all of them unless the socket's send buffer filled up or the system
    /// refused one; then the count so far, and a next call with
    /// `&payloads[sent..]` waits for room or reports the refusal. It waits
    /// until at least one datagram can go.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before anything is sent, for an empty batch, a
    /// datagram over 65,507 bytes (IPv4) or 65,527 (IPv6), a destination of
    /// the other family (an IPv6 address on an IPv4 socket, an IPv4 one on
    /// an `IPV6_V6ONLY` socket), port 0, or another peer than the one a
    /// socket made with `remote_addr` is connected to. The system's error
    /// for the first datagram, naming it (`EMSGSIZE` for one too large
    /// for the path).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call sent nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let a = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
    /// let b = DatagramBuilder::new().local_addr("127.0.0.1:0").bind().await?;
    /// let chunks = [[1_u8; 1200], [2; 1200], [3; 1200]];
    /// let payloads: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
    /// let sent = a.send_batch(b.local_addr()?, &payloads).await?;
    /// assert_eq!(sent, 3);
    /// let mut buf = [0; 1500];
    /// assert_eq!(b.recv(&mut buf).await?, 1200); // a plain socket reads them one by one
    /// # Ok(()) }
    /// ```
    pub async fn send_batch<B: AsRef<[u8]>>(
        &self,
        to: SocketAddr,
        payloads: &[B],
    ) -> io::Result<usize> {
        self.send_batch_with(to, payloads, &SendOptions::new())
            .await
    }

    /// [`send_batch`](Self::send_batch) with an ECN mark and a source
    /// address for every datagram of the batch.
    ///
    /// # Errors
    ///
    /// Those of [`send_batch`](Self::send_batch), and `InvalidInput` for a
    /// [`source_ip`](SendOptions::source_ip) of the other family than `to`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{DatagramBuilder, Ecn, SendOptions};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let a = DatagramBuilder::new().local_addr("[::]:0").bind_batched().await?;
    /// let to = "[::1]:9".parse().unwrap(); // discard
    /// let options = SendOptions::new().ecn(Ecn::Ect0).source_ip("::1".parse().unwrap());
    /// a.send_batch_with(to, &[&b"x"[..]], &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_batch_with<B: AsRef<[u8]>>(
        &self,
        to: SocketAddr,
        payloads: &[B],
        options: &SendOptions,
    ) -> io::Result<usize> {
        const OP: &str = "send_batch";
        let to = self.destination(OP, to)?;
        let source = self.source(OP, to, options.source_ip)?;
        let max = max_payload(to);
        if payloads.is_empty() {
            return Err(invalid(format!(
                "{OP} to {to}: the batch is empty; give at least one datagram"
            )));
        }
        for (i, p) in payloads.iter().enumerate() {
            too_large(OP, i, to, p.as_ref().len(), max)?;
        }
        let item = |i: usize| (to, payloads[i].as_ref());
        self.send_items(OP, payloads.len(), item, |_| source, options.ecn)
            .await
    }

    /// Sends each datagram to its own destination, in order, and returns
    /// how many went (as [`send_batch`](Self::send_batch) does). Runs of
    /// consecutive datagrams to one destination share a system call as in
    /// `send_batch`; each change of destination is a system call of its
    /// own (quinn-udp has no `sendmmsg`).
    ///
    /// # Errors
    ///
    /// Those of [`send_batch`](Self::send_batch), for each destination.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call sent nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
    /// let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let data = b"hello";
    /// let sent = socket
    ///     .send_to_many(&[(a.local_addr()?, &data[..]), (b.local_addr()?, &data[..])])
    ///     .await?;
    /// assert_eq!(sent, 2);
    /// # Ok(()) }
    /// ```
    pub async fn send_to_many<B: AsRef<[u8]>>(
        &self,
        datagrams: &[(SocketAddr, B)],
    ) -> io::Result<usize> {
        self.send_to_many_with(datagrams, &SendOptions::new()).await
    }

    /// [`send_to_many`](Self::send_to_many) with an ECN mark and a source
    /// address for every datagram.
    ///
    /// # Errors
    ///
    /// Those of [`send_batch_with`](Self::send_batch_with), for each
    /// destination.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{DatagramBuilder, Ecn, SendOptions};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
    /// let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let to = peer.local_addr()?;
    /// let options = SendOptions::new().ecn(Ecn::Ect1);
    /// socket.send_to_many_with(&[(to, &b"a"[..]), (to, &b"b"[..])], &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_many_with<B: AsRef<[u8]>>(
        &self,
        datagrams: &[(SocketAddr, B)],
        options: &SendOptions,
    ) -> io::Result<usize> {
        const OP: &str = "send_to_many";
        if datagrams.is_empty() {
            return Err(invalid(format!(
                "{OP}: the batch is empty; give at least one datagram"
            )));
        }
        let mut targets = Vec::with_capacity(datagrams.len());
        for (i, (to, p)) in datagrams.iter().enumerate() {
            let to = self.destination(OP, *to).map_err(|e| at(i, e))?;
            let source = self
                .source(OP, to, options.source_ip)
                .map_err(|e| at(i, e))?;
            too_large(OP, i, to, p.as_ref().len(), max_payload(to))?;
            targets.push((to, source));
        }
        let item = |i: usize| (targets[i].0, datagrams[i].1.as_ref());
        let source = |i: usize| targets[i].1;
        self.send_items(OP, datagrams.len(), item, source, options.ecn)
            .await
    }

    /// Receives as many datagrams as are waiting, up to what `batch` holds,
    /// into `batch` (cleared first), and returns how many came: it waits
    /// until at least one is there, then reads without waiting until the
    /// batch is full or nothing is left. Read them with
    /// [`RecvBatch::iter`].
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a batch of no buffer
    /// ([`RecvBatch::with_capacity(0)`](RecvBatch::with_capacity)); the
    /// system's error for the first read (on a connected socket, a
    /// `ConnectionRefused` the peer's ICMP answer left). Once a datagram
    /// is in the batch, an error of a later read ends the call with what
    /// came, and the next call reports it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call received nothing (the batch may be
    /// cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{DatagramBuilder, RecvBatch};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
    /// let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// peer.send_to(b"hi", socket.inner().local_addr()?).await?;
    /// let mut batch = RecvBatch::new();
    /// let n = socket.recv_batch(&mut batch).await?;
    /// assert_eq!(n, 1);
    /// let d = batch.iter().next().unwrap();
    /// assert_eq!((d.data(), d.peer()), (&b"hi"[..], peer.local_addr()?));
    /// # Ok(()) }
    /// ```
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.clear();
        let capacity = batch.capacity();
        if capacity == 0 {
            return Err(invalid(
                "recv_batch: the RecvBatch has no buffer (RecvBatch::with_capacity(0)); give it at least one",
            ));
        }
        let (got, asked) = self
            .io
            .async_io(Interest::READABLE, || self.recv_some(batch, 0))
            .await?;
        let mut filled = got;
        // Read on while the last read filled all it was given (more may
        // wait), or always where the system reads one message a call.
        let mut more = got == asked || !sys::UDP_RECVMMSG;
        while more && filled < capacity {
            match self
                .io
                .try_io(Interest::READABLE, || self.recv_some(batch, filled))
            {
                Ok((got, asked)) => {
                    filled += got;
                    more = got > 0 && (got == asked || !sys::UDP_RECVMMSG);
                }
                // Nothing more waiting, or an error the next call reports.
                Err(_) => break,
            }
        }
        Ok(batch.finish(filled))
    }

    /// One quinn-udp receive into the buffers from `from` on: how many
    /// messages came, and how many buffers it was given.
    fn recv_some(&self, batch: &mut RecvBatch, from: usize) -> io::Result<(usize, usize)> {
        batch.recv_slots(from, |bufs, metas| {
            let asked = bufs.len();
            let got = self.state.recv(UdpSockRef::from(&self.io), bufs, metas)?;
            Ok((got, asked))
        })
    }

    /// Sends datagram `i` of `n` (`item(i)`: its destination, checked and
    /// mapped, and its bytes) from `source(i)`, waiting for room for the
    /// first one; how many went.
    async fn send_items<'p>(
        &self,
        op: &'static str,
        n: usize,
        item: impl Fn(usize) -> (SocketAddr, &'p [u8]),
        source: impl Fn(usize) -> Option<IpAddr>,
        ecn: Option<Ecn>,
    ) -> io::Result<usize> {
        let mut scratch = Vec::new();
        let ecn = ecn.map(Ecn::to_quinn);
        self.io
            .async_io(Interest::WRITABLE, || {
                self.try_send_items(op, n, &item, &source, ecn, &mut scratch)
            })
            .await
    }

    /// The sends of [`send_items`](Self::send_items) without waiting: runs
    /// cut as the module docs say, `WouldBlock` when not even the first
    /// datagram went.
    fn try_send_items<'p>(
        &self,
        op: &'static str,
        n: usize,
        item: &dyn Fn(usize) -> (SocketAddr, &'p [u8]),
        source: &dyn Fn(usize) -> Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        scratch: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let mut i = 0;
        // Datagrams before this index go one by one: a run the system
        // refused.
        let mut singles_until = 0;
        while i < n {
            let (to, first) = item(i);
            let src = source(i);
            let seg = first.len();
            let mut j = i + 1;
            let max = self.max_segments();
            if i >= singles_until && max > 1 && seg > 0 {
                let limit = max_payload(to);
                let mut total = seg;
                while j < n && j - i < max {
                    let (t, d) = item(j);
                    if t != to || source(j) != src || d.is_empty() || d.len() > seg {
                        break;
                    }
                    if total + d.len() > limit {
                        break;
                    }
                    total += d.len();
                    j += 1;
                    if d.len() < seg {
                        break; // only the last of a run may be shorter
                    }
                }
            }
            let run = j - i;
            let contents: &[u8] = if run == 1 {
                first
            } else {
                scratch.clear();
                for k in i..j {
                    scratch.extend_from_slice(item(k).1);
                }
                scratch
            };
            let transmit = Transmit {
                destination: to,
                ecn,
                contents,
                segment_size: (run > 1).then_some(seg),
                src_ip: src,
            };
            match self.send_one(&transmit) {
                Ok(()) => i = j,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if i == 0 { Err(e) } else { Ok(i) };
                }
                Err(e) if run > 1 => {
                    tracing::debug!(
                        %to, datagrams = run, segment = seg, error = %e,
                        "the system refused a segmented send; sending one by one"
                    );
                    singles_until = j;
                }
                Err(e) => {
                    return if i == 0 {
                        Err(send_failed(op, to, seg, e))
                    } else {
                        Ok(i)
                    };
                }
            }
        }
        Ok(n)
    }

    /// One `sendmsg` through quinn-udp. A connected socket on a system
    /// that refuses a destination on it (`EISCONN`: the BSDs, macOS) sends
    /// a lone datagram with a plain `send` instead.
    fn send_one(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        match self.state.try_send(UdpSockRef::from(&self.io), transmit) {
            Err(e)
                if self.peer.is_some()
                    && transmit.segment_size.is_none()
                    && sys::is_already_connected(&e) =>
            {
                self.io.try_send(transmit.contents).map(drop)
            }
            other => other,
        }
    }

    /// `to` as the socket sends to it: an IPv4 address IPv4-mapped on a
    /// dual-stack IPv6 socket, an IPv4-mapped one plain on an IPv4 socket;
    /// refused when of the other family, port 0, or not the peer of a
    /// connected socket.
    fn destination(&self, op: &str, to: SocketAddr) -> io::Result<SocketAddr> {
        let local = self.local;
        let mapped = match (local, to) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => to,
            (SocketAddr::V4(_), SocketAddr::V6(v6)) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                None => {
                    return Err(invalid(format!(
                        "{op} to {to}: an IPv6 destination, and the socket is IPv4 ({local}); bind an IPv6 address such as [::] to reach both families"
                    )))
                }
            },
            (SocketAddr::V6(_), SocketAddr::V4(v4)) if !self.v6only => {
                SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
            }
            (SocketAddr::V6(_), SocketAddr::V4(_)) => {
                return Err(invalid(format!(
                    "{op} to {to}: an IPv4 destination, and the socket is IPv6 only ({local}, IPV6_V6ONLY)"
                )))
            }
            (SocketAddr::V6(_), SocketAddr::V6(v6)) => {
                if self.v6only && v6.ip().to_ipv4_mapped().is_some() {
                    return Err(invalid(format!(
                        "{op} to {to}: an IPv4-mapped destination, and the socket is IPv6 only ({local}, IPV6_V6ONLY)"
                    )));
                }
                to
            }
        };
        if to.port() == 0 {
            return Err(invalid(format!("{op} to {to}: port 0 is no destination")));
        }
        if let Some(peer) = self.peer {
            if mapped != peer {
                return Err(invalid(format!(
                    "{op} to {to}: the socket is connected to {peer} (remote_addr) and sends there only"
                )));
            }
        }
        Ok(mapped)
    }

    /// The source address of a datagram to `to` (already mapped), in the
    /// socket's family; refused when of the other family than `to`.
    fn source(&self, op: &str, to: SocketAddr, ip: Option<IpAddr>) -> io::Result<Option<IpAddr>> {
        let Some(ip) = ip else {
            return Ok(None);
        };
        if is_v4(to.ip()) != is_v4(ip) {
            return Err(invalid(format!(
                "{op} to {to}: source_ip {ip} is of the other address family"
            )));
        }
        Ok(Some(match ip {
            IpAddr::V4(v4) if self.local.is_ipv6() => IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) if self.local.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => ip,
            },
            _ => ip,
        }))
    }
}

impl fmt::Debug for BatchedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchedSocket")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("max_segments", &self.max_segments())
            .field("max_receive_segments", &self.max_receive_segments())
            .finish()
    }
}

impl DatagramBuilder {
    /// [`bind`](Self::bind), then sets the socket up for batches: a
    /// [`BatchedSocket`], which sends and receives many datagrams per
    /// system call (GSO, GRO, `recvmmsg`), with ECN marks and the
    /// destination address of each datagram. Every option of the builder
    /// applies as for `bind` (addresses, `reuse_port`, `allow_broadcast`,
    /// the address policy, [`from_socket`](Self::from_socket)).
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind), and
    /// [`DatagramErrorKind::AllAttemptsFailed`] with one attempt when the
    /// socket cannot be set up for batches (its socket is closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::DatagramBuilder;
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let socket = DatagramBuilder::new().local_addr("[::]:0").bind_batched().await?;
    /// println!("{} datagrams per sendmsg", socket.max_segments());
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
    pub async fn bind_batched(self) -> Result<BatchedSocket, DatagramError> {
        let endpoint = self.describe();
        let socket = self.bind().await?;
        let (local, remote) = (socket.local_addr().ok(), socket.peer_addr().ok());
        BatchedSocket::try_from(socket).map_err(|error| {
            DatagramError::new(DatagramErrorKind::AllAttemptsFailed, endpoint).with_attempts(vec![
                BindAttempt {
                    local,
                    remote,
                    error,
                },
            ])
        })
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// `e` with the index of the datagram it is about.
fn at(i: usize, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{e} (datagram {i})"))
}

/// IPv4, or IPv4-mapped IPv6.
fn is_v4(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    }
}

/// The largest datagram to `to`.
fn max_payload(to: SocketAddr) -> usize {
    if is_v4(to.ip()) {
        MAX_V4
    } else {
        MAX_V6
    }
}

fn too_large(op: &str, i: usize, to: SocketAddr, len: usize, max: usize) -> io::Result<()> {
    if len <= max {
        return Ok(());
    }
    let family = if max == MAX_V4 { "IPv4" } else { "IPv6" };
    Err(invalid(format!(
        "{op} to {to}: datagram {i} is {len} bytes, over the {max}-byte limit of one UDP datagram over {family}"
    )))
}

/// The system's error for one datagram, naming it; `EMSGSIZE` explained.
fn send_failed(op: &str, to: SocketAddr, len: usize, e: io::Error) -> io::Error {
    let hint = if sys::is_message_too_long(&e) {
        " (larger than the path MTU allows: a batched socket never fragments; send smaller datagrams)"
    } else {
        ""
    };
    io::Error::new(
        e.kind(),
        format!(
            "{op} to {to}: a datagram of {len} bytes: {e}{hint}",
            e = Brief(&e)
        ),
    )
}
