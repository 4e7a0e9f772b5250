//! Verifying a CI job's OIDC token (see `domain::ci_jobs`): the trusted issuer it names, then
//! its RS256 signature against that issuer's JWKS, `iss`, `aud` (this server's public URL) and
//! `exp`, as the sign-in checks an ID token (`oidc::IssuerKeys`). Blocking: callers run it on a
//! blocking thread.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::domain::ci_jobs::{CiIssuerSettings, CiJob};
use crate::domain::model::IntegrationType;
use crate::remote::oidc::{IssuerKeys, Refusal};

/// The trusted CI issuers, with their keys as fetched.
pub struct CiIssuers {
    github: Option<IssuerKeys>,
    gitlab: Option<IssuerKeys>,
}

impl CiIssuers {
    pub fn new(settings: &CiIssuerSettings, agent: &ureq::Agent) -> CiIssuers {
        let keys = |issuer: &Option<String>| {
            issuer
                .as_deref()
                .map(|issuer| IssuerKeys::new(issuer, agent.clone()))
        };
        CiIssuers {
            github: keys(&settings.github),
            gitlab: keys(&settings.gitlab),
        }
    }

    /// The job `token` was issued to, once it checks out for `audience` (this server's public
    /// URL, with or without a final `/`) at `now_ms`.
    pub fn verify(&self, token: &str, audience: &str, now_ms: i64) -> Result<CiJob, Refusal> {
        // The issuer it names picks the keys; they then check that it is that issuer's.
        let named =
            unverified_issuer(token).ok_or("the token is not a JWT that names its issuer")?;
        let named = named.trim_end_matches('/');
        let (forge, keys) = [
            (IntegrationType::Github, &self.github),
            (IntegrationType::Gitlab, &self.gitlab),
        ]
        .into_iter()
        .find_map(|(forge, keys)| {
            keys.as_ref()
                .filter(|k| k.issuer() == named)
                .map(|k| (forge, k))
        })
        .ok_or("the token is not from a CI issuer this server trusts")?;
        let audience = audience.trim_end_matches('/');
        let with_slash = format!("{audience}/");
        let claims = keys.decode(
            token,
            &[audience, with_slash.as_str()],
            now_ms,
            "the CI job's token",
        )?;
        CiJob::from_claims(forge, &claims)
    }
}

/// The `iss` a JWT's payload says, read before anything is verified (only to pick the keys
/// that verify it).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["iss"].as_str().map(str::to_string)
}
