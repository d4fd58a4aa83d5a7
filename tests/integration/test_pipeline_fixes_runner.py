"""The runner in-process on the regression example: failures carry the recorded run; a second run in one
process imports today's helper module, not the copy the first run loaded."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidInputError
from shipyard.pipeline.runner import run_pipeline, run_result_of
from shipyard.pipeline.runs import RunLog
from shipyard.workspace import Workspace


def _reopen(ws: Workspace) -> Workspace:
    return Workspace.open(ws.root, settings=ws.settings)


def _fast(ws: Workspace) -> Workspace:
    """No bootstrap, no robustness: the behaviour under test is the runner's, not the evaluation's."""
    cfg = ws.root / "shipyard.yaml"
    text = cfg.read_text().replace("bootstrap: 200", "bootstrap: 0")
    cfg.write_text(text.replace("robustness: {missing_rate: 0.1, noise: 0.05, swap_rate: 0.0}", "robustness: null"))
    return _reopen(ws)


def test_an_input_error_after_the_run_started_carries_the_failed_run(example_ws) -> None:  # type: ignore[no-untyped-def]
    ws = example_ws("regression")
    cfg = ws.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("slices: [sex]", "slices: [sx]"))
    ws = _reopen(ws)
    try:
        with pytest.raises(InvalidInputError, match=r"evaluation.slices\[0\]") as err:
            run_pipeline(ws)
        res = run_result_of(err.value)
        assert res is not None and res.status == "failed" and res.exit_code == 2
        d = res.to_dict()
        assert d["exit_code"] == 2 and d["failure"]["field"] == "evaluation.slices[0]"
        assert "did you mean 'sex'" in d["error"] and d["executed"] == ["validate"]
        assert RunLog(ws.db, ws.actor, ws.clock).get(res.run_id).status == "failed"
    finally:
        ws.close()


def test_a_second_run_in_one_process_trains_with_the_changed_helper(example_ws) -> None:  # type: ignore[no-untyped-def]
    ws = _fast(example_ws("regression"))
    (ws.root / "pipeline/helpers.py").write_text("ALPHA = 1.0\n")
    train = ws.root / "pipeline/train.py"
    text = train.read_text()
    text = text.replace("from sklearn.preprocessing import OneHotEncoder, StandardScaler\n",
                        "from sklearn.preprocessing import OneHotEncoder, StandardScaler\n\nimport helpers\n")
    train.write_text(text.replace('Ridge(alpha=float(params.get("alpha", 1.0)))', "Ridge(alpha=helpers.ALPHA)"))
    first = run_pipeline(ws)
    assert "train" in first.executed
    (ws.root / "pipeline/helpers.py").write_text("ALPHA = 50.0\n")
    second = run_pipeline(ws)
    assert "train" in second.executed and second.version == 2
    a = ws.models.get_version("diabetes-progression:1")
    b = ws.models.get_version("diabetes-progression:2")
    assert a.artifact_digest != b.artifact_digest  # alpha 50 was used, not the module cached in sys.modules
    ma, mb = a.provenance["code"]["modules"], b.provenance["code"]["modules"]
    assert list(mb) == ["pipeline/helpers.py"] and ma["pipeline/helpers.py"] != mb["pipeline/helpers.py"]
    try:
        assert run_pipeline(ws).executed == []
    finally:
        ws.close()


def test_a_helper_imported_inside_the_train_function_is_found_and_keyed(example_ws) -> None:  # type: ignore[no-untyped-def]
    import sys

    ws = _fast(example_ws("regression"))
    (ws.root / "pipeline/lazyhelp.py").write_text("ALPHA = 2.0\n")
    train = ws.root / "pipeline/train.py"
    text = train.read_text()
    train.write_text(text.replace('Ridge(alpha=float(params.get("alpha", 1.0)))',
                                  '(__import__("importlib").import_module("lazyhelp") and '
                                  'Ridge(alpha=__import__("lazyhelp").ALPHA))'))
    path_before = list(sys.path)
    try:
        first = run_pipeline(ws)  # the import runs when train() is called, after the module was loaded
        assert "train" in first.executed and first.version == 1
        assert list(ws.models.get_version("diabetes-progression:1").provenance["code"]["modules"]) == [
            "pipeline/lazyhelp.py"]
        assert sys.path == path_before  # the folder is on sys.path only while train runs
        (ws.root / "pipeline/lazyhelp.py").write_text("ALPHA = 40.0\n")
        assert "train" in run_pipeline(ws).executed  # and a change to it retrains
    finally:
        ws.close()
