use provenant::db::sql::params;
use serde_json::{Value, json};

use crate::helpers::{TOKEN, TestApp, now_ms, raw_http};

#[test]
fn each_of_the_four_types_can_be_created_and_read_back() {
    let app = TestApp::spawn();
    let configs = [
        (
            "GITHUB",
            json!({"repo": "my-org/my-agent-repo", "branch": "main", "token": "ghp_xxxx"}),
        ),
        (
            "GITLAB",
            json!({"project_id": "12345", "branch": "main", "token": "glpat-xxxx"}),
        ),
        (
            "SLACK",
            json!({"webhook_url": "https://hooks.slack.com/services/T/B/x", "channel": "#agent-alerts", "username": "Provenant Bot"}),
        ),
        (
            "WEBHOOK",
            json!({"description": "Production monitoring webhook", "events": ["drift.critical", "violation.high"]}),
        ),
    ];
    for (kind, config) in configs {
        let created = app.create_integration(kind, config.clone());
        let id = created["id"].as_str().expect("id");
        assert_eq!(created["type"], kind);
        assert_eq!(created["isActive"], true);
        assert_eq!(
            created["webhookUrl"],
            format!("{}/api/integrations/webhook/{id}", app.address)
        );
        assert!(created["createdAt"].as_str().expect("time").ends_with('Z'));
        // UUIDv4: 122 random bits.
        let uuid = uuid_parts(id);
        assert_eq!(uuid.0, 4, "{id} is not a v4 UUID");

        let read = app.get(&format!("/api/integrations/{id}"));
        assert_eq!(read.status, 200);
        assert_eq!(read.json()["name"], format!("Test {kind}"));
    }
    let list = app.get("/api/integrations").json();
    assert_eq!(list.as_array().expect("list").len(), 4);
    // Tokens are masked in the list view.
    assert_eq!(list[0]["config"]["token"], "***");
    assert_eq!(list[0]["config"]["repo"], "my-org/my-agent-repo");
    assert_eq!(list[1]["config"]["token"], "***");
}

fn uuid_parts(id: &str) -> (u32,) {
    assert_eq!(id.len(), 36, "{id}");
    let version = id
        .chars()
        .nth(14)
        .and_then(|c| c.to_digit(16))
        .expect("version digit");
    (version,)
}

#[test]
fn github_defaults_its_branch_to_main() {
    let app = TestApp::spawn();
    let created = app.create_integration("GITHUB", json!({"repo": "a/b"}));
    assert_eq!(created["config"]["branch"], "main");
}

#[test]
fn sensitive_values_are_masked_at_any_depth() {
    let app = TestApp::spawn();
    let created = app.create_integration(
        "WEBHOOK",
        json!({"login": {"clientSecret": "x"}, "list": [{"API_TOKEN": "y"}], "plain": "z"}),
    );
    let id = created["id"].as_str().expect("id");
    for body in [
        created.clone(),
        app.get(&format!("/api/integrations/{id}")).json(),
    ] {
        assert_eq!(body["config"]["login"]["clientSecret"], "***");
        assert_eq!(body["config"]["list"][0]["API_TOKEN"], "***");
        assert_eq!(body["config"]["plain"], "z");
    }
    let list = app.get("/api/integrations").text;
    assert!(!list.contains("\"x\"") && !list.contains("\"y\""), "{list}");
}

#[test]
fn patching_with_the_mask_keeps_the_stored_secret() {
    let app = TestApp::spawn();
    let created = app.create_integration(
        "GITHUB",
        json!({"repo": "a/b", "token": "ghp_real", "auth": {"clientSecret": "deep"}}),
    );
    let id = created["id"].as_str().expect("id");
    // A UI round trip: read masked, change the name, send the masked config back.
    let mut config = created["config"].clone();
    config["branch"] = json!("release");
    let patched = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"name": "Renamed", "config": config}),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json()["name"], "Renamed");
    assert_eq!(patched.json()["config"]["token"], "***");

    let stored = app.stored_config(id);
    let stored: Value = serde_json::from_str(&stored).expect("json");
    // Kept, and sealed at rest as when it was first stored.
    assert_eq!(
        app.open_stored(id, "config.token", &stored["token"]),
        "ghp_real"
    );
    assert_eq!(
        app.open_stored(
            id,
            "config.auth.clientSecret",
            &stored["auth"]["clientSecret"]
        ),
        "deep"
    );
    assert_eq!(stored["branch"], "release");
}

