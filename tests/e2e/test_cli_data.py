"""`shipyard data ...` through the real CLI: add, idempotence, validate exit codes, show/diff JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _bad_copy(src: Path, dst: Path) -> None:
    df = pd.read_csv(src).head(300)
    df["Age"] = df["Age"].astype(object)
    df.loc[3, "Age"] = "abc"          # a string in a numeric column
    df.loc[7, "Age"] = 500            # out of range
    df.loc[5, "Home"] = "spaceship"   # unseen category
    df.loc[9, "Home"] = "spaceship"
    df = df.drop(columns=["Price"])   # a missing column
    df.to_csv(dst, index=False)


def test_add_is_content_addressed(cli, credit_csv: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    r = cli("data", "add", str(credit_csv), "--name", "credit")
    assert r.returncode == 0, r.stderr
    assert "credit@1" in r.stdout and "4454" in r.stdout and "integer" in r.stdout and "category" in r.stdout
    again = cli("data", "add", str(credit_csv), "--name", "credit", "--json")
    assert again.returncode == 0
    info = json.loads(again.stdout)
    assert info["version"] == 1 and info["created"] is False and info["rows"] == 4454 and info["columns"] == 14
    listing = json.loads(cli("data", "list", "--json").stdout)
    assert [(d["name"], d["latest_version"]) for d in listing] == [("credit", 1)]


def test_validate_exit_codes(cli, credit_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    assert cli("data", "add", str(credit_csv), "--name", "credit").returncode == 0
    bad = tmp_path / "bad.csv"
    _bad_copy(credit_csv, bad)
    r = cli("data", "validate", "credit", str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    for needle in ("Price", "missing", "Age", "abc", "500", "Home", "spaceship"):
        assert needle in r.stdout, needle
    report = json.loads(cli("data", "validate", "credit", str(bad), "--json").stdout)
    by_check = {(v["column"], v["check"]): v for v in report["violations"]}
    assert by_check[("Home", "category")]["failing"] == 2
    assert by_check[("Price", "missing_column")]
    assert "abc" in by_check[("Age", "type")]["examples"]
    assert any(c == "Age" and k == "range" for c, k in by_check)

    clean = tmp_path / "clean.csv"
    pd.read_csv(credit_csv).head(500).to_csv(clean, index=False)
    ok = cli("data", "validate", "credit", str(clean))
    assert ok.returncode == 0, ok.stdout

    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02PK\x03\x04 not a table")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("Status,Home\ngood,se\xf1or\n".encode("latin-1"))
    for path in (garbage, latin1, tmp_path / "missing.csv"):
        r = cli("data", "validate", "credit", str(path))
        assert r.returncode == 2
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2, r.stderr


def test_show_and_diff(cli, credit_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    cli("data", "add", str(credit_csv), "--name", "credit")
    df = pd.read_csv(credit_csv)
    df["Income"] = df["Income"] * 1.8  # a strong shift
    df = df.drop(columns=["Debt"])
    shifted = tmp_path / "credit_v2.parquet"
    df.to_parquet(shifted)
    r = cli("data", "add", str(shifted), "--name", "credit", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == 2
    shown = json.loads(cli("data", "show", "credit@1", "--json").stdout)
    assert shown["profile"]["columns"]["Age"]["mean"] > 20
    d = json.loads(cli("data", "diff", "credit@1", "credit@2", "--json").stdout)
    cols = {c["column"]: c for c in d["columns"]}
    assert cols["Debt"]["change"] == "removed"
    assert cols["Income"]["shift"] > cols["Age"]["shift"]
    # the drift engine's verdict (issue 16): significant after Holm and above the method's floor
    assert d["threshold"] is None and d["drifted"] == ["Income"] and cols["Income"]["severity"] == "critical"
    assert cols["Income"]["test"] == "wasserstein" and cols["Income"]["p_value"] < 1e-6
    r = cli("data", "diff", "credit@1", "credit@2")
    assert r.returncode == 0 and "drifted: Income" in r.stdout  # report only
    r = cli("data", "diff", "credit@1", "credit@2", "--method", "Income=psi", "--json")
    assert {c["column"]: c["test"] for c in json.loads(r.stdout)["columns"]}["Income"] == "psi", r.stdout
    r = cli("data", "diff", "credit@1", "credit@2", "--method", "Income=chi2")
    assert r.returncode == 2 and "method for Income" in r.stderr and "wasserstein" in r.stderr
    r = cli("data", "diff", "credit@1", "credit@2", "--fail-on-drift")
    assert r.returncode == 1, r.stdout  # a check that failed
    same = cli("data", "diff", "credit@1", "credit@1", "--fail-on-drift", "--json")
    assert same.returncode == 0 and json.loads(same.stdout)["drifted"] == []
    huge = max(c["shift"] or 0 for c in d["columns"]) + 1
    assert cli("data", "diff", "credit@1", "credit@2", "--fail-on-drift", "--threshold", str(huge)).returncode == 0
    for bad in ("-1", "nan", "inf"):
        r = cli("data", "diff", "credit@1", "credit@2", "--threshold", bad)
        assert r.returncode == 2 and "--threshold" in r.stderr and "finite number >= 0" in r.stderr, (bad, r.stderr)
    r = cli("data", "show", "nope")
    assert r.returncode == 2 and "credit" in r.stderr


def test_user_errors_exit_2_without_traceback(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("data", "list")
    assert r.returncode == 2 and "shipyard init" in r.stderr  # no workspace yet
    cli("init")
    r = cli("data", "add", "x.csv")
    assert r.returncode == 2 and "--name" in r.stderr
    r = cli("models", "show", "bad name!")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_messages_are_never_broken_into_lines_on_a_narrow_or_piped_console(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    r = cli("data", "add", str(empty), "--name", "e", env={"COLUMNS": "30"})
    assert r.returncode == 2
    assert "no data rows (only a header with 2 column(s)); expected at least one row" in r.stderr, r.stderr
    r = cli("audit", "verify", env={"COLUMNS": "30"})
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1, r.stdout
