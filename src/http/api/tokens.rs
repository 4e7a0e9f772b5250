//! `/api/tokens` and `/api/me`: API tokens with scopes, made and revoked by admins, and what
//! the caller itself may do (the pages hide what it may not).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::guard::TOKEN_PREFIX;
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::{self, tokens as store};
use crate::domain::access::{Credential, PRIMARY_ACTOR, Scope};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::json_fields::present;
use crate::http::state::SharedState;

pub struct TokensApi;

pub const MAX_NAME_CHARS: usize = 64;

/// A token's scope. `read`: every GET. `runs:write`: list eval runs and deployments and PATCH
/// their status, nothing else (what an eval platform needs). `write`: read, plus
/// integrations, retries, replays, dry runs, tests and reconcile. `admin`: everything,
/// tokens, secrets and rotation included.
#[derive(Enum, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenScope {
    #[oai(rename = "read")]
    #[serde(rename = "read")]
    Read,
    #[oai(rename = "runs:write")]
    #[serde(rename = "runs:write")]
    RunsWrite,
    #[oai(rename = "write")]
    #[serde(rename = "write")]
    Write,
    #[oai(rename = "admin")]
    #[serde(rename = "admin")]
    Admin,
}

impl TokenScope {
    fn scope(self) -> Scope {
        match self {
            TokenScope::Read => Scope::Read,
            TokenScope::RunsWrite => Scope::RunsWrite,
            TokenScope::Write => Scope::Write,
            TokenScope::Admin => Scope::Admin,
        }
    }

    pub fn of(scope: Scope) -> TokenScope {
        match scope {
            Scope::Read => TokenScope::Read,
            Scope::RunsWrite => TokenScope::RunsWrite,
            Scope::Write => TokenScope::Write,
            Scope::Admin => TokenScope::Admin,
        }
    }
}

/// A token to make.
#[derive(Object, Deserialize)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiTokenIn {
    /// What it is for, 1 to 64 characters, unique: the audit log names its changes by it.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: String,
    /// One or more scopes, each once.
    #[oai(validator(min_items = 1, max_items = 4, unique_items))]
    pub scopes: Vec<TokenScope>,
    /// When it stops working (RFC 3339); it never does when left out.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Timestamp>,
}

impl poem_openapi::types::Example for ApiTokenIn {
    fn example() -> Self {
        ApiTokenIn {
            name: "eval-platform".into(),
            scopes: vec![TokenScope::RunsWrite],
            expires_at: None,
        }
    }
}

/// A token, without its value.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct ApiTokenOut {
    /// The token's id, which revokes it; not its value.
    pub id: String,
    /// What it is for; the actor the audit log names.
    pub name: String,
    /// The value's first characters (`prov_` and 8 more), to recognise it by.
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    /// Who made it: a token's name or a person's e-mail.
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    /// RFC 3339, UTC; absent when it never expires.
    pub expires_at: Option<Timestamp>,
    /// When it was last presented, to the minute (RFC 3339, UTC); absent when never.
    pub last_used_at: Option<Timestamp>,
}

/// A token just made, with its value: the only answer that carries it.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct NewApiToken {
    /// The value, `prov_` and 64 hex digits: send it as `Authorization: Bearer <token>`.
    /// Shown once; only a hash of it is kept.
    pub token: String,
    #[oai(flatten)]
    pub details: ApiTokenOut,
}

/// How the caller proved who it is.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum CredentialKind {
    /// The token from `--api-token` or the first start.
    Primary,
    /// A token made with `POST /api/tokens`.
    Token,
    /// A person signed in to the pages with SSO (the session cookie).
    Session,
}

/// The caller, as the audit log names it, and what it may do.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct CurrentAccess {
    /// A token's name (`api-token` for the primary token).
    pub actor: String,
    pub scopes: Vec<TokenScope>,
    pub credential: CredentialKind,
    /// The token's id, for a token made with `POST /api/tokens`.
    pub token_id: Option<String>,
    /// The session's id, for a person signed in with SSO (as `listSessions` shows it).
    pub session_id: Option<String>,
    /// For a session: the value to send in `X-CSRF-Token` with every change, which the
    /// cookie alone never authorises.
    pub csrf_token: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateTokenResponse {
    /// Made; the value is in `token`, this once.
    #[oai(status = 201)]
    Created(Json<NewApiToken>),
}

#[derive(ApiResponse)]
pub enum DeleteTokenResponse {
    /// Revoked: the next request that presents it is refused, on every node.
    #[oai(status = 204)]
    Deleted,
}

fn to_out(t: store::StoredToken) -> ApiTokenOut {
    ApiTokenOut {
        id: t.id,
        name: t.name,
        prefix: t.prefix,
        scopes: t.scopes.into_iter().map(TokenScope::of).collect(),
        created_by: t.created_by,
        created_at: Timestamp(t.created_at),
        expires_at: t.expires_at.map(Timestamp),
        last_used_at: t.last_used_at.map(Timestamp),
    }
}

/// What the audit log shows of a token: never its value or its hash.
fn audited(t: &store::StoredToken) -> serde_json::Value {
    serde_json::json!({
        "name": t.name,
        "prefix": t.prefix,
        "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "expiresAt": t.expires_at.map(crate::base::clock::rfc3339),
    })
}

