//! [`RecvBatch`]: the buffers one [`recv_batch`](super::BatchedSocket::recv_batch)
//! fills, reused call after call, and the datagrams read out of them.
//!
//! One buffer is one message of `recvmmsg(2)`: a datagram, or with GRO
//! several datagrams of one peer, each `stride` bytes (the last may be
//! shorter), coalesced by the kernel. A buffer is 64 KiB, the most one
//! UDP datagram or one GRO message can be, so nothing is ever truncated.

use std::fmt;
use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};

use quinn_udp::RecvMeta;

use super::Ecn;

/// Bytes of one receive buffer: a whole datagram (at most 65,527 bytes
/// over IPv6) or a whole GRO message (the kernel stops coalescing before
/// 64 KiB).
pub(super) const BUFFER_SIZE: usize = 1 << 16;

/// Buffers one [`RecvBatch::new`] has: quinn-udp's `recvmmsg` batch.
pub(super) const DEFAULT_BUFFERS: usize = quinn_udp::BATCH_SIZE;

/// Room for the datagrams of one
/// [`BatchedSocket::recv_batch`](crate::BatchedSocket::recv_batch): a
/// number of 64 KiB receive buffers, allocated once and reused by every
/// call, and what the last call put in them.
///
/// Each buffer takes one datagram, or with receive offload (GRO, Linux)
/// up to 64 datagrams of one peer, so one call returns up to
/// [`capacity`](Self::capacity) datagrams without GRO and many more with
/// it. [`RecvBatch::new`] has 32 buffers (2 MiB of memory, mapped as the
/// kernel first writes to it), the most quinn-udp reads in one `recvmmsg`;
/// more buffers make a call read again before it returns.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{DatagramBuilder, RecvBatch};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let server = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
/// let client = DatagramBuilder::new().local_addr("127.0.0.1:0").bind_batched().await?;
/// let to = server.inner().local_addr()?;
/// client.send_batch(to, &[&b"one"[..], b"two", b"six"]).await?;
///
/// let mut batch = RecvBatch::new();
/// let mut got = Vec::new();
/// while got.len() < 3 {
///     server.recv_batch(&mut batch).await?;
///     got.extend(batch.iter().map(|d| d.data().to_vec()));
/// }
/// assert_eq!(got, [b"one", b"two", b"six"]);
/// # Ok(()) }
/// ```
pub struct RecvBatch {
    buffers: Vec<u8>,
    metas: Vec<RecvMeta>,
    /// Messages the last call filled.
    filled: usize,
    /// Datagrams in them.
    datagrams: usize,
}

impl RecvBatch {
    /// A batch of 32 receive buffers of 64 KiB (quinn-udp's `recvmmsg`
    /// batch), zeroed and allocated at once; the operating system maps the
    /// pages as they are first written.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::RecvBatch;
    ///
    /// let batch = RecvBatch::new();
    /// assert_eq!(batch.capacity(), 32);
    /// assert!(batch.is_empty());
    /// ```
    pub fn new() -> RecvBatch {
        RecvBatch::with_capacity(DEFAULT_BUFFERS)
    }

    /// A batch of `buffers` receive buffers of 64 KiB each: up to that
    /// many datagrams a call without GRO, more with it. A batch of 0
    /// buffers is refused by [`recv_batch`](crate::BatchedSocket::recv_batch)
    /// with `InvalidInput`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::RecvBatch;
    ///
    /// let batch = RecvBatch::with_capacity(64); // two recvmmsg calls' worth
    /// assert_eq!(batch.capacity(), 64);
    /// ```
    pub fn with_capacity(buffers: usize) -> RecvBatch {
        RecvBatch {
            buffers: vec![0; buffers * BUFFER_SIZE],
            metas: vec![RecvMeta::default(); buffers],
            filled: 0,
            datagrams: 0,
        }
    }

    /// How many receive buffers the batch has (see
    /// [`with_capacity`](Self::with_capacity)).
    pub fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// How many datagrams the last
    /// [`recv_batch`](crate::BatchedSocket::recv_batch) put in the batch
    /// (what it returned).
    pub fn len(&self) -> usize {
        self.datagrams
    }

    /// Whether the batch holds no datagram (before the first call, or
    /// after [`clear`](Self::clear)).
    pub fn is_empty(&self) -> bool {
        self.datagrams == 0
    }

    /// Forgets the datagrams; the buffers stay for the next call (which
    /// clears the batch itself).
    pub fn clear(&mut self) {
        self.filled = 0;
        self.datagrams = 0;
    }

