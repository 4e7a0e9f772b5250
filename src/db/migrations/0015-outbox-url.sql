-- Version 14 → 15: the full URL an outbox row last called (a Slack webhook URL masked), so a
-- row shows where its request went, not only the path it was queued with.
ALTER TABLE outbox ADD COLUMN called_url TEXT;
