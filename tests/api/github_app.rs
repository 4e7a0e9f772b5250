//! A GITHUB integration that runs as a GitHub App: its JWT, installation tokens kept until
//! shortly before they expire and refreshed once after a 401, destinations by installation,
//! and nothing of the key, the JWT or a token in an answer or an outbox row.
//!
//! GitHub is a stand-in that checks the App's JWT with the App's public key
//! (github_app_standin.rs).

use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::*;
use crate::github_app_standin::*;
use crate::helpers::*;

fn app_config(app: &GithubApp, repo: &str) -> Value {
    json!({
        "repo": repo,
        "app_id": APP_ID,
        "private_key": KEY,
        "api_url": app.api.url,
        "allow_unverified": true,
    })
}

/// A pull request opened on `repo`: its pending commit status is queued and sent.
/// A GitHub `event` delivered unsigned, processed, and what it queued sent: the event as the
/// API shows it.
fn deliver(app: &TestApp, id: &str, event: &str, payload: &Value) -> Value {
    deliver_as(app, id, event, payload, &uuid_like(payload))
}

/// [`deliver`] with the delivery id GitHub gave it (`X-GitHub-Delivery`).
fn deliver_as(app: &TestApp, id: &str, event: &str, payload: &Value, guid: &str) -> Value {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", event),
            ("x-github-delivery", guid),
        ],
        payload.to_string().as_bytes(),
    );
    let done = app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(done["status"], "PROCESSED", "{done}");
    app.wait_until_idle();
    done
}

/// A delivery id of its own for each payload.
fn uuid_like(payload: &Value) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:08x}-app-{}",
        NEXT.fetch_add(1, Ordering::SeqCst),
        payload.to_string().len()
    )
}

fn open_pr(app: &TestApp, id: &str, repo: &str, number: i64) {
    let head = format!("{number:0>40}");
    let payload = github_pr("opened", number, "main", &head, false, None)
        .to_string()
        .replace(REPO, repo);
    let payload: Value = serde_json::from_str(&payload).expect("json");
    deliver(app, id, "pull_request", &payload);
}

fn outbox_rows(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/outbox?integrationId={id}"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = reply.text.clone();
    for leak in ["ghs_", "eyJ", "PRIVATE KEY"] {
        assert!(!text.contains(leak), "{leak} in the outbox: {text}");
    }
    reply.json()["items"].as_array().expect("items").clone()
}

#[test]
fn an_app_reports_with_an_installation_token_and_shows_none_of_it() {
    let github = github_app();
    let app = TestApp::spawn();
    let created = app.create_integration("GITHUB", app_config(&github, REPO));
    assert_eq!(created["config"]["private_key"], "***", "{created}");
    assert_eq!(created["config"]["app_id"], APP_ID);
    assert!(!created.to_string().contains("PRIVATE KEY"), "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
    // The installation was asked for (none is configured), then a token, then the status.
    assert_eq!(github.installation_lookups(), 1);
    assert_eq!(github.token_exchanges(), 1);
    assert_eq!(github.report_tokens(), ["ghs_77_1"]);
    let rows = outbox_rows(&app, &id);
    assert_eq!(rows[0]["status"], "SENT", "{rows:?}");
    let destination = rows[0]["destination"].as_str().expect("destination");
    assert!(
        destination.ends_with(&format!(":app{APP_ID}:octo-org")),
        "{destination}"
    );

    // The next status reuses both.
    open_pr(&app, &id, REPO, 2);
    assert_eq!(github.report_tokens(), ["ghs_77_1", "ghs_77_1"]);
    assert_eq!(github.token_exchanges(), 1);
    assert_eq!(github.installation_lookups(), 1);
    // The integration's test reads the repository as the installation.
    let tested = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(tested.status, 200, "{}", tested.text);
    let checks = tested.json()["checks"].clone();
    let check = checks
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "app"))
        .unwrap_or_else(|| panic!("no app check: {checks}"));
    assert_eq!(check["ok"], true, "{check}");
    let read_repo = github.calls(|r| r.method == "GET" && r.path == format!("/repos/{REPO}"));
    assert_eq!(read_repo.len(), 1);
    assert_eq!(bearer(&read_repo[0]), "ghs_77_1");
    // Reading the integration back still shows no key.
    let read = app.get(&format!("/api/integrations/{id}")).text;
    assert!(
        !read.contains("PRIVATE KEY") && !read.contains("ghs_"),
        "{read}"
    );
}

