-- Every statement the SQLite driver runs. Each block starts with "-- name: X"
-- and is prepared once per connection when the store opens, so a typo here
-- fails at startup, not on a rare path. {JOB_COLUMNS} expands to the job
-- column list read by ReadJob() (sqlite_store.cc), in that order.
-- Parameters are positional (?1, ?2, ...). Times are ms since the epoch.

-- name: JobInsert
INSERT INTO jobs (kind, queue, priority, state, args, max_attempts, timeout_ms, stall_timeout_ms, deadline_at,
                  run_at, created_at, unique_key, resource_key, batch_id, tags, cost)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16);

-- name: JobFindUnique
SELECT id FROM jobs
WHERE unique_key = ?1 AND state IN ('scheduled', 'available', 'running');

-- name: QueueFetchSettings
SELECT paused, concurrency FROM queues WHERE name = ?1;

-- name: QueueRunning
SELECT COUNT(*) FROM jobs INDEXED BY jobs_state_queue WHERE state = 'running' AND queue = ?1;

-- name: JobHasDueScheduledInQueue
-- One probe of jobs_scheduled, so that fetch runs JobPromoteScheduledInQueue (whose IN subquery
-- builds an ephemeral table on every run) only when a scheduled job of the queue is due.
SELECT 1 FROM jobs WHERE state = 'scheduled' AND queue = ?1 AND run_at <= ?2 LIMIT 1;

-- name: JobPromoteScheduledInQueue
UPDATE jobs SET state = 'available'
WHERE id IN (SELECT id FROM jobs
             WHERE state = 'scheduled' AND queue = ?1 AND run_at <= ?2
               AND (deadline_at IS NULL OR deadline_at > ?2)
             ORDER BY run_at LIMIT ?3);

-- name: JobPromoteScheduled
-- The reaper's, once per tick. INDEXED BY (here and below): without statistics SQLite picks
-- jobs_state_queue (state = ?) and sorts, visiting every waiting job on every tick (a million
-- queued jobs kept an idle server's core half busy); the plans are pinned by query_plan_test.
UPDATE jobs SET state = 'available'
WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_scheduled_due
             WHERE state = 'scheduled' AND run_at <= ?1
               AND (deadline_at IS NULL OR deadline_at > ?1)
             ORDER BY run_at LIMIT ?2);

-- name: JobFetchCandidates
-- The jobs without a resource_key, whole rows: fetch answers with them, after applying JobLease's
-- changes in C++ (LeaseFields in sqlite_rows.cc). Reading it here instead of `UPDATE ... RETURNING`
-- saves, per leased job, the ephemeral table SQLite builds for every RETURNING statement (~40% of
-- fetch; docs/benchmarks.md).
SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_fetch
WHERE state = 'available' AND resource_key IS NULL AND queue = ?1 AND (deadline_at IS NULL OR deadline_at > ?2)
ORDER BY priority DESC, run_at, id
LIMIT ?3;

-- name: JobFetchKeyedCandidates
-- The jobs with a resource_key, whole rows, when no resource has limits (nothing can hold them).
SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_fetch_keyed
WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 AND (deadline_at IS NULL OR deadline_at > ?2)
ORDER BY priority DESC, run_at, id
LIMIT ?3;

-- name: JobFetchKeyedScan
-- The jobs with a resource_key in fetch order, from the index alone (it covers every column read):
-- fetch walks it while it leases or passes over jobs, up to a bound, then goes per key.
SELECT id, priority, run_at, resource_key, cost FROM jobs INDEXED BY jobs_fetch_keyed
WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 AND (deadline_at IS NULL OR deadline_at > ?2)
ORDER BY priority DESC, run_at, id;

-- name: JobFetchNextKey
-- The next resource key with available jobs in the queue after ?2 ('' for the first): one seek.
SELECT resource_key FROM jobs INDEXED BY jobs_fetch_by_key
WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 AND resource_key > ?2
ORDER BY resource_key LIMIT 1;

