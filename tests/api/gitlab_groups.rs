//! One GITLAB integration for a whole group: a group webhook's deliveries for every project
//! the `projects` patterns admit, commit statuses to each delivery's own project, with a
//! group access token; the pattern decision in each event's trace.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

const GROUP_TOKEN: &str = "glpat-group-access-token";

/// A merge request opened on the project `path` (id `id`) of the group.
fn mr_on(path: &str, id: i64, iid: i64) -> Value {
    let mut payload = gitlab_mr("open", iid, &format!("{iid:0>40}"), None, None);
    payload["project"]["id"] = json!(id);
    payload["project"]["path_with_namespace"] = json!(path);
    payload["project"]["web_url"] = json!(format!("https://gitlab.example.com/{path}"));
    payload
}

fn deliver(app: &TestApp, id: &str, payload: &Value) -> Value {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Merge Request Hook"),
        ],
        payload.to_string().as_bytes(),
    );
    let event = app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
    app.wait_until_idle();
    event
}

#[test]
fn a_group_takes_its_admitted_projects_and_posts_to_each_ones_own_project() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, "{}"));
    let id = app.create_integration_id(
        "GITLAB",
        json!({"group": "grp", "projects": ["grp/**", "!grp/sandbox"], "token": GROUP_TOKEN,
               "api_url": api.url, "allow_unverified": true}),
    );

    let first = deliver(&app, &id, &mr_on("grp/agent-project", 42, 1));
    assert!(
        trace_has(
            &first,
            "project `grp/agent-project` is admitted by `grp/**`"
        ),
        "{first}"
    );
    let nested = deliver(&app, &id, &mr_on("grp/platform/evals", 43, 2));
    assert!(
        trace_has(
            &nested,
            "project `grp/platform/evals` is admitted by `grp/**`"
        ),
        "{nested}"
    );
    let excluded = deliver(&app, &id, &mr_on("grp/sandbox", 44, 3));
    assert_eq!(
        excluded["outcome"],
        "ignored: project `grp/sandbox` is excluded by `!grp/sandbox`"
    );
    let elsewhere = deliver(&app, &id, &mr_on("other/thing", 45, 4));
    assert_eq!(
        elsewhere["outcome"],
        "ignored: project `other/thing` matches none of projects (`grp/**`, `!grp/sandbox`)"
    );

    // One pending status each, to its own project, with the group's token.
    let calls = api.requests();
    let mut paths: Vec<&str> = calls.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            format!("/projects/grp%2Fagent-project/statuses/{:0>40}", 1),
            format!("/projects/grp%2Fplatform%2Fevals/statuses/{:0>40}", 2),
        ]
    );
    assert!(
        calls
            .iter()
            .all(|r| r.header("private-token") == Some(GROUP_TOKEN))
    );
    let runs = app.get("/api/eval-runs").json();
    let mut repos: Vec<&str> = runs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["repo"].as_str().expect("repo"))
        .collect();
    repos.sort();
    assert_eq!(repos, ["grp/agent-project", "grp/platform/evals"]);

    // The test reads the group with the token.
    let tested = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert!(
        api.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/groups/grp")
    );
}

#[test]
fn a_group_without_patterns_takes_its_own_projects_only() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITLAB", json!({"group": "grp", "allow_unverified": true}));
    let ours = deliver(&app, &id, &mr_on("grp/agent-project", 42, 1));
    assert!(
        trace_has(&ours, "project `grp/agent-project` is in the group"),
        "{ours}"
    );
    let other = deliver(&app, &id, &mr_on("grpx/agent-project", 46, 2));
    assert_eq!(
        other["outcome"],
        "ignored: project `grpx/agent-project` is not in group `grp`"
    );
}

#[test]
fn a_gitlab_config_takes_a_project_or_a_group_and_patterns_only_with_a_group() {
    let app = TestApp::spawn();
    for (config, field) in [
        (json!({}), "config.project_id"),
        (json!({"project_id": 42, "group": "grp"}), "config.group"),
        (
            json!({"project_id": 42, "projects": ["grp/*"]}),
            "config.projects",
        ),
        (
            json!({"group": "grp", "projects": ["!grp/x"]}),
            "config.projects",
        ),
        (
            json!({"group": "grp", "projects": ["grp"]}),
            "config.projects[0]",
        ),
        (json!({"group": "../x"}), "config.group"),
    ] {
        let reply = app.post_json(
            "/api/integrations",
            &json!({"name": "g", "type": "GITLAB", "config": config}),
        );
        let problem = reply.problem(422);
        assert!(
            problem["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{config}: {problem}"
        );
    }
    // A group by its id is fine too.
    app.create_integration_id("GITLAB", json!({"group": "1234", "projects": ["grp/*"]}));
}

#[test]
fn a_group_reconciles_from_its_group_hooks_event_log() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    let id = app.create_integration_id(
        "GITLAB",
        json!({"group": "grp", "token": GROUP_TOKEN, "api_url": api.url, "hook_id": 7}),
    );
    // GitLab's group hook event log: one event that never arrived here.
    api.push(Canned::status(
        200,
        &json!([{
            "id": 501, "url": "https://provenant.example/hook", "trigger": "merge_request_hooks",
            "request_headers": {"X-Gitlab-Event": "Merge Request Hook",
                                "X-Gitlab-Event-UUID": "uuid-lost", "Idempotency-Key": "lost-key"},
            "response_status": "internal error"
        }])
        .to_string(),
    ));
    api.set_default(Canned::status(201, "{}"));
    let report = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert_eq!(report["requested"], 1, "{report}");
    app.wait_until_idle();
    let calls: Vec<(String, String)> = api
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "GET".to_string(),
                "/groups/grp/hooks/7/events?per_page=100".to_string()
            ),
            (
                "POST".to_string(),
                "/groups/grp/hooks/7/events/501/resend".to_string()
            ),
        ]
    );
}
