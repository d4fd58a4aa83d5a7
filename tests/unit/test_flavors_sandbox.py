"""The environment a child running user code gets (``flavors/sandbox.scrubbed_env``): an allowlist, never a
``SHIPYARD_*`` variable or a database credential; and ``pyfunc.load`` refuses to run outside a sandbox."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

import shipyard

PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
    "PYTHONPATH": "/opt/extra", "SHIPYARD_AUDIT_KEY": "k" * 32, "SHIPYARD_DB_URL": "postgresql://u:pw@db/x",
    "SHIPYARD_TOKEN": "shp_secret", "shipyard_token": "shp_lower", "DATABASE_URL": "postgresql://u:pw@db/x",
    "PGPASSWORD": "pw", "PGHOST": "db", "AWS_SECRET_ACCESS_KEY": "aws", "OMP_NUM_THREADS": "4",
}


def test_only_allowlisted_variables_reach_the_child() -> None:
    from shipyard.flavors.sandbox import scrubbed_env

    env = scrubbed_env(PARENT, TMPDIR="/tmp/private")
    assert {k: env[k] for k in ("PATH", "HOME", "LANG", "LC_ALL")} == {k: PARENT[k] for k in
                                                                       ("PATH", "HOME", "LANG", "LC_ALL")}
    assert env["TMPDIR"] == "/tmp/private"
    assert not [k for k in env if k.upper().startswith(("SHIPYARD_", "PG", "AWS_")) or k == "DATABASE_URL"]
    assert "pw" not in json.dumps(env) and "shp_" not in json.dumps(env)
    root = str(Path(shipyard.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/opt/extra"]  # the same shipyard, then the user's path
    assert env["OMP_NUM_THREADS"] == "4" and env["OPENBLAS_NUM_THREADS"] == "1"  # a set value is kept


def test_pyfunc_code_is_never_imported_outside_a_sandbox(tmp_path: Path) -> None:
    from shipyard.flavors import pyfunc
    from shipyard.flavors.base import UnsafeArtifactError

    marker = tmp_path / "imported"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", f"open({str(marker)!r}, 'w').close()\nclass Model:\n    def predict(self, X): ...\n")
    assert not pyfunc._SANDBOXED
    with pytest.raises(UnsafeArtifactError) as err:
        pyfunc.PyfuncFlavor().load(buf.getvalue())
    assert "sandboxed child process" in str(err.value)
    assert not marker.exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc")
def test_the_parent_of_a_sandbox_is_made_non_dumpable() -> None:
    """Checked in a fresh interpreter (the flag is per process): after protect_parent, prctl(PR_GET_DUMPABLE)
    reads 0, which is what makes /proc/<pid>/environ unreadable to a same-user child without CAP_SYS_PTRACE."""
    import subprocess
    import sys

    code = ("import ctypes; from shipyard.flavors.sandbox import protect_parent; "
            "libc = ctypes.CDLL(None); before = libc.prctl(3, 0, 0, 0, 0); ok = protect_parent(); "
            "print(before, ok, libc.prctl(3, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["1", "True", "0"], out


def test_a_pyfunc_with_numpy_integer_classes_is_described_as_json(tmp_path: Path) -> None:
    """``classes_`` as a NumPy int64 array (what sklearn's classifiers hold) comes back from the sandboxed child as
    plain ints (the child's JSON encoder converts NumPy scalars), so registration can record them."""
    from shipyard.flavors.pyfunc import PyfuncFlavor

    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", "import numpy as np\nclass Model:\n    classes_ = np.array([0, 1], dtype=np.int64)\n"
                                "    feature_names = ['a']\n    def predict(self, X): return X\n"
                                "    def predict_proba(self, X): return X\n")
    info = PyfuncFlavor().inspect(path)
    assert info.classes == [0, 1] and all(type(c) is int for c in info.classes)
    assert info.task == "classification"
