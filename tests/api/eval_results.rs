//! Results, not just a status: a runner's score, metrics and cases become the commit status's
//! one line (within 140 characters), one pull request comment edited in place (recreated when
//! deleted), a GitHub App's check run with the table and annotations 50 to a request, a GitLab
//! note, the run's Slack message, and `GET /api/eval-runs/{id}/results`; all against the
//! baseline, the newest succeeded run of a merged pull request. GitHub, GitLab and Slack are
//! stand-ins that record what they receive.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded};
use crate::fixtures::*;
use crate::github_app_standin::*;
use crate::helpers::*;

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

struct Forge {
    app: TestApp,
    id: String,
}

impl Forge {
    fn deliver(&self, header: (&str, &str), payload: &Value) {
        let event_id = self.app.deliver_accepted(
            &self.id,
            &[("content-type", "application/json"), header],
            payload.to_string().as_bytes(),
        );
        let event = self
            .app
            .wait_for_status(&self.id, &event_id, &["PROCESSED", "FAILED"]);
        assert_eq!(event["status"], "PROCESSED", "{event}");
        self.app.wait_until_idle();
    }

    fn github(&self, event: &str, payload: &Value) {
        self.deliver(("x-github-event", event), payload);
    }

    /// The eval run of the pull request at `head`, opened now.
    fn open_pr(&self, number: i64, head: &str) -> String {
        self.github(
            "pull_request",
            &github_pr("opened", number, "main", head, false, None),
        );
        self.run_at(head)
    }

    fn run_at(&self, head: &str) -> String {
        self.app.get("/api/eval-runs").json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["headSha"] == head)
            .and_then(|r| r["id"].as_str())
            .unwrap_or_else(|| panic!("no run at {head}"))
            .to_string()
    }

    /// A PATCH of the run, and what it queued sent.
    fn report(&self, run: &str, body: Value) -> Value {
        let reply = self.app.patch_json(&format!("/api/eval-runs/{run}"), &body);
        assert_eq!(reply.status, 200, "{}", reply.text);
        self.app.wait_until_idle();
        reply.json()
    }
}

fn metric(name: &str, value: f64) -> Value {
    json!({"name": name, "value": value})
}

/// 90 cases, the first `failing` of them failing.
fn cases(failing: usize) -> Vec<Value> {
    (0..90)
        .map(|i| {
            if i < failing {
                json!({"name": format!("case {i}"), "passed": false, "score": 0.0,
                       "message": format!("expected {i}")})
            } else {
                json!({"name": format!("case {i}"), "passed": true})
            }
        })
        .collect()
}

/// A merged pull request #3 whose run succeeded with results: the baseline of later ones.
fn merge_a_baseline(forge: &Forge) -> String {
    let head = sha('3');
    let run = forge.open_pr(3, &head);
    forge.report(
        &run,
        json!({"status": "SUCCEEDED", "score": 0.85,
               "metrics": [metric("accuracy", 0.91), {"name": "latency", "value": 300, "unit": "ms", "higherIsBetter": false}]}),
    );
    forge.github(
        "pull_request",
        &github_pr("closed", 3, "main", &head, true, Some(&sha('9'))),
    );
    run
}

fn comment_calls(calls: &[Recorded]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter(|c| c.path.contains("/issues/") || c.path.contains("/notes"))
        .map(|c| (c.method.clone(), c.path.clone()))
        .collect()
}

