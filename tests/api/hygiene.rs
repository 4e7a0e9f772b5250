//! Explaining refusals: the rejected-deliveries log, secret hygiene in refusal reasons and
//! warnings, and rotating a secret with an overlap.

use std::time::Duration;

use provenant::base::clock::Clock;
use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "It's a Secret to Everybody, 2026";

fn push_headers(signature: &str) -> Vec<(&str, &str)> {
    vec![
        ("content-type", "application/json"),
        ("x-github-event", "push"),
        ("x-hub-signature-256", signature),
    ]
}

/// The kept rejections, once there are at least `n` (they are written after the answer).
fn rejections(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = app.get(&format!("/api/integrations/{id}/rejections"));
        assert_eq!(reply.status, 200, "{}", reply.text);
        let items = reply.json()["items"].as_array().expect("items").clone();
        if items.len() >= n {
            return items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} rejections kept",
            items.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn refused_deliveries_are_kept_with_reason_source_headers_and_hash_but_never_the_body() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": SECRET}),
    );
    let body = br#"{"ref":"refs/heads/main","confidential":"body-text-never-kept"}"#;
    let wrong = github_signature("not the secret", body);
    app.deliver(&id, &push_headers(&wrong), body).problem(401);
    let good = github_signature(SECRET, b"{not json");
    app.deliver(&id, &push_headers(&good), b"{not json")
        .problem(400);

    let kept = rejections(&app, &id, 2);
    assert_eq!(kept.len(), 2, "{kept:#?}");
    let (format, signature) = (&kept[0], &kept[1]);
    assert_eq!(signature["status"], 401);
    assert!(
        signature["reason"]
            .as_str()
            .expect("reason")
            .contains("X-Hub-Signature-256 does not match"),
        "{signature}"
    );
    assert_eq!(signature["source"], "127.0.0.1");
    assert_eq!(signature["bodyBytes"], body.len());
    assert_eq!(signature["bodySha256"], sha256_hex(body));
    assert!(signature["at"].as_str().expect("at").ends_with('Z'));
    let shown = |name: &str| {
        signature["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].as_str().expect("value").to_string())
    };
    // The signature's first characters only: enough to compare with the sender's log.
    let prefix = shown("x-hub-signature-256").expect("signature header");
    assert_eq!(prefix, format!("{}…", &wrong[..16]));
    assert_eq!(shown("x-github-event").as_deref(), Some("push"));
    assert_eq!(format["status"], 400);
    assert!(
        format["reason"].as_str().expect("r").contains("JSON"),
        "{format}"
    );

    let text = app.get(&format!("/api/integrations/{id}/rejections")).text;
    assert!(!text.contains("body-text-never-kept"));
    assert!(!text.contains(&wrong), "the whole signature was kept");
    // The counter counts signature failures.
    let one = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(one["rejectedDeliveries"]["count"], 1);

    // Unknown integrations, and no token.
    app.get("/api/integrations/00000000-0000-4000-8000-000000000000/rejections")
        .problem(404);
    app.request(
        "GET",
        &format!("/api/integrations/{id}/rejections"),
        None,
        &[],
        None,
    )
    .problem(401);
}

#[test]
fn a_gitlab_token_is_never_shown_in_the_log_only_its_length() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITLAB",
        json!({"project_id": 42, "webhook_secret": SECRET}),
    );
    let almost = &SECRET[..SECRET.len() - 1];
    app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", almost),
        ],
        br#"{"object_kind":"push"}"#,
    )
    .problem(401);
    let kept = rejections(&app, &id, 1);
    let token = kept[0]["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h["name"] == "x-gitlab-token")
        .expect("token header")["value"]
        .clone();
    assert_eq!(token, format!("*** ({} characters)", almost.len()));
}

