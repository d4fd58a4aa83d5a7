"""A background thread that calls a flush function every few seconds and once more on stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("shipyard.serving")


class Ticker:
    """Calls ``fn`` every ``interval_s`` on a daemon thread; a failing call is logged, never fatal."""

    def __init__(self, fn: Callable[[], Any], interval_s: float, name: str, failure: str) -> None:
        self.fn, self.interval_s, self.name, self.failure = fn, interval_s, name, failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then call ``fn`` a last time in the caller's thread (errors propagate)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.fn()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.fn()
            except Exception:  # the store is down or slow: the next tick tries again
                log.exception(self.failure)
