//! getaddrinfo on Tokio's blocking pool.

use std::io;
use std::net::ToSocketAddrs;

use futures_util::stream::{self, StreamExt};

use super::{Addrs, Resolve, ResolveError, ResolveErrorKind};
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
                // std does not expose the EAI_* code; the message carries it.
                Err(e) => Err(ResolveError::new(host, ResolveErrorKind::Other).with_source(e)),
            }
        })
        .boxed()
    }
}
