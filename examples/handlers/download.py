#!/usr/bin/env python3
"""Demo handler: download from several sources, one of which hangs.

Each source gets its own request timeout (REQUEST_TIMEOUT_S); the job as a
whole is bounded by the kind's `timeout`, enforced by the worker and server.
Progress goes to fd 3; a source that timed out is reported in the result.
"""
import json
import os
import sys
import time

CONTROL = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)


def control(obj):
    CONTROL.write(json.dumps(obj) + "\n")


def fetch(source, timeout_s):
    # Stands in for an HTTP call with a per-request timeout.
    delay = 3600 if source.startswith("hangs") else 0.3
    if delay > timeout_s:
        time.sleep(timeout_s)
        raise TimeoutError(f"{source}: no answer within {timeout_s}s")
    time.sleep(delay)
    return f"{source}-image.jpg"


def main():
    job = json.load(sys.stdin)
    sources = os.environ.get("SOURCE_LIST", "a,b").split(",")
    timeout_s = float(os.environ.get("REQUEST_TIMEOUT_S", "3"))
    got, failed = [], []
    for i, source in enumerate(sources):
        try:
            got.append(fetch(source, timeout_s))
        except TimeoutError as e:
            failed.append(str(e))
            print(f"job {job['id']}: {e}", file=sys.stderr)
        control({"progress": {"done": i + 1, "total": len(sources), "message": f"{source} done"}})
    control({"result": {"downloaded": got, "failed": failed}})


if __name__ == "__main__":
    main()
