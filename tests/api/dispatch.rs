//! Dispatch to an HTTP runner: a pull request's eval run is POSTed to the runner stand-in as
//! `eval_run.requested`, signed the Standard Webhooks way (the test recomputes the signature),
//! with a callback token that reports on that one run until it ends; a runner that never takes
//! it fails the run with why.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use provenant::base::clock::Clock;

use crate::fake::{Canned, FakeRemote, Recorded};
use crate::fixtures::*;
use crate::helpers::*;

/// A signing secret made for this test, as Standard Webhooks writes one.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("random");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn expected_signature(secret: &str, sent: &Recorded) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(
        format!(
            "{}.{}.",
            sent.header("webhook-id").expect("webhook-id"),
            sent.header("webhook-timestamp").expect("webhook-timestamp")
        )
        .as_bytes(),
    );
    mac.update(&sent.body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

struct Setup {
    app: TestApp,
    id: String,
    runner: FakeRemote,
    secret: String,
    /// The server's clock, which the test may move.
    clock: Clock,
}

fn setup(runner_answer: Canned) -> Setup {
    setup_with(runner_answer, |_| {})
}

/// An integration whose eval runs and deployments go to the runner stand-in (one secret for
/// both); `adjust` changes its config before it is made.
fn setup_with(runner_answer: Canned, adjust: impl FnOnce(&mut Value)) -> Setup {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Default::default(),
    );
    let runner = FakeRemote::start();
    runner.set_default(runner_answer);
    let secret = new_secret();
    let dispatch = json!({"url": format!("{}/provenant", runner.url), "secret": secret});
    let mut config = json!({
        "repo": REPO,
        "allow_unverified": true,
        "eval": {"dispatch": dispatch},
        "deploy": {"dispatch": dispatch},
    });
    adjust(&mut config);
    let id = app.create_integration_id("GITHUB", config);
    Setup {
        app,
        id,
        runner,
        secret,
        clock,
    }
}

