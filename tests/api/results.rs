//! Results flow back: an eval run's status becomes its commit's `provenant/eval` status, a
//! superseded run says so and a late result for it hides nothing, and a deployment shows on
//! GitHub (deployment + statuses) or GitLab (`provenant/deploy`). GitHub and GitLab are local
//! stand-ins that record what they receive.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded, gitlab_status};
use crate::fixtures::*;
use crate::helpers::*;

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

struct Remote {
    app: TestApp,
    id: String,
    api: FakeRemote,
}

fn github() -> Remote {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": "ghp_results", "api_url": api.url, "environment": "staging"}),
    );
    Remote { app, id, api }
}

fn gitlab() -> Remote {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, "{}"));
    let id = app.create_integration_id(
        "GITLAB",
        json!({"allow_unverified": true, "project_id": 42, "token": "glpat-results", "api_url": api.url}),
    );
    Remote { app, id, api }
}

impl Remote {
    fn deliver(&self, event_header: (&str, &str), payload: &Value) -> Value {
        let event_id = self.app.deliver_accepted(
            &self.id,
            &[("content-type", "application/json"), event_header],
            payload.to_string().as_bytes(),
        );
        let event = self
            .app
            .wait_for_status(&self.id, &event_id, &["PROCESSED", "FAILED"]);
        assert_eq!(event["status"], "PROCESSED", "{event}");
        // What it queued is sent before the next step, so no newer status replaces it.
        self.app.wait_until_idle();
        event
    }

    fn github(&self, event: &str, payload: &Value) -> Value {
        self.deliver(("x-github-event", event), payload)
    }

    fn gitlab(&self, event: &str, payload: &Value) -> Value {
        self.deliver(("x-gitlab-event", event), payload)
    }

    fn run_at(&self, head: &str) -> Value {
        self.app.get("/api/eval-runs").json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["headSha"] == head)
            .cloned()
            .unwrap_or_else(|| panic!("no run at {head}"))
    }

    /// A PATCH, and what it queued sent before the next step.
    fn patch(&self, path: &str, body: Value) -> Value {
        let reply = self.patch_now(path, body);
        self.app.wait_until_idle();
        reply
    }

    /// A PATCH, without waiting for what it queued.
    fn patch_now(&self, path: &str, body: Value) -> Value {
        let reply = self.app.patch_json(path, &body);
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }

    /// Everything the stand-in received once the senders are idle.
    fn received(&self) -> Vec<Recorded> {
        self.app.wait_until_idle();
        self.api.requests()
    }
}

