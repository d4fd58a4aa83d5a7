"""Feedback (request id + label) buffered in memory and written to the store in the background."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("shipyard.serving")


class FeedbackBuffer:
    def __init__(self, sink: Callable[[list[tuple[str, str, Any]]], int], interval_s: float = 1.0) -> None:
        self.sink, self.interval_s = sink, interval_s
        self._buf: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, items: list[tuple[str, str, Any]]) -> None:
        with self._lock:
            self._buf.extend(items)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="shipyard-feedback", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush()
            except Exception:  # the store is down: keep the rows and retry on the next tick
                log.exception("feedback flush failed; will retry")

    def flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                items, self._buf = self._buf, []
            if not items:
                return 0
            try:
                return self.sink(items)
            except Exception:
                with self._lock:
                    self._buf[:0] = items
                raise
