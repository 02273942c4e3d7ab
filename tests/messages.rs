//! What the errors say, read as a user reads them: `Display` lines, the
//! `{:?}` report that `fn main() -> std::io::Result<()>` prints, and URLs
//! given as targets. Loopback only.

mod common;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{refused, V4, V6};
use futures::stream::{self, StreamExt};
use tokio_endpoints::{
    Addrs, ConnectErrorKind, ConnectionBuilder, Connector, DatagramBuilder, DatagramErrorKind,
    Family, Resolve, ServerBuilder, ServerErrorKind,
};

/// A duration as the crate's messages print it: `0.21 ms`, `12 ms`,
/// `1.25 s`, trailing zeros dropped.
fn shown(d: Duration) -> String {
    let (v, unit) = if d < Duration::from_millis(10) {
        (format!("{:.2}", d.as_secs_f64() * 1e3), "ms")
    } else if d < Duration::from_secs(1) {
        (format!("{:.0}", d.as_secs_f64() * 1e3), "ms")
    } else {
        (format!("{:.2}", d.as_secs_f64()), "s")
    };
    let v = if v.contains('.') {
        v.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        v
    };
    format!("{v} {unit}")
}

#[tokio::test]
async fn a_two_attempt_failure_prints_as_a_report() {
    let a = refused(V6);
    let b = refused(V4);
    let err = ConnectionBuilder::new(vec![a, b])
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllAttemptsFailed);
    assert_eq!(
        err.to_string(),
        format!("connect to [{a}, {b}]: connection refused (2 attempts)")
    );
    let report = format!("{err:?}");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 4, "{report}");
    assert_eq!(lines[0], err.to_string());
    assert_eq!(lines[1], "  attempts:");
    for (line, attempt) in lines[2..].iter().zip(err.attempts()) {
        let code = attempt.error().raw_os_error().unwrap();
        assert_eq!(
            *line,
            format!(
                "    {} (TCP, at +{}, after {}): connection refused (os error {code})",
                attempt.addr(),
                shown(attempt.started()),
                shown(attempt.elapsed())
            )
        );
        // Loopback refusals take well under 10 ms: the timings show
        // hundredths of a millisecond, not "0ms".
        assert!(attempt.elapsed() < Duration::from_millis(10));
        assert!(line.contains(" ms, after "), "{line}");
    }
    assert_eq!(err.attempts()[0].addr(), a);
    assert_eq!(err.attempts()[1].addr(), b);
    // `{:#?}` stays structured.
    assert!(format!("{err:#?}").starts_with("ConnectError {\n"));

    // What `fn main() -> io::Result<()>` prints after "Error: " for the
    // io::Error made from it: std's wrapper around the same report.
    let io_err = io::Error::from(err);
    assert_eq!(
        format!("{io_err:?}"),
        format!("Custom {{ kind: ConnectionRefused, error: {report} }}")
    );
    assert_eq!(io_err.to_string(), lines[0]);
}

#[tokio::test]
async fn all_errors_lists_each_attempt_with_its_timing() {
    let a = refused(V6);
    let b = refused(V4);
    let err = ConnectionBuilder::new(vec![a, b])
        .all_errors(true)
        .connect()
        .await
        .unwrap_err();
    let [x, y] = err.attempts() else {
        panic!("{err:?}")
    };
    assert_eq!(
        err.to_string(),
        format!(
            "connect to [{a}, {b}]: 2 attempts failed: \
             {a} (TCP, at +{}, after {}): connection refused; \
             {b} (TCP, at +{}, after {}): connection refused",
            shown(x.started()),
            shown(x.elapsed()),
            shown(y.started()),
            shown(y.elapsed())
        )
    );
}

#[tokio::test]
async fn datagram_and_server_errors_print_as_reports() {
    let first = DatagramBuilder::new()
        .local_addr("127.0.0.1:0")
        .bind()
        .await
        .unwrap();
    let busy = first.local_addr().unwrap();
    let err = DatagramBuilder::new()
        .local_addr(busy)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DatagramErrorKind::AllAttemptsFailed);
    let report = format!("{err:?}");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert_eq!(lines[0], err.to_string());
    assert_eq!(lines[1], "  attempts:");
    // The step, the address, the error in plain words, what to do.
    assert_eq!(
        lines[2],
        format!(
            "    bind to {busy}: address already in use (another socket holds the port; \
             sockets share a port only when each sets reuse_port)"
        )
    );
    assert!(lines[0].ends_with(&lines[2][4..]), "{report}");

    let first = ServerBuilder::new("127.0.0.1:0").bind().await.unwrap();
    let busy = first.local_addrs()[0];
    let err = ServerBuilder::new(busy).bind().await.unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::BindFailed);
    let report = format!("{err:?}");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert_eq!(lines[0], err.to_string());
    assert!(
        lines[2].starts_with(&format!("    bind to {busy}: ")),
        "{report}"
    );
}

/// A resolver that counts the names it is asked for.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Resolve for Counting {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        self.0.fetch_add(1, Ordering::SeqCst);
        stream::iter([Ok(vec![V4])]).boxed()
    }
}

const URLS: [(&str, &str); 4] = [
    ("http://localhost:80", "localhost:80"),
    ("https://example.com/path", "example.com:443"),
    ("ws://host", "host:80"),
    ("wss://[::1]:8443/chat?x=1", "[::1]:8443"),
];

#[tokio::test]
async fn a_url_target_says_what_to_pass_instead() {
    let asked = Counting::default();
    for (url, instead) in URLS {
        let hint = format!("it is a URL; pass \"{instead}\" (host:port)");

        let err = ConnectionBuilder::new(url)
            .resolver(asked.clone())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
        assert_eq!(err.to_string(), format!("connect to {url}: {hint}"));
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);

        let err = Connector::new()
            .resolver(asked.clone())
            .connect(url)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
        assert!(err.to_string().ends_with(&hint), "{err}");

        let err = ServerBuilder::new(url)
            .resolver(asked.clone())
            .bind()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ServerErrorKind::InvalidInput);
        assert!(err.to_string().ends_with(&hint), "{err}");

        for local in [true, false] {
            let builder = DatagramBuilder::new().resolver(asked.clone());
            let builder = if local {
                builder.local_addr(url)
            } else {
                builder.remote_addr(url)
            };
            let err = builder.bind().await.unwrap_err();
            assert_eq!(err.kind(), DatagramErrorKind::InvalidInput);
            assert!(err.to_string().ends_with(&hint), "{err}");
        }
    }
    // Refused before any resolution (so before any packet).
    assert_eq!(asked.0.load(Ordering::SeqCst), 0);

    // A URL as the host of a (host, port) pair.
    let err = ConnectionBuilder::new(("https://example.com", 443))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "connect to https://example.com: it is a URL; pass the host alone: (\"example.com\", 443)"
    );
}

#[tokio::test]
async fn a_connect_timeout_reads_in_milliseconds() {
    let hole = common::Blackhole::new(V4);
    let err = ConnectionBuilder::new(hole.addr)
        .connect_timeout(Duration::from_millis(30))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    let line = err.to_string();
    assert!(
        line.starts_with(&format!("connect to {}: timed out after 30 ms", hole.addr)),
        "{line}"
    );
}