#[test]
fn a_mask_with_nothing_stored_behind_it_is_refused() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"repo": "a/b"}));
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": "a/b", "token": "***"}}),
    );
    assert_eq!(reply.problem(409)["field"], "config.token");
}

#[test]
fn every_validation_failure_is_a_422_naming_its_field() {
    let app = TestApp::spawn();
    let long_name = "n".repeat(201);
    let big = "x".repeat(70 * 1024);
    let cases = [
        (json!({"type": "JIRA", "name": "x", "config": {}}), "type"),
        (json!({"name": "x", "config": {}}), "type"),
        (json!({"type": "WEBHOOK", "config": {}}), "name"),
        (
            json!({"type": "WEBHOOK", "name": "   ", "config": {}}),
            "name",
        ),
        (
            json!({"type": "WEBHOOK", "name": long_name, "config": {}}),
            "name",
        ),
        (json!({"type": "WEBHOOK", "name": "x"}), "config"),
        (
            json!({"type": "WEBHOOK", "name": "x", "config": [1]}),
            "config",
        ),
        (
            json!({"type": "WEBHOOK", "name": "x", "config": {"big": big}}),
            "config",
        ),
        (
            json!({"type": "GITHUB", "name": "x", "config": {}}),
            "config.repo",
        ),
        (
            json!({"type": "GITHUB", "name": "x", "config": {"repo": "nope"}}),
            "config.repo",
        ),
        (
            json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "token": 5}}),
            "config.token",
        ),
        (
            json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "api_url": "api.github.com"}}),
            "config.api_url",
        ),
        (
            json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "branch": ""}}),
            "config.branch",
        ),
        (
            json!({"type": "GITLAB", "name": "x", "config": {}}),
            "config.project_id",
        ),
        (
            json!({"type": "GITLAB", "name": "x", "config": {"project_id": "no path"}}),
            "config.project_id",
        ),
        // (An empty SLACK config is accepted, with a warning: it can still receive Slack's
        // own requests; see slack_threads.rs.)
        (
            json!({"type": "SLACK", "name": "x", "config": {"bot_token": 5}}),
            "config.bot_token",
        ),
        (
            json!({"type": "SLACK", "name": "x", "config": {"webhook_url": "not-a-url"}}),
            "config.webhook_url",
        ),
        (
            json!({"type": "SLACK", "name": "x", "config": {"webhook_url": "https://h/x", "events": "all"}}),
            "config.events",
        ),
        (
            json!({"type": "WEBHOOK", "name": "x", "config": {"events": [1]}}),
            "config.events[0]",
        ),
        (
            json!({"type": "WEBHOOK", "name": "x", "config": {"secret": {"a": 1}}}),
            "config.secret",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post_json("/api/integrations", &body);
        let problem = reply.problem(422);
        assert_eq!(problem["field"], field, "for {body}: {problem}");
        assert_eq!(problem["code"], "validation_failed");
    }
    // The unknown-type message lists the valid values.
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "JIRA", "name": "x", "config": {}}),
    );
    let detail = reply.json()["detail"].as_str().expect("detail").to_string();
    for kind in ["GITHUB", "GITLAB", "SLACK", "WEBHOOK"] {
        assert!(detail.contains(kind), "{detail}");
    }
    assert_eq!(app.integration_count(), 0);
}

