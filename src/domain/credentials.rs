//! What in a config or a request is a credential, by meaning rather than by a fixed list of
//! names, and the stored form of an inline credential (`sealed:v1:…`). Pure: masking,
//! sealing and the receiver's header filter all read their rules from here.

/// Parts of a config key that make its value a credential, in any case and at any depth. The
/// seed page's rule (`secret`, `token`) is the first two.
const SENSITIVE_KEY_PARTS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "api-key",
    "passphrase",
    "pwd",
    "private_key",
    "credential",
    "auth",
];

/// Whether a config key's value is a credential (shown as `***`, sealed at rest).
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// Prefixes of values that are credentials whatever key holds them: GitHub's tokens (classic,
/// OAuth, user-to-server, server-to-server, refresh, fine-grained), GitLab's personal access
/// tokens, Slack's tokens (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxo-`, `xoxe-`),
/// Slack's incoming-webhook URLs, runners' callback tokens (`prv_run_`) and
/// Standard Webhooks signing secrets (`whsec_`).
const CREDENTIAL_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "xoxo-",
    "xoxe-",
    "prv_run_",
    "whsec_",
];

/// Slack's incoming-webhook URLs: whoever holds one can post to its channel.
pub const SLACK_WEBHOOK_PREFIX: &str = "https://hooks.slack.com/services/";

/// Whether a value has the shape of a known credential, whatever key holds it (a token pasted
/// under `notes`, a Slack webhook URL under `alerts_url`).
pub fn looks_like_credential(value: &str) -> bool {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    CREDENTIAL_PREFIXES
        .iter()
        .any(|prefix| lower.starts_with(prefix) && value.len() > prefix.len())
        || lower.starts_with(SLACK_WEBHOOK_PREFIX)
}

/// A key whose value is a URL that is itself a credential (a Slack incoming webhook): shown as
/// its host and first segment, sealed at rest.
pub fn is_url_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("webhook_url")
}

/// Whether a request header carries a credential or a signature: every `authorization`-like
/// header (any name with `auth`), cookies, API keys, and any `…-token`, `…-secret`,
/// `…-signature` (or a name that contains one of those words, such as `x-hub-signature-256`).
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("auth")
        || name.contains("cookie")
        || name.contains("token")
        || name.contains("secret")
        || name.contains("signature")
        || name.contains("password")
        || name.contains("api-key")
        || name.contains("apikey")
        || name.contains("api_key")
        || name.contains("credential")
}

/// The prefix of an inline credential as stored: `sealed:v1:<base64>` (a URL credential adds
/// `|` and its masked form, so lists can show it without opening it).
pub const SEALED_PREFIX: &str = "sealed:v1:";

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// The ciphertext (base64) of a sealed value and the masked form kept with it, if any.
pub fn sealed_parts(value: &str) -> Option<(&str, Option<&str>)> {
    let rest = value.strip_prefix(SEALED_PREFIX)?;
    Some(match rest.split_once('|') {
        Some((cipher, shown)) => (cipher, Some(shown)),
        None => (rest, None),
    })
}

/// `scheme://user:password@host/…` → `scheme://***@host/…`: the userinfo of a URL is a
/// credential wherever the URL appears. Anything else is returned as it is.
pub fn without_userinfo(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    Some(format!(
        "{scheme}://***@{}{}",
        &authority[at + 1..],
        &rest[authority_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_credentials_by_meaning_and_the_seed_rule_is_kept() {
        for key in [
            "token",
            "webhook_secret",
            "TOKEN",
            "password",
            "db_passwd",
            "apikey",
            "x_api_key",
            "private_key",
            "credentials",
            "auth",
            "basicAuth",
            "clientSecret",
            "bot_token",
            "api-key",
            "x-api-key",
            "passphrase",
            "db_pwd",
        ] {
            assert!(is_sensitive_key(key), "{key}");
        }
        for key in [
            "repo",
            "branch",
            "api_url",
            "channel",
            "events",
            "hook_id",
            "description",
        ] {
            assert!(!is_sensitive_key(key), "{key}");
        }
    }

    #[test]
    fn headers_are_credentials_by_meaning() {
        for name in [
            "authorization",
            "proxy-authorization",
            "cookie",
            "x-api-key",
            "x-auth-token",
            "x-webhook-token",
            "x-gitlab-token",
            "x-hub-signature-256",
            "webhook-signature",
            "x-slack-signature",
            "x-client-secret",
            "set-cookie",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in [
            "content-type",
            "x-github-event",
            "x-github-delivery",
            "webhook-id",
            "user-agent",
        ] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }

    #[test]
    fn userinfo_is_cut_from_urls() {
        assert_eq!(
            without_userinfo("https://bot:s3cret@ghe.example/api/v3").as_deref(),
            Some("https://***@ghe.example/api/v3")
        );
        assert_eq!(without_userinfo("https://ghe.example/a@b"), None);
        assert_eq!(without_userinfo("plain text"), None);
        assert_eq!(
            sealed_parts("sealed:v1:QUJD|https://h/x/…/***"),
            Some(("QUJD", Some("https://h/x/…/***")))
        );
    }

    #[test]
    fn values_shaped_like_known_credentials_are_credentials_whatever_their_key() {
        for value in [
            "ghp_0123456789abcdef",
            "github_pat_11ABCDEF",
            "glpat-abcdef012345",
            "xoxb-1-2-abc",
            "xoxp-123",
            "https://hooks.slack.com/services/T0/B0/secret",
            "  GHS_abc",
        ] {
            assert!(looks_like_credential(value), "{value}");
        }
        for value in [
            "ghp_",
            "main",
            "https://hooks.slack.com/",
            "https://api.github.com",
            "my-org/ghp_repo",
            "${secret:GITHUB_TOKEN}",
        ] {
            assert!(!looks_like_credential(value), "{value}");
        }
    }
}
