//! Secrets: named values stored encrypted, referred to from configs as `${secret:NAME}`.

pub mod crypto;
pub mod refs;

pub use crypto::SecretBox;

use rusqlite::Connection;

use crate::db;
use crate::error::{AppError, AppResult};

/// The value to use for a config string: the secret's plaintext when it is a reference,
/// otherwise the string itself. Called at the moment of use, never stored.
pub fn resolve(conn: &Connection, secrets: &SecretBox, value: &str) -> AppResult<String> {
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
