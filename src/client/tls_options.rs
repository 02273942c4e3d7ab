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
}

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
};

/// A `tls_ca_file`: its path, and the configuration made from it, loaded
/// at the first `connect_tls` and shared by the clones of a
/// [`Connector`](crate::Connector).
#[derive(Debug)]
pub(crate) struct CaFile {
    pub(super) path: PathBuf,
    pub(super) loaded: OnceLock<Result<Arc<ClientConfig>, String>>,
}

/// The [`TlsOptions`] of a builder or connector, boxed only once one is
/// set: every plain `connect` future holds its builder, and 144 bytes of
/// TLS options it never reads would be copied with it (into the task, and
/// by every builder method). Reads of an empty slot see the defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSlot(Option<Box<TlsOptions>>);

impl TlsSlot {
    /// The options, leaving the defaults behind.
    pub(crate) fn take(&mut self) -> TlsOptions {
        self.0.take().map_or_else(TlsOptions::default, |b| *b)
    }

    /// [`TlsOptions::forget_given`], without boxing the defaults.
    pub(crate) fn forget_given(&mut self) {
        if let Some(options) = &mut self.0 {
            options.forget_given();
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
        self.0.get_or_insert_with(Default::default)
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
        self.give("tls_config");
    }

    pub(crate) fn set_ca_file(&mut self, path: PathBuf) {
        self.ca_file = Some(Arc::new(CaFile {
            path,
            loaded: OnceLock::new(),
        }));
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
    pub(crate) fn given(&self) -> Option<String> {
        (!self.given.is_empty()).then(|| self.given.join(", "))
    }
}
