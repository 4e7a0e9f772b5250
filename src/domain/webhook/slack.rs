//! What Slack sends to an app's request URL, read into an event type and a delivery id:
//! Events API callbacks (JSON), interactivity (a form whose `payload` field is JSON) and slash
//! commands (plain form fields). The Events API's `url_verification` handshake carries a
//! `challenge` to echo.

use serde_json::Value;

use super::classify;

const FORM: &str = "application/x-www-form-urlencoded";
const MAX_LABEL_CHARS: usize = 200;

#[derive(Debug, PartialEq, Eq)]
pub struct SlackRequest {
    /// `slack.event.app_mention`, `slack.block_actions`, `slack.command./deploy` …
    pub event_type: String,
    /// Slack's id for this request, the same when Slack retries it.
    pub delivery_id: Option<String>,
    /// Set for the Events API's `url_verification`: answer with it, store nothing.
    pub challenge: Option<String>,
}

pub fn read(content_type: Option<&str>, body: &[u8]) -> SlackRequest {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let label = |s: String| s.chars().take(MAX_LABEL_CHARS).collect::<String>();
    let is_form = classify::media_type(content_type).as_deref() == Some(FORM);
    if is_form {
        let fields: Vec<(String, String)> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if let Some(payload) = field("payload").and_then(|p| serde_json::from_str::<Value>(&p).ok())
        {
            let kind = text(payload.get("type")).unwrap_or_else(|| "interaction".into());
            return SlackRequest {
                event_type: label(format!("slack.{kind}")),
                delivery_id: text(payload.get("trigger_id")).map(label),
                challenge: None,
            };
        }
        if let Some(command) = field("command") {
            return SlackRequest {
                event_type: label(format!("slack.command.{command}")),
                delivery_id: field("trigger_id").map(label),
                challenge: None,
            };
        }
    } else if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let kind = text(json.get("type")).unwrap_or_default();
        if kind == "url_verification" {
            return SlackRequest {
                event_type: "slack.url_verification".into(),
                delivery_id: None,
                challenge: text(json.get("challenge")),
            };
        }
        let event_type = if kind == "event_callback" {
            let inner = text(json.get("event").and_then(|e| e.get("type")));
            format!("slack.event.{}", inner.unwrap_or_else(|| "unknown".into()))
        } else if kind.is_empty() {
            "slack.unknown".into()
        } else {
            format!("slack.{kind}")
        };
        return SlackRequest {
            event_type: label(event_type),
            delivery_id: text(json.get("event_id")).map(label),
            challenge: None,
        };
    }
    SlackRequest {
        event_type: "slack.unknown".into(),
        delivery_id: None,
        challenge: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    #[test]
    fn events_api_callbacks_are_named_by_their_inner_event() {
        let body = json!({"type": "event_callback", "event_id": "Ev123", "event": {"type": "app_mention"}});
        let r = read(Some("application/json"), body.to_string().as_bytes());
        assert_eq!(r.event_type, "slack.event.app_mention");
        assert_eq!(r.delivery_id.as_deref(), Some("Ev123"));
        assert_eq!(r.challenge, None);
    }

    #[test]
    fn url_verification_carries_its_challenge() {
        let body = json!({"type": "url_verification", "challenge": "3eZbrw1aB", "token": "t"});
        let r = read(Some("application/json"), body.to_string().as_bytes());
        assert_eq!(r.challenge.as_deref(), Some("3eZbrw1aB"));
    }

    #[test]
    fn interactivity_payloads_and_slash_commands_are_read_from_the_form() {
        let payload = json!({"type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0"});
        let r = read(Some(FORM), &form(&[("payload", &payload.to_string())]));
        assert_eq!(r.event_type, "slack.block_actions");
        assert_eq!(
            r.delivery_id.as_deref(),
            Some("13345224609.738474920.8088930838d88f008e0")
        );
        let r = read(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            &form(&[
                ("command", "/deploy"),
                ("text", "prod"),
                ("trigger_id", "t1"),
            ]),
        );
        assert_eq!(r.event_type, "slack.command./deploy");
        assert_eq!(r.delivery_id.as_deref(), Some("t1"));
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(read(None, b"\xff").event_type, "slack.unknown");
        assert_eq!(read(Some(FORM), b"a=b").event_type, "slack.unknown");
    }
}
