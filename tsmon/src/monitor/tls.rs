//! TLS through rustls (with ring): the push monitors' client configuration (`push.tls_config`)
//! and the pull endpoint's server configuration (`pull_tls`), whose certificate is re-read
//! when its files change.

// With only one of the two (a pull-only or a push-only build), the other's imports go unused.
#![cfg_attr(
    not(all(
        feature = "pull",
        any(feature = "pushgateway", feature = "remote-write", feature = "otlp")
    )),
    allow(unused_imports)
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;
use crate::settings::{PullTls, TlsConfig};

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidSettings(format!("{what}: {e}"))
}

/// Every certificate of a PEM file.
fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let what = || format!("certificate file {}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(&what(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(&what(), e))?;
    if certs.is_empty() {
        return Err(tls_error(&what(), "no PEM certificate in it"));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| tls_error(&format!("key file {}", path.display()), e))
}

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
/// The system's trusted roots, read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, Error> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_owned(), ToString::to_string);
                return Err(format!(
                    "the system has no trusted roots ({why}); set push.tls_config.ca_file"
                ));
            }
            Ok(Arc::new(store))
        })
        .clone()
        .map_err(Error::InvalidSettings)
}

fn roots_from(path: &Path) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certs(path)? {
        store
            .add(cert)
            .map_err(|e| tls_error(&format!("CA file {}", path.display()), e))?;
    }
    Ok(store)
}

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
/// A client configuration for `tls_config`: the CA file's roots (or the system's, read only
/// when `https` is wanted), a client certificate if given.
pub(crate) fn client_config(tls: &TlsConfig, https: bool) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS", e))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
    } else {
        let roots = match (&tls.ca_file, https) {
            (Some(ca), _) => Arc::new(roots_from(ca)?),
            (None, true) => system_roots()?,
            (None, false) => Arc::new(RootCertStore::empty()),
        };
        builder.with_root_certificates(roots)
    };
    // (No ALPN here: the connector sets HTTP/1.1's, and refuses a configuration that has one.)
    Ok(match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certs(cert)?, private_key(key)?)
            .map_err(|e| tls_error("tls_config client certificate", e))?,
        _ => builder.with_no_client_auth(),
    })
}

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
/// The name `server_name` asks the receiver's certificate to carry.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare.to_owned())
        .map_err(|e| tls_error(&format!("tls_config.server_name {name:?}"), e))
}

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
/// `insecure_skip_verify`: any certificate passes; the handshake's signatures are still
/// checked (so the connection is encrypted, with no idea to whom).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(feature = "pull")]
/// The pull endpoint's server configuration: its certificate (re-read when the files change),
/// and with `client_ca_file`, client certificates required.
/// `reloaded` hears of each attempt to load a changed pair (`true`: it is served now).
pub(crate) fn server_config(
    tls: &PullTls,
    reloaded: Box<dyn Fn(bool) + Send + Sync>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Err(Error::InvalidSettings(
            "pull_tls: cert_file and key_file go together".into(),
        ));
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS", e))?;
    let builder = match &tls.client_ca_file {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots_from(ca)?), provider())
                    .build()
                    .map_err(|e| tls_error("pull_tls.client_ca_file", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let resolver = ReloadingCert::load(cert.clone(), key.clone(), reloaded)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(feature = "pull")]
/// A certificate and key from files, re-read when either file's modification time changes
/// (looked at once a second at most, at a handshake). A new pair that cannot be loaded is
/// reported, and the one loaded before stays in use.
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
    reloaded: Box<dyn Fn(bool) + Send + Sync>,
}

#[cfg(feature = "pull")]
impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "pull")]
#[derive(Debug)]
struct Loaded {
    checked: Instant,
    stamp: (Option<SystemTime>, Option<SystemTime>),
    key: Arc<CertifiedKey>,
}

#[cfg(feature = "pull")]
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(feature = "pull")]
impl ReloadingCert {
    fn load(
        cert: PathBuf,
        key: PathBuf,
        reloaded: Box<dyn Fn(bool) + Send + Sync>,
    ) -> Result<Self, Error> {
        let stamp = (modified(&cert), modified(&key));
        let loaded = Self::read(&cert, &key).map_err(Error::InvalidSettings)?;
        Ok(ReloadingCert {
            cert,
            key,
            reloaded,
            state: Mutex::new(Loaded {
                checked: Instant::now(),
                stamp,
                key: loaded,
            }),
        })
    }

    fn read(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
        let inner = |e: Error| match e {
            Error::InvalidSettings(m) => m,
            other => other.to_string(),
        };
        let chain = certs(cert).map_err(inner)?;
        let key_der = private_key(key).map_err(inner)?;
        CertifiedKey::from_der(chain, key_der, &provider())
            .map(Arc::new)
            .map_err(|e| format!("pull_tls {} and {}: {e}", cert.display(), key.display()))
    }
}

#[cfg(feature = "pull")]
impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= Duration::from_secs(1) {
            state.checked = Instant::now();
            let stamp = (modified(&self.cert), modified(&self.key));
            if stamp != state.stamp {
                match Self::read(&self.cert, &self.key) {
                    Ok(key) => {
                        state.key = key;
                        state.stamp = stamp;
                        (self.reloaded)(true);
                        crate::report::resolved("pull tls reload");
                    }
                    Err(e) => {
                        (self.reloaded)(false);
                        crate::report::problem(
                            "pull tls reload",
                            format_args!(
                                "the pull endpoint cannot load its changed certificate ({e}); \
                                 the previous one stays in use"
                            ),
                        );
                    }
                }
            }
        }
        Some(state.key.clone())
    }
}
