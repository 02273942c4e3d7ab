//! URIs given to the `Connector` (its tower `Service`, as hyper-util's
//! client and tonic call it).
#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| tokio_endpoints::fuzzing::uri(s));
