//! Who is calling, and whether they may: every request for an operation that needs a token
//! passes here before its handler. The operation is found in the spec, what it needs in
//! [`access::need_of`], so a route cannot be added without a scope.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response};

use super::middleware::RequestId;
use super::paths::{ApiPaths, api_path};
use crate::base::error::{AppError, AppResult};
use crate::db::{self, run_tokens, runs, sessions, tokens};
use crate::domain::access::{self, Credential, Need, Principal, RUN_TOKEN_PREFIX};
use crate::domain::audit::{Action, Caller};
use crate::domain::ci_jobs::{self, CiJob};
use crate::domain::model::RunKind;
use crate::domain::sso;
use crate::http::state::{AppState, SharedState};

/// The prefix of every token made with `POST /api/tokens`.
pub const TOKEN_PREFIX: &str = "prov_";

const NO_TOKEN: &str = "missing or invalid bearer token: send `Authorization: Bearer <token>` (or sign in to the pages again)";

/// The caller of `req`: the primary token, a token from `POST /api/tokens` that has not
/// expired, a live SSO session (when no token is sent), or None. A token that is presented
/// and wrong counts against its source.
pub async fn authenticate(state: &AppState, req: &Request) -> AppResult<Option<Principal>> {
    let source = crate::http::proxy::client_of(req).ip;
    let now = state.clock.now_ms();
    let Some(presented) = crate::domain::auth::bearer_token(req.headers()) else {
        return session_of(state, req, now).await;
    };
    if let Some(retry_after) = state.failed_sign_ins.refused(source, now) {
        return Err(AppError::TooManyRequests { retry_after });
    }
    let found = if crate::domain::auth::token_matches(presented, &state.api_token) {
        Some(Principal::primary())
    } else if ci_jobs::looks_like_jwt(presented) {
        let (issuers, token) = (state.ci_issuers.clone(), presented.to_string());
        let audience = state.public_url.clone();
        let verified = tokio::task::spawn_blocking(move || issuers.verify(&token, &audience, now))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("verifying a CI token: {e}")))?;
        match verified {
            Ok(job) => Some(Principal {
                actor: job.actor(),
                scopes: vec![],
                credential: Credential::CiJob(job),
            }),
            // Why, for the job's log: it is about the token the caller holds.
            Err(why) => {
                state.failed_sign_ins.failed(source, now, true);
                return Err(AppError::Unauthorized(format!(
                    "{why}; a CI job reports with an OIDC token for this server's public URL"
                )));
            }
        }
    } else if presented.starts_with(RUN_TOKEN_PREFIX) {
        let value = presented.to_string();
        let run = db::run(&state.pool, move |conn| {
            run_tokens::run_of(conn, &value, now)
        })
        .await?;
        run.map(|(kind, run_id)| Principal {
            actor: format!("{} {run_id}", kind.what()),
            scopes: vec![],
            credential: Credential::Run(kind, run_id),
        })
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
        // Audited with its minute's count when the minute ends (`audit_failed_sign_ins`).
        state.failed_sign_ins.failed(source, now, true);
    }
    Ok(found)
}

/// The person whose session cookie `req` carries, while the session lives. An ended session
/// is not a failed sign-in: the page asks its person to sign in again.
async fn session_of(state: &AppState, req: &Request, now: i64) -> AppResult<Option<Principal>> {
    let Some(sso) = &state.sso else {
        return Ok(None);
    };
    let Some(value) = req
        .headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookies| {
            sso::cookie_value(
                cookies,
                sso::cookie_name(state.public_url.starts_with("https://")),
            )
        })
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let idle = sso.settings().idle.as_millis() as i64;
    let csrf = sso::csrf_token(&value);
    let found = db::run(&state.pool, move |conn| {
        sessions::find_by_value(conn, &value, now, idle)
    })
    .await?;
    let Some(session) = found else {
        return Ok(None);
    };
    // The access rules are checked again on every request (they are in memory): a session
    // the current `--oidc-allowed` no longer admits ends now, not when it runs out; one whose
    // role changed takes the new role.
    let identity = sso::Identity {
        subject: session.subject.clone(),
        email: (!session.email.is_empty()).then(|| session.email.clone()),
        email_verified: true,
        groups: session.groups.clone(),
    };
    let Some(role) = sso::role_of(&sso.settings().allowed, &identity) else {
        let id = session.id.clone();
        if let Err(e) = db::write(&state.pool, &state.write_gate, move |tx| {
            sessions::delete(tx, &id)
        })
        .await
        {
            tracing::warn!(error = %e, "could not end a session its rules no longer admit");
        }
        return Ok(None);
    };
    // Noted before the answer (at most once a minute): the idle end depends on it.
    if session.last_seen_at <= now - sessions::LAST_SEEN_EVERY_MS {
        let id = session.id.clone();
        if let Err(e) = db::write(&state.pool, &state.write_gate, move |tx| {
            sessions::touch(tx, &id, now)
        })
        .await
        {
            tracing::warn!(error = %e, "could not note a session's last request");
        }
    }
    Ok(Some(Principal {
        actor: sso::person_name(&session.email, &session.subject),
        scopes: vec![role],
        credential: Credential::Session {
            id: session.id,
            csrf,
        },
    }))
}

