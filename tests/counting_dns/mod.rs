//! A DNS server on 127.0.0.1 that counts queries, on a thread and runtime
//! of its own (so it outlives the runtimes the tests make and drop).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA, SOA};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio_endpoints::HickoryResolver;

type Counts = Arc<Mutex<HashMap<(String, RecordType), usize>>>;

/// Names: `nx*` → NXDOMAIN with an SOA whose minimum is 60 s; `nosoa*` →
/// NXDOMAIN without an SOA; `short*` → loopback with TTL 1; anything else
/// → loopback (AAAA ::1, A 127.0.0.1) with TTL 300.
pub struct DnsServer {
    addr: SocketAddr,
    queries: Counts,
}

impl DnsServer {
    /// Starts the server on a thread and runtime of its own.
    pub fn start() -> DnsServer {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let queries: Counts = Arc::default();
                tx.send((socket.local_addr().unwrap(), queries.clone()))
                    .unwrap();
                serve(socket, queries).await;
            });
        });
        let (addr, queries) = rx.recv().unwrap();
        DnsServer { addr, queries }
    }

    pub fn resolver(&self) -> HickoryResolver {
        let mut udp = ConnectionConfig::udp();
        udp.port = self.addr.port();
        let server = NameServerConfig::new(self.addr.ip(), true, vec![udp]);
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_millis(500);
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        HickoryResolver::with_config(ResolverConfig::from_name_servers(vec![server]), options)
            .unwrap()
            .fit_network(false)
    }

    pub fn count(&self, name: &str, rtype: RecordType) -> usize {
        let queries = self.queries.lock().unwrap();
        queries
            .get(&(name.to_string(), rtype))
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(socket: UdpSocket, queries: Counts) {
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
        *queries
            .lock()
            .unwrap()
            .entry((name.clone(), rtype))
            .or_insert(0) += 1;
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.edns = request.edns.clone();
        response.add_query(query.clone());
        if name.starts_with("nx") || name.starts_with("nosoa") {
            response.metadata.response_code = ResponseCode::NXDomain;
            if name.starts_with("nx") {
                let zone = Name::from_ascii("test.").unwrap();
                let soa = SOA::new(
                    Name::from_ascii("ns.test.").unwrap(),
                    Name::from_ascii("admin.test.").unwrap(),
                    1,
                    3600,
                    600,
                    86400,
                    60,
                );
                response.add_authority(Record::from_rdata(zone, 3600, RData::SOA(soa)));
            }
        } else {
            let ttl = if name.starts_with("short") { 1 } else { 300 };
            let rdata = match rtype {
                RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                _ => RData::A(A(Ipv4Addr::LOCALHOST)),
            };
            response.add_answer(Record::from_rdata(query.name().clone(), ttl, rdata));
        }
        let bytes = response.to_vec().unwrap();
        let _ = socket.send_to(&bytes, peer).await;
    }
}
