"""How the local servers' command lines (``python -m …testing``, ``…testing.smtp``) wait in the foreground."""

from __future__ import annotations

import signal
import threading


def wait_for_stop_signal() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM, which stop a foreground server cleanly instead of killing it."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # a short wait, not wait() forever: the main thread then runs Python's signal handlers promptly
    while not stop.wait(0.5):
        pass
