//! Sensitive config values: any key whose name contains `secret` or `token` (any case, any
//! depth) is shown as `***`, and `***` sent back for such a key means "keep what is stored".

use serde_json::{Map, Value};

pub const MASK: &str = "***";

pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("secret") || key.contains("token")
}

/// A copy of `value` with every sensitive value replaced by `***`.
pub fn mask(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    // A `${secret:NAME}` reference is not itself secret: it stays readable.
                    let is_reference = v
                        .as_str()
                        .is_some_and(|s| crate::secrets::refs::secret_ref(s).is_some());
                    let shown = if is_sensitive_key(k) && !is_reference {
                        Value::String(MASK.to_string())
                    } else {
                        mask(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        other => other.clone(),
    }
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
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_at_any_depth_and_any_case() {
        let config = json!({
            "repo": "a/b",
            "TOKEN": "ghp_1",
            "auth": {"clientSecret": "x", "user": "u"},
            "list": [{"api_token": "t"}, "plain"],
            "secrets": {"nested": "whole object hidden"}
        });
        assert_eq!(
            mask(&config),
            json!({
                "repo": "a/b",
                "TOKEN": "***",
                "auth": {"clientSecret": "***", "user": "u"},
                "list": [{"api_token": "***"}, "plain"],
                "secrets": "***"
            })
        );
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
    fn a_new_value_replaces_the_stored_one() {
        let mut incoming = json!({"token": "ghp_new"});
        restore_masked(&mut incoming, &json!({"token": "ghp_old"})).expect("ok");
        assert_eq!(incoming, json!({"token": "ghp_new"}));
    }
}