/// A change asked for with a session needs the page's CSRF token and must come from this
/// server's own pages: a cookie alone, which any site can make a browser send, is never
/// enough.
fn check_csrf(state: &AppState, req: &Request, expected: &str) -> AppResult<()> {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(AppError::CsrfRefused(format!(
            "a change with the session cookie must come from this server's pages (Sec-Fetch-Site: {site})"
        )));
    }
    if let Some(origin) = header("origin") {
        let host = header("host").unwrap_or_default();
        let from = crate::domain::hosts::host_of(origin).unwrap_or_default();
        // Behind a proxy that sets its own Host, the public URL names the pages' origin.
        let public = crate::domain::hosts::host_of(&state.public_url).unwrap_or_default();
        if from.is_empty() || (!from.eq_ignore_ascii_case(host) && from != public) {
            return Err(AppError::CsrfRefused(
                "a change with the session cookie must come from this server's pages (Origin is another site)".into(),
            ));
        }
    }
    let sent = header(sso::CSRF_HEADER).unwrap_or_default();
    if !crate::domain::auth::token_matches(sent, expected) {
        return Err(AppError::CsrfRefused(format!(
            "a change with the session cookie needs the page's CSRF token in {}",
            sso::CSRF_HEADER
        )));
    }
    Ok(())
}

/// How often ended minutes of failed sign-ins are written to the audit log.
const AUDIT_FAILURES_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes one audit entry per source and minute of wrong tokens, with their count (nothing of
/// the tokens themselves: one may be a real one mistyped), as each minute ends; at `stop`,
/// the minutes still open too. One entry a minute per source, not one per request: wrong
/// tokens must not be a way to fill the disk.
pub async fn audit_failed_sign_ins(
    state: SharedState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let jumped = Arc::new(tokio::sync::Notify::new());
    {
        let jumped = jumped.clone();
        state.clock.on_jump(move || jumped.notify_one());
    }
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(AUDIT_FAILURES_EVERY) => false,
            _ = jumped.notified() => false,
            _ = stop.changed() => true,
        } || *stop.borrow();
        let now = state.clock.now_ms();
        let ended = state.failed_sign_ins.take_ended(now, stopping);
        if !ended.is_empty() {
            let entries: Vec<_> = ended
                .iter()
                .map(|minute| {
                    Caller {
                        principal: Principal::unknown(),
                        source: crate::http::throttle::source_text(minute.source),
                        request_id: String::new(),
                    }
                    .did(Action::SignInFailed, "API token")
                    .changing(
                        &serde_json::Value::Null,
                        &serde_json::json!({
                            "failures": minute.failures,
                            "from": crate::base::clock::rfc3339(minute.started_at),
                            "until": crate::base::clock::rfc3339(minute.last_at),
                        }),
                    )
                })
                .collect();
            if let Err(e) = db::write(&state.pool, &state.write_gate, move |tx| {
                entries
                    .iter()
                    .try_for_each(|entry| db::audit::record(tx, entry, now))
            })
            .await
            {
                tracing::warn!(error = %e, minutes = ended.len(), "could not record failed sign-ins");
            }
        }
        if stopping {
            return;
        }
    }
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
    let principal = authenticate(state, req)
        .await?
        .ok_or_else(|| AppError::Unauthorized(NO_TOKEN.into()))?;
    if let Credential::Session { csrf, .. } = &principal.credential
        && !req.method().is_safe()
    {
        check_csrf(state, req, csrf)?;
    }
    if let Credential::Run(kind, run_id) = &principal.credential {
        // A runner's token reports on its one run: `PATCH /api/eval-runs/{that run}` (or
        // `/api/deployments/{that deployment}`).
        let own = format!("/{}/{run_id}", kind.path());
        let path = api_path(req);
        let path = path.trim_end_matches('/');
        if req.method() != poem::http::Method::PATCH || !path.eq_ignore_ascii_case(&own) {
            return Err(AppError::Forbidden {
                needed: need.weakest().to_string(),
                held: format!(
                    "; this is a runner's token, which may only report on {} {run_id}",
                    kind.what()
                ),
            });
        }
        return Ok(principal);
    }
    if let Credential::CiJob(job) = &principal.credential {
        if let Err(why) = ci_job_may_report(state, req, job).await? {
            // Anyone can have a token minted for this server from a repository of their own:
            // a refusal counts against its source, and is audited with the failed sign-ins.
            state.failed_sign_ins.failed(
                crate::http::proxy::client_of(req).ip,
                state.clock.now_ms(),
                true,
            );
            return Err(AppError::Forbidden {
                needed: need.weakest().to_string(),
                held: format!(
                    "; this is a CI job's token, which may only report on a run of its repository at its commit: {why}"
                ),
            });
        }
        return Ok(principal);
    }
    if !principal.may(need) {
        let held: Vec<&str> = principal.scopes.iter().map(|s| s.as_str()).collect();
        return Err(AppError::Forbidden {
            needed: need.weakest().to_string(),
            held: match principal.credential {
                Credential::Session { .. } => {
                    format!("; this person's role is `{}`", held.join(" "))
                }
                _ => format!("; this token has `{}`", held.join(" ")),
            },
        });
    }
    Ok(principal)
}

