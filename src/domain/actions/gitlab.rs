//! GitLab: `Merge Request Hook` open/reopen, or update with new commits (`oldrev`) → eval run;
//! merge → deployment; `Push Hook` to the branch → deployment.

use serde_json::Value;

use super::*;
use crate::domain::integration_config::GitlabConfig;

/// Whether the payload's project is taken (the configured one, or one the group's `projects`
/// admit): `Ok` or `Err` with why, and its lower-case path.
fn admission(
    config: &GitlabConfig,
    payload: &Value,
) -> Result<(Result<String, String>, String), PlanError> {
    let path = text(payload, &["project", "path_with_namespace"])
        .ok_or("the payload has no project.path_with_namespace")?;
    let id = payload
        .get("project")
        .and_then(|p| p.get("id"))
        .or_else(|| payload.get("project_id"))
        .and_then(Value::as_i64);
    Ok((config.admission(id, path), path.to_ascii_lowercase()))
}

/// For the trace: why a group integration took the delivery's project (a refusal is the
/// plan's own outcome). None for a one-project integration, where there is nothing to tell.
pub fn admitted_by(config: &GitlabConfig, payload: &Value) -> Option<String> {
    config.group.as_ref()?;
    admission(config, payload).ok()?.0.ok()
}

pub fn plan(config: &GitlabConfig, payload: &Value) -> Result<Plan, PlanError> {
    settle(plan_or_stop(config, payload))
}

fn plan_or_stop(config: &GitlabConfig, payload: &Value) -> Result<Plan, Stop> {
    let kind = text(payload, &["object_kind"]).unwrap_or("");
    if kind != "merge_request" && kind != "push" {
        let name = if kind.is_empty() { "this" } else { kind };
        return Ok(Plan::Nothing(format!(
            "recorded, no action for {name} events"
        )));
    }
    let branch = config.branch();
    let (admitted, repo) = admission(config, payload)?;
    if let Err(why) = admitted {
        return Ok(Plan::Nothing(format!("ignored: {why}")));
    }

    if kind == "push" {
        let after = commit_sha(payload, &["after"])?;
        let url = text(payload, &["project", "web_url"]).map(|u| format!("{u}/-/commit/{after}"));
        return Ok(plan_push(
            repo,
            branch,
            ref_name(payload, &["ref"])?,
            after,
            false,
            url,
        ));
    }

    let attrs = payload
        .get("object_attributes")
        .ok_or("the payload has no object_attributes")?;
    let target = required(attrs, &["target_branch"])?;
    branch_name(attrs, &["target_branch"]).map_err(in_attributes)?;
    if target != branch {
        return Ok(Plan::Nothing(format!(
            "ignored: target branch `{target}` is not `{branch}`"
        )));
    }
    let action = text(attrs, &["action"]).unwrap_or("");
    let iid = number(attrs, &["iid"])?;
    let url = text(attrs, &["url"]).map(str::to_string);
    let new_commits = attrs.get("oldrev").is_some_and(|v| !v.is_null());
    match action {
        "open" | "reopen" => {}
        "update" if new_commits => {}
        "update" => {
            return Ok(Plan::Nothing(
                "ignored: merge request updated without new commits".into(),
            ));
        }
        "merge" => {
            // GitLab leaves merge_commit_sha empty for fast-forward merges: then the merged
            // commit is the last one.
            let field: &[&str] =
                if text(attrs, &["merge_commit_sha"]).is_some_and(|s| !s.is_empty()) {
                    &["merge_commit_sha"]
                } else if text(attrs, &["last_commit", "id"]).is_some() {
                    &["last_commit", "id"]
                } else {
                    return Err("the payload has no object_attributes.merge_commit_sha".into());
                };
            let sha = commit_sha(attrs, field).map_err(in_attributes)?;
            return Ok(Plan::Deployment(DeploymentPlan {
                repo,
                commit_sha: sha.to_string(),
                branch: branch.to_string(),
                pr_number: Some(iid),
                url,
            }));
        }
        other => {
            return Ok(Plan::Nothing(format!(
                "ignored: merge request action {other} triggers nothing"
            )));
        }
    }
    Ok(Plan::EvalRun(EvalRunPlan {
        repo,
        number: iid,
        title: text(attrs, &["title"]).map(str::to_string),
        head_sha: commit_sha(attrs, &["last_commit", "id"])
            .map_err(in_attributes)?
            .to_string(),
        head_branch: branch_name(attrs, &["source_branch"])
            .map_err(in_attributes)?
            .map(str::to_string),
        author: text(payload, &["user", "username"]).map(str::to_string),
        url,
        rerun: false,
        merge_queue: false,
        rerun_of: None,
    }))
}

