//! Two figures for `Connector` (issue 10), medians side by side in one run:
//!
//! 1. Connecting by name to a name resolved a moment ago, against a DNS
//!    server in this process that answers 5 ms late with TTL 300: the
//!    one-liner (`ConnectionBuilder::new(name).connect()`, default
//!    resolver), a `Connector`, a shared `Resolver`, a fresh resolver per
//!    call (what the one-liner did before), tokio's
//!    `TcpStream::connect((name, port))` (getaddrinfo), and the literal
//!    address. The one-liner and getaddrinfo read the system's
//!    configuration: as root on Linux, the bench enters a mount namespace
//!    of its own and bind-mounts a resolv.conf naming 127.0.0.1 over
//!    /etc/resolv.conf there (the real file is never touched, and the
//!    namespace ends with the process), with the DNS server on
//!    127.0.0.1:53. Otherwise those columns are skipped, and say so.
//! 2. Requests per second through hyper-util's `Client` with pooling off
//!    (a new connection per request) against a hyper server on loopback:
//!    `Connector` against hyper-util's `HttpConnector`.
//!
//! Run with `cargo bench -p tokio-endpoints-integration --bench connector` (a few
//! seconds). `CONNECTOR_NO_GAI=1` leaves out the getaddrinfo column, whose
//! 6 ms blocking calls leave the runtime idle before the next cases (their
//! connects then pay for waking it: compare the two runs).

// Shared with the root package's benches.
#[path = "../../benches/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::median;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_endpoints::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use tokio_endpoints::hickory_resolver::proto::op::Message;
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio_endpoints::{ConnectionBuilder, Connector, HickoryResolver, Resolver};

const DNS_DELAY: Duration = Duration::from_millis(5);
const TTL: u32 = 300;
const NAME: &str = "bench.test";
const CONNECTS: usize = 200;
const HTTP_ROUNDS: usize = 15;
const HTTP_REQUESTS: usize = 200;
#[cfg(target_os = "linux")]
const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

/// Enters a private mount namespace and puts a resolv.conf naming
/// 127.0.0.1 over /etc/resolv.conf, in it only. Must run before any thread
/// is started. `Err` says why not.
#[cfg(target_os = "linux")]
fn private_resolv_conf() -> Result<(), String> {
    use std::ffi::CString;
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let tmp = std::env::temp_dir().join(format!("te-bench-resolv-{}.conf", std::process::id()));
    std::fs::write(&tmp, RESOLV_CONF).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    let tmp_c = CString::new(tmp.to_str().unwrap()).unwrap();
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(err("unshare(CLONE_NEWNS)"));
        }
        // Nothing we mount from now on propagates out of this namespace.
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(err("make / private"));
        }
        if libc::mount(
            tmp_c.as_ptr(),
            c"/etc/resolv.conf".as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(err("bind-mount over /etc/resolv.conf"));
        }
    }
    let _ = std::fs::remove_file(&tmp);
    match std::fs::read_to_string("/etc/resolv.conf") {
        Ok(text) if text == RESOLV_CONF => Ok(()),
        _ => Err("/etc/resolv.conf does not read as ours".into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn private_resolv_conf() -> Result<(), String> {
    Err("not Linux".into())
}

/// A DNS server answering A 127.0.0.1 and AAAA ::1, `DNS_DELAY` late.
async fn dns_server(bind: SocketAddr) -> std::io::Result<SocketAddr> {
    let socket = Arc::new(UdpSocket::bind(bind).await?);
    let addr = socket.local_addr()?;
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
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DNS_DELAY).await;
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.edns = request.edns.clone();
                response.add_query(query.clone());
                let rdata = match query.query_type() {
                    RecordType::AAAA => Some(RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
                    RecordType::A => Some(RData::A(A(Ipv4Addr::LOCALHOST))),
                    _ => None,
                };
                if let Some(rdata) = rdata {
                    response.add_answer(Record::from_rdata(query.name().clone(), TTL, rdata));
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
            });
        }
    });
    Ok(addr)
}

fn hickory(dns: SocketAddr) -> HickoryResolver {
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let config =
        ResolverConfig::from_name_servers(vec![NameServerConfig::new(dns.ip(), true, vec![udp])]);
    let mut options = ResolverOpts::default();
    options.use_hosts_file = ResolveHosts::Never;
    HickoryResolver::with_config(config, options).unwrap()
}

/// A port with an accepting listener on both [::1] and 127.0.0.1.
async fn listeners() -> u16 {
    loop {
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l6.local_addr().unwrap().port();
        if let Ok(l4) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            for l in [l6, l4] {
                tokio::spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        drop(s);
                    }
                });
            }
            return port;
        }
    }
}

type Connect = Box<dyn Fn() -> futures::future::BoxFuture<'static, TcpStream>>;

