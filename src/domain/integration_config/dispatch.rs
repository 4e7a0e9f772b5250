//! `eval`: what a new eval run starts. An HTTP runner is sent `eval_run.requested`, signed the
//! Standard Webhooks way with the runner's secret, with a callback token that may report on
//! that one run only.

use base64::Engine as _;
use poem_openapi::Object;
use serde::Deserialize;

use crate::base::error::{AppError, AppResult};
use crate::domain::checked::BaseUrl;
use crate::domain::secrets::refs;

/// The prefix of a Standard Webhooks signing secret: base64 after it.
pub const SECRET_PREFIX: &str = "whsec_";

/// `eval` in a GITHUB or GITLAB config: what a new eval run starts. `dispatch` absent: nothing
/// is started, and the eval platform polls `GET /api/eval-runs?status=PENDING`.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct EvalSettings {
    // Where a new eval run is sent to be run (see `Dispatch`). Absent: nothing is started,
    // and the eval platform polls `GET /api/eval-runs?status=PENDING`.
    pub dispatch: Option<Dispatch>,
}

/// An HTTP runner: each new eval run is POSTed to `url` as `eval_run.requested` (signed with
/// `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,…`), with a callback URL and a
/// token that may report on that run alone (`PATCH /api/eval-runs/{id}`) until it ends.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct Dispatch {
    /// The runner's address, which takes a POST. Over https; plain http only to an origin
    /// listed in `--allowed-api-hosts` as `http://host[:port]` (the request carries a token).
    pub url: BaseUrl,
    /// The key requests are signed with, as Standard Webhooks writes it (`whsec_` and 24 to
    /// 64 random bytes in base64), or `${secret:NAME}`. Shown as `***`.
    pub secret: String,
}

impl EvalSettings {
    /// Refuses a signing secret that is neither a `${secret:NAME}` nor `whsec_` and 24 to 64
    /// bytes of base64 (what the runner's Standard Webhooks library takes).
    pub fn check(&self) -> AppResult<()> {
        let Some(dispatch) = &self.dispatch else {
            return Ok(());
        };
        let secret = dispatch.secret.trim();
        if refs::secret_ref(secret).is_some() {
            return Ok(());
        }
        if signing_key(secret).is_none() {
            return Err(AppError::invalid(
                "config.eval.dispatch.secret",
                "must be `whsec_` followed by 24 to 64 random bytes in base64 (as Standard Webhooks writes it), or ${secret:NAME}",
            ));
        }
        Ok(())
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
