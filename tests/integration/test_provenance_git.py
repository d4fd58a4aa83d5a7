"""registry/provenance.git_info against a real git repository whose configuration asks git to run a command
(``core.fsmonitor``, which ``git status`` runs with its environment): shipyard's question runs nothing of the
repository's choosing and passes git none of its secrets. A plain ``git status`` on the same repository runs
the hook (the test's own control)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shipyard.registry.provenance import git_info

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_git_info_runs_no_repository_hook_and_hands_git_no_secret(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo, seen = tmp_path / "ws", tmp_path / "hook-ran"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('hi')\n")
    _git(repo, "add", "train.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\nenv > {seen}\n")
    hook.chmod(0o755)
    _git(repo, "config", "core.fsmonitor", str(hook))
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "audit-key-not-for-git")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-not-for-git")

    info = git_info(repo)
    assert info == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": False, "branch": _git(repo, "branch",
                                                                                            "--show-current")}
    assert not seen.exists(), "git ran the repository's fsmonitor hook for shipyard"
    (repo / "train.py").write_text("print('changed')\n")
    assert git_info(repo)["dirty"] is True and not seen.exists()

    subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, env=os.environ.copy())
    assert seen.exists() and "audit-key-not-for-git" in seen.read_text()  # the control: plain git runs it