#[test]
fn patch_validates_too() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"repo": "a/b"}));
    let path = format!("/api/integrations/{id}");
    assert_eq!(
        app.patch_json(&path, &json!({"name": ""})).problem(422)["field"],
        "name"
    );
    // Well-formed for some type, wrong for this integration's: a conflict with what it is.
    assert_eq!(
        app.patch_json(&path, &json!({"config": {"repo": "x"}}))
            .problem(409)["field"],
        "config.repo"
    );
    // Wrong for every type: malformed.
    assert_eq!(
        app.patch_json(&path, &json!({"config": {"repo": "x", "events": 5}}))
            .problem(422)["field"],
        "config.repo"
    );
    let reply = app.patch_json(&path, &json!({"isActive": "no"}));
    assert_eq!(reply.problem(422)["field"], "isActive");
}

#[test]
fn a_patch_may_name_the_integrations_own_type_but_no_other() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"repo": "a/b"}));
    let path = format!("/api/integrations/{id}");
    let reply = app.patch_json(&path, &json!({"type": "GITHUB", "name": "Renamed"}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["name"], "Renamed");
    // Another type, even with a config valid for it, changes nothing.
    let problem = app
        .patch_json(
            &path,
            &json!({"type": "WEBHOOK", "name": "Hook", "config": {}}),
        )
        .problem(409);
    assert_eq!(problem["field"], "type", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("GITHUB")),
        "{problem}"
    );
    let now = app.get(&path).json();
    assert_eq!(now["type"], "GITHUB");
    assert_eq!(now["name"], "Renamed");
    // Not a type at all: malformed.
    let reply = app.patch_json(&path, &json!({"type": "FTP"}));
    assert_eq!(reply.problem(422)["field"], "type");
    // Without a type, as before.
    let reply = app.patch_json(&path, &json!({"isActive": false}));
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn unknown_and_malformed_ids_are_404() {
    let app = TestApp::spawn();
    for path in [
        "/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
        "/api/integrations/not-an-id",
    ] {
        app.get(path).problem(404);
        app.delete(path).problem(404);
        app.patch_json(path, &json!({"name": "x"})).problem(404);
    }
}

#[test]
fn a_missing_or_wrong_token_is_401() {
    let app = TestApp::spawn();
    for token in [None, Some("wrong-token-0123456789"), Some("")] {
        for (method, path) in [
            ("GET", "/api/integrations"),
            ("POST", "/api/integrations"),
            (
                "GET",
                "/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
            ),
            (
                "GET",
                "/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e/events",
            ),
        ] {
            let reply = app.request(method, path, token, &[], None);
            let problem = reply.problem(401);
            assert_eq!(problem["code"], "unauthorized");
        }
    }
    // A valid token works; the public routes need none.
    assert_eq!(
        app.request("GET", "/api/integrations", Some(TOKEN), &[], None)
            .status,
        200
    );
    assert_eq!(
        app.request("GET", "/api/health", None, &[], None).status,
        200
    );
    assert_eq!(
        app.request("GET", "/api/openapi.json", None, &[], None)
            .status,
        200
    );
    assert_eq!(app.request("GET", "/api/docs", None, &[], None).status, 200);
}

#[test]
fn malformed_json_and_wrong_content_types_are_problem_documents() {
    let app = TestApp::spawn();
    let json = [("content-type", "application/json")];
    app.request(
        "POST",
        "/api/integrations",
        Some(TOKEN),
        &json,
        Some(b"{bad".to_vec()),
    )
    .problem(400);
    app.request(
        "POST",
        "/api/integrations",
        Some(TOKEN),
        &json,
        Some(b"[]".to_vec()),
    )
    .problem(422);
    app.request(
        "POST",
        "/api/integrations",
        Some(TOKEN),
        &[("content-type", "text/plain")],
        Some(b"hello".to_vec()),
    )
    .problem(415);
    app.request("GET", "/api/no-such-route", Some(TOKEN), &[], None)
        .problem(404);
    app.request("PUT", "/api/health", None, &[], None)
        .problem(405);
    // Wrong types inside valid JSON.
    app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": ["x"], "config": {}}),
    )
    .problem(422);
    // A JSON boolean is not a name: refused, never stored as "true".
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "WEBHOOK", "name": true, "config": {}}),
    );
    assert_eq!(reply.problem(422)["field"], "name");
    assert_eq!(app.integration_count(), 0);
}

