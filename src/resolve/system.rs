//! getaddrinfo on Tokio's blocking pool.

use std::io;
use std::net::ToSocketAddrs;

use futures_util::stream::{self, StreamExt};

use super::api::{Addrs, Resolve};
use super::error::{ResolveError, ResolveErrorKind};
use crate::Family;

/// The operating system's resolver (`getaddrinfo(3)`), run on Tokio's
/// blocking pool. See [`Resolver::system`](super::Resolver::system).
///
/// # Examples
///
/// ```
/// use tokio_endpoints::{ConnectionBuilder, SystemResolver};
///
/// let builder = ConnectionBuilder::new("localhost:80").resolver(SystemResolver::default());
/// # drop(builder);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver {
    _private: (),
}

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, _family: Family) -> Addrs {
        let host = host.to_owned();
        stream::once(async move {
            let name = host.clone();
            let answer = tokio::task::spawn_blocking(move || (name.as_str(), 0).to_socket_addrs())
                .await
                .map_err(io::Error::other);
            match answer.and_then(|r| r) {
                Ok(addrs) => {
                    let ips: Vec<_> = addrs.map(|a| a.ip()).collect();
                    if ips.is_empty() {
                        Err(ResolveError::new(host, ResolveErrorKind::NoRecords))
                    } else {
                        Ok(ips)
                    }
                }
                Err(e) => Err(gai_error(host, e)),
            }
        })
        .boxed()
    }
}

/// A getaddrinfo failure in plain words. std does not expose the `EAI_*`
/// code, only `gai_strerror`'s text after "failed to lookup address
/// information: ", so the kind is read from the texts glibc, musl and the
/// BSDs use; anything else keeps the text as it is.
fn gai_error(host: String, e: io::Error) -> ResolveError {
    let text = e.to_string();
    let why = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_string();
    let lower = why.to_ascii_lowercase();
    let (kind, reason) = if lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
        || lower.contains("name does not resolve")
        || lower.contains("no such host")
    {
        (ResolveErrorKind::NoSuchName, "no such name".to_string())
    } else if lower.contains("no address associated") {
        (
            ResolveErrorKind::NoRecords,
            "no address records".to_string(),
        )
    } else if lower.contains("temporary failure") || lower.contains("try again") {
        (
            ResolveErrorKind::ServerFailure,
            "the name server did not answer or failed, try again later".to_string(),
        )
    } else {
        (ResolveErrorKind::Other, "getaddrinfo failed".to_string())
    };
    // The reason quotes getaddrinfo's text, so `e` is not kept as the
    // source as well (see `shared/report.rs`: each fact said once).
    ResolveError::new(host, kind).with_reason(format!("{reason} (getaddrinfo: {why})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getaddrinfo_texts_read_as_plain_words() {
        let e = |text: &str| {
            gai_error(
                "h.test".to_string(),
                io::Error::other(format!("failed to lookup address information: {text}")),
            )
        };
        let nx = e("Name or service not known");
        assert_eq!(nx.kind(), ResolveErrorKind::NoSuchName);
        assert_eq!(
            nx.to_string(),
            "h.test: no such name (getaddrinfo: Name or service not known)"
        );
        let again = e("Temporary failure in name resolution");
        assert_eq!(again.kind(), ResolveErrorKind::ServerFailure);
        assert_eq!(
            again.to_string(),
            "h.test: the name server did not answer or failed, try again later \
             (getaddrinfo: Temporary failure in name resolution)"
        );
        assert_eq!(
            e("No address associated with hostname").kind(),
            ResolveErrorKind::NoRecords
        );
        let other = e("System error");
        assert_eq!(other.kind(), ResolveErrorKind::Other);
        assert_eq!(
            other.to_string(),
            "h.test: getaddrinfo failed (getaddrinfo: System error)"
        );
        // Its text is in the message, so it is not the source too.
        assert!(std::error::Error::source(&other).is_none());
    }
}
