//! The establishment report and its qlog trace, on loopback: a blackholed
//! `[::1]` and a working `127.0.0.1` behind an in-process DNS server (the
//! AAAA answer late, the A answer at once), then a second connect that
//! finds the answers in the resolver's cache and the winner in the
//! history; the callback through hyper-util's `Client`, once per
//! connection and never for a failed one.

#![cfg(feature = "hickory")]

mod common;
mod dns_server;
#[cfg(feature = "tls")]
mod support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{dual_stack_blackholed_v6, V4, V6};
use dns_server::{DnsServer, Reply};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, AAAA};
use tokio_endpoints::hickory_resolver::proto::rr::{RData, RecordType};
use tokio_endpoints::{
    AttemptOutcome, AttemptStage, ConnectionBuilder, Connector, Establishment, QlogSink,
};

/// The AAAA answer after 30 ms, the A answer at once, both loopback.
async fn dns() -> DnsServer {
    DnsServer::start(|_, rtype| match rtype {
        RecordType::AAAA => (
            30,
            Reply::Records(vec![RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))]),
        ),
        RecordType::A => (0, Reply::Records(vec![RData::A(A(Ipv4Addr::LOCALHOST))])),
        _ => (0, Reply::Records(Vec::new())),
    })
    .await
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The timeline's offsets, one per event line, in order.
fn offsets(report: &Establishment) -> Vec<f64> {
    report
        .to_string()
        .lines()
        .skip(1)
        .map(|line| {
            let (n, _) = line.trim_start().split_once(" ms  ").expect(line);
            n.parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_report_says_what_happened_and_the_qlog_too() {
    let dns = dns().await;
    let (listener, _blackhole, port) = dual_stack_blackholed_v6();
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            held.push(s);
        }
    });
    let told: Arc<Mutex<Vec<Establishment>>> = Arc::default();
    let seen = told.clone();
    let qlog = Shared::default();
    let connector = Connector::new()
        .resolver(dns.resolver())
        .on_established(move |r: &Establishment| seen.lock().unwrap().push(r.clone()))
        .qlog(QlogSink::new(qlog.clone()));

    // First: the AAAA answer is awaited (RFC 8305's resolution delay),
    // [::1] is tried first and hangs, 127.0.0.1 starts one delay later and
    // wins; [::1] is cancelled.
    let (stream, report) = connector
        .builder(("dual.test", port))
        .connect_reported()
        .await
        .unwrap();
    let v4 = SocketAddr::new(V4, port);
    let v6 = SocketAddr::new(V6, port);
    assert_eq!(stream.peer_addr().unwrap(), v4);
    assert_eq!(report.winner().addr(), v4);
    assert_eq!(report.target().to_string(), format!("dual.test:{port}"));
    let steps = report.resolution();
    assert_eq!(steps.len(), 2, "{report}");
    assert_eq!(steps[0].query(), "AAAA", "{report}");
    assert_eq!(steps[0].addrs(), &[v6]);
    assert_eq!(steps[1].query(), "A");
    assert_eq!(steps[1].addrs(), &[v4]);
    assert!(steps
        .iter()
        .all(|s| s.name() == "dual.test" && s.resolver() == "HickoryResolver"));
    assert!(steps.iter().all(|s| !s.cached()), "{report}");
    // The AAAA answer took its 30 ms.
    assert!(steps[0].at() >= Duration::from_millis(30), "{report}");
    let attempts = report.attempts();
    assert_eq!(attempts.len(), 2, "{report}");
    assert_eq!(attempts[0].addr(), v6);
    assert!(matches!(attempts[0].outcome(), AttemptOutcome::Cancelled));
    assert_eq!(attempts[0].stage(), AttemptStage::Tcp);
    assert_eq!(attempts[0].tcp_handshake(), None);
    assert!(attempts[0].started() >= steps[0].at());
    assert_eq!(attempts[1].addr(), v4);
    assert!(matches!(attempts[1].outcome(), AttemptOutcome::Won));
    let gap = attempts[1].started() - attempts[0].started();
    assert!(
        gap >= Duration::from_millis(250) && gap < Duration::from_millis(400),
        "{report}"
    );
    assert!(attempts[1].tcp_handshake().is_some());
    assert_eq!(report.delay(), Some(Duration::from_millis(250)));
    assert!(!report.adaptive_delay());
    assert_eq!(report.preferred(), None);
    assert!(report.tls().is_none());
    assert!(report.duration() >= attempts[1].started() + attempts[1].elapsed());
    // The timeline: in order, each offset where the report says.
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("connect to dual.test:{port}: {v4} won after ")),
        "{text}"
    );
    let at = offsets(&report);
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{text}");
    let order: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_once(" ms  ").unwrap().1)
        .collect();
    let expect = [
        "resolving dual.test (AAAA and A) with HickoryResolver".to_string(),
        format!("AAAA answer: {v6}"),
        format!("attempt 1 to {v6} started"),
        format!("A answer: {v4}"),
        format!("attempt 2 to {v4} started: the 250 ms delay passed"),
        format!("attempt 2 to {v4} won (TCP, after "),
        format!("attempt 1 to {v6} cancelled (TCP, after "),
    ];
    assert_eq!(order.len(), expect.len(), "{text}");
    for (line, want) in order.iter().zip(&expect) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} is not {want:?}\n{text}"
        );
    }
    assert!((at[4] - ms(attempts[1].started())).abs() < 0.001, "{text}");
    assert!(lines.len() <= 15);

    // Second: the answers come from the cache, both families in one batch
    // at once, and the history says the last winner should go first: so
    // 127.0.0.1 is the first and only attempt.
    let (stream, again) = connector
        .builder(("dual.test", port))
        .connect_reported()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), v4);
    let cached = again.resolution();
    assert_eq!(cached.len(), 1, "{again}");
    assert_eq!(cached[0].query(), "AAAA+A", "{again}");
    assert!(cached[0].cached(), "{again}");
    assert_eq!(cached[0].addrs(), &[v6, v4], "{again}");
    assert!(cached[0].at() < Duration::from_millis(20), "{again}");
    assert_eq!(again.attempts().len(), 1, "{again}");
    assert_eq!(again.attempts()[0].addr(), v4, "{again}");
    assert!(
        again
            .to_string()
            .contains(&format!("AAAA+A answer: {v6}, {v4}")),
        "{again}"
    );
    assert!(again.to_string().contains(" (at once)"), "{again}");
    assert_eq!(
        again.preferred(),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{again}"
    );
    assert!(
        again.to_string().contains("history: 127.0.0.1 first"),
        "{again}"
    );
    assert_eq!(again.winner().addr(), v4);
    assert_eq!(dns.count("dual.test", RecordType::AAAA), 1);
    assert_eq!(dns.count("dual.test", RecordType::A), 1);

    // A plain connect of the connector is reported too.
    let stream = connector.connect(("dual.test", port)).await.unwrap();
    assert_eq!(stream.peer_addr().unwrap(), v4);

    // Told once per connection, the same reports.
    {
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 3);
        assert_eq!(told[0].to_string(), report.to_string());
        assert_eq!(told[1].to_string(), again.to_string());
    }

    // The qlog: JSON text sequences, three traces, the draft's names,
    // monotonic times, the selected connection the one returned.
    let bytes = qlog.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).unwrap();
    let records: Vec<&str> = text.split('\u{1e}').collect();
    assert_eq!(records[0], "", "the sequence starts with RS");
    for r in &records[1..] {
        assert!(r.ends_with('\n'), "{r:?}");
    }
    let records = &records[1..];
    let headers: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.contains("\"file_schema\""))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(headers.len(), 3, "{text}");
    assert_eq!(headers[0], 0);
    let first: &[&str] = &records[..headers[1]];
    let names: Vec<String> = first[1..]
        .iter()
        .map(|r| {
            let at = r.find("\"name\":\"").unwrap() + 8;
            r[at..].split('"').next().unwrap().to_string()
        })
        .collect();
    let allowed = [
        "hev3:dns_query_started",
        "hev3:dns_query_finished",
        "hev3:candidate_discovered",
        "hev3:candidates_sorted",
        "hev3:attempt_started",
        "hev3:next_attempt_timer_set",
        "hev3:attempt_outcome",
        "hev3:connection_selected",
    ];
    assert!(
        names.iter().all(|n| allowed.contains(&n.as_str())),
        "{names:?}"
    );
    assert_eq!(names[0], "hev3:dns_query_started");
    assert_eq!(names.last().unwrap(), "hev3:attempt_outcome");
    let selected: Vec<&&str> = first
        .iter()
        .filter(|r| r.contains("hev3:connection_selected"))
        .collect();
    assert_eq!(selected.len(), 1);
    assert!(selected[0].contains(&format!("\"ip\":\"127.0.0.1\",\"port\":{port}")));
    assert!(records[0].contains("urn:ietf:params:qlog:events:hev3"));
    parse_with_python(&text);
    accept.abort();
}

