//! Settings: each a command-line flag with a `PROVENANT_*` environment twin (the flag wins).

use crate::base::duration::parse as parse_duration;
use crate::db::SyncMode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// The version and the git commit it was built from (`provenant --version`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILD_GIT_COMMIT"),
    ")"
);

/// Provenant Integrations: receive GitHub, GitLab and generic webhooks, store every delivery
/// durably, and process it on a background worker.
#[derive(Debug, Clone, Parser)]
#[command(name = "provenant", version = VERSION, about, long_about = None)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "PROVENANT_LISTEN", default_value = "0.0.0.0:4000")]
    pub listen: String,

    /// Folder for the database, the generated API token and other state (created if missing;
    /// default `provenant-data`). A PostgreSQL node given --api-token and --master-key needs
    /// none, and makes none unless this is set or `provenant-data` exists.
    #[arg(long, env = "PROVENANT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// A PostgreSQL database to share with other nodes, `postgres://user:pass@host:port/db`
    /// (default: SQLite, one file in the data folder).
    #[arg(
        long,
        env = "PROVENANT_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<DatabaseUrl>,

    /// A file holding the database URL (systemd: `LoadCredential=database-url:…`, found in
    /// `$CREDENTIALS_DIRECTORY` without this setting).
    #[arg(long, env = "PROVENANT_DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,

    /// Base URL shown in webhook URLs, e.g. https://hooks.example.com (default: from --listen).
    #[arg(long, env = "PROVENANT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Bearer token for the management API (default: generated once into the data folder).
    #[arg(long, env = "PROVENANT_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// A file holding the API token (systemd: `LoadCredential=api-token:…`, found in
    /// `$CREDENTIALS_DIRECTORY` without this setting).
    #[arg(long, env = "PROVENANT_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// Key that encrypts stored secrets: 32 bytes as 64 hex characters or base64
    /// (default: generated once into the data folder).
    #[arg(long, env = "PROVENANT_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// A file holding the master key (systemd: `LoadCredential=master-key:…`, found in
    /// `$CREDENTIALS_DIRECTORY` without this setting).
    #[arg(long, env = "PROVENANT_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Log filter, e.g. `info`, `debug`, `provenant=debug,poem=warn`.
    #[arg(long, env = "PROVENANT_LOG", default_value = "info")]
    pub log: String,

    /// Largest webhook body accepted, in bytes (GitHub and GitLab send at most 25 MiB).
    #[arg(long, env = "PROVENANT_MAX_BODY_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// SQLite durability for accepted deliveries: `full` syncs every commit to disk.
    #[arg(long, env = "PROVENANT_SYNC", value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,

    /// Waits between processing attempts of a delivery that failed with a retryable error;
    /// after the last one the event is FAILED.
    #[arg(
        long,
        env = "PROVENANT_RETRY_SCHEDULE",
        default_value = "10s,1m,5m,30m,2h"
    )]
    pub retry_schedule: String,

    /// Days after which processed and failed events are pruned.
    #[arg(long, env = "PROVENANT_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,

    /// Seconds a connection may stay silent (mid-request, or idle between requests) before the
    /// server closes it.
    #[arg(long, env = "PROVENANT_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,

    /// Seconds a request head (request line and headers) may take to arrive in full, however
    /// it trickles in.
    #[arg(long, env = "PROVENANT_HEAD_TIMEOUT_SECS", default_value_t = 10)]
    pub head_timeout_secs: u64,

    /// Connections open at once, in all; past it a new connection is answered 503.
    #[arg(long, env = "PROVENANT_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Connections open at once from one address; past it a new one from there is answered
    /// 503 (behind a reverse proxy, every connection comes from the proxy: raise it).
    #[arg(long, env = "PROVENANT_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Wrong tokens one address may present in a minute; past it, that address gets 429 with
    /// Retry-After on everything that needs a token until its minute is over (counted per
    /// node; the webhook receiver is never limited).
    #[arg(
        long,
        env = "PROVENANT_FAILED_SIGN_INS_PER_MINUTE",
        default_value_t = 20
    )]
    pub failed_sign_ins_per_minute: u32,

    /// Wrong tokens and refused sign-ins from all addresses together in a minute; past it,
    /// every address gets 429 until the minute is over (a guess spread over many addresses).
    /// Also caps single sign-ons started a minute. Never below --failed-sign-ins-per-minute.
    #[arg(
        long,
        env = "PROVENANT_FAILED_SIGN_INS_TOTAL_PER_MINUTE",
        default_value_t = 200
    )]
    pub failed_sign_ins_total_per_minute: u32,

    /// Single sign-on for the pages: the OpenID Connect provider's issuer URL (its
    /// `/.well-known/openid-configuration` is read from there), e.g. https://accounts.google.com.
    #[arg(long, env = "PROVENANT_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The client id this server is registered under at the provider; its redirect URI is
    /// `<public URL>/auth/sso/callback`.
    #[arg(long, env = "PROVENANT_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// The client secret that goes with --oidc-client-id.
    #[arg(long, env = "PROVENANT_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// A file holding the client secret (systemd: `LoadCredential=oidc-client-secret:…`,
    /// found in `$CREDENTIALS_DIRECTORY` without this setting).
    #[arg(long, env = "PROVENANT_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,

    /// Who may sign in with SSO, each as `who=role`: an e-mail address, an `@domain`, or
    /// `group:NAME` (a value of the ID token's `groups` claim); the role is `read`, `write` or
    /// `admin`. Comma-separated or repeated; the strongest role that matches wins.
    #[arg(long, env = "PROVENANT_OIDC_ALLOWED", value_delimiter = ',')]
    pub oidc_allowed: Vec<String>,

    /// The issuer of GitHub Actions' OIDC tokens: a workflow may report on its own run with
    /// one (audience: this server's public URL). GitHub Enterprise Server:
    /// `https://HOST/_services/token`. Empty: such tokens are not taken.
    #[arg(
        long,
        env = "PROVENANT_CI_OIDC_GITHUB_ISSUER",
        default_value = crate::domain::ci_jobs::GITHUB_ACTIONS_ISSUER
    )]
    pub ci_oidc_github_issuer: String,

    /// The issuer of GitLab CI's ID tokens (`id_tokens`): a self-managed GitLab's own URL.
    /// Empty: such tokens are not taken.
    #[arg(
        long,
        env = "PROVENANT_CI_OIDC_GITLAB_ISSUER",
        default_value = crate::domain::ci_jobs::GITLAB_COM_ISSUER
    )]
    pub ci_oidc_gitlab_issuer: String,

    /// Minutes a signed-in page session lasts without a request.
    #[arg(long, env = "PROVENANT_SESSION_IDLE_MINUTES", default_value_t = 60)]
    pub session_idle_minutes: u32,

    /// Hours a signed-in page session lasts at most, however busy.
    #[arg(long, env = "PROVENANT_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,

    /// Days the audit log keeps an entry (apart from --retention-days, which is for events).
    #[arg(long, env = "PROVENANT_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,

    /// How often GitHub integrations with a token compare their hook's delivery log with what
    /// arrived and ask for missed deliveries again (also once soon after a start); `0s` turns
    /// it off.
    #[arg(long, env = "PROVENANT_RECONCILE_EVERY", default_value = "10m")]
    pub reconcile_every: String,

    /// Alerts one WEBHOOK integration may have waiting for one Slack integration; further ones
    /// are folded into a single "N more alerts" message until the queue drains.
    #[arg(long, env = "PROVENANT_MAX_QUEUED_ALERTS", default_value_t = crate::pipeline::notify::announce::DEFAULT_MAX_QUEUED_ALERTS)]
    pub max_queued_alerts: usize,

    /// How often the server looks for conditions to alert on (failures, rejections, a
    /// destination in trouble, missed deliveries, storage, backlog); `0s` turns alerts off.
    #[arg(long, env = "PROVENANT_ALERT_CHECK_EVERY", default_value = "15s")]
    pub alert_check_every: String,

    /// The window processing failures and signature rejections are counted over.
    #[arg(long, env = "PROVENANT_ALERT_WINDOW", default_value = "10m")]
    pub alert_window: String,

    /// Processing failures of one integration in the window that raise an alert.
    #[arg(long, env = "PROVENANT_ALERT_FAILURES", default_value_t = 5)]
    pub alert_failures: u32,

    /// Or this share (in percent) of an integration's deliveries in the window failing (with
    /// at least 5 of them).
    #[arg(long, env = "PROVENANT_ALERT_FAILURE_PERCENT", default_value_t = 20)]
    pub alert_failure_percent: u32,

    /// Deliveries of one integration refused in the window (bad signature or token) that
    /// raise an alert.
    #[arg(long, env = "PROVENANT_ALERT_REJECTIONS", default_value_t = 10)]
    pub alert_rejections: u32,

    /// How long an outbox destination must be failing or paused before it raises an alert.
    #[arg(long, env = "PROVENANT_ALERT_DESTINATION_AFTER", default_value = "10m")]
    pub alert_destination_after: String,

    /// How long the oldest unprocessed event may wait before it raises an alert.
    #[arg(long, env = "PROVENANT_ALERT_BACKLOG_AFTER", default_value = "5m")]
    pub alert_backlog_after: String,

    /// The origins this server trusts outbound (comma-separated): a bare `host` or
    /// `host:port` (https), or `http(s)://host[:port]`. Requests may reach them at an address
    /// inside a network (loopback, private, link-local: refused for every other origin, after
    /// resolving the name); their answers are kept and shown in errors, test results and the
    /// outbox (for any other host only the status is); and an `http://` entry lets credentials
    /// travel in clear text to exactly that origin (a test stand-in, a lab). The hosts
    /// integrations used before the fence existed are trusted too. Default: the public API
    /// hosts. `--allowed-api-hosts` (`PROVENANT_ALLOWED_API_HOSTS`) is the same setting's
    /// earlier name.
    #[arg(long, env = "PROVENANT_EGRESS_ALLOW")]
    pub egress_allow: Option<String>,

    /// The earlier name of `--egress-allow`, still read.
    #[arg(long, env = "PROVENANT_ALLOWED_API_HOSTS", hide = true)]
    pub allowed_api_hosts: Option<String>,

    /// This node's name among several on one PostgreSQL database (letters, digits, `.`, `_`,
    /// `-`); unique per node and kept across restarts. By default one is made at the first
    /// start from the host's name and kept in the data folder (`node-id`).
    #[arg(long, env = "PROVENANT_NODE_ID")]
    pub node_id: Option<String>,

    /// How long a node's claims (events being processed, requests being sent) and its hold on
    /// the cluster's duties stay its own without a heartbeat; a node that dies is taken over
    /// after this. At least 1s.
    #[arg(long, env = "PROVENANT_NODE_LEASE", default_value = "15s")]
    pub node_lease: String,

    /// Serve HTTPS with this certificate chain (PEM, leaf first); with --tls-key. Read again
    /// when the file changes or on SIGHUP.
    #[arg(
        long,
        env = "PROVENANT_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "acme_domain"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "PROVENANT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate for this name from an ACME server (Let's Encrypt by
    /// default), obtained at the first start, kept in the data folder and renewed 30 days
    /// before it expires. Repeatable (comma-separated in the environment).
    #[arg(long, env = "PROVENANT_ACME_DOMAIN", value_delimiter = ',')]
    pub acme_domain: Vec<String>,

    /// A contact address for the ACME account (expiry and policy mails from the CA).
    #[arg(long, env = "PROVENANT_ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// The ACME directory URL (default: Let's Encrypt production).
    #[arg(
        long,
        env = "PROVENANT_ACME_DIRECTORY",
        conflicts_with = "acme_staging"
    )]
    pub acme_directory: Option<String>,

    /// Use Let's Encrypt's staging directory (certificates browsers do not trust; for trying
    /// a setup out without its rate limits).
    #[arg(long, env = "PROVENANT_ACME_STAGING")]
    pub acme_staging: bool,

    /// A CA certificate (PEM) to trust for the ACME directory's own HTTPS, for a private ACME
    /// server (step-ca, Pebble); default: the Mozilla roots.
    #[arg(long, env = "PROVENANT_ACME_DIRECTORY_CA")]
    pub acme_directory_ca: Option<PathBuf>,

    /// How often the ACME certificate is looked at for renewal.
    #[arg(
        long,
        env = "PROVENANT_ACME_CHECK_EVERY",
        default_value = "12h",
        hide = true
    )]
    pub acme_check_every: String,

    /// Also listen here with plain HTTP, answering every request with a redirect to https
    /// (e.g. 0.0.0.0:80), and ACME's HTTP-01 challenges. Needs HTTPS on.
    #[arg(long, env = "PROVENANT_REDIRECT_HTTP")]
    pub redirect_http: Option<String>,

    /// Reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For,
    /// X-Forwarded-Proto and Forwarded headers name the client; from anyone else they are
    /// ignored. Default: none.
    #[arg(long, env = "PROVENANT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// The forwarding header the trusted proxies write: `x-forwarded-for` (with
    /// X-Forwarded-Proto) or `forwarded` (RFC 7239). Only that one is read; the other is
    /// ignored, since a proxy passes a client's own copy of it on.
    #[arg(
        long,
        env = "PROVENANT_FORWARDED_HEADER",
        value_enum,
        default_value_t = crate::http::proxy::ForwardedHeader::XForwardedFor
    )]
    pub forwarded_header: crate::http::proxy::ForwardedHeader,

    /// Log lines as text, or as one JSON object per line (for journald, Loki, Elasticsearch).
    #[arg(long, env = "PROVENANT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API, the pages and the worker (the default).
    Serve,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Write a consistent copy of the database to a new file (safe while the server runs).
    Backup {
        /// The file to create; it must not exist yet.
        to: PathBuf,
    },
    /// Copy the data folder's SQLite database into the empty PostgreSQL database named by
    /// --database-url (stop the server first), and check every table's count.
    MigrateToPostgres,
    /// Check this installation (the same settings as the server's) and print a checklist:
    /// data folder, database, disk, certificate, public URL, clock, and each integration's
    /// credentials. Reads only. Exit code 0 when all is fine, 1 if anything is not, 2 if the
    /// checks could not run.
    Doctor,
}

