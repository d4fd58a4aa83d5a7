"""Gateway memory (issue 18): what each of the gateway's processes loads.

`shipyard serve` runs as a real subprocess (as the serving benchmark runs it). Which libraries a process
imported is read from outside, off ``/proc/<pid>/maps``: importing pandas, pyarrow, scipy or scikit-learn
maps their compiled extension modules, so a library that is not mapped was not imported. No timing.

The model process keeps pandas and pyarrow out when its model takes NumPy arrays (scikit-learn only
probes for them at import); the gateway process keeps pandas out of the prediction log's pyarrow and
never imports scikit-learn or scipy. A model that does need a DataFrame (a Pipeline selecting columns by
name) still gets one: ``footprint.preload`` only holds the probes off while the flavor's libraries import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.builders import approve, free_port, interrupt, make_skops_model, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/<pid>/maps")]

CLI = [sys.executable, "-m", "shipyard.cli.main"]
LIBS = ("pandas", "pyarrow", "scipy", "sklearn")


def mapped_libraries(pid: int) -> set[str]:
    """The LIBS whose files the process has mapped (their compiled extensions, once imported)."""
    text = Path(f"/proc/{pid}/maps").read_text()
    return {lib for lib in LIBS if f"/site-packages/{lib}/" in text or f"/site-packages/{lib}.libs/" in text}


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in os.listdir(f"/proc/{p}/task"):
            try:
                kids = [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("footprint")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    ws.models.register("m", make_skops_model(root / "m.skops"), "sklearn")
    approve(ws, "m:1")
    ws.endpoints.deploy("m:1", "ep")
    ws.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PROMETHEUS_"))}
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=root / "ws",
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, f"{url}/v2/models/ep/ready")
        idle = mapped_libraries(proc.pid)  # ready, not one prediction served yet
        with httpx.Client(base_url=url, timeout=10) as c:
            # > 256 records of one version: the prediction log turns them into an Arrow table on the gateway's
            # loop right away (pyarrow's first conversion is where pandas would be imported)
            for i in range(150):
                r = c.post("/v1/endpoints/ep/predict", json={"instances": [{f"f{j}": 0.1 * i + j for j in range(4)}]})
                assert r.status_code == 200, r.text
                body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.5, i, 1.0, -1.0]}]}
                r = c.post("/v2/models/ep/infer", json=body)
                assert r.status_code == 200, r.text
            # ... and written to the store: the flush builds and encodes Parquet, which probes for pandas too
            deadline = time.monotonic() + 60
            while 'outcome="written"' not in c.get("/metrics").text:
                assert time.monotonic() < deadline, "the prediction log was not flushed within 60 s"
                time.sleep(0.2)
        yield {"proc": proc, "idle": idle}
    finally:
        interrupt(proc)


def test_an_idle_gateway_process_has_not_imported_pyarrow_either(served: dict[str, Any]) -> None:
    """pyarrow (~60 MB) comes with the first logged prediction, off the event loop (issue 18)."""
    assert not served["idle"] & {"pyarrow", "pandas", "sklearn", "scipy"}, served["idle"]


def test_gateway_process_imports_neither_pandas_nor_scikit_learn(served: dict[str, Any]) -> None:
    libs = mapped_libraries(served["proc"].pid)
    assert "pyarrow" in libs  # the prediction log is live: it converted the records sent above
    assert not libs & {"pandas", "sklearn", "scipy"}, libs


def test_model_process_keeps_pandas_and_pyarrow_out_for_an_array_model(served: dict[str, Any]) -> None:
    kids = {pid: mapped_libraries(pid) for pid in descendants(served["proc"].pid)}
    model = [pid for pid, libs in kids.items() if "sklearn" in libs]
    assert len(model) == 1, kids  # one model process; it has loaded scikit-learn
    assert not kids[model[0]] & {"pandas", "pyarrow"}, kids[model[0]]


def test_a_gateway_serving_no_scikit_learn_model_carries_none(tmp_path: Path) -> None:
    """`shipyard serve` starts its model process importing scikit-learn before it knows what it serves
    (issue 19's cold start); with no endpoint to serve, that child is replaced before the gateway is ready."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    Workspace.init(tmp_path / "ws", settings=Settings(actor="alice")).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PROMETHEUS_"))}
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=tmp_path / "ws",
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/v2/health/ready")
        kids = {pid: mapped_libraries(pid) for pid in descendants(proc.pid)}
        assert len(kids) == 1, kids  # one model process: the speculating one is gone
        assert not set().union(*kids.values(), mapped_libraries(proc.pid)) & {"sklearn", "scipy", "pandas"}, kids
    finally:
        interrupt(proc)


PIPELINE_CHILD = textwrap.dedent("""
    import json, sys
    from shipyard.serving import footprint
    from shipyard.serving.runtime import load_model
    from shipyard.serving.signature import Rows
    import numpy as np

    footprint.preload("sklearn")
    after_preload = sorted(m for m in footprint.SKLEARN_PROBES if m in sys.modules)
    sig = json.loads(sys.argv[2])
    predict, classes, _ = load_model("sklearn", open(sys.argv[1], "rb").read(), sig)
    out = predict(Rows(2, matrix=np.array([[0.5, 1.0, -1.0, 2.0], [-2.0, 0.0, 1.0, 0.0]])))
    print(json.dumps({"after_preload": after_preload, "pandas_after_predict": "pandas" in sys.modules,
                      "proba": out["predict_proba"].tolist()}))
""")


def _run_child(path: Path, sig: dict[str, Any]) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-c", PIPELINE_CHILD, str(path), json.dumps(sig)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_pipeline_that_needs_a_dataframe_still_gets_one(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cols = [f"f{i}" for i in range(4)]
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=cols)
    y = (X["f1"] > 0).astype(int)
    model = Pipeline([("cols", ColumnTransformer([("s", StandardScaler(), ["f1", "f3"])])),
                      ("lr", LogisticRegression())]).fit(X, y)
    sio.dump(model, tmp_path / "p.skops")
    sig = {"inputs": [{"name": c, "type": "float"} for c in cols]}
    got = _run_child(tmp_path / "p.skops", sig)
    assert got["after_preload"] == []  # scikit-learn and skops imported without their optional probes
    assert got["pandas_after_predict"] is True  # the Pipeline selects columns by name: it got a DataFrame
    rows = pd.DataFrame([[0.5, 1.0, -1.0, 2.0], [-2.0, 0.0, 1.0, 0.0]], columns=cols)
    assert np.allclose(got["proba"], model.predict_proba(rows))


def test_an_array_model_predicts_without_pandas(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import skops.io as sio

    path = make_skops_model(tmp_path / "m.skops")
    sig = {"inputs": [{"name": f"f{i}", "type": "float"} for i in range(4)]}
    got = _run_child(path, sig)
    assert got["after_preload"] == [] and got["pandas_after_predict"] is False
    model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    X = pd.DataFrame([[0.5, 1.0, -1.0, 2.0], [-2.0, 0.0, 1.0, 0.0]], columns=[f"f{i}" for i in range(4)])
    assert np.allclose(got["proba"], model.predict_proba(X))


def test_kept_out_is_scoped() -> None:
    code = textwrap.dedent("""
        import sys
        from shipyard.serving.footprint import kept_out
        with kept_out("pandas", "os") as held:
            try:
                import pandas
                print("imported")
            except ModuleNotFoundError as exc:
                print("kept out:", exc.name)
        import pandas  # afterwards, an explicit import works as usual
        print(sorted(held), "pandas" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # os was imported before the block: never held
    assert r.stdout.split("\n")[:2] == ["kept out: pandas", "['pandas'] True"], r.stdout
