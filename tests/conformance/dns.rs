//! The conformance suite's DNS server: a scripted authoritative server for
//! one case, on UDP and TCP port 53 of a loopback address inside the case's
//! network namespace.
//!
//! A [`Zone`] holds records (A, AAAA, CNAME, HTTPS) under exact owner names
//! or wildcard owners (`*.corp.example`), and per-(name, type) behaviours
//! that take precedence over the records: REFUSED, SERVFAIL, NXDOMAIN,
//! NODATA, silence (always, for the first N queries of a run, or for a
//! while from the start of a run), or truncation over UDP.
//!
//! Answers follow CNAME chains inside the zone's data; a name without
//! records of the asked type is NODATA, a name with no records at all (nor
//! records below it, an "empty non-terminal") is NXDOMAIN. Every negative
//! answer carries an SOA in its authority section with a minimum of
//! [`NEGATIVE_TTL`] seconds, which is what resolvers cache negative answers
//! for.
//!
//! A *run* is one resolver's turn at a step: [`Server::new_run`] resets
//! the per-run state (the "first N queries" counters, the "for a while"
//! clock, the log of queries) so getaddrinfo and our resolver each meet the
//! same behaviour. [`Server::recover`] ends every silence, SERVFAIL and
//! REFUSED for good (the server "comes back").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, SOA};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// The TTL of positive answers.
pub const TTL: u32 = 300;
/// The SOA minimum (and SOA TTL) of negative answers: an hour, as many
/// zones have; a resolver that caches a wrong NXDOMAIN keeps it this long.
pub const NEGATIVE_TTL: u32 = 3600;

/// What the server does with a query, instead of answering from its data.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// REFUSED, until [`Server::recover`].
    Refused,
    /// SERVFAIL, until [`Server::recover`].
    ServFail,
    /// NXDOMAIN (with an SOA), whatever the data says.
    NxDomain,
    /// NOERROR without answers (with an SOA), whatever the data says.
    NoData,
    /// No answer at all, until [`Server::recover`].
    Silent,
    /// No answer to the first `n` queries of each run; then the data.
    SilentFirst(usize),
    /// No answer for this long from the start of each run; then the data.
    SilentFor(Duration),
    /// Over UDP, an empty answer with the TC bit (ask again over TCP);
    /// over TCP, the data.
    Truncate,
}

/// One zone's records and behaviours. Names are matched without case and
/// without the trailing dot; an owner `*.suffix` matches any name below
/// `suffix` that has no records of its own.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    records: Vec<(String, RData)>,
    /// Per owner (exact or wildcard) and type (`None`: every type).
    behaviours: Vec<(String, Option<RecordType>, Behaviour)>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", norm(name))).expect("a valid name")
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// An A or AAAA record, by the address's family.
    pub fn addr(mut self, owner: &str, ip: &str) -> Zone {
        let rdata = match ip.parse::<IpAddr>().expect("an IP address") {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.records.push((norm(owner), rdata));
        self
    }

    /// A CNAME record.
    pub fn cname(mut self, owner: &str, target: &str) -> Zone {
        self.records
            .push((norm(owner), RData::CNAME(CNAME(fqdn(target)))));
        self
    }

    /// Any record (HTTPS records are built by the cases).
    pub fn record(mut self, owner: &str, rdata: RData) -> Zone {
        self.records.push((norm(owner), rdata));
        self
    }

    /// A behaviour for `owner`'s queries of type `rtype` (`None`: all).
    pub fn behave(mut self, owner: &str, rtype: Option<RecordType>, how: Behaviour) -> Zone {
        self.behaviours.push((norm(owner), rtype, how));
        self
    }

    /// Whether `owner` (an exact or wildcard owner) matches `name`.
    fn owner_matches(owner: &str, name: &str) -> bool {
        match owner.strip_prefix("*.") {
            Some(suffix) => name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}")),
            None => owner == name,
        }
    }

    /// Whether `name` has records of its own or below it (an empty
    /// non-terminal exists too).
    fn exists_exactly(&self, name: &str) -> bool {
        self.records.iter().any(|(owner, _)| {
            !owner.starts_with("*.") && (owner == name || owner.ends_with(&format!(".{name}")))
        })
    }

    /// The records that answer for `name`: its own, or those of the
    /// closest matching wildcard. `None`: the name does not exist.
    fn records_for(&self, name: &str) -> Option<Vec<&RData>> {
        if self.exists_exactly(name) {
            return Some(
                self.records
                    .iter()
                    .filter(|(owner, _)| owner == name)
                    .map(|(_, r)| r)
                    .collect(),
            );
        }
        let best = self
            .records
            .iter()
            .filter(|(owner, _)| owner.starts_with("*.") && Zone::owner_matches(owner, name))
            .map(|(owner, _)| owner.len())
            .max()?;
        Some(
            self.records
                .iter()
                .filter(|(owner, _)| owner.len() == best && Zone::owner_matches(owner, name))
                .map(|(_, r)| r)
                .collect(),
        )
    }

    /// The behaviour for a query, if one is set: an exact owner first.
    fn behaviour(&self, name: &str, rtype: RecordType) -> Option<&Behaviour> {
        let matching = |exact: bool| {
            self.behaviours.iter().find(|(owner, t, _)| {
                owner.starts_with("*.") != exact
                    && Zone::owner_matches(owner, name)
                    && t.is_none_or(|t| t == rtype)
            })
        };
        matching(true)
            .or_else(|| matching(false))
            .map(|(_, _, b)| b)
    }
}