-- name: JobFetchKeyHead
-- The first ?4 available jobs of one key in the queue, in fetch order, from the index alone.
SELECT id, priority, run_at, resource_key, cost FROM jobs INDEXED BY jobs_fetch_by_key
WHERE state = 'available' AND resource_key = ?3 AND queue = ?1 AND (deadline_at IS NULL OR deadline_at > ?2)
ORDER BY priority DESC, run_at, id
LIMIT ?4;

-- name: JobGetForLease
SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND state = 'available';

-- name: JobResourceKey
SELECT resource_key FROM jobs WHERE id = ?1;

-- name: JobStateOf
SELECT state FROM jobs WHERE id = ?1;

-- name: LimitsVersion
SELECT value FROM meta WHERE key = 'limits_version';

-- name: LimitsVersionBump
INSERT INTO meta (key, value) VALUES ('limits_version', 1)
ON CONFLICT (key) DO UPDATE SET value = value + 1;

-- name: ResourceAllLimits
SELECT key, concurrency, rate_text, rate_per_s, burst, breaker_failures, breaker_cooldown_ms FROM resources;

-- name: ResourceState
SELECT tokens, tokens_at, breaker_state, breaker_count, breaker_open_until, probe_job, held_until
FROM resources WHERE key = ?1;

-- name: ResourceStateSet
UPDATE resources SET tokens = ?2, tokens_at = ?3, breaker_state = ?4, breaker_count = ?5, breaker_open_until = ?6,
                     probe_job = ?7, held_until = ?8
WHERE key = ?1;

