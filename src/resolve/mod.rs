//! Who turns a host name into addresses.
//!
//! Resolution is a stream of address batches, so a resolver that asks for
//! AAAA and A records at once can hand each answer to the race as it arrives
//! (RFC 8305 §3). A resolver that answers once (getaddrinfo) yields one batch.
//!
//! Host names are validated before any resolver is called, and a literal IP
//! address never reaches one.
//!
//! The layers, bottom up: `name` (how names compare) and `error`
//! ([`ResolveError`]); `svcb` (HTTPS records and their merging into the
//! race's batches); `api` (the [`Resolve`] trait); the resolvers: `system`
//! (getaddrinfo) and, with the `hickory` feature, `servers` (hickory's errors
//! in plain words), `cached` (the process-wide configuration and cache),
//! `https_lookup` (the HTTPS query) and `hickory` (AAAA ‖ A ‖ HTTPS
//! streamed); on top, `resolver` ([`Resolver`], which picks the default).

mod api;
#[cfg(feature = "hickory")]
mod cached;
mod error;
#[cfg(feature = "hickory")]
mod hickory;
#[cfg(feature = "hickory")]
mod https_lookup;
mod name;
pub(crate) mod nat64;
mod resolver;
#[cfg(feature = "hickory")]
mod servers;
pub(crate) mod svcb;
mod system;

pub use api::{Addrs, Resolve};
pub(crate) use error::{resolve_io_kind, write_resolve_failure};

/// What the fuzz targets reach of the resolver (see `src/fuzzing.rs`).
#[cfg(all(fuzzing, feature = "hickory"))]
pub(crate) use cached::Conf;
pub use error::{ResolveError, ResolveErrorKind};
#[cfg(feature = "hickory")]
pub use hickory::{HickoryResolver, DEFAULT_RESOLUTION_DELAY};
pub use resolver::Resolver;
pub use svcb::{Resolution, Resolved, ServiceRecord, MAX_ALIAS_DEPTH};
pub use system::SystemResolver;
