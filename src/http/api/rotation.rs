//! `POST /api/integrations/{id}/rotate-secret`: a new webhook secret, with the previous one
//! still accepted for an overlap, so that the sender can switch without a delivery refused.

use base64::Engine;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::Value;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::{self, integrations, secrets as store};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::json_fields::present;
use crate::domain::model::{self, IntegrationType};
use crate::domain::secrets::{SecretBox, refs};
use crate::http::state::SharedState;
use crate::pipeline::secrets;

pub struct RotationApi;

/// How long the previous secret stays valid unless the call says otherwise: a day.
pub const DEFAULT_OVERLAP_SECS: u32 = 86_400;
/// The longest overlap: thirty days.
pub const MAX_OVERLAP_SECS: u32 = 30 * 86_400;
/// The shortest secret accepted from the caller.
pub const MIN_SECRET_CHARS: usize = 16;

/// What to rotate to; both fields are optional (`{}` generates a secret).
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct RotateSecretIn {
    /// The new secret (16–1,024 characters, no surrounding whitespace). Absent: a strong one
    /// is generated (32 random bytes, hex; `whsec_…` base64 when the current secret is a
    /// Standard Webhooks one). Slack signing secrets come from Slack, so SLACK needs this.
    #[serde(default, deserialize_with = "present")]
    #[oai(validator(min_length = 16, max_length = 1024, pattern = r"^\S[\s\S]*\S$"))]
    pub secret: Option<String>,
    /// How long the previous secret stays valid, in seconds: 0 to 2,592,000 (30 days).
    /// Default 86,400 (24 hours).
    #[serde(default, deserialize_with = "present")]
    #[oai(validator(minimum(value = "0"), maximum(value = "2592000")))]
    pub overlap_seconds: Option<u32>,
}

impl Example for RotateSecretIn {
    fn example() -> Self {
        RotateSecretIn {
            secret: None,
            overlap_seconds: Some(3600),
        }
    }
}

/// The new secret, shown this once.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct RotatedSecret {
    /// The new secret: give it to the sender now; it is never shown again.
    pub secret: String,
    /// Until when deliveries signed with the previous secret are still accepted (RFC 3339,
    /// UTC); absent when there was no previous secret.
    pub previous_valid_until: Option<Timestamp>,
    /// When the config refers to a named secret (`${secret:NAME}`), that secret was rotated
    /// (for every integration that refers to it).
    pub secret_name: Option<String>,
}

/// The config key of each type's signing secret.
fn secret_key(kind: IntegrationType) -> &'static str {
    match kind {
        IntegrationType::Github | IntegrationType::Gitlab => "webhook_secret",
        IntegrationType::Slack => "signing_secret",
        IntegrationType::Webhook => "secret",
    }
}

