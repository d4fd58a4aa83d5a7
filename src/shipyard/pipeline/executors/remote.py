"""Run a portable step in another process (a Dask or Ray worker): what goes there, what comes back.

A step is portable (``portable = True``: split, train, evaluate, gate) when it needs only the run spec, its
upstream outputs and the artifact store. validate (records the dataset version) and register (the registry,
its audit events, the evidence seal) write to the database, so they stay in the control plane: a worker never
gets the database URL or a key, and the user's train function runs where no secret is.

Sent to the worker (pickled by the cluster's client, from the control plane to the user's own cluster): a
:class:`StepTask` -- the step's class by module and name, the spec (shipyard.yaml's pipeline sections only:
no ``store``, ``deploy``, ``monitor``), the run's digests, upstream outputs and cache keys, the champion the
control plane resolved, and the artifact store's URL. On the worker, checked rather than assumed:

- the training data is the file at ``data.train`` if it is there with the run's sha256, else the bytes
  validate stored in the artifact store under that sha256 (copied to a temporary file for the step);
- the train file is at the same path with the run's sha256 (a shared filesystem, or the same image);
- outputs go to the artifact store (``file://`` on a disk the workers share with the control plane,
  ``s3://`` with the workers' own credentials), never to the control plane's disk.

Back comes JSON text only (outputs, log, the error's class, message, field, value, expected), parsed with
``json.loads``: no object of the worker's is rebuilt in the control plane but an error of a known class.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from shipyard.errors import InvalidInputError, ShipyardError, UnavailableError
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.executors.base import StepExecution
from shipyard.pipeline.steps import Step

if TYPE_CHECKING:
    from shipyard.config import ProjectConfig
    from shipyard.pipeline.spec import RunSpec
    from shipyard.registry.models import ModelVersion
    from shipyard.store.artifacts.base import ArtifactStore

# the shipyard.yaml sections a worker gets; the others (store.db_url, deploy's webhooks, ...) go back to defaults
SHIPPED_CONFIG = ("name", "model", "data", "pipeline", "validation", "evaluation", "gates", "trusted_types", "sandbox")
SHIPPED_MEMO = ("champion",)  # what a key_inputs resolved in the control plane that a portable step reads
USES_DATA = ("split", "train", "evaluate")  # steps that read the training file
USES_CODE = ("train",)  # steps that import the user's train file
KEEP_ENV = ("SHIPYARD_S3_ENDPOINT_URL",)  # configuration a worker needs for an s3:// artifact store


class StepError(Exception):
    """A step failed on a worker with an exception that is not shipyard's (a bug in shipyard or a library, as
    the same exception would be in the local executor); the worker's traceback is in the step log."""


def is_portable(step: Step) -> bool:
    return bool(getattr(step, "portable", False))


def worker_env() -> dict[str, str]:
    """Variables for the workers of a cluster this process starts: every ``SHIPYARD_*`` variable it holds (the
    database URL, the audit, evidence and log-hash keys, a token) set empty, except ``KEEP_ENV``."""
    return {k: "" for k in os.environ if k.upper().startswith("SHIPYARD_") and k.upper() not in KEEP_ENV}


