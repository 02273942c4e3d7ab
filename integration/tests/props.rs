//! Property tests: whatever a user passes as a target, a local or remote
//! address or a server endpoint, and whatever a DNS server or an HTTPS
//! record says, nothing panics, every refusal is `InvalidInput` with a
//! message, and every call ends within a bound.
//!
//! No packet leaves loopback. The builders get a socket hook that fails
//! every socket before it is bound or connected (so an arbitrary valid IP
//! literal is never connected to, and never bound), and a resolver that
//! records what it is asked and answers loopback. The DNS properties talk
//! to a DNS server of their own on 127.0.0.1 that answers with generated
//! garbage; the addresses it hands out are only collected, or reach the
//! failing hook. The HTTPS-record property connects for real, but its
//! records' hints and ports are loopback ones only.

// Shared with the root package's tests.
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use proptest::prelude::*;
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::{Message, ResponseCode};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, Mandatory, SvcParamKey, SvcParamValue, Unknown, SVCB,
};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, HTTPS, NULL, SOA, TXT};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio_endpoints::{
    Addrs, ConnectErrorKind, ConnectionBuilder, Connector, DatagramBuilder, DatagramErrorKind,
    Family, HickoryResolver, IntoTarget, Resolve, Resolver, ServerBuilder, ServerErrorKind,
    ServiceRecord, Target,
};

/// How long any one call may take here.
const BOUND: Duration = Duration::from_secs(5);

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Fails every socket before it is bound or connected: nothing is sent.
fn no_packet(_: &socket2::Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "props: no socket of this test is bound or connected",
    ))
}

/// Records the names it is asked for and answers loopback.
#[derive(Debug, Clone, Default)]
struct Recorder {
    asked: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Resolve for Recorder {
    fn resolve(&self, host: &str, _family: Family) -> Addrs {
        self.asked.lock().unwrap().push(host.to_string());
        let ips = vec![
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ];
        stream::iter([Ok(ips)]).boxed()
    }
}

/// Pieces that make targets interesting: names, literals, brackets,
/// scopes, URLs, ports in and out of range.
fn host_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z_][a-zA-Z0-9-]{0,10}[a-z0-9](\\.[a-zA-Z0-9][a-zA-Z0-9-]{0,10}[a-z]){0,3}\\.?",
        1 => "[a-zA-Z0-9_-]{1,12}(\\.[a-zA-Z0-9_-]{1,12}){0,3}\\.?",
        1 => "\\[[0-9a-f:.]{2,20}\\]",
        1 => "[a-z]{1,70}",
        1 => "(25[0-9]|[12]?[0-9]{1,2})(\\.[0-9]{1,3}){0,4}",
        1 => Just("127.0.0.1".to_string()),
        1 => Just("::1".to_string()),
        1 => Just("[::1]".to_string()),
        1 => "\\[?fe80::[0-9a-f]{1,4}(%[0-9a-z]{0,3})?\\]?",
        1 => "[0-9a-f:]{0,20}",
        1 => "(https?|ftp)://[a-z.]{0,12}(/[a-z]*)?",
        1 => "[ -~]{0,20}",
        1 => "\\PC{0,8}",
        1 => Just(String::new()),
        1 => Just(".".to_string()),
        1 => Just("localhost".to_string()),
    ]
}

fn port_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (1u32..=65535).prop_map(|p| p.to_string()),
        1 => (65536u32..1_000_000).prop_map(|p| p.to_string()),
        1 => Just(String::new()),
        1 => "[0-9]{6,12}",
        1 => "-?[a-z+0-9]{1,6}",
        1 => Just("0".to_string()),
    ]
}

/// Strings given as a target: structured ones, and anything at all.
fn target_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (host_piece(), port_piece()).prop_map(|(h, p)| format!("{h}:{p}")),
        1 => (host_piece(), "[:\\]]{0,2}", port_piece()).prop_map(|(h, sep, p)| format!("{h}{sep}{p}")),
        1 => any::<String>(),
        1 => "[ -~]{0,40}",
    ]
}

