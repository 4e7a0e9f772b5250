use std::process::Command;

use provenant::db::sql::params;

use crate::fixture::*;

#[test]
fn the_binary_serves_health_the_spec_and_the_explorer_on_a_free_port() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    assert!(server.address.starts_with("http://127.0.0.1:"));
    assert!(!server.address.ends_with(":0"));
    let agent = agent();
    let (status, body) = get(
        &agent,
        &format!("{}/api/health", server.address),
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"database\":\"ok\""), "{body}");
    // Without the token: whether it is up, nothing more.
    let (status, body) = get(&agent, &format!("{}/api/health", server.address), None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(
            r#"{{"status":"ok","version":"{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );
    let (status, spec) = get(
        &agent,
        &format!("{}/api/openapi.json", server.address),
        None,
    );
    assert_eq!(status, 200);
    assert!(spec.contains("\"openapi\""));
    let (status, docs) = get(&agent, &format!("{}/api/docs", server.address), None);
    assert_eq!(status, 200);
    assert!(docs.contains("swagger"), "the explorer page");
    let (status, index) = get(&agent, &format!("{}/", server.address), None);
    assert_eq!(status, 200);
    assert!(index.contains("/assets/pages/integrations.js"), "{index}");
    let (status, _) = get(
        &agent,
        &format!("{}/api/integrations", server.address),
        Some(TOKEN),
    );
    assert_eq!(status, 200);

    // Request logs name the route but never the token.
    let status = server.terminate();
    assert!(status.success(), "graceful exit after SIGTERM: {status}");
}

#[test]
fn request_logs_carry_method_path_and_status_but_no_token() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    let agent = agent();
    get(
        &agent,
        &format!("{}/api/integrations", server.address),
        Some(TOKEN),
    );
    get(
        &agent,
        &format!("{}/api/integrations", server.address),
        Some("wrong-token-0123456789"),
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let log = server.stderr();
    assert!(
        log.contains("path=\"/api/integrations\"") && log.contains("status=200"),
        "{log}"
    );
    assert!(log.contains("status=401"), "{log}");
    assert!(log.contains("client=\"127.0.0.1\""), "{log}");
    assert!(
        !log.contains(TOKEN) && !log.contains("wrong-token"),
        "{log}"
    );
}

#[test]
fn settings_that_exist_and_what_cargo_run_passes_on_are_not_warned_about() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_FAILED_SIGN_INS_PER_MINUTE", "30")
        .env("PROVENANT_AUDIT_RETENTION_DAYS", "90")
        .env("PROVENANT_FORWARDED_HEADER", "forwarded")
        // What `cargo run` hands the program from the build script.
        .env("BUILD_GIT_COMMIT", "0123456789ab")
        .env("PROVENANT_TYPO_SETTING", "1");
    let server = Server::spawn(cmd);
    assert!(server.wait_for_stderr("PROVENANT_TYPO_SETTING", std::time::Duration::from_secs(5)));
    let warned: Vec<String> = server
        .stderr()
        .lines()
        .filter(|l| l.contains("unknown PROVENANT_ setting"))
        .map(str::to_string)
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("PROVENANT_TYPO_SETTING"), "{warned:?}");
}

#[test]
fn a_value_from_outside_cannot_write_a_log_line_of_its_own() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN);
    // A name the server logs as it is given (as it logs an identity provider's e-mail claim
    // or a remote's answer), holding a line feed and a forged line after it.
    cmd.env(
        "PROVENANT_TYPO\n2026-12-07T00:00:00Z ERROR forged: the admin token is here\r",
        "1",
    );
    let server = Server::spawn(cmd);
    assert!(server.wait_for_stderr(
        "unknown PROVENANT_ setting",
        std::time::Duration::from_secs(5)
    ));
    let log = server.stderr();
    assert!(
        log.lines()
            .all(|line| !line.contains("ERROR forged") || line.contains("PROVENANT_TYPO")),
        "{log}"
    );
    assert!(
        log.contains(
            "PROVENANT_TYPO\\n2026-12-07T00:00:00Z ERROR forged: the admin token is here\\r"
        ),
        "{log}"
    );
}

