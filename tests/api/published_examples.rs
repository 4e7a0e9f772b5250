//! Example values are never real ones: a secret (a key naming one: `webhook_secret`, `secret`,
//! `signing_secret`) holding an example the spec or the docs publish is refused (422, naming
//! the field), since anyone who read them knows it.

use serde_json::{Value, json};

use crate::helpers::*;

fn is_credential_key(key: &str) -> bool {
    provenant::domain::credentials::is_sensitive_key(key) || key == "webhook_url"
}

/// Every string example the served spec gives for a credential: a property whose name says it
/// holds one (`…secret…`, `…token…`, `webhook_url` …), or such a key in an object's example.
/// Each of them, sent as a secret, is refused.
fn credential_examples(spec: &Value) -> Vec<String> {
    fn strings_of(schema: &Value, out: &mut Vec<String>) {
        if let Some(s) = schema["example"].as_str() {
            out.push(s.to_string());
        }
        for alternative in schema["anyOf"].as_array().into_iter().flatten() {
            strings_of(alternative, out);
        }
    }
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (name, schema) in map
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if is_credential_key(name) {
                        strings_of(schema, out);
                    }
                }
                for (key, example) in map
                    .get("example")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let (true, Some(s)) = (is_credential_key(key), example.as_str()) {
                        out.push(s.to_string());
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(spec, &mut out);
    out.retain(|s| !s.starts_with("${secret:") && !s.is_empty());
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_config_holding_a_published_example_as_a_credential_is_refused_naming_the_field() {
    let app = TestApp::spawn();
    // What the form filled in before it was fixed, and what the docs show.
    for (kind, config, field) in [
        (
            "GITHUB",
            json!({"repo": "o/r", "webhook_secret": "choose-a-long-random-string"}),
            "config.webhook_secret",
        ),
        (
            "GITLAB",
            json!({"project_id": 1, "webhook_secret": "choose-a-long-random-string"}),
            "config.webhook_secret",
        ),
        (
            "SLACK",
            json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/real", "signing_secret": "https://hooks.slack.com/services/T000/B000/XXXX"}),
            "config.signing_secret",
        ),
        (
            "GITHUB",
            json!({"repo": "o/r", "webhook_secret": "ghp_xxxx"}),
            "config.webhook_secret",
        ),
        (
            "WEBHOOK",
            json!({"secret": " a-long-random-string "}),
            "config.secret",
        ),
    ] {
        let reply = app.post_json(
            "/api/integrations",
            &json!({"type": kind, "name": "examples", "config": config}),
        );
        let problem = reply.problem(422);
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("example"),
            "{problem}"
        );
    }
    assert_eq!(app.integration_count(), 0);

    // A PATCH is checked the same way.
    let id = app.create_integration_id("WEBHOOK", json!({"secret": "a value of my own, long"}));
    app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"secret": "choose-a-long-random-string"}}),
    )
    .problem(422);

    // Every credential example the served spec publishes is among those refused.
    let spec = app.get("/api/openapi.json").json();
    let examples = credential_examples(&spec);
    assert!(
        examples
            .iter()
            .any(|e| e.starts_with("https://hooks.slack.com/")),
        "{examples:?}"
    );
    for example in examples {
        let reply = app.post_json(
            "/api/integrations",
            &json!({"type": "WEBHOOK", "name": "spec example", "config": {"secret": example}}),
        );
        assert_eq!(
            reply.status, 422,
            "the spec publishes {example:?} for a credential, and the API takes it as a secret"
        );
    }
}