/// What `into_target` said, the checks every refusal must pass, and the
/// `Display` round trip of an accepted target.
fn check_target(
    parsed: &Result<Target, tokio_endpoints::TargetError>,
) -> Result<(), TestCaseError> {
    match parsed {
        Err(e) => prop_assert!(!e.reason().trim().is_empty(), "{e:?}"),
        Ok(t) => {
            let shown = t.to_string();
            let again = shown.as_str().into_target();
            prop_assert_eq!(again.as_ref(), Ok(t), "{}", shown);
            if let Some(host) = t.host() {
                prop_assert!(
                    host.parse::<IpAddr>().is_err(),
                    "a literal as a host: {}",
                    host
                );
            }
        }
    }
    Ok(())
}

/// Connects through `builder` (with the failing hook and the recorder)
/// and checks the outcome against what the target parser said.
async fn check_connect(
    builder: ConnectionBuilder,
    parsed: &Result<Target, tokio_endpoints::TargetError>,
    recorder: &Recorder,
) -> Result<(), TestCaseError> {
    let asked_before = recorder.asked().len();
    let result = tokio::time::timeout(BOUND, builder.connect()).await;
    let Ok(result) = result else {
        return Err(TestCaseError::fail("connect did not end within the bound"));
    };
    let err = match result {
        Ok(stream) => {
            return Err(TestCaseError::fail(format!(
                "connected to {:?} through a failing hook",
                stream.peer_addr()
            )))
        }
        Err(err) => err,
    };
    let asked = recorder.asked()[asked_before..].to_vec();
    match parsed {
        Err(_) => {
            prop_assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
            prop_assert_eq!(err.io_kind(), io::ErrorKind::InvalidInput, "{}", err);
            prop_assert!(!err.to_string().trim().is_empty());
            prop_assert!(
                asked.is_empty(),
                "a refused target reached the resolver: {:?}",
                asked
            );
        }
        Ok(t) if t.port() == 0 => {
            prop_assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
            prop_assert!(asked.is_empty());
        }
        Ok(t) => {
            prop_assert_ne!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
            prop_assert_eq!(err.target(), t.to_string());
            match t.host() {
                // An absolute name reaches the resolver with its dot.
                Some(host) if t.is_absolute() => prop_assert_eq!(asked, vec![format!("{host}.")]),
                Some(host) => prop_assert_eq!(asked, vec![host.to_string()]),
                None => prop_assert!(asked.is_empty(), "a literal reached the resolver"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(160))]

    /// `ConnectionBuilder::new`, `Connector::connect` and
    /// `Connector::builder` with any string.
    #[test]
    fn any_string_as_a_target(s in target_string()) {
        let parsed = s.as_str().into_target();
        check_target(&parsed)?;
        rt().block_on(async {
            let recorder = Recorder::default();
            let b = ConnectionBuilder::new(s.as_str())
                .resolver(recorder.clone())
                .socket_hook(no_packet);
            check_connect(b, &parsed, &recorder).await?;
            let connector = Connector::new().resolver(recorder.clone()).socket_hook(no_packet);
            check_connect(connector.builder(s.clone()), &parsed, &recorder).await?;
            let err = tokio::time::timeout(BOUND, connector.connect(&s)).await
                .map_err(|_| TestCaseError::fail("connect did not end"))?
                .unwrap_err();
            prop_assert_eq!(
                err.kind() == ConnectErrorKind::InvalidInput,
                parsed.as_ref().map_or(true, |t| t.port() == 0),
                "{}", err
            );
            Ok(())
        })?;
    }

    /// `(host, port)` tuples.
    #[test]
    fn any_host_and_port(host in prop_oneof![host_piece(), any::<String>()], port in any::<u16>()) {
        let parsed = (host.as_str(), port).into_target();
        check_target(&parsed)?;
        prop_assert_eq!(&(host.clone(), port).into_target(), &parsed);
        rt().block_on(async {
            let recorder = Recorder::default();
            let b = ConnectionBuilder::new((host.as_str(), port))
                .resolver(recorder.clone())
                .socket_hook(no_packet);
            check_connect(b, &parsed, &recorder).await
        })?;
    }

    /// `ConnectionBuilder::local_addr` and `Connector::local_addr` with
    /// any string.
    #[test]
    fn any_string_as_a_local_address(local in target_string()) {
        let literal = local.parse::<SocketAddr>().is_ok() || local.parse::<IpAddr>().is_ok();
        rt().block_on(async {
            let targets: Vec<SocketAddr> =
                vec!["[::1]:9".parse().unwrap(), "127.0.0.1:9".parse().unwrap()];
            let builders = [
                ConnectionBuilder::new(targets.clone())
                    .local_addr(local.as_str())
                    .socket_hook(no_packet),
                Connector::new()
                    .local_addr(local.as_str())
                    .socket_hook(no_packet)
                    .builder(targets.clone()),
            ];
            for b in builders {
                let err = tokio::time::timeout(BOUND, b.connect()).await
                    .map_err(|_| TestCaseError::fail("connect did not end"))?
                    .unwrap_err();
                if !literal {
                    prop_assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
                    prop_assert!(err.to_string().contains("local_addr"), "{}", err);
                } else if err.kind() != ConnectErrorKind::InvalidInput {
                    // Accepted: the attempts reached the hook, and no further.
                    prop_assert!(!err.attempts().is_empty(), "{}", err);
                    for a in err.attempts() {
                        prop_assert_eq!(a.error().kind(), io::ErrorKind::PermissionDenied);
                    }
                }
                let io = io::Error::from(err);
                if io.kind() == io::ErrorKind::InvalidInput {
                    prop_assert!(!io.to_string().trim().is_empty());
                }
            }
            Ok(())
        })?;
    }

    /// `DatagramBuilder::local_addr` and `remote_addr` with any strings.
    #[test]
    fn any_strings_as_datagram_addresses(
        local in prop::option::of(target_string()),
        remote in prop::option::of(target_string()),
    ) {
        let bad = |s: &Option<String>| s.as_deref().is_some_and(|s| s.into_target().is_err());
        let refused = bad(&local) || bad(&remote);
        rt().block_on(async {
            let recorder = Recorder::default();
            let mut b = DatagramBuilder::new().resolver(recorder.clone()).socket_hook(no_packet);
            if let Some(l) = &local {
                b = b.local_addr(l.as_str());
            }
            if let Some(r) = &remote {
                b = b.remote_addr(r.clone());
            }
            let result = tokio::time::timeout(BOUND, b.bind()).await
                .map_err(|_| TestCaseError::fail("bind did not end"))?;
            let err = match result {
                Ok(socket) => return Err(TestCaseError::fail(format!(
                    "bound {:?} through a failing hook", socket.local_addr()
                ))),
                Err(err) => err,
            };
            if refused {
                prop_assert_eq!(err.kind(), DatagramErrorKind::InvalidInput, "{}", err);
                prop_assert_eq!(err.io_kind(), io::ErrorKind::InvalidInput);
                prop_assert!(!err.to_string().trim().is_empty());
                prop_assert!(recorder.asked().is_empty(), "{:?}", recorder.asked());
            }
            for host in recorder.asked() {
                prop_assert!(host.parse::<IpAddr>().is_err(), "a literal was resolved: {}", host);
            }
            Ok(())
        })?;
    }

    /// `ServerBuilder::new` with any string or `(host, port)`.
    #[test]
    fn any_string_as_a_server_endpoint(s in target_string(), port in any::<u16>()) {
        rt().block_on(async {
            for (parsed, b) in [
                (s.as_str().into_target(), ServerBuilder::new(s.as_str())),
                ((s.as_str(), port).into_target(), ServerBuilder::new((s.as_str(), port))),
            ] {
                let recorder = Recorder::default();
                let b = b.resolver(recorder.clone()).socket_hook(no_packet);
                let result = tokio::time::timeout(BOUND, b.bind()).await
                    .map_err(|_| TestCaseError::fail("bind did not end"))?;
                let err = match result {
                    Ok(l) => return Err(TestCaseError::fail(format!(
                        "listening on {:?} through a failing hook", l.local_addrs()
                    ))),
                    Err(err) => err,
                };
                if parsed.is_err() {
                    prop_assert_eq!(err.kind(), ServerErrorKind::InvalidInput, "{}", err);
                    prop_assert_eq!(err.io_kind(), io::ErrorKind::InvalidInput);
                    prop_assert!(!err.to_string().trim().is_empty());
                    prop_assert!(recorder.asked().is_empty());
                } else {
                    prop_assert_ne!(err.kind(), ServerErrorKind::InvalidInput, "{}", err);
                }
            }
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------
// Arbitrary DNS answers, from a DNS server on 127.0.0.1.

/// A name a generated record refers to.
#[derive(Clone, Debug)]
enum NameSel {
    /// The name that was asked for.
    Query,
    /// `o{n}.c{case}.fuzz.test.`
    Other(u8),
    /// The root (".": "the owner itself" in an HTTPS target).
    Root,
}

#[derive(Clone, Debug)]
enum Param {
    Port(u16),
    Alpn(Vec<String>),
    NoDefaultAlpn,
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
    Ech(Vec<u8>),
    Mandatory(Vec<u16>),
    Unknown(u16, Vec<u8>),
}

#[derive(Clone, Debug)]
enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(NameSel),
    Https(u16, NameSel, Vec<Param>),
    /// HTTPS RDATA that is not one.
    BadHttps(Vec<u8>),
    Txt(String),
    Null(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Rec {
    owner: NameSel,
    ttl: u32,
    data: Data,
}

#[derive(Clone, Debug)]
enum Reply {
    /// No answer at all (the resolver's timeout).
    Silent,
    /// Bytes that may not be DNS; with the query's id first, or not.
    Garbage { bytes: Vec<u8>, keep_id: bool },
    /// A DNS message: any code, the TC bit, a wrong id, records of any
    /// type and owner (CNAME loops among them), an SOA, cut short.
    Message {
        rcode: u16,
        tc: bool,
        id_xor: u16,
        answers: Vec<Rec>,
        soa_minimum: Option<u32>,
        cut: Option<usize>,
    },
}

fn name_sel() -> impl Strategy<Value = NameSel> {
    prop_oneof![
        3 => Just(NameSel::Query),
        2 => (0u8..3).prop_map(NameSel::Other),
        1 => Just(NameSel::Root),
    ]
}

fn param() -> impl Strategy<Value = Param> {
    prop_oneof![
        any::<u16>().prop_map(Param::Port),
        prop::collection::vec("[ -~]{0,8}", 0..3).prop_map(Param::Alpn),
        Just(Param::NoDefaultAlpn),
        prop::collection::vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 0..3).prop_map(Param::V4),
        prop::collection::vec(any::<[u8; 16]>().prop_map(Ipv6Addr::from), 0..3).prop_map(Param::V6),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Param::Ech),
        prop::collection::vec(0u16..10, 0..3).prop_map(Param::Mandatory),
        (8u16..70, prop::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(k, v)| Param::Unknown(k, v)),
    ]
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        3 => any::<[u8; 4]>().prop_map(|b| Data::A(Ipv4Addr::from(b))),
        3 => any::<[u8; 16]>().prop_map(|b| Data::Aaaa(Ipv6Addr::from(b))),
        2 => name_sel().prop_map(Data::Cname),
        4 => (0u16..4, name_sel(), prop::collection::vec(param(), 0..5))
            .prop_map(|(p, t, ps)| Data::Https(p, t, ps)),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Data::BadHttps),
        1 => "[ -~]{0,20}".prop_map(Data::Txt),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Data::Null),
    ]
}

fn ttl() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        1u32..600,
        Just(u32::MAX),
        Just(0x7fff_ffff),
        any::<u32>()
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let message = (
        prop_oneof![4 => Just(0u16), 1 => 1u16..6, 1 => any::<u16>().prop_map(|c| c % 4096)],
        prop::bool::weighted(0.15),
        prop_oneof![9 => Just(0u16), 1 => 1u16..=u16::MAX],
        prop::collection::vec(
            (name_sel(), ttl(), data()).prop_map(|(owner, ttl, data)| Rec { owner, ttl, data }),
            0..6,
        ),
        prop::option::weighted(0.2, ttl()),
        prop::option::weighted(0.15, 0usize..200),
    )
        .prop_map(
            |(rcode, tc, id_xor, answers, soa_minimum, cut)| Reply::Message {
                rcode,
                tc,
                id_xor,
                answers,
                soa_minimum,
                cut,
            },
        );
    prop_oneof![
        1 => Just(Reply::Silent),
        2 => (prop::collection::vec(any::<u8>(), 0..64), any::<bool>())
            .prop_map(|(bytes, keep_id)| Reply::Garbage { bytes, keep_id }),
        12 => message,
    ]
}

/// What the server answers now: per query type, for names of this case.
#[derive(Clone, Debug, Default)]
struct Script {
    case: usize,
    /// Replies by query type: AAAA, A, HTTPS, anything else.
    replies: Vec<Reply>,
}

struct FuzzDns {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl FuzzDns {
    fn get() -> &'static FuzzDns {
        static DNS: OnceLock<FuzzDns> = OnceLock::new();
        DNS.get_or_init(|| {
            let script = Arc::new(Mutex::new(Script::default()));
            let socket = rt().block_on(UdpSocket::bind("127.0.0.1:0")).unwrap();
            let addr = socket.local_addr().unwrap();
            rt().spawn(serve(socket, script.clone()));
            FuzzDns { addr, script }
        })
    }

    fn resolver(&self) -> HickoryResolver {
        let mut udp = ConnectionConfig::udp();
        udp.port = self.addr.port();
        let server = NameServerConfig::new(self.addr.ip(), true, vec![udp]);
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_millis(30);
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        HickoryResolver::with_config(ResolverConfig::from_name_servers(vec![server]), options)
            .unwrap()
            .fit_network(false)
    }
}

fn name_of(sel: &NameSel, query: &Name, case: usize) -> Name {
    match sel {
        NameSel::Query => query.clone(),
        NameSel::Other(n) => Name::from_ascii(format!("o{n}.c{case}.fuzz.test.")).unwrap(),
        NameSel::Root => Name::root(),
    }
}

fn rdata(data: &Data, query: &Name, case: usize) -> RData {
    match data {
        Data::A(ip) => RData::A(A(*ip)),
        Data::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        Data::Cname(n) => RData::CNAME(CNAME(name_of(n, query, case))),
        Data::Https(priority, target, params) => {
            let params = params
                .iter()
                .map(|p| match p {
                    Param::Port(p) => (SvcParamKey::Port, SvcParamValue::Port(*p)),
                    Param::Alpn(a) => (SvcParamKey::Alpn, SvcParamValue::Alpn(Alpn(a.clone()))),
                    Param::NoDefaultAlpn => {
                        (SvcParamKey::NoDefaultAlpn, SvcParamValue::NoDefaultAlpn)
                    }
                    Param::V4(ips) => (
                        SvcParamKey::Ipv4Hint,
                        SvcParamValue::Ipv4Hint(IpHint(ips.iter().map(|ip| A(*ip)).collect())),
                    ),
                    Param::V6(ips) => (
                        SvcParamKey::Ipv6Hint,
                        SvcParamValue::Ipv6Hint(IpHint(ips.iter().map(|ip| AAAA(*ip)).collect())),
                    ),
                    Param::Ech(b) => (
                        SvcParamKey::EchConfigList,
                        SvcParamValue::EchConfigList(EchConfigList(b.clone())),
                    ),
                    Param::Mandatory(keys) => (
                        SvcParamKey::Mandatory,
                        SvcParamValue::Mandatory(Mandatory(
                            keys.iter().map(|k| SvcParamKey::from(*k)).collect(),
                        )),
                    ),
                    Param::Unknown(k, v) => (
                        SvcParamKey::from(*k),
                        SvcParamValue::Unknown(Unknown(v.clone())),
                    ),
                })
                .collect();
            RData::HTTPS(HTTPS(SVCB::new(
                *priority,
                name_of(target, query, case),
                params,
            )))
        }
        Data::BadHttps(bytes) => RData::Unknown {
            code: RecordType::HTTPS,
            rdata: NULL::with(bytes.clone()),
        },
        Data::Txt(s) => RData::TXT(TXT::new(vec![s.clone()])),
        Data::Null(bytes) => RData::NULL(NULL::with(bytes.clone())),
    }
}

async fn serve(socket: UdpSocket, script: Arc<Mutex<Script>>) {
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
        let script = script.lock().unwrap().clone();
        let index = match query.query_type() {
            RecordType::AAAA => 0,
            RecordType::A => 1,
            RecordType::HTTPS => 2,
            _ => 3,
        };
        let Some(reply) = script.replies.get(index) else {
            continue;
        };
        let id = request.metadata.id;
        let bytes = match reply {
            Reply::Silent => continue,
            Reply::Garbage { bytes, keep_id } => {
                let mut out = Vec::new();
                if *keep_id {
                    out.extend_from_slice(&id.to_be_bytes());
                }
                out.extend_from_slice(bytes);
                out
            }
            Reply::Message {
                rcode,
                tc,
                id_xor,
                answers,
                soa_minimum,
                cut,
            } => {
                let mut response = Message::response(id ^ id_xor, request.metadata.op_code);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.metadata.truncation = *tc;
                response.metadata.response_code =
                    ResponseCode::from((*rcode >> 4) as u8, (*rcode & 0xf) as u8);
                response.edns = request.edns.clone();
                response.add_query(query.clone());
                for rec in answers {
                    let owner = name_of(&rec.owner, query.name(), script.case);
                    response.add_answer(Record::from_rdata(
                        owner,
                        rec.ttl,
                        rdata(&rec.data, query.name(), script.case),
                    ));
                }
                if let Some(minimum) = soa_minimum {
                    let soa = SOA::new(
                        Name::from_ascii("ns.fuzz.test.").unwrap(),
                        Name::from_ascii("admin.fuzz.test.").unwrap(),
                        1,
                        3600,
                        600,
                        86400,
                        *minimum,
                    );
                    response.add_authority(Record::from_rdata(
                        Name::from_ascii("fuzz.test.").unwrap(),
                        *minimum,
                        RData::SOA(soa),
                    ));
                }
                let Ok(mut bytes) = response.to_vec() else {
                    // Some generated parameters do not encode: send what a
                    // broken server would, the header alone.
                    let mut bytes = id.to_be_bytes().to_vec();
                    bytes.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
                    let _ = socket.send_to(&bytes, peer).await;
                    continue;
                };
                if let Some(cut) = cut {
                    bytes.truncate(*cut);
                }
                bytes
            }
        };
        let _ = socket.send_to(&bytes, peer).await;
    }
}

