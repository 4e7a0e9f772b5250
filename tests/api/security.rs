//! The security review's findings, each as what an attacker tried: payload values shaping API
//! paths, unverified deliveries acting, floods, credentials following a changed `api_url`, what
//! health tells without a token, files and values at rest, masking, slow headers, and the
//! smaller findings. GitHub, GitLab and Slack are local stand-ins that record what they get.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use provenant::db::sql::params;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

const SECRET: &str = "a-long-random-webhook-secret-0123";

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

/// Delivers a GitHub event signed with [`SECRET`] and waits until it is processed.
fn signed_github(app: &TestApp, id: &str, event: &str, payload: &Value) -> Value {
    let body = payload.to_string();
    let signature = github_signature(SECRET, body.as_bytes());
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", event),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"])
}

fn gitlab_delivery(app: &TestApp, id: &str, event: &str, payload: &Value) -> Value {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", event),
            ("x-gitlab-token", SECRET),
        ],
        payload.to_string().as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"])
}

/// Asserts that the event was processed and its outcome begins with `start`.
fn assert_outcome(event: &Value, start: &str) {
    assert_eq!(event["status"], "PROCESSED", "{event}");
    assert!(
        event["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with(start)),
        "{event}"
    );
}

fn trace_text(app: &TestApp, id: &str, event: &Value) -> String {
    let detail = app.event(id, event["id"].as_str().expect("id"));
    detail["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .map(|s| s["text"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- 1. Payload values never shape a URL ----

#[test]
fn traversal_in_a_github_sha_or_ref_reaches_no_api_and_says_why() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_victim_token_123", "api_url": api.url, "webhook_secret": SECRET}),
    );
    let traversal =
        "../../../../victim-org/private-repo/statuses/0123456789abcdef0123456789abcdef01234567?x=";
    let opened = signed_github(
        &app,
        &id,
        "pull_request",
        &github_pr("opened", 7, "main", traversal, false, None),
    );
    assert_eq!(opened["status"], "PROCESSED", "{opened}");
    assert_outcome(&opened, "ignored: pull_request.head.sha is not a commit id");
    let merged = signed_github(
        &app,
        &id,
        "pull_request",
        &github_pr(
            "closed",
            8,
            "main",
            &sha('1'),
            true,
            Some("refs/pull/999/head"),
        ),
    );
    assert_outcome(&merged, "ignored:");
    for (git_ref, after) in [
        ("refs/heads/main", "refs/pull/999/head"),
        (
            "refs/heads/main",
            "0123456789abcdef0123456789abcdef0123456#",
        ),
    ] {
        let mut push = github_push(git_ref, &sha('a'));
        push["after"] = json!(after);
        let event = signed_github(&app, &id, "push", &push);
        assert_outcome(&event, "ignored: after");
    }
    app.wait_until_idle();
    assert!(api.requests().is_empty(), "{:?}", api.requests());
    assert_eq!(app.get("/api/eval-runs").json()["items"], json!([]));
    assert_eq!(app.get("/api/deployments").json()["items"], json!([]));
    assert_eq!(app.get("/api/outbox").json()["items"], json!([]));
}

#[test]
fn traversal_in_a_gitlab_sha_reaches_no_api() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    let id = app.create_integration_id(
        "GITLAB",
        json!({"project_id": 42, "token": "glpat-victim-token-1", "api_url": api.url, "webhook_secret": SECRET}),
    );
    let push = gitlab_delivery(
        &app,
        &id,
        "Push Hook",
        &gitlab_push("refs/heads/main", "../../../../users?x=#"),
    );
    assert_outcome(&push, "ignored: after is not a commit id");
    let mr = gitlab_delivery(
        &app,
        &id,
        "Merge Request Hook",
        &gitlab_mr("open", 3, "../../../../users?x=#", None, None),
    );
    assert!(
        mr["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("object_attributes.last_commit.id")),
        "{mr}"
    );
    // A well-formed one does reach the API: the stand-in is listening.
    let ok = gitlab_delivery(
        &app,
        &id,
        "Merge Request Hook",
        &gitlab_mr("open", 4, &sha('c'), None, None),
    );
    assert_eq!(ok["status"], "PROCESSED");
    let seen = api.wait_for(1);
    app.wait_until_idle();
    let seen_now = api.requests();
    assert_eq!(seen_now.len(), seen.len());
    assert!(
        seen_now
            .iter()
            .all(|r| r.path == format!("/projects/42/statuses/{}", sha('c'))),
        "{:?}",
        seen_now.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

// ---- 2. Unverified deliveries make no outbound calls, by default ----

#[test]
fn an_anonymous_push_to_a_secretless_github_is_recorded_but_calls_nobody_until_allowed() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 77}"#));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_anonymous_push_1", "api_url": api.url}),
    );
    let shown = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(shown["unverifiedActs"], false);
    assert!(
        shown["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w
                .as_str()
                .is_some_and(|w| w.starts_with("No secret: deliveries are not verified"))),
        "{shown}"
    );

    let push = github_push("refs/heads/main", &sha('d'));
    let event_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
        ],
        push.to_string().as_bytes(),
    );
    let event = app.wait_for_status(&id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
    assert_eq!(event["verified"], false);
    let deployments = app.get("/api/deployments").json()["items"].clone();
    assert_eq!(deployments[0]["commitSha"], sha('d'));
    assert_eq!(deployments[0]["verified"], false);
    let trace = trace_text(&app, &id, &event);
    assert!(
        trace.contains("not sent: the delivery was not verified (DEPLOYMENT for github:"),
        "{trace}"
    );
    // The platform moves it on: still nothing is told about a deployment nobody verified.
    let moved = app.patch_json(
        &format!(
            "/api/deployments/{}",
            deployments[0]["id"].as_str().expect("id")
        ),
        &json!({"status": "SUCCEEDED"}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    app.wait_until_idle();
    assert!(api.requests().is_empty(), "{:?}", api.requests());

    // Opted in: the call is made, and the warning says what that exposes.
    let patched = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "token": "***", "api_url": api.url, "allow_unverified": true}}),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    let shown = patched.json();
    assert_eq!(shown["unverifiedActs"], true);
    assert!(
        shown["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().is_some_and(
                |w| w.contains("allow_unverified is on: anyone who learns the webhook URL")
            )),
        "{shown}"
    );
    let push = github_push("refs/heads/main", &sha('e'));
    app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
        ],
        push.to_string().as_bytes(),
    );
    let seen = api.wait_for(1);
    assert_eq!(seen[0].path, format!("/repos/{REPO}/deployments"));
    assert_eq!(seen[0].json()["ref"], sha('e'));
}

