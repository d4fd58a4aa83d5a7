"""`shipyard deploy`, `shipyard endpoints list | show | route` through the real CLI (subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

from builders import approve, make_skops_model


def _versions(cli, tmp_path: Path, n: int, approved: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """`shipyard init` in the CLI's folder, then n versions of churn registered in-process (registration
    through the CLI is tested in test_cli_models.py and costs seconds per call); the first ``approved``
    (default: all) approved, the rest left candidates."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    assert cli("init").returncode == 0
    model = make_skops_model(tmp_path / "m.skops")
    ws = Workspace.open(tmp_path / "ws", settings=Settings(actor="alice"))
    try:
        for v in range(1, n + 1):
            ws.models.register("churn", model, "sklearn")
            if v <= (n if approved is None else approved):
                approve(ws, f"churn:{v}")
    finally:
        ws.close()


def test_deploy_list_show_route_and_usage_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _versions(cli, tmp_path, 3, approved=2)  # version 3 stays a candidate: it may only be shadowed
    r = cli("deploy", "churn:1", "--endpoint", "scoring", "--json")
    assert r.returncode == 0, r.stderr
    ep = json.loads(r.stdout)
    assert ep["name"] == "scoring" and ep["model"] == "churn" and ep["generation"] == 1
    assert ep["routing"]["routes"] == [{"version": 1, "weight": 100}]

    listing = json.loads(cli("endpoints", "list", "--json").stdout)
    assert [e["name"] for e in listing] == ["scoring"]
    assert listing[0]["routing"] == ep["routing"]

    r = cli("endpoints", "route", "scoring", "--set", "1=90", "--set", "2=10", "--shadow", "3",
            "--sticky-header", "x-user", "--json")
    assert r.returncode == 0, r.stderr
    routed = json.loads(r.stdout)
    assert routed["generation"] == 2
    shown = json.loads(cli("endpoints", "show", "scoring", "--json").stdout)
    assert shown["generation"] == 2
    assert sorted((x["version"], x["weight"]) for x in shown["routing"]["routes"]) == [(1, 90), (2, 10)]
    assert shown["routing"]["shadow"] == [3] and shown["routing"]["sticky_header"] == "x-user"

    # human output names the versions and weights too
    human = cli("endpoints", "show", "scoring")
    assert human.returncode == 0 and "churn:1" in human.stdout and "90%" in human.stdout

    bad_sum = cli("endpoints", "route", "scoring", "--set", "1=90", "--set", "2=20")
    assert bad_sum.returncode == 2
    assert "routes" in bad_sum.stderr and "110" in bad_sum.stderr and "100" in bad_sum.stderr
    assert "Traceback" not in bad_sum.stderr

    unknown = cli("endpoints", "route", "scoring", "--set", "1=50", "--set", "7=50")
    assert unknown.returncode == 2 and "version" in unknown.stderr and "7" in unknown.stderr

    malformed = cli("endpoints", "route", "scoring", "--set", "1:100")
    assert malformed.returncode == 2 and "--set" in malformed.stderr

    missing = cli("endpoints", "route", "nope", "--set", "1=100")
    assert missing.returncode == 2 and "endpoint" in missing.stderr and "nope" in missing.stderr

    no_version = cli("deploy", "churn:9", "--endpoint", "scoring")
    assert no_version.returncode == 2 and "9" in no_version.stderr

    # none of that changed the table
    assert json.loads(cli("endpoints", "show", "scoring", "--json").stdout) == shown

    # deploying another version onto a served endpoint starts a rollout from its heaviest version (issue 15):
    # a canary at deploy.steps[0] (5%), the endpoint's sticky header kept
    r = cli("deploy", "churn:2", "--endpoint", "scoring", "--json")
    assert r.returncode == 0, r.stderr
    deployed = json.loads(r.stdout)
    assert deployed["routing"]["routes"] == [{"version": 1, "weight": 95}, {"version": 2, "weight": 5}]
    assert deployed["routing"]["sticky_header"] == "x-user"
    assert (deployed["rollout"]["stable"], deployed["rollout"]["candidate"]) == (1, 2)


