#!/usr/bin/env python3
"""Example handler: "uploads" a file to one of three simulated hosts.

fast.example    takes 0.5 s and succeeds.
busy.example    answers 429 with Retry-After: 3 to one upload in three (by file
                number); the handler reports it as `rate_limited` with
                `retry_after_s`, and the server holds every upload to the host.
broken.example  always fails: "unknown service" (a transient error: it might be
                back later, which is what the breaker's probe finds out).
"""
import json
import os
import sys
import time

job = json.load(sys.stdin)
args = job["args"]
control = os.fdopen(int(os.environ["JOBWARDEN_CONTROL_FD"]), "w", buffering=1)


def send(obj):
    control.write(json.dumps(obj) + "\n")


host, name = args["host"], args["file"]
number = int(name.split("-")[1].split(".")[0])
time.sleep(0.5)
if host == "broken.example":
    send({"error": {"class": "transient", "message": f"{host}: unknown service"}})
elif host == "busy.example" and number % 3 == 0 and job["attempt"] == 1:
    send({"error": {"class": "rate_limited", "message": f"{host}: 429 Too Many Requests", "retry_after_s": 3}})
else:
    send({"result": {"uploaded": name, "host": host}})
