//! The pieces the crate's error types share: how a duration reads, how an
//! OS error reads in a one-line message, which `io::ErrorKind` a list of
//! failures converts to, and the multi-line `Debug` report that
//! `fn main() -> io::Result<()>` prints. How resolver errors are summed up
//! is the resolver's own (`resolve::error`); this module knows no side.
//!
//! [`ConnectError`](crate::ConnectError),
//! [`DatagramError`](crate::DatagramError) and
//! [`ServerError`](crate::ServerError) build their messages from these, so
//! that they read alike.
//!
//! # Who says what: each fact once
//!
//! `anyhow`'s `{:#}`, `tracing` and `eyre` print an error as each link's
//! `Display` joined with `": "`, walking `source()`. So an error either
//! says its cause in its `Display` or returns it from `source()`, never
//! both (the Rust API guidelines' rule). Which layer owns which text:
//!
//! * The call errors (`ConnectError`, `DatagramError`, `ServerError`) own
//!   every attempt's and the resolver's text: their one line must read on
//!   its own (`connect to localhost:9: connection refused (2 attempts)`),
//!   so they quote those errors and `source()` is `None`. Programs get the
//!   pieces from the accessors (`attempts()`, `resolve_errors()`,
//!   `tls_error()`), not from `source()`.
//! * The one exception is a TLS failure that reads in plain words
//!   (`shared/tls_words.rs`): the words replace rustls's message, so the
//!   `rustls::Error` is the `source()` (programs walk a chain for it), and
//!   its own text follows the words once.
//! * A `ResolveError` says what happened in the crate's words; the
//!   resolver's error (hickory's) is its `source()` where the words
//!   replaced its message, and `None` where the message quotes it (a cause
//!   given without a reason, getaddrinfo's text, a hickory I/O error).

use std::fmt;
use std::io;
use std::time::Duration;

/// A duration at a resolution that shows what happened on loopback:
/// `0.21 ms` below 10 ms (`0.004 ms` below 10 µs, `<0.001 ms` below 1 µs:
/// a duration that is not zero never reads `0 ms`), `12 ms` below 1 s,
/// `1.25 s` above (trailing zeros dropped: `5 s`, `2.5 ms`; zero is `0 ms`).
#[derive(Clone, Copy)]
pub(crate) struct Dur(pub(crate) Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if !d.is_zero() && d < Duration::from_micros(1) {
            return f.write_str("<0.001 ms");
        }
        let (value, unit) = if d < Duration::from_micros(10) {
            (format!("{:.3}", d.as_secs_f64() * 1e3), "ms")
        } else if d < Duration::from_millis(10) {
            (format!("{:.2}", d.as_secs_f64() * 1e3), "ms")
        } else if d < Duration::from_secs(1) {
            (format!("{:.0}", d.as_secs_f64() * 1e3), "ms")
        } else {
            (format!("{:.2}", d.as_secs_f64()), "s")
        };
        let value = if value.contains('.') {
            value.trim_end_matches('0').trim_end_matches('.')
        } else {
            &value
        };
        // 9.999 ms rounds to "10.00": still reads right as "10 ms".
        write!(f, "{value} {unit}")
    }
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An `io::Error` as it reads inside a one-line message: an OS error as
/// its description in lower case, without the `(os error N)` suffix
/// (`connection refused`); any other error as its `Display`.
pub(crate) struct Brief<'a>(pub(crate) &'a io::Error);

impl fmt::Display for Brief<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        #[cfg(feature = "tls")]
        if let Some(words) = e
            .get_ref()
            .and_then(|r| r.downcast_ref::<rustls::Error>())
            .and_then(|r| {
                crate::shared::tls_words::tls_words(
                    r,
                    &crate::shared::tls_words::TlsContext::CLIENT,
                )
            })
        {
            return f.write_str(&words);
        }
        let Some(code) = e.raw_os_error() else {
            return write!(f, "{e}");
        };
        let text = e.to_string();
        let text = text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text);
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => {
                write!(f, "{}{}", c.to_lowercase(), chars.as_str())
            }
            None => write!(f, "{}", e.kind()),
        }
    }
}

/// The kind every error of `kinds` has, if they agree.
pub(crate) fn common_kind(mut kinds: impl Iterator<Item = io::ErrorKind>) -> Option<io::ErrorKind> {
    let first = kinds.next()?;
    kinds.all(|k| k == first).then_some(first)
}

/// The multi-line report `{:?}` prints: the one-line message, then the
/// attempts one per line, then the resolver's errors one per line. A line
/// is never repeated: the AAAA and A queries for a name that does not
/// exist both end in `nope.test: no such name (NXDOMAIN)`, said once
/// (queries that ended differently are labelled by `ResolveError`'s own
/// `Display`: `h.test: A query: ...`).
pub(crate) fn debug_report<A: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    message: &dyn fmt::Display,
    attempts: &[A],
    resolve_errors: &[impl fmt::Display],
) -> fmt::Result {
    write!(f, "{message}")?;
    if !attempts.is_empty() {
        f.write_str("\n  attempts:")?;
        for a in attempts {
            write!(f, "\n    {a}")?;
        }
    }
    if !resolve_errors.is_empty() {
        f.write_str("\n  resolve errors:")?;
        let mut said: Vec<String> = Vec::new();
        for e in resolve_errors {
            let line = e.to_string();
            if !said.contains(&line) {
                write!(f, "\n    {line}")?;
                said.push(line);
            }
        }
    }
    Ok(())
}

