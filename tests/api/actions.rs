//! GitHub and GitLab deliveries → eval runs, deployments and commit statuses.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, gitlab_status};
use crate::fixtures::*;
use crate::helpers::*;

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

struct Github {
    app: TestApp,
    id: String,
    api: FakeRemote,
}

fn github_app(with_token: bool) -> Github {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"state":"pending"}"#));
    let mut config =
        json!({"repo": REPO, "branch": "main", "api_url": api.url, "allow_unverified": true});
    if with_token {
        // Stored for the stand-in's host, as for a GitHub Enterprise server.
        let reply = app.request(
            "PUT",
            "/api/secrets/GITHUB_TOKEN",
            Some(TOKEN),
            &[("content-type", "application/json")],
            Some(br#"{"value":"ghp_test_token_value","hosts":["http://127.0.0.1"]}"#.to_vec()),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        config["token"] = json!("${secret:GITHUB_TOKEN}");
    }
    let id = app.create_integration_id("GITHUB", config);
    Github { app, id, api }
}

/// Delivers a GitHub event and waits for it to finish; returns the event.
fn github_event(app: &TestApp, id: &str, event: &str, delivery: &str, payload: &Value) -> Value {
    let reply = app.deliver(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", event),
            ("x-github-delivery", delivery),
        ],
        payload.to_string().as_bytes(),
    );
    assert!(reply.status == 202 || reply.status == 200, "{}", reply.text);
    let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
    app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"])
}

fn items(app: &TestApp, path: &str) -> Vec<Value> {
    let reply = app.get(path);
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().expect("items").clone()
}

#[test]
fn an_opened_pr_creates_one_eval_run_and_a_pending_commit_status() {
    let gh = github_app(true);
    let head = sha('1');
    let event = github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "d-1",
        &github_pr("opened", 7, "main", &head, false, None),
    );
    assert_eq!(event["status"], "PROCESSED", "{event}");
    assert!(
        event["outcome"]
            .as_str()
            .expect("outcome")
            .contains("commit status pending")
    );

    let runs = items(&gh.app, "/api/eval-runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["repo"], REPO);
    assert_eq!(run["number"], 7);
    assert_eq!(run["headSha"], head.as_str());
    assert_eq!(run["headBranch"], "tune");
    assert_eq!(run["author"], "octocat");
    assert_eq!(run["title"], "Tune the retrieval prompt");
    assert_eq!(run["status"], "PENDING");
    assert_eq!(run["sourceEventId"], event["id"]);

    let calls = gh.api.wait_for(1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, format!("/repos/{REPO}/statuses/{head}"));
    assert_eq!(
        call.header("authorization"),
        Some("Bearer ghp_test_token_value")
    );
    let body = call.json();
    assert_eq!(body["state"], "pending");
    assert_eq!(body["context"], "provenant/eval");

    // The same head SHA again (synchronize, redelivered under a new id): still one run.
    github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "d-2",
        &github_pr("synchronize", 7, "main", &head, false, None),
    );
    assert_eq!(items(&gh.app, "/api/eval-runs").len(), 1);
    // New commits: a second run.
    github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "d-3",
        &github_pr("synchronize", 7, "main", &sha('2'), false, None),
    );
    assert_eq!(items(&gh.app, "/api/eval-runs").len(), 2);
}

#[test]
fn a_merge_announced_by_pr_and_push_in_either_order_makes_one_deployment() {
    let gh = github_app(false);
    let merge_a = sha('a');
    // PR merged first, then the push.
    github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "m-1",
        &github_pr("closed", 7, "main", &sha('1'), true, Some(&merge_a)),
    );
    github_event(
        &gh.app,
        &gh.id,
        "push",
        "p-1",
        &github_push("refs/heads/main", &merge_a),
    );
    // Redelivered (same delivery id): 200 and nothing new.
    let again = gh.app.deliver(
        &gh.id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
            ("x-github-delivery", "p-1"),
        ],
        github_push("refs/heads/main", &merge_a)
            .to_string()
            .as_bytes(),
    );
    assert_eq!(again.status, 200);

    // Push first, then the PR-merged event.
    let merge_b = sha('b');
    github_event(
        &gh.app,
        &gh.id,
        "push",
        "p-2",
        &github_push("refs/heads/main", &merge_b),
    );
    github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "m-2",
        &github_pr("closed", 8, "main", &sha('2'), true, Some(&merge_b)),
    );

    let deployments = items(&gh.app, "/api/deployments");
    assert_eq!(deployments.len(), 2, "{deployments:?}");
    for (d, sha, pr) in [
        (&deployments[1], &merge_a, 7),
        (&deployments[0], &merge_b, 8),
    ] {
        assert_eq!(d["commitSha"], sha.as_str());
        assert_eq!(d["branch"], "main");
        assert_eq!(
            d["prNumber"], pr,
            "the PR number is kept whichever event came first"
        );
        assert_eq!(d["status"], "PENDING");
    }
    // No token: nothing was posted to GitHub.
    assert!(gh.api.requests().is_empty());
}

