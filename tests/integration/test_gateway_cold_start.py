"""Cold start (issue 19): the model process starts before the gateway's imports, and keeps its isolation.

``child_spawn.speculate`` starts a real model process importing scikit-learn before shipyard.yaml is read, so
with its memory limit *pending*; ``settle`` keeps or replaces it once the endpoints' flavors are known; the
gateway's ``ModelProcess`` adopts it and sends LIMITS before any LOAD. What is checked here is what the child
does and holds (its mapped libraries, its limits, its environment, its answers), read off ``/proc`` and its
socket; never how long anything takes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.builders import approve, make_skops_model

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/<pid>")]

SIG = {"inputs": [{"name": f"f{i}", "type": "float"} for i in range(4)]}


def mapped(pid: int, lib: str) -> bool:
    text = Path(f"/proc/{pid}/maps").read_text()
    return f"/site-packages/{lib}/" in text or f"/site-packages/{lib}.libs/" in text


def address_space_limit(pid: int) -> str:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max address space"))
    return line.split()[3]  # the soft limit: bytes or "unlimited"


def wait_for(check: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.05)


def ask(sock: socket.socket, kind: int, meta: dict[str, Any], blob: bytes = b"") -> tuple[int, dict[str, Any]]:
    """One frame to the child over its raw socket, its one answer back (the gateway's side, without asyncio)."""
    from shipyard.serving import frames

    sock.sendall(b"".join(frames.pack(kind, 1, meta, blob=blob)))
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack_from("<I", buf)[0]:
        chunk = sock.recv(1 << 16)
        assert chunk, "the model process closed its socket"
        buf += chunk
    got_kind, _, got_meta, _, _ = frames.unpack(buf[4:])
    return got_kind, got_meta


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "k" * 64)
    monkeypatch.setenv("SHIPYARD_DB_URL", "postgresql://gateway:secret@db/shipyard")


def test_a_speculated_child_imports_scikit_learn_first_and_loads_nothing_before_its_limit(
        tmp_path: Path, secrets_in_env: None) -> None:
    from shipyard.serving import child_spawn, frames

    early = child_spawn.speculate()
    assert early is not None and early.preload == ("sklearn",) and early.limit_pending
    pid = early.child.pid
    try:
        early.sock.settimeout(120)
        # nothing was sent yet: the child imports the speculated flavor on its own
        wait_for(lambda: mapped(pid, "sklearn") and mapped(pid, "scipy"), "scikit-learn imported")
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in env if v.startswith(b"SHIPYARD_") or b"secret" in v], env  # scrubbed as ever
        assert address_space_limit(pid) == "unlimited"  # not known yet ...

        model = make_skops_model(tmp_path / "m.skops").read_bytes()
        load = {"key": "m:1", "flavor": "sklearn", "signature": SIG, "labels": None, "trusted_types": []}
        kind, meta = ask(early.sock, frames.LOAD, load, model)
        assert kind == frames.ERROR and "no memory limit yet" in meta["message"], meta  # ... so no model loads

        early.sock.sendall(b"".join(frames.pack(frames.LIMITS, 0, {"memory": 1 << 30})))
        kind, meta = ask(early.sock, frames.LOAD, load, model)
        assert kind == frames.RESULT and meta["classes"] == [0, 1], meta
        assert address_space_limit(pid) == str(1 << 30)
        assert not mapped(pid, "pandas")  # scikit-learn's probes were kept out while it was speculated
    finally:
        early.close()
    wait_for(lambda: not early.child.is_alive(), "the child stopped")


