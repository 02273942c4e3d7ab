//! The TLS options a [`ConnectionBuilder`](crate::ConnectionBuilder) and a
//! [`Connector`](crate::Connector) hold, checked as they are set, and their
//! defaults. Below both the builder (which stores them) and `tls` (which
//! adds the options' methods to the builder and runs the handshake).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::shared::clock::positive;
use crate::shared::tls::{DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_TLS_SHUTDOWN_TIMEOUT};

/// The TLS options of a [`ConnectionBuilder`](crate::ConnectionBuilder).
#[derive(Clone, Debug)]
pub(crate) struct TlsOptions {
    pub(super) config: Option<Arc<ClientConfig>>,
    /// The CA file of `tls_ca_file`, loaded once for every clone.
    pub(super) ca_file: Option<Arc<CaFile>>,
    pub(super) server_name: Option<Result<ServerName<'static>, String>>,
    pub(super) alpn: Option<Result<Vec<Vec<u8>>, String>>,
    pub(super) handshake_timeout: Result<Option<Duration>, String>,
    pub(super) shutdown_timeout: Result<Option<Duration>, String>,
    /// The TLS options given, in order, to refuse them on a plain `connect`.
    given: Vec<&'static str>,
    /// The configuration with the ALPN list applied, made at the first
    /// `connect_tls` and shared by every later call (and every call of a
    /// [`Connector`](crate::Connector)): a `ClientConfig` is a deep copy
    /// of several hundred bytes. Kept with the configuration it was made
    /// from; a fresh slot whenever the configuration or the list changes.
    alpn_config: Option<Arc<OnceLock<AlpnConfig>>>,
}

/// A configuration (`.0`) and the same with the ALPN list applied (`.1`).
type AlpnConfig = (Arc<ClientConfig>, Arc<ClientConfig>);

impl Default for TlsOptions {
    fn default() -> Self {
        DEFAULT_TLS_OPTIONS.clone()
    }
}

/// The defaults, for a [`TlsSlot`] that holds none of its own.
static DEFAULT_TLS_OPTIONS: TlsOptions = TlsOptions {
    config: None,
    ca_file: None,
    server_name: None,
    alpn: None,
    handshake_timeout: Ok(Some(DEFAULT_TLS_HANDSHAKE_TIMEOUT)),
    shutdown_timeout: Ok(Some(DEFAULT_TLS_SHUTDOWN_TIMEOUT)),
    given: Vec::new(),
    alpn_config: None,
};

/// An ALPN list derived from the options' own (see
/// [`TlsOptions::derive_alpn`]), with the options it was derived from.
#[cfg(feature = "quic")]
#[derive(Clone, Debug)]
pub(crate) struct DerivedAlpn {
    config: Option<Arc<ClientConfig>>,
    ca_file: Option<Arc<CaFile>>,
    from: Vec<Vec<u8>>,
    /// `None`: the list as it is.
    list: Option<Vec<Vec<u8>>>,
    slot: Arc<OnceLock<AlpnConfig>>,
}

/// The same `Arc`, or both absent.
#[cfg(feature = "quic")]
fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// A `tls_ca_file`: its path, and the configuration made from it, loaded
/// at the first `connect_tls` and shared by the clones of a
/// [`Connector`](crate::Connector).
#[derive(Debug)]
pub(crate) struct CaFile {
    pub(super) path: PathBuf,
    pub(super) loaded: OnceLock<Result<Arc<ClientConfig>, String>>,
}

/// The [`TlsOptions`] of a builder or connector, allocated only once one
/// is set: every plain `connect` future holds its builder, and 144 bytes of
/// TLS options it never reads would be copied with it (into the task, and
/// by every builder method). Reads of an empty slot see the defaults.
/// Shared, not copied, by the calls of a [`Connector`](crate::Connector):
/// copied only when a builder made from it changes one (copy on write).
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSlot(Option<Arc<TlsOptions>>);

impl TlsSlot {
    /// No options of its own: the defaults.
    pub(crate) const EMPTY: TlsSlot = TlsSlot(None);

    /// Whether any TLS option was given (see [`TlsOptions::given`]).
    pub(crate) fn any_given(&self) -> bool {
        self.0.as_ref().is_some_and(|o| !o.given.is_empty())
    }

    /// [`TlsOptions::forget_given`], without allocating the defaults.
    pub(crate) fn forget_given(&mut self) {
        if self.any_given() {
            (**self).forget_given();
        }
    }
}