#[test]
fn events_that_trigger_nothing_are_processed_with_the_reason() {
    let gh = github_app(false);
    let cases = [
        (
            "pull_request",
            github_pr("opened", 1, "develop", &sha('1'), false, None),
            "ignored: base branch `develop` is not `main`",
        ),
        (
            "pull_request",
            github_pr("closed", 2, "main", &sha('2'), false, None),
            "ignored: pull request closed without merging",
        ),
        (
            "push",
            github_push("refs/heads/feature", &sha('3')),
            "ignored: push to refs/heads/feature is not refs/heads/main",
        ),
        (
            "push",
            github_push("refs/heads/main", &"0".repeat(40)),
            "ignored: branch main was deleted",
        ),
        (
            "pull_request",
            github_pr("labeled", 3, "main", &sha('4'), false, None),
            "ignored: pull_request action labeled triggers nothing",
        ),
        (
            "issues",
            json!({"action": "opened", "repository": {"full_name": REPO}}),
            "recorded, no action for issues events",
        ),
    ];
    for (i, (event, payload, outcome)) in cases.iter().enumerate() {
        let e = github_event(&gh.app, &gh.id, event, &format!("n-{i}"), payload);
        assert_eq!(e["status"], "PROCESSED");
        assert_eq!(e["outcome"], *outcome);
    }
    let mut other_repo = github_pr("opened", 4, "main", &sha('5'), false, None);
    other_repo["repository"]["full_name"] = json!("someone/else");
    let e = github_event(&gh.app, &gh.id, "pull_request", "n-x", &other_repo);
    assert_eq!(
        e["outcome"],
        format!("ignored: repository `someone/else` is not `{REPO}`")
    );
    assert!(items(&gh.app, "/api/eval-runs").is_empty());
    assert!(items(&gh.app, "/api/deployments").is_empty());
}

#[test]
fn a_5xx_from_github_is_retried_and_a_401_fails_with_a_hint() {
    let gh = github_app(true);
    gh.api.push(Canned::status(502, "bad gateway"));
    let e = github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "r-1",
        &github_pr("opened", 9, "main", &sha('9'), false, None),
    );
    // Processing never waits on GitHub: the event is done at once, the status is retried.
    assert_eq!(e["status"], "PROCESSED", "{e}");
    assert_eq!(e["attempts"], 1);
    gh.app.wait_until_idle();
    assert_eq!(gh.api.requests().len(), 2);
    let runs = items(&gh.app, "/api/eval-runs");
    assert_eq!(runs.len(), 1);
    let posts = gh.app.posts_about(runs[0]["id"].as_str().expect("id"));
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["status"], "SENT");
    assert_eq!(posts[0]["attempts"], 2);
    assert_eq!(posts[0]["responseStatus"], 201);

    gh.api
        .set_default(Canned::status(401, r#"{"message":"Bad credentials"}"#));
    let e = github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "r-2",
        &github_pr("opened", 10, "main", &sha('8'), false, None),
    );
    assert_eq!(e["status"], "PROCESSED");
    gh.app.wait_until_idle();
    let run = items(&gh.app, "/api/eval-runs?status=PENDING")
        .into_iter()
        .find(|r| r["number"] == 10)
        .expect("run 10");
    let posts = gh.app.posts_about(run["id"].as_str().expect("id"));
    assert_eq!(posts[0]["status"], "FAILED", "a 401 is not retried");
    assert_eq!(posts[0]["attempts"], 1);
    let error = posts[0]["lastError"].as_str().expect("error");
    assert!(error.contains("401") && error.contains("token"), "{error}");
    assert_eq!(run["lastPost"]["status"], "FAILED");
    assert_eq!(run["lastPost"]["responseStatus"], 401);
}

