"""Running the gateway: composition from a workspace, the HTTP server loop, N worker processes.

``build_gateway(ws)`` is the composition: the gateway gets callables (routing snapshot, version
specs, feedback sink) from the workspace's EndpointService and the ArtifactStore protocol; it never
sees the SQL store. ``run_gateway`` serves it on a bound socket with ``serving.protocol``'s HTTP/1.1
protocol on uvloop: start-up (every endpoint loaded) completes before the first connection is
accepted; SIGTERM/SIGINT stop accepting, let requests in progress finish (at most
``DRAIN_S``), then flush the prediction log. With ``--workers N`` the parent binds the socket and
spawns N processes that each open the workspace and accept on it; they share routing through the
store and metrics through ``PROMETHEUS_MULTIPROC_DIR``; a worker that dies after start-up is
replaced, one that fails start-up stops the gateway with its reason. The Gateway is also a plain
ASGI app, for embedding under any ASGI server.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Any

from shipyard.errors import InvalidInputError, UnavailableError
from shipyard.serving import footprint
from shipyard.serving.app import Gateway
from shipyard.serving.child_spawn import Spawned, predict_mode, settle
from shipyard.serving.options import GatewayDeps, GatewayOptions
from shipyard.serving.protocol import HttpProtocol

log = logging.getLogger("shipyard.serving")
KEEP_ALIVE_S = 30.0  # an idle keep-alive connection is closed after this
REQUEST_TIMEOUT_S = 30.0  # a request still incomplete after this is answered 408 and closed
DRAIN_S = 10.0
BACKLOG = 4096
GrpcListen = tuple[str, int, bool]  # host, port, SO_REUSEPORT (N workers share the port)


def options_from(ws: Any, predict_threads: int | None = None, predict_in: str | None = None) -> GatewayOptions:
    """Options from shipyard.yaml's ``serving``; ``--predict-threads`` alone implies thread mode."""
    from shipyard.config import STATE_DIR
    from shipyard.telemetry.prediction_log import log_hash_key

    s = ws.config.serving
    mode = predict_mode(ws, predict_threads, predict_in)
    key = log_hash_key(ws.root / STATE_DIR, ws.settings.log_hash_key_bytes()) if s.log_hash_columns else None
    return GatewayOptions(max_batch_size=s.max_batch_size, max_wait_ms=s.max_wait_ms,
                          max_body_bytes=s.max_body_bytes, log_sample_rate=s.log_sample_rate,
                          log_drop_columns=list(s.log_drop_columns), log_hash_columns=list(s.log_hash_columns),
                          log_hash_key=key, predict_in=mode, predict_threads=predict_threads,
                          metrics_interval_s=s.metrics_interval, model_memory_mb=ws.config.sandbox.memory_mb,
                          max_queue=s.max_queue, predict_timeout_s=s.predict_timeout,
                          max_shadow_in_flight=s.max_shadow_in_flight, feedback_max_labels=s.feedback_max_labels,
                          feedback_buffer=s.feedback_buffer,
                          auth_required="required" in (ws.settings.auth, ws.config.auth))


def build_gateway(ws: Any, options: GatewayOptions | None = None, prestarted: Spawned | None = None) -> Gateway:
    from shipyard.core.permissions import Permission
    from shipyard.governance.service import token_grants
    from shipyard.telemetry import window_store  # SQL stays behind this callable: the gateway never sees it

    eps = ws.endpoints
    tokens = functools.partial(token_grants, ws.db, ws.clock, Permission.FEEDBACK)
    return Gateway(GatewayDeps(routing=eps.snapshot, versions=eps.version_spec, artifacts=ws.artifacts,
                               record_feedback=eps.record_feedback, options=options or options_from(ws),
                               record_windows=functools.partial(window_store.write, ws.db),
                               record_watermark=functools.partial(window_store.mark, ws.db), tokens=tokens,
                               routing_changes=eps.watch, prestarted=prestarted))


