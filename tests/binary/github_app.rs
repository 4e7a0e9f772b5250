//! A GitHub App's check run through the real binary: killed with SIGKILL after GitHub created
//! the check run and before the server recorded it, the restarted server finds it and makes
//! no second one (GitHub does not deduplicate check runs).

use std::time::Duration;

use provenant::base::crashpoint;
use serde_json::{Value, json};

use crate::fixture::*;
use crate::fixtures::github_pr;
use crate::github_app_standin::*;

fn start(dir: &std::path::Path, crash: bool) -> Server {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN);
    if crash {
        cmd.env(
            crashpoint::ENV_VAR,
            format!("{}:1", crashpoint::OUTBOX_IN_FLIGHT),
        );
    }
    Server::spawn(cmd)
}

fn creations(github: &GithubApp) -> usize {
    github
        .calls(|r| r.method == "POST" && r.path.ends_with("/check-runs"))
        .len()
}

#[test]
fn sigkill_between_a_check_run_created_and_recorded_makes_no_second_one() {
    let github = github_app();
    let dir = tempfile::tempdir().expect("dir");
    let agent = agent();
    let server = start(dir.path(), true);
    let (status, text) = call(
        &agent,
        "POST",
        &format!("{}/api/integrations", server.address),
        &json!({"type": "GITHUB", "name": "App", "config": {
            "repo": "octo-org/agent-repo", "app_id": APP_ID, "private_key": KEY,
            "api_url": github.api.url, "allow_unverified": true}})
        .to_string(),
    );
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let payload = github_pr("opened", 3, "main", &"c".repeat(40), false, None).to_string();
    let reply = agent
        .post(&format!("{}/api/integrations/webhook/{id}", server.address))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .send(payload.as_bytes())
        .expect("deliver");
    assert_eq!(reply.status(), 202);

    // GitHub answered the check run's creation; the server stops right there.
    assert!(
        server.wait_for_stderr(
            &format!("crash point reached: {}", crashpoint::OUTBOX_IN_FLIGHT),
            Duration::from_secs(30)
        ),
        "{}",
        server.stderr()
    );
    server.kill();
    assert_eq!(creations(&github), 1);

    let server = start(dir.path(), false);
    wait_drained(&server, Duration::from_secs(30));
    assert_eq!(creations(&github), 1, "the restart made a second check run");
    let (_, rows) = get(
        &agent,
        &format!("{}/api/outbox?integrationId={id}", server.address),
        Some(TOKEN),
    );
    let rows: Value = serde_json::from_str(&rows).expect("json");
    let row = &rows["items"][0];
    assert_eq!(row["kind"], "CHECK_RUN", "{rows}");
    assert_eq!(row["status"], "SENT", "{rows}");
    assert!(
        row["responseExcerpt"]
            .as_str()
            .is_some_and(|e| e.contains("already created: GitHub check run 9001")),
        "{rows}"
    );
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
    assert!(server.terminate().success());
}
