//! GitHub: `pull_request` opened/synchronize/reopened/ready_for_review → eval run;
//! `pull_request` closed+merged and `push` to the branch → deployment; `merge_group`
//! checks_requested → eval run of the queue entry's commit, destroyed → it ends.

use serde_json::Value;

use super::*;
use crate::domain::integration_config::GithubConfig;

const EVAL_ACTIONS: &[&str] = &["opened", "synchronize", "reopened", "ready_for_review"];

pub fn plan(config: &GithubConfig, event_type: &str, payload: &Value) -> Result<Plan, PlanError> {
    settle(plan_or_stop(config, event_type, payload))
}

/// For the trace: which pattern of `repos` admitted the delivery's repository (a refusal is
/// the plan's own outcome). None for a one-`repo` integration, where there is nothing to tell.
pub fn admitted_by(config: &GithubConfig, payload: &Value) -> Option<String> {
    config.repos.as_ref()?;
    let repo = text(payload, &["repository", "full_name"])?;
    config.admission(repo).ok()
}

fn plan_or_stop(config: &GithubConfig, event_type: &str, payload: &Value) -> Result<Plan, Stop> {
    let event = event_type.split('.').next().unwrap_or("");
    match event {
        "ping" => return Ok(Plan::Nothing("pong".into())),
        "installation" | "installation_repositories" => {
            return installation_plan(event, payload);
        }
        "pull_request" | "push" | "check_run" | "check_suite" | "merge_group" => {}
        other => {
            return Ok(Plan::Nothing(format!(
                "recorded, no action for {other} events"
            )));
        }
    }
    let repo = required(payload, &["repository", "full_name"])?;
    if let Err(why) = config.admission(repo) {
        return Ok(Plan::Nothing(format!("ignored: {why}")));
    }
    let branch = config.branch_for(text(payload, &["repository", "default_branch"]));
    let repo = repo.to_ascii_lowercase();
    if event == "check_run" || event == "check_suite" {
        return rerun_plan(event, payload, repo, branch, config.app_id);
    }
    if event == "merge_group" {
        return merge_group_plan(payload, repo, branch);
    }

    if event == "push" {
        let url = text(payload, &["head_commit", "url"])
            .or_else(|| text(payload, &["compare"]))
            .map(str::to_string);
        return Ok(plan_push(
            repo,
            branch,
            ref_name(payload, &["ref"])?,
            commit_sha(payload, &["after"])?,
            payload.get("deleted").and_then(Value::as_bool) == Some(true),
            url,
        ));
    }

    let action = required(payload, &["action"])?;
    let pr = payload
        .get("pull_request")
        .ok_or("the payload has no pull_request")?;
    let base = required(pr, &["base", "ref"])?;
    branch_name(pr, &["base", "ref"]).map_err(in_pr)?;
    if base != branch {
        return Ok(Plan::Nothing(format!(
            "ignored: base branch `{base}` is not `{branch}`"
        )));
    }
    let number = number(pr, &["number"]).or_else(|_| number(payload, &["number"]))?;
    let url = text(pr, &["html_url"]).map(str::to_string);
    if EVAL_ACTIONS.contains(&action) {
        return Ok(Plan::EvalRun(EvalRunPlan {
            repo,
            number,
            title: text(pr, &["title"]).map(str::to_string),
            head_sha: commit_sha(pr, &["head", "sha"]).map_err(in_pr)?.to_string(),
            head_branch: branch_name(pr, &["head", "ref"])
                .map_err(in_pr)?
                .map(str::to_string),
            author: text(pr, &["user", "login"]).map(str::to_string),
            url,
            rerun: false,
            merge_queue: false,
            rerun_of: None,
        }));
    }
    if action == "closed" {
        if pr.get("merged").and_then(Value::as_bool) != Some(true) {
            return Ok(Plan::Nothing(
                "ignored: pull request closed without merging".into(),
            ));
        }
        return Ok(Plan::Deployment(DeploymentPlan {
            repo,
            commit_sha: commit_sha(pr, &["merge_commit_sha"])
                .map_err(in_pr)?
                .to_string(),
            branch: branch.to_string(),
            pr_number: Some(number),
            url,
        }));
    }
    Ok(Plan::Nothing(format!(
        "ignored: pull_request action {action} triggers nothing"
    )))
}

