//! Inline credentials sealed at rest. A token, webhook secret or Slack URL typed into a config
//! is stored as `sealed:v1:<base64>`: encrypted under the master key like a named secret, and
//! bound to its integration and its place in the config (a ciphertext copied elsewhere does
//! not open). It is opened only at its moment of use, through `secrets::resolve_config_value`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::crypto::SecretBox;
use crate::domain::credentials::{
    SEALED_PREFIX, is_sealed, is_sensitive_key, is_url_key, sealed_parts,
};
use crate::domain::masking::mask_url;

/// What a sealed value is bound to.
fn aad(integration_id: &str, path: &str) -> String {
    format!("integration {integration_id}: {path}")
}

/// Seals `plaintext`, found at `path` (`config.token`) of `integration_id`'s config. A URL
/// credential keeps its masked form beside the ciphertext.
pub fn seal(
    keys: &SecretBox,
    integration_id: &str,
    path: &str,
    plaintext: &str,
    url: bool,
) -> anyhow::Result<String> {
    let cipher = STANDARD.encode(keys.encrypt(&aad(integration_id, path), plaintext)?);
    Ok(if url {
        format!("{SEALED_PREFIX}{cipher}|{}", mask_url(plaintext))
    } else {
        format!("{SEALED_PREFIX}{cipher}")
    })
}

/// The plaintext of a value at `path` of `integration_id`'s config: opened when sealed, as it
/// is otherwise.
pub fn open(
    keys: &SecretBox,
    integration_id: &str,
    path: &str,
    value: &str,
) -> anyhow::Result<String> {
    let Some((cipher, _)) = sealed_parts(value) else {
        return Ok(value.to_string());
    };
    let blob = STANDARD
        .decode(cipher)
        .map_err(|_| anyhow::anyhow!("{path} is damaged (not base64)"))?;
    keys.decrypt(&aad(integration_id, path), &blob)
}

/// Seals, in place, every inline credential of a config: each string under a key masked as a
/// secret (at any depth, and everything below such a key) and each Slack URL. References
/// (`${secret:NAME}`), empty strings and values already sealed stay as they are. Returns how
/// many values were sealed.
pub fn seal_config(
    keys: &SecretBox,
    integration_id: &str,
    config: &mut Value,
) -> anyhow::Result<usize> {
    let mut sealed = 0;
    walk(
        keys,
        integration_id,
        config,
        "config",
        Kind::Plain,
        &mut sealed,
    )?;
    Ok(sealed)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Secret,
    Url,
}

fn walk(
    keys: &SecretBox,
    integration_id: &str,
    value: &mut Value,
    path: &str,
    kind: Kind,
    sealed: &mut usize,
) -> anyhow::Result<()> {
    match value {
        Value::String(text) if kind != Kind::Plain => {
            let keep =
                text.is_empty() || is_sealed(text) || super::refs::secret_ref(text).is_some();
            if !keep {
                *text = seal(keys, integration_id, path, text, kind == Kind::Url)?;
                *sealed += 1;
            }
        }
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let child_kind = match kind {
                    Kind::Plain if is_sensitive_key(key) => Kind::Secret,
                    Kind::Plain if is_url_key(key) => Kind::Url,
                    other => other,
                };
                walk(
                    keys,
                    integration_id,
                    child,
                    &format!("{path}.{key}"),
                    child_kind,
                    sealed,
                )?;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(
                    keys,
                    integration_id,
                    item,
                    &format!("{path}[{i}]"),
                    kind,
                    sealed,
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_credentials_are_sealed_bound_to_their_place_and_opened_back() {
        let keys = SecretBox::new([7; 32]);
        let mut config = json!({
            "repo": "o/r",
            "token": "ghp_inline_token_123",
            "webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ",
            "auth": {"user": "u", "password": "pw"},
            "bot_token": "${secret:BOT}",
            "webhook_secret": ""
        });
        assert_eq!(seal_config(&keys, "i1", &mut config).expect("sealed"), 4);
        let text = config.to_string();
        for plain in ["ghp_inline_token_123", "XYZ", "\"pw\"", "\"u\""] {
            assert!(!text.contains(plain), "{plain} in {text}");
        }
        assert_eq!(config["repo"], "o/r");
        assert_eq!(config["bot_token"], "${secret:BOT}");
        let token = config["token"].as_str().expect("token");
        assert_eq!(
            open(&keys, "i1", "config.token", token).expect("open"),
            "ghp_inline_token_123"
        );
        assert!(
            open(&keys, "i2", "config.token", token).is_err(),
            "bound to its integration"
        );
        assert!(
            open(&keys, "i1", "config.webhook_secret", token).is_err(),
            "and to its place"
        );
        let url = config["webhook_url"].as_str().expect("url");
        assert_eq!(
            sealed_parts(url).and_then(|(_, shown)| shown),
            Some("https://hooks.slack.com/services/…/***")
        );
        // Sealing again changes nothing.
        let before = config.clone();
        assert_eq!(seal_config(&keys, "i1", &mut config).expect("again"), 0);
        assert_eq!(config, before);
    }
}
