"""Prediction in a child process: the gateway's event loop and the model never share a GIL.

Why: a scikit-learn call is mostly Python (a ~1 ms predict_proba of a 100-tree boosted model is
~10 µs of interpreter work per tree), so in a thread it holds the GIL that HTTP handling needs and
one gateway process tops out at one core. With the model in a child process the gateway parses,
validates and answers requests on one core while the child predicts the previous batch on the
other; batches grow to what arrives during one predict call. A crash inside native model code
(a segfault in a C library) kills the child, not the gateway: requests in flight get 503, a new
child is started and every loaded version is loaded into it again.

The parent verifies the artifact's hash and sends its bytes; the child loads them through the
same flavor registry (skops trusted types, no pickles) and warms them up. Frames (``frames.py``)
carry arrays as raw buffers under a JSON header. One child serves every version of a gateway
process; it predicts one batch at a time, in arrival order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.errors import UnavailableError
from shipyard.serving import frames
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

    def __init__(self, max_batch_size: int = 32) -> None:
        self.max_batch_size = max_batch_size  # rows per merged predict call in the child
        self.loop: asyncio.AbstractEventLoop | None = None
        self.transport: asyncio.Transport | None = None
        self.proc: Any = None
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        # key -> (flavor, bytes, signature, labels): replayed on restart
        self._loads: dict[str, tuple[str, bytes, Any, list[Any] | None]] = {}
        self._stopping = False
        self._restarting: asyncio.Task[None] | None = None
        self._keys: dict[int, str] = {}  # PREDICT seq -> version key
        self._load_count: dict[str, int] = {}  # version key -> loads asked for (a later load cancels an unload)
        self.observers: dict[str, Any] = {}  # version key -> batch-size observer (metrics)
        self._tasks: set[asyncio.Task[None]] = set()  # deferred unloads

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        ctx = multiprocessing.get_context("spawn")
        self.proc = ctx.Process(target=child_main, args=(child,), name="shipyard-model", daemon=True)
        await asyncio.to_thread(self.proc.start)
        child.close()
        self.transport, _ = await self.loop.create_unix_connection(lambda: _Channel(self), sock=parent)
        log.info("model process started (pid %d)", self.proc.pid)

    async def stop(self) -> None:
        self._stopping = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(frames.pack(frames.STOP, 0))
            self.transport.close()
        if self.proc is not None:
            await asyncio.to_thread(self.proc.join, 10)
            if self.proc.is_alive():
                self.proc.kill()

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

    async def load(self, key: str, flavor: str, data: bytes, signature: Any, labels: list[Any] | None = None
                   ) -> tuple[list[Any] | None, dict[str, Any]]:
        self._load_count[key] = self._load_count.get(key, 0) + 1
        meta = await self._request(frames.LOAD, {"key": key, "flavor": flavor, "signature": signature,
                                                 "labels": labels}, blob=data)
        self._loads[key] = (flavor, data, signature, labels)
        return meta["classes"], meta["info"]

    def load_threadsafe(self, key: str, flavor: str, data: bytes, signature: Any,
                        labels: list[Any] | None = None) -> tuple[list[Any] | None, dict[str, Any]]:
        """From a thread other than the loop's (the routing sync): block until the child has loaded."""
        assert self.loop is not None
        coro = self.load(key, flavor, data, signature, labels)
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
            log.error("model process (pid %s) exited with code %s: starting a new one", self.proc.pid, code)
            self._restarting = self.loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await asyncio.to_thread(self.proc.join, 5)
            await self.start()
            for key, (flavor, data, signature, labels) in list(self._loads.items()):
                await self.load(key, flavor, data, signature, labels)
            log.info("model process restarted; %d version(s) loaded again", len(self._loads))
        finally:
            self._restarting = None


def _error(meta: dict[str, Any]) -> Exception:
    cls = ValueError if meta.get("input") else RuntimeError
    return cls(f"{meta['type']}: {meta['message']}")


