"""`shipyard models ...` through the real CLI, and `shipyard --help` staying light."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from builders import configure_gates, make_labelled_csv, make_skops_model


def test_register_list_show_alias_stage(cli, credit_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    model = make_skops_model(tmp_path / "m.skops")
    r = cli("models", "register", "churn", str(model), "--flavor", "sklearn", "--json", "--tag", "team=risk")
    assert r.returncode == 0, r.stderr
    mv = json.loads(r.stdout)
    assert mv["version"] == 1 and mv["stage"] == "candidate" and mv["tags"] == {"team": "risk"}
    assert mv["provenance"]["environment"]["python"].startswith("3.")
    assert cli("models", "register", "churn", str(model)).returncode == 0
    assert cli("models", "alias", "churn", "champion", "2").returncode == 0
    shown = json.loads(cli("models", "show", "churn@champion", "--json").stdout)
    assert shown["version"] == 2 and shown["aliases"] == ["champion"]
    listing = json.loads(cli("models", "list", "--json").stdout)
    assert listing[0]["aliases"] == {"champion": 2} and listing[0]["latest_version"] == 2
    bad = cli("models", "stage", "churn:1", "production")
    assert bad.returncode == 2 and "validated" in bad.stderr
    bad = cli("models", "stage", "churn:1", "validated")  # only gates shipyard evaluates validate (issue 18)
    assert bad.returncode == 2 and "models evaluate churn:1 --dataset" in bad.stderr, bad.stderr


def test_models_evaluate_gates_a_version_and_approvers_see_the_evidence(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    cli("init")
    root = tmp_path / "ws"
    configure_gates(root, ["roc_auc >= 0.7"])
    assert cli("data", "add", str(make_labelled_csv(tmp_path / "holdout.csv")), "--name", "holdout").returncode == 0
    model = make_skops_model(tmp_path / "m.skops")
    assert cli("models", "register", "churn", str(model)).returncode == 0
    r = cli("models", "evaluate", "churn:1", "--dataset", "holdout:1", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["stage"] == "validated" and res["passed"] is True and res["evidence"]["verified"] is True
    shown = cli("models", "show", "churn:1")
    assert "evidence models-evaluate dataset holdout@1 · gates passed · MAC verified" in shown.stdout, shown.stdout
    queue = cli("approvals")
    assert "churn:1" in queue.stdout and "models-evaluate" in queue.stdout and "verified" in queue.stdout
    # a failing gate: exit 1, the version is rejected (and the evidence says so)
    configure_gates(root, ["roc_auc >= 0.999"])
    assert cli("models", "register", "churn", str(model)).returncode == 0
    r = cli("models", "evaluate", "churn:2", "--dataset", "holdout@1")
    assert r.returncode == 1 and "FAIL" in r.stdout and "rejected" in r.stdout, r.stdout + r.stderr
    # bad input: exit 2 naming the field
    r = cli("models", "evaluate", "churn:1", "--dataset", "nope:1")
    assert r.returncode == 2 and "dataset" in r.stderr


def test_register_with_a_signature_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    cli("init")
    X = np.random.default_rng(0).normal(size=(50, 2))
    path = tmp_path / "bare.skops"
    sio.dump(LogisticRegression().fit(X, X[:, 0] > 0), path)
    r = cli("models", "register", "bare", str(path))
    assert r.returncode == 0 and "no signature" in r.stdout and "--signature FILE" in r.stdout
    sig = tmp_path / "sig.json"
    sig.write_text(json.dumps({"inputs": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}],
                               "outputs": [{"name": "prediction"}]}))
    r = cli("models", "register", "bare", str(path), "--signature", str(sig), "--json")
    assert r.returncode == 0, r.stderr
    assert [i["name"] for i in json.loads(r.stdout)["signature"]["inputs"]] == ["a", "b"]
    cfg = tmp_path / "ws" / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("required: 1", "required: 0"))  # so only the signature stands in the way
    r = cli("deploy", "bare:1")
    assert r.returncode == 2 and "no signature" in r.stderr, r.stderr
    sig.write_text("{not json")
    r = cli("models", "register", "bare", str(path), "--signature", str(sig))
    assert r.returncode == 2 and "--signature" in r.stderr


def test_register_with_dataset_lineage(cli, credit_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    cli("data", "add", str(credit_csv), "--name", "credit")
    model = make_skops_model(tmp_path / "m.skops")
    r = cli("models", "register", "credit-risk", str(model), "--dataset", "credit", "--target", "Status", "--json")
    mv = json.loads(r.stdout)
    assert mv["lineage"][0]["ref"] == "credit@1" and len(mv["lineage"][0]["digest"]) == 64
    names = [i["name"] for i in mv["signature"]["inputs"]]
    assert "Status" not in names and "Home" in names
    home = next(i for i in mv["signature"]["inputs"] if i["name"] == "Home")
    assert home["type"] == "category" and "owner" in home["categories"]


def test_pickle_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "a model"}))
    r = cli("models", "register", "m", str(path))
    assert r.returncode == 2 and "pickle" in r.stderr and "Traceback" not in r.stderr


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys; from shipyard.cli.main import app; "
            "heavy = [m for m in ('sqlalchemy', 'pandas', 'sklearn', 'pyarrow', 'fastapi', 'skops', 'numpy') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    r = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "models" in r.stdout


def test_init_ignores_a_token_meant_for_another_workspace(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"SHIPYARD_TOKEN": "shp_not_for_this_workspace", "SHIPYARD_AUTH": "required"}
    r = cli("init", "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # ...but the token is still checked by every command that acts in the workspace
    listing = cli("models", "list", env=env)
    assert listing.returncode == 2 and "token" in listing.stdout + listing.stderr, listing.stdout + listing.stderr


def test_unwritable_output_paths_are_usage_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for args in (("init", str(a_file)), ("init", "/proc/no/such/dir")):
        r = cli(*args)
        assert r.returncode == 2 and "path" in r.stderr and "internal error" not in r.stderr, r.stderr
    assert cli("init").returncode == 0
    assert cli("models", "register", "m", str(make_skops_model(tmp_path / "m.skops"))).returncode == 0
    for target, needle in ((a_file, "this is a file"), (Path("/proc/no/such/dir"), "cannot write")):
        r = cli("models", "card", "m:1", "-o", str(target))
        assert r.returncode == 2 and "--output" in r.stderr and needle in r.stderr, r.stderr
    r = cli("models", "card", "m:1", "-o", str(tmp_path / "new" / "card"))
    assert r.returncode == 0 and (tmp_path / "new" / "card" / "model-card.html").is_file()


def test_token_expiry_option_is_checked(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    assert cli("users", "add", "ana", "--role", "viewer").returncode == 0
    for days in ("0", "-1", "nan", "1e9"):
        r = cli("users", "token", "create", "ana", "--expires-days", days)
        assert r.returncode == 2 and "--expires-days" in r.stderr and "internal error" not in r.stderr, (days, r.stderr)
    assert json.loads(cli("users", "token", "list", "ana", "--json").stdout) == []
    r = cli("users", "token", "create", "ana", "--expires-days", "0.5", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["expires_at"]


def test_users_role_disable_and_enable(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    assert cli("users", "add", "ana", "--role", "viewer").returncode == 0
    r = cli("users", "role", "ana", "deployer", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["role"] == "deployer", r.stderr
    r = cli("users", "role", "ana", "owner")
    assert r.returncode == 2 and "role" in r.stderr and "viewer | contributor" in r.stderr, r.stderr
    r = cli("users", "disable", "ana")
    assert r.returncode == 0 and "disabled user ana" in r.stdout, r.stderr
    assert [u["disabled"] for u in json.loads(cli("users", "list", "--json").stdout) if u["name"] == "ana"] == [True]
    assert json.loads(cli("users", "enable", "ana", "--json").stdout)["disabled"] is False
    r = cli("users", "disable", "nobody")
    assert r.returncode == 2 and "nobody" in r.stderr and "internal error" not in r.stderr, r.stderr
