//! Creating a GitHub App from a manifest: the manifest names this integration's webhook, the
//! events and the permissions; the state is good once, for this integration; the conversion
//! stores the App's key and secrets as Secrets and fills the integration, which then runs as
//! the App. End to end in Chromium against stand-ins for github.com and its API.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::github_app_standin::*;
use crate::helpers::*;

const CODE: &str = "a180b1a3d263c81bc6441d7b990bae27d4c10679";

/// github.com's "Create GitHub App" page as the manifest flow uses it: it takes the form's
/// `manifest`, keeps it with the page's path, and sends the browser back to the manifest's
/// `redirect_url` with a code and the state.
struct GithubWeb {
    web: FakeRemote,
    posted: Arc<Mutex<Vec<(String, Value)>>>,
}

/// `application/x-www-form-urlencoded`: one field's value.
fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            let bytes = v.replace('+', " ").into_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    if let Ok(b) = u8::from_str_radix(hex, 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).unwrap_or_default()
        })
    })
}

fn github_web() -> GithubWeb {
    let web = FakeRemote::start();
    let posted = Arc::new(Mutex::new(Vec::new()));
    let kept = posted.clone();
    web.respond_with(move |r| {
        let (page, query) = r.path.split_once('?')?;
        let state = query.strip_prefix("state=")?;
        if r.method != "POST" || !page.ends_with("/settings/apps/new") {
            return None;
        }
        let body = String::from_utf8_lossy(&r.body).to_string();
        let manifest: Value =
            serde_json::from_str(&form_value(&body, "manifest").unwrap_or_default()).ok()?;
        let back = format!(
            "{}?code={CODE}&state={state}",
            manifest["redirect_url"].as_str().unwrap_or_default()
        );
        kept.lock()
            .expect("lock")
            .push((page.to_string(), manifest));
        Some(Canned::status(302, "").header("Location", &back))
    });
    GithubWeb { web, posted }
}

/// A GITHUB integration for the organisation's repositories, with no credential yet.
fn new_integration(app: &TestApp, github: &GithubApp, web: &str) -> String {
    github.books.lock().expect("lock").web_url = web.to_string();
    app.create_integration_id(
        "GITHUB",
        json!({"repos": ["octo-org/*"], "api_url": github.api.url, "web_url": web}),
    )
}

fn start(app: &TestApp, id: &str, body: &Value) -> Value {
    let reply = app.post_json(&format!("/api/integrations/{id}/github-app/manifest"), body);
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()
}

fn convert(app: &TestApp, id: &str, code: &str, state: &str) -> Reply {
    app.post_json(
        &format!("/api/integrations/{id}/github-app/conversion"),
        &json!({"code": code, "state": state}),
    )
}