# -- the child -----------------------------------------------------------------------------
class _Reader:
    """Frames from a blocking socket: ``next_frames`` waits for one, then takes all that are already there."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, bytearray()

    def _fill(self, block: bool) -> bool:
        try:
            data = self.sock.recv(1 << 20, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.buf += data
        return True

    def next_frames(self) -> list[tuple[int, int, dict[str, Any], dict[str, Any], bytes]] | None:
        out: list[tuple[int, int, dict[str, Any], dict[str, Any], bytes]] = []
        while not out:
            if not self._fill(block=True):
                return None  # the gateway closed its end (or died)
            self._fill(block=False)
            while len(self.buf) >= 4:
                (size,) = struct.unpack_from("<I", self.buf, 0)
                if len(self.buf) < 4 + size:
                    break
                out.append(frames.unpack(bytearray(self.buf[4:4 + size])))
                del self.buf[:4 + size]
        return out


def _describe(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "input": isinstance(exc, (ValueError, TypeError))}


def child_main(sock: socket.socket) -> None:
    """The child's loop: take every frame that is waiting, merge the PREDICTs per version, answer each."""
    import gc

    from shipyard.serving import footprint
    from shipyard.serving.runtime import _limit_threads, load_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    _limit_threads()
    models: dict[str, Any] = {}
    sock.setblocking(True)
    reader = _Reader(sock)
    while (batch := reader.next_frames()) is not None:
        out: list[bytes | memoryview] = []
        groups: dict[str, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
        unloads: set[str] = set()  # applied after this read's predictions: frames sent before an UNLOAD are served
        for kind, seq, meta, arrays, blob in batch:
            if kind == frames.STOP:
                return
            if kind == frames.UNLOAD:
                unloads.add(meta["key"])
            elif kind == frames.LOAD:
                unloads.discard(meta["key"])
                try:
                    footprint.preload(meta["flavor"])  # its libraries without their optional probes (issue 18)
                    predict, classes, info = load_model(meta["flavor"], blob, meta["signature"], meta.get("labels"))
                    _limit_threads()  # again: the flavor just imported its native libraries (OpenMP, BLAS)
                    models[meta["key"]] = predict
                    gc.collect()
                    gc.freeze()  # the model lives as long as the process: keep it out of the collector's walks
                    out += frames.pack(frames.RESULT, seq, {"classes": classes, "info": info})
                except Exception as exc:  # noqa: BLE001 - reported to the loader
                    out += frames.pack(frames.ERROR, seq, _describe(exc))
            else:
                groups.setdefault(meta["key"], []).append((seq, meta, arrays))
        for key, reqs in groups.items():
            out += _predict_group(models.get(key), key, reqs)
        for key in unloads:
            models.pop(key, None)
        sock.sendall(b"".join(out))
        if unloads or any(frame[0] == frames.LOAD for frame in batch):  # issue 18: the artifact's bytes and the
            del batch, blob  # heap the load left behind go back to the OS (a 13.7 MB model: 193 -> 155 MB)
            footprint.release_memory()


def _predict_group(predict: Any, key: str, reqs: list[tuple[int, dict[str, Any], dict[str, Any]]]
                   ) -> list[bytes | memoryview]:
    """Frames that queued for one version: one predict call per ``max`` rows, one reply per frame."""
    from shipyard.serving.batching import predict_parts
    from shipyard.serving.signature import concat

    out: list[bytes | memoryview] = []
    if predict is None:
        for seq, _, _ in reqs:
            out += frames.pack(frames.ERROR, seq, {"type": "KeyError", "message": f"version {key} is not loaded"})
        return out
    limit = max(reqs[0][1].get("max", 1), 1)
    chunk: list[tuple[int, dict[str, Any], Rows]] = []
    rows = 0
    for i, (seq, meta, arrays) in enumerate(reqs):
        chunk.append((seq, meta, Rows(meta["n"], matrix=arrays.get("X"), columns=meta.get("columns"))))
        rows += meta["n"]
        nxt = reqs[i + 1][1]["n"] if i + 1 < len(reqs) else None
        if nxt is None or rows + nxt > limit or (chunk[0][2].matrix is None) != (reqs[i + 1][2].get("X") is None):
            counts = [c for _, m, _ in chunk for c in m["counts"]]
            try:
                result = predict_parts(predict, concat([r for _, _, r in chunk]), counts)
            except Exception as exc:  # noqa: BLE001 - e.g. rows that cannot be concatenated
                result = [exc] * len(counts)
            out += _replies(chunk, result, rows)
            chunk, rows = [], 0
    return out


def _replies(chunk: list[tuple[int, dict[str, Any], Rows]], result: Any, rows: int) -> list[bytes | memoryview]:
    """One reply per frame: its slice of the merged call's outputs, or its requests' own outcomes."""
    from shipyard.serving.batching import split_outputs

    whole = split_outputs(result, [r.n for _, _, r in chunk]) if isinstance(result, dict) else None
    out: list[bytes | memoryview] = []
    part = 0
    for i, (seq, meta, _) in enumerate(chunk):
        info = {"batch": rows} if i == 0 else {}
        if whole is not None:
            out += frames.pack(frames.RESULT, seq, info, whole[i])
        else:
            k = len(meta["counts"])
            m, arrays = _encode_parts(result[part:part + k])
            out += frames.pack(frames.RESULT, seq, {**info, **m}, arrays)
            part += k
    return out


def _encode_parts(results: list[Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    parts: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            parts.append({"error": _describe(r)})
            continue
        parts.append({"outputs": list(r)})
        arrays.update({f"{i}/{name}": np.asarray(v) for name, v in r.items()})
    return {"parts": parts}, arrays
