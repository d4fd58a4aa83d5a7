"""``shipyard batch score``: resolve the version, load it, score every unfinished part, record the job.

Engines: ``local`` runs the parts one after another in this process with the model's native thread pools
set to the machine's cores on purpose (threadpoolctl), so one predict call uses every core and nothing
oversubscribes. The job record (lineage: input URIs and sha256 -> version -> output, counts, timings) is
stored as a JSON artifact and audited (``batch.score``) in one transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shipyard.batch import parts as p
from shipyard.batch.engines import ENGINES, ModelSpec, Runner, load_scorer, run_dask, run_local, run_ray
from shipyard.batch.score import Scorer
from shipyard.core.hashing import Digest
from shipyard.core.permissions import Permission, authorize
from shipyard.errors import CheckFailedError, InvalidInputError
from shipyard.governance import audit
from shipyard.registry.models import ModelVersion
from shipyard.registry.refs import parse_ref
from shipyard.serving.signature import Signature

Progress = Callable[[str, int, int], None]  # (part name, parts done, parts total)


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
              chunk_rows: int = p.CHUNK_ROWS, address: str | None = None, progress: Progress | None = None
              ) -> JobResult:
        """Score every part not already finished for this version and input bytes; record and audit the job.

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
        started, t0 = self.ws.clock.now(), time.perf_counter()
        spec = self._spec(mv)
        if engine == "local":
            scorer, release = self._scorer(spec, chunk_rows)
            try:
                lineage = self._run(mv, todo, out_dir, lambda parts: run_local(scorer, parts, out_dir, chunk_rows),
                                    progress)
            finally:
                release()
        else:
            if spec.flavor == "pyfunc":
                raise InvalidInputError(f"{mv.ref} is a pyfunc: user code runs only in the sandboxed model process,"
                                        f" which the {engine} engine does not use", field="--engine", value=engine,
                                        expected="local for a pyfunc version")
            run = run_dask if engine == "dask" else run_ray
            lineage = self._run(mv, todo, out_dir,
                                lambda parts: run(spec, parts, out_dir, chunk_rows, address), progress)
        rows = sum(int(x["rows"]) for x in lineage)
        bad = sum(int(x["bad"]) for x in lineage)
        rate = bad / rows if rows else 0.0
        source = input_uri if "://" in input_uri else str(Path(input_uri).resolve())
        result = JobResult(uuid.uuid4().hex[:16], mv.model, mv.version, mv.artifact_digest, source,
                           str(out_dir.resolve()), engine, rows, bad, round(rate, 6), max_bad_rate, lineage,
                           round(time.perf_counter() - t0, 4), ok=rate <= max_bad_rate)
        self._record(result, started.isoformat())
        if not result.ok:
            err = BadRateError(
                f"{bad} of {rows} rows ({rate:.2%}) failed the signature of {mv.ref}, more than --max-bad-rate "
                f"{max_bad_rate:g}; good rows were scored, bad ones are in {out_dir / p.QUARANTINE}",
                field="--max-bad-rate", value=max_bad_rate, expected=f"at least {rate:.4f} to accept this job")
            err.job = result
            raise err
        return result

    @staticmethod
    def _run(mv: ModelVersion, todo: list[p.Part], out_dir: Path, runner: Runner,
             progress: Progress | None) -> list[dict[str, Any]]:
        """Score the parts not yet done, skipping those the manifest records as done for these bytes and this
        version; the runner renames each finished part into place, then it is recorded in the manifest
        (atomically, by this process only)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        with p.locked(out_dir):
            return BatchService._run_locked(mv, todo, out_dir, runner, progress)

    @staticmethod
    def _run_locked(mv: ModelVersion, todo: list[p.Part], out_dir: Path, runner: Runner,
                    progress: Progress | None) -> list[dict[str, Any]]:
        p.clean_temporaries(out_dir)
        manifest = p.read_manifest(out_dir)
        done = manifest["parts"]
        hashes = {part.out_name: p.content_hash(part) for part in todo}
        skipped = {part.out_name for part in todo if (prev := done.get(part.out_name))
                   and prev.get("sha256") == hashes[part.out_name] and prev.get("digest") == mv.artifact_digest
                   and (out_dir / part.out_name).exists()}
        count = len(skipped)
        if progress is not None and count:
            progress("finished parts skipped", count, len(todo))
        for part, res in runner([x for x in todo if x.out_name not in skipped]):
            done[part.out_name] = {"input": part.uri, "sha256": hashes[part.out_name], "model": mv.model,
                                   "version": mv.version, "digest": mv.artifact_digest,
                                   "rows": res.rows, "bad": res.bad, "seconds": round(res.seconds, 4)}
            p.write_manifest(out_dir, manifest)
            count += 1
            if progress is not None:
                progress(part.out_name, count, len(todo))
        return [{**done[x.out_name], "output": x.out_name, "skipped": x.out_name in skipped} for x in todo]

    def _record(self, job: JobResult, started: str) -> None:
        """The full job record as a JSON artifact; an audit event naming it, in the same transaction as nothing
        else (the artifact store is content-addressed, so a crash between the two leaves only an unused blob)."""
        record = {**job.to_dict(), "started": started, "finished": self.ws.clock.now().isoformat(),
                  "actor": self.ws.actor.name}
        record.pop("record")
        digest = self.ws.artifacts.put_bytes(json.dumps(record, sort_keys=True).encode())
        job.record = str(digest)
        summary = {k: record[k] for k in ("job", "input", "output", "engine", "rows", "bad", "max_bad_rate",
                                          "ok", "seconds")}
        summary["inputs"] = [{"input": x["input"], "sha256": x["sha256"]} for x in job.parts]
        summary["record"] = job.record
        with self.ws.db.begin() as conn:
            audit.append(conn, self.ws.actor.name, "batch.score", f"model:{job.model}:{job.version}",
                         None, summary, clock=self.ws.clock)
