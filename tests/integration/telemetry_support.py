"""Helpers for the telemetry tests: a pyfunc classifier that fails on demand or loads slowly, known traffic."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import IO, Any

import httpx
from tests.builders import approve

COLUMNS = ["f0", "f1"]
SIG = {"inputs": [{"name": c, "type": "float", "nullable": False} for c in COLUMNS], "outputs": [{"name": "label"}]}
FAIL = 99.0  # f0 value that makes a version with fail_on raise

SOURCE = '''
import json
import os
import time

import numpy as np


class Model:
    def __init__(self, path):
        with open(os.path.join(path, "cfg.json")) as f:
            cfg = json.load(f)
        time.sleep(cfg.get("load_sleep", 0))
        self.bias, self.fail_on = cfg["bias"], cfg.get("fail_on")
        self.classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        if self.fail_on is not None and (X[:, 0] == self.fail_on).any():
            raise RuntimeError("this version fails on f0 == %s" % self.fail_on)
        p = 1.0 / (1.0 + np.exp(-(X[:, 0] - X[:, 1] + self.bias)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]
'''


def pyfunc(bias: float, fail_on: float | None = None, load_sleep: float = 0.0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", SOURCE)
        zf.writestr("cfg.json", json.dumps({"bias": bias, "fail_on": fail_on, "load_sleep": load_sleep}))
    return buf.getvalue()


def register(ws: Any, root: Path, specs: list[dict[str, Any]], model: str = "m") -> None:
    """Register (and approve) one pyfunc version per spec (``pyfunc`` keyword arguments)."""
    for i, spec in enumerate(specs, start=1):
        path = root / f"{model}{i}.zip"
        path.write_bytes(pyfunc(**spec))
        ws.models.register(model, path, "pyfunc", signature=SIG)
        approve(ws, f"{model}:{i}")


def body(i: int) -> dict[str, Any]:
    """Request ``i``: every 4th asks f0 == FAIL; a sticky routing key makes its version known in advance."""
    f0 = FAIL if i % 4 == 0 else (i % 7) / 3.0
    return {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [f0, 0.5]}],
            "parameters": {"routing_key": f"k{i}"}}


def send(url: str, n: int, table: Any, fail_on: dict[int, float], offset: int = 0) -> dict[str, Any]:
    """Send requests ``offset .. offset+n`` and return what each version should have counted."""
    from shipyard.core.routing import pick

    want: dict[int, Counter[str]] = {}
    slowest = 0.0
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(offset, offset + n):
            version = pick(table, f"k{i}")
            doc = body(i)
            fails = fail_on.get(version) == doc["inputs"][0]["data"][0]
            t0 = time.perf_counter()
            r = c.post("/v2/models/ep/infer", json=doc)
            slowest = max(slowest, time.perf_counter() - t0)
            assert r.status_code == (500 if fails else 200), (i, version, r.status_code, r.text)
            if not fails:
                assert r.headers["x-model-version"] == str(version)
            counts = want.setdefault(version, Counter())
            counts["requests"] += 1
            counts["errors"] += int(fails)
            counts["answered"] += int(not fails)
    return {"versions": want, "slowest_ms": slowest * 1000.0}


def wait_for(check: Any, timeout: float = 20.0, every: float = 0.25) -> Any:
    """Call ``check()`` until it returns something truthy; the last value (for the assertion message)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def start_gateways(root: Path, db_url: str | list[str], ports: list[int], *args: str,
                   logs: Path | None = None) -> list[subprocess.Popen[str]]:
    """``shipyard serve`` on each port (one process each) for the workspace at ``root``, waited for until each
    answers ``/v2/health/ready``. ``db_url``: one URL, or one per gateway. ``logs``: a folder for each
    gateway's output (``gateway-<port>.log``), else it is piped. A gateway that exits fails with its output."""
    urls = db_url if isinstance(db_url, list) else [db_url] * len(ports)
    procs: list[subprocess.Popen[str]] = []
    outs: list[IO[str] | None] = []
    for url, port in zip(urls, ports, strict=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update(SHIPYARD_DB_URL=url, SHIPYARD_ACTOR="alice")
        out = None if logs is None else open(logs / f"gateway-{port}.log", "w")  # noqa: SIM115 - the process's
        outs.append(out)
        procs.append(subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "serve", "--host", "127.0.0.1",
                                       "--port", str(port), "--log-level", "warning", *args], cwd=root, env=env,
                                      stdout=out or subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        for proc, port, out in zip(procs, ports, outs, strict=True):
            def ready(proc=proc, port=port, out=out):  # type: ignore[no-untyped-def]
                if proc.poll() is not None:
                    text = proc.stdout.read() if proc.stdout else Path(str(out.name)).read_text() if out else ""
                    raise AssertionError(f"gateway on port {port} exited {proc.returncode}: {text}")
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False
            assert wait_for(ready, timeout=90), f"gateway on port {port} did not become ready"
    except BaseException:
        stop_gateways(procs)
        raise
    return procs


def stop_gateways(procs: list[subprocess.Popen[str]], timeout: float = 60) -> None:
    """SIGTERM every gateway (it drains and flushes its prediction log and open windows), then wait."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
