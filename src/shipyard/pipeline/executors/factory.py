"""Executor name -> constructor."""

from __future__ import annotations

from collections.abc import Callable

from shipyard.errors import InvalidInputError
from shipyard.pipeline.executors.base import Executor


def _local() -> Executor:
    from shipyard.pipeline.executors.local import LocalExecutor

    return LocalExecutor()


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": _local}


def create(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise InvalidInputError(field="executor", value=name, expected=" | ".join(sorted(EXECUTORS))) from None
