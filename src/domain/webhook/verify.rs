//! Signature checks on the raw body bytes, before anything is parsed or stored.
//!
//! Pure functions: the secret, the headers, the body and the clock come in; a precise reason
//! comes out. Every comparison is constant-time. Messages name the header at fault but never
//! contain the expected value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use poem::http::HeaderMap;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::model::IntegrationType;

/// Standard Webhooks: timestamps further than this from now are refused (replay protection).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing signature: send {0}")]
    Missing(&'static str),
    #[error("{0} is malformed")]
    Malformed(&'static str),
    #[error("{0} does not match the body and the integration's secret")]
    Mismatch(&'static str),
    #[error("{0} is more than 5 minutes away from the server's clock")]
    Expired(&'static str),
}

/// A secret that never prints itself.
pub struct Secret<'a>(pub &'a str);

impl std::fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

pub fn verify(
    kind: IntegrationType,
    secret: &Secret<'_>,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let has_standard = headers.contains_key("webhook-signature");
    match kind {
        IntegrationType::Github => verify_hub_signature(secret, headers, body),
        IntegrationType::Gitlab if has_standard => {
            verify_standard_webhooks(secret, headers, body, now_secs)
        }
        IntegrationType::Gitlab => verify_gitlab_token(secret, headers),
        IntegrationType::Slack => verify_slack(secret, headers, body, now_secs),
        IntegrationType::Webhook => {
            if !has_standard && headers.contains_key("x-hub-signature-256") {
                verify_hub_signature(secret, headers, body)
            } else if has_standard {
                verify_standard_webhooks(secret, headers, body, now_secs)
            } else {
                Err(VerifyError::Missing(
                    "webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks) or X-Hub-Signature-256",
                ))
            }
        }
    }
}

/// Which scheme [`verify`] checks for these headers, as people name it (for the decision
/// trace of a delivery that passed).
pub fn scheme(kind: IntegrationType, headers: &HeaderMap) -> &'static str {
    let has_standard = headers.contains_key("webhook-signature");
    let hub = if headers.contains_key("x-hub-signature-256") {
        "X-Hub-Signature-256 (HMAC-SHA256)"
    } else {
        "X-Hub-Signature (HMAC-SHA1)"
    };
    match kind {
        IntegrationType::Github => hub,
        IntegrationType::Gitlab if has_standard => "Standard Webhooks signature",
        IntegrationType::Gitlab => "X-Gitlab-Token",
        IntegrationType::Slack => "X-Slack-Signature",
        IntegrationType::Webhook if has_standard => "Standard Webhooks signature",
        IntegrationType::Webhook => hub,
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex>`, or the legacy `X-Hub-Signature: sha1=<hex>`
/// only when the SHA-256 header is absent.
pub fn verify_hub_signature(
    secret: &Secret<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    const H256: &str = "X-Hub-Signature-256";
    const H1: &str = "X-Hub-Signature";
    if let Some(value) = header(headers, H256) {
        let hex_sig = value
            .trim()
            .strip_prefix("sha256=")
            .ok_or(VerifyError::Malformed(H256))?;
        let sig = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed(H256))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
            .map_err(|_| VerifyError::Mismatch(H256))?;
        mac.update(body);
        return mac
            .verify_slice(&sig)
            .map_err(|_| VerifyError::Mismatch(H256));
    }
    if let Some(value) = header(headers, H1) {
        let hex_sig = value
            .trim()
            .strip_prefix("sha1=")
            .ok_or(VerifyError::Malformed(H1))?;
        let sig = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed(H1))?;
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.0.as_bytes())
            .map_err(|_| VerifyError::Mismatch(H1))?;
        mac.update(body);
        return mac
            .verify_slice(&sig)
            .map_err(|_| VerifyError::Mismatch(H1));
    }
    Err(VerifyError::Missing("X-Hub-Signature-256"))
}

/// GitLab's classic secret token: `X-Gitlab-Token` equal to the secret.
pub fn verify_gitlab_token(secret: &Secret<'_>, headers: &HeaderMap) -> Result<(), VerifyError> {
    const NAME: &str = "X-Gitlab-Token";
    let token = header(headers, NAME).ok_or(VerifyError::Missing(NAME))?;
    if bool::from(token.as_bytes().ct_eq(secret.0.as_bytes())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch(NAME))
    }
}

/// Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`,
/// possibly several space-separated signatures (key rotation); any one matching is enough.
pub fn verify_standard_webhooks(
    secret: &Secret<'_>,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    const SIG: &str = "webhook-signature";
    let id = header(headers, "webhook-id").ok_or(VerifyError::Missing("webhook-id"))?;
    let ts_text =
        header(headers, "webhook-timestamp").ok_or(VerifyError::Missing("webhook-timestamp"))?;
    let signatures = header(headers, SIG).ok_or(VerifyError::Missing(SIG))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed("webhook-timestamp"))?;
    if (now_secs - ts).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::Expired("webhook-timestamp"));
    }
    let key = standard_webhooks_key(secret.0);
    let expected = standard_webhooks_mac(&key, id, ts_text.trim(), body);

    let mut matched = false;
    let mut any_v1 = false;
    for candidate in signatures.split_whitespace() {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue;
        };
        any_v1 = true;
        if let Ok(sig) = BASE64.decode(b64) {
            // Keep looping either way, so the time taken does not tell which one matched.
            matched |= bool::from(sig.as_slice().ct_eq(expected.as_slice()));
        }
    }
    match (matched, any_v1) {
        (true, _) => Ok(()),
        (false, false) => Err(VerifyError::Malformed(SIG)),
        (false, true) => Err(VerifyError::Mismatch(SIG)),
    }
}

