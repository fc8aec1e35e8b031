#!/usr/bin/env python3
"""Example handler: collects `items` records with progress; `crash_at` makes it
raise at that item, as a buggy collector would (the traceback goes to stderr,
which the worker keeps as the error's output tail)."""
import json
import os
import sys
import time

job = json.load(sys.stdin)
args = job["args"]
control = os.fdopen(int(os.environ["JOBWARDEN_CONTROL_FD"]), "w", buffering=1)
items = int(args.get("items", 10))
for i in range(1, items + 1):
    if args.get("crash_at") == i:
        raise RuntimeError(f"{args['name']}: record {i} has no 'id' field")
    time.sleep(0.2)
    control.write(json.dumps({"progress": {"done": i, "total": items, "message": args["name"]}}) + "\n")
control.write(json.dumps({"result": {"collected": items, "name": args["name"]}}) + "\n")
