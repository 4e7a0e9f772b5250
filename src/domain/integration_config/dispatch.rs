//! `eval` and `deploy`: what a new eval run or deployment starts, and how long it may take. An
//! HTTP runner is sent `eval_run.requested` or `deployment.requested`, signed the Standard
//! Webhooks way with the runner's secret, with a callback token that may report on that one
//! run only.

use std::time::Duration;

use base64::Engine as _;
use poem_openapi::Object;
use serde::Deserialize;

use crate::base::duration;
use crate::base::error::{AppError, AppResult};
use crate::domain::checked::BaseUrl;
use crate::domain::model::RunKind;
use crate::domain::secrets::refs;

/// The prefix of a Standard Webhooks signing secret: base64 after it.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long a run may stay PENDING or RUNNING when its config names no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// The shortest `timeout` taken: a runner needs a moment to answer at all.
const SHORTEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `timeout` taken: a week (a run's callback token lives as long).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// `eval` or `deploy` in a GITHUB or GITLAB config: what a new eval run (or deployment)
/// starts, and how long it may take. `dispatch` absent: nothing is started, and the platform
/// polls `GET /api/eval-runs?status=PENDING` (or `/api/deployments`).
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct RunSettings {
    // Where a new run is sent to be run (see `Dispatch`). Absent: nothing is started, and
    // the platform polls for PENDING runs.
    pub dispatch: Option<Dispatch>,
    /// How long a run may stay PENDING or RUNNING before it fails as timed out, as `30m` or
    /// `2h` (1 minute to 168 hours). Default `1h`. A runner's callback token lives as long.
    #[oai(validator(pattern = "^[0-9]{1,6}(s|m|h)$"))]
    pub timeout: Option<String>,
}

/// An HTTP runner: each new run is POSTed to `url` as `eval_run.requested` or
/// `deployment.requested` (signed with `webhook-id`, `webhook-timestamp` and
/// `webhook-signature: v1,…`), with a callback URL and a token that may report on that run
/// alone (`PATCH /api/eval-runs/{id}` or `/api/deployments/{id}`) until it ends.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct Dispatch {
    /// The runner's address, which takes a POST. Over https; plain http only to an origin
    /// listed in `--allowed-api-hosts` as `http://host[:port]` (the request carries a token).
    pub url: BaseUrl,
    /// The key requests are signed with, as Standard Webhooks writes it (`whsec_` and 24 to
    /// 64 random bytes in base64), or `${secret:NAME}`. Shown as `***`.
    pub secret: String,
}

impl RunSettings {
    /// Refuses a signing secret that is neither a `${secret:NAME}` nor `whsec_` and 24 to 64
    /// bytes of base64 (what the runner's Standard Webhooks library takes), and a timeout out
    /// of range. `kind` names the section in the error.
    pub fn check(&self, kind: RunKind) -> AppResult<()> {
        let section = kind.section();
        if let Some(text) = &self.timeout {
            let field = format!("config.{section}.timeout");
            let timeout =
                duration::parse(text.trim()).map_err(|e| AppError::invalid(field.clone(), e))?;
            if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&timeout) {
                return Err(AppError::invalid(
                    field,
                    "must be from 1m to 168h, as `30m` or `2h`",
                ));
            }
        }
        let Some(dispatch) = &self.dispatch else {
            return Ok(());
        };
        let secret = dispatch.secret.trim();
        if refs::secret_ref(secret).is_some() {
            return Ok(());
        }
        if signing_key(secret).is_none() {
            return Err(AppError::invalid(
                format!("config.{section}.dispatch.secret"),
                "must be `whsec_` followed by 24 to 64 random bytes in base64 (as Standard Webhooks writes it), or ${secret:NAME}",
            ));
        }
        Ok(())
    }

    /// How long a run may take (checked when the config was stored).
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| duration::parse(t.trim()).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// The HMAC key of a `whsec_…` secret; None when it is not one.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.trim().strip_prefix(SECRET_PREFIX)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_secret_is_whsec_and_enough_base64() {
        assert!(signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_some());
        assert!(signing_key("whsec_c2hvcnQ=").is_none(), "5 bytes");
        assert!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(signing_key("whsec_not base64!!").is_none());
    }
}
