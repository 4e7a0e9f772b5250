//! Creating a GitHub App from a manifest, in two steps around GitHub's own page:
//! `POST /api/integrations/{id}/github-app/manifest` makes the manifest and a one-time
//! `state`; the browser posts the manifest to GitHub; GitHub sends it back to this server's
//! page with a `code`, which `POST /api/integrations/{id}/github-app/conversion` exchanges
//! for the App. Its key and secrets become Secrets, and the integration is filled to run as
//! the App.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::integrations::apply_config;
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::manifests::{self, Refused};
use crate::db::{Conn, integrations, secrets as store};
use crate::domain::access::Credential;
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::integration_config::{GithubConfig, IntegrationConfig};
use crate::domain::json_fields::present;
use crate::domain::masking;
use crate::domain::model;
use crate::http::state::SharedState;
use crate::remote::{self, github_manifest};

pub struct GithubAppSetupApi;

/// GitHub refuses longer App names.
const MAX_NAME_CHARS: usize = 34;

/// What the App is to be called and where it is to be made.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct ManifestIn {
    /// The organisation (its login) that is to own the App. Absent: the signed-in GitHub
    /// user's own account.
    #[oai(validator(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"))]
    #[serde(default, deserialize_with = "present")]
    pub organization: Option<String>,
    /// The name GitHub proposes for the App, at most 34 characters and unique on GitHub.
    /// Default `Provenant <integration name>`, cut to 34.
    #[oai(validator(pattern = r"^[^\x00-\x1f\x7f]{1,34}$"))]
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
}

impl Example for ManifestIn {
    fn example() -> Self {
        ManifestIn {
            organization: Some("my-org".into()),
            name: Some("Provenant for my-org".into()),
        }
    }
}

/// A manifest to post to GitHub, and where.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ManifestOut {
    /// The GitHub page to post the form to (it carries the `state`).
    pub post_url: String,
    /// The manifest, as the JSON text the form sends in its `manifest` field: the webhook URL
    /// of this integration, the events and the permissions the processors need.
    pub manifest: String,
    /// The one-time state GitHub hands back with the `code`. Good once, until `expiresAt`.
    pub state: String,
    /// When the state stops being good (RFC 3339, UTC): an hour, GitHub's limit for the flow.
    pub expires_at: Timestamp,
}

/// What GitHub handed back to the callback.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase")]
pub struct ConversionIn {
    /// The `code` in GitHub's redirect.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub code: String,
    /// The `state` in GitHub's redirect: the one `…/github-app/manifest` gave.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub state: String,
}

impl Example for ConversionIn {
    fn example() -> Self {
        ConversionIn {
            code: "a180b1a3d263c81bc6441d7b990bae27d4c10679".into(),
            state: "9c1f3e5a7b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a".into(),
        }
    }
}

/// The App GitHub made, and what was stored of it.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct CreatedAppOut {
    /// The App's id, now the integration's `app_id`.
    pub app_id: u64,
    /// The App's short name in GitHub's URLs, e.g. `provenant-for-my-org`.
    pub slug: String,
    /// The App's name as GitHub shows it.
    pub name: String,
    /// The App's page on GitHub.
    pub html_url: String,
    /// Where to install it on the organisation (or account) and choose its repositories.
    pub install_url: String,
    /// The account that owns it.
    pub owner: Option<String>,
    /// The Secrets its key and secrets were stored as (names only), now referred to by the
    /// integration's `private_key` and `webhook_secret`.
    pub secrets: Vec<String>,
}

#[derive(ApiResponse)]
pub enum ManifestResponse {
    /// The manifest and its state; nothing changed on the integration yet.
    #[oai(status = 201)]
    Created(Json<ManifestOut>),
}

fn integration_id(raw: &str) -> AppResult<String> {
    model::parse_id(raw).ok_or(AppError::NotFound("integration"))
}

