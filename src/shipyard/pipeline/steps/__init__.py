"""The pipeline's steps, in order; each is a small object with a cache-key function and a run function."""

from __future__ import annotations

from typing import Any, Protocol

from shipyard.pipeline.context import RunContext


class Step(Protocol):
    name: str
    version: str  # bump when the implementation changes what it outputs

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        """The inputs that determine the outputs: config, code hashes, upstream digests. Cheap: no data loading."""
        ...

    def run(self, ctx: RunContext) -> dict[str, Any]:
        """Do the work; return JSON outputs (artifact digests and small values)."""
        ...


def pipeline_steps() -> list[Step]:
    from shipyard.pipeline.steps.evaluate import EvaluateStep
    from shipyard.pipeline.steps.gate import GateStep
    from shipyard.pipeline.steps.register import RegisterStep
    from shipyard.pipeline.steps.split import SplitStep
    from shipyard.pipeline.steps.train import TrainStep
    from shipyard.pipeline.steps.validate import ValidateStep

    return [ValidateStep(), SplitStep(), TrainStep(), EvaluateStep(), GateStep(), RegisterStep()]
