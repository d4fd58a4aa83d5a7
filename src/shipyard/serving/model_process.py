"""Prediction in a child process: the gateway's event loop and the model never share a GIL.

Why: a scikit-learn call is mostly Python (a ~1 ms predict_proba of a 100-tree boosted model is
~10 µs of interpreter work per tree), so in a thread it holds the GIL that HTTP handling needs and
one gateway process tops out at one core. With the model in a child process the gateway parses,
validates and answers requests on one core while the child predicts the previous batch on the
other; batches grow to what arrives during one predict call. A crash inside native model code
(a segfault in a C library) kills the child, not the gateway: requests in flight get 503, a new
child is started and every loaded version is loaded into it again. A child that hangs (a predict
stuck in a C call or a sleep past ``serving.predict_timeout``) is killed by the gateway's watchdog
(``kill_hung``) and goes the same way.

The child is a fresh interpreter (``python -c``, not a fork) started with the scrubbed environment
of ``flavors/sandbox.py`` (no ``SHIPYARD_*`` variable, no database URL), an address-space limit
(``sandbox.memory_mb``) and its own private temporary directory (``mkdtemp``, 0700, removed when
the child is replaced or stopped): it may run user code (pyfunc), so it must hold no secret.
The parent verifies the artifact's hash and sends its bytes; the child loads them through the
same flavor registry (skops trusted types, no pickles) and warms them up. Frames (``frames.py``)
carry arrays as raw buffers under a JSON header. One child serves every version of a gateway
process; it predicts one batch at a time, in arrival order. The child's side is ``model_child.py``; it is
started by ``child_spawn.py``, by ``shipyard serve`` before the gateway's own imports when it can (importing
the served flavors' libraries meanwhile: issue 19's cold start), else here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.errors import UnavailableError
from shipyard.flavors.sandbox import GIB
from shipyard.serving import child_spawn, frames
from shipyard.serving.http import ModelError
from shipyard.serving.signature import Rows

log = logging.getLogger("shipyard.serving")
LOAD_TIMEOUT_S = 600.0
UNLOAD_GRACE_S = 60.0  # longest an unload waits for the version's queued and in-flight requests


class ModelProcessError(UnavailableError):
    """The model process is gone (crashed or restarting): the request can be retried."""


class _Channel(asyncio.Protocol):
    def __init__(self, owner: ModelProcess) -> None:
        self.owner, self.buf = owner, bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 4:
            (size,) = struct.unpack_from("<I", buf, 0)
            if len(buf) < 4 + size:
                return
            body = bytes(buf[4:4 + size])
            del buf[:4 + size]
            self.owner._on_frame(*frames.unpack(body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_lost()


class ModelProcess:
    """The gateway's handle on its child: load, predict (futures), unload, restart on crash."""

    def __init__(self, max_batch_size: int = 32, memory_bytes: int | None = 2 * GIB,
                 prestarted: child_spawn.Spawned | None = None) -> None:
        self.max_batch_size = max_batch_size  # rows per merged predict call in the child
        self.memory_bytes = memory_bytes  # the child's RLIMIT_AS (sandbox.memory_mb)
        self.prestarted = prestarted  # a child `shipyard serve` started early (child_spawn); start adopts it
        self.loop: asyncio.AbstractEventLoop | None = None
        self.transport: asyncio.Transport | None = None
        self.proc: child_spawn.Child | None = None
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        # key -> (flavor, bytes or how to fetch them again, signature, labels, trusted types): replayed on restart
        self._loads: dict[str, tuple[str, bytes | Callable[[], bytes], Any, list[Any] | None, tuple[str, ...]]] = {}
        self._stopping = False
        self._restarting: asyncio.Task[None] | None = None
        self._keys: dict[int, str] = {}  # PREDICT seq -> version key
        self._load_count: dict[str, int] = {}  # version key -> loads asked for (a later load cancels an unload)
        self.observers: dict[str, Any] = {}  # version key -> batch-size observer (metrics)
        self._tasks: set[asyncio.Task[None]] = set()  # deferred unloads
        self._load_times: list[float] = []  # when each LOAD awaiting the child's answer was sent (loop time)

    async def start(self) -> None:
        """Connect to the child started early (``prestarted``, if it is still alive), else start one: a fresh
        interpreter with the scrubbed environment, the memory limit, a private TMPDIR (``child_spawn.spawn``)."""
        self.loop = asyncio.get_running_loop()
        early, self.prestarted = self.prestarted, None
        if early is not None and not early.child.is_alive():
            log.warning("model process started early (pid %d) exited with code %s: starting another",
                        early.child.pid, early.child.exitcode)
            early.close()
            early = None
        spawned = early if early is not None else await asyncio.to_thread(child_spawn.spawn, self.memory_bytes)
        spawned.adopted = True
        self.proc = spawned.child
        self.transport, _ = await self.loop.create_unix_connection(lambda: _Channel(self), sock=spawned.sock)
        if spawned.limit_pending:  # started before shipyard.yaml was read: its limit comes first, before any LOAD
            self.transport.writelines(frames.pack(frames.LIMITS, 0, {"memory": self.memory_bytes or 0}))
        log.info("model process started (pid %d%s)", self.proc.pid,
                 f", importing {', '.join(spawned.preload)} since start-up began" if spawned.preload else "")

    async def stop(self) -> None:
        self._stopping = True
        if self.prestarted is not None:  # never started: the early child has nobody to serve
            self.prestarted.close()
            self.prestarted = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(frames.pack(frames.STOP, 0))
            self.transport.close()
        if self.proc is not None:
            await asyncio.to_thread(self.proc.join, 10)
            if self.proc.is_alive():
                self.proc.kill()
            shutil.rmtree(self.proc.workdir, ignore_errors=True)

    # -- requests ----------------------------------------------------------------------------
    def _request(self, kind: int, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
                 blob: bytes = b"") -> asyncio.Future[Any]:
        assert self.loop is not None
        fut: asyncio.Future[Any] = self.loop.create_future()
        if self.transport is None or self.transport.is_closing():
            fut.set_exception(ModelProcessError("model process is restarting; retry the request",
                                                field="model process", value="restarting", expected="running"))
            return fut
        seq = next(self._seq)
        self._pending[seq] = fut
        if kind == frames.PREDICT:
            self._keys[seq] = meta["key"]
        self.transport.writelines(frames.pack(kind, seq, meta, arrays, blob))
        return fut

    async def load(self, key: str, flavor: str, data: bytes, signature: Any, labels: list[Any] | None = None,
                   trusted_types: tuple[str, ...] = (), fetch: Callable[[], bytes] | None = None
                   ) -> tuple[list[Any] | None, dict[str, Any]]:
        """Load ``data`` as ``key`` in the child. ``fetch``: how to get the (verified) bytes again when a new child
        loads every version again; without it this process keeps ``data`` for that, a second copy of every model
        (issue 18)."""
        self._load_count[key] = self._load_count.get(key, 0) + 1
        assert self.loop is not None
        sent = self.loop.time()
        self._load_times.append(sent)
        try:
            meta = await self._request(frames.LOAD, {"key": key, "flavor": flavor, "signature": signature,
                                                     "labels": labels, "trusted_types": list(trusted_types)},
                                       blob=data)
        finally:
            self._load_times.remove(sent)
        self._loads[key] = (flavor, data if fetch is None else fetch, signature, labels, trusted_types)
        return meta["classes"], meta["info"]

    def load_threadsafe(self, key: str, flavor: str, data: bytes, signature: Any,
                        labels: list[Any] | None = None, trusted_types: tuple[str, ...] = (),
                        fetch: Callable[[], bytes] | None = None) -> tuple[list[Any] | None, dict[str, Any]]:
        """From a thread other than the loop's (the routing sync): block until the child has loaded."""
        assert self.loop is not None
        coro = self.load(key, flavor, data, signature, labels, trusted_types, fetch)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(LOAD_TIMEOUT_S)

    def unload(self, key: str, busy: Callable[[], bool] | None = None) -> None:
        """Free ``key`` in the child once nothing needs it any more; callable from any thread (the routing
        sync runs in one). Requests that chose this version before the routing swap are still queued or in
        flight: the UNLOAD frame goes out only when ``busy()`` (its batcher) is false and no PREDICT for the
        key awaits an answer — sent earlier, it overtook them and they failed "not loaded". A load of the same
        key asked for meanwhile (routing went back) cancels it."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        token = self._load_count.get(key, 0)

        def schedule() -> None:
            task = loop.create_task(self._unload_when_idle(key, token, busy))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon_threadsafe(schedule)

    async def _unload_when_idle(self, key: str, token: int, busy: Callable[[], bool] | None) -> None:
        deadline = time.monotonic() + UNLOAD_GRACE_S
        while (busy is not None and busy() or key in self._keys.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._load_count.get(key, 0) != token:
            return  # loaded again since: the new owner keeps it
        self._loads.pop(key, None)
        self.observers.pop(key, None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(frames.pack(frames.UNLOAD, 0, {"key": key}))

    def predict(self, key: str, batch: Rows, counts: list[int]) -> asyncio.Future[Any]:
        """Future of the batch's Outputs, or of a list of per-request Outputs | Exception when it failed."""
        meta: dict[str, Any] = {"key": key, "n": batch.n, "counts": counts, "max": self.max_batch_size}
        if batch.matrix is not None:
            fut = self._request(frames.PREDICT, meta, {"X": batch.matrix})
        else:
            meta["columns"] = batch.columns
            fut = self._request(frames.PREDICT, meta)
        return fut

    def kill_hung(self, sent_at: float, now: float) -> bool:
        """Kill a child that has not answered a PREDICT sent at ``sent_at`` (loop time) by ``now`` (the watchdog
        calls this past ``serving.predict_timeout``): its socket closes, ``_on_lost`` fails what is in flight with
        503 and starts a new child that loads every version again (the crash path). Not while a LOAD sent before
        that PREDICT is outstanding (the child answers in order: a long load is not a hung predict; a LOAD sent
        after it waits behind the stuck predict and does not protect it), nor during a restart."""
        proc = self.proc
        if (self._stopping or self._restarting is not None or proc is None or not proc.is_alive()
                or any(t <= sent_at for t in self._load_times)):
            return False
        log.error("model process (pid %d) has not answered a prediction for %.1f s (serving.predict_timeout): "
                  "killing it and starting a new one", proc.pid, now - sent_at)
        proc.kill()
        return True

    # -- replies -----------------------------------------------------------------------------
    def _on_frame(self, kind: int, seq: int, meta: dict[str, Any], arrays: dict[str, Any], blob: bytes) -> None:
        key = self._keys.pop(seq, None)
        if "batch" in meta and key in self.observers:
            self.observers[key](meta["batch"])  # the size of the predict call this frame was part of
        fut = self._pending.pop(seq, None)
        if fut is None or fut.done():
            return
        if kind == frames.ERROR:
            fut.set_exception(_error(meta))
        elif "parts" in meta:  # the batch failed: each request's own outcome
            fut.set_result([_error(p["error"]) if "error" in p else
                            {name: arrays[f"{i}/{name}"] for name in p["outputs"]}
                            for i, p in enumerate(meta["parts"])])
        elif "classes" in meta:
            fut.set_result(meta)
        else:
            fut.set_result(arrays)

    def _on_lost(self) -> None:
        self.transport = None
        pending, self._pending = self._pending, {}
        self._keys.clear()
        code = self.proc.exitcode if self.proc is not None else None
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ModelProcessError(
                    f"model process exited (exit code {code}) while predicting; retry the request",
                    field="model process", value=code, expected="running"))
        if not self._stopping and self.loop is not None and self._restarting is None:
            log.error("model process (pid %s) exited with code %s: starting a new one",
                      self.proc.pid if self.proc is not None else None, code)
            self._restarting = self.loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            old = self.proc
            if old is not None:
                await asyncio.to_thread(old.join, 5)
                if old.is_alive():
                    await asyncio.to_thread(old.kill)
            await self.start()
            for key, (flavor, source, signature, labels, trust) in list(self._loads.items()):
                if callable(source):  # from the store again, hash verified
                    await self.load(key, flavor, await asyncio.to_thread(source), signature, labels, trust, source)
                else:
                    await self.load(key, flavor, source, signature, labels, trust)
            log.info("model process restarted; %d version(s) loaded again", len(self._loads))
        except Exception as exc:  # noqa: BLE001 - e.g. the new child died while loading: see below
            log.error("restarting the model process failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._restarting = None
        if not self._stopping and self.loop is not None and (self.transport is None or self.transport.is_closing()):
            # The child died while this restart was under way (``_on_lost`` saw a restart in progress and left it to
            # us): without another one the gateway would answer 503 for good.
            await asyncio.sleep(0.5)
            if self._restarting is None and not self._stopping and self.transport is None:
                log.error("model process lost again while restarting: starting a new one")
                self._restarting = self.loop.create_task(self._restart())


def _error(meta: dict[str, Any]) -> Exception:
    if meta.get("type") == "ModelError":  # the model's code raised (runtime._guard): its message, as it was
        return ModelError(meta["message"], field="model", value=meta.get("value"),
                          expected="a predict that returns")
    cls = ValueError if meta.get("input") else RuntimeError
    return cls(f"{meta['type']}: {meta['message']}")
