#!/bin/sh
# Demo handler: a quick job. In the demo these wait behind two hung jobs that
# fill both slots, and still run: the hung ones are killed at timeout + grace.
echo "hello from job $JOBWARDEN_JOB_ID (attempt $JOBWARDEN_ATTEMPT)"
printf '{"result": {"greeting": "hello from job %s"}}\n' "$JOBWARDEN_JOB_ID" >&3