def configure_logging(level: str = "info") -> None:
    logger = logging.getLogger("shipyard")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen; a taken port or an unknown host is the user's input error (exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(f"--port {port}: {host}:{port} is already in use; expected a free port",
                                    field="port", value=port, expected="a free port") from None
        raise InvalidInputError(f"--host {host}: cannot listen on {host}:{port} ({exc.strerror}); expected a "
                                "local interface address", field="host", value=host,
                                expected="a local interface address") from None
    sock.set_inheritable(True)
    return sock


async def run_gateway(gw: Gateway, sock: socket.socket, stop: asyncio.Event,
                      started: Any = None, keep_alive_s: float = KEEP_ALIVE_S,
                      request_timeout_s: float = REQUEST_TIMEOUT_S, grpc: GrpcListen | None = None,
                      keep_out: tuple[str, ...] = ()) -> None:
    """Start the gateway, accept on ``sock`` until ``stop`` is set, drain, shut down. ``started`` (a
    threading or multiprocessing Event) is set once connections are accepted. ``grpc``: (host, port,
    reuse_port) to serve OIP v2 over gRPC too, on the same loop and Gateway (``serving.grpc``). ``keep_out``:
    modules that libraries may not import while the gateway starts (``footprint.kept_out``)."""
    loop = asyncio.get_running_loop()
    if keep_out:  # pyarrow comes later, with the first logged prediction: keep them out then too
        gw.predlog.import_guard = functools.partial(footprint.kept_out, *keep_out)
    with footprint.kept_out(*keep_out):
        await gw.startup()
    grpc_server = None
    if grpc is not None:
        from shipyard.serving.grpc.service import start as start_grpc

        try:
            grpc_server = await start_grpc(gw, *grpc)
        except BaseException:
            await gw.shutdown()
            raise
    connections: set[HttpProtocol] = set()
    limit = gw.options.max_body_bytes
    server = await loop.create_server(lambda: HttpProtocol(gw.handle, gw.too_large, limit, connections, loop),
                                      sock=sock, backlog=BACKLOG)
    if started is not None:
        started.set()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(1.0, keep_alive_s, request_timeout_s))
            except TimeoutError:
                now = loop.time()
                for conn in list(connections):
                    if conn.stalled_for(now) > request_timeout_s:
                        conn.time_out(request_timeout_s)
                    elif conn.idle_for(now) > keep_alive_s:
                        conn.shutdown()
    finally:
        server.close()
        if grpc_server is not None:
            await grpc_server.stop(DRAIN_S)  # refuses new RPCs, lets those in progress finish
        for conn in list(connections):
            conn.shutdown()
        deadline = loop.time() + DRAIN_S
        while connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(connections):  # still busy after the drain: cut
            if conn.transport is not None:
                conn.transport.abort()
        await gw.shutdown()


def _run_loop(main: Any) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _serve_forever(gw: Gateway, sock: socket.socket, started: Any = None, grpc: GrpcListen | None = None) -> None:
    """Serve in this (main) thread until SIGINT or SIGTERM. The process is the gateway's own: with the model in
    its own process this one never handles a DataFrame, so pandas is kept out of the prediction log's pyarrow,
    whose first conversion imports it only to recognise DataFrames (48 MB; issue 18). Not in an embedding
    process (``ServerThread``), whose other code may want pyarrow to know pandas."""
    keep_out = ("pandas",) if gw.options.predict_in == "process" else ()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_gateway(gw, sock, stop, started, grpc=grpc, keep_out=keep_out)

    _run_loop(main())


