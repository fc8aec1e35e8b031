#!/usr/bin/env python3
"""Test handler: `total` items (args.total), `per_item_s` each, progress after every item."""
import json
import os
import sys
import time

control = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)
args = json.load(sys.stdin).get("args") or {}
total = int(args.get("total", 20))
per_item_s = float(args.get("per_item_s", 0.25))
for i in range(1, total + 1):
    time.sleep(per_item_s)
    control.write(json.dumps({"progress": {"done": i, "total": total, "message": f"item {i}"}}) + "\n")
control.write(json.dumps({"result": {"items": total}}) + "\n")
