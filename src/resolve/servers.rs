//! The name servers a hickory resolution asks, and hickory's errors in
//! plain words naming them. Below the hickory resolver, its cache and its
//! HTTPS lookups, which all report through [`dns_error`].

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;

use super::error::{ResolveError, ResolveErrorKind};
use crate::shared::report::{Brief, Dur};

/// The name servers a resolution asks and how long it waits for each, to
/// say who did not answer in an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct Servers {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) timeout: Duration,
    pub(crate) attempts: usize,
}

impl Servers {
    /// `DNS server 127.0.0.1:53`, `DNS servers 10.0.0.1:53, 10.0.0.2:53`,
    /// or `the DNS server` when the configuration is not ours to read.
    fn who(&self) -> String {
        match self.addrs.as_slice() {
            [] => "the DNS server".to_string(),
            [one] => format!("DNS server {one}"),
            many => {
                let shown: Vec<String> = many.iter().take(3).map(ToString::to_string).collect();
                let more = many.len().saturating_sub(3);
                if more > 0 {
                    format!("DNS servers {} and {more} more", shown.join(", "))
                } else {
                    format!("DNS servers {}", shown.join(", "))
                }
            }
        }
    }

    /// ` from 127.0.0.1:53` (the servers' addresses), or nothing.
    fn from(&self) -> String {
        match self.addrs.as_slice() {
            [] => String::new(),
            [one] => format!(" from {one}"),
            many => {
                let shown: Vec<String> = many.iter().take(3).map(ToString::to_string).collect();
                format!(" from {}", shown.join(", "))
            }
        }
    }
}

/// A hickory error in plain words: the kind, the query, and a reason that
/// names the response code and the server, never hickory's `Debug`
/// output. hickory's error stays the source.
pub(crate) fn dns_error(
    host: &str,
    rtype: RecordType,
    servers: &Servers,
    e: NetError,
) -> ResolveError {
    let (kind, reason) = match &e {
        NetError::Dns(DnsError::NoRecordsFound(no))
            if no.response_code == ResponseCode::NXDomain =>
        {
            (
                ResolveErrorKind::NoSuchName,
                Some("no such name (NXDOMAIN)".to_string()),
            )
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => (ResolveErrorKind::NoRecords, None),
        NetError::Dns(DnsError::ResponseCode(code)) => {
            let what = match code {
                ResponseCode::ServFail => "server failure (SERVFAIL)".to_string(),
                ResponseCode::Refused => "query refused (REFUSED)".to_string(),
                ResponseCode::FormErr => "query refused as malformed (FORMERR)".to_string(),
                ResponseCode::NotImp => "query not implemented (NOTIMP)".to_string(),
                other => format!("error response ({})", code_name(*other)),
            };
            (
                ResolveErrorKind::ServerFailure,
                Some(format!("{what}{}", servers.from())),
            )
        }
        NetError::Timeout => {
            let tries = if servers.attempts > 1 {
                format!(", {} tries", servers.attempts)
            } else {
                String::new()
            };
            let within = if servers.timeout.is_zero() {
                "in time".to_string()
            } else {
                format!("within {}{tries}", Dur(servers.timeout))
            };
            (
                ResolveErrorKind::TimedOut,
                Some(format!("{} did not answer {within}", servers.who())),
            )
        }
        NetError::NoConnections => (
            ResolveErrorKind::Other,
            Some(format!("no connection to {} could be made", servers.who())),
        ),
        // These words quote hickory's message: it is not the source too.
        NetError::Io(io) => {
            let reason = format!("talking to {}: {}", servers.who(), Brief(io));
            return quoted(host, rtype, reason);
        }
        NetError::Proto(p) => {
            let reason = format!("bad answer{}: {p}", servers.from());
            return quoted(host, rtype, reason);
        }
        _ => (ResolveErrorKind::Other, None),
    };
    let mut err = ResolveError::new(host, kind).with_query(rtype.to_string());
    if let Some(reason) = reason {
        err = err.with_reason(reason);
    }
    err.with_source(e)
}

/// An error whose reason quotes hickory's message, so that hickory's error
/// is not its source as well (see `shared/report.rs`: said once).
fn quoted(host: &str, rtype: RecordType, reason: String) -> ResolveError {
    ResolveError::new(host, ResolveErrorKind::Other)
        .with_query(rtype.to_string())
        .with_reason(reason)
}

/// A response code by its RFC name (`SERVFAIL`), never hickory's `Debug`.
fn code_name(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        _ => return format!("code {}", u16::from(code)),
    };
    name.to_string()
}