#[test]
fn an_unsigned_alert_to_a_secretless_webhook_posts_nothing_to_slack() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T0/B0/XXXX", slack.url)}),
    );
    let monitor = app.create_integration_id("WEBHOOK", json!({"description": "monitor"}));
    let shown = app.get(&format!("/api/integrations/{monitor}")).json();
    assert!(
        shown["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w
                .as_str()
                .is_some_and(|w| w.starts_with("No secret: deliveries are not verified")
                    && w.contains("Set secret"))),
        "a WEBHOOK without a secret warns too: {shown}"
    );
    let event_id = app.deliver_accepted(
        &monitor,
        &[("content-type", "application/json")],
        json!({"type": "drift.critical", "message": "log in at https://sso.corp"})
            .to_string()
            .as_bytes(),
    );
    let event = app.wait_for_status(&monitor, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(
        event["outcome"],
        "announced to 0 Slack integration(s): not sent: the delivery was not verified"
    );
    app.wait_until_idle();
    assert!(slack.requests().is_empty());
}

// ---- 3. Floods do not drown real news ----

#[test]
fn a_flood_of_alerts_is_capped_and_folded_and_an_eval_run_still_reaches_slack_in_seconds() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T0/B0/XXXX", slack.url)}),
    );
    let monitor = app.create_integration_id(
        "WEBHOOK",
        json!({"description": "noisy monitor", "allow_unverified": true}),
    );
    let github =
        app.create_integration_id("GITHUB", json!({"repo": REPO, "webhook_secret": SECRET}));

    let body = json!({"type": "drift.critical", "message": "<!channel> log in at <https://evil.example|https://sso.corp>"})
        .to_string();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (address, monitor, body) = (app.address.clone(), monitor.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for _ in 0..500 {
                    let reply = agent
                        .post(format!("{address}/api/integrations/webhook/{monitor}"))
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                        .expect("delivery");
                    assert_eq!(reply.status().as_u16(), 202);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    // Every alert processed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = app
            .db()
            .query_row("SELECT COUNT(*) FROM webhook_events WHERE integration_id = ?1 AND status != 'PROCESSED'", params![&monitor], |r| r.get(0))
            .expect("count");
        if waiting == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{waiting} alerts still waiting");
        std::thread::sleep(Duration::from_millis(50));
    }

    // At most the cap queued one by one (plus the few Slack took meanwhile), one folded message
    // for the rest, and together they account for every alert.
    let rows: Vec<(String, Option<String>, String)> = {
        app.db()
            .query_map(
                "SELECT status, coalesce_key, request FROM outbox WHERE destination LIKE '%:alerts:%'",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("rows")
    };
    let single = rows.iter().filter(|(_, key, _)| key.is_none()).count();
    let folded: Vec<Value> = rows
        .iter()
        .filter(|(_, key, _)| key.is_some())
        .map(|(_, _, request)| serde_json::from_str(request).expect("json"))
        .collect();
    let sent_meanwhile = slack.requests().len();
    assert!(
        single <= 100 + sent_meanwhile,
        "{single} single alerts, {sent_meanwhile} sent"
    );
    assert_eq!(folded.len(), 1, "{folded:?}");
    let count = folded[0]["folded"].as_u64().expect("count") as usize;
    assert_eq!(single + count, 2000);
    assert!(
        folded[0]["message"].as_str().is_some_and(
            |m| m.starts_with(&format!("{count} more alerts from `Test WEBHOOK` since"))
        ),
        "{folded:?}"
    );

    // An eval run is announced while the flood waits: it does not queue behind it.
    let started = Instant::now();
    signed_github(
        &app,
        &github,
        "pull_request",
        &github_pr("opened", 5, "main", &sha('5'), false, None),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let run_message = slack
            .requests()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("Eval run triggered"));
        if run_message {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the eval run's message did not arrive within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "eval-run message reached Slack {:?} after its delivery",
        started.elapsed()
    );

    // And the flood's text arrived as text.
    let first = String::from_utf8_lossy(&slack.requests()[0].body).into_owned();
    assert!(
        !first.contains("<!channel>") && !first.contains("<https://evil.example|"),
        "{first}"
    );
    assert!(first.contains("&lt;!channel&gt;"), "{first}");
}

// ---- 4. Credentials stay with their host ----

#[test]
fn a_masked_token_does_not_follow_a_changed_api_url() {
    let app = TestApp::spawn();
    let real = FakeRemote::start();
    let attacker = FakeRemote::start();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_stays_home_0123", "api_url": real.url, "webhook_secret": SECRET}),
    );
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "token": "***", "api_url": attacker.url, "webhook_secret": "***"}}),
    );
    let problem = reply.problem(409);
    assert_eq!(problem["field"], "config.token", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("never sent to a new address")),
        "{problem}"
    );
    // Nothing changed, and a test still talks to the real API only.
    let test = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(test.status, 200, "{}", test.text);
    real.wait_for(1);
    assert!(attacker.requests().is_empty());
    // Leaving the token out clears it: nothing to send anywhere.
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "api_url": attacker.url, "webhook_secret": "***"}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json()["config"].get("token").is_none());
    app.post(&format!("/api/integrations/{id}/test"));
    app.wait_until_idle();
    assert!(attacker.requests().is_empty());
}

