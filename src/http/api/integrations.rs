//! `/api/integrations`: create, list, read, change and delete integrations.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::Value;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::examples::{Documented, JsonExample};
use super::integration_patch::IntegrationPatchDoc;
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::integrations::{self, Integration};
use crate::db::{self, secrets as store};
use crate::domain::access::Need;
use crate::domain::audit::Action;
use crate::domain::checked::Name;
use crate::domain::checked::Timestamp;
use crate::domain::credentials;
use crate::domain::hosts::AllowedHosts;
use crate::domain::integration_config::generate_missing_secrets;
use crate::domain::integration_config::{
    AnyConfig, GithubConfig, IntegrationConfig, NewIntegrationDoc,
};
use crate::domain::json_fields::present;
use crate::domain::masking;
use crate::domain::model::{self, IntegrationType};
use crate::domain::secrets::{SecretBox, refs};
use crate::http::api::rotation::MIN_SECRET_CHARS;
use crate::http::state::SharedState;
use crate::remote::{self};

pub struct IntegrationsApi;

/// A new integration, as read (the spec shows it as `NewIntegrationDoc`).
#[derive(Deserialize)]
pub struct NewIntegration {
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    pub name: Name,
    pub config: Value,
}

/// Changes to an integration, as read; absent fields stay as they are. The spec shows it as
/// a union on `type` ([`super::integration_patch::IntegrationPatchDoc`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationPatch {
    /// The integration's own type, when the client says it: any other is refused.
    #[serde(default, rename = "type", deserialize_with = "present")]
    pub kind: Option<IntegrationType>,
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Name>,
    /// A whole new config object of the integration's type, checked as on create.
    #[serde(default, deserialize_with = "present")]
    pub config: Option<AnyConfig>,
    #[serde(default, deserialize_with = "present")]
    pub is_active: Option<bool>,
}

impl JsonExample for NewIntegrationDoc {
    /// A GitHub repository whose deliveries are signed.
    fn json_example() -> Value {
        serde_json::json!({
            "type": "GITHUB",
            "name": "Main GitHub Repo",
            "config": GithubConfig::example().to_json(),
        })
    }
}

/// Deliveries refused because their signature or token did not verify.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct RejectedDeliveries {
    /// How many deliveries were refused.
    pub count: i64,
    /// When the last one was refused (RFC 3339, UTC).
    pub last_at: Option<Timestamp>,
    /// Why the last one was refused, e.g. `X-Hub-Signature-256 does not match …`.
    pub last_reason: Option<String>,
}

/// A secret this server made, shown once.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct GeneratedSecret {
    /// Where it is in the config, e.g. `config.eval.dispatch.secret`.
    pub field: String,
    /// The secret.
    pub value: String,
}

/// Shows `made` (from [`dispatch::generate_missing_secrets`]) in `out`, once.
fn show_generated(out: &mut IntegrationOut, made: Vec<(String, String)>) {
    if !made.is_empty() {
        out.fields.generated_secrets = Some(
            made.into_iter()
                .map(|(field, value)| GeneratedSecret { field, value })
                .collect(),
        );
    }
}

/// The overlap of a rotated secret.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct SecretRotation {
    /// Deliveries signed with the previous secret are accepted until then (RFC 3339, UTC).
    pub previous_valid_until: Timestamp,
    /// When a delivery signed with the previous secret last arrived; absent: none since the
    /// rotation.
    pub previous_last_used_at: Option<Timestamp>,
}