/// `check_run.rerequested` (of `provenant/eval`) and `check_suite.rerequested`: GitHub's
/// Re-run button, a new eval run for the commit of the pull request into the watched branch.
/// Only a re-run of ours: a suite or check run of this integration's App (`our_app`), or a
/// `provenant/eval` check run whose `external_id` names one of our runs (checked by the
/// processor). "Re-run all jobs" of another App's suite on the same commit is not ours.
fn rerun_plan(
    event: &str,
    payload: &Value,
    repo: String,
    branch: &str,
    our_app: Option<u64>,
) -> Result<Plan, Stop> {
    let action = required(payload, &["action"])?;
    if action != "rerequested" {
        return Ok(Plan::Nothing(format!(
            "recorded, no action for {event} {action}"
        )));
    }
    let app_of = |object: &Value| {
        object
            .get("app")
            .and_then(|a| a.get("id"))
            .and_then(Value::as_u64)
    };
    let not_ours = |app: Option<u64>| {
        let whose = match app {
            Some(id) => format!("App {id}"),
            None => "no App named".to_string(),
        };
        let ours = match our_app {
            Some(id) => format!("this integration runs as App {id}"),
            None => "this integration runs as no App".to_string(),
        };
        Plan::Nothing(format!(
            "ignored: the re-run is of {event} of {whose}; {ours}"
        ))
    };
    let mut rerun_of = None;
    let suite = if event == "check_run" {
        let run = payload
            .get("check_run")
            .ok_or("the payload has no check_run")?;
        let name = text(run, &["name"]).unwrap_or_default();
        if name != super::EVAL_CONTEXT {
            return Ok(Plan::Nothing(format!(
                "ignored: check run {} is not {}",
                shown(name),
                super::EVAL_CONTEXT
            )));
        }
        if our_app.is_none() || app_of(run) != our_app {
            // A check run of that name that no App of ours made: ours only by its external_id.
            match text(run, &["external_id"]) {
                Some(id) if !id.is_empty() && id.len() <= 64 => rerun_of = Some(id.to_string()),
                _ => return Ok(not_ours(app_of(run))),
            }
        }
        run.get("check_suite")
            .ok_or("the payload has no check_run.check_suite")?
    } else {
        let suite = payload
            .get("check_suite")
            .ok_or("the payload has no check_suite")?;
        if our_app.is_none() || app_of(suite) != our_app {
            return Ok(not_ours(app_of(suite)));
        }
        suite
    };
    let head_sha = commit_sha(suite, &["head_sha"])?.to_string();
    let pull_request = suite
        .get("pull_requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|pr| text(pr, &["base", "ref"]) == Some(branch));
    let Some(pull_request) = pull_request else {
        return Ok(Plan::Nothing(format!(
            "ignored: the re-run is for a commit with no pull request into `{branch}`"
        )));
    };
    Ok(Plan::EvalRun(EvalRunPlan {
        repo,
        number: number(pull_request, &["number"])?,
        title: None,
        head_sha,
        head_branch: text(suite, &["head_branch"]).map(str::to_string),
        author: text(payload, &["sender", "login"]).map(str::to_string),
        url: None,
        rerun: true,
        merge_queue: false,
        rerun_of,
    }))
}

/// `merge_group`: GitHub's merge queue asks for the checks of an entry's commit
/// (`checks_requested`: an eval run of `merge_group.head_sha`, on its temporary branch
/// `gh-readonly-queue/<base>/pr-<number>-<sha>`), or drops the entry (`destroyed`: merged,
/// invalidated or dequeued; its open runs end). Only for queues into the watched branch.
fn merge_group_plan(payload: &Value, repo: String, branch: &str) -> Result<Plan, Stop> {
    let action = required(payload, &["action"])?;
    let group = payload
        .get("merge_group")
        .ok_or("the payload has no merge_group")?;
    let base = ref_name(group, &["base_ref"])?;
    if base.strip_prefix("refs/heads/") != Some(branch) {
        return Ok(Plan::Nothing(format!(
            "ignored: the merge queue is for {}, not `{branch}`",
            shown(base)
        )));
    }
    let head_sha = commit_sha(group, &["head_sha"])?.to_string();
    match action {
        "checks_requested" => {
            let head_ref = ref_name(group, &["head_ref"])?;
            let head_branch = head_ref.strip_prefix("refs/heads/").map(str::to_string);
            // `gh-readonly-queue/main/pr-123-<base sha>`: the last pull request of the entry.
            let number = head_branch
                .as_deref()
                .and_then(|b| b.rsplit('/').next())
                .and_then(|last| last.strip_prefix("pr-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| {
                    Stop::Ignored(format!(
                        "ignored: the merge queue branch {} names no pull request",
                        shown(head_ref)
                    ))
                })?;
            Ok(Plan::EvalRun(EvalRunPlan {
                repo,
                number,
                title: Some(format!("Merge queue entry for #{number}")),
                head_sha,
                head_branch,
                author: text(payload, &["sender", "login"]).map(str::to_string),
                url: None,
                rerun: false,
                merge_queue: true,
                rerun_of: None,
            }))
        }
        "destroyed" => {
            let reason = text(payload, &["reason"]).unwrap_or("destroyed");
            Ok(Plan::CancelEvalRuns {
                repo,
                head_sha,
                why: format!(
                    "Cancelled: the merge queue entry was {}",
                    match reason {
                        "merged" | "invalidated" | "dequeued" => reason.to_string(),
                        other => shown(other),
                    }
                ),
            })
        }
        other => Ok(Plan::Nothing(format!(
            "recorded, no action for merge_group {}",
            shown(other)
        ))),
    }
}

/// `installation` (created, deleted, suspend, unsuspend, new_permissions_accepted) and
/// `installation_repositories` (added, removed): what the App can see now.
fn installation_plan(event: &str, payload: &Value) -> Result<Plan, Stop> {
    let action = required(payload, &["action"])?;
    let id = number(payload, &["installation", "id"])?;
    let account = || -> Result<String, Stop> {
        Ok(required(payload, &["installation", "account", "login"])?.to_ascii_lowercase())
    };
    let repos = |key: &str| -> Vec<String> {
        payload
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("full_name").and_then(Value::as_str))
            .map(str::to_ascii_lowercase)
            .collect()
    };
    Ok(Plan::Installation(match (event, action) {
        ("installation", "created") => InstallationPlan::Replace {
            id,
            account: account()?,
            repos: repos("repositories"),
        },
        ("installation", "deleted") => InstallationPlan::Deleted { id },
        ("installation", "suspend") => InstallationPlan::Suspended {
            id,
            suspended: true,
        },
        ("installation", "unsuspend") => InstallationPlan::Suspended {
            id,
            suspended: false,
        },
        ("installation_repositories", "added") => InstallationPlan::Added {
            id,
            account: account()?,
            repos: repos("repositories_added"),
        },
        ("installation_repositories", "removed") => InstallationPlan::Removed {
            id,
            repos: repos("repositories_removed"),
        },
        (_, other) => {
            return Ok(Plan::Nothing(format!(
                "recorded, no action for {event} {other}"
            )));
        }
    }))
}

