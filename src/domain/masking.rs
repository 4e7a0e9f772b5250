//! Sensitive config values: any key whose name says it holds a credential (`secret`, `token`,
//! `password`, `apikey`, `auth` …, any case, any depth; see `credentials`) is shown as `***`,
//! and `***` sent back for such a key means "keep what is stored". A webhook URL
//! (`webhook_url`) is a credential too (whoever holds a Slack incoming-webhook URL can post to
//! the channel): it shows its host and the start of its path,
//! `https://hooks.slack.com/services/…/***`, and that form sent back keeps the stored URL. The
//! `user:password@` of any URL shows as `***@`, and likewise keeps the stored URL when sent back.
//! A value shaped like a known credential (`ghp_…`, `glpat-…`, `xoxb-…`, a Slack webhook URL)
//! is masked under any key, and its masked form sent back keeps it.

use crate::domain::credentials::is_sensitive_key;
use serde_json::{Map, Value};

use crate::domain::credentials::{
    SLACK_WEBHOOK_PREFIX, is_url_key, looks_like_credential, sealed_parts, without_userinfo,
};

pub const MASK: &str = "***";

/// `https://hooks.slack.com/services/T0/B0/XYZ` → `https://hooks.slack.com/services/…/***`.
pub fn mask_url(url: &str) -> String {
    // Not an absolute URL (input is checked, but stored data may be old or odd): nothing of
    // it is shown.
    let Some((scheme, rest)) = url.split_once("://") else {
        return MASK.to_string();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Never the `user:password@` part.
    let host = authority.rsplit('@').next().unwrap_or("");
    let first_segment = rest[authority.len()..]
        .trim_start_matches('/')
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    let shown = if first_segment.is_empty() {
        format!("{prefix}{host}/{MASK}")
    } else {
        format!("{prefix}{host}/{first_segment}/\u{2026}/{MASK}")
    };
    // Within the length a config's URL may have, so that a config read back can be sent
    // back unchanged (and matches its schema): an overlong host is cut, and says so.
    let max = crate::domain::checked::UrlOrSecretRef::MAX_CHARS;
    if shown.chars().count() <= max {
        return shown;
    }
    let room = max.saturating_sub(prefix.chars().count() + 2 + MASK.chars().count());
    let cut: String = host.chars().take(room).collect();
    format!("{prefix}{cut}\u{2026}/{MASK}")
}

fn is_reference(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| crate::domain::secrets::refs::secret_ref(s).is_some())
}

/// How a credential URL is shown: its masked form (kept beside it when it is sealed).
fn shown_url(url: &str) -> String {
    match sealed_parts(url) {
        Some((_, Some(shown))) => shown.to_string(),
        Some((_, None)) => MASK.to_string(),
        None => mask_url(url),
    }
}

