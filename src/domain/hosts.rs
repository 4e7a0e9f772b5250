//! Which hosts credentials may travel to and whose answers may be kept: the public API hosts,
//! the hosts an admin lists (`--egress-allow`), and the hosts a secret was stored for.
//! A credential travels only over https: an entry is an origin (`https://ghe.corp:8443`), and
//! a bare host (`ghe.corp`) means https. Plain `http://` is allowed only to an origin listed
//! as such (`http://127.0.0.1` for a test stand-in, `http://ghe.lab:8080` for a lab). Pure: no
//! storage here.

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

/// The scheme of an absolute URL, lower-case.
pub fn scheme_of(url: &str) -> Option<String> {
    url.split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
}

/// An entry's scheme (`https` for a bare host) and its `host[:port]`.
fn entry_parts(entry: &str) -> (String, &str) {
    match entry.split_once("://") {
        Some((scheme, host)) => (scheme.to_ascii_lowercase(), host.trim_end_matches('/')),
        None => ("https".to_string(), entry),
    }
}

/// Whether `url` is at an origin `list` names: its scheme (https for a bare entry), its host,
/// and its port when the entry names one.
pub fn origin_listed<S: AsRef<str>>(list: &[S], url: &str) -> bool {
    let (Some(scheme), Some(host)) = (scheme_of(url), host_of(url)) else {
        return false;
    };
    list.iter().any(|entry| {
        let (entry_scheme, entry_host) = entry_parts(entry.as_ref());
        entry_scheme == scheme && listed(&[entry_host], &host)
    })
}

/// Whether an entry (`host[:port]`, or `http(s)://host[:port]`) is well formed (see
/// [`ApiHost`](crate::domain::checked::ApiHost) and [`ApiOrigin`](crate::domain::checked::ApiOrigin)).
pub fn is_valid_entry(entry: &str) -> bool {
    crate::domain::checked::ApiOrigin::parse(entry).is_some_and(|h| h.as_str() == entry)
}

/// The hosts whose answers are kept and shown: `--egress-allow` (the public API hosts by
/// default) and the `api_url` hosts configured before answers were hidden (schema version 5).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> Self {
        AllowedHosts(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect())
    }

    /// Whether what the remote at `url` answers may be kept and shown: its host is listed
    /// (bare or as `https://`), whatever the URL's scheme. An `http://` entry only lets
    /// credentials travel in clear text there; list the host too to show its answers.
    pub fn shows(&self, url: &str) -> bool {
        let hosts: Vec<&str> = self
            .0
            .iter()
            .map(|e| entry_parts(e))
            .filter(|(scheme, _)| scheme == "https")
            .map(|(_, host)| host)
            .collect();
        host_of(url).is_some_and(|host| listed(&hosts, &host))
    }

    /// Whether a request to `url` may go to an address inside a network (loopback, private,
    /// link-local: see `domain::egress`): its origin is listed (a bare host or `https://…` for
    /// https, `http://…` for plain http).
    pub fn may_reach_inside(&self, url: &str) -> bool {
        origin_listed(&self.0, url)
    }

    /// These hosts and `entry` too (an origin, or a bare host for https).
    pub fn with(&self, entry: &str) -> AllowedHosts {
        let mut hosts = self.0.clone();
        hosts.push(entry.to_ascii_lowercase());
        AllowedHosts(hosts)
    }

    /// Whether a credential may travel to `url`: over https, or over plain http to an origin
    /// listed as `http://host[:port]`.
    pub fn credentials_may_go_to(&self, url: &str) -> bool {
        match scheme_of(url).as_deref() {
            Some("https") => true,
            Some("http") => origin_listed(&self.0, url),
            _ => false,
        }
    }
}

/// Whether a secret's value may go to `url`: over https to a public API host or a host it was
/// stored for; over plain http only to an origin it was stored for as `http://host[:port]`.
pub fn secret_may_go_to(stored_for: &[String], url: &str) -> bool {
    let public = scheme_of(url).as_deref() == Some("https")
        && host_of(url).is_some_and(|host| listed(PUBLIC_API_HOSTS, &host));
    public || origin_listed(stored_for, url)
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
        assert!(secret_may_go_to(&[], "https://api.github.com/repos"));
        assert!(!secret_may_go_to(&[], "https://evil.example"));
        assert!(is_valid_entry("ghe.corp:8443") && is_valid_entry("[::1]:80"));
        assert!(is_valid_entry("http://127.0.0.1") && is_valid_entry("https://ghe.corp:8443"));
        assert!(!is_valid_entry("ftp://ghe.corp") && !is_valid_entry("http://ghe.corp/api"));
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

    #[test]
    fn credentials_travel_over_plain_http_only_to_origins_listed_as_such() {
        let stored_for = vec!["ghe.corp".to_string(), "http://lab.corp:8080".to_string()];
        assert!(
            !secret_may_go_to(&[], "http://api.github.com/repos"),
            "never the public API over http"
        );
        assert!(secret_may_go_to(&stored_for, "https://ghe.corp/api/v3"));
        assert!(
            !secret_may_go_to(&stored_for, "http://ghe.corp/api/v3"),
            "a bare host is https"
        );
        assert!(secret_may_go_to(&stored_for, "http://lab.corp:8080/api/v3"));
        assert!(
            !secret_may_go_to(&stored_for, "http://lab.corp:9090/api/v3"),
            "another port"
        );
        assert!(
            !secret_may_go_to(&stored_for, "https://lab.corp:8080/api/v3"),
            "another scheme"
        );

        let allowed = AllowedHosts::new(["127.0.0.1".to_string(), "http://stand.in".to_string()]);
        assert!(allowed.credentials_may_go_to("https://anywhere.example/x"));
        assert!(
            !allowed.credentials_may_go_to("http://127.0.0.1:4555/x"),
            "listed for https"
        );
        assert!(allowed.credentials_may_go_to("http://stand.in:4555/x"));
        assert!(!allowed.credentials_may_go_to("ftp://stand.in/x"));
        assert!(allowed.shows("http://127.0.0.1:4555/x") && allowed.shows("https://127.0.0.1/x"));
        assert!(
            !allowed.shows("http://stand.in:4555/x"),
            "listed for plain http only"
        );
    }
}
