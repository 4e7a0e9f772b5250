//! The browser pages and their assets, embedded in the binary (in debug builds too, through
//! rust-embed's `debug-embed`, so a test of the binary tests what ships).
//!
//! Pages are static HTML shells; their JavaScript modules call the JSON API. A strict
//! Content-Security-Policy forbids inline script and any other origin.

use poem::endpoint::{EmbeddedFileEndpoint, EmbeddedFilesEndpoint};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, handler};
use rust_embed::RustEmbed;

use sha2::Digest;

use crate::db::{self, integrations};
use crate::domain::hosts;
use crate::domain::integration_config::IntegrationConfig;
use crate::http::state::SharedState;

#[derive(RustEmbed)]
#[folder = "ui/"]
pub struct Pages;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Where a GitHub App manifest is posted when the integration names no `web_url`.
const GITHUB_WEB: &str = "https://github.com";

fn page(file: &str) -> EmbeddedFileEndpoint<Pages> {
    EmbeddedFileEndpoint::<Pages>::new(file)
}

pub fn routes(state: SharedState) -> impl Endpoint {
    Route::new()
        .at(
            "/integrations/:id/github-app",
            poem::get(github_app_page).data(state.clone()),
        )
        .at(
            "/integrations/:id/github-app/grant",
            poem::post(github_app_grant).data(state),
        )
        .nest("/", static_pages())
}

/// The cookie that lets this browser's GitHub App page post to the integration's `web_url`.
const GRANT_COOKIE: &str = "provenant_page_grant";
/// How long a grant lasts: long enough to fill in the form.
const GRANT_FOR_MS: i64 = 10 * 60 * 1000;

/// A grant's MAC: keyed by the API token (the same on every node), over the integration and
/// the grant's end.
fn grant_mac(state: &SharedState, id: &str, until: i64) -> String {
    use hmac::{KeyInit, Mac};
    let key = sha2::Sha256::digest(
        format!("provenant github-app page grant\n{}", state.api_token).as_bytes(),
    );
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key)
        .expect("HMAC takes any key length");
    mac.update(format!("{id}|{until}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `req` carries a live grant for integration `id`'s GitHub App page.
fn granted(state: &SharedState, req: &poem::Request, id: &str) -> bool {
    let now = state.clock.now_ms();
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|cookies| crate::domain::sso::cookie_value(cookies, GRANT_COOKIE))
        .any(|value| {
            let Some((until, mac)) = value.split_once('.') else {
                return false;
            };
            let Ok(until) = until.parse::<i64>() else {
                return false;
            };
            until > now && crate::domain::auth::token_matches(mac, &grant_mac(state, id, until))
        })
}

/// Lets this browser's "Create a GitHub App" page post to the integration's `web_url` for
/// ten minutes: a cookie for that page alone, given to an `admin` (by token or session). Until
/// then the page's policy names no other origin, so nobody who merely knows an integration's
/// id learns from a page where its GitHub lives.
#[handler]
async fn github_app_grant(
    req: &poem::Request,
    Path(id): Path<String>,
    state: Data<&SharedState>,
) -> Response {
    let state = state.0.clone();
    if let Err(e) =
        crate::http::api::guard::admit(&state, req, crate::domain::access::Need::Admin).await
    {
        return e.as_problem();
    }
    let Some(id) = crate::domain::model::parse_id(&id) else {
        return crate::base::error::AppError::NotFound("integration").as_problem();
    };
    let until = state.clock.now_ms() + GRANT_FOR_MS;
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{GRANT_COOKIE}={until}.{}; Path=/integrations/{id}/github-app; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        grant_mac(&state, &id, until),
        GRANT_FOR_MS / 1000
    );
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::SET_COOKIE, cookie)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

/// "Create a GitHub App": the one page whose form goes to another site, GitHub's (the
/// integration's `web_url`), so its policy names that origin in `form-action` and no other:
/// only for a browser an admin's grant was given to (see [`github_app_grant`]).
/// The same page takes GitHub's redirect back, with the `code` and `state` in its query.
#[handler]
async fn github_app_page(
    req: &poem::Request,
    Path(id): Path<String>,
    state: Data<&SharedState>,
) -> Response {
    let Some(html) = Pages::get("github-app.html") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !granted(&state, req, &id) {
        return github_app_html(html.data.into_owned(), CONTENT_SECURITY_POLICY.to_string());
    }
    let web = db::run(&state.pool, move |conn| {
        Ok(
            integrations::find(conn, &id)?.and_then(|i| match i.settings {
                IntegrationConfig::Github(c) => Some(c.web_base()),
                _ => None,
            }),
        )
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| GITHUB_WEB.to_string());
    // A header value of URL characters only; anything else falls back to github.com.
    let origin = hosts::origin(&web)
        .filter(|o| {
            o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
        })
        .unwrap_or_else(|| GITHUB_WEB.to_string());
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    github_app_html(html.data.into_owned(), policy)
}

/// The GitHub App page with its policy.
fn github_app_html(html: Vec<u8>, policy: String) -> Response {
    html.with_content_type("text/html; charset=utf-8")
        .with_header("Content-Security-Policy", policy)
        .with_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // The callback's address carries GitHub's one-time code: never sent on.
        .with_header(header::REFERRER_POLICY, "no-referrer")
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}

fn static_pages() -> impl Endpoint {
    Route::new()
        .at("/", page("index.html"))
        .at("/signin", page("signin.html"))
        // Browsers and tools ask for it on their own, whatever the page links.
        .at(
            "/favicon.ico",
            EmbeddedFileEndpoint::<Assets>::new("icons/logo.svg"),
        )
        .at("/integrations/new", page("new.html"))
        .at("/integrations/:id", page("integration.html"))
        .at("/secrets", page("secrets.html"))
        .at("/tokens", page("tokens.html"))
        .at("/audit", page("audit.html"))
        .at("/settings", page("settings.html"))
        .at("/eval-runs", page("records.html"))
        .at("/deployments", page("records.html"))
        .at("/notifications", page("records.html"))
        .at("/outbox", page("records.html"))
        .nest("/assets", EmbeddedFilesEndpoint::<Assets>::new())
        .with(
            poem::middleware::SetHeader::new()
                .overriding("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                .overriding("X-Content-Type-Options", "nosniff")
                .overriding("Referrer-Policy", "no-referrer")
                // Revalidate every time (cheap: the files carry an ETag), so an upgraded binary
                // never serves a stale script.
                .overriding("Cache-Control", "no-cache"),
        )
}
