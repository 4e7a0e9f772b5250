//! The second outside review's findings, each through the real server: a client's own
//! `Forwarded` behind a proxy, credentials over plain http, an `api_url` that names another
//! endpoint, a second GitHub App overwriting the first one's secrets, and the lows.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use provenant::base::clock::Clock;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

/// Any 127.x address is this machine: the test's "reverse proxy" connects from this one.
const PROXY: [u8; 4] = [127, 0, 0, 2];

/// `GET /api/integrations` with `token` through the "proxy", with `headers`; the status.
fn through_proxy(app: &TestApp, token: &str, headers: &str) -> u16 {
    let mut stream = connect_from(app, PROXY);
    let request = format!(
        "GET /api/integrations HTTP/1.1\r\nhost: provenant.example\r\n\
         authorization: Bearer {token}\r\n{headers}connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn behind_a_proxy() -> impl FnOnce(&mut provenant::app::config::Settings) {
    |s| {
        s.trusted_proxies =
            provenant::http::proxy::TrustedProxies::parse("127.0.0.2/32").expect("proxies");
    }
}

// ---- M1: a client's own `Forwarded` header ----

#[test]
fn a_spoofed_forwarded_header_behind_a_trusted_proxy_is_ignored_and_the_21st_wrong_token_gets_429()
{
    let app = TestApp::spawn_with(behind_a_proxy(), Default::default());
    // As nginx passes them: the client's own `Forwarded` untouched, X-Forwarded-For written
    // by the proxy with the real client.
    for n in 0..20 {
        let headers = format!("forwarded: for=198.51.100.{n}\r\nx-forwarded-for: 203.0.113.9\r\n");
        assert_eq!(through_proxy(&app, &format!("wrong-{n}"), &headers), 401);
    }
    let headers = "forwarded: for=198.51.100.99\r\nx-forwarded-for: 203.0.113.9\r\n";
    assert_eq!(through_proxy(&app, "wrong-21", headers), 429);
    // A chosen address cannot be locked out by naming it: 192.0.2.1's right token works.
    let framed = "forwarded: for=192.0.2.1\r\nx-forwarded-for: 192.0.2.1\r\n";
    assert_eq!(through_proxy(&app, TOKEN, framed), 200);
}

#[test]
fn with_forwarded_header_forwarded_a_clients_x_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(
        |s| {
            s.trusted_proxies = provenant::http::proxy::TrustedProxies::parse("127.0.0.2/32")
                .expect("proxies")
                .reading(provenant::http::proxy::ForwardedHeader::Forwarded);
        },
        Default::default(),
    );
    for n in 0..20 {
        let headers = format!("x-forwarded-for: 198.51.100.{n}\r\nforwarded: for=203.0.113.9\r\n");
        assert_eq!(through_proxy(&app, &format!("wrong-{n}"), &headers), 401);
    }
    let headers = "x-forwarded-for: 198.51.100.99\r\nforwarded: for=203.0.113.9\r\n";
    assert_eq!(through_proxy(&app, "wrong-21", headers), 429);
}

