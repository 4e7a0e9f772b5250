//! Bodies shaped like what senders really send: GitHub's `pull_request` `opened` delivery
//! (the fields and nesting GitHub documents, about 21 KB compact) and a 5 KB generic JSON
//! event. Written here rather than copied, with a seed so deliveries differ.

use serde_json::{Map, Value, json};

/// A GitHub user object as it appears in payloads (`user`, `sender`, `owner`).
fn user(login: &str, id: u64) -> Value {
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id:08}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false
    })
}

/// A repository object with GitHub's URL templates and settings.
fn repository(owner: &str, name: &str, id: u64) -> Value {
    let full = format!("{owner}/{name}");
    let api = format!("https://api.github.com/repos/{full}");
    let mut repo = Map::new();
    let fields = [
        ("id", json!(id)),
        ("node_id", json!(format!("MDEwOlJlcG9zaXRvcnk{id:08}"))),
        ("name", json!(name)),
        ("full_name", json!(full)),
        ("private", json!(false)),
        ("owner", user(owner, id / 7)),
        ("html_url", json!(format!("https://github.com/{full}"))),
        (
            "description",
            json!("Agents that propose, evaluate and ship changes to the delivery pipeline."),
        ),
        ("fork", json!(false)),
        ("url", json!(api)),
        ("created_at", json!("2024-03-11T09:12:45Z")),
        ("updated_at", json!("2026-11-28T17:02:11Z")),
        ("pushed_at", json!("2026-11-29T06:58:30Z")),
        ("git_url", json!(format!("git://github.com/{full}.git"))),
        ("ssh_url", json!(format!("git@github.com:{full}.git"))),
        ("clone_url", json!(format!("https://github.com/{full}.git"))),
        ("svn_url", json!(format!("https://github.com/{full}"))),
        ("homepage", json!(null)),
        ("size", json!(48213)),
        ("stargazers_count", json!(214)),
        ("watchers_count", json!(214)),
        ("language", json!("Rust")),
        ("has_issues", json!(true)),
        ("has_projects", json!(true)),
        ("has_downloads", json!(true)),
        ("has_wiki", json!(false)),
        ("has_pages", json!(false)),
        ("has_discussions", json!(false)),
        ("forks_count", json!(31)),
        ("mirror_url", json!(null)),
        ("archived", json!(false)),
        ("disabled", json!(false)),
        ("open_issues_count", json!(57)),
        (
            "license",
            json!({"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0", "url": "https://api.github.com/licenses/apache-2.0", "node_id": "MDc6TGljZW5zZTI="}),
        ),
        ("allow_forking", json!(true)),
        ("is_template", json!(false)),
        ("web_commit_signoff_required", json!(false)),
        ("topics", json!(["agents", "ci", "delivery", "webhooks"])),
        ("visibility", json!("public")),
        ("forks", json!(31)),
        ("open_issues", json!(57)),
        ("watchers", json!(214)),
        ("default_branch", json!("main")),
    ];
    for (k, v) in fields {
        repo.insert(k.into(), v);
    }
    // GitHub lists every related API URL, most of them templates.
    for (k, path) in [
        ("forks_url", "forks"),
        ("collaborators_url", "collaborators{/collaborator}"),
        ("teams_url", "teams"),
        ("hooks_url", "hooks"),
        ("issue_events_url", "issues/events{/number}"),
        ("events_url", "events"),
        ("assignees_url", "assignees{/user}"),
        ("branches_url", "branches{/branch}"),
        ("tags_url", "tags"),
        ("blobs_url", "git/blobs{/sha}"),
        ("trees_url", "git/trees{/sha}"),
        ("statuses_url", "statuses/{sha}"),
        ("languages_url", "languages"),
        ("stargazers_url", "stargazers"),
        ("contributors_url", "contributors"),
        ("subscribers_url", "subscribers"),
        ("commits_url", "commits{/sha}"),
        ("git_commits_url", "git/commits{/sha}"),
        ("comments_url", "comments{/number}"),
        ("contents_url", "contents/{+path}"),
        ("issues_url", "issues{/number}"),
        ("pulls_url", "pulls{/number}"),
        ("labels_url", "labels{/name}"),
    ] {
        repo.insert(k.into(), json!(format!("{api}/{path}")));
    }
    Value::Object(repo)
}

/// The repository every benchmark pull request belongs to.
pub const REPO: &str = "provenant-bench/delivery-agents";

