//! HTTP `CONNECT` (RFC 9110 §9.3.6): the request, and its answer read up
//! to the blank line and never past it.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::connect::{TunnelIo, TunnelStream};

use super::Refusal;

/// The most a `CONNECT` answer's head may hold (hyper-util's `Tunnel`
/// allows 8 KiB; a proxy's error page can carry long headers).
const MAX_HEAD: usize = 16 * 1024;

/// Asks the proxy on `stream` for a tunnel to `authority` (`host:port`,
/// `[v6]:port`), with a `Proxy-Authorization` value if given; the answer
/// is [`answer`]'s to read.
pub(super) async fn request(
    stream: &mut TunnelStream,
    authority: &str,
    authorization: Option<&str>,
) -> Result<(), Refusal> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(value) = authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(Refusal::io("sending CONNECT to the proxy"))
}

/// The proxy's answer to the [`request`] for a tunnel to `authority`
/// (`authorized`: it carried credentials), read from `stream`. On success
/// the stream is at the first byte after the answer's head, or, with
/// `early` (the caller takes bytes that came with the head: TLS with the
/// origin), past what the reads took, and the bytes after the head are
/// returned.
pub(super) async fn answer(
    stream: TunnelIo<'_>,
    authority: &str,
    authorized: bool,
    early: bool,
) -> Result<Vec<u8>, Refusal> {
    let (head, after) = match stream {
        // One read per segment, as hyper-util's `Tunnel` reads: no peek
        // (a system call per segment saved), and a short read leaves the
        // socket's readiness cleared, so the ClientHello's first read waits
        // for the ServerHello instead of trying the socket first.
        TunnelIo::Tcp(tcp) if early => read_head_with_rest(tcp).await?,
        TunnelIo::Tcp(tcp) => (read_head(tcp).await?, Vec::new()),
        // TLS with an https proxy: nothing to peek at, and reading one
        // byte at a time copies out of rustls's buffer (no system call).
        TunnelIo::Carried(carried) => (read_head_bytewise(carried).await?, Vec::new()),
    };
    let answer = parse(&head)?;
    judge(&answer, authority, authorized)?;
    Ok(after)
}

/// The answer's head up to its blank line, and the bytes the same reads
/// took past it (a TLS origin speaks only after the ClientHello, which is
/// sent after the head: these are none unless the origin is not TLS, and
/// then rustls, which is handed them, says so).
async fn read_head_with_rest(stream: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf).await.map_err(Refusal::io(READING))?;
        if n == 0 {
            return Err(closed_in(&head));
        }
        let before = head.len();
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head, before.saturating_sub(3)) {
            let after = head.split_off(end);
            return Ok((head, after));
        }
        if head.len() > MAX_HEAD {
            return Err(head_too_long());
        }
    }
}

/// The answer's head, taken off the socket up to its blank line and not
/// one byte further: what the socket holds is peeked, and only the bytes
/// up to the end of the head are read (a `TcpStream` cannot be handed back
/// with bytes put back in front).
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Refusal> {
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.peek(&mut buf).await.map_err(Refusal::io(READING))?;
        if n == 0 {
            return Err(closed_in(&head));
        }
        // Where the head ends, counted in the peeked bytes.
        let before = head.len();
        head.extend_from_slice(&buf[..n]);
        let take = match head_end(&head, before.saturating_sub(3)) {
            Some(end) => end - before,
            None => n,
        };
        head.truncate(before + take);
        stream
            .read_exact(&mut buf[..take])
            .await
            .map_err(Refusal::io(READING))?;
        if head_end(&head, before.saturating_sub(3)).is_some() {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(head_too_long());
        }
    }
}

/// The answer's head, read one byte at a time up to its blank line.
async fn read_head_bytewise<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> Result<Vec<u8>, Refusal> {
    let mut head = Vec::with_capacity(256);
    loop {
        let mut byte = [0u8; 1];
        let n = stream.read(&mut byte).await.map_err(Refusal::io(READING))?;
        if n == 0 {
            return Err(closed_in(&head));
        }
        head.push(byte[0]);
        if byte[0] == b'\n' && head_end(&head, head.len() - 1).is_some() {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(head_too_long());
        }
    }
}

/// What a failed read of the answer was doing.
const READING: &str = "reading the proxy's answer to CONNECT";

/// The proxy closed the connection with `head` read so far.
fn closed_in(head: &[u8]) -> Refusal {
    if head.is_empty() {
        Refusal::closed("without answering CONNECT")
    } else {
        Refusal::closed("in the middle of its answer to CONNECT")
    }
}

/// The answer's head grew past [`MAX_HEAD`] without its blank line.
fn head_too_long() -> Refusal {
    Refusal::new(
        io::ErrorKind::InvalidData,
        format!("the proxy's answer to CONNECT has a head over {MAX_HEAD} bytes"),
    )
}

