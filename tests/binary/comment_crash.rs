//! A pull request's results comment is made once even when the server is killed between
//! GitHub's answer and recording it (`comment.in-flight`): the row is sent again after the
//! restart, finds the comment by its keyed mark, and later results edit that one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use provenant::base::crashpoint;

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::{REPO, github_pr};

/// A GitHub stand-in that keeps the comments made on pull request 5 and lists them.
fn github_with_comments() -> (FakeRemote, Arc<Mutex<Vec<Value>>>) {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, "{}"));
    let comments: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = comments.clone();
    let list = format!("/repos/{REPO}/issues/5/comments");
    api.respond_with(move |r| {
        let mut kept = kept.lock().expect("lock");
        if r.method == "POST" && r.path == list {
            let id = 700 + kept.len() as u64;
            let comment = json!({"id": id, "body": r.json()["body"]});
            kept.push(comment.clone());
            return Some(Canned::status(201, &comment.to_string()));
        }
        if r.method == "GET" && r.path.starts_with(&format!("{list}?")) {
            return Some(Canned::status(200, &Value::from(kept.clone()).to_string()));
        }
        None
    });
    (api, comments)
}

fn start(dir: &std::path::Path, crash_at: Option<u32>) -> Server {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN);
    if let Some(hit) = crash_at {
        cmd.env(
            crashpoint::ENV_VAR,
            format!("{}:{hit}", crashpoint::COMMENT_IN_FLIGHT),
        );
    }
    Server::spawn(cmd)
}

#[test]
fn a_comment_posted_but_not_recorded_at_a_kill_is_found_not_posted_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let (github, comments) = github_with_comments();
    let agent = agent();
    let server = start(dir.path(), Some(1));
    let (status, created) = call(
        &agent,
        "POST",
        &format!("{}/api/integrations", server.address),
        &json!({"type": "GITHUB", "name": "gh", "config": {
            "repo": REPO, "token": "ghp_comment_crash", "api_url": github.url,
            "allow_unverified": true}})
        .to_string(),
    );
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<Value>(&created).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let head = "5".repeat(40);
    let mut resp = agent
        .post(&format!("{}/api/integrations/webhook/{id}", server.address))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .send(
            github_pr("opened", 5, "main", &head, false, None)
                .to_string()
                .as_bytes(),
        )
        .expect("deliver");
    assert_eq!(resp.status(), 202, "{:?}", resp.body_mut().read_to_string());
    let run = loop {
        let (_, runs) = get(
            &agent,
            &format!("{}/api/eval-runs", server.address),
            Some(TOKEN),
        );
        let runs: Value = serde_json::from_str(&runs).expect("json");
        if let Some(run) = runs["items"][0]["id"].as_str() {
            break run.to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let report = |server: &Server, score: f64| {
        let (status, text) = call(
            &agent,
            "PATCH",
            &format!("{}/api/eval-runs/{run}", server.address),
            &json!({"status": "RUNNING", "score": score}).to_string(),
        );
        assert_eq!(status, 200, "{text}");
    };
    report(&server, 0.5);
    assert!(
        server.wait_for_stderr(
            &format!("crash point reached: {}", crashpoint::COMMENT_IN_FLIGHT),
            Duration::from_secs(30)
        ),
        "{}",
        server.stderr()
    );
    server.kill();
    assert_eq!(comments.lock().expect("lock").len(), 1, "posted once");

    // After the restart the row is sent again: it finds the comment instead of posting one.
    let server = start(dir.path(), None);
    wait_drained(&server, Duration::from_secs(30));
    let (_, outbox) = get(
        &agent,
        &format!("{}/api/outbox?kind=PR_COMMENT", server.address),
        Some(TOKEN),
    );
    let outbox: Value = serde_json::from_str(&outbox).expect("json");
    assert_eq!(outbox["items"][0]["status"], "SENT", "{outbox}");
    assert!(
        outbox["items"][0]["responseExcerpt"]
            .as_str()
            .is_some_and(|e| e.contains("already created: results comment 700")),
        "{outbox}"
    );
    // The next result edits it.
    report(&server, 0.75);
    wait_drained(&server, Duration::from_secs(30));
    let calls: Vec<(String, String)> = github
        .requests()
        .iter()
        .filter(|r| r.path.contains("/issues/"))
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let list = format!("/repos/{REPO}/issues/5/comments");
    assert_eq!(
        calls,
        vec![
            ("GET".into(), format!("{list}?per_page=100")),
            ("POST".into(), list.clone()),
            ("GET".into(), format!("{list}?per_page=100")),
            ("PATCH".into(), format!("/repos/{REPO}/issues/comments/700")),
        ]
    );
    assert_eq!(comments.lock().expect("lock").len(), 1, "one comment");
    assert!(server.terminate().success());
}
