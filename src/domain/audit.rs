//! The audit log: who changed what, when, from where. An entry is written in the same
//! transaction as the change it records, so a change is never without its entry (and an
//! entry never without its change). No API updates or deletes one; only retention
//! (`--audit-retention-days`) removes old entries.

use serde_json::{Map, Value};

use crate::domain::access::Principal;

/// Who made a request, from where, and the request's id (as in `X-Request-Id` and the log).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The client's address (behind a trusted proxy, the one it names).
    pub source: String,
    pub request_id: String,
}

impl Caller {
    pub fn actor(&self) -> &str {
        &self.principal.actor
    }

    /// An entry by this caller.
    pub fn did(&self, action: Action, target: impl Into<String>) -> Entry {
        Entry {
            actor: self.principal.audit_actor(),
            source: self.source.clone(),
            request_id: self.request_id.clone(),
            action,
            target: target.into(),
            integration_id: None,
            changes: Value::Object(Map::new()),
        }
    }
}

/// What was done. The names are stable: they are the `action` filter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
pub enum Action {
    #[oai(rename = "integration.created")]
    IntegrationCreated,
    #[oai(rename = "integration.updated")]
    IntegrationUpdated,
    #[oai(rename = "integration.deactivated")]
    IntegrationDeactivated,
    #[oai(rename = "integration.deleted")]
    IntegrationDeleted,
    #[oai(rename = "secret.set")]
    SecretSet,
    #[oai(rename = "secret.deleted")]
    SecretDeleted,
    #[oai(rename = "secret.rotated")]
    SecretRotated,
    #[oai(rename = "token.created")]
    TokenCreated,
    #[oai(rename = "token.revoked")]
    TokenRevoked,
    #[oai(rename = "event.retried")]
    EventRetried,
    #[oai(rename = "outbox.retried")]
    OutboxRetried,
    #[oai(rename = "replay.started")]
    ReplayStarted,
    #[oai(rename = "reconcile.requested")]
    ReconcileRequested,
    #[oai(rename = "eval_run.status_changed")]
    EvalRunStatusChanged,
    #[oai(rename = "deployment.status_changed")]
    DeploymentStatusChanged,
    #[oai(rename = "github_app.created")]
    GithubAppCreated,
    #[oai(rename = "sign_in.failed")]
    SignInFailed,
    #[oai(rename = "sign_in")]
    SignIn,
    #[oai(rename = "sign_out")]
    SignOut,
    #[oai(rename = "session.revoked")]
    SessionRevoked,
}

impl Action {
    pub const ALL: [Action; 20] = [
        Action::IntegrationCreated,
        Action::IntegrationUpdated,
        Action::IntegrationDeactivated,
        Action::IntegrationDeleted,
        Action::SecretSet,
        Action::SecretDeleted,
        Action::SecretRotated,
        Action::TokenCreated,
        Action::TokenRevoked,
        Action::EventRetried,
        Action::OutboxRetried,
        Action::ReplayStarted,
        Action::ReconcileRequested,
        Action::EvalRunStatusChanged,
        Action::DeploymentStatusChanged,
        Action::GithubAppCreated,
        Action::SignInFailed,
        Action::SignIn,
        Action::SignOut,
        Action::SessionRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::IntegrationCreated => "integration.created",
            Action::IntegrationUpdated => "integration.updated",
            Action::IntegrationDeactivated => "integration.deactivated",
            Action::IntegrationDeleted => "integration.deleted",
            Action::SecretSet => "secret.set",
            Action::SecretDeleted => "secret.deleted",
            Action::SecretRotated => "secret.rotated",
            Action::TokenCreated => "token.created",
            Action::TokenRevoked => "token.revoked",
            Action::EventRetried => "event.retried",
            Action::OutboxRetried => "outbox.retried",
            Action::ReplayStarted => "replay.started",
            Action::ReconcileRequested => "reconcile.requested",
            Action::EvalRunStatusChanged => "eval_run.status_changed",
            Action::DeploymentStatusChanged => "deployment.status_changed",
            Action::GithubAppCreated => "github_app.created",
            Action::SignInFailed => "sign_in.failed",
            Action::SignIn => "sign_in",
            Action::SignOut => "sign_out",
            Action::SessionRevoked => "session.revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: String,
    pub source: String,
    pub request_id: String,
    pub action: Action,
    /// What was changed: an id or a name.
    pub target: String,
    pub integration_id: Option<String>,
    /// `{field: {before, after}}`, masked.
    pub changes: Value,
}

impl Entry {
    pub fn on_integration(mut self, id: impl Into<String>) -> Entry {
        self.integration_id = Some(id.into());
        self
    }

