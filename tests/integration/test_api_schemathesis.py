"""Schemathesis against /api/v1/openapi.json on a live server: no 5xx, every response as documented.

Bounded (max_examples per operation) so it runs in about a minute; it runs in CI like every test.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_harness import serve
from builders import make_skops_model
from shipyard.config import Settings
from shipyard.workspace import Workspace

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STATE: dict[str, object] = {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, credit_csv: Path) -> Iterator[str]:
    from shipyard.api.app import create_app

    tmp = tmp_path_factory.mktemp("fuzz")
    ws = Workspace.init(tmp / "ws", settings=Settings(actor="alice"))
    ws.users.add("fuzz-admin", "admin")
    ws.datasets.add(credit_csv, "credit")
    model = make_skops_model(tmp / "m.skops")
    ws.models.register("credit-risk", model, "sklearn")
    ws.models.set_alias("credit-risk", "champion", 1)
    STATE["ws"] = ws
    STATE["artifact"] = base64.b64encode(model.read_bytes()).decode()
    with serve(create_app(ws), log_level="critical") as url:
        yield url
    ws.close()


def _spec() -> dict[str, object]:
    from shipyard.api.app import create_app

    return create_app(lambda: None).openapi()  # type: ignore[arg-type,return-value]  # no workspace needed


# The document the server serves at /api/v1/openapi.json (checked equal in the test below).
schema = schemathesis.openapi.from_dict(_spec())


def test_served_document_is_the_one_fuzzed(live: str) -> None:
    import httpx

    assert httpx.get(f"{live}/api/v1/openapi.json").json() == _spec()


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case: schemathesis.Case, live: str) -> None:
    ws: Workspace = STATE["ws"]  # type: ignore[assignment]
    # A fresh admin token per case: a generated DELETE /tokens/{id} may revoke an earlier one.
    ws.users.set_role("fuzz-admin", "admin")
    token = ws.users.create_token("fuzz-admin").token
    case.call_and_validate(base_url=live, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
