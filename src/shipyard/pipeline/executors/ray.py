"""``pipeline.executor: ray``: portable steps as Ray tasks (``pip install 'shipyard[ray]'``).

With ``address`` (or Ray's own ``RAY_ADDRESS``) the run joins that cluster (``ray://HOST:10001`` through Ray
Client, or ``HOST:6379`` / ``auto`` from a node of it); without, it starts a local Ray when the first step
misses the cache (one CPU: steps run one after the other; no dashboard; a 128 MB object store, the steps
exchange only small records) and stops it at the end of the run. A process that already joined a Ray
(``ray.init`` before the run) uses it and leaves it running. Each step is a plain task of ``num_cpus=1``
without retries (no actors). Workers it starts get every ``SHIPYARD_*`` secret variable set empty
(``remote.worker_env``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from shipyard.errors import UnavailableError
from shipyard.pipeline.executors.remote import ClusterExecutor, StepTask, require, run_task, worker_env

OBJECT_STORE_BYTES = 128 << 20


class RayBackend:
    name = "ray"

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.owned = False  # this run started (or joined) Ray and shuts it down
        self.task: Any = None

    def start(self) -> str:
        import logging

        import ray as _ray

        ray: Any = _ray  # untyped
        t0 = time.perf_counter()
        address = self.address or os.environ.get("RAY_ADDRESS") or None  # Ray's own variable names a cluster too
        if ray.is_initialized():
            what = "the Ray this process already joined"
        elif address is None:
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     object_store_memory=OBJECT_STORE_BYTES, runtime_env={"env_vars": worker_env()})
            self.owned, what = True, "a local Ray (1 CPU)"
        else:
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError: Ray's own kinds vary by version
                expected = "the address of a running Ray cluster (ray://HOST:10001, HOST:6379 or auto)"
                raise UnavailableError(f"pipeline.executor.address: cannot join the Ray cluster at {address} "
                                       f"({type(exc).__name__}: {exc}); expected {expected}",
                                       field="pipeline.executor.address", value=address,
                                       expected=expected) from None
            self.owned, what = True, f"the Ray cluster at {address}"
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_task)
        return f"ray: using {what} ({time.perf_counter() - t0:.1f}s)"

    def run(self, task: StepTask) -> str:
        import ray as _ray

        ray: Any = _ray
        ref = self.task.remote(task)
        try:
            return str(ray.get(ref))
        except KeyboardInterrupt:
            ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        self.task = None
        if self.owned:
            import ray

            self.owned = False
            ray.shutdown()


class RayExecutor(ClusterExecutor):
    def __init__(self, address: str | None = None) -> None:
        require("ray", "ray")
        super().__init__(RayBackend(address))
