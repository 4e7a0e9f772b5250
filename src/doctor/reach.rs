//! What the outside world sees: whether the public URL reaches this very installation, and
//! whether this machine's clock agrees with GitHub's or GitLab's.

use super::remotes::Known;
use super::{Check, Subject};
use crate::remote::agent as http;

/// Signatures with timestamps (Slack, Standard Webhooks) allow 5 minutes; a clock this far
/// off is already a problem.
const MAX_SKEW_SECS: i64 = 60;

pub(super) fn public_url(subject: &Subject, agent: &ureq::Agent) -> Option<Check> {
    let url = format!("{}/api/health", subject.public_url);
    let what = format!("public URL {}", subject.public_url);
    let Some(token) = &subject.api_token else {
        return Some(Check::fail(
            what,
            "not checked: there is no API token to check the answer with",
            "give --api-token, or run doctor on the server's data folder",
        ));
    };
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        return None;
    }
    let nonce = hex::encode(nonce);
    let sent = http::send(
        agent,
        "GET",
        &url,
        &[(http::PROBE_HEADER, nonce.as_str())],
        None,
        subject.clock.now_ms(),
    );
    Some(match sent {
        Err(e) => Check::fail(
            what,
            format!("could not be reached from here: {e}"),
            "GitHub and Slack post to this address: check DNS, the firewall and the proxy, or fix --public-url",
        ),
        Ok(reply) if reply.probe_answer.as_deref() == Some(&http::probe_answer(token, &nonce)) => {
            Check::pass(what, "reaches this installation")
        }
        Ok(reply) => Check::fail(
            what,
            format!(
                "reaches another server (it answered {} without this installation's answer to the probe)",
                reply.status
            ),
            "point --public-url (and the proxy in front) at this server: deliveries sent there do not arrive here",
        ),
    })
}

/// The skew against the `Date` of the first GitHub or GitLab API this installation talks to.
pub(super) fn clock(
    subject: &Subject,
    agent: &ureq::Agent,
    integrations: &[Known],
) -> Option<Check> {
    let base = integrations.iter().find_map(|k| k.api_base.clone())?;
    let host = crate::domain::hosts::host_of(&base).unwrap_or_default();
    let before = subject.clock.now_ms();
    let reply = match http::send(agent, "GET", &base, &[], None, before) {
        Ok(reply) => reply,
        Err(e) => {
            return Some(Check::fail(
                "clock",
                format!("not compared: {host} could not be reached: {e}"),
                "check the outbound network: commit statuses and Slack messages need it too",
            ));
        }
    };
    let after = subject.clock.now_ms();
    let Some(theirs) = reply.date.as_deref().and_then(http::parse_http_date) else {
        return Some(Check::fail(
            "clock",
            format!("not compared: {host} sent no Date"),
            "compare with `date -u` against a clock you trust",
        ));
    };
    let ours = (before + after) / 2 / 1000;
    let skew = ours - theirs.unix_timestamp();
    let found = match skew {
        0 => format!("agrees with {host}'s"),
        s if s > 0 => format!("{s} s ahead of {host}'s"),
        s => format!("{} s behind {host}'s", -s),
    };
    Some(if skew.abs() > MAX_SKEW_SECS {
        Check::fail(
            "clock",
            found,
            "signatures allow ±5 minutes: turn on time synchronisation (`timedatectl set-ntp true`)",
        )
    } else {
        Check::pass("clock", found)
    })
}