#[test]
fn oversized_management_bodies_are_413() {
    let app = TestApp::spawn();
    // Announce a 2 MiB body: the answer comes before it is sent.
    let reply = raw_http(
        &app,
        &format!(
            "POST /api/integrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        ),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}

#[test]
fn deleting_removes_the_integration() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let path = format!("/api/integrations/{id}");
    assert_eq!(app.delete(&path).status, 204);
    app.get(&path).problem(404);
    app.delete(&path).problem(404);
}

#[test]
fn data_survives_a_restart_on_the_same_data_folder() {
    let dir = tempfile::tempdir().expect("dir");
    let app = TestApp::spawn_in(dir.path(), |_| {}, Default::default());
    let id = app.create_integration_id("GITHUB", json!({"repo": "a/b", "token": "ghp_keep"}));
    app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"isActive": false}),
    );
    app.stop();

    let app = TestApp::spawn_in(dir.path(), |_| {}, Default::default());
    let read = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(read["config"]["repo"], "a/b");
    assert_eq!(read["isActive"], false);
}

#[test]
fn health_reports_the_database_and_queue() {
    let app = TestApp::spawn();
    let health = app.get("/api/health");
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["queue"]["received"], 0);
    assert_eq!(body["storage"]["writable"], true);
    assert_eq!(body["problems"], json!([]));
}

/// Asks for health (with the token) until it answers `status`, each answer within 4 s.
fn health_until(app: &TestApp, status: u16) -> crate::helpers::Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let started = std::time::Instant::now();
        let health = app.get("/api/health");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(4),
            "answers promptly"
        );
        if health.status == status {
            return health;
        }
        assert!(std::time::Instant::now() < deadline, "{}", health.text);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn health_is_503_while_another_process_holds_the_database_locked() {
    let app = TestApp::spawn();
    let blocker = app.db();
    blocker.hold_writes().expect("take the write lock");
    // The write check runs at most once a second: within a second of the last one, its
    // result stands; then the lock is found, and every answer comes promptly.
    let health = health_until(&app, 503);
    let body = health.json();
    assert_eq!(body["status"], "unavailable");
    // Reading still works: the database is fine, storing is not.
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"]["writable"], false);
    let error = body["storage"]["lastWriteError"].as_str().expect("error");
    assert!(error.contains("locked"), "{error}");
    assert!(body["storage"]["lastWriteErrorAt"].is_string());
    assert!(
        body["problems"][0]
            .as_str()
            .expect("problem")
            .contains("cannot be stored"),
        "{body}"
    );

    blocker.release().expect("release");
    let health = health_until(&app, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["storage"]["writable"], true);
    // The last failure stays visible for whoever looks later.
    assert!(body["storage"]["lastWriteError"].is_string());
}

#[test]
fn health_is_degraded_when_events_wait_too_long_or_a_remote_paused_us() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let event = app.deliver_accepted(&id, &[("content-type", "application/json")], b"{}");
    app.wait_until_idle();
    // The event waits, as if the worker had stopped ten minutes ago.
    let now = now_ms();
    app.db()
        .execute(
            "UPDATE webhook_events SET status = 'RECEIVED', received_at = ?1, next_attempt_at = ?2
             WHERE id = ?3",
            params![now - 600_000, now + 3_600_000, event],
        )
        .expect("age the event");
    let health = app.get("/api/health");
    assert_eq!(health.status, 200, "still storing: {}", health.text);
    let body = health.json();
    assert_eq!(body["status"], "degraded");
    let problem = body["problems"][0].as_str().expect("problem");
    assert!(problem.contains("600 s ago"), "{problem}");
    let age = body["queue"]["oldestReceivedAgeMs"]
        .as_u64()
        .unwrap_or_else(|| panic!("not a whole number of ms: {body}"));
    assert!((600_000..660_000).contains(&age), "{body}");

    app.db()
        .execute(
            "INSERT INTO destinations (destination, paused_until, reason, updated_at)
             VALUES ('slack:x', ?1, 'Slack answered 429', ?2)",
            params![now + 3_600_000, now],
        )
        .expect("pause");
    let body = app.get("/api/health").json();
    let problems = body["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p
            .as_str()
            .is_some_and(|p| p.contains("slack:x is paused") && p.contains("429"))),
        "{body}"
    );
}