async fn name_resolution(system: Result<(), String>) {
    let dns = match &system {
        Ok(()) => match dns_server("127.0.0.1:53".parse().unwrap()).await {
            Ok(addr) => Ok(addr),
            Err(e) => Err(format!("cannot serve DNS on 127.0.0.1:53: {e}")),
        },
        Err(e) => Err(e.clone()),
    };
    let (dns, system_ok) = match dns {
        Ok(addr) => (addr, true),
        Err(why) => {
            println!("one-liner and getaddrinfo columns skipped: {why}");
            (
                dns_server("127.0.0.1:0".parse().unwrap()).await.unwrap(),
                false,
            )
        }
    };
    let port = listeners().await;
    let literal = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let shared = Resolver::new(hickory(dns));
    let connector = Connector::new();
    let mut cases: Vec<(&str, Connect)> = vec![(
        "literal address",
        Box::new(move || {
            Box::pin(async move { ConnectionBuilder::new(literal).connect().await.unwrap() })
        }),
    )];
    {
        let shared = shared.clone();
        cases.push((
            "shared Resolver",
            Box::new(move || {
                let r = shared.clone();
                Box::pin(async move {
                    ConnectionBuilder::new((NAME, port))
                        .resolver(r)
                        .connect()
                        .await
                        .unwrap()
                })
            }),
        ));
    }
    {
        // Issue 32's figure: a cached name through a `Connector` (its
        // resolver a hickory one, cached after the warm-up), against the
        // same `Connector` to the literal address.
        let by_name = Connector::new().resolver(hickory(dns));
        let literal_connector = by_name.clone();
        cases.push((
            "Connector, hickory resolver (cached)",
            Box::new(move || {
                let c = by_name.clone();
                Box::pin(async move { c.connect((NAME, port)).await.unwrap() })
            }),
        ));
        cases.push((
            "Connector, literal address",
            Box::new(move || {
                let c = literal_connector.clone();
                Box::pin(async move { c.connect(literal).await.unwrap() })
            }),
        ));
    }
    cases.push((
        "fresh resolver per call (before)",
        Box::new(move || {
            Box::pin(async move {
                ConnectionBuilder::new((NAME, port))
                    .resolver(hickory(dns))
                    .connect()
                    .await
                    .unwrap()
            })
        }),
    ));
    if system_ok {
        cases.push((
            "one-liner (default resolver)",
            Box::new(move || {
                Box::pin(async move {
                    ConnectionBuilder::new((NAME, port))
                        .connect()
                        .await
                        .unwrap()
                })
            }),
        ));
        cases.push((
            "Connector::connect",
            Box::new(move || {
                let c = connector.clone();
                Box::pin(async move { c.connect((NAME, port)).await.unwrap() })
            }),
        ));
        if std::env::var_os("CONNECTOR_NO_GAI").is_none() {
            cases.push((
                "TcpStream::connect (getaddrinfo)",
                Box::new(move || {
                    Box::pin(async move { TcpStream::connect((NAME, port)).await.unwrap() })
                }),
            ));
        }
    }
    // Warm up (fills the caches), then interleave the cases.
    for (_, connect) in &cases {
        drop(connect().await);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(CONNECTS); cases.len()];
    for round in 0..CONNECTS {
        // Rotate who goes first: the first connect after an idle wait
        // (getaddrinfo's 5 ms) runs on colder caches.
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let connect = &cases[i].1;
            let t0 = Instant::now();
            let stream = connect().await;
            times[i].push(t0.elapsed().as_secs_f64() * 1000.0);
            drop(stream);
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let base = medians[0];
    println!(
        "connect by name, DNS {} ms late, TTL {TTL}: median of {CONNECTS} connects (loopback)",
        DNS_DELAY.as_millis()
    );
    println!(
        "{:<36} {:>10} {:>14} {:>8}",
        "", "median", "over literal", "ratio"
    );
    for ((name, _), m) in cases.iter().zip(&medians) {
        println!(
            "{name:<36} {m:>7.3} ms {:>11.3} ms {:>7.2}x",
            m - base,
            m / base
        );
    }
    let at = |name: &str| cases.iter().position(|(n, _)| *n == name).unwrap();
    let mut ratios: Vec<f64> = times[at("Connector, hickory resolver (cached)")]
        .iter()
        .zip(&times[at("Connector, literal address")])
        .map(|(a, b)| a / b)
        .collect();
    println!(
        "cached name through a Connector against a literal through it: {:.3}x \
         (median of per-round ratios; target <= 1.05x)",
        median(&mut ratios)
    );
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

async fn requests_per_second() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
    let uri: Uri = format!("http://{addr}/").parse().unwrap();
    let ours = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Empty<Bytes>>(Connector::new());
    let mut http = HttpConnector::new();
    http.set_nodelay(true); // as Connector's default
    let theirs = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Empty<Bytes>>(http);
    async fn round<C>(client: &Client<C, Empty<Bytes>>, uri: &Uri) -> f64
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let t0 = Instant::now();
        for _ in 0..HTTP_REQUESTS {
            let response = client.get(uri.clone()).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
        HTTP_REQUESTS as f64 / t0.elapsed().as_secs_f64()
    }
    round(&ours, &uri).await;
    round(&theirs, &uri).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..HTTP_ROUNDS {
        // Alternate who goes first.
        if i % 2 == 0 {
            a.push(round(&ours, &uri).await);
            b.push(round(&theirs, &uri).await);
        } else {
            b.push(round(&theirs, &uri).await);
            a.push(round(&ours, &uri).await);
        }
    }
    let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
    let per_round = median(&mut ratios);
    let (a, b) = (median(&mut a), median(&mut b));
    println!();
    println!(
        "hyper-util Client, pooling off (a new connection per request), HTTP/1.1 on loopback: \
         median of {HTTP_ROUNDS} rounds of {HTTP_REQUESTS} requests"
    );
    println!("{:<36} {:>12} {:>8}", "connector", "requests/s", "ratio");
    println!(
        "{:<36} {:>12.0} {:>7.3}x",
        "tokio_endpoints::Connector",
        a,
        a / b
    );
    println!(
        "{:<36} {:>12.0} {:>7.3}x",
        "hyper-util HttpConnector", b, 1.0
    );
    println!("median of the per-round ratios: {per_round:.3}x (target >= 0.97x)");
}

fn main() {
    // Before any thread exists: unshare(CLONE_NEWNS) needs it.
    let system = private_resolv_conf();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        name_resolution(system).await;
        requests_per_second().await;
    });
}
