"""Dataset versions on SQLite and PostgreSQL, and a whole workspace on the S3 artifact backend."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from builders import make_skops_model
from shipyard.config import Settings
from shipyard.workspace import Workspace


def test_add_show_versions_diff(workspace: Workspace, credit_csv: Path, tmp_path: Path) -> None:
    v1 = workspace.datasets.add(credit_csv, "credit")
    assert (v1.version, v1.rows, v1.columns, v1.created) == (1, 4454, 14, True)
    again = workspace.datasets.add(credit_csv, "credit")
    assert (again.version, again.created, again.digest) == (1, False, v1.digest)
    df = pd.read_csv(credit_csv).sample(frac=1.0, random_state=1)
    shuffled = tmp_path / "shuffled.csv"
    df.to_csv(shuffled, index=False)
    v2 = workspace.datasets.add(shuffled, "credit")
    assert v2.version == 2 and v2.digest != v1.digest
    assert [v.version for v in workspace.datasets.versions("credit")] == [1, 2]
    assert workspace.datasets.show(f"credit@{v1.digest[:10]}").version == 1
    diff = workspace.datasets.diff("credit@1", "credit@2")
    assert all(c.change == "unchanged" for c in diff.columns)
    assert max(c.shift or 0 for c in diff.columns) < 0.01  # same rows, other order: no shift
    table = workspace.datasets.load_table("credit@1")
    assert table.num_rows == 4454


def test_a_header_only_file_is_refused_and_stores_nothing(workspace: Workspace, credit_csv: Path,
                                                          tmp_path: Path) -> None:
    from shipyard.data.errors import UnreadableDataError

    empty = tmp_path / "empty.csv"
    empty.write_text(credit_csv.read_text().splitlines()[0] + "\n")
    with pytest.raises(UnreadableDataError, match="no data rows") as err:
        workspace.datasets.add(empty, "credit")
    assert (err.value.field, err.value.value) == ("rows", 0)
    assert workspace.datasets.list() == []


def test_concurrent_identical_adds_create_one_version(workspace: Workspace, credit_csv: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: workspace.datasets.add(credit_csv, "credit").version, range(4)))
    assert versions == [1, 1, 1, 1]
    assert len(workspace.datasets.versions("credit")) == 1


@pytest.mark.s3
def test_workspace_on_s3(s3_server: str, tmp_path: Path, credit_csv: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'meta.db'}", artifacts_url="s3://shipyard/ws-test",
                        actor="alice")
    ws = Workspace.init(tmp_path / "ws", settings=settings)
    try:
        assert ws.artifacts.url == "s3://shipyard/ws-test"
        dv = ws.datasets.add(credit_csv, "credit")
        assert ws.datasets.load_table("credit").num_rows == 4454
        mv = ws.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
        assert ws.models.load_artifact("m:1")[:2] == b"PK"  # a skops zip, verified by hash
        import boto3

        s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="shipyard", Prefix="ws-test/")["Contents"]}
        assert f"ws-test/sha256/{dv.digest[:2]}/{dv.digest[2:]}" in keys
        assert f"ws-test/sha256/{mv.artifact_digest[:2]}/{mv.artifact_digest[2:]}" in keys
    finally:
        ws.close()
