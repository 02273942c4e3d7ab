//! What the client, server and datagram sides share, below all of them:
//! what a target is (`target`), the order addresses are tried in
//! (`order`, also used by the resolver to sort its answers), how errors
//! read (`report`), the stream halves (`stream`), the bounded TLS shutdown
//! (`tls`: the default timeouts and the bounded shutdown), TLS failures in plain words
//! (`tls_words`), the address policy every side applies (`policy`), and
//! the sockets systemd passed, which the server and datagram sides take
//! (`systemd`).
//! Nothing here imports a side.

pub(crate) mod clock;
pub(crate) mod nat64;
pub(crate) mod order;
pub(crate) mod policy;
pub(crate) mod report;
pub(crate) mod stream;
#[cfg(target_os = "linux")]
pub(crate) mod systemd;
pub(crate) mod target;
#[cfg(feature = "tls")]
pub(crate) mod tls;
#[cfg(feature = "tls")]
pub(crate) mod tls_words;
