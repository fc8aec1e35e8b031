#!/usr/bin/env python3
"""Fans a query out to its sources: one fd-3 line {"batch": ...}, the body of
POST /v1/batches. The worker submits it when this handler succeeds; the batch's
parent is this job. Each source keeps its own timeout (the kind's, 4 s); the
batch's deadline bounds them all; the callback gets every outcome."""
import json
import os
import sys

job = json.load(sys.stdin)
args = job["args"]
control = os.fdopen(int(os.environ["JOBWARDEN_CONTROL_FD"]), "w", buffering=1)
members = [
    {
        "kind": "fetch_source",
        "args": {"query": args["query"], "source": s, "hang": s == args.get("hang")},
        # Unique per query and source: a retried search cannot fan out twice.
        "unique_key": f"fetch:{args['query']}:{s}",
        "resource_key": f"source:{s}",
    }
    for s in args["sources"]
]
control.write(json.dumps({"batch": {
    "name": f"search {args['query']}",
    "jobs": members,
    "deadline_s": 20,
    "min_succeeded": 3,  # a query answered by 3 of 5 sources is a success
    "callback": {"kind": "source_stats", "args": {"query": args["query"]}},
}}) + "\n")
control.write(json.dumps({"result": {"fanned_out": len(members)}}) + "\n")