#[test]
fn wrong_tokens_from_many_addresses_hit_the_total_cap_and_are_audited_once_a_minute_per_source() {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                behind_a_proxy()(s);
                s.clock = clock;
                s.failed_sign_ins_total_per_minute = 30;
            }
        },
        Default::default(),
    );
    // 30 wrong tokens from 15 addresses (two each): under each address's limit, at the total.
    for n in 0..30 {
        let headers = format!("x-forwarded-for: 198.51.100.{}\r\n", n / 2);
        assert_eq!(through_proxy(&app, &format!("guess-{n}"), &headers), 401);
    }
    // Now every address waits out the minute, a new one too, and a right token with it (or
    // the answer would tell a right guess from a wrong one).
    let fresh = "x-forwarded-for: 198.51.100.200\r\n";
    assert_eq!(through_proxy(&app, "guess-31", fresh), 429);
    assert_eq!(through_proxy(&app, TOKEN, fresh), 429);
    // Nothing is audited per request: once each address's minute is over, one entry each,
    // with its count.
    let failed = |app: &TestApp| {
        app.get("/api/audit?action=sign_in.failed&limit=100").json()["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(failed(&app).is_empty());
    clock.advance(Duration::from_secs(61));
    let deadline = Instant::now() + Duration::from_secs(10);
    let entries = loop {
        let entries = failed(&app);
        if entries.len() >= 15 || Instant::now() > deadline {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(entries.len(), 15, "{entries:?}");
    for entry in &entries {
        assert_eq!(entry["changes"]["failures"]["after"], 2, "{entry}");
        assert!(
            entry["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("198.51.100.")),
            "{entry}"
        );
    }
    assert_eq!(through_proxy(&app, TOKEN, fresh), 200, "a new minute");
}

#[test]
fn single_sign_on_starts_are_capped_per_source() {
    let standin = crate::oidc_standin::OidcStandIn::start();
    let app = TestApp::spawn_with(
        {
            let sso = standin.settings(&["@example.com=read"]);
            move |s| {
                behind_a_proxy()(s);
                s.sso = Some(sso);
            }
        },
        Default::default(),
    );
    let start = |from: &str| {
        let mut stream = connect_from(&app, PROXY);
        let request = format!(
            "GET /auth/sso/start HTTP/1.1\r\nhost: provenant.example\r\n\
             x-forwarded-for: {from}\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("request");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.split_whitespace().nth(1).unwrap_or("").to_string()
    };
    for _ in 0..20 {
        assert_eq!(start("203.0.113.5"), "302");
    }
    assert_eq!(
        start("203.0.113.5"),
        "429",
        "the 21st start from one source"
    );
    assert_eq!(start("203.0.113.6"), "302", "another source");
}

// ---- M2: credentials over plain http ----

/// Pull request `number` opened on integration `id`, processed, and its outbox sent.
fn pull_request_to(app: &TestApp, id: &str, number: i64) {
    let event = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr(
            "opened",
            number,
            "main",
            &number.to_string().repeat(40),
            false,
            None,
        )
        .to_string()
        .as_bytes(),
    );
    app.wait_for_status(id, &event, &["PROCESSED", "FAILED"]);
    app.wait_until_idle();
}

#[test]
fn a_token_never_leaves_over_plain_http_unless_that_origin_is_listed() {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 1}"#));
    let folder = tempfile::tempdir().expect("folder");
    // Listed for https only (a bare host), as the public APIs are.
    let https_only = |s: &mut provenant::app::config::Settings| {
        s.egress_allow.retain(|h| !h.starts_with("http://"));
    };
    let app = TestApp::spawn_in(folder.path(), https_only, Default::default());
    let inline = json!({"repo": REPO, "allow_unverified": true, "token": "ghp_clear_text_0123", "api_url": api.url});
    let problem = app
        .post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "plain", "config": inline}),
        )
        .problem(409);
    assert_eq!(problem["field"], "config.token", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("only over https"),
        "{problem}"
    );
    // A secret stored for the bare host goes there over https only.
    let host = api.url.trim_start_matches("http://").to_string();
    assert!(
        app.put_json(
            "/api/secrets/LAB_TOKEN",
            &json!({"value": "ghp_secret_clear_0123", "hosts": [host]})
        )
        .status
            / 100
            == 2
    );
    let by_ref = json!({"repo": REPO, "allow_unverified": true, "token": "${secret:LAB_TOKEN}", "api_url": api.url});
    let problem = app
        .post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "plain ref", "config": by_ref}),
        )
        .problem(409);
    assert_eq!(problem["field"], "config.token", "{problem}");
    // The public API never over http, whatever is listed.
    let public =
        json!({"repo": REPO, "token": "ghp_clear_text_0123", "api_url": "http://api.github.com"});
    assert_eq!(
        app.post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "public", "config": public})
        )
        .problem(422)["field"],
        "config.api_url"
    );
    app.stop();

    // Saved while the admin allowed plain http to the stand-in...
    let app = TestApp::spawn_in(folder.path(), |_| {}, Default::default());
    let id = app.create_integration_id("GITHUB", inline.clone());
    app.stop();
    // ...and sent after the admin took that back: the send checks the scheme again.
    let app = TestApp::spawn_in(folder.path(), https_only, Default::default());
    pull_request_to(&app, &id, 7);
    assert!(
        api.requests().is_empty(),
        "the token went out in clear text"
    );
    let rows = app.get("/api/outbox").json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row["status"], "FAILED", "{row}");
        assert!(
            row["lastError"]
                .as_str()
                .unwrap_or("")
                .contains("only over https"),
            "{row}"
        );
    }
    app.stop();

    // Listed as an origin, it goes, and the row says where.
    let app = TestApp::spawn_in(folder.path(), |_| {}, Default::default());
    pull_request_to(&app, &id, 8);
    let seen = api.wait_for(1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer ghp_clear_text_0123")
    );
    let sent: Vec<Value> = app.get("/api/outbox?status=SENT").json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!sent.is_empty());
    for row in sent {
        let url = row["calledUrl"].as_str().unwrap_or("");
        assert!(
            url.starts_with(&format!("{}/repos/{REPO}/", api.url)),
            "{row}"
        );
        assert!(
            row["responseExcerpt"].is_null(),
            "a success's answer is kept: {row}"
        );
    }
}