#[test]
fn results_become_the_status_line_one_edited_comment_and_a_comparison_with_the_baseline() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(200, "ok"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": "ghp_results", "api_url": api.url}),
    );
    app.create_integration_id("SLACK", json!({"webhook_url": slack.url}));
    let forge = Forge { app, id };
    let baseline = merge_a_baseline(&forge);

    let head = sha('5');
    let run = forge.open_pr(5, &head);
    forge.report(&run, json!({"status": "RUNNING"}));
    let before = api.requests().len();
    let shown = forge.report(
        &run,
        json!({"status": "SUCCEEDED", "score": 0.9,
               "metrics": [{"name": "accuracy", "value": 0.93, "threshold": 0.9},
                           {"name": "latency", "value": 280, "unit": "ms", "higherIsBetter": false, "threshold": 250}],
               "cases": cases(3)}),
    );
    assert_eq!(shown["score"], 0.9);

    // The commit status says it in one line, with the changes from the baseline.
    let calls = api.requests()[before..].to_vec();
    let status = calls
        .iter()
        .find(|c| c.path == format!("/repos/{REPO}/statuses/{head}"))
        .expect("a status");
    assert_eq!(status.json()["state"], "success");
    let line = status.json()["description"]
        .as_str()
        .expect("description")
        .to_string();
    assert_eq!(
        line,
        "87/90 passed · score 0.9 (+0.05) · accuracy 0.93 (+0.02)"
    );
    assert!(line.chars().count() <= 140);

    // One comment (looked for first, in case an earlier attempt made it), with the table and
    // the failing cases, pinging nobody.
    assert_eq!(
        comment_calls(&calls),
        vec![
            (
                "GET".into(),
                format!("/repos/{REPO}/issues/5/comments?per_page=100")
            ),
            ("POST".into(), format!("/repos/{REPO}/issues/5/comments")),
        ]
    );
    let body = calls
        .iter()
        .find(|c| c.path.ends_with("/issues/5/comments"))
        .expect("comment")
        .json()["body"]
        .as_str()
        .expect("body")
        .to_string();
    assert!(
        body.contains("| accuracy | 0.93 | 0.91 | +0.02 | ≥ 0.9 | ✔ |"),
        "{body}"
    );
    assert!(
        body.contains("| latency | 280 ms | 300 | -20 | ≤ 250 | ✘ |"),
        "{body}"
    );
    assert!(body.contains("**Failing cases** (3 of 90)"), "{body}");
    assert!(
        body.contains(&format!("Baseline: run `{baseline}` of #3")),
        "{body}"
    );
    assert!(body.contains(&format!("/eval-runs#{run}")), "{body}");
    assert!(body.starts_with("<!-- provenant:eval:"), "{body}");

    // The API shows the same comparison.
    let results = forge
        .app
        .get(&format!("/api/eval-runs/{run}/results"))
        .json();
    assert_eq!(results["baseline"]["id"], baseline.as_str());
    assert_eq!(results["baselineScore"], 0.85);
    assert_eq!(results["casesPassed"], 87);
    assert_eq!(results["casesTotal"], 90);
    assert_eq!(results["failingCases"].as_array().map(Vec::len), Some(3));
    let change = results["metrics"][0]["change"].as_f64().expect("change");
    assert!((change - 0.02).abs() < 1e-9, "{results}");
    assert_eq!(results["metrics"][1]["passed"], false);
    assert_eq!(results["line"], line.as_str());

    // Slack's message for the run's end carries the line.
    let said: Vec<String> = slack
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    assert!(
        said.iter()
            .any(|m| m.contains("Eval run succeeded") && m.contains("87/90 passed")),
        "{said:?}"
    );

    // A new result of the same pull request's next commit edits the same comment.
    let next = forge.open_pr_sync(5, &sha('6'));
    let before = api.requests().len();
    forge.report(
        &next,
        json!({"status": "FAILED", "metrics": [metric("accuracy", 0.8)], "cases": cases(10)}),
    );
    let calls = api.requests()[before..].to_vec();
    assert_eq!(
        comment_calls(&calls),
        vec![(
            "PATCH".into(),
            format!("/repos/{REPO}/issues/comments/4242")
        )]
    );
    let edited = calls
        .iter()
        .find(|c| c.method == "PATCH")
        .expect("edit")
        .json();
    assert!(
        edited["body"]
            .as_str()
            .is_some_and(|b| b.contains("| accuracy | 0.8 | 0.91 | -0.11 |")),
        "{edited}"
    );

    // Someone deleted it: the next result makes it again, once.
    api.route(
        &format!("/repos/{REPO}/issues/comments/4242"),
        Canned::status(404, r#"{"message": "Not Found"}"#),
    );
    let third = forge.open_pr_sync(5, &sha('7'));
    let before = api.requests().len();
    forge.report(&third, json!({"status": "SUCCEEDED", "score": 1.0}));
    let calls = api.requests()[before..].to_vec();
    assert_eq!(
        comment_calls(&calls),
        vec![
            (
                "PATCH".into(),
                format!("/repos/{REPO}/issues/comments/4242")
            ),
            (
                "GET".into(),
                format!("/repos/{REPO}/issues/5/comments?per_page=100")
            ),
            ("POST".into(), format!("/repos/{REPO}/issues/5/comments")),
        ]
    );
}