def _worker_main(root: str, sock: socket.socket, predict_threads: int | None, predict_in: str | None,
                 log_level: str, grpc: GrpcListen | None, ready: Any) -> None:
    """A worker process (spawned): open the workspace, build the gateway, serve the shared socket."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    configure_logging(log_level)
    ws = Workspace.open(root, settings=Settings())
    early = settle(None, ws, predict_threads, predict_in)  # before the gateway's imports (child_spawn)
    gw = build_gateway(ws, options_from(ws, predict_threads, predict_in), early)
    _serve_forever(gw, sock, ready, grpc)


def serve(ws: Any, host: str, port: int, workers: int = 1, predict_threads: int | None = None,
          log_level: str = "info", predict_in: str | None = None, grpc_port: int | None = None,
          prestarted: Spawned | None = None) -> None:
    """Run until interrupted (the CLI's `shipyard serve`); ``grpc_port``: OIP v2 over gRPC on that port too;
    ``prestarted``: the model process the CLI started early (``child_spawn``), used with one worker."""
    configure_logging(log_level)
    try:
        sock = bind_socket(host, port)
    except BaseException:
        if prestarted is not None:
            prestarted.close()
        raise
    log.info("gateway listening on http://%s:%d (%d worker%s)", host, port, workers, "s" if workers > 1 else "")
    grpc = None if grpc_port is None else (host, grpc_port, workers > 1)
    if workers <= 1:
        with sock:
            gw = build_gateway(ws, options_from(ws, predict_threads, predict_in), prestarted)
            _serve_forever(gw, sock, grpc=grpc)
        return
    if prestarted is not None:  # each worker starts its own
        prestarted.close()
    metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before the workers start: they inherit it
    try:
        Supervisor(str(ws.root), sock, workers, (predict_threads, predict_in, log_level, grpc)).run()
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Supervisor:
    """Spawn N workers on one listening socket; replace any that dies after start-up; stop them on a signal."""

    def __init__(self, root: str, sock: socket.socket, workers: int, options: tuple[Any, ...]) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.args = (root, sock, *options)
        self.n = workers
        self.procs: list[tuple[Any, Any]] = []  # (process, ready event)
        self.stopping = False

    def _spawn(self, i: int) -> tuple[Any, Any]:
        ready = self.ctx.Event()
        proc = self.ctx.Process(target=_worker_main, args=(*self.args, ready), name=f"shipyard-worker-{i}")
        proc.start()
        return proc, ready

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.procs = [self._spawn(i) for i in range(self.n)]
            while not self.stopping:
                time.sleep(0.2)
                for i, (proc, ready) in enumerate(self.procs):
                    if proc.is_alive() or self.stopping:
                        continue
                    if not ready.is_set():
                        raise UnavailableError(f"worker {proc.name} exited during start-up (exit code "
                                               f"{proc.exitcode}); its log above says why", field="workers",
                                               value=self.n, expected="workers that load every endpoint")
                    log.warning("worker %s (pid %s) died with exit code %s: starting a replacement",
                                proc.name, proc.pid, proc.exitcode)
                    self.procs[i] = self._spawn(i)
        finally:
            for proc, _ in self.procs:
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: the worker drains and flushes its prediction log
            for proc, _ in self.procs:
                proc.join(DRAIN_S + 5)
                if proc.is_alive():
                    proc.kill()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ServerThread:
    """Serve a Gateway in a thread on 127.0.0.1 (tests and embedding): ``with ServerThread(gw, port):``."""

    def __init__(self, gw: Gateway, port: int, host: str = "127.0.0.1", grpc_port: int | None = None,
                 **timeouts: float) -> None:
        self.gw, self.url = gw, f"http://{host}:{port}"
        self.timeouts: dict[str, Any] = timeouts  # keep_alive_s, request_timeout_s
        self.grpc: GrpcListen | None = None if grpc_port is None else (host, grpc_port, False)
        self.sock = bind_socket(host, port)
        self.started = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._main, name="shipyard-gateway", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await run_gateway(self.gw, self.sock, self._stop, self.started, grpc=self.grpc, **self.timeouts)

        try:
            _run_loop(main())
        except BaseException as exc:  # noqa: BLE001 - reported by __enter__
            self.error = exc

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.started.is_set():
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise RuntimeError(f"gateway did not start on {self.url}: {self.error!r}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)
        self.sock.close()
