"""Executor name -> constructor (``pipeline.executor`` in shipyard.yaml picks one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInputError
from shipyard.pipeline.executors.base import Executor

if TYPE_CHECKING:
    from shipyard.config import ExecutorSpec


def _local() -> Executor:
    from shipyard.pipeline.executors.local import LocalExecutor

    return LocalExecutor()


def _dask(address: str | None = None) -> Executor:
    from shipyard.pipeline.executors.dask import DaskExecutor

    return DaskExecutor(address)


def _ray(address: str | None = None) -> Executor:
    from shipyard.pipeline.executors.ray import RayExecutor

    return RayExecutor(address)


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": _local, "dask": _dask, "ray": _ray}
CLUSTERS = ("dask", "ray")  # the executors that take an address


def create(executor: str | ExecutorSpec) -> Executor:
    """The executor named by ``executor`` (a name, or shipyard.yaml's ``pipeline.executor``)."""
    name, address = (executor, None) if isinstance(executor, str) else (executor.name, executor.address)
    try:
        make = EXECUTORS[name]
    except KeyError:
        raise InvalidInputError(field="executor", value=name, expected=" | ".join(sorted(EXECUTORS))) from None
    return make(address) if address is not None else make()


def close(executor: Executor) -> None:
    """Release what the executor holds (a cluster it started, a client connection); a no-op for ``local``."""
    stop = getattr(executor, "close", None)
    if callable(stop):
        stop()