#[test]
fn a_manifest_names_this_integration_and_its_state_is_good_once() {
    let github = github_app();
    let app = TestApp::spawn();
    let web = "https://ghe.example";
    let id = new_integration(&app, &github, web);
    let webhook_url = app.get(&format!("/api/integrations/{id}")).json()["webhookUrl"]
        .as_str()
        .expect("url")
        .to_string();

    let made = start(&app, &id, &json!({"organization": "octo-org"}));
    let state = made["state"].as_str().expect("state").to_string();
    assert_eq!(state.len(), 64, "{made}");
    assert_eq!(
        made["postUrl"],
        format!("{web}/organizations/octo-org/settings/apps/new?state={state}")
    );
    assert!(made["expiresAt"].as_str().expect("expires").ends_with('Z'));
    let manifest: Value =
        serde_json::from_str(made["manifest"].as_str().expect("m")).expect("json");
    assert_eq!(manifest["hook_attributes"]["url"], webhook_url.as_str());
    assert_eq!(
        manifest["redirect_url"],
        app.url(&format!("/integrations/{id}/github-app"))
    );
    assert_eq!(manifest["public"], false);
    assert_eq!(
        manifest["default_events"],
        json!([
            "pull_request",
            "push",
            "check_run",
            "check_suite",
            "merge_group"
        ])
    );
    for (permission, access) in [
        ("checks", "write"),
        ("statuses", "write"),
        ("deployments", "write"),
        ("contents", "read"),
        ("metadata", "read"),
        ("pull_requests", "write"),
    ] {
        assert_eq!(
            manifest["default_permissions"][permission], access,
            "{manifest}"
        );
    }
    // Without an organisation: the user's own Apps page; a name of one's own.
    let own = start(&app, &id, &json!({"name": "Agents' App"}));
    assert!(
        own["postUrl"]
            .as_str()
            .expect("url")
            .starts_with(&format!("{web}/settings/apps/new?state=")),
        "{own}"
    );
    assert!(own["manifest"].as_str().expect("m").contains("Agents' App"));

    // A state this server never gave, or gave another integration, is refused.
    let other = new_integration(&app, &github, web);
    let problem = convert(&app, &other, CODE, &state).problem(409);
    assert_eq!(problem["field"], "state", "{problem}");
    let problem = convert(&app, &id, CODE, "not-a-state-of-ours").problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("is not one this server gave"),
        "{problem}"
    );
    // A code GitHub does not know uses the state up.
    let problem = convert(&app, &id, "wrong-code", &state).problem(409);
    assert_eq!(problem["field"], "code", "{problem}");
    assert!(
        problem["detail"].as_str().expect("d").contains("404"),
        "{problem}"
    );
    let problem = convert(&app, &id, CODE, &state).problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("used already"),
        "{problem}"
    );
    assert!(app.get(&format!("/api/integrations/{id}")).json()["config"]["app_id"].is_null());

    // A right one: the App's key and secrets become Secrets, and the integration refers to them.
    github.books.lock().expect("lock").manifest_code = Some(CODE.into());
    let state = start(&app, &id, &json!({}))["state"]
        .as_str()
        .expect("state")
        .to_string();
    let reply = convert(&app, &id, CODE, &state);
    assert_eq!(reply.status, 200, "{}", reply.text);
    for leak in ["PRIVATE KEY", CREATED_WEBHOOK_SECRET, CREATED_CLIENT_SECRET] {
        assert!(!reply.text.contains(leak), "{leak}: {}", reply.text);
    }
    let created = reply.json();
    assert_eq!(created["appId"], APP_ID);
    assert_eq!(created["owner"], "octo-org");
    assert_eq!(
        created["installUrl"],
        format!("{web}/apps/provenant-test/installations/new")
    );
    // Named after the integration, never after the App id GitHub answered.
    let key = id.replace('-', "").to_ascii_uppercase();
    let names = [
        format!("GITHUB_APP_{key}_PRIVATE_KEY"),
        format!("GITHUB_APP_{key}_WEBHOOK_SECRET"),
        format!("GITHUB_APP_{key}_CLIENT_SECRET"),
    ];
    assert_eq!(created["secrets"], json!(names));
    let secrets = app.get("/api/secrets").text;
    for name in &names {
        assert!(secrets.contains(name.as_str()), "{secrets}");
    }
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(integration["config"]["app_id"], APP_ID, "{integration}");
    assert_eq!(
        integration["config"]["private_key"],
        format!("${{secret:{}}}", names[0])
    );
    assert_eq!(
        integration["config"]["webhook_secret"],
        format!("${{secret:{}}}", names[1])
    );
    assert_eq!(integration["verified"], true);

    // It runs as the App now: a delivery signed with the App's webhook secret is verified
    // and its eval run is a check run, made with an installation token.
    let payload = github_pr("opened", 7, "main", &format!("{:0>40}", 7), false, None)
        .to_string()
        .replace(REPO, "octo-org/agent-repo");
    let signature = github_signature(CREATED_WEBHOOK_SECRET, payload.as_bytes());
    let event_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-hub-signature-256", &signature),
        ],
        payload.as_bytes(),
    );
    let done = app.wait_for_status(&id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(done["status"], "PROCESSED", "{done}");
    assert_eq!(done["verified"], true, "{done}");
    app.wait_until_idle();
    let created_runs = github.calls(|r| r.method == "POST" && r.path.ends_with("/check-runs"));
    assert_eq!(created_runs.len(), 1);
    assert!(bearer(&created_runs[0]).starts_with("ghs_"));
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}

#[test]
fn a_manifest_is_for_a_github_integration_without_a_personal_token() {
    let app = TestApp::spawn();
    let with_token = app.create_integration_id("GITHUB", json!({"repo": REPO, "token": "ghp_x"}));
    let problem = app
        .post_json(
            &format!("/api/integrations/{with_token}/github-app/manifest"),
            &json!({}),
        )
        .problem(409);
    assert_eq!(problem["field"], "config.token", "{problem}");
    let slack = app.create_integration_id(
        "SLACK",
        json!({"webhook_url": "https://hooks.slack.com/services/T/B/x"}),
    );
    app.post_json(
        &format!("/api/integrations/{slack}/github-app/manifest"),
        &json!({}),
    )
    .problem(409);
    let github = app.create_integration_id("GITHUB", json!({"repo": REPO}));
    for bad in [
        json!({"organization": "-leading-hyphen"}),
        json!({"organization": "has space"}),
        json!({"name": "a name far longer than GitHub's thirty-four"}),
        json!({"name": ""}),
        json!({"name": "tab\there"}),
    ] {
        let reply = app.post_json(
            &format!("/api/integrations/{github}/github-app/manifest"),
            &bad,
        );
        assert_eq!(reply.status, 422, "{bad}: {}", reply.text);
    }
    app.post_json(
        "/api/integrations/00000000-0000-4000-8000-000000000000/github-app/manifest",
        &json!({}),
    )
    .problem(404);
}

