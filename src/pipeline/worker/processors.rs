//! What processing a delivery means, per integration type. The pipeline does not know what a
//! processor does; it only records the outcome or error and schedules retries.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Conn;
use serde_json::{Map, Value};

use crate::base::error::AppError;
use crate::db::events::EventDetail;
use crate::db::installations;
use crate::db::integrations::Integration;
use crate::db::outbox::{self, NewRow};
use crate::db::runs::{self, Deployment, EvalRun};
use crate::domain::actions::{self, EvalRunPlan, InstallationPlan, Plan};
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::model::{self, IntegrationType, RunKind, RunStatus};
use crate::domain::secrets::SecretBox;
use crate::domain::trace::{Trace, quoted};
use crate::pipeline::notify::announce::{self, Announcement};
use crate::pipeline::report;
use crate::pipeline::runs as life;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// Worth trying again later (a 5xx or timeout from a remote service). `after` is the
    /// least wait the remote asked for (`Retry-After`).
    Retryable {
        error: String,
        after: Option<Duration>,
    },
    /// Will fail the same way every time (bad credentials, a malformed payload).
    Permanent(String),
}

impl From<AppError> for ProcessError {
    // Storage trouble is passing trouble: try again later.
    fn from(e: AppError) -> Self {
        ProcessError::Retryable {
            error: format!("storage: {e}"),
            after: None,
        }
    }
}

impl From<crate::base::error::DbError> for ProcessError {
    fn from(e: crate::base::error::DbError) -> Self {
        AppError::from(e).into()
    }
}

/// What a processor may use: the worker's database connection, the key that opens secrets,
/// and the base of links to this server's pages. No HTTP client: processing only decides.
pub struct Ctx<'a> {
    pub conn: Conn<'a>,
    pub secrets: &'a SecretBox,
    pub public_url: &'a str,
    /// The time processing decides by (the event's effects are stamped with it).
    pub now_ms: i64,
    /// The event's decision trace: processors note what they decide and why.
    pub trace: &'a Trace,
    /// Whether the delivery passed a signature check.
    pub verified: bool,
    /// Whether what processing decides may be said to the outside world: the delivery was
    /// verified, or its integration allows unverified deliveries to act (`allow_unverified`).
    pub may_call_out: bool,
    /// Alerts one source may have waiting for one Slack integration (`--max-queued-alerts`).
    pub alert_cap: usize,
}

/// What the trace says of each call an unverified delivery does not make.
pub const NOT_VERIFIED: &str = "not sent: the delivery was not verified";

impl<'a> Ctx<'a> {
    /// What processing `event` of `integration` may use: whether it may call out follows from
    /// how the delivery was verified and the integration's `allow_unverified`.
    #[allow(clippy::too_many_arguments)]
    pub fn for_event(
        conn: Conn<'a>,
        secrets: &'a SecretBox,
        public_url: &'a str,
        now_ms: i64,
        alert_cap: usize,
        trace: &'a Trace,
        event: &EventDetail,
        integration: &Integration,
    ) -> Ctx<'a> {
        let verified = event.summary.verified.is_some();
        Ctx {
            conn,
            secrets,
            public_url,
            now_ms,
            trace,
            verified,
            may_call_out: integration.settings.may_call_out(verified),
            alert_cap,
        }
    }
}

