"""The control plane over real HTTP (uvicorn on a loopback port), on SQLite and PostgreSQL: odd versions,
overlong names, malformed JSON and booleans for integers are 422s naming the field, never a 500 and
never a "body" error from the database."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_harness import live_api
from builders import make_skops_model
from shipyard.workspace import Workspace


@pytest.fixture
def api(workspace: Workspace, tmp_path: Path) -> Iterator[httpx.Client]:
    workspace.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    with live_api(workspace) as server, httpx.Client(base_url=server.url + "/api/v1", timeout=60,
                                                     headers=server.headers("admin")) as http:
        yield http


def _error(r: httpx.Response, field: str, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    err: dict[str, Any] = r.json()["error"]
    assert err["field"] == field, err
    return err


def test_huge_versions_in_refs_are_422_not_500(api: httpx.Client) -> None:
    for ref in ["m:99999999999999999999", "m:" + "9" * 100, "m:²", "m:١", "m:+1"]:
        _error(api.post("/approvals", json={"ref": ref, "decision": "approve"}), "ref")
        _error(api.get("/approvals", params={"ref": ref}), "ref")
    # Ten digits pass the pattern; the range is the registry's: 1..2147483647.
    for ref in ["m:9999999999", "m:2147483648"]:
        err = _error(api.post("/approvals", json={"ref": ref, "decision": "approve"}), "version")
        assert "1..2147483647" in err["expected"]
        _error(api.get("/approvals", params={"ref": ref}), "version")
    assert api.get("/approvals", params={"ref": "m:1"}).json() == []


def test_path_versions_are_ascii_digits_in_range(api: httpx.Client) -> None:
    for v in ["1_0", "1.0", "%C2%B2", "%D9%A1", "+1", "2147483648", "9" * 30]:
        _error(api.get(f"/models/m/versions/{v}"), "version")
    assert api.get("/models/m/versions/1").json()["version"] == 1
    assert api.get("/models/m/versions/2147483647").status_code == 404


def test_malformed_json_names_the_body_and_the_json_error(api: httpx.Client) -> None:
    r = api.put("/models/m/aliases/x", content=b'{"version":1', headers={"content-type": "application/json"})
    err = _error(r, "body")
    assert "JSON" in err["expected"] and "character 12" in err["expected"], err
    assert "body" in err["message"] and "12" != err["field"]


def test_booleans_and_floats_are_not_versions(api: httpx.Client) -> None:
    for v in [True, False, 1.0, "1"]:
        err = _error(api.put("/models/m/aliases/x", json={"version": v}), "version")
        assert "integer" in err["expected"], err
    assert api.get("/models/m").json()["aliases"] == {}  # nothing was set
    assert api.put("/models/m/aliases/x", json={"version": 1}).status_code == 200
    _error(api.put("/models/m/aliases/x", json={"version": 2147483648}), "version")


def test_overlong_names_are_422_naming_the_field_and_the_limit(api: httpx.Client) -> None:
    err = _error(api.get("/models/" + "a" * 201), "name")
    assert err["message"] == "name: 201 characters, expected at most 200 characters", err
    err = _error(api.get("/models/m/aliases/" + "a" * 101), "alias")
    assert "101 characters" in err["message"] and "at most 100" in err["expected"]
    _error(api.get("/models/m%0A"), "name")  # a trailing newline is not part of a name


def test_alias_and_model_name_must_fit_the_audit_subject(api: httpx.Client, tmp_path: Path) -> None:
    name = "n" * 200
    body = {"artifact": base64.b64encode(make_skops_model(tmp_path / "n.skops").read_bytes()).decode()}
    assert api.post(f"/models/{name}/versions", json=body).status_code == 200
    err = _error(api.put(f"/models/{name}/aliases/{'a' * 100}", json={"version": 1}), "alias")
    assert "100 characters" in err["message"] and "at most 93" in err["expected"] and "300" in err["expected"]
    assert api.put(f"/models/{name}/aliases/{'a' * 93}", json={"version": 1}).status_code == 200
    assert api.get(f"/models/{name}").json()["aliases"] == {"a" * 93: 1}


def test_tag_keys_are_bounded_before_the_database(api: httpx.Client) -> None:
    assert api.put("/models/m/versions/1/tags/" + "k" * 200, json={"value": "v"}).status_code == 200
    err = _error(api.put("/models/m/versions/1/tags/" + "k" * 201, json={"value": "v"}), "key")
    assert err["field"] != "body"


def test_services_refuse_ids_out_of_range_on_every_backend(workspace: Workspace, tmp_path: Path) -> None:
    """The SDK (and so the CLI and the API) get InvalidInputError, not OverflowError / DataError."""
    from shipyard.errors import InvalidInputError

    workspace.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    for call in (lambda: workspace.models.set_alias("m", "a", 10**20),
                 lambda: workspace.models.set_alias("m", "a", 2**31),
                 lambda: workspace.models.set_alias("m", "a", True),
                 lambda: workspace.users.revoke_token(10**20),
                 lambda: workspace.users.revoke_token(2**31),
                 lambda: workspace.models.get_version("m:9999999999"),
                 lambda: workspace.models.set_tag("m:1", "k" * 201, "v"),
                 lambda: workspace.models.set_tag("m:1", "k", "a\x00b"),
                 lambda: workspace.models.get_model("m\n")):
        with pytest.raises(InvalidInputError):
            call()
    assert workspace.models.get_model("m").summary.aliases == {}
