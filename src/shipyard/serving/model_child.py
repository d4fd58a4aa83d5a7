"""The model process's side (``model_process.py`` is the gateway's): read frames, load, predict, answer.

Started as ``python -c CHILD_CODE FD MEMORY_BYTES WORKDIR FLAVORS`` by ``child_spawn.spawn`` with a scrubbed
environment: it caps its address space, marks itself as the sandbox where pyfunc code may run, imports the
libraries of ``FLAVORS`` (comma-separated; the gateway goes on starting meanwhile), then serves the socket
``FD`` until the gateway sends STOP or closes its end.
"""

from __future__ import annotations

import signal
import socket
import struct
import sys
from typing import Any

import numpy as np

from shipyard.serving import frames
from shipyard.serving.child_spawn import LIMIT_PENDING, WORKDIR_PREFIX
from shipyard.serving.http import ModelError
from shipyard.serving.signature import Rows


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
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "input": isinstance(exc, (ValueError, TypeError)),
            "value": getattr(exc, "value", None) if isinstance(exc, ModelError) else None}


def child_entry() -> None:
    """``python -c CHILD_CODE FD MEMORY_BYTES WORKDIR [FLAVORS]``: cap memory, confine itself
    (``sandbox.confine_model_child``: reads only Python and the system, writes only WORKDIR, no TCP), mark
    the sandbox, import the flavors' libraries, serve the socket ``FD``; on the way out remove ``WORKDIR``
    (the private TMPDIR the gateway made), also when the gateway died first."""
    import shutil
    from pathlib import Path

    from shipyard.flavors import pyfunc
    from shipyard.flavors.sandbox import confine_model_child, limit_memory
    from shipyard.serving import footprint

    fd, pending = int(sys.argv[1]), sys.argv[2] == LIMIT_PENDING
    workdir = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    limit_memory(0 if pending else int(sys.argv[2]))  # pending: set by the LIMITS frame, before any LOAD
    if workdir is not None:
        try:
            confine_model_child(workdir)
        except OSError as exc:  # no model (no user code) loads unconfined: the gateway reports the exit
            sys.stderr.write(f"shipyard model process: the sandbox could not be set up: {exc}\n")
            shutil.rmtree(workdir, ignore_errors=True)
            raise SystemExit(3) from None
    pyfunc.enter_sandbox()
    try:
        for flavor in filter(None, (sys.argv[4] if len(sys.argv) > 4 else "").split(",")):
            try:
                footprint.preload(flavor)  # what LOAD would import first, while the gateway is still starting
            except Exception:  # noqa: BLE001, S112 - the LOAD of that flavor imports it again and reports why
                continue
        child_main(socket.socket(fileno=fd), limit_pending=pending)
    finally:
        if workdir is not None and workdir.name.startswith(WORKDIR_PREFIX):
            shutil.rmtree(workdir, ignore_errors=True)