-- name: ResourceEnsure
-- A row for a key that gets state before it has settings (a retry_after hold).
INSERT INTO resources (key, updated_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING;

-- name: ResourceSetLimits
-- A new or changed rate starts from a full bucket (tokens NULL); the breaker's state is kept.
INSERT INTO resources (key, concurrency, rate_text, rate_per_s, burst, breaker_failures, breaker_cooldown_ms,
                       updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (key) DO UPDATE SET
  concurrency = excluded.concurrency,
  tokens = CASE WHEN rate_per_s IS excluded.rate_per_s AND burst IS excluded.burst THEN tokens ELSE NULL END,
  tokens_at = CASE WHEN rate_per_s IS excluded.rate_per_s AND burst IS excluded.burst THEN tokens_at ELSE NULL END,
  rate_text = excluded.rate_text, rate_per_s = excluded.rate_per_s, burst = excluded.burst,
  breaker_failures = excluded.breaker_failures, breaker_cooldown_ms = excluded.breaker_cooldown_ms,
  updated_at = excluded.updated_at;

-- name: ResourceRow
SELECT key, concurrency, rate_text, rate_per_s, burst, breaker_failures, breaker_cooldown_ms,
       tokens, tokens_at, breaker_state, breaker_count, breaker_open_until, probe_job, held_until
FROM resources WHERE key = ?1;

-- name: ResourceKeys
SELECT key FROM resources ORDER BY key;

-- name: ResourceNextJobKey
-- The next resource key of any job after ?1 ('' for the first): one seek in jobs_resource.
SELECT resource_key FROM jobs INDEXED BY jobs_resource WHERE resource_key > ?1 ORDER BY resource_key LIMIT 1;

-- name: ResourceCountInState
SELECT COUNT(*) FROM jobs INDEXED BY jobs_resource WHERE resource_key = ?1 AND state = ?2;

-- name: ResourceRecentRunTimes
-- Run times of the key's successes since ?2, shortest first (p50/p95).
SELECT finished_at - started_at AS took FROM jobs INDEXED BY jobs_resource
WHERE resource_key = ?1 AND state = 'succeeded' AND finished_at >= ?2 AND started_at IS NOT NULL
ORDER BY took;

-- name: ResourceRecentFailures
-- Runs of the key's jobs that ended with an error since ?2 (drains and lost leases excluded: they
-- say nothing about the service).
SELECT COUNT(*) FROM job_errors AS e INDEXED BY job_errors_at JOIN jobs AS j ON j.id = e.job_id
WHERE e.at >= ?2 AND j.resource_key = ?1
  AND e.class != 'interrupted' AND e.class != 'worker_lost' AND e.class != 'lease_expired'
  AND e.class != 'cancelled';

-- name: QueueSetLimits
INSERT INTO queues (name, concurrency, warn_depth, warn_age_ms, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, warn_depth = excluded.warn_depth,
  warn_age_ms = excluded.warn_age_ms, updated_at = excluded.updated_at;

-- name: QueueResourceKeys
SELECT resource_key, COUNT(*) FROM jobs INDEXED BY jobs_fetch_by_key
WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1
GROUP BY resource_key ORDER BY resource_key LIMIT ?2;

-- name: JobLease
-- Keep in step with LeaseFields() in sqlite_store.cc, which applies the same changes to the row read.
UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
                started_at = ?2, heartbeat_at = ?2, lease_expires_at = ?2 + ?3, lease_ttl_ms = ?3,
                grace_ms = ?4, worker_id = ?5, stall_since = ?2,
                cancel_requested = 0, cancel_reason = '', takeback_at = NULL
WHERE id = ?1 AND state = 'available';

-- name: JobLeaseState
SELECT state, lease_token, cancel_requested, cancel_reason, progress_done, progress_message, checkpoint,
       lease_ttl_ms
FROM jobs WHERE id = ?1;

-- name: LeaseExtend
UPDATE jobs SET heartbeat_at = ?3, lease_expires_at = ?3 + lease_ttl_ms,
                progress_done = CASE WHEN ?4 THEN ?5 ELSE progress_done END,
                progress_total = CASE WHEN ?4 THEN ?6 ELSE progress_total END,
                progress_message = CASE WHEN ?4 THEN ?7 ELSE progress_message END,
                progress_updated_at = CASE WHEN ?4 THEN ?3 ELSE progress_updated_at END,
                checkpoint = COALESCE(?8, checkpoint),
                stall_since = CASE WHEN ?9 THEN ?3 ELSE stall_since END
WHERE id = ?1 AND lease_token = ?2 AND state = 'running'
RETURNING lease_expires_at;

-- name: JobComplete
UPDATE jobs SET state = 'succeeded', finished_at = ?3, result = ?4,
                checkpoint = COALESCE(?5, checkpoint),
                progress_done = CASE WHEN ?6 THEN ?7 ELSE progress_done END,
                progress_total = CASE WHEN ?6 THEN ?8 ELSE progress_total END,
                progress_message = CASE WHEN ?6 THEN ?9 ELSE progress_message END,
                progress_updated_at = CASE WHEN ?6 THEN ?3 ELSE progress_updated_at END,
                lease_expires_at = NULL, cancel_requested = 0, cancel_reason = '', takeback_at = NULL
WHERE id = ?1 AND lease_token = ?2 AND state = 'running';

-- name: JobGuardState
SELECT state, lease_token FROM jobs WHERE id = ?1;

-- name: JobApply
-- ?2 = expected state, ?3 = expected token (checked only when running),
-- ?20 = lease must end at or before this (NULL: no such guard)
UPDATE jobs SET state = ?4, attempt = ?5, max_attempts = ?6, run_at = ?7, finished_at = ?8,
                lease_expires_at = CASE WHEN ?9 THEN NULL ELSE lease_expires_at END,
                cancel_requested = CASE WHEN ?9 THEN 0 WHEN ?10 THEN 1 ELSE cancel_requested END,
                cancel_reason = CASE WHEN ?9 THEN '' WHEN ?10 THEN ?11 ELSE cancel_reason END,
                takeback_at = CASE WHEN ?9 THEN NULL WHEN ?10 THEN ?12 ELSE takeback_at END,
                result = COALESCE(?13, result),
                checkpoint = COALESCE(?14, checkpoint),
                progress_done = CASE WHEN ?15 THEN ?16 ELSE progress_done END,
                progress_total = CASE WHEN ?15 THEN ?17 ELSE progress_total END,
                progress_message = CASE WHEN ?15 THEN ?18 ELSE progress_message END,
                progress_updated_at = CASE WHEN ?15 THEN ?19 ELSE progress_updated_at END
WHERE id = ?1 AND state = ?2 AND (state != 'running' OR lease_token = ?3)
  AND (?20 IS NULL OR lease_expires_at <= ?20);

-- name: JobErrorInsert
INSERT INTO job_errors (job_id, seq, attempt, class, message, at, counted, limit_name, output_tail, worker_id)
VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_errors WHERE job_id = ?1),
        ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT worker_id FROM jobs WHERE id = ?1));

