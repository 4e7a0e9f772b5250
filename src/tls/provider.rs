//! The one TLS crypto provider: rustls on ring (already built for PostgreSQL's TLS and ureq),
//! never a second crypto library. Shared by the served certificates and ACME's challenges.

use std::sync::Arc;

pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
