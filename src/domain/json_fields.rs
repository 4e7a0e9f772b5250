//! Reading JSON into types strictly, with errors that name their place: a wrong type, a
//! missing field or a refused value is an `Invalid` error whose `field` is `config.repo` or
//! `events[1]`. Nothing is coerced. Pure: request bodies and stored configs are read alike.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::base::error::{AppError, AppResult};

/// Deserializes `value` into `T`; a failure names its place, under `prefix` (`config`).
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> AppResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut field = join(prefix, if path == "." { "" } else { &path });
        let mut message = e.inner().to_string();
        // serde reports a missing field at its parent: name the field itself.
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            field = join(&field, missing);
            message = "is required".into();
        }
        if field.is_empty() {
            field = "body".into();
        }
        AppError::invalid(field, tidy(&message))
    })
}

/// For optional fields of request bodies: absent means "not given", but `null` is refused
/// like any other wrong type (the spec declares the field's type, not `null`).
/// Use as `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// serde says "invalid type: boolean `true`, expected a string"; a field error reads better as
/// "must be a string, not boolean `true`".
fn tidy(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("must be {expected}, not {got}");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        repo: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        config: Inner,
        events: Option<Vec<String>>,
    }

    fn field_and_message(v: Value) -> (String, String) {
        match from_value::<Outer>(v, "") {
            Err(AppError::Invalid { field, message }) => (field, message),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_types_are_refused_with_their_place() {
        let (field, message) = field_and_message(json!({"name": true, "config": {"repo": "a"}}));
        assert_eq!(field, "name");
        assert_eq!(message, "must be a string, not boolean `true`");
        let (field, _) = field_and_message(json!({"name": "n", "config": {"repo": 5}}));
        assert_eq!(field, "config.repo");
        let (field, _) =
            field_and_message(json!({"name": "n", "config": {"repo": "a"}, "events": ["a", 1]}));
        assert_eq!(field, "events[1]");
    }

    #[test]
    fn missing_fields_are_named() {
        let (field, message) = field_and_message(json!({"name": "n", "config": {}}));
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("config.repo", "is required")
        );
        let (field, _) = field_and_message(json!({"config": {"repo": "a"}}));
        assert_eq!(field, "name");
        let (field, _) = field_and_message(json!("text"));
        assert_eq!(field, "body");
    }
}
