//! `/api/integrations/{id}/events`: the deliveries an integration received.

use base64::Engine;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;

use super::errors::{AUTHED, ApiError, CONFLICT, NOT_FOUND, UNPROCESSABLE};
use super::paging;
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::events::{self, EventDetail, EventSummary, ListFilter};
use crate::db::outbox::{self, OutboxRow};
use crate::db::{self, integrations};
use crate::domain::audit::Action;
use crate::domain::checked::Cursor;
use crate::domain::checked::Timestamp;
use crate::domain::model::{self, EventStatus, OutboxStatus};
use crate::domain::trace::quoted;
use crate::domain::webhook::classify;
use crate::http::state::SharedState;

pub struct EventsApi;

/// One received delivery.
///
/// `status`: Where processing is: RECEIVED → PROCESSING → PROCESSED or FAILED.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EventOut {
    /// The event's id.
    pub id: String,
    /// The integration that received it.
    pub integration_id: String,
    /// E.g. `pull_request.opened`, `push`, `Merge Request Hook.open`, `drift.critical`.
    pub event_type: String,
    /// The sender's delivery id (`X-GitHub-Delivery`, `Idempotency-Key`, `webhook-id` …).
    pub delivery_id: Option<String>,
    // Where processing is: RECEIVED → PROCESSING → PROCESSED or FAILED.
    pub status: EventStatus,
    /// Processing attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// What processing did, e.g. `pong` or `recorded, no action`.
    pub outcome: Option<String>,
    /// RFC 3339, UTC.
    pub received_at: Timestamp,
    /// When processing finished (RFC 3339, UTC).
    pub processed_at: Option<Timestamp>,
    /// When a retry is due (RFC 3339, UTC).
    pub next_attempt_at: Option<Timestamp>,
    /// Whether it passed a signature check. An unverified delivery (its integration has no
    /// secret) is processed and recorded, but makes no outbound call unless the integration
    /// has `allow_unverified`.
    pub verified: bool,
}

/// A page of events, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EventPage {
    /// Events, newest first.
    pub items: Vec<EventOut>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A request header as stored (credentials and signatures are `***`).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeaderOut {
    /// Lower-case header name.
    pub name: String,
    /// Its value; credentials and signatures are stored as `***`.
    pub value: String,
}

/// How `payload` is given.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum PayloadEncoding {
    /// `payload` is the JSON document the sender sent.
    Json,
    /// `payload` is the body as a string.
    Text,
    /// `payload` is the body, base64-encoded (it was not UTF-8).
    Base64,
}

/// One event with its headers and payload.
///
/// `payloadEncoding`: How `payload` is given.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EventDetailOut {
    /// The event's summary fields.
    #[oai(flatten)]
    pub event: EventOut,
    /// The delivery's Content-Type, as sent.
    pub content_type: Option<String>,
    /// The request headers as stored (hop-by-hop headers dropped).
    pub headers: Vec<HeaderOut>,
    // How `payload` is given.
    pub payload_encoding: PayloadEncoding,
    /// The body: its JSON document, its text, or base64.
    pub payload: Value,
    /// What happened to it, in order: how it was verified and read, what processing decided
    /// and why (rules and subscriptions that matched or not, what was created or found
    /// already recorded), and what became of the outbox rows it queued.
    pub trace: Vec<TraceStepOut>,
}

/// One step of an event's decision trace.
///
/// `stage`: `RECEIVED` (the receiver's checks), `PROCESSING` (the last attempt's decisions) or `OUTBOX` (what became of a row it queued).
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct TraceStepOut {
    // `RECEIVED` (the receiver's checks), `PROCESSING` (the last attempt's decisions) or
    // `OUTBOX` (what became of a row it queued).
    pub stage: TraceStage,
    /// The decision, in words; values from the delivery are in backticks.
    pub text: String,
    /// The outbox row this step is about.
    pub outbox_row_id: Option<String>,
}

/// Where in an event's life a decision was made.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "UPPERCASE")]
pub enum TraceStage {
    Received,
    Processing,
    Outbox,
}

#[derive(ApiResponse)]
pub enum RetryResponse {
    /// Queued for another run.
    #[oai(status = 202)]
    Queued(Json<EventOut>),
}

