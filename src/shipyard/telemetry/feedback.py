"""Feedback (request id, optional row, label) buffered in memory and written to the store in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shipyard.telemetry.ticker import Ticker


class FeedbackBuffer:
    def __init__(self, sink: Callable[[list[tuple[str, str, int | None, Any]]], int], interval_s: float = 1.0) -> None:
        self.sink, self.interval_s = sink, interval_s
        self._buf: list[tuple[str, str, int | None, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # a failed flush puts the rows back, so the next tick retries them
        self._ticker = Ticker(self.flush, interval_s, "shipyard-feedback", "feedback flush failed; will retry")

    def add(self, items: list[tuple[str, str, int | None, Any]]) -> None:
        with self._lock:
            self._buf.extend(items)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

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