/// Whether a CI job's token may make `req`: a PATCH of an eval run or a deployment of the
/// job's own repository, at the job's commit. The outer error is the database's; the inner,
/// why not.
async fn ci_job_may_report(
    state: &AppState,
    req: &Request,
    job: &CiJob,
) -> AppResult<Result<(), String>> {
    let path = api_path(req);
    let mut parts = path.trim_matches('/').split('/');
    let (Some(collection), Some(raw_id), None) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(Err("it may only PATCH an eval run or a deployment".into()));
    };
    let kind = match collection {
        "eval-runs" => RunKind::EvalRun,
        "deployments" => RunKind::Deployment,
        _ => return Ok(Err("it may only PATCH an eval run or a deployment".into())),
    };
    if req.method() != poem::http::Method::PATCH {
        return Ok(Err("it may only PATCH an eval run or a deployment".into()));
    }
    let Some(id) = crate::domain::model::parse_id(raw_id) else {
        return Ok(Err(format!("there is no {} {raw_id}", kind.what())));
    };
    let subject = db::run(&state.pool, move |conn| {
        let Some(run) = runs::facts(conn, kind, &id)? else {
            return Ok(None);
        };
        let integration = db::integrations::get(conn, &run.integration_id)?;
        Ok(Some((integration.kind, run.repo, run.sha)))
    })
    .await?;
    Ok(match subject {
        Some((forge, repo, sha)) => job.may_report_on(forge, &repo, &sha),
        None => Err(format!("there is no such {}", kind.what())),
    })
}

/// The caller of `req` once admitted: who, from where, and the request's id.
pub fn caller_of(req: &Request, principal: Principal) -> Caller {
    Caller {
        principal,
        source: source_text(req),
        request_id: request_id(req),
    }
}

fn source_text(req: &Request) -> String {
    crate::http::proxy::client_of(req)
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

fn request_id(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default()
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
        if matches!(principal.credential, Credential::Session { .. }) {
            // poem-openapi's bearer scheme (`BearerAuth`) wants the header to be there: the
            // session was admitted above, and its checker reads the caller kept below.
            req.headers_mut().insert(
                poem::http::header::AUTHORIZATION,
                poem::http::HeaderValue::from_static("Bearer session"),
            );
        }
        let caller = caller_of(&req, principal);
        req.extensions_mut().insert(caller);
    }
    Ok(next.call(req).await?.into_response())
}
