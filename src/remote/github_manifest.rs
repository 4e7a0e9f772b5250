//! Creating a GitHub App from a manifest (GitHub's "manifest flow"): the manifest that asks
//! for what the processors need, the GitHub page it is posted to, and the exchange of the
//! one-time `code` GitHub hands back for the new App's id, key and secrets.
//!
//! What the conversion answers (the private key, the webhook secret, the client secret) is
//! held here only long enough to be stored as Secrets; it is never logged or repeated.

use std::fmt;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::remote::agent as http;

/// The events the processors act on. GitHub sends `installation` and
/// `installation_repositories` to every App without a subscription (they cannot be named in a
/// manifest's `default_events`), and those keep the installations' repository lists.
pub const EVENTS: &[&str] = &[
    "pull_request",
    "push",
    "check_run",
    "check_suite",
    "merge_group",
];

/// The permissions the App asks for: check runs, commit statuses and deployments written,
/// workflows started (`eval.dispatch.github_workflow`), the results comment on pull requests
/// written; the repositories' contents and metadata read.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("actions", "write"),
    ("checks", "write"),
    ("statuses", "write"),
    ("deployments", "write"),
    ("contents", "read"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

/// Where the manifest goes and what it names.
pub struct ManifestFor<'a> {
    /// The App's name as GitHub will propose it (the user may change it there).
    pub name: &'a str,
    /// This server's public URL: the App's homepage.
    pub public_url: &'a str,
    /// The integration's webhook URL: the App's one webhook.
    pub webhook_url: &'a str,
    /// Where GitHub sends the browser back with the `code`.
    pub redirect_url: &'a str,
    /// Where GitHub sends the browser after the App is installed.
    pub setup_url: &'a str,
}

/// The manifest, as the JSON GitHub reads from the form's `manifest` field.
pub fn manifest(m: &ManifestFor<'_>) -> Value {
    let permissions: serde_json::Map<String, Value> = PERMISSIONS
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    json!({
        "name": m.name,
        "url": m.public_url,
        "hook_attributes": {"url": m.webhook_url, "active": true},
        "redirect_url": m.redirect_url,
        "setup_url": m.setup_url,
        "public": false,
        "default_permissions": permissions,
        "default_events": EVENTS,
    })
}

/// The GitHub page the manifest is posted to: the user's own Apps, or an organisation's.
pub fn post_url(web_base: &str, organization: Option<&str>, state: &str) -> String {
    let page = match organization {
        Some(org) => format!(
            "{web_base}{}",
            super::path(&["organizations", org, "settings", "apps", "new"])
        ),
        None => format!("{web_base}/settings/apps/new"),
    };
    format!("{page}?state={}", super::segment(state))
}

/// The new App, from GitHub's answer to the conversion.
#[derive(Deserialize)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    #[serde(default)]
    pub name: String,
    pub html_url: String,
    #[serde(default)]
    pub owner: Option<Owner>,
    pub pem: String,
    pub webhook_secret: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Deserialize)]
pub struct Owner {
    pub login: String,
}

impl fmt::Debug for CreatedApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("html_url", &self.html_url)
            .finish_non_exhaustive()
    }
}

/// Exchanges the `code` GitHub sent back (`POST /app-manifests/{code}/conversions`, no
/// credential: the code is one). Errors say what GitHub answered, never the answer's secrets.
pub fn convert(
    agent: &ureq::Agent,
    api_base: &str,
    code: &str,
    show_answer: bool,
    now_ms: i64,
) -> Result<CreatedApp, String> {
    let url = format!(
        "{api_base}{}",
        super::path(&["app-manifests", code, "conversions"])
    );
    let headers = [
        ("accept", "application/vnd.github+json"),
        ("x-github-api-version", "2022-11-28"),
    ];
    let reply = http::send(agent, "POST", &url, &headers, None, now_ms)
        .map_err(|e| format!("GitHub could not be reached to create the App: {e}"))?;
    if reply.status != 201 && reply.status != 200 {
        let said = if show_answer {
            super::said(&reply)
        } else {
            "(its answer is not shown: the API host is not one of the allowed API hosts)".into()
        };
        return Err(match reply.status {
            404 => format!(
                "GitHub answered 404: the code is unknown or was used already (it is good for an hour, once): {said}"
            ),
            status => format!("GitHub answered {status} to creating the App: {said}"),
        });
    }
    serde_json::from_str(&reply.body).map_err(|_| {
        "GitHub's answer to creating the App did not hold an App with its id, key and secrets"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_asks_for_what_the_processors_need() {
        let m = manifest(&ManifestFor {
            name: "Provenant",
            public_url: "https://p.example",
            webhook_url: "https://p.example/api/integrations/webhook/x",
            redirect_url: "https://p.example/integrations/x/github-app",
            setup_url: "https://p.example/integrations/x",
        });
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://p.example/api/integrations/webhook/x"
        );
        assert_eq!(m["default_permissions"]["checks"], "write");
        assert_eq!(m["default_permissions"]["actions"], "write");
        assert_eq!(m["default_permissions"]["pull_requests"], "write");
        assert_eq!(m["public"], false);
        assert_eq!(
            m["default_events"],
            json!([
                "pull_request",
                "push",
                "check_run",
                "check_suite",
                "merge_group"
            ])
        );
    }

    #[test]
    fn an_organisation_gets_its_own_page_and_the_state_is_one_segment() {
        assert_eq!(
            post_url("https://github.com", Some("my org"), "a/b"),
            "https://github.com/organizations/my%20org/settings/apps/new?state=a%2Fb"
        );
        assert_eq!(
            post_url("https://ghe.example", None, "s"),
            "https://ghe.example/settings/apps/new?state=s"
        );
    }
}
