//! Answers to ACME challenges while an order is open: HTTP-01 (a token's key authorization at
//! `/.well-known/acme-challenge/<token>`, on the plain listener) and TLS-ALPN-01 (a certificate
//! carrying the key authorization's digest, for a handshake that asks for `acme-tls/1`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::sign::CertifiedKey;

pub const HTTP_PREFIX: &str = "/.well-known/acme-challenge/";
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[derive(Debug, Default)]
pub struct Challenges {
    http: Mutex<HashMap<String, String>>,
    alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    pub fn answer_http(&self, token: &str, key_authorization: &str) {
        lock(&self.http).insert(token.to_string(), key_authorization.to_string());
    }

    /// The key authorization for a token, while its challenge is open.
    pub fn http(&self, token: &str) -> Option<String> {
        lock(&self.http).get(token).cloned()
    }

    /// A TLS-ALPN-01 certificate for `domain` with the key authorization's SHA-256 digest.
    pub fn answer_alpn(&self, domain: &str, digest: &[u8]) -> Result<(), String> {
        let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])
            .map_err(|e| format!("the TLS-ALPN-01 certificate: {e}"))?;
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
        let key = rcgen::KeyPair::generate().map_err(|e| format!("a key: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("the TLS-ALPN-01 certificate: {e}"))?;
        let der_key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        // Not `CertifiedKey::from_der`: its check of the pair parses the certificate, and
        // refuses the critical acmeIdentifier extension this certificate exists to carry.
        let signing = super::provider::crypto_provider()
            .key_provider
            .load_private_key(der_key)
            .map_err(|e| format!("the TLS-ALPN-01 key: {e}"))?;
        let certified = CertifiedKey::new(vec![cert.der().clone()], signing);
        lock(&self.alpn).insert(domain.to_ascii_lowercase(), Arc::new(certified));
        Ok(())
    }

    pub fn alpn(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        lock(&self.alpn).get(&domain.to_ascii_lowercase()).cloned()
    }

    /// The order is done (or failed): nothing is answered any more.
    pub fn clear(&self) {
        lock(&self.http).clear();
        lock(&self.alpn).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
