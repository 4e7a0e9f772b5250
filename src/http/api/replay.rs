//! Replaying safely: `POST /api/integrations/{id}/replay` (by filter, with a dry run first),
//! `GET …/replays/{replayId}` (its progress), and `POST …/dry-run` (a proposed config
//! evaluated against recent deliveries, with nothing stored and nothing sent).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::Value;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::events::{EventOut, to_out};
use super::integrations::apply_config;
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::replays::{self, Filter, Replay};
use crate::db::{self, events, integrations};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::integration_config::AnyConfig;
use crate::domain::json_fields::present;
use crate::domain::model::{self, EventStatus, IntegrationType};
use crate::domain::trace::Trace;
use crate::http::state::SharedState;
use crate::pipeline::worker::{Ctx, ProcessError, Processors};

pub struct ReplayApi;

/// Events shown in a dry run's sample.
const SAMPLE: u32 = 10;

/// Which events to replay; every field narrows the choice, none means all of them.
///
/// `status`: Only events with this status (a `PROCESSED` or `FAILED` one is queued again; one still waiting or processing is skipped).
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct ReplayIn {
    // Only events with this status (a `PROCESSED` or `FAILED` one is queued again; one still
    // waiting or processing is skipped).
    #[serde(default, deserialize_with = "present")]
    pub status: Option<EventStatus>,
    /// Only this event type, e.g. `pull_request.opened`.
    #[serde(default, deserialize_with = "present")]
    pub event_type: Option<String>,
    /// Only events received at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "present")]
    pub from: Option<Timestamp>,
    /// Only events received before this time (RFC 3339).
    #[serde(default, deserialize_with = "present")]
    pub to: Option<Timestamp>,
    /// `true`: count and show a sample, change nothing.
    #[serde(default, deserialize_with = "present")]
    pub dry_run: Option<bool>,
}

impl Example for ReplayIn {
    fn example() -> Self {
        ReplayIn {
            status: Some(EventStatus::Failed),
            event_type: None,
            from: Timestamp::parse("2026-11-28T00:00:00Z"),
            to: None,
            dry_run: Some(true),
        }
    }
}

/// Whether a replay is still queueing events.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "UPPERCASE")]
pub enum ReplayState {
    Running,
    Done,
}

/// A replay by filter and its progress.
///
/// `state`: `RUNNING` while events are being queued, then `DONE`.
/// `status`: The filter's status, as given.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ReplayOut {
    /// Its id: `GET /api/integrations/{id}/replays/{replayId}` shows its progress.
    pub id: String,
    /// The integration whose events it replays.
    pub integration_id: String,
    // `RUNNING` while events are being queued, then `DONE`.
    pub state: ReplayState,
    // The filter's status, as given.
    pub status: Option<EventStatus>,
    /// The filter's event type, as given.
    pub event_type: Option<String>,
    /// The filter's start (RFC 3339, UTC).
    pub from: Option<Timestamp>,
    /// The filter's end (RFC 3339, UTC).
    pub to: Option<Timestamp>,
    /// Events that matched when it began (later deliveries are not part of it).
    pub total: i64,
    /// Queued again so far.
    pub requeued: i64,
    /// Matched but already waiting or being processed, so left as they were.
    pub skipped: i64,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    /// When the last matching event was queued (RFC 3339, UTC).
    pub finished_at: Option<Timestamp>,
}

/// What a dry run found.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ReplayPreview {
    /// Always `true`: nothing was queued.
    pub dry_run: bool,
    /// How many events match.
    pub matching: i64,
    /// The newest matching events, at most 10.
    pub sample: Vec<EventOut>,
}

#[derive(ApiResponse)]
pub enum ReplayResponse {
    /// A dry run: how many events match, and a sample. Nothing was changed.
    #[oai(status = 200)]
    Preview(Json<ReplayPreview>),
    /// The replay began; its matching events are queued again a batch at a time.
    #[oai(status = 202)]
    Started(Json<ReplayOut>),
}