// ---- M3: an api_url that names another endpoint ----

#[test]
fn api_url_takes_a_base_only_and_any_change_of_it_needs_the_credential_again() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    for (bad, why) in [
        (format!("{}/api/v3/admin/keys?x=", api.url), "a query"),
        (format!("{}/api#x", api.url), "a fragment"),
        (format!("{}/api/../admin", api.url), "a step up"),
        (format!("{}/api%2Fv3", api.url), "an encoded slash"),
        ("http://user:pw@127.0.0.1:9/api".to_string(), "userinfo"),
        (
            "https://api.github.com/admin".to_string(),
            "a public host's other path",
        ),
        (
            "https://gitlab.com/api/v3".to_string(),
            "GitLab's other base",
        ),
    ] {
        let kind = if bad.contains("gitlab") {
            "GITLAB"
        } else {
            "GITHUB"
        };
        let config = if kind == "GITLAB" {
            json!({"project_id": 1, "api_url": bad})
        } else {
            json!({"repo": REPO, "api_url": bad})
        };
        let reply = app.post_json(
            "/api/integrations",
            &json!({"type": kind, "name": "bad base", "config": config}),
        );
        assert_eq!(
            reply.problem(422)["field"],
            "config.api_url",
            "{why}: {}",
            reply.text
        );
    }
    let web = app.post_json(
        "/api/integrations",
        &json!({"type": "GITHUB", "name": "bad web", "config": {"repo": REPO, "web_url": "https://ghe.example/x?y=1"}}),
    );
    assert_eq!(web.problem(422)["field"], "config.web_url");

    // Another path on the same host is another endpoint: the masked token does not follow.
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_stays_put_0123", "api_url": format!("{}/api/v3", api.url)}),
    );
    let moved = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "token": "***", "api_url": format!("{}/api/v3/admin", api.url)}}),
    );
    assert_eq!(moved.problem(409)["field"], "config.token");
    // Given again in the same request, it may.
    let given = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"config": {"repo": REPO, "token": "ghp_stays_put_0123", "api_url": format!("{}/api/v3/admin", api.url)}}),
    );
    assert_eq!(given.status, 200, "{}", given.text);
}

// ---- M4: a second GitHub App ----