impl Forge {
    /// A new head commit on pull request `number`: its new run.
    fn open_pr_sync(&self, number: i64, head: &str) -> String {
        self.github(
            "pull_request",
            &github_pr("synchronize", number, "main", head, false, None),
        );
        self.run_at(head)
    }
}

#[test]
fn results_out_of_bounds_are_refused_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"allow_unverified": true, "repo": REPO}));
    let forge = Forge { app, id };
    let run = forge.open_pr(8, &sha('8'));
    let refused = |body: Value, field: &str| {
        let reply = forge
            .app
            .patch_json(&format!("/api/eval-runs/{run}"), &body);
        assert_eq!(reply.status, 422, "{}", reply.text);
        assert_eq!(reply.json()["field"], field, "{}", reply.text);
    };
    refused(json!({"status": "RUNNING", "score": 1.5}), "score");
    let many: Vec<Value> = (0..51).map(|i| metric(&format!("m{i}"), 1.0)).collect();
    refused(json!({"status": "RUNNING", "metrics": many}), "metrics");
    refused(
        json!({"status": "RUNNING", "metrics": [metric("a", 1.0), metric("a", 2.0)]}),
        "metrics[1].name",
    );
    refused(
        json!({"status": "RUNNING", "cases": [{"name": "x", "passed": false, "line": 3}]}),
        "cases[0].line",
    );
    refused(
        json!({"status": "RUNNING", "cases": [{"name": "x", "passed": false, "message": "m".repeat(1025)}]}),
        "cases[0].message",
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"name": format!("c{i}"), "passed": true}))
        .collect();
    refused(json!({"status": "RUNNING", "cases": too_many}), "cases");
    let results = forge
        .app
        .get(&format!("/api/eval-runs/{run}/results"))
        .json();
    assert_eq!(results["reported"], false, "{results}");
    let listed = forge.app.get("/api/eval-runs").json();
    assert_eq!(listed["items"][0]["status"], "PENDING");
    // A thousand cases with 1 KB messages fit in one request.
    let full: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("case {i}"), "passed": i % 2 == 0, "message": "m".repeat(1024)}))
        .collect();
    forge.report(&run, json!({"status": "RUNNING", "cases": full}));
    let results = forge
        .app
        .get(&format!("/api/eval-runs/{run}/results"))
        .json();
    assert_eq!(results["casesTotal"], 1000);
    assert_eq!(results["failingCases"].as_array().map(Vec::len), Some(500));
}

