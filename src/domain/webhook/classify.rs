//! Reading a delivery: its body format, event type and delivery id, per sender.

use poem::http::HeaderMap;
use serde_json::Value;

use crate::base::error::{AppError, AppResult};
use crate::domain::credentials::is_sensitive_header;
use crate::domain::model::IntegrationType;
use crate::domain::webhook::peek::Peek;

const MAX_LABEL_CHARS: usize = 200;

/// Headers never worth storing: they describe the connection, not the delivery.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The content type without parameters, lower-cased (`application/json`).
pub fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// `application/json` or a `+json` type (media type as `media_type` gives it).
pub fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The JSON document inside a body: the body itself for JSON, the `payload` field for
/// GitHub's form mode. `None` when the body holds no JSON.
pub fn decode_json(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    match media_type(content_type).as_deref() {
        Some(m) if is_json(m) => serde_json::from_slice(body).ok(),
        Some(FORM) => form_payload(body).and_then(|p| serde_json::from_str(&p).ok()),
        // Generic senders sometimes omit the content type or send text/plain with JSON.
        _ => serde_json::from_slice(body).ok(),
    }
}

fn form_payload(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
}

/// Checks the body format for the integration type and reads the fields that name the event.
/// GitHub and GitLab always send JSON (directly or in a form field); anything else is refused.
/// The whole body's syntax is checked, but it is not built into a document (see `peek`).
pub fn parse_body(
    kind: IntegrationType,
    content_type: Option<&str>,
    body: &[u8],
) -> AppResult<Option<Peek>> {
    let media = media_type(content_type);
    match kind {
        IntegrationType::Github | IntegrationType::Gitlab => match media.as_deref() {
            Some(m) if is_json(m) => Peek::from_slice(body)
                .map(Some)
                .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}"))),
            Some(FORM) => {
                let payload = form_payload(body).ok_or_else(|| {
                    AppError::BadRequest("the form body has no `payload` field".into())
                })?;
                Peek::from_text(&payload).map(Some).map_err(|e| {
                    AppError::BadRequest(format!("the `payload` field is not valid JSON: {e}"))
                })
            }
            other => Err(AppError::UnsupportedMediaType(format!(
                "{} deliveries must be application/json or application/x-www-form-urlencoded, not {}",
                kind.as_str(),
                other.unwrap_or("a body without Content-Type")
            ))),
        },
        // Generic senders may send anything; JSON (also without a content type, or as
        // text/plain) is read for the event name.
        IntegrationType::Slack | IntegrationType::Webhook => Ok(match media.as_deref() {
            Some(FORM) => form_payload(body).and_then(|p| Peek::from_text(&p).ok()),
            _ => Peek::from_slice(body).ok(),
        }),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn label(text: &str) -> String {
    text.chars().take(MAX_LABEL_CHARS).collect()
}

/// The event type, e.g. `pull_request.opened`, `push`, `Merge Request Hook.open`,
/// `drift.critical`.
pub fn event_type(
    kind: IntegrationType,
    headers: &HeaderMap,
    json: Option<&Peek>,
) -> AppResult<String> {
    let name = match kind {
        IntegrationType::Github => {
            let event = header(headers, "x-github-event")
                .ok_or_else(|| AppError::BadRequest("missing X-GitHub-Event header".into()))?;
            match json.and_then(|j| j.action.as_deref()) {
                Some(a) => format!("{event}.{a}"),
                None => event.to_string(),
            }
        }
        IntegrationType::Gitlab => {
            let event = header(headers, "x-gitlab-event")
                .ok_or_else(|| AppError::BadRequest("missing X-Gitlab-Event header".into()))?;
            match json.and_then(|j| j.object_action.as_deref()) {
                Some(a) => format!("{event}.{a}"),
                None => event.to_string(),
            }
        }
        IntegrationType::Slack | IntegrationType::Webhook => header(headers, "x-event-type")
            .map(str::to_string)
            .or_else(|| json.and_then(|j| j.event.clone()))
            .or_else(|| json.and_then(|j| j.kind.clone()))
            .unwrap_or_else(|| "unknown".to_string()),
    };
    Ok(label(&name))
}

/// The sender's id for this delivery, which stays the same when it redelivers.
pub fn delivery_id(kind: IntegrationType, headers: &HeaderMap) -> Option<String> {
    let names: &[&str] = match kind {
        IntegrationType::Github => &["x-github-delivery"],
        IntegrationType::Gitlab => &["idempotency-key", "x-gitlab-event-uuid"],
        IntegrationType::Slack | IntegrationType::Webhook => &["webhook-id", "x-request-id"],
    };
    names.iter().find_map(|n| header(headers, n)).map(label)
}

/// The headers to keep with the event: no hop-by-hop headers, credentials and signatures
/// replaced by `***`.
pub fn headers_to_store(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| {
            // By meaning (`credentials::is_sensitive_header`): `x-api-key`, `x-auth-token`,
            // any `…-token`, `…-secret`, `…-signature`, cookies and authorization.
            let shown = if is_sensitive_header(name.as_str()) {
                "***".to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

/// Signatures: an HMAC says nothing about the secret, so its start may be shown, which is
/// enough to compare with what the sender logged.
const SIGNATURE_HEADERS: &[&str] = &[
    "x-hub-signature",
    "x-hub-signature-256",
    "webhook-signature",
    "x-slack-signature",
];
/// Characters of a signature shown in the rejections log.
const SIGNATURE_PREFIX: usize = 16;
/// Header values longer than this are cut in the rejections log.
const MAX_SHOWN_VALUE: usize = 256;
/// Headers kept in the rejections log, at most.
const MAX_SHOWN_HEADERS: usize = 64;

/// The headers of a refused delivery as the rejections log keeps them: signatures cut to a
/// prefix, tokens and cookies hidden (only their length is told: a prefix of a token that is
/// nearly right would give part of the secret away), long values cut.
pub fn headers_for_rejection(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .take(MAX_SHOWN_HEADERS)
        .map(|(name, value)| {
            let name = name.as_str();
            let value = String::from_utf8_lossy(value.as_bytes());
            let shown = if SIGNATURE_HEADERS.contains(&name) {
                cut(&value, SIGNATURE_PREFIX)
            } else if is_sensitive_header(name) {
                format!("*** ({} characters)", value.chars().count())
            } else {
                cut(&value, MAX_SHOWN_VALUE)
            };
            (name.to_string(), shown)
        })
        .collect()
}

fn cut(value: &str, keep: usize) -> String {
    if value.chars().count() <= keep {
        value.to_string()
    } else {
        let mut out: String = value.chars().take(keep).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;
    use serde_json::{Value, json};

    fn peek(doc: Value) -> Peek {
        Peek::from_slice(&serde_json::to_vec(&doc).expect("json")).expect("peek")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        map
    }

    #[test]
    fn github_event_type_includes_the_action() {
        let h = headers(&[("x-github-event", "pull_request")]);
        let t = event_type(
            IntegrationType::Github,
            &h,
            Some(&peek(json!({"action": "opened"}))),
        );
        assert_eq!(t.expect("type"), "pull_request.opened");
        let t = event_type(
            IntegrationType::Github,
            &headers(&[("x-github-event", "push")]),
            None,
        );
        assert_eq!(t.expect("type"), "push");
    }

    #[test]
    fn gitlab_event_type_uses_object_attributes_action() {
        let h = headers(&[("x-gitlab-event", "Merge Request Hook")]);
        let body = peek(json!({"object_attributes": {"action": "open"}}));
        assert_eq!(
            event_type(IntegrationType::Gitlab, &h, Some(&body)).expect("type"),
            "Merge Request Hook.open"
        );
    }

    #[test]
    fn generic_event_type_prefers_the_header_then_event_then_type() {
        let body = peek(json!({"event": "drift.critical", "type": "x"}));
        let none = HeaderMap::new();
        assert_eq!(
            event_type(IntegrationType::Webhook, &none, Some(&body)).expect("t"),
            "drift.critical"
        );
        let h = headers(&[("x-event-type", "violation.high")]);
        assert_eq!(
            event_type(IntegrationType::Webhook, &h, Some(&body)).expect("t"),
            "violation.high"
        );
        assert_eq!(
            event_type(IntegrationType::Webhook, &none, None).expect("t"),
            "unknown"
        );
    }

    #[test]
    fn gitlab_delivery_id_prefers_idempotency_key() {
        let h = headers(&[("x-gitlab-event-uuid", "b"), ("idempotency-key", "a")]);
        assert_eq!(
            delivery_id(IntegrationType::Gitlab, &h).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn form_mode_carries_json_in_payload() {
        let body = b"payload=%7B%22action%22%3A%22opened%22%7D";
        let v = parse_body(
            IntegrationType::Github,
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .expect("parsed");
        assert_eq!(v.and_then(|p| p.action).as_deref(), Some("opened"));
    }

    #[test]
    fn credentials_are_not_stored() {
        let h = headers(&[
            ("x-gitlab-token", "s3cret"),
            ("x-api-key", "k-123"),
            ("x-auth-token", "t-123"),
            ("x-webhook-token", "w-123"),
            ("x-client-secret", "c-123"),
            ("x-custom-signature", "sig"),
            ("cookie", "session=1"),
            ("connection", "close"),
            ("x-a", "b"),
        ]);
        let kept = headers_to_store(&h);
        for name in [
            "x-gitlab-token",
            "x-api-key",
            "x-auth-token",
            "x-webhook-token",
            "x-client-secret",
            "x-custom-signature",
            "cookie",
        ] {
            assert!(
                kept.contains(&(name.into(), "***".into())),
                "{name}: {kept:?}"
            );
        }
        assert!(kept.contains(&("x-a".into(), "b".into())));
        assert!(!kept.iter().any(|(k, _)| k == "connection"));
    }
}
