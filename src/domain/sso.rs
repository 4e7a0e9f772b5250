//! Single sign-on for the pages with OpenID Connect: who may sign in and with which role, and
//! the session cookie that follows. The provider is spoken to in [`crate::remote::oidc`], the
//! browser's round trip is `api::sso`; sessions are kept in storage (`db::sessions`), so a
//! sign-out or a revocation ends one at once, on every node.

use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::domain::access::Scope;

/// The session cookie: an opaque random value, kept in storage only as a hash.
pub const COOKIE: &str = "provenant_session";
/// The session cookie's name over https: browsers take a `__Host-` cookie only when it is
/// Secure, for `/` and for this host alone, so no other host (a sibling subdomain) can set
/// or shadow it.
pub const HOST_COOKIE: &str = "__Host-provenant_session";

/// How a signed-in person is named: their verified e-mail address, else the provider's subject.
pub fn person_name(verified_email: &str, subject: &str) -> String {
    if verified_email.is_empty() {
        format!("sub:{subject}")
    } else {
        verified_email.to_string()
    }
}

/// The session cookie's name for pages served over https or not.
pub fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE } else { COOKIE }
}
/// The `state` of a sign-in under way, so that only the browser that started it can finish
/// it (a link to the callback sent to someone else signs nobody in).
pub const STATE_COOKIE: &str = "provenant_sso_state";
/// How long a sign-in may stay at the provider.
pub const SIGN_IN_TTL_MS: i64 = 10 * 60 * 1000;
/// The header the pages send their CSRF token in, with every change.
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Email(String),
    Domain(String),
    Group(String),
}

/// One `--oidc-allowed` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub who: Who,
    pub role: Scope,
}

#[derive(Debug, Clone)]
pub struct SsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub allowed: Vec<Allowed>,
    /// A session ends after this long without a request…
    pub idle: Duration,
    /// …and after this long in any case.
    pub lifetime: Duration,
}

/// An issuer URL without its trailing slash: https, or http on a loopback address (a
/// provider on the same machine, as in tests), never with a query or a fragment.
pub fn check_issuer(issuer: &str) -> Result<String, String> {
    let issuer = issuer.trim_end_matches('/');
    let host = crate::domain::hosts::host_of(issuer)
        .ok_or_else(|| format!("`{issuer}` is not an http(s) URL"))?;
    let loopback = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|h| host == *h || host.starts_with(&format!("{h}:")));
    let https = issuer.starts_with("https://");
    let local_http = issuer.starts_with("http://") && loopback;
    if !(https || local_http) {
        return Err(format!(
            "`{issuer}` must be https (plain http only on a loopback address)"
        ));
    }
    if issuer.contains(['?', '#']) {
        return Err(format!("`{issuer}` has a query or a fragment"));
    }
    Ok(issuer.to_string())
}

/// `who=role` items: an e-mail address, an `@domain` or `group:NAME`; `read`, `write` or
/// `admin`.
pub fn parse_allowed(items: &[String]) -> Result<Vec<Allowed>, String> {
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (who, role) = item
                .rsplit_once('=')
                .ok_or_else(|| format!("`{item}`: write who=role, e.g. `@example.com=read`"))?;
            let role = match role.trim() {
                "read" => Scope::Read,
                "write" => Scope::Write,
                "admin" => Scope::Admin,
                other => {
                    return Err(format!(
                        "`{item}`: the role `{other}` is not read, write or admin"
                    ));
                }
            };
            let who = who.trim();
            let who = if let Some(group) = who.strip_prefix("group:") {
                Who::Group(group.to_string())
            } else if let Some(domain) = who.strip_prefix('@') {
                Who::Domain(domain.to_ascii_lowercase())
            } else if who.contains('@') {
                Who::Email(who.to_ascii_lowercase())
            } else {
                return Err(format!(
                    "`{item}`: `{who}` is not an e-mail address, an @domain or group:NAME"
                ));
            };
            if matches!(&who, Who::Group(g) | Who::Domain(g) if g.is_empty()) {
                return Err(format!("`{item}`: the group or domain is empty"));
            }
            Ok(Allowed { who, role })
        })
        .collect()
}

/// Who the provider says signed in.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The provider's `sub`: who the person is when no verified e-mail names them.
    pub subject: String,
    pub email: Option<String>,
    /// `email_verified`; a provider that leaves the claim out has not verified it.
    pub email_verified: bool,
    pub groups: Vec<String>,
}

/// The strongest role any rule gives this person; None: not allowed. An e-mail address the
/// provider has not verified matches no address or domain rule.
pub fn role_of(allowed: &[Allowed], who: &Identity) -> Option<Scope> {
    let email = who
        .email
        .as_deref()
        .filter(|_| who.email_verified)
        .map(str::to_ascii_lowercase);
    allowed
        .iter()
        .filter(|rule| match &rule.who {
            Who::Email(address) => email.as_deref() == Some(address.as_str()),
            Who::Domain(domain) => email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| d == domain),
            Who::Group(group) => who.groups.iter().any(|g| g == group),
        })
        .map(|rule| rule.role)
        .max()
}

/// The CSRF token of a session: derived from its cookie value, so a page that was given it
/// can send it back, a site that only makes the browser send the cookie cannot, and nothing
/// more needs storing.
pub fn csrf_token(session_value: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(session_value.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"provenant csrf");
    hex::encode(mac.finalize().into_bytes())
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str, verified: bool, groups: &[&str]) -> Identity {
        Identity {
            subject: "subject-1".into(),
            email: Some(email.into()),
            email_verified: verified,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_strongest_matching_rule_gives_the_role() {
        let rules = parse_allowed(&[
            "@example.com=read".into(),
            "ops@example.com=admin".into(),
            "group:deployers=write".into(),
        ])
        .expect("rules");
        assert_eq!(
            role_of(&rules, &person("Ann@Example.com", true, &[])),
            Some(Scope::Read)
        );
        assert_eq!(
            role_of(&rules, &person("ops@example.com", true, &[])),
            Some(Scope::Admin)
        );
        assert_eq!(
            role_of(&rules, &person("x@other.org", true, &["deployers"])),
            Some(Scope::Write)
        );
        assert_eq!(role_of(&rules, &person("x@other.org", true, &[])), None);
        // An unverified address matches no address rule; a group still counts.
        assert_eq!(
            role_of(&rules, &person("ops@example.com", false, &[])),
            None
        );
        // A domain is the part after the last @, not a suffix.
        assert_eq!(
            role_of(&rules, &person("eve@evilexample.com", true, &[])),
            None
        );
    }

    #[test]
    fn rules_that_cannot_be_read_are_named() {
        for bad in [
            "example.com=read",
            "@example.com",
            "a@b.c=root",
            "group:=read",
        ] {
            assert!(parse_allowed(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuers_are_https_or_loopback() {
        assert_eq!(
            check_issuer("https://id.example.com/").as_deref(),
            Ok("https://id.example.com")
        );
        assert!(check_issuer("http://127.0.0.1:8080").is_ok());
        assert!(check_issuer("http://id.example.com").is_err());
        assert!(check_issuer("https://id.example.com/?x=1").is_err());
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(
            cookie_value("a=1; provenant_session=xyz", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("provenant_session_x=1", COOKIE), None);
        assert_ne!(csrf_token("a"), csrf_token("b"));
    }
}