impl Ctx<'_> {
    /// Queues `a` for `listeners` (see [`announce::announce_to`]); an unverified delivery's
    /// messages are only noted. Returns how many were queued.
    fn announce(
        &self,
        listeners: Vec<Integration>,
        a: &Announcement,
    ) -> Result<usize, ProcessError> {
        if !self.may_call_out {
            for slack in &listeners {
                self.trace.note(format!(
                    "{NOT_VERIFIED} (Slack message to {})",
                    quoted(&slack.name)
                ));
            }
            return Ok(0);
        }
        Ok(announce::announce_to(
            self.conn,
            listeners,
            a,
            self.now_ms,
            self.alert_cap,
        )?)
    }

    /// Where the integration's API calls about `repo` queue; None without credentials.
    fn api_destination(
        &self,
        integration: &Integration,
        repo: &str,
    ) -> Result<Option<String>, ProcessError> {
        report::api_destination(self.conn, self.secrets, integration, Some(repo))
            .map_err(ProcessError::Permanent)
    }

    /// Queues what a moment of a run's life tells (see `pipeline::runs`): the announcement to
    /// the SLACK integrations that listen, then the remote's rows, each noted in the trace.
    fn tell(&self, told: &life::Told) -> Result<(), ProcessError> {
        if let Some(announcement) = &told.announcement {
            let listeners =
                announce::listeners_traced(self.conn, &announcement.event_type, self.trace)?;
            self.announce(listeners, announcement)?;
        }
        for row in &told.reports {
            self.queue(row, self.now_ms)?;
        }
        Ok(())
    }

    /// Queues an outbox row and notes it in the trace; an unverified delivery's row is only
    /// noted (see [`Ctx::may_call_out`]).
    fn queue(&self, row: &NewRow, now: i64) -> Result<(), ProcessError> {
        if !self.may_call_out {
            self.trace.note(format!(
                "{NOT_VERIFIED} ({} for {})",
                row.kind.as_str(),
                row.destination
            ));
            return Ok(());
        }
        let id = model::new_row_id();
        outbox::insert(self.conn, row, &id, now)?;
        self.trace.queued(
            format!("queued {} for {}", row.kind.as_str(), row.destination),
            &id,
        );
        Ok(())
    }
}

