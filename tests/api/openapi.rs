//! The committed `openapi.json` must match what the code generates, so every API change shows
//! up in review. To update it: `cargo run -- openapi > openapi.json`.

use serde_json::json;

use crate::helpers::{TOKEN, TestApp};

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = provenant::http::api::spec_json();
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
    assert_eq!(receiver["security"], serde_json::json!([]));
    assert_eq!(
        spec["paths"]["/integrations"]["get"]["security"],
        serde_json::json!([{"BearerAuth": []}, {"SessionCookie": []}])
    );
    // The pages' single sign-on session, as the other way in.
    let session = &spec["components"]["securitySchemes"]["SessionCookie"];
    assert_eq!(session["type"], "apiKey");
    assert_eq!(session["in"], "cookie");
    assert_eq!(session["name"], "provenant_session");
}

#[test]
fn every_field_and_parameter_is_documented() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let mut missing = vec![];
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if schema.get("description").is_none() {
            missing.push(name.clone());
        }
        for (prop, value) in schema["properties"].as_object().into_iter().flatten() {
            // A bare `$ref` is documented by the schema it names (which is checked too):
            // words beside a `$ref` would need an `allOf`, which generators stumble on.
            let documented = value.get("description").is_some()
                || value.get("$ref").is_some()
                || value["items"].get("$ref").is_some();
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
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let mut missing = vec![];
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let responses = op["responses"].as_object().expect("responses");
            let mut expected: Vec<&str> = vec![];
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
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
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let schemas = &spec["components"]["schemas"];
    for (name, required) in [
        // `repo` or `repos`: neither key alone is required.
        ("GithubConfig", ""),
        // `project_id` or `group`: neither key alone is required.
        ("GitlabConfig", ""),
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

/// `{"allOf": [{"$ref": …}, {"description": …}]}` (a description beside a reference) makes
/// openapi-python-client drop the whole model ("Cannot take allOf a non-object"): every
/// reference is a bare `$ref`, and its words are on the schema it names or its parent's.
#[test]
fn no_all_of_wraps_a_single_reference() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let mut found = vec![];
    fn walk(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(all) = map.get("allOf").and_then(|a| a.as_array()) {
                    let refs = all.iter().filter(|v| v.get("$ref").is_some()).count();
                    // Anything else in it only annotates (no properties, no type of its own).
                    let only_words = all.iter().filter(|v| v.get("$ref").is_none()).all(|v| {
                        v.as_object().is_some_and(|o| {
                            o.keys().all(|k| {
                                matches!(
                                    k.as_str(),
                                    "description"
                                        | "title"
                                        | "example"
                                        | "default"
                                        | "readOnly"
                                        | "writeOnly"
                                )
                            })
                        })
                    });
                    if refs == 1 && only_words {
                        found.push(at.to_string());
                    }
                }
                for (key, inner) in map {
                    walk(inner, &format!("{at}/{key}"), found);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    walk(&spec, "", &mut found);
    assert!(found.is_empty(), "allOf around one $ref at: {found:#?}");
}

/// Client authors call operations by these names (generated function and method names): a
/// rename is a visible change to every generated client, so it shows here first.
#[test]
fn every_operation_has_its_stable_operation_id() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let mut got: Vec<String> = vec![];
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let id = op["operationId"].as_str().unwrap_or("MISSING");
            got.push(format!("{} {path} {id}", method.to_uppercase()));
            // Generators turn the summary into a one-line doc comment, the description into
            // the rest.
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty() && summary.len() <= 60 && !summary.contains('\n'),
                "{id}: summary {summary:?}"
            );
            assert!(op["description"].is_string(), "{id}: no description");
            assert!(
                op["tags"].as_array().is_some_and(|t| t.len() == 1),
                "{id}: tags"
            );
        }
    }
    got.sort();
    let expected = [
        "DELETE /integrations/{id} deleteIntegration",
        "DELETE /secrets/{name} deleteSecret",
        "DELETE /session signOut",
        "DELETE /sessions/{id} deleteSession",
        "DELETE /tokens/{id} deleteApiToken",
        "GET /alerts listAlerts",
        "GET /audit listAuditEntries",
        "GET /cluster getCluster",
        "GET /deployments listDeployments",
        "GET /doctor checkInstallation",
        "GET /eval-runs listEvalRuns",
        "GET /eval-runs/{id}/results getEvalRunResults",
        "GET /health getHealth",
        "GET /integrations listIntegrations",
        "GET /integrations/{id} getIntegration",
        "GET /integrations/{id}/events listEvents",
        "GET /integrations/{id}/events/{event_id} getEvent",
        "GET /integrations/{id}/installations listInstallations",
        "GET /integrations/{id}/reconcile getReconcileReport",
        "GET /integrations/{id}/rejections listRejections",
        "GET /integrations/{id}/replays/{replay_id} getReplay",
        "GET /integrations/{id}/stats getIntegrationStats",
        "GET /me getCurrentAccess",
        "GET /notifications listNotifications",
        "GET /outbox listOutbox",
        "GET /outbox/destinations listOutboxDestinations",
        "GET /outbox/destinations/{key}/stats getOutboxDestinationStats",
        "GET /secrets listSecrets",
        "GET /sessions listSessions",
        "GET /tokens listApiTokens",
        "PATCH /deployments/{id} updateDeployment",
        "PATCH /eval-runs/{id} updateEvalRun",
        "PATCH /integrations/{id} updateIntegration",
        "POST /integrations createIntegration",
        "POST /integrations/webhook/{integration_id} receiveWebhook",
        "POST /integrations/{id}/dry-run dryRunEvent",
        "POST /integrations/{id}/events/{event_id}/retry retryEvent",
        "POST /integrations/{id}/github-app/conversion completeGithubAppManifest",
        "POST /integrations/{id}/github-app/manifest startGithubAppManifest",
        "POST /integrations/{id}/reconcile reconcileIntegration",
        "POST /integrations/{id}/replay replayEvents",
        "POST /integrations/{id}/rotate-secret rotateSecret",
        "POST /integrations/{id}/test testIntegration",
        "POST /outbox/{id}/retry retryOutboxRow",
        "POST /tokens createApiToken",
        "PUT /secrets/{name} putSecret",
    ];
    assert_eq!(got, expected);
    let mut ids: Vec<&str> = expected
        .iter()
        .filter_map(|e| e.rsplit(' ').next())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected.len(), "operationIds are unique");
    assert!(
        ids.iter().all(
            |id| id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric())
        ),
        "camelCase: {ids:?}"
    );
}