#[test]
fn a_github_app_check_run_gets_the_table_and_annotations_fifty_to_a_request() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "app_id": APP_ID, "private_key": KEY, "api_url": github.api.url,
               "allow_unverified": true, "eval": {"comment": false}}),
    );
    let forge = Forge { app, id };
    let run = forge.open_pr(7, &sha('a'));
    let failing: Vec<Value> = (0..130)
        .map(|i| {
            json!({"name": format!("case {i}"), "passed": i >= 120, "path": "src/lib.rs",
                   "line": i + 1, "message": format!("wrong at {i}")})
        })
        .collect();
    forge.report(
        &run,
        json!({"status": "FAILED", "summary": "Nightly suite.", "targetUrl": "https://ci.example.com/runs/7",
               "metrics": [{"name": "accuracy", "value": 0.7, "threshold": 0.9}], "cases": failing}),
    );
    let updates = github.calls(|r| r.method == "PATCH" && r.path.contains("/check-runs/"));
    let completed = updates
        .iter()
        .find(|r| r.json()["conclusion"] == "failure")
        .expect("completed")
        .json();
    assert_eq!(completed["output"]["title"], "10/130 passed · accuracy 0.7");
    let summary = completed["output"]["summary"].as_str().expect("summary");
    assert!(summary.starts_with("Nightly suite.\n\n"), "{summary}");
    // The check run links to the runner's report; its table, to the run's page here.
    assert_eq!(completed["details_url"], "https://ci.example.com/runs/7");
    assert!(summary.contains(&format!("/eval-runs#{run}")), "{summary}");
    assert!(
        summary.contains("| accuracy | 0.7 | – | – | ≥ 0.9 | ✘ |"),
        "{summary}"
    );
    let batches: Vec<usize> = updates
        .iter()
        .filter_map(|r| r.json()["output"]["annotations"].as_array().map(Vec::len))
        .collect();
    assert_eq!(batches, vec![50, 50, 20]);
    let first = &updates
        .iter()
        .find(|r| r.json()["output"]["annotations"].is_array())
        .expect("annotations")
        .json()["output"]["annotations"][0];
    assert_eq!(first["path"], "src/lib.rs");
    assert_eq!(first["start_line"], 1);
    assert_eq!(first["annotation_level"], "failure");
    // `eval.comment: false`: no comment.
    assert!(github.calls(|r| r.path.contains("/issues/")).is_empty());
}

#[test]
fn a_gitlab_merge_request_gets_one_note_edited_in_place() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 77}"#));
    let id = app.create_integration_id(
        "GITLAB",
        json!({"allow_unverified": true, "project_id": 42, "token": "glpat-results", "api_url": api.url}),
    );
    let forge = Forge { app, id };
    let head = sha('c');
    forge.deliver(
        ("x-gitlab-event", "Merge Request Hook"),
        &gitlab_mr("open", 9, &head, None, None),
    );
    let run = forge.run_at(&head);
    forge.report(&run, json!({"status": "RUNNING", "score": 0.5}));
    forge.report(&run, json!({"status": "SUCCEEDED", "score": 0.75}));
    let calls = api.requests();
    assert_eq!(
        comment_calls(&calls),
        vec![
            (
                "GET".into(),
                "/projects/42/merge_requests/9/notes?per_page=100&sort=asc&order_by=created_at"
                    .into()
            ),
            ("POST".into(), "/projects/42/merge_requests/9/notes".into()),
            (
                "PUT".into(),
                "/projects/42/merge_requests/9/notes/77".into()
            ),
        ]
    );
    let status = calls
        .iter()
        .rev()
        .find(|c| c.path == format!("/projects/42/statuses/{head}"))
        .expect("status")
        .json();
    assert_eq!(status["description"], "score 0.75");
}

