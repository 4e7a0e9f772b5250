//! Never miss a delivery. GitHub does not retry a failed delivery by itself; it keeps a log of
//! each hook's deliveries and redelivers one on request. GitLab (17.4 and later) keeps each
//! project hook's events of the last 7 days and resends one on request: the same check runs
//! for GITLAB integrations. A GitHub App has one hook of its own, whose log
//! (`/app/hook/deliveries`, read with the App's JWT) covers every repository it is installed
//! on. A check lists the hook's
//! recent deliveries, finds those whose delivery id (`guid`) is not stored here and was never
//! asked for, and queues a redelivery request for each (at most `MAX_REQUESTS` a check)
//! through the integration's GitHub destination of the outbox, so that the requests are paced
//! and rate limits are honoured like every other call. Checks run at start, every
//! `--reconcile-every` (default 10 minutes), and on `POST …/reconcile`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use crate::base::error::{AppError, AppResult};
use crate::db::outbox::NewRow;
use crate::db::reconcile::{self as log, Check};
use crate::db::{self, events, integrations, outbox};
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::model::{self, IntegrationType, OutboxKind};
use crate::pipeline::outbox::prepare::open_app;
use crate::pipeline::report;
use crate::pipeline::secrets;
use crate::remote::call::{self, ApiCall, Method};
use crate::remote::forge::Forge;
use crate::remote::github_app::{self, AppAuth};
use crate::remote::{self, Request};
use std::sync::Arc;

use crate::pipeline::ctx::Ctx;

/// Redeliveries asked for by one check, at most.
pub const MAX_REQUESTS: usize = 25;
/// Deliveries read from the log per check (GitHub's largest page).
const PAGE: u32 = 100;
/// The first check after a start: soon, but not in the middle of starting up.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(5);
/// A delivery after a silence longer than this checks its integration's log at once.
pub const GAP: Duration = Duration::from_secs(10 * 60);

/// Asks the reconcile task to check one integration now (a delivery came after a gap).
#[derive(Clone)]
pub struct ReconcileWaker(tokio::sync::mpsc::UnboundedSender<String>);

impl ReconcileWaker {
    /// A waker and the receiving end the task listens on.
    pub fn new() -> (ReconcileWaker, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (ReconcileWaker(tx), rx)
    }

    pub fn wake(&self, integration_id: &str) {
        let _ = self.0.send(integration_id.to_string());
    }
}

/// A delivery in the remote's log: GitHub's `GET /repos/{repo}/hooks/{hook}/deliveries`, or
/// GitLab's `GET /projects/{id}/hooks/{hook}/events` (read by [`from_gitlab_event`]).
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedDelivery {
    /// GitHub's id of this attempt (what a redelivery request names).
    pub id: i64,
    /// The delivery id, the same for every attempt (`X-GitHub-Delivery`).
    pub guid: String,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub status_code: Option<i64>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    /// Another id the same delivery may be stored under (GitLab: the event UUID, when the
    /// guid is its `Idempotency-Key`).
    #[serde(default)]
    pub also_known_as: Option<String>,
}

/// GitLab's hook event: `id`, `request_headers` (with `Idempotency-Key` since 17.4 and
/// `X-Gitlab-Event-UUID`), `response_status` ("200", or "internal error").
fn from_gitlab_event(e: &serde_json::Value) -> Option<LoggedDelivery> {
    let headers = e["request_headers"].as_object()?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    let key = header("Idempotency-Key");
    let uuid = header("X-Gitlab-Event-UUID");
    let (guid, also_known_as) = match (key, uuid) {
        (Some(k), u) => (k, u),
        (None, Some(u)) => (u, None),
        (None, None) => return None,
    };
    Some(LoggedDelivery {
        id: e["id"].as_i64()?,
        guid,
        event: header("X-Gitlab-Event"),
        action: None,
        status_code: e["response_status"].as_str().and_then(|s| s.parse().ok()),
        delivered_at: None,
        also_known_as,
    })
}

/// A delivery GitHub logged that never arrived here.
#[derive(Debug, Clone)]
pub struct Missing {
    pub guid: String,
    pub event: Option<String>,
    /// What GitHub got when it tried (0 or 5xx when this server was unreachable).
    pub status_code: Option<i64>,
    pub delivered_at: Option<String>,
    /// Asked for again by this check (false: asked before, or beyond this check's bound).
    pub requested_now: bool,
}

/// What one check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub at: i64,
    pub hook_id: Option<u64>,
    /// Distinct deliveries in the log.
    pub listed: usize,
    pub missing: Vec<Missing>,
    pub requested: usize,
    /// Why the check could not finish, if it could not.
    pub error: Option<String>,
}

