"""User model code (pyfunc) runs only in a child process: scrubbed environment, time and memory limits.

The control plane (``shipyard server``, the CLI, the gateway's own process) holds the store's
credentials and ``SHIPYARD_AUDIT_KEY``; an uploaded pyfunc must not run there. ``inspect_in_sandbox``
starts ``python -m shipyard.flavors.sandbox_child`` with:

- an environment built from an allowlist (``scrubbed_env``): PATH, HOME, locale, TMPDIR, the Python
  search path and thread counts; never a ``SHIPYARD_*`` variable, a database URL or a token;
- a private working directory (``tempfile.mkdtemp``, mode 0700) holding the artifact, the extracted
  archive and the child's answer; removed when the child is done, whatever happened;
- ``RLIMIT_AS`` (``limits.memory_bytes``, set by the child before it reads the artifact) and a wall-clock
  timeout after which the child's whole process group is killed;
- the parent made non-dumpable first (``protect_parent``), so the child cannot read the parent's
  environment through ``/proc/<parent pid>/environ`` either (unless it runs with CAP_SYS_PTRACE, i.e. root).

The child answers with a JSON document (``result.json`` in the private directory, read with a size
bound): nothing is ever unpickled across the boundary. The gateway's model process uses the same
environment and memory limit (``serving/model_process.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.flavors.base import ArtifactFormatError

GIB = 1 << 30
PR_SET_DUMPABLE = 4
RESULT_FILE, ARTIFACT_FILE, LOG_FILE = "result.json", "artifact.zip", "child.log"
MAX_RESULT_BYTES = 1 << 20
# Variables a child may inherit; everything else (SHIPYARD_*, DATABASE_URL, PG*, AWS_*, tokens...) stays behind.
KEEP = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "LD_LIBRARY_PATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING",
    "PYTHONWARNINGS", "PYTHONFAULTHANDLER", "SSL_CERT_FILE", "SSL_CERT_DIR", "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "SYSTEMROOT",
})
KEEP_PREFIXES = ("LC_",)
# The children predict with one BLAS/OpenMP thread (threadpoolctl): say so before the libraries start
# their pools, which also keeps their address-space reservations inside the memory limit.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Limits for a child running user code (shipyard.yaml ``sandbox:``)."""

    timeout_s: float = 60.0  # inspection: import + construct + describe
    memory_bytes: int | None = 2 * GIB  # RLIMIT_AS (virtual address space); None: no limit

    @classmethod
    def from_mb(cls, timeout_s: float, memory_mb: int | None) -> SandboxLimits:
        return cls(timeout_s=timeout_s, memory_bytes=None if memory_mb is None else memory_mb * (1 << 20))


