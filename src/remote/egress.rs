//! The fence on outbound requests: every name is resolved here, the addresses inside a
//! network (`domain::egress`) are dropped unless the URL's origin is allowed
//! (`--egress-allow`), and the connection goes to what is left, the very addresses checked,
//! so a name cannot answer one address to the check and another to the connection. Nothing
//! left is a refusal that names the host and why, never the URL (a Slack webhook URL is a
//! credential).

use std::sync::Arc;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::domain::egress;
use crate::domain::hosts::AllowedHosts;

/// How a refusal by the fence begins (`remote::send` reads it as final, not worth a retry).
pub const REFUSED: &str = "refused by the egress fence: ";

/// A resolver that keeps only the addresses a request may reach.
#[derive(Debug)]
pub struct FencedResolver {
    pub allowed: Arc<AllowedHosts>,
    inner: DefaultResolver,
}

impl FencedResolver {
    pub fn new(allowed: Arc<AllowedHosts>) -> FencedResolver {
        FencedResolver {
            allowed,
            inner: DefaultResolver::default(),
        }
    }
}

impl Resolver for FencedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
        let (scheme, host) = (
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.as_str()).unwrap_or_default(),
        );
        // The origin as an admin writes it: `https://ghe.corp:8443`, `http://127.0.0.1`.
        let host = host.rsplit('@').next().unwrap_or_default();
        if self.allowed.may_reach_inside(&format!("{scheme}://{host}")) {
            return Ok(resolved);
        }
        let mut kept = self.inner.empty();
        let mut why = None;
        for &address in resolved.iter() {
            match egress::fenced(address.ip()) {
                Some(reason) => why = why.or(Some((address.ip(), reason))),
                None => kept.push(address),
            }
        }
        if !kept.is_empty() {
            return Ok(kept);
        }
        let (ip, reason) = why.ok_or(ureq::Error::HostNotFound)?;
        let origin = format!("{scheme}://{}", host.to_ascii_lowercase());
        Err(ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{REFUSED}{host} is {reason} ({ip}); an admin may allow it with --egress-allow {origin}",
                host = host.to_ascii_lowercase()
            ),
        )))
    }
}
