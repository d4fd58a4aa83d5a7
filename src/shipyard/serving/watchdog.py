"""The gateway's watchdog: deadlines for predictions and the restart of a hung model process.

Nothing on the request path pays for a deadline (no timer or task per request): a request carries
its arrival time in its batcher's queue, and this loop, a few times a second, fails every request
older than ``serving.predict_timeout`` with a 503 ``timeout`` (``Batcher.expire``). A batch that
has been in the model process that long means the child hangs (a predict stuck in a C call or a
sleep): the child is killed (``ModelProcess.kill_hung``), which fails whatever it still holds with
503 at once and starts a new child that loads every served version again, so the endpoint answers
without a gateway restart. In thread mode a stuck predict cannot be killed: its requests still get
their 503, the queue bound sheds the rest, and the stuck thread is reported.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("shipyard.serving")


def interval_for(timeout_s: float) -> float:
    """How often to look: a tenth of the timeout, between 10 ms and 100 ms (answers at most that late)."""
    return min(0.1, max(0.01, timeout_s / 10))


def check(gw: Any, now: float) -> bool:
    """One pass over every loaded version's batcher (``gw.batchers``, also those a routing change dropped while
    requests still wait on them); returns whether a hung model process was killed."""
    timeout = gw.options.predict_timeout_s
    hung: float | None = None  # when the oldest batch still in flight past the timeout was sent
    for batcher in list(gw.batchers):
        sent = batcher.expire(now, timeout)
        if sent is not None:
            hung = sent if hung is None else min(hung, sent)
            if batcher.remote is None and not batcher.reported_stuck:
                batcher.reported_stuck = True
                log.error("%s: a prediction has run longer than %g s (serving.predict_timeout) in a predict "
                          "thread, which cannot be stopped; requests are shed with 503 meanwhile (the model "
                          "process, serving.predict_in: process, is restarted instead)", batcher.name, timeout)
    process = gw.process
    if hung is not None and process is not None and process.kill_hung(hung, now):
        gw.metrics.restarts.inc()
        return True
    return False


async def watchdog(gw: Any) -> None:
    """Run ``check`` until cancelled."""
    loop = asyncio.get_running_loop()
    every = interval_for(gw.options.predict_timeout_s)
    while True:
        await asyncio.sleep(every)
        try:
            check(gw, loop.time())
        except Exception:  # never let the watchdog die: log and keep watching
            log.exception("gateway watchdog failed")