impl Setup {
    /// Delivers a GitHub `event`, waits until it is PROCESSED and what it queued was sent;
    /// the event as the API shows it.
    fn deliver(&self, event: &str, payload: &Value) -> Value {
        let event_id = self.app.deliver_accepted(
            &self.id,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
            ],
            payload.to_string().as_bytes(),
        );
        let shown = self
            .app
            .wait_for_status(&self.id, &event_id, &["PROCESSED", "FAILED"]);
        assert_eq!(shown["status"], "PROCESSED", "{shown}");
        self.app.wait_until_idle();
        shown
    }

    fn open_pr(&self, number: i64, head: &str) -> String {
        self.deliver(
            "pull_request",
            &github_pr("opened", number, "main", head, false, None),
        );
        let runs = self.app.get("/api/eval-runs").json();
        runs["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["headSha"] == head)
            .and_then(|r| r["id"].as_str())
            .expect("a run at the head")
            .to_string()
    }

    /// Merges pull request `number` at `merge_sha`: a deployment of it. Returns its id.
    fn merge_pr(&self, number: i64, merge_sha: &str) -> String {
        let merged = github_pr(
            "closed",
            number,
            "main",
            &"0".repeat(40),
            true,
            Some(merge_sha),
        );
        self.deliver("pull_request", &merged);
        self.app.get("/api/deployments").json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|d| d["commitSha"] == merge_sha)
            .and_then(|d| d["id"].as_str())
            .expect("a deployment of the merge")
            .to_string()
    }

    fn patch_as(&self, token: &str, run_id: &str, body: Value) -> Reply {
        self.patch_at(token, &format!("/api/eval-runs/{run_id}"), body)
    }

    fn patch_at(&self, token: &str, path: &str, body: Value) -> Reply {
        self.app.request(
            "PATCH",
            path,
            Some(token),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// An eval run or a deployment as the API shows it (`path`: `/api/eval-runs` …).
    fn shown(&self, path: &str, id: &str) -> Value {
        self.app.get(path).json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is not in {path}"))
    }

    /// The (first) DISPATCH row as `GET /api/outbox` shows it.
    fn dispatch_row(&self) -> Value {
        let outbox = self.app.get("/api/outbox?kind=DISPATCH").json();
        outbox["items"][0].clone()
    }

    /// An eval run's summary as stored (the check run's text; not in the API's answers).
    fn summary(&self, run_id: &str) -> String {
        self.app
            .db()
            .value("SELECT summary FROM eval_runs WHERE id = ?1", &[&run_id])
            .expect("summary")
    }

    /// Waits until the run at `path` has left PENDING and RUNNING (the worker's sweep runs
    /// at once after the clock is moved); returns it.
    fn wait_ended(&self, path: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let run = self.shown(path, id);
            if run["status"] == "FAILED" || run["status"] == "SUCCEEDED" {
                self.app.wait_until_idle();
                return run;
            }
            assert!(std::time::Instant::now() < deadline, "still open: {run}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Every field the runner is given (but its callback) is the one the API shows, by the same
/// name and with the same value: the two views of a run cannot drift apart.
fn assert_given_as_shown(given: &Value, shown: &Value) {
    let given = given.as_object().expect("data");
    assert!(given.len() > 10, "{given:?}");
    for (name, value) in given {
        if name == "callback" {
            continue;
        }
        let shown_value = shown.get(name).unwrap_or(&Value::Null);
        assert_eq!(
            value, shown_value,
            "`{name}` given to the runner differs from the API's: {shown}"
        );
    }
}

#[test]
fn a_pull_request_sends_one_signed_request_and_its_token_reports_on_that_run_alone_until_it_ends() {
    let s = setup(Canned::status(202, "{}"));
    let run_id = s.open_pr(41, &"a".repeat(40));
    let sent = s.runner.requests();
    assert_eq!(sent.len(), 1, "one request to the runner");
    let request = &sent[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/provenant");
    assert_eq!(
        request.header("webhook-signature"),
        Some(expected_signature(&s.secret, request).as_str()),
        "signed with the runner's secret"
    );
    let body = request.json();
    assert_eq!(body["type"], "eval_run.requested");
    assert_eq!(body["data"]["id"], run_id.as_str());
    assert_eq!(body["data"]["repo"], REPO);
    assert_eq!(body["data"]["number"], 41);
    let callback = &body["data"]["callback"];
    assert!(
        callback["url"]
            .as_str()
            .expect("callback url")
            .ends_with(&format!("/api/eval-runs/{run_id}")),
        "{callback}"
    );
    let token = callback["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("prv_run_"), "{token}");
    assert_given_as_shown(&body["data"], &s.shown("/api/eval-runs", &run_id));

    // The signing secret is shown as `***`, and stored sealed.
    let shown = s.app.get(&format!("/api/integrations/{}", s.id));
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert!(!shown.text.contains(&s.secret), "{}", shown.text);
    assert_eq!(
        shown.json()["config"]["eval"]["dispatch"]["secret"],
        "***",
        "{}",
        shown.text
    );

    // The token is nowhere else: not in the outbox row, not in the event's trace.
    let outbox = s.app.get("/api/outbox").text;
    assert!(!outbox.contains(&token), "the outbox shows the token");
    let events = s
        .app
        .get(&format!("/api/integrations/{}/events", s.id))
        .text;
    assert!(!events.contains(&token), "the events show the token");
    assert!(
        !s.app.database_contains(&token),
        "the token is stored as it is, not as a hash"
    );
    assert!(outbox.contains("DISPATCH"), "{outbox}");

    // Another run's id with that token: 403; anything else: 403.
    let other = s.open_pr(42, &"b".repeat(40));
    let refused = s.patch_as(&token, &other, json!({"status": "RUNNING"}));
    assert_eq!(refused.status, 403, "{}", refused.text);
    let listing = s
        .app
        .request("GET", "/api/integrations", Some(&token), &[], None);
    assert_eq!(listing.status, 403, "{}", listing.text);

    // Its own run: yes, and the audit log names the run's token.
    let running = s.patch_as(&token, &run_id, json!({"status": "RUNNING"}));
    assert_eq!(running.status, 200, "{}", running.text);
    let done = s.patch_as(&token, &run_id, json!({"status": "SUCCEEDED"}));
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["status"], "SUCCEEDED");
    let audit = s.app.get("/api/audit").text;
    assert!(audit.contains(&format!("run:{run_id}")), "{audit}");
    assert!(!audit.contains(&token), "the audit log shows the token");

    // The run has ended: the token admits nothing.
    let after = s.patch_as(&token, &run_id, json!({"status": "FAILED"}));
    assert_eq!(after.status, 401, "{}", after.text);
}

#[test]
fn a_runner_that_refuses_the_run_fails_it_with_why() {
    let s = setup(Canned::status(404, r#"{"error": "no such pipeline"}"#));
    let run_id = s.open_pr(43, &"c".repeat(40));
    assert_eq!(s.runner.requests().len(), 1);
    let run = s.shown("/api/eval-runs", &run_id);
    assert_eq!(run["status"], "FAILED", "{run}");
    let dispatch = s.dispatch_row();
    assert_eq!(dispatch["status"], "FAILED", "{dispatch}");
    assert!(
        dispatch["lastError"].as_str().unwrap_or("").contains("404"),
        "{dispatch}"
    );
}

#[test]
fn a_dispatch_secret_that_is_not_a_signing_secret_is_refused_naming_the_field() {
    let app = TestApp::spawn();
    let create_with = |secret: &str| {
        app.post_json(
            "/api/integrations",
            &json!({
                "name": "runner",
                "type": "GITHUB",
                "config": {
                    "repo": REPO,
                    "eval": {"dispatch": {"url": "https://evals.example.com/provenant", "secret": secret}},
                },
            }),
        )
    };
    let created = create_with("hunter2");
    assert_eq!(created.status, 422, "{}", created.text);
    assert!(
        created.text.contains("config.eval.dispatch.secret"),
        "{}",
        created.text
    );
    let example = create_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_eq!(example.status, 422, "a published example: {}", example.text);
}

/// The twenty-line runner in `docs/integrations/runners.md`, run as written: it checks the
/// signature, runs `./run-evals.sh` and reports RUNNING then SUCCEEDED with the run's token.
#[test]
fn the_documented_runner_runs_the_eval_and_reports_back() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no python3 to run the documented runner");
        return;
    }
    let doc = include_str!("../../docs/integrations/runners.md");
    let script = doc
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the runner's Python block");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("runner.py"), script).expect("write");
    let evals = dir.path().join("run-evals.sh");
    std::fs::write(&evals, "#!/bin/sh\necho \"evaluated $1 at $2\"\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&evals, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let secret = new_secret();
    let mut runner = std::process::Command::new("python3")
        .arg("runner.py")
        .current_dir(dir.path())
        .env("RUNNER_SECRET", &secret)
        .env("PORT", port.to_string())
        .spawn()
        .expect("python3 runner.py");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _runner = Kill(&mut runner);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the runner never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({
            "repo": REPO,
            "allow_unverified": true,
            "eval": {"dispatch": {"url": format!("http://127.0.0.1:{port}/provenant"), "secret": secret}},
        }),
    );
    let head = "d".repeat(40);
    app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 44, "main", &head, false, None)
            .to_string()
            .as_bytes(),
    );
    // The runner works on its own time: ask until the run has ended.
    let run = loop {
        app.wait_until_idle();
        let runs = app.get("/api/eval-runs").json();
        let run = runs["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["headSha"] == head.as_str())
            .cloned();
        if let Some(run) = run.filter(|r| r["status"] == "SUCCEEDED" || r["status"] == "FAILED") {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not end: {runs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let audit = app.get("/api/audit").text;
    assert!(
        audit.contains(&format!("run:{}", run["id"].as_str().expect("id"))),
        "{audit}"
    );
}

/// A new head commit on the pull request: the runner is told the old run was superseded (no
/// token with it, signed like the rest), then asked to run the new one.
#[test]
fn a_superseded_run_is_cancelled_at_the_runner_before_the_new_one_is_requested() {
    let s = setup(Canned::status(202, "{}"));
    let first = s.open_pr(45, &"e".repeat(40));
    let second = s.open_pr(45, &"f".repeat(40));
    let sent = s.runner.requests();
    let said: Vec<(String, String)> = sent
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["type"].as_str().unwrap_or_default().to_string(),
                body["data"]["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("eval_run.requested".to_string(), first.clone()),
            ("eval_run.cancelled".to_string(), first.clone()),
            ("eval_run.requested".to_string(), second.clone()),
        ]
    );
    let cancel = &sent[1];
    assert_eq!(
        cancel.header("webhook-signature"),
        Some(expected_signature(&s.secret, cancel).as_str())
    );
    let body = cancel.json();
    assert_eq!(body["data"]["supersededBy"], second.as_str(), "{body}");
    assert!(body["data"].get("callback").is_none(), "{body}");
}

/// The runner is taken out of the config while a run waits for it (here, behind the runner's
/// rate limit): the request is not sent, and the run stays PENDING for the platform to poll
/// for, as it would have without a runner. It has not failed.
#[test]
fn a_runner_taken_out_of_the_config_leaves_its_waiting_run_pending() {
    let s = setup(Canned::status(429, "{}").header("retry-after", "3600"));
    let run_id = s.open_pr(46, &"9".repeat(40));
    assert_eq!(s.runner.requests().len(), 1, "tried once, then paused");
    let changed = s.app.patch_json(
        &format!("/api/integrations/{}", s.id),
        &json!({"config": {"repo": REPO, "allow_unverified": true}}),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    // The hour's pause is over.
    s.app
        .db()
        .execute("UPDATE destinations SET paused_until = NULL", &[])
        .expect("unpause");
    s.app
        .db()
        .execute(
            "UPDATE outbox SET next_attempt_at = NULL WHERE kind = 'DISPATCH'",
            &[],
        )
        .expect("due now");
    s.app.wait_until_idle();
    assert_eq!(s.runner.requests().len(), 1, "nothing more was sent");
    let dispatch = s.dispatch_row();
    assert_eq!(dispatch["status"], "SENT", "{dispatch}");
    let run = s.shown("/api/eval-runs", &run_id);
    assert_eq!(run["status"], "PENDING", "{run}");
}

/// A merge: its deployment is sent to the deploy runner as `deployment.requested`, signed,
/// with a token that reports on that deployment alone, and the runner's result lands.
#[test]
fn a_merge_asks_the_deploy_runner_and_its_token_reports_on_that_deployment_alone() {
    let s = setup(Canned::status(202, "{}"));
    let merge_sha = "7".repeat(40);
    let deployment_id = s.merge_pr(50, &merge_sha);
    let sent = s.runner.requests();
    let asked: Vec<&Recorded> = sent
        .iter()
        .filter(|r| r.json()["type"] == "deployment.requested")
        .collect();
    assert_eq!(asked.len(), 1, "one deployment.requested");
    let request = asked[0];
    assert_eq!(
        request.header("webhook-signature"),
        Some(expected_signature(&s.secret, request).as_str())
    );
    let body = request.json();
    assert_eq!(body["data"]["id"], deployment_id.as_str());
    assert_eq!(body["data"]["commitSha"], merge_sha.as_str());
    assert_eq!(body["data"]["prNumber"], 50);
    assert_given_as_shown(&body["data"], &s.shown("/api/deployments", &deployment_id));
    let callback = &body["data"]["callback"];
    assert!(
        callback["url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/api/deployments/{deployment_id}")),
        "{callback}"
    );
    let token = callback["token"].as_str().expect("token");

    // Not an eval run's token: no eval run, and no other path.
    let run_id = s.open_pr(51, &"8".repeat(40));
    let refused = s.patch_as(token, &run_id, json!({"status": "RUNNING"}));
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("deployment"), "{}", refused.text);

    let path = format!("/api/deployments/{deployment_id}");
    let done = s.patch_at(token, &path, json!({"status": "SUCCEEDED"}));
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["status"], "SUCCEEDED");
    let audit = s.app.get("/api/audit").text;
    assert!(audit.contains(&format!("run:{deployment_id}")), "{audit}");
    let after = s.patch_at(token, &path, json!({"status": "FAILED"}));
    assert_eq!(after.status, 401, "ended: {}", after.text);
}

/// An eval run and a deployment nobody reports on: past `eval.timeout` and `deploy.timeout`
/// each fails as timed out, says so on its run, and its token no longer admits anything.
#[test]
fn runs_nobody_finishes_fail_as_timed_out_and_their_tokens_end() {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let s = setup_with(Canned::status(202, "{}"), |config| {
        config["eval"]["timeout"] = json!("30m");
        config["deploy"]["timeout"] = json!("2h");
        config["token"] = json!("ghp_timeouts");
        config["api_url"] = json!(api.url);
    });
    let run_id = s.open_pr(52, &"6".repeat(40));
    let deployment_id = s.merge_pr(53, &"5".repeat(40));
    let tokens: Vec<String> = s
        .runner
        .requests()
        .iter()
        .map(|r| {
            r.json()["data"]["callback"]["token"]
                .as_str()
                .expect("token")
                .to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    let run = s.shown("/api/eval-runs", &run_id);
    let made = chrono_ms(&run["createdAt"]);
    assert_eq!(chrono_ms(&run["timeoutAt"]), made + 30 * 60_000, "{run}");

    // Half an hour on: the eval run has timed out, the deployment (two hours) has not.
    s.clock.advance(std::time::Duration::from_secs(30 * 60 + 1));
    let run = s.wait_ended("/api/eval-runs", &run_id);
    assert_eq!(run["status"], "FAILED", "{run}");
    let summary = s.summary(&run_id);
    assert_eq!(summary, "Timed out: no result within 30m (eval.timeout)");
    assert_eq!(
        s.shown("/api/deployments", &deployment_id)["status"],
        "PENDING"
    );
    let statuses: Vec<Value> = api
        .requests()
        .iter()
        .filter(|r| r.path == format!("/repos/{REPO}/statuses/{}", "6".repeat(40)))
        .map(Recorded::json)
        .collect();
    assert_eq!(
        statuses.last().map(|b| b["state"].clone()),
        Some(json!("failure")),
        "the commit is told: {statuses:?}"
    );
    let refused = s.patch_as(&tokens[0], &run_id, json!({"status": "SUCCEEDED"}));
    assert_eq!(refused.status, 401, "{}", refused.text);

    s.clock.advance(std::time::Duration::from_secs(90 * 60));
    let deployment = s.wait_ended("/api/deployments", &deployment_id);
    assert_eq!(deployment["status"], "FAILED", "{deployment}");
    let deployment_states: Vec<Value> = api
        .requests()
        .iter()
        .filter(|r| {
            r.path
                .starts_with(&format!("/repos/{REPO}/deployments/4242/statuses"))
        })
        .map(|r| r.json()["state"].clone())
        .collect();
    assert_eq!(
        deployment_states.last(),
        Some(&json!("failure")),
        "{deployment_states:?}"
    );
    let refused = s.patch_at(
        &tokens[1],
        &format!("/api/deployments/{deployment_id}"),
        json!({"status": "SUCCEEDED"}),
    );
    assert_eq!(refused.status, 401, "{}", refused.text);
}

#[test]
fn a_timeout_out_of_range_is_refused_naming_the_field() {
    let app = TestApp::spawn();
    for (section, timeout) in [("eval", "30s"), ("deploy", "169h"), ("eval", "soon")] {
        let created = app.post_json(
            "/api/integrations",
            &json!({
                "name": "timeouts",
                "type": "GITHUB",
                "config": {"repo": REPO, section: {"timeout": timeout}},
            }),
        );
        assert_eq!(created.status, 422, "{timeout}: {}", created.text);
        let field = format!("config.{section}.timeout");
        assert!(created.text.contains(&field), "{}", created.text);
    }
    let fine = app.post_json(
        "/api/integrations",
        &json!({
            "name": "timeouts",
            "type": "GITHUB",
            "config": {"repo": REPO, "eval": {"timeout": "168h"}, "deploy": {"timeout": "1m"}},
        }),
    );
    assert_eq!(fine.status, 201, "{}", fine.text);
}

/// Milliseconds of an RFC 3339 time the API wrote.
fn chrono_ms(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    provenant::domain::checked::Timestamp::parse(text)
        .unwrap_or_else(|| panic!("not RFC 3339: {text}"))
        .0
}

/// A GITHUB integration whose eval runs and deployments start GitHub Actions workflows, on
/// the API stand-in `api`.
fn workflow_setup(api: &FakeRemote, eval: Value, deploy: Value) -> Setup {
    let url = api.url.clone();
    setup_with(Canned::status(202, "{}"), move |config| {
        config["token"] = json!("ghp_workflows");
        config["api_url"] = json!(url);
        config["eval"] = json!({"dispatch": eval});
        config["deploy"] = json!({"dispatch": deploy});
    })
}

/// The `workflow_dispatch` calls the API stand-in received for `workflow`.
fn workflow_calls(api: &FakeRemote, workflow: &str) -> Vec<Recorded> {
    let path = format!("/repos/{REPO}/actions/workflows/{workflow}/dispatches");
    api.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

/// A pull request starts the eval workflow, and a merge the deploy workflow, each once, with
/// the integration's token, on the ref asked for (else the run's own branch, where the job's
/// token names the run's commit), with the run's values as inputs besides the configured ones.
#[test]
fn a_pull_request_and_a_merge_start_their_workflows_with_the_runs_inputs() {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    api.route(
        &format!("/repos/{REPO}/actions/workflows/evals.yml/dispatches"),
        Canned::status(204, ""),
    );
    api.route(
        &format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"),
        Canned::status(204, ""),
    );
    let s = workflow_setup(
        &api,
        json!({"github_workflow": "evals.yml", "inputs": {"suite": "smoke", "head_sha": "not this"}}),
        json!({"github_workflow": "deploy.yml", "ref": "release"}),
    );
    let head = "4".repeat(40);
    let run_id = s.open_pr(60, &head);
    let calls = workflow_calls(&api, "evals.yml");
    assert_eq!(calls.len(), 1, "one workflow_dispatch");
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer ghp_workflows")
    );
    assert_eq!(
        calls[0].json(),
        json!({"ref": "tune", "inputs": {
            "provenant_run_id": run_id, "repository": REPO, "pr_number": "60",
            "head_sha": head, "base_branch": "main", "suite": "smoke"}})
    );
    assert!(s.runner.requests().is_empty(), "no HTTP runner is asked");
    assert_eq!(s.shown("/api/eval-runs", &run_id)["status"], "PENDING");

    let merge_sha = "3".repeat(40);
    let deployment_id = s.merge_pr(61, &merge_sha);
    let calls = workflow_calls(&api, "deploy.yml");
    assert_eq!(calls.len(), 1, "one workflow_dispatch");
    assert_eq!(
        calls[0].json(),
        json!({"ref": "release", "inputs": {
            "provenant_run_id": deployment_id, "repository": REPO, "pr_number": "61",
            "head_sha": merge_sha, "base_branch": "main"}})
    );
    // The calls are on the outbox, as DISPATCH rows of the integration's API queue.
    let outbox = s.app.get("/api/outbox?kind=DISPATCH").json();
    let rows = outbox["items"].as_array().expect("items");
    assert_eq!(rows.len(), 2, "{outbox}");
    assert!(
        rows.iter().all(|r| r["status"] == "SENT"
            && r["destination"]
                .as_str()
                .unwrap_or("")
                .starts_with("github:")),
        "{outbox}"
    );
    assert!(!outbox.to_string().contains("ghp_workflows"), "{outbox}");
}

/// GitHub refuses the dispatch (no such workflow): the run fails with GitHub's reason.
#[test]
fn a_workflow_github_will_not_start_fails_the_run_with_why() {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    api.route(
        &format!("/repos/{REPO}/actions/workflows/evals.yml/dispatches"),
        Canned::status(404, r#"{"message": "Not Found"}"#),
    );
    let s = workflow_setup(&api, json!({"github_workflow": "evals.yml"}), json!(null));
    let run_id = s.open_pr(62, &"2".repeat(40));
    assert_eq!(workflow_calls(&api, "evals.yml").len(), 1);
    let run = s.shown("/api/eval-runs", &run_id);
    assert_eq!(run["status"], "FAILED", "{run}");
    let summary = s.summary(&run_id);
    assert!(
        summary.starts_with("The eval run was not started:") && summary.contains("404"),
        "{summary}"
    );
}

#[test]
fn a_dispatch_that_is_not_one_complete_kind_is_refused_naming_the_field() {
    let app = TestApp::spawn();
    let secret = new_secret();
    let runner = json!({"url": "https://evals.example.com/provenant", "secret": secret});
    let cases = [
        (
            "GITHUB",
            json!({"github_workflow": "evals.yml"}),
            json!({}),
            "config.eval.dispatch.github_workflow",
        ),
        (
            "GITHUB",
            json!({"github_workflow": "../evals.yml"}),
            json!({"token": "ghp_x"}),
            "config.eval.dispatch.github_workflow",
        ),
        (
            "GITHUB",
            json!({"github_workflow": "evals.yml", "url": "https://evals.example.com", "secret": secret}),
            json!({"token": "ghp_x"}),
            "config.eval.dispatch.github_workflow",
        ),
        // A secret without a runner (a runner without a secret gets one made).
        (
            "GITHUB",
            json!({"secret": secret}),
            json!({}),
            "config.eval.dispatch.url",
        ),
        (
            "GITHUB",
            json!({"url": "https://evals.example.com/provenant", "secret": "whsec_c2hvcnQ="}),
            json!({}),
            "config.eval.dispatch.secret",
        ),
        ("GITHUB", json!({}), json!({}), "config.eval.dispatch"),
        (
            "GITHUB",
            json!({"url": runner["url"], "secret": secret, "ref": "main"}),
            json!({}),
            "config.eval.dispatch.ref",
        ),
        (
            "GITHUB",
            json!({"github_workflow": "evals.yml", "inputs": {"a b": "c"}}),
            json!({"token": "ghp_x"}),
            "config.eval.dispatch.inputs",
        ),
        (
            "GITLAB",
            json!({"github_workflow": "evals.yml"}),
            json!({"token": "glpat-x"}),
            "config.eval.dispatch.github_workflow",
        ),
    ];
    for (kind, dispatch, extra, field) in cases {
        let mut config = if kind == "GITHUB" {
            json!({"repo": REPO})
        } else {
            json!({"project_id": 42})
        };
        for (k, v) in extra.as_object().expect("object") {
            config[k] = v.clone();
        }
        config["eval"] = json!({"dispatch": dispatch});
        let created = app.post_json(
            "/api/integrations",
            &json!({"name": "dispatch", "type": kind, "config": config}),
        );
        assert_eq!(created.status, 422, "{dispatch}: {}", created.text);
        assert_eq!(
            created.json()["field"],
            field,
            "{dispatch}: {}",
            created.text
        );
    }
}

/// The workflow in `docs/integrations/runners.md` declares every input a dispatch sends (GitHub
/// refuses undeclared ones) and reports on the run it was given with the job's own token.
#[test]
fn the_documented_workflow_declares_every_input_a_dispatch_sends() {
    let doc = include_str!("../../docs/integrations/runners.md");
    let workflow = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the workflow's YAML block");
    for input in provenant::domain::integration_config::WORKFLOW_INPUTS {
        assert!(
            workflow.contains(&format!("\n      {input}: {{required")),
            "`{input}` is not declared:\n{workflow}"
        );
    }
    // It reports on the run it was given, with its own OIDC token for this server.
    for needed in [
        "RUN_ID: ${{ inputs.provenant_run_id }}",
        "/api/eval-runs/$RUN_ID",
        "id-token: write",
        "audience=$PROVENANT_URL",
    ] {
        assert!(workflow.contains(needed), "no `{needed}`:\n{workflow}");
    }
}

/// A GITLAB integration's merge request triggers the eval pipeline, and its merge the deploy
/// pipeline, each once, with the trigger token (sealed at rest, in no outbox row) and the
/// run's values as `PROVENANT_…` variables.
#[test]
fn a_merge_request_and_its_merge_trigger_their_pipelines_with_the_runs_variables() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let trigger = format!("glptt-{}", "5".repeat(20));
    let id = app.create_integration_id(
        "GITLAB",
        json!({
            "project_id": 42, "token": "glpat-pipelines", "api_url": api.url, "allow_unverified": true,
            "eval": {"dispatch": {"gitlab_pipeline": {"token": trigger}}},
            "deploy": {"dispatch": {"gitlab_pipeline": {"ref": "release", "token": trigger}}},
        }),
    );
    let deliver = |payload: Value| {
        let event_id = app.deliver_accepted(
            &id,
            &[
                ("content-type", "application/json"),
                ("x-gitlab-event", "Merge Request Hook"),
            ],
            payload.to_string().as_bytes(),
        );
        let event = app.wait_for_status(&id, &event_id, &["PROCESSED", "FAILED"]);
        assert_eq!(event["status"], "PROCESSED", "{event}");
        app.wait_until_idle();
    };
    let triggers = || -> Vec<Value> {
        api.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/projects/42/trigger/pipeline")
            .map(Recorded::json)
            .collect()
    };
    let head = "1".repeat(40);
    deliver(gitlab_mr("open", 7, &head, None, None));
    let run = app.get("/api/eval-runs").json()["items"][0].clone();
    let run_id = run["id"].as_str().expect("id");
    assert_eq!(
        triggers(),
        [json!({"ref": "tune", "token": trigger, "variables": {
            "PROVENANT_RUN_ID": run_id, "PROVENANT_REPOSITORY": run["repo"],
            "PROVENANT_MR_IID": "7", "PROVENANT_HEAD_SHA": head, "PROVENANT_BASE_BRANCH": "main"}})]
    );

    let merged = "2".repeat(40);
    deliver(gitlab_mr("merge", 7, &head, None, Some(&merged)));
    let deployment = app.get("/api/deployments").json()["items"][0].clone();
    let sent = triggers();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["ref"], "release");
    assert_eq!(sent[1]["variables"]["PROVENANT_RUN_ID"], deployment["id"]);
    assert_eq!(sent[1]["variables"]["PROVENANT_HEAD_SHA"], merged.as_str());

    // The trigger token is sealed at rest and shown nowhere.
    let outbox = app.get("/api/outbox?kind=DISPATCH").text;
    assert!(
        outbox.contains("SENT") && !outbox.contains(&trigger),
        "{outbox}"
    );
    let shown = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(
        shown["config"]["eval"]["dispatch"]["gitlab_pipeline"]["token"], "***",
        "{shown}"
    );
    assert!(!app.database_contains(&trigger), "stored as it is");
}

/// A merge queue entry (`merge_group` checks_requested): an eval run of the entry's commit,
/// dispatched, and reported as `provenant/eval` on that commit, so a required check passes or
/// fails the entry; the pull request's own run is not superseded. `destroyed` ends it, and
/// the runner is told it was cancelled.
#[test]
fn a_merge_queue_entry_is_evaluated_on_its_commit_and_cancelled_when_destroyed() {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let s = setup_with(Canned::status(202, "{}"), |config| {
        config["token"] = json!("ghp_queue");
        config["api_url"] = json!(api.url);
    });
    let pr_run = s.open_pr(80, &"8".repeat(40));
    let group_sha = "9".repeat(40);
    let merge_group = |action: &str| {
        json!({
            "action": action, "reason": "dequeued",
            "merge_group": {
                "head_sha": group_sha, "head_ref": "refs/heads/gh-readonly-queue/main/pr-80-8888",
                "base_sha": "b".repeat(40), "base_ref": "refs/heads/main",
                "head_commit": {"id": group_sha, "message": "Merge pull request #80"}
            },
            "repository": {"full_name": REPO, "default_branch": "main"},
            "sender": {"login": "octocat"}
        })
    };
    s.deliver("merge_group", &merge_group("checks_requested"));
    let runs = s.app.get("/api/eval-runs").json();
    let group_run = runs["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["headSha"] == group_sha.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no run of the entry: {runs}"));
    assert_eq!(group_run["number"], 80);
    assert_eq!(group_run["headBranch"], "gh-readonly-queue/main/pr-80-8888");
    let pr = s.shown("/api/eval-runs", &pr_run);
    assert!(pr.get("supersededBy").is_none(), "{pr}");
    let status_path = format!("/repos/{REPO}/statuses/{group_sha}");
    let statuses: Vec<Value> = api
        .requests()
        .iter()
        .filter(|r| r.path == status_path)
        .map(Recorded::json)
        .collect();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0]["context"], "provenant/eval");
    assert_eq!(statuses[0]["state"], "pending");
    let asked: Vec<Value> = s.runner.requests().iter().map(Recorded::json).collect();
    assert!(
        asked.iter().any(
            |b| b["type"] == "eval_run.requested" && b["data"]["headSha"] == group_sha.as_str()
        ),
        "{asked:?}"
    );

    let event = s.deliver("merge_group", &merge_group("destroyed"));
    assert!(
        event["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("1 eval run(s)")),
        "{event}"
    );
    let ended = s.shown("/api/eval-runs", group_run["id"].as_str().expect("id"));
    assert_eq!(ended["status"], "FAILED", "{ended}");
    let last = s
        .runner
        .requests()
        .last()
        .map(Recorded::json)
        .expect("a request");
    assert_eq!(last["type"], "eval_run.cancelled", "{last}");
    assert_eq!(last["data"]["id"], group_run["id"]);
    let statuses = api
        .requests()
        .iter()
        .filter(|r| r.path == status_path)
        .count();
    assert_eq!(statuses, 2, "the entry's commit is told it ended");
    assert_eq!(s.shown("/api/eval-runs", &pr_run)["status"], "PENDING");
}

#[test]
fn a_runner_without_a_secret_gets_one_made_and_shown_once() {
    let app = TestApp::spawn();
    let runner = FakeRemote::start();
    runner.set_default(Canned::status(202, ""));
    let created = app.create_integration(
        "GITHUB",
        json!({"repo": REPO, "allow_unverified": true,
               "eval": {"dispatch": {"url": format!("{}/made", runner.url)}}}),
    );
    let made = &created["generatedSecrets"];
    assert_eq!(made[0]["field"], "config.eval.dispatch.secret", "{created}");
    let secret = made[0]["value"].as_str().expect("a secret").to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["config"]["eval"]["dispatch"]["secret"], "***");
    // Never again: not on a read, not in the list, not in the audit log.
    let id = created["id"].as_str().expect("id").to_string();
    let read = app.get(&format!("/api/integrations/{id}")).text;
    assert!(
        !read.contains(&secret) && !read.contains("generatedSecrets"),
        "{read}"
    );
    assert!(!app.get("/api/integrations").text.contains(&secret));
    assert!(!app.get("/api/audit").text.contains(&secret));
    // The runner's requests are signed with it.
    let event = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 41, "main", &"4".repeat(40), false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&id, &event, &["PROCESSED"]);
    app.wait_until_idle();
    let sent = runner.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("webhook-signature"),
        Some(expected_signature(&secret, &sent[0]).as_str())
    );
    // A config sent again with the secret masked keeps it; none is made.
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "allow_unverified": true,
                "eval": {"dispatch": {"url": format!("{}/made", runner.url), "secret": "***"}}}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json()["generatedSecrets"].is_null(), "{}", reply.text);
    let event = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 42, "main", &"5".repeat(40), false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&id, &event, &["PROCESSED"]);
    app.wait_until_idle();
    let sent = runner.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].header("webhook-signature"),
        Some(expected_signature(&secret, &sent[1]).as_str()),
        "the kept secret still signs"
    );
}
