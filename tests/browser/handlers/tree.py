#!/usr/bin/env python3
"""Test handler: starts a child and a grandchild that sleep, ignores SIGTERM,
and writes the pids of all three to args.pidfile, so a test can see that
cancelling the job leaves none of them behind."""
import json
import os
import signal
import subprocess
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
control = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)
args = json.load(sys.stdin).get("args") or {}
child = subprocess.Popen(["sleep", "600"])
grandchild_parent = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
grandchild = int(grandchild_parent.stdout.readline())
pids = [os.getpid(), child.pid, grandchild_parent.pid, grandchild]
tmp = args["pidfile"] + ".tmp"
with open(tmp, "w") as f:
    json.dump(pids, f)
os.rename(tmp, args["pidfile"])
control.write(json.dumps({"progress": {"done": 0, "total": 1, "message": "holding a process tree"}}) + "\n")
while True:
    time.sleep(60)
