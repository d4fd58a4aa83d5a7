"""``shipyard batch score``: resolve the version, load it, score every unfinished part, record the job.

Engines: ``local`` runs the parts one after another in this process with the model's native thread pools
set to the machine's cores on purpose (threadpoolctl), so one predict call uses every core and nothing
oversubscribes. The job is a row of ``batch_jobs`` (``jobs``: inserted ``running`` under the output folder's
lock, finished with its lineage — input URIs and sha256 -> version -> output, counts, timings — in the
transaction of its ``batch.score`` audit event); the full record is also a JSON artifact the event names.
With ``--monitor`` the rows also go to an endpoint's prediction log (``monitor``, ``ledger``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.batch import jobs, monitor
from shipyard.batch import parts as p
from shipyard.batch.engines import ENGINES, ModelSpec, load_scorer, run_dask, run_local, run_ray
from shipyard.batch.ledger import Ledger, Progress, Runner
from shipyard.batch.score import Scorer
from shipyard.core.hashing import Digest
from shipyard.core.permissions import Permission, authorize
from shipyard.errors import CheckFailedError, InvalidInputError
from shipyard.governance import audit
from shipyard.registry.models import ModelVersion
from shipyard.registry.refs import parse_ref
from shipyard.serving.signature import Signature


class BadRateError(CheckFailedError):
    """More rows failed the signature than ``--max-bad-rate`` allows; ``job`` is the (recorded) job."""

    job: JobResult


@dataclass
class JobResult:
    job: str
    model: str
    version: int
    digest: str
    input: str
    output: str
    engine: str
    rows: int
    bad: int
    bad_rate: float
    max_bad_rate: float
    parts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    record: str = ""
    ok: bool = True
    monitor: str | None = None  # the endpoint whose prediction log got the rows (--monitor)
    logged: int | None = None  # rows published to it (of this job's parts, skipped ones included)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(mv: ModelVersion) -> list[Any] | None:
    """The label of each class index (as ``rollout.endpoints._labels`` gives the gateway)."""
    outputs = (mv.signature or {}).get("outputs") or []
    labels = outputs[0].get("labels") if outputs and isinstance(outputs[0], dict) else None
    if labels is None and mv.provenance.get("task") in ("classification", "multiclass"):
        labels = mv.provenance.get("classes")
    return list(labels) if isinstance(labels, list) and labels else None


def check_options(engine: str, max_bad_rate: float, output: str) -> Path:
    if engine not in ENGINES:
        raise InvalidInputError(field="--engine", value=engine, expected="one of: " + ", ".join(ENGINES))
    if not 0.0 <= max_bad_rate <= 1.0:
        raise InvalidInputError(field="--max-bad-rate", value=max_bad_rate, expected="a fraction in [0, 1]")
    if "://" in output and not output.startswith("file://"):
        raise InvalidInputError(field="--output", value=output,
                                expected="a local folder (atomic renames make parts exactly-once)")
    out = Path(output.removeprefix("file://"))
    if out.exists() and not out.is_dir():
        raise InvalidInputError(field="--output", value=output, expected="a folder (it is a file)")
    return out


class BatchService:
    """Batch scoring over a workspace's registry (``ws.models``) and store."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def _spec(self, mv: ModelVersion) -> ModelSpec:
        if not (mv.signature or {}).get("inputs"):
            raise InvalidInputError(f"{mv.ref} has no signature: batch scoring checks every row against it",
                                    field="model", value=mv.ref, expected="a version registered with a signature")
        data = self.ws.artifacts.get_bytes(Digest(mv.artifact_digest))  # verifies the sha256
        return ModelSpec(mv.model, mv.version, mv.flavor, mv.artifact_digest, data, mv.signature, _labels(mv),
                         tuple(self.ws.models.trusted_for(mv)))

    def _scorer(self, spec: ModelSpec, chunk_rows: int) -> tuple[Scorer, Callable[[], None]]:
        """The version's predict function and how to release it: in this process for data-only flavors; in
        the sandboxed model process for pyfunc (user code never loads here)."""
        if spec.flavor != "pyfunc":
            return load_scorer(spec), lambda: None
        from shipyard.batch.sandboxed import SandboxedModel

        mb = self.ws.config.sandbox.memory_mb
        child = SandboxedModel(None if mb is None else mb << 20, max_rows=max(chunk_rows, 1))
        try:
            classes = child.load(f"{spec.model}:{spec.version}:{spec.digest[:16]}", spec.flavor, spec.data,
                                 spec.signature, spec.labels, spec.trusted_types)
        except BaseException:
            child.close()
            raise
        return Scorer(spec.model, spec.version, Signature(spec.signature), child.predict, classes), child.close

    def score(self, ref: str, input_uri: str, output: str, *, engine: str = "local", max_bad_rate: float = 0.0,
              chunk_rows: int = p.CHUNK_ROWS, address: str | None = None, progress: Progress | None = None,
              monitor_endpoint: str | None = None, monitor_sample: float | None = None) -> JobResult:
        """Score every part not already finished for this version and input bytes; record and audit the job.
        ``monitor_endpoint``: also log (a ``monitor_sample`` of) the rows to that endpoint's prediction log.

        Raises:
            InvalidInputError: a bad reference, option, input or output (exit 2).
            CheckFailedError: more than ``max_bad_rate`` of the rows failed the signature (exit 1; the good
                rows are scored and the job recorded all the same).
        """
        authorize(self.ws.actor, Permission.MODEL_WRITE)
        out_dir = check_options(engine, max_bad_rate, output)
        mv = self.ws.models.get_version(parse_ref(ref))
        todo = p.list_parts(input_uri)
        if "://" not in input_uri and out_dir.resolve().is_relative_to(Path(input_uri).resolve()):
            raise InvalidInputError(f"--output: {output} is inside --input {input_uri}; a rerun would read the "
                                    "output as input", field="--output", value=output,
                                    expected="a folder outside the input folder")
        target = None if monitor_endpoint is None else monitor.resolve(self.ws, monitor_endpoint, mv.model,
                                                                       monitor_sample)
        if engine != "local" and mv.flavor == "pyfunc":
            raise InvalidInputError(f"{mv.ref} is a pyfunc: user code runs only in the sandboxed model process, "
                                    f"which the {engine} engine does not use", field="--engine", value=engine,
                                    expected="local for a pyfunc version")
        spec = self._spec(mv)
        source = input_uri if "://" in input_uri else str(Path(input_uri).resolve())
        job = JobResult(uuid.uuid4().hex[:16], mv.model, mv.version, mv.artifact_digest, source,
                        str(out_dir.resolve()), engine, 0, 0, 0.0, max_bad_rate,
                        monitor=None if target is None else target.endpoint)
        out_dir.mkdir(parents=True, exist_ok=True)
        with p.locked(out_dir):
            started, t0 = self.ws.clock.now(), time.perf_counter()
            jobs.start(self.ws.db, job=job.job, model=mv.model, version=mv.version, digest=mv.artifact_digest,
                       engine=engine, input_uri=source, output=job.output, actor=self.ws.actor.name, at=started,
                       max_bad_rate=max_bad_rate, monitor=job.monitor)
            try:
                job.parts = self._run(mv, spec, todo, out_dir, engine, chunk_rows, address, target, job.job,
                                      progress)
            except Exception as exc:
                job.seconds, job.ok = round(time.perf_counter() - t0, 4), False
                self._record(job, started, error=f"{type(exc).__name__}: {exc}")
                raise
        job.rows = sum(int(x["rows"]) for x in job.parts)
        job.bad = sum(int(x["bad"]) for x in job.parts)
        job.bad_rate = round(job.bad / job.rows if job.rows else 0.0, 6)
        job.logged = None if target is None else sum(int(x["log"]["rows"]) for x in job.parts if x.get("log"))
        job.seconds, job.ok = round(time.perf_counter() - t0, 4), job.bad_rate <= max_bad_rate
        self._record(job, started)
        if not job.ok:
            rate = job.bad / job.rows
            err = BadRateError(
                f"{job.bad} of {job.rows} rows ({rate:.2%}) failed the signature of {mv.ref}, more than "
                f"--max-bad-rate {max_bad_rate:g}; good rows were scored, bad ones are in {out_dir / p.QUARANTINE}",
                field="--max-bad-rate", value=max_bad_rate, expected=f"at least {rate:.4f} to accept this job")
            err.job = job
            raise err
        return job

    def _run(self, mv: ModelVersion, spec: ModelSpec, todo: list[p.Part], out_dir: Path, engine: str,
             chunk_rows: int, address: str | None, target: monitor.Target | None, job: str,
             progress: Progress | None) -> list[dict[str, Any]]:
        ledger = Ledger(out_dir, mv, job, self.ws.artifacts, lambda: self.ws.clock.now().isoformat(), target)
        sample = 0.0 if target is None else target.sample
        if engine != "local":
            run = run_dask if engine == "dask" else run_ray
            return ledger.run(todo, lambda: lambda parts: run(spec, parts, out_dir, chunk_rows, address, sample),
                              progress)
        release: list[Callable[[], None]] = []

        def load() -> Runner:  # called by the ledger once the input is being hashed: the load overlaps it
            scorer, done = self._scorer(spec, chunk_rows)
            release.append(done)
            return lambda parts: run_local(scorer, parts, out_dir, chunk_rows, sample)

        try:
            return ledger.run(todo, load, progress)
        finally:
            for done in release:
                done()

    def _record(self, job: JobResult, started: datetime, error: str | None = None) -> None:
        """The full job record as a JSON artifact; then, in one transaction, the job's row finished and an audit
        event naming the record (the artifact store is content-addressed: a crash between the two leaves only
        an unused blob, and the row stays ``running`` until the next run on the folder marks it interrupted)."""
        finished = self.ws.clock.now()
        record = {**job.to_dict(), "started": started.isoformat(), "finished": finished.isoformat(),
                  "actor": self.ws.actor.name, "error": error}
        record.pop("record")
        digest = self.ws.artifacts.put_bytes(json.dumps(record, sort_keys=True).encode())
        job.record = str(digest)
        status = "error" if error else "succeeded" if job.ok else "failed"
        summary = {k: record[k] for k in ("job", "input", "output", "engine", "rows", "bad", "max_bad_rate",
                                          "ok", "seconds", "monitor", "logged")}
        summary.update(status=status, record=job.record, error=error,
                       inputs=[{"input": x["input"], "sha256": x["sha256"]} for x in job.parts])
        with self.ws.db.begin() as conn:
            jobs.finish(conn, job.job, status=status, at=finished, seconds=job.seconds, rows=job.rows, bad=job.bad,
                        logged=job.logged, record=job.record, parts=job.parts, error=error)
            audit.append(conn, self.ws.actor.name, "batch.score", f"model:{job.model}:{job.version}",
                         None, summary, clock=self.ws.clock)

    def list(self, model: str | None = None, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recorded jobs, newest first (``model`` is ``NAME`` or ``NAME:VERSION``)."""
        authorize(self.ws.actor, Permission.READ)
        version = None
        if model is not None and ":" in model:
            model, _, v = model.partition(":")
            if not v.isdigit():
                raise InvalidInputError(field="--model", value=f"{model}:{v}", expected="NAME or NAME:VERSION")
            version = int(v)
        return jobs.list_jobs(self.ws.db, model=model, version=version, status=status, limit=limit)

    def show(self, job: str) -> dict[str, Any]:
        authorize(self.ws.actor, Permission.READ)
        return jobs.get(self.ws.db, job)