#[test]
fn with_log_format_json_every_line_is_one_object_with_the_same_fields() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = crate::fixture::command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .args(["--log-format", "json"]);
    let server = Server::spawn(cmd);
    let agent = agent();
    let answer = agent
        .get(format!("{}/api/integrations", server.address))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .header("x-request-id", "the-callers-own-id")
        .call()
        .expect("list");
    let request_id = answer
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string();
    assert!(server.wait_for_stderr("\"status\":200", std::time::Duration::from_secs(5)));
    let log = server.stderr();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "message", "target"] {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
    }
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["path"] == "/api/integrations")
        .unwrap_or_else(|| panic!("no request line: {log}"));
    assert_eq!(request["method"], "GET");
    assert_eq!(request["status"], 200);
    assert_eq!(request["client"], "127.0.0.1");
    assert!(request["latency_ms"].is_number(), "{request}");
    // The answer's id is the log line's, and ours: a caller's header is not taken.
    assert_eq!(request["request_id"], request_id.as_str(), "{request}");
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on http://"))),
        "{log}"
    );
    assert!(server.terminate().success());
    // A setting that stops the start says so in JSON too.
    let out = crate::fixture::command(dir.path())
        .args(["--log-format", "json", "--retry-schedule", "soon"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let said: serde_json::Value = serde_json::from_slice(&out.stderr).expect("one JSON line");
    assert_eq!(said["level"], "ERROR");
    assert!(
        said["message"]
            .as_str()
            .expect("message")
            .contains("--retry-schedule"),
        "{said}"
    );
}

#[test]
fn forwarding_headers_from_an_untrusted_address_are_named_in_the_log_once() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    for _ in 0..3 {
        let reply = agent()
            .get(format!("{}/api/health", server.address))
            .header("x-forwarded-for", "203.0.113.7")
            .call()
            .expect("health");
        assert_eq!(reply.status(), 200);
    }
    assert!(server.wait_for_stderr("status=200", std::time::Duration::from_secs(5)));
    let log = server.stderr();
    assert_eq!(
        log.matches("add it to --trusted-proxies").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("203.0.113.7"), "{log}");
}

#[test]
fn a_generated_token_is_printed_once_and_saved_for_the_owner_only() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), None);
    let log = server.stderr();
    let token = log
        .lines()
        .find_map(|l| l.strip_prefix("generated an API token: "))
        .expect("token printed")
        .trim()
        .to_string();
    assert!(token.len() >= 32);
    let path = dir.path().join("api-token");
    assert_eq!(
        std::fs::read_to_string(&path).expect("token file").trim(),
        token
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = std::fs::metadata(dir.path().join("master-key"))
            .expect("key")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(key, 0o600);
    }
    let agent = agent();
    let url = format!("{}/api/integrations", server.address);
    assert_eq!(get(&agent, &url, Some(&token)).0, 200);
    assert_eq!(get(&agent, &url, None).0, 401);
    server.kill();

    // The next start uses the saved token and does not print it again.
    let server = Server::start(dir.path(), None);
    assert!(!server.stderr().contains(&token), "{}", server.stderr());
    let url = format!("{}/api/integrations", server.address);
    assert_eq!(get(&agent, &url, Some(&token)).0, 200);
}

