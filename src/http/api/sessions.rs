//! `/api/sessions` and `/api/session`: the people signed in to the pages with single sign-on,
//! listed and revoked by admins, and a person's own sign-out. Either ends the session on the
//! next request, on every node (it is a row in storage).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::errors::{AUTHED, ApiError, NOT_FOUND};
use super::tokens::TokenScope;
use super::{ApiTags, BearerAuth};
use crate::db::{self, sessions as store};
use crate::domain::access::Credential;
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::http::state::SharedState;

pub struct SessionsApi;

/// A person signed in with SSO, with their role from `--oidc-allowed` (`read`, `write` or
/// `admin`); never the cookie's value.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionOut {
    /// The session's id, to revoke it by (not the cookie's value).
    pub id: String,
    /// The person's e-mail address, as the audit log names them.
    pub email: String,
    pub role: TokenScope,
    /// The address they signed in from.
    pub source: String,
    /// When they signed in.
    pub created_at: Timestamp,
    /// Their last request, to the minute.
    pub last_seen_at: Timestamp,
    /// When the session ends however busy it is (`--session-hours`).
    pub expires_at: Timestamp,
}

#[derive(ApiResponse)]
pub enum DeleteSessionResponse {
    /// Revoked: its next request is refused, on every node.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum SignOutResponse {
    /// Signed out (with a token there is no session: nothing changes).
    #[oai(status = 204)]
    SignedOut(
        /// Clears the session cookie, for a session.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

fn to_out(s: store::Session) -> SessionOut {
    SessionOut {
        id: s.id,
        email: s.email,
        role: TokenScope::of(s.role),
        source: s.source,
        created_at: Timestamp(s.created_at),
        last_seen_at: Timestamp(s.last_seen_at),
        expires_at: Timestamp(s.expires_at),
    }
}

fn idle_ms(state: &SharedState) -> i64 {
    state
        .sso
        .as_ref()
        .map(|p| p.settings().idle.as_millis() as i64)
        .unwrap_or(0)
}

#[OpenApi(tag = "ApiTags::Access")]
impl SessionsApi {
    /// List sessions.
    ///
    /// The people signed in to the pages with single sign-on, newest first (none when SSO is
    /// not configured).
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn list_sessions(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<SessionOut>>, ApiError<AUTHED>> {
        let (now, idle) = (state.clock.now_ms(), idle_ms(&state));
        let live = db::run(&state.pool, move |conn| store::list(conn, now, idle)).await?;
        Ok(Json(live.into_iter().map(to_out).collect()))
    }

    /// Revoke a session.
    ///
    /// Ends the session: its next request is refused, on every node, and its person signs in
    /// again.
    #[oai(
        path = "/sessions/:id",
        method = "delete",
        operation_id = "deleteSession"
    )]
    async fn delete_session(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The session's id (as `listSessions` shows it).
        #[oai(example = "crate::http::api::examples::session_id")]
        id: Path<String>,
    ) -> Result<DeleteSessionResponse, ApiError<{ AUTHED | NOT_FOUND }>> {
        let (id, now) = (id.0, state.clock.now_ms());
        state
            .write(move |tx| {
                let gone = store::delete(tx, &id)?;
                let entry = auth.0.did(Action::SessionRevoked, &gone.id).changing(
                    &serde_json::json!({ "email": gone.email }),
                    &serde_json::Value::Null,
                );
                db::audit::record(tx, &entry, now)
            })
            .await?;
        Ok(DeleteSessionResponse::Deleted)
    }

    /// Sign out.
    ///
    /// Ends the caller's own session and clears its cookie. With an API token there is no
    /// session, and nothing changes (a token is revoked with deleteApiToken).
    #[oai(path = "/session", method = "delete", operation_id = "signOut")]
    async fn sign_out(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<SignOutResponse, ApiError<AUTHED>> {
        let Credential::Session { id, .. } = auth.0.principal.credential.clone() else {
            return Ok(SignOutResponse::SignedOut(None));
        };
        let now = state.clock.now_ms();
        let caller = auth.0;
        state
            .write(move |tx| {
                // Gone already (revoked a moment ago): signed out all the same.
                if store::delete(tx, &id).is_ok() {
                    db::audit::record(tx, &caller.did(Action::SignOut, &id), now)?;
                }
                Ok(())
            })
            .await?;
        Ok(SignOutResponse::SignedOut(Some(
            super::sso::cleared_cookie(&state),
        )))
    }
}
