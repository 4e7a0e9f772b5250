//! CI jobs that report on their own run with the OIDC token their CI platform gives them
//! (GitHub Actions' `id-token: write`, GitLab CI's `id_tokens`), so that a workflow needs no
//! stored secret at all: which issuers are trusted, what a verified token says, and which runs
//! it may report on. Anyone can have such a token minted for this server's audience from a
//! repository of their own: what admits it is its repository and commit, which must be the
//! run's.

use serde_json::Value;

use crate::domain::model::IntegrationType;

/// GitHub Actions' issuer (github.com; GitHub Enterprise Server's is
/// `https://HOST/_services/token`).
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's issuer (a self-managed GitLab's is its own URL).
pub const GITLAB_COM_ISSUER: &str = "https://gitlab.com";

/// The issuers whose CI job tokens are taken (`--ci-oidc-github-issuer`,
/// `--ci-oidc-gitlab-issuer`); None: that platform's tokens are not.
#[derive(Debug, Clone, Default)]
pub struct CiIssuerSettings {
    pub github: Option<String>,
    pub gitlab: Option<String>,
}

impl CiIssuerSettings {
    /// The public platforms' issuers.
    pub fn public() -> CiIssuerSettings {
        CiIssuerSettings {
            github: Some(GITHUB_ACTIONS_ISSUER.into()),
            gitlab: Some(GITLAB_COM_ISSUER.into()),
        }
    }
}

/// What a verified CI job's token says: which platform, repository and commit it ran for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiJob {
    /// GITHUB or GITLAB: whose issuer signed it.
    pub forge: IntegrationType,
    /// `owner/name` (GitHub's `repository`) or `group/project` (GitLab's `project_path`),
    /// lower-case as runs keep it.
    pub repository: String,
    /// The commit the job ran for (`sha`).
    pub sha: String,
}

impl CiJob {
    /// From a verified token's claims (its signature, issuer, audience and expiry checked).
    pub fn from_claims(forge: IntegrationType, claims: &Value) -> Result<CiJob, String> {
        let repository_claim = match forge {
            IntegrationType::Gitlab => "project_path",
            _ => "repository",
        };
        let repository = claims[repository_claim]
            .as_str()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| format!("the CI job's token has no `{repository_claim}`"))?;
        let sha = claims["sha"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("the CI job's token has no `sha`")?;
        Ok(CiJob {
            forge,
            repository: repository.to_ascii_lowercase(),
            sha: sha.to_ascii_lowercase(),
        })
    }

    /// Whether it may report on a run of a `forge` integration, for `repo` at `sha`; why not.
    pub fn may_report_on(
        &self,
        forge: IntegrationType,
        repo: &str,
        sha: &str,
    ) -> Result<(), String> {
        if forge != self.forge {
            return Err("the CI job's token is from another platform than the run's".into());
        }
        if !repo.eq_ignore_ascii_case(&self.repository) {
            return Err(format!(
                "the CI job ran for {}, not for the run's repository",
                self.repository
            ));
        }
        if !sha.eq_ignore_ascii_case(&self.sha) {
            return Err("the CI job ran for another commit than the run's".into());
        }
        Ok(())
    }

    /// How the audit log names it: `ci:github:owner/name@0123456789ab`.
    pub fn actor(&self) -> String {
        let platform = match self.forge {
            IntegrationType::Gitlab => "gitlab",
            _ => "github",
        };
        let short: String = self.sha.chars().take(12).collect();
        format!("ci:{platform}:{}@{short}", self.repository)
    }
}

/// Whether a presented bearer credential looks like a JWT (three base64url parts, the first a
/// JSON object): a CI job's token, not an API token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_reports_on_its_own_repository_and_commit_only() {
        let job = CiJob::from_claims(
            IntegrationType::Github,
            &json!({"repository": "Octo-Org/Agent-Repo", "sha": "ABC123"}),
        )
        .expect("claims");
        assert!(
            job.may_report_on(IntegrationType::Github, "octo-org/agent-repo", "abc123")
                .is_ok()
        );
        assert!(
            job.may_report_on(IntegrationType::Github, "octo-org/other", "abc123")
                .is_err()
        );
        assert!(
            job.may_report_on(IntegrationType::Github, "octo-org/agent-repo", "abc124")
                .is_err()
        );
        assert!(
            job.may_report_on(IntegrationType::Gitlab, "octo-org/agent-repo", "abc123")
                .is_err()
        );
        assert_eq!(job.actor(), "ci:github:octo-org/agent-repo@abc123");
        let gitlab = CiJob::from_claims(
            IntegrationType::Gitlab,
            &json!({"project_path": "grp/proj", "sha": "f00"}),
        )
        .expect("claims");
        assert_eq!(gitlab.repository, "grp/proj");
        assert!(
            CiJob::from_claims(
                IntegrationType::Gitlab,
                &json!({"repository": "a/b", "sha": "f"})
            )
            .is_err()
        );
    }

    #[test]
    fn only_a_jwt_looks_like_one() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("prv_0123456789"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"));
    }
}