/// A database URL as given, which may hold a password: shown (Debug) without it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Any text is taken here and checked in [`Config::validate`]: an error from the parser
/// would repeat the value, password and all.
impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(url.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Everything between the scheme and the host (user and password) is left out.
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("postgres", &self.0));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "{scheme}://…@{host}")
    }
}

/// Settings after validation, in the types the server uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// None: a PostgreSQL node without a folder (see [`Config::data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the data folder's SQLite file.
    pub database_url: Option<DatabaseUrl>,
    pub public_url: Option<String>,
    pub api_token: Option<String>,
    pub master_key: Option<String>,
    pub max_body_bytes: usize,
    pub sync: SyncMode,
    pub retry_schedule: Vec<Duration>,
    pub retention: Duration,
    pub idle_timeout: Duration,
    /// How long a request head may take to arrive in full.
    pub head_timeout: Duration,
    /// Connections open at once, in all and from one address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Wrong tokens one address may present in a minute.
    pub failed_sign_ins_per_minute: u32,
    pub failed_sign_ins_total_per_minute: u32,
    /// How long the audit log keeps an entry.
    pub audit_retention: Duration,
    /// Single sign-on for the pages; None: API tokens only.
    pub sso: Option<crate::domain::sso::SsoSettings>,
    /// Whose CI job tokens may report on their runs.
    pub ci_issuers: crate::domain::ci_jobs::CiIssuerSettings,
    /// The system clock; tests pass one they can jump.
    pub clock: crate::base::clock::Clock,
    /// How often GitHub delivery logs are reconciled; None: never (on request only).
    pub reconcile_every: Option<Duration>,
    /// Alerts a source may have waiting for one Slack integration before they are folded.
    pub max_queued_alerts: usize,
    /// What the server alerts on, and how often it looks.
    pub alerts: crate::pipeline::alerts::AlertSettings,
    /// The origins trusted outbound (`--egress-allow`): reached inside a network, answers
    /// shown, plain http for credentials when listed as `http://`.
    pub egress_allow: Vec<String>,
    /// This node's id among several; None: the one kept in the data folder.
    pub node_id: Option<String>,
    /// How long a node's claims and duties outlive its last heartbeat.
    pub node_lease: Duration,
    /// HTTPS, and where its certificate comes from; None: plain HTTP.
    pub tls: Option<TlsSource>,
    /// A plain HTTP listener that redirects to https.
    pub redirect_http: Option<SocketAddr>,
    /// Whose forwarding headers are believed.
    pub trusted_proxies: crate::http::proxy::TrustedProxies,
}

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    Files(crate::tls::files::CertFiles),
    Acme(crate::tls::acme::AcmeSettings),
}

