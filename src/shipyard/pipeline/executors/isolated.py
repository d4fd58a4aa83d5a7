"""``pipeline.isolation: subprocess``: steps that run user code execute in a sandboxed child; the rest here.

The process running the pipeline holds the store's credentials and keys: it runs the DAG, the cache,
validation, evaluation, the gates and registration (shipyard's code only). A step that runs user code
(``user_code = True``: the train step) is split in two halves around a child process:

1. ``step.write_inputs(ctx, work)`` (here) writes what the code needs into a private directory
   (``tempfile.mkdtemp``, 0700) and returns a JSON job naming the child's entry point;
2. ``python -P -m shipyard.pipeline.executors.isolated_child WORK`` runs that entry point with the
   environment of ``sandbox.scrubbed_env`` (no ``SHIPYARD_*``, no database URL, no cloud credentials;
   ``HOME`` and ``TMPDIR`` point into the private directory), the workspace as its working directory, its
   own session, ``RLIMIT_AS`` = ``sandbox.train_memory_mb``, a wall-clock limit of ``sandbox.train_timeout_s``
   after which the whole session is killed, and ``flavors/confine.py`` (Landlock: writes only in the private
   directory, the store's files unreadable; no capabilities). This process is made non-dumpable first, so the
   child cannot read its environment through ``/proc`` either;
3. ``step.read_outputs(ctx, work, job, answer)`` (here) treats everything the child left as untrusted:
   the artifact is loaded through its flavor's checks (skops' trust list and the tree check, native booster
   formats), claimed file paths are filtered, and the answer is JSON read with a size bound.

Another executor (``local``, or a cluster one) still runs the steps without user code: this one wraps it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.flavors.sandbox import SandboxLimits, kill_group, limit_text, log_tail, protect_parent, scrubbed_env
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import TrainFunctionError
from shipyard.pipeline.executors.base import Executor, StepExecution

if TYPE_CHECKING:
    from shipyard.config import SandboxSpec
    from shipyard.pipeline.steps import Step

MODES = ("none", "subprocess")
JOB_FILE, RESULT_FILE, LOG_FILE = "job.json", "result.json", "child.log"
MAX_RESULT_BYTES = 4 << 20


class UserCodeStep(Protocol):
    """A step whose ``run`` executes user code, in the two halves the isolated executor needs."""

    name: str
    config_key: str

    def write_inputs(self, ctx: RunContext, work: Path) -> dict[str, Any]: ...

    def read_outputs(self, ctx: RunContext, work: Path, job: dict[str, Any], answer: dict[str, Any]
                     ) -> dict[str, Any]: ...


class SandboxFailedError(RuntimeError):
    """The sandboxed child failed outside the user's code (a shipyard bug or a refused confinement): exit 70."""


def wrap(inner: Executor, mode: str, sandbox: SandboxSpec) -> Executor:
    """``inner`` for ``none``; for ``subprocess``, an executor sending user-code steps to a sandboxed child.

    Raises:
        InvalidInputError: ``mode`` is neither (naming ``pipeline.isolation``).
    """
    if mode == "none":
        return inner
    if mode != "subprocess":
        raise InvalidInputError(field="pipeline.isolation", value=mode, expected=" | ".join(MODES))
    return IsolatedExecutor(inner, SandboxLimits.from_mb(sandbox.train_timeout_s, sandbox.train_memory_mb),
                            list(sandbox.train_writable), sandbox.train_network)


@dataclass
class IsolatedExecutor:
    inner: Executor
    limits: SandboxLimits
    writable: list[str] = field(default_factory=list)  # sandbox.train_writable
    network: bool = False  # sandbox.train_network
    name: str = field(default="isolated")

    def close(self) -> None:
        """Release the inner executor (a Dask or Ray cluster it started for the other steps)."""
        from shipyard.pipeline.executors import factory

        factory.close(self.inner)

    def execute(self, step: Step, ctx: RunContext) -> StepExecution:
        if not getattr(step, "user_code", False):
            return self.inner.execute(step, ctx)
        ctx.logbuf = io.StringIO()
        t0 = time.perf_counter()
        outputs: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            outputs = run_isolated(step, ctx, self.limits, self.writable,  # type: ignore[arg-type]
                                   network=self.network)
        except Exception as exc:  # handed back to the runner, which records the step and decides
            error = exc
        return StepExecution(outputs, ctx.logbuf.getvalue(), time.perf_counter() - t0, error)


