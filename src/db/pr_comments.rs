//! Every SQL statement that touches `pr_comments`: the one comment per pull request (GitLab:
//! note per merge request) that shows its newest eval results, by the id the remote gave it.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// The remote's id of the comment on `repo`'s pull request `number`, once it was created.
pub fn comment_id(
    conn: Conn<'_>,
    integration_id: &str,
    repo: &str,
    number: i64,
) -> AppResult<Option<String>> {
    Ok(conn.query_opt(
        "SELECT comment_id FROM pr_comments
         WHERE integration_id = ?1 AND repo = ?2 AND number = ?3",
        params![integration_id, repo, number],
        |r| r.get(0),
    )?)
}

/// Remembers the comment the remote created (a later result edits it).
pub fn remember(
    conn: Conn<'_>,
    integration_id: &str,
    repo: &str,
    number: i64,
    comment_id: &str,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO pr_comments (integration_id, repo, number, comment_id)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration_id, repo, number) DO UPDATE SET comment_id = excluded.comment_id",
        params![integration_id, repo, number, comment_id],
    )?;
    Ok(())
}

/// Forgets a comment someone deleted: the next result creates it again. False when none was
/// remembered.
pub fn forget(conn: Conn<'_>, integration_id: &str, repo: &str, number: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "DELETE FROM pr_comments WHERE integration_id = ?1 AND repo = ?2 AND number = ?3",
        params![integration_id, repo, number],
    )? > 0)
}