/// Every `PROVENANT_*` variable that the server reads, from the settings themselves (each
/// flag's `env`, in every subcommand), so that a new setting is never warned about as a typo;
/// and the crash-test hook.
pub fn known_env_vars() -> Vec<String> {
    fn collect(command: &clap::Command, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|n| n.to_str()) {
                out.push(name.to_string());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut out = vec![crate::base::crashpoint::ENV_VAR.to_string()];
    collect(&<Config as clap::CommandFactory>::command(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// The `PROVENANT_*` variables set here that no setting reads: probably typos.
pub fn unknown_env_vars() -> Vec<String> {
    let known = known_env_vars();
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("PROVENANT_") && !known.contains(k))
        .collect()
}

/// The data folder when none is given.
pub const DEFAULT_DATA_DIR: &str = "provenant-data";

/// Where systemd puts a service's credentials (`LoadCredential=`).
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A secret setting's value: the one given, or the contents of its file, or of the systemd
/// credential named `credential`; None when there is none of them.
fn secret_value(
    given: Option<String>,
    file: Option<&std::path::Path>,
    credential: &str,
    flag: &str,
) -> Result<Option<String>, String> {
    let read = |path: &std::path::Path, what: &str| -> Result<String, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(format!("{what}: {} is empty", path.display()));
        }
        Ok(text)
    };
    match (given, file) {
        (Some(_), Some(_)) => Err(format!("{flag} and {flag}-file: give one of them")),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => read(path, &format!("{flag}-file")).map(Some),
        (None, None) => match std::env::var_os(CREDENTIALS_DIRECTORY) {
            Some(dir) => {
                let path = PathBuf::from(dir).join(credential);
                if path.exists() {
                    read(&path, &format!("the systemd credential `{credential}`")).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        },
    }
}

impl Config {
    /// Fills the secret settings from their files (`--api-token-file`, `--master-key-file`,
    /// `--database-url-file`) or from systemd's credentials directory, so that they need not
    /// be in the environment, where other processes of the same user can read them.
    pub fn read_secret_files(&mut self) -> Result<(), String> {
        self.api_token = secret_value(
            self.api_token.take(),
            self.api_token_file.as_deref(),
            "api-token",
            "--api-token",
        )?;
        self.master_key = secret_value(
            self.master_key.take(),
            self.master_key_file.as_deref(),
            "master-key",
            "--master-key",
        )?;
        self.database_url = secret_value(
            self.database_url.take().map(|u| u.0),
            self.database_url_file.as_deref(),
            "database-url",
            "--database-url",
        )?
        .map(DatabaseUrl);
        self.oidc_client_secret = secret_value(
            self.oidc_client_secret.take(),
            self.oidc_client_secret_file.as_deref(),
            "oidc-client-secret",
            "--oidc-client-secret",
        )?;
        Ok(())
    }

    /// The CI issuers whose job tokens are taken; an empty one is not.
    fn ci_issuer_settings(&self) -> Result<crate::domain::ci_jobs::CiIssuerSettings, String> {
        let issuer = |value: &str, flag: &str| -> Result<Option<String>, String> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            crate::domain::sso::check_issuer(value)
                .map(Some)
                .map_err(|e| format!("{flag}: {e}"))
        };
        Ok(crate::domain::ci_jobs::CiIssuerSettings {
            github: issuer(&self.ci_oidc_github_issuer, "--ci-oidc-github-issuer")?,
            gitlab: issuer(&self.ci_oidc_gitlab_issuer, "--ci-oidc-gitlab-issuer")?,
        })
    }

    /// Single sign-on, when any of its settings is given: all three of the provider's, and
    /// at least one rule of who may sign in.
    fn sso_settings(&self) -> Result<Option<crate::domain::sso::SsoSettings>, String> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let (issuer, client_id, secret) = (
            given(&self.oidc_issuer),
            given(&self.oidc_client_id),
            given(&self.oidc_client_secret),
        );
        if issuer.is_none()
            && client_id.is_none()
            && secret.is_none()
            && self.oidc_allowed.is_empty()
        {
            return Ok(None);
        }
        let (Some(issuer), Some(client_id), Some(secret)) = (issuer, client_id, secret) else {
            return Err("--oidc-issuer, --oidc-client-id, --oidc-client-secret: single sign-on needs all three".into());
        };
        let issuer =
            crate::domain::sso::check_issuer(issuer).map_err(|e| format!("--oidc-issuer: {e}"))?;
        let allowed = crate::domain::sso::parse_allowed(&self.oidc_allowed)
            .map_err(|e| format!("--oidc-allowed: {e}"))?;
        if allowed.is_empty() {
            return Err("--oidc-allowed: name who may sign in, e.g. `@example.com=read`".into());
        }
        if self.session_idle_minutes == 0 || self.session_hours == 0 {
            return Err("--session-idle-minutes, --session-hours: must be greater than 0".into());
        }
        Ok(Some(crate::domain::sso::SsoSettings {
            issuer,
            client_id: client_id.to_string(),
            client_secret: secret.to_string(),
            allowed,
            idle: Duration::from_secs(u64::from(self.session_idle_minutes) * 60),
            lifetime: Duration::from_secs(u64::from(self.session_hours) * 3600),
        }))
    }

    fn acme_settings(&self) -> Result<crate::tls::acme::AcmeSettings, String> {
        let domains: Vec<String> = self
            .acme_domain
            .iter()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        if let Some(bad) = domains.iter().find(|d| {
            d.parse::<std::net::IpAddr>().is_ok()
                || !d.contains('.')
                || !d
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }) {
            return Err(format!(
                "--acme-domain: `{bad}` is not a DNS name such as hooks.example.com"
            ));
        }
        if let Some(email) = &self.acme_email
            && !email.contains('@')
        {
            return Err(format!("--acme-email: `{email}` is not an email address"));
        }
        let directory = match (&self.acme_directory, self.acme_staging) {
            (Some(url), _) => url.clone(),
            (None, true) => crate::tls::acme::LETS_ENCRYPT_STAGING.to_string(),
            (None, false) => crate::tls::acme::LETS_ENCRYPT.to_string(),
        };
        if !directory.starts_with("https://") {
            return Err(format!(
                "--acme-directory: `{directory}` must be an https URL"
            ));
        }
        let check_every = parse_duration(self.acme_check_every.trim())
            .map_err(|e| format!("--acme-check-every: {e}"))?;
        if check_every.is_zero() {
            return Err("--acme-check-every: must be greater than 0".to_string());
        }
        Ok(crate::tls::acme::AcmeSettings {
            domains,
            email: self.acme_email.clone(),
            directory,
            directory_ca: self.acme_directory_ca.clone(),
            check_every,
            http_challenge: self.redirect_http.is_some(),
        })
    }

    /// The data folder given, or the default one (for the commands that always use one).
    pub fn data_dir_or_default(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The data folder the server uses: None for a PostgreSQL node that is given everything a
    /// folder would keep (the token and the master key) and has no folder from before, as in
    /// a container with no volume of its own.
    fn server_data_dir(&self) -> Option<PathBuf> {
        let folderless = self.data_dir.is_none()
            && self.database_url.is_some()
            && self.api_token.is_some()
            && self.master_key.is_some()
            && self.acme_domain.is_empty()
            && !std::path::Path::new(DEFAULT_DATA_DIR).exists();
        (!folderless).then(|| self.data_dir_or_default())
    }

    /// Checks every setting and converts it; the error is one line meant for a person.
    pub fn validate(&self) -> Result<Settings, String> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            format!(
                "--listen: `{}` is not an address such as 0.0.0.0:4000",
                self.listen
            )
        })?;
        let public_url = match &self.public_url {
            None => None,
            Some(url) => {
                let url = url.trim_end_matches('/');
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.len() > "https://".len();
                if !ok {
                    return Err(format!(
                        "--public-url: `{url}` must be an absolute http(s) URL"
                    ));
                }
                Some(url.to_string())
            }
        };
        if let Some(token) = &self.api_token
            && token.trim().len() < 16
        {
            return Err("--api-token: must be at least 16 characters".to_string());
        }
        if let Some(url) = &self.database_url
            && !(url.0.starts_with("postgres://") || url.0.starts_with("postgresql://"))
        {
            return Err(
                "--database-url: expected a URL such as postgres://user:password@host:5432/provenant"
                    .to_string(),
            );
        }
        if self.max_body_bytes == 0 {
            return Err("--max-body-bytes: must be greater than 0".to_string());
        }
        let retry_schedule = self
            .retry_schedule
            .split(',')
            .map(|s| parse_duration(s.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--retry-schedule: {e}"))?;
        if self.idle_timeout_secs == 0 {
            return Err("--idle-timeout-secs: must be greater than 0".to_string());
        }
        if self.head_timeout_secs == 0 {
            return Err("--head-timeout-secs: must be greater than 0".to_string());
        }
        if self.failed_sign_ins_per_minute == 0 {
            return Err("--failed-sign-ins-per-minute: must be greater than 0".to_string());
        }
        if self.failed_sign_ins_total_per_minute == 0 {
            return Err("--failed-sign-ins-total-per-minute: must be greater than 0".to_string());
        }
        if self.audit_retention_days == 0 {
            return Err("--audit-retention-days: must be greater than 0".to_string());
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(
                "--max-connections, --max-connections-per-ip: must be greater than 0".to_string(),
            );
        }
        if self.max_queued_alerts == 0 {
            return Err("--max-queued-alerts: must be greater than 0".to_string());
        }
        let egress_allow = match (&self.egress_allow, &self.allowed_api_hosts) {
            (Some(_), Some(_)) => {
                return Err(
                    "--egress-allow and --allowed-api-hosts are one setting (the second is its earlier name): give one"
                        .to_string(),
                );
            }
            (Some(list), None) | (None, Some(list)) => list.clone(),
            (None, None) => crate::domain::hosts::PUBLIC_API_HOSTS.join(","),
        };
        let egress_allow: Vec<String> = egress_allow
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(bad) = egress_allow
            .iter()
            .find(|h| !crate::domain::hosts::is_valid_entry(h))
        {
            return Err(format!(
                "--egress-allow: `{bad}` is not a host, host:port or http(s)://host[:port]"
            ));
        }
        if let Some(id) = &self.node_id {
            let fine = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !fine {
                return Err(format!(
                    "--node-id: `{id}` must be 1 to 64 letters, digits, `.`, `_` or `-`"
                ));
            }
        }
        let node_lease =
            parse_duration(self.node_lease.trim()).map_err(|e| format!("--node-lease: {e}"))?;
        if node_lease < Duration::from_secs(1) {
            return Err("--node-lease: must be at least 1s".to_string());
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files(crate::tls::files::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None) if !self.acme_domain.is_empty() => {
                Some(TlsSource::Acme(self.acme_settings()?))
            }
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key: give both".to_string()),
        };
        let redirect_http = match &self.redirect_http {
            None => None,
            Some(_) if tls.is_none() => {
                return Err(
                    "--redirect-http: redirects to https, which needs --tls-cert and --tls-key, \
                     or --acme-domain"
                        .to_string(),
                );
            }
            Some(addr) => Some(addr.parse::<SocketAddr>().map_err(|_| {
                format!("--redirect-http: `{addr}` is not an address such as 0.0.0.0:80")
            })?),
        };
        let trusted_proxies = crate::http::proxy::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| format!("--trusted-proxies: {e}"))?
            .reading(self.forwarded_header);
        Ok(Settings {
            listen,
            data_dir: self.server_data_dir(),
            database_url: self.database_url.clone(),
            public_url,
            api_token: self.api_token.clone(),
            master_key: self.master_key.clone(),
            max_body_bytes: self.max_body_bytes,
            sync: self.sync,
            retry_schedule,
            retention: Duration::from_secs(u64::from(self.retention_days) * 86_400),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            head_timeout: Duration::from_secs(self.head_timeout_secs),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            failed_sign_ins_per_minute: self.failed_sign_ins_per_minute,
            // Never below one source's limit: raising that one alone keeps working.
            failed_sign_ins_total_per_minute: self
                .failed_sign_ins_total_per_minute
                .max(self.failed_sign_ins_per_minute),
            audit_retention: Duration::from_secs(u64::from(self.audit_retention_days) * 86_400),
            sso: self.sso_settings()?,
            ci_issuers: self.ci_issuer_settings()?,
            clock: crate::base::clock::Clock::system(),
            reconcile_every: Some(
                parse_duration(self.reconcile_every.trim())
                    .map_err(|e| format!("--reconcile-every: {e}"))?,
            )
            .filter(|d| !d.is_zero()),
            max_queued_alerts: self.max_queued_alerts,
            alerts: self.alert_settings()?,
            egress_allow,
            node_id: self.node_id.clone(),
            node_lease,
            tls,
            redirect_http,
            trusted_proxies,
        })
    }
}

