//! The audit log: a scripted sequence of changes by several tokens is listed once each, in
//! order, with the right actor, masked before/after, the request's id and source; filters and
//! pages; no secret value in the answer or the database; no way to change an entry; retention.

use std::time::{Duration, Instant};

use provenant::base::clock::Clock;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

fn make_token(app: &TestApp, name: &str, scope: &str) -> String {
    app.make_token(name, &[scope])["token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    app.call(method, path, token, body.as_ref())
}

fn ok(reply: Reply) -> Reply {
    assert!(reply.status / 100 == 2, "{} {}", reply.status, reply.text);
    reply
}

/// Every entry, oldest first, following the cursor from page to page.
fn all_entries(app: &TestApp, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/audit?limit=2{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path);
        assert_eq!(page.status, 200, "{}", page.text);
        let page = page.json();
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    out.reverse();
    out
}

/// Each entry's actor (a token's without its id, which each run makes anew) and action.
fn summary(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            let actor = e["actor"].as_str().expect("actor");
            let actor = match actor.split_once('#') {
                Some((name, id)) if actor.starts_with("token:") => {
                    assert!(!id.is_empty(), "{actor}");
                    name
                }
                _ => actor,
            };
            (
                actor.to_string(),
                e["action"].as_str().expect("action").to_string(),
            )
        })
        .collect()
}

fn pair(actor: &str, action: &str) -> (String, String) {
    (actor.to_string(), action.to_string())
}