-- name: JobDelete
DELETE FROM jobs WHERE id = ?1 AND state != 'running';

-- name: JobExists
SELECT state FROM jobs WHERE id = ?1;

-- name: JobDeleteMany
-- ?1 = JSON array of states, ?2 = queue or NULL, ?3 = before (ms) or NULL, ?4 = limit
DELETE FROM jobs
WHERE id IN (SELECT id FROM jobs
             WHERE state IN (SELECT value FROM json_each(?1)) AND state != 'running'
               AND (?2 IS NULL OR queue = ?2)
               AND (?3 IS NULL OR COALESCE(finished_at, created_at) < ?3)
             LIMIT ?4);

-- name: JobPurgeFinished
-- JobDeleteMany for terminal states older than a time (the reaper's retention, once per tick):
-- by finished_at, oldest first, so it visits only the jobs it deletes. Terminal jobs always have
-- finished_at (lifecycle.cc), so this deletes what JobDeleteMany would.
-- ?1 = JSON array of terminal states, ?2 = queue or NULL, ?3 = before (ms), ?4 = limit
DELETE FROM jobs
WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished
             WHERE finished_at < ?3 AND state IN (SELECT value FROM json_each(?1))
               AND (?2 IS NULL OR queue = ?2)
             LIMIT ?4);

-- name: JobGet
SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1;

-- name: JobErrorsSince
-- Failure groups: the unsuccessful runs since ?1, newest first, by the error times' index.
SELECT e.job_id, j.kind, e.class, e.message, e.at
FROM job_errors AS e INDEXED BY job_errors_at JOIN jobs AS j ON j.id = e.job_id
WHERE e.at >= ?1 ORDER BY e.at DESC LIMIT ?2;

-- name: JobErrors
SELECT attempt, class, message, at, counted, limit_name, output_tail
FROM job_errors WHERE job_id = ?1 ORDER BY seq;

-- name: JobListAll
SELECT {JOB_COLUMNS} FROM jobs
WHERE id > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR worker_id = ?3)
  AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?7))
  AND (?8 IS NULL OR batch_id = ?8) AND (?9 IS NULL OR json_extract(args, ?9) = json_extract(?10, '$'))
ORDER BY id LIMIT ?4;

-- name: JobListByState
SELECT {JOB_COLUMNS} FROM jobs
WHERE state = ?5 AND id > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR worker_id = ?3)
  AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?7))
  AND (?8 IS NULL OR batch_id = ?8) AND (?9 IS NULL OR json_extract(args, ?9) = json_extract(?10, '$'))
ORDER BY id LIMIT ?4;

-- name: JobListByQueue
SELECT {JOB_COLUMNS} FROM jobs
WHERE queue = ?6 AND id > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR worker_id = ?3)
  AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?7))
  AND (?8 IS NULL OR batch_id = ?8) AND (?9 IS NULL OR json_extract(args, ?9) = json_extract(?10, '$'))
