//! Every SQL statement that touches `integration_stats` and `destination_stats`: hourly
//! roll-ups of what each integration received and how it ended, and of what each outbox
//! destination was sent. They are added to in the transactions that write those outcomes
//! (the delivery writer's, the worker's, the outbox's), so they never need a scan of the
//! events table, and they outlive event retention (a year).

use std::collections::HashMap;

use super::DbResult;
use super::sql::{Conn, params};
use crate::base::error::AppResult;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How long roll-ups are kept, whatever the events' retention.
pub const KEEP_MS: i64 = 365 * DAY_MS;
pub const MINUTE_MS: i64 = 60_000;
/// How long minute counts (what alerts read) are kept.
pub const KEEP_MINUTES_MS: i64 = HOUR_MS;

/// Upper bounds (inclusive, milliseconds) of the processing-latency buckets; a last bucket
/// takes everything slower. Fixed: changing them would change what stored rows mean.
pub const LATENCY_BOUNDS_MS: [i64; 11] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000, 300_000,
];
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The start of the hour `at` falls in (Unix milliseconds, UTC).
pub fn hour_of(at: i64) -> i64 {
    at.div_euclid(HOUR_MS) * HOUR_MS
}

pub fn latency_bucket(latency_ms: i64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|bound| latency_ms <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// One integration's numbers for one hour (or a sum of hours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationCounts {
    /// New deliveries stored (a repeated delivery id is a duplicate, not counted here).
    pub received: i64,
    pub duplicates: i64,
    pub processed: i64,
    pub failed: i64,
    /// Refused before storing: a bad signature or token (401), a malformed body (400, 415).
    pub rejected: i64,
    /// Processing ends (processed or failed) per latency bucket: from receipt to the end.
    pub latency: [i64; LATENCY_BUCKETS],
}

impl IntegrationCounts {
    pub fn add(&mut self, other: &IntegrationCounts) {
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.processed += other.processed;
        self.failed += other.failed;
        self.rejected += other.rejected;
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency) {
            *mine += theirs;
        }
    }
}

/// What one transaction adds, by integration and hour, to its writer's rows; written with
/// [`write_tally`].
#[derive(Debug)]
pub struct Tally<'a> {
    shard: &'a str,
    counts: HashMap<(String, i64), IntegrationCounts>,
    /// By integration and minute: processed, failed, rejected (what alerts look at).
    minutes: HashMap<(String, i64), RecentCounts>,
}

/// An integration's outcomes in a few minutes: what alerts look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentCounts {
    pub processed: i64,
    pub failed: i64,
    pub rejected: i64,
}

/// The delivery writer's rows on node `node`: see `integration_stats.shard`.
pub fn ingest_shard(node: &str) -> String {
    format!("{node}:in")
}

/// The worker's rows on node `node`.
pub fn worker_shard(node: &str) -> String {
    format!("{node}:out")
}

