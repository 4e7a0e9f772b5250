//! Each active integration's credentials, read-only: a GitHub token reaches its repository and
//! may write statuses, and the repository's hook points here with the content type and events
//! the receiver needs; the same for a GitLab project; a Slack webhook URL has the right shape
//! and a bot token passes `auth.test`. Nothing is posted anywhere.

use serde_json::Value;

use super::{Check, Subject};
use crate::db::integrations::{self, Integration};
use crate::domain::integration_config::IntegrationConfig;
use crate::pipeline::reconcile::{Access, get_json};
use crate::pipeline::secrets;
use crate::remote::forge::Forge;
use crate::remote::{self, Answer, Request};

/// GitLab's Developer role: the least that may set commit statuses.
const GITLAB_DEVELOPER: u64 = 30;

/// An active integration, with the API it talks to (GitHub and GitLab).
pub(super) struct Known {
    integration: Integration,
    pub api_base: Option<String>,
}

/// The active integrations; a ✘ line when they cannot be read.
pub(super) fn integrations(subject: &Subject, checks: &mut Vec<Check>) -> Vec<Known> {
    let Some(pool) = &subject.pool else {
        return Vec::new();
    };
    if subject.schema_version != crate::db::migrate::CURRENT_VERSION {
        return Vec::new();
    }
    let listed = pool
        .get()
        .map_err(|e| e.to_string())
        .and_then(|p| integrations::list(p.conn()).map_err(|e| e.to_string()));
    match listed {
        Ok(list) => list
            .into_iter()
            .filter(|i| i.is_active)
            .map(|integration| Known {
                api_base: matches!(
                    integration.settings,
                    IntegrationConfig::Github(_) | IntegrationConfig::Gitlab(_)
                )
                .then(|| remote::api_base(&integration.settings)),
                integration,
            })
            .collect(),
        Err(e) => {
            checks.push(Check::fail(
                "integrations",
                format!("cannot be read: {e}"),
                "see the server log",
            ));
            Vec::new()
        }
    }
}

pub(super) fn check(subject: &Subject, agent: &ureq::Agent, known: &[Known]) -> Vec<Check> {
    let mut checks = Vec::new();
    for Known { integration, .. } in known {
        let name = format!(
            "{} integration \u{201c}{}\u{201d}",
            integration.kind.as_str(),
            integration.name
        );
        let Some(secrets) = &subject.secrets else {
            if !integration.settings.sent_credentials().is_empty() {
                checks.push(Check::fail(
                    name,
                    "its credentials are not checked: there is no master key to read them with",
                    "give --master-key, or run doctor on the server's data folder",
                ));
            }
            continue;
        };
        let Some(pool) = &subject.pool else { continue };
        let Ok(pooled) = pool.get() else { continue };
        let conn = pooled.conn();
        let now = subject.clock.now_ms();
        let webhook_url = format!(
            "{}/api/integrations/webhook/{}",
            subject.public_url, integration.id
        );
        match &integration.settings {
            IntegrationConfig::Github(c) if c.app().is_none() && c.single_repo().is_none() => {
                checks.push(Check::pass(
                    name,
                    "takes repos patterns: no single repository's token and webhook to check",
                ));
            }
            IntegrationConfig::Gitlab(c) if c.project_id.is_none() => {
                checks.push(Check::pass(
                    name,
                    "takes a GitLab group: its group token and group webhook are not checked here yet",
                ));
            }
            IntegrationConfig::Github(_) | IntegrationConfig::Gitlab(_) => {
                match Access::of(conn, secrets, &subject.allowed_hosts, integration) {
                    Ok(Some(access)) if access.is_app() => {
                        checks.push(app(&name, agent, &access, now));
                        checks.push(app_hook(&name, agent, &access, &webhook_url, now));
                    }
                    Ok(Some(access)) => {
                        checks.push(token(&name, agent, &access, now));
                        checks.push(hook(&name, agent, &access, &webhook_url, now));
                    }
                    Ok(None) => checks.push(Check::pass(
                        name,
                        "no token: deliveries are received, but no commit status is posted",
                    )),
                    Err(e) => checks.push(Check::fail(
                        name,
                        format!("its token cannot be read: {e}"),
                        "set config.token again (PATCH the integration, or on its page)",
                    )),
                }
            }
            IntegrationConfig::Slack(c) => {
                let raw = c.webhook_url.as_ref().map(|u| u.as_str());
                match secrets::resolve_config_value(
                    conn,
                    secrets,
                    &integration.id,
                    "webhook_url",
                    raw,
                    None,
                ) {
                    Ok(Some(url)) => checks.push(slack_webhook(&name, &url)),
                    Ok(None) => {}
                    Err(e) => checks.push(Check::fail(
                        name.clone(),
                        format!("its webhook_url cannot be read: {e}"),
                        "set config.webhook_url again",
                    )),
                }
                let base = c.api_base();
                match secrets::resolve_config_value(
                    conn,
                    secrets,
                    &integration.id,
                    "bot_token",
                    c.bot_token.as_deref(),
                    Some(&base),
                ) {
                    Ok(Some(token)) => {
                        checks.push(slack_bot(&name, agent, &base, &token, subject, now));
                    }
                    Ok(None) => {}
                    Err(e) => checks.push(Check::fail(
                        name,
                        format!("its bot_token cannot be read: {e}"),
                        "set config.bot_token again",
                    )),
                }
            }
            IntegrationConfig::Webhook(_) => {}
        }
    }
    checks
}

