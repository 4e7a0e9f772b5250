//! `eval` and `deploy`: what a new eval run or deployment starts, and how long it may take. An
//! HTTP runner is sent `eval_run.requested` or `deployment.requested`, signed the Standard
//! Webhooks way with the runner's secret, with a callback token that may report on that one
//! run only.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use poem_openapi::Object;
use serde::Deserialize;

use crate::base::duration;
use crate::base::error::{AppError, AppResult};
use crate::domain::checked::BaseUrl;
use crate::domain::model::RunKind;
use crate::domain::secrets::refs;

/// The prefix of a Standard Webhooks signing secret: base64 after it.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long a run may stay PENDING or RUNNING when its config names no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// The shortest `timeout` taken: a runner needs a moment to answer at all.
const SHORTEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `timeout` taken: a week (a run's callback token lives as long).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// `eval` or `deploy` in a GITHUB or GITLAB config: what a new eval run (or deployment)
/// starts, and how long it may take. `dispatch` absent: nothing is started, and the platform
/// polls `GET /api/eval-runs?status=PENDING` (or `/api/deployments`).
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct RunSettings {
    // Where a new run is sent to be run (see `Dispatch`). Absent: nothing is started, and
    // the platform polls for PENDING runs.
    pub dispatch: Option<Dispatch>,
    /// How long a run may stay PENDING or RUNNING before it fails as timed out, as `30m` or
    /// `2h` (1 minute to 168 hours). Default `1h`. A runner's callback token lives as long.
    #[oai(validator(pattern = "^[0-9]{1,6}(s|m|h)$"))]
    pub timeout: Option<String>,
    /// `eval` only: whether the pull request (GitLab: merge request) gets one comment with
    /// the newest results (the metrics against the baseline, the failing cases), edited in
    /// place at each new result. Default true.
    pub comment: Option<bool>,
    /// `eval` only: whether each push to the integration's branch (a merge too) gets an eval
    /// run of its own (`number` 0), dispatched like a pull request's. Its results are then the
    /// baseline pull requests are compared with; without it, the baseline is the newest
    /// merged pull request's run. Default false.
    pub on_push: Option<bool>,
}

/// Where a new run is sent, one of three kinds:
/// - an HTTP runner (`url` and `secret`): each new run is POSTed to `url` as
///   `eval_run.requested` or `deployment.requested` (signed with `webhook-id`,
///   `webhook-timestamp` and `webhook-signature: v1,…`), with a callback URL and a token that
///   may report on that run alone (`PATCH /api/eval-runs/{id}` or `/api/deployments/{id}`)
///   until it ends;
/// - a GitHub Actions workflow (`github_workflow`, GITHUB with a token or an App): started
///   with `workflow_dispatch` on `ref`, with the run's id, repository, pull request, head SHA
///   and base branch as inputs (`provenant_run_id`, `repository`, `pr_number`, `head_sha`,
///   `base_branch`) besides `inputs`;
/// - a GitLab pipeline (`gitlab_pipeline`, GITLAB with a token): triggered on its `ref` with
///   its trigger token, the same values as the variables `PROVENANT_RUN_ID`,
///   `PROVENANT_REPOSITORY`, `PROVENANT_MR_IID`, `PROVENANT_HEAD_SHA`, `PROVENANT_BASE_BRANCH`.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Dispatch {
    /// An HTTP runner's address, which takes a POST. Over https; plain http only to an origin
    /// listed in `--egress-allow` as `http://host[:port]` (the request carries a token).
    pub url: Option<BaseUrl>,
    /// The key an HTTP runner's requests are signed with, as Standard Webhooks writes it
    /// (`whsec_` and 24 to 64 random bytes in base64), or `${secret:NAME}`. Shown as `***`.
    /// Left out beside a `url`: one is made, and shown once in the answer
    /// (`generatedSecrets`).
    pub secret: Option<String>,
    /// A GitHub Actions workflow of the run's repository to start instead: its file name
    /// under `.github/workflows` (`evals.yml`) or its numeric id. It must take
    /// `workflow_dispatch` with the inputs above. Sent with the integration's token or its
    /// App's installation (which needs `actions: write`).
    #[oai(validator(max_length = 255))]
    pub github_workflow: Option<String>,
    /// The branch or tag the workflow runs from. Default: the run's own branch (the pull
    /// request's; a deployment's target), so that the job runs at the run's commit and its
    /// OIDC token can report on it.
    #[oai(rename = "ref", validator(max_length = 255))]
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// More inputs for the workflow (at most 20, values up to 1,024 characters); the run's
    /// own inputs win over one of the same name.
    pub inputs: Option<BTreeMap<String, String>>,
    // A GitLab pipeline to trigger instead (see `GitlabPipeline`; a `///` here would wrap the
    // schema's reference in an `allOf`).
    pub gitlab_pipeline: Option<GitlabPipeline>,
}

