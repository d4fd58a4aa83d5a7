"""``pipeline.executor`` in shipyard.yaml: the shorthand, the mapping, and errors naming field, value, expected."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.config import parse_project
from shipyard.errors import InvalidInputError
from shipyard.pipeline.executors import factory
from shipyard.pipeline.executors.remote import require, worker_env


def _pipeline(executor: Any) -> dict[str, Any]:
    return {"pipeline": {"train": "pipeline/train.py:train", "executor": executor}}


def test_default_is_local_and_the_shorthand_is_a_name() -> None:
    assert parse_project({"pipeline": {"train": "t.py:train"}}).pipeline.executor.name == "local"  # type: ignore[union-attr]
    cfg = parse_project(_pipeline("ray")).pipeline
    assert cfg is not None and cfg.executor.name == "ray" and cfg.executor.address is None
    cfg = parse_project(_pipeline({"name": "dask", "address": "tcp://10.0.0.5:8786"})).pipeline
    assert cfg is not None and cfg.executor.address == "tcp://10.0.0.5:8786"


@pytest.mark.parametrize(("executor", "field", "words"), [
    ("spark", "pipeline.executor.name", ["'spark'", "dask | local | ray"]),
    ({"name": "kubernetes"}, "pipeline.executor.name", ["'kubernetes'", "dask | local | ray"]),
    ({"name": "local", "address": "tcp://h:8786"}, "pipeline.executor",
     ["an address only with name dask | ray", "not with local"]),
    ({"name": "dask", "address": "tcp://h :8786"}, "pipeline.executor", ["without spaces", "tcp://HOST:8786"]),
    ({"name": "dask", "adress": "tcp://h:8786"}, "pipeline.executor.adress", ["one of address, name"]),
    (3, "pipeline.executor", ["a name (local | dask | ray) or a mapping {name: dask, address:"]),
])
def test_bad_executor_names_field_value_and_expected(executor: Any, field: str, words: list[str]) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_project(_pipeline(executor))
    assert info.value.field == field
    for word in words:
        assert word in str(info.value), str(info.value)


def test_factory_refuses_an_unknown_name() -> None:
    with pytest.raises(InvalidInputError) as info:
        factory.create("spark")
    assert info.value.field == "executor" and info.value.value == "spark"


def test_a_missing_extra_names_the_extra_to_install() -> None:
    with pytest.raises(InvalidInputError) as info:
        require("shipyard_no_such_module", "dask")
    assert info.value.field == "pipeline.executor" and info.value.value == "dask"
    assert "pip install 'shipyard[dask]'" in str(info.value)


def test_workers_started_here_get_shipyard_secrets_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_DB_URL", "postgresql://u:secret@db/x")
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "k" * 32)
    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    env = worker_env()
    assert env["SHIPYARD_DB_URL"] == "" and env["SHIPYARD_AUDIT_KEY"] == ""
    assert "SHIPYARD_S3_ENDPOINT_URL" not in env  # configuration the workers need for an s3:// store