/// The errors of failed attempts in one line: the one error, or `3
/// {plural} failed: a; b; c`; `none` when there is none.
pub(crate) fn write_errors<'a>(
    f: &mut fmt::Formatter<'_>,
    plural: &str,
    none: &str,
    mut errors: impl ExactSizeIterator<Item = &'a io::Error>,
) -> fmt::Result {
    match errors.len() {
        0 => f.write_str(none),
        1 => errors.try_for_each(|e| write!(f, "{}", Brief(e))),
        n => {
            write!(f, "{n} {plural} failed: ")?;
            for (i, e) in errors.enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{}", Brief(e))?;
            }
            Ok(())
        }
    }
}

/// An `io::Error` in a report line: the brief form, with the OS error code
/// when there is one (`connection refused (os error 111)`).
pub(crate) fn full(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{} (os error {code})", Brief(e)),
        None => e.to_string(),
    }
}

/// Why the `SO_SNDBUF` / `SO_RCVBUF` sizes `send` and `recv` (the
/// builders' `send_buffer_size` and `recv_buffer_size`) cannot be set: the
/// kernel takes an `int`, so a larger `usize` would wrap (socket2 casts
/// it). `None` when both fit or are not set. Shared by the client and
/// server builders.
pub(crate) fn buffer_size_error(send: Option<usize>, recv: Option<usize>) -> Option<String> {
    [("send_buffer_size", send), ("recv_buffer_size", recv)]
        .into_iter()
        .find_map(|(name, size)| match size {
            Some(size) if size > i32::MAX as usize => Some(format!(
                "{name}({size}) is over {}, the most SO_SNDBUF / SO_RCVBUF take (a C int)",
                i32::MAX
            )),
            _ => None,
        })
}

/// Why a Unix socket `path` (`what` names the option) cannot be used: a
/// NUL byte anywhere but first (the leading NUL is the kernel's mark of an
/// abstract name), which the kernel would read the path only up to, or
/// take into an abstract name, so that a different socket than the one
/// named would be used. `None` when there is none. Refused by every side
/// before a socket is opened.
#[cfg(unix)]
pub(crate) fn unix_path_nul_error(what: &str, path: &std::path::Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let nul = path.as_os_str().as_bytes().iter().skip(1).any(|&b| b == 0);
    nul.then(|| {
        format!(
            "{what} {:?} holds a NUL byte (only an abstract name's leading NUL may be one)",
            path.as_os_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_useful_resolution() {
        let cases = [
            (Duration::ZERO, "0 ms"),
            (Duration::from_nanos(300), "<0.001 ms"),
            (Duration::from_nanos(4_200), "0.004 ms"),
            (Duration::from_nanos(9_999), "0.01 ms"),
            (Duration::from_micros(50), "0.05 ms"),
            (Duration::from_micros(210), "0.21 ms"),
            (Duration::from_micros(2_500), "2.5 ms"),
            (Duration::from_micros(9_994), "9.99 ms"),
            (Duration::from_micros(12_400), "12 ms"),
            (Duration::from_millis(250), "250 ms"),
            (Duration::from_millis(999), "999 ms"),
            (Duration::from_secs(1), "1 s"),
            (Duration::from_millis(1_250), "1.25 s"),
            (Duration::from_secs(5), "5 s"),
            (Duration::from_secs(60), "60 s"),
        ];
        for (d, want) in cases {
            assert_eq!(Dur(d).to_string(), want, "{d:?}");
        }
    }

    #[test]
    fn os_errors_read_in_lower_case_without_their_code() {
        let refused = io::Error::from_raw_os_error(libc_refused());
        assert_eq!(Brief(&refused).to_string(), "connection refused");
        assert!(full(&refused).starts_with("connection refused (os error "));
        let custom = io::Error::other("bind to 127.0.0.1:1: Permission denied");
        assert_eq!(
            Brief(&custom).to_string(),
            "bind to 127.0.0.1:1: Permission denied"
        );
    }

    fn libc_refused() -> i32 {
        // ECONNREFUSED: 111 on Linux, 61 on the BSDs and macOS, 10061 on Windows.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        std::net::TcpStream::connect(addr)
            .unwrap_err()
            .raw_os_error()
            .unwrap()
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_failures_read_in_plain_words() {
        use rustls::{AlertDescription, CertificateError, Error};
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert_eq!(
            Brief(&e).to_string(),
            "the server's certificate is not signed by a trusted CA (UnknownIssuer); \
             trust its CA: pass it with tls_ca_file(\"ca.pem\") or add it to the \
             tls_config's root store"
        );
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            Error::AlertReceived(AlertDescription::HandshakeFailure),
        );
        assert_eq!(
            Brief(&e).to_string(),
            "the server ended the handshake with the fatal alert handshake_failure: \
             no TLS version or cipher suite in common?"
        );
        // rustls's own message where it reads well.
        let e = io::Error::new(io::ErrorKind::InvalidData, Error::DecryptError);
        assert_eq!(Brief(&e).to_string(), "cannot decrypt peer's message");
    }

    #[test]
    fn reports_never_repeat_a_line() {
        struct Report<'a>(&'a [&'a str]);
        impl fmt::Display for Report<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                debug_report(
                    f,
                    &"connect to nope.test:80: cannot resolve",
                    &[] as &[&str],
                    self.0,
                )
            }
        }
        let nx = "nope.test: no such name (NXDOMAIN)";
        assert_eq!(
            Report(&[nx, nx]).to_string(),
            format!("connect to nope.test:80: cannot resolve\n  resolve errors:\n    {nx}")
        );
    }

    #[test]
    fn common_kinds() {
        use io::ErrorKind::*;
        assert_eq!(common_kind([].into_iter()), None);
        assert_eq!(
            common_kind([AddrInUse, AddrInUse].into_iter()),
            Some(AddrInUse)
        );
        assert_eq!(common_kind([AddrInUse, TimedOut].into_iter()), None);
    }
}
