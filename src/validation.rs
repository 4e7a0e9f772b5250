//! What a valid integration looks like, per type. Each failure names the field at fault.

use serde_json::{Map, Value};

use crate::error::{AppError, AppResult};
use crate::model::IntegrationType;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
pub const DEFAULT_BRANCH: &str = "main";

pub fn parse_type(text: Option<&str>) -> AppResult<IntegrationType> {
    let valid = "one of GITHUB, GITLAB, SLACK, WEBHOOK";
    let text = text.ok_or_else(|| AppError::invalid("type", format!("is required: {valid}")))?;
    IntegrationType::parse(text)
        .ok_or_else(|| AppError::invalid("type", format!("`{text}` is not {valid}")))
}

pub fn validate_name(name: Option<&str>) -> AppResult<String> {
    let name = name
        .ok_or_else(|| AppError::invalid("name", "is required"))?
        .trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

/// Checks `config` for an integration of `kind` and fills in defaults (`branch`).
pub fn validate_config(kind: IntegrationType, config: Option<Value>) -> AppResult<Value> {
    let config = config.ok_or_else(|| AppError::invalid("config", "is required"))?;
    let Value::Object(mut map) = config else {
        return Err(AppError::invalid("config", "must be a JSON object"));
    };
    let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(0);
    if size > MAX_CONFIG_BYTES {
        return Err(AppError::invalid(
            "config",
            format!("must be at most {MAX_CONFIG_BYTES} bytes of JSON"),
        ));
    }
    match kind {
        IntegrationType::Github => {
            let repo = required_string(&map, "repo")?;
            if !is_owner_slash_name(repo) {
                return Err(AppError::invalid(
                    "config.repo",
                    "must be `owner/name`, e.g. my-org/my-agent-repo",
                ));
            }
            default_branch(&mut map)?;
            optional_strings(&map, &["token", "webhook_secret"])?;
            optional_url(&map, "api_url")?;
        }
        IntegrationType::Gitlab => {
            validate_project_id(&map)?;
            default_branch(&mut map)?;
            optional_strings(&map, &["token", "webhook_secret"])?;
            optional_url(&map, "api_url")?;
        }
        IntegrationType::Slack => {
            let url = required_string(&map, "webhook_url")?;
            // A `${secret:NAME}` reference is checked when it is used.
            if crate::secrets::refs::secret_ref(url).is_none() && !is_http_url(url) {
                return Err(AppError::invalid(
                    "config.webhook_url",
                    "must be an absolute http(s) URL, e.g. https://hooks.slack.com/services/…",
                ));
            }
            optional_strings(&map, &["channel", "username"])?;
            optional_string_list(&map, "events")?;
        }
        IntegrationType::Webhook => {
            optional_strings(&map, &["description", "secret"])?;
            optional_string_list(&map, "events")?;
        }
    }
    Ok(Value::Object(map))
}

fn required_string<'a>(map: &'a Map<String, Value>, key: &str) -> AppResult<&'a str> {
    match map.get(key) {
        None | Some(Value::Null) => Err(AppError::invalid(format!("config.{key}"), "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(AppError::invalid(
            format!("config.{key}"),
            "must not be empty",
        )),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AppError::invalid(
            format!("config.{key}"),
            "must be a string",
        )),
    }
}

fn optional_strings(map: &Map<String, Value>, keys: &[&str]) -> AppResult<()> {
    for key in keys {
        match map.get(*key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => {
                return Err(AppError::invalid(
                    format!("config.{key}"),
                    "must be a string",
                ));
            }
        }
    }
    Ok(())
}

fn optional_url(map: &Map<String, Value>, key: &str) -> AppResult<()> {
    optional_strings(map, &[key])?;
    if let Some(Value::String(url)) = map.get(key)
        && !is_http_url(url)
    {
        return Err(AppError::invalid(
            format!("config.{key}"),
            "must be an absolute http(s) URL",
        ));
    }
    Ok(())
}

fn optional_string_list(map: &Map<String, Value>, key: &str) -> AppResult<()> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items))
            if items
                .iter()
                .all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty())) =>
        {
            Ok(())
        }
        Some(_) => Err(AppError::invalid(
            format!("config.{key}"),
            "must be a list of non-empty strings, e.g. [\"drift.critical\", \"violation.*\"]",
        )),
    }
}

fn default_branch(map: &mut Map<String, Value>) -> AppResult<()> {
    match map.get("branch") {
        None | Some(Value::Null) => {
            map.insert("branch".into(), Value::String(DEFAULT_BRANCH.into()));
            Ok(())
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(_) => Err(AppError::invalid(
            "config.branch",
            "must be a non-empty string",
        )),
    }
}

fn validate_project_id(map: &Map<String, Value>) -> AppResult<()> {
    let field = "config.project_id";
    let hint = "must be a numeric project id or a `group/project` path";
    match map.get("project_id") {
        None | Some(Value::Null) => Err(AppError::invalid(field, "is required")),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Ok(()),
        Some(Value::String(s)) => {
            let numeric = !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            let path = s.contains('/') && s.split('/').all(is_path_segment);
            if numeric || path {
                Ok(())
            } else {
                Err(AppError::invalid(field, hint))
            }
        }
        Some(_) => Err(AppError::invalid(field, hint)),
    }
}

fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_owner_slash_name(s: &str) -> bool {
    let mut parts = s.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if is_path_segment(a) && is_path_segment(b))
}

pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(r: AppResult<Value>) -> String {
        match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn github_needs_owner_slash_name_and_gets_a_default_branch() {
        let ok = validate_config(
            IntegrationType::Github,
            Some(json!({"repo": "my-org/repo"})),
        )
        .expect("valid");
        assert_eq!(ok["branch"], "main");
        for bad in ["repo", "a/b/c", "/b", "a b/c"] {
            let r = validate_config(IntegrationType::Github, Some(json!({ "repo": bad })));
            assert_eq!(field_of(r), "config.repo", "{bad}");
        }
    }

    #[test]
    fn gitlab_project_ids_are_numbers_or_paths() {
        for ok in [json!(12345), json!("12345"), json!("group/sub/project")] {
            validate_config(IntegrationType::Gitlab, Some(json!({ "project_id": ok })))
                .expect("valid");
        }
        for bad in [json!(""), json!("nogroup"), json!(-1), json!(true)] {
            let r = validate_config(IntegrationType::Gitlab, Some(json!({ "project_id": bad })));
            assert_eq!(field_of(r), "config.project_id");
        }
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(is_http_url("https://hooks.slack.com/services/T/B/x"));
        assert!(is_http_url("http://127.0.0.1:9/x"));
        assert!(!is_http_url("hooks.slack.com"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("ftp://x"));
    }
}
