//! `GET /api/integrations/{id}/rejections`: the last refused deliveries of an integration.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::{self, integrations, rejections};
use crate::domain::checked::Timestamp;
use crate::domain::model;
use crate::http::state::SharedState;

pub struct RejectionsApi;

/// One header of a refused delivery.
#[derive(Object)]
pub struct ShownHeader {
    /// Lower-case, as received.
    pub name: String,
    /// As received, except signatures (cut to their first characters) and tokens (hidden).
    pub value: String,
}

/// A refused delivery: when, why, from where and what it carried (never its body).
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct RejectionOut {
    /// RFC 3339, UTC.
    pub at: Timestamp,
    /// The HTTP status answered: 401 (signature), 400 or 415 (format).
    pub status: u16,
    /// Why, e.g. `X-Hub-Signature-256 does not match the body and the integration's secret`.
    pub reason: String,
    /// The sender's IP address, as the connection came in.
    pub source: Option<String>,
    /// The request's headers (at most 64; long values cut).
    pub headers: Vec<ShownHeader>,
    /// The body's size in bytes.
    pub body_bytes: i64,
    /// The body's SHA-256 (hex): compare with what the sender logged.
    pub body_sha256: String,
}

/// The last refused deliveries, newest first.
#[derive(Object)]
pub struct RejectionList {
    /// At most 100, newest first.
    pub items: Vec<RejectionOut>,
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl RejectionsApi {
    /// List refused deliveries.
    ///
    /// The last 100 deliveries this integration refused (bad signature or format), newest
    /// first: time, reason, source address, headers with signatures cut to a prefix and
    /// tokens hidden, and the body's size and SHA-256 (the body is not kept).
    #[oai(
        path = "/:id/rejections",
        method = "get",
        operation_id = "listRejections"
    )]
    async fn list_rejections(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<RejectionList>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let kept = db::run(&state.pool, move |conn| {
            integrations::get(conn, &id)?;
            rejections::list(conn, &id)
        })
        .await?;
        let items = kept
            .into_iter()
            .map(|r| RejectionOut {
                at: Timestamp(r.at),
                status: r.status,
                reason: r.reason,
                source: r.source,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(name, value)| ShownHeader { name, value })
                    .collect(),
                body_bytes: r.body_bytes,
                body_sha256: r.body_sha256,
            })
            .collect();
        Ok(Json(RejectionList { items }))
    }
}
