//! resolv.conf contents, then a name looked up under them. The input is
//! the file, a NUL byte, and the name.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (text, name) = split(data);
    tokio_endpoints::fuzzing::resolv_conf(text, name);
});

fn split(data: &[u8]) -> (&[u8], &str) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], std::str::from_utf8(&data[i + 1..]).unwrap_or("name")),
        None => (data, "name"),
    }
}