#[test]
fn the_eval_run_page_shows_metrics_against_the_baseline_and_the_failing_cases() {
    use crate::browser::{Browser, run};
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"allow_unverified": true, "repo": REPO}));
    let forge = Forge { app, id };
    merge_a_baseline(&forge);
    let run_id = forge.open_pr(5, &sha('5'));
    forge.report(
        &run_id,
        json!({"status": "FAILED", "score": 0.8,
               "metrics": [{"name": "accuracy", "value": 0.93, "threshold": 0.95}],
               "cases": [{"name": "<img src=x id=injected>", "passed": false, "score": 0.25,
                          "message": "expected 4", "path": "evals/math.py", "line": 12},
                         {"name": "subtracts", "passed": true}]}),
    );
    run(async {
        let Some(b) = Browser::start("eval run results").await else {
            return;
        };
        b.sign_in(&forge.app.address, TOKEN).await;
        b.goto(&forge.app.url(&format!("/eval-runs#{run_id}")))
            .await;
        b.wait_for("#results-metrics tbody tr").await;
        let metrics = b.text_of("#results-metrics").await;
        for expected in ["accuracy", "0.93", "0.91", "+0.02", "≥ 0.95", "fail"] {
            assert!(metrics.contains(expected), "{expected}: {metrics}");
        }
        let failing = b.text_of("#results-failing").await;
        assert!(failing.contains("Failing cases (1 of 2)"), "{failing}");
        assert!(failing.contains("evals/math.py:12"), "{failing}");
        // A case's name is text, never markup.
        assert!(failing.contains("<img src=x id=injected>"), "{failing}");
        assert_eq!(b.count("#injected").await, 0);
        let panel = b.text_of("#run-results").await;
        assert!(
            panel.contains("1/2 passed · score 0.8 (-0.05) · accuracy 0.93 (+0.02)"),
            "{panel}"
        );
        assert!(panel.contains("Baseline: run"), "{panel}");
        let violations = b.axe_violations().await;
        assert!(violations.is_empty(), "{violations:#?}");
        b.screenshot("17-eval-run-results").await;
        b.close().await;
    });
}

#[test]
fn with_eval_on_push_each_push_is_evaluated_and_is_the_baseline() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let refused = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "x", "config": {"repo": REPO, "deploy": {"on_push": true}}}),
    );
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["field"], "config.deploy.on_push");
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": "ghp_on_push", "api_url": api.url,
               "eval": {"on_push": true}}),
    );
    let forge = Forge { app, id };

    // A push to the branch: a deployment, and an eval run of the commit (no pull request).
    let pushed = sha('e');
    forge.github("push", &github_push("refs/heads/main", &pushed));
    let runs = forge.app.get("/api/eval-runs").json();
    let push_run = &runs["items"][0];
    assert_eq!(push_run["number"], 0, "{runs}");
    assert_eq!(push_run["headSha"], pushed.as_str());
    let push_run = push_run["id"].as_str().expect("id").to_string();
    assert_eq!(
        forge.app.get("/api/deployments").json()["items"][0]["commitSha"],
        pushed.as_str()
    );
    forge.report(
        &push_run,
        json!({"status": "SUCCEEDED", "score": 0.8, "metrics": [metric("accuracy", 0.9)]}),
    );
    assert!(
        api.requests().iter().all(|r| !r.path.contains("/issues/")),
        "a push's run comments on no pull request"
    );

    // A merged pull request's run, newer, is not the baseline when pushes are evaluated.
    merge_a_baseline(&forge);
    let run = forge.open_pr(5, &sha('5'));
    let before = api.requests().len();
    forge.report(
        &run,
        json!({"status": "SUCCEEDED", "metrics": [metric("accuracy", 0.93)]}),
    );
    let calls = api.requests()[before..].to_vec();
    let status = calls
        .iter()
        .find(|c| c.path.contains("/statuses/"))
        .expect("status")
        .json();
    assert_eq!(status["description"], "accuracy 0.93 (+0.03)");
    let comment = calls
        .iter()
        .find(|c| c.method == "POST" && c.path.ends_with("/issues/5/comments"))
        .expect("comment")
        .json();
    assert!(
        comment["body"]
            .as_str()
            .is_some_and(|b| b.contains(&format!(
                "Baseline: run `{push_run}` of the push of `eeeeeee`"
            ))),
        "{comment}"
    );
    let results = forge
        .app
        .get(&format!("/api/eval-runs/{run}/results"))
        .json();
    assert_eq!(results["baseline"]["id"], push_run.as_str());
    assert_eq!(results["baseline"]["number"], 0);
}
