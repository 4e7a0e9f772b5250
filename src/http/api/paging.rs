//! Cursor pagination, the same for every list: newest first, `limit` rows (1–200, default 50),
//! and a `nextCursor` naming the last row when more exist.

use crate::domain::checked::Cursor;

pub const DEFAULT_LIMIT: u32 = 50;

/// How many rows to fetch for a page: one more than shown, to learn whether more exist.
pub fn fetch_count(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_LIMIT) + 1
}

/// Splits a fetched page (of `fetch_count` rows at most) into the rows to show and the cursor
/// of the next page.
pub fn split<T>(
    mut rows: Vec<T>,
    fetched: u32,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let shown = fetched.saturating_sub(1) as usize;
    let more = rows.len() > shown;
    rows.truncate(shown);
    let next = if more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    (rows, next)
}

/// A cursor over rows ordered by a sequence number: `<seq>`.
pub fn before_seq(cursor: Option<Cursor>) -> Option<i64> {
    cursor.map(|c| leading_number(c.as_str()))
}

/// A cursor over rows ordered by creation time and id: `<created_at>.<id>`.
pub fn before_time_and_id(cursor: Option<Cursor>) -> Option<(i64, String)> {
    cursor.map(|c| {
        let text = c.as_str();
        let id = text.split_once('.').map(|(_, id)| id).unwrap_or("");
        (leading_number(text), id.to_string())
    })
}

fn leading_number(text: &str) -> i64 {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    // The cursor's pattern allows at most 18 digits, which always fit.
    digits.parse().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_shows_limit_rows_and_names_the_last_when_more_exist() {
        let fetched = fetch_count(Some(2));
        assert_eq!(
            split(vec![5, 4, 3], fetched, |r| r.to_string()),
            (vec![5, 4], Some("4".into()))
        );
        assert_eq!(
            split(vec![5, 4], fetched, |r| r.to_string()),
            (vec![5, 4], None)
        );
    }

    #[test]
    fn cursors_are_read_back() {
        assert_eq!(before_seq(Cursor::parse("42")), Some(42));
        assert_eq!(
            before_time_and_id(Cursor::parse("1700.ab-12")),
            Some((1700, "ab-12".into()))
        );
        assert_eq!(before_seq(None), None);
    }
}
