//! Every SQL statement that touches `slack_posts` and `slack_threads`: where a bot token
//! posted each run's message, and the thread of each pull request.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

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

/// Takes the turn of `key` (a hash of the webhook URL, or of the bot token and channel) when
/// `spacing_ms` have passed since the last message was sent and no urgent message is waiting
/// for it (unless this one is urgent; a wait older than `keep_ms` is forgotten). The turn is
/// held for `hold_ms` (longer than a send can take) until [`end_turn`] says the message went,
/// so the next one is spaced from the send itself and not from when it was prepared. Returns
/// the held-until value, or how long until the turn may be free. In the database, so the pace
/// holds however many nodes send; by the database's clock, so their clocks need not agree.
pub fn take_turn(
    conn: Conn<'_>,
    key: &str,
    urgent: bool,
    spacing_ms: i64,
    keep_ms: i64,
    hold_ms: i64,
) -> AppResult<Result<i64, i64>> {
    let now = super::cluster::now_sql(conn);
    let urgent = i64::from(urgent);
    let taken: Option<i64> = conn.query_opt(
        &format!(
            "INSERT INTO slack_turns (key, last_at, urgent_at) VALUES (?1, {now} + ?5, NULL)
             ON CONFLICT (key) DO UPDATE SET last_at = {now} + ?5,
                 urgent_at = CASE WHEN ?2 = 1 THEN NULL ELSE slack_turns.urgent_at END
             WHERE slack_turns.last_at <= {now} - ?3
               AND (?2 = 1 OR slack_turns.urgent_at IS NULL
                    OR slack_turns.urgent_at < {now} - ?4)
             RETURNING last_at"
        ),
        params![key, urgent, spacing_ms, keep_ms, hold_ms],
        |r| r.get(0),
    )?;
    if let Some(held_until) = taken {
        return Ok(Ok(held_until));
    }
    // Taken by another message: an urgent one keeps the next turn for itself.
    let wait: i64 = conn.query_value(
        &format!(
            "UPDATE slack_turns
             SET urgent_at = CASE WHEN ?2 = 1 THEN {now} ELSE urgent_at END
             WHERE key = ?1
             RETURNING CASE WHEN last_at + ?3 > {now} THEN last_at + ?3 - {now} ELSE ?3 END"
        ),
        params![key, urgent, spacing_ms],
    )?;
    Ok(Err(wait.clamp(1, spacing_ms)))
}

/// The message of the turn held until `held_until` was sent (or given up) now: the next turn
/// is a spacing from now. A turn whose hold ran out and was taken again is left alone.
pub fn end_turn(conn: Conn<'_>, key: &str, held_until: i64) -> AppResult<()> {
    let now = super::cluster::now_sql(conn);
    conn.execute(
        &format!("UPDATE slack_turns SET last_at = {now} WHERE key = ?1 AND last_at = ?2"),
        params![key, held_until],
    )?;
    Ok(())
}

/// Forgets turns older than `older_than_ms` (pruning).
pub fn forget_turns(conn: Conn<'_>, older_than_ms: i64) -> AppResult<usize> {
    let now = super::cluster::now_sql(conn);
    Ok(conn.execute(
        &format!("DELETE FROM slack_turns WHERE last_at < {now} - ?1"),
        params![older_than_ms],
    )?)
}
