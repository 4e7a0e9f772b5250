//! The OpenAPI document as client generators need it. poem-openapi writes it from the code;
//! two things it cannot be told are finished here, in one place:
//! - JSON is declared as `application/json` (poem-openapi keys it `application/json;
//!   charset=utf-8`, which openapi-fetch's JSON helpers and others do not recognise as JSON;
//!   the answers still carry the charset in their header);
//! - an operation that needs no token says `security: []` (poem-openapi leaves the key out,
//!   which linters read as "security not defined");
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
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|ops| ops.values_mut())
            .filter_map(Value::as_object_mut)
        {
            operation
                .entry("security")
                .or_insert_with(|| Value::Array(vec![]));
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
    raw_html.replace(raw_spec, finished)
}