fn checked_name(name: &str) -> AppResult<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid("name", "must be 1 to 64 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    if trimmed == PRIMARY_ACTOR {
        return Err(AppError::invalid(
            "name",
            "`api-token` names the primary token; pick another name",
        ));
    }
    // The audit log names a token `token:<name>#<id>`: a name must not pass for an e-mail
    // address, another kind of actor, or the primary token by a look-alike.
    if !trimmed.chars().all(|c| c.is_ascii_graphic() || c == ' ') || trimmed.contains(['@', '#']) {
        return Err(AppError::invalid(
            "name",
            "may hold only ASCII letters, digits, spaces and punctuation other than `@` and `#` (a name must not look like an e-mail address or another token's id)",
        ));
    }
    let lower = trimmed.to_ascii_lowercase();
    if ["token:", "person:", "slack:", "sub:"]
        .iter()
        .any(|kind| lower.starts_with(kind))
    {
        return Err(AppError::invalid(
            "name",
            "must not start with an actor's kind (`token:`, `person:`, `slack:`, `sub:`)",
        ));
    }
    let folded: String = lower
        .chars()
        .map(|c| if matches!(c, ' ' | '.' | '_') { '-' } else { c })
        .collect();
    if ["api-token", "apitoken", "unknown", "primary", "nobody"].contains(&folded.as_str()) {
        return Err(AppError::invalid(
            "name",
            format!(
                "`{trimmed}` looks like a name the audit log uses for something else; pick another name"
            ),
        ));
    }
    Ok(trimmed.to_string())
}

fn new_value() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness available: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

#[OpenApi(tag = "ApiTags::Access")]
impl TokensApi {
    /// Make an API token.
    ///
    /// Makes a token with the given scopes. Its value is in this answer only; the server keeps
    /// a hash of it.
    #[oai(path = "/tokens", method = "post", operation_id = "createApiToken")]
    async fn create_token(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        body: JsonBody<ApiTokenIn>,
    ) -> Result<CreateTokenResponse, ApiError<{ AUTHED | JSON_BODY | CONFLICT }>> {
        let ApiTokenIn {
            name,
            scopes,
            expires_at,
        } = body.0;
        let name = checked_name(&name)?;
        let listed = scopes.len();
        let mut scopes: Vec<Scope> = scopes.into_iter().map(TokenScope::scope).collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AppError::invalid("scopes", "must list at least one scope").into());
        }
        // The spec promises each scope once: a list that repeats one is a mistake to point at,
        // not to tidy silently.
        if scopes.len() != listed {
            return Err(AppError::invalid("scopes", "must list each scope once").into());
        }
        let now = state.clock.now_ms();
        if let Some(Timestamp(at)) = expires_at
            && at <= now
        {
            return Err(AppError::invalid("expiresAt", "must be in the future").into());
        }
        let value = new_value()?;
        let token = store::StoredToken {
            id: crate::domain::model::new_id(),
            name,
            prefix: value.chars().take(TOKEN_PREFIX.len() + 8).collect(),
            scopes,
            created_by: auth.0.actor().to_string(),
            created_at: now,
            expires_at: expires_at.map(|t| t.0),
            last_used_at: None,
        };
        let stored = token.clone();
        let secret = value.clone();
        state
            .write(move |tx| {
                store::insert(tx, &stored, &secret)?;
                let entry = auth
                    .0
                    .did(Action::TokenCreated, &stored.name)
                    .changing(&serde_json::Value::Null, &audited(&stored));
                db::audit::record(tx, &entry, now)
            })
            .await?;
        Ok(CreateTokenResponse::Created(Json(NewApiToken {
            token: value,
            details: to_out(token),
        })))
    }

    /// List API tokens.
    ///
    /// Every token made with `POST /api/tokens`, newest first; never their values.
    #[oai(path = "/tokens", method = "get", operation_id = "listApiTokens")]
    async fn list_tokens(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<ApiTokenOut>>, ApiError<AUTHED>> {
        let tokens = db::run(&state.pool, store::list).await?;
        Ok(Json(tokens.into_iter().map(to_out).collect()))
    }

    /// Revoke an API token.
    ///
    /// Deletes the token: the next request that presents it is refused, on every node.
    #[oai(
        path = "/tokens/:id",
        method = "delete",
        operation_id = "deleteApiToken"
    )]
    async fn delete_token(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The token's id (not its value).
        #[oai(example = "crate::http::api::examples::token_id")]
        id: Path<String>,
    ) -> Result<DeleteTokenResponse, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = id.0;
        let now = state.clock.now_ms();
        state
            .write(move |tx| {
                let gone = store::delete(tx, &id)?;
                let entry = auth
                    .0
                    .did(Action::TokenRevoked, &gone.name)
                    .changing(&audited(&gone), &serde_json::Value::Null);
                db::audit::record(tx, &entry, now)
            })
            .await?;
        Ok(DeleteTokenResponse::Deleted)
    }

    /// Get the caller's access.
    ///
    /// Who the presented token (or the signed-in person) is, as the audit log names it, and
    /// its scopes; for a session, the CSRF token its page sends with changes. Any valid
    /// credential may ask.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentAccess")]
    async fn current_access(
        &self,
        auth: BearerAuth,
    ) -> Result<Json<CurrentAccess>, ApiError<AUTHED>> {
        let principal = auth.0.principal;
        let (credential, token_id, session) = match principal.credential {
            // Nobody is never admitted: an operation that needs a token refused it first.
            // Nor is a run's token or a CI job's: each may only report on its run.
            Credential::Primary
            | Credential::Nobody
            | Credential::Run(..)
            | Credential::CiJob(_) => (CredentialKind::Primary, None, None),
            Credential::Token(id) => (CredentialKind::Token, Some(id), None),
            Credential::Session { id, csrf } => (CredentialKind::Session, None, Some((id, csrf))),
        };
        let (session_id, csrf_token) = session.unzip();
        Ok(Json(CurrentAccess {
            actor: principal.actor,
            scopes: principal.scopes.into_iter().map(TokenScope::of).collect(),
            credential,
            token_id,
            session_id,
            csrf_token,
        }))
    }
}