pub fn to_out(e: EventSummary) -> EventOut {
    EventOut {
        id: e.id,
        integration_id: e.integration_id,
        event_type: e.event_type,
        delivery_id: e.delivery_id,
        status: e.status,
        attempts: e.attempts,
        error: e.error,
        outcome: e.outcome,
        received_at: Timestamp(e.received_at),
        processed_at: e.processed_at.map(Timestamp),
        next_attempt_at: e.next_attempt_at.map(Timestamp),
        verified: e.verified.is_some(),
    }
}

/// The decision trace: the receiver's checks, the processing steps, and the fate of every
/// outbox row they queued (read now, so it is current).
fn trace_of(conn: Conn<'_>, e: &EventDetail) -> AppResult<Vec<TraceStepOut>> {
    let (verified, steps) = events::trace(conn, e.summary.seq)?;
    let verified = match verified.as_deref().and_then(|v| v.split_once('|')) {
        None => "not verified: the integration had no secret".to_string(),
        Some((scheme, "previous")) => {
            format!("verified: {scheme} with the previous secret (still accepted after a rotation)")
        }
        Some((scheme, _)) => format!("verified: {scheme} with the current secret"),
    };
    let read = format!("event type {}", quoted(&e.summary.event_type));
    let delivery = match &e.summary.delivery_id {
        Some(id) => format!("delivery id {}: not seen before, stored", quoted(id)),
        None => "no delivery id: stored (a redelivery cannot be recognised)".to_string(),
    };
    let mut out: Vec<TraceStepOut> = [verified, read, delivery]
        .into_iter()
        .map(|text| TraceStepOut {
            stage: TraceStage::Received,
            text,
            outbox_row_id: None,
        })
        .collect();
    let mut rows: Vec<String> = Vec::new();
    for step in steps {
        if let Some(row) = &step.row {
            rows.push(row.clone());
        }
        out.push(TraceStepOut {
            stage: TraceStage::Processing,
            text: step.text,
            outbox_row_id: step.row,
        });
    }
    let mut fates = Vec::new();
    for id in &rows {
        if let Ok(row) = outbox::get(conn, id) {
            fates.push(row);
        }
    }
    for row in outbox::for_source_event(conn, &e.summary.id)? {
        if !rows.contains(&row.id) {
            fates.push(row);
        }
    }
    for row in fates {
        out.push(TraceStepOut {
            stage: TraceStage::Outbox,
            text: fate(&row),
            outbox_row_id: Some(row.id),
        });
    }
    Ok(out)
}

/// What became of an outbox row, in words.
fn fate(row: &OutboxRow) -> String {
    let what = format!("{} for {}", row.kind.as_str(), row.destination);
    let error = row.last_error.as_deref().unwrap_or("");
    match row.status {
        OutboxStatus::Sent => match row.response_status {
            Some(status) => format!("{what}: sent, the remote answered {status}"),
            None => format!("{what}: sent"),
        },
        OutboxStatus::Failed => {
            format!("{what}: failed after {} attempt(s): {error}", row.attempts)
        }
        OutboxStatus::Sending => format!("{what}: being sent now"),
        OutboxStatus::Pending if row.attempts == 0 => format!("{what}: waiting to be sent"),
        OutboxStatus::Pending => format!(
            "{what}: waiting to be sent again after {} attempt(s): {error}",
            row.attempts
        ),
    }
}

fn detail_out(e: EventDetail, trace: Vec<TraceStepOut>) -> EventDetailOut {
    let (payload_encoding, payload) =
        match classify::decode_json(e.content_type.as_deref(), &e.payload) {
            Some(json) => (PayloadEncoding::Json, json),
            None => match String::from_utf8(e.payload) {
                Ok(text) => (PayloadEncoding::Text, Value::String(text)),
                Err(raw) => (
                    PayloadEncoding::Base64,
                    Value::String(
                        base64::engine::general_purpose::STANDARD.encode(raw.into_bytes()),
                    ),
                ),
            },
        };
    EventDetailOut {
        event: to_out(e.summary),
        content_type: e.content_type,
        headers: e
            .headers
            .into_iter()
            .map(|(name, value)| HeaderOut { name, value })
            .collect(),
        payload_encoding,
        payload,
        trace,
    }
}

