"""Feedback (request id, optional row, label) buffered in memory and written to the store in the background.

The buffer is bounded (``max_items`` labels, ``serving.feedback_buffer``, counting those a flush
is writing): while the store is unreachable labels pile up only to the bound. A call that does not
fit is refused whole (``add`` returns False: the gateway answers 503 with Retry-After, so the
client knows to send it again) and reported to ``on_drop`` (the gateway counts it in
``shipyard_feedback_dropped_total``). A failed flush puts its labels back; since adds counted them
meanwhile they always fit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from shipyard.telemetry.ticker import Ticker

Item = tuple[str, str, int | None, Any]  # endpoint, request id, row (None: the whole request), label


class FeedbackBuffer:
    def __init__(self, sink: Callable[[list[Item]], int], interval_s: float = 1.0, max_items: int = 100_000,
                 on_drop: Callable[[str, int], None] | None = None) -> None:
        self.sink, self.interval_s, self.max_items, self.on_drop = sink, interval_s, max_items, on_drop
        self._buf: list[Item] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flushing = 0  # labels a flush has taken out and is writing (still count toward the bound)
        # a failed flush puts the rows back (up to the bound), so the next tick retries them
        self._ticker = Ticker(self.flush, interval_s, "shipyard-feedback", "feedback flush failed; will retry")

    def __len__(self) -> int:
        """Labels held: buffered and being written."""
        return len(self._buf) + self._flushing

    def add(self, items: list[Item]) -> bool:
        """Queue ``items`` for the store; False (nothing queued, all counted dropped) when they do not fit."""
        with self._lock:
            if len(self._buf) + self._flushing + len(items) <= self.max_items:
                self._buf.extend(items)
                return True
        self._dropped(items)
        return False

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                items, self._buf = self._buf, []
                self._flushing = len(items)
            if not items:
                return 0
            try:
                written = self.sink(items)
            except BaseException:
                with self._lock:
                    self._buf[:0] = items  # adds meanwhile left room for these: the bound holds
                    self._flushing = 0
                raise
            with self._lock:
                self._flushing = 0
            return written

    def _dropped(self, items: list[Item]) -> None:
        if self.on_drop is not None and items:
            for endpoint, n in Counter(it[0] for it in items).items():
                self.on_drop(endpoint, n)
