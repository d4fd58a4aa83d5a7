"""flavors/confine.py on this kernel: a real child confined as the gateway's model process is
(``sandbox.confine_model_child``) reads Python and the system and writes its own folder, and nothing else:
no file in the home folder or /tmp, no TCP connection to a listening loopback port, no write outside its
folder. The same child unconfined reaches all of them (the test's own control)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.flavors.confine import landlock_abi

CHILD = r"""
import json, os, socket, sys
from pathlib import Path
work, secret, port, confined = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if confined:
    from shipyard.flavors.sandbox import confine_model_child
    how = confine_model_child(work)
else:
    how = {}
got = {"how": how}
def attempt(name, fn):
    try:
        fn()
        got[name] = "ok"
    except OSError as exc:
        got[name] = type(exc).__name__
attempt("read_secret", lambda: open(secret, "rb").read())
attempt("write_outside", lambda: open(Path(secret).with_name("planted.py"), "w").write("x"))
attempt("write_own", lambda: (work / "scratch.txt").write_text("x"))
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", port), timeout=3).close())
import sklearn, numpy  # imports still work: Python and site-packages stay readable
got["imports"] = "ok"
(work / "result.json").write_text(json.dumps(got))
"""


def _run(tmp_path: Path, confined: bool) -> dict[str, object]:
    work = tmp_path / ("confined" if confined else "open")
    work.mkdir()
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("aws_secret_access_key = nope\n")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        subprocess.run([sys.executable, "-c", CHILD, str(work), str(secret), str(port), "1" if confined else "0"],
                       check=True, timeout=120, cwd=work)
    return json.loads((work / "result.json").read_text())


@pytest.mark.skipif(landlock_abi() < 4, reason="needs Landlock ABI 4+ (Linux 6.7) for TCP rules")
def test_a_confined_model_child_reads_python_writes_its_folder_and_nothing_else(tmp_path: Path) -> None:
    control = _run(tmp_path, confined=False)
    assert {k: control[k] for k in ("read_secret", "write_outside", "write_own", "tcp")} == dict.fromkeys(
        ("read_secret", "write_outside", "write_own", "tcp"), "ok"), control
    got = _run(tmp_path, confined=True)
    assert got["how"]["network"] == "denied" and got["how"]["landlock"] >= 4, got  # type: ignore[index]
    assert got["read_secret"] == "PermissionError" and got["write_outside"] == "PermissionError", got
    assert got["tcp"] == "PermissionError", got
    assert got["write_own"] == "ok" and got["imports"] == "ok", got
