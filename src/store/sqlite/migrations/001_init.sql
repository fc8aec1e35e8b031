-- Migration 1: the whole job model, including what later capabilities use
-- (resources, batches, tags, the worker registry), so they add no table rewrite.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); durations are
-- INTEGER milliseconds. JSON values are TEXT.

CREATE TABLE jobs (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  kind                TEXT    NOT NULL,
  queue               TEXT    NOT NULL,
  priority            INTEGER NOT NULL DEFAULT 0,
  state               TEXT    NOT NULL
                      -- OR chains, not IN lists: SQLite builds an ephemeral b-tree for every IN list of
                      -- 3+ constants each time a statement runs, i.e. once per inserted or updated row
                      -- (~30% of the cost of an insert or a lease; docs/benchmarks.md).
                      CHECK (state = 'scheduled' OR state = 'available' OR state = 'running'
                             OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),
  args                TEXT    NOT NULL DEFAULT '{}',
  attempt             INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
  timeout_ms          INTEGER NOT NULL CHECK (timeout_ms > 0),
  stall_timeout_ms    INTEGER,
  deadline_at         INTEGER,
  run_at              INTEGER NOT NULL,
  created_at          INTEGER NOT NULL,
  started_at          INTEGER,
  finished_at         INTEGER,
  heartbeat_at        INTEGER,
  lease_expires_at    INTEGER,
  lease_token         INTEGER NOT NULL DEFAULT 0,
  lease_ttl_ms        INTEGER NOT NULL DEFAULT 0,
  grace_ms            INTEGER NOT NULL DEFAULT 0,
  worker_id           TEXT,
  cancel_requested    INTEGER NOT NULL DEFAULT 0,
  cancel_reason       TEXT    NOT NULL DEFAULT '',
  takeback_at         INTEGER,
  progress_done       INTEGER NOT NULL DEFAULT 0,
  progress_total      INTEGER,
  progress_message    TEXT    NOT NULL DEFAULT '',
  progress_updated_at INTEGER,
  stall_since         INTEGER,
  checkpoint          TEXT,
  result              TEXT,
  unique_key          TEXT,
  resource_key        TEXT,
  batch_id            TEXT,
  tags                TEXT    NOT NULL DEFAULT '[]',
  -- A job is finished exactly when it is in a terminal state.
  CHECK ((state = 'succeeded' OR state = 'failed' OR state = 'cancelled') = (finished_at IS NOT NULL)),
  -- A job holds a lease exactly when it is running.
  CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
);

-- Fetch: one index range per queue, already in fetch order; only available rows.
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
-- Due scheduled jobs, per queue (fetch promotes them directly) and overall (the reaper).
CREATE INDEX jobs_scheduled ON jobs (queue, run_at) WHERE state = 'scheduled';
-- Running jobs, for the reaper and doctor.
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
-- Waiting jobs with a deadline (the reaper fails them when it passes).
CREATE INDEX jobs_waiting_deadline ON jobs (deadline_at)
  WHERE deadline_at IS NOT NULL AND state IN ('scheduled','available');
-- unique_key is unique among non-terminal jobs.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('scheduled','available','running');
-- Listing and per-queue counts.
CREATE INDEX jobs_state_queue ON jobs (state, queue, id);
-- Retention: terminal jobs by age.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- One row per unsuccessful run, kept off the hot job row.
CREATE TABLE job_errors (
  job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  attempt     INTEGER NOT NULL,
  class       TEXT    NOT NULL,
  message     TEXT    NOT NULL,
  at          INTEGER NOT NULL,
  counted     INTEGER NOT NULL,
  limit_name  TEXT,
  output_tail TEXT,
  worker_id   TEXT,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE queues (
  name                 TEXT PRIMARY KEY,
  paused               INTEGER NOT NULL DEFAULT 0,
  concurrency          INTEGER,          -- NULL = unlimited; 1 = sequential mode
  default_timeout_ms   INTEGER,
  default_max_attempts INTEGER,
  updated_at           INTEGER NOT NULL
);

CREATE TABLE resources (
  key                TEXT PRIMARY KEY,
  max_concurrency    INTEGER,
  rate_per_s         REAL,
  breaker_state      TEXT NOT NULL DEFAULT 'closed',
  breaker_opened_at  INTEGER,
  updated_at         INTEGER NOT NULL
);

CREATE TABLE batches (
  id             TEXT PRIMARY KEY,
  deadline_at    INTEGER,
  success_policy TEXT NOT NULL DEFAULT 'all',
  callback_kind  TEXT,
  callback_args  TEXT,
  state          TEXT NOT NULL DEFAULT 'open',
  created_at     INTEGER NOT NULL,
  finished_at    INTEGER
);

CREATE TABLE workers (
  id             TEXT PRIMARY KEY,
  host           TEXT    NOT NULL,
  pid            INTEGER NOT NULL,
  pid_start_time INTEGER,
  boot_id        TEXT,
  pid_namespace  TEXT,
  queues         TEXT    NOT NULL DEFAULT '[]',
  slots          INTEGER NOT NULL,
  busy           INTEGER NOT NULL DEFAULT 0,
  session_epoch  INTEGER NOT NULL DEFAULT 0,
  started_at     INTEGER NOT NULL,
  last_seen_at   INTEGER NOT NULL,
  stopped_at     INTEGER
);

-- Small shared facts: the last reaper tick (restart grace), and the like.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
