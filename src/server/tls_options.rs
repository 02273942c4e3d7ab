//! The TLS options a [`ServerBuilder`](crate::ServerBuilder) holds,
//! checked as they are set, and their defaults. Below both the builder
//! (which stores them) and `tls` (which adds their methods to the builder
//! and runs the handshakes).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::error::ServerError;

use crate::shared::tls::{DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_TLS_SHUTDOWN_TIMEOUT};

/// The default [`max_tls_handshakes`](crate::ServerBuilder::max_tls_handshakes):
/// 1024 handshakes in flight at once.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub const DEFAULT_MAX_TLS_HANDSHAKES: usize = 1024;

/// Where a server's certificate comes from.
#[derive(Debug)]
pub(crate) enum CertSource {
    /// `tls_config`.
    Config(Arc<ServerConfig>),
    /// `tls_pem_files`: loaded and checked when `bind_tls` starts.
    PemFiles { cert: PathBuf, key: PathBuf },
    /// `tls_self_signed`: made when the option was set.
    #[cfg(feature = "self-signed")]
    SelfSigned(Result<super::self_signed::SelfSigned, String>),
}

/// The TLS options of a [`ServerBuilder`](crate::ServerBuilder).
#[derive(Debug)]
pub(crate) struct TlsOptions {
    pub(super) config: Option<CertSource>,
    pub(super) handshake_timeout: Result<Option<Duration>, String>,
    pub(super) shutdown_timeout: Result<Option<Duration>, String>,
    pub(super) max_handshakes: Result<usize, String>,
    /// The TLS options given, in order, to refuse them on a plain `bind`.
    pub(super) given: Vec<&'static str>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            config: None,
            handshake_timeout: Ok(Some(DEFAULT_TLS_HANDSHAKE_TIMEOUT)),
            shutdown_timeout: Ok(Some(DEFAULT_TLS_SHUTDOWN_TIMEOUT)),
            max_handshakes: Ok(DEFAULT_MAX_TLS_HANDSHAKES),
            given: Vec::new(),
        }
    }
}

impl TlsOptions {
    pub(super) fn give(&mut self, option: &'static str) {
        if !self.given.contains(&option) {
            self.given.push(option);
        }
    }

    /// The TLS options given, as a list for an error message, if any.
    pub(crate) fn given(&self) -> Option<String> {
        (!self.given.is_empty()).then(|| self.given.join(", "))
    }
}

/// The configuration handshakes start with, shared by a
/// [`TlsListener`](crate::TlsListener) and its [`Server`](crate::Server)
/// so either can swap it, with what a reload from PEM files needs.
pub(crate) struct TlsCell {
    acceptor: RwLock<TlsAcceptor>,
    /// The names clients reach the server by, for the warnings of a
    /// reload (as `tls_pem_files` gives them).
    reached_by: Vec<ServerName<'static>>,
    /// The endpoint as the builder named it, for errors.
    endpoint: String,
}

/// A [`TlsCell`], shared.
pub(crate) type TlsConfigCell = Arc<TlsCell>;

impl TlsCell {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        reached_by: Vec<ServerName<'static>>,
        endpoint: String,
    ) -> TlsConfigCell {
        Arc::new(TlsCell {
            acceptor: RwLock::new(TlsAcceptor::from(config)),
            reached_by,
            endpoint,
        })
    }

    /// The configuration a handshake starting now uses.
    pub(crate) fn current(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Handshakes that start from now on use `config`.
    pub(crate) fn swap(&self, config: Arc<ServerConfig>) {
        *self.acceptor.write().unwrap_or_else(|e| e.into_inner()) = TlsAcceptor::from(config);
        tracing::debug!("TLS configuration swapped; new handshakes use it");
    }

    /// Handshakes that start from now on use the certificate of these PEM
    /// files, checked as `tls_pem_files` checks them, with the rest of the
    /// current configuration; on an error nothing changes.
    pub(crate) fn reload(&self, cert: &Path, key: &Path) -> Result<(), ServerError> {
        let current = self.current();
        let config =
            super::tls_files::reload_pem_files(current.config(), cert, key, &self.reached_by)
                .map_err(|e| ServerError::invalid(&self.endpoint, e))?;
        self.swap(config);
        Ok(())
    }
}
