"""Test builders: small real models and data files."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a real server in a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[str], url: str, timeout: float = 60,
               also: Callable[[], bool] = lambda: True) -> None:
    """Poll ``url`` until it answers 200 (and ``also()`` holds); fail with the process's output if it exits,
    or after ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"serve exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}"
        try:
            if httpx.get(url, timeout=1).status_code == 200 and also():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"gateway did not become ready in {timeout:g} s"
        time.sleep(0.1)


def interrupt(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """Ctrl-C a gateway (it drains and flushes), killing it if it has not exited within ``timeout``."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_skops_model(path: Path, n_features: int = 4, seed: int = 0) -> Path:
    """Train a tiny real classifier on synthetic data and save it with skops."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(200, n_features)), columns=[f"f{i}" for i in range(n_features)])
    y = (X["f0"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return path


def approve(ws, ref: str, approver: str = "bob") -> None:  # type: ignore[no-untyped-def]
    """Take a registered candidate through the approval a deploy needs (approval.required: 1 by default):
    validated by the workspace's actor, approved by ``approver`` (not the author: separation of duties)."""
    from shipyard.core.permissions import Principal, Role

    if ws.models.get_version(ref).stage == "candidate":
        validate(ws, ref)
    ws.as_principal(Principal(approver, Role.APPROVER)).approvals.approve(ref, reason="approved by the test")


def validate(ws, ref: str, gates: list[dict] | None = None) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Record gates evaluated in this (trusted, in-process) test as sealed evidence, as ``models evaluate`` does
    after running them: the version becomes validated (every gate passed) or rejected. For tests about what
    comes after the gates (serving, approvals); the gates themselves are tested through ``models evaluate``."""
    from shipyard.registry.evidence import MODELS_EVALUATE, GateRun

    results = gates if gates is not None else [{"gate": "accuracy >= 0", "passed": True, "value": 1.0, "note": ""}]
    ws.models.record_evaluation(ref, {"metrics": {"accuracy": 1.0}, "gates": results},
                                GateRun(MODELS_EVALUATE, results, dataset={"ref": "test-data@1", "digest": "0" * 64}))


def make_labelled_csv(path: Path, n_features: int = 4, seed: int = 1, rows: int = 300) -> Path:
    """Rows like ``make_skops_model``'s training data (features f0.., target ``y``): a held-out evaluation set."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, n_features)), columns=[f"f{i}" for i in range(n_features)])
    X["y"] = (X["f0"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    X.to_csv(path, index=False)
    return path


def configure_gates(root: Path, gates: list[str], required: int = 1) -> None:
    """Give the workspace at ``root`` an evaluation setup for ``models evaluate``: target ``y``, a fast
    evaluation (20 bootstrap resamples, no robustness) and ``gates``."""
    import yaml

    cfg = root / "shipyard.yaml"
    doc = yaml.safe_load(cfg.read_text()) or {}
    doc.update({"data": {"train": "data/train.csv", "target": "y"},
                "evaluation": {"metrics": ["roc_auc", "accuracy"], "bootstrap": 20, "robustness": None},
                "gates": gates, "approval": {"required": required}})
    cfg.write_text(yaml.safe_dump(doc))