def require(module: str, executor: str) -> None:
    """Refuse (exit 2) an executor whose extra is not installed, before the run starts; imports nothing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        expected = f"local, or the {executor} extra installed: pip install 'shipyard[{executor}]'"
        raise InvalidInputError(f"pipeline.executor: {executor} needs the {executor} extra ({module} is not "
                                f"installed); expected {expected}", field="pipeline.executor", value=executor,
                                expected=expected)


@dataclass(frozen=True)
class StepTask:
    step: str  # "module:QualName" of the step's class
    name: str
    spec: RunSpec
    run_id: str
    data_digest: str
    train_digest: str
    outputs: dict[str, dict[str, Any]]
    keys: dict[str, str]
    memo: dict[str, Any]
    trusted: dict[str, list[str]]  # model ref -> the types it may load with (RegistryService.trusted_for)
    artifacts_url: str
    environment: str  # the control plane's environment fingerprint (the train key covers it)
    executor: str


def make_task(step: Step, ctx: RunContext, executor: str) -> StepTask:
    from shipyard.pipeline.code import environment_fingerprint

    cfg = ctx.spec.config
    reset = {name: field.get_default(call_default_factory=True) for name, field in type(cfg).model_fields.items()
             if name not in SHIPPED_CONFIG}
    config = cfg.model_copy(update=reset)
    memo = {k: ctx.memo[k] for k in SHIPPED_MEMO if k in ctx.memo}
    champion = memo.get("champion")
    trusted = {} if champion is None else {champion.ref: ctx.ws.models.trusted_for(champion)}
    cls = type(step)
    return StepTask(step=f"{cls.__module__}:{cls.__qualname__}", name=step.name,
                    spec=dataclasses.replace(ctx.spec, config=config), run_id=ctx.run_id,
                    data_digest=ctx.data_digest, train_digest=ctx.train_digest, outputs=dict(ctx.outputs),
                    keys=dict(ctx.keys), memo=memo, trusted=trusted, artifacts_url=ctx.ws.artifacts.url,
                    environment=environment_fingerprint(), executor=executor)


# -- on the worker ------------------------------------------------------------------------------------------
@dataclass
class _Registry:
    """The registry reads a portable step makes (evaluate loading the champion), answered from what the
    control plane resolved and the artifact store, which verifies the bytes."""

    store: ArtifactStore
    champion: ModelVersion | None
    trusted: dict[str, list[str]]

    def _known(self, ref: str) -> ModelVersion:
        if self.champion is None or self.champion.ref != ref:
            raise InvalidInputError(field="model", value=ref, expected="the champion the control plane resolved")
        return self.champion

    def load_artifact(self, ref: str) -> bytes:
        from shipyard.core.hashing import Digest

        return self.store.get_bytes(Digest(self._known(ref).artifact_digest))

    def trusted_for(self, mv: ModelVersion) -> list[str]:
        return list(self.trusted.get(self._known(mv.ref).ref) or [])


@dataclass
class _WorkerWorkspace:
    """What a portable step reads from ``ctx.ws`` on a worker: no database, no keys."""

    root: Path
    config: ProjectConfig
    artifacts: ArtifactStore
    models: _Registry


def _file_digest(path: Path) -> str:
    from shipyard.core.hashing import sha256_stream

    with path.open("rb") as fh:
        return str(sha256_stream(fh))


def _where(executor: str) -> str:
    import socket

    return f"{executor} worker: host {socket.gethostname()}, pid {os.getpid()}"


def _data_file(task: StepTask, store: ArtifactStore) -> tuple[Path, Path | None]:
    """(the training file to read, a temporary copy to delete afterwards or None)."""
    import tempfile

    from shipyard.core.hashing import Digest
    from shipyard.store.artifacts.base import ArtifactNotFoundError

    path = task.spec.data_path
    if path.is_file() and _file_digest(path) == task.data_digest:
        return path, None
    try:
        data = store.get_bytes(Digest(task.data_digest))
    except ArtifactNotFoundError:
        raise InvalidInputError(
            f"data.train: the training file (sha256 {task.data_digest[:12]}) is neither at {path} on the "
            f"{_where(task.executor)} nor in the artifact store {store.url}", field="data.train", value=str(path),
            expected="the file validate stored in the artifact store, or the same file at the same path on "
                     "the worker") from None
    fd, name = tempfile.mkstemp(prefix="shipyard-data-", suffix=path.suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name), Path(name)


def _check_code(task: StepTask) -> None:
    f = task.spec.train_file
    found = _file_digest(f) if f.is_file() else None
    if found == task.train_digest:
        return
    what = "is not there" if found is None else f"differs (sha256 {found[:12]}, the run's is {task.train_digest[:12]})"
    expected = ("the workspace's code at the same path on every worker, with the same content (a shared "
                "filesystem, or the same image)")
    raise InvalidInputError(f"pipeline.train: {f} {what} on the {_where(task.executor)}; expected {expected}",
                            field="pipeline.train", value=str(f), expected=expected)


def _step(path: str) -> Step:
    import importlib

    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return cast(Step, obj())


def describe(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    cls = type(exc)
    doc: dict[str, Any] = {"class": f"{cls.__module__}:{cls.__qualname__}", "type": cls.__name__, "message": str(exc)}
    if isinstance(exc, ShipyardError):
        info = exc.to_dict()
        doc.update(field=info["field"], value=info["value"], expected=info["expected"])
    else:
        doc["traceback"] = "".join(traceback.format_exception(exc))
    return doc


def run_task(task: StepTask) -> str:
    """On the worker: rebuild the context, run the step as the local executor does, answer JSON text."""
    where = _where(task.executor)
    tmp: Path | None = None
    try:
        from shipyard.pipeline.code import environment_fingerprint
        from shipyard.pipeline.executors.local import LocalExecutor
        from shipyard.store.artifacts import factory

        store = factory.create(task.artifacts_url)
        spec = task.spec
        if task.name in USES_DATA:
            data_path, tmp = _data_file(task, store)
            spec = dataclasses.replace(spec, data_path=data_path)
        if task.name in USES_CODE:
            _check_code(task)
        ws = _WorkerWorkspace(spec.root, spec.config, store, _Registry(store, task.memo.get("champion"), task.trusted))
        ctx = RunContext(ws=cast(Any, ws), spec=spec, run_id=task.run_id, data_digest=task.data_digest,
                         train_digest=task.train_digest, outputs=dict(task.outputs), memo=dict(task.memo),
                         keys=dict(task.keys))
        ex = LocalExecutor().execute(_step(task.step), ctx)
        log = f"ran on the {where} in {ex.seconds:.2f}s\n{ex.log}"
        if environment_fingerprint() != task.environment:
            log += ("warning: the worker's installed packages or Python differ from the control plane's; the step's "
                    "cache key records the control plane's\n")
        doc = {"outputs": ex.outputs, "log": log, "error": describe(ex.error)}
    except Exception as exc:  # preparing the step failed (store unreachable, data or code missing): a step error
        doc = {"outputs": None, "log": f"{where}: {exc}\n", "error": describe(exc)}
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return json.dumps(doc, default=str)


# -- back in the control plane ------------------------------------------------------------------------------
def _shipyard_error(path: str) -> type[ShipyardError] | None:
    import importlib

    module, _, qualname = path.partition(":")
    if module != "shipyard.errors" and not module.startswith("shipyard."):
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) and issubclass(obj, ShipyardError) else None


def rebuild(doc: dict[str, Any] | None) -> BaseException | None:
    """The worker's error as the local executor would have returned it: shipyard's own class with its message,
    field, value and expected; a built-in exception with its message; anything else a :class:`StepError`."""
    if doc is None:
        return None
    cls = _shipyard_error(str(doc.get("class", "")))
    if cls is not None:
        err = cls.__new__(cls)
        ShipyardError.__init__(err, str(doc["message"]), field=doc.get("field"), value=doc.get("value"),
                               expected=doc.get("expected"))
        return err
    builtin = getattr(builtins, str(doc.get("type")), None)
    if str(doc.get("class", "")).startswith("builtins:") and isinstance(builtin, type) \
            and issubclass(builtin, Exception):
        try:
            return cast(BaseException, builtin(doc["message"]))
        except Exception:  # a built-in whose constructor wants other arguments (UnicodeDecodeError)
            pass
    return StepError(f"{doc.get('type')}: {doc.get('message')}")


class Backend(Protocol):
    """A cluster: connect to it (or start one) once, run a task on it, let it go."""

    name: str

    def start(self) -> str:
        """Connect or start; returns a line for the first step's log. Raises ShipyardError naming the address."""
        ...

    def run(self, task: StepTask) -> str:
        """Run ``run_task(task)`` on a worker and return its text; raises when the cluster lost the task."""
        ...

    def close(self) -> None: ...


