//! Certificates from an ACME server (Let's Encrypt, or any other such as step-ca or Pebble):
//! obtained at the first start, kept in the data folder (`acme/`, owner only) so that a
//! restart reuses them, and renewed in the background 30 days before they expire. While none
//! can be had, the one cached is still served, and health says why.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use sha2::Digest;

use super::Tls;
use super::certs::{self, Loaded};
use crate::base::clock::Clock;
use crate::base::metrics::Metrics;

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// A certificate is renewed once it has less than this left (Let's Encrypt's 90-day ones at
/// 60 days)…
const RENEW_BEFORE_SECS: i64 = 30 * 86_400;
/// …or, for shorter-lived ones, a third of its lifetime (a 6-day one at 4 days).
const RENEW_AT_FRACTION: i64 = 3;
/// After a failure, the next attempt waits this long, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The names the certificate is for (`--acme-domain`, repeatable).
    pub domains: Vec<String>,
    /// A contact for the CA's expiry and policy mails.
    pub email: Option<String>,
    /// The ACME directory URL.
    pub directory: String,
    /// A CA to trust for the directory's own HTTPS (a private ACME server); default: the
    /// Mozilla roots.
    pub directory_ca: Option<PathBuf>,
    /// How often the certificate is looked at for renewal.
    pub check_every: Duration,
    /// Answer HTTP-01 on the plain listener (`--redirect-http`) instead of TLS-ALPN-01.
    pub http_challenge: bool,
}

/// Where the account and the certificate are kept.
struct Cache {
    folder: PathBuf,
}

impl Cache {
    fn certificate(&self) -> PathBuf {
        self.folder.join("certificate.pem")
    }

    fn key(&self) -> PathBuf {
        self.folder.join("certificate-key.pem")
    }

    /// One account per directory: a staging account is not used on production.
    fn account(&self, directory: &str) -> PathBuf {
        let digest = hex::encode(sha2::Sha256::digest(directory.as_bytes()));
        self.folder.join(format!("account-{}.json", &digest[..16]))
    }

    fn load(&self) -> Option<Loaded> {
        let chain = std::fs::read(self.certificate()).ok()?;
        let key = std::fs::read(self.key()).ok()?;
        match certs::from_pem(&chain, &key) {
            Ok(loaded) => Some(loaded),
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "the cached ACME certificate cannot be used; a new one is ordered"
                );
                None
            }
        }
    }

    /// Replaces `path` with `text`, owner-only, whole or not at all.
    fn write(&self, path: &Path, text: &str) -> anyhow::Result<()> {
        let next = path.with_extension("next");
        let _ = std::fs::remove_file(&next);
        crate::base::files::write_owner_only(&next, text)?;
        std::fs::rename(&next, path)?;
        Ok(())
    }
}

/// What the certificate kept in `data_dir` says about itself, without changing anything (for
/// `provenant doctor`); why there is none to read otherwise.
pub fn kept_certificate(data_dir: &Path) -> Result<certs::About, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path = Cache {
        folder: data_dir.join(CACHE_FOLDER),
    }
    .certificate();
    let pem = std::fs::read(&path).map_err(|_| {
        format!(
            "no certificate obtained yet ({} is missing): see the server log for why",
            path.display()
        )
    })?;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| format!("{} holds no certificate", path.display()))?
        .map_err(|e| format!("{}: {e}", path.display()))?;
    certs::describe(&leaf)
}

/// The account and the certificate are kept here, in the data folder.
const CACHE_FOLDER: &str = "acme";

/// Creates the cache folder (owner only) in the data folder.
fn cache_in(data_dir: &Path) -> anyhow::Result<Cache> {
    let folder = data_dir.join(CACHE_FOLDER);
    std::fs::create_dir_all(&folder)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(Cache { folder })
}

pub struct Acme {
    settings: AcmeSettings,
    cache: Cache,
    tls: Arc<Tls>,
    http: ureq::Agent,
}

impl Acme {
    /// Serves the cached certificate at once when it is one for these names.
    pub fn start(settings: AcmeSettings, data_dir: &Path, tls: Arc<Tls>) -> anyhow::Result<Acme> {
        let cache = cache_in(data_dir)?;
        let http = agent(settings.directory_ca.as_deref())?;
        let acme = Acme {
            settings,
            cache,
            tls,
            http,
        };
        if let Some(cached) = acme.cache.load().filter(|c| acme.covers(c)) {
            certs::log(&cached, "serving the cached ACME certificate");
            acme.tls.store.set(cached);
        }
        Ok(acme)
    }