/// A proposed config, evaluated against recent deliveries.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct DryRunIn {
    /// The proposed config, as for `PATCH` (a `***` value keeps the stored one). Absent: the
    /// current config.
    #[serde(default, deserialize_with = "present")]
    pub config: Option<AnyConfig>,
    /// How many of the newest stored deliveries to evaluate: 1 to 100, default 20. For a SLACK
    /// integration, the deliveries of the other integrations (what it would be told).
    #[serde(default, deserialize_with = "present")]
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub limit: Option<u32>,
}

impl Example for DryRunIn {
    /// The current config, against the ten newest deliveries.
    fn example() -> Self {
        DryRunIn {
            config: None,
            limit: Some(10),
        }
    }
}

/// What processing would do with one stored delivery under the proposed config.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DryRunResult {
    /// The stored event evaluated.
    pub event_id: String,
    /// The integration that received it.
    pub integration_id: String,
    /// E.g. `violation.high`.
    pub event_type: String,
    /// RFC 3339, UTC.
    pub received_at: Timestamp,
    /// The outcome it would have; absent when it would fail.
    pub outcome: Option<String>,
    /// Why it would fail.
    pub error: Option<String>,
    /// The decisions it would make, in order (as in an event's trace).
    pub trace: Vec<String>,
}

/// A dry run's findings.
#[derive(Object)]
pub struct DryRunOut {
    /// Newest delivery first.
    pub results: Vec<DryRunResult>,
}

fn replay_out(r: Replay) -> ReplayOut {
    ReplayOut {
        id: r.id,
        integration_id: r.integration_id,
        state: if r.finished_at.is_some() {
            ReplayState::Done
        } else {
            ReplayState::Running
        },
        status: r.filter.status,
        event_type: r.filter.event_type,
        from: r.filter.from.map(Timestamp),
        to: r.filter.to.map(Timestamp),
        total: r.total,
        requeued: r.requeued,
        skipped: r.skipped,
        created_at: Timestamp(r.created_at),
        finished_at: r.finished_at.map(Timestamp),
    }
}

