"""Control-plane body limits over real HTTP: an oversize body is 413 JSON naming the body and the limit,
refused from its declared length without being read, or cut off while reading a chunked body."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_harness import mint_role_tokens, serve
from builders import make_skops_model
from shipyard.workspace import Workspace


@pytest.fixture
def api(workspace: Workspace) -> Iterator[tuple[str, dict[str, str]]]:
    from shipyard.api.app import create_app
    from shipyard.api.limits import Limits

    tokens = mint_role_tokens(workspace)
    app = create_app(workspace, limits=Limits(json=2000, model_upload=50_000, dataset_upload=3000))
    with serve(app) as url:
        yield url, {"Authorization": f"Bearer {tokens['admin']}"}


def test_declared_oversize_bodies_are_413_per_route(api, tmp_path: Path) -> None:
    url, auth = api
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
        r = http.post("/api/v1/users", json={"name": "x" * 3000, "role": "viewer"})
        assert r.status_code == 413
        err = r.json()["error"]
        assert err["field"] == "body" and "2000" in err["expected"] and "json" in err["message"]
        big = http.post("/api/v1/datasets/d/versions", params={"filename": "d.csv"},
                        content=b"a,b\n" + b"1,2\n" * 1000)
        assert big.status_code == 413 and "dataset_upload" in big.json()["error"]["message"]
        model = make_skops_model(tmp_path / "m.skops")
        payload = {"flavor": "sklearn", "artifact": base64.b64encode(model.read_bytes()).decode()}
        ok = http.post("/api/v1/models/m/versions", json=payload)  # over the JSON limit, under the upload one
        assert ok.status_code == 200, ok.text
        payload["artifact"] = base64.b64encode(b"\0" * 60_000).decode()
        assert http.post("/api/v1/models/m/versions", json=payload).status_code == 413
        assert http.get("/api/v1/models/m").status_code == 200  # nothing half-registered
        assert [v["version"] for v in http.get("/api/v1/models/m").json()["versions"]] == [1]


def test_a_chunked_body_is_cut_off_at_the_limit(api) -> None:
    url, auth = api
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"name": "y" * 5000, "role": "viewer"}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        head = (f"POST /api/v1/users HTTP/1.1\r\nHost: t\r\nAuthorization: {auth['Authorization']}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        s.sendall(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        assert data.startswith(b"HTTP/1.1 413"), data[:100]
