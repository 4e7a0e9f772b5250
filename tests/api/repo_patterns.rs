//! One GITHUB integration for many repositories: `repos` patterns (the last match decides,
//! `!` excludes), each repository's own default branch, the decision in every event's trace,
//! and results posted to the repository the run belongs to.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

const PATTERNS: [&str; 3] = ["octo-org/*", "!octo-org/sandbox", "other-org/agent-*"];

/// A pull request opened on `repo`, whose default branch is `default_branch`, against `base`.
fn pr(repo: &str, default_branch: &str, base: &str, number: i64) -> Vec<u8> {
    let mut payload: Value = serde_json::from_str(
        &github_pr(
            "opened",
            number,
            base,
            &format!("{number:0>40}"),
            false,
            None,
        )
        .to_string()
        .replace(REPO, repo),
    )
    .expect("json");
    payload["repository"]["default_branch"] = json!(default_branch);
    payload.to_string().into_bytes()
}

fn deliver(app: &TestApp, id: &str, body: &[u8]) -> Value {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        body,
    );
    let event = app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
    app.wait_until_idle();
    event
}

#[test]
fn patterns_admit_exclude_and_ignore_with_the_decision_in_the_trace() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, "{}"));
    let created = app.create_integration(
        "GITHUB",
        json!({"repos": PATTERNS, "token": "ghp_patterns", "api_url": api.url, "allow_unverified": true}),
    );
    let id = created["id"].as_str().expect("id").to_string();
    // No branch is stored: each repository's own default branch applies.
    assert!(created["config"].get("branch").is_none(), "{created}");

    let admitted = deliver(&app, &id, &pr("octo-org/agent-repo", "main", "main", 1));
    assert!(
        trace_has(
            &admitted,
            "repository `octo-org/agent-repo` is admitted by `octo-org/*`"
        ),
        "{admitted}"
    );
    let excluded = deliver(&app, &id, &pr("octo-org/sandbox", "main", "main", 2));
    assert_eq!(
        excluded["outcome"],
        "ignored: repository `octo-org/sandbox` is excluded by `!octo-org/sandbox`"
    );
    assert!(trace_has(&excluded, "is excluded by `!octo-org/sandbox`"));
    let unlisted = deliver(&app, &id, &pr("third-org/tool", "main", "main", 3));
    let outcome = unlisted["outcome"].as_str().expect("outcome");
    assert!(
        outcome.starts_with("ignored: repository `third-org/tool` matches none of repos"),
        "{outcome}"
    );
    assert!(trace_has(&unlisted, "matches none of repos"));
    // Its own default branch: `develop`, not main.
    let develop = deliver(&app, &id, &pr("other-org/agent-7", "develop", "develop", 4));
    assert!(trace_has(&develop, "admitted by `other-org/agent-*`"));
    assert!(
        develop["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("eval run")),
        "{develop}"
    );
    let off_default = deliver(&app, &id, &pr("other-org/agent-7", "develop", "main", 5));
    assert_eq!(
        off_default["outcome"],
        "ignored: base branch `main` is not `develop`"
    );

    let runs = app.get("/api/eval-runs").json();
    let mut repos: Vec<&str> = runs["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["repo"].as_str())
        .collect();
    repos.sort_unstable();
    assert_eq!(repos, ["octo-org/agent-repo", "other-org/agent-7"]);
    // Each run's status went to its own repository.
    let mut paths: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.path.rsplit_once('/').expect("sha").0.to_string())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/repos/octo-org/agent-repo/statuses",
            "/repos/other-org/agent-7/statuses"
        ]
    );
}

#[test]
fn repos_are_checked_when_the_integration_is_saved() {
    let app = TestApp::spawn();
    let create = |config: Value| {
        app.post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "Org", "config": config}),
        )
    };
    let problem = create(json!({"repo": "a/b", "repos": ["a/*"]})).problem(422);
    assert_eq!(problem["field"], "config.repos", "{problem}");
    assert_eq!(create(json!({})).problem(422)["field"], "config.repo");
    assert_eq!(
        create(json!({"repos": ["!a/b"]})).problem(422)["field"],
        "config.repos"
    );
    assert_eq!(
        create(json!({"repos": []})).problem(422)["field"],
        "config.repos"
    );
    let problem = create(json!({"repos": ["a/*", "a/b/c"]})).problem(422);
    assert_eq!(problem["field"], "config.repos[1]", "{problem}");
    let many: Vec<String> = (0..101).map(|n| format!("org/r{n}")).collect();
    assert_eq!(
        create(json!({"repos": many})).problem(422)["field"],
        "config.repos"
    );
    assert_eq!(app.integration_count(), 0);
    // A one-repository integration keeps its default branch, as before.
    let one = app.create_integration("GITHUB", json!({"repo": "a/b"}));
    assert_eq!(one["config"]["branch"], "main");
}