    /// The fields that differ between `before` and `after` (objects; `Null` for a thing that
    /// did not exist), each with both sides masked as the API masks configs.
    pub fn changing(mut self, before: &Value, after: &Value) -> Entry {
        self.changes = changes(before, after);
        self
    }
}

/// `{field: {before, after}}` for each field that differs, one level into objects
/// (`config.token`), so a change to one config value names that value. Values are compared
/// as stored (a new credential differs even when both sides mask to `***`) and shown masked.
pub fn changes(before: &Value, after: &Value) -> Value {
    let (shown_before, shown_after) = (
        crate::domain::masking::mask(before),
        crate::domain::masking::mask(after),
    );
    let mut out = Map::new();
    let empty = Map::new();
    let fields = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let (b, a) = (fields(before), fields(after));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        // A field that is null is as good as absent: it did not change by being made so.
        let (old, new) = (present(b.get(key)), present(a.get(key)));
        if old == new {
            continue;
        }
        let shown = |side: &Value| side.get(key).cloned().unwrap_or(Value::Null);
        fn as_fields<'a>(
            side: Option<&'a Value>,
            empty: &'a Map<String, Value>,
        ) -> Option<&'a Map<String, Value>> {
            match side {
                None => Some(empty),
                Some(Value::Object(map)) => Some(map),
                Some(_) => None,
            }
        }
        let nested = (old.is_some_and(Value::is_object) || new.is_some_and(Value::is_object))
            .then(|| as_fields(old, &empty).zip(as_fields(new, &empty)))
            .flatten();
        match nested {
            Some((old, new)) => {
                let (sb, sa) = (shown(&shown_before), shown(&shown_after));
                let (sb, sa) = (
                    sb.as_object().unwrap_or(&empty),
                    sa.as_object().unwrap_or(&empty),
                );
                let mut inner: Vec<&String> = old.keys().chain(new.keys()).collect();
                inner.sort();
                inner.dedup();
                for k in inner {
                    if present(old.get(k)) != present(new.get(k)) {
                        out.insert(format!("{key}.{k}"), side_by_side(sb.get(k), sa.get(k)));
                    }
                }
            }
            None => {
                out.insert(
                    key.clone(),
                    side_by_side(
                        Some(&shown(&shown_before)).filter(|_| old.is_some()),
                        Some(&shown(&shown_after)).filter(|_| new.is_some()),
                    ),
                );
            }
        }
    }
    Value::Object(out)
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

fn side_by_side(before: Option<&Value>, after: Option<&Value>) -> Value {
    serde_json::json!({
        "before": before.cloned().unwrap_or(Value::Null),
        "after": after.cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_listed_and_credentials_are_masked() {
        let before =
            json!({"name": "a", "isActive": true, "config": {"repo": "o/r", "token": "ghp_old"}});
        let after =
            json!({"name": "a", "isActive": false, "config": {"repo": "o/r", "token": "ghp_new"}});
        assert_eq!(
            changes(&before, &after),
            json!({
                "isActive": {"before": true, "after": false},
                "config.token": {"before": "***", "after": "***"},
            })
        );
        assert_eq!(changes(&before, &before), json!({}));
        assert_eq!(
            changes(&Value::Null, &json!({"expiresAt": null})),
            json!({})
        );
    }

    #[test]
    fn a_config_made_shows_each_of_its_values() {
        let made = changes(
            &Value::Null,
            &json!({"config": {"repo": "o/r", "token": "t0k"}}),
        );
        assert_eq!(
            made,
            json!({
                "config.repo": {"before": null, "after": "o/r"},
                "config.token": {"before": null, "after": "***"},
            })
        );
    }

    #[test]
    fn a_thing_made_or_removed_shows_one_side() {
        let made = changes(&Value::Null, &json!({"name": "n", "secret": "s3cr3t"}));
        assert_eq!(
            made,
            json!({"name": {"before": null, "after": "n"}, "secret": {"before": null, "after": "***"}})
        );
        assert!(!made.to_string().contains("s3cr3t"));
    }

    #[test]
    fn action_names_read_back_and_are_the_specs() {
        use poem_openapi::types::ToJSON;
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(a.to_json(), Some(Value::from(a.as_str())));
        }
    }
}