pub trait Processor: Send + Sync {
    /// Handles one event; returns a short outcome text for the event log. Must be idempotent:
    /// an event can be processed again after a crash or a retry. Runs inside the worker's
    /// transaction (a savepoint of its own): its writes commit together with the event's
    /// outcome, and are undone when it returns an error.
    fn process(
        &self,
        ctx: &Ctx<'_>,
        integration: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError>;
}

/// The processor for each integration type.
#[derive(Clone)]
pub struct Processors {
    pub github: Arc<dyn Processor>,
    pub gitlab: Arc<dyn Processor>,
    pub slack: Arc<dyn Processor>,
    pub webhook: Arc<dyn Processor>,
}

impl Processors {
    pub fn for_type(&self, kind: IntegrationType) -> &dyn Processor {
        match kind {
            IntegrationType::Github => self.github.as_ref(),
            IntegrationType::Gitlab => self.gitlab.as_ref(),
            IntegrationType::Slack => self.slack.as_ref(),
            IntegrationType::Webhook => self.webhook.as_ref(),
        }
    }
}

impl Default for Processors {
    fn default() -> Self {
        let source = Arc::new(SourceProcessor);
        Processors {
            github: source.clone(),
            gitlab: source,
            slack: Arc::new(RecordOnly),
            webhook: Arc::new(WebhookProcessor),
        }
    }
}

/// Records the delivery; takes no action.
pub struct RecordOnly;

impl Processor for RecordOnly {
    fn process(
        &self,
        _: &Ctx<'_>,
        _: &Integration,
        _: &EventDetail,
    ) -> Result<String, ProcessError> {
        Ok("recorded, no action".into())
    }
}

/// GitHub and GitLab: eval runs on PRs/MRs, deployments on merges and pushes, a pending commit
/// status when the integration has a token.
pub struct SourceProcessor;

impl Processor for SourceProcessor {
    fn process(
        &self,
        ctx: &Ctx<'_>,
        integration: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError> {
        let payload = event
            .fields_for_actions()
            .ok_or_else(|| ProcessError::Permanent("the payload is not JSON".into()))?;
        let plan = match &integration.settings {
            IntegrationConfig::Gitlab(config) => {
                if let Some(admitted) = actions::gitlab::admitted_by(config, payload) {
                    ctx.trace.note(admitted);
                }
                actions::gitlab::plan(config, payload)
            }
            IntegrationConfig::Github(config) => {
                if let Some(admitted) = actions::github::admitted_by(config, payload) {
                    ctx.trace.note(admitted);
                }
                actions::github::plan(config, &event.summary.event_type, payload)
            }
            _ => {
                return Err(ProcessError::Permanent(
                    "not a GITHUB or GITLAB integration".into(),
                ));
            }
        }
        .map_err(ProcessError::Permanent)?;
        let now = ctx.now_ms;
        let source = Some(event.summary.id.clone());
        let event_type = quoted(&event.summary.event_type);
        // A delivery to a GitHub App names its installation: which one is on which account
        // is kept, so tokens need not ask GitHub for it.
        if integration.settings.github_app().is_some()
            && let Some((id, account)) = actions::github::installation_of(payload)
        {
            installations::remember(ctx.conn, &integration.id, id, account, now)?;
        }
        match plan {
            Plan::Nothing(outcome) => {
                ctx.trace.note(format!("{event_type}: {outcome}"));
                Ok(outcome)
            }
            Plan::Installation(change) => {
                let outcome = apply_installation(ctx.conn, &integration.id, change, now)?;
                ctx.trace.note(format!("{event_type}: {outcome}"));
                Ok(outcome)
            }
            Plan::EvalRun(p) => eval_run(ctx, integration, p, source, &event_type),
            Plan::CancelEvalRuns {
                repo,
                head_sha,
                why,
            } => {
                let open = runs::open_at(ctx.conn, &repo, &head_sha)?;
                for run in &open {
                    let told = life::cancelled(
                        ctx.conn,
                        ctx.secrets,
                        ctx.public_url,
                        integration,
                        run,
                        &why,
                        now,
                    )?;
                    ctx.tell(&told)?;
                    ctx.trace.note(format!("eval run {} ended: {why}", run.id));
                }
                Ok(match open.len() {
                    0 => format!("{why}; no open eval run at {}", short(&head_sha)),
                    n => format!("{why}; {n} eval run(s) at {} ended", short(&head_sha)),
                })
            }
            Plan::Deployment(p) => {
                let db = ctx.conn;
                let push_source = source.clone();
                let (deployment, new) = runs::insert_deployment(
                    db,
                    &Deployment {
                        id: model::new_id(),
                        integration_id: integration.id.clone(),
                        repo: p.repo,
                        commit_sha: p.commit_sha,
                        branch: p.branch,
                        pr_number: p.pr_number,
                        url: p.url,
                        status: RunStatus::Pending,
                        source_event_id: source,
                        created_at: now,
                        updated_at: now,
                        remote_id: None,
                        verified: ctx.verified,
                        timeout_at: Some(timeout_at(integration, RunKind::Deployment, now)),
                    },
                )?;
                let mut outcome = format!(
                    "deployment {} of {}{}",
                    deployment.id,
                    short(&deployment.commit_sha),
                    if new { "" } else { " (already recorded)" }
                );
                ctx.trace.note(if new {
                    format!(
                        "{event_type}: merge into {} at {}: deployment {} created",
                        quoted(&deployment.branch),
                        short(&deployment.commit_sha),
                        deployment.id
                    )
                } else {
                    format!(
                        "deployment {} of {} was already recorded: nothing created or sent again",
                        deployment.id,
                        short(&deployment.commit_sha)
                    )
                });
                if new {
                    let destination = ctx.api_destination(integration, &deployment.repo)?;
                    let told = life::deployment_started(
                        ctx.public_url,
                        integration,
                        destination.as_deref(),
                        &deployment,
                    );
                    ctx.tell(&told)?;
                    if !told.reported {
                        ctx.trace.note(
                            "no token in the config: the deployment is not shown on the remote",
                        );
                    } else if ctx.may_call_out {
                        outcome.push_str("; deployment queued for the remote");
                    } else {
                        outcome.push_str("; nothing sent: the delivery was not verified");
                    }
                    // `eval.on_push`: the commit that landed is evaluated too (number 0), the
                    // baseline of the pull requests that follow.
                    if integration.settings.evaluates_pushes() {
                        let pushed = EvalRunPlan {
                            repo: deployment.repo.clone(),
                            number: 0,
                            title: Some(format!("Push to {}", deployment.branch)),
                            head_sha: deployment.commit_sha.clone(),
                            head_branch: Some(deployment.branch.clone()),
                            author: None,
                            url: deployment.url.clone(),
                            rerun: false,
                            merge_queue: false,
                            rerun_of: None,
                        };
                        let evaluated =
                            eval_run(ctx, integration, pushed, push_source, &event_type)?;
                        outcome.push_str(&format!("; {evaluated}"));
                    }
                }
                Ok(outcome)
            }
        }
    }
}

/// A new eval run of `p` (unless one is recorded for its commit): stored, the runs it
/// supersedes marked, its start told (the runner, the remote, Slack). The event's outcome.
fn eval_run(
    ctx: &Ctx<'_>,
    integration: &Integration,
    p: EvalRunPlan,
    source: Option<String>,
    event_type: &str,
) -> Result<String, ProcessError> {
    let now = ctx.now_ms;
    // A re-run on a check run no App of ours made: ours only if it names one of our runs.
    if let Some(of) = &p.rerun_of {
        let ours = model::parse_id(of)
            .and_then(|id| runs::get_eval_run(ctx.conn, &id).ok())
            .is_some_and(|run| run.integration_id == integration.id && run.repo == p.repo);
        if !ours {
            let outcome = format!(
                "ignored: the re-run is of a check run that is not one of this integration's eval runs (external_id {})",
                quoted(of)
            );
            ctx.trace.note(format!("{event_type}: {outcome}"));
            return Ok(outcome);
        }
    }
    let db = ctx.conn;
    let candidate = EvalRun {
        id: model::new_id(),
        integration_id: integration.id.clone(),
        repo: p.repo,
        number: p.number,
        title: p.title,
        head_sha: p.head_sha,
        head_branch: p.head_branch,
        author: p.author,
        url: p.url,
        status: RunStatus::Pending,
        source_event_id: source.clone(),
        created_at: now,
        updated_at: now,
        superseded_by: None,
        verified: ctx.verified,
        // A re-run is given the commit's next attempt when it is stored.
        attempt: 1,
        timeout_at: Some(timeout_at(integration, RunKind::EvalRun, now)),
        score: None,
    };
    // A re-run is an eval run like any other, but always a new one.
    let (run, new, attempt) = if p.rerun {
        let (run, attempt) = runs::insert_rerun(db, &candidate)?;
        (run, true, attempt)
    } else {
        let (run, new) = runs::insert_eval_run(db, &candidate)?;
        (run, new, 1)
    };
    let mut outcome = format!(
        "eval run {} for #{} at {}{}",
        run.id,
        run.number,
        short(&run.head_sha),
        match (new, attempt) {
            (false, _) => " (already recorded)".to_string(),
            (true, 1) => String::new(),
            (true, n) => format!(" (re-run {n})"),
        }
    );
    ctx.trace.note(if new {
        format!(
            "{event_type} for pull request #{} at {} into the watched branch: eval run {} created",
            run.number,
            short(&run.head_sha),
            run.id
        )
    } else {
        format!(
            "eval run {} for #{} at {} was already recorded: nothing created or sent again",
            run.id,
            run.number,
            short(&run.head_sha)
        )
    });
    if new {
        // A merge queue entry supersedes none of its pull request's own runs.
        let superseded = if p.merge_queue {
            Vec::new()
        } else {
            runs::supersede_older(db, &run, now)?
        };
        for old in &superseded {
            ctx.trace.note(format!(
                "eval run {} (head {}) is superseded by the new head commit",
                old.id,
                short(&old.head_sha)
            ));
        }
        let destination = ctx.api_destination(integration, &run.repo)?;
        let told = life::eval_run_started(
            db,
            ctx.public_url,
            integration,
            destination.as_deref(),
            &run,
            &superseded,
        )?;
        ctx.tell(&told)?;
        if told.reported {
            outcome.push_str(if !ctx.may_call_out {
                "; nothing sent: the delivery was not verified"
            } else if integration.settings.github_app().is_some() {
                "; check run queued"
            } else {
                "; commit status pending queued"
            });
        } else {
            ctx.trace
                .note("no token in the config: no commit status is posted");
        }
        if !superseded.is_empty() {
            outcome.push_str(&format!("; superseded {} older run(s)", superseded.len()));
        }
    }
    Ok(outcome)
}

/// When a run of `kind` made now fails as timed out (`eval.timeout`, `deploy.timeout`).
fn timeout_at(integration: &Integration, kind: RunKind, now: i64) -> i64 {
    let timeout = integration.settings.run_timeout(kind);
    now.saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
}

/// The first 12 characters (SHAs come from payloads: never slice them by bytes).
fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// Generic webhooks: announce the event to Slack unless the integration's `events` list says
/// it is not wanted.
pub struct WebhookProcessor;

impl Processor for WebhookProcessor {
    fn process(
        &self,
        ctx: &Ctx<'_>,
        integration: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError> {
        let event_type = &event.summary.event_type;
        if !integration.settings.wants(event_type) {
            ctx.trace.note(format!(
                "not announced: {}",
                announce::why(integration, event_type)
            ));
            return Ok("ignored: not subscribed".into());
        }
        ctx.trace.note(format!(
            "forwarded: {}",
            announce::why(integration, event_type)
        ));
        // Nobody listening: the payload need not even be read.
        let listeners = announce::listeners_traced(ctx.conn, event_type, ctx.trace)?;
        if listeners.is_empty() {
            return Ok("announced to 0 Slack integration(s)".into());
        }
        let payload = event.json().unwrap_or(&Value::Null);
        let mut facts = Map::new();
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| payload.get(*k).filter(|v| v.is_string() || v.is_number()))
                .cloned()
        };
        announce::put(
            &mut facts,
            "message",
            pick(&["message", "summary", "text", "description", "title"]),
        );
        announce::put(&mut facts, "environment", pick(&["environment", "env"]));
        announce::put(&mut facts, "agent", pick(&["agent", "agent_id", "agentId"]));
        announce::put(&mut facts, "repo", pick(&["repo", "repository"]));
        announce::put(&mut facts, "url", pick(&["url", "link", "html_url"]));
        let announcement = Announcement {
            event_type: event_type.clone(),
            dedupe_key: format!("event:{}", event.summary.id),
            subject_id: None,
            source_event_id: Some(event.summary.id.clone()),
            facts,
            from: Some(announce::Source {
                integration_id: integration.id.clone(),
                name: integration.name.clone(),
            }),
        };
        let queued = ctx.announce(listeners, &announcement)?;
        if !ctx.may_call_out {
            return Ok(format!(
                "announced to 0 Slack integration(s): {NOT_VERIFIED}"
            ));
        }
        Ok(format!("announced to {queued} Slack integration(s)"))
    }
}

/// Keeps what a GitHub App can see; says what changed.
fn apply_installation(
    conn: Conn<'_>,
    integration_id: &str,
    change: InstallationPlan,
    now: i64,
) -> Result<String, ProcessError> {
    let listed = |repos: &[String]| match repos.len() {
        0 => "no repositories".to_string(),
        1..=5 => repos.join(", "),
        n => format!("{}, … ({n} repositories)", repos[..5].join(", ")),
    };
    Ok(match change {
        InstallationPlan::Replace { id, account, repos } => {
            installations::replace(conn, integration_id, id, &account, &repos, now)?;
            format!("installation {id} on {account} shows {}", listed(&repos))
        }
        InstallationPlan::Added { id, account, repos } => {
            installations::add(conn, integration_id, id, &account, &repos, now)?;
            format!("installation {id} now also shows {}", listed(&repos))
        }
        InstallationPlan::Removed { id, repos } => {
            installations::remove(conn, integration_id, id, &repos, now)?;
            format!("installation {id} no longer shows {}", listed(&repos))
        }
        InstallationPlan::Deleted { id } => {
            installations::delete(conn, integration_id, id)?;
            format!("installation {id} was removed: the App was uninstalled there")
        }
        InstallationPlan::Suspended { id, suspended } => {
            installations::set_suspended(conn, integration_id, id, suspended.then_some(now), now)?;
            if suspended {
                format!("installation {id} is suspended")
            } else {
                format!("installation {id} is no longer suspended")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn untrusted_text_is_shortened_by_characters_not_bytes() {
        assert_eq!(short(&"é".repeat(20)), "é".repeat(12));
        assert_eq!(short("abc"), "abc");
        let mut facts = Map::new();
        announce::put(
            &mut facts,
            "message",
            Some(json!("ü".repeat(announce::MAX_FACT_CHARS + 10))),
        );
        let kept = facts["message"].as_str().expect("text");
        assert_eq!(kept.chars().count(), announce::MAX_FACT_CHARS);
    }
}