/// What a check needs to call GitHub or GitLab for an integration (also read by `doctor`).
pub(crate) struct Access {
    pub forge: Forge,
    /// Whether the API's answers may be repeated in the check's error.
    show_answer: bool,
    /// Whether the credential may go to `base` over plain http (see `AllowedHosts`).
    plain_http_ok: bool,
    pub base: String,
    /// Where the hook lives in the API: the repository's, the project's or the GitLab group's
    /// path; empty for an App, whose log is its own.
    pub repo_path: String,
    credential: Credential,
    destination: String,
    pub hook_id: Option<u64>,
}

/// How the check authenticates: a personal (or project) token, or the App's JWT.
enum Credential {
    Token(String),
    App(AppAuth),
}

impl Access {
    /// The API, the credential (its secret resolved) and the paths of a GITHUB or GITLAB
    /// integration; None when it has no token.
    /// Whether what the remote answers may be repeated (its host is an allowed API host).
    pub(crate) fn shows_answers(&self) -> bool {
        self.show_answer
    }

    pub(crate) fn of(
        conn: crate::db::Conn<'_>,
        secrets: &crate::domain::secrets::SecretBox,
        allowed_hosts: &crate::domain::hosts::AllowedHosts,
        integration: &integrations::Integration,
    ) -> AppResult<Option<Access>> {
        let base = remote::api_base(&integration.settings);
        let internal = |e: String| AppError::Internal(anyhow::anyhow!(e));
        if let Some(app) =
            open_app(conn, secrets, allowed_hosts, integration, &base).map_err(internal)?
        {
            return Ok(Some(Access {
                show_answer: allowed_hosts.shows(&base),
                plain_http_ok: allowed_hosts.credentials_may_go_to(&base),
                forge: Forge::Github,
                destination: report::app_destination(&base, app.app_id),
                credential: Credential::App(app),
                base,
                repo_path: String::new(),
                hook_id: None,
            }));
        }
        let (forge, token, hook_id) = match &integration.settings {
            IntegrationConfig::Github(c) if c.single_repo().is_none() => {
                return Err(AppError::Conflict(
                    "reconciling with a personal token takes one repository's webhook log: an integration with repos patterns is reconciled when it runs as a GitHub App".into(),
                ));
            }
            IntegrationConfig::Github(c) => (Forge::Github, c.token.as_deref(), c.hook_id),
            IntegrationConfig::Gitlab(c) => (Forge::Gitlab, c.token.as_deref(), c.hook_id),
            _ => {
                return Err(AppError::Conflict(
                    "reconciling is for GITHUB and GITLAB integrations".into(),
                ));
            }
        };
        let Some(token) = secrets::resolve_config_value(
            conn,
            secrets,
            &integration.id,
            "token",
            token,
            Some(&base),
        )
        .map_err(internal)?
        else {
            return Ok(None);
        };
        let destination = report::api_destination(conn, secrets, integration, None)
            .map_err(internal)?
            .unwrap_or_default();
        Ok(Some(Access {
            show_answer: allowed_hosts.shows(&base),
            plain_http_ok: allowed_hosts.credentials_may_go_to(&base),
            forge,
            base,
            repo_path: report::hook_owner_path(&integration.settings),
            credential: Credential::Token(token),
            destination,
            hook_id,
        }))
    }

    /// Whether this is a GitHub App's access (its own delivery log, no repository hook).
    pub(crate) fn is_app(&self) -> bool {
        matches!(self.credential, Credential::App(_))
    }

    /// Where the deliveries of `hook` are listed: the App's log, or the hook's own.
    fn log_path(&self, hook: u64) -> String {
        match &self.credential {
            Credential::App(_) => github_app::DELIVERY_LOG.into(),
            Credential::Token(_) => self.forge.hook_log(&self.repo_path, hook),
        }
    }

    /// Where a redelivery of the logged attempt `attempt` is asked for, and as whom.
    fn redelivery(&self, hook: u64, attempt: i64) -> ApiCall {
        match &self.credential {
            Credential::App(_) => ApiCall::new(Method::Post, github_app::redelivery_path(attempt))
                .acting(call::Acting::App),
            Credential::Token(_) => ApiCall::new(
                Method::Post,
                self.forge.redelivery(&self.repo_path, hook, attempt),
            ),
        }
    }
}

fn access(state: &Ctx, integration: &integrations::Integration) -> AppResult<Access> {
    let pooled = state.pool.get()?;
    Access::of(
        pooled.conn(),
        &state.secrets,
        &state.allowed_hosts,
        integration,
    )?
    .ok_or_else(|| {
        AppError::Conflict(
            "reconciling needs config.token (a token that may read the repository's webhooks)"
                .into(),
        )
    })
}

