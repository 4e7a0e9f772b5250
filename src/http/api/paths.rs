//! What the spec knows about the API's paths, used where poem does not: `Allow` on 405 answers
//! (RFC 9110 §15.5.6), and the real name of a path parameter that failed to parse (poem-openapi
//! calls them `param0`, `param1` …). Read from the generated spec, so it cannot disagree with
//! the routes.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::base::error::AppError;

pub struct ApiPaths {
    /// Path templates split into segments (the parameter's name for a `{param}`, marked
    /// `Param`), with their `Allow` value.
    routes: Vec<(Vec<Segment>, HeaderValue)>,
    /// Each route's operations, by upper-case method, in the order of `routes`.
    operations: Vec<Vec<(String, Operation)>>,
}

/// What the spec says of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: String,
    /// Whether it needs a token (its `security` is not empty).
    pub secured: bool,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Fixed(String),
    Param(String),
}

impl ApiPaths {
    pub fn from_spec(spec: &serde_json::Value) -> ApiPaths {
        let mut operations = Vec::new();
        let routes = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, ops)| {
                let ops = ops.as_object()?;
                let mut methods: Vec<String> = ops.keys().map(|m| m.to_ascii_uppercase()).collect();
                methods.sort();
                let these = ops
                    .iter()
                    .map(|(method, op)| {
                        let operation = Operation {
                            id: op["operationId"].as_str().unwrap_or_default().to_string(),
                            secured: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                        };
                        (method.to_ascii_uppercase(), operation)
                    })
                    .collect();
                let segments = segments(path)
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_string()),
                            None => Segment::Fixed(s.to_string()),
                        },
                    )
                    .collect();
                let allow = HeaderValue::from_str(&methods.join(", ")).ok()?;
                operations.push(these);
                Some((segments, allow))
            })
            .collect();
        ApiPaths { routes, operations }
    }

    /// The operation a request for `path` under `/api` with `method` calls, if any.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let index = self.route_index(path)?;
        self.operations[index]
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, op)| op)
    }

    /// The route a path under `/api` (e.g. `/integrations/42`) matches. Fixed segments
    /// win over parameters (`/integrations/webhook/…` is not `/integrations/{id}/…`).
    fn route(&self, path: &str) -> Option<&(Vec<Segment>, HeaderValue)> {
        self.route_index(path).map(|i| &self.routes[i])
    }

    fn route_index(&self, path: &str) -> Option<usize> {
        let wanted: Vec<&str> = segments(path).collect();
        let fits = |template: &Vec<Segment>| {
            template.len() == wanted.len()
                && template.iter().zip(&wanted).all(|(t, w)| match t {
                    Segment::Fixed(f) => f == w,
                    Segment::Param(_) => true,
                })
        };
        let fixed = |template: &Vec<Segment>| {
            template
                .iter()
                .filter(|s| matches!(s, Segment::Fixed(_)))
                .count()
        };
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, (template, _))| fits(template))
            .max_by_key(|(_, (template, _))| fixed(template))
            .map(|(i, _)| i)
    }

    /// The `Allow` value for a path under `/api`.
    pub fn allow(&self, path: &str) -> Option<&HeaderValue> {
        self.route(path).map(|(_, allow)| allow)
    }

    /// The name of the `index`-th parameter of the route `path` matches.
    pub fn param_name(&self, path: &str, index: usize) -> Option<&str> {
        let (template, _) = self.route(path)?;
        template
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(name.as_str()),
                Segment::Fixed(_) => None,
            })
            .nth(index)
    }
}

pub fn api_path(req: &Request) -> String {
    req.original_uri()
        .path()
        .strip_prefix("/api")
        .unwrap_or("")
        .to_string()
}

/// Turns a path parameter that failed to parse into the 422 every refused value gets, named
/// as the spec names it.
pub async fn name_path_errors<E: Endpoint>(
    paths: Arc<ApiPaths>,
    next: E,
    req: Request,
) -> poem::Result<Response> {
    let path = api_path(&req);
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => match err.downcast_ref::<poem_openapi::error::ParsePathError>() {
            Some(e) => {
                let index = e
                    .name
                    .strip_prefix("param")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let field = paths.param_name(&path, index).unwrap_or(e.name);
                Err(AppError::invalid(field, super::param_reason(&e.reason)).into())
            }
            None => Err(err),
        },
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Adds `Allow` to every 405 answer of the API.
pub async fn add_allow_header<E: Endpoint>(
    paths: Arc<ApiPaths>,
    next: E,
    req: Request,
) -> poem::Result<Response> {
    let path = api_path(&req);
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = paths.allow(&path)
    {
        resp.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_with_parameters_find_their_methods() {
        let paths = ApiPaths::from_spec(&json!({"paths": {
            "/integrations": {"get": {}, "post": {}},
            "/integrations/{id}": {"get": {}, "patch": {}, "delete": {}},
            "/integrations/{id}/events/{event_id}": {"get": {}},
            "/integrations/webhook/{integration_id}": {"post": {}},
        }}));
        let allow = |p: &str| {
            paths
                .allow(p)
                .map(|v| v.to_str().unwrap_or_default().to_string())
        };
        assert_eq!(
            allow("/integrations/abc").as_deref(),
            Some("DELETE, GET, PATCH")
        );
        assert_eq!(allow("/integrations").as_deref(), Some("GET, POST"));
        assert_eq!(allow("/integrations/webhook/x").as_deref(), Some("POST"));
        assert!(paths.allow("/nothing/here").is_none());
        assert_eq!(
            paths.param_name("/integrations/a/events/b", 1),
            Some("event_id")
        );
        assert_eq!(
            paths.param_name("/integrations/webhook/x", 0),
            Some("integration_id")
        );
    }
}
