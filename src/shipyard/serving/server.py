"""Running the gateway: composition from a workspace, uvicorn (uvloop + httptools), N workers.

``build_gateway(ws)`` is the composition: the gateway gets callables (routing snapshot, version
specs, feedback sink) from the workspace's EndpointService and the ArtifactStore protocol; it never
sees the SQL store. With ``workers > 1`` uvicorn needs an import string, so the workers rebuild the
gateway from ``SHIPYARD_SERVE_ROOT`` (``app_from_env``), share routing through the store and share
metrics through ``PROMETHEUS_MULTIPROC_DIR``. Every accepted socket gets ``TCP_NODELAY``
(``NoDelayHttpToolsProtocol``): without it small responses wait for the peer's delayed ACK
(~40 ms; uvicorn issue #3149 saw this in multi-worker mode).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shipyard.serving.app import Gateway, GatewayDeps, GatewayOptions

ROOT_ENV = "SHIPYARD_SERVE_ROOT"
THREADS_ENV = "SHIPYARD_SERVE_PREDICT_THREADS"


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """httptools protocol that disables Nagle on every accepted connection."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # not a TCP socket (unix domain): nothing to disable
                pass
        super().connection_made(transport)


def options_from(ws: Any, predict_threads: int | None = None) -> GatewayOptions:
    s = ws.config.serving
    return GatewayOptions(max_batch_size=s.max_batch_size, max_wait_ms=s.max_wait_ms,
                          max_body_bytes=s.max_body_bytes, log_sample_rate=s.log_sample_rate,
                          log_drop_columns=list(s.log_drop_columns), log_hash_columns=list(s.log_hash_columns),
                          predict_threads=predict_threads)


def build_gateway(ws: Any, options: GatewayOptions | None = None) -> Gateway:
    eps = ws.endpoints
    return Gateway(GatewayDeps(routing=eps.snapshot, versions=eps.version_spec, artifacts=ws.artifacts,
                               record_feedback=eps.record_feedback, options=options or options_from(ws)))


def configure_logging(level: str = "info") -> None:
    logger = logging.getLogger("shipyard")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


def app_from_env() -> Gateway:
    """uvicorn factory for worker processes: open the workspace named by SHIPYARD_SERVE_ROOT."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    configure_logging(os.environ.get("SHIPYARD_SERVE_LOG_LEVEL", "info"))
    ws = Workspace.open(os.environ[ROOT_ENV], settings=Settings())
    threads = os.environ.get(THREADS_ENV)
    return build_gateway(ws, options_from(ws, int(threads) if threads else None))


def uvicorn_config(app: Any, host: str, port: int, *, workers: int = 1, log_level: str = "warning",
                   factory: bool = False) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, workers=workers, loop="uvloop", http=NoDelayHttpToolsProtocol,
                          lifespan="on", access_log=False, log_level=log_level, factory=factory,
                          server_header=False, date_header=False, timeout_keep_alive=30, backlog=4096)


def serve(ws: Any, host: str, port: int, workers: int = 1, predict_threads: int | None = None,
          log_level: str = "info") -> None:
    """Run until interrupted (the CLI's `shipyard serve`)."""
    import uvicorn

    configure_logging(log_level)
    if workers <= 1:
        gw = build_gateway(ws, options_from(ws, predict_threads))
        uvicorn.Server(uvicorn_config(gw, host, port, log_level="warning")).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
    os.environ.update({ROOT_ENV: str(ws.root), "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
                       "SHIPYARD_SERVE_LOG_LEVEL": log_level})
    if predict_threads is not None:
        os.environ[THREADS_ENV] = str(predict_threads)
    try:
        uvicorn.run("shipyard.serving.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http=NoDelayHttpToolsProtocol, lifespan="on", access_log=False,
                    log_level="warning", server_header=False, date_header=False, timeout_keep_alive=30,
                    backlog=4096)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class ServerThread:
    """Run an ASGI app under uvicorn in a thread (tests and embedding); ``with ServerThread(app, port):``."""

    def __init__(self, app: Any, port: int, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn_config(app, host, port))
        self.thread = threading.Thread(target=self.server.run, name="shipyard-gateway", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
