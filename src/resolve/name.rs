//! How a host name is compared: without a trailing dot, in lower case.
//! Below every resolver module; imports nothing of the crate.

/// `name` as the tables and caches key it.
pub(crate) fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
