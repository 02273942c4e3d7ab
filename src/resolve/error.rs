//! [`ResolveError`]: what went wrong in a resolution, and how a list of
//! them reads in the crate's error messages.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// What went wrong in a resolution.
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ResolveError, ResolveErrorKind};
///
/// let e = ResolveError::new("nope.example", ResolveErrorKind::NoSuchName);
/// assert_eq!(e.to_string(), "nope.example: no such name");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResolveErrorKind {
    /// The name does not exist (NXDOMAIN; getaddrinfo's `EAI_NONAME`).
    NoSuchName,
    /// The name exists but has no address records of the asked family.
    NoRecords,
    /// The name server failed to answer (SERVFAIL, REFUSED).
    ServerFailure,
    /// No answer came in time.
    TimedOut,
    /// Any other failure; the error's message says which.
    Other,
}

impl ResolveErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ResolveErrorKind::NoSuchName => "no such name",
            ResolveErrorKind::NoRecords => "no address records",
            ResolveErrorKind::ServerFailure => "name server failure",
            ResolveErrorKind::TimedOut => "no answer in time",
            ResolveErrorKind::Other => "resolution failed",
        }
    }
}

/// A failed resolution: the host name, the kind of failure, the query it
/// ended (`AAAA`, `A`, `HTTPS`) where known, and its cause.
///
/// `Display` reads `host: what happened`, in plain words: `nope.test: no
/// such name (NXDOMAIN)`, `h.test: no AAAA records`, `h.test: A query: DNS
/// server 127.0.0.1:53 did not answer within 5 s`. The resolver's own error
/// (hickory's) stays behind [`source`](StdError::source) where these words
/// replaced its message; where the message ends with the cause's own text
/// (a cause given without a [reason](Self::with_reason)), `source` is
/// `None`: each fact is said once, also by `anyhow`'s `{:#}` (see
/// [`with_source`](Self::with_source)).
///
/// # Examples
///
/// ```
/// use std::io;
/// use tokio_endpoints::{ResolveError, ResolveErrorKind};
///
/// let cause = io::Error::new(io::ErrorKind::Other, "SERVFAIL from 127.0.0.1:53");
/// let e = ResolveError::new("example.com", ResolveErrorKind::ServerFailure).with_source(cause);
/// assert_eq!(e.kind(), ResolveErrorKind::ServerFailure);
/// assert_eq!(e.to_string(), "example.com: name server failure: SERVFAIL from 127.0.0.1:53");
///
/// let e = ResolveError::new("example.com", ResolveErrorKind::NoRecords).with_query("AAAA");
/// assert_eq!(e.to_string(), "example.com: no AAAA records");
/// ```
#[derive(Debug)]
pub struct ResolveError {
    host: String,
    kind: ResolveErrorKind,
    query: Option<String>,
    /// What happened, in plain words, said instead of the kind's phrase
    /// and the source's message.
    reason: Option<String>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ResolveError {
    /// A resolution error for `host`.
    pub fn new(host: impl Into<String>, kind: ResolveErrorKind) -> ResolveError {
        ResolveError {
            host: host.into(),
            kind,
            query: None,
            reason: None,
            source: None,
        }
    }

    /// Attaches the underlying cause. Unless a reason was given
    /// ([`with_reason`](Self::with_reason)), its message ends this error's,
    /// and [`source`](StdError::source) is then `None`, so that a chain
    /// walked through `source()` says it once; with a reason, the cause is
    /// the `source()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error;
    /// use std::io;
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let cause = || io::Error::other("rcode 2");
    /// let e = ResolveError::new("h.test", ResolveErrorKind::ServerFailure).with_source(cause());
    /// assert_eq!(e.to_string(), "h.test: name server failure: rcode 2");
    /// assert!(e.source().is_none());
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::ServerFailure)
    ///     .with_reason("server failure (SERVFAIL)")
    ///     .with_source(cause());
    /// assert_eq!(e.to_string(), "h.test: server failure (SERVFAIL)");
    /// assert_eq!(e.source().unwrap().to_string(), "rcode 2");
    /// ```
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> ResolveError {
        self.source = Some(source.into());
        self
    }

