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

/// What discovery says of a sign-in's endpoints (OpenID Connect Discovery 1.0, section 3).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
}

/// The provider, and its keys.
pub struct Provider {
    settings: SsoSettings,
    agent: ureq::Agent,
    keys: IssuerKeys,
}

/// An issuer and what was fetched from it: discovery once, the keys again when a token names
/// one that is not known (the issuer rotated them). Checks tokens it signed: the sign-in's ID
/// tokens, and the tokens CI jobs are given (`ci_oidc`).
pub struct IssuerKeys {
    issuer: String,
    agent: ureq::Agent,
    /// The discovery document, and the keys at its `jwks_uri`.
    fetched: Mutex<Option<(Value, JwkSet)>>,
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

impl IssuerKeys {
    /// `issuer` without its trailing slash (checked by `sso::check_issuer`).
    pub fn new(issuer: &str, agent: ureq::Agent) -> IssuerKeys {
        IssuerKeys {
            issuer: issuer.trim_end_matches('/').to_string(),
            agent,
            fetched: Mutex::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
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

    fn discover(&self) -> Result<Value, Refusal> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let meta = self.get_json(&url, "discovery document")?;
        // Discovery 4.3: the document must be for the issuer it was asked of.
        let said = meta["issuer"].as_str().unwrap_or_default();
        if said.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "the discovery document is for `{said}`, not `{}`",
                self.issuer
            ));
        }
        Ok(meta)
    }

    fn keys(&self, meta: &Value) -> Result<JwkSet, Refusal> {
        let uri = meta["jwks_uri"]
            .as_str()
            .ok_or("the identity provider's discovery document names no jwks_uri")?;
        serde_json::from_value(self.get_json(uri, "keys (JWKS)")?)
            .map_err(|e| format!("the identity provider's keys (JWKS): {e}"))
    }

    /// Discovery and keys, fetched once (the keys again with `refresh`).
    fn fetched(&self, refresh: bool) -> Result<(Value, JwkSet), Refusal> {
        let mut fetched = self.fetched.lock().expect("issuer lock");
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

    /// The discovery document (fetched once).
    pub fn discovery(&self) -> Result<Value, Refusal> {
        Ok(self.fetched(false)?.0)
    }

    /// The claims of `token` (called `what` in refusals: "the ID token"), once its RS256
    /// signature verifies with one of the issuer's keys, it is from this issuer, for one of
    /// `audiences`, and not expired by `now_ms` (a minute of leeway).
    pub fn decode(
        &self,
        token: &str,
        audiences: &[&str],
        now_ms: i64,
        what: &str,
    ) -> Result<Value, Refusal> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| format!("{what} cannot be read"))?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("{what} is signed with {:?}, not RS256", header.alg));
        }
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None => keys.keys.first().cloned(),
        };
        let (_, keys) = self.fetched(false)?;
        let jwk = match find(&keys) {
            Some(jwk) => jwk,
            None => find(&self.fetched(true)?.1).ok_or_else(|| {
                format!("{what} is signed with a key the identity provider does not list")
            })?,
        };
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| "the identity provider lists a key that cannot be used".to_string())?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // `exp` is checked below against the server's clock (which tests can move).
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => format!("{what}'s signature does not verify"),
                ErrorKind::InvalidIssuer => format!("{what} is from another issuer"),
                ErrorKind::InvalidAudience => format!("{what} is for another audience"),
                ErrorKind::MissingRequiredClaim(_) => format!("{what} lacks a required claim"),
                _ => format!("{what} is not valid"),
            }
        })?;
        let exp = data.claims["exp"].as_i64().unwrap_or(0);
        // A minute of leeway for clocks that disagree a little.
        if exp * 1000 + 60_000 < now_ms {
            return Err(format!("{what} has expired"));
        }
        Ok(data.claims)
    }
}

impl Provider {
    pub fn new(settings: SsoSettings, agent: ureq::Agent) -> Provider {
        Provider {
            keys: IssuerKeys::new(&settings.issuer, agent.clone()),
            settings,
            agent,
        }
    }

    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }

    /// What discovery says of the provider's endpoints.
    fn metadata(&self) -> Result<Metadata, Refusal> {
        serde_json::from_value(self.keys.discovery()?)
            .map_err(|e| format!("the identity provider's discovery document: {e}"))
    }

    /// Where to send the browser to sign in.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        let meta = self.metadata()?;
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
        let meta = self.metadata()?;
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
    /// this client as the audience, not expired by our clock (see [`IssuerKeys::decode`]), and
    /// the nonce of this sign-in.
    fn check_id_token(&self, token: &str, nonce: &str, now_ms: i64) -> Result<Identity, Refusal> {
        let claims =
            self.keys
                .decode(token, &[&self.settings.client_id], now_ms, "the ID token")?;
        let claims: Claims = serde_json::from_value(claims)
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
