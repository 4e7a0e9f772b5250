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

use crate::db::{self, integrations};
use crate::integration_config::IntegrationConfig;
use crate::remote::hosts;
use crate::state::SharedState;

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
            poem::get(github_app_page).data(state),
        )
        .nest("/", static_pages())
}

/// "Create a GitHub App": the one page whose form goes to another site, GitHub's (the
/// integration's `web_url`), so its policy names that origin in `form-action` and no other.
/// The same page takes GitHub's redirect back, with the `code` and `state` in its query.
#[handler]
async fn github_app_page(Path(id): Path<String>, state: Data<&SharedState>) -> Response {
    let Some(html) = Pages::get("github-app.html") else {
        return StatusCode::NOT_FOUND.into_response();
    };
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
    html.data
        .into_owned()
        .with_content_type("text/html; charset=utf-8")
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