def test_the_gateway_adopts_the_early_child_and_sets_its_limit_first(tmp_path: Path) -> None:
    import numpy as np

    from shipyard.serving import child_spawn
    from shipyard.serving.model_process import ModelProcess
    from shipyard.serving.signature import Rows

    early = child_spawn.speculate()
    assert early is not None
    model = make_skops_model(tmp_path / "m.skops").read_bytes()

    async def main() -> tuple[int, Any, str]:
        proc = ModelProcess(memory_bytes=768 << 20, prestarted=early)
        await proc.start()  # LIMITS goes out first, then this LOAD
        try:
            assert proc.proc is not None
            await proc.load("m:1", "sklearn", model, SIG)
            out = await proc.predict("m:1", Rows(1, matrix=np.array([[0.5, 1.0, -1.0, 2.0]])), [1])
            return proc.proc.pid, out, address_space_limit(proc.proc.pid)
        finally:
            await proc.stop()

    pid, out, limit = asyncio.run(main())
    assert pid == early.child.pid and early.adopted  # the same process, not a second one
    assert limit == str(768 << 20)
    assert out["predict_proba"].shape == (1, 2)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Any]:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(actor="alice"))
    yield ws
    ws.close()


def test_settle_keeps_a_right_guess_and_replaces_a_wrong_one(workspace: Any, tmp_path: Path) -> None:
    from shipyard.serving import child_spawn

    # no endpoint serves anything: a child that speculated on scikit-learn would only hold memory
    early = child_spawn.speculate()
    assert early is not None
    settled = child_spawn.settle(early, workspace)
    assert settled is not None and settled is not early and settled.preload == ()
    assert not early.child.is_alive() and not settled.limit_pending  # the replacement has its limit from the start
    limit = workspace.config.sandbox.memory_mb << 20
    wait_for(lambda: address_space_limit(settled.child.pid) == str(limit), "the limit set by the new child")
    settled.close()

    # thread mode: no model process at all
    early = child_spawn.speculate()
    assert early is not None
    assert child_spawn.settle(early, workspace, predict_in="thread") is None
    assert not early.child.is_alive()

    # an endpoint serves a scikit-learn model: the guess was right, the same child goes on
    workspace.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    approve(workspace, "m:1")
    workspace.endpoints.deploy("m:1", "ep")
    early = child_spawn.speculate()
    assert early is not None
    try:
        assert child_spawn.settle(early, workspace) is early and early.child.is_alive()
    finally:
        early.close()


@pytest.mark.parametrize(("argv", "expected"), [
    (["serve"], True),
    (["-C", "ws", "--debug", "serve", "--port", "9000"], True),
    (["serve", "--workers=1", "--predict-in", "process"], True),
    (["serve", "--workers", "2"], False),  # each worker starts its own
    (["serve", "--predict-in", "thread"], False),
    (["serve", "--predict-in=thread"], False),
    (["serve", "--predict-threads", "2"], False),
    (["serve", "--help"], False),
    (["--workspace", "serve", "models", "list"], False),  # a workspace folder named "serve"
    (["models", "serve"], False),
    ([], False),
])
def test_the_cli_speculates_only_for_serve_in_process_mode(argv: list[str], expected: bool) -> None:
    from shipyard.serving.child_spawn import serves_in_process

    assert serves_in_process(argv) is expected


@pytest.mark.parametrize(("port", "says"), [("0", "Invalid value for '--port'"), ("8089", "no shipyard workspace")])
def test_no_model_process_is_left_behind_when_serve_fails_early(tmp_path: Path, port: str, says: str) -> None:
    """`shipyard serve` with a usage error (typer refuses it), or outside a workspace: the child started before
    either was known is stopped when the command fails."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PROMETHEUS_"))}
    code = ("import sys, os\n"
            "from shipyard.serving import child_spawn\n"
            "seen = []\n"
            "spec = child_spawn.speculate\n"
            "def spy(*a, **k):\n"
            "    early = spec(*a, **k)\n"
            "    seen.append(early.child.popen)\n"
            "    return early\n"
            "child_spawn.speculate = spy\n"
            "from shipyard.cli.main import run\n"
            "try:\n"
            f"    run(['serve', '--port', '{port}'])\n"
            "except SystemExit as exc:\n"
            "    print('exit', exc.code, [p.poll() is not None for p in seen], flush=True)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert says in r.stderr, r.stderr
    assert "exit 2 [True]" in r.stdout, (r.stdout, r.stderr)  # one child was started, and it is gone
