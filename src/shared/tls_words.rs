//! TLS failures in plain words, on both sides: rustls names what went wrong
//! with the name of an enum variant (`invalid peer certificate:
//! Other(OtherError(CaUsedAsEndEntity))`, `received corrupt message of type
//! InvalidContentType`); a person needs to read what it means and what to
//! do. [`explain`] wraps a handshake's `io::Error` so its message is the
//! plain words and the rustls error stays its `source()`.
//!
//! The words know who is speaking ([`Side`]): a client names the server's
//! certificate and address, a server names the client's address.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError as C, Error as E, InvalidMessage};

/// Which end of the handshake we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// What the words may name: the server name the certificate was checked
/// for (client side), the peer's address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TlsContext<'a> {
    pub(crate) side: Side,
    pub(crate) name: Option<&'a ServerName<'static>>,
    pub(crate) peer: Option<SocketAddr>,
}

impl TlsContext<'_> {
    /// A client's context that knows nothing (for errors read out of
    /// context, as `Brief` does).
    pub(crate) const CLIENT: TlsContext<'static> = TlsContext {
        side: Side::Client,
        name: None,
        peer: None,
    };

    fn cert(&self) -> String {
        match self.name {
            Some(name) => format!("the certificate of {}", name_str(name)),
            None => "the server's certificate".to_string(),
        }
    }

    fn peer(&self) -> String {
        let who = match self.side {
            Side::Client => "the server",
            Side::Server => "the client",
        };
        match self.peer {
            Some(peer) => format!("{who} at {peer}"),
            None => who.to_string(),
        }
    }
}

/// A handshake error in plain words, with the rustls error as its source:
/// the payload of the `io::Error` [`explain`] returns.
#[derive(Clone, Debug)]
pub(crate) struct TlsFailure {
    words: String,
    error: rustls::Error,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words)
    }
}

impl StdError for TlsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

/// `e` with its message in plain words where it is a rustls error that
/// has them; the kind is kept, and the rustls error is the payload's
/// `source()` (and [`rustls_error`] finds it).
pub(crate) fn explain(e: io::Error, cx: &TlsContext<'_>) -> io::Error {
    let Some(error) = e.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) else {
        return e;
    };
    match tls_words(error, cx) {
        Some(words) => io::Error::new(
            e.kind(),
            TlsFailure {
                words,
                error: error.clone(),
            },
        ),
        None => e,
    }
}

/// `e`, a rustls error, with its message replaced by `words` (a side's
/// own words for it); the kind is kept, and the rustls error stays the
/// payload's `source()`. `e` as it is when it holds no rustls error.
pub(crate) fn with_words(e: io::Error, words: String) -> io::Error {
    let Some(error) = rustls_error(&e).cloned() else {
        return e;
    };
    io::Error::new(e.kind(), TlsFailure { words, error })
}

/// The rustls error of a handshake's `io::Error`, explained or not.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    let payload = e.get_ref()?;
    if let Some(failure) = payload.downcast_ref::<TlsFailure>() {
        return Some(&failure.error);
    }
    payload.downcast_ref::<rustls::Error>()
}

/// The rustls error of a handshake's `io::Error` whose message reads in
/// plain words instead of rustls's text (explained, or words that
/// `Brief` gives it): the `source()` of a `ConnectError` that quotes those
/// words. `None` where the message is rustls's own text, said already.
pub(crate) fn replaced_rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    let payload = e.get_ref()?;
    if let Some(failure) = payload.downcast_ref::<TlsFailure>() {
        return Some(&failure.error);
    }
    let tls = payload.downcast_ref::<rustls::Error>()?;
    tls_words(tls, &TlsContext::CLIENT).map(|_| tls)
}

/// A copy of an explained error (`io::Error` is not `Clone`), if it is one.
pub(crate) fn duplicate_explained(e: &io::Error) -> Option<io::Error> {
    let payload = e.get_ref()?;
    if let Some(failure) = payload.downcast_ref::<TlsFailure>() {
        return Some(io::Error::new(e.kind(), failure.clone()));
    }
    let tls = payload.downcast_ref::<rustls::Error>()?;
    Some(io::Error::new(e.kind(), tls.clone()))
}

