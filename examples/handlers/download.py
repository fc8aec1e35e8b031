#!/usr/bin/env python3
"""Demo handler: download from 5 sources, one of which hangs.

The sources are real HTTP servers on 127.0.0.1 started by this script, so the
hang is a real one: the "hangs-forever" source accepts the connection and
never answers, like a stuck image host. Each request has its own timeout
(REQUEST_TIMEOUT_S), so the hang costs seconds, not forever, and the job
finishes with partial results that say which source failed and why. The job
as a whole is still bounded by the kind's `timeout`, enforced by the worker
and the server, in case the handler itself gets stuck.
"""
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

CONTROL = os.fdopen(int(os.environ.get("JOBWARDEN_CONTROL_FD", "3")), "w", buffering=1)


def control(obj):
    CONTROL.write(json.dumps(obj) + "\n")


class Source(http.server.BaseHTTPRequestHandler):
    """Stands in for the image hosts: /NAME answers after 0.3 s, /hangs* never."""

    def do_GET(self):
        name = self.path.strip("/")
        if name.startswith("hangs"):
            time.sleep(3600)  # connection accepted, no answer: the classic hung call
            return
        time.sleep(0.3)
        body = f"<image bytes from {name}>".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_sources():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Source)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    job = json.load(sys.stdin)
    sources = os.environ.get("SOURCE_LIST", "a,b").split(",")
    timeout_s = float(os.environ.get("REQUEST_TIMEOUT_S", "3"))
    port = start_sources()
    downloaded, failed = [], {}
    for i, source in enumerate(sources):
        url = f"http://127.0.0.1:{port}/{source}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as answer:
                answer.read()
            downloaded.append(source)
        except (TimeoutError, urllib.error.URLError) as e:
            reason = f"timed out after {timeout_s:g}s" if "timed out" in str(e) else str(e)
            failed[source] = reason
            print(f"job {job['id']}: {source}: {reason}; skipped", file=sys.stderr)
        control({"progress": {"done": i + 1, "total": len(sources), "message": f"{source}: "
                              + ("ok" if source in downloaded else failed[source])}})
    control({"result": {"downloaded": downloaded, "failed": failed}})
    # Partial results are a success; no source at all is worth a retry.
    return 0 if downloaded else 75


if __name__ == "__main__":
    sys.exit(main())
