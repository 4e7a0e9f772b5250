//! Slack through a bot token: one message per eval run, updated in place as its status
//! changes, and every message about one pull request in one thread.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded};
use crate::fixtures::*;
use crate::helpers::*;

fn slack_answer(ts: &str) -> Canned {
    Canned::status(
        200,
        &json!({"ok": true, "channel": "C0AGENTS", "ts": ts, "message": {"text": "…"}}).to_string(),
    )
    .header("content-type", "application/json")
}

fn open_pr(app: &TestApp, id: &str, head: &str) -> String {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 7, "main", head, false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED"]);
    let runs = app.get("/api/eval-runs").json();
    runs["items"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["headSha"] == head)
        .expect("the run")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn calls(slack: &FakeRemote) -> Vec<(String, Value)> {
    slack
        .requests()
        .iter()
        .map(|r: &Recorded| (r.path.clone(), r.json()))
        .collect()
}

#[test]
fn a_run_is_posted_once_then_updated_in_place_and_a_second_run_replies_in_the_thread() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.push(slack_answer("1700000000.000100"));
    slack.set_default(slack_answer("1700000000.000200"));
    let put = app.request(
        "PUT",
        "/api/secrets/SLACK_BOT",
        Some(TOKEN),
        &[("content-type", "application/json")],
        Some(
            json!({"value": "xoxb-bot-token-0123", "hosts": ["http://127.0.0.1"]})
                .to_string()
                .into_bytes(),
        ),
    );
    assert!(put.status == 200 || put.status == 201, "{}", put.text);
    let slack_id = app.create_integration_id(
        "SLACK",
        json!({"bot_token": "${secret:SLACK_BOT}", "channel": "#agent-evals",
               "api_url": slack.url, "events": ["eval_run.*"]}),
    );
    let one = app.get(&format!("/api/integrations/{slack_id}")).json();
    assert_eq!(one["config"]["bot_token"], "${secret:SLACK_BOT}");
    // It can send (a bot token and a channel); only its receiver is unsigned.
    assert!(
        !one["warnings"].to_string().contains("Nothing can be sent"),
        "{}",
        one["warnings"]
    );
    let github =
        app.create_integration_id("GITHUB", json!({"allow_unverified": true, "repo": REPO}));

    // The first run: one chat.postMessage, outside any thread.
    let first = open_pr(&app, &github, &"a".repeat(40));
    slack.wait_for(1);
    app.wait_until_idle();
    let c = calls(&slack);
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].0, "/chat.postMessage");
    assert_eq!(c[0].1["channel"], "#agent-evals");
    assert!(c[0].1.get("thread_ts").is_none(), "{:#}", c[0].1);
    assert!(c[0].1["text"].as_str().expect("text").contains("#7"));
    assert_eq!(
        slack.requests()[0].header("authorization"),
        Some("Bearer xoxb-bot-token-0123")
    );

    // Its result: the same message is updated, not a new one posted.
    let patched = app.patch_json(
        &format!("/api/eval-runs/{first}"),
        &json!({"status": "SUCCEEDED"}),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    slack.wait_for(2);
    app.wait_until_idle();
    let c = calls(&slack);
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(c[1].0, "/chat.update");
    assert_eq!(c[1].1["ts"], "1700000000.000100");
    assert_eq!(c[1].1["channel"], "C0AGENTS");

    // A second run of the same pull request (a new head commit): a reply in its thread.
    open_pr(&app, &github, &"b".repeat(40));
    slack.wait_for(3);
    app.wait_until_idle();
    let c = calls(&slack);
    let posts: Vec<&(String, Value)> = c.iter().filter(|(p, _)| p == "/chat.postMessage").collect();
    assert_eq!(posts.len(), 2, "{c:#?}");
    assert_eq!(posts[1].1["thread_ts"], "1700000000.000100");
    // The token is not in any row of the outbox.
    assert!(
        !app.get("/api/outbox?limit=200")
            .text
            .contains("xoxb-bot-token-0123")
    );
}

#[test]
fn slack_api_errors_fail_the_message_with_slacks_words_and_only_a_webhook_keeps_todays_behaviour() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.set_default(
        Canned::status(200, r#"{"ok":false,"error":"channel_not_found"}"#)
            .header("content-type", "application/json"),
    );
    let slack_id = app.create_integration_id(
        "SLACK",
        json!({"bot_token": "xoxb-literal-token-42", "channel": "C404", "api_url": slack.url,
               "events": ["eval_run.*"]}),
    );
    let github =
        app.create_integration_id("GITHUB", json!({"allow_unverified": true, "repo": REPO}));
    open_pr(&app, &github, &"c".repeat(40));
    slack.wait_for(1);
    app.wait_until_idle();
    let rows = app
        .get(&format!("/api/outbox?integrationId={slack_id}"))
        .json();
    assert_eq!(rows["items"][0]["status"], "FAILED", "{rows}");
    assert_eq!(
        rows["items"][0]["lastError"],
        "Slack answered channel_not_found"
    );

    // Neither a webhook nor a bot with a channel: said at once.
    let idle = app.create_integration_id("SLACK", json!({"events": ["drift.*"]}));
    let one = app.get(&format!("/api/integrations/{idle}")).json();
    assert!(
        one["warnings"].to_string().contains("Nothing can be sent"),
        "{one}"
    );
}