/// A server name as text: `localhost`, `127.0.0.1`, `::1`.
pub(crate) fn name_str(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The names a certificate presents, as text: rustls and webpki give them
/// in their `Debug` form (`DnsName("localhost")`, `IpAddress(127.0.0.1)`).
pub(crate) fn presented(names: &[String]) -> String {
    names
        .iter()
        .map(|n| {
            n.strip_prefix("DnsName(\"")
                .and_then(|n| n.strip_suffix("\")"))
                .or_else(|| {
                    n.strip_prefix("IpAddress(")
                        .and_then(|n| n.strip_suffix(')'))
                })
                .unwrap_or(n)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to add `name` to a certificate: `subjectAltName=DNS:localhost` or
/// `subjectAltName=IP:127.0.0.1`.
pub(crate) fn san_for(name: &ServerName<'_>) -> String {
    match name {
        ServerName::IpAddress(_) => format!("subjectAltName=IP:{}", name_str(name)),
        _ => format!("subjectAltName=DNS:{}", name_str(name)),
    }
}

/// A certificate time as a UTC date: `2001-01-01 00:00:00 UTC`.
pub(crate) fn date(t: UnixTime) -> String {
    let secs = t.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A TLS failure in plain words, saying what to do where there is
/// something to do; the variant's name stays in parentheses where it helps
/// a search. `None`: rustls's own message reads well.
pub(crate) fn tls_words(e: &rustls::Error, cx: &TlsContext<'_>) -> Option<String> {
    let cert = cx.cert();
    let peer = cx.peer();
    let server = cx.side == Side::Server;
    Some(match e {
        E::InvalidCertificate(c) => {
            if server {
                // A client certificate the server refused.
                return Some(format!(
                    "the client certificate of {peer} was refused: {}",
                    certificate_words(c, "the certificate", cx)?
                ));
            }
            certificate_words(c, &cert, cx)?
        }
        E::InvalidMessage(InvalidMessage::InvalidContentType)
        | E::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            if server {
                format!("{peer} did not speak TLS (plain text to a TLS port?)")
            } else {
                format!("{peer} did not answer with TLS (is it a plain-text port?)")
            }
        }
        E::InvalidMessage(why) => format!("{peer} sent a malformed TLS message ({why:?})"),
        E::AlertReceived(alert) => alert_words(*alert, &peer, cx.side),
        E::PeerIncompatible(why) => format!(
            "{peer} and this {} have no TLS parameters in common ({why:?}): \
             check the TLS versions, cipher suites and ALPN protocols",
            if server { "server" } else { "client" }
        ),
        E::PeerMisbehaved(why) => format!("{peer} broke the TLS protocol ({why:?})"),
        E::NoApplicationProtocol => {
            if server {
                format!("{peer} offered none of this server's ALPN protocols")
            } else {
                format!("{peer} supports none of the ALPN protocols offered")
            }
        }
        E::NoCertificatesPresented => {
            if server {
                format!("{peer} sent no client certificate, and this server requires one")
            } else {
                format!("{peer} sent no certificate")
            }
        }
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            format!("{peer} sent a TLS message out of turn ({e})")
        }
        _ => return None,
    })
}

fn certificate_words(c: &C, cert: &str, cx: &TlsContext<'_>) -> Option<String> {
    #[allow(deprecated)]
    let words = match c {
        C::BadEncoding => format!("{cert} is malformed (BadEncoding)"),
        C::Expired => format!("{cert} has expired (Expired)"),
        C::ExpiredContext { not_after, .. } => format!(
            "{cert} expired on {} (Expired): it must be renewed",
            date(*not_after)
        ),
        C::NotValidYet => {
            format!("{cert} is not valid yet (NotValidYet): is this machine's clock right?")
        }
        C::NotValidYetContext { not_before, .. } => format!(
            "{cert} is not valid until {} (NotValidYet): is this machine's clock right?",
            date(*not_before)
        ),
        C::Revoked => format!("{cert} was revoked (Revoked)"),
        C::UnhandledCriticalExtension => format!(
            "{cert} has a critical extension this program does not understand \
             (UnhandledCriticalExtension)"
        ),
        C::UnknownIssuer => format!(
            "{cert} is not signed by a trusted CA (UnknownIssuer); trust its CA: \
             pass it with tls_ca_file(\"ca.pem\") or add it to the tls_config's root store"
        ),
        C::UnknownRevocationStatus => {
            format!("the revocation status of {cert} is unknown (UnknownRevocationStatus)")
        }
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            format!(
                "the revocation list to check {cert} against has expired (ExpiredRevocationList)"
            )
        }
        C::BadSignature | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
            "{cert} is signed with a key that does not match its issuer's \
             (a stale certificate of the same name in the trust store?)"
        ),
        C::UnsupportedSignatureAlgorithm | C::UnsupportedSignatureAlgorithmContext { .. } => {
            format!("{cert} is signed with an algorithm this program does not support (UnsupportedSignatureAlgorithm)")
        }
        C::NotValidForName => format!(
            "{cert} is not valid for the name connected to (NotValidForName); check server_name"
        ),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected_name = expected;
            let expected = name_str(expected);
            let cert = match cx.name {
                Some(_) => "the certificate".to_string(),
                None => cert.to_string(),
            };
            if presented.is_empty() {
                format!(
                    "{cert} has no names, so it is not valid for {expected} (NotValidForName): \
                     it needs {}",
                    san_for(expected_name)
                )
            } else {
                format!(
                    "{cert} is valid for {}, not for {expected} (NotValidForName): \
                     connect by one of those names, or set server_name",
                    self::presented(presented)
                )
            }
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => format!(
            "{cert} is not for TLS server authentication (InvalidPurpose): \
             its extendedKeyUsage lacks serverAuth"
        ),
        C::InvalidOcspResponse => {
            format!("the OCSP response stapled to {cert} is invalid (InvalidOcspResponse)")
        }
        C::ApplicationVerificationFailure => format!(
            "{cert} was refused by the configured certificate verifier \
             (ApplicationVerificationFailure)"
        ),
        C::Other(other) => {
            let inner: &(dyn StdError + 'static) = &*other.0;
            match inner.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => format!(
                    "{cert} is a CA certificate, not a server certificate (CaUsedAsEndEntity): \
                     the server must use a leaf certificate signed by that CA, or a \
                     self-signed one made with basicConstraints CA:FALSE"
                ),
                Some(webpki::Error::RequiredEkuNotFound)
                | Some(webpki::Error::RequiredEkuNotFoundContext(_)) => format!(
                    "{cert} is not for TLS server authentication (RequiredEkuNotFound): \
                     its extendedKeyUsage lacks serverAuth"
                ),
                Some(webpki::Error::PathLenConstraintViolated) => format!(
                    "{cert} is issued by a CA deeper than its issuers allow (PathLenConstraintViolated)"
                ),
                Some(webpki::Error::NameConstraintViolation) => format!(
                    "{cert} has a name its CA may not issue (NameConstraintViolation)"
                ),
                Some(webpki::Error::EndEntityUsedAsCa) => format!(
                    "{cert} is issued by a certificate that is not a CA (EndEntityUsedAsCa)"
                ),
                _ => format!("{cert} was refused ({other})"),
            }
        }
        _ => return None,
    };
    Some(words)
}

/// A fatal alert from the peer, with what it usually means.
fn alert_words(alert: AlertDescription, peer: &str, side: Side) -> String {
    use AlertDescription as A;
    let name = alert_name(&format!("{alert:?}"));
    let hint = match (side, alert) {
        (
            Side::Server,
            A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::UnsupportedCertificate,
        ) => {
            ": it refused this server's certificate (see the client's error: a CA certificate \
             used as the server's own, a CA the client does not trust, or a name the \
             certificate lacks)"
        }
        (Side::Server, A::CertificateExpired) => ": this server's certificate has expired",
        (Side::Client, A::UnrecognisedName) => {
            ": it has no certificate for the name asked for (check server_name)"
        }
        (Side::Client, A::CertificateRequired) => ": it requires a client certificate",
        (_, A::HandshakeFailure) => ": no TLS version or cipher suite in common?",
        (_, A::ProtocolVersion) => ": no TLS version in common",
        (_, A::NoApplicationProtocol) => ": no ALPN protocol in common",
        _ => "",
    };
    format!("{peer} ended the handshake with the fatal alert {name}{hint}")
}

/// A TLS alert as RFC 8446 names it: `HandshakeFailure` reads as
/// `handshake_failure`, `UnknownCA` as `unknown_ca`.
fn alert_name(debug: &str) -> String {
    let mut out = String::new();
    let mut after_lower = false;
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            if after_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        after_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_read_as_rfc_8446_names_them() {
        assert_eq!(alert_name("HandshakeFailure"), "handshake_failure");
        assert_eq!(alert_name("UnknownCA"), "unknown_ca");
        assert_eq!(alert_name("BadCertificate"), "bad_certificate");
    }

    #[test]
    fn presented_names_read_as_names() {
        let names = vec![
            "DnsName(\"localhost\")".to_string(),
            "IpAddress(127.0.0.1)".to_string(),
        ];
        assert_eq!(presented(&names), "localhost, 127.0.0.1");
    }

    #[test]
    fn dates_read_as_utc() {
        assert_eq!(
            date(UnixTime::since_unix_epoch(std::time::Duration::ZERO)),
            "1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            date(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                978_307_200 + 3_661
            ))),
            "2001-01-01 01:01:01 UTC"
        );
        assert_eq!(
            date(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                951_782_400
            ))),
            "2000-02-29 00:00:00 UTC"
        );
    }

    #[test]
    fn every_certificate_error_has_words() {
        #[allow(deprecated)]
        let errors = [
            C::BadEncoding,
            C::Expired,
            C::NotValidYet,
            C::Revoked,
            C::UnhandledCriticalExtension,
            C::UnknownIssuer,
            C::UnknownRevocationStatus,
            C::ExpiredRevocationList,
            C::BadSignature,
            C::UnsupportedSignatureAlgorithm,
            C::NotValidForName,
            C::InvalidPurpose,
            C::InvalidOcspResponse,
            C::ApplicationVerificationFailure,
            C::Other(rustls::OtherError(std::sync::Arc::new(
                webpki::Error::CaUsedAsEndEntity,
            ))),
        ];
        for c in errors {
            let words = tls_words(&E::InvalidCertificate(c.clone()), &TlsContext::CLIENT);
            let words = words.unwrap_or_else(|| panic!("no words for {c:?}"));
            assert!(
                words.starts_with("the server's certificate")
                    || words.starts_with("the revocation")
                    || words.starts_with("the OCSP"),
                "{words}"
            );
            assert!(!words.contains("OtherError"), "{words}");
        }
    }
}