/// Runs the standard processor for each of the newest deliveries inside a transaction that is
/// rolled back: what it would create, queue or announce is seen by the trace and then undone.
fn dry_run(
    conn: Conn<'_>,
    state: &SharedState,
    id: &str,
    proposed: Option<Value>,
    limit: u32,
) -> AppResult<Vec<DryRunResult>> {
    let mut edited = integrations::get(conn, id)?;
    if let Some(config) = proposed {
        apply_config(
            conn,
            &state.secrets,
            &state.allowed_hosts,
            &mut edited,
            config,
        )?;
        // Seen by everything read inside the transaction (Slack subscriptions included).
        integrations::update(conn, &edited)?;
    }
    let owner = (edited.kind != IntegrationType::Slack).then_some(id);
    let seqs = events::newest_seqs(conn, owner, limit)?;
    let processors = Processors::default();
    let now = state.clock.now_ms();
    let mut results = Vec::new();
    for seq in seqs {
        let Some(event) = events::get_by_seq(conn, seq)? else {
            continue;
        };
        let integration = if event.summary.integration_id == edited.id {
            edited.clone()
        } else {
            integrations::get(conn, &event.summary.integration_id)?
        };
        let trace = Trace::default();
        let ctx = Ctx::for_event(
            conn,
            &state.secrets,
            &state.public_url,
            now,
            state.max_queued_alerts,
            &trace,
            &event,
            &integration,
        );
        let result = processors
            .for_type(integration.kind)
            .process(&ctx, &integration, &event);
        let (outcome, error) = match result {
            Ok(outcome) => (Some(outcome), None),
            Err(ProcessError::Permanent(e)) => (None, Some(e)),
            Err(ProcessError::Retryable { error, .. }) => (None, Some(error)),
        };
        results.push(DryRunResult {
            event_id: event.summary.id,
            integration_id: event.summary.integration_id,
            event_type: event.summary.event_type,
            received_at: Timestamp(event.summary.received_at),
            outcome,
            error,
            trace: trace.take().into_iter().map(|s| s.text).collect(),
        });
    }
    Ok(results)
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Events")]
impl ReplayApi {
    /// Replay events by filter.
    ///
    /// Replay the integration's events that match a filter (`status`, `eventType`, `from`,
    /// `to`; all optional). With `dryRun: true`, answers how many match and a sample, and
    /// changes nothing. Otherwise the matching events are queued again a batch at a time (at
    /// most about 500 a second) and the answer is the replay, whose progress
    /// `GET …/replays/{replayId}` shows. Processing is idempotent: a replayed pull request
    /// finds its eval run already recorded.
    #[oai(path = "/:id/replay", method = "post", operation_id = "replayEvents")]
    async fn replay(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<ReplayIn>,
    ) -> Result<ReplayResponse, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let ReplayIn {
            status,
            event_type,
            from,
            to,
            dry_run,
        } = body.0;
        let filter = Filter {
            status,
            event_type,
            from: from.map(|t| t.0),
            to: to.map(|t| t.0),
        };
        if dry_run.unwrap_or(false) {
            let (matching, sample) = db::run(&state.pool, move |conn| {
                integrations::get(conn, &id)?;
                let newest = replays::newest_seq(conn, &id)?;
                let matching = replays::count_matching(conn, &id, &filter, newest)?;
                Ok((matching, replays::sample(conn, &id, &filter, SAMPLE)?))
            })
            .await?;
            return Ok(ReplayResponse::Preview(Json(ReplayPreview {
                dry_run: true,
                matching,
                sample: sample.into_iter().map(to_out).collect(),
            })));
        }
        let now = state.clock.now_ms();
        let replay = db::write(&state.pool, &state.write_gate, move |tx| {
            integrations::get(tx, &id)?;
            let up_to_seq = replays::newest_seq(tx, &id)?;
            let replay = Replay {
                id: model::new_row_id(),
                integration_id: id.clone(),
                total: replays::count_matching(tx, &id, &filter, up_to_seq)?,
                filter,
                up_to_seq,
                cursor_seq: 0,
                requeued: 0,
                skipped: 0,
                created_at: now,
                finished_at: None,
            };
            replays::insert(tx, &replay)?;
            let mut entry = auth
                .0
                .did(Action::ReplayStarted, &replay.id)
                .on_integration(&id);
            entry.changes = serde_json::json!({"events": {"before": null, "after": replay.total}});
            db::audit::record(tx, &entry, now)?;
            Ok(replay)
        })
        .await?;
        state.replays.wake();
        Ok(ReplayResponse::Started(Json(replay_out(replay))))
    }

    /// Get a replay's progress.
    ///
    /// A replay's progress.
    #[oai(
        path = "/:id/replays/:replay_id",
        method = "get",
        operation_id = "getReplay"
    )]
    async fn get_replay(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        /// The replay's id.
        #[oai(example = "crate::http::api::examples::replay_id")]
        replay_id: Path<String>,
    ) -> Result<Json<ReplayOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let replay_id = model::parse_id(&replay_id.0).ok_or(AppError::NotFound("replay"))?;
        let replay = db::run(&state.pool, move |conn| replays::get(conn, &id, &replay_id)).await?;
        Ok(Json(replay_out(replay)))
    }

    /// Dry-run a config against stored deliveries.
    ///
    /// Evaluate a proposed config against the newest stored deliveries (default 20): for each,
    /// the outcome and decision trace that processing would produce. Nothing is stored, sent
    /// or changed: it runs inside a transaction that is rolled back. Use it before a `PATCH`
    /// ("would this route `violation.high` to Slack?").
    #[oai(path = "/:id/dry-run", method = "post", operation_id = "dryRunEvent")]
    async fn dry_run(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<DryRunIn>,
    ) -> Result<Json<DryRunOut>, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY | CONFLICT }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let DryRunIn { config, limit } = body.0;
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(AppError::invalid("limit", "must be 1 to 100").into());
        }
        let proposed = config.map(|c| c.0);
        let state = state.0.clone();
        let (pool, gate) = (state.pool.clone(), state.write_gate.clone());
        // Whatever the evaluation wrote is undone, whether it succeeded, failed or panicked.
        let results = db::rolled_back(&pool, &gate, move |conn| {
            dry_run(conn, &state, &id, proposed, limit)
        })
        .await?;
        Ok(Json(DryRunOut { results }))
    }
}