/// The Standard Webhooks MAC of `body` sent as message `id` at `timestamp` (seconds, as the
/// header carries it): HMAC-SHA256 of `{id}.{timestamp}.{body}` under `key`. Checked on
/// deliveries here, and signed with for HTTP runners.
pub fn standard_webhooks_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value for `body` sent as message `id` at `timestamp`: `v1,` and
/// the base64 of its [`standard_webhooks_mac`].
pub fn standard_webhooks_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = standard_webhooks_mac(key, id, &timestamp.to_string(), body);
    format!("v1,{}", BASE64.encode(mac))
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{body}")>` with
/// `X-Slack-Request-Timestamp` within 5 minutes of now.
pub fn verify_slack(
    secret: &Secret<'_>,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    const SIG: &str = "X-Slack-Signature";
    const TS: &str = "X-Slack-Request-Timestamp";
    let signature = header(headers, SIG).ok_or(VerifyError::Missing(SIG))?;
    let ts_text = header(headers, TS).ok_or(VerifyError::Missing(TS))?.trim();
    let ts: i64 = ts_text.parse().map_err(|_| VerifyError::Malformed(TS))?;
    if (now_secs - ts).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::Expired(TS));
    }
    let hex_sig = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(VerifyError::Malformed(SIG))?;
    let sig = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed(SIG))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
        .map_err(|_| VerifyError::Mismatch(SIG))?;
    mac.update(b"v0:");
    mac.update(ts_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| VerifyError::Mismatch(SIG))
}

