-- Migration 5: batches (DESIGN.md "Batches"; core/batch.h; docs/storage.md "Batches").
-- Migration 1 reserved a batches table that nothing wrote; this is the real one.
--
-- `remaining` counts the members not yet terminal. The job writes that end or reopen a job
-- (complete, and the planned changes: failure, cancel, deadline, retry) keep it in C++
-- (sqlite_batches.cc: two statements, only while some batch runs); a trigger keeps it on
-- delete, whose bulk statements the driver does not see row by row. A member that brings it
-- to 0 puts the batch in batches_due, in the same transaction; the driver finishes every due
-- batch (its state, its callback job) before that transaction commits, so the callback is
-- enqueued exactly once. (UPDATE triggers were measured first: a trigger program runs for
-- every updated job, batch or not, and made CompleteMany of 16 jobs 1.5x slower.)
DROP TABLE batches;
CREATE TABLE batches (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  name             TEXT,
  state            TEXT    NOT NULL DEFAULT 'running'
                   CHECK (state = 'running' OR state = 'succeeded' OR state = 'failed'),
  deadline_at      INTEGER,
  min_succeeded    INTEGER NOT NULL CHECK (min_succeeded >= 1),
  total            INTEGER NOT NULL,
  remaining        INTEGER NOT NULL,
  parent_id        INTEGER,
  -- The callback job as the engine prepared it (every default applied); args gains `batch`.
  callback_kind         TEXT,
  callback_queue        TEXT,
  callback_priority     INTEGER,
  callback_args         TEXT,
  callback_max_attempts INTEGER,
  callback_timeout_ms   INTEGER,
  callback_stall_timeout_ms INTEGER,
  callback_resource_key TEXT,
  callback_tags         TEXT,
  callback_cost         INTEGER,
  callback_job_id  INTEGER,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX batches_state ON batches (state, id);
-- Retention: finished batches by age.
CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL;

-- Batches whose last member just ended, inside the transaction that ended it.
CREATE TABLE batches_due (id INTEGER PRIMARY KEY);

-- The members of a batch. Its only column never changes after insert, so job updates never touch it.
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;

-- A member deleted before it ended no longer holds its batch open.
CREATE TRIGGER jobs_batch_member_deleted AFTER DELETE ON jobs
WHEN OLD.batch_id IS NOT NULL
 AND NOT (OLD.state = 'succeeded' OR OLD.state = 'failed' OR OLD.state = 'cancelled')
BEGIN
  UPDATE batches SET remaining = remaining - 1 WHERE id = CAST(OLD.batch_id AS INTEGER) AND state = 'running';
  INSERT OR IGNORE INTO batches_due (id)
    SELECT id FROM batches WHERE id = CAST(OLD.batch_id AS INTEGER) AND state = 'running' AND remaining = 0;
END;