/// A state nobody can guess: 32 random bytes, hex.
fn new_state() -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The integration's GITHUB config; a 409 for any other type.
fn github_config(integration: &integrations::Integration) -> AppResult<&GithubConfig> {
    match &integration.settings {
        IntegrationConfig::Github(config) => Ok(config),
        _ => Err(AppError::Conflict(format!(
            "a GitHub App is for GITHUB integrations; this one is {}",
            integration.kind.as_str()
        ))),
    }
}

/// The App's default name: `Provenant <integration name>`, within GitHub's limit.
fn default_name(integration_name: &str) -> String {
    format!("Provenant {integration_name}")
        .chars()
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn check_input(input: &ManifestIn) -> AppResult<()> {
    if let Some(org) = &input.organization {
        let ok = (1..=39).contains(&org.len())
            && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !org.starts_with('-');
        if !ok {
            return Err(AppError::invalid(
                "organization",
                "must be a GitHub login: letters, digits and hyphens, at most 39",
            ));
        }
    }
    if let Some(name) = &input.name {
        let chars = name.chars().count();
        // The control characters the documented pattern leaves out, and no others.
        if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(|c| c.is_ascii_control()) {
            return Err(AppError::invalid(
                "name",
                "must be 1 to 34 characters, none of them control characters",
            ));
        }
    }
    Ok(())
}

fn refusal(why: Refused) -> AppError {
    let message = match why {
        Refused::Unknown => {
            "is not one this server gave for this integration to this token or session: start again from the integration's page"
        }
        Refused::Used => "was used already: a state is good once; start again",
        Refused::Expired => "has expired (a flow is good for an hour): start again",
    };
    AppError::ConflictAt {
        field: "state".into(),
        message: message.into(),
    }
}

/// The Secret names the App's credentials are stored under: named after the integration (its
/// id, which no other integration has), never after what the remote answered, so that an App
/// id GitHub (or a look-alike at `web_url`) sends back cannot name another App's secrets, and
/// the same App id on github.com and a GitHub Enterprise Server cannot collide.
fn secret_names(integration_id: &str) -> [String; 3] {
    let key: String = integration_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    [
        format!("GITHUB_APP_{key}_PRIVATE_KEY"),
        format!("GITHUB_APP_{key}_WEBHOOK_SECRET"),
        format!("GITHUB_APP_{key}_CLIENT_SECRET"),
    ]
}

/// Who started a flow, as its state is bound to: the token's id, the session's id, or the
/// primary token. A state carried to someone else's session or token is not theirs.
fn starter_of(caller: &crate::domain::audit::Caller) -> String {
    match &caller.principal.credential {
        Credential::Primary => "primary".into(),
        Credential::Token(id) => format!("token:{id}"),
        Credential::Session { id, .. } => format!("session:{id}"),
        Credential::Run(_, id) => format!("run:{id}"),
        Credential::CiJob(job) => job.actor(),
        Credential::Nobody => "nobody".into(),
    }
}

/// Refuses to store a flow's secret over one it did not make: a name that exists already may
/// be replaced only when this integration alone refers to it (an App made for it before).
fn check_may_replace(conn: Conn<'_>, name: &str, integration_id: &str) -> AppResult<()> {
    if !store::exists(conn, name)? {
        return Ok(());
    }
    let users = super::secrets::users_of(conn, name)?;
    if users.len() == 1 && users[0].id == integration_id {
        return Ok(());
    }
    Err(AppError::ConflictAt {
        field: "code".into(),
        message: format!(
            "secret {name} exists already and this flow did not make it for this integration: it is left as it is; delete or rename it first"
        ),
    })
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl GithubAppSetupApi {
    /// Start creating a GitHub App.
    ///
    /// Make a GitHub App manifest for this GITHUB integration, with a one-time `state`. The
    /// browser posts `manifest` in a form to `postUrl` (GitHub's "Create GitHub App" page,
    /// the organisation's when one is named); GitHub sends the browser back to this
    /// integration's page `/integrations/{id}/github-app` with a `code`, for
    /// `…/github-app/conversion`. The manifest names this integration's webhook URL, the
    /// events `pull_request`, `push`, `check_run` and `check_suite`, and the permissions
    /// checks, statuses, deployments (write) and contents, metadata, pull requests (read).
    /// The web address is the config's `web_url` (default `https://github.com`). 409 for an
    /// integration with a personal `token`.
    #[oai(
        path = "/:id/github-app/manifest",
        method = "post",
        operation_id = "startGithubAppManifest"
    )]
    async fn start_manifest(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<ManifestIn>,
    ) -> Result<ManifestResponse, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY | CONFLICT }>> {
        let id = integration_id(&id.0)?;
        let input = body.0;
        check_input(&input)?;
        let flow_state = new_state()?;
        let starter = starter_of(&auth.0);
        let now = state.clock.now_ms();
        let shared = state.0.clone();
        let out = state
            .write(move |tx| {
                let integration = integrations::get(tx, &id)?;
                let config = github_config(&integration)?;
                if config.token.as_deref().is_some_and(|t| !t.is_empty()) {
                    return Err(AppError::ConflictAt {
                        field: "config.token".into(),
                        message: "the integration has a personal token: an integration runs with a token or as an App, not both; remove config.token first".into(),
                    });
                }
                manifests::start(tx, &flow_state, &starter, &integration.id, now)?;
                let page = format!(
                    "{}/integrations/{}",
                    shared.public_url,
                    remote::segment(&integration.id)
                );
                // Blanks alone name nothing: the default then.
                let name = input
                    .name
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| default_name(&integration.name));
                let manifest = github_manifest::manifest(&github_manifest::ManifestFor {
                    name: &name,
                    public_url: &shared.public_url,
                    webhook_url: &shared.webhook_url(&integration.id),
                    redirect_url: &format!("{page}/github-app"),
                    setup_url: &page,
                });
                Ok(ManifestOut {
                    post_url: github_manifest::post_url(
                        &config.web_base(),
                        input.organization.as_deref(),
                        &flow_state,
                    ),
                    manifest: manifest.to_string(),
                    state: flow_state,
                    expires_at: Timestamp(now + manifests::GOOD_FOR_MS),
                })
            })
            .await?;
        Ok(ManifestResponse::Created(Json(out)))
    }

    /// Finish creating a GitHub App.
    ///
    /// Exchange the `code` GitHub sent back (`POST /app-manifests/{code}/conversions`) for
    /// the new App, once the `state` is checked: it must be the one this integration's
    /// manifest was given, unused and under an hour old (409 on `state` otherwise; it is used
    /// up either way), and sent by the token or session that started the flow. The App's
    /// private key, webhook secret and client secret are stored as Secrets named after the
    /// integration, `GITHUB_APP_<integration id>_PRIVATE_KEY`, `…_WEBHOOK_SECRET` and
    /// `…_CLIENT_SECRET` (each audited as `secret.set`; 409 on `code` when one of those names
    /// exists and is not this integration's alone), and the integration's `app_id`,
    /// `private_key` and `webhook_secret` refer to them. None of them is in the answer: install
    /// the App next, at `installUrl`.
    #[oai(
        path = "/:id/github-app/conversion",
        method = "post",
        operation_id = "completeGithubAppManifest"
    )]
    async fn complete_manifest(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<ConversionIn>,
    ) -> Result<Json<CreatedAppOut>, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY | CONFLICT }>> {
        let id = integration_id(&id.0)?;
        let ConversionIn { code, state: given } = body.0;
        let starter = starter_of(&auth.0);
        let now = state.clock.now_ms();
        // The state is used up before GitHub is asked: a second try with it is refused even
        // if this one fails (GitHub's code is good once as well).
        let (base, web) = state
            .write({
                let id = id.clone();
                move |tx| {
                    let integration = integrations::get(tx, &id)?;
                    let config = github_config(&integration)?;
                    manifests::use_once(tx, &given, &starter, &id, now)?.map_err(refusal)?;
                    Ok((remote::api_base(&integration.settings), config.web_base()))
                }
            })
            .await?;
        let show_answer = state.allowed_hosts.shows(&base);
        let http = state.http.clone();
        let created = tokio::task::spawn_blocking({
            let base = base.clone();
            move || github_manifest::convert(&http, &base, &code, show_answer, now)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the conversion panicked: {e}")))?
        .map_err(|message| AppError::ConflictAt {
            field: "code".into(),
            message,
        })?;
        let names = secret_names(&id);
        let values = [
            Some(created.pem.as_str()),
            created.webhook_secret.as_deref(),
            created.client_secret.as_deref(),
        ];
        let mut sealed = Vec::new();
        for (name, value) in names.iter().zip(values) {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let blob = state
                    .secrets
                    .encrypt(name, value)
                    .map_err(AppError::Internal)?;
                sealed.push((name.clone(), blob));
            }
        }
        // The key signs what goes to this API host; a host beyond the public ones is named.
        // Over plain http only to an origin named with its scheme (a test stand-in, a lab).
        let hosts: Vec<String> = match crate::domain::hosts::scheme_of(&base).as_deref() {
            Some("https") => crate::domain::hosts::host_of(&base),
            _ => crate::domain::hosts::origin(&base),
        }
        .into_iter()
        .collect();
        let app_id = created.id;
        let has_webhook_secret = created.webhook_secret.is_some();
        let stored: Vec<String> = sealed.iter().map(|(name, _)| name.clone()).collect();
        let shared = state.0.clone();
        state
            .write(move |tx| {
                for (name, _) in &sealed {
                    check_may_replace(tx, name, &id)?;
                }
                for (name, blob) in &sealed {
                    let created = store::upsert(tx, name, blob, &hosts, now)?;
                    // Each stored secret is in the audit log, as one set through the API is.
                    let mut entry = auth.0.did(Action::SecretSet, name).on_integration(&id);
                    entry.changes = serde_json::json!({
                        "created": created,
                        "hosts": {"after": &hosts},
                        "by": "GitHub App manifest flow",
                    });
                    crate::db::audit::record(tx, &entry, now)?;
                }
                let mut integration = integrations::get(tx, &id)?;
                let before = serde_json::json!({"config": integration.config});
                let mut config = masking::mask(&integration.config);
                let fields = config.as_object_mut().ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("a stored config is not an object"))
                })?;
                fields.remove("token");
                fields.remove("installation_id");
                fields.insert("app_id".into(), app_id.into());
                fields.insert(
                    "private_key".into(),
                    format!("${{secret:{}}}", names[0]).into(),
                );
                if has_webhook_secret {
                    fields.insert(
                        "webhook_secret".into(),
                        format!("${{secret:{}}}", names[1]).into(),
                    );
                }
                apply_config(
                    tx,
                    &shared.secrets,
                    &shared.allowed_hosts,
                    &mut integration,
                    config,
                )?;
                integration.updated_at = now;
                integrations::update(tx, &integration)?;
                let entry = auth
                    .0
                    .did(Action::GithubAppCreated, &id)
                    .on_integration(&id)
                    .changing(&before, &serde_json::json!({"config": integration.config}));
                crate::db::audit::record(tx, &entry, now)?;
                Ok(())
            })
            .await?;
        // A link the page shows: only ever an http(s) one, else the App's page under web_url.
        let html_url = if created.html_url.starts_with("https://")
            || created.html_url.starts_with("http://")
        {
            created.html_url.trim_end_matches('/').to_string()
        } else {
            format!("{web}/apps/{}", remote::segment(&created.slug))
        };
        Ok(Json(CreatedAppOut {
            app_id,
            install_url: format!("{html_url}/installations/new"),
            slug: created.slug,
            name: created.name,
            html_url,
            owner: created.owner.map(|o| o.login),
            secrets: stored,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_fits_githubs_limit() {
        assert_eq!(default_name("agents"), "Provenant agents");
        let long = default_name("a very long integration name indeed, longer than that");
        assert!(long.chars().count() <= MAX_NAME_CHARS, "{long}");
    }
}