/// A GET to GitHub or GitLab; the answer's body, or why there is none.
pub(crate) fn get_json(
    agent: &ureq::Agent,
    a: &Access,
    path: &str,
    now: i64,
) -> Result<serde_json::Value, String> {
    let forge = a.forge;
    let read = |reply| forge.read(reply, now);
    let request = |headers| Request {
        method: "GET".into(),
        url: format!("{}{path}", a.base),
        headers,
        body: None,
        url_is_secret: false,
        body_secret: None,
        show_answer: a.show_answer,
        plain_http_ok: a.plain_http_ok,
    };
    let answer = match &a.credential {
        Credential::Token(token) => remote::send(agent, &request(forge.headers(token)), now, read),
        // The JWT is signed and added by the sender.
        Credential::App(app) => {
            github_app::send_as_app(agent, app, &request(forge.headers("")), now, read)
        }
    };
    remote::json_of(answer)
}

/// The id of the repository's hook whose URL is `url`.
fn find_hook(agent: &ureq::Agent, a: &Access, url: &str, now: i64) -> Result<u64, String> {
    let hooks = get_json(agent, a, &a.forge.hooks(&a.repo_path), now)?;
    hooks
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| a.forge.hook_target(h) == Some(url))
        .and_then(|h| h["id"].as_u64())
        .ok_or_else(|| format!("no webhook of the repository points at {url}: set config.hook_id"))
}

/// Checks one integration now: lists its hook's recent deliveries and queues a redelivery
/// for each one missing here. Blocking (HTTP and SQLite): run it off the async threads.
pub fn check(state: &Ctx, integration_id: &str) -> AppResult<Report> {
    let integration = integrations::get(state.pool.get()?.conn(), integration_id)?;
    let a = access(state, &integration)?;
    let now = state.clock.now_ms();
    let agent = &state.http;
    let mut report = Report {
        at: now,
        ..Report::default()
    };
    // The listing is read now (the caller is told what it found); it still respects a pause
    // that GitHub imposed on this token, like every call through the outbox.
    let paused = outbox::destinations(state.pool.get()?.conn(), now, None)?
        .into_iter()
        .find(|d| d.destination == a.destination)
        .and_then(|d| d.paused_until);
    let listed = (|| -> Result<Vec<LoggedDelivery>, String> {
        if let Some(until) = paused {
            return Err(format!(
                "not checked: the API rate-limits this token until {}",
                crate::base::clock::rfc3339(until)
            ));
        }
        // An App has one hook of its own: no repository hook to find.
        let hook = match a.hook_id {
            _ if a.is_app() => 0,
            Some(id) => id,
            None => find_hook(agent, &a, &state.webhook_url(&integration.id), now)?,
        };
        report.hook_id = (!a.is_app()).then_some(hook);
        let page = get_json(
            agent,
            &a,
            &format!("{}?per_page={PAGE}", a.log_path(hook)),
            now,
        )?;
        if a.forge == Forge::Gitlab {
            let events = page.as_array().ok_or("GitLab's event log is not a list")?;
            return Ok(events.iter().filter_map(from_gitlab_event).collect());
        }
        serde_json::from_value(page)
            .map_err(|e| format!("GitHub's delivery log could not be read: {e}"))
    })();
    let deliveries = match listed {
        Ok(d) => d,
        Err(error) => {
            report.error = Some(error);
            record(state, &integration.id, &report, Vec::new())?;
            return Ok(report);
        }
    };
    // Every attempt of a delivery shares its guid; a redelivery names the latest attempt.
    let mut latest: BTreeMap<String, LoggedDelivery> = BTreeMap::new();
    for d in deliveries {
        match latest.get(&d.guid) {
            Some(seen) if seen.id >= d.id => {}
            _ => {
                latest.insert(d.guid.clone(), d);
            }
        }
    }
    report.listed = latest.len();
    let hook = report.hook_id.unwrap_or_default();
    let mut rows = Vec::new();
    {
        let pooled = state.pool.get()?;
        let conn = pooled.conn();
        for d in latest.into_values() {
            let stored = events::has_delivery(conn, &integration.id, &d.guid)?
                || match &d.also_known_as {
                    Some(other) => events::has_delivery(conn, &integration.id, other)?,
                    None => false,
                };
            if stored {
                continue;
            }
            let ask =
                !log::was_requested(conn, &integration.id, &d.guid)? && rows.len() < MAX_REQUESTS;
            if ask {
                rows.push(d.clone());
            }
            let event = match (&d.event, &d.action) {
                (Some(e), Some(action)) => Some(format!("{e}.{action}")),
                (e, _) => e.clone(),
            };
            report.missing.push(Missing {
                guid: d.guid,
                event,
                status_code: d.status_code,
                delivered_at: d.delivered_at,
                requested_now: ask,
            });
        }
    }
    report.requested = rows.len();
    let requests: Vec<(LoggedDelivery, NewRow)> = rows
        .into_iter()
        .map(|d| {
            let row = NewRow {
                kind: OutboxKind::Redelivery,
                integration_id: integration.id.clone(),
                destination: a.destination.clone(),
                event_type: d.event.clone(),
                dedupe_key: Some(format!("redeliver:{}", d.guid)),
                coalesce_key: None,
                subject_id: Some(d.guid.clone()),
                source_event_id: None,
                request: a.redelivery(hook, d.id).to_json(),
            };
            (d, row)
        })
        .collect();
    record(state, &integration.id, &report, requests)?;
    state.outbox.wake();
    Ok(report)
}