#[test]
fn a_secret_is_sent_only_to_the_hosts_it_was_stored_for() {
    let app = TestApp::spawn();
    let attacker = FakeRemote::start();
    let ghe = FakeRemote::start();
    let put = app.put_json(
        "/api/secrets/GITHUB_TOKEN",
        &json!({"value": "ghp_named_secret_value"}),
    );
    assert_eq!(put.status, 201, "{}", put.text);
    assert_eq!(put.json()["hosts"], json!([]));
    let reply = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "Exfil", "config": {
            "repo": REPO, "token": "${secret:GITHUB_TOKEN}", "api_url": attacker.url}}),
    );
    let problem = reply.problem(409);
    assert_eq!(problem["field"], "config.token");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not stored for http://127.0.0.1")),
        "{problem}"
    );
    assert_eq!(app.integration_count(), 0);

    // Stored for a GitHub Enterprise host, it goes there (and still nowhere else): over plain
    // http only because the secret names that origin with its scheme.
    let host = ghe.url.clone();
    let put = app.put_json(
        "/api/secrets/GHE_TOKEN",
        &json!({"value": "ghp_enterprise_value", "hosts": [host]}),
    );
    assert_eq!(put.status, 201, "{}", put.text);
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "${secret:GHE_TOKEN}", "api_url": ghe.url}),
    );
    app.post(&format!("/api/integrations/{id}/test"));
    let seen = ghe.wait_for(1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer ghp_enterprise_value")
    );
    let moved = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "token": "${secret:GHE_TOKEN}", "api_url": attacker.url}}),
    );
    assert_eq!(moved.problem(409)["field"], "config.token");
    // Stored again without that host while a config sends it there: refused, named.
    let put = app.put_json(
        "/api/secrets/GHE_TOKEN",
        &json!({"value": "ghp_enterprise_value"}),
    );
    assert!(
        put.problem(409)["detail"]
            .as_str()
            .is_some_and(|d| d.contains("sends this secret")),
        "{}",
        put.text
    );
    assert!(attacker.requests().is_empty());
}