#[test]
fn a_second_app_answering_an_existing_app_id_changes_no_existing_secret_and_each_stored_secret_is_audited()
 {
    use crate::github_app_standin::github_app;
    let github = github_app();
    let app = TestApp::spawn();
    let web = "https://ghe.example";
    let new_integration = || {
        github.books.lock().expect("lock").web_url = web.to_string();
        app.create_integration_id(
            "GITHUB",
            json!({"repos": ["octo-org/*"], "api_url": github.api.url, "web_url": web}),
        )
    };
    let code = "a180b1a3d263c81bc6441d7b990bae27d4c10679";
    let convert = |id: &str, token: &str| {
        let started = app.call(
            "POST",
            &format!("/api/integrations/{id}/github-app/manifest"),
            token,
            Some(&json!({})),
        );
        assert_eq!(started.status, 201, "{}", started.text);
        let state = started.json()["state"].as_str().expect("state").to_string();
        github.books.lock().expect("lock").manifest_code = Some(code.into());
        (state, ())
    };
    let finish = |id: &str, token: &str, state: &str| {
        app.call(
            "POST",
            &format!("/api/integrations/{id}/github-app/conversion"),
            token,
            Some(&json!({"code": code, "state": state})),
        )
    };
    let first = new_integration();
    let (state, ()) = convert(&first, TOKEN);
    let made = finish(&first, TOKEN, &state);
    assert_eq!(made.status, 200, "{}", made.text);
    let first_secrets: Vec<String> = made.json()["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    let listed = |app: &TestApp| app.get("/api/secrets").json();
    let before = listed(&app);

    // The same App id answered for another integration: its secrets are its own.
    let second = new_integration();
    let (state, ()) = convert(&second, TOKEN);
    let made = finish(&second, TOKEN, &state);
    assert_eq!(made.status, 200, "{}", made.text);
    let second_secrets = made.json()["secrets"].clone();
    for name in &first_secrets {
        assert!(!second_secrets.to_string().contains(name.as_str()));
    }
    let after = listed(&app);
    for name in &first_secrets {
        let find = |list: &Value| {
            list.as_array()
                .and_then(|l| l.iter().find(|s| s["name"] == name.as_str()).cloned())
        };
        assert_eq!(find(&before), find(&after), "{name} changed");
    }
    // Each stored secret is audited, as one set through the API is.
    let audited = app.get("/api/audit?action=secret.set&limit=100").json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(audited.len(), 6, "{audited:?}");

    // A secret of that name that this flow did not make is left alone (409).
    let third = new_integration();
    let key = third.replace('-', "").to_ascii_uppercase();
    let own = format!("GITHUB_APP_{key}_PRIVATE_KEY");
    assert!(
        app.put_json(&format!("/api/secrets/{own}"), &json!({"value": "mine"}))
            .status
            / 100
            == 2
    );
    let (state, ()) = convert(&third, TOKEN);
    let refused = finish(&third, TOKEN, &state);
    assert_eq!(refused.problem(409)["field"], "code", "{}", refused.text);

    // A state is bound to whoever started the flow.
    let fourth = new_integration();
    let other = app.make_token("other-admin", &["admin"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let (state, ()) = convert(&fourth, TOKEN);
    let refused = finish(&fourth, &other, &state);
    assert_eq!(refused.problem(409)["field"], "state", "{}", refused.text);
}

#[test]
fn only_an_admin_points_an_integration_elsewhere() {
    let app = TestApp::spawn();
    let writer = app.make_token("writer", &["write"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let create = |config: Value| {
        app.call(
            "POST",
            "/api/integrations",
            &writer,
            Some(&json!({"type": "GITHUB", "name": "w", "config": config})),
        )
    };
    assert_eq!(create(json!({"repo": REPO})).status, 201);
    let moved = create(json!({"repo": REPO, "web_url": "https://ghe.example"}));
    assert_eq!(moved.problem(403)["scope"], "admin", "{}", moved.text);
    let id = app.create_integration_id("GITHUB", json!({"repo": REPO}));
    for config in [
        json!({"repo": REPO, "api_url": "https://ghe.example/api/v3"}),
        json!({"repo": REPO, "web_url": "https://ghe.example"}),
    ] {
        let reply = app.call(
            "PATCH",
            &format!("/api/integrations/{id}"),
            &writer,
            Some(&json!({"config": config})),
        );
        assert_eq!(reply.problem(403)["scope"], "admin", "{}", reply.text);
    }
    // Other changes stay the writer's.
    let renamed = app.call(
        "PATCH",
        &format!("/api/integrations/{id}"),
        &writer,
        Some(&json!({"name": "renamed", "config": {"repo": REPO, "branch": "dev"}})),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text);
}

// ---- L2: the head deadline after a bare-LF request ----

#[test]
fn a_request_with_bare_line_feeds_leaves_the_head_deadline_on_for_the_next_one() {
    let app = TestApp::spawn_with(
        |s| {
            s.head_timeout = Duration::from_secs(1);
            s.idle_timeout = Duration::from_secs(30);
        },
        Default::default(),
    );
    let mut stream = connect_from(&app, [127, 0, 0, 4]);
    stream
        .write_all(b"GET /api/health HTTP/1.1\nHost: x\n\n")
        .expect("first request");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).expect("answer");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // That request was seen to its end: the connection idles (longer than a head may take)
    // and is still there for the next request, as keep-alive promises.
    std::thread::sleep(Duration::from_millis(1_500));
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("second request");
    let n = stream.read(&mut buf).expect("second answer");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The next head trickles in: cut off at its deadline, not taken after a minute.
    let started = Instant::now();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\n")
        .expect("request line");
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(250));
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            closed = true;
            break;
        }
        stream.set_nonblocking(true).expect("nonblocking");
        let read = stream.read(&mut buf);
        stream.set_nonblocking(false).expect("blocking");
        match read {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        closed,
        "a head trickled for {:?} was still open",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

// ---- L4: typed audit actors ----

#[test]
fn audit_actors_are_typed_and_token_names_cannot_pass_for_another_kind() {
    let app = TestApp::spawn();
    for name in [
        "ann@example.com",
        "unknown",
        "api_token",
        "API Token",
        "person:ann",
        "token:x",
        "ops#1",
        "аpi-token",
    ] {
        let reply = app.post_json("/api/tokens", &json!({"name": name, "scopes": ["read"]}));
        assert_eq!(
            reply.problem(422)["field"],
            "name",
            "{name}: {}",
            reply.text
        );
    }
    let made = app.make_token("only runs:write", &["write"]);
    let id = made["id"].as_str().expect("id").to_string();
    let token = made["token"].as_str().expect("token").to_string();
    let created = app.call(
        "POST",
        "/api/integrations",
        &token,
        Some(&json!({"type": "WEBHOOK", "name": "by a token", "config": {}})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let entries = app.get("/api/audit?action=integration.created").json()["items"].clone();
    assert_eq!(entries[0]["actor"], format!("token:only runs:write#{id}"));
    let made_by = app.get("/api/audit?action=token.created").json()["items"][0]["actor"].clone();
    assert_eq!(made_by, "token:api-token#primary");
    // A bare name still finds a token's entries.
    let by_name = app.get("/api/audit?actor=only%20runs:write").json()["items"].clone();
    assert_eq!(by_name.as_array().map(Vec::len), Some(1), "{by_name}");
}

// ---- L5: a session outliving its rule ----

#[test]
fn a_changed_rule_ends_the_sessions_it_no_longer_admits() {
    use crate::oidc_standin::{OidcStandIn, sign_in};
    let standin = OidcStandIn::start();
    let folder = tempfile::tempdir().expect("folder");
    let with_rules = |rules: &'static [&'static str]| {
        let sso = standin.settings(rules);
        move |s: &mut provenant::app::config::Settings| s.sso = Some(sso)
    };
    let app = TestApp::spawn_in(
        folder.path(),
        with_rules(&["ann@example.com=write", "@example.com=read"]),
        Default::default(),
    );
    let ann = sign_in(&app, &standin, "ann@example.com");
    assert_eq!(ann.me["scopes"], json!(["write"]));
    app.stop();
    // The address rule is removed: the session keeps only what the domain rule gives.
    let app = TestApp::spawn_in(
        folder.path(),
        with_rules(&["@example.com=read"]),
        Default::default(),
    );
    let me = ann.call(&app, "GET", "/api/me", None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["scopes"], json!(["read"]));
    let change = ann.call(
        &app,
        "POST",
        "/api/integrations",
        Some(&json!({"type": "WEBHOOK", "name": "x", "config": {}})),
    );
    assert_eq!(change.status, 403, "{}", change.text);
    app.stop();
    // No rule admits her any more: the session ends at once, not when it runs out.
    let app = TestApp::spawn_in(
        folder.path(),
        with_rules(&["bob@example.com=admin"]),
        Default::default(),
    );
    assert_eq!(ann.call(&app, "GET", "/api/me", None).status, 401);
    let sessions = app.get("/api/sessions").text;
    assert!(!sessions.contains("ann@example.com"), "{sessions}");
}

// ---- Info: an address nobody verified ----

#[test]
fn an_id_token_without_email_verified_matches_no_address_rule() {
    use crate::oidc_standin::{Flaw, OidcStandIn, sign_in_hops};
    let standin = OidcStandIn::start();
    let app = TestApp::spawn_with(
        {
            let sso = standin.settings(&["ann@example.com=admin"]);
            move |s| s.sso = Some(sso)
        },
        Default::default(),
    );
    standin.next_flaw(Flaw::NoEmailVerified);
    let mut jar = crate::oidc_standin::Jar::default();
    let refused = sign_in_hops(&app, &standin, "ann@example.com", &mut jar);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("not verified"), "{}", refused.text);
}

// ---- L1: the doctor's checks for a reader ----

#[test]
fn the_doctor_repeats_nothing_a_hidden_host_answered_and_runs_at_most_once_a_minute() {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                // Credentials may go to the stand-in, its answers are not shown.
                s.egress_allow = vec!["api.github.com".into(), "http://127.0.0.1".into()];
            }
        },
        Default::default(),
    );
    let internal = FakeRemote::start();
    internal.set_default(Canned::status(
        200,
        r#"{"full_name": "internal-SECRET-name", "permissions": {"pull": true}}"#,
    ));
    app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_doctor_0123", "api_url": internal.url}),
    );
    let reader = app.make_token("reader", &["read"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let first = app.call("GET", "/api/doctor", &reader, None);
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(
        !first.text.contains("internal-SECRET-name"),
        "{}",
        first.text
    );
    assert!(
        first.text.contains("the token can read the repository but"),
        "{}",
        first.text
    );
    let asked = internal.requests().len();
    assert!(asked > 0);
    // Again within the minute: the same run, no call to the remote.
    for _ in 0..5 {
        let again = app.call("GET", "/api/doctor", &reader, None);
        assert_eq!(again.json()["checkedAt"], first.json()["checkedAt"]);
    }
    assert_eq!(internal.requests().len(), asked);
    clock.advance(Duration::from_secs(61));
    let later = app.call("GET", "/api/doctor", &reader, None);
    assert_ne!(later.json()["checkedAt"], first.json()["checkedAt"]);
    assert!(internal.requests().len() > asked);
}

// ---- Info: the GitHub App page's policy names web_url only after an admin's grant ----

#[test]
fn the_github_app_page_names_its_web_url_only_to_a_browser_an_admin_granted_it() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repos": ["octo-org/*"], "web_url": "https://ghe.internal.example"}),
    );
    let page = format!("/integrations/{id}/github-app");
    let policy = |cookie: Option<&str>| {
        let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
        let reply = app.request("GET", &page, None, &headers, None);
        assert_eq!(reply.status, 200);
        reply
            .header("content-security-policy")
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        !policy(None).contains("ghe.internal.example"),
        "{}",
        policy(None)
    );
    let reader = app.make_token("reader", &["read"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let grant_path = format!("{page}/grant");
    assert_eq!(app.call("POST", &grant_path, &reader, None).status, 403);
    assert_eq!(
        app.request("POST", &grant_path, None, &[], None).status,
        401
    );
    let granted = app.call("POST", &grant_path, TOKEN, None);
    assert_eq!(granted.status, 204, "{}", granted.text);
    let set = granted.header("set-cookie").expect("cookie").to_string();
    assert!(
        set.contains("HttpOnly") && set.contains(&format!("Path={page}")),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_string();
    assert!(
        policy(Some(&cookie)).contains("form-action 'self' https://ghe.internal.example"),
        "{}",
        policy(Some(&cookie))
    );
    // Not for another integration's page, nor forged.
    let other = app.create_integration_id(
        "GITHUB",
        json!({"repos": ["octo-org/*"], "web_url": "https://other.internal.example"}),
    );
    let reply = app.request(
        "GET",
        &format!("/integrations/{other}/github-app"),
        None,
        &[("cookie", cookie.as_str())],
        None,
    );
    assert!(
        !reply
            .header("content-security-policy")
            .unwrap_or_default()
            .contains("other.internal.example")
    );
    let forged = format!("{}.{}", i64::MAX, "0".repeat(64));
    assert!(!policy(Some(&format!("provenant_page_grant={forged}"))).contains("ghe.internal"));
}
