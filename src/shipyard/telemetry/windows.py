"""The gateway's live metric windows per endpoint x version (x shadow), counted in memory, flushed closed.

Windows are aligned to multiples of ``interval_s`` of wall-clock time, so every gateway process cuts the
same windows and the store sums them per version (``rollout.providers.builtin``). Per window and version:
requests (answered and failed), rows predicted, errors, a latency histogram over
``core.windows.LATENCY_EDGES_MS`` plus its sum, and a histogram of the predictions:

- classifiers with probabilities: ``{"kind": "score", "edges": SCORE_EDGES, "counts": [...20], "labels":
  {label: n}}``: the positive-class probability (two classes) or the top-class probability in 20 equal bins
  on [0, 1], and the predicted labels;
- labels without probabilities: ``{"kind": "label", "counts": {label: n}}``;
- numbers (regression): ``{"kind": "value", "edges": VALUE_EDGES, "counts": [...]}`` over fixed edges that
  are the same for every version and gateway (0, then +-10^k for k in -3..6 in steps of 1/10 decade: a bin
  is ~26 % wide relative to its value), so histograms merge by plain addition without knowing the version.

Errors are the model's: anything the version's predict raised (a model exception, the model process
dying, a timeout answered 5xx). A request the gateway refused before it reached the model (4xx: malformed,
against the signature) is the client's fault and is not counted at all. Latency is the time from the
request's submission to its version's batcher to its answer, errors included.

The request path (``record``) takes no lock: a key lookup and a few increments on the event loop. The
flusher thread takes only windows closed at least ``GRACE_S`` ago (no writer is left on them) and hands
them to the sink; a failed flush keeps them (at most ``MAX_PENDING`` windows, oldest dropped first).
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from shipyard.core.windows import LATENCY_EDGES_MS, N_LATENCY_BUCKETS, add_counts

log = logging.getLogger("shipyard.serving")

SCORE_BINS = 20
SCORE_EDGES: tuple[float, ...] = tuple(i / SCORE_BINS for i in range(SCORE_BINS + 1))
_POS = tuple(round(10.0 ** (k / 10), 12) for k in range(-30, 61))  # 1e-3 .. 1e6, ten bins a decade
VALUE_EDGES: tuple[float, ...] = (*(-e for e in reversed(_POS)), 0.0, *_POS)
MAX_LABELS = 100  # distinct labels counted per window (more: counted under "(other)")
MAX_PENDING = 5000  # windows kept across failed flushes
GRACE_S = 0.5  # a window is taken this long after it closed (a request in flight may still count into it)
FINAL = datetime(9999, 12, 31, tzinfo=UTC)  # the watermark of a gateway that stopped: it has flushed everything
FLUSH_SLACK_S = 1.0  # allowance for a flush's own write beyond its tick (a busy thread, a slow store), at least


def complete_after(interval_s: float) -> float:
    """Seconds after a window closes by which every gateway has flushed it to the store: it is taken ``GRACE_S``
    after it closed, by the next flush tick (every ``interval_s``), and written within ``max(interval_s,
    FLUSH_SLACK_S)`` more. The rollout controller judges an interval only that long after it ended (with
    ``2 x interval_s``, as before, a window of a 0.5 s interval reached the store after the analysis had
    summed the others: the flush tick and the grace alone take longer)."""
    return GRACE_S + interval_s + max(interval_s, FLUSH_SLACK_S)
Key = tuple[int, str, int, bool]  # window index, endpoint, version, shadow


def gateway_id() -> str:
    """This gateway: ``host:pid:nonce`` (the nonce tells apart gateways in one process, as tests start them,
    and a pid reused after a restart)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Counts:
    """One window of one endpoint x version (mutable; only the event loop writes it)."""

    __slots__ = ("requests", "rows", "errors", "latency_sum_ms", "latency", "score", "labels", "values")

    def __init__(self) -> None:
        self.requests = self.rows = self.errors = 0
        self.latency_sum_ms = 0.0
        self.latency = [0] * N_LATENCY_BUCKETS
        self.score: list[int] | None = None
        self.labels: dict[Any, int] | None = None
        self.values: list[int] | None = None

    def predictions(self) -> dict[str, Any]:
        labels: dict[str, int] | None = None
        if self.labels is not None:  # keyed by the model's own values on the request path; text here
            labels = {}
            for k, v in self.labels.items():
                labels[str(k)] = labels.get(str(k), 0) + v
        if self.score is not None:
            out: dict[str, Any] = {"kind": "score", "edges": list(SCORE_EDGES), "counts": self.score}
            if labels:
                out["labels"] = labels
            return out
        if self.values is not None:
            return {"kind": "value", "edges": list(VALUE_EDGES), "counts": self.values}
        if labels is not None:
            return {"kind": "label", "counts": labels}
        return {}

    def add_outputs(self, outputs: Mapping[str, Any], n: int) -> None:
        """Count ``n`` rows of predictions into the histogram of their kind (one row: scalar reads only)."""
        proba = outputs.get("predict_proba")
        pred = outputs.get("predict")
        if proba is not None:
            score = self.score
            if score is None:
                score = self.score = [0] * SCORE_BINS
            if n == 1:
                i = int((proba.item(1) if proba.shape[1] == 2 else proba.max()) * SCORE_BINS)
                score[SCORE_BINS - 1 if i >= SCORE_BINS else (i if i > 0 else 0)] += 1
            else:
                p = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
                for i in (p * SCORE_BINS).astype(np.intp).tolist():  # np.clip costs more than the loop
                    score[SCORE_BINS - 1 if i >= SCORE_BINS else (i if i > 0 else 0)] += 1
            if pred is not None:
                self._add_labels(pred, n)
            return
        if pred is None:
            return
        if pred.dtype.kind == "f":
            values = self.values
            if values is None:
                values = self.values = [0] * (len(VALUE_EDGES) + 1)
            if n == 1:
                values[bisect.bisect_left(VALUE_EDGES, pred.item(0))] += 1
            else:
                for i in np.searchsorted(VALUE_EDGES, np.asarray(pred, dtype=float).ravel(), side="left").tolist():
                    values[i] += 1
            return
        self._add_labels(pred, n)

    def _add_labels(self, pred: Any, n: int) -> None:
        labels = self.labels
        if labels is None:
            labels = self.labels = {}
        if n == 1:
            lab = pred.item(0)
            if lab in labels:
                labels[lab] += 1
                return
            items: Any = ((lab, 1),)
        elif n <= 256:  # a Python loop beats sorting for a few rows
            items = ((lab, 1) for lab in np.asarray(pred).ravel().tolist())
        else:
            uniq, counts = np.unique(np.asarray(pred).ravel(), return_counts=True)
            items = zip(uniq.tolist(), counts.tolist(), strict=True)
        for lab, c in items:
            if lab in labels:
                labels[lab] += c
            elif len(labels) < MAX_LABELS:
                labels[lab] = c
            else:
                labels["(other)"] = labels.get("(other)", 0) + c


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """A closed window, as the store keeps it (``metric_windows``)."""

    endpoint: str
    version: int
    gateway: str
    shadow: bool
    start: datetime
    end: datetime
    requests: int
    rows: int
    errors: int
    latency_sum_ms: float
    latency_buckets: list[int]
    predictions: dict[str, Any]

    def to_row(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "version": self.version, "gateway": self.gateway, "shadow": self.shadow,
                "start": self.start, "end": self.end, "requests": self.requests, "rows": self.rows,
                "errors": self.errors, "latency_sum_ms": self.latency_sum_ms,
                "latency_buckets": self.latency_buckets, "predictions": self.predictions}


