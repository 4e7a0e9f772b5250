use provenant::db::sql::params;
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "It's a Secret to Everybody";

fn github(app: &TestApp, secret: Option<&str>) -> String {
    let mut config = json!({"repo": "octo/hello"});
    if let Some(s) = secret {
        config["webhook_secret"] = json!(s);
    }
    app.create_integration_id("GITHUB", config)
}

fn stored_events(app: &TestApp) -> i64 {
    app.db()
        .query_row("SELECT COUNT(*) FROM webhook_events", params![], |r| {
            r.get(0)
        })
        .expect("count")
}

#[test]
fn a_correctly_signed_github_delivery_is_stored_and_accepted() {
    let app = TestApp::spawn();
    let id = github(&app, Some(SECRET));
    let body = br#"{"action":"opened","number":1}"#;
    let sig = github_signature(SECRET, body);
    let reply = app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("x-hub-signature-256", &sig),
        ],
        body,
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
    let accepted = reply.json();
    assert_eq!(accepted["status"], "RECEIVED");
    let event_id = accepted["eventId"].as_str().expect("event id");
    let event = app.event(&id, event_id);
    assert_eq!(event["eventType"], "pull_request.opened");
    assert_eq!(event["deliveryId"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(event["payload"], json!({"action": "opened", "number": 1}));
    // Signatures are not kept readable.
    let headers = event["headers"].as_array().expect("headers");
    let sig_header = headers
        .iter()
        .find(|h| h["name"] == "x-hub-signature-256")
        .expect("signature header kept");
    assert_eq!(sig_header["value"], "***");
    // The raw bytes are stored exactly.
    let raw: Vec<u8> = app
        .db()
        .query_row(
            "SELECT b.body FROM event_bodies b JOIN webhook_events e ON e.seq = b.event_seq
             WHERE e.id = ?1 AND b.encoding IS NULL",
            params![event_id],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(raw, body);
}

#[test]
fn a_bad_github_signature_is_401_stores_nothing_and_is_counted() {
    let app = TestApp::spawn();
    let id = github(&app, Some(SECRET));
    let body = br#"{"zen":"hi"}"#;
    let wrong = github_signature("not the secret", body);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("x-hub-signature-256", wrong.as_str())],
            "X-Hub-Signature-256",
        ),
        (
            vec![("x-hub-signature-256", "sha256=zz")],
            "X-Hub-Signature-256",
        ),
        (vec![], "X-Hub-Signature-256"),
    ];
    for (extra, header_named) in &cases {
        let mut headers = vec![
            ("content-type", "application/json"),
            ("x-github-event", "ping"),
        ];
        headers.extend(extra.iter().copied());
        let reply = app.deliver(&id, &headers, body);
        let problem = reply.problem(401);
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(header_named), "{detail}");
        // Never the expected value.
        assert!(
            !detail.contains(&github_signature(SECRET, body)[7..]),
            "{detail}"
        );
    }
    assert_eq!(stored_events(&app), 0);
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    // The counter is updated by the writer thread just after the answer.
    let mut rejected = integration["rejectedDeliveries"].clone();
    for _ in 0..50 {
        if rejected["count"] == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        rejected = app.get(&format!("/api/integrations/{id}")).json()["rejectedDeliveries"].clone();
    }
    assert_eq!(rejected["count"], 3, "{rejected}");
    assert!(
        rejected["lastReason"]
            .as_str()
            .expect("reason")
            .contains("X-Hub-Signature-256")
    );
    assert!(rejected["lastAt"].is_string());
    assert_eq!(integration["verified"], true);
}

#[test]
fn legacy_sha1_signatures_verify_only_without_sha256() {
    let app = TestApp::spawn();
    let id = github(&app, Some(SECRET));
    let body = br#"{"zen":"hi"}"#;
    let sha1 = github_sha1_signature(SECRET, body);
    let base = [
        ("content-type", "application/json"),
        ("x-github-event", "ping"),
    ];
    let good = [base[0], base[1], ("x-hub-signature", sha1.as_str())];
    assert_eq!(app.deliver(&id, &good, body).status, 202);
    let bad_sha1 = github_sha1_signature("wrong", body);
    let bad = [base[0], base[1], ("x-hub-signature", bad_sha1.as_str())];
    app.deliver(&id, &bad, body).problem(401);
    // A wrong SHA-256 is not rescued by a right SHA-1.
    let wrong256 = github_signature("wrong", body);
    let both = [
        base[0],
        base[1],
        ("x-hub-signature", sha1.as_str()),
        ("x-hub-signature-256", wrong256.as_str()),
    ];
    app.deliver(&id, &both, body).problem(401);
}