#[test]
fn a_token_is_used_until_shortly_before_it_expires_and_then_replaced() {
    let github = github_app();
    // Five minutes and five seconds: usable for five seconds.
    github.books.lock().expect("lock").token_lifetime_ms = 5 * 60 * 1000 + 5_000;
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config["installation_id"] = json!(77);
    let id = app.create_integration_id("GITHUB", config);
    open_pr(&app, &id, REPO, 1);
    open_pr(&app, &id, REPO, 2);
    // A configured installation is not looked up.
    assert_eq!(github.installation_lookups(), 0);
    assert_eq!(github.report_tokens(), ["ghs_77_1", "ghs_77_1"]);
    std::thread::sleep(Duration::from_millis(5_500));
    // In its last five minutes: not used, replaced.
    open_pr(&app, &id, REPO, 3);
    assert_eq!(github.report_tokens(), ["ghs_77_1", "ghs_77_1", "ghs_77_2"]);
    assert_eq!(github.token_exchanges(), 2);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}

#[test]
fn a_401_refreshes_the_token_once_and_a_second_401_fails_the_row() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    // Each check run is looked for (GET), then created (POST).
    let sent = || -> Vec<(String, String)> {
        github
            .calls(|r| r.path.contains("/check-runs"))
            .iter()
            .map(|r| (r.method.clone(), bearer(r)))
            .collect()
    };
    let call = |method: &str, token: &str| (method.to_string(), token.to_string());
    open_pr(&app, &id, REPO, 1);
    assert_eq!(sent(), [call("GET", "ghs_77_1"), call("POST", "ghs_77_1")]);

    // GitHub stops taking the token (revoked, or the App's permissions changed).
    github
        .books
        .lock()
        .expect("lock")
        .revoked
        .insert("ghs_77_1".into());
    open_pr(&app, &id, REPO, 2);
    assert_eq!(
        sent()[2..],
        [
            call("GET", "ghs_77_1"),
            call("GET", "ghs_77_2"),
            call("POST", "ghs_77_2")
        ],
        "refused, then sent again with a fresh token"
    );
    let rows = outbox_rows(&app, &id);
    assert!(rows.iter().all(|r| r["status"] == "SENT"), "{rows:?}");

    // Now nothing is taken: one refresh, then the row fails for good.
    github.books.lock().expect("lock").refuse_all = true;
    open_pr(&app, &id, REPO, 3);
    assert_eq!(github.token_exchanges(), 3);
    assert_eq!(
        sent()[5..],
        [call("GET", "ghs_77_2"), call("GET", "ghs_77_3")]
    );
    let rows = outbox_rows(&app, &id);
    let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] == "FAILED").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(failed[0]["responseStatus"], 401);
}

#[test]
fn a_jwt_signed_with_another_key_is_refused_and_the_row_says_what_to_check() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config["private_key"] = json!(OTHER_KEY);
    let id = app.create_integration_id("GITHUB", config);
    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.jwt_errors().len(), 1, "{:?}", github.jwt_errors());
    assert!(github.report_tokens().is_empty());
    let rows = outbox_rows(&app, &id);
    assert_eq!(rows[0]["status"], "FAILED", "{rows:?}");
    let error = rows[0]["lastError"].as_str().expect("error");
    assert!(
        error.contains("config.app_id") && error.contains("config.private_key"),
        "{error}"
    );
}

#[test]
fn repositories_of_one_installation_share_a_destination_and_a_token_and_other_installations_do_not()
{
    let github = github_app();
    let app = TestApp::spawn();
    let first = app.create_integration_id("GITHUB", app_config(&github, "octo-org/first"));
    let second = app.create_integration_id("GITHUB", app_config(&github, "octo-org/second"));
    let other = app.create_integration_id("GITHUB", app_config(&github, "other-org/third"));
    open_pr(&app, &first, "octo-org/first", 1);
    open_pr(&app, &second, "octo-org/second", 2);
    open_pr(&app, &other, "other-org/third", 3);
    let destination = |id: &str| outbox_rows(&app, id)[0]["destination"].clone();
    assert_eq!(destination(&first), destination(&second));
    assert_ne!(destination(&first), destination(&other));
    assert_eq!(github.report_tokens(), ["ghs_77_1", "ghs_77_1", "ghs_78_2"]);
    // One lookup per owner: an App is installed once per account.
    assert_eq!(github.installation_lookups(), 2);
}