#[test]
fn only_the_last_hundred_refusals_are_kept_and_newest_first() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": SECRET}),
    );
    for n in 0..105 {
        let body = format!(r#"{{"n":{n}}}"#);
        app.deliver(&id, &push_headers("sha256=00"), body.as_bytes())
            .problem(401);
    }
    // All 105 are counted (in the same write as the log), then the log holds the newest 100.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.get(&format!("/api/integrations/{id}")).json()["rejectedDeliveries"]["count"] != 105 {
        assert!(std::time::Instant::now() < deadline, "not all counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kept = rejections(&app, &id, 100);
    assert_eq!(kept.len(), 100);
    assert_eq!(kept[0]["bodySha256"], sha256_hex(br#"{"n":104}"#));
    assert_eq!(kept[99]["bodySha256"], sha256_hex(br#"{"n":5}"#));
}

#[test]
fn a_secret_with_a_trailing_newline_is_named_as_the_cause_and_warned_about() {
    let app = TestApp::spawn();
    let pasted = format!("{SECRET}\n");
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": pasted}),
    );
    let body = br#"{"ref":"refs/heads/main"}"#;
    // The sender signs with the secret as it meant it.
    let problem = app
        .deliver(&id, &push_headers(&github_signature(SECRET, body)), body)
        .problem(401);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains(
            "it would match the configured secret without its trailing newline: save the secret again without it"
        ),
        "{detail}"
    );
    assert!(
        rejections(&app, &id, 1)[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("trailing newline")
    );
    // A wrong secret is not blamed on whitespace.
    let problem = app
        .deliver(
            &id,
            &push_headers(&github_signature("other secret entirely", body)),
            body,
        )
        .problem(401);
    assert!(!problem["detail"].as_str().expect("d").contains("newline"));

    let warnings = app.get(&format!("/api/integrations/{id}")).json()["warnings"].clone();
    assert!(
        warnings.to_string().contains("surrounding whitespace"),
        "{warnings}"
    );
}

#[test]
fn integrations_without_a_secret_or_with_a_short_one_carry_warnings_in_the_list() {
    let app = TestApp::spawn();
    let open = app.create_integration_id("GITHUB", json!({"repo": "octo/open"}));
    let short = app.create_integration_id(
        "GITLAB",
        json!({"project_id": 7, "webhook_secret": "abc123"}),
    );
    let good = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/good", "webhook_secret": SECRET}),
    );
    let generic = app.create_integration_id("WEBHOOK", json!({}));
    let list = app.get("/api/integrations").json();
    let warnings = |id: &str| -> String {
        list["items"]
            .as_array()
            .or_else(|| list.as_array())
            .expect("list")
            .iter()
            .find(|i| i["id"] == id)
            .expect("listed")["warnings"]
            .to_string()
    };
    assert!(
        warnings(&open).contains("No secret: deliveries are not verified"),
        "{}",
        warnings(&open)
    );
    assert!(
        warnings(&short).contains("shorter than 16"),
        "{}",
        warnings(&short)
    );
    assert_eq!(warnings(&good), "[]");
    // A generic receiver without a secret warns too: anyone with its URL could send alerts.
    assert!(
        warnings(&generic).contains("No secret") && warnings(&generic).contains("Set secret"),
        "{}",
        warnings(&generic)
    );
    // An inactive integration receives nothing: no warning about its missing secret.
    app.patch_json(
        &format!("/api/integrations/{open}"),
        &json!({"isActive": false}),
    );
    let one = app.get(&format!("/api/integrations/{open}")).json();
    assert_eq!(one["warnings"], json!([]));
}

fn clocked_app() -> (TestApp, Clock) {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Processors::default(),
    );
    (app, clock)
}

fn rotate(app: &TestApp, id: &str, body: Value) -> Value {
    let reply = app.post_json(&format!("/api/integrations/{id}/rotate-secret"), &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[test]
fn a_rotated_secret_accepts_the_old_signature_during_the_overlap_only_and_says_when_it_was_used() {
    let (app, clock) = clocked_app();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": SECRET}),
    );
    let body = br#"{"ref":"refs/heads/main"}"#;
    let send = |secret: &str, delivery: &str| {
        let sig = github_signature(secret, body);
        let mut headers = push_headers(&sig);
        headers.push(("x-github-delivery", delivery));
        app.deliver(&id, &headers, body)
    };
    assert_eq!(send(SECRET, "before").status, 202);

    let rotated = rotate(&app, &id, json!({"overlapSeconds": 3600}));
    let new = rotated["secret"].as_str().expect("secret").to_string();
    assert_eq!(new.len(), 64, "32 random bytes, hex: {new}");
    assert!(new.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(rotated["previousValidUntil"].is_string(), "{rotated}");
    // Never shown again.
    let one = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(one["config"]["webhook_secret"], "***");
    assert!(!app.get("/api/integrations").text.contains(&new));
    assert_eq!(
        one["secretRotation"]["previousValidUntil"],
        rotated["previousValidUntil"]
    );
    assert!(
        one["secretRotation"]["previousLastUsedAt"].is_null(),
        "{one}"
    );

    // During the overlap both pass; the old one's use is recorded.
    assert_eq!(send(&new, "new-1").status, 202);
    let old = send(SECRET, "old-1");
    assert_eq!(old.status, 202);
    // Marked so in its decision trace.
    let event = app.event(&id, old.json()["eventId"].as_str().expect("id"));
    assert_eq!(
        event["trace"][0]["text"],
        "verified: X-Hub-Signature-256 (HMAC-SHA256) with the previous secret (still accepted after a rotation)"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let one = app.get(&format!("/api/integrations/{id}")).json();
        if one["secretRotation"]["previousLastUsedAt"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old secret's use never shown: {one}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // After the overlap the old secret is refused; the new one still passes.
    clock.advance(Duration::from_secs(3601));
    let problem = send(SECRET, "old-2").problem(401);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("X-Hub-Signature-256")
    );
    assert_eq!(send(&new, "new-2").status, 202);
    let one = app.get(&format!("/api/integrations/{id}")).json();
    assert!(one["secretRotation"].is_null(), "{one}");
}

#[test]
fn rotating_a_named_secret_keeps_its_previous_value_for_the_overlap() {
    let (app, clock) = clocked_app();
    let put = app.request(
        "PUT",
        "/api/secrets/HOOK_SECRET",
        Some(TOKEN),
        &[("content-type", "application/json")],
        Some(json!({"value": SECRET}).to_string().into_bytes()),
    );
    assert!(put.status == 201 || put.status == 200, "{}", put.text);
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": "${secret:HOOK_SECRET}"}),
    );
    let given = "a-new-secret-chosen-by-the-user-42";
    let rotated = rotate(&app, &id, json!({"secret": given, "overlapSeconds": 60}));
    assert_eq!(rotated["secret"], given);
    assert_eq!(rotated["secretName"], "HOOK_SECRET");
    // The config still refers to the named secret.
    let one = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(one["config"]["webhook_secret"], "${secret:HOOK_SECRET}");

    let body = br#"{"ref":"refs/heads/main"}"#;
    let send =
        |secret: &str| app.deliver(&id, &push_headers(&github_signature(secret, body)), body);
    assert_eq!(send(given).status, 202);
    assert_eq!(send(SECRET).status, 202);
    clock.advance(Duration::from_secs(61));
    send(SECRET).problem(401);
    assert_eq!(send(given).status, 202);
}

#[test]
fn a_standard_webhooks_secret_rotates_to_another_whsec_and_slack_needs_the_new_one_given() {
    let (app, _clock) = clocked_app();
    use base64::Engine;
    let key = b"0123456789abcdef0123456789abcdef";
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let id = app.create_integration_id("WEBHOOK", json!({"secret": whsec}));
    let rotated = rotate(&app, &id, json!({}));
    let new = rotated["secret"].as_str().expect("secret");
    assert!(new.starts_with("whsec_"), "{new}");
    let new_key = base64::engine::general_purpose::STANDARD
        .decode(&new["whsec_".len()..])
        .expect("base64");
    let body = br#"{"type":"drift.low"}"#;
    for (n, signing_key) in [key.as_slice(), new_key.as_slice()].into_iter().enumerate() {
        let ts = now_secs();
        let msg = format!("msg_{n}");
        let sig = standard_webhooks_signature(signing_key, &msg, ts, body);
        let reply = app.deliver(
            &id,
            &[
                ("content-type", "application/json"),
                ("webhook-id", &msg),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &sig),
            ],
            body,
        );
        assert_eq!(reply.status, 202, "key {n}: {}", reply.text);
    }

    let slack = app.create_integration_id(
        "SLACK",
        json!({"webhook_url": "https://hooks.slack.com/services/T/B/x", "signing_secret": SECRET}),
    );
    let problem = app
        .post_json(
            &format!("/api/integrations/{slack}/rotate-secret"),
            &json!({}),
        )
        .problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("Slack issues")
    );
    let problem = app
        .post_json(
            &format!("/api/integrations/{id}/rotate-secret"),
            &json!({"secret": "short"}),
        )
        .problem(422);
    assert!(problem["detail"].as_str().expect("d").contains("16"));
    app.post_json(
        &format!("/api/integrations/{id}/rotate-secret"),
        &json!({"overlapSeconds": 2_592_001}),
    )
    .problem(422);
}
