"""What a worker does with a step task (``executors/remote.run_task``), in this process, no cluster: it reads the
validated bytes from the artifact store when the training file is not at its path, refuses a train file that
is missing or differs, and answers JSON that the control plane turns back into the step's error
(``tests/unit/test_executor_errors.py``: which classes are rebuilt)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import InvalidInputError
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.executors.remote import StepTask, make_task, rebuild, run_task
from shipyard.pipeline.runner import file_digest, run_pipeline
from shipyard.pipeline.spec import resolve
from shipyard.pipeline.steps.split import SplitStep
from shipyard.pipeline.steps.train import TrainStep
from shipyard.workspace import Workspace

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def ws(example_ws) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    yield example_ws("regression")


def _task(ws: Workspace, step: object, outputs: dict[str, dict[str, object]]) -> StepTask:
    spec = resolve(ws.root, ws.config)
    ctx = RunContext(ws=ws, spec=spec, run_id="r1", data_digest=file_digest(spec.data_path),
                     train_digest=file_digest(spec.train_file), outputs=dict(outputs))  # type: ignore[arg-type]
    return make_task(step, ctx, "dask")  # type: ignore[arg-type]


def test_without_the_data_file_the_worker_reads_the_validated_bytes_from_the_store(ws: Workspace) -> None:
    local = run_pipeline(ws, executor="local")
    outputs = {s.name: s.outputs or {} for s in local.steps}
    task = _task(ws, SplitStep(), {"validate": outputs["validate"]})
    (ws.root / "data/diabetes.csv").rename(ws.root / "elsewhere.csv")  # not on this "worker"
    copies = set(Path(tempfile.gettempdir()).glob("shipyard-data-*"))
    doc = json.loads(run_task(task))
    assert doc["error"] is None and doc["outputs"] == outputs["split"]
    assert "ran on the dask worker" in doc["log"]
    assert set(Path(tempfile.gettempdir()).glob("shipyard-data-*")) <= copies  # the step's copy is removed


def test_a_worker_without_the_data_anywhere_names_data_train(ws: Workspace, tmp_path: Path) -> None:
    task = _task(ws, SplitStep(), {})  # nothing validated: the store does not have the bytes either
    (ws.root / "data/diabetes.csv").rename(ws.root / "elsewhere.csv")
    err = rebuild(json.loads(run_task(task))["error"])
    assert isinstance(err, InvalidInputError) and err.field == "data.train"
    assert "neither at" in str(err) and "nor in the artifact store" in str(err)


@pytest.mark.parametrize("change", ["missing", "edited"])
def test_the_train_file_must_be_the_runs_on_the_worker(ws: Workspace, change: str) -> None:
    local = run_pipeline(ws, executor="local")
    outputs = {s.name: s.outputs or {} for s in local.steps}
    task = _task(ws, TrainStep(), {"validate": outputs["validate"], "split": outputs["split"]})
    train = ws.root / "pipeline/train.py"
    if change == "missing":
        train.unlink()
    else:
        train.write_text(train.read_text() + "\n# edited after the run started\n")
    err = rebuild(json.loads(run_task(task))["error"])
    assert isinstance(err, InvalidInputError) and err.field == "pipeline.train"
    assert ("is not there" if change == "missing" else "differs") in str(err)
    assert "same path on every worker" in str(err)


def test_the_task_carries_no_store_url_and_no_webhook(ws: Workspace) -> None:
    cfg = ws.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text() + "store: {db_url: 'postgresql://shipyard:s3cret@db/prod'}\n"
                   "deploy: {endpoint: diabetes, webhooks: ['https://hooks.slack.com/services/T0/B0/s3cret']}\n")
    opened = Workspace.open(ws.root, settings=ws.settings)
    try:
        task = _task(opened, SplitStep(), {})
    finally:
        opened.close()
    assert "s3cret" not in repr(task) and task.spec.config.store.db_url is None and task.spec.config.deploy is None
    assert task.spec.config.evaluation == opened.config.evaluation and task.spec.gates == opened.config.gates
