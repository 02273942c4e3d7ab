//! PROXY protocol headers (v1 and v2), as the server's parser reads them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tokio_endpoints::fuzzing::proxy_header(data));
