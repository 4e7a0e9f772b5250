//! Slack accepts about one message per second per incoming-webhook URL (and per channel for a
//! bot token). The outbox takes each URL's turn here before sending, so the limit holds even
//! when two SLACK integrations share a URL, one integration has several queues, or several
//! nodes send: the turns are kept in the database.
//!
//! Messages about eval runs and deployments go first: when one of them finds the turn taken,
//! the next turn is kept for it, and alerts (which queue apart, per source) wait. A flood of
//! alerts therefore delays a run's message by about one second at most.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::base::error::AppResult;
use crate::db::{self, slack};

pub const SLACK_SPACING: Duration = Duration::from_secs(1);
/// How long a turn is kept for an urgent message that was refused one: it comes back within
/// the spacing; if it does not (deleted meanwhile), the others are not held up for long.
const KEEP_FOR_URGENT: Duration = Duration::from_secs(3);
/// Turns older than this are forgotten by pruning.
pub const FORGET_AFTER: Duration = Duration::from_secs(60);

/// How long a taken turn is held for its message's send: longer than a send can take (the
/// HTTP client's whole timeout), so a node that dies mid-send holds the URL up no longer.
pub const HOLD_FOR_SEND: Duration = Duration::from_secs(15);

/// A turn taken: given back by [`end`] once its message was sent.
#[derive(Debug, Clone)]
pub struct Turn {
    hashed_key: String,
    held_until: i64,
}

/// Takes `key`'s turn if it is free now; otherwise says how long until it is. An urgent
/// message (about an eval run or a deployment) is given the next turn before any other.
/// `key` holds a credential (a webhook URL, a bot token): only its hash is stored.
pub fn try_take(conn: db::Conn<'_>, key: &str, urgent: bool) -> AppResult<Result<Turn, Duration>> {
    let hashed_key = hex::encode(Sha256::digest(key.as_bytes()));
    let taken = slack::take_turn(
        conn,
        &hashed_key,
        urgent,
        SLACK_SPACING.as_millis() as i64,
        KEEP_FOR_URGENT.as_millis() as i64,
        HOLD_FOR_SEND.as_millis() as i64,
    )?;
    Ok(match taken {
        Ok(held_until) => Ok(Turn {
            hashed_key,
            held_until,
        }),
        Err(ms) => Err(Duration::from_millis(ms as u64)),
    })
}

/// The turn's message was sent (or given up): the next one waits a spacing from now, so two
/// messages reach Slack at least a spacing apart however long one took to leave.
pub fn end(conn: db::Conn<'_>, turn: &Turn) -> AppResult<()> {
    slack::end_turn(conn, &turn.hashed_key, turn.held_until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_url_per_second() {
        let db = db::Connection::memory();
        let conn = db.conn();
        assert!(try_take(conn, "a", false).expect("db").is_ok());
        let wait = try_take(conn, "a", false).expect("db").expect_err("busy");
        assert!(
            wait <= SLACK_SPACING && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        assert!(
            try_take(conn, "b", false).expect("db").is_ok(),
            "another URL is not delayed"
        );
    }

    #[test]
    fn the_next_turn_is_spaced_from_the_send_not_from_the_take() {
        let db = db::Connection::memory();
        let conn = db.conn();
        let turn = try_take(conn, "a", true).expect("db").expect("free");
        // The message has not left yet (a stalled machine, a slow connect): however long that
        // takes, no other message gets the URL.
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(100));
        assert!(
            try_take(conn, "a", true).expect("db").is_err(),
            "held for the send"
        );
        end(conn, &turn).expect("db");
        let wait = try_take(conn, "a", true)
            .expect("db")
            .expect_err("spaced from the send");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(20));
        assert!(try_take(conn, "a", true).expect("db").is_ok());
    }

    #[test]
    fn an_urgent_message_refused_a_turn_gets_the_next_one() {
        let db = db::Connection::memory();
        let conn = db.conn();
        let take = |urgent| try_take(conn, "a", urgent).expect("db");
        let sent = |turn: Turn| end(conn, &turn).expect("db");
        sent(take(false).expect("free"));
        assert!(take(true).is_err(), "the turn is taken");
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(20));
        // The alert that comes first now must wait; the urgent one takes the turn.
        assert!(take(false).is_err());
        sent(take(true).expect("kept for the urgent one"));
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(20));
        assert!(take(false).is_ok(), "then alerts go on");
    }
}
