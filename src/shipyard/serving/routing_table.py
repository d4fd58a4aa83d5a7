"""The gateway's routing state: polled from the store, versions loaded before the table is swapped.

``RoutingSource`` returns every endpoint's routing table and generation (one small query, in a
background thread every ~0.5 s, and at once when the store notifies a committed change; never on the
request path). For a new generation the poller
loads every version the table needs (hash verified, flavor loaded, signature compiled, warmed
up) and only then replaces the endpoint's runtime with one assignment, which requests read
without a lock. A version that fails to load is logged with the reason (an
``ArtifactIntegrityError`` names the expected and actual sha256) and the endpoint keeps the
runtime it had. A transient failure (``UnavailableError``: the model process died while loading, the
store was briefly unreachable) is retried on later polls, after 1 s, 2 s, 4 s (three retries), so
a crash does not leave the generation unapplied until the next deploy; a model that keeps killing
the model process stops being retried (each crash fails the requests in flight of every endpoint).

Loads never hold up routing: a poll applies at once every generation whose versions are loaded already
(a rollback to 100 % stable, weights moving between loaded versions) and hands generations that need a
load to one loader thread, which swaps each in when its versions are ready (unless a later generation
replaced it meanwhile). The state lock covers only the compare-and-swap.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shipyard.core.routing import RoutingTable
from shipyard.errors import UnavailableError
from shipyard.serving.runtime import LoadedVersion, load_version
from shipyard.store.artifacts.base import ArtifactStore

log = logging.getLogger("shipyard.serving")
RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # after a transient load failure of a generation


class RoutingSource(Protocol):
    def __call__(self) -> dict[str, Any]:
        """endpoint name -> state with ``.model``, ``.generation``, ``.table`` (a RoutingTable)."""
        ...


class VersionSource(Protocol):
    def __call__(self, model: str, version: int) -> Any:
        """A version spec with model, version, flavor, digest, signature."""
        ...


@dataclass(slots=True)
class EndpointRuntime:
    name: str
    model: str
    generation: int
    table: RoutingTable
    versions: dict[int, LoadedVersion]
    shadows: tuple[LoadedVersion, ...]
    single: LoadedVersion | None  # set when one version takes all traffic (no pick needed)


class RoutingState:
    def __init__(self, source: RoutingSource, versions: VersionSource, artifacts: ArtifactStore,
                 attach: Callable[[LoadedVersion], None], metrics: Any = None, interval_s: float = 0.5,
                 changes: Callable[[Callable[[], None]], Callable[[], None] | None] | None = None) -> None:
        self.source, self.versions, self.artifacts = source, versions, artifacts
        self.attach, self.metrics, self.interval_s = attach, metrics, interval_s
        self.changes = changes  # subscribe to committed routing changes (EndpointService.watch); None: poll only
        self.endpoints: dict[str, EndpointRuntime] = {}
        self.ready = False
        self.failures: dict[str, tuple[int, str]] = {}  # endpoint -> (generation, reason) not applied
        self._retries: dict[str, tuple[int, int, float]] = {}  # endpoint -> (generation, retries done, next at)
        self._loaded: dict[tuple[str, int], LoadedVersion] = {}
        self._lock = threading.Lock()  # guards the state above; held to compare and swap, never across a load
        self._load_lock = threading.Lock()  # one load at a time (start-up and the loader thread)
        self._wanted: dict[str, int] = {}  # endpoint -> generation of the latest poll
        self._pending: dict[str, Any] = {}  # endpoint -> the state whose versions are being loaded
        self._jobs: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._loader: threading.Thread | None = None
        self.process: Any = None  # the ModelProcess that loads and predicts, or None: in this process

    def sync(self, wait: bool = True) -> bool:
        """One poll. A new generation whose versions are all loaded already (a rollback, weights moving
        between loaded versions) takes effect at once; one that needs a load is loaded here (``wait``: the
        start-up load) or on the loader thread, which swaps it in when done. The state lock is held only
        to compare and swap, never across a load, so a routing change never waits on another endpoint's
        (or a new version's) load. Returns whether anything changed now."""
        snap = self.source()
        todo: list[tuple[str, Any]] = []
        with self._lock:
            self._wanted = {name: st.generation for name, st in snap.items()}
            new = dict(self.endpoints)
            changed = False
            for name, st in snap.items():
                cur = new.get(name)
                if cur is not None and cur.generation == st.generation and cur.model == st.model:
                    continue
                if self.failures.get(name, (None,))[0] == st.generation and not self._retry_due(name, st.generation):
                    continue  # already reported; wait for a retry or the next generation
                loaded = {v: self._loaded.get((st.model, v)) for v in st.table.versions}
                if all(lv is not None for lv in loaded.values()):
                    self._apply(new, name, st, loaded)
                    changed = True
                elif name not in self._pending or self._pending[name].generation != st.generation:
                    self._pending[name] = st
                    todo.append((name, st))
            for name in list(new):
                if name not in snap:
                    del new[name]
                    changed = True
            if changed:
                self._swap(new)
            self.ready = True
        for name, st in todo:
            if wait:
                changed = self._load_and_apply(name, st) or changed
            else:
                self._start_loader().put((name, st))
        return changed

    @property
    def loading(self) -> set[str]:
        """Endpoints whose next generation is waiting for a version to load."""
        with self._lock:
            return set(self._pending)

    def _apply(self, new: dict[str, EndpointRuntime], name: str, st: Any, loaded: dict[int, Any]) -> None:
        """Put the runtime of ``st`` (every version loaded) into ``new``; under ``_lock``."""
        self.failures.pop(name, None)
        self._retries.pop(name, None)
        table = st.table
        served = table.served
        new[name] = EndpointRuntime(
            name, st.model, st.generation, table, {v: loaded[v] for v in table.versions},
            tuple(loaded[v] for v in table.shadow), loaded[served[0]] if len(served) == 1 else None)
        if self.metrics is not None:
            self.metrics.set_generation(name, st.generation)
            self.metrics.declare_versions(name, tuple(served), tuple(table.shadow))
        log.info("endpoint %s: routing generation %d in effect: %s", name, st.generation, table.to_dict())

    def _swap(self, new: dict[str, EndpointRuntime]) -> None:
        """Make ``new`` the state (one assignment: requests see the old or the new state, never a mix) and
        unload the versions nothing uses or waits for any more; under ``_lock``."""
        self.endpoints = new
        used = {(ep.model, v) for ep in new.values() for v in ep.versions}
        used |= {(st.model, v) for st in self._pending.values() for v in st.table.versions}
        for k, lv in self._loaded.items():
            if k not in used and lv.remote is not None:
                # the model process frees it too, once the requests that chose it are answered
                batcher = lv.batcher
                lv.remote[0].unload(lv.remote[1], busy=None if batcher is None else batcher.busy)
        self._loaded = {k: lv for k, lv in self._loaded.items() if k in used}

    def _load_and_apply(self, name: str, st: Any) -> bool:
        """Load what generation ``st`` of ``name`` needs (no state lock held), then swap it in unless a later
        generation took its place meanwhile. Returns whether it took effect."""
        try:
            loaded = {v: self._load(st.model, v) for v in st.table.versions}
        except Exception as exc:  # any load failure: report and keep serving the old runtime
            with self._lock:
                if self._pending.get(name) is st:
                    del self._pending[name]
                if self._wanted.get(name) != st.generation:
                    return False
                reason = f"{type(exc).__name__}: {exc}"
                self.failures[name] = (st.generation, reason)
                cur = self.endpoints.get(name)
                kept = f"generation {cur.generation}" if cur else "nothing (endpoint unavailable)"
                retry = self._schedule_retry(name, st.generation, exc)
            log.error("endpoint %s: cannot apply routing generation %d: %s; keeping %s%s",
                      name, st.generation, reason, kept, retry)
            return False
        with self._lock:
            if self._pending.get(name) is st:
                del self._pending[name]
            cur = self.endpoints.get(name)
            if self._wanted.get(name) != st.generation or (cur is not None and cur.generation == st.generation):
                self._swap(dict(self.endpoints))  # superseded: unload what only it needed
                return False
            new = dict(self.endpoints)
            self._apply(new, name, st, loaded)
            self._swap(new)
            return True

    def _start_loader(self) -> queue.Queue[tuple[str, Any]]:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load_loop, name="shipyard-routing-load", daemon=True)
            self._loader.start()
        return self._jobs

    def _load_loop(self) -> None:
        while True:
            name, st = self._jobs.get()
            try:
                self._load_and_apply(name, st)
            except Exception:  # a bug: logged, the loader keeps going
                log.exception("endpoint %s: loading routing generation %d failed", name, st.generation)

    def _retry_due(self, name: str, generation: int) -> bool:
        gen, _, at = self._retries.get(name, (None, 0, 0.0))
        return gen == generation and time.monotonic() >= at

    def _schedule_retry(self, name: str, generation: int, exc: Exception) -> str:
        """Plan the next attempt after a transient failure; returns what the log line should add."""
        gen, done, _ = self._retries.get(name, (None, 0, 0.0))
        done = done if gen == generation else 0
        if not isinstance(exc, UnavailableError) or done >= len(RETRY_DELAYS_S):
            self._retries.pop(name, None)
            return "" if not isinstance(exc, UnavailableError) else f" (gave up after {done} retries)"
        delay = RETRY_DELAYS_S[done]
        self._retries[name] = (generation, done + 1, time.monotonic() + delay)
        return f"; retrying in {delay:g} s"

    def _load(self, model: str, version: int) -> LoadedVersion:
        key = (model, version)
        with self._load_lock:
            lv = self._loaded.get(key)
            if lv is not None:
                return lv
            lv = self._load_new(model, version)
            with self._lock:
                self._loaded[key] = lv
            return lv

    def _load_new(self, model: str, version: int) -> LoadedVersion:
        try:
            lv = load_version(self.versions(model, version), self.artifacts, self.process)
        except Exception:
            if self.metrics is not None:
                self.metrics.observe_load(model, version, "failed")
            raise
        if self.metrics is not None:
            self.metrics.observe_load(model, version, "ok")
        self.attach(lv)
        return lv

    async def run(self) -> None:
        """Poll forever (cancel to stop); a failing poll is logged and retried. With ``changes`` (the store's
        change notifications, PostgreSQL) a committed routing change wakes the poll at once; the interval stays
        as the fallback (a notification lost while the listener reconnects, a store without them)."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def woken() -> None:  # from the listener's thread
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed: the gateway is gone
                pass

        stop = None
        if self.changes is not None:
            try:
                stop = self.changes(woken)
            except Exception as exc:  # noqa: BLE001 - without notifications the poll still finds every change
                log.warning("routing change notifications unavailable (%s: %s); polling every %g s",
                            type(exc).__name__, exc, self.interval_s)
        try:
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), self.interval_s)
                except TimeoutError:
                    pass
                wake.clear()  # a change committed during the poll below wakes the next one
                try:
                    await asyncio.to_thread(self.sync, False)
                except Exception as exc:  # database briefly unavailable, etc.: keep serving what we have
                    log.warning("routing poll failed: %s: %s", type(exc).__name__, exc)
        finally:
            if stop is not None:
                stop()
