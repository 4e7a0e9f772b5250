//! Property tests: the parts that read untrusted input (signatures, bodies, headers, configs,
//! remote answers) hold for every input proptest can think of, not just the examples.
//! `PROPTEST_CASES` raises the number of cases per property (default below).

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use poem::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use provenant::domain::actions::{self, Plan};
use provenant::domain::masking::{self, MASK};
use provenant::domain::model::IntegrationType;
use provenant::domain::secrets::refs;
use provenant::domain::webhook::peek::Peek;
use provenant::domain::webhook::verify::{self, Secret};
use provenant::domain::webhook::{classify, slack};
use provenant::remote;
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::Sha256;

const NOW: i64 = 1_780_000_000;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_bytes(name.as_bytes()).expect("name"), v);
        }
    }
    map
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac1(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("key");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Secrets as people set them: printable, 1–64 characters.
fn secret() -> impl Strategy<Value = String> {
    "[ -~]{1,64}"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

/// A change to a signature or body that must make it fail: one byte flipped.
fn flip(bytes: &[u8], at: usize, bits: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        out.push(bits.max(1));
    } else {
        let i = at % out.len();
        out[i] ^= bits.max(1);
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn github_sha256_accepts_every_right_signature_and_no_wrong_one(
        key in secret(), other in secret(), body in body(), at in any::<usize>(), bits in any::<u8>()
    ) {
        let sig = hmac256(key.as_bytes(), &[&body]);
        let ok = headers(&[("x-hub-signature-256", format!("sha256={}", hex::encode(&sig)))]);
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &ok, &body, NOW).is_ok());
        // Another body, another signature, another secret: all refused.
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &ok, &flip(&body, at, bits), NOW).is_err());
        let wrong = headers(&[("x-hub-signature-256", format!("sha256={}", hex::encode(flip(&sig, at, bits))))]);
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &wrong, &body, NOW).is_err());
        if other != key {
            prop_assert!(verify::verify(IntegrationType::Github, &Secret(&other), &ok, &body, NOW).is_err());
        }
        // Generic senders may sign the same way.
        prop_assert!(verify::verify(IntegrationType::Webhook, &Secret(&key), &ok, &body, NOW).is_ok());
    }

    #[test]
    fn github_sha1_is_accepted_only_right_and_only_without_sha256(
        key in secret(), body in body(), at in any::<usize>(), bits in any::<u8>()
    ) {
        let sig = hmac1(key.as_bytes(), &body);
        let ok = headers(&[("x-hub-signature", format!("sha1={}", hex::encode(&sig)))]);
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &ok, &body, NOW).is_ok());
        let wrong = headers(&[("x-hub-signature", format!("sha1={}", hex::encode(flip(&sig, at, bits))))]);
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &wrong, &body, NOW).is_err());
        // A wrong SHA-256 next to a right SHA-1 is refused: SHA-256 decides when present.
        let both = headers(&[
            ("x-hub-signature", format!("sha1={}", hex::encode(&sig))),
            ("x-hub-signature-256", format!("sha256={}", "00".repeat(32))),
        ]);
        prop_assert!(verify::verify(IntegrationType::Github, &Secret(&key), &both, &body, NOW).is_err());
    }

    #[test]
    fn gitlab_tokens_must_equal_the_secret(key in secret(), other in secret()) {
        let sent = headers(&[("x-gitlab-token", other.clone())]);
        let result = verify::verify(IntegrationType::Gitlab, &Secret(&key), &sent, b"{}", NOW);
        // Header values are trimmed by nobody: equal bytes, and only those, pass.
        prop_assert_eq!(result.is_ok(), key == other);
    }

    #[test]
    fn standard_webhooks_accept_right_signatures_inside_the_window_only(
        key in proptest::collection::vec(any::<u8>(), 1..48),
        id in "[a-zA-Z0-9_]{1,40}",
        skew in -400i64..400,
        body in body(),
        at in any::<usize>(), bits in any::<u8>()
    ) {
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let ts = NOW + skew;
        let sig = hmac256(&key, &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", &body]);
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let with = |signature: String| headers(&[
            ("webhook-id", id.clone()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", signature),
        ]);
        let inside = skew.abs() <= verify::TIMESTAMP_TOLERANCE_SECS;
        let ok = with(format!("v1,{}", b64(&sig)));
        prop_assert_eq!(verify::verify(IntegrationType::Webhook, &Secret(&secret), &ok, &body, NOW).is_ok(), inside);
        // Among several (a rotation), one right signature is enough.
        let rotated = with(format!("v1,{} v1,{}", b64(&flip(&sig, at, bits)), b64(&sig)));
        prop_assert_eq!(verify::verify(IntegrationType::Gitlab, &Secret(&secret), &rotated, &body, NOW).is_ok(), inside);
        let wrong = with(format!("v1,{}", b64(&flip(&sig, at, bits))));
        prop_assert!(verify::verify(IntegrationType::Webhook, &Secret(&secret), &wrong, &body, NOW).is_err());
        prop_assert!(verify::verify(IntegrationType::Webhook, &Secret(&secret), &ok, &flip(&body, at, bits), NOW).is_err());
    }

    #[test]
    fn slack_accepts_right_signatures_inside_the_window_only(
        key in secret(), skew in -400i64..400, body in body(), at in any::<usize>(), bits in any::<u8>()
    ) {
        let ts = (NOW + skew).to_string();
        let sig = hmac256(key.as_bytes(), &[b"v0:", ts.as_bytes(), b":", &body]);
        let with = |sig: &[u8]| headers(&[
            ("x-slack-signature", format!("v0={}", hex::encode(sig))),
            ("x-slack-request-timestamp", ts.clone()),
        ]);
        let inside = skew.abs() <= verify::TIMESTAMP_TOLERANCE_SECS;
        prop_assert_eq!(verify::verify(IntegrationType::Slack, &Secret(&key), &with(&sig), &body, NOW).is_ok(), inside);
        prop_assert!(verify::verify(IntegrationType::Slack, &Secret(&key), &with(&flip(&sig, at, bits)), &body, NOW).is_err());
    }

    /// Whatever arrives in the signature headers, verification answers (never panics) and
    /// never accepts what was not signed with the secret.
    #[test]
    fn arbitrary_signature_headers_are_refused_without_panicking(
        values in proptest::collection::vec("[ -~]{0,120}", 8), body in body(), key in secret()
    ) {
        let names = [
            "x-hub-signature-256", "x-hub-signature", "x-gitlab-token", "webhook-id",
            "webhook-timestamp", "webhook-signature", "x-slack-signature", "x-slack-request-timestamp",
        ];
        let pairs: Vec<(&str, String)> = names.iter().copied().zip(values.iter().cloned()).collect();
        let sent = headers(&pairs);
        for kind in [IntegrationType::Github, IntegrationType::Gitlab, IntegrationType::Slack, IntegrationType::Webhook] {
            let result = verify::verify(kind, &Secret(&key), &sent, &body, NOW);
            // Random text matches only in the GitLab case where it *is* the secret.
            if kind == IntegrationType::Gitlab && values[2] == key && !sent.contains_key("webhook-signature") {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err(), "{kind:?} accepted {pairs:?}");
            }
        }
    }
}