/// What the integration's API calls the thing it points at.
fn what(access: &Access) -> &'static str {
    if access.forge == Forge::Gitlab {
        "project"
    } else {
        "repository"
    }
}

/// Said instead of what a host whose answers are hidden (not an allowed API host) answered.
const HIDDEN: &str = "its answer is not shown: the host is not one of --egress-allow";

/// The App's JWT is accepted: its id and private key belong together.
fn app(name: &str, agent: &ureq::Agent, access: &Access, now: i64) -> Check {
    match get_json(agent, access, "/app", now) {
        // What a host whose answers are hidden says is not repeated: only that it answered.
        Ok(_) if !access.shows_answers() => {
            Check::pass(name, format!("signs in as the GitHub App ({HIDDEN})"))
        }
        Ok(found) => Check::pass(
            name,
            format!(
                "signs in as the GitHub App {} (id {})",
                found["slug"].as_str().unwrap_or("?"),
                found["id"].as_u64().unwrap_or_default()
            ),
        ),
        Err(e) => Check::fail(
            name,
            format!("the App's JWT is refused: {e}"),
            "check config.app_id and config.private_key (the key downloaded from the App's settings)",
        ),
    }
}

/// The App's one webhook points at this integration's URL, sending JSON.
fn app_hook(name: &str, agent: &ureq::Agent, access: &Access, url: &str, now: i64) -> Check {
    let config = match get_json(agent, access, "/app/hook/config", now) {
        Ok(config) => config,
        Err(e) => {
            return Check::fail(
                name,
                format!("the App's webhook settings cannot be read: {e}"),
                "check config.app_id and config.private_key",
            );
        }
    };
    let (target, content_type) = (
        config["url"].as_str().unwrap_or(""),
        config["content_type"].as_str().unwrap_or("form"),
    );
    if target != url {
        let shown = if access.shows_answers() {
            format!("{target:?}")
        } else {
            format!("another address ({HIDDEN})")
        };
        return Check::fail(
            name,
            format!("the App's webhook points at {shown}, not {url}"),
            "set the Webhook URL in the App's settings (General → Webhook)",
        );
    }
    if content_type != "json" {
        let content_type = if access.shows_answers() {
            content_type
        } else {
            "other than json"
        };
        return Check::fail(
            name,
            format!("the App's webhook points here but sends content type {content_type}"),
            "GitHub Apps send JSON unless changed: set the hook's content type to json",
        );
    }
    Check::pass(name, "the App's webhook points here and sends JSON")
}

/// The token reaches the repository and may set commit statuses.
fn token(name: &str, agent: &ureq::Agent, access: &Access, now: i64) -> Check {
    let thing = what(access);
    let found = match get_json(agent, access, &access.repo_path, now) {
        Ok(found) => found,
        Err(e) => {
            return Check::fail(
                name,
                format!("the token cannot read the {thing}: {e}"),
                "give the integration a token that can read it (config.token)",
            );
        }
    };
    if access.forge == Forge::Gitlab {
        let level = ["project_access", "group_access"]
            .iter()
            .filter_map(|k| found["permissions"][k]["access_level"].as_u64())
            .max()
            .unwrap_or(0);
        let level_shown = if access.shows_answers() {
            level.to_string()
        } else {
            HIDDEN.to_string()
        };
        let level = (level, level_shown);
        if level.0 >= GITLAB_DEVELOPER {
            let level = &level.1;
            Check::pass(
                name,
                format!(
                    "the token can read the project and set commit statuses (access level {level})"
                ),
            )
        } else {
            let level = &level.1;
            Check::fail(
                name,
                format!(
                    "the token can read the project but not set commit statuses (access level {level})"
                ),
                "use a token of a member with the Developer role or higher (scope api)",
            )
        }
    } else {
        let may = |k: &str| found["permissions"][k].as_bool() == Some(true);
        let full_name = found["full_name"]
            .as_str()
            .filter(|_| access.shows_answers())
            .unwrap_or("the repository");
        if may("push") || may("maintain") || may("admin") {
            Check::pass(
                name,
                format!("the token can read {full_name} and write statuses"),
            )
        } else {
            Check::fail(
                name,
                format!(
                    "the token can read {full_name} but has no push permission: commit statuses will be refused"
                ),
                "give the token write access (classic: the repo scope; fine-grained: Commit statuses: Read and write)",
            )
        }
    }
}

