"""Adaptive batching per loaded version: coalesce concurrent requests into one predict call.

Requests queue while the model is busy and go out together when it is free, so batches grow with
load and a lone request (concurrency 1) never waits. With the model process (the default) the
batcher sends each event-loop iteration's arrivals at once and the process merges whatever queued
up while it predicted (``model_process.py``); with a thread pool the batcher keeps one batch in
flight and, under concurrent traffic, holds an idle launch until the burst of arrivals ends (at
most ``max_wait_ms``). Results are split back by row offsets: a row's prediction does not depend
on its batch mates. A batch the model rejects is retried request by request, so one bad request
fails alone (``predict_parts``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from shipyard.serving.signature import Rows, concat, split

Outputs = dict[str, Any]
# A remote predictor (the model process): batch rows + rows per request -> future of the batch's
# Outputs, or of a list with each request's Outputs | Exception when the batch call failed.
Remote = Callable[[Rows, list[int]], "asyncio.Future[Any]"]


def predict_parts(predict: Callable[[Rows], Outputs], batch: Rows, counts: list[int]) -> Outputs | list[Any]:
    """One call for the batch; if the model raises, each request's rows alone (so one bad request
    does not fail its batch mates). Returns the batch's Outputs, or a list of Outputs | Exception."""
    try:
        return predict(batch)
    except Exception as exc:
        if len(counts) == 1:
            return [exc]
        results: list[Any] = []
        for rows in split(batch, counts):
            try:
                results.append(predict(rows))
            except Exception as one:  # noqa: BLE001 - reported to that request only
                results.append(one)
        return results


def split_outputs(out: Outputs | list[Any], counts: list[int]) -> list[Any]:
    if isinstance(out, list):
        return out
    if len(counts) == 1:
        return [out]
    parts, start = [], 0
    for n in counts:
        parts.append({k: v[start:start + n] for k, v in out.items()})
        start += n
    return parts


GAP_S = 0.0003  # a burst of concurrent requests has ended when none arrived for this long


class Batcher:
    """Coalesce one version's requests. Local (thread pool or inline): one batch in flight; while it
    predicts, requests queue; an idle batcher under concurrent traffic holds a launch until the burst
    ends (no arrival for ``GAP_S``) or ``max_wait_ms`` passed. Remote (model process): whatever arrived
    in one event-loop iteration goes out as one frame at once, up to ``REMOTE_IN_FLIGHT`` frames
    outstanding; the model process merges the frames that queued while it was busy into one call."""

    REMOTE_IN_FLIGHT = 8

    def __init__(self, predict: Callable[[Rows], Outputs] | None, executor: Executor | None, *,
                 max_batch_size: int = 32, max_wait_ms: float = 2.0, observe: Callable[[int], None] | None = None,
                 max_in_flight: int = 1, remote: Remote | None = None) -> None:
        self.predict, self.executor, self.remote = predict, executor, remote
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000.0
        self.observe = observe
        self.max_in_flight = self.REMOTE_IN_FLIGHT if remote is not None else max_in_flight
        self._queue: deque[tuple[Rows, asyncio.Future[Outputs]]] = deque()
        self._queued_rows = 0
        self._in_flight = 0
        self._timer: asyncio.Handle | None = None
        self._first = self._last = 0.0  # arrival times of the oldest and newest queued request
        self._recent = 1.0  # moving average of requests per batch

    def busy(self) -> bool:
        """Requests queued or being predicted (the model process must keep this version until they are done)."""
        return bool(self._queue) or self._in_flight > 0

    async def submit(self, rows: Rows) -> Outputs:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outputs] = loop.create_future()
        if not self._queue:
            self._first = loop.time()
        self._last = loop.time()
        self._queue.append((rows, fut))
        self._queued_rows += rows.n
        if self._in_flight < self.max_in_flight and self._timer is None:
            if self.remote is not None:
                self._timer = loop.call_soon(self._timer_fired, loop)
            elif self._queued_rows >= self.max_batch_size or self.max_wait <= 0 or self._recent < 1.5:
                self._launch(loop)
            else:
                self._timer = loop.call_at(self._last + GAP_S, self._timer_fired, loop)
        elif self._queued_rows >= self.max_batch_size and self._in_flight < self.max_in_flight:
            self._launch(loop)
        return await fut

    def _timer_fired(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self._queue or self._in_flight >= self.max_in_flight:
            return
        now = loop.time()
        if self.remote is None and now - self._last < GAP_S and now - self._first < self.max_wait:
            self._timer = loop.call_at(min(self._last + GAP_S, self._first + self.max_wait), self._timer_fired, loop)
            return
        self._launch(loop)

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items: list[tuple[Rows, asyncio.Future[Outputs]]] = []
        rows = 0
        while self._queue and (not items or rows + self._queue[0][0].n <= self.max_batch_size):
            r, f = self._queue.popleft()
            if f.cancelled():
                self._queued_rows -= r.n
                continue
            items.append((r, f))
            rows += r.n
        self._queued_rows -= rows
        if not items:
            return
        self._in_flight += 1
        self._recent = 0.8 * self._recent + 0.2 * len(items)
        if self.observe is not None and self.remote is None:  # remote: the model process reports its batches
            self.observe(rows)
        batch = concat([r for r, _ in items]) if len(items) > 1 else items[0][0]
        counts = [r.n for r, _ in items]
        if self.remote is not None:
            rf = self.remote(batch, counts)
            rf.add_done_callback(lambda f: self._done(f, items, loop))
            return
        if self.executor is None:  # inline: predict on the loop thread, after this iteration's reads
            loop.call_soon(self._inline, batch, items, loop)
            return
        cf = self.executor.submit(self._run, batch, counts)
        cf.add_done_callback(lambda c: loop.call_soon_threadsafe(self._done, c, items, loop))

    def _inline(self, batch: Rows, items: list[tuple[Rows, asyncio.Future[Outputs]]],
                loop: asyncio.AbstractEventLoop) -> None:
        cf: concurrent.futures.Future[Any] = concurrent.futures.Future()
        cf.set_result(self._run(batch, [r.n for r, _ in items]))
        self._done(cf, items, loop)

    def _run(self, batch: Rows, counts: list[int]) -> Outputs | list[Any]:
        assert self.predict is not None
        return predict_parts(self.predict, batch, counts)

    def _done(self, cf: Any, items: list[tuple[Rows, asyncio.Future[Outputs]]],
              loop: asyncio.AbstractEventLoop) -> None:
        self._in_flight -= 1
        try:
            results = split_outputs(cf.result(), [r.n for r, _ in items])
        except BaseException as exc:  # noqa: BLE001 - the pool or the model process failed
            results = [exc] * len(items)
        for (_, fut), res in zip(items, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)
        if self._queue and self._timer is None:
            if self.remote is not None:
                self._timer = loop.call_soon(self._timer_fired, loop)
            else:
                self._launch(loop)
