"""``pipeline.executor: dask``: portable steps as tasks on a Dask cluster (``pip install 'shipyard[dask]'``).

With ``address`` the run connects to that scheduler; without, it starts a ``LocalCluster`` of one worker
process with one thread (steps run one after the other: each needs the one before) when the first step
misses the cache, and stops it at the end of the run. Workers it starts get every ``SHIPYARD_*`` secret
variable set empty (``remote.worker_env``). ``distributed`` is imported only then.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from shipyard.errors import UnavailableError
from shipyard.pipeline.executors.remote import ClusterExecutor, StepTask, require, run_task, worker_env

CONNECT_TIMEOUT_S = 20
LOGGER = logging.getLogger("distributed")


class DaskBackend:
    name = "dask"

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.client: Any = None
        self.cluster: Any = None
        self.log_level = logging.NOTSET

    def start(self) -> str:
        import distributed

        dd: Any = distributed  # untyped
        t0 = time.perf_counter()
        self.log_level = LOGGER.level
        LOGGER.setLevel(logging.CRITICAL)  # the cluster's own log lines are not the run's output: a failure is
        # reported as the step's error
        if self.address is None:
            # The scheduler's HTTP server (no dashboard) on a free loopback port: its default, 8787, is taken by
            # any other cluster on the machine (a warning, and another port). A step whose worker dies is not
            # run again on the next one (allowed-failures 0): it failed, as it would have in this process.
            import dask

            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self.cluster = dd.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                               dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                               silence_logs=logging.CRITICAL, env=worker_env())
            self.client = dd.Client(self.cluster, set_as_default=False)
            return f"dask: started a local cluster (1 worker process, 1 thread) in {time.perf_counter() - t0:.1f}s"
        try:
            self.client = dd.Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            expected = "the address of a running dask scheduler (tcp://HOST:8786)"
            raise UnavailableError(f"pipeline.executor.address: cannot connect to the dask scheduler at "
                                   f"{self.address} ({exc}); expected {expected}", field="pipeline.executor.address",
                                   value=self.address, expected=expected) from None
        workers = len(self.client.scheduler_info().get("workers", {}))
        return f"dask: connected to {self.address} ({workers} workers) in {time.perf_counter() - t0:.1f}s"

    def run(self, task: StepTask) -> str:
        future = self.client.submit(run_task, task, key=f"shipyard-{task.name}-{task.run_id}", pure=False)
        try:
            return str(future.result())
        except BaseException:  # interrupted, or the cluster lost it: do not leave it running
            future.cancel()
            raise

    def close(self) -> None:
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            LOGGER.setLevel(self.log_level)


class DaskExecutor(ClusterExecutor):
    def __init__(self, address: str | None = None) -> None:
        require("distributed", "dask")
        super().__init__(DaskBackend(address))