/// The repository's hook that points at this integration's URL, sending what is needed.
fn hook(name: &str, agent: &ureq::Agent, access: &Access, url: &str, now: i64) -> Check {
    let thing = what(access);
    let hooks = match get_json(agent, access, &access.forge.hooks(&access.repo_path), now) {
        Ok(Value::Array(hooks)) => hooks,
        Ok(_) => Vec::new(),
        Err(e) => {
            return Check::fail(
                name,
                format!("the {thing}'s webhooks cannot be read: {e}"),
                if access.forge == Forge::Gitlab {
                    "the token needs the Maintainer role to read the project's hooks"
                } else {
                    "the token needs to read webhooks (classic: admin:repo_hook; fine-grained: Webhooks: Read)"
                },
            );
        }
    };
    let found = hooks
        .iter()
        .find(|h| access.forge.hook_target(h) == Some(url));
    let Some(hook) = found else {
        return Check::fail(
            name,
            format!("no webhook of the {thing} points at {url}"),
            if access.forge == Forge::Gitlab {
                "add one (Settings → Webhooks) with that URL, the secret token, and Push and Merge request events"
            } else {
                "add one (Settings → Webhooks) with that Payload URL, content type application/json, the secret, and the Push and Pull request events"
            },
        );
    };
    if access.forge == Forge::Gitlab {
        let missing: Vec<&str> = [
            ("push_events", "Push"),
            ("merge_requests_events", "Merge request"),
        ]
        .iter()
        .filter(|(key, _)| hook[*key].as_bool() != Some(true))
        .map(|(_, label)| *label)
        .collect();
        return if missing.is_empty() {
            Check::pass(
                name,
                "the project's webhook points here with Push and Merge request events",
            )
        } else {
            Check::fail(
                name,
                format!(
                    "the project's webhook points here but lacks {} events",
                    missing.join(" and ")
                ),
                "tick them in the hook's settings",
            )
        };
    }
    let content_type = hook["config"]["content_type"].as_str().unwrap_or("form");
    if content_type != "json" {
        return Check::fail(
            name,
            format!("the repository's webhook points here but sends content type {content_type}"),
            "set the hook's content type to application/json",
        );
    }
    let events: Vec<&str> = hook["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<&str> = ["push", "pull_request"]
        .into_iter()
        .filter(|e| !events.contains(e) && !events.contains(&"*"))
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            name,
            format!(
                "the repository's webhook points here but does not send {}",
                missing.join(" or ")
            ),
            "tick those events in the hook's settings (Let me select individual events)",
        );
    }
    if hook["active"].as_bool() == Some(false) {
        return Check::fail(
            name,
            "the repository's webhook points here but is inactive",
            "tick Active in the hook's settings",
        );
    }
    Check::pass(
        name,
        "the repository's webhook points here, sends JSON, push and pull_request",
    )
}

/// `https://hooks.slack.com/services/T…/B…/…`, checked without sending (sending posts).
fn slack_webhook(name: &str, url: &str) -> Check {
    let parts: Vec<&str> = url
        .strip_prefix("https://hooks.slack.com/services/")
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    let shaped = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if shaped {
        Check::pass(
            name,
            "webhook_url has the shape of a Slack incoming webhook",
        )
    } else {
        Check::fail(
            name,
            "webhook_url does not have the shape of a Slack incoming webhook (https://hooks.slack.com/services/T…/B…/…)",
            "copy the Webhook URL again from the Slack app's Incoming Webhooks page",
        )
    }
}

fn slack_bot(
    name: &str,
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    subject: &Subject,
    now: i64,
) -> Check {
    let request = Request {
        method: "POST".into(),
        url: format!("{base}/auth.test"),
        headers: vec![("authorization", format!("Bearer {token}"))],
        body: Some(Vec::new()),
        url_is_secret: false,
        body_secret: None,
        show_answer: subject.allowed_hosts.shows(base),
        plain_http_ok: subject.allowed_hosts.credentials_may_go_to(base),
    };
    match remote::send(agent, &request, now, remote::slack::read_api) {
        Answer::Accepted { .. } => Check::pass(name, "the bot token passes auth.test"),
        Answer::Retry { error, .. }
        | Answer::Pause { error, .. }
        | Answer::Refused { error, .. } => Check::fail(
            name,
            format!("the bot token does not pass auth.test: {error}"),
            "reinstall the Slack app and copy its Bot User OAuth Token into config.bot_token",
        ),
    }
}
