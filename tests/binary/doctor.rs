//! `provenant doctor` against stand-ins for GitHub, GitLab and Slack, beside a running server:
//! a healthy setup passes with exit 0; each fault gives its ✘ line and exit 1; no credential
//! appears in what it prints.

use std::process::Output;

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::{Server, TOKEN, agent, command};

const GITHUB_TOKEN: &str = "ghp_doctorSecretToken0123456789";
const GITLAB_TOKEN: &str = "glpat-doctorSecretToken0123456789";
const BOT_TOKEN: &str = "xoxb-doctor-secret-bot-token-0123";
const SLACK_URL: &str = "https://hooks.slack.com/services/T0DOCTOR/B0DOCTOR/doctorSecretPart0123";

/// An HTTP date `offset_secs` from now.
fn http_date(offset_secs: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    at.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .expect("date")
}

fn json_answer(body: &Value, date_offset: i64) -> Canned {
    Canned::status(200, &body.to_string())
        .header("content-type", "application/json")
        .header("date", &http_date(date_offset))
}

struct Setup {
    server: Server,
    remote: FakeRemote,
    dir: tempfile::TempDir,
    github_hook_url: String,
}

fn create(server: &Server, body: &Value) -> String {
    let reply = agent()
        .post(format!("{}/api/integrations", server.address))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("create");
    let mut reply = reply;
    let text = reply.body_mut().read_to_string().expect("body");
    let created: Value = serde_json::from_str(&text).expect("json");
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{text}"))
        .to_string()
}

/// A server with a GitHub, a GitLab and a Slack integration, all pointed at one stand-in that
/// answers as a healthy GitHub, GitLab and Slack would.
fn healthy() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let remote = FakeRemote::start();
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN);
    let server = Server::spawn(cmd);
    let github = create(
        &server,
        &json!({"type": "GITHUB", "name": "agent repo", "config": {"repo": "octo-org/agent-repo",
            "token": GITHUB_TOKEN, "api_url": remote.url, "webhook_secret": "doctor-secret-0123456"}}),
    );
    let gitlab = create(
        &server,
        &json!({"type": "GITLAB", "name": "agent project", "config": {"project_id": 42,
            "token": GITLAB_TOKEN, "api_url": remote.url, "webhook_secret": "doctor-secret-0123456"}}),
    );
    create(
        &server,
        &json!({"type": "SLACK", "name": "alerts", "config": {"webhook_url": SLACK_URL,
            "bot_token": BOT_TOKEN, "channel": "C0123456789", "api_url": remote.url}}),
    );
    let hook = |id: &str| format!("{}/api/integrations/webhook/{id}", server.address);
    remote.route("/", json_answer(&json!({"current_user_url": "…"}), 0));
    remote.route(
        "/repos/octo-org/agent-repo",
        json_answer(&json!({"full_name": "octo-org/agent-repo", "permissions": {"pull": true, "push": true}}), 0),
    );
    remote.route(
        "/repos/octo-org/agent-repo/hooks?per_page=100",
        json_answer(
            &json!([{"id": 7, "active": true, "events": ["push", "pull_request"],
            "config": {"url": hook(&github), "content_type": "json"}}]),
            0,
        ),
    );
    remote.route(
        "/projects/42",
        json_answer(
            &json!({"id": 42, "permissions": {"project_access": {"access_level": 40}}}),
            0,
        ),
    );
    remote.route(
        "/projects/42/hooks?per_page=100",
        json_answer(
            &json!([{"id": 9, "url": hook(&gitlab), "push_events": true,
            "merge_requests_events": true}]),
            0,
        ),
    );
    remote.route(
        "/auth.test",
        json_answer(&json!({"ok": true, "team": "T"}), 0),
    );
    Setup {
        github_hook_url: hook(&github),
        server,
        remote,
        dir,
    }
}

impl Setup {
    fn doctor(&self, public_url: Option<&str>) -> (Option<i32>, String) {
        let mut cmd = command(self.dir.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .env(
                "PROVENANT_PUBLIC_URL",
                public_url.unwrap_or(&self.server.address),
            )
            .arg("doctor")
            .stdout(std::process::Stdio::piped());
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("doctor");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
        for secret in [
            GITHUB_TOKEN,
            GITLAB_TOKEN,
            BOT_TOKEN,
            "doctorSecretPart0123",
            TOKEN,
        ] {
            assert!(!out.contains(secret), "a credential in the output: {out}");
        }
        (status.code(), out)
    }

    fn fails_with(&self, public_url: Option<&str>, line: &str) {
        let (code, out) = self.doctor(public_url);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with('✘') && l.contains(line)),
            "no ✘ line with {line:?}: {out}"
        );
    }
}

