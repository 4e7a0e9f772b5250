//! HTTPS in the binary: the certificate served (from files, reloaded when they change), the
//! handshake on each connection, and what health and metrics say about it.

pub mod acme;
pub mod certs;
pub mod challenges;
pub mod files;
pub mod provider;
pub mod redirect;
pub mod stream;

use std::sync::{Arc, Mutex};

use certs::{About, CertStore};

/// Health names a certificate that expires sooner than this.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The HTTPS side of a server: what it serves, and whether keeping it current works.
pub struct Tls {
    pub store: Arc<CertStore>,
    pub config: Arc<rustls::ServerConfig>,
    /// The last failure to load or obtain a certificate, until the next success.
    problem: Mutex<Option<String>>,
}

impl Tls {
    pub fn new() -> Result<Tls, String> {
        let store = Arc::new(CertStore::default());
        Ok(Tls {
            config: certs::server_config(store.clone())?,
            store,
            problem: Mutex::new(None),
        })
    }

    pub fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }

    /// What needs attention, one sentence each: a failed reload or renewal, a certificate
    /// close to its end.
    pub fn problems(&self, now_secs: i64) -> Vec<String> {
        let mut problems: Vec<String> = self
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        if let Some(About {
            names, not_after, ..
        }) = self.store.about()
        {
            let days = (not_after - now_secs).div_euclid(86_400);
            if not_after <= now_secs {
                problems.push(format!(
                    "the TLS certificate for {} has expired",
                    names.join(", ")
                ));
            } else if days < EXPIRY_WARNING_DAYS {
                problems.push(format!(
                    "the TLS certificate for {} expires in {days} days",
                    names.join(", ")
                ));
            }
        }
        problems
    }
}
