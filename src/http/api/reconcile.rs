//! `POST /api/integrations/{id}/reconcile` (check GitHub's delivery log now) and
//! `GET /api/integrations/{id}/reconcile` (what the checks found and what was recovered).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError, CONFLICT, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::reconcile as log;
use crate::db::{self, integrations};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::model;
use crate::http::state::SharedState;
use crate::pipeline::reconcile;

pub struct ReconcileApi;

/// A delivery in the remote's log that never arrived here.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct MissingDeliveryOut {
    /// The delivery id (`X-GitHub-Delivery`; GitLab: `Idempotency-Key`).
    pub guid: String,
    /// E.g. `pull_request.opened`, `Merge Request Hook`.
    pub event: Option<String>,
    /// What GitHub got when it delivered (0 when it could not connect).
    pub status_code: Option<i64>,
    /// When GitHub tried (as GitHub gave it).
    pub delivered_at: Option<Timestamp>,
    /// Asked for again by this check; `false`: asked for by an earlier one (or past this
    /// check's limit of 25, for the next one).
    pub requested_now: bool,
}

/// What a check of the hook's delivery log found.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ReconcileOut {
    /// RFC 3339, UTC.
    pub checked_at: Timestamp,
    /// The repository webhook checked (none when a GitHub App's own delivery log was read).
    pub hook_id: Option<u64>,
    /// Distinct deliveries in the remote's recent log (its last 100 attempts).
    pub listed: i64,
    /// Deliveries GitHub logged that are not stored here.
    pub missing: Vec<MissingDeliveryOut>,
    /// Redeliveries asked for by this check (queued in the outbox for the API).
    pub requested: i64,
    /// Why the check could not finish (GitHub's answer, a missing hook).
    pub error: Option<String>,
}

/// One past check.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ReconcileCheckOut {
    /// RFC 3339, UTC.
    pub at: Timestamp,
    /// Distinct deliveries listed.
    pub listed: i64,
    /// Of them, not stored here.
    pub missing: i64,
    /// Redeliveries asked for.
    pub requested: i64,
    /// Why it could not finish.
    pub error: Option<String>,
}

/// A delivery asked for again.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct RedeliveryOut {
    /// The delivery id.
    pub guid: String,
    /// E.g. `pull_request`.
    pub event_type: Option<String>,
    /// RFC 3339, UTC.
    pub requested_at: Timestamp,
    /// Whether it has arrived since.
    pub arrived: bool,
}

/// The reconcile log of an integration.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ReconcileLog {
    /// Missed deliveries asked for again that have arrived since.
    pub recovered: i64,
    /// When the delivery log was last checked (RFC 3339, UTC).
    pub last_check_at: Option<Timestamp>,
    /// The last checks, newest first (at most 20).
    pub checks: Vec<ReconcileCheckOut>,
    /// Deliveries asked for again, newest first (at most 100).
    pub requests: Vec<RedeliveryOut>,
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl ReconcileApi {
    /// Reconcile with the remote's delivery log.
    ///
    /// Compare the hook's delivery log (GitHub; GitLab 17.4 or later: the project hook's
    /// events of the last 7 days) with what arrived here, now, and ask for each delivery that
    /// never arrived again (at most 25 per check, through the outbox, never the same one
    /// twice). Needs a GITHUB or GITLAB integration with a `token`; the hook is
    /// `config.hook_id` or the hook whose URL is this integration's webhook URL. A GITHUB
    /// integration that runs as a GitHub App reads the App's own log instead
    /// (`GET /app/hook/deliveries`, with the App's JWT), for every repository. Also runs on
    /// its own at start, every 10 minutes (`--reconcile-every`; GitLab only with a `hook_id`)
    /// and when a delivery arrives after more than 10 minutes of silence.
    #[oai(
        path = "/:id/reconcile",
        method = "post",
        operation_id = "reconcileIntegration"
    )]
    async fn reconcile(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<ReconcileOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let state = state.0.clone();
        let report = tokio::task::spawn_blocking({
            let (state, id) = (state.clone(), id.clone());
            move || reconcile::check(&state, &id)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the check failed: {e}")))??;
        let mut entry = auth
            .0
            .did(Action::ReconcileRequested, &id)
            .on_integration(&id);
        entry.changes = serde_json::json!({
            "redeliveriesRequested": {"before": null, "after": report.requested},
        });
        let at = report.at;
        db::write(&state.pool, &state.write_gate, move |tx| {
            db::audit::record(tx, &entry, at)
        })
        .await?;
        Ok(Json(ReconcileOut {
            checked_at: Timestamp(report.at),
            hook_id: report.hook_id,
            listed: report.listed as i64,
            missing: report
                .missing
                .into_iter()
                .map(|m| MissingDeliveryOut {
                    guid: m.guid,
                    event: m.event,
                    status_code: m.status_code,
                    // GitHub's own RFC 3339 time; one that does not read as such is left out.
                    delivered_at: m.delivered_at.as_deref().and_then(Timestamp::parse),
                    requested_now: m.requested_now,
                })
                .collect(),
            requested: report.requested as i64,
            error: report.error,
        }))
    }

    /// Get the last reconcile report.
    ///
    /// What the checks of GitHub's delivery log found: how many missed deliveries were
    /// recovered, the last checks, and each delivery asked for again with whether it arrived.
    #[oai(
        path = "/:id/reconcile",
        method = "get",
        operation_id = "getReconcileReport"
    )]
    async fn reconcile_log(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<ReconcileLog>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let (recovered, checks, requests) = db::run(&state.pool, move |conn| {
            integrations::get(conn, &id)?;
            Ok((
                log::recovered(conn, &id)?,
                log::checks(conn, &id, 20)?,
                log::requests(conn, &id, 100)?,
            ))
        })
        .await?;
        Ok(Json(ReconcileLog {
            recovered,
            last_check_at: checks.first().map(|c| Timestamp(c.at)),
            checks: checks
                .into_iter()
                .map(|c| ReconcileCheckOut {
                    at: Timestamp(c.at),
                    listed: c.listed,
                    missing: c.missing,
                    requested: c.requested,
                    error: c.error,
                })
                .collect(),
            requests: requests
                .into_iter()
                .map(|r| RedeliveryOut {
                    guid: r.guid,
                    event_type: r.event_type,
                    requested_at: Timestamp(r.requested_at),
                    arrived: r.arrived,
                })
                .collect(),
        }))
    }
}