#[test]
fn app_credentials_are_checked_when_the_integration_is_saved() {
    let github = github_app();
    let app = TestApp::spawn();
    let create = |config: Value| {
        app.post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "App", "config": config}),
        )
    };
    let mut both = app_config(&github, REPO);
    both["token"] = json!("ghp_personal_token");
    let problem = create(both).problem(422);
    assert_eq!(problem["field"], "config.token", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("keep one")),
        "{problem}"
    );

    let mut no_key = app_config(&github, REPO);
    no_key
        .as_object_mut()
        .expect("object")
        .remove("private_key");
    assert_eq!(create(no_key).problem(422)["field"], "config.private_key");

    let mut no_app = app_config(&github, REPO);
    no_app.as_object_mut().expect("object").remove("app_id");
    assert_eq!(create(no_app).problem(422)["field"], "config.app_id");

    let mut not_pem = app_config(&github, REPO);
    not_pem["private_key"] = json!("ghp_this_is_not_a_key");
    let problem = create(not_pem).problem(422);
    assert_eq!(problem["field"], "config.private_key");
    assert!(
        !problem.to_string().contains("ghp_this_is_not_a_key"),
        "{problem}"
    );

    let mut zero = app_config(&github, REPO);
    zero["app_id"] = json!(0);
    assert_eq!(create(zero).problem(422)["field"], "config.app_id");
    assert_eq!(app.integration_count(), 0);
}

#[test]
fn the_key_may_be_a_named_secret() {
    let github = github_app();
    let app = TestApp::spawn();
    // A named secret goes only to the hosts it names besides the public APIs.
    let host = github.api.url.clone();
    let reply = app.put_json(
        "/api/secrets/GITHUB_APP_KEY",
        &json!({"value": KEY, "hosts": [host]}),
    );
    assert!(reply.status / 100 == 2, "{}", reply.text);
    let mut config = app_config(&github, REPO);
    config["private_key"] = json!("${secret:GITHUB_APP_KEY}");
    let created = app.create_integration("GITHUB", config);
    assert_eq!(created["config"]["private_key"], "${secret:GITHUB_APP_KEY}");
    let id = created["id"].as_str().expect("id").to_string();
    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.report_tokens(), ["ghs_77_1"]);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}

fn repository(full_name: &str) -> Value {
    let name = full_name.split('/').nth(1).unwrap_or_default();
    json!({"id": full_name.len(), "node_id": "R_x", "name": name, "full_name": full_name, "private": true})
}

/// An `installation` or `installation_repositories` delivery, as GitHub documents them.
fn installation_event(app: &TestApp, id: &str, event: &str, action: &str, extra: Value) -> Value {
    let mut payload = json!({
        "action": action,
        "installation": {
            "id": 77,
            "account": {"login": "Octo-Org", "id": 1, "type": "Organization"},
            "repository_selection": "selected",
            "app_id": APP_ID,
            "permissions": {"statuses": "write", "metadata": "read"},
            "events": ["pull_request", "push"]
        },
        "sender": {"login": "octocat", "id": 583231}
    });
    for (k, v) in extra.as_object().expect("object") {
        payload[k] = v.clone();
    }
    deliver(app, id, event, &payload)
}

fn installations(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/integrations/{id}/installations"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().expect("items").clone()
}

fn shown(installation: &Value) -> Vec<(String, bool)> {
    installation["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| {
            (
                r["repo"].as_str().expect("repo").to_string(),
                r["admitted"].as_bool().expect("admitted"),
            )
        })
        .collect()
}

