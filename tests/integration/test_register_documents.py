"""Registration checks the signature and evaluation it stores (they came unchecked through the API and then
crashed `models show` and `models card` for everyone)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from api_harness import live_api
from builders import make_skops_model
from shipyard.errors import InvalidInputError

BAD = [
    ({"signature": {"inputs": 5}}, "signature.inputs"),
    ({"signature": {"inputs": [{"nom": "x"}]}}, "signature.inputs[0].name"),
    ({"signature": {"inputs": [{"name": "x", "type": "tensor"}]}}, "signature.inputs[0].type"),
    ({"signature": {"inputs": [{"name": "x"}, {"name": "x"}]}}, "signature.inputs[1].name"),
    ({"signature": {"inputs": [{"name": "x", "nullable": "yes"}]}}, "signature.inputs[0].nullable"),
    ({"signature": {"inputs": [], "outputs": [{"labels": [1]}]}}, "signature.outputs[0]"),
    ({"evaluation": {"metrics": "x"}}, "evaluation.metrics"),
    ({"evaluation": {"metrics": {"auc": "high"}}}, "evaluation.metrics.auc"),
    ({"evaluation": {"slices": [1, 2]}}, "evaluation.slices"),
]


@pytest.mark.parametrize(("doc", "field"), BAD)
def test_service_refuses_malformed_documents(workspace, tmp_path: Path, doc, field) -> None:  # type: ignore[no-untyped-def]
    model = make_skops_model(tmp_path / "m.skops")
    with pytest.raises(InvalidInputError) as err:
        workspace.models.register("m", model, "sklearn", **doc)
    assert err.value.field == field
    with pytest.raises(Exception, match="m"):  # nothing registered
        workspace.models.get_version("m:1")


def test_api_answers_422_naming_the_field(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    art = base64.b64encode(make_skops_model(tmp_path / "m.skops").read_bytes()).decode()
    with live_api(ws) as api, httpx.Client(base_url=api.url, timeout=60,
                                           headers={"Authorization": f"Bearer {api.tokens['admin']}"}) as c:
        for doc, field in BAD[:3] + BAD[6:7]:
            r = c.post("/api/v1/models/api-m/versions", json={"artifact": art, **doc})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["field"] == field
        ok = c.post("/api/v1/models/api-m/versions", json={
            "artifact": art, "signature": {"inputs": [{"name": f"f{i}", "type": "float"} for i in range(4)]},
            "evaluation": {"metrics": {"roc_auc": 0.9, "brier": None}}})
        assert ok.status_code == 200, ok.text
        assert c.get("/api/v1/models/api-m/versions/1").json()["version"] == 1
    assert ws.models.get_version("api-m:1").evaluation == {"metrics": {"roc_auc": 0.9, "brier": None}}
