-- Version 12 → 13: hourly roll-ups per integration and per outbox destination, added to in
-- the transactions that write each outcome and kept a year, whatever the events' retention.
CREATE TABLE integration_stats (
    integration_id TEXT NOT NULL,                          -- no foreign key: deleted with it, by hand
    hour           INTEGER NOT NULL,                       -- the hour's start, Unix ms, UTC
    -- Who adds to the row: '<node>:in' (the delivery writer), '<node>:out' (the worker),
    -- '' (the backfill). Each its own row, so one transaction left open (a node frozen before
    -- its commit) holds no other's deliveries; readers add the rows of an hour together.
    shard          TEXT NOT NULL DEFAULT '',
    received       INTEGER NOT NULL DEFAULT 0,             -- new deliveries stored
    duplicates     INTEGER NOT NULL DEFAULT 0,             -- deliveries whose id was known
    processed      INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    rejected       INTEGER NOT NULL DEFAULT 0,             -- refused before storing (401, 400, 415)
    -- Processing ends by time from receipt to end: <= 10, 50, 100, 250, 500 ms, 1, 2.5, 5,
    -- 10, 60, 300 s, and slower (db::stats::LATENCY_BOUNDS_MS).
    lat_0        INTEGER NOT NULL DEFAULT 0,
    lat_1        INTEGER NOT NULL DEFAULT 0,
    lat_2        INTEGER NOT NULL DEFAULT 0,
    lat_3        INTEGER NOT NULL DEFAULT 0,
    lat_4        INTEGER NOT NULL DEFAULT 0,
    lat_5        INTEGER NOT NULL DEFAULT 0,
    lat_6        INTEGER NOT NULL DEFAULT 0,
    lat_7        INTEGER NOT NULL DEFAULT 0,
    lat_8        INTEGER NOT NULL DEFAULT 0,
    lat_9        INTEGER NOT NULL DEFAULT 0,
    lat_10       INTEGER NOT NULL DEFAULT 0,
    lat_11       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (integration_id, hour, shard)
);
CREATE TABLE destination_stats (
    destination TEXT NOT NULL,
    hour        INTEGER NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,                -- given up on
    retried     INTEGER NOT NULL DEFAULT 0,                -- attempts to be tried again
    paused_ms   INTEGER NOT NULL DEFAULT 0,                -- paused by the remote
    PRIMARY KEY (destination, hour)
);
-- Prunes and "which destinations were active lately" read by the hour.
CREATE INDEX integration_stats_by_hour ON integration_stats (hour);
CREATE INDEX destination_stats_by_hour ON destination_stats (hour, destination);
-- What the events still kept say, so the charts do not start empty: arrivals by the hour
-- they came, ends by the hour they ended, the kept rejections. Duplicates were never stored.
INSERT INTO integration_stats (integration_id, hour, received)
SELECT integration_id, received_at / 3600000 * 3600000, COUNT(*) FROM webhook_events
GROUP BY integration_id, received_at / 3600000 * 3600000;
INSERT INTO integration_stats (integration_id, hour, processed, failed, lat_0, lat_1, lat_2, lat_3, lat_4, lat_5, lat_6, lat_7, lat_8, lat_9, lat_10, lat_11)
SELECT integration_id, processed_at / 3600000 * 3600000,
       SUM(CASE WHEN status = 'PROCESSED' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at <= 10 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 10 AND processed_at - received_at <= 50 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 50 AND processed_at - received_at <= 100 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 100 AND processed_at - received_at <= 250 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 250 AND processed_at - received_at <= 500 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 500 AND processed_at - received_at <= 1000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 1000 AND processed_at - received_at <= 2500 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 2500 AND processed_at - received_at <= 5000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 5000 AND processed_at - received_at <= 10000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 10000 AND processed_at - received_at <= 60000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 60000 AND processed_at - received_at <= 300000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN processed_at - received_at > 300000 THEN 1 ELSE 0 END)
FROM webhook_events WHERE status IN ('PROCESSED', 'FAILED') AND processed_at IS NOT NULL
GROUP BY integration_id, processed_at / 3600000 * 3600000
ON CONFLICT (integration_id, hour, shard) DO UPDATE SET
    processed = excluded.processed, failed = excluded.failed,
    lat_0 = excluded.lat_0, lat_1 = excluded.lat_1, lat_2 = excluded.lat_2, lat_3 = excluded.lat_3, lat_4 = excluded.lat_4, lat_5 = excluded.lat_5, lat_6 = excluded.lat_6, lat_7 = excluded.lat_7, lat_8 = excluded.lat_8, lat_9 = excluded.lat_9, lat_10 = excluded.lat_10, lat_11 = excluded.lat_11;
INSERT INTO integration_stats (integration_id, hour, rejected)
SELECT integration_id, at / 3600000 * 3600000, COUNT(*) FROM rejections
GROUP BY integration_id, at / 3600000 * 3600000
ON CONFLICT (integration_id, hour, shard) DO UPDATE SET rejected = excluded.rejected;
