//! A certificate and key from PEM files (`--tls-cert`, `--tls-key`), read again when either
//! file changes or on SIGHUP, so that certbot or a secrets manager can replace them under a
//! running server. A replacement that cannot be read keeps the certificate being served.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Tls;
use super::certs::{self, Loaded};
use crate::base::metrics::Metrics;

/// How often the files are looked at for a change.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What tells a changed file from an unchanged one (certbot swaps symlinks: the target's
/// times and size are read).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl CertFiles {
    pub fn load(&self) -> Result<Loaded, String> {
        let read = |path: &Path, flag: &str| {
            std::fs::read(path).map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))
        };
        let chain = read(&self.cert, "--tls-cert")?;
        let key = read(&self.key, "--tls-key")?;
        certs::from_pem(&chain, &key).map_err(|e| {
            format!(
                "--tls-cert {}, --tls-key {}: {e}",
                self.cert.display(),
                self.key.display()
            )
        })
    }

    fn stamps(&self) -> (Stamp, Stamp) {
        (stamp(&self.cert), stamp(&self.key))
    }
}

/// Loads the files into `tls` (the first load at start: a failure stops the start).
pub fn load_into(files: &CertFiles, tls: &Tls) -> Result<(), String> {
    let loaded = files.load()?;
    certs::log(&loaded, "loaded the TLS certificate");
    tls.store.set(loaded);
    Ok(())
}

/// Watches the files until the returned task is aborted.
pub fn watch(
    files: CertFiles,
    tls: Arc<Tls>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = files.stamps();
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let asked = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let asked = std::future::pending::<bool>();
            let by_signal = tokio::select! {
                _ = tokio::time::sleep(POLL) => false,
                got = asked => got,
            };
            let now = files.stamps();
            if !by_signal && now == seen {
                continue;
            }
            seen = now;
            let attempt = {
                let files = files.clone();
                tokio::task::spawn_blocking(move || files.load()).await
            };
            match attempt {
                Ok(Ok(loaded)) => {
                    certs::log(&loaded, "reloaded the TLS certificate");
                    metrics.tls_loaded("files", "ok", Some(loaded.about.not_after));
                    tls.store.set(loaded);
                    tls.set_problem(None);
                }
                Ok(Err(reason)) => {
                    // Often a moment between two files being replaced: the next change of
                    // either tries again.
                    tracing::warn!(
                        reason,
                        "the TLS certificate was not reloaded; the one before is still served"
                    );
                    metrics.tls_loaded("files", "error", None);
                    tls.set_problem(Some(format!(
                        "the TLS certificate could not be reloaded: {reason}"
                    )));
                }
                Err(e) => tracing::warn!(error = %e, "reloading the TLS certificate stopped"),
            }
        }
    })
}
