"""Rollout notifications: Slack-compatible webhooks, delivered by a background thread with retries.

A message is ``{"text": "<one line for people>", "event": ..., "rollout": {...}}`` — Slack and Mattermost
incoming webhooks show ``text`` and ignore the rest; other receivers read the structured fields. Delivery
runs in its own thread: a 5xx, a timeout or a refused connection is retried with exponential backoff
(0.2 s, 0.4 s, 0.8 s ... up to ``attempts``), and a delivery that never succeeds is logged and dropped.
Nothing here ever blocks or fails a rollout.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("shipyard.rollout.notify")


class Notifier(Protocol):
    def send(self, url: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``url``; never raises, never blocks on the network."""
        ...


def message(notice: str, rollout: dict[str, Any]) -> dict[str, Any]:
    """The webhook body for one rollout notice (start, step, pause, resume, promotion, rollback, abort)."""
    ref = f"{rollout.get('model')}:{rollout.get('stable')} -> {rollout.get('model')}:{rollout.get('candidate')}"
    weights = ", ".join(f"v{v} {p}%" for v, p in (rollout.get("weights") or {}).items())
    reason = f" ({rollout['reason']})" if rollout.get("reason") else ""
    text = (f"shipyard rollout {rollout.get('id')} on {rollout.get('endpoint')}: {notice} — "
            f"{rollout.get('strategy')} {ref}, {rollout.get('state')}, step {rollout.get('step')}, {weights}{reason}")
    fields = {k: rollout.get(k) for k in ("id", "endpoint", "model", "strategy", "state", "step", "stable",
                                         "candidate", "weights", "reason")}
    return {"text": text, "event": notice, "rollout": fields}


@dataclass
class WebhookNotifier:
    """Posts JSON with retries and backoff from one daemon thread."""

    attempts: int = 5
    backoff_s: float = 0.2
    timeout_s: float = 5.0
    post: Callable[[str, dict[str, Any], float], int] | None = None  # (url, body, timeout) -> HTTP status
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (url, event) that got a 2xx
    _queue: queue.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, url: str, message: dict[str, Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shipyard-webhooks", daemon=True)
                self._thread.start()
        self._queue.put((url, message))

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (bounded by ``timeout``), then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._deliver(*item)

    def _deliver(self, url: str, body: dict[str, Any]) -> None:
        post = self.post or _post
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                status = post(url, body, self.timeout_s)
            except OSError as exc:  # _post turns httpx transport errors into OSError
                status, why = 0, str(exc)
            else:
                why = f"HTTP {status}"
            if 200 <= status < 300:
                self.delivered.append((url, str(body.get("event"))))
                return
            if 400 <= status < 500 and status not in (408, 429):
                log.warning("webhook %s refused %s (%s); not retried", _safe(url), body.get("event"), why)
                return
            log.info("webhook %s: %s attempt %d failed (%s)", _safe(url), body.get("event"), attempt, why)
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        log.warning("webhook %s: gave up on %s after %d attempts", _safe(url), body.get("event"), self.attempts)


def _post(url: str, body: dict[str, Any], timeout: float) -> int:
    import httpx

    try:
        return httpx.post(url, json=body, timeout=timeout).status_code
    except httpx.HTTPError as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from exc


def _safe(url: str) -> str:
    """The URL without its path (Slack webhook paths are secrets)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"
