-- Migration 3: flow control (DESIGN.md "Flow control"; docs/storage.md "Flow control").

-- What a job spends from its resource's token bucket when it is leased.
ALTER TABLE jobs ADD COLUMN cost INTEGER NOT NULL DEFAULT 1 CHECK (cost >= 1);

ALTER TABLE queues ADD COLUMN warn_depth INTEGER;
ALTER TABLE queues ADD COLUMN warn_age_ms INTEGER;

-- Migration 1 reserved a resources table that nothing wrote; this is the real one.
-- Settings (concurrency .. breaker_cooldown_ms) are written by ResourceSetLimits; the state
-- (tokens .. held_until) by the job writes: fetch takes tokens and leases the half-open probe,
-- settles record breaker outcomes, a rate_limited failure with retry_after sets held_until.
DROP TABLE resources;
CREATE TABLE resources (
  key                 TEXT    PRIMARY KEY,
  concurrency         INTEGER CHECK (concurrency IS NULL OR concurrency >= 1),
  rate_text           TEXT,             -- "10/s" as given; NULL = no rate limit
  rate_per_s          REAL,
  burst               REAL,
  breaker_failures    INTEGER NOT NULL DEFAULT 0,  -- 0 = no breaker
  breaker_cooldown_ms INTEGER NOT NULL DEFAULT 30000,
  tokens              REAL,             -- the bucket, as of tokens_at; NULL = full
  tokens_at           INTEGER,
  breaker_state       TEXT    NOT NULL DEFAULT 'closed'
                      CHECK (breaker_state = 'closed' OR breaker_state = 'open' OR breaker_state = 'half_open'),
  breaker_count       INTEGER NOT NULL DEFAULT 0,  -- consecutive counted failures
  breaker_open_until  INTEGER,
  probe_job           INTEGER,          -- the half-open probe while it runs
  held_until          INTEGER,          -- retry_after: every job of the key waits until then
  updated_at          INTEGER NOT NULL
) WITHOUT ROWID;

-- Fetch. Each available job is in exactly one of the ordered fetch indexes, so a job without a
-- resource_key costs what it cost before. Keyed jobs are also indexed per key: when most of a
-- queue's head is held, fetch visits the keys (one seek each) instead of the held jobs.
-- The keyed indexes carry what fetch checks (key, cost, deadline), so a passed-over job costs an
-- index entry, never a table row.
DROP INDEX jobs_fetch;
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, run_at, id)
  WHERE state = 'available' AND resource_key IS NULL;
CREATE INDEX jobs_fetch_keyed ON jobs (queue, priority DESC, run_at, id, resource_key, cost, deadline_at)
  WHERE state = 'available' AND resource_key IS NOT NULL;
CREATE INDEX jobs_fetch_by_key ON jobs (queue, resource_key, priority DESC, run_at, id, cost, deadline_at)
  WHERE state = 'available' AND resource_key IS NOT NULL;

-- Per resource: running and available counts (concurrency, the API), the keys in use, and the
-- recent successes with their run times (stats).
CREATE INDEX jobs_resource ON jobs (resource_key, state, finished_at) WHERE resource_key IS NOT NULL;
-- Recent failures, for a resource's stats.
CREATE INDEX job_errors_at ON job_errors (at);