#[test]
fn what_an_unlisted_host_answers_is_not_shown() {
    // The default allowed hosts: the public APIs only.
    let app = TestApp::spawn_with(
        // Plain http to the stand-in is allowed (credentials may go there), its answers not.
        |s| s.egress_allow = vec!["api.github.com".into(), "http://127.0.0.1".into()],
        Default::default(),
    );
    let internal = FakeRemote::start();
    internal.set_default(Canned::status(
        500,
        "ami-id: i-0abc internal-metadata-token=SUPERSECRET",
    ));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_readable_ssrf_1", "api_url": internal.url}),
    );
    let test = app.post(&format!("/api/integrations/{id}/test")).json();
    let detail = test["checks"][1]["detail"]
        .as_str()
        .expect("detail")
        .to_string();
    assert!(detail.contains("GitHub answered 500"), "{test}");
    assert!(
        !detail.contains("SUPERSECRET") && !detail.contains("ami-id"),
        "{detail}"
    );
    assert!(detail.contains("its answer is not shown"), "{detail}");
    app.wait_until_idle();
    let outbox = app.get("/api/outbox").text;
    assert!(!outbox.contains("SUPERSECRET"), "{outbox}");
}

// ---- 5. Health ----

#[test]
fn health_without_a_token_tells_only_status_and_version() {
    let app = TestApp::spawn();
    let anonymous = app.request("GET", "/api/health", None, &[], None);
    assert_eq!(anonymous.status, 200);
    let body = anonymous.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["status", "version"], "{body}");
    let detailed = app.get("/api/health").json();
    assert!(
        detailed["storage"]["writable"] == true && detailed["queue"].is_object(),
        "{detailed}"
    );
    let lower = app.request(
        "GET",
        "/api/health",
        None,
        &[("authorization", &format!("bearer {TOKEN}"))],
        None,
    );
    assert!(
        lower.json()["queue"].is_object(),
        "the scheme is read in any case"
    );
}

