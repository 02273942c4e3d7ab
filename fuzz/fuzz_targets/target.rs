//! Target strings, as `ConnectionBuilder::new` and `(host, port)` take them.
#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| tokio_endpoints::fuzzing::target(s));