/// One query the server received.
#[derive(Clone, Debug)]
pub struct Query {
    /// The address it was sent to.
    pub server: IpAddr,
    pub name: String,
    pub rtype: RecordType,
    pub tcp: bool,
}

#[derive(Default)]
struct State {
    /// Queries per (name, type) in this run, for `SilentFirst`.
    run_counts: HashMap<(String, RecordType), usize>,
    run_started: Option<Instant>,
    /// Every query of this run, in order.
    log: Vec<Query>,
    recovered: bool,
}

/// A running server (or several, on several addresses, sharing one zone
/// and one state).
#[derive(Clone)]
pub struct Server {
    zone: Arc<Zone>,
    /// Addresses whose server never answers (a server that is up but
    /// silent, as opposed to one that is down).
    mute: Arc<Vec<IpAddr>>,
    state: Arc<Mutex<State>>,
}

/// What to send back.
enum Reply {
    Drop,
    Message(Box<Message>),
}

impl Server {
    /// Serves `zone` on UDP and TCP port 53 of each of `addrs`, and
    /// nothing (queries are logged, never answered) on those of `mute`.
    pub async fn start(zone: Zone, addrs: &[IpAddr], mute: &[IpAddr]) -> std::io::Result<Server> {
        let server = Server {
            zone: Arc::new(zone),
            mute: Arc::new(mute.to_vec()),
            state: Arc::new(Mutex::new(State::default())),
        };
        server.new_run();
        for ip in addrs.iter().chain(mute) {
            let at = SocketAddr::new(*ip, 53);
            let udp = Arc::new(UdpSocket::bind(at).await?);
            let tcp = TcpListener::bind(at).await?;
            tokio::spawn(server.clone().serve_udp(udp, *ip));
            tokio::spawn(server.clone().serve_tcp(tcp, *ip));
        }
        Ok(server)
    }

    /// Starts a run: the per-run counters, clock and log start afresh.
    pub fn new_run(&self) {
        let mut state = self.state.lock().unwrap();
        state.run_counts.clear();
        state.log.clear();
        state.run_started = Some(Instant::now());
    }

    /// Ends every silence, SERVFAIL and REFUSED: the server answers from
    /// its data from now on.
    pub fn recover(&self) {
        self.state.lock().unwrap().recovered = true;
    }

    /// The queries of the current run.
    pub fn log(&self) -> Vec<Query> {
        self.state.lock().unwrap().log.clone()
    }