def child_main(sock: socket.socket, limit_pending: bool = False) -> None:
    """The child's loop: take every frame that is waiting, merge the PREDICTs per version, answer each.
    ``limit_pending``: started before the gateway knew its memory limit; no LOAD (no user code) until LIMITS.

    LOADs run one at a time on a loader thread, which sends each answer when its model is in place (the
    gateway matches answers by sequence number): predictions for the versions already loaded go on being
    answered meanwhile. Loading a big candidate used to hold every other version's answers for the whole
    load. The load still takes the GIL for its Python parts, so answers slow down but are not held. A
    PREDICT for a version whose LOAD is still queued or running (a restarted process loading every version
    again) goes to the loader's queue behind it, and is answered as soon as that load is done, as before."""
    import queue
    import threading

    from shipyard.flavors.sandbox import limit_memory
    from shipyard.serving.runtime import _limit_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    _limit_threads()
    models: dict[str, Any] = {}
    sock.setblocking(True)
    send_lock, state = threading.Lock(), threading.Lock()
    cancelled: set[str] = set()  # keys unloaded while a load of theirs waited or ran: not installed after it
    pending: dict[str, int] = {}  # key -> its LOADs queued or running

    def send(out: list[bytes | memoryview]) -> None:
        with send_lock:
            sock.sendall(b"".join(out))

    loads: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    loader = threading.Thread(target=_loader, args=(loads, models, state, cancelled, pending, send), daemon=True,
                              name="shipyard-model-load")
    loader.start()
    reader = _Reader(sock)
    try:
        while (batch := reader.next_frames()) is not None:
            out: list[bytes | memoryview] = []
            groups: dict[str, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
            unloads: set[str] = set()  # applied after this read's predictions: frames sent before it are served
            for kind, seq, meta, arrays, blob in batch:
                if kind == frames.STOP:
                    return
                if kind == frames.LIMITS:
                    limit_memory(int(meta["memory"]))
                    limit_pending = False
                elif kind == frames.UNLOAD:
                    unloads.add(meta["key"])
                    with state:
                        cancelled.add(meta["key"])
                elif kind == frames.LOAD and limit_pending:
                    out += frames.pack(frames.ERROR, seq, {"type": "RuntimeError", "message": "the model process "
                                                           "has no memory limit yet: the gateway sends LIMITS first"})
                elif kind == frames.LOAD:
                    unloads.discard(meta["key"])
                    with state:
                        cancelled.discard(meta["key"])
                        pending[meta["key"]] = pending.get(meta["key"], 0) + 1
                    loads.put(("load", seq, meta, blob))
                else:
                    groups.setdefault(meta["key"], []).append((seq, meta, arrays))
            for key, reqs in groups.items():
                with state:
                    waits = key not in models and pending.get(key, 0) > 0
                if waits:
                    loads.put(("predict", key, reqs))  # answered right after its load
                else:
                    out += _predict_group(models.get(key), key, reqs)
            if unloads:
                with state:
                    for key in unloads:
                        models.pop(key, None)
            if out:
                send(out)
            if unloads:
                del batch
                _settle()
    finally:
        loads.put(None)


def _loader(loads: Any, models: dict[str, Any], state: Any, cancelled: set[str], pending: dict[str, int],
            send: Any) -> None:
    """The loader thread: load each queued version through its flavor, put it in ``models`` (unless it was
    unloaded meanwhile), answer the LOAD, then give the load's garbage back; answer the predictions that
    waited for a load when their turn comes."""
    from shipyard.serving import footprint
    from shipyard.serving.runtime import _limit_threads, load_model

    while (item := loads.get()) is not None:
        if item[0] == "predict":
            _, key, reqs = item
            send(_predict_group(models.get(key), key, reqs))
            continue
        _, seq, meta, blob = item
        try:
            footprint.preload(meta["flavor"])  # its libraries without their optional probes (issue 18)
            predict, classes, info = load_model(meta["flavor"], blob, meta["signature"], meta.get("labels"),
                                                tuple(meta.get("trusted_types") or ()))
            _limit_threads()  # again: the flavor just imported its native libraries (OpenMP, BLAS)
            with state:
                if meta["key"] in cancelled:
                    cancelled.discard(meta["key"])
                else:
                    models[meta["key"]] = predict
            reply = frames.pack(frames.RESULT, seq, {"classes": classes, "info": info})
        except Exception as exc:  # noqa: BLE001 - reported to the loader
            reply = frames.pack(frames.ERROR, seq, _describe(exc))
        finally:
            with state:
                pending[meta["key"]] -= 1
        send(reply)
        del item, blob
        _settle()


def _settle() -> None:
    """After a load or an unload, once answered (the gateway is ready meanwhile, issue 19): the models live
    as long as the process, so keep them out of the collector's walks (0.1 s with scikit-learn loaded); the
    artifact's bytes and the heap the load left behind go back to the OS (issue 18; a 13.7 MB model:
    193 -> 155 MB)."""
    import gc

    from shipyard.serving import footprint

    gc.collect()
    gc.freeze()
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
