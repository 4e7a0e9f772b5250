//! An OpenID Connect provider, as the pages' single sign-on speaks to it: discovery, the
//! authorization request (code flow with PKCE S256, `state` and `nonce`), the code exchange
//! (client_secret_basic) and the ID token's check against the provider's JWKS with
//! `jsonwebtoken` (already built for GitHub Apps, on ring): signature, `iss`, `aud`, `exp`,
//! `nonce`. Blocking: callers run it on a blocking thread, over the one outbound agent.
//!
//! `openidconnect` would bring `oauth2`, `reqwest` and the `rsa` crate (RUSTSEC-2023-0071) as
//! a second HTTP client and a second RSA; the steps here are few and each is a spec section.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::sso::{Identity, SsoSettings};

/// What discovery says (OpenID Connect Discovery 1.0, section 3).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The provider and what was fetched from it: discovery once, the keys again when a token
/// names one that is not known (the provider rotated them).
pub struct Provider {
    settings: SsoSettings,
    agent: ureq::Agent,
    fetched: Mutex<Option<(Metadata, JwkSet)>>,
}

/// Why a sign-in did not get through, in words for the page that says so.
pub type Refusal = String;

/// RFC 7636 4.2: the S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Value>,
    #[serde(default)]
    groups: Option<Value>,
}

impl Provider {
    pub fn new(settings: SsoSettings, agent: ureq::Agent) -> Provider {
        Provider {
            settings,
            agent,
            fetched: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }

    fn get_json(&self, url: &str, what: &str) -> Result<Value, Refusal> {
        let reply = crate::remote::agent::send(
            &self.agent,
            "GET",
            url,
            &[("accept", "application/json")],
            None,
            0,
        )
        .map_err(|e| format!("the identity provider's {what} could not be read: {e}"))?;
        if reply.status != 200 {
            return Err(format!(
                "the identity provider's {what} answered {}",
                reply.status
            ));
        }
        serde_json::from_str(&reply.body)
            .map_err(|_| format!("the identity provider's {what} is not JSON"))
    }

    fn discover(&self) -> Result<Metadata, Refusal> {
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let meta: Metadata = serde_json::from_value(self.get_json(&url, "discovery document")?)
            .map_err(|e| format!("the identity provider's discovery document: {e}"))?;
        // Discovery 4.3: the document must be for the issuer it was asked of.
        if meta.issuer.trim_end_matches('/') != self.settings.issuer {
            return Err(format!(
                "the discovery document is for `{}`, not `{}`",
                meta.issuer, self.settings.issuer
            ));
        }
        Ok(meta)
    }

    fn keys(&self, meta: &Metadata) -> Result<JwkSet, Refusal> {
        serde_json::from_value(self.get_json(&meta.jwks_uri, "keys (JWKS)")?)
            .map_err(|e| format!("the identity provider's keys (JWKS): {e}"))
    }

    /// Discovery and keys, fetched once (again with `refresh`).
    fn fetched(&self, refresh: bool) -> Result<(Metadata, JwkSet), Refusal> {
        let mut fetched = self.fetched.lock().expect("provider lock");
        match fetched.as_mut() {
            Some((meta, keys)) if refresh => *keys = self.keys(meta)?,
            Some(_) => {}
            None => {
                let meta = self.discover()?;
                let keys = self.keys(&meta)?;
                *fetched = Some((meta, keys));
            }
        }
        Ok(fetched.clone().expect("fetched above"))
    }

    /// Where to send the browser to sign in.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        let (meta, _) = self.fetched(false)?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &challenge_of(verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let joiner = if meta.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{joiner}{query}", meta.authorization_endpoint))
    }

    /// Exchanges `code` and checks the ID token that comes back; who signed in.
    pub fn sign_in(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<Identity, Refusal> {
        let (meta, _) = self.fetched(false)?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier)
            .finish();
        // RFC 6749 2.3.1: both parts form-encoded, then joined for Basic.
        let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&self.settings.client_id),
            encode(&self.settings.client_secret)
        ));
        let authorization = format!("Basic {basic}");
        let reply = crate::remote::agent::send(
            &self.agent,
            "POST",
            &meta.token_endpoint,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
                ("authorization", &authorization),
            ],
            Some(form.as_bytes()),
            now_ms,
        )
        .map_err(|e| format!("the identity provider's token endpoint could not be reached: {e}"))?;
        if reply.status != 200 {
            // Its error code only: the description may repeat what was sent.
            let error = serde_json::from_str::<Value>(&reply.body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(format!(
                "the identity provider refused the sign-in code ({} {error})",
                reply.status
            ));
        }
        let answer: TokenAnswer = serde_json::from_str(&reply.body)
            .map_err(|_| "the identity provider's token answer is not JSON".to_string())?;
        let id_token = answer
            .id_token
            .ok_or("the identity provider sent no ID token")?;
        self.check_id_token(&id_token, nonce, now_ms)
    }

    /// OpenID Connect Core 3.1.3.7: the signature with one of the provider's keys, the issuer,
    /// this client as the audience, not expired by our clock, and the nonce of this sign-in.
    fn check_id_token(&self, token: &str, nonce: &str, now_ms: i64) -> Result<Identity, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the ID token cannot be read".to_string())?;
        if header.alg != Algorithm::RS256 {
            return Err(format!(
                "the ID token is signed with {:?}, not RS256",
                header.alg
            ));
        }
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None => keys.keys.first().cloned(),
        };
        let (meta, keys) = self.fetched(false)?;
        let jwk = match find(&keys) {
            Some(jwk) => jwk,
            None => find(&self.fetched(true)?.1)
                .ok_or("the ID token is signed with a key the identity provider does not list")?,
        };
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| "the identity provider lists a key that cannot be used".to_string())?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[meta.issuer.as_str()]);
        validation.set_audience(&[self.settings.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // `exp` is checked below against the server's clock (which tests can move).
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => "the ID token's signature does not verify",
                ErrorKind::InvalidIssuer => "the ID token is from another issuer",
                ErrorKind::InvalidAudience => "the ID token is for another client",
                ErrorKind::MissingRequiredClaim(_) => "the ID token lacks a required claim",
                _ => "the ID token is not valid",
            }
            .to_string()
        })?;
        let exp = data.claims["exp"].as_i64().unwrap_or(0);
        // A minute of leeway for clocks that disagree a little.
        if exp * 1000 + 60_000 < now_ms {
            return Err("the ID token has expired".into());
        }
        let claims: Claims = serde_json::from_value(data.claims)
            .map_err(|_| "the ID token's claims cannot be read".to_string())?;
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| subtle::ConstantTimeEq::ct_eq(n.as_bytes(), nonce.as_bytes()).into());
        if !nonce_matches {
            return Err("the ID token is not for this sign-in (its nonce differs)".into());
        }
        // A provider that leaves the claim out has not said the address is the person's.
        let email_verified = match claims.email_verified {
            None => false,
            Some(Value::Bool(b)) => b,
            // Some providers send it as a string.
            Some(Value::String(s)) => s == "true",
            Some(_) => false,
        };
        let groups = match claims.groups {
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(g)) => vec![g],
            _ => vec![],
        };
        Ok(Identity {
            subject: claims.sub,
            email: claims.email,
            email_verified,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
