//! [`QlogSink`]: each connection's [`Establishment`] as a qlog trace of
//! Happy Eyeballs events (draft-kuehlewind-happy-qlog, namespace
//! `urn:ietf:params:qlog:events:hev3`), in JSON text sequences (RFC 7464:
//! each record an ASCII RS, a JSON text, a line feed).
//!
//! Written by hand, not with serde: the records are few and flat, and the
//! default build stays without a JSON dependency.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::establishment::{AttemptOutcome, Establishment, Event};

/// The qlog event schema the events belong to.
pub(crate) const HEV3: &str = "urn:ietf:params:qlog:events:hev3";

/// Where [`Connector::qlog`](crate::Connector::qlog) writes the qlog trace
/// of every connection: a file, or any `io::Write + Send`.
///
/// Each connection that succeeds is one trace: a header record
/// (`file_schema` `urn:ietf:params:qlog:file:sequential`,
/// `serialization_format` `application/qlog+json-seq`, the event schema
/// `urn:ietf:params:qlog:events:hev3`, the target as its title), then its
/// events, named as draft-kuehlewind-happy-qlog names them
/// (`hev3:dns_query_started`, `hev3:dns_query_finished`,
/// `hev3:candidate_discovered`, `hev3:candidates_sorted`,
/// `hev3:attempt_started`, `hev3:next_attempt_timer_set`,
/// `hev3:attempt_outcome`, `hev3:connection_selected`), each with its
/// `time` in milliseconds from the start of the call. Records are JSON text
/// sequences (RFC 7464): an ASCII RS (0x1E) before each JSON text, a line
/// feed after it. A trace is written at once when its connection is made,
/// and the writer flushed; a write that fails is logged (`tracing`, at
/// `warn`) and never fails the connection.
///
/// Clones share the writer: traces from many connections do not
/// interleave.
///
/// # Examples
///
/// ```no_run
/// use tokio_endpoints::{Connector, QlogSink};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let connector = Connector::new().qlog(QlogSink::file("connects.sqlog")?);
/// let stream = connector.connect("localhost:8080").await?;
/// # drop(stream); Ok(()) }
/// ```
#[derive(Clone)]
pub struct QlogSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl QlogSink {
    /// A sink writing to `path`, created (or truncated) now.
    ///
    /// # Errors
    ///
    /// The file cannot be created.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::QlogSink;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let sink = QlogSink::file("connects.sqlog")?;
    /// # drop(sink); Ok(()) }
    /// ```
    pub fn file(path: impl AsRef<std::path::Path>) -> io::Result<QlogSink> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot create the qlog file {}: {}",
                    path.display(),
                    crate::shared::report::Brief(&e)
                ),
            )
        })?;
        Ok(QlogSink::new(io::BufWriter::new(file)))
    }

    /// A sink writing to `out` (a `Vec<u8>` behind a lock, stderr, a
    /// socket...).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::QlogSink;
    ///
    /// let sink = QlogSink::new(std::io::stderr());
    /// # drop(sink);
    /// ```
    pub fn new(out: impl Write + Send + 'static) -> QlogSink {
        QlogSink {
            out: Arc::new(Mutex::new(Box::new(out))),
        }
    }

    /// Writes `report` as one trace, as a connector with this sink does
    /// for each of its connections (failures logged, never returned): for
    /// a report of [`connect_reported`](crate::ConnectionBuilder::connect_reported).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_endpoints::{ConnectionBuilder, QlogSink};
    ///
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let sink = QlogSink::file("connect.sqlog")?;
    /// let (_stream, report) = ConnectionBuilder::new("localhost:8080").connect_reported().await?;
    /// sink.write(&report);
    /// # Ok(()) }
    /// ```
    pub fn write(&self, report: &Establishment) {
        let text = trace(report, SystemTime::now());
        let mut out = match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(%error, "cannot write the qlog trace");
        }
    }
}

impl std::fmt::Debug for QlogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QlogSink").finish_non_exhaustive()
    }
}

/// One record: RS, the JSON text, LF.
fn record(out: &mut String, json: &str) {
    out.push('\u{1e}');
    out.push_str(json);
    out.push('\n');
}