/// A GitLab pipeline trigger: `POST /projects/{id}/trigger/pipeline` on `ref` with the
/// project's pipeline trigger token.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct GitlabPipeline {
    /// The branch or tag the pipeline runs on. Default: the run's own branch (the merge
    /// request's source; a deployment's target), as for a workflow.
    #[oai(rename = "ref", validator(max_length = 255))]
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The project's pipeline trigger token (`glptt-…`), or better `${secret:NAME}`. Shown as
    /// `***`; sent only to the integration's API base.
    #[oai(validator(max_length = 255))]
    pub token: String,
}

/// What a [`Dispatch`] names, once checked.
pub enum Target<'a> {
    /// An HTTP runner: its URL and signing secret (maybe a `${secret:NAME}`).
    Runner { url: &'a BaseUrl, secret: &'a str },
    /// A GitHub Actions workflow: its file (or id), the ref it runs from (None: the run's
    /// branch), and the inputs added to the run's.
    GithubWorkflow {
        workflow: &'a str,
        git_ref: Option<&'a str>,
        inputs: Option<&'a BTreeMap<String, String>>,
    },
    /// A GitLab pipeline: the ref it runs on (None: the run's branch) and its trigger
    /// token (maybe a `${secret:NAME}`).
    GitlabPipeline {
        git_ref: Option<&'a str>,
        token: &'a str,
    },
}

/// The inputs every workflow dispatch carries, named so in the workflow's `on.workflow_dispatch`.
pub const WORKFLOW_INPUTS: &[&str] = &[
    "provenant_run_id",
    "repository",
    "pr_number",
    "head_sha",
    "base_branch",
];
/// The variables every pipeline trigger carries, in the order of [`WORKFLOW_INPUTS`].
pub const PIPELINE_VARIABLES: &[&str] = &[
    "PROVENANT_RUN_ID",
    "PROVENANT_REPOSITORY",
    "PROVENANT_MR_IID",
    "PROVENANT_HEAD_SHA",
    "PROVENANT_BASE_BRANCH",
];
/// GitHub takes at most 25 inputs: the run's own and this many more.
const MAX_EXTRA_INPUTS: usize = 20;
const MAX_INPUT_CHARS: usize = 1024;

/// Which forge an integration is, and whether it can call its API: what each kind of dispatch
/// needs.
#[derive(Clone, Copy)]
pub struct Dispatcher {
    pub github: bool,
    pub gitlab: bool,
    pub has_api_credentials: bool,
}