/// JSON documents of any shape, with keys that are sometimes sensitive.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        "[a-z_]{1,12}",
        Just("token".to_string()),
        Just("webhook_secret".to_string()),
        Just("API_TOKEN".to_string()),
        Just("clientSecret".to_string()),
        Just("webhook_url".to_string()),
        Just("password".to_string()),
        Just("X_API_KEY".to_string()),
        Just("apikey".to_string()),
        Just("private_key".to_string()),
        Just("credentials".to_string()),
        Just("basicAuth".to_string()),
        Just("db_passwd".to_string()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,40}".prop_map(Value::String),
        "https://hooks\\.slack\\.com/services/T[A-Z0-9]{8}/B[A-Z0-9]{8}/[a-zA-Z0-9]{24}"
            .prop_map(Value::String),
        "[A-Z_]{1,10}".prop_map(|n| Value::String(format!("${{secret:{n}}}"))),
        ("[a-z]{1,8}", "[a-zA-Z0-9]{12,20}").prop_map(|(user, pass)| Value::String(format!(
            "https://{user}:{pass}@ghe.example/api/v3"
        ))),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every string stored under a sensitive key, and every webhook URL's secret part, with the
/// path to it (references excluded: they are not secret).
fn hidden_values(value: &Value, under_sensitive: bool, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k.eq_ignore_ascii_case("webhook_url")
                    && let Some(url) = v.as_str()
                    && refs::secret_ref(url).is_none()
                {
                    // What follows the first path segment is the credential.
                    let rest = url.split("://").nth(1).unwrap_or(url);
                    let secret_part: Vec<&str> = rest.split('/').skip(2).collect();
                    out.push(secret_part.join("/"));
                }
                // The rule as documented, not the implementation's own test of it.
                let lower = k.to_ascii_lowercase();
                let sensitive = [
                    "secret",
                    "token",
                    "password",
                    "passwd",
                    "apikey",
                    "api_key",
                    "private_key",
                    "credential",
                    "auth",
                ]
                .iter()
                .any(|word| lower.contains(word));
                hidden_values(v, under_sensitive || sensitive, out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| hidden_values(v, under_sensitive, out)),
        Value::String(s) if under_sensitive && refs::secret_ref(s).is_none() => out.push(s.clone()),
        // The password in a URL's userinfo, wherever the URL is.
        Value::String(s) => {
            if let Some((_, rest)) = s.split_once("://")
                && let Some(authority) = rest.split(['/', '?', '#']).next()
                && let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                out.push(password.to_string());
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn masking_leaves_no_secret_visible_at_any_depth(doc in json_value()) {
        let masked = masking::mask(&doc);
        let text = masked.to_string();
        let mut hidden = vec![];
        hidden_values(&doc, false, &mut hidden);
        for value in hidden.iter().filter(|v| v.len() >= 6 && v.as_str() != MASK) {
            // Long random values: if they appear, they leaked.
            prop_assert!(!text.contains(value.as_str()), "{value} visible in {text}");
        }
    }

    #[test]
    fn a_masked_config_sent_back_keeps_every_stored_value(doc in json_value()) {
        let mut incoming = masking::mask(&doc);
        let restored = masking::restore_masked(&mut incoming, &doc);
        prop_assert!(restored.is_ok(), "{restored:?} for {doc}");
        prop_assert_eq!(incoming, doc);
    }

    /// Whatever the body and headers, the event type and delivery id are read without panic
    /// and stay short; the one-pass reader sees what a parsed document shows.
    #[test]
    fn event_names_and_delivery_ids_are_read_from_anything(
        doc in json_value(),
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        values in proptest::collection::vec("[ -~]{0,300}", 6),
        media in prop_oneof![Just("application/json"), Just("application/x-www-form-urlencoded"), Just("text/plain")],
    ) {
        let names = ["x-github-event", "x-gitlab-event", "x-event-type", "x-github-delivery", "idempotency-key", "webhook-id"];
        let pairs: Vec<(&str, String)> = names.iter().copied().zip(values).collect();
        let sent = headers(&pairs);
        let json = serde_json::to_vec(&doc).expect("json");
        let peek = Peek::from_slice(&json).expect("any JSON document reads");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        prop_assert_eq!(peek.action.clone(), text(doc.get("action")));
        prop_assert_eq!(peek.kind.clone(), text(doc.get("type")));
        prop_assert_eq!(peek.event.clone(), text(doc.get("event")));
        prop_assert_eq!(peek.object_action.clone(), text(doc.get("object_attributes").and_then(|o| o.get("action"))));
        for kind in [IntegrationType::Github, IntegrationType::Gitlab, IntegrationType::Slack, IntegrationType::Webhook] {
            for body in [&json, &raw] {
                if let Ok(read) = classify::parse_body(kind, Some(media), body)
                    && let Ok(name) = classify::event_type(kind, &sent, read.as_ref())
                {
                    prop_assert!(name.chars().count() <= 200);
                }
                let _ = slack::read(Some(media), body);
            }
            if let Some(id) = classify::delivery_id(kind, &sent) {
                prop_assert!(id.chars().count() <= 200);
            }
        }
    }

    #[test]
    fn secret_references_are_read_exactly(name in "[A-Z0-9_]{1,64}", junk in "[ -~]{0,80}") {
        let reference = format!("${{secret:{name}}}");
        prop_assert_eq!(refs::secret_ref(&reference), Some(name.as_str()));
        let padded = format!("  {reference} ");
        prop_assert_eq!(refs::secret_ref(&padded), Some(name.as_str()));
        prop_assert!(refs::is_valid_name(&name));
        // Anything else: no panic, and a reference only when it is wrapped exactly so.
        if let Some(inner) = refs::secret_ref(&junk) {
            prop_assert_eq!(junk.trim(), format!("${{secret:{inner}}}"));
        }
    }

    #[test]
    fn retries_follow_the_schedule_within_the_jitter_and_honour_the_remote(
        schedule in proptest::collection::vec(1u64..100_000, 1..8),
        attempts in -3i64..12,
        at_least in proptest::option::of(0u64..200_000),
    ) {
        let schedule: Vec<Duration> = schedule.into_iter().map(Duration::from_millis).collect();
        let at_least = at_least.map(Duration::from_millis);
        let index = (attempts.max(1) - 1) as usize;
        match provenant::base::retry::delay(&schedule, attempts, at_least) {
            Some(wait) => {
                let base = schedule[index];
                prop_assert!(wait >= at_least.unwrap_or_default());
                prop_assert!(wait >= base.mul_f64(0.79) && wait <= base.mul_f64(1.21).max(at_least.unwrap_or_default()));
            }
            None => prop_assert!(index >= schedule.len()),
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_clamps_absurd_values(
        secs in any::<u64>(),
        digits in "[0-9]{1,40}",
        ahead in -100_000i64..100_000,
        junk in "[ -~]{0,40}",
    ) {
        let now_ms = NOW * 1000;
        let max = provenant::remote::agent::MAX_REMOTE_WAIT;
        prop_assert_eq!(provenant::remote::agent::parse_retry_after(&secs.to_string(), now_ms), Some(Duration::from_secs(secs).min(max)));
        prop_assert!(provenant::remote::agent::parse_retry_after(&digits, now_ms).is_some_and(|d| d <= max));
        let at = time::OffsetDateTime::from_unix_timestamp(NOW + ahead).expect("date");
        let http_date = at
            .format(&time::format_description::parse_borrowed::<2>("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT").expect("format"))
            .expect("formatted");
        let expected = Duration::from_secs(ahead.max(0) as u64).min(max);
        prop_assert_eq!(provenant::remote::agent::parse_retry_after(&http_date, now_ms), Some(expected), "{}", http_date);
        if let Some(wait) = provenant::remote::agent::parse_retry_after(&junk, now_ms) {
            prop_assert!(wait <= max);
        }
    }
}

#[test]
fn retry_after_reads_the_rfc_example_date() {
    // RFC 9110's example, read against a clock 10 s before it.
    let at = time::macros::datetime!(2015-10-21 07:28:00 UTC).unix_timestamp() * 1000;
    assert_eq!(
        provenant::remote::agent::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 10_000),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        provenant::remote::agent::parse_retry_after("soon", at),
        None
    );
    assert_eq!(provenant::remote::agent::parse_retry_after("-5", at), None);
    let _ = json!({});
}

/// Strings a sender could put where a SHA or a ref goes: anything, and near misses of both.
fn payload_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        "[0-9a-f]{40}",
        "[0-9a-f./?#%]{38,42}",
        "refs/heads/[a-z./?#%\\\\:@{}]{0,20}",
        Just("../../../../victim-org/private-repo/statuses/0123456789abcdef0123456789abcdef01234567?x=".to_string()),
        ".{0,3}",
    ]
}

