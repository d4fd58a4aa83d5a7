"""`shipyard run --dataset NAME@VERSION`: the pipeline trains on a stored dataset version (what a monitor's
retrain runs), and lineage names that version; an unknown version is a named error."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from shipyard.cli.main import app as cli
from shipyard.errors import NotFoundError
from shipyard.pipeline.examples import write_example
from shipyard.workspace import Workspace


def test_run_on_a_stored_dataset_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "ws"
    Workspace.init(root).close()
    write_example(root, "wine")
    lines = (root / "data" / "wine.csv").read_text().splitlines()
    more = tmp_path / "more.csv"
    more.write_text("\n".join(lines + lines[1:30]) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["-C", str(root), "data", "add", str(root / "data" / "wine.csv"), "--name", "wine"]
                         ).exit_code == 0
    assert runner.invoke(cli, ["-C", str(root), "data", "add", str(more), "--name", "wine"]).exit_code == 0
    res = runner.invoke(cli, ["-C", str(root), "run", "--dataset", "wine:2", "--json"])
    assert res.exit_code in (0, 1), res.output
    out = json.loads(res.stdout)
    with Workspace.open(root) as ws:
        mv = ws.models.get_version(f"wine-cultivar:{out['version']}")
        assert [link["ref"] for link in mv.lineage if link.get("kind") == "dataset"] == ["wine@2"]
    bad = runner.invoke(cli, ["-C", str(root), "run", "--dataset", "wine@9"])
    assert isinstance(bad.exception, NotFoundError) and "1..2" in str(bad.exception)  # the CLI's exit 2