impl Config {
    fn alert_settings(&self) -> Result<crate::pipeline::alerts::AlertSettings, String> {
        let duration = |text: &str, flag: &str| {
            parse_duration(text.trim()).map_err(|e| format!("{flag}: {e}"))
        };
        let at_least_one = |n: u32, flag: &str| {
            if n == 0 {
                Err(format!("{flag}: must be at least 1"))
            } else {
                Ok(i64::from(n))
            }
        };
        if self.alert_failure_percent == 0 || self.alert_failure_percent > 100 {
            return Err("--alert-failure-percent: must be 1 to 100".to_string());
        }
        let window = duration(&self.alert_window, "--alert-window")?;
        if window < Duration::from_secs(60) {
            return Err(
                "--alert-window: must be at least 1m (counts are kept by the minute)".to_string(),
            );
        }
        if window > Duration::from_secs(3600) {
            return Err(
                "--alert-window: must be at most 1h (minute counts are kept an hour)".to_string(),
            );
        }
        Ok(crate::pipeline::alerts::AlertSettings {
            check_every: Some(duration(&self.alert_check_every, "--alert-check-every")?)
                .filter(|d| !d.is_zero()),
            window,
            failures: at_least_one(self.alert_failures, "--alert-failures")?,
            failure_percent: i64::from(self.alert_failure_percent),
            rejections: at_least_one(self.alert_rejections, "--alert-rejections")?,
            destination_after: duration(
                &self.alert_destination_after,
                "--alert-destination-after",
            )?,
            backlog_after: duration(&self.alert_backlog_after, "--alert-backlog-after")?,
        })
    }
}

