"""The pipeline runner in-process on SQLite and PostgreSQL: run records, step cache, audit, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from shipyard.config import Settings
from shipyard.governance.audit import iter_events, verify_chain
from shipyard.pipeline.runner import run_pipeline
from shipyard.pipeline.runs import RunLog
from shipyard.store.sql import tables as t
from shipyard.workspace import Workspace

STEPS = ["validate", "split", "train", "evaluate", "gate", "register"]


@pytest.fixture
def regression_ws(example_ws) -> Workspace:  # type: ignore[no-untyped-def]
    return example_ws("regression")  # type: ignore[no-any-return]


def test_run_then_rerun_records_steps_and_hits_cache(regression_ws: Workspace) -> None:
    ws = regression_ws
    events: list[tuple[str, str]] = []
    first = run_pipeline(ws, on_event=lambda kind, name, rec: events.append((kind, name)))
    assert first.status == "succeeded" and first.exit_code == 0
    assert first.executed == STEPS and first.version == 1 and first.stage == "validated"
    ev = ws.models.get_version("diabetes-progression:1").evidence  # gates this run evaluated, sealed (issue 18)
    assert ev["source"] == "pipeline-run" and ev["run_id"] == first.run_id and ev["verified"] is True
    assert ev["gates_passed"] is True and ev["dataset"]["ref"].endswith("@1")
    assert [n for k, n in events if k == "done"] == STEPS
    second = run_pipeline(ws)
    assert second.executed == [] and second.cached == STEPS and second.version == 1
    with ws.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.step_cache)).scalar() == 6
        statuses = dict(conn.execute(select(t.runs.c.id, t.runs.c.status)).all())
    assert statuses == {first.run_id: "succeeded", second.run_id: "succeeded"}
    rec = RunLog(ws.db, ws.actor, ws.clock).get(second.run_id)
    assert [s.name for s in rec.steps] == STEPS and all(s.cached for s in rec.steps)
    assert rec.steps[-1].outputs["version"] == 1
    first_rec = RunLog(ws.db, ws.actor, ws.clock).get(first.run_id)
    assert "registered diabetes-progression:1" in first_rec.steps[-1].log
    assert "dataset diabetes@1" in first_rec.steps[0].log
    with ws.db.read() as conn:
        events = list(iter_events(conn))
    actions = [e.action for e in events]
    assert actions.count("pipeline.run.start") == 2 and actions.count("pipeline.run.finish") == 2
    assert "model.register" in actions and "dataset.add" in actions
    assert verify_chain(events).ok
    mv = ws.models.get_version("diabetes-progression:1")
    assert mv.provenance["run_id"] == first.run_id and mv.created_by == "alice"
    assert mv.evaluation["metrics"]["r2"] > 0.3
    assert Path(first.report_dir, "report.html").is_file()


def test_param_change_reruns_train_and_later(regression_ws: Workspace) -> None:
    run_pipeline(regression_ws)
    cfg = regression_ws.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("alpha: 1.0", "alpha: 3.0"))
    ws = Workspace.open(regression_ws.root, settings=regression_ws.settings)
    try:
        res = run_pipeline(ws)
        assert res.cached == ["validate", "split"] and res.executed == ["train", "evaluate", "gate", "register"]
        assert ws.models.get_version("diabetes-progression:2").provenance["params"] == {"alpha": 3.0}
    finally:
        ws.close()


def test_train_function_error_is_input_error_and_run_recorded_failed(regression_ws: Workspace) -> None:
    from shipyard.pipeline.errors import TrainFunctionError

    (regression_ws.root / "pipeline/train.py").write_text("def train(X, y, params):\n    raise RuntimeError('boom')\n")
    with pytest.raises(TrainFunctionError, match="boom"):
        run_pipeline(regression_ws)
    with regression_ws.db.read() as conn:
        run = conn.execute(select(t.runs)).one()
        steps = conn.execute(select(t.run_steps.c.name, t.run_steps.c.status, t.run_steps.c.log)
                             .order_by(t.run_steps.c.id)).all()
    assert run.status == "failed" and "boom" in run.result["error"]
    assert [(s.name, s.status) for s in steps][-1] == ("train", "failed")
    assert "RuntimeError: boom" in steps[-1].log  # the user's traceback is kept in the step log


def test_viewer_cannot_run(regression_ws: Workspace) -> None:
    from shipyard.core.permissions import Principal, Role
    from shipyard.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        run_pipeline(regression_ws.as_principal(Principal("vic", Role.VIEWER)))


def test_missing_pipeline_section_names_the_key(tmp_path: Path) -> None:
    from shipyard.errors import InvalidInputError

    ws = Workspace.init(tmp_path / "empty", settings=Settings(actor="alice"))
    try:
        with pytest.raises(InvalidInputError) as info:
            run_pipeline(ws)
        assert info.value.field == "data"
    finally:
        ws.close()