#[test]
fn health_is_503_when_the_database_is_unusable() {
    let app = TestApp::spawn();
    // Replace the database's main table with something the health check cannot read.
    let drop = if provenant::db::testing::is_postgres() {
        "DROP TABLE webhook_events CASCADE"
    } else {
        "PRAGMA foreign_keys=OFF; DROP TABLE webhook_events;"
    };
    app.db().execute_batch(drop).expect("break the database");
    let health = app.get("/api/health");
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.json()["status"], "unavailable");
}

#[test]
fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let app = TestApp::spawn();
    let addr = app.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let read_response = |stream: &mut std::net::TcpStream| {
        let mut buf = vec![0u8; 8192];
        let n = std::io::Read::read(stream, &mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Refused before any handler reads the body: 415 (wrong type), then 401 (no token). The
    // body follows its headers a moment later, as it does when it travels in its own packet.
    for (head, body, status) in [
        (
            format!(
                "POST /api/integrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
            ),
            "hello",
            "415",
        ),
        (
            "POST /api/integrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n\r\n"
                .to_string(),
            "{}",
            "401",
        ),
        (
            format!(
                "GET /api/integrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            ),
            "",
            "200",
        ),
    ] {
        std::io::Write::write_all(&mut stream, head.as_bytes()).expect("write");
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::io::Write::write_all(&mut stream, body.as_bytes()).expect("write");
        let response = read_response(&mut stream);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{response}"
        );
    }
}

#[test]
fn unknown_config_keys_are_kept_but_likely_typos_are_named() {
    let app = TestApp::spawn();
    let created = app.create_integration(
        "GITHUB",
        json!({"repo": "a/b", "notes": "owned by the evals team"}),
    );
    assert_eq!(created["config"]["notes"], "owned by the evals team");
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "webhook_secert": "s"}}),
    );
    let problem = reply.problem(422);
    assert_eq!(problem["field"], "config.webhook_secert");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("did you mean `webhook_secret`"),
        "{problem}"
    );
}

#[test]
fn query_values_out_of_bounds_are_422_naming_the_parameter() {
    let app = TestApp::spawn();
    for (path, field) in [
        ("/api/eval-runs?limit=0", "limit"),
        ("/api/deployments?limit=abc", "limit"),
        ("/api/notifications?integrationId=nope", "integrationId"),
        ("/api/eval-runs?cursor=%20", "cursor"),
        ("/api/secrets/lower", "name"),
    ] {
        let reply = if path.starts_with("/api/secrets") {
            app.request(
                "PUT",
                path,
                Some(TOKEN),
                &[("content-type", "application/json")],
                Some(br#"{"value": "x"}"#.to_vec()),
            )
        } else {
            app.get(path)
        };
        assert_eq!(reply.problem(422)["field"], field, "{path}");
    }
}

#[test]
fn null_is_refused_for_typed_fields_and_never_stored() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"events": ["drift.*"]}));
    let path = format!("/api/integrations/{id}");
    let reply = app.patch_json(&path, &json!({"isActive": null}));
    assert_eq!(reply.problem(422)["field"], "isActive");
    let reply = app.patch_json(&path, &json!({"config": {"events": null}}));
    assert_eq!(reply.problem(422)["field"], "config.events");
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "x", "config": {"repo": "a/b", "token": null}}),
    );
    assert_eq!(reply.problem(422)["field"], "config.token");
    // A user's own key may hold null.
    let reply = app.patch_json(&path, &json!({"config": {"note": null}}));
    assert_eq!(reply.status, 200, "{}", reply.text);
}
