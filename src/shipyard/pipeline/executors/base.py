"""The Executor protocol: run one step of a run and report its outputs, log and duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.steps import Step


@dataclass
class StepExecution:
    outputs: dict[str, Any] | None
    log: str
    seconds: float
    error: BaseException | None = None


class Executor(Protocol):
    name: str

    def execute(self, step: Step, ctx: RunContext) -> StepExecution:
        """Run ``step``; never raises for a failing step: the error is returned in ``error``."""
        ...
