#!/usr/bin/env python3
"""Demo handler: hangs and ignores SIGTERM, like a stuck network call.

The worker sends SIGTERM at the timeout, then SIGKILL after the grace: the
slot is free again, whatever this handler does.
"""
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    time.sleep(3600)