    fn covers(&self, loaded: &Loaded) -> bool {
        self.settings
            .domains
            .iter()
            .all(|d| loaded.about.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    }

    /// When the certificate served should be replaced (Unix seconds); None without one.
    fn renewal_from(&self) -> Option<i64> {
        let about = self.tls.store.about()?;
        Some(
            about.not_after - RENEW_BEFORE_SECS.min(about.lifetime().div_euclid(RENEW_AT_FRACTION)),
        )
    }

    /// Whether the certificate served should be replaced now.
    fn due(&self, now_secs: i64) -> bool {
        self.renewal_from().is_none_or(|from| now_secs > from)
    }

    /// Keeps the certificate current until the task is aborted.
    pub fn run(self, metrics: Arc<Metrics>, clock: Clock) -> tokio::task::JoinHandle<()> {
        let jumped = Arc::new(tokio::sync::Notify::new());
        {
            let jumped = jumped.clone();
            clock.on_jump(move || jumped.notify_one());
        }
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            let mut said_when = false;
            loop {
                let mut wait = self.settings.check_every;
                let now = clock.now_ms().div_euclid(1000);
                if !self.due(now) && !said_when {
                    said_when = true;
                    if let Some(from) = self.renewal_from() {
                        tracing::info!(from = %crate::base::clock::rfc3339(from * 1000), "the ACME certificate is not due for renewal yet");
                    }
                }
                if self.due(now) {
                    said_when = false;
                    match self.obtain().await {
                        Ok(loaded) => {
                            certs::log(&loaded, "obtained a certificate from the ACME server");
                            metrics.tls_loaded("acme", "ok", Some(loaded.about.not_after));
                            self.tls.store.set(loaded);
                            self.tls.set_problem(None);
                            backoff = FIRST_BACKOFF;
                        }
                        Err(reason) => {
                            let serving = if self.tls.store.about().is_some() {
                                "the certificate before is still served"
                            } else {
                                "https has no certificate to serve yet"
                            };
                            tracing::warn!(
                                reason,
                                retry_in_secs = backoff.as_secs(),
                                "no certificate from the ACME server; {serving}"
                            );
                            metrics.tls_loaded("acme", "error", None);
                            self.tls.set_problem(Some(format!(
                                "obtaining a TLS certificate for {} from {} failed ({serving}): {reason}",
                                self.settings.domains.join(", "),
                                self.settings.directory
                            )));
                            wait = wait.min(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = jumped.notified() => {}
                }
            }
        })
    }

    /// One order, start to end; the error is one line for a person.
    async fn obtain(&self) -> Result<Loaded, String> {
        let result = self.order().await;
        self.tls.store.challenges.clear();
        let (chain, key) = result?;
        let loaded = certs::from_pem(chain.as_bytes(), key.as_bytes())
            .map_err(|e| format!("the certificate issued cannot be served: {e}"))?;
        self.cache
            .write(&self.cache.key(), &key)
            .and_then(|()| self.cache.write(&self.cache.certificate(), &chain))
            .map_err(|e| {
                format!(
                    "keeping the certificate in {}: {e:#}",
                    self.cache.folder.display()
                )
            })?;
        Ok(loaded)
    }

    async fn account(&self) -> Result<Account, String> {
        let path = self.cache.account(&self.settings.directory);
        let builder = || Account::builder_with_http(Box::new(UreqClient(self.http.clone())));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let credentials: AccountCredentials = serde_json::from_str(&text)
                .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
            return builder()
                .from_credentials(credentials)
                .await
                .map_err(|e| format!("the ACME directory: {e}"));
        }
        let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.settings.directory.clone(),
                None,
            )
            .await
            .map_err(|e| format!("creating an ACME account: {e}"))?;
        let text = serde_json::to_string(&credentials).map_err(|e| e.to_string())?;
        self.cache
            .write(&path, &text)
            .map_err(|e| format!("keeping the ACME account in {}: {e:#}", path.display()))?;
        tracing::info!(directory = %self.settings.directory, "created an ACME account");
        Ok(account)
    }

    /// The certificate chain and its key, in PEM.
    async fn order(&self) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .settings
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| format!("ordering: {e}"))?;
        let kind = if self.settings.http_challenge {
            ChallengeType::Http01
        } else {
            ChallengeType::TlsAlpn01
        };
        let challenges = self.tls.store.challenges.clone();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| format!("authorizing: {e}"))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let mut challenge = authorization
                .challenge(kind.clone())
                .ok_or_else(|| format!("the ACME server offers no {kind:?} challenge"))?;
            let key_authorization = challenge.key_authorization();
            match kind {
                ChallengeType::Http01 => {
                    challenges.answer_http(&challenge.token, key_authorization.as_str());
                }
                _ => challenges.answer_alpn(
                    &challenge.identifier().to_string(),
                    key_authorization.digest().as_ref(),
                )?,
            }
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("answering the challenge: {e}"))?;
        }
        let retries = RetryPolicy::new().timeout(Duration::from_secs(90));
        let status = order
            .poll_ready(&retries)
            .await
            .map_err(|e| format!("waiting for validation: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!("the order is {status:?} after validation"));
        }
        let key = order
            .finalize()
            .await
            .map_err(|e| format!("finalizing: {e}"))?;
        let chain = order
            .poll_certificate(&retries)
            .await
            .map_err(|e| format!("fetching the certificate: {e}"))?;
        Ok((chain, key))
    }
}

/// The HTTP client for the ACME server: ureq, with the directory's CA when one is given.
fn agent(directory_ca: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(path) = directory_ca {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!("--acme-directory-ca: cannot read {}: {e}", path.display())
        })?;
        let roots = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect::<Vec<Certificate<'static>>>();
        if roots.is_empty() {
            anyhow::bail!(
                "--acme-directory-ca: {} holds no certificate",
                path.display()
            );
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("provenant/", env!("CARGO_PKG_VERSION")))
        // The ACME server's problem documents come with 4xx answers: instant-acme reads them.
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into())
}

/// instant-acme's requests, sent by ureq on a blocking thread.
struct UreqClient(ureq::Agent);

impl HttpClient for UreqClient {
    fn request(
        &self,
        req: ureq::http::Request<BodyWrapper<bytes::Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let agent = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match http_body_util::BodyExt::collect(body).await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let request = ureq::http::Request::from_parts(parts, body.to_vec());
            let answer = tokio::task::spawn_blocking(move || {
                let mut response = agent.run(request)?;
                let bytes = response
                    .body_mut()
                    .with_config()
                    .limit(1024 * 1024)
                    .read_to_vec()?;
                let (parts, _) = response.into_parts();
                Ok::<_, ureq::Error>((parts, bytes))
            })
            .await
            .map_err(|e| instant_acme::Error::Other(Box::new(e)))?
            .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            Ok(BytesResponse {
                parts: answer.0,
                body: Box::new(bytes::Bytes::from(answer.1)),
            })
        })
    }
}