    async fn serve_udp(self, socket: Arc<UdpSocket>, at: IpAddr) {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Reply::Message(response) = self.reply(&request, at, false) {
                let mut bytes = response.to_vec().expect("an encodable answer");
                // Classic DNS over UDP holds 512 bytes, EDNS what the
                // client said: a longer answer goes out truncated.
                let limit = request
                    .edns
                    .as_ref()
                    .map_or(512, |e| usize::from(e.max_payload().max(512)));
                if bytes.len() > limit {
                    bytes = truncated(&request, &response);
                }
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    }

    async fn serve_tcp(self, listener: TcpListener, at: IpAddr) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let server = self.clone();
            tokio::spawn(async move {
                // Several queries may come on one connection (glibc sends
                // A and AAAA one after the other).
                loop {
                    let Ok(len) = stream.read_u16().await else {
                        return;
                    };
                    let mut buf = vec![0u8; usize::from(len)];
                    if stream.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    let Ok(request) = Message::from_vec(&buf) else {
                        return;
                    };
                    if let Reply::Message(response) = server.reply(&request, at, true) {
                        let bytes = response.to_vec().expect("an encodable answer");
                        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&bytes);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    }

    /// The answer to one query, logged.
    fn reply(&self, request: &Message, at: IpAddr, tcp: bool) -> Reply {
        let Some(query) = request.queries.first().cloned() else {
            return Reply::Drop;
        };
        let name = norm(&query.name().to_ascii());
        let rtype = query.query_type();
        let (nth, elapsed, recovered) = {
            let mut state = self.state.lock().unwrap();
            state.log.push(Query {
                server: at,
                name: name.clone(),
                rtype,
                tcp,
            });
            let count = state.run_counts.entry((name.clone(), rtype)).or_insert(0);
            *count += 1;
            let nth = *count;
            let elapsed = state.run_started.map_or(Duration::ZERO, |t| t.elapsed());
            (nth, elapsed, state.recovered)
        };
        if self.mute.contains(&at) {
            return Reply::Drop;
        }
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.edns = request.edns.clone();
        response.add_query(query.clone());
        let negative = |response: &mut Message, code: ResponseCode| {
            response.metadata.response_code = code;
            response.add_authority(soa_for(&name));
        };
        match self.zone.behaviour(&name, rtype) {
            Some(Behaviour::Refused) if !recovered => {
                response.metadata.response_code = ResponseCode::Refused;
                return Reply::Message(Box::new(response));
            }
            Some(Behaviour::ServFail) if !recovered => {
                response.metadata.response_code = ResponseCode::ServFail;
                return Reply::Message(Box::new(response));
            }
            Some(Behaviour::NxDomain) => {
                negative(&mut response, ResponseCode::NXDomain);
                return Reply::Message(Box::new(response));
            }
            Some(Behaviour::NoData) => {
                negative(&mut response, ResponseCode::NoError);
                return Reply::Message(Box::new(response));
            }
            Some(Behaviour::Silent) if !recovered => return Reply::Drop,
            Some(Behaviour::SilentFirst(n)) if !recovered && nth <= *n => return Reply::Drop,
            Some(Behaviour::SilentFor(d)) if !recovered && elapsed < *d => return Reply::Drop,
            Some(Behaviour::Truncate) if !tcp => {
                response.metadata.truncation = true;
                return Reply::Message(Box::new(response));
            }
            _ => {}
        }
        // The data, CNAME chains followed (at most 8 links).
        let mut current = name.clone();
        for _ in 0..8 {
            let Some(records) = self.zone.records_for(&current) else {
                negative(&mut response, ResponseCode::NXDomain);
                return Reply::Message(Box::new(response));
            };
            let owner = fqdn(&current);
            let cname = records.iter().find_map(|r| match r {
                RData::CNAME(target) if rtype != RecordType::CNAME => Some(target.0.clone()),
                _ => None,
            });
            if let Some(target) = cname {
                response.add_answer(Record::from_rdata(
                    owner,
                    TTL,
                    RData::CNAME(CNAME(target.clone())),
                ));
                current = norm(&target.to_ascii());
                continue;
            }
            let answers: Vec<Record> = records
                .into_iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| Record::from_rdata(owner.clone(), TTL, r.clone()))
                .collect();
            if answers.is_empty() {
                negative(&mut response, ResponseCode::NoError);
            } else {
                response.add_answers(answers);
            }
            return Reply::Message(Box::new(response));
        }
        response.metadata.response_code = ResponseCode::ServFail;
        Reply::Message(Box::new(response))
    }
}

/// The SOA of a negative answer for `name`: owned by its last label (or
/// the root), minimum [`NEGATIVE_TTL`].
fn soa_for(name: &str) -> Record {
    let apex = name.rsplit('.').next().unwrap_or("");
    let apex = if apex.is_empty() {
        Name::root()
    } else {
        fqdn(apex)
    };
    let soa = SOA::new(
        fqdn("ns.invalid"),
        fqdn("hostmaster.invalid"),
        1,
        3600,
        600,
        86400,
        NEGATIVE_TTL,
    );
    Record::from_rdata(apex, NEGATIVE_TTL, RData::SOA(soa))
}

/// An answer cut to its header and question, with the TC bit.
fn truncated(request: &Message, response: &Message) -> Vec<u8> {
    let mut cut = Message::response(request.metadata.id, request.metadata.op_code);
    cut.metadata = response.metadata;
    cut.metadata.truncation = true;
    cut.edns = response.edns.clone();
    for q in &request.queries {
        cut.add_query(q.clone());
    }
    cut.to_vec().expect("an encodable answer")
}
