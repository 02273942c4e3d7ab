//! A fresh self-signed certificate for local development (feature
//! `self-signed`): [`self_signed`] and [`SelfSigned`], made with rcgen. It
//! is a leaf, not a CA (`basicConstraints CA:FALSE`), valid for the names
//! given, and for TLS servers; a client trusts it by being given its PEM
//! (`tls_ca_file`).

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// A self-signed certificate and its key, from [`self_signed`]: its PEM
/// ([`cert_pem`](Self::cert_pem)) is what a client trusts (write it to a
/// file for [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file)).
///
/// `Debug` shows the names, never the key.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("te-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let cert = tokio_endpoints::self_signed(["localhost", "127.0.0.1", "::1"])?;
/// std::fs::write(dir.join("cert.pem"), cert.cert_pem())?;
/// std::fs::write(dir.join("key.pem"), cert.key_pem())?;
/// assert!(cert.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
pub struct SelfSigned {
    names: Vec<String>,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// Makes a fresh self-signed certificate (ECDSA P-256) for local
/// development, valid for `names`: DNS names, or IP addresses (`127.0.0.1`,
/// `::1`), which become IP address names. It is a leaf certificate
/// (`CA:FALSE`, for TLS servers), so clients accept it once they trust it:
/// give them [`SelfSigned::cert_pem`] as their
/// [`tls_ca_file`](crate::ConnectionBuilder::tls_ca_file).
/// [`ServerBuilder::tls_self_signed`](crate::ServerBuilder::tls_self_signed)
/// makes one and serves with it in one call.
///
/// # Errors
///
/// `InvalidInput` without a name, or for a name that cannot be in a
/// certificate.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let cert = tokio_endpoints::self_signed(["localhost"])?;
/// assert_eq!(cert.names(), ["localhost"]);
/// assert!(tokio_endpoints::self_signed(Vec::<String>::new()).is_err());
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "self-signed")))]
pub fn self_signed<I, S>(names: I) -> io::Result<SelfSigned>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let names: Vec<String> = names.into_iter().map(Into::into).collect();
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let Some(first) = names.first() else {
        return Err(invalid(
            "a self-signed certificate needs at least one name (\"localhost\")".into(),
        ));
    };
    let mut params = rcgen::CertificateParams::new(names.clone())
        .map_err(|e| invalid(format!("cannot make a certificate for {names:?}: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, first.as_str());
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(io::Error::other)?;
    let cert = params.self_signed(&key).map_err(io::Error::other)?;
    Ok(SelfSigned {
        names,
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    })
}

impl SelfSigned {
    /// The certificate in PEM (`-----BEGIN CERTIFICATE-----`): what a
    /// client trusts.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let cert = tokio_endpoints::self_signed(["localhost"])?;
    /// std::fs::write(std::env::temp_dir().join("dev-ca.pem"), cert.cert_pem())?;
    /// # Ok(()) }
    /// ```
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", self.cert.as_ref())
    }

    /// The private key in PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8), for
    /// a server that loads it with
    /// [`tls_pem_files`](crate::ServerBuilder::tls_pem_files). Keep it to
    /// yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let cert = tokio_endpoints::self_signed(["localhost"])?;
    /// assert!(cert.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    /// # Ok(()) }
    /// ```
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", self.key.secret_pkcs8_der())
    }

    /// The certificate in DER, for a `RootCertStore` of your own.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_endpoints::rustls::RootCertStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cert = tokio_endpoints::self_signed(["localhost"])?;
    /// let mut roots = RootCertStore::empty();
    /// roots.add(cert.cert_der().clone())?;
    /// # Ok(()) }
    /// ```
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The names the certificate is valid for.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let cert = tokio_endpoints::self_signed(["localhost", "::1"])?;
    /// assert_eq!(cert.names(), ["localhost", "::1"]);
    /// # Ok(()) }
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The server configuration that serves this certificate.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let config = ServerConfig::builder_with_provider(super::tls_files::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("the crypto provider cannot make a TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(|e| format!("the self-signed certificate cannot be used: {e}"))?;
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSigned")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// DER as PEM (RFC 7468, by the `pem` crate that rcgen uses): base64 in
/// lines of 64 characters between the label's lines, `\n` line ends.
/// Writing only; reading PEM is rustls-pki-types' job.
fn pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn pem_round_trips_through_pki_types() {
        for len in 1..70 {
            let der: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = pem("CERTIFICATE", &der);
            let back = CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &der[..], "{len}");
            assert!(text.lines().all(|line| line.len() <= 64), "{text}");
            assert!(!text.contains('\r'), "{text:?}");
        }
    }

    #[test]
    fn key_pem_loads_and_matches() {
        let cert = self_signed(["localhost"]).unwrap();
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes()).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        cert.server_config().unwrap();
    }
}
