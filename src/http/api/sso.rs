//! The browser's round trip through the identity provider: `/auth/sso/start` sends it there
//! with a fresh `state`, `nonce` and PKCE verifier (kept in storage, so any node can finish
//! it), `/auth/sso/callback` takes it back, checks everything and starts a session. A refused
//! sign-in gets a page that says why, a line in the audit log and a count against its
//! address, like a wrong token.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, handler};

use super::guard::caller_of;
use crate::db::{self, sessions, sign_ins};
use crate::domain::access::{Credential, Principal};
use crate::domain::audit::Action;
use crate::domain::sso::{Identity, STATE_COOKIE, cookie_value};
use crate::http::state::SharedState;
use crate::remote::oidc::Provider;

pub fn routes(state: SharedState) -> impl Endpoint {
    Route::new()
        .at("/sso", poem::get(sso_status))
        .at("/sso/start", poem::get(start))
        .at("/sso/callback", poem::get(callback))
        .data(state)
}

/// Whether the sign-in page offers "Sign in with SSO".
#[handler]
async fn sso_status(state: Data<&SharedState>) -> Response {
    poem::web::Json(serde_json::json!({ "enabled": state.sso.is_some() }))
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}

fn random_value() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn query_of(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A page of this server to go back to: a path, never another site (`//host`, `/\host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/signin")
                && path.len() <= 1024
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

fn redirect_uri(state: &SharedState) -> String {
    format!("{}/auth/sso/callback", state.public_url)
}

fn secure(state: &SharedState) -> &'static str {
    if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn now(state: &SharedState) -> i64 {
    state.clock.now_ms()
}

/// The provider, and the time, for a sign-in from `req`: a page instead when SSO is not
/// configured or the address has failed too often.
fn provider_for(state: &SharedState, req: &Request) -> Result<(Arc<Provider>, i64), Box<Response>> {
    let Some(provider) = state.sso.clone() else {
        return Err(Box::new(refused_page(
            StatusCode::NOT_FOUND,
            "single sign-on is not configured here",
        )));
    };
    let now = now(state);
    match state
        .failed_sign_ins
        .refused(crate::http::proxy::client_of(req).ip, now)
    {
        Some(wait) => Err(Box::new(too_many(wait))),
        None => Ok((provider, now)),
    }
}

#[handler]
async fn start(req: &Request, state: Data<&SharedState>) -> Response {
    let state = state.0.clone();
    let (provider, now) = match provider_for(&state, req) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    // Each start is a row until it ends or expires: capped per source and in total, as
    // failed sign-ins are, so no one can fill the disk with them.
    let source = crate::http::proxy::client_of(req).ip;
    if let Some(wait) = state.sign_in_starts.refused(source, now) {
        return too_many(wait);
    }
    state.sign_in_starts.failed(source, now, false);
    let query = query_of(req);
    let next = safe_next(param(&query, "next"));
    let (Ok(sign_in_state), Ok(nonce), Ok(verifier)) =
        (random_value(), random_value(), random_value())
    else {
        return refused_page(StatusCode::SERVICE_UNAVAILABLE, "no randomness available");
    };
    let sign_in = sign_ins::SignIn {
        nonce,
        verifier,
        next_path: next,
    };
    let url = {
        let (uri, s) = (redirect_uri(&state), sign_in.clone());
        let st = sign_in_state.clone();
        tokio::task::spawn_blocking(move || {
            provider.authorize_url(&uri, &st, &s.nonce, &s.verifier)
        })
        .await
        .unwrap_or_else(|e| Err(format!("sign-in task failed: {e}")))
    };
    let url = match url {
        Ok(url) => url,
        Err(why) => {
            tracing::warn!(reason = %why, "single sign-on cannot start");
            return refused_page(StatusCode::BAD_GATEWAY, &why);
        }
    };
    let kept = {
        let st = sign_in_state.clone();
        db::write(&state.pool, &state.write_gate, move |tx| {
            sign_ins::insert(tx, &st, &sign_in, now)
        })
        .await
    };
    if let Err(e) = kept {
        return e.as_problem();
    }
    let max_age = crate::domain::sso::SIGN_IN_TTL_MS / 1000;
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, url)
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            header::SET_COOKIE,
            format!(
                "{STATE_COOKIE}={sign_in_state}; Path=/auth/sso; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
                secure(&state)
            ),
        )
        .finish()
}

#[handler]
async fn callback(req: &Request, state: Data<&SharedState>) -> Response {
    let state = state.0.clone();
    let (provider, now) = match provider_for(&state, req) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let source = crate::http::proxy::client_of(req).ip;
    let query = query_of(req);
    if let Some(error) = param(&query, "error") {
        // The provider's own code (access_denied, …); its description may be anything.
        return refuse(&state, req, "SSO", provider_error(error)).await;
    }
    let (Some(code), Some(sent_state)) = (param(&query, "code"), param(&query, "state")) else {
        return refuse(
            &state,
            req,
            "SSO",
            "the identity provider sent no code or state".into(),
        )
        .await;
    };
    let browser_state = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| cookie_value(c, STATE_COOKIE))
        .unwrap_or_default()
        .to_string();
    if !crate::domain::auth::token_matches(sent_state, &browser_state) {
        return refuse(
            &state,
            req,
            "SSO",
            "the sign-in's state does not match this browser's (start again from the sign-in page)"
                .into(),
        )
        .await;
    }
    let taken = {
        let st = sent_state.to_string();
        db::write(&state.pool, &state.write_gate, move |tx| {
            sign_ins::take(tx, &st, now)
        })
        .await
    };
    let sign_in =
        match taken {
            Ok(Some(s)) => s,
            Ok(None) => {
                return refuse(&state, req, "SSO",
                "this sign-in is unknown, finished or too old (start again from the sign-in page)"
                    .into(),
            ).await;
            }
            Err(e) => return e.as_problem(),
        };
    let identity = {
        let (code, uri, s) = (code.to_string(), redirect_uri(&state), sign_in.clone());
        let provider = provider.clone();
        tokio::task::spawn_blocking(move || {
            provider.sign_in(&code, &uri, &s.verifier, &s.nonce, now)
        })
        .await
        .unwrap_or_else(|e| Err(format!("sign-in task failed: {e}")))
    };
    let identity: Identity = match identity {
        Ok(i) => i,
        Err(why) => return refuse(&state, req, "SSO", why).await,
    };
    let email = identity
        .email
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(role) = crate::domain::sso::role_of(&provider.settings().allowed, &identity) else {
        let who = if email.is_empty() { "SSO" } else { &email };
        let why = if email.is_empty() {
            "the identity provider gave no e-mail address, and no allowed group matches".into()
        } else if !identity.email_verified {
            format!("{email} is not verified by the identity provider")
        } else {
            format!("{email} is not among those allowed to sign in here (--oidc-allowed)")
        };
        return refuse(&state, req, who, why).await;
    };
    let (Ok(value), id) = (random_value(), uuid::Uuid::new_v4().to_string()) else {
        return refused_page(StatusCode::SERVICE_UNAVAILABLE, "no randomness available");
    };
    let settings = provider.settings();
    let lifetime = settings.lifetime;
    // The audit log names a person by a verified address, else by the provider's subject: an
    // unverified address could be anyone's.
    let verified_email = if identity.email_verified {
        email.clone()
    } else {
        String::new()
    };
    let person = crate::domain::sso::person_name(&verified_email, &identity.subject);
    let session = sessions::Session {
        id: id.clone(),
        email: verified_email,
        subject: identity.subject.clone(),
        groups: identity.groups.clone(),
        role,
        source: source.map(|ip| ip.to_string()).unwrap_or_default(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetime.as_millis() as i64,
    };
    let idle = settings.idle.as_millis() as i64;
    let caller = caller_of(
        req,
        Principal {
            actor: person.clone(),
            scopes: vec![role],
            credential: Credential::Session {
                id: id.clone(),
                csrf: String::new(),
            },
        },
    );
    let entry = caller.did(Action::SignIn, &id).changing(
        &serde_json::Value::Null,
        &serde_json::json!({ "role": role.as_str() }),
    );
    let stored = {
        let value = value.clone();
        db::write(&state.pool, &state.write_gate, move |tx| {
            sessions::insert(tx, &session, &value, idle)?;
            db::audit::record(tx, &entry, now)
        })
        .await
    };
    if let Err(e) = stored {
        return e.as_problem();
    }
    tracing::info!(actor = %person, role = %role, "signed in with SSO");
    // Back through the sign-in page, which notes that this tab uses the session.
    let next = format!(
        "/signin?sso=1&next={}",
        form_urlencoded::byte_serialize(sign_in.next_path.as_bytes()).collect::<String>()
    );
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, next)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::SET_COOKIE, session_cookie(&state, &value, lifetime))
        .header(
            header::SET_COOKIE,
            format!(
                "{STATE_COOKIE}=; Path=/auth/sso; Max-Age=0; HttpOnly; SameSite=Lax{}",
                secure(&state)
            ),
        )
        .finish()
}

/// A refused sign-in: counted against its address, in the audit log before the answer, and
/// a page that says why.
async fn refuse(state: &SharedState, req: &Request, who: &str, why: String) -> Response {
    let now = now(state);
    state
        .failed_sign_ins
        .failed(crate::http::proxy::client_of(req).ip, now, false);
    let entry = caller_of(req, Principal::unknown())
        .did(Action::SignInFailed, who)
        .changing(
            &serde_json::Value::Null,
            &serde_json::json!({ "reason": why }),
        );
    if let Err(e) = db::write(&state.pool, &state.write_gate, move |tx| {
        db::audit::record(tx, &entry, now)
    })
    .await
    {
        tracing::warn!(error = %e, "could not record a refused sign-in");
    }
    tracing::info!(reason = %why, "single sign-on refused");
    refused_page(StatusCode::FORBIDDEN, &why)
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Lax (no other site's form or
/// script sends it with a change), Secure when the pages are served over https.
pub fn session_cookie(state: &SharedState, value: &str, lifetime: Duration) -> String {
    format!(
        "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        session_cookie_name(state),
        lifetime.as_secs(),
        secure(state)
    )
}

/// `__Host-provenant_session` when the pages are served over https, else `provenant_session`.
fn session_cookie_name(state: &SharedState) -> &'static str {
    crate::domain::sso::cookie_name(state.public_url.starts_with("https://"))
}

/// Ends the cookie in the browser (the session's row is gone already).
pub fn cleared_cookie(state: &SharedState) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        session_cookie_name(state),
        secure(state)
    )
}

/// What the provider's `error` says, when it is an OAuth error code (RFC 6749 4.1.2.1):
/// anyone can send a link to the callback with any text in it, and the page repeats none.
fn provider_error(error: &str) -> String {
    let code = !error.is_empty()
        && error.len() <= 64
        && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if code {
        format!("the identity provider said `{error}`")
    } else {
        "the identity provider sent an error".into()
    }
}

fn too_many(wait: u64) -> Response {
    let mut page = refused_page(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many failed sign-ins from this address; try again in {wait} seconds"),
    );
    if let Ok(value) = wait.to_string().parse() {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page a refused sign-in lands on: the reason, and the way back.
fn refused_page(status: StatusCode, why: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in refused · Provenant</title>\
         <link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body><main class=\"signin\"><h1>Sign-in refused</h1>\
         <p id=\"sso-reason\">{}</p>\
         <p><a href=\"/signin\">Back to the sign-in page</a></p></main></body></html>\n",
        escape(why)
    );
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(
            "Content-Security-Policy",
            crate::http::ui::CONTENT_SECURITY_POLICY,
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CACHE_CONTROL, "no-store")
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_server_are_gone_back_to() {
        assert_eq!(
            safe_next(Some("/integrations/x?a=1")),
            "/integrations/x?a=1"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/signin",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
