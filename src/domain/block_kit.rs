//! Slack messages: Block Kit plus a plain-text fallback, built from an announcement's facts.
//!
//! Slack's limits: `text` up to 40,000 characters (we stop far below), a section's text up to
//! 3,000, a header up to 150, at most 10 fields of 2,000 each, at most 50 blocks (we send 4).

use serde_json::{Map, Value, json};

use crate::domain::integration_config::SlackConfig;

const MAX_TEXT: usize = 3_000;
const MAX_SECTION: usize = 2_900;
const MAX_HEADER: usize = 150;
const MAX_FIELD: usize = 1_900;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    High,
    Warning,
    Info,
}

impl Severity {
    /// From the event type's last part: `drift.critical`, `violation.high`, `eval_run.failed` …
    pub fn of(event_type: &str) -> Severity {
        // The server's own alerts: broken is high, healed is news.
        if event_type.starts_with("provenant.alert.") {
            return Severity::High;
        }
        if event_type.starts_with("provenant.resolved.") {
            return Severity::Info;
        }
        let last = event_type
            .rsplit('.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match last.as_str() {
            "critical" | "fatal" => Severity::Critical,
            "high" | "failed" | "error" => Severity::High,
            "warning" | "warn" | "medium" => Severity::Warning,
            _ => Severity::Info,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        }
    }

    fn marker(self) -> &'static str {
        match self {
            Severity::Critical => ":red_circle:",
            Severity::High => ":large_orange_circle:",
            Severity::Warning => ":large_yellow_circle:",
            Severity::Info => ":large_blue_circle:",
        }
    }
}

