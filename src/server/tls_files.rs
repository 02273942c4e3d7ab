//! A server's certificate and key from PEM files (`tls_pem_files`), checked
//! for what people get wrong before anything is served, each with a
//! message that says what to do:
//!
//! * a file that is missing or unreadable (named), no certificate or no key
//!   in it, the two files swapped, an encrypted key;
//! * a key that does not belong to the certificate (rustls'
//!   `CertifiedKey::keys_match`);
//! * a certificate that has expired or is not valid yet, or is not for TLS
//!   servers: webpki's own checks of an end-entity certificate, the ones
//!   every client runs, so the server fails where its clients would;
//! * a CA certificate used as the server's own (`basicConstraints
//!   CA:TRUE`, what OpenSSL 3's `openssl req -x509` makes unless told
//!   otherwise) is a `WARN` with the fix, not an error: clients that
//!   verify with webpki (rustls, and this crate's own) refuse it with
//!   `CaUsedAsEndEntity` even when they trust it, but curl, OpenSSL and
//!   the other clients that trust it accept it, so it is served;
//! * names: a certificate without the name the server is reached by is a
//!   `WARN`, not an error (clients may connect by another name).
//!
//! The same checks run when a running server reloads its files
//! (`reload_tls_pem_files`); the reload keeps the rest of the server's
//! configuration and swaps the certificate.
//!
//! PEM is read by rustls-pki-types (`PemObject`); the checks use
//! rustls-webpki, the version rustls verifies with, so they add nothing to
//! the build.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::shared::tls_words::{date, name_str, presented, san_for};

/// How to make a certificate that works, for the messages.
pub(crate) const OPENSSL_LEAF: &str = "openssl req -x509 -newkey ec -pkeyopt \
     ec_paramgen_curve:prime256v1 -nodes -days 365 -subj /CN=localhost \
     -addext basicConstraints=critical,CA:FALSE \
     -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 \
     -keyout key.pem -out cert.pem";

/// The crypto provider of the process, else the crate's
/// ([`crypto_provider`](crate::crypto_provider)).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    crate::shared::tls::crypto_provider()
}

/// The configuration of `tls_pem_files`, or why not. `reached_by`: the
/// names clients reach the server by, to warn about.
pub(crate) fn load_pem_files(
    cert_file: &Path,
    key_file: &Path,
    reached_by: &[ServerName<'static>],
) -> Result<Arc<ServerConfig>, String> {
    let provider = provider();
    let (chain, key, _) = load_checked(cert_file, key_file, reached_by, &provider)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("the crypto provider cannot make a TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "the certificate in {} and the key in {} cannot be used: {e}",
                cert_file.display(),
                key_file.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// `current` with its certificate from these PEM files, checked as
/// `tls_pem_files` checks them; everything else (protocol versions, ALPN,
/// client authentication, the session cache) is kept. The key is loaded
/// with `current`'s crypto provider.
pub(crate) fn reload_pem_files(
    current: &ServerConfig,
    cert_file: &Path,
    key_file: &Path,
    reached_by: &[ServerName<'static>],
) -> Result<Arc<ServerConfig>, String> {
    let provider = current.crypto_provider().clone();
    let (_, _, certified) = load_checked(cert_file, key_file, reached_by, &provider)?;
    let mut config = current.clone();
    config.cert_resolver = Arc::new(OneCertificate(Arc::new(certified)));
    Ok(Arc::new(config))
}

/// Serves one certificate to every client, as `with_single_cert` does.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The chain and key of the PEM files, checked (see the module docs).
fn load_checked(
    cert_file: &Path,
    key_file: &Path,
    reached_by: &[ServerName<'static>],
    provider: &CryptoProvider,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        CertifiedKey,
    ),
    String,
> {
    let chain = read_chain(cert_file, key_file)?;
    let key = read_key(key_file, cert_file)?;
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            format!(
                "the private key in {} is not usable: {e}",
                key_file.display()
            )
        })?;
    let certified = CertifiedKey::new(chain.clone(), signing);
    if let Err(rustls::Error::InconsistentKeys(_)) = certified.keys_match() {
        return Err(format!(
            "the private key in {} does not belong to the certificate in {} (their public \
             keys differ): pass the key that was made together with this certificate",
            key_file.display(),
            cert_file.display()
        ));
    }
    check_leaf(&chain, cert_file, provider, reached_by)?;
    Ok((chain, key, certified))
}

/// What a PEM file holds, for a hint when it is not what was expected.
fn sections(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

fn read_error(what: &str, path: &Path, e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read the {what} file {}: {e}", path.display()),
        e => format!("the {what} file {} is not valid PEM: {e}", path.display()),
    }
}

fn read_chain(cert_file: &Path, key_file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| read_error("certificate", cert_file, e))?;
    if !chain.is_empty() {
        return Ok(chain);
    }
    let found = sections(cert_file);
    let hint = if found.iter().any(|s| s.contains("PRIVATE KEY")) {
        if key_file == cert_file {
            "; it holds only a private key".to_string()
        } else {
            "; it holds a private key: are the two files swapped? (tls_pem_files takes the \
             certificate first, then the key)"
                .to_string()
        }
    } else if found.is_empty() {
        String::new()
    } else {
        format!("; it holds {}", found.join(", "))
    };
    Err(format!(
        "no certificate in {} (expected a -----BEGIN CERTIFICATE----- block){hint}",
        cert_file.display()
    ))
}

fn read_key(key_file: &Path, cert_file: &Path) -> Result<PrivateKeyDer<'static>, String> {
    match PrivateKeyDer::from_pem_file(key_file) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let found = sections(key_file);
            let hint = if found.iter().any(|s| s.contains("ENCRYPTED")) {
                format!(
                    "; the key is encrypted, and a server cannot ask for its passphrase: \
                     decrypt it with `openssl pkey -in {0} -out {0}.plain`",
                    key_file.display()
                )
            } else if found.iter().any(|s| s == "CERTIFICATE") {
                if key_file == cert_file {
                    "; it holds only certificates".to_string()
                } else {
                    "; it holds a certificate: are the two files swapped? (tls_pem_files \
                     takes the certificate first, then the key)"
                        .to_string()
                }
            } else {
                String::new()
            };
            Err(format!(
                "no private key in {} (expected a -----BEGIN PRIVATE KEY-----, \
                 RSA PRIVATE KEY or EC PRIVATE KEY block){hint}",
                key_file.display()
            ))
        }
        Err(e) => Err(read_error("key", key_file, e)),
    }
}