#[test]
fn gitlab_token_is_checked() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITLAB",
        json!({"project_id": 42, "webhook_secret": "gl-secret"}),
    );
    let body = br#"{"object_kind":"push","ref":"refs/heads/main"}"#;
    let ok = app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "gl-secret"),
            ("x-gitlab-event-uuid", "uuid-1"),
        ],
        body,
    );
    assert_eq!(ok.status, 202, "{}", ok.text);
    let event = app.event(&id, ok.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["eventType"], "Push Hook");
    assert_eq!(event["deliveryId"], "uuid-1");
    let stored_token = event["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h["name"] == "x-gitlab-token")
        .expect("header")["value"]
        .clone();
    assert_eq!(stored_token, "***");

    for token in [Some("wrong"), None] {
        let mut headers = vec![
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
        ];
        if let Some(t) = token {
            headers.push(("x-gitlab-token", t));
        }
        let problem = app.deliver(&id, &headers, body).problem(401);
        assert!(
            problem["detail"]
                .as_str()
                .expect("d")
                .contains("X-Gitlab-Token")
        );
    }
}

fn standard_webhooks_app() -> (TestApp, String, Vec<u8>) {
    let app = TestApp::spawn();
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    use base64::Engine;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let id = app.create_integration_id("WEBHOOK", json!({"secret": secret}));
    (app, id, key)
}

#[test]
fn standard_webhooks_signatures_are_verified() {
    let (app, id, key) = standard_webhooks_app();
    let body = br#"{"type":"drift.critical","agent":"a1"}"#;
    let now = now_secs();
    let ts = now.to_string();
    let sig = standard_webhooks_signature(&key, "msg_1", now, body);
    let headers = |sig: &str, ts: &str, msg: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".into()),
            ("webhook-id", msg.into()),
            ("webhook-timestamp", ts.into()),
            ("webhook-signature", sig.into()),
        ]
    };
    let send = |h: Vec<(&'static str, String)>, body: &[u8]| {
        let pairs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.deliver(&id, &pairs, body)
    };

    let good = send(headers(&sig, &ts, "msg_1"), body);
    assert_eq!(good.status, 202, "{}", good.text);
    let event = app.event(&id, good.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["eventType"], "drift.critical");
    assert_eq!(event["deliveryId"], "msg_1");

    // Tampered body.
    send(headers(&sig, &ts, "msg_1"), br#"{"type":"drift.low"}"#).problem(401);
    // Expired timestamp (signed correctly, but 10 minutes old).
    let old = now - 600;
    let old_sig = standard_webhooks_signature(&key, "msg_2", old, body);
    let problem = send(headers(&old_sig, &old.to_string(), "msg_2"), body).problem(401);
    assert!(problem["detail"].as_str().expect("d").contains("timestamp"));
    // Key rotation: an unknown first signature, the valid one second.
    let rotated_sig = standard_webhooks_signature(&key, "msg_3", now, body);
    let rotated = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {rotated_sig}");
    assert_eq!(send(headers(&rotated, &ts, "msg_3"), body).status, 202);
    // Missing headers.
    let problem = app
        .deliver(&id, &[("content-type", "application/json")], body)
        .problem(401);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("webhook-signature")
    );
}

#[test]
fn generic_senders_may_sign_like_github() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"secret": "plain-secret"}));
    let body = br#"{"event":"violation.high"}"#;
    let sig = github_signature("plain-secret", body);
    let reply = app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &sig),
        ],
        body,
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
}

