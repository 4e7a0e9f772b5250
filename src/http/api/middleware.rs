//! Request-wide concerns: body size limits and request logs.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use std::sync::Arc;

use crate::base::error::AppError;
use crate::base::metrics::Metrics;

pub const WEBHOOK_PREFIX: &str = "/api/integrations/webhook/";

/// Refuses bodies over the limit with 413 (before reading them when their length is
/// announced), and buffers the rest: webhook deliveries may be large (GitHub and GitLab send
/// up to 25 MiB), management requests may not.
/// The body of `PATCH /api/eval-runs/{id}`, at most: 1,000 cases with 1 KB messages, names
/// and paths fit with room to spare.
pub const RESULTS_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub struct BodyLimit {
    pub webhook: usize,
    pub api: usize,
    /// Refused deliveries are counted.
    pub metrics: Arc<Metrics>,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            webhook: self.webhook,
            api: self.api,
            metrics: self.metrics.clone(),
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    webhook: usize,
    api: usize,
    metrics: Arc<Metrics>,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let is_delivery = req.original_uri().path().starts_with(WEBHOOK_PREFIX);
        // An eval run's results (up to 1,000 cases of 1 KB each) are the one larger document.
        let is_results = req.method() == poem::http::Method::PATCH
            && req.original_uri().path().starts_with("/api/eval-runs/");
        let limit = match (is_delivery, is_results) {
            (true, _) => self.webhook,
            (false, true) => RESULTS_BODY_LIMIT.max(self.api),
            (false, false) => self.api,
        };
        let too_large = || {
            if is_delivery {
                self.metrics.delivery("unknown", "too_large", None);
            }
            poem::Error::from(AppError::PayloadTooLarge { limit })
        };
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        // Read the whole (bounded) body before any handler runs. A handler that answers
        // without reading it (a 401, a 415, a 404) would otherwise leave bytes on the
        // connection, and hyper would close a connection the client expects to reuse.
        let bytes = req
            .take_body()
            .into_bytes_limit(limit)
            .await
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                other => poem::Error::from(other),
            })?;
        req.set_body(bytes);
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// Logs method, path template (ids replaced by `{id}`), status, latency and the client's
/// address (behind a trusted proxy, the one it names); never query
/// strings, headers or bodies, which may carry tokens.
pub async fn log_requests<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    // Ours, never the caller's: a header from outside could say anything, and the id ties
    // an answer to its log line (and, later, to what it changed).
    let request_id = RequestId(uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(request_id.clone());
    let method = req.method().clone();
    let path = path_template(req.uri().path());
    let client = crate::http::proxy::client_of(&req)
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let started = Instant::now();
    // An error becomes its answer here, as the server would make it, so it carries the id too.
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    if let Ok(value) = poem::http::HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = request_id.0;
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), latency_ms, client, request_id, "request");
    } else {
        tracing::info!(%method, path, status = status.as_u16(), latency_ms, client, request_id, "request");
    }
    Ok(response)
}

/// The answer's header naming its request.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request's id (a random UUID): in its answer's `X-Request-Id` and its log line.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn path_template(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if uuid::Uuid::parse_str(segment).is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_templated_out_of_logged_paths() {
        assert_eq!(
            super::path_template(
                "/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e/events/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5f"
            ),
            "/api/integrations/{id}/events/{id}"
        );
    }
}
