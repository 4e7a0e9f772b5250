//! Secrets: write-only, encrypted at rest, referred to from configs, resolved at use time.

use provenant::db::sql::params;
use serde_json::json;

use crate::fake::FakeRemote;
use crate::helpers::*;

fn put_secret(app: &TestApp, name: &str, value: &str) -> Reply {
    app.request(
        "PUT",
        &format!("/api/secrets/{name}"),
        Some(TOKEN),
        &[("content-type", "application/json")],
        Some(json!({ "value": value }).to_string().into_bytes()),
    )
}

#[test]
fn secrets_are_write_only_and_listed_with_their_users() {
    let app = TestApp::spawn();
    let created = put_secret(&app, "GITHUB_TOKEN", "ghp_super_secret_value");
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains("ghp_super_secret_value"));
    assert_eq!(created.json()["reference"], "${secret:GITHUB_TOKEN}");
    let replaced = put_secret(&app, "GITHUB_TOKEN", "ghp_rotated_value");
    assert_eq!(replaced.status, 200);

    let integration = app.create_integration(
        "GITHUB",
        json!({"repo": "a/b", "token": "${secret:GITHUB_TOKEN}"}),
    );
    // The reference is not secret: it is shown as written.
    assert_eq!(integration["config"]["token"], "${secret:GITHUB_TOKEN}");

    let list = app.get("/api/secrets");
    assert_eq!(list.status, 200);
    assert!(!list.text.contains("ghp_"), "{}", list.text);
    let entry = &list.json()[0];
    assert_eq!(entry["name"], "GITHUB_TOKEN");
    assert_eq!(entry["usedBy"][0]["id"], integration["id"]);
    assert!(entry.get("value").is_none());
}

#[test]
fn secret_values_are_encrypted_in_the_database_file() {
    let app = TestApp::spawn();
    let plaintext = "plaintext-marker-7f3a9c1e5b";
    assert_eq!(put_secret(&app, "MARKER", plaintext).status, 201);
    if provenant::db::testing::is_postgres() {
        // The server's files are PostgreSQL's: the stored row, every column, as bytes.
        let rows: Vec<(String, Vec<u8>, String)> = app
            .db()
            .query_map(
                "SELECT name, value_enc, hosts FROM secrets",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("secrets");
        assert_eq!(rows.len(), 1);
        let (name, sealed, hosts) = &rows[0];
        assert_eq!(name, "MARKER");
        let found = |bytes: &[u8]| {
            bytes
                .windows(plaintext.len())
                .any(|w| w == plaintext.as_bytes())
        };
        assert!(
            !found(sealed) && !found(hosts.as_bytes()),
            "stored in plain text"
        );
        assert!(
            sealed.len() > plaintext.len(),
            "a nonce and a tag around the value"
        );
        return;
    }
    app.stop_and_keep_files(|dir| {
        // The database and its write-ahead log: the row may still sit in either.
        let files: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("provenant.db"))
            })
            .map(|path| std::fs::read(path).expect("read"))
            .collect();
        let contains = |needle: &[u8]| {
            files
                .iter()
                .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        };
        assert!(!contains(plaintext.as_bytes()), "the plaintext is on disk");
        // The secret's name is there, so the search really read the stored row.
        assert!(contains(b"MARKER"));
    });
}

#[test]
fn bad_names_and_values_are_422() {
    let app = TestApp::spawn();
    assert_eq!(
        put_secret(&app, "lower_case", "x").problem(422)["field"],
        "name"
    );
    assert_eq!(
        put_secret(&app, &"A".repeat(65), "x").problem(422)["field"],
        "name"
    );
    assert_eq!(put_secret(&app, "EMPTY", "").problem(422)["field"], "value");
    let reply = app.request(
        "PUT",
        "/api/secrets/NO_VALUE",
        Some(TOKEN),
        &[("content-type", "application/json")],
        Some(b"{}".to_vec()),
    );
    assert_eq!(reply.problem(422)["field"], "value");
    app.request("DELETE", "/api/secrets/MISSING", Some(TOKEN), &[], None)
        .problem(404);
    app.request("GET", "/api/secrets", None, &[], None)
        .problem(401);
}

#[test]
fn a_reference_to_a_missing_secret_is_a_409_naming_the_field() {
    let app = TestApp::spawn();
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "token": "${secret:NOPE}"}}),
    );
    // Well-formed, but the server has no such secret: a conflict with its state.
    let problem = reply.problem(409);
    assert_eq!(problem["field"], "config.token");
    assert!(problem["detail"].as_str().expect("d").contains("NOPE"));

    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"secret": "${secret:NOPE}"}}),
    );
    assert_eq!(reply.problem(409)["field"], "config.secret");
}

#[test]
fn a_secret_in_use_cannot_be_deleted() {
    let app = TestApp::spawn();
    put_secret(&app, "HOOK_SECRET", "s3cret");
    let id = app.create_integration_id("WEBHOOK", json!({"secret": "${secret:HOOK_SECRET}"}));
    let problem = app
        .request("DELETE", "/api/secrets/HOOK_SECRET", Some(TOKEN), &[], None)
        .problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("Test WEBHOOK")
    );
    app.delete(&format!("/api/integrations/{id}"));
    assert_eq!(
        app.request("DELETE", "/api/secrets/HOOK_SECRET", Some(TOKEN), &[], None)
            .status,
        204
    );
}

#[test]
fn references_are_resolved_when_used() {
    let app = TestApp::spawn();
    // Verification uses the referred secret.
    put_secret(&app, "HOOK_SECRET", "first-secret");
    let hook = app.create_integration_id("WEBHOOK", json!({"secret": "${secret:HOOK_SECRET}"}));
    let body = br#"{"type":"drift.high"}"#;
    let sig = github_signature("first-secret", body);
    assert_eq!(
        app.deliver(
            &hook,
            &[
                ("content-type", "application/json"),
                ("x-hub-signature-256", &sig)
            ],
            body
        )
        .status,
        202
    );
    // Rotating the secret takes effect at once, without touching the integration.
    put_secret(&app, "HOOK_SECRET", "second-secret");
    app.deliver(
        &hook,
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &sig),
        ],
        body,
    )
    .problem(401);
    let sig2 = github_signature("second-secret", body);
    assert_eq!(
        app.deliver(
            &hook,
            &[
                ("content-type", "application/json"),
                ("x-hub-signature-256", &sig2)
            ],
            body
        )
        .status,
        202
    );

    // The Slack URL is read from the secret when the message is sent.
    let first = FakeRemote::start();
    let second = FakeRemote::start();
    put_secret(&app, "SLACK_URL", &format!("{}/hook", first.url));
    app.create_integration("SLACK", json!({"webhook_url": "${secret:SLACK_URL}"}));
    let monitor = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    app.deliver(
        &monitor,
        &[("content-type", "application/json")],
        br#"{"type":"drift.critical"}"#,
    );
    first.wait_for(1);
    put_secret(&app, "SLACK_URL", &format!("{}/hook", second.url));
    app.deliver(
        &monitor,
        &[("content-type", "application/json")],
        br#"{"type":"drift.critical"}"#,
    );
    second.wait_for(1);
    assert_eq!(first.requests().len(), 1);
}