#[test]
fn gitlab_signing_tokens_use_standard_webhooks() {
    let app = TestApp::spawn();
    let key = b"gitlab-signing-key-0123456789abc".to_vec();
    use base64::Engine;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let id = app.create_integration_id(
        "GITLAB",
        json!({"project_id": "grp/proj", "webhook_secret": secret}),
    );
    let body = br#"{"object_kind":"merge_request","object_attributes":{"action":"open"}}"#;
    let now = now_secs();
    let sig = standard_webhooks_signature(&key, "gl-msg", now, body);
    let ts = now.to_string();
    let reply = app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Merge Request Hook"),
            ("idempotency-key", "idem-1"),
            ("webhook-id", "gl-msg"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
        body,
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
    let event = app.event(&id, reply.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["eventType"], "Merge Request Hook.open");
    assert_eq!(event["deliveryId"], "idem-1");
}

#[test]
fn githubs_form_encoded_mode_is_accepted() {
    let app = TestApp::spawn();
    let id = github(&app, Some(SECRET));
    let json_payload = r#"{"action":"closed","number":7}"#;
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", json_payload)
        .finish();
    let sig = github_signature(SECRET, body.as_bytes());
    let reply = app.deliver(
        &id,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-github-event", "pull_request"),
            ("x-hub-signature-256", &sig),
        ],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
    let event = app.event(&id, reply.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["eventType"], "pull_request.closed");
    assert_eq!(event["payloadEncoding"], "json");
    assert_eq!(event["payload"]["number"], 7);
}

#[test]
fn github_bodies_must_be_json() {
    let app = TestApp::spawn();
    let id = github(&app, None);
    let ev = ("x-github-event", "push");
    app.deliver(&id, &[("content-type", "text/plain"), ev], b"hello")
        .problem(415);
    app.deliver(&id, &[ev], b"{}").problem(415);
    app.deliver(&id, &[("content-type", "application/json"), ev], b"{nope")
        .problem(400);
    app.deliver(&id, &[("content-type", "application/json")], b"{}")
        .problem(400);
    assert_eq!(stored_events(&app), 0);
}

#[test]
fn generic_webhooks_store_any_body_raw() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(integration["verified"], false);

    let text = app.deliver(
        &id,
        &[("content-type", "text/plain"), ("x-event-type", "note")],
        b"plain words",
    );
    assert_eq!(text.status, 202, "{}", text.text);
    let event = app.event(&id, text.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["payloadEncoding"], "text");
    assert_eq!(event["payload"], "plain words");
    assert_eq!(event["eventType"], "note");

    let binary = app.deliver(&id, &[], &[0xff, 0x00, 0xfe]);
    assert_eq!(binary.status, 202, "{}", binary.text);
    let event = app.event(&id, binary.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["payloadEncoding"], "base64");
    assert_eq!(event["payload"], "/wD+");
    assert_eq!(event["eventType"], "unknown");

    // No body at all (the spec says the body is optional for this reason).
    let empty = app.deliver(&id, &[], b"");
    assert_eq!(empty.status, 202, "{}", empty.text);
    let event = app.event(&id, empty.json()["eventId"].as_str().expect("id"));
    assert_eq!(event["payload"], "", "{event}");
    // GitHub's deliveries always have one.
    let github = github(&app, None);
    app.deliver(&github, &[("x-github-event", "push")], b"")
        .problem(415);
}

#[test]
fn unknown_malformed_and_inactive_integrations_all_answer_the_same_404() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let json_ct = [("content-type", "application/json")];
    // Received once while active (the receiver now knows it), then deactivated.
    assert_eq!(app.deliver(&id, &json_ct, b"{}").status, 202);
    app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"isActive": false}),
    );
    let bodies: Vec<Value> = [
        id.as_str(),
        "1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
        "nonsense",
    ]
    .iter()
    .map(|target| app.deliver(target, &json_ct, b"{}").problem(404))
    .collect();
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
    assert_eq!(stored_events(&app), 1);

    // Reactivated, it receives again.
    app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({"isActive": true}),
    );
    assert_eq!(app.deliver(&id, &json_ct, b"{}").status, 202);
}

#[test]
fn a_redelivery_answers_200_with_the_same_event_and_stores_one_row() {
    let app = TestApp::spawn();
    let id = github(&app, None);
    let headers = [
        ("content-type", "application/json"),
        ("x-github-event", "push"),
        ("x-github-delivery", "same-delivery"),
    ];
    let first = app.deliver(&id, &headers, br#"{"ref":"refs/heads/main"}"#);
    assert_eq!(first.status, 202);
    let second = app.deliver(&id, &headers, br#"{"ref":"refs/heads/main"}"#);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json()["eventId"], first.json()["eventId"]);
    assert_eq!(second.json()["duplicate"], true);
    assert_eq!(stored_events(&app), 1);
    // A redelivery is not counted twice; the count and the newest time are the integration's.
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(integration["eventCount"], 1);
    assert!(integration["lastEventAt"].is_string(), "{integration}");
    // The same delivery id on another integration is a different delivery.
    let other = github(&app, None);
    assert_eq!(app.deliver(&other, &headers, b"{}").status, 202);
    assert_eq!(stored_events(&app), 2);
}

#[test]
fn bodies_over_the_configured_limit_are_413() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 1000, Default::default());
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let ct = [("content-type", "application/octet-stream")];
    assert_eq!(app.deliver(&id, &ct, &[b'a'; 1000]).status, 202);
    app.deliver(&id, &ct, &[b'a'; 1001]).problem(413);
    assert_eq!(stored_events(&app), 1);
}