/// The checks every client runs on the server's certificate, run here
/// first: webpki's checks of an end-entity certificate (validity, for TLS
/// servers; a CA certificate is a warning), which come before it looks for
/// the issuer. The
/// chain is built towards the file's last certificate; a missing root
/// (`UnknownIssuer`) is no error here, since the clients hold the roots.
fn check_leaf(
    chain: &[CertificateDer<'static>],
    cert_file: &Path,
    provider: &CryptoProvider,
    reached_by: &[ServerName<'static>],
) -> Result<(), String> {
    let shown = cert_file.display();
    let leaf = webpki::EndEntityCert::try_from(&chain[0])
        .map_err(|e| format!("the certificate in {shown} is malformed: {e}"))?;
    let last = chain.last().unwrap_or(&chain[0]);
    let anchor = webpki::anchor_from_trusted_cert(last)
        .map_err(|e| format!("a certificate in {shown} is malformed: {e}"))?;
    let anchors = [anchor];
    let verified = leaf.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        &chain[1..],
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match verified {
        // Validity is checked before this (webpki checks the dates, then
        // basicConstraints, then extendedKeyUsage), so only the usage is
        // left unchecked for a CA certificate.
        Err(webpki::Error::CaUsedAsEndEntity) => {
            tracing::warn!(
                "the certificate in {shown} is a CA certificate (basicConstraints CA:TRUE, \
                 which OpenSSL 3's `openssl req -x509` makes unless told otherwise), served \
                 as the server's own: clients that verify with webpki (rustls, and \
                 tokio-endpoints' own ConnectionBuilder) refuse it even when they trust it \
                 (CaUsedAsEndEntity), while curl, OpenSSL and other clients that trust it \
                 accept it. For every client, serve a leaf: make one with `{OPENSSL_LEAF}` \
                 and give clients cert.pem (tls_ca_file), or sign a leaf with this CA \
                 (openssl x509 -req -CA ... with -extfile setting \
                 basicConstraints=critical,CA:FALSE and subjectAltName) and serve that"
            );
        }
        Err(webpki::Error::CertExpired { not_after, .. }) => {
            return Err(format!(
                "the certificate in {shown} expired on {}: make or obtain a new one",
                date(not_after)
            ))
        }
        Err(webpki::Error::CertNotValidYet { not_before, .. }) => {
            return Err(format!(
                "the certificate in {shown} is not valid until {}: is this machine's clock \
                 right?",
                date(not_before)
            ))
        }
        #[allow(deprecated)]
        Err(webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_)) => {
            return Err(format!(
                "the certificate in {shown} is not for TLS servers: its extendedKeyUsage \
                 lacks serverAuth"
            ))
        }
        Ok(_) | Err(_) => {}
    }
    for name in reached_by {
        if let Err(webpki::Error::CertNotValidForName(context)) =
            leaf.verify_is_valid_for_subject_name(name)
        {
            let san = san_for(name);
            let name = name_str(name);
            let has = if context.presented.is_empty() {
                "no names (no subjectAltName)".to_string()
            } else {
                presented(&context.presented)
            };
            tracing::warn!(
                "the certificate in {shown} is valid for {has}, not for {name}, which this \
                 server is reached by: clients connecting to {name} will refuse it (add \
                 -addext {san} when making it)"
            );
        }
    }
    Ok(())
}
