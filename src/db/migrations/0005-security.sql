-- Version 4 → 5: security hardening.
--
-- Deliveries that passed no signature check no longer make outbound calls unless their
-- integration says `allow_unverified`; eval runs and deployments remember whether their
-- delivery was verified. Existing integrations without a secret are opted in, so an upgrade
-- changes nothing for them (their page warns, in red, about what that exposes).
ALTER TABLE eval_runs ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deployments ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;

UPDATE integrations SET config = json_set(config, '$.allow_unverified', json('true'))
WHERE (type IN ('GITHUB', 'GITLAB') AND COALESCE(json_extract(config, '$.webhook_secret'), '') = '')
   OR (type = 'WEBHOOK' AND COALESCE(json_extract(config, '$.secret'), '') = '');

-- A secret's value is sent only to the public API hosts and to the hosts listed with it
-- (JSON array of lower-case host[:port]). Existing references with their own api_url keep
-- working: their hosts are listed.
ALTER TABLE secrets ADD COLUMN hosts TEXT NOT NULL DEFAULT '[]';

WITH uses AS (
    SELECT substr(ref, 10, length(ref) - 10) AS name, url FROM (
        SELECT trim(json_extract(config, '$.token')) AS ref, json_extract(config, '$.api_url') AS url
        FROM integrations WHERE type IN ('GITHUB', 'GITLAB')
        UNION ALL
        SELECT trim(json_extract(config, '$.bot_token')), json_extract(config, '$.api_url')
        FROM integrations WHERE type = 'SLACK'
    ) WHERE ref LIKE '${secret:%}' AND url LIKE '%://%'
),
rests AS (
    SELECT name, substr(url, instr(url, '://') + 3) AS rest FROM uses
),
authorities AS (
    SELECT name, CASE WHEN instr(rest, '/') > 0 THEN substr(rest, 1, instr(rest, '/') - 1) ELSE rest END AS authority
    FROM rests
),
hosts AS (
    SELECT name, lower(CASE WHEN instr(authority, '@') > 0 THEN substr(authority, instr(authority, '@') + 1) ELSE authority END) AS host
    FROM authorities
)
UPDATE secrets SET hosts = (SELECT json_group_array(DISTINCT host) FROM hosts WHERE hosts.name = secrets.name)
WHERE name IN (SELECT name FROM hosts);

-- Remote answers (error texts, excerpts) are kept and shown only for the public API hosts,
-- those given with --allowed-api-hosts, and these: the api_urls configured before this
-- version, so an upgrade hides nothing that was shown before.
CREATE TABLE trusted_api_hosts (
    host         TEXT PRIMARY KEY,
    recorded_at  INTEGER NOT NULL
);

WITH urls AS (
    SELECT json_extract(config, '$.api_url') AS url, updated_at FROM integrations
    WHERE json_extract(config, '$.api_url') LIKE '%://%'
),
rests AS (
    SELECT substr(url, instr(url, '://') + 3) AS rest, updated_at FROM urls
),
authorities AS (
    SELECT CASE WHEN instr(rest, '/') > 0 THEN substr(rest, 1, instr(rest, '/') - 1) ELSE rest END AS authority, updated_at
    FROM rests
)
INSERT OR IGNORE INTO trusted_api_hosts (host, recorded_at)
SELECT lower(CASE WHEN instr(authority, '@') > 0 THEN substr(authority, instr(authority, '@') + 1) ELSE authority END), updated_at
FROM authorities;
