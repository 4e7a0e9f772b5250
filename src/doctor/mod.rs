//! `provenant doctor` and `GET /api/doctor`: checks an installation and says, line by line,
//! what is fine and what to do about what is not, before a failed delivery says it. It only
//! reads: nothing is migrated, created, sent or changed, and remote answers go through the
//! outbox's HTTP client and its redaction, so no credential appears in what it says.

mod installation;
mod reach;
mod remotes;

use std::path::PathBuf;
use std::sync::Arc;

use crate::base::clock::Clock;
use crate::db;
use crate::domain::hosts::AllowedHosts;
use crate::domain::secrets::SecretBox;
use crate::tls::certs::About;

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was looked at: `data folder`, `database`, `disk`, `TLS`, `public URL`, `clock`,
    /// or an integration's name.
    pub subject: String,
    pub ok: bool,
    /// What was found.
    pub finding: String,
    /// What to do about it, when it is not fine.
    pub fix: Option<String>,
}

impl Check {
    fn pass(subject: impl Into<String>, finding: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            ok: true,
            finding: finding.into(),
            fix: None,
        }
    }

    pub fn fail(
        subject: impl Into<String>,
        finding: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            subject: subject.into(),
            ok: false,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Everything the checks read.
pub struct Subject {
    pub database: db::Location,
    /// The database opened; None when it could not be (a ✘ line says why).
    pub pool: Option<db::Pool>,
    /// The schema version found in it.
    pub schema_version: i64,
    pub data_dir: Option<PathBuf>,
    /// None without a master key: stored credentials cannot be read.
    pub secrets: Option<Arc<SecretBox>>,
    /// None without an API token: the public URL cannot be probed.
    pub api_token: Option<String>,
    pub public_url: String,
    /// The HTTPS certificate: what it says, or why it cannot be read; None without HTTPS.
    pub certificate: Option<Result<About, String>>,
    pub allowed_hosts: Arc<AllowedHosts>,
    pub clock: Clock,
}

/// The checklist, in the order it is printed.
pub fn examine(subject: &Subject) -> Vec<Check> {
    // This server's own public URL is the admin's, often an address inside the network.
    let own = crate::domain::hosts::origin(&subject.public_url).unwrap_or_default();
    let http = crate::remote::agent::agent(std::sync::Arc::new(subject.allowed_hosts.with(&own)));
    let mut checks = installation::check(subject);
    checks.extend(reach::public_url(subject, &http));
    let integrations = remotes::integrations(subject, &mut checks);
    checks.extend(reach::clock(subject, &http, &integrations));
    checks.extend(remotes::check(subject, &http, &integrations));
    checks
}

/// The checklist as a person reads it: `✔`/`✘`, the subject, what was found, what to do.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let mark = if check.ok { '✔' } else { '✘' };
        out.push_str(&format!("{mark} {}: {}\n", check.subject, check.finding));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("    → {fix}\n"));
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    out.push_str(&match failed {
        0 => "everything checked is fine\n".to_string(),
        1 => "1 problem found\n".to_string(),
        n => format!("{n} problems found\n"),
    });
    out
}