impl std::ops::Deref for TlsSlot {
    type Target = TlsOptions;

    fn deref(&self) -> &TlsOptions {
        self.0.as_deref().unwrap_or(&DEFAULT_TLS_OPTIONS)
    }
}

impl std::ops::DerefMut for TlsSlot {
    fn deref_mut(&mut self) -> &mut TlsOptions {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }
}

impl TlsOptions {
    /// The TLS options in a builder's or connector's `Debug`: the config
    /// only as given or not (a `ClientConfig`'s own `Debug` is pages long),
    /// ALPN protocols as text where they are.
    pub(crate) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        let alpn = self.alpn.as_ref().map(|alpn| {
            alpn.as_ref().map(|protocols| {
                protocols
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
            })
        });
        d.field(
            "tls_config",
            &if self.config.is_some() {
                "given"
            } else {
                "default"
            },
        )
        .field("tls_ca_file", &self.ca_file.as_ref().map(|f| &f.path))
        .field("server_name", &self.server_name)
        .field("alpn", &alpn)
        .field("tls_handshake_timeout", &self.handshake_timeout)
        .field("tls_shutdown_timeout", &self.shutdown_timeout);
    }

    pub(super) fn give(&mut self, option: &'static str) {
        if !self.given.contains(&option) {
            self.given.push(option);
        }
    }

    /// Forgets which options were given: a [`Connector`](crate::Connector)'s
    /// TLS options are defaults for `connect_tls`, not a request that a
    /// plain `connect` should refuse.
    pub(crate) fn forget_given(&mut self) {
        self.given.clear();
    }

    pub(crate) fn set_config(&mut self, config: Arc<ClientConfig>) {
        self.config = Some(config);
        self.fresh_alpn_config();
        self.give("tls_config");
    }

    pub(crate) fn set_ca_file(&mut self, path: PathBuf) {
        self.ca_file = Some(Arc::new(CaFile {
            path,
            loaded: OnceLock::new(),
        }));
        self.fresh_alpn_config();
        self.give("tls_ca_file");
    }

    pub(crate) fn set_alpn<I>(&mut self, protocols: I)
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let protocols: Vec<Vec<u8>> = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self.alpn = Some(
            match protocols.iter().find(|p| p.is_empty() || p.len() > 255) {
                Some(bad) => Err(format!(
                    "alpn protocol {:?} must be 1 to 255 bytes long",
                    String::from_utf8_lossy(bad)
                )),
                None => Ok(protocols),
            },
        );
        self.fresh_alpn_config();
        self.give("alpn");
    }

    pub(crate) fn set_handshake_timeout(&mut self, timeout: Option<Duration>) {
        self.handshake_timeout = positive("tls_handshake_timeout", timeout);
        self.give("tls_handshake_timeout");
    }

    pub(crate) fn set_shutdown_timeout(&mut self, timeout: Option<Duration>) {
        self.shutdown_timeout = positive("tls_shutdown_timeout", timeout);
        self.give("tls_shutdown_timeout");
    }

    /// The TLS options given, as a list for an error message, if any.
    /// A new, empty [`alpn_config`](Self::alpn_config) slot, when there
    /// is an ALPN list to apply.
    fn fresh_alpn_config(&mut self) {
        self.alpn_config = matches!(self.alpn, Some(Ok(_))).then(Default::default);
    }

    /// `config` with the ALPN list `alpn` applied: made once, then shared.
    pub(crate) fn with_alpn(
        &self,
        config: Arc<ClientConfig>,
        alpn: &[Vec<u8>],
    ) -> Arc<ClientConfig> {
        let apply = |config: &ClientConfig| {
            let mut config = config.clone();
            config.alpn_protocols = alpn.to_vec();
            Arc::new(config)
        };
        let Some(slot) = &self.alpn_config else {
            return apply(&config);
        };
        let (base, applied) = slot.get_or_init(|| (config.clone(), apply(&config)));
        if Arc::ptr_eq(base, &config) {
            applied.clone()
        } else {
            // Another configuration than the one the slot was filled for
            // (not made by these options' setters): not cached.
            apply(&config)
        }
    }

    /// Sets the ALPN list `derive` makes of this one (the TCP+TLS side of a
    /// QUIC race: the list without `h3`), through `cache`: a connector's
    /// calls share the derived list and its configuration slot, so that
    /// the list is derived, and the configuration with it applied is made,
    /// once per set of options rather than per call. Leaves the options
    /// as they are when there is no list or `derive` keeps it whole.
    #[cfg(feature = "quic")]
    pub(crate) fn derive_alpn(
        &mut self,
        derive: impl FnOnce(&[Vec<u8>]) -> Option<Vec<Vec<u8>>>,
        cache: &std::sync::Mutex<Option<DerivedAlpn>>,
    ) {
        let Some(Ok(from)) = &self.alpn else {
            return;
        };
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let hit = cache.as_ref().is_some_and(|c| {
            c.from == *from && same(&c.config, &self.config) && same(&c.ca_file, &self.ca_file)
        });
        if !hit {
            *cache = Some(DerivedAlpn {
                config: self.config.clone(),
                ca_file: self.ca_file.clone(),
                from: from.clone(),
                list: derive(from),
                slot: Arc::default(),
            });
        }
        let derived = cache.as_ref().expect("just made");
        if let Some(list) = &derived.list {
            let slot = derived.slot.clone();
            self.alpn = Some(Ok(list.clone()));
            self.alpn_config = Some(slot);
        }
    }

    pub(crate) fn given(&self) -> Option<String> {
        (!self.given.is_empty()).then(|| self.given.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<ClientConfig> {
        let provider = crate::crypto_provider();
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }

    /// The TCP+TLS side of a QUIC race: its ALPN list is derived once per
    /// set of options, and every call shares the one configuration slot,
    /// so the configuration with that list is made once too; other options
    /// derive afresh.
    #[cfg(feature = "quic")]
    #[test]
    fn a_derived_alpn_list_is_made_once_per_options() {
        let cache = std::sync::Mutex::new(None);
        let derive = |list: &[Vec<u8>]| Some(list[1..].to_vec());
        let base = config();
        let mut options = TlsOptions::default();
        options.set_config(base.clone());
        options.set_alpn(["h3", "h2"]);
        let (mut a, mut b) = (options.clone(), options.clone());
        let mut derived = 0;
        a.derive_alpn(
            |l| {
                derived += 1;
                derive(l)
            },
            &cache,
        );
        b.derive_alpn(
            |l| {
                derived += 1;
                derive(l)
            },
            &cache,
        );
        assert_eq!(derived, 1);
        assert!(matches!(&a.alpn, Some(Ok(l)) if *l == [b"h2".to_vec()]));
        let alpn = vec![b"h2".to_vec()];
        assert!(Arc::ptr_eq(
            &a.with_alpn(base.clone(), &alpn),
            &b.with_alpn(base.clone(), &alpn)
        ));
        // The original options keep their list.
        assert!(matches!(&options.alpn, Some(Ok(l)) if l.len() == 2));
        let mut other = options.clone();
        other.set_alpn(["h3", "http/1.1"]);
        other.derive_alpn(
            |l| {
                derived += 1;
                derive(l)
            },
            &cache,
        );
        assert_eq!(derived, 2);
        assert!(matches!(&other.alpn, Some(Ok(l)) if *l == [b"http/1.1".to_vec()]));
    }

    /// The configuration with the ALPN list applied is made once per set
    /// of options and shared by every later call (and every clone, as a
    /// `Connector`'s calls are), not cloned per `connect_tls`; a new list
    /// or configuration makes a new one.
    #[test]
    fn the_alpn_configuration_is_built_once() {
        let base = config();
        let mut options = TlsOptions::default();
        options.set_config(base.clone());
        options.set_alpn(["h2", "http/1.1"]);
        let alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let first = options.with_alpn(base.clone(), &alpn);
        assert_eq!(first.alpn_protocols, alpn);
        assert!(base.alpn_protocols.is_empty());
        let clone = options.clone();
        assert!(Arc::ptr_eq(&first, &options.with_alpn(base.clone(), &alpn)));
        assert!(Arc::ptr_eq(&first, &clone.with_alpn(base.clone(), &alpn)));
        // Another configuration (not set through these options): not
        // taken from the cache.
        let other = config();
        assert!(!Arc::ptr_eq(&first, &options.with_alpn(other, &alpn)));
        options.set_alpn(["h2"]);
        let h2 = options.with_alpn(base.clone(), &[b"h2".to_vec()]);
        assert_eq!(h2.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(!Arc::ptr_eq(&first, &h2));
        // The clone made before keeps its own.
        assert!(Arc::ptr_eq(&first, &clone.with_alpn(base, &alpn)));
    }
}