class ClusterExecutor:
    """Portable steps as tasks through ``backend``; validate and register in this process (local executor)."""

    def __init__(self, backend: Backend) -> None:
        from shipyard.pipeline.executors.local import LocalExecutor

        self.name, self.backend, self.local = backend.name, backend, LocalExecutor()
        self.started: str | None = None

    def execute(self, step: Step, ctx: RunContext) -> StepExecution:
        if not is_portable(step):
            return self.local.execute(step, ctx)
        task = make_task(step, ctx, self.name)
        t0 = time.perf_counter()
        head = ""
        if self.started is None:
            try:
                self.started = head = self.backend.start() + "\n"
            except Exception as exc:  # the address cannot be reached (ShipyardError), a local cluster did not start
                err = exc if isinstance(exc, ShipyardError) else UnavailableError(
                    f"pipeline.executor: could not start a local {self.name} cluster: {type(exc).__name__}: {exc}",
                    field="pipeline.executor", value=self.name,
                    expected=f"a {self.name} cluster that starts on this machine, or an address to connect to")
                return StepExecution(None, str(err) + "\n", time.perf_counter() - t0, err)
        try:
            text = self.backend.run(task)
        except Exception as exc:  # the cluster lost the task: a worker died, the connection dropped
            expected = "a cluster whose workers can import shipyard and stay up for the step (see their logs)"
            err = UnavailableError(f"{step.name}: the {self.name} cluster did not finish the step: "
                                   f"{type(exc).__name__}: {exc}", field="pipeline.executor", value=self.name,
                                   expected=expected)
            return StepExecution(None, head + str(err) + "\n", time.perf_counter() - t0, err)
        doc = json.loads(text)
        error = rebuild(doc.get("error"))
        log = head + str(doc.get("log") or "")
        if error is not None and (doc.get("error") or {}).get("traceback"):
            log += doc["error"]["traceback"]
        return StepExecution(doc.get("outputs"), log, time.perf_counter() - t0, error)

    def close(self) -> None:
        if self.started is not None:
            self.started = None
            self.backend.close()