class MetricWindows:
    """Counts per (window, endpoint, version, shadow); ``flush`` hands closed windows to ``sink``."""

    def __init__(self, sink: Callable[[list[dict[str, Any]]], Any] | None, interval_s: float = 5.0,
                 gateway: str | None = None, clock: Callable[[], float] = time.time,
                 watermark: Callable[[str, datetime, datetime], Any] | None = None) -> None:
        """``watermark(gateway, flushed_through, at)``: called after every successful flush (also one with no
        window to write) with the end of the newest window this gateway can no longer add to, so readers
        know its windows up to there are all in the store (``window_store.mark``)."""
        if not interval_s > 0:
            raise ValueError(f"serving.metrics_interval: got {interval_s}, expected seconds > 0")
        self.sink, self.interval_s, self.clock, self.watermark = sink, float(interval_s), clock, watermark
        self.gateway = gateway or gateway_id()
        self._open: dict[Key, Counts] = {}
        self._pending: list[WindowRecord] = []  # taken, not yet accepted by the sink (flusher thread only)
        self.dropped = 0

    # -- request path (event loop) -------------------------------------------------------
    def _counts(self, endpoint: str, version: int, shadow: bool) -> Counts:
        key = (int(self.clock() // self.interval_s), endpoint, version, shadow)
        c = self._open.get(key)
        if c is None:
            c = self._open[key] = Counts()
        return c

    def record(self, endpoint: str, version: int, shadow: bool, latency_ms: float, rows: int,
               outputs: Mapping[str, Any]) -> None:
        """One answered request (or shadow mirror). Never raises: recording must not fail a request."""
        try:
            c = self._counts(endpoint, version, shadow)
            c.requests += 1
            c.rows += rows
            c.latency_sum_ms += latency_ms
            c.latency[bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)] += 1
            c.add_outputs(outputs, rows)
        except Exception:  # noqa: BLE001 - an output we cannot histogram: the counts above still hold
            log.debug("metric windows: could not count the predictions of %s:%s", endpoint, version, exc_info=True)

    def record_error(self, endpoint: str, version: int, shadow: bool, latency_ms: float, rows: int) -> None:
        """One request the version's model failed (``rows`` it was asked for: not counted as predicted)."""
        c = self._counts(endpoint, version, shadow)
        c.requests += 1
        c.errors += 1
        c.latency_sum_ms += latency_ms
        c.latency[bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)] += 1

    # -- flusher thread ------------------------------------------------------------------
    def take(self, everything: bool = False, now: float | None = None) -> list[WindowRecord]:
        """Remove and return the windows closed at least ``GRACE_S`` ago (``everything``: the open ones too,
        at shutdown)."""
        now = self.clock() if now is None else now
        out = []
        for key in list(self._open):  # list() of a dict is one C call: safe while the loop inserts
            idx, endpoint, version, shadow = key
            end = (idx + 1) * self.interval_s
            if not everything and end + GRACE_S > now:
                continue
            c = self._open.pop(key)
            start = idx * self.interval_s
            out.append(WindowRecord(endpoint, version, self.gateway, shadow, datetime.fromtimestamp(start, UTC),
                                    datetime.fromtimestamp(end, UTC), c.requests, c.rows, c.errors,
                                    c.latency_sum_ms, list(c.latency), c.predictions()))
        return out

    def flush(self, everything: bool = False) -> int:
        """Write the closed windows (and those a failed flush kept), then the watermark; returns how many
        windows were written."""
        now = self.clock()
        batch = self._pending + self.take(everything, now)
        self._pending = []
        if self.sink is None:
            return 0
        if batch:
            try:
                self.sink([w.to_row() for w in batch])
            except Exception:
                keep = batch[-MAX_PENDING:]
                if len(batch) > len(keep):
                    self.dropped += len(batch) - len(keep)
                    log.warning("metric windows: dropped %d window(s) the store did not take",
                                len(batch) - len(keep))
                self._pending = keep
                raise
        if self.watermark is not None:
            # every window ending at or before this was taken above; at shutdown every window it will ever
            # have was: nobody need wait for this gateway any more (FINAL)
            through = FINAL if everything else datetime.fromtimestamp(
                math.floor((now - GRACE_S) / self.interval_s) * self.interval_s, UTC)
            self.watermark(self.gateway, through, datetime.fromtimestamp(now, UTC))
        return len(batch)


def merge_predictions(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The sum of two prediction histograms of the same kind (and edges). An empty one is neutral; of two
    kinds that do not add up (a version changed what it outputs), ``a`` is kept."""
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    if a.get("kind") != b.get("kind") or a.get("edges") != b.get("edges"):
        return dict(a)
    out = dict(a)
    if a["kind"] == "label":
        out["counts"] = _add_dicts(a["counts"], b["counts"])
    else:
        out["counts"] = add_counts(a["counts"], b["counts"])
        if "labels" in a or "labels" in b:
            out["labels"] = _add_dicts(a.get("labels") or {}, b.get("labels") or {})
    return out


def _add_dicts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + int(v)
    return out