#[test]
fn invalid_settings_fail_at_start_with_one_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().expect("dir");
    for (flag, value) in [
        ("--listen", "nowhere"),
        ("--public-url", "ftp://x"),
        ("--retry-schedule", "soon"),
        ("--api-token", "short"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_provenant"))
            .env_clear()
            .arg("--data-dir")
            .arg(dir.path())
            .arg(flag)
            .arg(value)
            .output()
            .expect("run");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("provenant: {flag}")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn settings_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenant"));
    cmd.env_clear()
        .env("PROVENANT_LISTEN", "127.0.0.1:0")
        .env("PROVENANT_DATA_DIR", dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_PUBLIC_URL", "https://hooks.example.com")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let server = Server::spawn(cmd);
    let agent = agent();
    let mut resp = agent
        .post(format!("{}/api/integrations", server.address))
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(r#"{"type":"WEBHOOK","name":"env","config":{}}"#)
        .expect("create");
    assert_eq!(resp.status(), 201);
    let body = resp.body_mut().read_to_string().expect("body");
    assert!(
        body.contains("\"webhookUrl\":\"https://hooks.example.com/api/integrations/webhook/"),
        "{body}"
    );
    assert!(dir.path().join("provenant.db").exists());
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    provenant::db::testing::Sql::open(dir.path())
        .set_schema_version(999)
        .expect("version");
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer provenant"), "{stderr}");
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_provenant"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for setting in [
        "--listen",
        "PROVENANT_LISTEN",
        "--data-dir",
        "PROVENANT_DATA_DIR",
        "--public-url",
        "PROVENANT_PUBLIC_URL",
        "--api-token",
        "PROVENANT_API_TOKEN",
        "--log",
        "PROVENANT_LOG",
        "--max-body-bytes",
        "--retry-schedule",
        "--database-url",
        "PROVENANT_DATABASE_URL",
        "--tls-cert",
        "--tls-key",
        "--redirect-http",
        "--trusted-proxies",
        "PROVENANT_TRUSTED_PROXIES",
        "--forwarded-header",
        "PROVENANT_FORWARDED_HEADER",
        "--failed-sign-ins-total-per-minute",
        "--log-format",
    ] {
        assert!(help.contains(setting), "--help lacks {setting}");
    }
}

#[test]
fn backup_writes_a_consistent_copy_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    let agent = agent();
    let resp = agent
        .post(format!("{}/api/integrations", server.address))
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(r#"{"type":"WEBHOOK","name":"kept in the backup","config":{}}"#)
        .expect("create");
    assert_eq!(resp.status(), 201);
    let copy = dir.path().join("copy.db");
    let database_url = provenant::db::testing::database_url(dir.path());
    let backup = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenant"));
        cmd.env_clear().arg("--data-dir").arg(dir.path());
        if let Some(url) = &database_url {
            cmd.env("PROVENANT_DATABASE_URL", url);
        }
        cmd.arg("backup").arg(&copy).output().expect("run backup")
    };
    let out = backup();
    if database_url.is_some() {
        // PostgreSQL has its own tools for this; the answer says which, without the password.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("pg_dump") && stderr.contains("pg_restore"),
            "{stderr}"
        );
        assert!(!copy.exists());
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name: String = provenant::db::testing::Sql::open_file(&copy)
        .query_row("SELECT name FROM integrations", params![], |r| r.get(0))
        .expect("row");
    assert_eq!(name, "kept in the backup");
    // Refuses to overwrite.
    assert!(!backup().status.success());
}

#[test]
fn secret_values_never_reach_the_log_or_api_responses() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_LOG", "debug");
    let server = Server::spawn(cmd);
    let agent = agent();
    let base = &server.address;
    let secret_value = "ghp_SecretValueThatMustNotLeak1";
    let plain_token = "glpat-PlainConfigTokenMustNotLeak2";
    let hook_secret = "hook-secret-must-not-leak-3";
    let send =
        |method: &str, path: &str, body: &str| call(&agent, method, &format!("{base}{path}"), body);
    let mut responses = vec![];
    responses.push(send(
        "PUT",
        "/api/secrets/GH_TOKEN",
        &format!(r#"{{"value":"{secret_value}"}}"#),
    ));
    responses.push(send(
        "POST",
        "/api/integrations",
        r#"{"type":"GITHUB","name":"gh","config":{"repo":"a/b","token":"${secret:GH_TOKEN}"}}"#,
    ));
    let gitlab = send(
        "POST",
        "/api/integrations",
        &format!(
            r#"{{"type":"GITLAB","name":"gl","config":{{"project_id":1,"token":"{plain_token}","webhook_secret":"{hook_secret}"}}}}"#
        ),
    );
    let gitlab_id = serde_json::from_str::<serde_json::Value>(&gitlab.1).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    responses.push(gitlab);
    responses.push(send("GET", "/api/integrations", ""));
    responses.push(send("GET", "/api/secrets", ""));
    // A delivery carrying the secret token, and one with a wrong one.
    for token in [hook_secret, "wrong-token"] {
        let resp = agent
            .post(format!("{base}/api/integrations/webhook/{gitlab_id}"))
            .header("content-type", "application/json")
            .header("x-gitlab-event", "Push Hook")
            .header("x-gitlab-token", token)
            .send(r#"{"object_kind":"push"}"#)
            .expect("delivery");
        assert!(resp.status().as_u16() == 202 || resp.status().as_u16() == 401);
    }
    let (_, events) = get(
        &agent,
        &format!("{base}/api/integrations/{gitlab_id}/events"),
        Some(TOKEN),
    );
    let event_id =
        serde_json::from_str::<serde_json::Value>(&events).expect("json")["items"][0]["id"]
            .as_str()
            .expect("event")
            .to_string();
    responses.push(get(
        &agent,
        &format!("{base}/api/integrations/{gitlab_id}/events/{event_id}"),
        Some(TOKEN),
    ));
    responses.push(get(
        &agent,
        &format!("{base}/api/integrations/{gitlab_id}"),
        Some(TOKEN),
    ));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = server.stderr();
    assert!(log.contains("request"), "the log was captured: {log}");
    for value in [secret_value, plain_token, hook_secret, TOKEN] {
        assert!(!log.contains(value), "the log contains {value}:\n{log}");
        for (status, body) in &responses {
            assert!(
                !body.contains(value),
                "a {status} response contains {value}: {body}"
            );
        }
    }
}

#[test]
fn no_log_line_carries_a_credential_url_even_at_trace() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_LOG", "trace");
    let server = Server::spawn(cmd);
    let slack = crate::fake::FakeRemote::start();
    let agent = agent();
    let base = &server.address;
    let send =
        |method: &str, path: &str, body: &str| call(&agent, method, &format!("{base}{path}"), body);
    let id_of = |(status, body): (u16, String)| -> String {
        assert_eq!(status, 201, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    // A working Slack URL (its path is the credential), and a secret that is not a URL at all
    // put where a URL goes.
    let good = id_of(send(
        "POST",
        "/api/integrations",
        &format!(
            r#"{{"type":"SLACK","name":"good","config":{{"webhook_url":"{}/services/T0/B0/TRACEPATHSECRET1"}}}}"#,
            slack.url
        ),
    ));
    assert_eq!(
        send(
            "PUT",
            "/api/secrets/NOT_A_URL",
            r#"{"value":"hooks.example/services/NOTAURLSECRET2"}"#
        )
        .0,
        201
    );
    let broken = id_of(send(
        "POST",
        "/api/integrations",
        r#"{"type":"SLACK","name":"broken","config":{"webhook_url":"${secret:NOT_A_URL}"}}"#,
    ));
    let (_, tested) = send("POST", &format!("/api/integrations/{good}/test"), "");
    assert!(
        tested.contains("Slack accepted the test message"),
        "{tested}"
    );
    let (_, tested) = send("POST", &format!("/api/integrations/{broken}/test"), "");
    assert!(
        tested.contains("does not hold an absolute http(s) URL"),
        "{tested}"
    );
    assert!(!tested.contains("NOTAURLSECRET2"), "{tested}");
    // Both tests are in the log before it is read (what came before them is there too).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server
        .stderr()
        .matches("path=\"/api/integrations/{id}/test\"")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.stderr();
    assert!(
        log.contains("request method=POST"),
        "the log was captured: {log}"
    );
    for value in ["TRACEPATHSECRET1", "NOTAURLSECRET2"] {
        assert!(!log.contains(value), "the log contains {value}");
    }
}

#[test]
fn a_second_server_on_the_same_data_folder_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let _first = Server::start(dir.path(), Some(TOKEN));
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another provenant is already using"),
        "{stderr}"
    );
}

#[test]
fn a_new_data_folder_is_private_to_its_owner() {
    let parent = tempfile::tempdir().expect("dir");
    let data = parent.path().join("new-data");
    let server = Server::start(&data, Some(TOKEN));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    // On PostgreSQL the folder holds no database file.
    assert_eq!(
        data.join("provenant.db").exists(),
        !provenant::db::testing::is_postgres()
    );
    assert!(data.join("lock").exists());
    server.kill();
}

#[test]
fn single_sign_on_settings_are_checked_at_start_and_its_secret_read_from_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let refused = |args: &[&str], expected: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_provenant"))
            .env_clear()
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cr3t"), "{stderr}");
    };
    refused(
        &["--oidc-issuer", "https://id.example.com"],
        "--oidc-issuer, --oidc-client-id, --oidc-client-secret: single sign-on needs all three",
    );
    let provider = [
        "--oidc-client-id",
        "provenant",
        "--oidc-client-secret",
        "s3cr3t-value",
    ];
    let with = |issuer: &str, allowed: &str| -> Vec<String> {
        let mut args: Vec<String> = provider.iter().map(|a| a.to_string()).collect();
        args.extend(["--oidc-issuer".into(), issuer.into()]);
        args.extend(["--oidc-allowed".into(), allowed.into()]);
        args
    };
    for (args, expected) in [
        (
            with("http://id.example.com", "@example.com=read"),
            "--oidc-issuer: `http://id.example.com` must be https",
        ),
        (
            with("https://id.example.com", "example.com=read"),
            "--oidc-allowed: `example.com=read`",
        ),
        (
            with("https://id.example.com", "@example.com=owner"),
            "the role `owner` is not read, write or admin",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, expected);
    }
    // Given right, with the secret in a file: the sign-in page is told SSO is there, and the
    // secret is never logged.
    let secret = dir.path().join("oidc-secret");
    std::fs::write(&secret, "s3cr3t-from-file\n").expect("secret file");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .args([
            "--oidc-issuer",
            "https://id.example.com",
            "--oidc-client-id",
            "provenant",
        ])
        .arg("--oidc-client-secret-file")
        .arg(&secret)
        .args(["--oidc-allowed", "@example.com=read", "--log", "debug"]);
    let server = Server::spawn(cmd);
    let (status, text) = get(&agent(), &format!("{}/auth/sso", server.address), None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, r#"{"enabled":true}"#);
    // A session cookie that is not one is no way in.
    let reply = agent()
        .get(format!("{}/api/me", server.address))
        .header("cookie", "provenant_session=made-up")
        .call()
        .expect("request");
    assert_eq!(reply.status().as_u16(), 401);
    assert!(!server.stderr().contains("s3cr3t"), "{}", server.stderr());
    assert!(server.terminate().success());
}