#[test]
fn health_writes_at_most_once_a_second_however_often_it_is_asked() {
    let app = TestApp::spawn();
    let started = Instant::now();
    let mut checks = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let h = app.get("/api/health").json();
        let ago = h["storage"]["checkedMsAgo"].as_i64().expect("age");
        assert!((0..1000).contains(&ago), "{h}");
        // The moment of the check, to 50 ms.
        checks.insert((now_ms() - ago) / 50);
    }
    let seconds = started.elapsed().as_secs_f64();
    // One write a second at most (a bucket may straddle two values).
    assert!(
        checks.len() as f64 <= 2.0 * (seconds.ceil() + 1.0),
        "{} checks in {seconds:.1} s",
        checks.len()
    );
}

// ---- 6. Files and values at rest ----

#[cfg(unix)]
#[test]
fn a_data_folder_made_0755_ends_owner_only_and_inline_credentials_are_unreadable_in_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("data");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let slack = FakeRemote::start();
    let app = TestApp::spawn_in(&dir, |_| {}, Default::default());
    let gh = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_plain_in_the_file_42", "webhook_secret": "whsec-plain-in-the-file-42"}),
    );
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T0/B0/SLACKPATHSECRET42", slack.url), "bot_token": "xoxb-plain-in-the-file-42", "channel": "#c"}),
    );
    // Masked as before, and the inline webhook secret still verifies.
    let shown = app.get(&format!("/api/integrations/{gh}")).json();
    assert_eq!(shown["config"]["token"], "***");
    let payload = github_pr("opened", 1, "main", &sha('1'), false, None);
    assert_eq!(
        signed_github_with(&app, &gh, "whsec-plain-in-the-file-42", &payload),
        202
    );
    app.stop_and_keep_files(|dir| {
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(dir), 0o700);
        for entry in std::fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        let mut bytes = Vec::new();
        for name in ["provenant.db", "provenant.db-wal"] {
            if let Ok(b) = std::fs::read(dir.join(name)) {
                bytes.extend(b);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        for plain in [
            "ghp_plain_in_the_file_42",
            "whsec-plain-in-the-file-42",
            "SLACKPATHSECRET42",
            "xoxb-plain-in-the-file-42",
        ] {
            assert!(
                !text.contains(plain),
                "{plain} is readable in the database file"
            );
        }
    });
}

fn signed_github_with(app: &TestApp, id: &str, secret: &str, payload: &Value) -> u16 {
    let body = payload.to_string();
    let signature = github_signature(secret, body.as_bytes());
    app.deliver(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    )
    .status
}

#[test]
fn inline_credentials_stored_in_plain_text_by_an_older_version_are_sealed_at_start_and_still_work()
{
    let temp = tempfile::tempdir().expect("temp");
    let api = FakeRemote::start();
    let id = {
        let app = TestApp::spawn_in(temp.path(), |_| {}, Default::default());
        let id = app.create_integration_id(
            "GITHUB",
            json!({"repo": REPO, "api_url": api.url, "webhook_secret": SECRET}),
        );
        app.stop();
        id
    };
    // As schema version 4 kept it: the token in plain text.
    let config = json!({"repo": REPO, "branch": "main", "api_url": api.url, "webhook_secret": SECRET, "token": "ghp_from_an_older_version"});
    provenant::db::testing::Sql::open(temp.path())
        .execute(
            "UPDATE integrations SET config = ?1 WHERE id = ?2",
            params![config.to_string(), id.clone()],
        )
        .expect("write");
    let app = TestApp::spawn_in(temp.path(), |_| {}, Default::default());
    let stored = app.stored_config(&id);
    assert!(
        !stored.contains("ghp_from_an_older_version") && !stored.contains(SECRET),
        "{stored}"
    );
    assert!(stored.contains("sealed:v1:"), "{stored}");
    app.post(&format!("/api/integrations/{id}/test"));
    let seen = api.wait_for(1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer ghp_from_an_older_version")
    );
    let payload = github_pr("opened", 2, "main", &sha('2'), false, None);
    assert_eq!(
        signed_github_with(&app, &id, SECRET, &payload),
        202,
        "the sealed webhook secret verifies"
    );
    if provenant::db::testing::is_postgres() {
        // No file of ours holds it; the stored row was checked above.
        return;
    }
    app.stop_and_keep_files(|dir| {
        let bytes = std::fs::read(dir.join("provenant.db")).expect("db");
        assert!(!String::from_utf8_lossy(&bytes).contains("ghp_from_an_older_version"));
    });
}

