//! The HTTPS query on hickory, AliasMode followed, and the A/AAAA
//! queries of the services' other target names. The records' types and
//! their merging into the race live in `svcb`; this module only asks.

use std::net::IpAddr;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, FuturesUnordered, StreamExt};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::rdata::svcb::{SvcParamKey, SvcParamValue, SVCB};
use hickory_resolver::proto::rr::{RData, RecordType};

use super::error::ResolveError;
use super::servers::dns_error;
use super::svcb::*;
use crate::Family;

/// At most this many other target names get their addresses asked.
const MAX_TARGETS: usize = 4;

/// The HTTPS records of `host` for `port`, then the addresses of their
/// target names other than the host, each query made by `lookup` (the
/// hickory resolver's, through its cache).
pub(crate) fn https_lookups<L>(lookup: L, host: &str, port: u16, family: Family) -> Resolution
where
    L: Fn(&str, RecordType) -> BoxFuture<'static, Result<Lookup, NetError>> + Send + Sync + 'static,
{
    let host = super::name::normalize(host);
    let qname = query_name(&host, port);
    stream::once(async move {
        let records = services(&lookup, &host, &qname).await;
        (lookup, records)
    })
    .flat_map(move |(lookup, records)| match records {
        Ok(records) => {
            // The preferred services' targets first: with more than
            // MAX_TARGETS, those asked are the ones the race tries first.
            let mut by_priority: Vec<&ServiceRecord> = records.iter().collect();
            by_priority.sort_by_key(|r| r.priority());
            let mut targets: Vec<String> = Vec::new();
            for r in by_priority {
                if !r.is_for_owner() && !targets.iter().any(|t| t == r.target()) {
                    targets.push(r.target().to_string());
                }
            }
            let lookups = FuturesUnordered::new();
            for target in targets.into_iter().take(MAX_TARGETS) {
                for v6 in [true, false] {
                    if (v6 && family == Family::V4) || (!v6 && family == Family::V6) {
                        continue;
                    }
                    let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
                    let query = lookup(&target, rtype);
                    let target = target.clone();
                    lookups.push(async move {
                        let addrs: Vec<IpAddr> = query
                            .await
                            .map(|l| {
                                l.answers()
                                    .iter()
                                    .filter_map(|r| match &r.data {
                                        RData::A(a) => Some(IpAddr::V4(a.0)),
                                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                                        _ => None,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (!addrs.is_empty()).then_some(Resolved::TargetAddrs { target, addrs })
                    });
                }
            }
            stream::once(async move { Ok(Resolved::Services(records)) })
                .chain(lookups.filter_map(|item| async move { item.map(Ok) }))
                .left_stream()
        }
        Err(e) => stream::once(async move { Err(e) }).right_stream(),
    })
    .boxed()
}

/// The ServiceMode records for `qname`, AliasMode followed.
async fn services<L>(
    lookup: &L,
    host: &str,
    qname: &str,
) -> Result<Vec<ServiceRecord>, ResolveError>
where
    L: Fn(&str, RecordType) -> BoxFuture<'static, Result<Lookup, NetError>>,
{
    let mut name = qname.to_string();
    let mut seen = vec![name.clone()];
    for _ in 0..=MAX_ALIAS_DEPTH {
        let answer = match lookup(&name, RecordType::HTTPS).await {
            Ok(answer) => answer,
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => return Ok(Vec::new()),
            Err(e) => return Err(dns_error(qname, RecordType::HTTPS, &Default::default(), e)),
        };
        let records: Vec<&SVCB> = answer
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::HTTPS(https) => Some(&https.0),
                _ => None,
            })
            .collect();
        if let Some(alias) = records.iter().find(|r| r.svc_priority == 0) {
            // AliasMode: ServiceMode records beside it are ignored.
            if alias.target_name.is_root() {
                tracing::debug!(%name, "HTTPS AliasMode to \".\": no service");
                return Ok(Vec::new());
            }
            let target = super::name::normalize(&alias.target_name.to_ascii());
            if seen.contains(&target) {
                tracing::debug!(%name, %target, "HTTPS alias loop refused");
                return Ok(Vec::new());
            }
            tracing::debug!(%name, %target, "HTTPS AliasMode followed");
            seen.push(target.clone());
            name = target;
            continue;
        }
        // The effective TargetName of "." is the owner name (RFC 9460
        // §2.5.2); at the first name, that is the host.
        let owner = if name == qname {
            ".".to_string()
        } else {
            name.clone()
        };
        let owner = if owner == host {
            ".".to_string()
        } else {
            owner
        };
        return Ok(records
            .into_iter()
            .filter_map(|r| record(r, &owner))
            .collect());
    }
    tracing::debug!(%qname, "HTTPS alias chain too long");
    Ok(Vec::new())
}

/// A ServiceMode record, or `None` when it needs a key we do not know.
fn record(svcb: &SVCB, owner: &str) -> Option<ServiceRecord> {
    let target = if svcb.target_name.is_root() {
        owner.to_string()
    } else {
        svcb.target_name.to_ascii()
    };
    let mut record = ServiceRecord::new(svcb.svc_priority, target);
    for (key, value) in &svcb.svc_params {
        match value {
            SvcParamValue::Mandatory(keys) => {
                let known = |k: &SvcParamKey| {
                    matches!(
                        k,
                        SvcParamKey::Alpn
                            | SvcParamKey::NoDefaultAlpn
                            | SvcParamKey::Port
                            | SvcParamKey::Ipv4Hint
                            | SvcParamKey::Ipv6Hint
                            | SvcParamKey::EchConfigList
                    )
                };
                if !keys.0.iter().all(known) {
                    tracing::debug!(?key, "HTTPS record with an unknown mandatory key skipped");
                    return None;
                }
            }
            SvcParamValue::Alpn(alpn) => record = record.with_alpn(&alpn.0),
            SvcParamValue::NoDefaultAlpn => record = record.with_no_default_alpn(),
            SvcParamValue::Port(port) => record = record.with_port(*port),
            SvcParamValue::Ipv4Hint(hints) => {
                record = record.with_ipv4_hints(hints.0.iter().map(|a| a.0))
            }
            SvcParamValue::Ipv6Hint(hints) => {
                record = record.with_ipv6_hints(hints.0.iter().map(|a| a.0))
            }
            SvcParamValue::EchConfigList(ech) => record = record.with_ech(ech.0.clone()),
            _ => {}
        }
    }
    Some(record)
}