fn title_of(event_type: &str) -> String {
    match event_type {
        "eval_run.triggered" => "Eval run triggered".into(),
        "eval_run.succeeded" => "Eval run succeeded".into(),
        "eval_run.failed" => "Eval run failed".into(),
        "promotion.started" => "Promotion started".into(),
        "promotion.succeeded" => "Promotion succeeded".into(),
        "promotion.failed" => "Promotion failed".into(),
        "test" => "Test message from Provenant".into(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack mrkdwn treats `&`, `<` and `>` as control characters; values from payloads are
/// untrusted text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fact(facts: &Map<String, Value>, key: &str) -> Option<String> {
    match facts.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Only plain http(s) links are made links: no other scheme, nothing that would end Slack's
/// `<url|label>` early or hide the real target behind another label.
fn is_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.contains(['<', '>', '|', ' '])
        && !url.chars().any(char::is_control)
}

/// The message body for a Slack incoming webhook.
pub fn build_message(event_type: &str, facts: &Map<String, Value>, config: &SlackConfig) -> Value {
    let severity = Severity::of(event_type);
    // The server's own alerts name themselves ("Alert: Processing failures").
    let title = fact(facts, "headline").unwrap_or_else(|| title_of(event_type));
    let mut fields = Vec::new();
    let mut plain = Vec::new();
    let labelled = [
        ("repo", "Repository"),
        ("pr", "Pull request"),
        ("results", "Results"),
        ("sha", "Commit"),
        ("branch", "Branch"),
        ("environment", "Environment"),
        ("agent", "Agent"),
        ("author", "Author"),
        ("integration", "Integration"),
        ("destination", "Destination"),
        ("node", "Node"),
        ("lasted", "Lasted"),
    ];
    for (key, label) in labelled {
        if let Some(value) = fact(facts, key) {
            let shown = match key {
                "pr" => format!("#{value}"),
                "sha" => value.chars().take(12).collect(),
                _ => value,
            };
            plain.push(format!("{label}: {shown}"));
            fields.push(json!({
                "type": "mrkdwn",
                "text": truncate(&format!("*{label}*\n{}", escape(&shown)), MAX_FIELD),
            }));
        }
    }
    fields.push(json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", severity.label())}));

    let summary = fact(facts, "message").or_else(|| fact(facts, "title"));
    let mut section_text = format!("*{}*", escape(&title));
    if let Some(s) = &summary {
        section_text.push('\n');
        section_text.push_str(&escape(s));
    }
    let link = fact(facts, "url").filter(|u| is_link(u));
    if let Some(url) = &link {
        section_text.push_str(&format!("\n<{url}|Open>"));
    }

    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(&format!("[{}] {title}", severity.label()), MAX_HEADER), "emoji": true},
        }),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&format!("{} {section_text}", severity.marker()), MAX_SECTION)},
        }),
    ];
    if !fields.is_empty() {
        fields.truncate(10);
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("Provenant · `{}`", escape(&truncate(event_type, 200)))}],
    }));

    // The fallback is mrkdwn too (notifications, clients without blocks): every value from a
    // payload is escaped there as well, so `<!channel>` or `<https://evil|https://sso>` stays text.
    let mut text = format!("[{}] {}", severity.label(), escape(&title));
    if let Some(s) = &summary {
        text.push_str(" — ");
        text.push_str(&escape(s));
    }
    if !plain.is_empty() {
        text.push_str(" (");
        text.push_str(&escape(&plain.join(", ")));
        text.push(')');
    }
    if let Some(url) = &link {
        text.push(' ');
        text.push_str(&escape(url));
    }
    let mut message = json!({"text": truncate(&text, MAX_TEXT), "blocks": blocks});
    for (key, value) in [("channel", &config.channel), ("username", &config.username)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            message[key] = json!(v);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack_config(v: Value) -> SlackConfig {
        serde_json::from_value(v).expect("a SLACK config")
    }

    fn facts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn severity_comes_from_the_event_type() {
        assert_eq!(Severity::of("drift.critical"), Severity::Critical);
        assert_eq!(Severity::of("violation.high"), Severity::High);
        assert_eq!(Severity::of("eval_run.failed"), Severity::High);
        assert_eq!(Severity::of("drift.warning"), Severity::Warning);
        assert_eq!(Severity::of("eval_run.triggered"), Severity::Info);
    }

    #[test]
    fn messages_carry_blocks_a_fallback_and_config() {
        let m = build_message(
            "eval_run.triggered",
            &facts(
                json!({"repo": "o/r", "pr": 7, "sha": "0123456789abcdef", "url": "https://github.com/o/r/pull/7", "title": "Add <b>"}),
            ),
            &slack_config(
                json!({"webhook_url": "https://hooks.slack.com/services/T/B/x", "channel": "#agent-alerts", "username": "Provenant Bot"}),
            ),
        );
        assert_eq!(m["channel"], "#agent-alerts");
        assert_eq!(m["username"], "Provenant Bot");
        let text = m["text"].as_str().expect("text");
        assert!(
            text.contains("Eval run triggered")
                && text.contains("#7")
                && text.contains("0123456789ab")
        );
        let blocks = m["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50);
        let section = blocks[1]["text"]["text"].as_str().expect("section");
        assert!(
            section.contains("&lt;b&gt;"),
            "untrusted text is escaped: {section}"
        );
        assert!(section.contains("<https://github.com/o/r/pull/7|Open>"));
    }

    #[test]
    fn payload_text_cannot_mention_everyone_or_disguise_a_link() {
        let m = build_message(
            "drift.critical",
            &facts(json!({
                "message": "<!channel> log in at <https://evil.example|https://sso.corp>",
                "environment": "<!here>",
                "url": "javascript:alert(1)"
            })),
            &slack_config(json!({"webhook_url": "https://hooks.slack.com/services/T/B/x"})),
        );
        let all = m.to_string();
        assert!(
            !all.contains("<!channel>") && !all.contains("<!here>"),
            "{all}"
        );
        assert!(!all.contains("<https://evil.example|"), "{all}");
        let text = m["text"].as_str().expect("text");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(
            !all.contains("javascript:alert(1)|Open"),
            "not a link: {all}"
        );
    }

    #[test]
    fn long_text_is_truncated_under_slack_limits() {
        let m = build_message(
            "drift.critical",
            &facts(json!({"message": "x".repeat(50_000)})),
            &slack_config(json!({"webhook_url": "https://hooks.slack.com/services/T/B/x"})),
        );
        assert!(m["text"].as_str().expect("text").chars().count() <= MAX_TEXT);
        for block in m["blocks"].as_array().expect("blocks") {
            if let Some(t) = block["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
    }
}
