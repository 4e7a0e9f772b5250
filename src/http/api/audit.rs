//! `GET /api/audit`: who changed what, when, from where. Read only: no operation changes or
//! removes an entry.

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError, UNPROCESSABLE};
use super::paging;
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::{self, audit as store};
use crate::domain::audit::Action;
use crate::domain::checked::{Cursor, Id, Timestamp};
use crate::http::state::SharedState;

pub struct AuditApi;

/// One field's value before and after a change; `null` on the side where it did not exist.
/// Credentials show as `***`, as everywhere.
#[derive(Object)]
pub struct FieldChange {
    /// The value before the change; `null` when the field did not exist.
    pub before: serde_json::Value,
    /// The value after the change; `null` when the field is gone.
    pub after: serde_json::Value,
}

/// One change, as it was made.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AuditEntryOut {
    /// The entry's place in the log; later entries have larger ones.
    pub seq: i64,
    /// When it was made (RFC 3339, UTC).
    pub at: Timestamp,
    /// Who made it: a token's name (`api-token` for the primary token), a person's e-mail, or
    /// `unknown` for a failed sign-in.
    pub actor: String,
    pub action: Action,
    /// The integration it concerns, if one.
    pub integration_id: Option<String>,
    /// What was changed: an id, or a name (a secret's, a token's).
    pub target: String,
    /// Each field that changed, by name (`config.token`, `isActive`), masked.
    pub changes: BTreeMap<String, FieldChange>,
    /// The client's address (behind a trusted proxy, the one it names).
    pub source: String,
    /// The request's id, as in its answer's `X-Request-Id` and its log line.
    pub request_id: String,
}

/// A page of entries, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AuditPage {
    pub items: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn entry_out(e: store::StoredEntry) -> Option<AuditEntryOut> {
    let changes = e
        .changes
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, change)| {
            (
                field.clone(),
                FieldChange {
                    before: change["before"].clone(),
                    after: change["after"].clone(),
                },
            )
        })
        .collect();
    Some(AuditEntryOut {
        seq: e.seq,
        at: Timestamp(e.at),
        actor: e.actor,
        // An action this binary does not know (written by a newer one) is left out.
        action: Action::parse(&e.action)?,
        integration_id: e.integration_id,
        target: e.target,
        changes,
        source: e.source,
        request_id: e.request_id,
    })
}

#[OpenApi(tag = "ApiTags::Access")]
impl AuditApi {
    /// List audit log entries.
    ///
    /// Every change, newest first: integrations created, changed, deactivated or deleted;
    /// secrets set, deleted or rotated; tokens made or revoked; retries, replays, reconcile
    /// requests; run and deployment status changes; failed sign-ins. Entries are kept for
    /// `--audit-retention-days` (365 by default) and never changed.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEntries")]
    #[allow(clippy::too_many_arguments)]
    async fn list_audit(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only entries by this actor (a token's name or an e-mail), exactly.
        #[oai(example = "crate::http::api::examples::actor")]
        actor: Query<Option<String>>,
        /// Only entries about this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only entries of this action.
        action: Query<Option<Action>>,
        /// Only entries made at or after this time (RFC 3339).
        since: Query<Option<Timestamp>>,
        /// Only entries made before this time (RFC 3339).
        until: Query<Option<Timestamp>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<AuditPage>, ApiError<{ AUTHED | UNPROCESSABLE }>> {
        if let (Some(since), Some(until)) = (&since.0, &until.0)
            && since.0 > until.0
        {
            return Err(AppError::invalid("until", "must not be before since").into());
        }
        let f = store::AuditFilter {
            actor: actor.0,
            integration_id: integration_id.0.map(|id| id.as_str().to_ascii_lowercase()),
            action: action.0,
            since: since.0.map(|t| t.0),
            until: until.0.map(|t| t.0),
            before_seq: paging::before_seq(cursor.0),
            limit: paging::fetch_count(limit.0),
        };
        let fetched = f.limit;
        let rows = db::run(&state.pool, move |conn| store::list(conn, &f)).await?;
        let (rows, next_cursor) = paging::split(rows, fetched, |e| e.seq.to_string());
        Ok(Json(AuditPage {
            items: rows.into_iter().filter_map(entry_out).collect(),
            next_cursor,
        }))
    }
}
