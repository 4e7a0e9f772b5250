-- Version 14 → 15: the full URL an outbox row last called (a Slack webhook URL masked), so a
-- row shows where its request went, not only the path it was queued with.
ALTER TABLE outbox ADD COLUMN called_url TEXT COLLATE "C";
-- A session's provider subject and groups: the access rules are checked again on every request,
-- so a changed rule ends the sessions it no longer admits.
ALTER TABLE sessions ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