#[test]
fn gitlab_merge_requests_and_pushes_create_runs_deployments_and_statuses() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, "{}"));
    let id = app.create_integration_id("GITLAB", json!({"project_id": 42, "branch": "main", "token": "glpat-test", "api_url": api.url, "webhook_secret": "gl-hook"}));
    let send = |delivery: &str, event: &str, payload: Value| {
        let reply = app.deliver(
            &id,
            &[
                ("content-type", "application/json"),
                ("x-gitlab-event", event),
                ("x-gitlab-token", "gl-hook"),
                ("x-gitlab-event-uuid", delivery),
            ],
            payload.to_string().as_bytes(),
        );
        assert_eq!(reply.status, 202, "{}", reply.text);
        let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
        app.wait_for_status(&id, &event_id, &["PROCESSED", "FAILED"])
    };
    let open = send(
        "g-1",
        "Merge Request Hook",
        gitlab_mr("open", 3, &sha('c'), None, None),
    );
    assert_eq!(open["eventType"], "Merge Request Hook.open");
    assert_eq!(open["status"], "PROCESSED", "{open}");
    let same = send(
        "g-2",
        "Merge Request Hook",
        gitlab_mr("update", 3, &sha('c'), None, None),
    );
    assert_eq!(
        same["outcome"],
        "ignored: merge request updated without new commits"
    );
    send(
        "g-3",
        "Merge Request Hook",
        gitlab_mr("update", 3, &sha('d'), Some(&sha('c')), None),
    );
    let close = send(
        "g-4",
        "Merge Request Hook",
        gitlab_mr("close", 4, &sha('e'), None, None),
    );
    assert!(
        close["outcome"]
            .as_str()
            .expect("o")
            .starts_with("ignored:")
    );
    send(
        "g-5",
        "Merge Request Hook",
        gitlab_mr("merge", 3, &sha('d'), None, Some(&sha('f'))),
    );
    send(
        "g-6",
        "Push Hook",
        gitlab_push("refs/heads/main", &sha('f')),
    );
    send(
        "g-7",
        "Push Hook",
        gitlab_push("refs/heads/other", &sha('7')),
    );

    let runs = items(&app, "/api/eval-runs?repo=grp/agent-project");
    assert_eq!(runs.len(), 2);
    let deployments = items(&app, &format!("/api/deployments?integrationId={id}"));
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0]["commitSha"], sha('f'));
    assert_eq!(deployments[0]["prNumber"], 3);

    app.wait_until_idle();
    let calls = api.requests();
    let said: Vec<_> = calls.iter().map(|c| c.gitlab_status()).collect();
    let status = |s: char, name: &str, state: &str| gitlab_status(&sha(s), name, state);
    // One token, one queue: in the order decided. The MR's new commit supersedes the first.
    assert_eq!(
        said,
        vec![
            status('c', "provenant/eval", "pending"),
            status('c', "provenant/eval", "canceled"),
            status('d', "provenant/eval", "pending"),
            status('f', "provenant/deploy", "pending"),
        ]
    );
    assert_eq!(calls[0].header("private-token"), Some("glpat-test"));
}

#[test]
fn run_statuses_move_forward_only() {
    let gh = github_app(false);
    github_event(
        &gh.app,
        &gh.id,
        "pull_request",
        "s-1",
        &github_pr("opened", 1, "main", &sha('1'), false, None),
    );
    let run_id = items(&gh.app, "/api/eval-runs")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/eval-runs/{run_id}");
    let r = gh.app.patch_json(&path, &json!({"status": "RUNNING"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "RUNNING");
    assert_eq!(
        gh.app
            .patch_json(&path, &json!({"status": "SUCCEEDED"}))
            .json()["status"],
        "SUCCEEDED"
    );
    gh.app
        .patch_json(&path, &json!({"status": "RUNNING"}))
        .problem(409);
    gh.app.patch_json(&path, &json!({})).problem(422);
    gh.app
        .patch_json(&path, &json!({"status": "DONE"}))
        .problem(422);
    gh.app
        .patch_json(
            "/api/eval-runs/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
            &json!({"status": "RUNNING"}),
        )
        .problem(404);
    let filtered = items(&gh.app, "/api/eval-runs?status=SUCCEEDED");
    assert_eq!(filtered.len(), 1);
    assert!(items(&gh.app, "/api/eval-runs?status=PENDING").is_empty());
    gh.app.get("/api/eval-runs?limit=0").problem(422);
    gh.app.get("/api/eval-runs?cursor=nope").problem(422);
}

#[test]
fn run_lists_page_with_a_cursor() {
    let gh = github_app(false);
    for i in 0..5 {
        github_event(
            &gh.app,
            &gh.id,
            "pull_request",
            &format!("c-{i}"),
            &github_pr("opened", i, "main", &sha('1'), false, None),
        );
    }
    let first = gh.app.get("/api/eval-runs?limit=2").json();
    let cursor = first["nextCursor"].as_str().expect("cursor").to_string();
    let second = gh
        .app
        .get(&format!("/api/eval-runs?limit=2&cursor={cursor}"))
        .json();
    let third_cursor = second["nextCursor"].as_str().expect("cursor").to_string();
    let third = gh
        .app
        .get(&format!("/api/eval-runs?limit=2&cursor={third_cursor}"))
        .json();
    let mut seen: Vec<i64> = [&first, &second, &third]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|r| r["number"].as_i64().expect("n"))
        })
        .collect();
    assert!(third["nextCursor"].is_null());
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
}
