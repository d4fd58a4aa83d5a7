"""The pipeline executor on Dask, against a real LocalCluster (one per module, reached by its address), and
through the CLI with the cluster the run starts itself; scenarios in ``executor_scenarios``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.builders import free_port
from tests.conftest import need_module
from tests.integration import executor_scenarios as sc

from shipyard.config import ExecutorSpec
from shipyard.workspace import Workspace

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[ExecutorSpec]:
    distributed = need_module("distributed", "dask")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                                  dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}) as cluster:
        yield ExecutorSpec(name="dask", address=cluster.scheduler_address)


@pytest.fixture
def ws(example_ws) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    opened = sc.reopen(example_ws("regression"), "bootstrap: 200", "bootstrap: 20")  # faster, same checks
    yield opened
    opened.close()


def test_same_outputs_metrics_and_keys_as_local(ws: Workspace, dask_cluster: ExecutorSpec) -> None:
    sc.same_as_local(ws, dask_cluster)


def test_the_cache_crosses_executors_both_ways(ws: Workspace, dask_cluster: ExecutorSpec) -> None:
    sc.cache_crosses_executors(ws, dask_cluster)


def test_a_failing_step_is_reported_with_its_name(ws: Workspace, dask_cluster: ExecutorSpec) -> None:
    sc.failing_step_is_named(ws, dask_cluster)


def test_cli_starts_its_own_cluster_without_secrets_and_stops_it(ws: Workspace, tmp_path: Path) -> None:
    need_module("distributed", "dask")
    sc.cli_with_its_own_cluster(ws, tmp_path, "dask")


def test_an_unreachable_scheduler_is_named(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("distributed", "dask")
    from shipyard.errors import UnavailableError
    from shipyard.pipeline.executors import dask
    from shipyard.pipeline.runner import run_pipeline, run_result_of

    monkeypatch.setattr(dask, "CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(UnavailableError) as info:
        run_pipeline(ws, executor=ExecutorSpec(name="dask", address=address))
    assert info.value.field == "pipeline.executor.address" and info.value.value == address
    assert "cannot connect to the dask scheduler" in str(info.value)
    result = run_result_of(info.value)
    assert result is not None and [(s.name, s.status) for s in result.steps] == [("validate", "succeeded"),
                                                                                 ("split", "failed")]
