//! `${secret:NAME}`: a config value that names a secret instead of holding it.

use serde_json::Value;

/// Secret names: upper-case letters, digits and `_`, 1–64 characters.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The secret a value refers to, when the whole value is a reference.
pub fn secret_ref(value: &str) -> Option<&str> {
    value
        .trim()
        .strip_prefix("${secret:")
        .and_then(|rest| rest.strip_suffix('}'))
}

/// Every reference in a config, with its path (`config.token`), in document order.
pub fn find_refs(config: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk(config, "config", &mut found);
    found
}

fn walk(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => {
            if let Some(name) = secret_ref(s) {
                found.push((path.to_string(), name.to_string()));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, &format!("{path}.{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_whole_values() {
        assert_eq!(secret_ref("${secret:GITHUB_TOKEN}"), Some("GITHUB_TOKEN"));
        assert_eq!(secret_ref("x ${secret:A}"), None);
        assert_eq!(secret_ref("ghp_123"), None);
    }

    #[test]
    fn names_are_upper_snake_case() {
        assert!(is_valid_name("GITHUB_TOKEN_2"));
        assert!(!is_valid_name("github"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"A".repeat(65)));
    }

    #[test]
    fn references_are_found_at_any_depth() {
        let refs =
            find_refs(&json!({"token": "${secret:A}", "x": [{"y": "${secret:B}"}], "z": "plain"}));
        assert_eq!(
            refs,
            vec![
                ("config.token".to_string(), "A".to_string()),
                ("config.x[0].y".to_string(), "B".to_string())
            ]
        );
    }
}
