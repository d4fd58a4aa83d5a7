"""A 90/10 split over 10,000 HTTP requests to a gateway in its own process lands within binomial bounds.

The gateway runs as a real `shipyard serve` subprocess so the test client does not share its GIL;
the split is read from each response's x-model-version header.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.builders import approve

pytestmark = pytest.mark.slow
COLUMNS = [f"f{i}" for i in range(4)]
BODY = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}
N = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model(path: Path, seed: int) -> Path:
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=seed)
    sio.dump(DecisionTreeClassifier(max_depth=3, random_state=seed).fit(pd.DataFrame(X, columns=COLUMNS), y), path)
    return path


async def _versions(port: int, connections: int = 16) -> list[str]:
    """N keep-alive POSTs over raw asyncio streams (httpx's own overhead would dominate the run)."""
    import json

    body = json.dumps(BODY).encode()
    request = (f"POST /v2/models/ep/infer HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               f"content-length: {len(body)}\r\n\r\n").encode() + body
    versions: list[str] = []

    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(n):
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
                assert head[0].startswith("http/1.1 200"), head[0]
                fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
                await reader.readexactly(int(fields["content-length"]))
                versions.append(fields["x-model-version"])
        finally:
            writer.close()

    await asyncio.gather(*(worker(N // connections) for _ in range(connections)))
    return versions


def test_90_10_split_over_10000_requests(tmp_path: Path) -> None:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    root = tmp_path / "ws"
    ws = Workspace.init(root, settings=Settings(actor="alice"))
    for v in (1, 2):
        ws.models.register("m", _model(tmp_path / f"m{v}.skops", v), "sklearn")
        approve(ws, f"m:{v}")
    ws.endpoints.deploy("m:1", "ep")
    ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]})
    ws.close()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "gateway exited"
            try:
                if httpx.get(url + "/v2/models/ep/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gateway did not become ready"
            time.sleep(0.2)
        got = asyncio.run(_versions(port))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(got) == N and set(got) == {"1", "2"}
    hits = got.count("2")
    sigma = math.sqrt(N * 0.1 * 0.9)  # 30 requests
    assert abs(hits - N * 0.1) < 4 * sigma, f"version 2 got {hits} of {N}, expected 1000 ± {4 * sigma:.0f}"
