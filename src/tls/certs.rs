//! The certificate HTTPS serves: read from PEM, described (names, expiry), and held where each
//! new handshake picks up the current one, so a replaced certificate is served to the next
//! connection while open connections keep theirs.

use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::challenges::{ACME_TLS_ALPN, Challenges};

/// A certificate chain with its key, ready to serve, and what it says about itself.
#[derive(Clone)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub about: About,
}

/// What a certificate is for and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// Its DNS names and IP addresses (the subject's common name when it lists none).
    pub names: Vec<String>,
    /// The start of its validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// The end of its validity, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl About {
    /// How long it is valid for, in seconds.
    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }
}

pub use super::provider::crypto_provider;

/// Reads a PEM chain (leaf first) and its private key; checks that they belong together.
pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Loaded, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        return Err("the certificate file holds no CERTIFICATE block".to_string());
    };
    let about = describe(leaf)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key file holds no private key in PEM: {e}"))?;
    let key = CertifiedKey::from_der(chain, key, &crypto_provider())
        .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
    Ok(Loaded {
        key: Arc::new(key),
        about,
    })
}

/// Logs a certificate that is served from now on: its names and when it expires.
pub fn log(loaded: &Loaded, message: &str) {
    let expires = time::OffsetDateTime::from_unix_timestamp(loaded.about.not_after)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    tracing::info!(names = %loaded.about.names.join(","), expires, "{message}");
}

/// The names and expiry of a DER certificate.
pub fn describe(der: &CertificateDer<'_>) -> Result<About, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    Ok(About {
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The certificate being served; every handshake reads it. A handshake that asks for
/// `acme-tls/1` is an ACME server validating a TLS-ALPN-01 challenge, and gets its certificate.
#[derive(Debug, Default)]
pub struct CertStore {
    current: RwLock<Option<Current>>,
    pub challenges: Arc<Challenges>,
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    about: About,
}

impl CertStore {
    pub fn set(&self, loaded: Loaded) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Current {
            key: loaded.key,
            about: loaded.about,
        });
    }

    /// What the certificate being served says about itself; None before the first one.
    pub fn about(&self) -> Option<About> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.about.clone())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if validating {
            return self.challenges.alpn(hello.server_name()?);
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.key.clone())
    }
}

/// The server side of TLS: safe defaults, no client certificates, HTTP/1.1 only (what webhook
/// senders speak; the connection limits read HTTP/1 request heads), and ACME's TLS-ALPN-01
/// validation.
pub fn server_config(store: Arc<CertStore>) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(config))
}