#[test]
fn a_healthy_installation_passes_every_check() {
    let setup = healthy();
    let (code, out) = setup.doctor(None);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "✔ data folder",
        "✔ database",
        "✔ disk",
        "reaches this installation",
        "✔ clock: ",
        "the token can read octo-org/agent-repo and write statuses",
        "the repository's webhook points here, sends JSON, push and pull_request",
        "the token can read the project and set commit statuses (access level 40)",
        "the project's webhook points here with Push and Merge request events",
        "webhook_url has the shape of a Slack incoming webhook",
        "the bot token passes auth.test",
        "everything checked is fine",
    ] {
        assert!(out.contains(line), "{line:?} missing: {out}");
    }
    assert!(!out.contains('✘'), "{out}");
    // Reading only: nothing but GETs and Slack's auth.test.
    for request in setup.remote.requests() {
        assert!(
            request.method == "GET" || request.path == "/auth.test",
            "{} {}",
            request.method,
            request.path
        );
    }
    // The same checks from the API.
    let mut reply = agent()
        .get(format!("{}/api/doctor", setup.server.address))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .expect("doctor");
    assert_eq!(reply.status(), 200);
    let found: Value =
        serde_json::from_str(&reply.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(found["ok"], true, "{found}");
    assert!(
        found["checks"].as_array().expect("checks").len() >= 10,
        "{found}"
    );
    let text = found.to_string();
    assert!(
        !text.contains(GITHUB_TOKEN) && !text.contains(BOT_TOKEN),
        "{text}"
    );
}

#[test]
fn each_fault_gives_its_line_and_exit_1() {
    let setup = healthy();
    let github = "/repos/octo-org/agent-repo";
    let hooks = "/repos/octo-org/agent-repo/hooks?per_page=100";
    let healthy_hooks = |content_type: &str| {
        json!([{"id": 7, "active": true, "events": ["push", "pull_request"],
            "config": {"url": setup.github_hook_url, "content_type": content_type}}])
    };

    setup.remote.route(
        github,
        json_answer(&json!({"full_name": "octo-org/agent-repo", "permissions": {"pull": true, "push": false}}), 0),
    );
    setup.fails_with(
        None,
        "has no push permission: commit statuses will be refused",
    );
    setup.remote.route(
        github,
        json_answer(
            &json!({"full_name": "octo-org/agent-repo", "permissions": {"push": true}}),
            0,
        ),
    );

    setup
        .remote
        .route(hooks, json_answer(&healthy_hooks("form"), 0));
    setup.fails_with(None, "sends content type form");

    setup.remote.route(hooks, json_answer(&json!([]), 0));
    setup.fails_with(None, "no webhook of the repository points at");
    setup
        .remote
        .route(hooks, json_answer(&healthy_hooks("json"), 0));

    // The stand-in's clock is 10 minutes behind ours.
    setup.remote.route("/", json_answer(&json!({}), -600));
    let (code, out) = setup.doctor(None);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("✘ clock: 60") && l.contains("s ahead of")),
        "{out}"
    );
    setup.remote.route("/", json_answer(&json!({}), 0));

    setup.fails_with(Some("http://127.0.0.1:1"), "could not be reached from here");
    // Another server answers at the public URL (the stand-in: a 200 without the probe's answer).
    setup.fails_with(Some(&setup.remote.url), "reaches another server");

    // Everything mended: healthy again.
    let (code, out) = setup.doctor(None);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn doctor_without_a_database_cannot_run_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("never-started"));
    cmd.arg("doctor").stdout(std::process::Stdio::piped());
    let out = cmd.output().expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    if std::env::var_os("PROVENANT_TEST_DATABASE_URL").is_some() {
        // On PostgreSQL the (empty) schema is there: nothing is migrated, and it says so.
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("schema version 0"), "{text}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains("there is no database at"), "{text}");
        assert!(
            !dir.path().join("never-started").exists(),
            "doctor made a folder"
        );
    }
}
