//! The browser pages and their assets, embedded in the binary (in debug builds too, so a test
//! of the binary tests what ships).

use poem::endpoint::{EmbeddedFileEndpoint, EmbeddedFilesEndpoint};
use poem::{Endpoint, EndpointExt, Route};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "ui/"]
pub struct Pages;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", EmbeddedFileEndpoint::<Pages>::new("index.html"))
        .nest("/assets", EmbeddedFilesEndpoint::<Assets>::new())
        .with(poem::middleware::SetHeader::new().overriding(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ))
}
