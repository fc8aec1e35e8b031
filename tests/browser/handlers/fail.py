#!/usr/bin/env python3
"""Test handler: fails for good with a message that names a host, as a real failure would."""
import json
import os
import sys

control = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)
args = json.load(sys.stdin).get("args") or {}
host = args.get("host", "db-1")
control.write(json.dumps({"error": {"class": "permanent", "message": f"connection refused by {host}:5432"}}) + "\n")
sys.exit(1)
