//! Which hosts credentials may travel to and whose answers may be kept: the public API hosts,
//! the hosts an admin lists (`--allowed-api-hosts`), and the hosts a secret was stored for.
//! Pure: no storage here.

/// GitHub's, GitLab's and Slack's public API hosts: credentials may always go there.
pub const PUBLIC_API_HOSTS: &[&str] = &[
    "api.github.com",
    "gitlab.com",
    "slack.com",
    "hooks.slack.com",
];

/// `host[:port]` of an absolute URL, lower-case, without `user:password@`; None when the text
/// has no `scheme://host`.
pub fn host_of(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `scheme://host[:port]` of an absolute URL, lower-case, without `user:password@`.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host_of(url)?
    ))
}

/// A host and its port, if it names one (`[::1]:8080` → `[::1]`, `8080`).
fn split_port(host: &str) -> (&str, Option<&str>) {
    let bracket_end = host.rfind(']').unwrap_or(0);
    match host.rfind(':') {
        Some(i) if i > bracket_end && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&host[..i], Some(&host[i + 1..]))
        }
        _ => (host, None),
    }
}

/// Whether `host` (`host[:port]`) is in `list`: an entry without a port takes every port of
/// its host, one with a port only that port.
pub fn listed<S: AsRef<str>>(list: &[S], host: &str) -> bool {
    let (name, port) = split_port(host);
    list.iter().any(|entry| {
        let entry = entry.as_ref();
        let (entry_name, entry_port) = split_port(entry);
        entry_name.eq_ignore_ascii_case(name) && (entry_port.is_none() || entry_port == port)
    })
}

/// Whether a `host[:port]` entry is well formed (see [`ApiHost`](crate::checked::ApiHost)).
pub fn is_valid_entry(entry: &str) -> bool {
    crate::checked::ApiHost::parse(entry).is_some_and(|h| h.as_str() == entry)
}

/// The hosts whose answers are kept and shown: `--allowed-api-hosts` (the public API hosts by
/// default) and the `api_url` hosts configured before answers were hidden (schema version 5).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> Self {
        AllowedHosts(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect())
    }

    /// Whether what the remote at `url` answers may be kept and shown.
    pub fn shows(&self, url: &str) -> bool {
        host_of(url).is_some_and(|host| listed(&self.0, &host))
    }
}

/// Whether a secret's value may go to `host`: a public API host, or one it was stored for.
pub fn secret_may_go_to(stored_for: &[String], host: &str) -> bool {
    listed(PUBLIC_API_HOSTS, host) || listed(stored_for, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_without_credentials_and_matched_by_port_when_given() {
        assert_eq!(
            host_of("https://User:pw@GHE.example:8443/api/v3").as_deref(),
            Some("ghe.example:8443")
        );
        assert_eq!(
            host_of("https://api.github.com").as_deref(),
            Some("api.github.com")
        );
        assert_eq!(host_of("not a url"), None);
        assert_eq!(
            origin("HTTPS://a.example/x").as_deref(),
            Some("https://a.example")
        );
        assert!(listed(&["127.0.0.1"], "127.0.0.1:4555"));
        assert!(listed(&["ghe.example:8443"], "ghe.example:8443"));
        assert!(!listed(&["ghe.example:8443"], "ghe.example:9000"));
        assert!(!listed(&["ghe.example"], "evil.example"));
        assert!(listed(&["[::1]"], "[::1]:80"));
        assert!(secret_may_go_to(&[], "api.github.com"));
        assert!(!secret_may_go_to(&[], "evil.example"));
        assert!(is_valid_entry("ghe.corp:8443") && is_valid_entry("[::1]:80"));
        assert!(!is_valid_entry("ghe corp") && !is_valid_entry("a:99999") && !is_valid_entry(""));
    }

    #[test]
    fn answers_are_shown_only_for_listed_hosts() {
        let allowed = AllowedHosts::new(PUBLIC_API_HOSTS.iter().map(|h| h.to_string()));
        assert!(allowed.shows("https://api.github.com/repos/o/r"));
        assert!(allowed.shows("https://hooks.slack.com/services/T/B/x"));
        assert!(!allowed.shows("http://169.254.169.254/latest/meta-data"));
        assert!(!allowed.shows("https://api.github.com.evil.example/x"));
    }
}
