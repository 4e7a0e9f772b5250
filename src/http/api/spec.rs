//! The OpenAPI document as client generators need it. poem-openapi writes it from the code;
//! two things it cannot be told are finished here, in one place:
//! - JSON is declared as `application/json` (poem-openapi keys it `application/json;
//!   charset=utf-8`, which openapi-fetch's JSON helpers and others do not recognise as JSON;
//!   the answers still carry the charset in their header);
//! - an operation that needs no token says `security: []` (poem-openapi leaves the key out,
//!   which linters read as "security not defined"), and one that needs a token lists the
//!   scopes that may call it in `x-scopes`;
//! - an enum's example is its first value (poem-openapi's `Enum` takes none, and an example
//!   beside a parameter's `$ref` would wrap it in an `allOf`).

use serde_json::Value;

const POEM_JSON: &str = "application/json; charset=utf-8";
const JSON: &str = "application/json";

/// The finished document, pretty-printed as poem-openapi prints it.
pub fn finish(spec: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (method, operation) in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|ops| ops.iter_mut())
            .filter_map(|(method, op)| Some((method.clone(), op.as_object_mut()?)))
        {
            operation
                .entry("security")
                .or_insert_with(|| Value::Array(vec![]));
            declare_scopes(&method, operation);
            allow_sessions(operation);
            if let Some(content) = operation
                .get_mut("requestBody")
                .and_then(|b| b.get_mut("content"))
            {
                plain_json(content);
            }
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                for response in responses.values_mut() {
                    if let Some(content) = response.get_mut("content") {
                        plain_json(content);
                    }
                }
            }
        }
    }
    if let Some(schemes) = doc["components"]["securitySchemes"].as_object_mut() {
        schemes.insert(
            SESSION_SCHEME.into(),
            serde_json::json!({
                "type": "apiKey",
                "in": "cookie",
                "name": crate::domain::sso::COOKIE,
                "description": "A person signed in to the pages with single sign-on (the cookie is `__Host-provenant_session` when the pages are served over https). Every change also needs the session's CSRF token (`csrfToken` of getCurrentAccess) in the X-CSRF-Token header, from the same origin.",
            }),
        );
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut().filter_map(Value::as_object_mut) {
            let first = schema.get("enum").and_then(|values| values.get(0)).cloned();
            if let Some(first) = first {
                schema.entry("example").or_insert(first);
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_string())
}

/// `x-scopes`: the token scopes that may call a secured operation (OpenAPI 3.0 lets only
/// OAuth2 schemes list scopes in `security`), also said in its description for the explorer.
fn declare_scopes(method: &str, operation: &mut serde_json::Map<String, Value>) {
    let secured = operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
        return;
    };
    if !secured {
        return;
    }
    let scopes: Vec<&str> = crate::domain::access::need_of(id, method)
        .scopes()
        .iter()
        .map(|s| s.as_str())
        .collect();
    let said = format!(
        "Token scopes that may call it: {}.",
        scopes
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let description = match operation.get("description").and_then(Value::as_str) {
        Some(text) => format!("{text}\n\n{said}"),
        None => said,
    };
    operation.insert("description".into(), Value::String(description));
    operation.insert(
        "x-scopes".into(),
        Value::Array(scopes.into_iter().map(Value::from).collect()),
    );
}

/// The session cookie of the pages' single sign-on, as the other way to call a secured
/// operation. Declared here rather than as a poem-openapi scheme: the guard admits sessions
/// (and checks their CSRF token) before any handler, as it does tokens.
const SESSION_SCHEME: &str = "SessionCookie";

fn allow_sessions(operation: &mut serde_json::Map<String, Value>) {
    if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut)
        && !security.is_empty()
    {
        security.push(serde_json::json!({ SESSION_SCHEME: [] }));
    }
}

fn plain_json(content: &mut Value) {
    if let Some(map) = content.as_object_mut()
        && let Some(schema) = map.remove(POEM_JSON)
    {
        map.insert(JSON.to_string(), schema);
    }
}

/// The explorer's page with the finished document in it (poem-openapi's page embeds the
/// document it wrote, verbatim).
pub fn explorer_html(raw_html: &str, raw_spec: &str, finished: &str) -> String {
    // With the pages' icon, or the browser asks for a /favicon.ico of its own.
    raw_html.replace(raw_spec, finished).replacen(
        "<title>Swagger UI</title>",
        "<title>API explorer · Provenant</title>\n    <link rel=\"icon\" href=\"/assets/icons/logo.svg\" type=\"image/svg+xml\">",
        1,
    )
}