fn ids(integration: &str, event: Option<&str>) -> AppResult<(String, Option<String>)> {
    let integration = model::parse_id(integration).ok_or(AppError::NotFound("integration"))?;
    let event = match event {
        Some(e) => Some(model::parse_id(e).ok_or(AppError::NotFound("event"))?),
        None => None,
    };
    Ok((integration, event))
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Events")]
impl EventsApi {
    /// List an integration's events.
    ///
    /// An integration's events, newest first: 50 by default, at most 200 per page.
    #[oai(path = "/:id/events", method = "get", operation_id = "listEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn list_events(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` from the previous page.
        cursor: Query<Option<Cursor>>,
        /// Only events with this status.
        status: Query<Option<EventStatus>>,
        /// Only events of this type, e.g. `push`.
        #[oai(name = "eventType", example = "crate::http::api::examples::event_type")]
        event_type: Query<Option<String>>,
        /// Only events whose processing last ended at or after this time (RFC 3339): with
        /// `processedBefore`, one bar of the stats chart.
        #[oai(
            name = "processedFrom",
            example = "crate::http::api::examples::stats_from"
        )]
        processed_from: Query<Option<Timestamp>>,
        /// Only events whose processing last ended before this time (RFC 3339).
        #[oai(
            name = "processedBefore",
            example = "crate::http::api::examples::stats_to"
        )]
        processed_before: Query<Option<Timestamp>>,
    ) -> Result<Json<EventPage>, ApiError<{ AUTHED | NOT_FOUND | UNPROCESSABLE }>> {
        let (id, _) = ids(&id.0, None)?;
        let fetched = paging::fetch_count(limit.0);
        let filter = ListFilter {
            status: status.0,
            event_type: event_type.0,
            before_seq: paging::before_seq(cursor.0),
            processed_from: processed_from.0.map(|t| t.0),
            processed_before: processed_before.0.map(|t| t.0),
            limit: fetched,
        };
        let page = db::run(&state.pool, move |conn| {
            integrations::get(conn, &id)?;
            events::list(conn, &id, &filter)
        })
        .await?;
        let (items, next_cursor) = paging::split(page, fetched, |e| e.seq.to_string());
        Ok(Json(EventPage {
            items: items.into_iter().map(to_out).collect(),
            next_cursor,
        }))
    }

    /// Get an event with its payload and trace.
    ///
    /// One event with its headers and payload.
    #[oai(
        path = "/:id/events/:event_id",
        method = "get",
        operation_id = "getEvent"
    )]
    async fn get_event(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        /// The event's id.
        #[oai(example = "crate::http::api::examples::event_id")]
        event_id: Path<String>,
    ) -> Result<Json<EventDetailOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let (id, event_id) = ids(&id.0, Some(&event_id.0))?;
        let event_id = event_id.unwrap_or_default();
        let (detail, trace) = db::run(&state.pool, move |conn| {
            let detail = events::get(conn, &id, &event_id)?;
            let trace = trace_of(conn, &detail)?;
            Ok((detail, trace))
        })
        .await?;
        Ok(Json(detail_out(detail, trace)))
    }

    /// Retry an event.
    ///
    /// Queue a PROCESSED or FAILED event to be processed again (409 while it is PROCESSING).
    #[oai(
        path = "/:id/events/:event_id/retry",
        method = "post",
        operation_id = "retryEvent"
    )]
    async fn retry_event(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        /// The event's id.
        #[oai(example = "crate::http::api::examples::event_id")]
        event_id: Path<String>,
    ) -> Result<RetryResponse, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let (id, event_id) = ids(&id.0, Some(&event_id.0))?;
        let event_id = event_id.unwrap_or_default();
        let now = state.clock.now_ms();
        let event = state
            .write(move |tx| {
                let before = events::get(tx, &id, &event_id)?;
                events::requeue(tx, &id, &event_id)?;
                let after = events::get(tx, &id, &event_id)?;
                let entry = auth
                    .0
                    .did(Action::EventRetried, &event_id)
                    .on_integration(&id)
                    .changing(
                        &serde_json::json!({"status": before.summary.status.as_str()}),
                        &serde_json::json!({"status": after.summary.status.as_str()}),
                    );
                db::audit::record(tx, &entry, now)?;
                Ok(after)
            })
            .await?;
        crate::base::crashpoint::reached(crate::base::crashpoint::REPLAY_QUEUED);
        state.wake_worker();
        Ok(RetryResponse::Queued(Json(to_out(event.summary))))
    }
}
