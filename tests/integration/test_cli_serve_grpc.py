"""`shipyard serve --grpc-port` as a real subprocess: with two workers (they share the gRPC port) tritonclient.grpc
gets the REST path's answers; a port another process holds, or the HTTP port itself, is refused with exit 2 naming
--grpc-port."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.builders import approve, free_port, wait_ready
from tests.integration.test_gateway_multiworker import CLI, COLUMNS, children, cli_env, make_model

pytestmark = pytest.mark.slow
tg = pytest.importorskip("tritonclient.grpc")


def _workspace(root: Path) -> Path:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    ws.models.register("m", make_model(root / "m.skops", 0), "sklearn")
    approve(ws, "m:1")
    ws.endpoints.deploy("m:1", "ep")
    ws.close()
    return root / "ws"


def _serve(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "serve", "--no-controller", "--log-level", "warning", *args], cwd=cwd,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_serve_grpc_port_with_two_workers(tmp_path) -> None:
    port, gport = free_port(), free_port()
    proc = _serve(_workspace(tmp_path), "--port", str(port), "--grpc-port", str(gport), "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, f"{url}/v2/health/ready", also=lambda: len(children(proc.pid)) >= 2)
        x = np.linspace(-1, 1, 3 * len(COLUMNS)).reshape(3, len(COLUMNS))
        rest = httpx.post(f"{url}/v2/models/ep/infer", json={"inputs": [
            {"name": "x", "shape": list(x.shape), "datatype": "FP64", "data": x.ravel().tolist()}]}).json()
        expected = {o["name"]: o["data"] for o in rest["outputs"]}
        for _ in range(6):  # fresh connections: the kernel spreads them over both workers' listeners
            client = tg.InferenceServerClient(f"127.0.0.1:{gport}")
            try:
                deadline = time.monotonic() + 30
                while not client.is_server_ready():  # both workers bind only once started
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                inp = tg.InferInput("x", list(x.shape), "FP64")
                inp.set_data_from_numpy(x)
                res = client.infer("ep", [inp])
                assert res.as_numpy("predict_proba").ravel().tolist() == expected["predict_proba"]
                assert res.as_numpy("predict").tolist() == expected["predict"]
            finally:
                client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


def test_grpc_port_taken_or_same_as_http_exits_2(tmp_path) -> None:
    ws = _workspace(tmp_path)
    port = free_port()
    same = _serve(ws, "--port", str(port), "--grpc-port", str(port))
    out, _ = same.communicate(timeout=60)
    assert same.returncode == 2 and "--grpc-port" in out, out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = _serve(ws, "--port", str(free_port()), "--grpc-port", str(taken.getsockname()[1]))
        out, _ = busy.communicate(timeout=60)
    assert busy.returncode == 2 and "grpc" in out and "Traceback" not in out, out
