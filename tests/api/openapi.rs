//! The committed `openapi.json` must match what the code generates, so every API change shows
//! up in review. To update it: `cargo run -- openapi > openapi.json`.

use serde_json::json;

use crate::helpers::{TOKEN, TestApp};

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = provenant::api::spec_json();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .unwrap_or_default();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
            format!("{generated}\n"),
        )
        .expect("write openapi.json");
        return;
    }
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi.json is out of date: run `cargo run -- openapi > openapi.json` (or UPDATE_OPENAPI=1 cargo test) and commit it"
    );
}

#[test]
fn the_served_document_declares_bearer_auth_and_documents_operations() {
    let app = TestApp::spawn();
    let spec = app
        .request("GET", "/api/openapi.json", None, &[], None)
        .json();
    let schemes = &spec["components"]["securitySchemes"];
    let bearer = schemes
        .as_object()
        .and_then(|m| m.values().next())
        .expect("a security scheme");
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/integrations"));
    assert!(paths.contains_key("/integrations/webhook/{integration_id}"));
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("ops") {
            let described = op["summary"].is_string() || op["description"].is_string();
            assert!(described, "{method} {path} has no documentation");
        }
    }
    // The receiver and health need no token; the rest do.
    let receiver = &spec["paths"]["/integrations/webhook/{integration_id}"]["post"];
    assert!(receiver.get("security").is_none());
    assert!(spec["paths"]["/integrations"]["get"]["security"].is_array());
}

#[test]
fn every_field_and_parameter_is_documented() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::api::spec_json()).expect("spec is JSON");
    let mut missing = vec![];
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if schema.get("description").is_none() {
            missing.push(name.clone());
        }
        for (prop, value) in schema["properties"].as_object().into_iter().flatten() {
            let documented = value.get("description").is_some()
                || value["allOf"]
                    .as_array()
                    .is_some_and(|all| all.iter().any(|v| v.get("description").is_some()));
            if !documented {
                missing.push(format!("{name}.{prop}"));
            }
        }
    }
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param.get("description").is_none() {
                    missing.push(format!("{method} {path} ?{}", param["name"]));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

#[test]
fn every_operation_documents_the_problems_it_can_answer() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::api::spec_json()).expect("spec is JSON");
    let mut missing = vec![];
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let responses = op["responses"].as_object().expect("responses");
            let mut expected: Vec<&str> = vec![];
            if op.get("security").is_some() {
                expected.extend(["401", "503"]);
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415"]);
            }
            if path.contains('{') && !path.starts_with("/secrets") {
                expected.push("404");
            }
            for status in expected {
                match responses.get(status) {
                    Some(r) if r["content"]["application/problem+json"].is_object() => {}
                    _ => missing.push(format!("{method} {path} {status}")),
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented problems: {missing:?}");
}

#[test]
fn each_integration_type_has_a_documented_config_with_an_example() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::api::spec_json()).expect("spec is JSON");
    let schemas = &spec["components"]["schemas"];
    for (name, required) in [
        ("GithubConfig", "repo"),
        ("GitlabConfig", "project_id"),
        // A webhook URL, or a bot token with a channel: neither key alone is required.
        ("SlackConfig", ""),
        ("WebhookConfig", ""),
    ] {
        let schema = &schemas[name];
        assert!(schema["example"].is_object(), "{name} has no example");
        assert!(
            schema["description"].is_string(),
            "{name} has no description"
        );
        if !required.is_empty() {
            assert!(
                schema["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!(required))),
                "{name} does not require {required}"
            );
        }
    }
    let new = &schemas["NewIntegrationDoc"];
    assert_eq!(new["discriminator"]["propertyName"], "type");
    assert_eq!(new["oneOf"].as_array().map(Vec::len), Some(4));
}

#[test]
fn absent_values_are_left_out_rather_than_sent_as_null() {
    let app = TestApp::spawn();
    let created = app.create_integration("WEBHOOK", json!({}));
    for key in ["lastEventAt", "rejectedDeliveries"] {
        let value = if key == "rejectedDeliveries" {
            &created[key]["lastAt"]
        } else {
            &created[key]
        };
        assert!(value.is_null(), "{key}");
    }
    assert!(
        !created.to_string().contains("null"),
        "a response carries a null: {created}"
    );
    let id = created["id"].as_str().expect("id");
    let page = app.get(&format!("/api/integrations/{id}/events")).json();
    assert!(page.get("nextCursor").is_none(), "{page}");
}

#[test]
fn an_unsupported_method_answers_405_with_allow() {
    let app = TestApp::spawn();
    let reply = app.request("PUT", "/api/integrations", Some(TOKEN), &[], None);
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = app.request(
        "POST",
        "/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
        Some(TOKEN),
        &[],
        None,
    );
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("DELETE, GET, PATCH"));
    let reply = app.request("GET", "/api/integrations/webhook/x", None, &[], None);
    assert_eq!(reply.header("allow"), Some("POST"));
}