#[test]
fn a_chunked_body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 1000, Default::default());
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let chunk = "a".repeat(600);
    let body = format!("258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    let reply = raw_http(
        &app,
        &format!(
            "POST /api/integrations/webhook/{id} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        ),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(stored_events(&app), 0);
}

#[test]
fn the_default_limit_refuses_25_mib_plus_one_byte_before_reading_it() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let too_big = 25 * 1024 * 1024 + 1;
    // Announce the size and send nothing more: the answer must not wait for the body.
    let reply = raw_http(
        &app,
        &format!(
            "POST /api/integrations/webhook/{id} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {too_big}\r\n\r\n"
        ),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("application/problem+json"), "{reply}");
}

#[test]
fn events_are_listed_newest_first_with_filters_and_cursor_pages() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    let mut ids = vec![];
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            "even.thing"
        } else {
            "odd.thing"
        };
        let reply = app.deliver(
            &id,
            &[("content-type", "application/json"), ("x-event-type", kind)],
            b"{}",
        );
        ids.push(reply.json()["eventId"].as_str().expect("id").to_string());
    }
    let page1 = app
        .get(&format!("/api/integrations/{id}/events?limit=3"))
        .json();
    let items: Vec<&str> = page1["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        items,
        vec![ids[6].as_str(), ids[5].as_str(), ids[4].as_str()]
    );
    let cursor = page1["nextCursor"].as_str().expect("cursor");
    let page2 = app
        .get(&format!(
            "/api/integrations/{id}/events?limit=3&cursor={cursor}"
        ))
        .json();
    assert_eq!(page2["items"][0]["id"], ids[3]);
    let cursor = page2["nextCursor"].as_str().expect("cursor");
    let page3 = app
        .get(&format!(
            "/api/integrations/{id}/events?limit=3&cursor={cursor}"
        ))
        .json();
    assert_eq!(page3["items"].as_array().expect("items").len(), 1);
    assert!(page3["nextCursor"].is_null());

    let odd = app
        .get(&format!(
            "/api/integrations/{id}/events?eventType=odd.thing"
        ))
        .json();
    assert_eq!(odd["items"].as_array().expect("items").len(), 3);

    for e in &ids {
        app.wait_for_status(&id, e, &["PROCESSED"]);
    }
    let processed = app
        .get(&format!("/api/integrations/{id}/events?status=PROCESSED"))
        .json();
    assert_eq!(processed["items"].as_array().expect("items").len(), 7);
    let received = app
        .get(&format!("/api/integrations/{id}/events?status=RECEIVED"))
        .json();
    assert!(received["items"].as_array().expect("items").is_empty());

    app.get(&format!("/api/integrations/{id}/events?limit=0"))
        .problem(422);
    app.get(&format!("/api/integrations/{id}/events?limit=201"))
        .problem(422);
    app.get(&format!("/api/integrations/{id}/events?cursor=abc"))
        .problem(422);
    app.get(&format!("/api/integrations/{id}/events?status=DONE"))
        .problem(422);
    app.get("/api/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e/events")
        .problem(404);
    app.get(&format!(
        "/api/integrations/{id}/events/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e"
    ))
    .problem(404);
}

#[test]
fn the_default_page_is_the_last_50_events() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    for _ in 0..55 {
        assert_eq!(
            app.deliver(&id, &[("content-type", "application/json")], b"{}")
                .status,
            202
        );
    }
    let page = app.get(&format!("/api/integrations/{id}/events")).json();
    assert_eq!(page["items"].as_array().expect("items").len(), 50);
    assert!(page["nextCursor"].is_string());
}

