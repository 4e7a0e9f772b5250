//! `/api/secrets`: write-only named values. Values go in and never come out.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{ApiTags, BearerAuth};
use crate::clock;
use crate::db::{self, integrations, secrets as store};
use crate::error::{AppError, AppResult};
use crate::secrets::refs;
use crate::state::SharedState;

pub struct SecretsApi;

pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A value to store. It is encrypted at rest and never returned by any endpoint.
#[derive(Object)]
#[oai(example)]
pub struct SecretIn {
    /// The value, 1 byte to 64 KiB. Refer to it from a config as `${secret:NAME}`.
    pub value: Option<String>,
}

impl poem_openapi::types::Example for SecretIn {
    fn example() -> Self {
        SecretIn {
            value: Some("ghp_your_token_here".into()),
        }
    }
}

/// An integration that refers to a secret.
#[derive(Object)]
pub struct SecretUser {
    /// The integration's id.
    pub id: String,
    /// The integration's name.
    pub name: String,
}

/// A secret's name and dates; never its value.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
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

fn check_name(name: &str) -> AppResult<()> {
    if refs::is_valid_name(name) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "name",
            "must be 1–64 characters of A–Z, 0–9 and _",
        ))
    }
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
    ) -> poem::Result<Json<Vec<SecretOut>>> {
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
        name: Path<String>,
        body: Json<SecretIn>,
    ) -> poem::Result<PutSecretResponse> {
        let name = name.0;
        check_name(&name)?;
        let value = body
            .0
            .value
            .ok_or_else(|| AppError::invalid("value", "is required"))?;
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(AppError::invalid("value", "must be 1 byte to 64 KiB").into());
        }
        let sealed = state
            .secrets
            .encrypt(&name, &value)
            .map_err(AppError::Internal)?;
        let (created, out) = db::run(&state.pool, move |conn| {
            let created = store::upsert(conn, &name, &sealed, clock::now_ms())?;
            let meta = store::get_meta(conn, &name)?;
            Ok((created, to_out(conn, meta)?))
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
        name: Path<String>,
    ) -> poem::Result<DeleteSecretResponse> {
        let name = name.0;
        db::run(&state.pool, move |conn| {
            let tx = conn.transaction()?;
            store::get_meta(&tx, &name)?;
            let users = users_of(&tx, &name)?;
            if !users.is_empty() {
                let names: Vec<String> = users.into_iter().map(|u| u.name).collect();
                return Err(AppError::Conflict(format!(
                    "secret {name} is used by {}; change their config first",
                    names.join(", ")
                )));
            }
            store::delete(&tx, &name)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(DeleteSecretResponse::Deleted)
    }
}