ORDER BY id LIMIT ?4;

-- name: JobListByBatch
-- A batch's members (index jobs_batch), with the other filters of JobList.
SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_batch
WHERE batch_id = ?8 AND id > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR worker_id = ?3)
  AND (?5 IS NULL OR state = ?5) AND (?6 IS NULL OR queue = ?6)
  AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?7))
  AND (?9 IS NULL OR json_extract(args, ?9) = json_extract(?10, '$'))
ORDER BY id LIMIT ?4;

-- name: JobStateQueues
-- The queues holding jobs in state ?1 (at most ?2 of them), one seek in jobs_state_queue each (a
-- loose index scan): JobList merges their id-ordered runs (JobListByStateQueue) rather than
-- sorting every job in the state, which JobListByState does (129 ms with a million available).
WITH RECURSIVE q(name) AS (
  SELECT (SELECT queue FROM jobs INDEXED BY jobs_state_queue WHERE state = ?1 ORDER BY queue LIMIT 1)
  UNION ALL
  SELECT (SELECT queue FROM jobs INDEXED BY jobs_state_queue WHERE state = ?1 AND queue > q.name
          ORDER BY queue LIMIT 1)
  FROM q WHERE q.name IS NOT NULL
)
SELECT name FROM q WHERE name IS NOT NULL LIMIT ?2;

-- name: JobListByStateQueue
SELECT {JOB_COLUMNS} FROM jobs
WHERE state = ?5 AND queue = ?6 AND id > ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR worker_id = ?3)
  AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?7))
  AND (?8 IS NULL OR batch_id = ?8) AND (?9 IS NULL OR json_extract(args, ?9) = json_extract(?10, '$'))
ORDER BY id LIMIT ?4;

-- name: JobListDeadlinePassed
SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_waiting_deadline
WHERE deadline_at IS NOT NULL AND deadline_at <= ?1 AND state IN ('scheduled', 'available')
ORDER BY deadline_at LIMIT ?2;

-- name: QueueSetPaused
INSERT INTO queues (name, paused, updated_at) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at;

-- name: QueueCounts
SELECT queue, state, COUNT(*) FROM jobs GROUP BY state, queue;

-- name: QueueOldestAvailable
-- The oldest available job's run_at, read from the fetch indexes by a skip
-- scan: one seek per distinct priority (a handful), never a walk over every
-- available job (MIN(run_at) over (state, queue) read 250,000 index entries
-- per queue of a 1,000,000-job store: 100+ ms per call).
WITH RECURSIVE
free(pri) AS (
  SELECT (SELECT priority FROM jobs INDEXED BY jobs_fetch WHERE state = 'available' AND resource_key IS NULL AND queue = ?1 ORDER BY priority DESC LIMIT 1)
  UNION ALL
  SELECT (SELECT priority FROM jobs INDEXED BY jobs_fetch WHERE state = 'available' AND resource_key IS NULL AND queue = ?1 AND priority < free.pri ORDER BY priority DESC LIMIT 1)
  FROM free WHERE free.pri IS NOT NULL
),
keyed(pri) AS (
  SELECT (SELECT priority FROM jobs INDEXED BY jobs_fetch_keyed WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 ORDER BY priority DESC LIMIT 1)
  UNION ALL
  SELECT (SELECT priority FROM jobs INDEXED BY jobs_fetch_keyed WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 AND priority < keyed.pri ORDER BY priority DESC LIMIT 1)
  FROM keyed WHERE keyed.pri IS NOT NULL
)
SELECT MIN(t) FROM (
  SELECT (SELECT run_at FROM jobs INDEXED BY jobs_fetch WHERE state = 'available' AND resource_key IS NULL AND queue = ?1 AND priority = free.pri ORDER BY run_at LIMIT 1) AS t FROM free WHERE free.pri IS NOT NULL
  UNION ALL
  SELECT (SELECT run_at FROM jobs INDEXED BY jobs_fetch_keyed WHERE state = 'available' AND resource_key IS NOT NULL AND queue = ?1 AND priority = keyed.pri ORDER BY run_at LIMIT 1) FROM keyed WHERE keyed.pri IS NOT NULL
);