#[test]
fn each_change_is_listed_once_in_order_by_whoever_made_it_with_nothing_secret() {
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, r#"{"id": 7}"#));
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            |s| s.clock = clock
        },
        Default::default(),
    );
    let admin = make_token(&app, "ops-admin", "admin");
    let writer = make_token(&app, "alice-bot", "write");
    let runs = make_token(&app, "eval-platform", "runs:write");

    let secrets = [
        "ghp_audit_first_9f3e1",
        "ghp_audit_second_4b7d2",
        "xoxb-audit-third-8c1a5",
        "whsec_audit_fourth_2e6f0",
    ];
    // Where an integration's token goes (its api_url) is an admin's to set.
    let created = ok(send(
        &app,
        "POST",
        "/api/integrations",
        &admin,
        Some(json!({"type": "GITHUB", "name": "Main repo", "config": {
            "allow_unverified": true, "repo": REPO, "token": secrets[0], "api_url": github.url,
        }})),
    ))
    .json();
    let gh = created["id"].as_str().expect("id").to_string();
    let hook = ok(send(
        &app,
        "POST",
        "/api/integrations",
        &writer,
        Some(json!({"type": "WEBHOOK", "name": "Monitor", "config": {"secret": secrets[3]}})),
    ))
    .json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut config = created["config"].clone();
    config["token"] = json!(secrets[1]);
    let patched = ok(send(
        &app,
        "PATCH",
        &format!("/api/integrations/{gh}"),
        &writer,
        Some(json!({"config": config})),
    ));
    let patch_request = patched
        .header("x-request-id")
        .expect("X-Request-Id")
        .to_string();
    ok(send(
        &app,
        "PUT",
        "/api/secrets/SLACK_BOT",
        &admin,
        Some(json!({"value": secrets[2]})),
    ));
    let rotated = ok(send(
        &app,
        "POST",
        &format!("/api/integrations/{hook}/rotate-secret"),
        &admin,
        Some(json!({})),
    ))
    .json();
    let new_secret = rotated["secret"].as_str().expect("new secret").to_string();

    let event = app.deliver_accepted(
        &gh,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 3, "main", &"3".repeat(40), false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&gh, &event, &["PROCESSED"]);
    app.wait_until_idle();
    let run = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("run")
        .to_string();
    ok(send(
        &app,
        "PATCH",
        &format!("/api/eval-runs/{run}"),
        &runs,
        Some(json!({"status": "RUNNING"})),
    ));
    ok(send(
        &app,
        "PATCH",
        &format!("/api/integrations/{hook}"),
        &writer,
        Some(json!({"isActive": false})),
    ));
    // A PATCH that changes nothing is not a change.
    ok(send(
        &app,
        "PATCH",
        &format!("/api/integrations/{hook}"),
        &writer,
        Some(json!({"isActive": false})),
    ));
    let runs_id = app
        .get("/api/tokens")
        .json()
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "eval-platform")
        .expect("eval-platform")["id"]
        .as_str()
        .expect("id")
        .to_string();
    ok(send(
        &app,
        "DELETE",
        &format!("/api/tokens/{runs_id}"),
        &admin,
        None,
    ));
    ok(send(
        &app,
        "DELETE",
        &format!("/api/integrations/{hook}"),
        &writer,
        None,
    ));
    // A revoked token is a failed sign-in now: audited once its minute is over.
    send(&app, "GET", "/api/me", &runs, None).problem(401);
    clock.advance(Duration::from_secs(61));

    let deadline = Instant::now() + Duration::from_secs(5);
    let entries = loop {
        let entries = all_entries(&app, "");
        if entries
            .last()
            .is_some_and(|e| e["action"] == "sign_in.failed")
            || Instant::now() > deadline
        {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        summary(&entries),
        [
            pair("token:api-token", "token.created"),
            pair("token:api-token", "token.created"),
            pair("token:api-token", "token.created"),
            pair("token:ops-admin", "integration.created"),
            pair("token:alice-bot", "integration.created"),
            pair("token:alice-bot", "integration.updated"),
            pair("token:ops-admin", "secret.set"),
            pair("token:ops-admin", "secret.rotated"),
            pair("token:eval-platform", "eval_run.status_changed"),
            pair("token:alice-bot", "integration.deactivated"),
            pair("token:ops-admin", "token.revoked"),
            pair("token:alice-bot", "integration.deleted"),
            pair("unknown", "sign_in.failed"),
        ]
    );
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // What changed, masked: the token changed, and shows as *** on both sides.
    let update = &entries[5];
    assert_eq!(update["target"], gh.as_str());
    assert_eq!(update["integrationId"], gh.as_str());
    assert_eq!(
        update["changes"],
        json!({"config.token": {"before": "***", "after": "***"}})
    );
    assert_eq!(update["requestId"], patch_request.as_str());
    assert_eq!(update["source"], "127.0.0.1");
    assert_eq!(
        entries[8]["changes"],
        json!({"status": {"before": "PENDING", "after": "RUNNING"}})
    );
    assert_eq!(
        entries[9]["changes"],
        json!({"isActive": {"before": true, "after": false}})
    );
    assert_eq!(entries[6]["target"], "SLACK_BOT");
    assert_eq!(
        entries[6]["changes"]["value"],
        json!({"before": null, "after": "***"})
    );
    assert_eq!(entries[10]["target"], "eval-platform");
    assert_eq!(
        entries[10]["changes"]["scopes"],
        json!({"before": ["runs:write"], "after": null})
    );
    let made = &entries[3]["changes"];
    assert_eq!(made["name"], json!({"before": null, "after": "Main repo"}));
    assert_eq!(made["config.token"]["after"], "***");
    assert_eq!(made["config.repo"]["after"], REPO);

    // No secret value, in the answer or anywhere in the database.
    let answer = app.get("/api/audit?limit=200").text;
    app.wait_until_idle();
    for secret in secrets.iter().copied().chain([
        new_secret.as_str(),
        admin.as_str(),
        writer.as_str(),
        runs.as_str(),
    ]) {
        assert!(!answer.contains(secret), "{secret} in {answer}");
        assert!(
            !app.database_contains(secret),
            "{secret} is in the database"
        );
    }
    assert!(
        app.database_contains("ops-admin"),
        "the search reads the rows"
    );
}

