//! The committed `openapi.json` must match what the code generates, so every API change shows
//! up in review. To update it: `cargo run -- openapi > openapi.json`.

use crate::helpers::TestApp;

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
