//! Things a remote does not deduplicate, created once however often their row is sent: a
//! GitHub check run, a pull request's results comment (a GitLab note). A row whose answer was
//! lost (a crash between "created" and "recorded", a cut connection) is sent again; before
//! creating, the remote's list is read, and the one an earlier attempt made is taken instead.

use serde_json::Value;

use super::{Answer, Request};

/// How to find, before creating it, what an earlier attempt may have created.
#[derive(Debug, Clone)]
pub struct CreateOnce {
    /// The GET that lists them (`…/commits/{sha}/check-runs?…`, `…/issues/{n}/comments?…`).
    pub lookup_url: String,
    pub find: Found,
}

/// What marks the one this server created.
#[derive(Debug, Clone)]
pub enum Found {
    /// A check run with this `external_id` (the eval run's id).
    CheckRun { external_id: String },
    /// A comment (note) whose body holds this mark, keyed with this server's key: nobody
    /// else can write it.
    Comment { mark: String },
}

impl CreateOnce {
    /// The lookup, sent like `create` (the same credentials), without its body.
    pub fn lookup(&self, create: &Request) -> Request {
        let mut lookup = create.clone();
        lookup.method = "GET".into();
        lookup.url = self.lookup_url.clone();
        lookup.body = None;
        lookup.body_secret = None;
        lookup
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        lookup
    }

    /// The id of the one found in the lookup's answer, if it is there.
    pub fn found(&self, listed: &str) -> Option<String> {
        let listed: Value = serde_json::from_str(listed).unwrap_or_default();
        let id = match &self.find {
            Found::CheckRun { external_id } => listed["check_runs"]
                .as_array()?
                .iter()
                .find(|c| c["external_id"].as_str() == Some(external_id.as_str()))?
                .get("id")?
                .clone(),
            Found::Comment { mark } => listed
                .as_array()?
                .iter()
                .find(|c| {
                    c["body"]
                        .as_str()
                        .is_some_and(|b| b.contains(mark.as_str()))
                })?
                .get("id")?
                .clone(),
        };
        match id {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The answer for one found: as if just created, so its id is recorded the same way.
    pub fn already(&self, id: &str) -> Answer {
        let what = match self.find {
            Found::CheckRun { .. } => "GitHub check run",
            Found::Comment { .. } => "results comment",
        };
        Answer::Accepted {
            status: 200,
            body: serde_json::json!({ "id": id.parse::<u64>().map(Value::from).unwrap_or(Value::from(id)) })
                .to_string(),
            excerpt: format!("already created: {what} {id}"),
        }
    }
}

/// Sends `create` unless the lookup finds what it would create; `send` sends either request
/// (with the caller's credentials and reading).
pub fn send_creating_once(
    once: &CreateOnce,
    create: &Request,
    send: impl Fn(&Request) -> Answer,
) -> Answer {
    match send(&once.lookup(create)) {
        Answer::Accepted { body, .. } => {
            if let Some(id) = once.found(&body) {
                return once.already(&id);
            }
        }
        // Rate-limited, unreachable or refused: the row waits or fails with that reason.
        other => return other,
    }
    send(create)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_created_before_is_found_by_its_mark_or_external_id() {
        let comment = CreateOnce {
            lookup_url: String::new(),
            find: Found::Comment {
                mark: "<!-- provenant:eval:ab12 -->".into(),
            },
        };
        let listed = r#"[{"id": 1, "body": "<!-- provenant:eval:ffff --> forged"},
                         {"id": 7, "body": "<!-- provenant:eval:ab12 -->\n### results"}]"#;
        assert_eq!(comment.found(listed).as_deref(), Some("7"));
        assert_eq!(comment.found("[]"), None);
        let check = CreateOnce {
            lookup_url: String::new(),
            find: Found::CheckRun {
                external_id: "run-1".into(),
            },
        };
        let listed = r#"{"check_runs": [{"id": 9001, "external_id": "run-1"}]}"#;
        assert_eq!(check.found(listed).as_deref(), Some("9001"));
        assert!(
            matches!(check.already("9001"), Answer::Accepted { body, .. } if body == r#"{"id":9001}"#)
        );
    }
}