/// A `pull_request` `opened` delivery for PR `number` at commit `sha`, compact as GitHub sends.
pub fn pull_request_opened(number: u64, sha: &str) -> Vec<u8> {
    let (owner, name) = REPO.split_once('/').expect("owner/name");
    let repo = repository(owner, name, 734_512_903);
    let author = user("agent-builder", 98_765_432);
    let api = format!("https://api.github.com/repos/{REPO}");
    let html = format!("https://github.com/{REPO}/pull/{number}");
    let branch = format!("agent/fix-flaky-eval-{number}");
    let pr = json!({
        "url": format!("{api}/pulls/{number}"),
        "id": 2_100_000_000u64 + number,
        "node_id": format!("PR_kwDOK{number:010}"),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{number}"),
        "number": number,
        "state": "open",
        "locked": false,
        "title": format!("Retry the evaluation step when the runner is pre-empted (#{number})"),
        "user": author,
        "body": "The evaluation job fails about once a day when the spot runner is reclaimed \
                 mid-run. This retries the step once on a fresh runner and records both attempts \
                 in the run log, so a flaky infrastructure failure no longer blocks the merge \
                 queue.\n\n- [x] unit tests\n- [x] ran the eval suite twice\n- [ ] docs",
        "created_at": "2026-11-29T07:01:12Z",
        "updated_at": "2026-11-29T07:01:12Z",
        "closed_at": null,
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [user("release-captain", 12_345_678)],
        "requested_teams": [],
        "labels": [{"id": 4_511_234_001u64, "node_id": "LA_kwDOKabc", "url": format!("{api}/labels/agent"), "name": "agent", "color": "0e8a16", "default": false, "description": "Opened by an agent"}],
        "milestone": null,
        "draft": false,
        "commits_url": format!("{api}/pulls/{number}/commits"),
        "review_comments_url": format!("{api}/pulls/{number}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{number}/comments"),
        "statuses_url": format!("{api}/statuses/{sha}"),
        "head": {"label": format!("{owner}:{branch}"), "ref": branch, "sha": sha, "user": user(owner, 104_932_001), "repo": repo},
        "base": {"label": format!("{owner}:main"), "ref": "main", "sha": "9f1c2e4b7a3d5f60812b9c4e7d2a1f3b5c6d7e8f", "user": user(owner, 104_932_001), "repo": repo},
        "_links": {
            "self": {"href": format!("{api}/pulls/{number}")},
            "html": {"href": html},
            "issue": {"href": format!("{api}/issues/{number}")},
            "comments": {"href": format!("{api}/issues/{number}/comments")},
            "review_comments": {"href": format!("{api}/pulls/{number}/comments")},
            "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{api}/pulls/{number}/commits")},
            "statuses": {"href": format!("{api}/statuses/{sha}")}
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": null,
        "active_lock_reason": null,
        "merged": false,
        "mergeable": null,
        "rebaseable": null,
        "mergeable_state": "unknown",
        "merged_by": null,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 3,
        "additions": 148,
        "deletions": 37,
        "changed_files": 6
    });
    let body = json!({
        "action": "opened",
        "number": number,
        "pull_request": pr,
        "repository": repo,
        "organization": {"login": owner, "id": 104_932_001, "node_id": "O_kgDOBkX", "url": format!("https://api.github.com/orgs/{owner}"), "repos_url": format!("https://api.github.com/orgs/{owner}/repos"), "events_url": format!("https://api.github.com/orgs/{owner}/events"), "hooks_url": format!("https://api.github.com/orgs/{owner}/hooks"), "issues_url": format!("https://api.github.com/orgs/{owner}/issues"), "members_url": format!("https://api.github.com/orgs/{owner}/members{{/member}}"), "public_members_url": format!("https://api.github.com/orgs/{owner}/public_members{{/member}}"), "avatar_url": "https://avatars.githubusercontent.com/u/104932001?v=4", "description": ""},
        "sender": author
    });
    serde_json::to_vec(&body).expect("json")
}

/// A generic monitoring event of about 5 KB: a header and a list of findings.
pub fn generic_event(seq: u64) -> Vec<u8> {
    let findings: Vec<Value> = (0..14)
        .map(|i| {
            let rule = ["approval", "freeze", "canary", "rollback"][i % 4];
            let severity = ["low", "medium", "high", "critical"][i % 4];
            json!({
                "id": format!("F-{seq}-{i}"),
                "rule": format!("policy.deploy.{rule}"),
                "severity": severity,
                "resource": format!("arn:aws:ecs:eu-west-1:123456789012:service/prod/checkout-{i}"),
                "message": "The service was deployed without the canary stage completing; the rollout skipped the 10% step.",
                "first_seen": "2026-11-29T06:40:00Z",
                "labels": {"team": "payments", "env": "prod", "region": "eu-west-1"}
            })
        })
        .collect();
    let body = json!({
        "event": "drift.critical",
        "id": format!("evt_{seq:012}"),
        "created_at": "2026-11-29T07:00:00Z",
        "source": {"system": "policy-scanner", "version": "4.2.1", "run": format!("run-{seq}")},
        "summary": {"total": findings.len(), "critical": 3, "high": 4},
        "findings": findings
    });
    serde_json::to_vec(&body).expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_what_the_scenarios_claim() {
        let pr = pull_request_opened(42, "0123456789abcdef0123456789abcdef01234567");
        assert!((19_000..23_000).contains(&pr.len()), "{}", pr.len());
        let small = generic_event(1);
        assert!((4_500..5_600).contains(&small.len()), "{}", small.len());
    }
}
