#!/usr/bin/env python3
"""One source of a query. The hanging one does what the seed's did: it connects
to a server that accepts and never answers, and ignores SIGTERM, so only the
worker's SIGKILL (after the grace) ends it."""
import json
import os
import random
import signal
import socket
import sys
import time

job = json.load(sys.stdin)
args = job["args"]
control = os.fdopen(int(os.environ["JOBWARDEN_CONTROL_FD"]), "w", buffering=1)

if args.get("hang"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    silent = socket.socket()  # a listener that never accepts: the kernel completes the connect
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    conn = socket.create_connection(silent.getsockname())
    print(f"{args['source']}: connected, waiting for an answer", file=sys.stderr, flush=True)
    conn.recv(1)  # never returns

rows = random.randint(20, 60)
for page in range(1, 4):
    time.sleep(random.uniform(0.2, 0.5))
    control.write(json.dumps({"progress": {"done": page, "total": 3, "message": args["source"]}}) + "\n")
control.write(json.dumps({"result": {"source": args["source"], "rows": rows}}) + "\n")