// ---- 7. Masking by meaning ----

#[test]
fn passwords_api_keys_url_userinfo_and_token_headers_are_masked() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "WEBHOOK",
        json!({"description": "d", "password": "hunter2-pw", "apikey": "k-apikey-1",
               "notify": "https://bot:userinfo-pw@hooks.example/x", "secret": SECRET}),
    );
    let shown = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(shown["config"]["password"], "***");
    assert_eq!(shown["config"]["apikey"], "***");
    assert_eq!(shown["config"]["notify"], "https://***@hooks.example/x");
    assert!(!app.get("/api/integrations").text.contains("userinfo-pw"));
    // Sent back as shown, nothing is lost.
    let again = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": shown["config"]}),
    );
    assert_eq!(again.status, 200, "{}", again.text);
    let stored = app.stored_config(&id);
    assert!(
        stored.contains("https://bot:userinfo-pw@hooks.example/x"),
        "{stored}"
    );

    let body = json!({"type": "x"}).to_string();
    let signature = github_signature(SECRET, body.as_bytes());
    let event_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &signature),
            ("x-api-key", "api-key-value-1"),
            ("x-auth-token", "auth-token-value-1"),
            ("x-webhook-token", "webhook-token-value-1"),
            ("x-vendor-secret", "vendor-secret-value-1"),
        ],
        body.as_bytes(),
    );
    let event = app.event(&id, &event_id);
    let text = event["headers"].to_string();
    for value in [
        "api-key-value-1",
        "auth-token-value-1",
        "webhook-token-value-1",
        "vendor-secret-value-1",
    ] {
        assert!(!text.contains(value), "{value} in {text}");
    }
    assert!(
        event["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h["name"] == "x-api-key" && h["value"] == "***"),
        "{text}"
    );
}

// ---- 8. Slow headers ----

/// Sends `request` and reads one answer: its head and as much body as it announces.
fn exchange(stream: &mut TcpStream, request: &str) -> String {
    // A refused connection may be answered before the request is written.
    let _ = stream.write_all(request.as_bytes());
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return text,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn slow_headers_are_cut_off_one_source_is_capped_with_503_and_others_are_still_served() {
    let app = TestApp::spawn_with(
        |s| {
            s.head_timeout = Duration::from_secs(2);
            s.idle_timeout = Duration::from_secs(5);
            s.max_connections_per_ip = 10;
        },
        Default::default(),
    );
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect_from(&app, [127, 0, 0, 2]);
            s.write_all(format!("POST /api/integrations/webhook/{id} HTTP/1.1\r\n").as_bytes())
                .expect("request line");
            s
        })
        .collect();
    // The eleventh from the same address is refused at once.
    let mut extra = connect_from(&app, [127, 0, 0, 2]);
    let mut answer = String::new();
    extra.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // Meanwhile a delivery from elsewhere is accepted.
    let reply = app.deliver(
        &id,
        &[("content-type", "application/json")],
        br#"{"type":"x"}"#,
    );
    assert_eq!(reply.status, 202);
    // The slow senders trickle a header line every half second: cut off at the deadline.
    let mut closed_after = vec![None; slow.len()];
    while closed_after.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(500));
        for (i, s) in slow.iter_mut().enumerate() {
            if closed_after[i].is_none()
                && s.write_all(b"X-Slow: 1\r\n")
                    .and_then(|()| s.flush())
                    .is_err()
            {
                closed_after[i] = Some(started.elapsed());
            }
        }
        for (i, s) in slow.iter_mut().enumerate() {
            if closed_after[i].is_none() {
                s.set_nonblocking(true).expect("nonblocking");
                let mut buf = [0u8; 64];
                // The server closed it (end of stream, or reset); WouldBlock: still open.
                let closed = match s.read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                };
                if closed {
                    closed_after[i] = Some(started.elapsed());
                }
                s.set_nonblocking(false).expect("blocking");
            }
        }
    }
    for (i, closed) in closed_after.iter().enumerate() {
        let at = closed.unwrap_or_else(|| panic!("slow connection {i} still open after 8 s"));
        assert!(
            at <= Duration::from_secs(4),
            "connection {i} closed only after {at:?}"
        );
    }
    // Their places are free again.
    let mut again = connect_from(&app, [127, 0, 0, 2]);
    again
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    again.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