static CASE: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(config(64))]

    /// Whatever the DNS server says, the hickory resolver's streams (with
    /// its HTTPS record handling) end within the bound without a panic, and
    /// a connect_tls through it (HTTPS records merged into the race,
    /// sockets stopped by the failing hook) ends too.
    #[test]
    fn arbitrary_dns_answers(replies in prop::collection::vec(reply(), 4)) {
        let dns = FuzzDns::get();
        let case = CASE.fetch_add(1, Ordering::SeqCst);
        *dns.script.lock().unwrap() = Script { case, replies };
        let resolver = dns.resolver();
        rt().block_on(async {
            let host = format!("c{case}.fuzz.test");
            let items = tokio::time::timeout(
                BOUND,
                resolver.resolve_service(&host, 443, Family::Any).collect::<Vec<_>>(),
            ).await;
            prop_assert!(items.is_ok(), "resolve_service did not end");
            for item in items.unwrap().into_iter().filter_map(Result::err) {
                prop_assert!(!item.to_string().is_empty());
            }
            let addrs = tokio::time::timeout(
                BOUND,
                resolver.resolve(&format!("a.{host}"), Family::Any).collect::<Vec<_>>(),
            ).await;
            prop_assert!(addrs.is_ok(), "resolve did not end");
            let err = tokio::time::timeout(
                BOUND,
                ConnectionBuilder::new(format!("b.{host}:8443"))
                    .resolver(resolver.clone())
                    .socket_hook(no_packet)
                    .connect_tls(),
            ).await;
            let Ok(Err(err)) = err else {
                return Err(TestCaseError::fail(format!("connect_tls: {err:?}")));
            };
            prop_assert_ne!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------
// Arbitrary HTTPS records, straight to the race's record handling, with
// real loopback connections and TLS handshakes.

/// Where the loopback ends of the HTTPS-record property are.
struct Loopback {
    /// Accepts and closes at once (the TLS handshake then fails).
    open: u16,
    /// Nothing listens.
    closed: u16,
}

fn loopback() -> &'static Loopback {
    static LOOPBACK: OnceLock<Loopback> = OnceLock::new();
    LOOPBACK.get_or_init(|| {
        let listener = rt()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let open = listener.local_addr().unwrap().port();
        rt().spawn(async move {
            loop {
                if let Ok((conn, _)) = listener.accept().await {
                    drop(conn);
                }
            }
        });
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Loopback { open, closed }
    })
}

/// A ServiceRecord whose addresses and ports are loopback ones only.
fn service_record() -> impl Strategy<Value = ServiceRecord> {
    let target = prop_oneof![
        4 => Just(".".to_string()),
        1 => Just("svc.test".to_string()),
        2 => Just("alias.test".to_string()),
        1 => Just("nowhere.test".to_string()),
        1 => "[a-z.]{0,10}",
        1 => "\\PC{0,6}",
    ];
    let port = prop_oneof![
        Just(None),
        Just(Some(0u8)),
        Just(Some(1u8)),
        Just(Some(2u8))
    ];
    (
        0u16..4,
        target,
        port,
        prop_oneof![
            3 => Just(None),
            2 => prop::sample::subsequence(vec![b"h2".to_vec(), b"http/1.1".to_vec()], 0..=2).prop_map(Some),
            1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..3).prop_map(Some),
        ],
        any::<bool>(),
        prop::collection::vec(0u8..4, 0..3),
        0usize..3,
        prop::option::weighted(0.3, prop::collection::vec(any::<u8>(), 0..48)),
    )
        .prop_map(|(priority, target, port, alpn, no_default, v4, v6, ech)| {
            let lo = loopback();
            let mut r = ServiceRecord::new(priority, target);
            match port {
                Some(0) => r = r.with_port(lo.open),
                Some(1) => r = r.with_port(lo.closed),
                Some(_) => r = r.with_port(0),
                None => {}
            }
            if let Some(alpn) = alpn {
                r = r.with_alpn(alpn);
            }
            if no_default {
                r = r.with_no_default_alpn();
            }
            r = r.with_ipv4_hints(v4.into_iter().map(|n| Ipv4Addr::new(127, 0, 0, 1 + n)));
            r = r.with_ipv6_hints(std::iter::repeat_n(Ipv6Addr::LOCALHOST, v6));
            if let Some(ech) = ech {
                r = r.with_ech(ech);
            }
            r
        })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn arbitrary_service_records(
        records in prop::collection::vec(service_record(), 0..6),
        alias_records in prop::collection::vec(service_record(), 0..3),
        alpn in prop::option::of(prop::collection::vec("[a-z0-9/.]{1,8}", 1..3)),
        names_resolve in any::<bool>(),
    ) {
        let lo = loopback();
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut table = vec![("svc.test", vec![v6, v4])];
        if names_resolve {
            table.push(("alias.test", vec![v4]));
        }
        let resolver = Resolver::fixed_with_services(
            table,
            [("svc.test", records), ("alias.test", alias_records)],
        );
        let ca = ca();
        rt().block_on(async {
            let mut b = ConnectionBuilder::new(format!("svc.test:{}", lo.open))
                .resolver(resolver)
                .tls_config(ca.client_config())
                .tls_handshake_timeout(Duration::from_secs(2))
                .connect_timeout(Duration::from_secs(4))
                .happy_eyeballs(Duration::from_millis(10));
            if let Some(alpn) = alpn {
                b = b.alpn(alpn);
            }
            let result = tokio::time::timeout(BOUND, b.connect_tls()).await;
            let Ok(result) = result else {
                return Err(TestCaseError::fail("connect_tls did not end"));
            };
            // The only server closes every connection: no handshake succeeds.
            let err = result.map(|_| ()).unwrap_err();
            prop_assert_ne!(err.kind(), ConnectErrorKind::InvalidInput, "{}", err);
            for a in err.attempts() {
                prop_assert!(a.addr().ip().is_loopback(), "{}", a.addr());
            }
            Ok(())
        })?;
    }
}

fn ca() -> &'static support::Ca {
    static CA: OnceLock<support::Ca> = OnceLock::new();
    CA.get_or_init(|| support::Ca::new("props CA"))
}