#[test]
fn a_delivery_that_cannot_be_stored_gets_503_with_retry_after_and_is_not_lost_on_retry() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    // Another process holds the write lock for longer than the server waits (5 s).
    let blocker = app.db();
    blocker.hold_writes().expect("take the write lock");
    let headers = [
        ("content-type", "application/json"),
        ("x-request-id", "locked-1"),
    ];
    let reply = app.deliver(&id, &headers, br#"{"type":"drift.critical"}"#);
    let problem = reply.problem(503);
    assert_eq!(problem["code"], "unavailable");
    assert!(reply.header("retry-after").is_some());
    blocker.release().expect("release");
    assert_eq!(stored_events(&app), 0, "nothing half-stored");
    // The sender's retry succeeds.
    assert_eq!(
        app.deliver(&id, &headers, br#"{"type":"drift.critical"}"#)
            .status,
        202
    );
    assert_eq!(stored_events(&app), 1);
}

#[test]
fn a_sender_that_goes_silent_mid_request_is_disconnected() {
    let app = TestApp::spawn_with(
        |s| s.idle_timeout = std::time::Duration::from_millis(500),
        Default::default(),
    );
    let addr = app.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    // Half a request, then nothing.
    std::io::Write::write_all(
        &mut stream,
        b"POST /api/integrations/webhook/x HTTP/1.1\r\nHost: x\r\n",
    )
    .expect("write");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = std::io::Read::read(&mut stream, &mut buf);
    assert!(
        matches!(read, Ok(0))
            || read.is_err() && started.elapsed() < std::time::Duration::from_secs(5),
        "the connection stayed open: {read:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "closed only after {:?}",
        started.elapsed()
    );
}

#[test]
fn large_deliveries_are_verified_and_stored_like_small_ones() {
    let app = TestApp::spawn();
    let id = github(&app, Some(SECRET));
    // Over the size that is checked off the request thread.
    let body = json!({"action": "opened", "padding": "p".repeat(200 * 1024)}).to_string();
    let sig = github_signature(SECRET, body.as_bytes());
    let headers = [
        ("content-type", "application/json"),
        ("x-github-event", "pull_request"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    let reply = app.deliver(&id, &headers, body.as_bytes());
    assert_eq!(reply.status, 202, "{}", reply.text);
    let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
    assert_eq!(
        app.event(&id, &event_id)["eventType"],
        "pull_request.opened"
    );
    let wrong = github_signature("wrong", body.as_bytes());
    let refused = [
        headers[0],
        headers[1],
        ("x-hub-signature-256", wrong.as_str()),
    ];
    app.deliver(&id, &refused, body.as_bytes()).problem(401);
    assert_eq!(stored_events(&app), 1);
}

/// The stored form of an event's body: (encoding, stored bytes, the bytes it decodes to).
fn stored_body(app: &TestApp, event_id: &str) -> (Option<String>, Vec<u8>, Vec<u8>) {
    let (encoding, stored): (Option<String>, Vec<u8>) = app
        .db()
        .query_row("SELECT b.encoding, b.body FROM event_bodies b JOIN webhook_events e ON e.seq = b.event_seq
             WHERE e.id = ?1", params![event_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("body row");
    let decoded = match encoding.as_deref() {
        Some("zstd") => zstd::bulk::decompress(&stored, 64 << 20).expect("zstd"),
        None => stored.clone(),
        Some(other) => panic!("unknown encoding {other}"),
    };
    (encoding, stored, decoded)
}

#[test]
fn json_bodies_are_stored_compressed_and_come_back_exactly() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({}));
    // Pretty-printed on purpose: the exact bytes (whitespace included) must survive.
    let doc = json!({
        "event": "inventory.snapshot",
        "items": (0..400).map(|i| json!({"sku": format!("SKU-{i:05}"), "count": i % 17})).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec_pretty(&doc).expect("json");
    let event_id = app.deliver_accepted(&id, &[("content-type", "application/json")], &body);
    let (encoding, stored, decoded) = stored_body(&app, &event_id);
    assert_eq!(encoding.as_deref(), Some("zstd"));
    assert_eq!(
        decoded, body,
        "the stored bytes decode to exactly what was sent"
    );
    assert!(
        stored.len() * 100 <= body.len() * 40,
        "{} stored bytes for a {}-byte body",
        stored.len(),
        body.len()
    );
    let event = app.event(&id, &event_id);
    assert_eq!(event["payloadEncoding"], "json");
    assert_eq!(event["payload"], doc);

    // Text comes back as the very same string, compressed or not.
    let text = "a log line that repeats\n".repeat(500);
    let event_id = app.deliver_accepted(&id, &[("content-type", "text/plain")], text.as_bytes());
    assert_eq!(stored_body(&app, &event_id).0.as_deref(), Some("zstd"));
    assert_eq!(app.event(&id, &event_id)["payload"], text.as_str());

    // What does not compress is kept as it came.
    let mut noise = vec![0u8; 8192];
    getrandom::fill(&mut noise).expect("random");
    let event_id =
        app.deliver_accepted(&id, &[("content-type", "application/octet-stream")], &noise);
    let (encoding, stored, _) = stored_body(&app, &event_id);
    assert_eq!((encoding, stored), (None, noise));
}
