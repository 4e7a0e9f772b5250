//! Every SQL statement that touches `slack_posts` and `slack_threads`: where a bot token
//! posted each run's message, and the thread of each pull request.

use super::sql::{Conn, params};

use crate::error::AppResult;

/// The channel and `ts` of the message already posted about `subject_id`.
pub fn post(
    conn: Conn<'_>,
    integration_id: &str,
    subject_id: &str,
) -> AppResult<Option<(String, String)>> {
    Ok(conn.query_opt(
        "SELECT channel, ts FROM slack_posts WHERE integration_id = ?1 AND subject_id = ?2",
        params![integration_id, subject_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// The `ts` of the first message about a pull request (`repo#number`).
pub fn thread(conn: Conn<'_>, integration_id: &str, thread_key: &str) -> AppResult<Option<String>> {
    Ok(conn.query_opt(
        "SELECT ts FROM slack_threads WHERE integration_id = ?1 AND thread_key = ?2",
        params![integration_id, thread_key],
        |r| r.get(0),
    )?)
}

/// Remembers a posted message: for its subject (later statuses update it) and, when its pull
/// request has no thread yet, as the thread's first message.
pub fn record(
    conn: Conn<'_>,
    integration_id: &str,
    subject_id: Option<&str>,
    thread_key: Option<&str>,
    channel: &str,
    ts: &str,
) -> AppResult<()> {
    if let Some(subject) = subject_id {
        conn.execute(
            "INSERT INTO slack_posts (integration_id, subject_id, channel, ts)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![integration_id, subject, channel, ts],
        )?;
    }
    if let Some(key) = thread_key {
        conn.execute(
            "INSERT INTO slack_threads (integration_id, thread_key, channel, ts)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![integration_id, key, channel, ts],
        )?;
    }
    Ok(())
}
