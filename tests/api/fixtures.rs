//! Deliveries in the shapes GitHub and GitLab document (trimmed to the fields that matter,
//! plus enough of the rest to look like the real thing).

use serde_json::{Value, json};

pub const REPO: &str = "octo-org/agent-repo";

fn repository() -> Value {
    json!({
        "id": 1296269,
        "name": "agent-repo",
        "full_name": REPO,
        "private": false,
        "owner": {"login": "octo-org", "id": 1},
        "html_url": format!("https://github.com/{REPO}"),
        "default_branch": "main"
    })
}

/// `pull_request` with `action` (opened, synchronize, closed …).
pub fn github_pr(
    action: &str,
    number: i64,
    base: &str,
    head_sha: &str,
    merged: bool,
    merge_sha: Option<&str>,
) -> Value {
    json!({
        "action": action,
        "number": number,
        "pull_request": {
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
            "id": 1000 + number,
            "html_url": format!("https://github.com/{REPO}/pull/{number}"),
            "number": number,
            "state": if action == "closed" { "closed" } else { "open" },
            "title": "Tune the retrieval prompt",
            "user": {"login": "octocat", "id": 583231},
            "body": "Improves recall on the eval set.",
            "draft": false,
            "merged": merged,
            "merge_commit_sha": merge_sha,
            "head": {"label": "octo-org:tune", "ref": "tune", "sha": head_sha, "repo": repository()},
            "base": {"label": format!("octo-org:{base}"), "ref": base, "sha": "b".repeat(40), "repo": repository()}
        },
        "repository": repository(),
        "sender": {"login": "octocat", "id": 583231}
    })
}

/// `push` to `git_ref` ending at `after`.
pub fn github_push(git_ref: &str, after: &str) -> Value {
    let deleted = after.bytes().all(|b| b == b'0');
    json!({
        "ref": git_ref,
        "before": "a".repeat(40),
        "after": after,
        "created": false,
        "deleted": deleted,
        "forced": false,
        "compare": format!("https://github.com/{REPO}/compare/aaaaaaaaaaaa...{}", &after[..12]),
        "commits": [],
        "head_commit": if deleted { Value::Null } else { json!({
            "id": after, "message": "Merge pull request #7", "url": format!("https://github.com/{REPO}/commit/{after}")
        })},
        "repository": repository(),
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {"login": "octocat", "id": 583231}
    })
}

fn gitlab_project() -> Value {
    json!({
        "id": 42,
        "name": "agent-project",
        "web_url": "https://gitlab.example.com/grp/agent-project",
        "path_with_namespace": "grp/agent-project",
        "default_branch": "main"
    })
}

/// `Merge Request Hook` with `action` (open, update, merge, close …).
pub fn gitlab_mr(
    action: &str,
    iid: i64,
    last_commit: &str,
    oldrev: Option<&str>,
    merge_sha: Option<&str>,
) -> Value {
    let mut attrs = json!({
        "id": 9000 + iid,
        "iid": iid,
        "title": "Tune the retrieval prompt",
        "target_branch": "main",
        "source_branch": "tune",
        "state": if action == "merge" { "merged" } else { "opened" },
        "action": action,
        "url": format!("https://gitlab.example.com/grp/agent-project/-/merge_requests/{iid}"),
        "last_commit": {"id": last_commit, "message": "Tune", "title": "Tune"},
        "merge_commit_sha": merge_sha
    });
    if let Some(o) = oldrev {
        attrs["oldrev"] = json!(o);
    }
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": gitlab_project(),
        "object_attributes": attrs,
        "repository": {"name": "agent-project", "homepage": "https://gitlab.example.com/grp/agent-project"}
    })
}

/// `Push Hook` to `git_ref` ending at `after`.
pub fn gitlab_push(git_ref: &str, after: &str) -> Value {
    json!({
        "object_kind": "push",
        "event_name": "push",
        "before": "a".repeat(40),
        "after": after,
        "ref": git_ref,
        "checkout_sha": after,
        "user_username": "root",
        "project_id": 42,
        "project": gitlab_project(),
        "commits": [],
        "total_commits_count": 0
    })
}

/// `sha256=<hex>` as GitHub computes it.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
