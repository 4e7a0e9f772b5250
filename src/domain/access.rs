//! Who may do what: the scopes a token carries, who is calling, and the one table of what
//! each API operation needs. The spec declares it (`x-scopes`) and the API enforces it from
//! the same table, so the two cannot disagree.

use std::fmt;

use crate::domain::ci_jobs::CiJob;
use crate::domain::model::RunKind;

/// What a token (or, later, a person's role) may do. Each scope includes those below it,
/// except `runs:write`, which is only what an eval platform needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every GET (secret values are never readable anyway).
    Read,
    /// List eval runs and deployments and PATCH their status; nothing else.
    RunsWrite,
    /// Read, plus integrations, retries, replays, dry runs, tests and reconcile.
    Write,
    /// Everything: tokens, secrets, rotation, GitHub App setup.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::RunsWrite, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::RunsWrite => "runs:write",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operation needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any valid credential (who am I).
    Anyone,
    /// Reading eval runs and deployments: `read` or `runs:write`.
    RunsRead,
    /// Changing a run's or a deployment's status.
    RunsWrite,
    Read,
    Write,
    Admin,
}

impl Need {
    /// Each scope that meets this need on its own, weakest first.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Need::Anyone => &[Read, RunsWrite, Write, Admin],
            Need::RunsRead => &[Read, RunsWrite, Write, Admin],
            Need::RunsWrite => &[RunsWrite, Write, Admin],
            Need::Read => &[Read, Write, Admin],
            Need::Write => &[Write, Admin],
            Need::Admin => &[Admin],
        }
    }

    /// The scope to ask for when a caller has none that meets this need.
    pub fn weakest(self) -> Scope {
        self.scopes()[0]
    }

    pub fn met_by(self, scopes: &[Scope]) -> bool {
        scopes.iter().any(|s| self.scopes().contains(s))
    }
}

/// Operations that change things but need only `write`. Every other operation that is not a
/// GET needs `admin`, so a new operation is admin-only until it is listed here.
const WRITE_OPERATIONS: &[&str] = &[
    "createIntegration",
    "updateIntegration",
    "deleteIntegration",
    "dryRunEvent",
    "retryEvent",
    "retryOutboxRow",
    "replayEvents",
    "reconcileIntegration",
    "testIntegration",
];

/// GETs that need more than `read`: who holds access is the admins' business.
const ADMIN_READS: &[&str] = &["listApiTokens", "listSessions"];

/// What the operation `operation_id` (called with `method`) needs.
pub fn need_of(operation_id: &str, method: &str) -> Need {
    match operation_id {
        "getCurrentAccess" | "signOut" => Need::Anyone,
        "listEvalRuns" | "listDeployments" | "getEvalRunResults" => Need::RunsRead,
        "updateEvalRun" | "updateDeployment" => Need::RunsWrite,
        id if ADMIN_READS.contains(&id) => Need::Admin,
        _ if method.eq_ignore_ascii_case("get") => Need::Read,
        id if WRITE_OPERATIONS.contains(&id) => Need::Write,
        _ => Need::Admin,
    }
}

/// The prefix of an HTTP runner's callback token (one run's, see `db::run_tokens`).
pub const RUN_TOKEN_PREFIX: &str = "prv_run_";

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The token from `--api-token` or the first start: always `admin`.
    Primary,
    /// A token made with `POST /api/tokens`, by its id.
    Token(String),
    /// A person signed in with SSO: the session's id, and the CSRF token its page sends
    /// with every change.
    Session { id: String, csrf: String },
    /// An HTTP runner's callback token: it may report on its one eval run or deployment (by
    /// its kind and id) and nothing else.
    Run(RunKind, String),
    /// A CI job's OIDC token: it may report on a run of its repository at its commit, and
    /// nothing else.
    CiJob(CiJob),
    /// Whoever presented a credential that did not get in.
    Nobody,
}

/// Who is calling, as the audit log names them, and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A token's name.
    pub actor: String,
    pub scopes: Vec<Scope>,
    pub credential: Credential,
}

/// The actor name of the primary token.
pub const PRIMARY_ACTOR: &str = "api-token";
/// How the audit log names whoever did not get in.
pub const UNKNOWN_ACTOR: &str = "unknown";

impl Principal {
    pub fn primary() -> Principal {
        Principal {
            actor: PRIMARY_ACTOR.into(),
            scopes: vec![Scope::Admin],
            credential: Credential::Primary,
        }
    }

    /// Whoever presented a credential that did not get in, as the audit log names them: may
    /// do nothing.
    pub fn unknown() -> Principal {
        Principal {
            actor: UNKNOWN_ACTOR.into(),
            scopes: vec![],
            credential: Credential::Nobody,
        }
    }

    /// How the audit log names this caller, typed so that no name passes for another kind:
    /// `token:<name>#<id>` (the primary token `token:api-token#primary`), `person:<e-mail or
    /// subject>` for a person signed in with SSO, `run:<eval run id>` for a runner's callback
    /// token, `unknown` for whoever did not get in. (A
    /// person acting from Slack will be `slack:<user>`.)
    pub fn audit_actor(&self) -> String {
        match &self.credential {
            Credential::Primary => format!("token:{PRIMARY_ACTOR}#primary"),
            Credential::Token(id) => format!("token:{}#{id}", self.actor),
            Credential::Session { .. } => format!("person:{}", self.actor),
            Credential::Run(_, run_id) => format!("run:{run_id}"),
            Credential::CiJob(job) => job.actor(),
            Credential::Nobody => UNKNOWN_ACTOR.into(),
        }
    }

    pub fn may(&self, need: Need) -> bool {
        need.met_by(&self.scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_write_reads_and_changes_runs_and_nothing_else() {
        let runs = [Scope::RunsWrite];
        assert!(need_of("listEvalRuns", "GET").met_by(&runs));
        assert!(need_of("updateDeployment", "PATCH").met_by(&runs));
        assert!(!need_of("listIntegrations", "GET").met_by(&runs));
        assert!(!need_of("createIntegration", "POST").met_by(&runs));
        assert!(need_of("getCurrentAccess", "GET").met_by(&runs));
    }

    #[test]
    fn an_unlisted_change_is_for_admins_only() {
        assert_eq!(need_of("somethingNew", "POST"), Need::Admin);
        assert_eq!(need_of("putSecret", "PUT"), Need::Admin);
        assert_eq!(need_of("listApiTokens", "GET"), Need::Admin);
        assert_eq!(need_of("listSecrets", "GET"), Need::Read);
        assert!(!Need::Write.met_by(&[Scope::Read, Scope::RunsWrite]));
    }

    #[test]
    fn scopes_read_back_as_written() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("root"), None);
    }
}
