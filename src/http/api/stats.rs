//! `GET /api/integrations/{id}/stats` and `GET /api/outbox/destinations/{key}/stats`: the
//! hourly roll-ups (db::stats), by the hour or by the UTC day, every bucket of the window
//! present (zeros where nothing happened), so a chart needs no filling in.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::errors::{AUTHED, ApiError, NOT_FOUND, UNPROCESSABLE};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::stats::{
    self, DAY_MS, DestinationCounts, HOUR_MS, IntegrationCounts, LATENCY_BOUNDS_MS,
};
use crate::db::{self, integrations, outbox};
use crate::domain::checked::Timestamp;
use crate::http::state::SharedState;

/// An integration's numbers.
pub struct IntegrationStatsApi;

/// An outbox destination's numbers.
pub struct DestinationStatsApi;

/// How long each bucket is: an hour, or a UTC day.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum StatsBucket {
    Hour,
    Day,
}

impl StatsBucket {
    fn ms(self) -> i64 {
        match self {
            StatsBucket::Hour => HOUR_MS,
            StatsBucket::Day => DAY_MS,
        }
    }

    /// The window shown when none is asked for: the last 24 hours, or the last 30 days.
    fn default_span(self) -> i64 {
        match self {
            StatsBucket::Hour => 24 * HOUR_MS,
            StatsBucket::Day => 30 * DAY_MS,
        }
    }

    /// At most this many buckets in one answer: 31 days of hours, a year and a day of days.
    fn max_buckets(self) -> i64 {
        match self {
            StatsBucket::Hour => 31 * 24,
            StatsBucket::Day => 366,
        }
    }
}

/// Processing ends that took at most `leMs` (and more than the bucket before's bound).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct LatencyBucketOut {
    /// The bucket's upper bound in milliseconds; left out for the last bucket (slower than
    /// 300 s).
    pub le_ms: Option<i64>,
    /// How many processing ends took that long.
    pub count: i64,
}

/// An integration's numbers over one bucket (or, as `totals`, the whole window).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct IntegrationStatsBucket {
    /// The bucket's start (RFC 3339, UTC); for `totals`, the window's.
    pub start: Timestamp,
    /// New deliveries stored.
    pub received: i64,
    /// Deliveries whose delivery id was already stored (answered, not stored again).
    pub duplicates: i64,
    /// Events whose processing ended PROCESSED in this bucket (a replay counts again).
    pub processed: i64,
    /// Events whose processing ended FAILED in this bucket.
    pub failed: i64,
    /// Deliveries refused before storing: a bad signature or token (401), a malformed body.
    pub rejected: i64,
    /// Half of the processing ends took at most this long from receipt (the upper bound of
    /// the latency bucket the median falls in); left out with no ends (300 000 when it
    /// falls in the last bucket, slower than that).
    pub p50_ms: Option<i64>,
    /// 95 % of the processing ends took at most this long (as `p50Ms`); left out as `p50Ms` is.
    pub p95_ms: Option<i64>,
    /// Processing ends by time from receipt to end, in fixed buckets.
    pub latency: Vec<LatencyBucketOut>,
}

/// An integration's roll-ups over a window.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct IntegrationStats {
    /// The integration's id.
    pub integration_id: String,
    pub bucket: StatsBucket,
    /// The window's start (inclusive), on a bucket boundary.
    pub from: Timestamp,
    /// The window's end (exclusive), on a bucket boundary.
    pub to: Timestamp,
    /// Every bucket of the window, oldest first.
    pub buckets: Vec<IntegrationStatsBucket>,
    pub totals: IntegrationStatsBucket,
}

/// An outbox destination's numbers over one bucket (or, as `totals`, the whole window).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DestinationStatsBucket {
    /// The bucket's start (RFC 3339, UTC); for `totals`, the window's.
    pub start: Timestamp,
    /// Rows the remote accepted.
    pub sent: i64,
    /// Rows given up on (refused, or out of attempts).
    pub failed: i64,
    /// Attempts to be tried again (a 5xx, a timeout, a rate limit).
    pub retried: i64,
    /// How long the remote had the destination paused (a rate limit), in seconds.
    pub paused_seconds: i64,
}

/// An outbox destination's roll-ups over a window.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DestinationStats {
    /// The destination's key.
    pub destination: String,
    pub bucket: StatsBucket,
    /// The window's start (inclusive), on a bucket boundary.
    pub from: Timestamp,
    /// The window's end (exclusive), on a bucket boundary.
    pub to: Timestamp,
    /// Every bucket of the window, oldest first.
    pub buckets: Vec<DestinationStatsBucket>,
    pub totals: DestinationStatsBucket,
}