/// The index just past the blank line that ends a head (`\r\n\r\n`, or a
/// bare `\n\n`, which RFC 9112 §2.2 lets a recipient accept), searching
/// from `from`.
fn head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes[..i].ends_with(b"\n") {
                return Some(i + 1);
            }
            if bytes[..i].ends_with(b"\n\r") {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// A `CONNECT` answer: its status, reason phrase and what the proxy asks
/// for in `Proxy-Authenticate`.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    reason: String,
    authenticate: Option<String>,
}

/// The head's status line and the header the errors name.
fn parse(head: &[u8]) -> Result<Answer, Refusal> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let malformed = || {
        Refusal::new(
            io::ErrorKind::InvalidData,
            format!(
                "the proxy's answer to CONNECT is not HTTP: {:?}",
                printable(status_line, 60)
            ),
        )
    };
    let rest = status_line.strip_prefix("HTTP/1.").ok_or_else(malformed)?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next().unwrap_or_default();
    if minor.len() != 1 || !minor.as_bytes()[0].is_ascii_digit() {
        return Err(malformed());
    }
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let status: u16 = code.parse().map_err(|_| malformed())?;
    let reason = printable(parts.next().unwrap_or_default().trim(), 100);
    let authenticate = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authenticate"))
        .map(|(_, value)| printable(value.trim(), 100));
    Ok(Answer {
        status,
        reason,
        authenticate,
    })
}

/// At most `max` characters of `text`, without control characters.
fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Any 2xx opens the tunnel; every other status is named.
fn judge(answer: &Answer, authority: &str, sent_credentials: bool) -> Result<(), Refusal> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let said = if answer.reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {}", answer.reason)
    };
    let (kind, message) = match status {
        // tinyproxy answers wrong credentials with `401 Unauthorized`.
        401 | 407 if sent_credentials => (
            io::ErrorKind::PermissionDenied,
            format!("the proxy refused the credentials ({said})"),
        ),
        401 | 407 => (
            io::ErrorKind::PermissionDenied,
            format!(
                "the proxy wants credentials ({said}{}): give them with Proxy::basic_auth \
                 or in the proxy's URL",
                match &answer.authenticate {
                    Some(scheme) => format!(", Proxy-Authenticate: {scheme}"),
                    None => String::new(),
                }
            ),
        ),
        403 => (
            io::ErrorKind::PermissionDenied,
            format!("the proxy refused a tunnel to {authority} ({said})"),
        ),
        _ => (
            io::ErrorKind::Other,
            format!("the proxy answered CONNECT {authority} with {said}"),
        ),
    };
    Err(Refusal::new(kind, message).with_status(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(head: &str) -> Result<Answer, String> {
        parse(head.as_bytes()).map_err(|e| e.message)
    }

    #[test]
    fn heads_end_at_the_blank_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nrest", 0), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\n\nrest", 0), Some(17));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r", 0), None);
    }

    #[test]
    fn status_lines_of_both_versions_parse() {
        let a = answer("HTTP/1.0 200 Connection established\r\n\r\n").unwrap();
        assert_eq!(
            (a.status, a.reason.as_str()),
            (200, "Connection established")
        );
        let a = answer("HTTP/1.1 201\r\n\r\n").unwrap();
        assert_eq!((a.status, a.reason.as_str()), (201, ""));
        let a = answer(
            "HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n\r\n",
        )
        .unwrap();
        assert_eq!(a.status, 407);
        assert_eq!(a.authenticate.as_deref(), Some("Basic realm=\"corp\""));
        assert!(answer("SSH-2.0-OpenSSH\r\n\r\n")
            .unwrap_err()
            .contains("not HTTP"));
        assert!(answer("HTTP/1.1 20 OK\r\n\r\n")
            .unwrap_err()
            .contains("not HTTP"));
        assert!(answer("HTTP/2 200\r\n\r\n")
            .unwrap_err()
            .contains("not HTTP"));
    }

    #[test]
    fn any_2xx_opens_and_the_rest_are_named() {
        let judged = |head: &str, creds| {
            judge(&answer(head).unwrap(), "origin:443", creds).map_err(|e| (e.status, e.message))
        };
        assert!(judged("HTTP/1.1 200 OK\r\n\r\n", false).is_ok());
        assert!(judged("HTTP/1.1 201 Created\r\n\r\n", false).is_ok());
        assert!(judged("HTTP/1.0 299 Whatever\r\n\r\n", false).is_ok());
        let (status, message) =
            judged("HTTP/1.0 407 Proxy Authentication Required\r\n\r\n", false).unwrap_err();
        assert_eq!(status, Some(407));
        assert!(message.contains("wants credentials"), "{message}");
        let (_, message) = judged("HTTP/1.1 407 Nope\r\n\r\n", true).unwrap_err();
        assert!(message.contains("refused the credentials"), "{message}");
        let (status, message) = judged("HTTP/1.1 502 Bad Gateway\r\n\r\n", false).unwrap_err();
        assert_eq!(status, Some(502));
        assert_eq!(
            message,
            "the proxy answered CONNECT origin:443 with 502 Bad Gateway"
        );
    }
}
