//! A pull request's one results comment (GitLab: merge request note): a PR_COMMENT row
//! creates it the first time, and edits the same comment after, found by the id the remote's
//! answer gave. Someone who deleted it gets a new one at the next result.

use crate::base::error::AppResult;
use crate::db::Conn;
use crate::db::outbox::OutboxRow;
use crate::db::pr_comments;
use crate::db::runs::{self, EvalRun};
use crate::remote::call::Method;
use crate::remote::forge::Forge;

/// The eval run a PR_COMMENT row is about (its pull request is the comment's).
fn run_of(conn: Conn<'_>, row: &OutboxRow) -> AppResult<Option<EvalRun>> {
    match row.subject_id.as_deref() {
        Some(id) => Ok(runs::get_eval_run(conn, id).ok()),
        None => Ok(None),
    }
}

/// How a PR_COMMENT row is sent once its comment exists: `PATCH …/issues/comments/{id}`
/// (GitHub) or `PUT …/merge_requests/{iid}/notes/{id}` (GitLab), from the create call's
/// `path`. None while there is no comment yet: the row creates it.
pub fn edit(
    conn: Conn<'_>,
    row: &OutboxRow,
    forge: Forge,
    path: &str,
) -> AppResult<Option<(Method, String)>> {
    let Some(run) = run_of(conn, row)? else {
        return Ok(None);
    };
    let Some(id) = pr_comments::comment_id(conn, &row.integration_id, &run.repo, run.number)?
    else {
        return Ok(None);
    };
    let id = crate::remote::segment(&id);
    Ok(Some(match forge {
        Forge::Gitlab => (Method::Put, format!("{path}/{id}")),
        Forge::Github => {
            let repo = path
                .strip_suffix(&format!("/issues/{}/comments", run.number))
                .unwrap_or(path);
            (Method::Patch, format!("{repo}/issues/comments/{id}"))
        }
    }))
}

/// Keeps the id the remote's answer gives the comment (a create's; an edit's is the same).
pub fn remember(conn: Conn<'_>, row: &OutboxRow, answer_body: &str) -> AppResult<()> {
    let Some(id) = serde_json::from_str::<serde_json::Value>(answer_body)
        .ok()
        .and_then(|v| match &v["id"] {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
    else {
        return Ok(());
    };
    if let Some(run) = run_of(conn, row)? {
        pr_comments::remember(conn, &row.integration_id, &run.repo, run.number, &id)?;
    }
    Ok(())
}

/// An edit answered 404: the comment was deleted. Forgets it, so that the row, sent again,
/// creates a new one. False when there was no comment to edit (the pull request itself is
/// gone, or not visible to the credentials): the 404 stands.
pub fn forget_deleted(conn: Conn<'_>, row: &OutboxRow) -> AppResult<bool> {
    let Some(run) = run_of(conn, row)? else {
        return Ok(false);
    };
    pr_comments::forget(conn, &row.integration_id, &run.repo, run.number)
}
