//! `/api/secrets`: write-only named values. Values go in and never come out.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::{ApiTags, BearerAuth};
use crate::checked::SecretName;
use crate::clock;
use crate::db::{self, integrations, secrets as store};
use crate::error::{AppError, AppResult};
use crate::secrets::refs;
use crate::state::SharedState;

pub struct SecretsApi;

pub const MAX_VALUE_CHARS: usize = 64 * 1024;

/// A value to store. It is encrypted at rest and never returned by any endpoint.
#[derive(Object, Deserialize)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SecretIn {
    /// The value, 1 to 65,536 characters. Refer to it from a config as `${secret:NAME}`.
    #[oai(validator(min_length = 1, max_length = 65536))]
    pub value: String,
}

impl poem_openapi::types::Example for SecretIn {
    fn example() -> Self {
        SecretIn {
            value: "ghp_your_token_here".into(),
        }
    }
}

/// An integration that refers to a secret.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SecretUser {
    /// The integration's id.
    pub id: String,
    /// The integration's name.
    pub name: String,
}

/// A secret's name and dates; never its value.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct SecretOut {
    /// `[A-Z0-9_]{1,64}`.
    pub name: String,
    /// How configs refer to it, e.g. `${secret:GITHUB_TOKEN}`.
    pub reference: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// Integrations whose config refers to it; it cannot be deleted while any does.
    pub used_by: Vec<SecretUser>,
}

#[derive(ApiResponse)]
pub enum PutSecretResponse {
    /// Replaced.
    #[oai(status = 200)]
    Replaced(Json<SecretOut>),
    /// Created.
    #[oai(status = 201)]
    Created(Json<SecretOut>),
}

#[derive(ApiResponse)]
pub enum DeleteSecretResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

/// Integrations referring to each secret name.
fn users_of(conn: &rusqlite::Connection, name: &str) -> AppResult<Vec<SecretUser>> {
    Ok(integrations::list(conn)?
        .into_iter()
        .filter(|i| refs::find_refs(&i.config).iter().any(|(_, n)| n == name))
        .map(|i| SecretUser {
            id: i.id,
            name: i.name,
        })
        .collect())
}

fn to_out(conn: &rusqlite::Connection, meta: store::SecretMeta) -> AppResult<SecretOut> {
    Ok(SecretOut {
        used_by: users_of(conn, &meta.name)?,
        reference: format!("${{secret:{}}}", meta.name),
        name: meta.name,
        created_at: clock::rfc3339(meta.created_at),
        updated_at: clock::rfc3339(meta.updated_at),
    })
}

#[OpenApi(prefix_path = "/secrets", tag = "ApiTags::Secrets")]
impl SecretsApi {
    /// Secret names, dates and users; never values.
    #[oai(path = "/", method = "get")]
    async fn list_secrets(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<SecretOut>>, ApiError<AUTHED>> {
        let out = db::run(&state.pool, |conn| {
            store::list(conn)?
                .into_iter()
                .map(|m| to_out(conn, m))
                .collect::<AppResult<Vec<_>>>()
        })
        .await?;
        Ok(Json(out))
    }

    /// Create or replace a secret. The value is encrypted before it is stored.
    #[oai(path = "/:name", method = "put")]
    async fn put_secret(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// `[A-Z0-9_]{1,64}`, e.g. `GITHUB_TOKEN`.
        name: Path<SecretName>,
        body: JsonBody<SecretIn>,
    ) -> Result<PutSecretResponse, ApiError<{ AUTHED | JSON_BODY }>> {
        let name = name.0.into_string();
        let value = body.0.value;
        if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
            return Err(AppError::invalid("value", "must be 1 to 65,536 characters").into());
        }
        let sealed = state
            .secrets
            .encrypt(&name, &value)
            .map_err(AppError::Internal)?;
        let now = state.settings.clock.now_ms();
        let (created, out) = state
            .write(move |tx| {
                let created = store::upsert(tx, &name, &sealed, now)?;
                let meta = store::get_meta(tx, &name)?;
                Ok((created, to_out(tx, meta)?))
            })
            .await?;
        Ok(if created {
            PutSecretResponse::Created(Json(out))
        } else {
            PutSecretResponse::Replaced(Json(out))
        })
    }

    /// Delete a secret; 409 while an integration's config refers to it.
    #[oai(path = "/:name", method = "delete")]
    async fn delete_secret(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The secret's name.
        name: Path<SecretName>,
    ) -> Result<DeleteSecretResponse, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | UNPROCESSABLE }>>
    {
        let name = name.0.into_string();
        state
            .write(move |tx| {
                store::get_meta(tx, &name)?;
                let users = users_of(tx, &name)?;
                if !users.is_empty() {
                    let names: Vec<String> = users.into_iter().map(|u| u.name).collect();
                    return Err(AppError::Conflict(format!(
                        "secret {name} is used by {}; change their config first",
                        names.join(", ")
                    )));
                }
                store::delete(tx, &name)
            })
            .await?;
        Ok(DeleteSecretResponse::Deleted)
    }
}