impl Dispatch {
    /// What this dispatch names. Checked when the config was stored, so one kind.
    pub fn target(&self) -> Option<Target<'_>> {
        match (
            &self.url,
            &self.secret,
            &self.github_workflow,
            &self.gitlab_pipeline,
        ) {
            (Some(url), Some(secret), None, None) => Some(Target::Runner { url, secret }),
            (None, None, Some(workflow), None) => Some(Target::GithubWorkflow {
                workflow: workflow.trim(),
                git_ref: self.git_ref.as_deref().map(str::trim),
                inputs: self.inputs.as_ref(),
            }),
            (None, None, None, Some(pipeline)) => Some(Target::GitlabPipeline {
                git_ref: pipeline.git_ref.as_deref().map(str::trim),
                token: pipeline.token.trim(),
            }),
            _ => None,
        }
    }

    /// Refuses anything but exactly one kind, complete (see [`Dispatch`]), each where its
    /// integration can use it. `field` is where it sits (`config.eval.dispatch`).
    fn check(&self, field: &str, by: Dispatcher) -> AppResult<()> {
        let invalid = |name: &str, message: &str| {
            Err(AppError::invalid(
                if name.is_empty() {
                    field.to_string()
                } else {
                    format!("{field}.{name}")
                },
                message.to_string(),
            ))
        };
        let runner = self.url.is_some() || self.secret.is_some();
        let kinds = [
            runner,
            self.github_workflow.is_some(),
            self.gitlab_pipeline.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                return invalid(
                    "",
                    "needs an HTTP runner (`url` and `secret`), a `github_workflow` or a `gitlab_pipeline`",
                );
            }
            1 => {}
            _ => {
                return invalid(
                    if self.github_workflow.is_some() {
                        "github_workflow"
                    } else {
                        "gitlab_pipeline"
                    },
                    "give one kind of dispatch: an HTTP runner (`url`, `secret`), a `github_workflow` or a `gitlab_pipeline`",
                );
            }
        }
        if (self.git_ref.is_some() || self.inputs.is_some()) && self.github_workflow.is_none() {
            return invalid(
                if self.git_ref.is_some() {
                    "ref"
                } else {
                    "inputs"
                },
                "`ref` and `inputs` here go with `github_workflow` (a pipeline's `ref` is in `gitlab_pipeline`)",
            );
        }
        if runner {
            let (Some(_), Some(secret)) = (&self.url, &self.secret) else {
                return if self.url.is_none() {
                    invalid("url", "an HTTP runner needs the `url` to send runs to")
                } else {
                    invalid(
                        "secret",
                        "an HTTP runner needs the secret its requests are signed with",
                    )
                };
            };
            let secret = secret.trim();
            // A sealed value is the stored one, kept by a masked `***`: checked when it was set.
            if refs::secret_ref(secret).is_none()
                && signing_key(secret).is_none()
                && !crate::domain::credentials::is_sealed(secret)
            {
                return invalid(
                    "secret",
                    "must be `whsec_` followed by 24 to 64 random bytes in base64 (as Standard Webhooks writes it), or ${secret:NAME}",
                );
            }
            return Ok(());
        }
        if let Some(pipeline) = &self.gitlab_pipeline {
            if !(by.gitlab && by.has_api_credentials) {
                return invalid(
                    "gitlab_pipeline",
                    "triggers a pipeline of a GITLAB integration's project, through its API: give the integration a `token`",
                );
            }
            if pipeline.token.trim().is_empty() {
                return invalid(
                    "gitlab_pipeline.token",
                    "the project's pipeline trigger token, or ${secret:NAME}",
                );
            }
            if pipeline
                .git_ref
                .as_deref()
                .is_some_and(|r| r.trim().is_empty())
            {
                return invalid(
                    "gitlab_pipeline.ref",
                    "must name a branch or tag (or be left out for the run's own branch)",
                );
            }
            return Ok(());
        }
        let workflow = self.github_workflow.as_deref().unwrap_or_default().trim();
        let well_named = workflow.bytes().all(|b| b.is_ascii_digit())
            || ((workflow.ends_with(".yml") || workflow.ends_with(".yaml"))
                && workflow
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        if workflow.is_empty() || !well_named {
            return invalid(
                "github_workflow",
                "must be a workflow's file name under .github/workflows (`evals.yml`) or its numeric id",
            );
        }
        if !(by.github && by.has_api_credentials) {
            return invalid(
                "github_workflow",
                "starts a workflow with the integration's credentials: give it a `token` or a GitHub App (a GITHUB integration)",
            );
        }
        if self.git_ref.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return invalid(
                "ref",
                "must name a branch or tag (or be left out for the run's own branch)",
            );
        }
        let inputs = self.inputs.iter().flatten();
        if inputs.clone().count() > MAX_EXTRA_INPUTS {
            return invalid(
                "inputs",
                &format!("at most {MAX_EXTRA_INPUTS} (GitHub takes 25 with the run's own)"),
            );
        }
        for (name, value) in inputs {
            let named = !name.is_empty()
                && name.len() <= 100
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
            if !named || value.chars().count() > MAX_INPUT_CHARS {
                return invalid(
                    "inputs",
                    &format!(
                        "`{}`: names are letters, digits, `_` and `-`; values at most {MAX_INPUT_CHARS} characters",
                        name.chars().take(100).collect::<String>()
                    ),
                );
            }
        }
        Ok(())
    }
}

