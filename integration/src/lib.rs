//! Nothing here: this package holds tokio-endpoints' integration tests and
//! benchmarks whose dependencies are heavy (see `Cargo.toml`), so that the
//! crate's own examples build without them.

/// Every Rust block of the crate's README.md, compiled (and run, unless
/// `no_run`) as a doc test, so `cargo test --workspace --all-features` fails when the
/// README goes stale. Here rather than in the crate: its examples use
/// tonic and hyper's server, dev-dependencies of this package only.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
