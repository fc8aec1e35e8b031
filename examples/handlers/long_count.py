#!/usr/bin/env python3
"""Demo handler: a long job that reports progress, checkpoints and resumes.

Processes `total` items (args.total, default 50,000; args.per_item_s each),
reporting progress and writing a checkpoint every 1,000 items. On SIGTERM
(worker shutdown, timeout) it writes a final checkpoint and exits; the next
attempt gets that checkpoint on stdin and resumes from it.
"""
import json
import os
import signal
import sys
import time

CONTROL = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)
stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def control(obj):
    CONTROL.write(json.dumps(obj) + "\n")


def main():
    signal.signal(signal.SIGTERM, on_term)
    job = json.load(sys.stdin)
    args = job.get("args") or {}
    total = int(args.get("total", 50_000))
    per_item_s = float(args.get("per_item_s", 0.001))
    start = int((job.get("checkpoint") or {}).get("next", 0))
    if start:
        print(f"resuming at item {start} of {total}", file=sys.stderr)
    i = start
    while i < total:
        if stop:
            control({"checkpoint": {"next": i}})
            print(f"stopping at item {i}: checkpoint written", file=sys.stderr)
            return 0
        time.sleep(per_item_s)  # stands in for real work on item i
        i += 1
        if i % 1000 == 0 or i == total:
            control({"checkpoint": {"next": i}})
            control({"progress": {"done": i, "total": total, "message": f"item {i}"}})
    control({"result": {"processed": total - start, "resumed_from": start}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
