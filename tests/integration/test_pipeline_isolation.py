"""`pipeline.isolation: subprocess` on the embedded store (SQLite file and `.shipyard/evidence.key` inside the
workspace): the train step runs in a sandboxed child and fits the very model an in-process run does;
the child cannot read the store's files or its parent's environment, nor write outside its private folder
(where the kernel offers Landlock); a hung train function is stopped at `sandbox.train_timeout_s`; failures
read as they do in-process; and a retrain's dataset is the newest version that passes validation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.config import Settings
from shipyard.errors import CheckFailedError, InvalidInputError
from shipyard.flavors import factory
from shipyard.flavors.confine import landlock_abi
from shipyard.pipeline.errors import TrainFunctionError
from shipyard.pipeline.examples import write_example
from shipyard.pipeline.runner import run_pipeline, run_result_of
from shipyard.pipeline.runs import RunLog
from shipyard.pipeline.steps.validate import newest_valid
from shipyard.workspace import Workspace

pytestmark = pytest.mark.slow

# the wine example's train function, with a few behaviours picked by params.mode
TRAIN = '''
import json
import os
import time
from pathlib import Path

from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


def _write(path):
    try:
        with open(path, "a") as f:
            f.write("# planted\\n")
        return "written"
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


def train(X, y, params):
    mode = params.get("mode")
    if mode == "spy":  # report through stdout, which goes to the step log
        print("SPY " + json.dumps({"pid": os.getpid(), "env": dict(os.environ),
                                   "key": _read(".shipyard/evidence.key"), "db": _read(".shipyard/shipyard.db")[:64],
                                   "parent": _read(f"/proc/{os.getppid()}/environ"),
                                   "plant": _write("shipyard.yaml"), "home": os.environ.get("HOME")}))
    elif mode == "hang":
        Path(params["pidfile"]).write_text(str(os.getpid()))
        time.sleep(600)
    elif mode == "raise":
        raise ValueError("bad params")
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                     ("logreg", LogisticRegression(max_iter=1000))]).fit(X, y)
'''


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wine workspace on the embedded store, with one in-process run (wine@1 validated, version 1)."""
    root = tmp_path_factory.mktemp("iso") / "ws"
    Workspace.init(root, settings=Settings(actor="alice")).close()
    write_example(root, "wine")
    (root / "pipeline" / "train.py").write_text(TRAIN)
    with open_ws(root) as ws:
        first = run_pipeline(ws, isolation="none")
        assert first.status == "succeeded" and first.version == 1, first.error
    return root


class open_ws:  # noqa: N801 - a context manager named for what it opens
    def __init__(self, root: Path, params: dict[str, Any] | None = None, sandbox: str = "") -> None:
        text = (root / "shipyard.yaml").read_text()
        text = re.sub(r"params: .*\n", f"params: {json.dumps(params or {})}\n", text)
        text = re.sub(r"\nsandbox: .*\n", "\n", text) + (f"sandbox: {sandbox}\n" if sandbox else "")
        (root / "shipyard.yaml").write_text(text)
        self.ws = Workspace.open(root, settings=Settings(actor="alice"))

    def __enter__(self) -> Workspace:
        return self.ws

    def __exit__(self, *exc: object) -> None:
        self.ws.close()


def train_log(ws: Workspace, run_id: str) -> str:
    return next(s.log for s in RunLog(ws.db, ws.actor, ws.clock).get(run_id).steps if s.name == "train")


def test_the_isolated_train_step_fits_the_same_model_as_an_in_process_run(root: Path) -> None:
    with open_ws(root) as ws:
        inproc = ws.models.get_version("wine-cultivar:1")
        again = run_pipeline(ws, isolation="subprocess", force=True)
        assert again.status == "succeeded", again.error
        # skops files are not byte-stable (member names and times); the fitted models must be the same
        a, b = (factory.create("sklearn").load(ws.models.load_artifact(ref))
                for ref in (inproc.ref, f"wine-cultivar:{again.version}"))
        for step in ("impute", "scale", "logreg"):
            for attr in ("statistics_", "mean_", "scale_", "coef_", "intercept_"):
                if hasattr(a.named_steps[step], attr):
                    x, y = getattr(a.named_steps[step], attr), getattr(b.named_steps[step], attr)
                    # equal to the last bits or two: BLAS's reductions in lbfgs need not round alike in two
                    # processes (6.7e-16 apart on an AVX-512 host); a different fit is off by far more
                    assert np.allclose(x, y, rtol=1e-12, atol=1e-14), (step, attr, float(np.max(np.abs(x - y))))
        assert list(a.feature_names_in_) == list(b.feature_names_in_)
        log = train_log(ws, again.run_id)
        assert "user code in a sandboxed child" in log and "trained sklearn.pipeline.Pipeline on 124 rows" in log
        hit = run_pipeline(ws, isolation="subprocess")  # nothing changed: every step a cache hit, no child
        assert hit.executed == [] and hit.version == inproc.version  # the first entry for these inputs


