"""The demo's moving parts: `shipyard` commands as subprocesses, the long-running servers, and live traffic."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEATURES = ("Seniority", "Home", "Time", "Age", "Marital", "Records", "Job", "Expenses", "Income", "Assets",
            "Debt", "Amount", "Price")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shell:
    """Runs ``shipyard ...`` in the demo workspace as a given actor; keeps every command it ran."""

    root: Path
    log: list[tuple[str, int]] = field(default_factory=list)

    def env(self, actor: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update({"SHIPYARD_ACTOR": actor, "COLUMNS": "120", "NO_COLOR": "1"})
        return env

    def run(self, *args: str, actor: str = "alice", check: bool = True, timeout: float = 600
            ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "shipyard.cli.main", *args]
        proc = subprocess.run(cmd, cwd=self.root, env=self.env(actor), capture_output=True, text=True,
                              timeout=timeout)
        self.log.append((" ".join(["shipyard", *args]), proc.returncode))
        if check and proc.returncode != 0:
            raise RuntimeError(f"`shipyard {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str, actor: str = "alice") -> Any:
        return json.loads(self.run(*args, "--json", actor=actor).stdout)

    def start(self, *args: str, log_name: str) -> subprocess.Popen[bytes]:
        out = open(self.root / log_name, "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", *args], cwd=self.root,
                                env=self.env("demo"), stdout=out, stderr=subprocess.STDOUT)


def wait_http(url: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


class Traffic:
    """Client applications: ``rate`` predictions a second from held-out applications, each followed by its
    true label as feedback. ``shift()`` makes the applicants change (older, richer, larger loans)."""

    def __init__(self, url: str, rows: list[dict[str, Any]], labels: list[str], rate: float = 40.0) -> None:
        import httpx

        self.url, self.rows, self.labels, self.rate = url, rows, labels, rate
        self.client = httpx.Client(base_url=url, timeout=10)
        self.shifted = False
        self.sent = self.ok = self.errors = 0
        self.versions: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.close()

    def shift(self) -> None:
        self.shifted = True

    def _row(self, i: int) -> dict[str, Any]:
        row = dict(self.rows[i])
        if self.shifted:
            row["Age"] = int(row["Age"]) + 25
            for col in ("Income", "Amount", "Price", "Assets"):
                row[col] = float(row[col]) * 3 if row[col] is not None else None
            row["Home"] = "owner"
        return row

    def _run(self) -> None:
        rng = random.Random(7)
        gap = 1.0 / self.rate
        while not self._stop.is_set():
            t0 = time.monotonic()
            i = rng.randrange(len(self.rows))
            try:
                r = self.client.post("/v1/endpoints/credit-risk/predict", json={"instances": [self._row(i)]})
                self.sent += 1
                v = r.headers.get("x-model-version", "?")
                self.versions[v] = self.versions.get(v, 0) + 1
                if r.status_code == 200:
                    self.ok += 1
                    rid = r.headers["x-request-id"]
                    self.client.post("/v1/endpoints/credit-risk/feedback", json={"request_id": rid,
                                                                                "label": self.labels[i]})
                else:
                    self.errors += 1
            except Exception:  # noqa: BLE001 - a client keeps trying (the gateway may be restarting)
                self.errors += 1
            self._stop.wait(max(0.0, gap - (time.monotonic() - t0)))


def held_out_rows(csv: Path, n: int = 1500, seed: int = 7) -> list[int]:
    """``n`` ordinary applications to hold out of v1's data: no missing value, no column's largest value and no
    rare category (< 30 rows), so that v1's inferred schema still accepts all the data v2 trains on."""
    import numpy as np
    import pandas as pd

    df = pd.read_csv(csv)
    ok = df.notna().all(axis=1)
    for col in df.columns:
        if pd.api.types.is_numeric_dtype(df[col]):
            ok &= df[col] < df[col].max()
        else:
            counts = df[col].map(df[col].value_counts())
            ok &= counts >= 30
    candidates = np.flatnonzero(ok.to_numpy())
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(candidates, size=min(n, len(candidates)), replace=False))


def held_out(csv: Path, index: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """The held-out applications (never trained on by v1), as request rows and their labels."""
    import pandas as pd

    df = pd.read_csv(csv).iloc[index]
    labels = df.pop("Status").astype(str).tolist()
    rows = json.loads(df[list(FEATURES)].to_json(orient="records"))
    return rows, labels
