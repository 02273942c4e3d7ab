//! SOCKS5 (RFC 1928) with no authentication or username/password (RFC
//! 1929): the greeting, the authentication and the `CONNECT` request, each
//! answer read to its exact length (never past it).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Dest, Refusal};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// Asks the SOCKS5 proxy on `stream` for a tunnel to `dest`,
/// authenticating with `auth` if given (checked already: each at most 255
/// bytes); the reply to the `CONNECT` request is [`reply`]'s to read.
/// `stream` is the connection to the proxy (a `TcpStream` in practice:
/// SOCKS5 has no TLS variant).
pub(super) async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    dest: &Dest,
    auth: Option<(&str, &str)>,
) -> Result<(), Refusal> {
    let greeting: &[u8] = match auth {
        Some(_) => &[VERSION, 2, NO_AUTH, USER_PASS],
        None => &[VERSION, 1, NO_AUTH],
    };
    write(stream, greeting).await?;
    let mut chosen = [0u8; 2];
    read(stream, &mut chosen, "the greeting").await?;
    if chosen[0] != VERSION {
        return Err(Refusal::new(
            io::ErrorKind::InvalidData,
            format!(
                "the proxy is not a SOCKS5 proxy: it answered the greeting with version {}",
                chosen[0]
            ),
        ));
    }
    match (chosen[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, pass))) => {
            let mut request = Vec::with_capacity(3 + user.len() + pass.len());
            request.push(1);
            request.push(user.len() as u8);
            request.extend_from_slice(user.as_bytes());
            request.push(pass.len() as u8);
            request.extend_from_slice(pass.as_bytes());
            write(stream, &request).await?;
            let mut status = [0u8; 2];
            read(stream, &mut status, "the authentication").await?;
            if status[1] != 0 {
                return Err(Refusal::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "the SOCKS5 proxy refused the credentials (status {})",
                        status[1]
                    ),
                )
                .with_status(u16::from(status[1])));
            }
        }
        (NO_ACCEPTABLE, None) => {
            return Err(Refusal::new(
                io::ErrorKind::PermissionDenied,
                "the SOCKS5 proxy wants credentials (it accepts no connection without \
                 authentication): give them with Proxy::basic_auth or in the proxy's URL",
            ))
        }
        (NO_ACCEPTABLE, Some(_)) => {
            return Err(Refusal::new(
                io::ErrorKind::PermissionDenied,
                "the SOCKS5 proxy accepts neither no authentication nor username/password",
            ))
        }
        (method, _) => {
            return Err(Refusal::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the SOCKS5 proxy chose authentication method {method}, which was not offered"
                ),
            ))
        }
    }
    let mut request = vec![VERSION, 1, 0];
    match dest {
        Dest::Name(host, port) => {
            // Checked by the target's parser: a host name is at most 253
            // bytes.
            request.push(3);
            request.push(host.len() as u8);
            request.extend_from_slice(host.as_bytes());
            request.extend_from_slice(&port.to_be_bytes());
        }
        Dest::Addr(SocketAddr::V4(addr)) => {
            request.push(1);
            request.extend_from_slice(&addr.ip().octets());
            request.extend_from_slice(&addr.port().to_be_bytes());
        }
        Dest::Addr(SocketAddr::V6(addr)) => {
            request.push(4);
            request.extend_from_slice(&addr.ip().octets());
            request.extend_from_slice(&addr.port().to_be_bytes());
        }
    }
    write(stream, &request).await
}

/// The proxy's reply to the `CONNECT` [`request`] for `dest`, read from
/// `stream` to its exact length: on success the stream is at the tunnel's
/// first byte.
pub(super) async fn reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    dest: &Dest,
) -> Result<(), Refusal> {
    let mut reply = [0u8; 4];
    read(stream, &mut reply, "the CONNECT request").await?;
    if reply[0] != VERSION {
        return Err(Refusal::new(
            io::ErrorKind::InvalidData,
            format!(
                "the SOCKS5 proxy answered CONNECT with version {}",
                reply[0]
            ),
        ));
    }
    if reply[1] != 0 {
        let (kind, what) = reply_words(reply[1]);
        return Err(Refusal::new(
            kind,
            format!(
                "the SOCKS5 proxy could not connect to {dest}: {what} (reply {})",
                reply[1]
            ),
        )
        .with_status(u16::from(reply[1])));
    }
    // The address the proxy bound: read and left.
    let rest = match reply[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            read(stream, &mut len, "the CONNECT reply").await?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(Refusal::new(
                io::ErrorKind::InvalidData,
                format!("the SOCKS5 proxy's reply has an unknown address type {other}"),
            ))
        }
    };
    let mut bound = [0u8; 257];
    read(stream, &mut bound[..rest], "the CONNECT reply").await?;
    Ok(())
}

/// What a reply code means (RFC 1928 §6), and the `io::ErrorKind` it is.
fn reply_words(code: u8) -> (io::ErrorKind, &'static str) {
    match code {
        1 => (io::ErrorKind::Other, "general SOCKS server failure"),
        2 => (
            io::ErrorKind::PermissionDenied,
            "connection not allowed by ruleset",
        ),
        3 => (io::ErrorKind::NetworkUnreachable, "network unreachable"),
        4 => (io::ErrorKind::HostUnreachable, "host unreachable"),
        5 => (io::ErrorKind::ConnectionRefused, "connection refused"),
        6 => (io::ErrorKind::TimedOut, "TTL expired"),
        7 => (io::ErrorKind::Unsupported, "command not supported"),
        8 => (io::ErrorKind::Unsupported, "address type not supported"),
        _ => (io::ErrorKind::Other, "unassigned reply code"),
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Result<(), Refusal> {
    stream
        .write_all(bytes)
        .await
        .map_err(Refusal::io("writing to the SOCKS5 proxy"))
}

async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    answer_to: &str,
) -> Result<(), Refusal> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(Refusal::closed(&format!("before answering {answer_to}")))
        }
        Err(e) => Err(Refusal::io("reading from the SOCKS5 proxy")(e)),
    }
}