def test_the_sandboxed_train_step_cannot_reach_the_store_or_its_parent(root: Path) -> None:
    key = (root / ".shipyard" / "evidence.key").read_text().strip()
    with open_ws(root, {"mode": "spy"}) as ws:
        result = run_pipeline(ws, isolation="subprocess")
        assert result.status == "succeeded", result.error
        log = train_log(ws, result.run_id)
    spy = json.loads(log.split("SPY ", 1)[1].splitlines()[0])
    assert key not in log and spy["pid"] != os.getpid()
    assert not [k for k in spy["env"] if k.startswith("SHIPYARD_")]
    assert spy["parent"].startswith("refused")  # this process is non-dumpable; the child holds no capability
    assert spy["home"] and spy["home"] != os.environ.get("HOME")  # HOME is the private folder
    if landlock_abi() < 1:
        pytest.skip("the kernel offers no Landlock: file confinement not applied (documented), the rest holds")
    assert spy["key"].startswith("refused") and spy["db"].startswith("refused"), spy
    assert spy["plant"].startswith("refused") and "# planted" not in (root / "shipyard.yaml").read_text()
    assert "sandbox landlock ABI" in log and "capabilities" in log


def test_a_hung_train_function_is_stopped_at_the_time_out(root: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "train.pid"
    with open_ws(root, {"mode": "hang", "pidfile": str(pidfile)},
                 f"{{train_timeout_s: 10, train_writable: [{tmp_path}]}}") as ws:
        with pytest.raises(TrainFunctionError) as info:
            run_pipeline(ws, isolation="subprocess")
        assert "10 s (sandbox.train_timeout_s)" in str(info.value) and info.value.field == "pipeline.train"
        failed = run_result_of(info.value)
        assert failed is not None and failed.status == "failed" and failed.exit_code == 2
        assert RunLog(ws.db, ws.actor, ws.clock).get(failed.run_id).status == "failed"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)  # the child (its whole session) was killed


def test_failures_read_as_in_process_and_bad_settings_name_their_key(root: Path) -> None:
    with open_ws(root, {"mode": "raise"}) as ws:
        errors = []
        for isolation in ("none", "subprocess"):
            with pytest.raises(TrainFunctionError) as info:
                run_pipeline(ws, isolation=isolation)
            errors.append((str(info.value), info.value.field))
            assert "ValueError: bad params" in train_log(ws, run_result_of(info.value).run_id)  # type: ignore[union-attr]
        assert errors[0] == errors[1] == ("pipeline.train: train.py:train raised ValueError: bad params",
                                          "pipeline.train")
        with pytest.raises(InvalidInputError) as bad:
            run_pipeline(ws, isolation="container")
        assert bad.value.field == "pipeline.isolation"
    with open_ws(root, {"mode": "raise"}, "{train_writable: [.shipyard/cache]}") as ws:
        with pytest.raises(InvalidInputError) as overlap:
            run_pipeline(ws, isolation="subprocess")
        assert overlap.value.field == "sandbox.train_writable[0]"


def test_a_retrain_takes_the_newest_dataset_version_that_passes_validation(root: Path, tmp_path: Path) -> None:
    lines = (root / "data" / "wine.csv").read_text().splitlines()
    validation = {"drift": {"alpha": 0.05}, "fail_on_drift": False}

    def add(name: str, rows: list[str]) -> Any:
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join([lines[0], *rows]) + "\n")
        return ws.datasets.add(path, name="wine")

    with open_ws(root) as ws:
        assert newest_valid(ws.db, ws.datasets, "wine", "cultivar", validation) == (ws.datasets.show("wine@1"), [])
        scaled = add("scaled", [",".join([str(float(r.split(",")[0]) * 100), *r.split(",")[1:]]) for r in lines[1:]])
        dv, skipped = newest_valid(ws.db, ws.datasets, "wine", "cultivar", validation)
        assert dv.ref == "wine@1" and [s["ref"] for s in skipped] == [scaled.ref]
        assert "alcohol: range" in skipped[0]["reason"] and "against wine@1" in skipped[0]["reason"]
        more = add("more", lines[1:] + lines[1:30])
        no_target = tmp_path / "nolabel.csv"
        no_target.write_text("\n".join(r.rsplit(",", 1)[0] for r in lines) + "\n")
        unlabelled = ws.datasets.add(no_target, name="wine")
        dv, skipped = newest_valid(ws.db, ws.datasets, "wine", "cultivar", validation)
        assert dv.ref == more.ref and [s["ref"] for s in skipped] == [unlabelled.ref]
        assert "no target column cultivar" in skipped[0]["reason"]
        ws.datasets.add(tmp_path / "scaled.csv", name="other")
        ws.datasets.add(tmp_path / "more.csv", name="other")  # fails against other@1, the only earlier version
        with pytest.raises(CheckFailedError) as none:
            newest_valid(ws.db, ws.datasets, "other", "cultivar", validation, limit=1)
        assert none.value.field == "dataset" and "other@2: 1 schema violation(s) against other@1" in str(none.value)