/// The installation a delivery names and the account its repository is on, when it names
/// both (every delivery to a GitHub App does).
pub fn installation_of(payload: &Value) -> Option<(i64, &str)> {
    let id = payload.get("installation")?.get("id")?.as_i64()?;
    let owner = text(payload, &["repository", "owner", "login"])?;
    Some((id, owner))
}

/// A stop about a field of `pull_request`, named with its full path.
fn in_pr(stop: Stop) -> Stop {
    match stop {
        Stop::Ignored(why) => Stop::Ignored(why.replacen("ignored: ", "ignored: pull_request.", 1)),
        malformed => malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> GithubConfig {
        serde_json::from_value(json!({"repo": "Octo/Hello", "branch": "main"})).expect("config")
    }

    fn pr(action: &str, base: &str, merged: bool) -> Value {
        json!({
            "action": action,
            "number": 5,
            "pull_request": {
                "number": 5, "title": "Add eval", "html_url": "https://github.com/octo/hello/pull/5",
                "merged": merged, "merge_commit_sha": "f".repeat(40),
                "head": {"sha": "e".repeat(40), "ref": "feature"},
                "base": {"ref": base},
                "user": {"login": "dev"}
            },
            "repository": {"full_name": "octo/hello"}
        })
    }

    /// A re-run of a suite or check run made by App `app`, on pull request 5 into main.
    fn rerun(event: &str, app: u64, external_id: Option<&str>) -> Value {
        let suite = json!({"id": 1, "head_sha": "e".repeat(40), "head_branch": "feature",
                           "app": {"id": app},
                           "pull_requests": [{"number": 5, "base": {"ref": "main"}}]});
        let mut payload = json!({"action": "rerequested", "repository": {"full_name": "octo/hello"},
                                 "sender": {"login": "dev"}});
        if event == "check_suite" {
            payload["check_suite"] = suite;
        } else {
            payload["check_run"] = json!({"id": 9, "name": "provenant/eval", "app": {"id": app},
                                          "external_id": external_id, "check_suite": suite});
        }
        payload
    }

    #[test]
    fn only_our_own_re_runs_start_an_eval_run() {
        let as_app: GithubConfig = serde_json::from_value(json!({
            "repo": "Octo/Hello", "branch": "main", "app_id": 42,
            "private_key": "${secret:KEY}"}))
        .expect("config");
        let is_rerun = |plan: Result<Plan, PlanError>| match plan.expect("plan") {
            Plan::EvalRun(p) => {
                assert!(p.rerun);
                Some(p.rerun_of)
            }
            Plan::Nothing(why) => {
                assert!(why.starts_with("ignored: the re-run is of"), "{why}");
                None
            }
            other => panic!("{other:?}"),
        };
        // Our App's suite and check run.
        assert_eq!(
            is_rerun(plan(
                &as_app,
                "check_suite",
                &rerun("check_suite", 42, None)
            )),
            Some(None)
        );
        assert_eq!(
            is_rerun(plan(
                &as_app,
                "check_run",
                &rerun("check_run", 42, Some("x"))
            )),
            Some(None)
        );
        // Another App's "Re-run all jobs": not ours, with or without an App of our own.
        assert_eq!(
            is_rerun(plan(&as_app, "check_suite", &rerun("check_suite", 7, None))),
            None
        );
        assert_eq!(
            is_rerun(plan(
                &config(),
                "check_suite",
                &rerun("check_suite", 7, None)
            )),
            None
        );
        // A check run of our name made by another App: ours only by its external_id (the
        // processor checks it names one of our runs), never without one.
        assert_eq!(
            is_rerun(plan(
                &config(),
                "check_run",
                &rerun("check_run", 7, Some("run-1"))
            )),
            Some(Some("run-1".to_string()))
        );
        assert_eq!(
            is_rerun(plan(&as_app, "check_run", &rerun("check_run", 7, None))),
            None
        );
    }

    #[test]
    fn opened_prs_against_the_branch_trigger_eval_runs() {
        for action in EVAL_ACTIONS {
            let p = plan(
                &config(),
                &format!("pull_request.{action}"),
                &pr(action, "main", false),
            );
            match p.expect("plan") {
                Plan::EvalRun(run) => {
                    assert_eq!(run.repo, "octo/hello");
                    assert_eq!(run.number, 5);
                    assert_eq!(run.head_sha, "e".repeat(40));
                    assert_eq!(run.author.as_deref(), Some("dev"));
                }
                other => panic!("{action}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_bases_and_repos_are_ignored_with_a_reason() {
        let p = plan(
            &config(),
            "pull_request.opened",
            &pr("opened", "develop", false),
        );
        assert_eq!(
            p,
            Ok(Plan::Nothing(
                "ignored: base branch `develop` is not `main`".into()
            ))
        );
        let mut other = pr("opened", "main", false);
        other["repository"]["full_name"] = json!("octo/other");
        let p = plan(&config(), "pull_request.opened", &other).expect("plan");
        assert!(matches!(p, Plan::Nothing(s) if s.contains("octo/other")));
    }

    #[test]
    fn merged_prs_deploy_and_closed_ones_do_not() {
        match plan(
            &config(),
            "pull_request.closed",
            &pr("closed", "main", true),
        )
        .expect("plan")
        {
            Plan::Deployment(d) => {
                assert_eq!(d.commit_sha, "f".repeat(40));
                assert_eq!(d.pr_number, Some(5));
            }
            other => panic!("{other:?}"),
        }
        let p = plan(
            &config(),
            "pull_request.closed",
            &pr("closed", "main", false),
        );
        assert!(matches!(p, Ok(Plan::Nothing(_))));
    }

    #[test]
    fn pushes_to_the_branch_deploy_but_deletions_and_other_branches_do_not() {
        let push = |git_ref: &str, after: &str| json!({"ref": git_ref, "after": after, "repository": {"full_name": "octo/hello"}});
        assert!(matches!(
            plan(&config(), "push", &push("refs/heads/main", &"a".repeat(40))),
            Ok(Plan::Deployment(_))
        ));
        assert!(matches!(
            plan(&config(), "push", &push("refs/heads/dev", &"a".repeat(40))),
            Ok(Plan::Nothing(_))
        ));
        let zero = "0".repeat(40);
        assert!(
            matches!(plan(&config(), "push", &push("refs/heads/main", &zero)), Ok(Plan::Nothing(s)) if s.contains("deleted"))
        );
    }

    #[test]
    fn shas_and_refs_that_could_shape_a_url_are_ignored_with_the_reason() {
        let traversal = "../../../../victim-org/private-repo/statuses/0123?x=";
        let mut opened = pr("opened", "main", false);
        opened["pull_request"]["head"]["sha"] = json!(traversal);
        let p = plan(&config(), "pull_request.opened", &opened).expect("plan");
        assert!(
            matches!(&p, Plan::Nothing(why) if why.starts_with("ignored: pull_request.head.sha is not a commit id")),
            "{p:?}"
        );
        let push = |git_ref: &str, after: &str| json!({"ref": git_ref, "after": after, "repository": {"full_name": "octo/hello"}});
        for (git_ref, after) in [
            ("refs/heads/main", "refs/pull/999/head"),
            (
                "refs/heads/main",
                "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
            ),
            ("refs/heads/main", &"a".repeat(39)),
            ("refs/heads/ma..in", &"a".repeat(40)),
            ("refs/heads/main?x=", &"a".repeat(40)),
        ] {
            let p = plan(&config(), "push", &push(git_ref, after)).expect("plan");
            assert!(
                matches!(&p, Plan::Nothing(why) if why.starts_with("ignored: ")),
                "{git_ref} {after}: {p:?}"
            );
        }
        // SHA-256 repositories have 64-digit ids.
        assert!(matches!(
            plan(&config(), "push", &push("refs/heads/main", &"b".repeat(64))),
            Ok(Plan::Deployment(_))
        ));
        let mut bad_branch = pr("opened", "main", false);
        bad_branch["pull_request"]["head"]["ref"] = json!("x <!channel>");
        let p = plan(&config(), "pull_request.opened", &bad_branch).expect("plan");
        assert!(
            matches!(&p, Plan::Nothing(why) if why.contains("pull_request.head.ref")),
            "{p:?}"
        );
    }

    #[test]
    fn ref_names_follow_git_check_ref_format() {
        for ok in [
            "refs/heads/main",
            "refs/heads/release/1.2",
            "refs/tags/v1",
            "refs/heads/a-b_c",
        ] {
            assert!(is_valid_ref_name(ok), "{ok}");
        }
        for bad in [
            "main",
            "refs/heads/",
            "refs//heads",
            "refs/heads/a..b",
            "refs/heads/.x",
            "refs/heads/x.lock",
            "refs/heads/x.",
            "refs/heads/a b",
            "refs/heads/a~1",
            "refs/heads/a^",
            "refs/heads/a:b",
            "refs/heads/a?",
            "refs/heads/a*",
            "refs/heads/a[",
            "refs/heads/a\\b",
            "refs/heads/a@{1}",
            "@",
            "refs/heads/a\u{7f}",
            "refs/heads/a\tb",
        ] {
            assert!(!is_valid_ref_name(bad), "{bad:?}");
        }
        assert!(is_valid_branch_name("feature/x"));
        assert!(!is_valid_branch_name("-x"));
        assert!(is_commit_sha(&"0123456789abcdef".repeat(4)[..40]));
        assert!(!is_commit_sha(&"g".repeat(40)));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let p = plan(
            &config(),
            "pull_request.opened",
            &json!({"repository": {"full_name": "octo/hello"}}),
        );
        assert!(p.is_err());
    }

    fn merge_group(action: &str, base_ref: &str, head_ref: &str) -> Value {
        json!({
            "action": action, "reason": "dequeued",
            "merge_group": {"head_sha": "d".repeat(40), "head_ref": head_ref, "base_ref": base_ref},
            "repository": {"full_name": "octo/hello"}, "sender": {"login": "dev"}
        })
    }

    #[test]
    fn a_merge_queue_entry_is_an_eval_run_of_its_commit_and_its_end_cancels_it() {
        let queued = "refs/heads/gh-readonly-queue/main/pr-5-bbbbbbbb";
        let queued_plan = plan(
            &config(),
            "merge_group",
            &merge_group("checks_requested", "refs/heads/main", queued),
        );
        let Ok(Plan::EvalRun(run)) = queued_plan else {
            panic!("{queued_plan:?}");
        };
        assert_eq!(run.number, 5);
        assert_eq!(run.head_sha, "d".repeat(40));
        assert_eq!(
            run.head_branch.as_deref(),
            Some("gh-readonly-queue/main/pr-5-bbbbbbbb")
        );
        assert!(run.merge_queue && !run.rerun);
        assert_eq!(
            plan(
                &config(),
                "merge_group",
                &merge_group("destroyed", "refs/heads/main", queued)
            ),
            Ok(Plan::CancelEvalRuns {
                repo: "octo/hello".into(),
                head_sha: "d".repeat(40),
                why: "Cancelled: the merge queue entry was dequeued".into(),
            })
        );
        assert!(matches!(
            plan(&config(), "merge_group", &merge_group("checks_requested", "refs/heads/dev", queued)),
            Ok(Plan::Nothing(why)) if why.contains("not `main`")
        ));
        assert!(matches!(
            plan(&config(), "merge_group", &merge_group("checks_requested", "refs/heads/main", "refs/heads/elsewhere")),
            Ok(Plan::Nothing(why)) if why.contains("names no pull request")
        ));
    }
}