/// What generators and linters read besides the schemas: plain `application/json` media
/// types, `security: []` on the public operations, a licence and a contact, bounds that
/// match their patterns; and the explorer shows the same document as `/api/openapi.json`.
#[test]
fn the_document_is_what_generators_and_linters_expect() {
    let app = TestApp::spawn();
    let served = app.request("GET", "/api/openapi.json", None, &[], None);
    assert_eq!(served.status, 200);
    let spec = served.json();
    assert_eq!(
        spec,
        serde_json::from_str::<serde_json::Value>(&provenant::http::api::spec_json())
            .expect("json")
    );
    assert_eq!(spec["info"]["license"]["name"], "Apache-2.0");
    assert!(spec["info"]["contact"]["name"].is_string());
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: no security"));
            let public = matches!(
                op["operationId"].as_str(),
                Some("getHealth" | "receiveWebhook")
            );
            assert_eq!(security.is_empty(), public, "{method} {path}: {security:?}");
            let mut media: Vec<&String> = op["responses"]
                .as_object()
                .expect("responses")
                .values()
                .filter_map(|r| r["content"].as_object())
                .flat_map(|c| c.keys())
                .collect();
            media.extend(
                op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.keys()),
            );
            assert!(
                media.iter().all(|m| !m.contains("charset")),
                "{method} {path}: {media:?}"
            );
        }
    }
    let ok = &spec["paths"]["/integrations"]["get"]["responses"]["200"]["content"];
    assert!(ok["application/json"].is_object(), "{ok}");
    let name = &spec["paths"]["/secrets/{name}"]["put"]["parameters"][0]["schema"];
    assert_eq!(name["pattern"], "^[A-Z0-9_]{1,64}$");
    assert_eq!(name["maxLength"], 64);
    let explorer = app.request("GET", "/api/docs", None, &[], None);
    assert_eq!(explorer.status, 200);
    assert!(
        explorer
            .text
            .contains("\"operationId\": \"listIntegrations\"")
    );
    assert!(explorer.text.contains("\"security\": []"));
    assert!(!explorer.text.contains("charset=utf-8\": {"));
    // Its icon is there (it used to be a 404), and so is the /favicon.ico browsers ask for.
    assert!(
        explorer
            .text
            .contains(r#"<link rel="icon" href="/assets/icons/logo.svg""#),
        "no icon link"
    );
    for icon in ["/assets/icons/logo.svg", "/favicon.ico"] {
        let got = app.request("GET", icon, None, &[], None);
        assert_eq!(got.status, 200, "{icon}");
        assert_eq!(got.header("content-type"), Some("image/svg+xml"), "{icon}");
    }
}

/// Every time in a body, a parameter or an answer is `format: date-time` (RFC 3339 with a
/// `Z`), so generated clients hand out their language's date-time type, not a string.
#[test]
fn every_time_is_a_date_time() {
    let spec: serde_json::Value =
        serde_json::from_str(&provenant::http::api::spec_json()).expect("spec is JSON");
    let mut strings = vec![];
    let mut times = 0;
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        for (prop, value) in schema["properties"].as_object().into_iter().flatten() {
            let looks_like_a_time = prop.ends_with("At")
                || prop.ends_with("Until")
                || matches!(prop.as_str(), "at" | "from" | "to")
                || value["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("RFC 3339"));
            if !looks_like_a_time {
                continue;
            }
            if value["format"] == "date-time" {
                times += 1;
            } else {
                strings.push(format!("{name}.{prop}"));
            }
        }
    }
    assert!(
        strings.is_empty(),
        "times without format date-time: {strings:?}"
    );
    assert!(times >= 40, "{times}");
}
