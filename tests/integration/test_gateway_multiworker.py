"""`shipyard serve --workers 2` as a real subprocess: metrics from both workers, routing shared through the
store, TCP_NODELAY on every accepted socket.

Which worker holds a connection, and the socket options of that connection, are read from the worker
itself: ``pidfd_getfd`` (Linux >= 5.6) duplicates the worker's accepted socket into the test process,
whose ``getpeername`` matches our client's address and whose ``getsockopt(TCP_NODELAY)`` is the server's
real setting. No timing is involved.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.builders import approve, free_port, interrupt

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="pidfd_getfd is Linux-only")]

SYS_PIDFD_GETFD = 438  # same number on x86_64 and aarch64
COLUMNS = [f"f{i}" for i in range(4)]
ROW = {"instances": [{c: 0.25 * i for i, c in enumerate(COLUMNS)}]}


def make_model(path: Path, seed: int) -> Path:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(200, len(COLUMNS))), columns=COLUMNS)
    y = (X["f0"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    sio.dump(LogisticRegression().fit(X, y), path)
    return path


def children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def server_sockets(pid: int) -> Iterator[socket.socket]:
    """Duplicates of every TCP socket the process ``pid`` holds (caller closes them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                if err in (1, 38):  # EPERM / ENOSYS: the sandbox forbids it, nothing to learn here
                    pytest.skip(f"pidfd_getfd not permitted here: {os.strerror(err)}")
                continue
            s = socket.socket(fileno=fd)
            if s.family != socket.AF_INET or s.type != socket.SOCK_STREAM:
                s.close()
                continue
            yield s
    finally:
        os.close(pidfd)


def holder(server_pid: int, client_addr: tuple[str, int]) -> tuple[int, int]:
    """(worker pid, TCP_NODELAY) of the server-side socket connected to ``client_addr``."""
    for pid in children(server_pid):
        for s in server_sockets(pid):
            try:
                try:
                    peer = s.getpeername()
                except OSError:
                    continue
                if tuple(peer) == tuple(client_addr):
                    return pid, s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                s.close()
    raise AssertionError(f"no worker of {server_pid} holds the connection from {client_addr}")


def client_addr(resp: httpx.Response) -> tuple[str, int]:
    return resp.extensions["network_stream"].get_extra_info("client_addr")


CLI = [sys.executable, "-m", "shipyard.cli.main"]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PROMETHEUS_"))}
    env["SHIPYARD_ACTOR"] = "alice"
    return env


def start_two_workers(root: Path, versions: int) -> tuple[subprocess.Popen[str], str]:
    """A workspace at root/ws with model m (``versions`` versions), endpoint ep on m:1, and `shipyard serve
    --workers 2` on it, returned once both workers answer ready."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    for v in range(versions):
        ws.models.register("m", make_model(root / f"m{v}.skops", v), "sklearn")
        approve(ws, f"m:{v + 1}")
    ws.endpoints.deploy("m:1", "ep")
    ws.close()
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            cwd=root / "ws", env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            # both workers must be up: each answers ready only after loading every endpoint
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200 and len(children(proc.pid)) >= 2:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("gateway with 2 workers did not become ready in 60 s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("mw")
    proc, url = start_two_workers(root, versions=2)
    clients: list[httpx.Client] = []
    by_pid: dict[int, list[httpx.Client]] = {}
    nodelay: dict[tuple[str, int], int] = {}
    try:
        # Open keep-alive connections until both workers hold at least two (which worker accepts is the kernel's call).
        for _ in range(64):
            c = httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                             timeout=10)
            r = c.post("/v1/endpoints/ep/predict", json=ROW)
            assert r.status_code == 200, r.text
            addr = client_addr(r)
            pid, nd = holder(proc.pid, addr)
            nodelay[addr] = nd
            clients.append(c)
            by_pid.setdefault(pid, []).append(c)
            if len(by_pid) >= 2 and min(len(v) for v in by_pid.values()) >= 2:
                break
        yield {"url": url, "proc": proc, "root": root / "ws", "clients": clients, "by_pid": by_pid,
               "nodelay": nodelay, "warmup": len(clients)}
    finally:
        for c in clients:
            c.close()
        interrupt(proc)


def requests_total(text: str, endpoint: str) -> float:
    pat = re.compile(r'^shipyard_requests_total\{([^}]*)\} (\S+)$', re.M)
    return sum(float(v) for labels, v in pat.findall(text) if f'endpoint="{endpoint}"' in labels)


def test_both_workers_serve_and_metrics_aggregate_them(served) -> None:
    by_pid = served["by_pid"]
    assert len(by_pid) == 2, f"connections landed on {len(by_pid)} worker(s): {list(by_pid)}"
    n_per_client = 25
    for _ in range(n_per_client):
        for c in served["clients"]:
            r = c.post("/v1/endpoints/ep/predict", json=ROW)
            assert r.status_code == 200 and r.headers["x-model-version"] == "1", r.text
    expected = served["warmup"] + n_per_client * len(served["clients"])
    per_worker = [len(cs) * n_per_client for cs in by_pid.values()]
    assert all(n > 0 for n in per_worker)
    # /metrics is answered by one worker; only the multiprocess aggregation can make it count everything
    for c in served["clients"][:4]:
        text = c.get("/metrics").text
        assert requests_total(text, "ep") == expected, (requests_total(text, "ep"), expected, per_worker)


def test_accepted_sockets_have_tcp_nodelay_in_every_worker(served) -> None:
    assert len(served["by_pid"]) == 2
    assert served["nodelay"] and all(v == 1 for v in served["nodelay"].values()), served["nodelay"]


def test_routing_change_in_the_store_reaches_both_workers(served) -> None:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.open(served["root"], settings=Settings(actor="alice"))
    try:
        ws.endpoints.set_routing("ep", {"routes": [{"version": 2, "weight": 100}]})
    finally:
        ws.close()
    t0 = time.monotonic()
    pending = {pid: cs[0] for pid, cs in served["by_pid"].items()}
    switched: dict[int, float] = {}
    while pending and time.monotonic() - t0 < 10:
        for pid, c in list(pending.items()):
            r = c.post("/v1/endpoints/ep/predict", json=ROW)
            assert r.status_code == 200, r.text  # no request dropped while the worker swaps versions
            if r.headers["x-model-version"] == "2":
                switched[pid] = time.monotonic() - t0
                del pending[pid]
        time.sleep(0.02)
    assert not pending, f"workers {sorted(pending)} still answer with version 1 after 10 s"
    assert max(switched.values()) < 2.5, switched
    for c in served["clients"]:  # every later request, on every connection of both workers: the new version
        for _ in range(5):
            r = c.post("/v1/endpoints/ep/predict", json=ROW)
            assert r.status_code == 200 and r.headers["x-model-version"] == "2"


def test_a_dead_worker_is_replaced_and_the_gateway_keeps_answering(served) -> None:
    """Runs last in this module: it kills one of the workers the other tests hold connections to."""
    proc = served["proc"]
    victim = next(iter(served["by_pid"]))
    os.kill(victim, signal.SIGKILL)
    survivors = [pid for pid in served["by_pid"] if pid != victim]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [pid for pid in children(proc.pid) if pid != victim and "spawn_main" in
                   Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                   and "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
        if len(workers) >= 2 and any(pid not in survivors for pid in workers):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no replacement worker within 60 s; children: {children(proc.pid)}")
    assert proc.poll() is None, "the supervisor exited with its worker"
    for _ in range(20):  # fresh connections: whichever worker accepts, the answer is right
        r = httpx.post(served["url"] + "/v1/endpoints/ep/predict", json=ROW, timeout=30)
        assert r.status_code == 200, r.text


def test_every_workers_log_is_flushed_at_shutdown_and_read_back_by_the_cli(tmp_path: Path) -> None:
    """Two workers each buffer their own prediction log; SIGINT drains both, and `shipyard endpoints log`
    then reads every request back, joined with the feedback sent to either worker."""
    import json

    proc, url = start_two_workers(tmp_path, versions=1)
    try:
        ids = []
        for i in range(40):  # a new connection each time: whichever worker accepts it logs it
            r = httpx.post(f"{url}/v1/endpoints/ep/predict", json=ROW, headers={"x-request-id": f"req-{i}"})
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-request-id"])
        for rid in [*ids[:10], "never-served"]:  # accepted: another replica could have served it
            fb = httpx.post(f"{url}/v1/endpoints/ep/feedback", json={"request_id": rid, "label": 1})
            assert fb.status_code == 202, fb.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    out = subprocess.run([*CLI, "endpoints", "log", "ep", "--since", "all", "--limit", "40", "--json"],
                         cwd=tmp_path / "ws", env=cli_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert (view["rows"], view["requests"]) == (40, 40)
    assert sorted(r["request_id"] for r in view["recent"]) == sorted(ids)
    assert view["versions"][0]["labelled"] == 10 and view["versions"][0]["accuracy"] is not None
    assert (view["feedback"], view["feedback_unmatched"]) == (11, 1)
    text = subprocess.run([*CLI, "endpoints", "log", "ep", "--since", "all"], cwd=tmp_path / "ws", env=cli_env(),
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "1 of 11 label(s) match no logged row" in text.stdout, text.stdout + text.stderr
