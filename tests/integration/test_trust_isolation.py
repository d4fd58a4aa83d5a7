"""Issue 18, user code isolation: an uploaded pyfunc never runs inside ``shipyard server`` or the gateway's
own process, and where it does run (a sandboxed child) it sees no secret; a pyfunc that hangs at import is
refused at registration within the configured time-out.

The server and the gateway run as real subprocesses with ``SHIPYARD_AUDIT_KEY``, a PostgreSQL store URL and
other database credentials in their environment; a contributor uploads, over the API, a pyfunc that looks,
at import and in ``predict``, for those secrets in ``os.environ``, ``/proc/self/environ`` and its parent's,
and tries to write outside its sandbox, read the workspace's files and a credentials file in the home
folder, and connect to the database; it fails its own load or predict, naming what it reached.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.builders import approve, free_port

CLI = [sys.executable, "-m", "shipyard.cli.main"]
PG_SECRET = "pg-password-" + uuid.uuid4().hex
AUDIT_KEY = "audit-key-" + uuid.uuid4().hex
TIMEOUT_S = 8

SPY = '''
import json
import os
import socket
import sys

OUT, SECRETS, FORBIDDEN_PID, PRIVATE, DB_PORT = @OUT@, @SECRETS@, @PID@, @PRIVATE@, @DB_PORT@


def _look(where):
    # What user code can reach from where it runs. Anything found fails the load (or the predict) with a
    # message naming it, so the test sees it in the HTTP answer; what it saw also goes to stderr.
    seen = json.dumps(dict(os.environ))
    for path in ("/proc/self/environ", f"/proc/{os.getppid()}/environ"):
        try:
            with open(path, "rb") as f:
                seen += f.read().decode("utf-8", "replace")
        except OSError:
            pass
    leaked = [s[:16] for s in SECRETS if s in seen]
    leaked += [k for k in os.environ if k.startswith("SHIPYARD_") or k in ("DATABASE_URL", "PGPASSWORD")]
    escaped = []
    try:  # a folder outside its sandbox
        with open(os.path.join(OUT, f"{where}-{os.getpid()}.txt"), "w") as f:
            f.write("written from the sandbox")
        escaped.append("wrote " + OUT)
    except OSError:
        pass
    for path in PRIVATE:  # the workspace's files, a credentials file in the home folder
        try:
            with open(path, "rb") as f:
                f.read(1)
            escaped.append("read " + path)
        except OSError:
            pass
    try:  # the database, on loopback
        socket.create_connection(("127.0.0.1", DB_PORT), timeout=3).close()
        escaped.append(f"connected to 127.0.0.1:{DB_PORT}")
    except OSError:
        pass
    print("SPY", where, os.getpid(), json.dumps({"leaked": leaked, "escaped": escaped}), file=sys.stderr, flush=True)
    if leaked or escaped or os.getpid() == FORBIDDEN_PID or "PATH" not in os.environ:
        raise RuntimeError(f"SPY {where} in pid {os.getpid()}: leaked={leaked} escaped={escaped}")


_look("import")


class Model:
    feature_names = ["x"]

    def predict(self, X):
        _look("predict")
        return [float(v) * 2 for v in X["x"]]
'''

SLEEPER = '''
import os
import time

with open(@PIDFILE@, "w") as f:  # /dev/shm: the one shared folder the sandbox may write
    f.write(str(os.getpid()))
time.sleep(100000)


class Model:
    def predict(self, X):
        return [0] * len(X)
'''


def pyfunc_zip(source: str, out: Path, **values: Any) -> bytes:
    for key, value in {"OUT": str(out), **values}.items():
        source = source.replace(f"@{key}@", repr(value))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", source)
    return buf.getvalue()


def spy_zip(stack: dict[str, Any]) -> bytes:
    return pyfunc_zip(SPY, stack["out"], SECRETS=stack["secrets"], PID=stack["server"].pid,
                      PRIVATE=[str(p) for p in stack["private"]], DB_PORT=stack["db_port"])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{url} did not answer 200:\n{log.read_text()}"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[dict[str, Any]]:
    """A workspace on PostgreSQL, a contributor token and a running `shipyard server` whose environment
    holds the secrets."""
    import psycopg

    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    tmp = tmp_path_factory.mktemp("trust")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    db_url = f"{pg_database}?options=-csearch_path%3D{schema}"
    root = tmp / "ws"
    settings = Settings(db_url=db_url, audit_key=AUDIT_KEY, actor="alice")  # type: ignore[arg-type]
    Workspace.init(root, settings=settings).close()
    with open(root / "shipyard.yaml", "a") as f:
        f.write(f"\nsandbox:\n  timeout_s: {TIMEOUT_S}\n")
    ws = Workspace.open(root, settings=settings)
    ws.users.add("carol", "contributor")
    token = ws.users.create_token("carol").token
    out = tmp / "spy-out"
    out.mkdir()
    home = tmp / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = not-for-user-code\n")
    private = [root / "shipyard.yaml", *sorted((root / ".shipyard").rglob("*")), home / ".aws" / "credentials"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_DB_URL": db_url, "SHIPYARD_AUDIT_KEY": AUDIT_KEY, "SHIPYARD_ACTOR": "alice",
                "DATABASE_URL": db_url, "PGPASSWORD": PG_SECRET, "HOME": str(home)})
    port = free_port()
    log = tmp / "server.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([*CLI, "-C", str(root), "server", "--port", str(port)], env=env,
                                stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/api/v1/health", proc, log)
        yield {"ws": ws, "root": root, "url": url, "token": token, "out": out, "env": env, "server": proc,
               "secrets": [AUDIT_KEY, db_url, pg_database.rsplit("/", 1)[1], schema, PG_SECRET], "tmp": tmp,
               "private": [p for p in private if p.is_file()], "db_port": urlsplit(pg_database).port or 5432}
    finally:
        _stop(proc)
        ws.close()


def _upload(stack: dict[str, Any], name: str, data: bytes, **body: Any) -> httpx.Response:
    return httpx.post(f"{stack['url']}/api/v1/models/{name}/versions", timeout=120,
                      headers={"Authorization": f"Bearer {stack['token']}"},
                      json={"flavor": "pyfunc", "filename": f"{name}.zip",
                            "artifact": base64.b64encode(data).decode(), **body})


def _spy_lines(text: str, where: str) -> list[dict[str, Any]]:
    return [json.loads(line.split(" ", 3)[3]) for line in text.splitlines() if line.startswith(f"SPY {where} ")]


def test_a_contributor_pyfunc_never_runs_in_the_server_and_sees_no_secret(stack: dict[str, Any]) -> None:
    """The spy fails its own import if it finds a secret in its environment or its parent's, runs in the
    server's pid, can write outside its sandbox, read the workspace or a credentials file in the home folder,
    or connect to the database; a registered version with its signature means it ran and found none."""
    assert stack["private"], "the workspace should have files for the spy to try"
    r = _upload(stack, "spy", spy_zip(stack))
    assert r.status_code in (200, 201), r.text
    assert r.json()["created_by"] == "carol"
    assert r.json()["signature"]["inputs"][0]["name"] == "x"  # inspection ran (in its child) and was recorded
    assert not list(stack["out"].iterdir()), "user code wrote outside its sandbox"


def test_the_gateway_model_process_sees_no_secret(stack: dict[str, Any]) -> None:
    from shipyard.errors import NotFoundError

    try:
        stack["ws"].models.get_version("spy:1")
    except NotFoundError:  # this test alone
        r = _upload(stack, "spy", spy_zip(stack))
        assert r.status_code in (200, 201), r.text
    ws = stack["ws"]
    approve(ws, "spy:1")
    ws.endpoints.deploy("spy:1")
    port = free_port()
    log = stack["tmp"] / "serve.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([*CLI, "-C", str(stack["root"]), "serve", "--port", str(port)], env=stack["env"],
                                stdout=logf, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/v2/models/spy/ready", proc, log)
        r = httpx.post(f"{url}/v1/endpoints/spy/predict", json={"instances": [{"x": 1.5}, {"x": -2.0}]}, timeout=30)
        assert r.status_code == 200, r.text  # the spy's predict raises (a 500) if it found anything
        assert r.json()["predictions"] == [3.0, -4.0]
    finally:
        _stop(proc)
    text = log.read_text(errors="replace")
    seen = _spy_lines(text, "import") + _spy_lines(text, "predict")
    assert _spy_lines(text, "predict") and seen == [{"leaked": [], "escaped": []}] * len(seen), text[-4000:]
    assert not list(stack["out"].iterdir()), "user code wrote outside its sandbox"


def test_a_pyfunc_that_hangs_at_import_is_refused_within_the_timeout(stack: dict[str, Any]) -> None:
    t0 = time.monotonic()
    pidfile = Path(f"/dev/shm/shipyard-test-sleeper-{uuid.uuid4().hex}.pid")
    r = _upload(stack, "sleeper", pyfunc_zip(SLEEPER, stack["out"], PIDFILE=str(pidfile)), signature={
        "inputs": [{"name": "x", "type": "float"}], "outputs": [{"name": "prediction"}]})
    elapsed = time.monotonic() - t0
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["type"] == "ArtifactFormatError" and err["value"] == "model:Model"
    assert f"{TIMEOUT_S} s" in err["message"] and "sandbox.timeout_s" in err["message"], err
    assert elapsed < TIMEOUT_S + 60, "registration was not cut off by the time-out"  # a bound, not a speed claim
    pid = int(pidfile.read_text())
    pidfile.unlink()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the hung child was killed, not left behind
    assert httpx.get(f"{stack['url']}/api/v1/models/sleeper", timeout=30,
                     headers={"Authorization": f"Bearer {stack['token']}"}).status_code == 404


def test_a_pyfunc_over_the_memory_limit_is_refused(tmp_path: Path) -> None:
    from shipyard.config import Settings
    from shipyard.flavors.base import ArtifactFormatError
    from shipyard.workspace import Workspace

    Workspace.init(tmp_path / "ws", settings=Settings(actor="alice")).close()
    with open(tmp_path / "ws" / "shipyard.yaml", "a") as f:
        f.write("\nsandbox:\n  memory_mb: 512\n")
    ws = Workspace.open(tmp_path / "ws", settings=Settings(actor="alice"))
    hog = "blob = bytearray(1 << 30)\n\nclass Model:\n    def predict(self, X):\n        return [0] * len(X)\n"
    path = tmp_path / "hog.zip"
    path.write_bytes(pyfunc_zip(hog, tmp_path))
    with pytest.raises(ArtifactFormatError) as err:
        ws.models.register("hog", path, "pyfunc")
    assert "MemoryError" in str(err.value) and "512 MB" in str(err.value) and "sandbox.memory_mb" in str(err.value)
    ws.close()
