"""Adaptive batching per loaded version: coalesce concurrent requests into one predict call.

While a batch is predicting (off the event loop, in the prediction pool) new requests queue up;
when it finishes, everything queued (up to ``max_batch_size`` rows) goes out as the next batch.
A lone request is launched at once, so at concurrency 1 batching adds no wait. Only when recent
batches held several requests (traffic is concurrent) and fewer than ``max_batch_size`` rows are
queued does the batcher hold the launch for at most ``max_wait_ms`` to let stragglers join.
Results are split back by row offsets: a row's prediction does not depend on its batch mates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from shipyard.serving.signature import Rows, concat

Outputs = dict[str, Any]


class Batcher:
    def __init__(self, predict: Callable[[Rows], Outputs], executor: Executor | None, *, max_batch_size: int = 32,
                 max_wait_ms: float = 2.0, observe: Callable[[int], None] | None = None,
                 max_in_flight: int = 1) -> None:
        self.predict, self.executor = predict, executor
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000.0
        self.observe = observe
        self.max_in_flight = max_in_flight
        self._queue: deque[tuple[Rows, asyncio.Future[Outputs]]] = deque()
        self._queued_rows = 0
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._recent = 1.0  # moving average of requests per batch

    async def submit(self, rows: Rows) -> Outputs:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outputs] = loop.create_future()
        self._queue.append((rows, fut))
        self._queued_rows += rows.n
        if self._in_flight < self.max_in_flight:
            if self._queued_rows >= self.max_batch_size or self.max_wait <= 0 or self._recent < 1.5:
                self._launch(loop)
            elif self._timer is None:
                self._timer = loop.call_later(self.max_wait, self._timer_fired, loop)
        return await fut

    def _timer_fired(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._queue and self._in_flight < self.max_in_flight:
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
        if self.observe is not None:
            self.observe(rows)
        batch = concat([r for r, _ in items]) if len(items) > 1 else items[0][0]
        if self.executor is None:  # inline: predict on the loop thread, after this iteration's reads
            loop.call_soon(self._inline, batch, items, loop)
            return
        cf = self.executor.submit(self._run, batch, items)
        cf.add_done_callback(lambda c: loop.call_soon_threadsafe(self._done, c, items, loop))

    def _inline(self, batch: Rows, items: list[tuple[Rows, asyncio.Future[Outputs]]],
                loop: asyncio.AbstractEventLoop) -> None:
        cf: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        cf.set_result(self._run(batch, items))
        self._done(cf, items, loop)

    def _run(self, batch: Rows, items: list[tuple[Rows, asyncio.Future[Outputs]]]) -> list[Any]:
        """In the prediction thread: one call for the batch; on failure, each request alone."""
        try:
            out = self.predict(batch)
        except Exception as exc:  # a model error: find whose rows caused it, others still get answers
            if len(items) == 1:
                return [exc]
            results: list[Any] = []
            for r, _ in items:
                try:
                    results.append(self.predict(r))
                except Exception as one:  # noqa: BLE001 - reported to that request only
                    results.append(one)
            return results
        if len(items) == 1:
            return [out]
        parts, start = [], 0
        for r, _ in items:
            parts.append({k: v[start:start + r.n] for k, v in out.items()})
            start += r.n
        return parts

    def _done(self, cf: Any, items: list[tuple[Rows, asyncio.Future[Outputs]]],
              loop: asyncio.AbstractEventLoop) -> None:
        self._in_flight -= 1
        try:
            results = cf.result()
        except BaseException as exc:  # noqa: BLE001 - the pool itself failed (shut down)
            results = [exc] * len(items)
        for (_, fut), res in zip(items, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)
        if self._queue and self._timer is None:
            self._launch(loop)
