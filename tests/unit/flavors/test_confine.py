"""flavors/confine.py: what Landlock is asked to grant (every sibling along the way to a hidden folder, never
the way itself, a hidden folder or a symlink into one) and the rights each ABI knows."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.flavors import confine


def test_read_grants_cover_everything_but_the_hidden_folders(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for folder in (".shipyard/artifacts", "pipeline", "data"):
        (ws / folder).mkdir(parents=True)
    (ws / "shipyard.yaml").write_text("model: m\n")
    (ws / "link-to-state").symlink_to(ws / ".shipyard")
    (ws / "link-to-data").symlink_to(ws / "data")
    (tmp_path / "sibling").mkdir()
    store = tmp_path / "store.db"
    store.write_text("")
    grants = set(confine.read_grants([ws / ".shipyard", store]))
    assert {ws / "pipeline", ws / "data", ws / "shipyard.yaml", ws / "link-to-data", tmp_path / "sibling"} <= grants
    assert not {ws, tmp_path, ws / ".shipyard", ws / "link-to-state", store} & grants
    assert Path("/") not in grants and all(g.parts[1] != tmp_path.parts[1] for g in grants if len(g.parts) == 2)
    real = {Path(os.path.realpath(g)) for g in grants}
    assert not any(r == ws / ".shipyard" or r.is_relative_to(ws / ".shipyard") for r in real)


def test_handled_rights_follow_the_abi() -> None:
    assert confine.handled_rights(1) & confine.REFER == 0
    assert confine.handled_rights(2) & confine.REFER and not confine.handled_rights(2) & confine.TRUNCATE
    assert confine.handled_rights(3) & confine.TRUNCATE
    assert confine.handled_rights(7) & confine.READ_DIR == 0  # listings stay allowed everywhere


def test_read_grants_beneath_a_root_leave_out_what_is_hidden_in_it(tmp_path: Path) -> None:
    venv = tmp_path / "project"
    (venv / ".shipyard").mkdir(parents=True)
    (venv / ".venv").mkdir()
    assert confine.read_grants([venv / ".shipyard"], venv / ".venv") == [venv / ".venv"]  # nothing hidden in it
    assert set(confine.read_grants([venv / ".shipyard"], venv)) == {venv / ".venv"}  # the way is never granted
    assert confine.read_grants([venv], venv / ".venv") == []  # a root inside a hidden folder: nothing


def test_a_model_process_may_read_python_and_the_system_but_not_home_tmp_or_the_working_folder() -> None:
    import sys

    readable = confine.python_readable()
    assert Path(sys.prefix) in readable and Path("/usr") in readable
    assert not {Path.home(), Path("/tmp"), Path("/var"), Path("/"), Path.cwd()} & set(readable)