def hidden_paths(ws: Any) -> list[Path]:
    """What the child must not read: the workspace's state folder, a SQLite store file (with its journal
    files) and a local artifact folder, wherever they are configured."""
    from sqlalchemy.engine import make_url

    from shipyard.config import STATE_DIR

    hidden = [Path(ws.root) / STATE_DIR]
    url = make_url(ws.db.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        hidden += [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    art = str(getattr(ws.artifacts, "url", ""))
    if art.startswith("file://"):
        hidden.append(Path(art[len("file://"):]))
    return hidden


def writable_paths(root: Path, writable: list[str], hidden: list[Path]) -> list[Path]:
    """``sandbox.train_writable`` resolved against the workspace.

    Raises:
        InvalidInputError: a folder that is, holds or lies inside one the child must not read.
    """
    out = []
    for i, text in enumerate(writable):
        path = (root / text).resolve()
        for h in hidden:
            h = h.resolve()
            if path == h or path.is_relative_to(h) or h.is_relative_to(path):
                raise InvalidInputError(field=f"sandbox.train_writable[{i}]", value=text,
                                        expected=f"a folder apart from the store's files ({h})")
        out.append(path)
    return out


def run_isolated(step: UserCodeStep, ctx: RunContext, limits: SandboxLimits, writable: list[str] | None = None,
                 *, network: bool = False) -> dict[str, Any]:
    """Run ``step``'s user code in a sandboxed child and return the step's outputs (computed here);
    ``network``: may it open TCP connections (``sandbox.train_network``; else Landlock refuses them)."""
    hidden = hidden_paths(ctx.ws)
    extra = writable_paths(Path(ctx.spec.root), writable or [], hidden)
    protect_parent()
    work = Path(tempfile.mkdtemp(prefix=f"shipyard-{step.name}-"))
    try:
        job = step.write_inputs(ctx, work)
        doc = {**job, "memory_bytes": limits.memory_bytes or 0, "hidden": [str(p) for p in hidden],
               "writable": [str(work), *(str(p) for p in extra)], "network": network}
        (work / JOB_FILE).write_text(json.dumps(doc), encoding="utf-8")
        cmd = [sys.executable, "-P", "-m", "shipyard.pipeline.executors.isolated_child", str(work)]
        env = scrubbed_env(TMPDIR=str(work), HOME=str(work), one_thread=False)  # training uses every core
        with open(work / LOG_FILE, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=ctx.spec.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        ctx.log(f"{step.name}: user code in a sandboxed child (pid {proc.pid}; limits {limits.timeout_s:g} s, "
                f"{limit_text(limits)})")
        try:
            proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            where = job.get("where", step.name)
            raise TrainFunctionError(
                f"{step.config_key}: {where} did not finish within {limits.timeout_s:g} s "
                "(sandbox.train_timeout_s); the step was stopped", field=step.config_key, value=where,
                expected=f"user code that finishes within {limits.timeout_s:g} s (sandbox.train_timeout_s)") from None
        finally:
            kill_group(proc)  # on time-out, interrupt, or whatever it left running in its session
        answer = _answer(work, step, job, proc.returncode, limits, ctx)
        return step.read_outputs(ctx, work, job, answer)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _answer(work: Path, step: UserCodeStep, job: dict[str, Any], code: int | None, limits: SandboxLimits,
            ctx: RunContext) -> dict[str, Any]:
    """The child's answer; its log goes to the step log; its error becomes the same error an in-process run
    raises (a user error, exit 2), or ``SandboxFailedError`` when shipyard's side of the child failed."""
    path = work / RESULT_FILE
    doc: Any = None
    if path.is_file() and path.stat().st_size <= MAX_RESULT_BYTES:
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            doc = None
    where = job.get("where", step.name)
    if not isinstance(doc, dict):
        tail = _tail(work / LOG_FILE)
        if tail:
            ctx.log(tail)
        raise TrainFunctionError(
            f"{step.config_key}: {where} ended the sandboxed child (exit code {code}) without an answer "
            f"(memory limit {limit_text(limits)}, sandbox.train_memory_mb)" + (f": {tail[-300:]}" if tail else ""),
            field=step.config_key, value=where, expected="user code that returns or raises an exception")
    if isinstance(doc.get("log"), str) and doc["log"]:
        ctx.log(doc["log"])
    confined = doc.get("confined")
    if isinstance(confined, dict):
        ctx.log(f"{step.name}: sandbox landlock ABI {confined.get('landlock')} (0: unavailable), capabilities "
                f"{confined.get('capabilities')}")
    err = doc.get("error")
    if isinstance(err, dict):
        raise _error(err, step, where, limits)
    if not isinstance(doc.get("outputs"), dict):
        raise SandboxFailedError(f"{step.name}: the sandboxed child answered without outputs")
    return dict(doc["outputs"])


def _error(err: dict[str, Any], step: UserCodeStep, where: str, limits: SandboxLimits) -> Exception:
    kind, message = str(err.get("type")), str(err.get("message"))[:2000]
    if kind == "MemoryError" or (kind == "TrainFunctionError" and "MemoryError" in message):
        return TrainFunctionError(
            f"{step.config_key}: {where} ran out of memory in the sandbox (limit {limit_text(limits)}, "
            "sandbox.train_memory_mb)", field=step.config_key, value=where,
            expected=f"user code that fits in {limit_text(limits)} (raise sandbox.train_memory_mb)")
    if not err.get("shipyard"):
        return SandboxFailedError(f"{step.name}: the sandboxed child failed: {kind}: {message}")
    cls: type[ShipyardError] = TrainFunctionError if kind == "TrainFunctionError" else InvalidInputError
    return cls(message, field=err.get("field"), value=err.get("value"), expected=err.get("expected"))


def _tail(path: Path, n: int = 2000) -> str:
    return log_tail(path, n)
