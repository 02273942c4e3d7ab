//! Errors walked through `source()` say each fact once (issue 31): an
//! error either shows its cause in `Display` or returns it from
//! `source()`, never both, so `anyhow`'s `{:#}` and `tracing` (which join
//! each link's `Display` with `": "`) print every message once. The rule,
//! and which layer owns which text, is in `src/shared/report.rs`.

mod common;
mod dns_server;
mod support;

use std::error::Error as StdError;

use common::{refused, V4};
use dns_server::{DnsServer, Reply};
use tokio_endpoints::hickory_resolver::proto::op::ResponseCode;
use tokio_endpoints::{
    ConnectErrorKind, ConnectionBuilder, DatagramBuilder, Family, Resolve, ServerBuilder,
};

/// Every link's `Display`, outermost first.
fn links(e: &(dyn StdError + 'static)) -> Vec<String> {
    let mut links = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        links.push(s.to_string());
        source = s.source();
    }
    links
}

/// What `anyhow`'s `{:#}` prints: each link's `Display` joined with `": "`.
fn chain(e: &(dyn StdError + 'static)) -> String {
    links(e).join(": ")
}

/// No link repeats what the links above it said, and each of `facts`
/// appears exactly once in the whole chain (ignoring case: an OS error
/// reads `Connection refused` on its own, `connection refused` in ours).
fn says_once(e: &(dyn StdError + 'static), facts: &[&str]) {
    says_once_in(e, usize::MAX, facts)
}

/// [`says_once`] for the first `depth` links only (a dependency's error
/// below them may repeat itself: hickory's `NetError` does).
fn says_once_in(e: &(dyn StdError + 'static), depth: usize, facts: &[&str]) {
    let mut links: Vec<String> = links(e).iter().map(|l| l.to_lowercase()).collect();
    links.truncate(depth);
    for i in 1..links.len() {
        let above = links[..i].join(": ");
        assert!(
            !above.contains(&links[i]),
            "link {i} ({:?}) repeats what is above it: {above:?}",
            links[i]
        );
    }
    let whole = links.join(": ");
    for fact in facts {
        let fact = fact.to_lowercase();
        assert_eq!(whole.matches(&fact).count(), 1, "{fact:?} in {whole:?}");
    }
}

#[tokio::test]
async fn a_refused_connect_says_refused_once() {
    let e = ConnectionBuilder::new(refused(V4))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::AllAttemptsFailed);
    says_once(&e, &["connection refused"]);
    // Through io::Error (`?` in a function returning io::Result) too.
    let io = std::io::Error::from(e);
    says_once(&io, &["connection refused"]);
}

#[tokio::test]
async fn two_refused_attempts_say_each_once() {
    let port = refused(V4).port();
    let e = ConnectionBuilder::new(format!("localhost:{port}"))
        .all_errors(true)
        .connect()
        .await
        .unwrap_err();
    let addrs: Vec<String> = e.attempts().iter().map(|a| a.addr().to_string()).collect();
    assert!(!addrs.is_empty(), "{e}");
    let facts: Vec<&str> = addrs.iter().map(String::as_str).collect();
    says_once(&e, &facts);
}

#[tokio::test]
async fn an_nxdomain_chain_says_nxdomain_once() {
    let dns = DnsServer::start(|_, _| (0, Reply::Code(ResponseCode::NXDomain))).await;
    let e = ConnectionBuilder::new("nope.test:80")
        .resolver(dns.resolver())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::Resolve);
    assert_eq!(
        chain(&e),
        "connect to nope.test:80: cannot resolve nope.test: no such name (NXDOMAIN)"
    );
    says_once(&e, &["NXDOMAIN", "cannot resolve nope.test"]);
    // The resolver's error on its own: plain words, hickory's error behind
    // them, which does not say them again.
    let r = futures::StreamExt::collect::<Vec<_>>(dns.resolver().resolve("nope.test", Family::V4))
        .await;
    let err = r.into_iter().find_map(Result::err).expect("an error");
    says_once_in(&err, 2, &["no such name (NXDOMAIN)"]);
}

#[tokio::test]
async fn a_resolve_error_with_a_source_says_its_message_once() {
    use tokio_endpoints::{ResolveError, ResolveErrorKind};
    let cause = std::io::Error::other("SERVFAIL from 127.0.0.1:53");
    let e = ResolveError::new("example.com", ResolveErrorKind::ServerFailure).with_source(cause);
    says_once(&e, &["SERVFAIL from 127.0.0.1:53"]);
    // Words that replace the cause's message leave the cause as the source.
    let cause = std::io::Error::other("rcode 2");
    let e = ResolveError::new("example.com", ResolveErrorKind::ServerFailure)
        .with_reason("server failure (SERVFAIL)")
        .with_source(cause);
    assert_eq!(chain(&e), "example.com: server failure (SERVFAIL): rcode 2");
}

#[tokio::test]
async fn a_tls_failure_says_its_words_once_and_keeps_the_rustls_error() {
    let ca = support::Ca::new("trusted CA");
    let other = support::Ca::new("other CA");
    let leaf = other.leaf(&["localhost"]);
    let e = support::failing_handshake(ca.client_config(), leaf.server_config(&[]), |addr| {
        ConnectionBuilder::new(addr).server_name("localhost")
    })
    .await;
    says_once(&e, &["not signed by a trusted CA", "TLS handshake"]);
    // The words replace rustls's message; rustls's error is the source, for
    // programs that walk the chain for it (as reqwest's users do).
    let mut found = false;
    let mut source = e.source();
    while let Some(s) = source {
        found |= s.downcast_ref::<tokio_endpoints::rustls::Error>().is_some();
        source = s.source();
    }
    assert!(found, "no rustls error in {:?}", links(&e));
}

#[tokio::test]
async fn datagram_and_server_errors_say_their_cause_once() {
    let taken = std::net::UdpSocket::bind((V4, 0)).unwrap();
    let e = DatagramBuilder::new()
        .local_addr(taken.local_addr().unwrap())
        .bind()
        .await
        .unwrap_err();
    says_once(&e, &["address already in use"]);
    let held = std::net::TcpListener::bind((V4, 0)).unwrap();
    let e = ServerBuilder::new(held.local_addr().unwrap())
        .bind()
        .await
        .unwrap_err();
    says_once(&e, &["address already in use"]);
}
