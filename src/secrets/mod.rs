//! Secrets: named values stored encrypted, referred to from configs as `${secret:NAME}`.

pub mod crypto;
pub mod refs;

pub use crypto::SecretBox;

use rusqlite::Connection;

use crate::db;
use crate::error::{AppError, AppResult};

/// A config value ready to use: `raw` itself, or the plaintext of the secret it refers to.
/// `key` names the config key in the error (`config.token: secret X does not exist`). The one
/// place where configs meet secrets: called at each moment of use (verification, commit
/// status, Slack send, test), never stored.
pub fn resolve_config_value(
    conn: &Connection,
    secrets: &SecretBox,
    key: &str,
    raw: Option<&str>,
) -> Result<Option<String>, String> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => resolve(conn, secrets, raw)
            .map(Some)
            .map_err(|e| format!("config.{key}: {e}")),
    }
}

/// The value to use for a config string: the secret's plaintext when it is a reference,
/// otherwise the string itself. Called at the moment of use, never stored.
fn resolve(conn: &Connection, secrets: &SecretBox, value: &str) -> AppResult<String> {
    match refs::secret_ref(value) {
        None => Ok(value.to_string()),
        Some(name) => {
            let sealed = db::secrets::get_encrypted(conn, name).map_err(|e| match e {
                AppError::NotFound(_) => {
                    AppError::Internal(anyhow::anyhow!("secret {name} does not exist"))
                }
                other => other,
            })?;
            secrets.decrypt(name, &sealed).map_err(AppError::Internal)
        }
    }
}

/// What the previous value of an integration's own webhook secret is encrypted under.
pub fn previous_secret_aad(integration_id: &str) -> String {
    format!("integration {integration_id}: previous webhook secret")
}

/// The value an integration's signing secret had before its last rotation, and until when it
/// is accepted; None when there is none or its overlap is over. For a `${secret:NAME}`
/// reference, the named secret's previous value.
pub fn previous_signing_secret(
    conn: &Connection,
    secrets: &SecretBox,
    integration: &db::integrations::Integration,
    now: i64,
) -> AppResult<Option<(String, i64)>> {
    let Some((_, raw)) = integration.settings.signing_secret() else {
        return Ok(None);
    };
    let kept = match refs::secret_ref(raw) {
        Some(name) => db::secrets::previous(conn, name)?
            .map(|(sealed, until)| (name.to_string(), sealed, until)),
        None => db::integrations::previous_secret(conn, &integration.id)?
            .map(|(sealed, until)| (previous_secret_aad(&integration.id), sealed, until)),
    };
    match kept {
        Some((aad, sealed, until)) if until > now => {
            let value = secrets.decrypt(&aad, &sealed).map_err(AppError::Internal)?;
            Ok(Some((value, until)))
        }
        _ => Ok(None),
    }
}
