//! Who is calling, and whether they may: every request for an operation that needs a token
//! passes here before its handler. The operation is found in the spec, what it needs in
//! [`access::need_of`], so a route cannot be added without a scope.

use std::sync::Arc;

use poem::http::HeaderMap;
use poem::{Endpoint, IntoResponse, Request, Response};

use super::paths::{ApiPaths, api_path};
use crate::access::{self, Credential, Need, Principal};
use crate::db::{self, tokens};
use crate::error::{AppError, AppResult};
use crate::state::{AppState, SharedState};

/// The prefix of every token made with `POST /api/tokens`.
pub const TOKEN_PREFIX: &str = "prov_";

const NO_TOKEN: &str = "missing or invalid bearer token: send `Authorization: Bearer <token>`";

/// The caller of `headers`: the primary token, a token from `POST /api/tokens` that has not
/// expired, or None. A token that is presented and wrong counts against its source.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    source: Option<std::net::IpAddr>,
) -> AppResult<Option<Principal>> {
    let Some(presented) = crate::auth::bearer_token(headers) else {
        return Ok(None);
    };
    let now = state.settings.clock.now_ms();
    if let Some(retry_after) = state.failed_sign_ins.refused(source, now) {
        return Err(AppError::TooManyRequests { retry_after });
    }
    let found = if crate::auth::token_matches(presented, &state.api_token) {
        Some(Principal::primary())
    } else if presented.starts_with(TOKEN_PREFIX) {
        let value = presented.to_string();
        let token = db::run(&state.pool, move |conn| {
            tokens::find_by_value(conn, &value, now)
        })
        .await?;
        token.map(|t| {
            if t.last_used_at
                .is_none_or(|at| at <= now - tokens::LAST_USED_EVERY_MS)
            {
                note_use(state, t.id.clone(), now);
            }
            Principal {
                actor: t.name,
                scopes: t.scopes,
                credential: Credential::Token(t.id),
            }
        })
    } else {
        None
    };
    if found.is_none() {
        state.failed_sign_ins.failed(source, now);
    }
    Ok(found)
}

/// Keeps `lastUsedAt` without delaying the answer: a failure to note it (storage full, say)
/// is not the caller's.
fn note_use(state: &AppState, id: String, now: i64) {
    let (pool, gate) = (state.pool.clone(), state.write_gate.clone());
    tokio::spawn(async move {
        if let Err(e) = db::write(&pool, &gate, move |tx| tokens::touch(tx, &id, now)).await {
            tracing::debug!(error = %e, "could not note a token's last use");
        }
    });
}

/// The caller of `req` if it meets `need`: 401 without a valid token, 403 naming the scope
/// it lacks.
pub async fn admit(state: &AppState, req: &Request, need: Need) -> AppResult<Principal> {
    let source = crate::proxy::client_of(req).ip;
    let principal = authenticate(state, req.headers(), source)
        .await?
        .ok_or_else(|| AppError::Unauthorized(NO_TOKEN.into()))?;
    if !principal.may(need) {
        let held: Vec<&str> = principal.scopes.iter().map(|s| s.as_str()).collect();
        return Err(AppError::Forbidden {
            needed: need.weakest().to_string(),
            held: format!("; this token has `{}`", held.join(" ")),
        });
    }
    Ok(principal)
}

/// Admits the caller of every operation that needs a token, and keeps who it is in the
/// request for the handler (`BearerAuth`) and the audit log.
pub async fn guard<E: Endpoint>(
    paths: Arc<ApiPaths>,
    next: E,
    mut req: Request,
) -> poem::Result<Response> {
    let path = api_path(&req);
    let need = paths
        .operation(req.method().as_str(), &path)
        .filter(|op| op.secured)
        .map(|op| access::need_of(&op.id, req.method().as_str()));
    if let Some(need) = need {
        let state = req
            .data::<SharedState>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no state")))?;
        let principal = admit(&state, &req, need).await?;
        req.extensions_mut().insert(principal);
    }
    Ok(next.call(req).await?.into_response())
}
