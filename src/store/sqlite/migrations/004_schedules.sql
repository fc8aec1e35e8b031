-- Migration 4: schedules (DESIGN.md "Schedules"; core/schedule.h).
-- One row per [schedules.NAME]. next_fire_at is the guard of exactly-once:
-- a fire moves it from the value the firing process read to the next fire, in
-- the transaction that enqueues the fire's job (ScheduleAdvance).
CREATE TABLE schedules (
  name          TEXT    PRIMARY KEY,
  cron          TEXT    NOT NULL,
  timezone      TEXT    NOT NULL DEFAULT 'UTC',
  kind          TEXT    NOT NULL,
  args          TEXT    NOT NULL DEFAULT '{}',
  queue         TEXT    NOT NULL DEFAULT 'default',
  catch_up      TEXT    NOT NULL DEFAULT 'one' CHECK (catch_up = 'one' OR catch_up = 'none'),
  next_fire_at  INTEGER NOT NULL,
  last_fire_at  INTEGER,
  last_job_id   INTEGER,
  updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