/// Whether a request path is what its segments promise: `expected` segments, none of them a
/// step (`.`, `..`), and no query or fragment.
fn path_is_sound(path: &str, expected: usize) -> bool {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    !path.contains(['?', '#'])
        && segments.len() == expected
        && segments.iter().all(|s| *s != "." && *s != "..")
}

proptest! {
    #![proptest_config(config())]

    /// Whatever a value holds, it stays one segment of a request path.
    #[test]
    fn a_value_is_always_one_path_segment(values in proptest::collection::vec("\\PC{0,30}", 1..5)) {
        let mut segments = vec!["repos".to_string()];
        segments.extend(values.iter().cloned());
        let path = remote::path(&segments);
        prop_assert!(path_is_sound(&path, segments.len()), "{path} from {segments:?}");
        for (raw, encoded) in values.iter().zip(path.split('/').skip(2)) {
            prop_assert!(!encoded.contains('/'), "{:?} became {}", raw, encoded);
            let steps = raw.contains("..") && !raw.bytes().all(|b| b == b'.');
            prop_assert_eq!(encoded.contains(".."), steps);
        }
    }

    /// No payload string reaches a request path unless it is a commit id: every plan that
    /// would tell GitHub or GitLab something carries 40 or 64 hex digits, and the status path
    /// built from it is sound.
    #[test]
    fn no_payload_string_can_put_a_slash_a_query_or_a_step_into_a_request_path(
        head in payload_string(), after in payload_string(), git_ref in payload_string(),
        merge in payload_string(), branch in payload_string(),
    ) {
        let github: provenant::domain::integration_config::GithubConfig =
            serde_json::from_value(json!({"repo": "octo/hello", "branch": "main"})).expect("config");
        let gitlab: provenant::domain::integration_config::GitlabConfig =
            serde_json::from_value(json!({"project_id": 42, "branch": "main"})).expect("config");
        let pr = json!({"action": "opened", "number": 1, "repository": {"full_name": "octo/hello"},
            "pull_request": {"number": 1, "base": {"ref": "main"}, "head": {"sha": head, "ref": branch},
                             "merged": true, "merge_commit_sha": merge}});
        let mut closed = pr.clone();
        closed["action"] = json!("closed");
        let push = json!({"ref": git_ref, "after": after, "repository": {"full_name": "octo/hello"}});
        let main_push = json!({"ref": "refs/heads/main", "after": after, "repository": {"full_name": "octo/hello"}});
        let mr = json!({"object_kind": "merge_request", "project": {"id": 42, "path_with_namespace": "g/p"},
            "object_attributes": {"iid": 1, "action": "open", "target_branch": "main", "source_branch": branch,
                                  "last_commit": {"id": head}}});
        let mut merged_mr = mr.clone();
        merged_mr["object_attributes"]["action"] = json!("merge");
        merged_mr["object_attributes"]["merge_commit_sha"] = json!(merge);
        let lab_push = json!({"object_kind": "push", "ref": git_ref, "after": after, "project_id": 42,
            "project": {"id": 42, "path_with_namespace": "g/p"}});
        let group = |action: &str| json!({"action": action, "reason": branch,
            "merge_group": {"head_sha": head, "head_ref": git_ref, "base_ref": "refs/heads/main"},
            "repository": {"full_name": "octo/hello"}});
        let plans = [
            actions::github::plan(&github, "merge_group", &group("checks_requested")),
            actions::github::plan(&github, "merge_group", &group("destroyed")),
            actions::github::plan(&github, "pull_request.opened", &pr),
            actions::github::plan(&github, "pull_request.closed", &closed),
            actions::github::plan(&github, "push", &push),
            actions::github::plan(&github, "push", &main_push),
            actions::gitlab::plan(&gitlab, &mr),
            actions::gitlab::plan(&gitlab, &merged_mr),
            actions::gitlab::plan(&gitlab, &lab_push),
        ];
        for plan in plans.into_iter().flatten() {
            let sha = match &plan {
                Plan::EvalRun(run) => run.head_sha.clone(),
                Plan::Deployment(d) => d.commit_sha.clone(),
                Plan::CancelEvalRuns { head_sha, why, .. } => {
                    prop_assert!(why.chars().count() < 200, "{why}");
                    head_sha.clone()
                }
                Plan::Installation(_) | Plan::Nothing(_) => continue,
            };
            prop_assert!(actions::is_commit_sha(&sha), "{plan:?}");
            let path = remote::path(&["repos", "octo", "hello", "statuses", sha.as_str()]);
            prop_assert!(path_is_sound(&path, 5), "{path}");
        }
    }
}