#[test]
fn installation_deliveries_keep_what_the_app_can_see_and_which_of_it_is_admitted() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config.as_object_mut().expect("object").remove("repo");
    config["repos"] = json!(["octo-org/*", "!octo-org/sandbox"]);
    let id = app.create_integration_id("GITHUB", config);
    assert!(installations(&app, &id).is_empty());

    let created = installation_event(
        &app,
        &id,
        "installation",
        "created",
        json!({"repositories": [repository("octo-org/agent-repo"), repository("Octo-Org/Sandbox")]}),
    );
    assert!(
        created["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("installation 77 on octo-org shows")),
        "{created}"
    );
    let listed = installations(&app, &id);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["installationId"], 77);
    assert_eq!(listed[0]["account"], "octo-org");
    assert_eq!(
        shown(&listed[0]),
        [
            ("octo-org/agent-repo".to_string(), true),
            ("octo-org/sandbox".to_string(), false)
        ]
    );
    assert_eq!(
        listed[0]["repositories"][1]["decision"],
        "repository `octo-org/sandbox` is excluded by `!octo-org/sandbox`"
    );

    installation_event(
        &app,
        &id,
        "installation_repositories",
        "added",
        json!({"repository_selection": "selected", "repositories_added": [repository("octo-org/new-agent")], "repositories_removed": []}),
    );
    installation_event(
        &app,
        &id,
        "installation_repositories",
        "removed",
        json!({"repository_selection": "selected", "repositories_added": [], "repositories_removed": [repository("octo-org/sandbox")]}),
    );
    assert_eq!(
        shown(&installations(&app, &id)[0]),
        [
            ("octo-org/agent-repo".to_string(), true),
            ("octo-org/new-agent".to_string(), true)
        ]
    );

    installation_event(&app, &id, "installation", "suspend", json!({}));
    assert!(installations(&app, &id)[0]["suspendedAt"].is_string());
    installation_event(&app, &id, "installation", "unsuspend", json!({}));
    assert!(installations(&app, &id)[0].get("suspendedAt").is_none());
    installation_event(&app, &id, "installation", "deleted", json!({}));
    assert!(installations(&app, &id).is_empty());
    // None of this called GitHub.
    assert!(github.api.requests().is_empty());
}

#[test]
fn a_delivery_that_names_its_installation_spares_asking_github_for_it() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    let mut payload = github_pr("opened", 1, "main", &"1".repeat(40), false, None);
    payload["installation"] = json!({"id": 77, "node_id": "MDIz"});
    deliver(&app, &id, "pull_request", &payload);
    assert_eq!(github.report_tokens(), ["ghs_77_1"]);
    assert_eq!(github.installation_lookups(), 0);
    let listed = installations(&app, &id);
    assert_eq!(listed[0]["installationId"], 77, "{listed:?}");
    assert_eq!(listed[0]["account"], "octo-org");
}

#[test]
fn the_integration_page_shows_each_installation_and_which_repositories_are_admitted() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config.as_object_mut().expect("object").remove("repo");
    config["repos"] = json!(["octo-org/*", "!octo-org/sandbox"]);
    let id = app.create_integration_id("GITHUB", config);
    installation_event(
        &app,
        &id,
        "installation",
        "created",
        json!({"repositories": [repository("octo-org/agent-repo"), repository("octo-org/sandbox")]}),
    );
    crate::browser::run(async {
        let Some(b) = crate::browser::Browser::start("github_app_installations").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("#installations .installation[data-installation=\"77\"]")
            .await;
        assert_eq!(b.count("#installations li.admitted").await, 1);
        assert_eq!(b.count("#installations li.not-admitted").await, 1);
        let shown = b.text_of("#installations").await;
        assert!(
            shown.contains("octo-org/agent-repo")
                && shown.contains("excluded by `!octo-org/sandbox`"),
            "{shown}"
        );
        b.screenshot("installations").await;
        b.close().await;
    });
}

/// What the check runs were told, in order: (method, path, status, conclusion, title).
fn check_run_calls(github: &GithubApp) -> Vec<(String, String, String, String, String)> {
    github
        .calls(|r| r.path.contains("/check-runs") && r.method != "GET")
        .iter()
        .map(|r| {
            let body = r.json();
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                r.method.clone(),
                r.path.clone(),
                text(&body["status"]),
                text(&body["conclusion"]),
                text(&body["output"]["title"]),
            )
        })
        .collect()
}

fn call(
    method: &str,
    path: &str,
    status: &str,
    conclusion: &str,
    title: &str,
) -> (String, String, String, String, String) {
    (
        method.into(),
        path.into(),
        status.into(),
        conclusion.into(),
        title.into(),
    )
}

