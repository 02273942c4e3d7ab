//! hosts-file contents, then a name looked up in them. The input is the
//! file, a NUL byte, and the name.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (text, name) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], std::str::from_utf8(&data[i + 1..]).unwrap_or("localhost")),
        None => (data, "localhost"),
    };
    tokio_endpoints::fuzzing::hosts(text, name);
});
