-- Due scheduled jobs of every queue, oldest first: the reaper promotes them once per tick
-- (JobPromoteScheduled). jobs_scheduled serves fetch, per queue; ordered by queue first, it cannot
-- give the due jobs of all queues without visiting every scheduled job.
CREATE INDEX jobs_scheduled_due ON jobs (run_at) WHERE state = 'scheduled';
