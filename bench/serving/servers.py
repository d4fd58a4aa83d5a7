"""How to prepare, start and call each server in the serving benchmark.

A `Server` knows its venv, how to turn the shared model into what it loads (`prepare`), the
command that serves it, the URL that says it is ready, and how to encode N rows as a request.
`prepare` raises `Unavailable(reason)` when the server cannot run here; run.py records the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEERS = ROOT / "bench" / ".peers"
WORK = PEERS / "work"
PROJECT_VENV = ROOT / ".venv"

# Peers get one OpenMP/BLAS thread: scikit-learn's default OpenMP threads stall single-row
# predictions (DESIGN.md, "Facts from the anchors"). shipyard gets no such help.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The model is fitted on named columns; peers fed a bare array would print scikit-learn's
# "X does not have valid feature names" warning on every request (their logging resets the
# warning registry), which costs them a stderr write per request. Silence it for them.
QUIET = {"PYTHONWARNINGS": "ignore"}


def peer_env(venv: Path) -> dict[str, str]:
    """Environment of a peer server: its venv first on PATH (MLflow execs `uvicorn` by name)."""
    return {
        **ONE_THREAD,
        **QUIET,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


class Unavailable(Exception):
    """The server cannot be benchmarked here; str(self) is the reason."""


def peer_status(name: str) -> Path:
    venv = PEERS / name
    if (venv / "FAILED").exists():
        raise Unavailable((venv / "FAILED").read_text().strip() or "install failed")
    if not (venv / "OK").exists():
        raise Unavailable(f"not set up: run bash bench/serving/setup_peers.sh {name}")
    return venv


def pip_version(python: Path, dist: str) -> str | None:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def oip_body(rows: list[list[float]], want_proba_output: bool = False) -> dict:
    flat = [v for row in rows for v in row]
    body: dict = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": flat}]}
    if want_proba_output:
        body["outputs"] = [{"name": "predict_proba"}]
    return body


@dataclass
class Server:
    name: str
    path: str = "/"
    health: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = WORK
    start_timeout: float = 120.0
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)

    def prepare(self, model_dir: Path, port: int) -> list[str]:
        raise NotImplementedError

    def body(self, rows: list[list[float]], columns: list[str]) -> bytes:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass


class MLflow(Server):
    def __init__(self) -> None:
        super().__init__("mlflow", path="/invocations", health="/ping")

    def prepare(self, model_dir: Path, port: int) -> list[str]:
        venv = peer_status("mlflow")
        self.env = peer_env(venv)
        self.versions = {
            "mlflow": pip_version(venv / "bin/python", "mlflow"),
            "scikit-learn": pip_version(venv / "bin/python", "scikit-learn"),
        }
        out = WORK / "mlflow_model"
        r = subprocess.run(
            [str(venv / "bin/python"), str(HERE / "mlflow_save.py"), str(model_dir), str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, **ONE_THREAD},
        )
        if r.returncode != 0:
            raise Unavailable("mlflow.sklearn.save_model failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        self.notes = [
            "mlflow models serve --env-manager local, default 1 uvicorn worker",
            "skops format with skops_trusted_types; pyfunc_predict_fn=predict_proba",
            "request: {dataframe_split: {columns, data}} to /invocations",
        ]
        return [
            str(venv / "bin/mlflow"),
            "models",
            "serve",
            "-m",
            str(out),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]

    def body(self, rows, columns):
        return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


class MLServer(Server):
    def __init__(self) -> None:
        super().__init__("mlserver", path="/v2/models/hgb/infer", health="/v2/models/hgb/ready")

    def prepare(self, model_dir: Path, port: int) -> list[str]:
        from procs import free_port

        venv = peer_status("mlserver")
        self.env = peer_env(venv)
        py = venv / "bin/python"
        self.versions = {
            "mlserver": pip_version(py, "mlserver"),
            "mlserver-sklearn": pip_version(py, "mlserver-sklearn"),
            "scikit-learn": pip_version(py, "scikit-learn"),
            "uvloop": pip_version(py, "uvloop"),
        }
        folder = WORK / "mlserver_model"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        shutil.copy(model_dir / "model.joblib", folder / "model.joblib")
        (folder / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": "hgb",
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib", "version": "v1"},
                },
                indent=2,
            )
        )
        # parallel_workers=0: inference in the server process (the faster setting for a model
        # this small; the default pool of 1 worker adds an IPC hop per request).
        (folder / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": port,
                    "grpc_port": free_port(),
                    "metrics_port": free_port(),
                    "parallel_workers": 0,
                    "debug": False,
                },
                indent=2,
            )
        )
        self.cwd = folder
        self.notes = [
            "mlserver start with parallel_workers=0 (in-process inference)",
            "V2 request with outputs=[predict_proba]",
        ]
        return [str(venv / "bin/mlserver"), "start", str(folder)]

    def body(self, rows, columns):
        return json.dumps(oip_body(rows, want_proba_output=True)).encode()


class BentoML(Server):
    def __init__(self) -> None:
        super().__init__("bentoml", path="/predict", health="/readyz")

    def prepare(self, model_dir: Path, port: int) -> list[str]:
        venv = peer_status("bentoml")
        self.env = peer_env(venv)
        py = venv / "bin/python"
        self.versions = {"bentoml": pip_version(py, "bentoml"), "scikit-learn": pip_version(py, "scikit-learn")}
        home = WORK / "bentoml_home"
        home.mkdir(parents=True, exist_ok=True)
        self.env.update(
            {
                "SHIPYARD_BENCH_MODEL": str(model_dir / "model.joblib"),
                "BENTOML_HOME": str(home),
                "BENTOML_DO_NOT_TRACK": "true",
                "SHIPYARD_BENCH_WORKERS": "1",
            }
        )
        self.cwd = HERE
        self.notes = [
            "bentoml serve, 1 worker, sync API (thread pool), no adaptive batching",
            "request: {data: [[...]]} to /predict",
        ]
        return [str(venv / "bin/bentoml"), "serve", "bentoml_service:HGB", "--host", "127.0.0.1", "--port", str(port)]

    def body(self, rows, columns):
        return json.dumps({"data": rows}).encode()


class Shipyard(Server):
    """The project's own gateway, driven only through its CLI (interface in bench/README.md)."""

    def __init__(self, workers: int | None = None, route: str = "v2") -> None:
        path = "/v2/models/hgb/infer" if route == "v2" else "/v1/endpoints/hgb/predict"
        super().__init__("shipyard" if route == "v2" else "shipyard-v1", path=path, health="/v2/models/hgb/ready")
        self.workers, self.route, self._tmp = workers, route, None

    def _cli(self, *args: str, actor: str | None = None) -> None:
        exe = PROJECT_VENV / "bin/shipyard"
        env = {**os.environ, "SHIPYARD_ACTOR": actor} if actor else None
        try:
            r = subprocess.run(
                [str(exe), *args], cwd=self.cwd, capture_output=True, text=True, timeout=180,
                stdin=subprocess.DEVNULL, env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unavailable(f"`shipyard {' '.join(args)}` could not run: {e}") from e
        if r.returncode != 0:
            msg = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
            raise Unavailable(f"`shipyard {' '.join(args)}` exited {r.returncode}: {msg[:200]}")

    def prepare(self, model_dir: Path, port: int) -> list[str]:
        exe = PROJECT_VENV / "bin/shipyard"
        if not exe.exists():
            raise Unavailable(f"{exe} not found (pip install -e . in the project venv)")
        self.versions = {
            "shipyard": pip_version(PROJECT_VENV / "bin/python", "shipyard"),
            "scikit-learn": pip_version(PROJECT_VENV / "bin/python", "scikit-learn"),
        }
        self._tmp = tempfile.mkdtemp(prefix="shipyard-bench-", dir=WORK)
        self.cwd = Path(self._tmp)
        shutil.copy(model_dir / "model.skops", self.cwd / "hgb.skops")
        self._cli("init")
        self._cli("models", "register", "hgb", "hgb.skops", "--flavor", "sklearn")
        # a deploy needs an approved version (approval.required: 1), by someone other than the author, and
        # approval needs gates shipyard evaluated itself (issue 18): evaluate on the held-out rows
        self._holdout(model_dir / "rows.json", self.cwd / "holdout.csv")
        with open(self.cwd / "shipyard.yaml", "a") as f:
            f.write("data:\n  train: holdout.csv\n  target: target\n")
        self._cli("data", "add", "holdout.csv", "--name", "holdout")
        self._cli("models", "evaluate", "hgb:1", "--dataset", "holdout:1")
        self._cli("approve", "hgb:1", "--reason", "benchmark model", actor="bench-approver")
        self._cli("deploy", "hgb:1", "--endpoint", "hgb")
        cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.notes = [
            f"shipyard serve{f' --workers {self.workers}' if self.workers else ''}; "
            "no OMP_NUM_THREADS set (the gateway must handle threads itself)",
            "request: OIP v2, one FP64 tensor [rows, 20]"
            if self.route == "v2"
            else "request: {instances: [{f0: ..., ...}]} to /v1/endpoints/hgb/predict",
        ]
        return cmd

    @staticmethod
    def _holdout(rows_json: Path, out: Path) -> None:
        """The benchmark's held-out rows with their labels as a CSV dataset (column ``target``)."""
        import csv

        data = json.loads(rows_json.read_text())
        with open(out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([*data["columns"], "target"])
            w.writerows([*row, label] for row, label in zip(data["rows"], data["labels"], strict=True))

    def body(self, rows, columns):
        if self.route == "v2":
            return json.dumps(oip_body(rows)).encode()
        return json.dumps({"instances": [dict(zip(columns, r, strict=True)) for r in rows]}).encode()

    def cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def all_servers(shipyard_workers: int | None) -> dict[str, Server]:
    return {
        "shipyard": Shipyard(shipyard_workers, "v2"),
        "shipyard-v1": Shipyard(shipyard_workers, "v1"),
        "mlflow": MLflow(),
        "mlserver": MLServer(),
        "bentoml": BentoML(),
    }


PEER_NAMES = ("mlflow", "mlserver", "bentoml")