/// Every record parses as JSON (python3's `json`), every event's time is
/// at or after the one before in its trace.
fn parse_with_python(text: &str) {
    let script = r#"
import json, sys
data = sys.stdin.buffer.read().decode()
assert data.startswith("\x1e"), "starts with RS"
last = None
for chunk in data.split("\x1e")[1:]:
    assert chunk.endswith("\n"), repr(chunk)
    rec = json.loads(chunk)
    if "file_schema" in rec:
        assert rec["serialization_format"] == "application/qlog+json-seq"
        assert "urn:ietf:params:qlog:events:hev3" in rec["trace"]["event_schemas"]
        last = None
        continue
    assert rec["name"].startswith("hev3:"), rec
    assert isinstance(rec["data"], dict), rec
    if last is not None:
        assert rec["time"] >= last, (rec, last)
    last = rec["time"]
print("ok")
"#;
    let child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped the JSON parse of the qlog: python3 is not installed");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 rejected the qlog: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A literal address: no resolution, one attempt, its TCP handshake.
#[tokio::test]
async fn a_literal_connect_reports_one_attempt() {
    let l = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let (stream, report) = ConnectionBuilder::new(addr)
        .connect_reported()
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    assert!(report.resolution().is_empty());
    assert_eq!(report.attempts().len(), 1);
    assert_eq!(report.winner().addr(), addr);
    assert!(report.winner().started() < Duration::from_millis(20));
    let text = report.to_string();
    assert!(text.contains(&format!("addresses given: {addr}")), "{text}");
    assert!(
        text.contains(&format!("attempt 1 to {addr} won (TCP")),
        "{text}"
    );
    // A failed call has no report: its error.
    let refused = common::refused(V4);
    let err = ConnectionBuilder::new(refused)
        .connect_reported()
        .await
        .unwrap_err();
    assert_eq!(err.attempts().len(), 1);
}

#[cfg(feature = "hyper")]
mod through_hyper {
    use super::*;

    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Empty, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_endpoints::HttpInfo;

    async fn hello(
        _: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        Ok(hyper::Response::new(Full::new(Bytes::from("hi"))))
    }

    /// The callback fires once per connection the client makes, with the
    /// report the response carries, and never for a connect that failed.
    #[tokio::test]
    async fn the_callback_fires_once_per_connection_of_a_hyper_client() {
        let listener = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hello))
                        .await;
                });
            }
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let count = calls.clone();
        let connector = Connector::new().on_established(move |_: &Establishment| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        let client: Client<Connector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        for path in ["/a", "/b", "/c"] {
            let uri: http::Uri = format!("http://{addr}{path}").parse().unwrap();
            let response = client.get(uri).await.unwrap();
            let info = response.extensions().get::<HttpInfo>().unwrap().clone();
            let report = info.establishment().expect("the connector records");
            assert_eq!(Some(report.winner().addr()), info.remote_addr());
            let _ = response.into_body().collect().await.unwrap();
        }
        // One pooled connection, one call.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A refused connect: an error, no call.
        let refused = common::refused(V4);
        let uri: http::Uri = format!("http://{refused}/").parse().unwrap();
        assert!(client.get(uri).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Without a callback, no report in the response.
        let plain: Client<Connector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(Connector::new());
        let uri: http::Uri = format!("http://{addr}/").parse().unwrap();
        let response = plain.get(uri).await.unwrap();
        let info = response.extensions().get::<HttpInfo>().unwrap();
        assert!(info.establishment().is_none());
    }
}

