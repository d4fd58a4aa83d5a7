"""Test builders: small real models and data files."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a real server in a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        ws.models.set_stage(ref, "validated", "gates checked by the test")
    ws.as_principal(Principal(approver, Role.APPROVER)).approvals.approve(ref, reason="approved by the test")