/// A stop about a field of `object_attributes`, named with its full path.
fn in_attributes(stop: Stop) -> Stop {
    match stop {
        Stop::Ignored(why) => {
            Stop::Ignored(why.replacen("ignored: ", "ignored: object_attributes.", 1))
        }
        malformed => malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_of(v: Value) -> GitlabConfig {
        serde_json::from_value(v).expect("config")
    }

    fn mr(action: &str, oldrev: Option<&str>) -> Value {
        let mut attrs = json!({
            "iid": 3, "title": "Tune prompts", "action": action, "target_branch": "main",
            "source_branch": "tune", "url": "https://gitlab.com/grp/proj/-/merge_requests/3",
            "last_commit": {"id": "c".repeat(40)}, "merge_commit_sha": "f".repeat(40)
        });
        if let Some(o) = oldrev {
            attrs["oldrev"] = json!(o);
        }
        json!({
            "object_kind": "merge_request",
            "user": {"username": "dev"},
            "project": {"id": 42, "path_with_namespace": "grp/proj"},
            "object_attributes": attrs
        })
    }

    #[test]
    fn open_reopen_and_updates_with_commits_trigger_eval_runs() {
        for (action, oldrev) in [("open", None), ("reopen", None), ("update", Some("abc"))] {
            let p = plan(
                &config_of(json!({"project_id": 42, "branch": "main"})),
                &mr(action, oldrev),
            );
            assert!(
                matches!(p, Ok(Plan::EvalRun(ref r)) if r.number == 3 && r.repo == "grp/proj"),
                "{action}: {p:?}"
            );
        }
        let p = plan(
            &config_of(json!({"project_id": "grp/proj"})),
            &mr("update", None),
        );
        assert!(matches!(p, Ok(Plan::Nothing(_))));
    }

    #[test]
    fn merges_deploy_and_closes_do_not() {
        let p = plan(&config_of(json!({"project_id": "42"})), &mr("merge", None));
        assert!(
            matches!(p, Ok(Plan::Deployment(ref d)) if d.commit_sha == "f".repeat(40) && d.pr_number == Some(3))
        );
        let p = plan(&config_of(json!({"project_id": "42"})), &mr("close", None));
        assert!(matches!(p, Ok(Plan::Nothing(_))));
    }

    #[test]
    fn traversal_in_shas_and_refs_is_ignored() {
        let config = config_of(json!({"project_id": 42}));
        let mut push = json!({"object_kind": "push", "ref": "refs/heads/main", "after": "../../../../users?x=#",
                              "project_id": 42, "project": {"id": 42, "path_with_namespace": "grp/proj"}});
        let p = plan(&config, &push).expect("plan");
        assert!(
            matches!(&p, Plan::Nothing(why) if why.starts_with("ignored: after is not a commit id")),
            "{p:?}"
        );
        push["after"] = json!("a".repeat(40));
        push["ref"] = json!("refs/heads/../main");
        assert!(matches!(plan(&config, &push), Ok(Plan::Nothing(_))));
        let mut open = mr("open", None);
        open["object_attributes"]["last_commit"]["id"] = json!("../x");
        let p = plan(&config, &open).expect("plan");
        assert!(
            matches!(&p, Plan::Nothing(why) if why.contains("object_attributes.last_commit.id")),
            "{p:?}"
        );
        let mut merged = mr("merge", None);
        merged["object_attributes"]["merge_commit_sha"] = json!("?x");
        assert!(matches!(plan(&config, &merged), Ok(Plan::Nothing(_))));
    }

    #[test]
    fn other_projects_are_ignored() {
        let p = plan(&config_of(json!({"project_id": 7})), &mr("open", None));
        assert!(matches!(p, Ok(Plan::Nothing(s)) if s.contains("grp/proj")));
    }
}