#[cfg(feature = "tls")]
mod over_tls {
    use super::*;

    use crate::support;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_endpoints::Resolver;

    /// `connect_tls_reported`: each attempt is TCP then TLS; the report
    /// has the winner's handshake (version, ALPN, time), and the second
    /// connection with the same configuration resumes.
    #[tokio::test]
    async fn a_tls_connect_reports_its_handshake() {
        let ca = support::Ca::new("report test CA");
        let config = ca.leaf(&["dual.test"]).server_config(&["h2"]);
        let (listener, _blackhole, port) = dual_stack_blackholed_v6();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.write_all(b"hi").await;
                        let _ = tls.flush().await;
                        let mut rest = Vec::new();
                        let _ = tls.read_to_end(&mut rest).await;
                    }
                });
            }
        });
        let qlog = Shared::default();
        let connector = Connector::new()
            .tls_config(ca.client_config())
            .alpn(["h2"])
            .resolver(Resolver::fixed([("dual.test", vec![V6, V4])]))
            .qlog(QlogSink::new(qlog.clone()));
        let v4 = SocketAddr::new(V4, port);
        let mut reports = Vec::new();
        for _ in 0..2 {
            let (mut tls, report) = connector
                .builder(("dual.test", port))
                .connect_tls_reported()
                .await
                .unwrap();
            let mut hi = [0u8; 2];
            tls.read_exact(&mut hi).await.unwrap();
            assert_eq!(tls.peer_addr().unwrap(), v4);
            assert_eq!(report.winner().addr(), v4);
            assert_eq!(report.winner().stage(), AttemptStage::Tls);
            let tcp = report.winner().tcp_handshake().expect("TCP completed");
            let tls_info = report.tls().expect("a TLS report");
            assert_eq!(tls_info.version(), Some("TLSv1_3"));
            assert_eq!(tls_info.alpn(), Some(&b"h2"[..]));
            assert_eq!(tls_info.handshake() + tcp, report.winner().elapsed());
            let text = report.to_string();
            assert!(
                text.contains(&format!("to {v4}: TCP connected after ")),
                "{text}"
            );
            assert!(text.contains("TLSv1_3, ALPN h2, "), "{text}");
            reports.push(report);
            tls.shutdown().await.unwrap();
        }
        assert!(!reports[0].tls().unwrap().resumed());
        assert!(reports[1].tls().unwrap().resumed(), "{}", reports[1]);
        let text = String::from_utf8(qlog.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("\"protocol\":\"tcp+tls\""), "{text}");
        assert!(
            text.contains("\"tls\":{\"version\":\"TLSv1_3\",\"alpn\":\"h2\""),
            "{text}"
        );
        parse_with_python(&text);
    }
}
