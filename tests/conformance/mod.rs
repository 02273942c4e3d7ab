//! What a conformance case is, what a resolution ended with, and how the
//! child process reports it to the parent (one tab-separated line per
//! resolver and step on stdout).

pub mod cases;
pub mod child;
pub mod dns;

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use dns::Zone;

/// One conformance case: the files it runs under, the DNS server(s) it
/// talks to, the steps it takes, and whether the two resolvers should
/// agree.
pub struct Case {
    pub name: &'static str,
    /// The whole of /etc/resolv.conf.
    pub resolv_conf: String,
    /// The whole of /etc/hosts.
    pub hosts: String,
    /// The zone every server serves.
    pub zone: Zone,
    /// The addresses a server listens on (port 53, UDP and TCP). A
    /// `nameserver` line with an address not listed here names a server
    /// that is down (nothing listens: ICMP port unreachable).
    pub servers: Vec<IpAddr>,
    /// Addresses where a server is up but never answers (its queries are
    /// logged).
    pub mute: Vec<IpAddr>,
    pub steps: Vec<Step>,
    pub expect: Expect,
    /// Names (lowercase, no trailing dot) neither resolver may ask the
    /// server for, in any step.
    pub never_asked: Vec<&'static str>,
}

/// One thing a case does.
#[derive(Clone, Debug)]
pub enum Step {
    /// getaddrinfo(host) against our `resolve(host, Family::Any)`.
    Resolve(&'static str),
    /// getaddrinfo(`reference`) against the addresses our
    /// `resolve_service(host, 443, Family::Any)` would connect to: those
    /// of the services' target names when there are services, the host's
    /// own otherwise.
    Service {
        host: &'static str,
        reference: &'static str,
    },
    /// The server ends every silence, SERVFAIL and REFUSED (it "comes
    /// back").
    Recover,
}

impl Step {
    pub fn label(&self) -> String {
        match self {
            Step::Resolve(host) => format!("resolve {host:?}"),
            Step::Service { host, reference } => {
                format!("resolve_service {host:?} (getaddrinfo {reference:?})")
            }
            Step::Recover => "server recovers".to_string(),
        }
    }
}

/// What a case expects of the two resolvers.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Every step ends alike: the same address set, or the same kind of
    /// failure.
    Agree,
    /// A deliberate, documented difference: some step ends differently.
    /// Should they ever agree, the difference is gone and the case fails,
    /// to be turned into `Agree`.
    Differ { why: &'static str },
}

/// How a resolution ended, as the comparison sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// These addresses (as a set: order is not compared).
    Addrs(BTreeSet<IpAddr>),
    /// The name does not exist, or has no addresses (EAI_NONAME,
    /// EAI_NODATA, EAI_ADDRFAMILY; NoSuchName, NoRecords).
    NotFound,
    /// Try again later (EAI_AGAIN; TimedOut, ServerFailure).
    Temporary,
    /// Anything else (EAI_FAIL, EAI_SYSTEM, ...; Other).
    Failed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Addrs(set) => {
                let list: Vec<String> = set.iter().map(ToString::to_string).collect();
                write!(f, "addrs:{}", list.join(","))
            }
            Outcome::NotFound => f.write_str("notfound"),
            Outcome::Temporary => f.write_str("temporary"),
            Outcome::Failed => f.write_str("failed"),
        }
    }
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "notfound" => Outcome::NotFound,
            "temporary" => Outcome::Temporary,
            "failed" => Outcome::Failed,
            _ => {
                let list = s.strip_prefix("addrs:")?;
                Outcome::Addrs(
                    list.split(',')
                        .filter(|a| !a.is_empty())
                        .map(|a| a.parse().ok())
                        .collect::<Option<_>>()?,
                )
            }
        })
    }
}

/// What one resolver did at one step: its outcome, what it said in its
/// own words (the getaddrinfo code, our error), how long it took, and the
/// queries the server saw meanwhile.
#[derive(Clone, Debug)]
pub struct Report {
    pub step: usize,
    /// `getaddrinfo` or `ours`.
    pub who: String,
    pub outcome: Outcome,
    pub detail: String,
    pub millis: u128,
    pub queries: String,
}

/// The marker of a report line on the child's stdout.
pub const MARK: &str = "CONFORMANCE\t";

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

impl Report {
    pub fn line(&self) -> String {
        format!(
            "{MARK}{}\t{}\t{}\t{}\t{}\t{}",
            self.step,
            self.who,
            self.outcome,
            self.millis,
            clean(&self.detail),
            clean(&self.queries)
        )
    }

    pub fn parse(line: &str) -> Option<Report> {
        let mut fields = line.strip_prefix(MARK)?.split('\t');
        Some(Report {
            step: fields.next()?.parse().ok()?,
            who: fields.next()?.to_string(),
            outcome: Outcome::parse(fields.next()?)?,
            millis: fields.next()?.parse().ok()?,
            detail: fields.next()?.to_string(),
            queries: fields.next().unwrap_or("").to_string(),
        })
    }
}
