//! `/api/secrets`: write-only named values. Values go in and never come out.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::{self, integrations, secrets as store};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::checked::{ApiOrigin, SecretName};
use crate::domain::json_fields::present;
use crate::domain::masking::MASK;
use crate::domain::secrets::refs;
use crate::http::state::SharedState;
use serde_json::json;

pub struct SecretsApi;

pub const MAX_VALUE_CHARS: usize = 64 * 1024;
/// Hosts one secret may be stored for.
pub const MAX_HOSTS: usize = 32;

/// A value to store. It is encrypted at rest and never returned by any endpoint.
#[derive(Object, Deserialize)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SecretIn {
    /// The value, 1 to 65,536 characters. Refer to it from a config as `${secret:NAME}`.
    #[oai(validator(min_length = 1, max_length = 65536))]
    pub value: String,
    /// Where the value may be sent besides the public API hosts (`api.github.com`,
    /// `gitlab.com`, `slack.com`, `hooks.slack.com`): `host` or `host:port` of a GitHub
    /// Enterprise, self-managed GitLab or Slack `api_url` that refers to it, over https. Plain
    /// http only to an origin listed as such, `http://host[:port]` (a test stand-in, a lab).
    /// A config with any other `api_url` cannot use it. Default: none.
    #[oai(validator(max_items = 32))]
    #[serde(default, deserialize_with = "present")]
    pub hosts: Option<Vec<ApiOrigin>>,
}

impl poem_openapi::types::Example for SecretIn {
    fn example() -> Self {
        SecretIn {
            value: "ghp_your_token_here".into(),
            hosts: None,
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
    pub created_at: Timestamp,
    /// RFC 3339, UTC.
    pub updated_at: Timestamp,
    /// Integrations whose config refers to it; it cannot be deleted while any does.
    pub used_by: Vec<SecretUser>,
    /// Where its value may be sent besides the public API hosts.
    pub hosts: Vec<String>,
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
pub(crate) fn users_of(conn: Conn<'_>, name: &str) -> AppResult<Vec<SecretUser>> {
    Ok(integrations::list(conn)?
        .into_iter()
        .filter(|i| refs::find_refs(&i.config).iter().any(|(_, n)| n == name))
        .map(|i| SecretUser {
            id: i.id,
            name: i.name,
        })
        .collect())
}

/// A secret stored again with fewer hosts must not silently stop working for a config that
/// sends it to one of those it no longer lists.
fn check_users_keep_their_hosts(conn: Conn<'_>, name: &str, hosts: &[String]) -> AppResult<()> {
    for i in integrations::list(conn)? {
        for (key, value, to) in i.settings.sent_credentials() {
            let host = crate::domain::hosts::origin(&to).unwrap_or_default();
            if refs::secret_ref(value) == Some(name)
                && !crate::domain::hosts::secret_may_go_to(hosts, &to)
            {
                return Err(AppError::ConflictAt {
                    field: "hosts".into(),
                    message: format!(
                        "integration {} sends this secret ({key}) to {host}: list it in hosts, or change that integration first",
                        crate::domain::trace::quoted(&i.name)
                    ),
                });
            }
        }
    }
    Ok(())
}

fn to_out(conn: Conn<'_>, meta: store::SecretMeta) -> AppResult<SecretOut> {
    Ok(SecretOut {
        used_by: users_of(conn, &meta.name)?,
        reference: format!("${{secret:{}}}", meta.name),
        hosts: meta.hosts,
        name: meta.name,
        created_at: Timestamp(meta.created_at),
        updated_at: Timestamp(meta.updated_at),
    })
}

#[OpenApi(prefix_path = "/secrets", tag = "ApiTags::Secrets")]
impl SecretsApi {
    /// List secrets.
    ///
    /// Secret names, dates and users; never values.
    #[oai(path = "/", method = "get", operation_id = "listSecrets")]
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

    /// Create or replace a secret.
    ///
    /// Create or replace a secret. The value is encrypted before it is stored. It is sent
    /// only to the public API hosts and to the `hosts` given here: a config that would send it
    /// elsewhere is refused (409), and so is storing it again without a host a config sends it to.
    #[oai(path = "/:name", method = "put", operation_id = "putSecret")]
    async fn put_secret(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// `[A-Z0-9_]{1,64}`, e.g. `GITHUB_TOKEN`.
        name: Path<SecretName>,
        body: JsonBody<SecretIn>,
    ) -> Result<PutSecretResponse, ApiError<{ AUTHED | JSON_BODY | CONFLICT }>> {
        let name = name.0.into_string();
        let SecretIn { value, hosts } = body.0;
        if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
            return Err(AppError::invalid("value", "must be 1 to 65,536 characters").into());
        }
        let hosts = hosts.unwrap_or_default();
        if hosts.len() > MAX_HOSTS {
            return Err(
                AppError::invalid("hosts", format!("must list at most {MAX_HOSTS} hosts")).into(),
            );
        }
        let mut hosts: Vec<String> = hosts
            .into_iter()
            .map(|h| h.as_str().to_ascii_lowercase())
            .collect();
        hosts.sort();
        hosts.dedup();
        let sealed = state
            .secrets
            .encrypt(&name, &value)
            .map_err(AppError::Internal)?;
        let now = state.clock.now_ms();
        let (created, out) = state
            .write(move |tx| {
                check_users_keep_their_hosts(tx, &name, &hosts)?;
                let hosts_before = store::hosts(tx, &name)?;
                let created = store::upsert(tx, &name, &sealed, &hosts, now)?;
                let meta = store::get_meta(tx, &name)?;
                // The value is never shown; that it changed is.
                let mut entry = auth.0.did(Action::SecretSet, &name);
                entry.changes =
                    json!({"value": {"before": (!created).then_some(MASK), "after": MASK}});
                if created || hosts_before != meta.hosts {
                    entry.changes["hosts"] = json!({
                        "before": (!created).then_some(&hosts_before),
                        "after": meta.hosts,
                    });
                }
                db::audit::record(tx, &entry, now)?;
                Ok((created, to_out(tx, meta)?))
            })
            .await?;
        Ok(if created {
            PutSecretResponse::Created(Json(out))
        } else {
            PutSecretResponse::Replaced(Json(out))
        })
    }

    /// Delete a secret.
    ///
    /// Delete a secret; 409 while an integration's config refers to it.
    #[oai(path = "/:name", method = "delete", operation_id = "deleteSecret")]
    async fn delete_secret(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The secret's name.
        name: Path<SecretName>,
    ) -> Result<DeleteSecretResponse, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | UNPROCESSABLE }>>
    {
        let name = name.0.into_string();
        let now = state.clock.now_ms();
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
                store::delete(tx, &name)?;
                let mut entry = auth.0.did(Action::SecretDeleted, &name);
                entry.changes = json!({"value": {"before": MASK, "after": null}});
                db::audit::record(tx, &entry, now)
            })
            .await?;
        Ok(DeleteSecretResponse::Deleted)
    }
}