/// (path, state) of each request, in order.
fn said(calls: &[Recorded]) -> Vec<(String, String)> {
    calls
        .iter()
        .map(|c| {
            (
                c.path.clone(),
                c.json()["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn status_path(head: &str) -> String {
    format!("/repos/{REPO}/statuses/{head}")
}

#[test]
fn an_eval_runs_status_becomes_its_commits_status() {
    let gh = github();
    let head = sha('1');
    gh.github(
        "pull_request",
        &github_pr("opened", 5, "main", &head, false, None),
    );
    let run = gh.run_at(&head);
    let path = format!("/api/eval-runs/{}", run["id"].as_str().expect("id"));

    gh.patch(&path, json!({"status": "RUNNING"}));
    let done = gh.patch(
        &path,
        json!({"status": "SUCCEEDED", "targetUrl": "https://evals.example.com/r/5"}),
    );
    let calls = gh.received();
    assert_eq!(
        said(&calls),
        vec![
            (status_path(&head), "pending".into()),
            (status_path(&head), "pending".into()),
            (status_path(&head), "success".into()),
        ]
    );
    let running = calls[1].json();
    assert_eq!(running["description"], "Eval run in progress");
    let success = calls[2].json();
    assert_eq!(success["context"], "provenant/eval");
    assert_eq!(success["target_url"], "https://evals.example.com/r/5");
    let pending = calls[0].json();
    assert!(
        pending["target_url"]
            .as_str()
            .expect("target")
            .ends_with(&format!("/eval-runs#{}", run["id"].as_str().expect("id"))),
        "{pending}"
    );
    assert_eq!(done["lastPost"]["state"], "success");
    let shown = gh.run_at(&head);
    assert_eq!(shown["lastPost"]["status"], "SENT");
    assert_eq!(shown["lastPost"]["responseStatus"], 201);

    // A failed run on another PR: failure.
    let other = sha('2');
    gh.github(
        "pull_request",
        &github_pr("opened", 6, "main", &other, false, None),
    );
    let run = gh.run_at(&other);
    gh.patch(
        &format!("/api/eval-runs/{}", run["id"].as_str().expect("id")),
        json!({"status": "FAILED"}),
    );
    let calls = gh.received();
    assert_eq!(
        said(&calls[3..]),
        vec![
            (status_path(&other), "pending".into()),
            (status_path(&other), "failure".into()),
        ]
    );
}

#[test]
fn a_new_head_commit_supersedes_the_old_run_and_a_late_result_for_it_hides_nothing() {
    let gh = github();
    let (old, new) = (sha('a'), sha('b'));
    gh.github(
        "pull_request",
        &github_pr("opened", 8, "main", &old, false, None),
    );
    let old_run = gh.run_at(&old);
    let outcome = gh.github(
        "pull_request",
        &github_pr("synchronize", 8, "main", &new, false, None),
    )["outcome"]
        .clone();
    assert!(
        outcome
            .as_str()
            .expect("outcome")
            .contains("superseded 1 older run"),
        "{outcome}"
    );
    let calls = gh.received();
    assert_eq!(
        said(&calls),
        vec![
            (status_path(&old), "pending".into()),
            (status_path(&old), "error".into()),
            (status_path(&new), "pending".into()),
        ]
    );
    assert!(
        calls[1].json()["description"]
            .as_str()
            .expect("description")
            .starts_with("Superseded by bbbbbbb"),
    );
    let old_shown = gh.run_at(&old);
    assert_eq!(old_shown["supersededBy"], gh.run_at(&new)["id"]);

    // The platform reports a late result for the old commit: recorded, nothing posted.
    let late = gh.patch(
        &format!("/api/eval-runs/{}", old_run["id"].as_str().expect("id")),
        json!({"status": "SUCCEEDED"}),
    );
    assert_eq!(late["status"], "SUCCEEDED");
    assert_eq!(gh.received().len(), 3, "a late result posted something");
}

#[test]
fn a_merge_creates_a_github_deployment_and_posts_its_statuses() {
    let gh = github();
    let merge = sha('f');
    gh.github(
        "pull_request",
        &github_pr("closed", 9, "main", &sha('9'), true, Some(&merge)),
    );
    let deployments = gh.app.get("/api/deployments").json();
    let deployment = deployments["items"][0].clone();
    let path = format!(
        "/api/deployments/{}",
        deployment["id"].as_str().expect("id")
    );
    gh.patch(&path, json!({"status": "RUNNING"}));
    gh.patch(&path, json!({"status": "SUCCEEDED"}));
    let calls = gh.received();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let statuses = format!("/repos/{REPO}/deployments/4242/statuses");
    assert_eq!(
        paths,
        vec![
            format!("/repos/{REPO}/deployments").as_str(),
            statuses.as_str(),
            statuses.as_str(),
            statuses.as_str(),
        ]
    );
    let created = calls[0].json();
    assert_eq!(created["ref"], merge);
    assert_eq!(created["environment"], "staging");
    assert_eq!(created["required_contexts"], json!([]));
    let states: Vec<String> = calls[1..]
        .iter()
        .map(|c| c.json()["state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(states, ["queued", "in_progress", "success"]);
    let shown = gh
        .app
        .get(&format!("/api/deployments?integrationId={}", gh.id))
        .json();
    assert_eq!(shown["items"][0]["remoteId"], "4242");
    assert_eq!(shown["items"][0]["lastPost"]["state"], "success");
}

#[test]
fn gitlab_gets_the_same_results_as_commit_statuses() {
    let gl = gitlab();
    let (old, new, merged) = (sha('c'), sha('d'), sha('e'));
    gl.gitlab(
        "Merge Request Hook",
        &gitlab_mr("open", 3, &old, None, None),
    );
    gl.gitlab(
        "Merge Request Hook",
        &gitlab_mr("update", 3, &new, Some(&old), None),
    );
    let run = gl.run_at(&new);
    let run_path = format!("/api/eval-runs/{}", run["id"].as_str().expect("id"));
    gl.patch(&run_path, json!({"status": "RUNNING"}));
    gl.patch(&run_path, json!({"status": "SUCCEEDED"}));
    gl.gitlab(
        "Merge Request Hook",
        &gitlab_mr("merge", 3, &new, None, Some(&merged)),
    );
    let deployment = gl.app.get("/api/deployments").json()["items"][0].clone();
    gl.patch(
        &format!(
            "/api/deployments/{}",
            deployment["id"].as_str().expect("id")
        ),
        json!({"status": "FAILED"}),
    );
    let calls = gl.received();
    let seen: Vec<_> = calls.iter().map(|c| c.gitlab_status()).collect();
    let status = gitlab_status;
    assert_eq!(
        seen,
        vec![
            status(&old, "provenant/eval", "pending"),
            status(&old, "provenant/eval", "canceled"),
            status(&new, "provenant/eval", "pending"),
            status(&new, "provenant/eval", "running"),
            status(&new, "provenant/eval", "success"),
            status(&merged, "provenant/deploy", "pending"),
            status(&merged, "provenant/deploy", "failed"),
        ]
    );
    assert_eq!(calls[0].header("private-token"), Some("glpat-results"));
}

#[test]
fn a_newer_status_replaces_one_still_queued() {
    let gh = github();
    // GitHub is slow: the first request holds the destination while the rest queue.
    gh.api
        .push(Canned::status(201, "{}").after(std::time::Duration::from_millis(1500)));
    let head = sha('7');
    // Delivered without waiting for the senders: the pending status is still in flight.
    let event_id = gh.app.deliver_accepted(
        &gh.id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 11, "main", &head, false, None)
            .to_string()
            .as_bytes(),
    );
    gh.app.wait_for_status(&gh.id, &event_id, &["PROCESSED"]);
    gh.api.wait_for(1);
    let run = gh.run_at(&head);
    let path = format!("/api/eval-runs/{}", run["id"].as_str().expect("id"));
    gh.patch_now(&path, json!({"status": "RUNNING"}));
    gh.patch_now(&path, json!({"status": "SUCCEEDED"}));
    let calls = gh.received();
    // The RUNNING status never left: the SUCCEEDED one replaced it while it waited.
    assert_eq!(
        said(&calls),
        vec![
            (status_path(&head), "pending".into()),
            (status_path(&head), "success".into()),
        ]
    );
}

/// The run's life cycle decides what each PATCH tells: a PATCH that changes nothing tells
/// nothing, and a run of an integration paused since it started moves without telling its
/// remote (the remote would be called with a paused integration's credentials).
#[test]
fn a_patch_that_changes_nothing_or_moves_a_paused_integrations_run_tells_the_remote_nothing() {
    let gh = github();
    let head = sha('7');
    gh.github(
        "pull_request",
        &github_pr("opened", 9, "main", &head, false, None),
    );
    let run = gh.run_at(&head);
    let path = format!("/api/eval-runs/{}", run["id"].as_str().expect("id"));
    gh.patch(&path, json!({"status": "RUNNING"}));
    assert_eq!(gh.received().len(), 2, "pending, then running");

    gh.patch(&path, json!({"status": "RUNNING"}));
    assert_eq!(
        gh.received().len(),
        2,
        "the same status again tells nothing"
    );

    let paused = gh.app.patch_json(
        &format!("/api/integrations/{}", gh.id),
        &json!({"isActive": false}),
    );
    assert_eq!(paused.status, 200, "{}", paused.text);
    let done = gh.patch(&path, json!({"status": "SUCCEEDED"}));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    // Nothing was even queued: the last post is still the one that said it was running.
    assert_eq!(done["lastPost"]["state"], "pending", "{done}");
    assert_eq!(done["lastPost"]["status"], "SENT", "{done}");
    assert_eq!(
        gh.received().len(),
        2,
        "a paused integration's run moves without a call: {:?}",
        said(&gh.received())
    );
}
