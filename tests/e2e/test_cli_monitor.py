"""`shipyard monitor drift REF CUR`: files or dataset versions, JSON, HTML, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.monitoring.synthetic import DRIFTED, scenario


def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_monitor_drift_on_files_and_dataset_versions(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref = _write(tmp_path, "ref.parquet", scenario(5000, 1, drift=False))
    cur = _write(tmp_path, "cur.parquet", scenario(5000, 2, drift=True))
    same = _write(tmp_path, "same.parquet", scenario(5000, 3, drift=False))
    r = cli("monitor", "drift", str(ref), str(cur), "--json")
    assert r.returncode == 1, r.stderr  # drift found
    report = json.loads(r.stdout)
    assert sorted(report["drifted"]) == sorted(DRIFTED) and report["share_drifted"] == 0.25
    column = report["columns"]["num_shift"]
    assert {"drifted", "method", "score", "p_value", "severity"} <= set(column)
    assert column["drifted"] is True and column["method"] == "wasserstein" and column["p_value"] < 1e-6
    assert report["columns"]["uniform"]["severity"] == "none"
    r = cli("monitor", "drift", str(ref), str(same))
    assert r.returncode == 0 and "no column drifted" in r.stdout, r.stdout
    assert cli("monitor", "drift", str(ref), str(cur), "--report-only").returncode == 0
    r = cli("monitor", "drift", str(ref), str(cur), "--method", "num_shift=ks", "--json")
    assert json.loads(r.stdout)["columns"]["num_shift"]["method"] == "ks"

    # a dataset version as the reference: its stored profile, the same verdict
    cli("init")
    assert cli("data", "add", str(ref), "--name", "traffic").returncode == 0
    r = cli("monitor", "drift", "traffic@1", str(cur), "--json")
    assert r.returncode == 1 and sorted(json.loads(r.stdout)["drifted"]) == sorted(DRIFTED), r.stderr

    # input errors exit 2 and name the field
    r = cli("monitor", "drift", str(tmp_path / "missing.csv"), str(cur))
    assert r.returncode == 2 and "missing.csv" in r.stderr and "Traceback" not in r.stderr
    r = cli("monitor", "drift", str(ref), str(cur), "--method", "cat_flat=wasserstein")
    assert r.returncode == 2 and "method for cat_flat" in r.stderr
    r = cli("monitor", "drift", str(ref), str(cur), "--method", "nonsense")
    assert r.returncode == 2 and "--method" in r.stderr
    r = cli("monitor", "drift", "nope@1", str(cur))
    assert r.returncode == 2 and "nope" in r.stderr


def test_html_report_is_self_contained_and_escapes_names(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = scenario(3000, 4, drift=False).select(["num_shift", "cat_flat"])
    moved = scenario(3000, 5, drift=True).select(["num_shift", "cat_flat"])
    evil = "<script>alert(1)</script>"
    ref = _write(tmp_path, "ref.parquet", base.rename_columns([evil, "cat_flat"]))
    cur = _write(tmp_path, "cur.parquet", moved.rename_columns([evil, "cat_flat"]))
    html = tmp_path / "drift.html"
    r = cli("monitor", "drift", str(ref), str(cur), "--html", str(html), "--classifier")
    assert r.returncode == 1, r.stderr
    text = html.read_text()
    assert text.count("data:image/png;base64,") == 2 and "<script>" not in text and "&lt;script&gt;" in text
    assert "Domain classifier: AUC" in text and "src=\"http" not in text
