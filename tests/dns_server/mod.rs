//! An in-process DNS server on 127.0.0.1 for the resolver tests (`dns.rs`,
//! `svcb.rs`): each query answered after the delay a zone function gives
//! for its name and type, and counted. Built on hickory-proto's messages.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::NULL;
use tokio_endpoints::hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio_endpoints::HickoryResolver;

/// What the server does with one query.
#[derive(Clone)]
pub enum Reply {
    /// These records for the queried name.
    Records(Vec<RData>),
    /// These answer records as they are (CNAME chains).
    Answers(Vec<Record>),
    /// An empty answer with this response code (NXDOMAIN, SERVFAIL, or
    /// NOERROR for "no records").
    Code(ResponseCode),
    /// An HTTPS answer whose RDATA does not parse.
    Malformed,
    /// No answer at all.
    Silent,
}

pub type Zone = dyn Fn(&str, RecordType) -> (u64, Reply) + Send + Sync;

/// A DNS server on 127.0.0.1 that answers each query after the delay the
/// zone function gives for its name and type, and counts the queries.
pub struct DnsServer {
    pub addr: SocketAddr,
    queries: Arc<Mutex<HashMap<(String, RecordType), usize>>>,
    sockets: Arc<Sockets>,
}

/// The client sockets queries came from: each distinct source address is
/// a socket of the resolver's; and how many queries were waiting for
/// their answer at once, at most (each holds a socket open meanwhile).
#[derive(Default)]
struct Sockets {
    seen: Mutex<std::collections::HashSet<SocketAddr>>,
    /// Each query by name, type and message id: a retransmission (hickory
    /// sends one after 333 ms without an answer, from a new socket) keeps
    /// its id.
    ids: Mutex<std::collections::HashSet<(String, RecordType, u16)>>,
    waiting: std::sync::atomic::AtomicUsize,
    most_waiting: std::sync::atomic::AtomicUsize,
}

/// The TTL of the records [`DnsServer::start`] serves.
pub const TTL: u32 = 300;

impl DnsServer {
    pub async fn start(
        zone: impl Fn(&str, RecordType) -> (u64, Reply) + Send + Sync + 'static,
    ) -> DnsServer {
        DnsServer::start_with_ttl(TTL, zone).await
    }

    pub async fn start_with_ttl(
        ttl: u32,
        zone: impl Fn(&str, RecordType) -> (u64, Reply) + Send + Sync + 'static,
    ) -> DnsServer {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(HashMap::new()));
        let zone: Arc<Zone> = Arc::new(zone);
        let counts = queries.clone();
        let sockets = Arc::new(Sockets::default());
        let seen = sockets.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(query) = request.queries.first().cloned() else {
                    continue;
                };
                let name = query
                    .name()
                    .to_string()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let rtype = query.query_type();
                *counts
                    .lock()
                    .unwrap()
                    .entry((name.clone(), rtype))
                    .or_insert(0) += 1;
                let (delay, reply) = zone(&name, rtype);
                let socket = socket.clone();
                {
                    use std::sync::atomic::Ordering::SeqCst;
                    seen.seen.lock().unwrap().insert(peer);
                    seen.ids
                        .lock()
                        .unwrap()
                        .insert((name.clone(), rtype, request.metadata.id));
                    let now = seen.waiting.fetch_add(1, SeqCst) + 1;
                    seen.most_waiting.fetch_max(now, SeqCst);
                }
                let done = seen.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    done.waiting
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    let mut response =
                        Message::response(request.metadata.id, request.metadata.op_code);
                    response.metadata.recursion_desired = request.metadata.recursion_desired;
                    response.metadata.recursion_available = true;
                    response.metadata.authoritative = true;
                    response.edns = request.edns.clone();
                    response.add_query(query.clone());
                    match reply {
                        Reply::Records(rdatas) => {
                            for rdata in rdatas {
                                response.add_answer(Record::from_rdata(
                                    query.name().clone(),
                                    ttl,
                                    rdata,
                                ));
                            }
                        }
                        Reply::Answers(records) => {
                            response.add_answers(records);
                        }
                        Reply::Code(code) => response.metadata.response_code = code,
                        Reply::Malformed => {
                            response.add_answer(Record::from_rdata(
                                query.name().clone(),
                                ttl,
                                RData::Unknown {
                                    code: RecordType::HTTPS,
                                    // A priority and half a target name.
                                    rdata: NULL::with(vec![0, 1, 7, b'e', b'x']),
                                },
                            ));
                        }
                        Reply::Silent => return,
                    }
                    let bytes = response.to_vec().unwrap();
                    let _ = socket.send_to(&bytes, peer).await;
                });
            }
        });
        DnsServer {
            addr,
            queries,
            sockets,
        }
    }

    /// How many queries came for `name` and `rtype`, retransmissions not
    /// counted (the messages with distinct ids).
    pub fn asked(&self, name: &str, rtype: RecordType) -> usize {
        let ids = self.sockets.ids.lock().unwrap();
        ids.iter()
            .filter(|(n, t, _)| n == name && *t == rtype)
            .count()
    }

    /// How many queries came in all, retransmissions not counted.
    pub fn queries(&self) -> usize {
        self.sockets.ids.lock().unwrap().len()
    }

    /// How many client sockets (distinct source addresses) queries came
    /// from.
    pub fn sockets(&self) -> usize {
        self.sockets.seen.lock().unwrap().len()
    }

    /// The most queries that waited for their answer at once.
    pub fn most_waiting(&self) -> usize {
        self.sockets
            .most_waiting
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolver options for this server: one attempt, this timeout, no
    /// hosts file.
    pub fn options_with_timeout(&self, timeout: Duration) -> ResolverOpts {
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        options
    }

    /// [`options_with_timeout`](Self::options_with_timeout) with 300 ms.
    pub fn options(&self) -> ResolverOpts {
        self.options_with_timeout(Duration::from_millis(300))
    }

    /// This server as the only name server.
    pub fn config(&self) -> ResolverConfig {
        let mut udp = ConnectionConfig::udp();
        udp.port = self.addr.port();
        let server = NameServerConfig::new(self.addr.ip(), true, vec![udp]);
        ResolverConfig::from_name_servers(vec![server])
    }

    /// A hickory resolver asking this server only, for both record types
    /// whatever this host's routes are (its answers are loopback addresses:
    /// an IPv4-only host must still get the AAAA ones).
    pub fn resolver(&self) -> HickoryResolver {
        HickoryResolver::with_config(self.config(), self.options())
            .unwrap()
            .fit_network(false)
    }

    /// [`resolver`](Self::resolver) with this query timeout.
    pub fn resolver_with_timeout(&self, timeout: Duration) -> HickoryResolver {
        HickoryResolver::with_config(self.config(), self.options_with_timeout(timeout))
            .unwrap()
            .fit_network(false)
    }

    /// How many queries came for `name` and `rtype`.
    pub fn count(&self, name: &str, rtype: RecordType) -> usize {
        let queries = self.queries.lock().unwrap();
        queries
            .get(&(name.to_string(), rtype))
            .copied()
            .unwrap_or(0)
    }

    /// How many queries came in all.
    pub fn total(&self) -> usize {
        self.queries.lock().unwrap().values().sum()
    }
}
