"""Run steps in this process; warnings raised by the step (user code, libraries) go to the step log."""

from __future__ import annotations

import io
import time
import warnings

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.executors.base import StepExecution
from shipyard.pipeline.steps import Step


class LocalExecutor:
    name = "local"

    def execute(self, step: Step, ctx: RunContext) -> StepExecution:
        ctx.logbuf = io.StringIO()
        t0 = time.perf_counter()
        outputs = None
        error: BaseException | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outputs = step.run(ctx)
            except Exception as exc:  # handed back to the runner, which records the step and decides
                error = exc
            except SystemExit as exc:  # user code (a model's predict, a plugin) called sys.exit()
                from shipyard.pipeline.errors import TrainFunctionError

                error = TrainFunctionError(f"{step.name}: user code called sys.exit({exc.code!r})",
                                           field=f"step {step.name}", value=f"sys.exit({exc.code!r})",
                                           expected="user code that returns or raises an exception")
        for w in caught:
            ctx.log(f"warning: {w.category.__name__}: {w.message}")
        return StepExecution(outputs, ctx.logbuf.getvalue(), time.perf_counter() - t0, error)