/// `s` as a JSON string.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A time since the Unix epoch as RFC 3339 in UTC, to the millisecond
/// (`2026-12-06T22:03:59.123Z`): the civil date from the day count
/// (Howard Hinnant's `civil_from_days`).
fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

fn millis(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// The trace of one connection, its header first. `now` is when the call
/// ended: the reference time is its start.
pub(crate) fn trace(report: &Establishment, now: SystemTime) -> String {
    let started = now
        .checked_sub(report.duration())
        .unwrap_or(now)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = String::new();
    let target = report.target().to_string();
    let group = string(&target);
    record(
        &mut out,
        &format!(
            "{{\"file_schema\":\"urn:ietf:params:qlog:file:sequential\",\
             \"serialization_format\":\"application/qlog+json-seq\",\
             \"title\":{title},\
             \"trace\":{{\"title\":{title},\
             \"vantage_point\":{{\"type\":\"client\",\"name\":\"tokio-endpoints\"}},\
             \"event_schemas\":[\"{HEV3}\"],\
             \"common_fields\":{{\"group_id\":{group},\"time_format\":\"relative_to_epoch\",\
             \"reference_time\":{{\"clock_type\":\"system\",\"epoch\":\"{epoch}\"}}}}}}}}",
            title = string(&format!("connect to {target}")),
            epoch = rfc3339(started),
        ),
    );
    let event = |out: &mut String, at: Duration, name: &str, data: String| {
        record(
            out,
            &format!(
                "{{\"time\":{},\"name\":\"hev3:{name}\",\"data\":{{{data}}}}}",
                millis(at)
            ),
        );
    };
    let addr = |a: &std::net::SocketAddr| {
        format!(
            "\"ip\":{},\"port\":{},\"family\":\"{}\"",
            string(&a.ip().to_string()),
            a.port(),
            if a.is_ipv6() { "ipv6" } else { "ipv4" }
        )
    };
    for e in report.events() {
        match &e.event {
            Event::Resolving { services } => {
                let (name, resolver) = report.asked().unwrap_or_default();
                let types = if *services {
                    "[\"HTTPS\",\"AAAA\",\"A\"]"
                } else {
                    "[\"AAAA\",\"A\"]"
                };
                event(
                    &mut out,
                    e.at,
                    "dns_query_started",
                    format!(
                        "\"hostname\":{},\"record_types\":{types},\"resolver\":{}",
                        string(name),
                        string(resolver)
                    ),
                );
            }
            Event::Literal => {
                for a in report.target().addrs() {
                    event(
                        &mut out,
                        e.at,
                        "candidate_discovered",
                        format!("{},\"source\":\"literal\"", addr(a)),
                    );
                }
            }
            Event::Answer { step } | Event::ResolveFailed { step } => {
                let s = &report.resolution()[*step];
                let mut data = format!(
                    "\"hostname\":{},\"record_type\":{},\"cached\":{}",
                    string(s.name()),
                    string(s.query()),
                    s.cached()
                );
                let ips: Vec<String> = s
                    .addrs()
                    .iter()
                    .map(|a| string(&a.ip().to_string()))
                    .collect();
                let _ = write!(data, ",\"answers\":[{}]", ips.join(","));
                if let Some(error) = s.error() {
                    let _ = write!(data, ",\"error\":{}", string(&error.to_string()));
                }
                event(&mut out, e.at, "dns_query_finished", data);
                for a in s.addrs() {
                    event(
                        &mut out,
                        e.at,
                        "candidate_discovered",
                        format!(
                            "{},\"source\":\"dns\",\"record_type\":{}",
                            addr(a),
                            string(s.query())
                        ),
                    );
                }
            }
            #[cfg(feature = "quic")]
            Event::QuicSkipped { left } => event(
                &mut out,
                e.at,
                "quic_skipped",
                format!(
                    "\"reason\":\"udp_remembered_broken\",\"remaining_ms\":{}",
                    left.as_millis()
                ),
            ),
            Event::Advice => {
                let mut data = String::from("\"reason\":\"history\"");
                if let Some(p) = report.preferred() {
                    let _ = write!(data, ",\"preferred\":{}", string(&p.to_string()));
                }
                let avoided: Vec<String> = report
                    .avoided()
                    .iter()
                    .map(|a| string(&a.to_string()))
                    .collect();
                let _ = write!(data, ",\"deprioritized\":[{}]", avoided.join(","));
                if let (true, Some(d)) = (report.adaptive_delay(), report.delay()) {
                    let _ = write!(data, ",\"adaptive_delay_ms\":{}", millis(d));
                }
                event(&mut out, e.at, "candidates_sorted", data);
            }
            Event::Denied { addr: ip, reason } => {
                event(
                    &mut out,
                    e.at,
                    "candidates_sorted",
                    format!(
                        "\"reason\":\"address_policy\",\"removed\":[{}],\"why\":{}",
                        string(&ip.to_string()),
                        string(reason)
                    ),
                );
            }
            Event::Started { addr: a, why } => {
                let (n, _) = report.attempt_at(*a, e.at);
                event(
                    &mut out,
                    e.at,
                    "attempt_started",
                    format!(
                        "\"attempt_id\":{n},{},\"protocol\":\"{}\",\"trigger\":\"{}\"",
                        addr(a),
                        if report.tls().is_some() {
                            "tcp+tls"
                        } else {
                            "tcp"
                        },
                        why.as_str()
                    ),
                );
                if report.delay().is_some() {
                    if let Some(d) = report.delay() {
                        event(
                            &mut out,
                            e.at,
                            "next_attempt_timer_set",
                            format!("\"attempt_id\":{n},\"duration_ms\":{}", millis(d)),
                        );
                    }
                }
            }
            Event::Connected { addr: a, extended } => {
                if *extended {
                    let (n, _) = report.attempt_at(*a, e.at);
                    let d = report.delay().unwrap_or_default();
                    event(
                        &mut out,
                        e.at,
                        "next_attempt_timer_set",
                        format!(
                            "\"attempt_id\":{n},\"duration_ms\":{},\"extended\":true,\"reason\":\"tcp_connected\"",
                            millis(d)
                        ),
                    );
                }
            }
            Event::Failed { addr: a, stage }
            | Event::Won { addr: a, stage }
            | Event::Cancelled { addr: a, stage } => {
                let (n, attempt) = report.attempt_at(*a, e.at);
                let outcome = match &e.event {
                    Event::Failed { .. } => "failure",
                    Event::Won { .. } => "success",
                    _ => "cancelled",
                };
                let mut data = format!(
                    "\"attempt_id\":{n},{},\"outcome\":\"{outcome}\",\"stage\":\"{}\",\"duration_ms\":{}",
                    addr(a),
                    match stage {
                        crate::AttemptStage::Tls => "tls",
                        #[cfg(feature = "quic")]
                        crate::AttemptStage::Quic => "quic",
                        _ => "tcp",
                    },
                    millis(e.at.saturating_sub(attempt.started()))
                );
                if let Some(tcp) = attempt.tcp_handshake() {
                    let _ = write!(data, ",\"tcp_handshake_ms\":{}", millis(tcp));
                }
                if let (Event::Failed { .. }, AttemptOutcome::Failed(err)) =
                    (&e.event, attempt.outcome())
                {
                    let _ = write!(
                        data,
                        ",\"error\":{}",
                        string(&crate::shared::report::full(err))
                    );
                }
                if let (Event::Won { .. }, Some(tls)) = (&e.event, report.tls()) {
                    let _ = write!(
                        data,
                        ",\"tls\":{{\"version\":{},\"alpn\":{},\"resumed\":{},\"handshake_ms\":{}}}",
                        tls.version().map_or("null".to_string(), string),
                        tls.alpn()
                            .map_or("null".to_string(), |a| string(&String::from_utf8_lossy(a))),
                        tls.resumed(),
                        millis(tls.handshake())
                    );
                }
                event(&mut out, e.at, "attempt_outcome", data);
                if let Event::Won { .. } = e.event {
                    event(
                        &mut out,
                        e.at,
                        "connection_selected",
                        format!("\"attempt_id\":{n},{}", addr(a)),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_times_read_as_rfc3339() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(1_796_594_677_688)),
            "2026-12-06T22:04:37.688Z"
        );
        assert_eq!(
            rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
