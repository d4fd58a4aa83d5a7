"""The gateway: a raw ASGI app (no framework on the request path), its lifespan and dispatch.

``Gateway(deps)`` is the app. Start-up loads every endpoint's versions before the server accepts
a request, then a background task polls routing, a thread flushes the prediction log and
another flushes feedback. Each request: read the body (size-limited), route, check against the
chosen version's signature, submit to that version's batcher, answer; metrics and the prediction
log record are in-memory appends.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import logging
import os
import random
import time
import uuid
import weakref
from typing import Any

from shipyard.core.routing import pick
from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError, UnavailableError
from shipyard.serving import footprint
from shipyard.serving.access import TokenCheck
from shipyard.serving.batching import Batcher, Outputs, OverloadedError
from shipyard.serving.http import HttpError, ModelError, Request, Response, oip_error, retry_after, status_for, v1_error
from shipyard.serving.metrics import UNKNOWN, GatewayMetrics
from shipyard.serving.model_process import ModelProcess
from shipyard.serving.options import GatewayDeps
from shipyard.serving.routing_table import EndpointRuntime, RoutingState
from shipyard.serving.runtime import LoadedVersion, make_executor
from shipyard.serving.signature import RequestError, Rows
from shipyard.serving.watchdog import watchdog
from shipyard.telemetry.feedback import FeedbackBuffer
from shipyard.telemetry.prediction_log import PredictionLog
from shipyard.telemetry.ticker import Ticker
from shipyard.telemetry.windows import MetricWindows

log = logging.getLogger("shipyard.serving")


class EndpointNotServedError(NotFoundError):
    """The gateway serves no endpoint (or version) by that name."""


class Gateway:
    def __init__(self, deps: GatewayDeps) -> None:
        from shipyard.serving.routes import health, oip_v2, predict

        self.deps, self.options = deps, deps.options
        self.metrics = GatewayMetrics()
        self.process: ModelProcess | None = None
        if self.options.predict_in == "process":
            self.executor = None
        else:  # predict_threads == 0: predict inline on the event loop
            self.executor = make_executor(self.options.predict_threads) if self.options.predict_threads != 0 else None
        self.state = RoutingState(deps.routing, deps.versions, deps.artifacts, self._attach, self.metrics,
                                  self.options.poll_interval_s, changes=deps.routing_changes)
        self.predlog = PredictionLog(deps.artifacts.put_object, sample_rate=self.options.log_sample_rate,
                                     drop_columns=self.options.log_drop_columns,
                                     hash_columns=self.options.log_hash_columns,
                                     hash_key=self.options.log_hash_key,
                                     interval_s=self.options.log_interval_s,
                                     observe=self.metrics.observe_predlog)
        self.feedback = FeedbackBuffer(deps.record_feedback, max_items=self.options.feedback_buffer,
                                       on_drop=self.metrics.observe_feedback_dropped)
        self.windows = MetricWindows(deps.record_windows, self.options.metrics_interval_s,
                                     watermark=deps.record_watermark)
        self._windows_ticker = Ticker(self.windows.flush, self.options.metrics_interval_s, "shipyard-windows",
                                      "metric windows flush failed; will retry")
        if self.options.auth_required and deps.tokens is None:  # never fail open
            raise InvalidInputError(field="tokens", value=None,
                                    expected="a token source (GatewayDeps.tokens) when auth is required")
        self.access = TokenCheck(deps.tokens if self.options.auth_required else None, self.options.poll_interval_s)
        self._rid_prefix = uuid.uuid4().hex[:8] + "-"
        self._rid = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.batchers: weakref.WeakSet[Batcher] = weakref.WeakSet()
        self._token_poll: asyncio.Task[None] | None = None
        self.routes = {**health.ROUTES, **oip_v2.ROUTES, **predict.ROUTES}
        self._route_cache: dict[str, tuple[tuple[str, ...], Any]] = {}  # path -> (parts, route entry)

    # -- lifecycle -----------------------------------------------------------------------
    def _attach(self, lv: LoadedVersion) -> None:
        remote = None
        observe = self.metrics.batch_observer(lv.model, lv.version)
        if lv.remote is not None:
            process, key = lv.remote
            remote = functools.partial(process.predict, key)
            process.observers[key] = observe
        lv.batcher = Batcher(lv.predict, self.executor, max_batch_size=self.options.max_batch_size,
                             max_wait_ms=self.options.max_wait_ms,
                             observe=observe, remote=remote, max_queue=self.options.max_queue,
                             name=f"{lv.model}:{lv.version}")
        self.batchers.add(lv.batcher)  # the watchdog's view, also of versions routing no longer uses

    async def startup(self) -> None:
        from shipyard.serving.runtime import _limit_threads

        _limit_threads()  # the loop thread too: inline prediction and warm-ups run here
        if self.options.predict_in == "process":
            mem = self.options.model_memory_mb
            prestarted, self.deps.prestarted = self.deps.prestarted, None
            self.process = ModelProcess(self.options.max_batch_size, None if mem is None else mem << 20, prestarted)
            await self.process.start()
            self.state.process = self.process
        sync = asyncio.ensure_future(asyncio.to_thread(self.state.sync))
        if self.process is not None:  # the model process loads: this one does the rest meanwhile (issue 19)
            await self._settle()
        await sync
        if self.process is None:  # the models loaded here: freeze them too
            await self._settle()
        footprint.release_memory()  # start-up's garbage (imports, the artifacts' bytes) back to the OS
        self._poller = asyncio.create_task(self.state.run())
        self._watchdog = asyncio.create_task(watchdog(self))
        self._token_poll = asyncio.create_task(self.access.run())
        self.predlog.start()
        self.feedback.start()
        self._windows_ticker.start()  # without a sink it still drops the closed windows (bounded memory)
        log.info("gateway ready (pid %d): endpoints %s", os.getpid(), sorted(self.state.endpoints))
        if not self.state.endpoints:
            log.warning("no endpoints to serve yet: deploy one with `shipyard deploy MODEL:VERSION --endpoint NAME`; "
                        "running gateways pick it up without a restart")

    async def _settle(self) -> None:
        await self.access.first_poll()
        if self.options.freeze_gc:
            # Everything loaded so far (libraries, models) lives as long as the process: move it out of
            # the collector's sight, or each full collection walks ~200k objects (a ~150 ms stall).
            gc.collect()
            gc.freeze()

    async def shutdown(self) -> None:
        for task in (self._poller, self._watchdog, self._token_poll):
            if task is not None:
                task.cancel()
        await asyncio.to_thread(self.predlog.stop)
        await asyncio.to_thread(self.feedback.stop)
        await asyncio.to_thread(self._stop_windows)
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        if self.process is not None:
            await self.process.stop()
        if self.deps.prestarted is not None:  # start-up never adopted it
            self.deps.prestarted.close()
            self.deps.prestarted = None

    def _stop_windows(self) -> None:
        try:
            self._windows_ticker.stop()
            self.windows.flush(everything=True)  # the open windows too: this process stops counting
        except Exception:  # noqa: BLE001 - the store is down at shutdown: those counts are lost, logged
            log.exception("metric windows: final flush failed")

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # reported to uvicorn, which exits with the message
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        body: bytes | Exception = b""
        if scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                body = await self._read_body(headers, receive)
            except ShipyardError as exc:
                body = exc
        status, hdrs, payload = await self.handle(scope["method"], scope["path"], scope.get("query_string", b""),
                                                  headers, body)
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": payload})

    async def handle(self, method: str, path: str, query: bytes, headers: dict[bytes, bytes],
                     body: bytes | Exception) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One request, whatever the transport: (status, headers, body). ``body`` may be the error the
        transport hit while reading it (too large); it is answered like any other."""
        rid_raw = headers.get(b"x-request-id")
        if rid_raw and len(rid_raw) <= 100 and rid_raw.isascii() and rid_raw.decode("ascii").isprintable():
            rid = rid_raw.decode("ascii")
        else:
            rid = f"{self._rid_prefix}{next(self._rid):x}"
        v1 = path.startswith("/v1/")
        try:
            if isinstance(body, Exception):
                raise body
            resp = await self._dispatch(Request(method, path, headers, body, rid, query))
        except HttpError as exc:
            resp = (v1_error if v1 else oip_error)(exc.status, exc.error, exc.version)
            if resp.status == 503 or exc.extra:
                resp.extra += exc.extra or retry_after(exc.error)
        except ShipyardError as exc:
            resp = (v1_error if v1 else oip_error)(status_for(exc), exc)
            if resp.status == 503:  # unavailable for now (a model process restarting, a store down): say when
                resp.extra += retry_after(exc)
        except Exception as exc:  # a bug or a model crash: logged, answered as JSON 500
            log.exception("request %s %s failed", method, path)
            err = ShipyardError(f"internal error: {type(exc).__name__}: {exc}")
            resp = (v1_error if v1 else oip_error)(500, err)
        if resp.status >= 400 and (path.endswith("/infer") or path.endswith("/predict")):
            parts = path.split("/")
            name = parts[3] if len(parts) > 3 and parts[3] in self.state.endpoints else UNKNOWN
            self.metrics.observe_error(name, resp.version, resp.status)  # unknown names: one label, bounded
        hdrs = [(b"content-type", resp.content_type), (b"content-length", str(len(resp.body)).encode()),
                (b"x-request-id", rid.encode()), (b"x-model-version", resp.version.encode()), *resp.extra]
        return resp.status, hdrs, resp.body

    def too_large(self, declared: int | None) -> Exception:
        limit = self.options.max_body_bytes
        err = InvalidInputError(f"body: larger than the limit of {limit} bytes", field="body", value=declared,
                                expected=f"at most {limit} bytes (serving.max_body_bytes)")
        err.status = 413  # type: ignore[attr-defined]
        return err

    async def _read_body(self, headers: dict[bytes, bytes], receive: Any) -> bytes:
        limit = self.options.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self.too_large(int(declared))
        msg = await receive()
        body = msg.get("body", b"")
        if len(body) > limit:
            raise self.too_large(None)
        if not msg.get("more_body"):
            return bytes(body)
        chunks = [body]
        size = len(body)
        while msg.get("more_body"):
            msg = await receive()
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self.too_large(None)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _dispatch(self, req: Request) -> Response:
        cached = self._route_cache.get(req.path)
        if cached is None:  # paths repeat (a handful of endpoints): split and match each once
            parts = tuple(req.path.strip("/").split("/"))
            if len(self._route_cache) >= 4096:
                self._route_cache.clear()
            cached = self._route_cache[req.path] = (parts, self.routes.get(_template(parts)))
        parts, entry = cached
        if entry is None:
            raise NotFoundError(f"path {req.path} not found", field="path", value=req.path,
                                expected="a gateway route (see /openapi.json)")
        methods, handler = entry
        if req.method not in methods:
            err = InvalidInputError(field="method", value=req.method, expected=" | ".join(methods))
            err.status = 405  # type: ignore[attr-defined]
            raise err
        response: Response = await handler(self, req, parts)
        return response

    # -- shared by the routes ------------------------------------------------------------
    def endpoint(self, name: str, noun: str = "model") -> EndpointRuntime:
        """The endpoint ``name`` or a 404/503 naming it; ``noun``: what the client's protocol calls it
        (OIP v2: "model", shipyard /v1: "endpoint")."""
        ep = self.state.endpoints.get(name)
        if ep is None:
            known = sorted(self.state.endpoints)
            reason = self.state.failures.get(name)
            if reason is not None:
                raise HttpError(503, EndpointNotServedError(
                    f"endpoint {name}: no version loaded ({reason[1]})", field="endpoint", value=name,
                    expected="a loadable version"))
            raise HttpError(404, EndpointNotServedError(
                f"{noun} {name!r} not found; expected one of: {', '.join(known) or '(no endpoints deployed)'}",
                field=noun, value=name, expected=" | ".join(known) or "a deployed endpoint"))
        return ep

    def choose(self, ep: EndpointRuntime, req: Request, version: str | None, key: Any = None) -> LoadedVersion:
        if version is not None:
            # Only an answering version (weight > 0) answers a client, also by its versioned path: a shadow may
            # be an unapproved candidate and only ever gets mirrored copies (issue 18).
            served = ep.table.served
            lv = ep.versions.get(int(version)) if version.isdigit() and int(version) in served else None
            if lv is None:
                raise HttpError(404, EndpointNotServedError(
                    f"version {version!r} of {ep.name} not served; expected one of "
                    f"{', '.join(map(str, sorted(served)))}", field="version", value=version,
                    expected=" | ".join(map(str, sorted(served)))))
            return lv
        if ep.single is not None:
            return ep.single
        table = ep.table
        if key is None and table.sticky_header:
            raw = req.headers.get(table.sticky_header.encode())
            key = raw.decode("latin-1") if raw else None
        return ep.versions[pick(table, str(key) if key is not None else random.random())]

    async def infer(self, ep: EndpointRuntime, lv: LoadedVersion, rows: Rows, req: Request, payload: Any,
                    parse: Any) -> dict[str, Any]:
        """Predict through the version's batcher, mirror to shadows, record metrics and the log."""
        t0 = time.perf_counter()
        try:
            outputs: Outputs = await lv.batcher.submit(rows)
        except OverloadedError as exc:  # shed: the queue is full or the model did not answer in time
            self.metrics.observe_shed(ep.name, str(lv.version), exc.reason)
            raise HttpError(503, exc, str(lv.version)) from None
        except Exception as exc:
            self._model_failed(ep.name, lv, False, time.perf_counter() - t0, rows.n)
            if isinstance(exc, ModelError):  # the model's own code failed: 500 with its message, under its version
                log.warning("model %s:%s raised while predicting: %s", lv.model, lv.version, exc)
                raise HttpError(500, ModelError(f"model {lv.model}:{lv.version}: {exc}", field=exc.field,
                                                value=exc.value, expected=exc.expected), str(lv.version)) from None
            if not isinstance(exc, (ValueError, TypeError)):
                raise
            # the model refused rows the signature let through
            raise HttpError(422, RequestError(
                f"model {lv.model}:{lv.version} could not predict these rows: {exc}", status=422,
                field="inputs", value=None, expected="rows the model accepts"), str(lv.version)) from None
        for shadow in ep.shadows:
            if len(self._tasks) >= self.options.max_shadow_in_flight:  # never queue mirrors without bound
                self.metrics.observe_shadow(ep.name, shadow.version, "dropped")
                continue
            task = asyncio.create_task(self._shadow(ep.name, shadow, payload, parse, req.request_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elapsed = time.perf_counter() - t0
        self.metrics.observe_request(ep.name, str(lv.version), "v2" if req.path[2] == "2" else "v1",
                                     elapsed, rows.n)
        self.predlog.record(ep.name, lv, req.request_id, rows, outputs, elapsed * 1e3)
        self.windows.record(ep.name, lv.version, False, elapsed * 1e3, rows.n, outputs)
        return outputs

    def _model_failed(self, endpoint: str, lv: LoadedVersion, shadow: bool, seconds: float, n: int) -> None:
        """Count a request the version's model failed (metric windows, Prometheus); never raises."""
        try:
            self.windows.record_error(endpoint, lv.version, shadow, seconds * 1e3, n)
            if shadow:
                self.metrics.observe_shadow(endpoint, lv.version, "error")
            else:
                self.metrics.observe_model_error(endpoint, str(lv.version), seconds)
        except Exception:  # noqa: BLE001 - counting must not change the answer
            log.debug("could not count a model error of %s:%s", lv.model, lv.version, exc_info=True)

    async def _shadow(self, endpoint: str, lv: LoadedVersion, payload: Any, parse: Any, request_id: str) -> None:
        """Mirror a request to a shadow version: never answered; logged with the client request's id (so the
        rollout pairs it with the answering version's record) and its own latency."""
        try:
            rows = parse(lv, payload)
        except (ShipyardError, ValueError, TypeError) as exc:  # its signature refused it: the client's input
            self.metrics.observe_shadow(endpoint, lv.version, "rejected")
            log.debug("shadow %s:%s rejected a request: %s", lv.model, lv.version, exc)
            return
        t0 = time.perf_counter()
        try:
            outputs = await lv.batcher.submit(rows)
        except UnavailableError as exc:  # shed (queue full, timeout) or the model process restarting
            self.metrics.observe_shadow(endpoint, lv.version, "shed")
            log.debug("shadow %s:%s shed a request: %s", lv.model, lv.version, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the shadow's failure is counted, never seen by the client
            self._model_failed(endpoint, lv, True, time.perf_counter() - t0, rows.n)
            log.debug("shadow %s:%s failed a request: %s", lv.model, lv.version, exc)
            return
        elapsed = time.perf_counter() - t0
        self.metrics.observe_shadow_answer(endpoint, lv.version, elapsed, rows.n)
        self.predlog.record(endpoint, lv, request_id, rows, outputs, elapsed * 1e3, shadow=True)
        self.windows.record(endpoint, lv.version, True, elapsed * 1e3, rows.n, outputs)



def _template(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Replace name positions by '*' (models/{name}, versions/{v}, endpoints/{name})."""
    out = list(parts)
    for i in range(1, len(out)):
        if out[i - 1] in ("models", "versions", "endpoints"):
            out[i] = "*"
    return tuple(out)