impl Settings {
    /// `--public-url`, or what it defaults to for a server listening on `local`: the ACME
    /// domain, or the listening address (`localhost` for a wildcard), with https when TLS is
    /// on.
    pub fn public_url_for(&self, local: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        if let Some(TlsSource::Acme(acme)) = &self.tls {
            // The name the certificate is for: what GitHub and Slack will be given.
            return match local.port() {
                443 => format!("https://{}", acme.domains[0]),
                port => format!("https://{}:{port}", acme.domains[0]),
            };
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        if local.ip().is_unspecified() {
            format!("{scheme}://localhost:{}", local.port())
        } else {
            format!("{scheme}://{local}")
        }
    }

    /// Settings for a server in `data_dir` listening on a free loopback port, as tests want.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: Some(data_dir.into()),
            database_url: None,
            public_url: None,
            api_token: None,
            master_key: None,
            max_body_bytes: 25 * 1024 * 1024,
            sync: SyncMode::Full,
            retry_schedule: vec![Duration::from_secs(10)],
            retention: Duration::from_secs(30 * 86_400),
            idle_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_ip: 256,
            failed_sign_ins_per_minute: crate::http::throttle::DEFAULT_LIMIT,
            failed_sign_ins_total_per_minute: crate::http::throttle::DEFAULT_TOTAL_LIMIT,
            audit_retention: Duration::from_secs(365 * 86_400),
            sso: None,
            ci_issuers: crate::domain::ci_jobs::CiIssuerSettings::public(),
            clock: crate::base::clock::Clock::system(),
            // Tests ask for checks; none start on their own.
            reconcile_every: None,
            max_queued_alerts: crate::pipeline::notify::announce::DEFAULT_MAX_QUEUED_ALERTS,
            // Tests that look at alerts turn them on (and move the clock, which checks at once).
            alerts: crate::pipeline::alerts::AlertSettings {
                check_every: None,
                ..Default::default()
            },
            egress_allow: crate::domain::hosts::PUBLIC_API_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            node_id: None,
            node_lease: Duration::from_secs(15),
            tls: None,
            redirect_http: None,
            trusted_proxies: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_the_server_reads_is_known_and_nothing_else() {
        let known = known_env_vars();
        for name in [
            "PROVENANT_FAILED_SIGN_INS_PER_MINUTE",
            "PROVENANT_FAILED_SIGN_INS_TOTAL_PER_MINUTE",
            "PROVENANT_AUDIT_RETENTION_DAYS",
            "PROVENANT_FORWARDED_HEADER",
            "PROVENANT_DATABASE_URL_FILE",
            "PROVENANT_LISTEN",
            crate::base::crashpoint::ENV_VAR,
        ] {
            assert!(known.iter().any(|k| k == name), "{name}");
        }
        assert!(
            known.iter().all(|k| k.starts_with("PROVENANT_")),
            "{known:?}"
        );
        assert!(!known.iter().any(|k| k == "PROVENANT_COMMIT"));
    }

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("provenant").chain(args.iter().copied()))
            .expect("arguments parse")
    }

    #[test]
    fn ci_issuers_default_to_the_public_ones_and_an_empty_one_is_off() {
        let s = parse(&[]).validate().expect("defaults");
        assert_eq!(
            s.ci_issuers.github.as_deref(),
            Some(crate::domain::ci_jobs::GITHUB_ACTIONS_ISSUER)
        );
        let s = parse(&[
            "--ci-oidc-github-issuer",
            "",
            "--ci-oidc-gitlab-issuer",
            "https://gitlab.example.com/",
        ])
        .validate()
        .expect("settings");
        assert_eq!(s.ci_issuers.github, None);
        assert_eq!(
            s.ci_issuers.gitlab.as_deref(),
            Some("https://gitlab.example.com")
        );
        let refused = parse(&["--ci-oidc-gitlab-issuer", "http://gitlab.example.com"]).validate();
        assert!(refused.is_err_and(|e| e.contains("--ci-oidc-gitlab-issuer")));
    }

    #[test]
    fn defaults_validate() {
        let s = parse(&[]).validate().expect("defaults are valid");
        assert_eq!(s.listen.port(), 4000);
        assert_eq!(s.retry_schedule.len(), 5);
    }

    #[test]
    fn bad_settings_give_one_line_messages() {
        for (args, needle) in [
            (&["--listen", "nowhere"][..], "--listen"),
            (&["--public-url", "ftp://x"][..], "--public-url"),
            (&["--api-token", "short"][..], "--api-token"),
            (&["--retry-schedule", "10s,soon"][..], "--retry-schedule"),
            (&["--egress-allow", "ghe corp"][..], "--egress-allow"),
            (&["--allowed-api-hosts", "ghe corp"][..], "--egress-allow"),
            (
                &[
                    "--egress-allow",
                    "a.example",
                    "--allowed-api-hosts",
                    "b.example",
                ][..],
                "one setting",
            ),
            (&["--max-queued-alerts", "0"][..], "--max-queued-alerts"),
            (&["--alert-window", "30s"][..], "--alert-window"),
            (
                &["--alert-failure-percent", "0"][..],
                "--alert-failure-percent",
            ),
            (&["--alert-rejections", "0"][..], "--alert-rejections"),
            (
                &["--alert-backlog-after", "soon"][..],
                "--alert-backlog-after",
            ),
            (
                &["--trusted-proxies", "10.0.0.0/40"][..],
                "--trusted-proxies",
            ),
            (&["--redirect-http", "0.0.0.0:80"][..], "--redirect-http"),
            (&["--acme-domain", "localhost"][..], "--acme-domain"),
            (
                &["--acme-domain", "a.example", "--acme-directory", "http://x"][..],
                "--acme-directory",
            ),
        ] {
            let err = parse(args).validate().expect_err("invalid");
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains('\n'));
        }
    }
}
