//! Secrets at their moment of use: a config value resolved from what it refers to (a sealed
//! value, `${secret:NAME}`), stored configs sealed at start, a rotation's previous secret. The
//! rules (the cipher, references, sealing) are `domain::secrets`.

use crate::domain::secrets::{SecretBox, refs, sealed};

use crate::db::Conn;

use crate::base::error::{AppError, AppResult};
use crate::db;
use crate::domain::credentials;

/// A config value ready to use: `raw` itself, the plaintext of an inline credential sealed at
/// rest, or the plaintext of the secret it refers to. `key` names the config key (`token`),
/// both in errors (`config.token: secret X does not exist`) and in what a sealed value is
/// bound to. `sent_to` is the URL the value will travel to, if it travels: a `${secret:NAME}`
/// value goes only to the public API hosts and the hosts its secret was stored for. The one
/// place where configs meet secrets: called at each moment of use (verification, commit
/// status, Slack send, test), never stored.
pub fn resolve_config_value(
    conn: Conn<'_>,
    secrets: &SecretBox,
    integration_id: &str,
    key: &str,
    raw: Option<&str>,
    sent_to: Option<&str>,
) -> Result<Option<String>, String> {
    let Some(raw) = raw.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = format!("config.{key}");
    if credentials::is_sealed(raw) {
        return sealed::open(secrets, integration_id, &path, raw)
            .map(Some)
            .map_err(|e| format!("{path}: {e}"));
    }
    let Some(name) = refs::secret_ref(raw) else {
        return Ok(Some(raw.to_string()));
    };
    if let Some(url) = sent_to {
        let to = crate::domain::hosts::origin(url).unwrap_or_default();
        let hosts = db::secrets::hosts(conn, name).map_err(|e| format!("{path}: {e}"))?;
        // Checked at each moment of use, scheme included: a secret stored for a host goes
        // there only over https.
        if !crate::domain::hosts::secret_may_go_to(&hosts, url) {
            return Err(format!(
                "{path}: secret {name} is not sent to {to}: it goes only over https to {} and the hosts it was stored for (plain http only to an origin stored as http://host[:port])",
                crate::domain::hosts::PUBLIC_API_HOSTS.join(", ")
            ));
        }
    }
    resolve(conn, secrets, name)
        .map(Some)
        .map_err(|e| format!("{path}: {e}"))
}

/// The plaintext of the named secret.
fn resolve(conn: Conn<'_>, secrets: &SecretBox, name: &str) -> AppResult<String> {
    let sealed = db::secrets::get_encrypted(conn, name).map_err(|e| match e {
        AppError::NotFound(_) => {
            AppError::Internal(anyhow::anyhow!("secret {name} does not exist"))
        }
        other => other,
    })?;
    secrets.decrypt(name, &sealed).map_err(AppError::Internal)
}

/// Seals the inline credentials of every stored config that still holds some in plain text
/// (stored before they were sealed, schema version 4 or older); idempotent, so it runs at
/// every start. The old values are zeroed in the file and the WAL is emptied. Returns how
/// many integrations were changed.
pub fn seal_stored_configs(database: &db::Location, keys: &SecretBox) -> anyhow::Result<usize> {
    let conn = db::Connection::open(database, crate::db::SyncMode::Full)?;
    let stored = db::integrations::raw_configs(conn.conn())?;
    drop(conn);
    let mut changed = Vec::new();
    for (id, mut config) in stored {
        if sealed::seal_config(keys, &id, &mut config)? > 0 {
            changed.push((id, config));
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let count = changed.len();
    db::rewrite_securely(database, move |conn| {
        for (id, config) in &changed {
            db::integrations::replace_config(conn, id, config)?;
        }
        Ok(())
    })?;
    Ok(count)
}

/// What the previous value of an integration's own webhook secret is encrypted under.
pub fn previous_secret_aad(integration_id: &str) -> String {
    format!("integration {integration_id}: previous webhook secret")
}

/// The value an integration's signing secret had before its last rotation, and until when it
/// is accepted; None when there is none or its overlap is over. For a `${secret:NAME}`
/// reference, the named secret's previous value.
pub fn previous_signing_secret(
    conn: Conn<'_>,
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
