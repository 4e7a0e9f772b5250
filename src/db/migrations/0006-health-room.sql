-- Version 5 → 6: while deliveries are refused for storage, the health check writes as much as
-- the refused delivery (then frees it) instead of one small row, which fits where a delivery
-- did not.
ALTER TABLE health_probe ADD COLUMN room BLOB;
