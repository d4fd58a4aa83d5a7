"""Where the parts run: ``local`` (this process, in sequence) or ``dask`` (one task per part on a cluster).

Both call the same per-part function (``score.score_part``) on the same ``ModelSpec``: the verified
artifact bytes, flavor, signature and labels, loaded once per process (``load_scorer``), so results are
identical across engines. Only the driver reads and writes the manifest: a worker renames its finished
part into place and returns its counts; the driver then records the part. Thread pools are set on purpose:
``local`` gives the model's native pools every core in one process; on ``dask`` each task limits them to
the worker's own threads (a LocalCluster is started with one single-threaded worker per core), so nothing
oversubscribes.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.batch.parts import Part
from shipyard.batch.score import PartResult, Scorer, score_part, start_part
from shipyard.errors import InvalidInputError
from shipyard.serving.signature import Signature

ENGINES = ("local", "dask", "ray")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything a process needs to load a version: sent once to each dask worker."""

    model: str
    version: int
    flavor: str
    digest: str
    data: bytes
    signature: dict[str, Any] | None
    labels: list[Any] | None
    trusted_types: tuple[str, ...]


_LOADED: dict[str, Scorer] = {}


def load_scorer(spec: ModelSpec) -> Scorer:
    """The spec's model, loaded through its flavor once per process (never a pyfunc: see service)."""
    from shipyard.flavors import factory
    from shipyard.serving.runtime import make_predict

    scorer = _LOADED.get(spec.digest)
    if scorer is None:
        model = factory.create(spec.flavor).load(spec.data, trusted_types=spec.trusted_types)
        sig = Signature(spec.signature)
        predict, classes = make_predict(model, sig, spec.labels)
        scorer = _LOADED[spec.digest] = Scorer(spec.model, spec.version, sig, predict, classes)
    return scorer


def _dask_task(spec: ModelSpec, part: Part, out_dir: str, chunk_rows: int, sample: float) -> PartResult:
    from threadpoolctl import threadpool_limits

    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        threads = 1
    with threadpool_limits(limits=max(1, threads)):
        return score_part(load_scorer(spec), part, Path(out_dir), chunk_rows)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
MMAP_FROM = 4 << 20


def lean_memory() -> None:
    """Hand freed chunk buffers back to the OS as the job goes, so its peak is one chunk's, not the sum of what
    the allocators cached (measured: 5M x 20 rows in 20 parts, peak RSS 572 MB -> ~520 MB, the plain loop's
    ~490-540 MB).

    glibc raises its mmap threshold to the largest block freed (up to 32 MB), so after the first chunk every
    chunk-sized array comes from the heap and fragments it: ``mallopt`` pins the threshold (and the trim
    threshold) at 4 MiB, which also stops the dynamic adjustment. Not lower: a tree ensemble allocates an
    output of 8 bytes per row per tree (2 MiB for a 256Ki-row chunk), and mapping each afresh cost 10 % of
    ``predict_proba`` at 128 KiB (1 % at 4 MiB). Arrow's buffers go to the system allocator instead of
    mimalloc, which keeps freed segments mapped for reuse. Process-wide: called only by the ``local`` engine,
    whose process does nothing but this job; a no-op where libc is not glibc."""
    import ctypes

    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_TRIM_THRESHOLD, MMAP_FROM)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_FROM)
    except (OSError, AttributeError):
        pass


def lower_priority() -> None:
    """Run the calling thread at nice 19 (Linux schedules threads as tasks: ``setpriority`` on its thread
    id), so it takes a core only when the model's threads leave one idle."""
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (OSError, AttributeError):
        pass


def run_local(scorer: Scorer, parts: list[Part], out_dir: Path, chunk_rows: int, sample: float = 0.0
              ) -> Iterator[tuple[Part, PartResult]]:
    """Parts in sequence in this process, the model's native pools on every core. Output is built and
    written on one low-priority thread (``start_part``): while it writes part k this thread reads and checks
    part k+1, on the core those single-threaded phases leave idle. A part is yielded (and then recorded)
    only once its files are renamed into place."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    lean_memory()
    # What exists now (imports, the store, the model) lives as long as the job: out of the collector's scans
    # while it runs (full collections over it were ~1 % of a job's CPU), back in afterwards.
    gc.freeze()
    try:
        with (threadpool_limits(limits=os.cpu_count() or 1),
              ThreadPoolExecutor(1, thread_name_prefix="shipyard-batch-write", initializer=lower_priority) as writes):
            pending: tuple[Part, Future[PartResult]] | None = None
            for part in parts:
                started = start_part(scorer, part, out_dir, chunk_rows, sample, writes,
                                     None if pending is None else pending[1])
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = (part, started)
            if pending is not None:
                yield pending[0], pending[1].result()
    finally:
        gc.unfreeze()


def run_dask(spec: ModelSpec, parts: list[Part], out_dir: Path, chunk_rows: int, address: str | None,
             sample: float = 0.0) -> Iterator[tuple[Part, PartResult]]:
    """Parts as tasks on the cluster at ``address``, or on a LocalCluster (one 1-thread worker per core)."""
    try:
        import distributed
    except ImportError:
        raise InvalidInputError(field="--engine", value="dask",
                                expected="local, or install the dask extra: pip install 'shipyard[dask]'") from None
    dd: Any = distributed  # untyped calls, kept in one place
    cluster = None
    if address is None:
        cluster = dd.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        with dd.Client(address or cluster) as client:
            remote_spec = client.scatter(spec, broadcast=True)
            futures = {client.submit(_dask_task, remote_spec, part, str(out_dir.resolve()), chunk_rows, sample,
                                     key=f"shipyard-batch-{spec.digest[:12]}-{part.out_name}", pure=False): part
                       for part in parts}
            for fut in dd.as_completed(futures):
                yield futures[fut], fut.result()
    finally:
        if cluster is not None:
            cluster.close()


def _ray_task(spec: ModelSpec, part: Part, out_dir: str, chunk_rows: int, sample: float) -> PartResult:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one task per CPU Ray grants: one native thread each
        return score_part(load_scorer(spec), part, Path(out_dir), chunk_rows, sample)


def run_ray(spec: ModelSpec, parts: list[Part], out_dir: Path, chunk_rows: int, address: str | None,
            sample: float = 0.0) -> Iterator[tuple[Part, PartResult]]:
    """Parts as Ray tasks (1 CPU each) on the cluster at ``address``, or on a local Ray started (and stopped)
    here with one CPU per core, no dashboard and a small object store."""
    try:
        import ray as _ray
    except ImportError:
        raise InvalidInputError(field="--engine", value="ray",
                                expected="local, or install the ray extra: pip install 'shipyard[ray]'") from None
    ray: Any = _ray
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     object_store_memory=128 << 20)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        spec_ref = ray.put(spec)
        pending = {task.remote(spec_ref, part, str(out_dir.resolve()), chunk_rows, sample): part for part in parts}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()