-- name: QueueAll
SELECT name, paused, concurrency, warn_depth, warn_age_ms FROM queues ORDER BY name;

-- name: MetaGet
SELECT value FROM meta WHERE key = ?1;

-- name: MetaSet
INSERT INTO meta (key, value) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: LeaseGraceAll
-- Live leases get one TTL of grace after a gap longer than their TTL with no reaper tick (?2 is the
-- last tick, NULL when none is on record), or all of them when ?3 (a server's first tick after start).
UPDATE jobs SET lease_expires_at = MAX(lease_expires_at, ?1 + lease_ttl_ms)
WHERE state = 'running' AND (?3 OR ?1 - ?2 > lease_ttl_ms);

-- name: WorkerUpsert
INSERT INTO workers (id, host, pid, pid_start_time, boot_id, pid_namespace, queues, slots, busy, started_at,
                     last_seen_at, stopped_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)
ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, host = excluded.host, pid = excluded.pid,
  pid_start_time = excluded.pid_start_time,
  boot_id = excluded.boot_id, pid_namespace = excluded.pid_namespace, queues = excluded.queues,
  slots = excluded.slots, busy = excluded.busy, last_seen_at = excluded.last_seen_at, stopped_at = NULL;

-- name: WorkerTouch
UPDATE workers SET busy = ?2, last_seen_at = ?3 WHERE id = ?1;

-- name: WorkerSetStopped
UPDATE workers SET stopped_at = ?2, busy = 0 WHERE id = ?1 AND stopped_at IS NULL;

-- name: WorkerIsStopped
-- A fetch leases nothing to a worker marked stopped (deregistered, or its death was seen).
SELECT 1 FROM workers WHERE id = ?1 AND stopped_at IS NOT NULL;

-- name: WorkerPurgeStopped
-- Retention of the registry: workers stopped before ?1 (the reaper's, once per tick; the table
-- holds the live workers and those stopped within the retention, so the scan stays small).
DELETE FROM workers WHERE stopped_at IS NOT NULL AND stopped_at < ?1;

-- name: WorkerList
SELECT id, host, pid, pid_start_time, boot_id, pid_namespace, queues, slots, busy, started_at, last_seen_at,
       stopped_at
FROM workers WHERE ?1 OR stopped_at IS NULL ORDER BY started_at DESC, id;

-- name: WorkerGet
SELECT id, host, pid, pid_start_time, boot_id, pid_namespace, queues, slots, busy, started_at, last_seen_at,
       stopped_at
FROM workers WHERE id = ?1;

-- name: ScheduleUpsert
-- A changed cron or time zone takes the new next fire; otherwise the stored one stays (every SET
-- reads the row as it was).
INSERT INTO schedules (name, cron, timezone, kind, args, queue, catch_up, next_fire_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (name) DO UPDATE SET
  next_fire_at = CASE WHEN cron <> excluded.cron OR timezone <> excluded.timezone
                      THEN excluded.next_fire_at ELSE next_fire_at END,
  cron = excluded.cron, timezone = excluded.timezone, kind = excluded.kind, args = excluded.args,
  queue = excluded.queue, catch_up = excluded.catch_up, updated_at = excluded.updated_at;

-- name: ScheduleAll
SELECT name, cron, timezone, kind, args, queue, catch_up, next_fire_at, last_fire_at, last_job_id, updated_at
FROM schedules ORDER BY name;

-- name: ScheduleAdvance
-- Guarded on the next fire the caller read: of several processes, one moves it.
UPDATE schedules SET next_fire_at = ?2, last_fire_at = COALESCE(?3, last_fire_at), updated_at = ?4
WHERE name = ?1 AND next_fire_at = ?5;

-- name: ScheduleSetLastJob
UPDATE schedules SET last_job_id = ?2 WHERE name = ?1;

-- name: BatchInsert
INSERT INTO batches (name, deadline_at, min_succeeded, total, remaining, parent_id, callback_kind, callback_queue,
                     callback_priority, callback_args, callback_max_attempts, callback_timeout_ms, created_at,
                     callback_stall_timeout_ms, callback_resource_key, callback_tags, callback_cost)
VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16);

-- name: BatchAnyRunning
-- Whether a member can end at all: the job writes keep the batch counts only while this holds.
SELECT 1 FROM batches INDEXED BY batches_state WHERE state = 'running' LIMIT 1;

-- name: JobBatchId
SELECT batch_id FROM jobs WHERE id = ?1;

-- name: BatchMemberEnded
UPDATE batches SET remaining = remaining - 1 WHERE id = CAST(?1 AS INTEGER) AND state = 'running';

-- name: BatchMarkDue
INSERT OR IGNORE INTO batches_due (id)
SELECT id FROM batches WHERE id = CAST(?1 AS INTEGER) AND state = 'running' AND remaining = 0;

-- name: BatchMemberReopened
UPDATE batches SET remaining = remaining + 1 WHERE id = CAST(?1 AS INTEGER) AND state = 'running';

-- name: BatchUnmarkDue
DELETE FROM batches_due WHERE id = CAST(?1 AS INTEGER);

-- name: BatchDue
-- Batches whose last member ended in this transaction (the triggers of migration 5 fill it).
SELECT id FROM batches_due LIMIT 64;

-- name: BatchDueDelete
DELETE FROM batches_due WHERE id = ?1;

-- name: BatchRow
SELECT id, name, state, deadline_at, min_succeeded, total, parent_id, callback_job_id, created_at, finished_at,
       callback_kind, callback_queue, callback_priority, callback_args, callback_max_attempts, callback_timeout_ms,
       callback_stall_timeout_ms, callback_resource_key, callback_tags, callback_cost
FROM batches WHERE id = ?1;

-- name: BatchListRows
SELECT id, name, state, deadline_at, min_succeeded, total, parent_id, callback_job_id, created_at, finished_at
FROM batches
WHERE (?1 IS NULL OR state = ?1) AND id < ?2
ORDER BY id DESC LIMIT ?3;

-- name: BatchCounts
-- The members' states, counted by the caller: a GROUP BY here would sort them in a temp b-tree.
SELECT state FROM jobs INDEXED BY jobs_batch WHERE batch_id = ?1;

-- name: BatchMembers
-- Each member with its last error (none for a member that succeeded).
SELECT j.id, j.kind, j.state, j.resource_key, j.attempt, j.started_at, j.finished_at, j.result,
       e.class, e.message, e.limit_name
FROM jobs j INDEXED BY jobs_batch
LEFT JOIN job_errors e
  ON j.state != 'succeeded' AND e.job_id = j.id
 AND e.seq = (SELECT MAX(seq) FROM job_errors WHERE job_id = j.id)
WHERE j.batch_id = ?1
ORDER BY j.id;

-- name: BatchFinish
UPDATE batches SET state = ?2, finished_at = ?3, callback_job_id = ?4 WHERE id = ?1 AND state = 'running';

-- name: JobSetArgs
UPDATE jobs SET args = ?2 WHERE id = ?1;

-- name: BatchPurgeFinished
-- Finished batches older than ?1, oldest first, at most ?2 (the reaper's retention). Their members
-- are terminal and go with the jobs' retention.
DELETE FROM batches
WHERE id IN (SELECT id FROM batches INDEXED BY batches_finished WHERE finished_at < ?1 ORDER BY finished_at LIMIT ?2);

-- name: BatchStateCounts
SELECT state, COUNT(*) FROM batches GROUP BY state;