#[test]
fn the_manifest_flow_end_to_end_in_chromium() {
    let github = github_app();
    let web = github_web();
    let app = TestApp::spawn();
    let id = new_integration(&app, &github, &web.web.url);
    github.books.lock().expect("lock").manifest_code = Some(CODE.into());
    crate::browser::run(async {
        let Some(b) = crate::browser::Browser::start("github_app_manifest").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        // From the integration's page.
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("#create-github-app")
            .await
            .click()
            .await
            .expect("click");
        b.wait_for("#organization")
            .await
            .send_keys("octo-org")
            .await
            .expect("type");
        // Where the manifest goes is said before it goes: the integration's web_url.
        let origin = b.text_of("#post-origin-value").await;
        assert_eq!(
            origin,
            web.web.url.trim_end_matches('/'),
            "the origin shown"
        );
        b.screenshot("github_app_manifest_start").await;
        b.find("#create-app").await.click().await.expect("submit");
        // The form went to GitHub's page, which sent the browser back; the App is made.
        b.wait_for("#install-link").await;
        let install = b
            .find("#install-link")
            .await
            .attr("href")
            .await
            .expect("href")
            .unwrap_or_default();
        assert_eq!(
            install,
            format!("{}/apps/provenant-test/installations/new", web.web.url)
        );
        assert_eq!(b.text_of("#app-id").await, APP_ID.to_string());
        // The code is gone from the address bar.
        let address = b.client.current_url().await.expect("url");
        assert_eq!(address.query(), None, "{address}");
        b.screenshot("github_app_manifest_created").await;

        // The same state again (a reload of GitHub's redirect) is refused, and so is a wrong one.
        let posted = web.posted.lock().expect("lock").clone();
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].0, "/organizations/octo-org/settings/apps/new");
        let state = web
            .web
            .requests()
            .iter()
            .find_map(|r| r.path.split_once("?state=").map(|(_, s)| s.to_string()))
            .expect("state");
        for (state, refusal) in [
            (state.as_str(), "used already"),
            ("0123456789abcdef", "is not one this server gave"),
        ] {
            b.goto(&app.url(&format!(
                "/integrations/{id}/github-app?code={CODE}&state={state}"
            )))
            .await;
            b.wait_for("#conversion-error").await;
            let shown = b.text_of("#conversion-error").await;
            assert!(shown.contains(refusal), "{shown}");
        }
        b.close().await;
    });
    if !crate::browser::available() {
        return;
    }
    let posted = web.posted.lock().expect("lock").clone();
    assert_eq!(
        posted[0].1["hook_attributes"]["url"],
        app.get(&format!("/api/integrations/{id}")).json()["webhookUrl"]
    );
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(integration["config"]["app_id"], APP_ID, "{integration}");
    // The browser's form went to GitHub's web address: its page's policy named it, after the
    // admin's grant. Without one, the policy names no other origin.
    let page = app.get(&format!("/integrations/{id}/github-app"));
    let policy = page
        .header("content-security-policy")
        .expect("csp")
        .to_string();
    assert!(policy.contains("form-action 'self';"), "{policy}");
    assert!(!policy.contains(&web.web.url), "{policy}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
}

#[test]
fn an_app_page_that_is_not_an_http_link_is_not_shown_as_one() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = new_integration(&app, &github, "https://ghe.example");
    {
        let mut books = github.books.lock().expect("lock");
        books.manifest_code = Some(CODE.into());
        books.html_url = Some("javascript:alert(1)".into());
    }
    let state = start(&app, &id, &json!({}))["state"]
        .as_str()
        .expect("state")
        .to_string();
    let created = convert(&app, &id, CODE, &state).json();
    assert_eq!(
        created["installUrl"], "https://ghe.example/apps/provenant-test/installations/new",
        "{created}"
    );
    assert_eq!(
        created["htmlUrl"],
        "https://ghe.example/apps/provenant-test"
    );
}
