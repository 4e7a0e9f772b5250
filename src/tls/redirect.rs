//! `--redirect-http`: a plain HTTP listener whose every answer sends the client to https, on
//! the same host and path; and ACME's HTTP-01 challenges, while an order is open.

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::{Endpoint, Request, Response};

use super::challenges::{Challenges, HTTP_PREFIX};

/// Redirects to `https://<host of the request>[:https_port]<path and query>`.
pub fn endpoint(
    https_port: u16,
    challenges: Option<Arc<Challenges>>,
) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |req: Request| {
        if let Some(token) = req.uri().path().strip_prefix(HTTP_PREFIX)
            && let Some(answer) = challenges.as_ref().and_then(|c| c.http(token))
        {
            return Response::builder()
                .content_type("application/octet-stream")
                .body(answer);
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(host_without_port);
        let Some(host) = host else {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .content_type("text/plain; charset=utf-8")
                .body(
                    "this address serves https only; the request names no host to send you to\n",
                );
        };
        let port = if https_port == 443 {
            String::new()
        } else {
            format!(":{https_port}")
        };
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        // 308 keeps the method and the body: a POST is sent again as a POST.
        Response::builder()
            .status(StatusCode::PERMANENT_REDIRECT)
            .header(header::LOCATION, format!("https://{host}{port}{path}"))
            .content_type("text/plain; charset=utf-8")
            .body("this address serves https only\n")
    })
}

/// `example.com:80` → `example.com`, `[::1]:80` → `[::1]`; None for anything that is not a
/// host name or address (a Location header must not carry what a client wrote into Host).
fn host_without_port(host: &str) -> Option<String> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(format!("[{inside}]"));
    } else {
        host.split(':').next()?
    };
    let fine = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    fine.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_host_names_and_addresses_are_redirected_to() {
        use super::host_without_port as h;
        assert_eq!(
            h("Hooks.Example.com:80").as_deref(),
            Some("hooks.example.com")
        );
        assert_eq!(h("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(h("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(h("evil.com/@x"), None);
        assert_eq!(h("a b"), None);
        assert_eq!(h("[nonsense]"), None);
    }
}
