//! The browser pages and their assets, embedded in the binary (in debug builds too, through
//! rust-embed's `debug-embed`, so a test of the binary tests what ships).
//!
//! Pages are static HTML shells; their JavaScript modules call the JSON API. A strict
//! Content-Security-Policy forbids inline script and any other origin.

use poem::endpoint::{EmbeddedFileEndpoint, EmbeddedFilesEndpoint};
use poem::{Endpoint, EndpointExt, Route};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "ui/"]
pub struct Pages;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

fn page(file: &str) -> EmbeddedFileEndpoint<Pages> {
    EmbeddedFileEndpoint::<Pages>::new(file)
}

pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", page("index.html"))
        .at("/signin", page("signin.html"))
        .at("/integrations/new", page("new.html"))
        .at("/integrations/:id", page("integration.html"))
        .at("/secrets", page("secrets.html"))
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