fn generate(kind: IntegrationType, current: Option<&str>) -> AppResult<String> {
    if kind == IntegrationType::Slack {
        return Err(AppError::ConflictAt {
            field: "secret".into(),
            message: "Slack issues signing secrets: pass the new one from the Slack app's settings"
                .into(),
        });
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(match current {
        Some(c) if c.starts_with("whsec_") => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        _ => hex::encode(bytes),
    })
}

fn check_given(secret: String) -> AppResult<String> {
    let chars = secret.chars().count();
    if !(MIN_SECRET_CHARS..=1024).contains(&chars) {
        return Err(AppError::invalid(
            "secret",
            "must be 16 to 1,024 characters",
        ));
    }
    // As the spec's pattern says (`\s` there also takes U+FEFF).
    let blank = |c: char| c.is_whitespace() || c == '\u{feff}';
    if secret.starts_with(blank) || secret.ends_with(blank) {
        return Err(AppError::invalid(
            "secret",
            "has surrounding whitespace (a pasted newline?): senders would sign without it",
        ));
    }
    if refs::secret_ref(&secret).is_some() {
        return Err(AppError::invalid(
            "secret",
            "must be the secret itself; to rotate a named secret, rotate an integration that refers to it",
        ));
    }
    Ok(secret)
}

/// Rotates `integration`'s signing secret inside `tx`; returns the new secret and the name
/// of the named secret rotated, if the config refers to one.
fn rotate(
    tx: Conn<'_>,
    keys: &SecretBox,
    mut i: integrations::Integration,
    given: Option<String>,
    until: i64,
    now: i64,
) -> AppResult<(String, Option<String>, bool)> {
    let key = secret_key(i.kind);
    let current_raw = i
        .config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let named = current_raw
        .as_deref()
        .and_then(refs::secret_ref)
        .map(str::to_string);
    let current = match &named {
        Some(name) => {
            let sealed = store::get_encrypted(tx, name)?;
            Some(keys.decrypt(name, &sealed).map_err(AppError::Internal)?)
        }
        None => current_raw
            .map(|raw| {
                crate::domain::secrets::sealed::open(keys, &i.id, &format!("config.{key}"), &raw)
            })
            .transpose()
            .map_err(AppError::Internal)?,
    };
    let new = match given {
        Some(secret) => check_given(secret)?,
        None => generate(i.kind, current.as_deref())?,
    };
    match &named {
        Some(name) => {
            let sealed = keys.encrypt(name, &new).map_err(AppError::Internal)?;
            store::rotate(tx, name, &sealed, until, now)?;
            integrations::set_previous_secret(tx, &i.id, None, until)?;
        }
        None => {
            if let Some(old) = &current {
                let sealed = keys
                    .encrypt(&secrets::previous_secret_aad(&i.id), old)
                    .map_err(AppError::Internal)?;
                integrations::set_previous_secret(tx, &i.id, Some(&sealed), until)?;
            }
            let mut config = i.config.clone();
            config[key] = Value::String(new.clone());
            (i.settings, i.config) = IntegrationConfig::parse(i.kind, config)?;
            crate::domain::secrets::sealed::seal_config(keys, &i.id, &mut i.config)
                .map_err(AppError::Internal)?;
            i.settings = IntegrationConfig::read(i.kind, i.config.clone())?;
            i.updated_at = now;
            integrations::update(tx, &i)?;
        }
    }
    Ok((new, named, current.is_some()))
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl RotationApi {
    /// Rotate the signing secret.
    ///
    /// Rotate the integration's signing secret without downtime: set a new secret (given, or
    /// generated) and keep the previous one valid for an overlap (default 24 hours), so
    /// deliveries signed with either pass until the sender has switched. The new secret is
    /// returned this once. When the config refers to `${secret:NAME}`, that named secret is
    /// rotated. The integration then shows when the previous secret was last used.
    #[oai(
        path = "/:id/rotate-secret",
        method = "post",
        operation_id = "rotateSecret"
    )]
    async fn rotate_secret(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        body: JsonBody<RotateSecretIn>,
    ) -> Result<Json<RotatedSecret>, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY | CONFLICT }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let RotateSecretIn {
            secret,
            overlap_seconds,
        } = body.0;
        let overlap = overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
        if overlap > MAX_OVERLAP_SECS {
            return Err(
                AppError::invalid("overlapSeconds", "must be 0 to 2,592,000 (30 days)").into(),
            );
        }
        let now = state.clock.now_ms();
        let until = now + i64::from(overlap) * 1000;
        let keys = state.secrets.clone();
        let (new, named, had_previous) = state
            .write(move |tx| {
                let integration = integrations::get(tx, &id)?;
                let rotated = rotate(tx, &keys, integration, secret, until, now)?;
                let mut entry = auth.0.did(Action::SecretRotated, &id).on_integration(&id);
                let field = match &rotated.1 {
                    Some(name) => format!("secret {name}"),
                    None => "config.secret".to_string(),
                };
                entry.changes = serde_json::json!({
                    field: {"before": crate::domain::masking::MASK, "after": crate::domain::masking::MASK},
                    "previousValidUntil": {"before": null, "after": crate::base::clock::rfc3339(until)},
                });
                db::audit::record(tx, &entry, now)?;
                Ok(rotated)
            })
            .await?;
        Ok(Json(RotatedSecret {
            secret: new,
            previous_valid_until: had_previous.then_some(Timestamp(until)),
            secret_name: named,
        }))
    }
}
