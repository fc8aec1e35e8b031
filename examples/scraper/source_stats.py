#!/usr/bin/env python3
"""The batch's callback: args.batch is the whole batch (DESIGN.md "Batches"),
every member with its state, result or error. Writes the `source_stats`
summary the old scraper filled by hand, to var/source_stats.json and its result."""
import json
import os
import sys

job = json.load(sys.stdin)
batch = job["args"]["batch"]
control = os.fdopen(int(os.environ["JOBWARDEN_CONTROL_FD"]), "w", buffering=1)
stats = {"query": job["args"]["query"], "batch": batch["id"], "state": batch["state"], "sources": {}}
for m in batch["members"]:
    result, error = m.get("result") or {}, m.get("error")
    source = result.get("source") or (m["resource_key"] or "").removeprefix("source:")
    stats["sources"][source] = {
        "state": m["state"],
        "rows": result.get("rows"),
        "seconds": m["duration_s"],
        "error": f"{error['class']}: {error['message']}" if error else None,
    }
stats["rows"] = sum(s["rows"] or 0 for s in stats["sources"].values())
os.makedirs("var", exist_ok=True)
with open("var/source_stats.json", "w") as f:
    json.dump(stats, f, indent=2)
print(json.dumps(stats, indent=2), file=sys.stderr)
control.write(json.dumps({"result": stats}) + "\n")
