//! The master key's check value: a known text sealed with the key by the first start, opened
//! by every later one (every node, on PostgreSQL).

use super::sql::{Conn, params};
use crate::base::error::AppResult;

/// Whether the key this process holds is the one the database was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// No check value was stored: this start's key is recorded as the database's.
    Recorded,
    Matches,
    Differs,
}

/// Compares the stored check value with this process's key (`opens` tells whether the key
/// opens it); the first start stores `seal()`. Two nodes starting together store one value,
/// and the second compares against it.
pub fn check(
    conn: Conn<'_>,
    seal: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    opens: impl Fn(&[u8]) -> bool,
    now: i64,
) -> AppResult<KeyCheck> {
    let read = || {
        conn.query_opt(
            "SELECT sealed FROM key_check WHERE id = 1",
            params![],
            |r| r.get::<Vec<u8>>(0),
        )
    };
    let recorded = match read()? {
        Some(stored) => return Ok(verdict(opens(&stored))),
        None => {
            let sealed = seal()?;
            conn.execute(
                "INSERT INTO key_check (id, sealed, recorded_at) VALUES (1, ?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![sealed, now],
            )? == 1
        }
    };
    if recorded {
        return Ok(KeyCheck::Recorded);
    }
    // Another node recorded its key a moment before.
    let stored = read()?.unwrap_or_default();
    Ok(verdict(opens(&stored)))
}

fn verdict(opens: bool) -> KeyCheck {
    if opens {
        KeyCheck::Matches
    } else {
        KeyCheck::Differs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_is_recorded_and_another_one_differs() {
        let db = crate::db::Connection::memory();
        let conn = db.conn();
        let seal = |k: u8| move || Ok(vec![k; 4]);
        let opens = |k: u8| move |stored: &[u8]| stored == [k; 4];
        assert_eq!(
            check(conn, seal(1), opens(1), 0).expect("check"),
            KeyCheck::Recorded
        );
        assert_eq!(
            check(conn, seal(1), opens(1), 1).expect("check"),
            KeyCheck::Matches
        );
        assert_eq!(
            check(conn, seal(2), opens(2), 2).expect("check"),
            KeyCheck::Differs
        );
    }
}