impl RunSettings {
    /// Refuses a timeout out of range and a dispatch that is not one complete kind its
    /// integration can use (see [`Dispatch`]). `kind` names the section in the error.
    pub fn check(&self, kind: RunKind, by: Dispatcher) -> AppResult<()> {
        let section = kind.section();
        if let Some(text) = &self.timeout {
            let field = format!("config.{section}.timeout");
            let timeout =
                duration::parse(text.trim()).map_err(|e| AppError::invalid(field.clone(), e))?;
            if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&timeout) {
                return Err(AppError::invalid(
                    field,
                    "must be from 1m to 168h, as `30m` or `2h`",
                ));
            }
        }
        if kind == RunKind::Deployment && self.comment.is_some() {
            return Err(AppError::invalid(
                "config.deploy.comment",
                "only eval runs comment on pull requests: set it in `eval`",
            ));
        }
        if kind == RunKind::Deployment && self.on_push.is_some() {
            return Err(AppError::invalid(
                "config.deploy.on_push",
                "every push to the branch is deployed already: `on_push` goes in `eval`",
            ));
        }
        match &self.dispatch {
            Some(dispatch) => dispatch.check(&format!("config.{section}.dispatch"), by),
            None => Ok(()),
        }
    }

    /// How long a run may take (checked when the config was stored).
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| duration::parse(t.trim()).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// Fills in a signing secret for each HTTP runner of a raw config (`eval.dispatch`,
/// `deploy.dispatch`) that names a `url` and no `secret` at all: `whsec_` and 32 random
/// bytes. Returns each as (`config.eval.dispatch.secret`, the secret), to be shown once.
pub fn generate_missing_secrets(
    config: &mut serde_json::Value,
) -> AppResult<Vec<(String, String)>> {
    let mut made = vec![];
    for section in ["eval", "deploy"] {
        let Some(dispatch) = config
            .get_mut(section)
            .and_then(|s| s.get_mut("dispatch"))
            .and_then(|d| d.as_object_mut())
        else {
            continue;
        };
        if dispatch.contains_key("url") && !dispatch.contains_key("secret") {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness available: {e}")))?;
            let secret = format!(
                "{SECRET_PREFIX}{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            dispatch.insert("secret".into(), secret.clone().into());
            made.push((format!("config.{section}.dispatch.secret"), secret));
        }
    }
    Ok(made)
}

/// The HMAC key of a `whsec_…` secret; None when it is not one.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.trim().strip_prefix(SECRET_PREFIX)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_without_a_secret_gets_one_and_one_with_a_secret_keeps_it() {
        let mut config = serde_json::json!({
            "eval": {"dispatch": {"url": "https://evals.example.com/p"}},
            "deploy": {"dispatch": {"url": "https://d.example.com/p", "secret": "${secret:D}"}},
        });
        let made = generate_missing_secrets(&mut config).expect("made");
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].0, "config.eval.dispatch.secret");
        assert_eq!(config["eval"]["dispatch"]["secret"], made[0].1.as_str());
        assert!(signing_key(&made[0].1).is_some());
        assert_eq!(config["deploy"]["dispatch"]["secret"], "${secret:D}");
        let again = generate_missing_secrets(
            &mut serde_json::json!({"eval": {"dispatch": {"url": "https://e.example"}}}),
        )
        .expect("made");
        assert_ne!(again[0].1, made[0].1, "random each time");
    }

    #[test]
    fn a_signing_secret_is_whsec_and_enough_base64() {
        assert!(signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_some());
        assert!(signing_key("whsec_c2hvcnQ=").is_none(), "5 bytes");
        assert!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(signing_key("whsec_not base64!!").is_none());
    }
}