/// What every integration has, whatever its type: everything beside `type` and `config`.
///
/// `rejectedDeliveries`: Deliveries refused for a bad or missing signature.
/// `secretRotation`: After `rotate-secret`: until when the previous secret is accepted, and when a delivery last used it (so you can tell when the sender has switched).
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct IntegrationFields {
    /// Unguessable id (UUIDv4); part of the public webhook URL.
    pub id: String,
    /// The friendly label.
    pub name: String,
    /// `false`: the webhook URL answers 404.
    pub is_active: bool,
    /// Where senders post deliveries: `POST {webhookUrl}` needs no token.
    pub webhook_url: String,
    /// Whether deliveries must carry a valid signature (a webhook secret is configured).
    pub verified: bool,
    /// Deliveries that passed no signature check make outbound calls (no secret is set and
    /// `allow_unverified` is on): anyone who learns the webhook URL can make this integration
    /// post commit statuses, create GitHub deployments or send Slack messages. The pages
    /// show this warning in red.
    pub unverified_acts: bool,
    // Deliveries refused for a bad or missing signature.
    pub rejected_deliveries: RejectedDeliveries,
    /// What to fix about this integration's secrets, for people (no secret, a short one, one
    /// with a pasted newline); empty when there is nothing.
    pub warnings: Vec<String>,
    // After `rotate-secret`: until when the previous secret is accepted, and when a delivery
    // last used it (so you can tell when the sender has switched).
    pub secret_rotation: Option<SecretRotation>,
    /// The secrets this server made for the config of this very request (an HTTP runner's
    /// `secret` left out is made: `whsec_` and 32 random bytes), shown this once: give them
    /// to the runner now. The config shows them as `***` from then on.
    pub generated_secrets: Option<Vec<GeneratedSecret>>,
    /// How many events are stored for this integration.
    pub event_count: i64,
    /// When the newest delivery arrived (RFC 3339, UTC).
    pub last_event_at: Option<Timestamp>,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    /// RFC 3339, UTC.
    pub updated_at: Timestamp,
}

/// An integration as answered: its `type`, its config (every value under a key containing
/// `secret` or `token` shown as `***`, webhook URLs as `https://host/first-segment/…/***`,
/// the user's own keys kept), and the fields every integration has. The spec shows it as a
/// union on `type` ([`super::integration_out::IntegrationOutDoc`]), so a client that reads a
/// WEBHOOK integration gets a `WebhookConfig`.
pub struct IntegrationOut {
    pub kind: IntegrationType,
    pub config: Value,
    pub fields: IntegrationFields,
}

#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<IntegrationOut>),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Deleted, with its events.
    #[oai(status = 204)]
    Deleted,
}

/// What an integration without a secret exposes, in words for its page.
fn no_secret_warning(i: &Integration) -> String {
    let key = match i.kind {
        IntegrationType::Github | IntegrationType::Gitlab => "webhook_secret",
        IntegrationType::Slack => "signing_secret",
        IntegrationType::Webhook => "secret",
    };
    match i.kind {
        IntegrationType::Slack => format!(
            "No signing secret: requests to this integration's receiver are not verified (they are only recorded). Set {key} if Slack sends requests here."
        ),
        _ if i.settings.allow_unverified() => format!(
            "No secret, and allow_unverified is on: anyone who learns the webhook URL can make this integration act (commit statuses, GitHub deployments, Slack messages). Set {key} here and in the sender, then remove allow_unverified."
        ),
        _ => format!(
            "No secret: deliveries are not verified, so they are recorded but make no outbound calls (no commit status, deployment or Slack message). Set {key} here and in the sender."
        ),
    }
}

/// Advice about an integration's signing secret. A `${secret:NAME}` reference is not read
/// here (its value stays in the secret store), so only its absence is told.
fn secret_warnings(keys: &SecretBox, i: &Integration) -> Vec<String> {
    let mut out = Vec::new();
    if let IntegrationConfig::Slack(c) = &i.settings
        && c.webhook_url.is_none()
        && (c.bot_token.is_none() || c.channel.is_none())
    {
        out.push("Nothing can be sent: set webhook_url, or bot_token with channel.".to_string());
    }
    match i.settings.signing_secret() {
        None if i.is_active => out.push(no_secret_warning(i)),
        None => {}
        Some((key, value)) if refs::secret_ref(value).is_none() => {
            // Inline secrets are sealed at rest: opened here only to be looked at.
            let Ok(value) =
                crate::domain::secrets::sealed::open(keys, &i.id, &format!("config.{key}"), value)
            else {
                out.push(format!(
                    "config.{key} cannot be opened with this server's master key: set it again."
                ));
                return out;
            };
            let value = value.as_str();
            if value.trim() != value {
                out.push(format!(
                    "config.{key} has surrounding whitespace (a pasted newline?): senders sign without it, so deliveries will be refused."
                ));
            }
            if value.trim().chars().count() < MIN_SECRET_CHARS {
                out.push(format!(
                    "config.{key} is shorter than {MIN_SECRET_CHARS} characters: use a long random secret (rotate-secret makes one)."
                ));
            }
        }
        Some(_) => {}
    }
    out
}