def test_only_approved_versions_answer_traffic(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _versions(cli, tmp_path, 4, approved=1)
    assert cli("deploy", "churn:1", "--endpoint", "scoring").returncode == 0
    # approval.required: 1 (the default): a candidate may not answer, by deploy or by routing
    candidate = cli("deploy", "churn:2", "--endpoint", "scoring")
    assert candidate.returncode == 2, candidate.stdout + candidate.stderr
    for needle in ("stage", "churn:2 is candidate", "approval.required", "shipyard approve churn:2"):
        assert needle in candidate.stderr, needle
    routed = cli("endpoints", "route", "scoring", "--set", "1=90", "--set", "2=10")
    assert routed.returncode == 2 and "churn:2 is candidate" in routed.stderr
    # ...but it may be shadowed: a shadow never answers a client
    shadow = cli("endpoints", "route", "scoring", "--set", "1=100", "--shadow", "2", "--json")
    assert shadow.returncode == 0, shadow.stderr
    assert json.loads(shadow.stdout)["routing"]["shadow"] == [2]
    # a rejected version never answers, whatever the approval setting
    rejected = cli("reject", "churn:3", "--reason", "fails the fairness review", env={"SHIPYARD_ACTOR": "bob"})
    assert rejected.returncode == 0, rejected.stderr
    cfg = tmp_path / "ws" / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("required: 1", "required: 0"))
    rejected = cli("deploy", "churn:3", "--endpoint", "scoring")
    assert rejected.returncode == 2 and "churn:3 is rejected" in rejected.stderr, rejected.stderr
    # without required approvals a candidate may answer
    assert cli("deploy", "churn:4", "--endpoint", "scoring", "--weight", "10").returncode == 0
    # a stored artifact that no longer matches its hash is refused at deploy (a failed check: exit 1)
    digest = json.loads(cli("models", "show", "churn:1", "--json").stdout)["artifact_digest"]
    blob = tmp_path / "ws" / ".shipyard" / "artifacts" / "sha256" / digest[:2] / digest[2:]
    blob.write_bytes(blob.read_bytes()[:-10])
    tampered = cli("deploy", "churn:1", "--endpoint", "other")
    assert tampered.returncode == 1 and digest in tampered.stderr and "tampered" in tampered.stderr, tampered.stderr
    assert "other" not in cli("endpoints", "list").stdout


def test_viewer_cannot_deploy_or_route(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _versions(cli, tmp_path, 2)
    assert cli("deploy", "churn:1", "--endpoint", "scoring").returncode == 0
    assert cli("users", "add", "vera", "--role", "viewer").returncode == 0
    token = json.loads(cli("users", "token", "create", "vera", "--json").stdout)["token"]
    as_viewer = {"SHIPYARD_TOKEN": token, "SHIPYARD_AUTH": "required"}

    denied = cli("deploy", "churn:2", "--endpoint", "scoring", env=as_viewer)
    assert denied.returncode == 2, denied.stderr
    assert "vera" in denied.stderr and "viewer" in denied.stderr and "deploy" in denied.stderr
    assert token not in denied.stderr + denied.stdout

    denied = cli("endpoints", "route", "scoring", "--set", "2=100", env=as_viewer)
    assert denied.returncode == 2 and "may not deploy" in denied.stderr

    # reading is allowed, and shows the table untouched
    shown = cli("endpoints", "show", "scoring", "--json", env=as_viewer)
    assert shown.returncode == 0, shown.stderr
    ep = json.loads(shown.stdout)
    assert ep["generation"] == 1 and ep["routing"]["routes"] == [{"version": 1, "weight": 100}]


def test_serve_usage_errors_exit_2_and_name_the_option(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import socket

    assert cli("init").returncode == 0
    bad_mode = cli("serve", "--predict-in", "gpu")
    assert bad_mode.returncode == 2 and "--predict-in" in bad_mode.stderr and "gpu" in bad_mode.stderr
    assert "process | thread" in bad_mode.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("serve", "--port", str(port))
    assert busy.returncode == 2 and "port" in busy.stderr and str(port) in busy.stderr
    assert "a free port" in busy.stderr and "Traceback" not in busy.stderr