impl<'a> Tally<'a> {
    /// A tally for the rows `shard` (from [`ingest_shard`] or [`worker_shard`]) adds to.
    pub fn new(shard: &'a str) -> Tally<'a> {
        Tally {
            shard,
            counts: HashMap::new(),
            minutes: HashMap::new(),
        }
    }

    fn minute(&mut self, integration_id: &str, at: i64) -> &mut RecentCounts {
        self.minutes
            .entry((
                integration_id.to_string(),
                at.div_euclid(MINUTE_MS) * MINUTE_MS,
            ))
            .or_default()
    }

    fn entry(&mut self, integration_id: &str, at: i64) -> &mut IntegrationCounts {
        self.counts
            .entry((integration_id.to_string(), hour_of(at)))
            .or_default()
    }

    pub fn received(&mut self, integration_id: &str, at: i64) {
        self.entry(integration_id, at).received += 1;
    }

    pub fn duplicate(&mut self, integration_id: &str, at: i64) {
        self.entry(integration_id, at).duplicates += 1;
    }

    pub fn rejected(&mut self, integration_id: &str, at: i64) {
        self.entry(integration_id, at).rejected += 1;
        self.minute(integration_id, at).rejected += 1;
    }

    /// A processing end at `at` of an event received at `received_at`.
    pub fn ended(&mut self, integration_id: &str, received_at: i64, at: i64, failed: bool) {
        let counts = self.entry(integration_id, at);
        if failed {
            counts.failed += 1;
        } else {
            counts.processed += 1;
        }
        counts.latency[latency_bucket(at - received_at)] += 1;
        let minute = self.minute(integration_id, at);
        if failed {
            minute.failed += 1;
        } else {
            minute.processed += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The minute counts, for [`Recent::add`] once the transaction has committed.
    pub fn take_minutes(&mut self) -> Minutes {
        std::mem::take(&mut self.minutes)
    }
}

/// Outcomes by integration and minute.
pub type Minutes = HashMap<(String, i64), RecentCounts>;

/// This node's minute counts not yet written (what alerts read). They are kept out of the
/// transactions that write the outcomes, whose every page counts when the disk is nearly
/// full, and written by the alerts' check a few times a minute ([`add_minutes`]); a crash
/// loses the last seconds' counts, which only alerts read.
#[derive(Default)]
pub struct Recent {
    enabled: bool,
    pending: std::sync::Mutex<Minutes>,
}

impl Recent {
    /// `enabled`: whether anything will write them (alerts are on); otherwise nothing is kept.
    pub fn new(enabled: bool) -> Recent {
        Recent {
            enabled,
            pending: Default::default(),
        }
    }

    /// Adds what a committed transaction counted.
    pub fn add(&self, minutes: Minutes) {
        if !self.enabled || minutes.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (key, c) in minutes {
            let mine = pending.entry(key).or_default();
            mine.processed += c.processed;
            mine.failed += c.failed;
            mine.rejected += c.rejected;
        }
        // Unwritten for long (the database refusing writes): past minutes are of no use.
        if pending.len() > 10_000
            && let Some(newest) = pending.keys().map(|(_, m)| *m).max()
        {
            pending.retain(|(_, m), _| *m >= newest - KEEP_MINUTES_MS);
        }
    }

    /// Everything not yet written; give it back with [`Recent::add`] when writing fails.
    pub fn take(&self) -> Minutes {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Adds minute counts to the rows of `shard` (a node's).
pub fn add_minutes(conn: Conn<'_>, shard: &str, minutes: &Minutes) -> AppResult<()> {
    for ((integration_id, minute), c) in minutes {
        conn.execute(
            "INSERT INTO integration_minutes (integration_id, minute, shard, processed, failed, rejected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (integration_id, minute, shard) DO UPDATE SET
                 processed = integration_minutes.processed + excluded.processed,
                 failed = integration_minutes.failed + excluded.failed,
                 rejected = integration_minutes.rejected + excluded.rejected",
            params![integration_id, minute, shard, c.processed, c.failed, c.rejected],
        )?;
    }
    Ok(())
}

const LATENCY_COLUMNS: &str =
    "lat_0, lat_1, lat_2, lat_3, lat_4, lat_5, lat_6, lat_7, lat_8, lat_9, lat_10, lat_11";

/// Adds a transaction's tally: one statement per integration and hour.
pub fn write_tally(conn: Conn<'_>, tally: &Tally<'_>) -> DbResult<()> {
    let adds: String = std::iter::once("received")
        .chain(["duplicates", "processed", "failed", "rejected"])
        .map(String::from)
        .chain((0..LATENCY_BUCKETS).map(|i| format!("lat_{i}")))
        .map(|c| format!("{c} = integration_stats.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders: String = (4..=8 + LATENCY_BUCKETS)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO integration_stats (integration_id, hour, shard, received, duplicates,
             processed, failed, rejected, {LATENCY_COLUMNS})
         VALUES (?1, ?2, ?3, {placeholders})
         ON CONFLICT (integration_id, hour, shard) DO UPDATE SET {adds}"
    );
    for ((integration_id, hour), c) in &tally.counts {
        let l = &c.latency;
        conn.execute(
            &sql,
            params![
                integration_id,
                hour,
                tally.shard,
                c.received,
                c.duplicates,
                c.processed,
                c.failed,
                c.rejected,
                l[0],
                l[1],
                l[2],
                l[3],
                l[4],
                l[5],
                l[6],
                l[7],
                l[8],
                l[9],
                l[10],
                l[11]
            ],
        )?;
    }
    Ok(())
}

/// Each integration's outcomes in the minutes from `from` on (the minute `from` falls in
/// included), for those that had any.
pub fn recent(conn: Conn<'_>, from: i64) -> AppResult<Vec<(String, RecentCounts)>> {
    Ok(conn.query_map(
        "SELECT integration_id, CAST(SUM(processed) AS BIGINT), CAST(SUM(failed) AS BIGINT),
                CAST(SUM(rejected) AS BIGINT)
         FROM integration_minutes WHERE minute >= ?1 GROUP BY integration_id ORDER BY 1",
        params![from.div_euclid(MINUTE_MS) * MINUTE_MS],
        |r| {
            Ok((
                r.get(0)?,
                RecentCounts {
                    processed: r.get(1)?,
                    failed: r.get(2)?,
                    rejected: r.get(3)?,
                },
            ))
        },
    )?)
}

/// Forgets minute counts older than `cutoff` (they are kept [`KEEP_MINUTES_MS`]).
pub fn prune_minutes(conn: Conn<'_>, cutoff: i64) -> AppResult<usize> {
    Ok(conn.execute(
        "DELETE FROM integration_minutes WHERE minute < ?1",
        params![cutoff],
    )?)
}

/// An integration's hours in `[from, to)` that have numbers, oldest first.
pub fn integration_hours(
    conn: Conn<'_>,
    integration_id: &str,
    from: i64,
    to: i64,
) -> AppResult<Vec<(i64, IntegrationCounts)>> {
    Ok(conn.query_map(
        &format!(
            "SELECT hour, received, duplicates, processed, failed, rejected, {LATENCY_COLUMNS}
             FROM integration_stats WHERE integration_id = ?1 AND hour >= ?2 AND hour < ?3
             ORDER BY hour"
        ),
        params![integration_id, from, to],
        |r| {
            let mut latency = [0; LATENCY_BUCKETS];
            for (i, slot) in latency.iter_mut().enumerate() {
                *slot = r.get(6 + i)?;
            }
            Ok((
                r.get(0)?,
                IntegrationCounts {
                    received: r.get(1)?,
                    duplicates: r.get(2)?,
                    processed: r.get(3)?,
                    failed: r.get(4)?,
                    rejected: r.get(5)?,
                    latency,
                },
            ))
        },
    )?)
}

/// One outbox destination's numbers for one hour (or a sum of hours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationCounts {
    pub sent: i64,
    /// Rows given up on (refused, or out of attempts).
    pub failed: i64,
    /// Attempts that will be tried again (a 5xx, a timeout, a rate limit).
    pub retried: i64,
    /// How long the remote had the destination paused, in milliseconds.
    pub paused_ms: i64,
}

impl DestinationCounts {
    pub fn add(&mut self, other: &DestinationCounts) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.retried += other.retried;
        self.paused_ms += other.paused_ms;
    }
}

/// Adds to `destination`'s hour that `at` falls in.
pub fn add_destination(
    conn: Conn<'_>,
    destination: &str,
    at: i64,
    c: &DestinationCounts,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO destination_stats (destination, hour, sent, failed, retried, paused_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (destination, hour) DO UPDATE SET
             sent = destination_stats.sent + excluded.sent,
             failed = destination_stats.failed + excluded.failed,
             retried = destination_stats.retried + excluded.retried,
             paused_ms = destination_stats.paused_ms + excluded.paused_ms",
        params![
            destination,
            hour_of(at),
            c.sent,
            c.failed,
            c.retried,
            c.paused_ms
        ],
    )?;
    Ok(())
}

/// A pause of `destination` over `[from, until)`, spread over the hours it covers.
pub fn add_pause(conn: Conn<'_>, destination: &str, from: i64, until: i64) -> AppResult<()> {
    let mut start = from;
    while start < until {
        let end = until.min(hour_of(start) + HOUR_MS);
        let paused = DestinationCounts {
            paused_ms: end - start,
            ..Default::default()
        };
        add_destination(conn, destination, start, &paused)?;
        start = end;
    }
    Ok(())
}

/// A destination's hours in `[from, to)` that have numbers, oldest first.
pub fn destination_hours(
    conn: Conn<'_>,
    destination: &str,
    from: i64,
    to: i64,
) -> AppResult<Vec<(i64, DestinationCounts)>> {
    Ok(conn.query_map(
        "SELECT hour, sent, failed, retried, paused_ms FROM destination_stats
         WHERE destination = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour",
        params![destination, from, to],
        |r| {
            Ok((
                r.get(0)?,
                DestinationCounts {
                    sent: r.get(1)?,
                    failed: r.get(2)?,
                    retried: r.get(3)?,
                    paused_ms: r.get(4)?,
                },
            ))
        },
    )?)
}

/// The destinations with an outcome counted in an hour from `from` on (an index range).
pub fn destinations_since(conn: Conn<'_>, from: i64) -> AppResult<Vec<String>> {
    Ok(conn.query_map(
        "SELECT DISTINCT destination FROM destination_stats WHERE hour >= ?1 ORDER BY 1",
        params![hour_of(from)],
        |r| r.get(0),
    )?)
}

/// Whether `destination` has any roll-up.
pub fn destination_has_hours(conn: Conn<'_>, destination: &str) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM destination_stats WHERE destination = ?1 LIMIT 1",
            params![destination],
            |r| r.get::<i64>(0),
        )?
        .is_some())
}

/// An integration's roll-ups go with it.
pub fn forget_integration(conn: Conn<'_>, integration_id: &str) -> AppResult<()> {
    conn.execute(
        "DELETE FROM integration_stats WHERE integration_id = ?1",
        params![integration_id],
    )?;
    conn.execute(
        "DELETE FROM integration_minutes WHERE integration_id = ?1",
        params![integration_id],
    )?;
    Ok(())
}

/// Forgets hours older than `cutoff` (kept a year; see [`KEEP_MS`]). Hours are few (a row per
/// integration, hour and writer, one per destination and hour), read by the hour's index, so
/// one statement each takes them all.
pub fn prune(conn: Conn<'_>, cutoff: i64, _limit: u32) -> AppResult<usize> {
    let integrations = conn.execute(
        "DELETE FROM integration_stats WHERE hour < ?1",
        params![hour_of(cutoff)],
    )?;
    let destinations = conn.execute(
        "DELETE FROM destination_stats WHERE hour < ?1",
        params![hour_of(cutoff)],
    )?;
    Ok(integrations + destinations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_their_buckets() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(10), 0);
        assert_eq!(latency_bucket(11), 1);
        assert_eq!(latency_bucket(300_000), 10);
        assert_eq!(latency_bucket(300_001), 11);
    }

    #[test]
    fn a_tally_adds_up_by_hour_and_a_pause_spreads_over_its_hours() {
        let db = crate::db::Connection::memory();
        let conn = db.conn();
        let base = 100 * HOUR_MS;
        let mut tally = Tally::new("node-a:in");
        tally.received("a", base + 5);
        tally.received("a", base + HOUR_MS + 5);
        tally.ended("a", base, base + 20, false);
        tally.ended("a", base, base + 400_000, true);
        write_tally(conn, &tally).expect("write");
        write_tally(conn, &tally).expect("added to, not replaced");
        let hours = integration_hours(conn, "a", base, base + 2 * HOUR_MS).expect("read");
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].1.received, 2);
        assert_eq!(hours[0].1.processed, 2);
        assert_eq!(hours[0].1.failed, 2);
        assert_eq!(hours[0].1.latency[1], 2);
        assert_eq!(hours[0].1.latency[11], 2);
        assert_eq!(hours[1].1.received, 2);

        add_pause(conn, "d", base + HOUR_MS - 60_000, base + HOUR_MS + 30_000).expect("pause");
        let hours = destination_hours(conn, "d", base, base + 2 * HOUR_MS).expect("read");
        let paused: Vec<i64> = hours.iter().map(|(_, c)| c.paused_ms).collect();
        assert_eq!(paused, [60_000, 30_000]);
    }
}