/// The window asked for, on bucket boundaries: `from` down, `to` up.
fn window(
    bucket: StatsBucket,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    now: i64,
) -> Result<(i64, i64), AppError> {
    if let (Some(from), Some(to)) = (from, to)
        && from.0 >= to.0
    {
        return Err(AppError::invalid("to", "must be after from"));
    }
    let size = bucket.ms();
    let up = |t: i64| (t + size - 1).div_euclid(size) * size;
    let down = |t: i64| t.div_euclid(size) * size;
    let to = up(to.map_or(now + 1, |t| t.0));
    let from = down(from.map_or(to - bucket.default_span(), |t| t.0));
    if from >= to {
        return Err(AppError::invalid("to", "must be after from"));
    }
    let count = (to - from) / size;
    if count > bucket.max_buckets() {
        return Err(AppError::invalid(
            "from",
            format!(
                "the window holds {count} buckets; at most {} of a {}",
                bucket.max_buckets(),
                match bucket {
                    StatsBucket::Hour => "hour (use bucket=day for longer)",
                    StatsBucket::Day => "day",
                }
            ),
        ));
    }
    Ok((from, to))
}

/// Adds each hour into its bucket; every bucket of the window, oldest first.
fn into_buckets<C: Default + Clone>(
    hours: Vec<(i64, C)>,
    from: i64,
    to: i64,
    size: i64,
    add: impl Fn(&mut C, &C),
) -> Vec<(i64, C)> {
    let mut buckets: Vec<(i64, C)> = (0..(to - from) / size)
        .map(|i| (from + i * size, C::default()))
        .collect();
    for (hour, counts) in hours {
        let i = ((hour - from) / size) as usize;
        if let Some((_, bucket)) = buckets.get_mut(i) {
            add(bucket, &counts);
        }
    }
    buckets
}

/// The upper bound of the latency bucket the `q` quantile falls in.
fn quantile(latency: &[i64], q: f64) -> Option<i64> {
    let total: i64 = latency.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (i, count) in latency.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(*LATENCY_BOUNDS_MS.get(i).unwrap_or(&LATENCY_BOUNDS_MS[10]));
        }
    }
    None
}

fn integration_bucket(start: i64, c: &IntegrationCounts) -> IntegrationStatsBucket {
    IntegrationStatsBucket {
        start: Timestamp(start),
        received: c.received,
        duplicates: c.duplicates,
        processed: c.processed,
        failed: c.failed,
        rejected: c.rejected,
        p50_ms: quantile(&c.latency, 0.5),
        p95_ms: quantile(&c.latency, 0.95),
        latency: c
            .latency
            .iter()
            .enumerate()
            .map(|(i, count)| LatencyBucketOut {
                le_ms: LATENCY_BOUNDS_MS.get(i).copied(),
                count: *count,
            })
            .collect(),
    }
}

fn destination_bucket(start: i64, c: &DestinationCounts) -> DestinationStatsBucket {
    DestinationStatsBucket {
        start: Timestamp(start),
        sent: c.sent,
        failed: c.failed,
        retried: c.retried,
        paused_seconds: c.paused_ms / 1000,
    }
}

#[OpenApi(tag = "ApiTags::Integrations")]
impl IntegrationStatsApi {
    /// Get an integration's numbers over time.
    ///
    /// Deliveries received, duplicates, processed, failed and rejected, and processing
    /// latency, per hour or per UTC day: the last 24 hours (`bucket=hour`, the default) or 30
    /// days (`bucket=day`) unless `from`/`to` say otherwise (widened to whole buckets). Kept
    /// for a year, whatever the events' retention; counted as outcomes are written, never by
    /// scanning events.
    #[oai(
        path = "/integrations/:id/stats",
        method = "get",
        operation_id = "getIntegrationStats"
    )]
    async fn integration_stats(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
        /// The window's start (RFC 3339); by default `to` less 24 hours (or 30 days).
        #[oai(example = "crate::http::api::examples::stats_from")]
        from: Query<Option<Timestamp>>,
        /// The window's end (RFC 3339); by default now.
        #[oai(example = "crate::http::api::examples::stats_to")]
        to: Query<Option<Timestamp>>,
        /// `hour` (default) or `day`.
        bucket: Query<Option<StatsBucket>>,
    ) -> Result<Json<IntegrationStats>, ApiError<{ AUTHED | NOT_FOUND | UNPROCESSABLE }>> {
        let id = crate::domain::model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let bucket = bucket.0.unwrap_or(StatsBucket::Hour);
        let now = state.clock.now_ms();
        let (from, to) = window(bucket, from.0, to.0, now)?;
        let lookup = id.clone();
        let hours = db::run(&state.pool, move |conn| {
            integrations::get(conn, &lookup)?;
            stats::integration_hours(conn, &lookup, from, to)
        })
        .await?;
        let buckets = into_buckets(hours, from, to, bucket.ms(), IntegrationCounts::add);
        let mut totals = IntegrationCounts::default();
        for (_, c) in &buckets {
            totals.add(c);
        }
        Ok(Json(IntegrationStats {
            integration_id: id,
            bucket,
            from: Timestamp(from),
            to: Timestamp(to),
            buckets: buckets
                .iter()
                .map(|(start, c)| integration_bucket(*start, c))
                .collect(),
            totals: integration_bucket(from, &totals),
        }))
    }
}

