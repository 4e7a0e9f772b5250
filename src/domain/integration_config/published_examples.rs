//! Published examples: a secret equal to an example this server publishes (in its docs, its
//! spec, its forms) verifies nothing, so it is refused.

use std::sync::LazyLock;

use poem_openapi::types::{Example, ToJSON};
use serde_json::{Map, Value};

use super::{GithubConfig, GitlabConfig, SlackConfig, WebhookConfig};
use crate::base::error::{AppError, AppResult};
use crate::domain::checked::{self};

/// Example credentials that were published where anyone reads them: the docs (this server's
/// and the seed page's), and earlier versions of the spec and the New Integration form, which
/// filled a GITHUB or GITLAB integration's `webhook_secret` with the first.
const DOCUMENTED_EXAMPLES: &[&str] = &[
    "choose-a-long-random-string",
    "a-long-random-string",
    "ghp_xxxx",
    "glpat-xxxx",
    "https://hooks.slack.com/services/T.../B.../xxx",
    // Standard Webhooks' own documentation's signing secret.
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
];

/// Every example value this server publishes for a config: the documented ones, the string
/// values of each type's example config, and the examples of the formats its keys take.
static PUBLISHED_EXAMPLES: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = DOCUMENTED_EXAMPLES.iter().map(|s| s.to_string()).collect();
    for example in [
        GithubConfig::example().to_json(),
        GitlabConfig::example().to_json(),
        SlackConfig::example().to_json(),
        WebhookConfig::example().to_json(),
    ]
    .into_iter()
    .flatten()
    {
        strings(&example, &mut out);
    }
    out.extend(
        [
            checked::UrlOrSecretRef::EXAMPLE,
            checked::BaseUrl::EXAMPLE,
            checked::SecretName::EXAMPLE,
        ]
        .map(str::to_string),
    );
    out.retain(|s| crate::domain::secrets::refs::secret_ref(s).is_none());
    out.sort();
    out.dedup();
    out
});

/// Whether `value` is an example this server publishes (see [`PUBLISHED_EXAMPLES`]): as a
/// credential it would be known to everyone who read the docs.
pub fn is_published_example(value: &str) -> bool {
    let value = value.trim();
    PUBLISHED_EXAMPLES.iter().any(|e| e == value)
}

/// Refuses a secret (a key that names one, at any depth: `webhook_secret`, `secret`,
/// `signing_secret` …) holding a published example: a secret everyone can read verifies
/// nothing, and deliveries signed with it would be badged verified. (An example token or
/// Slack URL is refused by the remote itself, and the seed page's own examples show them.)
pub(super) fn refuse_published_examples(map: &Map<String, Value>, path: &str) -> AppResult<()> {
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match value {
            Value::String(text)
                if key.to_ascii_lowercase().contains("secret") && is_published_example(text) =>
            {
                return Err(AppError::invalid(
                    here,
                    "is an example value published in the docs, so anyone could know it: use a \
                     value of your own (the form's Generate button makes a random secret)",
                ));
            }
            Value::Object(inner) => refuse_published_examples(inner, &here)?,
            _ => {}
        }
    }
    Ok(())
}
