//! `/api/integrations`: create, list, read, change and delete integrations.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Value, json};

use super::{ApiTags, BearerAuth};
use crate::clock;
use crate::db::integrations::{self, Integration};
use crate::db::{self, events, secrets as store};
use crate::error::{AppError, AppResult};
use crate::masking;
use crate::model::{self, IntegrationType};
use crate::secrets::refs;
use crate::state::SharedState;
use crate::validation;

pub struct IntegrationsApi;

/// A new integration.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct IntegrationIn {
    /// Required. One of `GITHUB`, `GITLAB`, `SLACK`, `WEBHOOK`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
    /// Required. A friendly label, 1–200 characters (trimmed).
    pub name: Option<String>,
    /// Required. A JSON object (64 KiB at most) whose keys depend on the type:
    /// GITHUB `repo` (`owner/name`, required), `branch` (default `main`), `token`,
    /// `webhook_secret`, `api_url`; GITLAB `project_id` (number or `group/project`, required),
    /// `branch`, `token`, `webhook_secret`, `api_url`; SLACK `webhook_url` (required),
    /// `channel`, `username`, `events`; WEBHOOK `description`, `events`, `secret`.
    /// Values of keys containing `secret` or `token` are always shown as `***`.
    /// Instead of a value, `token`, `webhook_secret`, `secret` and `webhook_url` may hold a
    /// reference to a stored secret, `${secret:NAME}`; it is resolved only when used, and
    /// shown as written.
    pub config: Option<Value>,
}

impl Example for IntegrationIn {
    fn example() -> Self {
        IntegrationIn {
            kind: Some("GITHUB".into()),
            name: Some("Main GitHub Repo".into()),
            config: Some(json!({
                "repo": "my-org/my-agent-repo",
                "branch": "main",
                "webhook_secret": "choose-a-long-random-string"
            })),
        }
    }
}

/// Changes to an integration; absent fields stay as they are.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct IntegrationPatch {
    /// A new label, 1–200 characters.
    pub name: Option<String>,
    /// A whole new config object, validated as on create. A value of `***` under a key
    /// containing `secret` or `token` keeps the stored value, so a masked config read from
    /// this API can be sent back unchanged.
    pub config: Option<Value>,
    /// `false` makes the webhook endpoint answer 404 until it is set back to `true`.
    pub is_active: Option<bool>,
}

impl Example for IntegrationPatch {
    fn example() -> Self {
        IntegrationPatch {
            name: None,
            config: None,
            is_active: Some(false),
        }
    }
}

/// Deliveries refused because their signature or token did not verify.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RejectedDeliveries {
    /// How many deliveries were refused.
    pub count: i64,
    /// When the last one was refused (RFC 3339, UTC).
    pub last_at: Option<String>,
    /// Why the last one was refused, e.g. `X-Hub-Signature-256 does not match …`.
    pub last_reason: Option<String>,
}

/// An integration, with sensitive config values masked.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct IntegrationOut {
    /// Unguessable id (UUIDv4); part of the public webhook URL.
    pub id: String,
    /// GITHUB, GITLAB, SLACK or WEBHOOK.
    #[oai(rename = "type")]
    pub kind: IntegrationType,
    /// The friendly label.
    pub name: String,
    /// The config, with every value under a key containing `secret` or `token` shown as `***`.
    pub config: Value,
    /// `false`: the webhook URL answers 404.
    pub is_active: bool,
    /// Where senders post deliveries: `POST {webhookUrl}` needs no token.
    pub webhook_url: String,
    /// Whether deliveries must carry a valid signature (a webhook secret is configured).
    pub verified: bool,
    /// Deliveries refused for a bad or missing signature.
    pub rejected_deliveries: RejectedDeliveries,
    /// How many events are stored for this integration.
    pub event_count: i64,
    /// When the newest stored event arrived (RFC 3339, UTC).
    pub last_event_at: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<IntegrationOut>),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Deleted, with its events.
    #[oai(status = 204)]
    Deleted,
}

fn to_out(
    state: &SharedState,
    conn: &rusqlite::Connection,
    i: Integration,
) -> AppResult<IntegrationOut> {
    let stats = events::stats_for_integration(conn, &i.id)?;
    Ok(IntegrationOut {
        webhook_url: state.webhook_url(&i.id),
        verified: i.webhook_secret().is_some(),
        rejected_deliveries: RejectedDeliveries {
            count: i.rejected_count,
            last_at: i.last_rejected_at.map(clock::rfc3339),
            last_reason: i.last_rejected_reason,
        },
        event_count: stats.count,
        last_event_at: stats.last_received_at.map(clock::rfc3339),
        config: masking::mask(&i.config),
        id: i.id,
        kind: i.kind,
        name: i.name,
        is_active: i.is_active,
        created_at: clock::rfc3339(i.created_at),
        updated_at: clock::rfc3339(i.updated_at),
    })
}