/// A copy of `value` with every sensitive value replaced by `***`.
pub fn mask(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    // A `${secret:NAME}` reference is not itself secret: it stays readable.
                    let shown = if is_reference(v) {
                        v.clone()
                    } else if is_sensitive_key(k) {
                        Value::String(MASK.to_string())
                    } else if let (true, Some(url)) = (is_url_key(k), v.as_str()) {
                        Value::String(shown_url(url))
                    } else {
                        mask(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        Value::String(text) => match without_userinfo(text) {
            Some(cut) => Value::String(cut),
            None => match shape_masked(text) {
                Some(shown) => Value::String(shown),
                None => value.clone(),
            },
        },
        other => other.clone(),
    }
}

/// How a value shaped like a known credential is shown under a key that does not say so:
/// a Slack webhook URL as its host and first segment, anything else as `***`.
fn shape_masked(text: &str) -> Option<String> {
    if !looks_like_credential(text) {
        return None;
    }
    Some(if text.trim().starts_with(SLACK_WEBHOOK_PREFIX) {
        mask_url(text.trim())
    } else {
        MASK.to_string()
    })
}

/// Replaces each `***` under a sensitive key in `incoming` by the value stored at the same
/// place in `stored`. Returns the path of a `***` with nothing stored behind it, which is
/// an error: saving the placeholder itself would destroy the user's intent.
pub fn restore_masked(incoming: &mut Value, stored: &Value) -> Result<(), String> {
    restore_at(incoming, Some(stored), "config")
}

fn restore_at(incoming: &mut Value, stored: Option<&Value>, path: &str) -> Result<(), String> {
    match incoming {
        Value::Object(map) => {
            let stored_map: Option<&Map<String, Value>> = stored.and_then(Value::as_object);
            for (key, value) in map.iter_mut() {
                let child_path = format!("{path}.{key}");
                let stored_child = stored_map.and_then(|m| m.get(key));
                if is_sensitive_key(key) && value.as_str() == Some(MASK) {
                    match stored_child {
                        Some(previous) => *value = previous.clone(),
                        None => return Err(child_path),
                    }
                } else if is_url_key(key)
                    && let Some(shown) = value.as_str().filter(|v| v.ends_with(MASK))
                {
                    // Only the masked form of what is stored keeps it; any other masked-looking
                    // URL would be saved as a broken URL.
                    match stored_child.and_then(Value::as_str) {
                        Some(previous) if shown_url(previous) == shown => {
                            *value = Value::String(previous.to_string())
                        }
                        _ => return Err(child_path),
                    }
                } else {
                    restore_at(value, stored_child, &child_path)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            let stored_items = stored.and_then(Value::as_array);
            for (i, item) in items.iter_mut().enumerate() {
                let stored_item = stored_items.and_then(|s| s.get(i));
                restore_at(item, stored_item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::String(shown)
            if stored
                .and_then(Value::as_str)
                .and_then(shape_masked)
                .is_some_and(|masked| &masked == shown) =>
        {
            // A credential found by its shape, sent back as it was shown: keep it.
            *incoming = stored.cloned().unwrap_or_default();
            Ok(())
        }
        Value::String(shown) if shown.contains("://***@") => {
            // A URL shown without its userinfo keeps the stored one's.
            match stored.and_then(Value::as_str) {
                Some(previous) if without_userinfo(previous).as_deref() == Some(shown.as_str()) => {
                    *incoming = Value::String(previous.to_string());
                    Ok(())
                }
                _ => Err(path.to_string()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_masked_url_is_never_longer_than_a_config_url_may_be() {
        let max = crate::domain::checked::UrlOrSecretRef::MAX_CHARS;
        for url in [
            format!("http://{}", "0".repeat(max - 7)),
            format!("https://{}/services/T/B/secret", "h".repeat(max)),
            format!("https://hooks.slack.com/{}/B/secret", "s".repeat(max)),
        ] {
            let shown = super::mask_url(&url);
            assert!(shown.chars().count() <= max, "{}", shown.len());
            assert!(shown.ends_with("/***"), "{shown}");
            assert!(!shown.contains("secret"));
        }
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn masks_at_any_depth_and_any_case() {
        let config = json!({
            "repo": "a/b",
            "TOKEN": "ghp_1",
            "login": {"clientSecret": "x", "user": "u"},
            "list": [{"api_token": "t"}, "plain"],
            "secrets": {"nested": "whole object hidden"}
        });
        assert_eq!(
            mask(&config),
            json!({
                "repo": "a/b",
                "TOKEN": "***",
                "login": {"clientSecret": "***", "user": "u"},
                "list": [{"api_token": "***"}, "plain"],
                "secrets": "***"
            })
        );
    }

    #[test]
    fn keys_are_masked_by_meaning_and_urls_lose_their_userinfo() {
        let config = json!({
            "password": "p4ss", "db_passwd": "p", "apikey": "k", "X_API_KEY": "k2",
            "private_key": "-----BEGIN", "credentials": {"id": "c"}, "basicAuth": "b",
            "api_url": "https://bot:hunter2@ghe.example/api/v3",
            "notes": ["see https://u:pw@wiki.example/page"],
            "repo": "a/b"
        });
        let shown = mask(&config);
        for key in [
            "password",
            "db_passwd",
            "apikey",
            "X_API_KEY",
            "private_key",
            "credentials",
            "basicAuth",
        ] {
            assert_eq!(shown[key], "***", "{key}");
        }
        assert_eq!(shown["api_url"], "https://***@ghe.example/api/v3");
        assert_eq!(shown["repo"], "a/b");
        assert!(!shown.to_string().contains("hunter2"));
        // Sent back as shown, every stored value is kept.
        let mut incoming = shown.clone();
        restore_masked(&mut incoming, &config).expect("restored");
        assert_eq!(incoming["api_url"], config["api_url"]);
        assert_eq!(incoming["password"], "p4ss");
    }

    #[test]
    fn restores_masked_values_from_what_is_stored() {
        let stored =
            json!({"token": "ghp_1", "auth": {"clientSecret": "x"}, "l": [{"token": "t"}]});
        let mut incoming = json!({"token": "***", "auth": {"clientSecret": "***"}, "l": [{"token": "***"}], "new": 1});
        restore_masked(&mut incoming, &stored).expect("restored");
        assert_eq!(
            incoming,
            json!({"token": "ghp_1", "auth": {"clientSecret": "x"}, "l": [{"token": "t"}], "new": 1})
        );
    }

    #[test]
    fn a_placeholder_with_nothing_stored_is_refused() {
        let mut incoming = json!({"auth": {"token": "***"}});
        let err = restore_masked(&mut incoming, &json!({})).expect_err("nothing to restore");
        assert_eq!(err, "config.auth.token");
    }

    #[test]
    fn webhook_urls_show_only_their_host_and_first_segment() {
        let config =
            json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ", "channel": "#a"});
        let shown = mask(&config);
        assert_eq!(
            shown["webhook_url"],
            "https://hooks.slack.com/services/\u{2026}/***"
        );
        assert_eq!(shown["channel"], "#a");
        let reference = json!({"webhook_url": "${secret:SLACK_URL}"});
        assert_eq!(mask(&reference), reference);
        assert_eq!(mask_url("http://127.0.0.1:9"), "http://127.0.0.1:9/***");
    }

    #[test]
    fn a_masked_webhook_url_sent_back_keeps_the_stored_one() {
        let stored = json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ"});
        let mut incoming = mask(&stored);
        restore_masked(&mut incoming, &stored).expect("restored");
        assert_eq!(incoming, stored);
        let mut forged = json!({"webhook_url": "https://evil.example/services/\u{2026}/***"});
        assert_eq!(
            restore_masked(&mut forged, &stored),
            Err("config.webhook_url".to_string())
        );
    }

    #[test]
    fn a_new_value_replaces_the_stored_one() {
        let mut incoming = json!({"token": "ghp_new"});
        restore_masked(&mut incoming, &json!({"token": "ghp_old"})).expect("ok");
        assert_eq!(incoming, json!({"token": "ghp_new"}));
    }

    #[test]
    fn values_shaped_like_credentials_are_masked_under_any_key_and_kept_when_sent_back() {
        let stored = json!({
            "notes": "ghp_0123456789abcdefghij",
            "alerts_url": "https://hooks.slack.com/services/T0/B0/sekrit",
            "other": {"x-api-key": "k", "vault": {"passphrase": "p", "db_pwd": "q"}},
            "repo": "o/r"
        });
        let shown = mask(&stored);
        assert_eq!(shown["notes"], "***");
        assert_eq!(
            shown["alerts_url"],
            "https://hooks.slack.com/services/\u{2026}/***"
        );
        assert_eq!(shown["other"]["x-api-key"], "***");
        assert_eq!(shown["other"]["vault"]["passphrase"], "***");
        assert_eq!(shown["other"]["vault"]["db_pwd"], "***");
        assert_eq!(shown["repo"], "o/r");
        assert!(!shown.to_string().contains("sekrit"));
        let mut back = shown.clone();
        restore_masked(&mut back, &stored).expect("restores");
        assert_eq!(back, stored);
    }
}
