"""The pipeline executor on Ray, against a real local Ray (one per module, joined by this process: the executor
uses it and leaves it running), and through the CLI with the Ray the run starts and stops itself; scenarios in
``executor_scenarios``. Ray is big (~740 MB idle): one CPU, a 128 MB object store, shut down after the module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import need_module
from tests.integration import executor_scenarios as sc

from shipyard.config import ExecutorSpec
from shipyard.workspace import Workspace

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[ExecutorSpec]:
    ray = need_module("ray", "ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             object_store_memory=128 << 20)
    try:
        yield ExecutorSpec(name="ray")
    finally:
        ray.shutdown()


@pytest.fixture
def ws(example_ws) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    opened = sc.reopen(example_ws("regression"), "bootstrap: 200", "bootstrap: 20")  # faster, same checks
    yield opened
    opened.close()


def test_same_outputs_metrics_and_keys_as_local(ws: Workspace, ray_cluster: ExecutorSpec) -> None:
    sc.same_as_local(ws, ray_cluster)


def test_the_cache_crosses_executors_both_ways(ws: Workspace, ray_cluster: ExecutorSpec) -> None:
    sc.cache_crosses_executors(ws, ray_cluster)
    import ray

    assert ray.is_initialized()  # a Ray the process joined before the run is left running


def test_a_failing_step_is_reported_with_its_name(ws: Workspace, ray_cluster: ExecutorSpec) -> None:
    sc.failing_step_is_named(ws, ray_cluster)


def test_cli_starts_its_own_ray_without_secrets_and_stops_it(ws: Workspace, tmp_path: Path) -> None:
    need_module("ray", "ray")
    sc.cli_with_its_own_cluster(ws, tmp_path, "ray")