    /// The datagrams of the last call, in the order the kernel delivered
    /// them: per peer, the order they arrived in.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{BatchedSocket, RecvBatch};
    ///
    /// # async fn serve(socket: &BatchedSocket) -> std::io::Result<()> {
    /// let mut batch = RecvBatch::new();
    /// socket.recv_batch(&mut batch).await?;
    /// for d in batch.iter() {
    ///     println!("{} bytes from {} to {:?} on interface {:?}, ECN {:?}",
    ///         d.data().len(), d.peer(), d.local_ip(), d.interface(), d.ecn());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> RecvBatchIter<'_> {
        RecvBatchIter {
            batch: self,
            message: 0,
            offset: 0,
        }
    }

    /// The buffers from message `from` on (at most quinn-udp's batch) and
    /// their metadata, for one `recvmmsg`.
    pub(super) fn recv_slots<R>(
        &mut self,
        from: usize,
        f: impl FnOnce(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> R,
    ) -> R {
        let count = (self.metas.len() - from).min(DEFAULT_BUFFERS);
        let mut chunks =
            self.buffers[from * BUFFER_SIZE..(from + count) * BUFFER_SIZE].chunks_mut(BUFFER_SIZE);
        let mut slices: [IoSliceMut<'_>; DEFAULT_BUFFERS] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or(&mut [])));
        f(&mut slices[..count], &mut self.metas[from..from + count])
    }

    /// Records that `filled` messages were read, and counts their
    /// datagrams.
    pub(super) fn finish(&mut self, filled: usize) -> usize {
        self.filled = filled;
        self.datagrams = self.metas[..filled].iter().map(datagrams_in).sum();
        self.datagrams
    }
}

/// Datagrams in one message: `len / stride` rounded up; an empty datagram
/// is one too.
fn datagrams_in(meta: &RecvMeta) -> usize {
    if meta.len == 0 || meta.stride == 0 {
        1
    } else {
        meta.len.div_ceil(meta.stride)
    }
}

impl Default for RecvBatch {
    fn default() -> RecvBatch {
        RecvBatch::new()
    }
}

impl fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.capacity())
            .field("messages", &self.filled)
            .field("datagrams", &self.datagrams)
            .finish()
    }
}

impl<'a> IntoIterator for &'a RecvBatch {
    type Item = RecvDatagram<'a>;
    type IntoIter = RecvBatchIter<'a>;

    fn into_iter(self) -> RecvBatchIter<'a> {
        self.iter()
    }
}

/// The datagrams of a [`RecvBatch`], from [`RecvBatch::iter`].
#[derive(Debug, Clone)]
pub struct RecvBatchIter<'a> {
    batch: &'a RecvBatch,
    message: usize,
    offset: usize,
}

impl<'a> Iterator for RecvBatchIter<'a> {
    type Item = RecvDatagram<'a>;

    fn next(&mut self) -> Option<RecvDatagram<'a>> {
        let batch = self.batch;
        let meta = batch.metas[..batch.filled].get(self.message)?;
        let start = self.message * BUFFER_SIZE + self.offset;
        let len = if meta.stride == 0 {
            meta.len
        } else {
            meta.stride.min(meta.len - self.offset)
        };
        self.offset += len;
        if self.offset >= meta.len {
            self.message += 1;
            self.offset = 0;
        }
        Some(RecvDatagram {
            data: &batch.buffers[start..start + len],
            meta,
        })
    }
}

/// One received datagram of a [`RecvBatch`]: its bytes, who sent it, the
/// local address and interface it came in on, and its ECN mark.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{BatchedSocket, RecvBatch};
///
/// // An echo server bound to [::]: each answer leaves from the address
/// // the question was sent to.
/// # async fn echo(socket: &BatchedSocket) -> std::io::Result<()> {
/// let mut batch = RecvBatch::new();
/// loop {
///     socket.recv_batch(&mut batch).await?;
///     for d in &batch {
///         socket.send_batch_with(d.peer(), &[d.data()], &d.reply_options()).await?;
///     }
/// }
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct RecvDatagram<'a> {
    data: &'a [u8],
    meta: &'a RecvMeta,
}

impl<'a> RecvDatagram<'a> {
    /// The datagram's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Who sent it. On a dual-stack `[::]` socket an IPv4 sender reads as
    /// an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), as
    /// `tokio::net::UdpSocket::recv_from` reports it.
    pub fn peer(&self) -> SocketAddr {
        self.meta.addr
    }

    /// The local address it was sent to (`IP_PKTINFO`, `IPV6_PKTINFO`,
    /// `IP_RECVDSTADDR`): on a socket bound to `[::]` or `0.0.0.0`, which
    /// of the host's addresses the peer asked. `None` where the system does
    /// not tell. An answer sent with [`reply_options`](Self::reply_options)
    /// leaves from it.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.meta.dst_ip
    }

    /// The index of the interface it came in on (`if_nametoindex(3)`
    /// gives the index of a name), where the system tells (Linux, Windows;
    /// `1` is usually the loopback).
    pub fn interface(&self) -> Option<u32> {
        self.meta.interface_index
    }

    /// Its ECN mark (RFC 3168), `None` for not ECN-capable or where the
    /// system does not tell.
    pub fn ecn(&self) -> Option<Ecn> {
        self.meta.ecn.map(Ecn::from_quinn)
    }

    /// The [`SendOptions`](crate::SendOptions) of an answer from the address
    /// this datagram was sent to: [`source_ip`](crate::SendOptions::source_ip)
    /// is [`local_ip`](Self::local_ip) (none when it is unknown).
    pub fn reply_options(&self) -> crate::SendOptions {
        let options = crate::SendOptions::new();
        match self.meta.dst_ip {
            Some(ip) => options.source_ip(ip),
            None => options,
        }
    }
}

impl fmt::Debug for RecvDatagram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvDatagram")
            .field("peer", &self.peer())
            .field("len", &self.data.len())
            .field("local_ip", &self.local_ip())
            .field("interface", &self.interface())
            .field("ecn", &self.ecn())
            .finish()
    }
}