#[test]
fn entries_are_filtered_by_actor_action_integration_and_time() {
    let app = TestApp::spawn();
    let writer = make_token(&app, "alice-bot", "write");
    let a = app.create_integration_id("WEBHOOK", json!({}));
    let b: String = ok(send(
        &app,
        "POST",
        "/api/integrations",
        &writer,
        Some(json!({"type": "WEBHOOK", "name": "b", "config": {}})),
    ))
    .json()["id"]
        .as_str()
        .expect("id")
        .into();
    ok(send(
        &app,
        "PATCH",
        &format!("/api/integrations/{b}"),
        &writer,
        Some(json!({"name": "b2"})),
    ));
    let by_alice = all_entries(&app, "&actor=alice-bot");
    assert_eq!(
        summary(&by_alice),
        [
            pair("token:alice-bot", "integration.created"),
            pair("token:alice-bot", "integration.updated")
        ]
    );
    assert_eq!(
        by_alice[1]["changes"],
        json!({"name": {"before": "b", "after": "b2"}})
    );
    let about_a = all_entries(&app, &format!("&integrationId={a}"));
    assert_eq!(
        summary(&about_a),
        [pair("token:api-token", "integration.created")]
    );
    let created = all_entries(&app, "&action=integration.created");
    assert_eq!(created.len(), 2);
    assert_eq!(all_entries(&app, "&action=token.created").len(), 1);

    let first_at = all_entries(&app, "")[0]["at"]
        .as_str()
        .expect("at")
        .to_string();
    assert_eq!(all_entries(&app, &format!("&until={first_at}")).len(), 0);
    assert_eq!(all_entries(&app, &format!("&since={first_at}")).len(), 4);
    app.get("/api/audit?action=integration.renamed")
        .problem(422);
    app.get("/api/audit?since=yesterday").problem(422);
    let problem = app
        .get("/api/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
        .problem(422);
    assert_eq!(problem["field"], "until");
}

#[test]
fn the_api_offers_no_way_to_change_or_remove_an_entry() {
    let app = TestApp::spawn();
    app.create_integration_id("WEBHOOK", json!({}));
    let spec = app.get("/api/openapi.json").json();
    let mut audit_operations = Vec::new();
    for (path, methods) in spec["paths"].as_object().expect("paths") {
        for (method, op) in methods.as_object().expect("operations") {
            let text = op.to_string();
            if path.contains("audit") || text.contains("AuditEntry") {
                audit_operations.push(format!("{method} {path}"));
            }
        }
    }
    assert_eq!(audit_operations, ["get /audit"]);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let reply = app.request(
            method,
            "/api/audit",
            Some(TOKEN),
            &[("content-type", "application/json")],
            Some(b"{}".to_vec()),
        );
        assert_eq!(reply.status, 405, "{method}: {}", reply.text);
    }
    let seq = app.get("/api/audit").json()["items"][0]["seq"].clone();
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let reply = app.request(method, &format!("/api/audit/{seq}"), Some(TOKEN), &[], None);
        assert_eq!(reply.status, 404, "{method}: {}", reply.text);
    }
    assert_eq!(
        app.get("/api/audit").json()["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn entries_are_kept_for_the_audit_retention_then_pruned() {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                // Events go sooner; the audit log keeps its own time.
                s.retention = Duration::from_secs(86_400);
                s.audit_retention = Duration::from_secs(10 * 86_400);
            }
        },
        Default::default(),
    );
    app.create_integration_id("WEBHOOK", json!({}));
    clock.advance(Duration::from_secs(2 * 86_400));
    app.create_integration_id("WEBHOOK", json!({}));
    // The worker has looked (its prune runs when it is idle) and kept both.
    app.wait_until_idle();
    assert_eq!(
        all_entries(&app, "").len(),
        2,
        "events' retention is not the log's"
    );
    clock.advance(Duration::from_secs(9 * 86_400));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = all_entries(&app, "");
        if left.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not pruned: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