/// Writes the check and its redelivery requests (outbox rows) in one transaction.
fn record(
    state: &Ctx,
    integration_id: &str,
    report: &Report,
    requests: Vec<(LoggedDelivery, NewRow)>,
) -> AppResult<()> {
    let _turn = state.write_gate.blocking_lock();
    state.pool.get()?.write(|tx| {
        for (d, row) in &requests {
            let id = model::new_row_id();
            outbox::insert(tx, row, &id, report.at)?;
            log::record_request(
                tx,
                integration_id,
                &d.guid,
                d.id,
                row.event_type.as_deref(),
                report.at,
                &id,
            )?;
        }
        log::record_check(
            tx,
            integration_id,
            &Check {
                at: report.at,
                listed: report.listed as i64,
                missing: report.missing.len() as i64,
                requested: report.requested as i64,
                error: report.error.clone(),
            },
        )?;
        Ok(())
    })
}

/// Checks every active GITHUB integration with a token: soon after the start (the server may
/// have been down), then every `every`. Ends when `stop` turns true.
pub async fn run(
    state: Arc<Ctx>,
    every: Duration,
    mut after_gap: tokio::sync::mpsc::UnboundedReceiver<String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = tokio::time::Instant::now() + FIRST_CHECK_AFTER.min(every);
    loop {
        let only = tokio::select! {
            _ = tokio::time::sleep_until(next) => None,
            Some(id) = after_gap.recv() => Some(id),
            _ = stop.changed() => return,
        };
        if *stop.borrow() {
            return;
        }
        if let Some(id) = only {
            tracing::info!(integration = %id, "a delivery came after a silence: checking its log");
            let state = state.clone();
            let checked = tokio::task::spawn_blocking(move || check(&state, &id)).await;
            match checked {
                // Without a token there is nothing to check.
                Ok(Err(AppError::Conflict(_))) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "reconciling after a gap failed"),
                _ => {}
            }
            continue;
        }
        next = tokio::time::Instant::now() + every;
        // The periodic check is a duty of the cluster: the node that holds the duties runs
        // it (a check after a gap runs on the node that saw the gap). A redelivery asked for
        // twice is queued once (`redelivery_requests`), so a hand-over mid-check is harmless.
        if state.node.lead().is_none() {
            continue;
        }
        let ids = match db::run(&state.pool, |conn| {
            let mut all = integrations::list_active_of_type(conn, IntegrationType::Github)?;
            all.extend(integrations::list_active_of_type(
                conn,
                IntegrationType::Gitlab,
            )?);
            Ok(all)
        })
        .await
        {
            Ok(list) => list
                .into_iter()
                .filter(|i| match &i.settings {
                    // An App reads its own delivery log, whatever its repositories.
                    IntegrationConfig::Github(c) if c.app().is_some() => true,
                    IntegrationConfig::Github(c) => c.token.is_some() && c.single_repo().is_some(),
                    // Older GitLab versions have no event log: only a hook named in the
                    // config is checked on its own.
                    IntegrationConfig::Gitlab(c) => c.token.is_some() && c.hook_id.is_some(),
                    _ => false,
                })
                .map(|i| i.id)
                .collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(error = %e, "reconciling: could not list integrations");
                continue;
            }
        };
        for id in ids {
            let state = state.clone();
            let checked = tokio::task::spawn_blocking(move || check(&state, &id)).await;
            match checked {
                Ok(Ok(r)) if r.requested > 0 => {
                    tracing::info!(
                        requested = r.requested,
                        "asked GitHub to redeliver missed deliveries"
                    )
                }
                Ok(Ok(r)) => {
                    if let Some(e) = r.error {
                        tracing::warn!(error = %e, "reconciling with GitHub failed");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "reconciling with GitHub failed"),
                Err(e) => tracing::warn!(error = %e, "reconciling panicked"),
            }
        }
    }
}