#[OpenApi(tag = "ApiTags::Notifications")]
impl DestinationStatsApi {
    /// Get an outbox destination's numbers over time.
    ///
    /// Rows sent, given up on and retried, and how long the remote paused the destination,
    /// per hour or per UTC day, over the same windows as an integration's numbers. `key` is a
    /// destination as `listOutboxDestinations` names it.
    #[oai(
        path = "/outbox/destinations/:key/stats",
        method = "get",
        operation_id = "getOutboxDestinationStats"
    )]
    async fn destination_stats(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The destination's key.
        #[oai(example = "crate::http::api::examples::destination_key")]
        key: Path<String>,
        /// The window's start (RFC 3339); by default `to` less 24 hours (or 30 days).
        #[oai(example = "crate::http::api::examples::stats_from")]
        from: Query<Option<Timestamp>>,
        /// The window's end (RFC 3339); by default now.
        #[oai(example = "crate::http::api::examples::stats_to")]
        to: Query<Option<Timestamp>>,
        /// `hour` (default) or `day`.
        bucket: Query<Option<StatsBucket>>,
    ) -> Result<Json<DestinationStats>, ApiError<{ AUTHED | NOT_FOUND | UNPROCESSABLE }>> {
        let key = key.0;
        let bucket = bucket.0.unwrap_or(StatsBucket::Hour);
        let now = state.clock.now_ms();
        let (from, to) = window(bucket, from.0, to.0, now)?;
        let lookup = key.clone();
        let hours = db::run(&state.pool, move |conn| {
            if !stats::destination_has_hours(conn, &lookup)?
                && !outbox::destination_exists(conn, &lookup)?
            {
                return Err(AppError::NotFound("outbox destination"));
            }
            stats::destination_hours(conn, &lookup, from, to)
        })
        .await?;
        let buckets = into_buckets(hours, from, to, bucket.ms(), DestinationCounts::add);
        let mut totals = DestinationCounts::default();
        for (_, c) in &buckets {
            totals.add(c);
        }
        Ok(Json(DestinationStats {
            destination: key,
            bucket,
            from: Timestamp(from),
            to: Timestamp(to),
            buckets: buckets
                .iter()
                .map(|(start, c)| destination_bucket(*start, c))
                .collect(),
            totals: destination_bucket(from, &totals),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_buckets_and_bounded() {
        let now = 100 * DAY_MS + 5 * HOUR_MS + 7;
        let (from, to) = window(StatsBucket::Hour, None, None, now).expect("default");
        assert_eq!(to, 100 * DAY_MS + 6 * HOUR_MS);
        assert_eq!(to - from, 24 * HOUR_MS);
        let (from, to) = window(StatsBucket::Day, None, None, now).expect("default");
        assert_eq!((to, to - from), (101 * DAY_MS, 30 * DAY_MS));
        assert!(
            window(
                StatsBucket::Hour,
                Some(Timestamp(now)),
                Some(Timestamp(now - 1)),
                now
            )
            .is_err()
        );
        assert!(
            window(StatsBucket::Hour, Some(Timestamp(0)), None, now).is_err(),
            "too many hours"
        );
        assert!(window(StatsBucket::Day, Some(Timestamp(0)), None, now).is_ok());
    }

    #[test]
    fn quantiles_name_their_bucket_bound() {
        let mut latency = [0; stats::LATENCY_BUCKETS];
        assert_eq!(quantile(&latency, 0.5), None);
        latency[0] = 90;
        latency[3] = 10;
        assert_eq!(quantile(&latency, 0.5), Some(10));
        assert_eq!(quantile(&latency, 0.95), Some(250));
        latency[11] = 1000;
        assert_eq!(quantile(&latency, 0.95), Some(300_000));
    }
}
