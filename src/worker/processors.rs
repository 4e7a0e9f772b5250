//! What processing a delivery means, per integration type. The pipeline does not know what a
//! processor does; it only records the outcome or error and schedules retries.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::actions::{self, Plan};
use crate::clock;
use crate::db::events::EventDetail;
use crate::db::integrations::Integration;
use crate::db::runs::{self, Deployment, EvalRun};
use crate::error::AppError;
use crate::integration_config::IntegrationConfig;
use crate::model::{self, IntegrationType, RunStatus};
use crate::notify::announce::{self, Announcement};
use crate::scm;
use crate::secrets::{self, SecretBox};
use crate::webhook::classify;

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

impl From<rusqlite::Error> for ProcessError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::from(e).into()
    }
}

/// What a processor may use: the worker's database connection, the shared HTTP client, and
/// the key that opens secrets.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub http: &'a ureq::Agent,
    pub secrets: &'a SecretBox,
}

impl Ctx<'_> {
    /// A config value with any `${secret:NAME}` reference resolved, at the moment of use.
    pub fn resolve(&self, key: &str, raw: Option<&str>) -> Result<Option<String>, ProcessError> {
        secrets::resolve_config_value(self.conn, self.secrets, key, raw)
            .map_err(ProcessError::Permanent)
    }
}

pub trait Processor: Send + Sync {
    /// Handles one event; returns a short outcome text for the event log. Must be idempotent:
    /// an event can be processed again after a crash or a retry.
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

fn payload_json(event: &EventDetail) -> Option<Value> {
    classify::decode_json(event.content_type.as_deref(), &event.payload)
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
        let payload = payload_json(event)
            .ok_or_else(|| ProcessError::Permanent("the payload is not JSON".into()))?;
        let plan = match &integration.settings {
            IntegrationConfig::Gitlab(config) => actions::gitlab::plan(config, &payload),
            IntegrationConfig::Github(config) => {
                actions::github::plan(config, &event.summary.event_type, &payload)
            }
            _ => {
                return Err(ProcessError::Permanent(
                    "not a GITHUB or GITLAB integration".into(),
                ));
            }
        }
        .map_err(ProcessError::Permanent)?;
        let now = clock::now_ms();
        let source = Some(event.summary.id.clone());
        match plan {
            Plan::Nothing(outcome) => Ok(outcome),
            Plan::EvalRun(p) => {
                let tx = ctx.conn.unchecked_transaction()?;
                let (run, new) = runs::insert_eval_run(
                    &tx,
                    &EvalRun {
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
                    },
                )?;
                if new {
                    announce::announce(
                        &tx,
                        &eval_run_announcement("eval_run.triggered", &run),
                        now,
                    )?;
                }
                tx.commit()?;
                let mut outcome = format!(
                    "eval run {} for #{} at {}{}",
                    run.id,
                    run.number,
                    short(&run.head_sha),
                    if new { "" } else { " (already recorded)" }
                );
                // Reported back on every attempt: the status post is what may need a retry.
                if let Some(token) = ctx.resolve("token", integration.settings.token())? {
                    scm::post_pending_status(
                        ctx.http,
                        integration.kind,
                        &integration.settings,
                        &token,
                        &run.head_sha,
                        run.url.as_deref(),
                    )?;
                    outcome.push_str("; commit status pending");
                }
                Ok(outcome)
            }
            Plan::Deployment(p) => {
                let tx = ctx.conn.unchecked_transaction()?;
                let (deployment, new) = runs::insert_deployment(
                    &tx,
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
                    },
                )?;
                if new {
                    announce::announce(
                        &tx,
                        &deployment_announcement("promotion.started", &deployment),
                        now,
                    )?;
                }
                tx.commit()?;
                Ok(format!(
                    "deployment {} of {}{}",
                    deployment.id,
                    short(&deployment.commit_sha),
                    if new { "" } else { " (already recorded)" }
                ))
            }
        }
    }
}

/// The first 12 characters (SHAs come from payloads: never slice them by bytes).
fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// Longest text kept in a notification's facts; messages are cut far shorter when sent.
const MAX_FACT_CHARS: usize = 4_000;

fn put(facts: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    let value = match value {
        Some(Value::String(text)) if text.chars().count() > MAX_FACT_CHARS => {
            Some(Value::String(text.chars().take(MAX_FACT_CHARS).collect()))
        }
        other => other,
    };
    if let Some(v) = value {
        facts.insert(key.to_string(), v);
    }
}

pub fn eval_run_announcement(event_type: &str, run: &EvalRun) -> Announcement {
    let mut facts = Map::new();
    facts.insert("repo".into(), json!(run.repo));
    facts.insert("pr".into(), json!(run.number));
    facts.insert("sha".into(), json!(run.head_sha));
    put(
        &mut facts,
        "branch",
        run.head_branch.clone().map(Value::from),
    );
    put(&mut facts, "title", run.title.clone().map(Value::from));
    put(&mut facts, "author", run.author.clone().map(Value::from));
    put(&mut facts, "url", run.url.clone().map(Value::from));
    Announcement {
        event_type: event_type.to_string(),
        dedupe_key: format!("{event_type}:{}", run.id),
        source_event_id: run.source_event_id.clone(),
        facts,
    }
}

pub fn deployment_announcement(event_type: &str, d: &Deployment) -> Announcement {
    let mut facts = Map::new();
    facts.insert("repo".into(), json!(d.repo));
    facts.insert("sha".into(), json!(d.commit_sha));
    facts.insert("branch".into(), json!(d.branch));
    put(&mut facts, "pr", d.pr_number.map(Value::from));
    put(&mut facts, "url", d.url.clone().map(Value::from));
    Announcement {
        event_type: event_type.to_string(),
        dedupe_key: format!("{event_type}:{}", d.id),
        source_event_id: d.source_event_id.clone(),
        facts,
    }
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
            return Ok("ignored: not subscribed".into());
        }
        let payload = payload_json(event).unwrap_or(Value::Null);
        let mut facts = Map::new();
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| payload.get(*k).filter(|v| v.is_string() || v.is_number()))
                .cloned()
        };
        put(
            &mut facts,
            "message",
            pick(&["message", "summary", "text", "description", "title"]),
        );
        put(&mut facts, "environment", pick(&["environment", "env"]));
        put(&mut facts, "agent", pick(&["agent", "agent_id", "agentId"]));
        put(&mut facts, "repo", pick(&["repo", "repository"]));
        put(&mut facts, "url", pick(&["url", "link", "html_url"]));
        let announcement = Announcement {
            event_type: event_type.clone(),
            dedupe_key: format!("event:{}", event.summary.id),
            source_event_id: Some(event.summary.id.clone()),
            facts,
        };
        let queued = announce::announce(ctx.conn, &announcement, clock::now_ms())?;
        Ok(format!("announced to {queued} Slack integration(s)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_shortened_by_characters_not_bytes() {
        assert_eq!(short(&"é".repeat(20)), "é".repeat(12));
        assert_eq!(short("abc"), "abc");
        let mut facts = Map::new();
        put(
            &mut facts,
            "message",
            Some(json!("ü".repeat(MAX_FACT_CHARS + 10))),
        );
        let kept = facts["message"].as_str().expect("text");
        assert_eq!(kept.chars().count(), MAX_FACT_CHARS);
    }
}
