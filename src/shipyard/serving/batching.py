"""Adaptive batching per loaded version: coalesce concurrent requests into one predict call.

Requests queue while the model is busy and go out together when it is free, so batches grow with
load and a lone request (concurrency 1) never waits. With the model process (the default) the
batcher sends each event-loop iteration's arrivals at once and the process merges whatever queued
up while it predicted (``model_process.py``); with a thread pool the batcher keeps one batch in
flight and, under concurrent traffic, holds an idle launch until the burst of arrivals ends (at
most ``max_wait_ms``). Results are split back by row offsets: a row's prediction does not depend
on its batch mates. A batch the model rejects is retried request by request, so one bad request
fails alone (``predict_parts``).

Overload (issue 18): at most ``max_queue`` requests wait per version (the next is refused at once
with ``OverloadedError`` "queue_full"), and ``expire`` (called by the gateway's watchdog a few
times a second, never on the request path) fails every request older than ``predict_timeout``
with "timeout", queued or in flight, and reports a batch in flight for that long (a hung model).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from shipyard.errors import UnavailableError
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
Item = tuple[Rows, "asyncio.Future[Outputs]", float]  # rows, the caller's future, arrival (loop time)


class OverloadedError(UnavailableError):
    """A request shed under overload: ``reason`` is ``queue_full`` or ``timeout``; answered 503 with
    ``Retry-After: retry_after`` seconds."""

    def __init__(self, message: str, *, reason: str, retry_after: int, field: str, value: object,
                 expected: str) -> None:
        super().__init__(message, field=field, value=value, expected=expected)
        self.reason, self.retry_after = reason, retry_after


class Batcher:
    """Coalesce one version's requests. Local (thread pool or inline): one batch in flight; while it
    predicts, requests queue; an idle batcher under concurrent traffic holds a launch until the burst
    ends (no arrival for ``GAP_S``) or ``max_wait_ms`` passed. Remote (model process): whatever arrived
    in one event-loop iteration goes out as one frame at once, up to ``REMOTE_IN_FLIGHT`` frames
    outstanding; the model process merges the frames that queued while it was busy into one call."""

    REMOTE_IN_FLIGHT = 8

    def __init__(self, predict: Callable[[Rows], Outputs] | None, executor: Executor | None, *,
                 max_batch_size: int = 32, max_wait_ms: float = 2.0, observe: Callable[[int], None] | None = None,
                 max_in_flight: int = 1, remote: Remote | None = None, max_queue: int = 1 << 30,
                 name: str = "") -> None:
        self.predict, self.executor, self.remote = predict, executor, remote
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000.0
        self.observe = observe
        self.max_in_flight = self.REMOTE_IN_FLIGHT if remote is not None else max_in_flight
        self.max_queue, self.name = max_queue, name  # name: model:version, for log lines
        self.reported_stuck = False
        self._queue: deque[Item] = deque()
        self._flights: dict[int, tuple[float, list[Item]]] = {}  # id(items) -> (launched at, items) in flight
        self._queued_rows = 0
        self._in_flight = 0
        self._timer: asyncio.Handle | None = None
        self._first = self._last = 0.0  # arrival times of the oldest and newest queued request
        self._recent = 1.0  # moving average of requests per batch

    def busy(self) -> bool:
        """Requests queued or being predicted (the model process must keep this version until they are done)."""
        return bool(self._queue) or self._in_flight > 0

    async def submit(self, rows: Rows) -> Outputs:
        queue = self._queue
        if len(queue) >= self.max_queue:
            raise OverloadedError(
                f"overloaded: {len(queue)} requests already wait for this model version; retry later",
                reason="queue_full", retry_after=1, field="queue", value=len(queue),
                expected=f"at most {self.max_queue} waiting requests (serving.max_queue)")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outputs] = loop.create_future()
        now = loop.time()
        if not queue:
            self._first = now
        self._last = now
        queue.append((rows, fut, now))
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
        items: list[Item] = []
        rows = 0
        while self._queue and (not items or rows + self._queue[0][0].n <= self.max_batch_size):
            item = self._queue.popleft()
            if item[1].done():  # cancelled, or failed by ``expire``
                self._queued_rows -= item[0].n
                continue
            items.append(item)
            rows += item[0].n
        self._queued_rows -= rows
        if not items:
            return
        self._in_flight += 1
        self._recent = 0.8 * self._recent + 0.2 * len(items)
        if self.observe is not None and self.remote is None:  # remote: the model process reports its batches
            self.observe(rows)
        batch = concat([it[0] for it in items]) if len(items) > 1 else items[0][0]
        counts = [it[0].n for it in items]
        self._flights[id(items)] = (loop.time(), items)
        if self.remote is not None:
            rf = self.remote(batch, counts)
            rf.add_done_callback(lambda f: self._done(f, items, loop))
            return
        if self.executor is None:  # inline: predict on the loop thread, after this iteration's reads
            loop.call_soon(self._inline, batch, items, loop)
            return
        cf = self.executor.submit(self._run, batch, counts)
        cf.add_done_callback(lambda c: loop.call_soon_threadsafe(self._done, c, items, loop))

    def _inline(self, batch: Rows, items: list[Item], loop: asyncio.AbstractEventLoop) -> None:
        cf: concurrent.futures.Future[Any] = concurrent.futures.Future()
        cf.set_result(self._run(batch, [it[0].n for it in items]))
        self._done(cf, items, loop)

    def _run(self, batch: Rows, counts: list[int]) -> Outputs | list[Any]:
        assert self.predict is not None
        return predict_parts(self.predict, batch, counts)

    def _done(self, cf: Any, items: list[Item], loop: asyncio.AbstractEventLoop) -> None:
        self._in_flight -= 1
        self._flights.pop(id(items), None)
        try:
            results = split_outputs(cf.result(), [it[0].n for it in items])
        except BaseException as exc:  # noqa: BLE001 - the pool or the model process failed
            results = [exc] * len(items)
        for (_, fut, _), res in zip(items, results, strict=True):
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

    def expire(self, now: float, timeout: float) -> float | None:
        """Fail every request that arrived ``timeout`` seconds or more before ``now`` (loop time) with a 503
        "timeout", queued or in flight; returns when the oldest batch in flight for that long was sent (the
        model hangs), else None. Called by the gateway's watchdog on the loop thread, a few times a second."""
        cutoff = now - timeout
        queue = self._queue
        while queue and queue[0][2] <= cutoff:  # FIFO: the oldest are on the left
            rows, fut, _ = queue.popleft()
            self._queued_rows -= rows.n
            _time_out(fut, timeout)
        if not queue and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        hung: float | None = None
        for launched, items in self._flights.values():
            if launched <= cutoff and (hung is None or launched < hung):
                hung = launched
            for _, fut, arrived in items:
                if arrived <= cutoff:
                    _time_out(fut, timeout)
        return hung


def _time_out(fut: asyncio.Future[Any], timeout: float) -> None:
    if not fut.done():
        fut.set_exception(OverloadedError(
            f"timeout: the model did not answer within {timeout:g} s; retry later", reason="timeout",
            retry_after=max(1, round(timeout)), field="predict_timeout", value=timeout,
            expected=f"a prediction within {timeout:g} s (serving.predict_timeout)"))