    /// Names the query that failed: a DNS record type such as `"AAAA"`,
    /// `"A"` or `"HTTPS"`. An error message then names it where the
    /// queries for one name ended differently.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::TimedOut).with_query("A");
    /// assert_eq!(e.query(), Some("A"));
    /// assert_eq!(e.to_string(), "h.test: A query: no answer in time");
    /// ```
    #[must_use]
    pub fn with_query(mut self, query: impl Into<String>) -> ResolveError {
        self.query = Some(query.into());
        self
    }

    /// Says what happened in plain words, instead of the kind's phrase and
    /// the source's message (the source stays behind
    /// [`source`](StdError::source)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::ServerFailure)
    ///     .with_reason("server failure (SERVFAIL) from 127.0.0.1:5300");
    /// assert_eq!(e.to_string(), "h.test: server failure (SERVFAIL) from 127.0.0.1:5300");
    /// ```
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> ResolveError {
        self.reason = Some(reason.into());
        self
    }

    /// The host name that failed to resolve.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> ResolveErrorKind {
        self.kind
    }

    /// The query that failed (`"AAAA"`, `"A"`, `"HTTPS"`), where known.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::{ResolveError, ResolveErrorKind};
    ///
    /// let e = ResolveError::new("h.test", ResolveErrorKind::NoRecords).with_query("AAAA");
    /// assert_eq!(e.query(), Some("AAAA"));
    /// assert_eq!(ResolveError::new("h.test", ResolveErrorKind::Other).query(), None);
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self.kind {
            ResolveErrorKind::NoSuchName | ResolveErrorKind::NoRecords => io::ErrorKind::NotFound,
            ResolveErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ResolveErrorKind::ServerFailure | ResolveErrorKind::Other => io::ErrorKind::Other,
        }
    }

    /// What happened, without the host and without the query's name
    /// (`no records` for a query without records).
    fn bare_reason(&self) -> String {
        if let Some(reason) = &self.reason {
            return reason.clone();
        }
        if self.kind == ResolveErrorKind::NoRecords && self.query.is_some() {
            return "no records".to_string();
        }
        match self.quoted_source() {
            Some(source) => format!("{}: {source}", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }

    /// The cause, where the message ends with its text (no reason replaced
    /// it): then it is not the `source()` as well.
    fn quoted_source(&self) -> Option<&(dyn StdError + Send + Sync)> {
        let replaced = self.reason.is_some()
            || (self.kind == ResolveErrorKind::NoRecords && self.query.is_some());
        if replaced {
            return None;
        }
        self.source.as_deref()
    }

    /// What happened, without the host: the query is named where it is
    /// known (`no AAAA records`, `A query: ...`).
    fn reason_with_query(&self) -> String {
        match &self.query {
            Some(q) if self.kind == ResolveErrorKind::NoRecords && self.reason.is_none() => {
                format!("no {q} records")
            }
            // A name that does not exist does not exist for every query.
            Some(q) if self.kind != ResolveErrorKind::NoSuchName => {
                format!("{q} query: {}", self.bare_reason())
            }
            _ => self.bare_reason(),
        }
    }

    /// The errors of one host's queries as one phrase: said once where
    /// they agree (`no such name (NXDOMAIN)`, `no A or AAAA records`),
    /// each named where they differ (`AAAA: no records; A: ...`).
    pub(crate) fn write_reasons(
        f: &mut fmt::Formatter<'_>,
        errors: &[&ResolveError],
    ) -> fmt::Result {
        let Some(first) = errors.first() else {
            return Ok(());
        };
        if errors.len() == 1 {
            return f.write_str(&first.reason_with_query());
        }
        let same = errors
            .iter()
            .all(|e| e.kind == first.kind && e.bare_reason() == first.bare_reason());
        if same {
            if first.kind == ResolveErrorKind::NoRecords && first.reason.is_none() {
                let mut queries: Vec<&str> = errors.iter().filter_map(|e| e.query()).collect();
                queries.sort_unstable();
                queries.dedup();
                if !queries.is_empty() {
                    return write!(f, "no {} records", queries.join(" or "));
                }
            }
            return f.write_str(&first.bare_reason());
        }
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &e.query {
                Some(q) => write!(f, "{q}: {}", e.bare_reason())?,
                None => f.write_str(&e.bare_reason())?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.reason_with_query())
    }
}

impl StdError for ResolveError {
    /// The resolver's own error, where this error's words replaced its
    /// message; `None` where the message ends with it.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        if self.quoted_source().is_some() {
            return None;
        }
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The `io::ErrorKind` a resolution failure converts to: the first
/// resolver error's, or `NotFound` when there is none.
pub(crate) fn resolve_io_kind(errors: &[ResolveError]) -> io::ErrorKind {
    errors
        .first()
        .map_or(io::ErrorKind::NotFound, ResolveError::io_kind)
}

/// The resolver's errors as one phrase: `cannot resolve nope.test: no such
/// name (NXDOMAIN)`; when the queries for one name ended differently, each
/// is named: `cannot resolve h.test: AAAA: no records; A: DNS server
/// 127.0.0.1:53 did not answer within 2 s`. `fallback` is said when there
/// is no error.
pub(crate) fn write_resolve_failure(
    f: &mut fmt::Formatter<'_>,
    errors: &[ResolveError],
    fallback: Option<&str>,
) -> fmt::Result {
    if errors.is_empty() {
        return f.write_str(fallback.unwrap_or("the resolver returned no address"));
    }
    let mut hosts: Vec<&str> = Vec::new();
    for e in errors {
        if !hosts.contains(&e.host()) {
            hosts.push(e.host());
        }
    }
    for (i, host) in hosts.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        let mine: Vec<&ResolveError> = errors.iter().filter(|e| e.host() == *host).collect();
        write!(f, "cannot resolve {host}: ")?;
        ResolveError::write_reasons(f, &mine)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failure<'a>(&'a [ResolveError]);

    impl fmt::Display for Failure<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_resolve_failure(f, self.0, None)
        }
    }

    #[test]
    fn resolver_errors_are_summed_up_per_host() {
        use crate::ResolveErrorKind as K;
        let e = |host: &str, kind, query: &str| ResolveError::new(host, kind).with_query(query);
        let cases = [
            (vec![], "the resolver returned no address"),
            (
                vec![
                    e("h.test", K::NoSuchName, "AAAA").with_reason("no such name (NXDOMAIN)"),
                    e("h.test", K::NoSuchName, "A").with_reason("no such name (NXDOMAIN)"),
                ],
                "cannot resolve h.test: no such name (NXDOMAIN)",
            ),
            (
                vec![e("h.test", K::NoRecords, "AAAA"), e("h.test", K::NoRecords, "A")],
                "cannot resolve h.test: no A or AAAA records",
            ),
            (
                vec![
                    e("h.test", K::NoRecords, "AAAA"),
                    e("h.test", K::TimedOut, "A").with_reason("DNS server 127.0.0.1:53 did not answer within 2 s"),
                ],
                "cannot resolve h.test: AAAA: no records; A: DNS server 127.0.0.1:53 did not answer within 2 s",
            ),
            (
                vec![e("h.test", K::TimedOut, "A")],
                "cannot resolve h.test: A query: no answer in time",
            ),
            (
                vec![ResolveError::new("a.test", K::NoSuchName), ResolveError::new("b.test", K::NoRecords)],
                "cannot resolve a.test: no such name; cannot resolve b.test: no address records",
            ),
        ];
        for (errors, want) in cases {
            assert_eq!(Failure(&errors).to_string(), want);
        }
    }
}