/// `whsec_<base64>` keys are used decoded, as the specification says; any other secret is
/// used as its bytes.
fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| BASE64.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        map
    }

    // GitHub's documented example ("Validating webhook deliveries").
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_vector_verifies() {
        let h = headers(&[("x-hub-signature-256", GH_SIG)]);
        assert_eq!(
            verify_hub_signature(&Secret(GH_SECRET), &h, GH_BODY),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_secret_fails() {
        let h = headers(&[("x-hub-signature-256", GH_SIG)]);
        assert_eq!(
            verify_hub_signature(&Secret(GH_SECRET), &h, b"Hello, World?"),
            Err(VerifyError::Mismatch("X-Hub-Signature-256"))
        );
        assert_eq!(
            verify_hub_signature(&Secret("other"), &h, GH_BODY),
            Err(VerifyError::Mismatch("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn sha1_is_used_only_without_the_sha256_header() {
        let mut mac = Hmac::<Sha1>::new_from_slice(GH_SECRET.as_bytes()).expect("key");
        mac.update(GH_BODY);
        let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
        let only_sha1 = headers(&[("x-hub-signature", &sha1)]);
        assert_eq!(
            verify_hub_signature(&Secret(GH_SECRET), &only_sha1, GH_BODY),
            Ok(())
        );
        // A bad SHA-256 signature is not rescued by a good SHA-1 one.
        let both = headers(&[
            ("x-hub-signature", &sha1),
            ("x-hub-signature-256", "sha256=00"),
        ]);
        assert!(verify_hub_signature(&Secret(GH_SECRET), &both, GH_BODY).is_err());
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        assert_eq!(
            verify_hub_signature(&Secret(GH_SECRET), &HeaderMap::new(), GH_BODY),
            Err(VerifyError::Missing("X-Hub-Signature-256"))
        );
        let h = headers(&[("x-hub-signature-256", "md5=abc")]);
        assert_eq!(
            verify_hub_signature(&Secret(GH_SECRET), &h, GH_BODY),
            Err(VerifyError::Malformed("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn gitlab_token_must_equal_the_secret() {
        let good = headers(&[("x-gitlab-token", "s3cret")]);
        let bad = headers(&[("x-gitlab-token", "s3cret2")]);
        assert_eq!(verify_gitlab_token(&Secret("s3cret"), &good), Ok(()));
        assert_eq!(
            verify_gitlab_token(&Secret("s3cret"), &bad),
            Err(VerifyError::Mismatch("X-Gitlab-Token"))
        );
    }

    // The Standard Webhooks reference vector (from the specification's test suite).
    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TS: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn sw_headers(sig: &str) -> HeaderMap {
        headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &SW_TS.to_string()),
            ("webhook-signature", sig),
        ])
    }

    #[test]
    fn signing_gives_the_reference_vectors_signature() {
        let key = standard_webhooks_key(SW_SECRET);
        assert_eq!(
            standard_webhooks_signature(&key, SW_ID, SW_TS, SW_BODY),
            SW_SIG
        );
    }

    #[test]
    fn standard_webhooks_reference_vector_verifies_with_an_injected_clock() {
        let h = sw_headers(SW_SIG);
        assert_eq!(
            verify_standard_webhooks(&Secret(SW_SECRET), &h, SW_BODY, SW_TS + 10),
            Ok(())
        );
    }

    #[test]
    fn standard_webhooks_rejects_tampering_and_old_timestamps() {
        let h = sw_headers(SW_SIG);
        assert_eq!(
            verify_standard_webhooks(&Secret(SW_SECRET), &h, br#"{"test": 1}"#, SW_TS),
            Err(VerifyError::Mismatch("webhook-signature"))
        );
        assert_eq!(
            verify_standard_webhooks(&Secret(SW_SECRET), &h, SW_BODY, SW_TS + 301),
            Err(VerifyError::Expired("webhook-timestamp"))
        );
        assert_eq!(
            verify_standard_webhooks(&Secret(SW_SECRET), &h, SW_BODY, SW_TS - 301),
            Err(VerifyError::Expired("webhook-timestamp"))
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let rotated = format!("v1,bm9wZQ== {SW_SIG}");
        let h = sw_headers(&rotated);
        assert_eq!(
            verify_standard_webhooks(&Secret(SW_SECRET), &h, SW_BODY, SW_TS),
            Ok(())
        );
    }

    // Slack's documented example ("Verifying requests from Slack").
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: i64 = 1531420618;
    const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack_headers(sig: &str, ts: i64) -> HeaderMap {
        headers(&[
            ("x-slack-signature", sig),
            ("x-slack-request-timestamp", &ts.to_string()),
        ])
    }

    #[test]
    fn slacks_documented_vector_verifies_with_an_injected_clock() {
        let h = slack_headers(SLACK_SIG, SLACK_TS);
        assert_eq!(
            verify_slack(&Secret(SLACK_SECRET), &h, SLACK_BODY, SLACK_TS + 60),
            Ok(())
        );
    }

    #[test]
    fn slack_refuses_tampering_old_timestamps_and_missing_headers() {
        let h = slack_headers(SLACK_SIG, SLACK_TS);
        assert_eq!(
            verify_slack(&Secret(SLACK_SECRET), &h, b"token=other", SLACK_TS),
            Err(VerifyError::Mismatch("X-Slack-Signature"))
        );
        assert_eq!(
            verify_slack(&Secret(SLACK_SECRET), &h, SLACK_BODY, SLACK_TS + 301),
            Err(VerifyError::Expired("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            verify_slack(
                &Secret(SLACK_SECRET),
                &HeaderMap::new(),
                SLACK_BODY,
                SLACK_TS
            ),
            Err(VerifyError::Missing("X-Slack-Signature"))
        );
        let moved = slack_headers(SLACK_SIG, SLACK_TS + 1);
        assert_eq!(
            verify_slack(&Secret(SLACK_SECRET), &moved, SLACK_BODY, SLACK_TS),
            Err(VerifyError::Mismatch("X-Slack-Signature")),
            "the timestamp is signed too"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret("hunter2")), "[redacted]");
    }
}