// ---- 9. The rest ----

#[test]
fn api_answers_are_not_cached_and_the_explorer_cannot_be_framed() {
    let app = TestApp::spawn();
    let list = app.get("/api/integrations");
    assert_eq!(list.header("cache-control"), Some("no-store"));
    let problem = app.request("GET", "/api/integrations", None, &[], None);
    assert_eq!(problem.header("cache-control"), Some("no-store"));
    let docs = app.request("GET", "/api/docs", None, &[], None);
    assert_eq!(docs.status, 200);
    let csp = docs.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
}

#[test]
fn metrics_read_the_bearer_scheme_as_the_api_does() {
    let app = TestApp::spawn();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {TOKEN}");
        let api = app.request(
            "GET",
            "/api/integrations",
            None,
            &[("authorization", &auth)],
            None,
        );
        let metrics = app.request("GET", "/metrics", None, &[("authorization", &auth)], None);
        assert_eq!((api.status, metrics.status), (200, 200), "{scheme}");
    }
    let wrong = app.request(
        "GET",
        "/metrics",
        None,
        &[("authorization", "Basic eDp5")],
        None,
    );
    assert_eq!(wrong.status, 401);
}

#[test]
fn past_the_total_connection_cap_a_new_connection_is_answered_503() {
    let app = TestApp::spawn_with(|s| s.max_connections = 3, Default::default());
    // Connections from new addresses take the places one by one, each kept open after a
    // first answer (the test's own client may hold a place too); the one past the cap is
    // answered 503 and closed.
    let mut held = Vec::new();
    let mut refusal = None;
    for n in 2..=5 {
        let mut stream = connect_from(&app, [127, 0, 0, n]);
        let answer = exchange(&mut stream, "GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n");
        if answer.starts_with("HTTP/1.1 503") {
            refusal = Some(answer);
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }
    let answer = refusal.expect("no connection was refused past a cap of 3");
    assert!(held.len() <= 3, "{} admitted past a cap of 3", held.len());
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    drop(held);
    // Freed: served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from(&app, [127, 0, 0, 6]);
        again
            .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .expect("write");
        let mut answer = String::new();
        let _ = again.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "{answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_destination_is_not_named_by_a_plain_hash_of_its_token() {
    use sha2::Digest;
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    let token = "ghp_weak";
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": token, "api_url": api.url}),
    );
    app.post(&format!("/api/integrations/{id}/test"));
    api.wait_for(1);
    let row = app.get("/api/outbox").json()["items"][0].clone();
    let destination = row["destination"].as_str().expect("destination");
    let host = api.url.trim_start_matches("http://");
    let unsalted = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    assert!(
        destination.starts_with(&format!("github:{host}:")),
        "{destination}"
    );
    assert_ne!(destination, format!("github:{host}:{}", &unsalted[..16]));
    assert!(!destination.contains(&unsalted[..8]), "{destination}");
}

#[test]
fn every_answer_names_its_request_with_an_id_of_its_own() {
    let app = TestApp::spawn();
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let answers = [
        app.get("/api/integrations"),
        app.request("GET", "/api/integrations", None, &[], None),
        app.get("/api/integrations/00000000-0000-4000-8000-000000000000"),
        app.deliver(&hook, &[("content-type", "application/json")], b"{}"),
        app.request("GET", "/", None, &[], None),
        app.request(
            "GET",
            "/api/health",
            None,
            &[("x-request-id", "the-callers-own")],
            None,
        ),
    ];
    let ids: Vec<String> = answers
        .iter()
        .map(|a| {
            let id = a
                .header("x-request-id")
                .unwrap_or_else(|| panic!("no X-Request-Id on a {} answer", a.status));
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
            id.to_string()
        })
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 401, 404, 202, 200, 200]);
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
}