fn to_out(state: &SharedState, i: Integration) -> IntegrationOut {
    let now = state.clock.now_ms();
    let fields = IntegrationFields {
        warnings: secret_warnings(&state.secrets, &i),
        secret_rotation: i
            .previous_secret_until
            .filter(|until| *until > now)
            .map(|until| SecretRotation {
                previous_valid_until: Timestamp(until),
                previous_last_used_at: i.previous_secret_used_at.map(Timestamp),
            }),
        generated_secrets: None,
        webhook_url: state.webhook_url(&i.id),
        verified: i.settings.signing_secret().is_some(),
        unverified_acts: i.settings.signing_secret().is_none() && i.settings.allow_unverified(),
        rejected_deliveries: RejectedDeliveries {
            count: i.rejected_count,
            last_at: i.last_rejected_at.map(Timestamp),
            last_reason: i.last_rejected_reason,
        },
        event_count: i.event_count,
        last_event_at: i.last_event_at.map(Timestamp),
        id: i.id,
        name: i.name,
        is_active: i.is_active,
        created_at: Timestamp(i.created_at),
        updated_at: Timestamp(i.updated_at),
    };
    IntegrationOut {
        kind: i.kind,
        config: masking::mask(&i.config),
        fields,
    }
}

/// Every `${secret:NAME}` in a config must name a stored secret, and a secret the config sends
/// somewhere (a token to its API) must be stored for that host: a secret's value goes only to
/// the public API hosts and the hosts it was stored with.
fn check_secret_refs(conn: Conn<'_>, allowed: &AllowedHosts, i: &Integration) -> AppResult<()> {
    refuse_credentials_over_plain_http(allowed, i)?;
    for (path, name) in refs::find_refs(&i.config) {
        if !store::exists(conn, &name)? {
            return Err(AppError::ConflictAt {
                field: path,
                message: format!(
                    "refers to secret {name}, which does not exist: create it with PUT /api/secrets/{name}"
                ),
            });
        }
    }
    for (key, value, to) in i.settings.sent_credentials() {
        let Some(name) = refs::secret_ref(value) else {
            continue;
        };
        // What to list: the host for https, the origin for plain http.
        let host = match crate::domain::hosts::scheme_of(&to).as_deref() {
            Some("https") => crate::domain::hosts::host_of(&to),
            _ => crate::domain::hosts::origin(&to),
        }
        .unwrap_or_default();
        if !crate::domain::hosts::secret_may_go_to(&store::hosts(conn, name)?, &to) {
            return Err(AppError::ConflictAt {
                field: format!("config.{key}"),
                message: format!(
                    "refers to secret {name}, which is not stored for {host}: a secret goes only to {} and the hosts it was stored with; store it again with \"hosts\": [\"{host}\"] (PUT /api/secrets/{name})",
                    crate::domain::hosts::PUBLIC_API_HOSTS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// A credential travels only over https, or over plain http to an origin an admin listed as
/// `http://host[:port]` in `--egress-allow` (the send checks it again).
fn refuse_credentials_over_plain_http(allowed: &AllowedHosts, i: &Integration) -> AppResult<()> {
    let mut sent: Vec<(&str, String)> = i
        .settings
        .sent_credentials()
        .into_iter()
        .map(|(key, _, to)| (key, to))
        .collect();
    // A Slack webhook URL is its own credential: where it points is where it goes.
    if let IntegrationConfig::Slack(c) = &i.settings
        && let Some(url) = c.webhook_url.as_ref().map(|u| u.as_str())
        && refs::secret_ref(url).is_none()
        && !credentials::is_sealed(url)
    {
        sent.push(("webhook_url", url.to_string()));
    }
    for (key, to) in sent {
        if !allowed.credentials_may_go_to(&to) {
            let origin = crate::domain::hosts::origin(&to).unwrap_or_default();
            return Err(AppError::ConflictAt {
                field: format!("config.{key}"),
                message: format!(
                    "would be sent in clear text to {origin}: a credential goes only over https (an admin may allow this exact origin with --egress-allow {origin}, for a test stand-in or a lab)"
                ),
            });
        }
    }
    Ok(())
}

/// Where an integration's credentials and App flows go: its API base and, for GITHUB, its web
/// address (both with their defaults when unset).
fn addresses(config: &IntegrationConfig) -> Vec<String> {
    let norm = |u: String| u.trim_end_matches('/').to_ascii_lowercase();
    match config {
        IntegrationConfig::Github(c) => vec![norm(remote::api_base(config)), norm(c.web_base())],
        IntegrationConfig::Gitlab(_) => vec![norm(remote::api_base(config))],
        IntegrationConfig::Slack(c) => vec![norm(c.api_base())],
        IntegrationConfig::Webhook(_) => vec![],
    }
}

/// Pointing an integration somewhere else (`api_url`, `web_url`) decides where its tokens,
/// App keys and an admin's "Create a GitHub App" go: only `admin` may, on create or change.
fn require_admin_to_move(
    caller: &crate::domain::audit::Caller,
    before: Option<&IntegrationConfig>,
    after: &IntegrationConfig,
) -> AppResult<()> {
    let default_of = |c: &IntegrationConfig| {
        IntegrationConfig::read(
            match c {
                IntegrationConfig::Github(_) => model::IntegrationType::Github,
                IntegrationConfig::Gitlab(_) => model::IntegrationType::Gitlab,
                IntegrationConfig::Slack(_) => model::IntegrationType::Slack,
                IntegrationConfig::Webhook(_) => model::IntegrationType::Webhook,
            },
            serde_json::json!({}),
        )
        .map(|d| addresses(&d))
        .unwrap_or_default()
    };
    let was = before.map_or_else(|| default_of(after), addresses);
    if was == addresses(after) || caller.principal.may(Need::Admin) {
        return Ok(());
    }
    let held: Vec<&str> = caller.principal.scopes.iter().map(|s| s.as_str()).collect();
    Err(AppError::Forbidden {
        needed: "admin".into(),
        held: format!(
            " to set or change api_url or web_url (where the integration's credentials go); this caller has `{}`",
            held.join(" ")
        ),
    })
}

/// Only the server writes a value in the stored form of a sealed credential.
fn refuse_sealed_values(value: &Value, path: &str) -> AppResult<()> {
    match value {
        Value::String(text) if credentials::is_sealed(text) => Err(AppError::invalid(
            path,
            format!(
                "values starting with `{}` are the server's own stored form; send the real value",
                credentials::SEALED_PREFIX
            ),
        )),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| refuse_sealed_values(v, &format!("{path}.{k}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(n, v)| refuse_sealed_values(v, &format!("{path}[{n}]"))),
        _ => Ok(()),
    }
}

/// Seals the inline credentials of `i`'s config before it is stored (see
/// `secrets::sealed`), and reads its typed settings from what will be stored.
fn seal(keys: &SecretBox, i: &mut Integration) -> AppResult<()> {
    crate::domain::secrets::sealed::seal_config(keys, &i.id, &mut i.config)
        .map_err(AppError::Internal)?;
    i.settings = IntegrationConfig::read(i.kind, i.config.clone())?;
    Ok(())
}

/// A stored credential sent back masked (`***`) stays only while it goes where it went: once
/// the API it is sent to changes at all (another host, or another path on the same one, which
/// could be another endpoint of it), or GitHub's web address changes (where an App's
/// credentials come from), it must be given again in the same request.
fn refuse_masked_credentials_to_a_new_host(
    incoming: &Value,
    before: &IntegrationConfig,
    after: &IntegrationConfig,
) -> AppResult<()> {
    let base = |url: &str| url.trim_end_matches('/').to_ascii_lowercase();
    let web = |c: &IntegrationConfig| match c {
        IntegrationConfig::Github(g) => Some(base(&g.web_base())),
        _ => None,
    };
    let web_moved = web(before) != web(after);
    for (key, _, to) in after.sent_credentials() {
        if incoming.get(key).and_then(Value::as_str) != Some(masking::MASK) {
            continue;
        }
        let was = before
            .sent_credentials()
            .into_iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, from)| from);
        if was.as_deref().map(base) != Some(base(&to)) {
            return Err(AppError::ConflictAt {
                field: format!("config.{key}"),
                message: format!(
                    "is masked, but the API it is sent to changes from {} to {}: a stored credential is never sent to a new address; send the {key} again",
                    was.unwrap_or_else(|| "nowhere".into()),
                    to
                ),
            });
        }
        if web_moved {
            return Err(AppError::ConflictAt {
                field: format!("config.{key}"),
                message: format!(
                    "is masked, but web_url changes: a stored credential is never kept across a new address; send the {key} again"
                ),
            });
        }
    }
    Ok(())
}

/// A new config for an existing integration. Whether a config fits depends on the stored
/// integration's type: one that is well-formed for some type but not this one conflicts with
/// the integration (409, naming the field); one that fits no type is malformed (422).
pub(crate) fn parse_for_type(
    kind: IntegrationType,
    config: Value,
) -> AppResult<(IntegrationConfig, Value)> {
    match IntegrationConfig::parse(kind, config.clone()) {
        Ok(parsed) => Ok(parsed),
        Err(AppError::Invalid { field, message }) => {
            let fits_another = IntegrationType::ALL
                .iter()
                .copied()
                .filter(|other| *other != kind)
                .any(|other| IntegrationConfig::parse(other, config.clone()).is_ok());
            if fits_another {
                Err(AppError::ConflictAt {
                    field,
                    message: format!("{message} (for this {} integration)", kind.as_str()),
                })
            } else {
                Err(AppError::Invalid { field, message })
            }
        }
        Err(other) => Err(other),
    }
}

/// Puts a new config (as for a PATCH) on `i`: masked values keep what is stored, the config
/// is checked for the integration's type, and its `${secret:NAME}` references must exist.
pub(crate) fn apply_config(
    conn: Conn<'_>,
    keys: &SecretBox,
    allowed: &AllowedHosts,
    i: &mut Integration,
    mut config: Value,
) -> AppResult<()> {
    refuse_sealed_values(&config, "config")?;
    let incoming = config.clone();
    masking::restore_masked(&mut config, &i.config).map_err(|path| AppError::ConflictAt {
        field: path,
        message: "is masked, but nothing matching is stored there to keep; send the real value"
            .into(),
    })?;
    let before = i.settings.clone();
    (i.settings, i.config) = parse_for_type(i.kind, config)?;
    refuse_masked_credentials_to_a_new_host(&incoming, &before, &i.settings)?;
    check_secret_refs(conn, allowed, i)?;
    seal(keys, i)
}

/// An id from a URL, or the same 404 a missing integration gets.
fn integration_id(raw: &str) -> AppResult<String> {
    model::parse_id(raw).ok_or(AppError::NotFound("integration"))
}

type ListErrors = ApiError<AUTHED>;
type CreateErrors = ApiError<{ AUTHED | JSON_BODY | CONFLICT }>;
type OneErrors = ApiError<{ AUTHED | NOT_FOUND }>;
type ChangeErrors = ApiError<{ AUTHED | NOT_FOUND | JSON_BODY | CONFLICT }>;

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl IntegrationsApi {
    /// List integrations.
    ///
    /// List integrations, oldest first, with sensitive config values masked.
    #[oai(path = "/", method = "get", operation_id = "listIntegrations")]
    async fn list_integrations(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<IntegrationOut>>, ListErrors> {
        let state = state.0.clone();
        let all = db::run(&state.pool, integrations::list).await?;
        Ok(Json(all.into_iter().map(|i| to_out(&state, i)).collect()))
    }

    /// Create an integration.
    ///
    /// Create an integration. `type` says which config it takes. Each refusal is a 422
    /// problem whose `field` names the part of the request at fault (for example
    /// `config.repo`).
    #[oai(path = "/", method = "post", operation_id = "createIntegration")]
    async fn create_integration(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        body: JsonBody<NewIntegration, Documented<NewIntegrationDoc>>,
    ) -> Result<CreatedResponse, CreateErrors> {
        let NewIntegration {
            kind,
            name,
            mut config,
        } = body.0;
        refuse_sealed_values(&config, "config")?;
        let made = generate_missing_secrets(&mut config)?;
        let (settings, config) = IntegrationConfig::parse(kind, config)?;
        require_admin_to_move(&auth.0, None, &settings)?;
        let now = state.clock.now_ms();
        let mut integration = Integration {
            id: model::new_id(),
            kind,
            name: trim_name(name),
            config,
            settings,
            is_active: true,
            created_at: now,
            updated_at: now,
            rejected_count: 0,
            last_rejected_at: None,
            last_rejected_reason: None,
            event_count: 0,
            last_event_at: None,
            previous_secret_until: None,
            previous_secret_used_at: None,
        };
        let out = state
            .write({
                let state = state.0.clone();
                move |tx| {
                    check_secret_refs(tx, &state.allowed_hosts, &integration)?;
                    seal(&state.secrets, &mut integration)?;
                    integrations::insert(tx, &integration)?;
                    let entry = auth
                        .0
                        .did(Action::IntegrationCreated, &integration.id)
                        .on_integration(&integration.id)
                        .changing(&Value::Null, &audited(&integration));
                    db::audit::record(tx, &entry, now)?;
                    Ok(to_out(&state, integration))
                }
            })
            .await?;
        let mut out = out;
        show_generated(&mut out, made);
        Ok(CreatedResponse::Created(Json(out)))
    }

    /// Get an integration.
    ///
    /// One integration, masked, with its webhook URL.
    #[oai(path = "/:id", method = "get", operation_id = "getIntegration")]
    async fn get_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<IntegrationOut>, OneErrors> {
        let id = integration_id(&id.0)?;
        let state = state.0.clone();
        let out = db::run(&state.pool.clone(), move |conn| {
            let i = integrations::get(conn, &id)?;
            Ok(to_out(&state, i))
        })
        .await?;
        Ok(Json(out))
    }

    /// Update an integration.
    ///
    /// Change the name, the config or `isActive`. Changes are applied in the order they
    /// arrive, even while deliveries are being stored: the last one wins.
    #[oai(path = "/:id", method = "patch", operation_id = "updateIntegration")]
    async fn update_integration(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<IntegrationPatch, Documented<IntegrationPatchDoc>>,
    ) -> Result<Json<IntegrationOut>, ChangeErrors> {
        let id = integration_id(&id.0)?;
        let mut patch = body.0;
        let made = match patch.config.as_mut() {
            Some(AnyConfig(config)) => generate_missing_secrets(config)?,
            None => vec![],
        };
        let mut out = state
            .write({
                let state = state.0.clone();
                move |tx| {
                    let mut i = integrations::get(tx, &id)?;
                    let before = audited(&i);
                    if let Some(kind) = patch.kind.filter(|k| *k != i.kind) {
                        return Err(AppError::ConflictAt {
                            field: "type".into(),
                            message: format!(
                                "this integration is {}, not {}: a type cannot change (create a new integration)",
                                i.kind.as_str(),
                                kind.as_str()
                            ),
                        });
                    }
                    if let Some(AnyConfig(config)) = patch.config {
                        let was = i.settings.clone();
                        apply_config(tx, &state.secrets, &state.allowed_hosts, &mut i, config)?;
                        require_admin_to_move(&auth.0, Some(&was), &i.settings)?;
                    }
                    if let Some(name) = patch.name {
                        i.name = trim_name(name);
                    }
                    if let Some(active) = patch.is_active {
                        i.is_active = active;
                    }
                    i.updated_at = state.clock.now_ms();
                    integrations::update(tx, &i)?;
                    let after = audited(&i);
                    if before != after {
                        let action = if before["isActive"] == true && !i.is_active {
                            Action::IntegrationDeactivated
                        } else {
                            Action::IntegrationUpdated
                        };
                        let entry = auth
                            .0
                            .did(action, &i.id)
                            .on_integration(&i.id)
                            .changing(&before, &after);
                        db::audit::record(tx, &entry, i.updated_at)?;
                    }
                    Ok(to_out(&state, i))
                }
            })
            .await?;
        show_generated(&mut out, made);
        Ok(Json(out))
    }

    /// Delete an integration.
    ///
    /// Delete an integration and its stored events.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteIntegration")]
    async fn delete_integration(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<DeletedResponse, OneErrors> {
        let id = integration_id(&id.0)?;
        let now = state.clock.now_ms();
        state
            .write(move |tx| {
                let gone = integrations::get(tx, &id)?;
                integrations::delete(tx, &id)?;
                let entry = auth
                    .0
                    .did(Action::IntegrationDeleted, &id)
                    .on_integration(&id)
                    .changing(&audited(&gone), &Value::Null);
                db::audit::record(tx, &entry, now)
            })
            .await?;
        Ok(DeletedResponse::Deleted)
    }
}

/// What the audit log compares of an integration: its config as stored (a credential sealed,
/// so a new one differs from the old even though both show as `***`).
fn audited(i: &Integration) -> Value {
    serde_json::json!({
        "name": i.name,
        "type": i.kind.as_str(),
        "isActive": i.is_active,
        "config": i.config,
    })
}

/// Names are stored without surrounding blanks.
fn trim_name(name: Name) -> String {
    name.as_str()
        .trim_matches([' ', '\t', '\r', '\n'])
        .to_string()
}