def scrubbed_env(environ: Mapping[str, str] | None = None, *, one_thread: bool = True, **extra: str) -> dict[str, str]:
    """The environment for a child running user code: the allowlisted variables of ``environ`` (default:
    this process's), never a ``SHIPYARD_*`` one, with shipyard's own source directory first on PYTHONPATH
    unless it is a site-packages directory (the child must import the same shipyard as this process), one
    BLAS thread unless ``environ`` says otherwise (``one_thread=False``: the libraries' own defaults, for a
    training step), and ``extra``."""
    import shipyard

    src = os.environ if environ is None else environ
    env = {k: v for k, v in src.items()
           if (k in KEEP or k.startswith(KEEP_PREFIXES)) and not k.upper().startswith("SHIPYARD_")}
    root = str(Path(shipyard.__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    if root not in _site_dirs():  # a source checkout: put it first; site-packages must not shadow the stdlib
        paths.insert(0, root)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    if one_thread:
        for k, v in ONE_THREAD.items():
            env.setdefault(k, v)
    env.update(extra)
    return env


def _site_dirs() -> set[str]:
    import site

    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return {str(Path(d).resolve()) for d in dirs}


def limit_memory(nbytes: int | None) -> None:
    """In the child, before any user code: cap the address space (never raising a lower hard limit) and
    turn off core dumps (a core file would hold the model's memory)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not nbytes:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = nbytes if hard == resource.RLIM_INFINITY else min(nbytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def confine_model_child(work: Path) -> dict[str, object]:
    """In a child that loads models (pyfunc code included), before any of it runs: read only the Python
    installation and the system's libraries (``confine.python_readable``), write only ``work`` (its private
    TMPDIR and HOME) and ``/dev/shm``, no TCP connect or bind (``flavors/confine.py``). Its socket to the
    gateway and the files of its inspection are already open or beneath ``work``.

    Raises:
        OSError: the kernel refused a restriction it offers: the child must exit without loading anything.
    """
    from shipyard.flavors.confine import confine, python_readable

    return confine([work], [], readable=python_readable(), network=False)


def protect_parent() -> bool:
    """Make this process (the one holding the secrets) non-dumpable before it starts a child running user
    code: Linux then refuses ``/proc/<this pid>/environ``, ``mem`` and ptrace to same-user processes without
    CAP_SYS_PTRACE, so the child cannot read the environment it was not given. Also turns off this
    process's core dumps; debuggers attaching to it need CAP_SYS_PTRACE. Best effort: False where prctl is
    unavailable. Children are unaffected (the flag resets at exec)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and anything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def inspect_in_sandbox(data: bytes, entry: str, limits: SandboxLimits) -> dict[str, Any]:
    """Import and describe a pyfunc archive in a sandboxed child; returns ArtifactInfo's fields as JSON values.

    Raises:
        ArtifactFormatError: the child timed out, ran out of memory, crashed or the code raised; the
            message names the entrypoint and, for a time-out, the limit.
        UnsafeArtifactError: the child refused the archive (a pickle inside).
    """
    protect_parent()
    work = Path(tempfile.mkdtemp(prefix="shipyard-inspect-"))  # 0700, unpredictable name
    field = "pyfunc.json.entrypoint"
    try:
        (work / ARTIFACT_FILE).write_bytes(data)
        cmd = [sys.executable, "-m", "shipyard.flavors.sandbox_child", str(work), str(limits.memory_bytes or 0)]
        with open(work / LOG_FILE, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=scrubbed_env(TMPDIR=str(work), HOME=str(work)),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                raise ArtifactFormatError(
                    f"{field}: {entry} did not import and construct within {limits.timeout_s:g} s (sandbox.timeout_s);"
                    " the inspection was stopped", field=field, value=entry,
                    expected=f"a model that loads within {limits.timeout_s:g} s (sandbox.timeout_s)") from None
            finally:
                if proc.returncode is not None:
                    kill_group(proc)  # whatever it left running in its session
        return _answer(work, entry, proc.returncode, limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _answer(work: Path, entry: str, code: int | None, limits: SandboxLimits) -> dict[str, Any]:
    from shipyard.flavors.base import UnsafeArtifactError

    field = "pyfunc.json.entrypoint"
    path = work / RESULT_FILE
    doc: Any = None
    if path.is_file() and path.stat().st_size <= MAX_RESULT_BYTES:
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            doc = None
    if isinstance(doc, dict) and isinstance(doc.get("info"), dict):
        return dict(doc["info"])
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        err = doc["error"]
        if err.get("type") == "UnsafeArtifactError":
            raise UnsafeArtifactError(field=err.get("field") or "artifact", value=err.get("value"),
                                      expected=err.get("expected") or "a safe archive")
        if err.get("type") == "MemoryError":
            raise ArtifactFormatError(field=field, value=entry, expected=(
                f"a model that loads within the memory limit of {_mb(limits)} (sandbox.memory_mb): MemoryError"))
        raise ArtifactFormatError(field=field, value=entry, expected=(
            f"a module that imports and a class that constructs without error; got {err.get('type')}: "
            f"{str(err.get('message'))[:500]}"))
    tail = _tail(work / LOG_FILE)
    raise ArtifactFormatError(field=field, value=entry, expected=(
        f"a model that loads in the sandbox (memory limit {_mb(limits)}); the inspection process exited with code "
        f"{code} without an answer" + (f": {tail}" if tail else "")))


def _mb(limits: SandboxLimits) -> str:
    """The memory limit in words, for error messages."""
    return "none" if not limits.memory_bytes else f"{limits.memory_bytes >> 20} MB"


def _tail(path: Path, n: int = 400) -> str:
    """The last ``n`` bytes of a child's log, for error messages ("" when unreadable)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - n))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


limit_text = _mb  # shared with pipeline/executors/isolated.py
log_tail = _tail