/// Every `${secret:NAME}` in a config must name a stored secret.
fn check_secret_refs(conn: &rusqlite::Connection, config: &Value) -> AppResult<()> {
    for (path, name) in refs::find_refs(config) {
        if !store::exists(conn, &name)? {
            return Err(AppError::invalid(
                path,
                format!(
                    "refers to secret {name}, which does not exist: create it with PUT /api/secrets/{name}"
                ),
            ));
        }
    }
    Ok(())
}

/// An id from a URL, or the same 404 a missing integration gets.
fn integration_id(raw: &str) -> AppResult<String> {
    model::parse_id(raw).ok_or(AppError::NotFound("integration"))
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl IntegrationsApi {
    /// List integrations, oldest first, with sensitive config values masked.
    #[oai(path = "/", method = "get")]
    async fn list_integrations(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> poem::Result<Json<Vec<IntegrationOut>>> {
        let state = state.0.clone();
        let out = db::run(&state.pool.clone(), move |conn| {
            integrations::list(conn)?
                .into_iter()
                .map(|i| to_out(&state, conn, i))
                .collect::<AppResult<Vec<_>>>()
        })
        .await?;
        Ok(Json(out))
    }

    /// Create an integration. Each validation failure is a 422 problem whose `field` names
    /// the part of the request at fault (for example `config.repo`).
    #[oai(path = "/", method = "post")]
    async fn create_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        body: Json<IntegrationIn>,
    ) -> poem::Result<CreatedResponse> {
        let IntegrationIn { kind, name, config } = body.0;
        let kind = validation::parse_type(kind.as_deref())?;
        let name = validation::validate_name(name.as_deref())?;
        let config = validation::validate_config(kind, config)?;
        let now = clock::now_ms();
        let integration = Integration {
            id: model::new_id(),
            kind,
            name,
            config,
            is_active: true,
            created_at: now,
            updated_at: now,
            rejected_count: 0,
            last_rejected_at: None,
            last_rejected_reason: None,
        };
        let state = state.0.clone();
        let out = db::run(&state.pool.clone(), move |conn| {
            check_secret_refs(conn, &integration.config)?;
            integrations::insert(conn, &integration)?;
            to_out(&state, conn, integration)
        })
        .await?;
        Ok(CreatedResponse::Created(Json(out)))
    }

    /// One integration, masked, with its webhook URL.
    #[oai(path = "/:id", method = "get")]
    async fn get_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        id: Path<String>,
    ) -> poem::Result<Json<IntegrationOut>> {
        let id = integration_id(&id.0)?;
        let state = state.0.clone();
        let out = db::run(&state.pool.clone(), move |conn| {
            let i = integrations::get(conn, &id)?;
            to_out(&state, conn, i)
        })
        .await?;
        Ok(Json(out))
    }

    /// Change the name, the config or `isActive`.
    #[oai(path = "/:id", method = "patch")]
    async fn update_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        id: Path<String>,
        body: Json<IntegrationPatch>,
    ) -> poem::Result<Json<IntegrationOut>> {
        let id = integration_id(&id.0)?;
        let patch = body.0;
        let name = match patch.name {
            Some(name) => Some(validation::validate_name(Some(&name))?),
            None => None,
        };
        let state = state.0.clone();
        let out = db::run(&state.pool.clone(), move |conn| {
            let tx = conn.transaction()?;
            let mut i = integrations::get(&tx, &id)?;
            if let Some(mut config) = patch.config {
                masking::restore_masked(&mut config, &i.config).map_err(|path| {
                    AppError::invalid(
                        path,
                        "is `***` but nothing is stored there to keep; send the real value",
                    )
                })?;
                i.config = validation::validate_config(i.kind, Some(config))?;
                check_secret_refs(&tx, &i.config)?;
            }
            if let Some(name) = name {
                i.name = name;
            }
            if let Some(active) = patch.is_active {
                i.is_active = active;
            }
            i.updated_at = clock::now_ms();
            integrations::update(&tx, &i)?;
            let out = to_out(&state, &tx, i)?;
            tx.commit()?;
            Ok(out)
        })
        .await?;
        Ok(Json(out))
    }

    /// Delete an integration and its stored events.
    #[oai(path = "/:id", method = "delete")]
    async fn delete_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        id: Path<String>,
    ) -> poem::Result<DeletedResponse> {
        let id = integration_id(&id.0)?;
        db::run(&state.pool, move |conn| integrations::delete(conn, &id)).await?;
        Ok(DeletedResponse::Deleted)
    }
}