#[test]
fn an_eval_run_is_a_check_run_created_updated_completed_and_cancelled_when_superseded() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    let head = |c: char| c.to_string().repeat(40);
    let pull_request = |action: &str, sha: &str| {
        let payload = github_pr(action, 7, "main", sha, false, None);
        deliver(&app, &id, "pull_request", &payload)
    };
    let first = pull_request("opened", &head('a'));
    assert!(
        first["outcome"]
            .as_str()
            .is_some_and(|o| o.ends_with("; check run queued")),
        "{first}"
    );
    let runs = app.get("/api/eval-runs").json();
    let first_run = runs["items"][0]["id"].as_str().expect("id").to_string();

    // The created check run carries the run's id, its head and a link to it.
    let created = github.calls(|r| r.method == "POST" && r.path.ends_with("/check-runs"));
    assert_eq!(created.len(), 1);
    let body = created[0].json();
    assert_eq!(body["name"], "provenant/eval");
    assert_eq!(body["head_sha"], head('a'));
    assert_eq!(body["external_id"], first_run.as_str());
    assert!(
        body["details_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/eval-runs#{first_run}"))),
        "{body}"
    );
    assert_eq!(bearer(&created[0]), "ghs_77_1");

    // A new head commit: a new run, and the old one's check run is cancelled.
    pull_request("synchronize", &head('b'));
    let runs = app.get("/api/eval-runs").json();
    let second_run = runs["items"][0]["id"].as_str().expect("id").to_string();
    assert_ne!(first_run, second_run);
    let patch = |status: &str, summary: Option<&str>| {
        let mut body = json!({ "status": status });
        if let Some(summary) = summary {
            body["summary"] = json!(summary);
        }
        let reply = app.patch_json(&format!("/api/eval-runs/{second_run}"), &body);
        assert_eq!(reply.status, 200, "{}", reply.text);
        app.wait_until_idle();
    };
    patch("RUNNING", None);
    patch(
        "SUCCEEDED",
        Some("## Scores\n\n| metric | value |\n|---|---|\n| recall | 0.91 |"),
    );

    let checks = format!("/repos/{REPO}/check-runs");
    assert_eq!(
        check_run_calls(&github),
        [
            call(
                "POST",
                &checks,
                "queued",
                "",
                "Eval run queued by Provenant"
            ),
            // The old run's check run is cancelled before the new one is created.
            call(
                "PATCH",
                &format!("{checks}/9001"),
                "completed",
                "cancelled",
                "Superseded by bbbbbbb: not evaluated"
            ),
            call(
                "POST",
                &checks,
                "queued",
                "",
                "Eval run queued by Provenant"
            ),
            call(
                "PATCH",
                &format!("{checks}/9002"),
                "in_progress",
                "",
                "Eval run in progress"
            ),
            call(
                "PATCH",
                &format!("{checks}/9002"),
                "completed",
                "success",
                "Eval run passed"
            ),
        ]
    );
    let last = github.calls(|r| r.method == "PATCH").pop().expect("patch");
    assert!(
        last.json()["output"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("| recall | 0.91 |")),
        "{}",
        String::from_utf8_lossy(&last.body)
    );
    // With a GitHub App, no commit status is posted.
    assert!(github.calls(|r| r.path.contains("/statuses/")).is_empty());
    let rows = outbox_rows(&app, &id);
    assert!(rows.iter().all(|r| r["status"] == "SENT"), "{rows:?}");
}

#[test]
fn a_summary_is_for_eval_runs_and_bounded() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    open_pr(&app, &id, REPO, 1);
    let run = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let too_long = "x".repeat(65_536);
    let problem = app
        .patch_json(
            &format!("/api/eval-runs/{run}"),
            &json!({"status": "RUNNING", "summary": too_long}),
        )
        .problem(422);
    assert_eq!(problem["field"], "summary");
    // A new summary alone updates the check run.
    let reply = app.patch_json(
        &format!("/api/eval-runs/{run}"),
        &json!({"status": "PENDING", "summary": "Scores pending"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.wait_until_idle();
    let updates = github.calls(|r| r.method == "PATCH");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].json()["output"]["summary"], "Scores pending");
}

#[test]
fn a_check_run_whose_creation_answer_was_lost_is_found_not_created_twice() {
    let github = github_app();
    github.books.lock().expect("lock").lose_next_answer = true;
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    open_pr(&app, &id, REPO, 1);
    // GitHub created it, but the answer was a 502: the row is retried, finds it, and keeps
    // its id instead of creating a second one.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rows = outbox_rows(&app, &id);
        if rows[0]["status"] == "SENT" {
            assert_eq!(rows[0]["kind"], "CHECK_RUN");
            assert!(
                rows[0]["responseExcerpt"]
                    .as_str()
                    .is_some_and(|e| e.contains("already created: GitHub check run 9001")),
                "{rows:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{rows:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let created = github.calls(|r| r.method == "POST" && r.path.ends_with("/check-runs"));
    assert_eq!(
        created.len(),
        1,
        "one check run, however often the row was sent"
    );
    // Its updates go to that check run.
    let run = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let reply = app.patch_json(
        &format!("/api/eval-runs/{run}"),
        &json!({"status": "RUNNING"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.wait_until_idle();
    let updates = github.calls(|r| r.method == "PATCH");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].path, format!("/repos/{REPO}/check-runs/9001"));
}

/// `check_run.rerequested`, as GitHub sends it when someone presses Re-run on the check run.
fn rerequested(name: &str, head_sha: &str, number: i64) -> Value {
    let mut payload = github_pr("opened", number, "main", head_sha, false, None);
    let pull_request = json!({
        "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
        "id": 1000 + number, "number": number,
        "head": {"ref": "tune", "sha": head_sha, "repo": {"id": 1, "name": "agent-repo"}},
        "base": {"ref": "main", "sha": "b".repeat(40), "repo": {"id": 1, "name": "agent-repo"}}
    });
    let object = payload.as_object_mut().expect("object");
    object.remove("pull_request");
    object.remove("number");
    object.insert("action".into(), json!("rerequested"));
    object.insert(
        "check_run".into(),
        json!({
            "id": 9001, "name": name, "head_sha": head_sha, "external_id": "x",
            "status": "completed", "conclusion": "failure",
            "check_suite": {"id": 5, "head_branch": "tune", "head_sha": head_sha,
                             "pull_requests": [pull_request]},
            "app": {"id": APP_ID}
        }),
    );
    payload
}

#[test]
fn re_run_on_the_check_run_starts_a_new_eval_run_for_the_commit() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    open_pr(&app, &id, REPO, 4);
    let head = format!("{:0>40}", 4);
    let first = app.get("/api/eval-runs").json()["items"][0].clone();
    let reply = app.patch_json(
        &format!("/api/eval-runs/{}", first["id"].as_str().expect("id")),
        &json!({"status": "FAILED"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.wait_until_idle();

    let check_run = |payload: Value| deliver(&app, &id, "check_run", &payload);
    // Someone else's check run: nothing.
    let other = check_run(rerequested("lint", &head, 4));
    assert_eq!(
        other["outcome"],
        "ignored: check run `lint` is not provenant/eval"
    );
    let rerun = check_run(rerequested("provenant/eval", &head, 4));
    assert!(
        rerun["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("(re-run 2)") && o.ends_with("; check run queued")),
        "{rerun}"
    );
    let runs = app.get("/api/eval-runs").json();
    let items = runs["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{runs}");
    assert_eq!(items[0]["status"], "PENDING");
    assert_eq!(items[0]["headSha"], head.as_str());
    assert_ne!(items[0]["id"], first["id"]);
    assert_eq!(items[0]["attempt"], 2, "{runs}");
    // The failed run keeps its result; the new one has a check run of its own.
    assert_eq!(items[1]["status"], "FAILED");
    assert_eq!(items[1]["attempt"], 1, "{runs}");
    let created = github.calls(|r| r.method == "POST" && r.path.ends_with("/check-runs"));
    assert_eq!(created.len(), 2);
    assert_eq!(created[1].json()["external_id"], items[0]["id"]);
    assert_eq!(created[1].json()["head_sha"], head.as_str());
    // A redelivery of the original pull request event still finds the first run.
    open_pr(&app, &id, REPO, 4);
    assert_eq!(
        app.get("/api/eval-runs").json()["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_merge_creates_the_github_deployment_and_its_statuses_as_the_app() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    let payload = github_pr(
        "closed",
        9,
        "main",
        &"9".repeat(40),
        true,
        Some(&"f".repeat(40)),
    );
    deliver(&app, &id, "pull_request", &payload);
    let deployment = app.get("/api/deployments").json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let reply = app.patch_json(
        &format!("/api/deployments/{deployment}"),
        &json!({"status": "SUCCEEDED"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.wait_until_idle();
    let sent: Vec<(String, String)> = github
        .calls(|r| r.path.contains("/deployments"))
        .iter()
        .map(|r| (r.path.clone(), bearer(r)))
        .collect();
    let deployments = format!("/repos/{REPO}/deployments");
    assert_eq!(
        sent,
        [
            (deployments.clone(), "ghs_77_1".to_string()),
            (format!("{deployments}/1/statuses"), "ghs_77_1".to_string()),
            (format!("{deployments}/1/statuses"), "ghs_77_1".to_string()),
        ],
        "the deployment, its queued status and its success, all as the installation"
    );
    let rows = outbox_rows(&app, &id);
    assert!(rows.iter().all(|r| r["status"] == "SENT"), "{rows:?}");
}

/// The App's delivery log entry for an attempt (`GET /app/hook/deliveries`).
fn logged(id: i64, guid: &str, status_code: i64) -> Value {
    json!({
        "id": id, "guid": guid, "delivered_at": "2026-12-02T08:00:00Z", "redelivery": false,
        "duration": 0.2, "status": if status_code == 0 { "failed to connect" } else { "OK" },
        "status_code": status_code, "event": "pull_request", "action": "opened",
        "installation_id": 77, "repository_id": 1
    })
}

#[test]
fn an_app_reconciles_from_its_own_delivery_log_with_its_jwt() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config.as_object_mut().expect("config").remove("repo");
    config["repos"] = json!(["octo-org/*"]);
    let id = app.create_integration_id("GITHUB", config);
    let pr = |repo: &str, number: i64| -> Value {
        let payload = github_pr(
            "opened",
            number,
            "main",
            &format!("{number:0>40}"),
            false,
            None,
        )
        .to_string()
        .replace(REPO, repo);
        serde_json::from_str(&payload).expect("json")
    };
    // Two repositories' deliveries arrived; two others GitHub could not bring.
    deliver_as(
        &app,
        &id,
        "pull_request",
        &pr("octo-org/alpha", 1),
        "app-ok-1",
    );
    deliver_as(
        &app,
        &id,
        "pull_request",
        &pr("octo-org/beta", 2),
        "app-ok-2",
    );
    github.books.lock().expect("lock").app_log = vec![
        logged(306, "app-lost-2", 502),
        logged(305, "app-ok-2", 202),
        logged(304, "app-lost-1", 0),
        logged(303, "app-ok-1", 202),
    ];

    let reply = app.post(&format!("/api/integrations/{id}/reconcile"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let report = reply.json();
    assert_eq!(report["listed"], 4, "{report}");
    assert_eq!(report["requested"], 2, "{report}");
    assert!(
        report["hookId"].is_null(),
        "an App has no repository hook: {report}"
    );
    let missing: Vec<&str> = report["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| m["guid"].as_str().expect("guid"))
        .collect();
    assert_eq!(missing, ["app-lost-1", "app-lost-2"]);

    // Both redeliveries are asked of the App's log through the outbox, with the App's JWT.
    app.wait_until_idle();
    let mut redelivered = github.books.lock().expect("lock").redelivered.clone();
    redelivered.sort();
    assert_eq!(redelivered, [304, 306]);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
    let listing = github.calls(|r| r.path.starts_with("/app/hook/deliveries?"));
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].path, "/app/hook/deliveries?per_page=100");
    // No repository hook was looked for, and no installation token used for the log.
    assert!(github.calls(|r| r.path.contains("/hooks")).is_empty());
    assert!(
        github
            .calls(|r| r.path.starts_with("/app/hook"))
            .iter()
            .all(|r| bearer(r).starts_with("eyJ"))
    );
    let rows = outbox_rows(&app, &id);
    let redeliveries: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "REDELIVERY").collect();
    assert_eq!(redeliveries.len(), 2, "{rows:?}");
    for row in redeliveries {
        assert_eq!(row["status"], "SENT", "{row}");
        // The App's own calls queue apart from its installations'.
        let destination = row["destination"].as_str().expect("destination");
        assert!(
            destination.ends_with(&format!(":app{APP_ID}")),
            "{destination}"
        );
    }

    // Asked for once: a second check before they arrive asks for nothing.
    let again = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert_eq!(again["requested"], 0, "{again}");
    assert_eq!(again["missing"].as_array().expect("missing").len(), 2);
    app.wait_until_idle();
    assert_eq!(github.books.lock().expect("lock").redelivered.len(), 2);
}

#[test]
fn doctor_signs_in_as_the_app_and_reads_its_webhook() {
    let github = github_app();
    // 50 s behind, so that moving it on a minute for the second run keeps the App's JWTs
    // within what the stand-in (on the real clock) takes: issued in the past, at most 2 min.
    let clock = provenant::base::clock::Clock::system();
    clock.pin(provenant::base::clock::system_ms() - 50_000);
    clock.resume();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Default::default(),
    );
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    let webhook_url = app.get(&format!("/api/integrations/{id}")).json()["webhookUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let findings = || -> Vec<(bool, String)> {
        let reply = app.get("/api/doctor");
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(!reply.text.contains("eyJ"), "{}", reply.text);
        reply.json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["finding"].as_str().is_some_and(|f| f.contains("App")))
            .map(|c| {
                (
                    c["ok"] == true,
                    c["finding"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    // The App's hook points elsewhere.
    github.books.lock().expect("lock").hook_url = "https://old.example/hook".into();
    let found = findings();
    assert_eq!(
        found[0],
        (
            true,
            format!("signs in as the GitHub App provenant-test (id {APP_ID})")
        )
    );
    assert!(!found[1].0, "{found:?}");
    assert!(found[1].1.contains("https://old.example/hook"), "{found:?}");
    github.books.lock().expect("lock").hook_url = webhook_url;
    // Within a minute the last run is answered again: nothing is asked of GitHub.
    let asked = github.calls(|_| true).len();
    assert_eq!(findings(), found);
    assert_eq!(github.calls(|_| true).len(), asked, "the checks ran again");
    clock.advance(std::time::Duration::from_secs(61));
    let found = findings();
    assert_eq!(
        found[1],
        (
            true,
            "the App's webhook points here and sends JSON".to_string()
        )
    );
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}

/// An App starts the eval workflow as the repository's installation (its manifest asks for
/// `actions: write`), on the outbox queue of that installation.
#[test]
fn an_app_starts_the_eval_workflow_as_the_installation() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config["eval"] = json!({"dispatch": {"github_workflow": "evals.yml"}});
    let id = app.create_integration_id("GITHUB", config);
    open_pr(&app, &id, REPO, 3);
    let started = github.calls(|r| {
        r.method == "POST"
            && r.path == format!("/repos/{REPO}/actions/workflows/evals.yml/dispatches")
    });
    assert_eq!(started.len(), 1, "one workflow_dispatch");
    assert_eq!(bearer(&started[0]), "ghs_77_1", "as the installation");
    let inputs = &started[0].json()["inputs"];
    assert_eq!(inputs["head_sha"], format!("{:0>40}", 3), "{inputs}");
    assert_eq!(inputs["pr_number"], "3", "{inputs}");
    let rows = outbox_rows(&app, &id);
    let dispatch = rows
        .iter()
        .find(|r| r["kind"] == "DISPATCH")
        .unwrap_or_else(|| panic!("no DISPATCH row: {rows:?}"));
    assert_eq!(dispatch["status"], "SENT", "{dispatch}");
    assert!(
        dispatch["destination"]
            .as_str()
            .is_some_and(|d| d.ends_with(&format!(":app{APP_ID}:octo-org"))),
        "{dispatch}"
    );
}

#[test]
fn re_runs_of_another_apps_suites_or_check_runs_start_nothing() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    open_pr(&app, &id, REPO, 4);
    let head = format!("{:0>40}", 4);
    let ours = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // "Re-run all jobs" of a CI app's suite on the same commit.
    let mut other_suite = rerequested("provenant/eval", &head, 4);
    let suite = other_suite["check_run"]["check_suite"].clone();
    let object = other_suite.as_object_mut().expect("object");
    object.remove("check_run");
    object.insert("check_suite".into(), suite);
    other_suite["check_suite"]["app"] = json!({"id": 15368, "slug": "github-actions"});
    let done = deliver(&app, &id, "check_suite", &other_suite);
    assert!(
        done["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("ignored: the re-run is of check_suite of App 15368")),
        "{done}"
    );
    // A check run of our name that another App made, naming no run of ours.
    let mut forged = rerequested("provenant/eval", &head, 4);
    forged["check_run"]["app"] = json!({"id": 15368});
    forged["check_run"]["external_id"] = json!("7b9d1f3a-5c2e-4a8b-9d0f-6e4c2a8b1d3f");
    let done = deliver(&app, &id, "check_run", &forged);
    assert!(
        done["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("not one of this integration's eval runs")),
        "{done}"
    );
    assert_eq!(
        app.get("/api/eval-runs").json()["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "no new attempt"
    );
    // Our own suite still re-runs; so does a check run that names our run.
    forged["check_run"]["external_id"] = json!(ours);
    let done = deliver(&app, &id, "check_run", &forged);
    assert!(
        done["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("(re-run 2)")),
        "{done}"
    );
    other_suite["check_suite"]["app"] = json!({"id": APP_ID});
    let done = deliver(&app, &id, "check_suite", &other_suite);
    assert!(
        done["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("(re-run 3)")),
        "{done}"
    );
}
