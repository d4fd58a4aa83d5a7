"""Starting the gateway's model process early: before the gateway's own imports (issue 19, cold start).

The model process (``model_process.py``, ``model_child.py``) spends most of a cold start importing its
flavor's libraries: scikit-learn, scipy and skops take ~1.3 s on the benchmark's 2-core machine, longer than
the rest of the gateway's start-up (Python, the CLI, the config, the store, the HTTP stack, the rollout
controller: ~1 s). So ``shipyard serve`` starts it first and the two run side by side:

1. ``speculate()``, right after the command line is parsed, before the workspace is opened: a child that
   starts importing scikit-learn (``SPECULATIVE``: the flavor most endpoints serve, and the only one whose
   import is slow enough to matter) at once. Its memory limit is not known yet (it is in shipyard.yaml), so
   the child starts with the limit *pending*: it imports libraries but refuses to load a model, i.e. to run
   anything a user wrote, until the gateway's first frame (LIMITS) has set it.
2. ``settle()``, once the workspace is open: the flavors of the versions its endpoints route to are read
   (two small queries). A child that speculated wrongly (no endpoint serves scikit-learn: it would only
   hold memory) is stopped and one importing the right flavors takes its place; in thread mode there is none.
3. The gateway's ``ModelProcess.start`` adopts it, sends LIMITS, then loads the versions as usual.

Nothing else changes: the same command, environment (``sandbox.scrubbed_env``), memory limit and private
temporary folder as any model process; a child started later (a restart, a worker of ``--workers N``) is
started by ``ModelProcess.start`` with the limit on its command line, as before.

This module imports no numpy and no gateway code, so the child starts before they load.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("shipyard.serving")
CHILD_CODE = "from shipyard.serving.model_child import child_entry; child_entry()"
WORKDIR_PREFIX = "shipyard-model-"
LIMIT_PENDING = "pending"  # the MEMORY_BYTES argument of a child whose limit the gateway's LIMITS frame sets
SPECULATIVE = ("sklearn",)  # flavors a child imports before the served ones are known (see the module doc)


class Child:
    """The child as ``subprocess.Popen``, seen through the few ``multiprocessing.Process`` members the
    gateway (and its tests) use: pid, exitcode, is_alive, join, kill."""

    def __init__(self, popen: subprocess.Popen[bytes], workdir: str) -> None:
        self.popen, self.workdir = popen, workdir

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return
        shutil.rmtree(self.workdir, ignore_errors=True)  # the extracted archives of a child that is gone

    def kill(self) -> None:
        self.popen.kill()
        self.join(5)


@dataclass
class Spawned:
    """A model process started before the event loop: the child and this side's end of its socket."""

    child: Child
    sock: socket.socket
    preload: tuple[str, ...] = ()
    limit_pending: bool = False  # started before the memory limit was known: the adopter sends LIMITS first
    adopted: bool = False  # a ModelProcess serves it (and stops it)

    def close(self) -> None:
        """Stop the child unless a ModelProcess adopted it (start-up failed before the gateway took it over)."""
        if self.adopted:
            return
        self.sock.close()  # the child sees its socket close and exits
        if self.child.is_alive():
            self.child.kill()
        else:
            self.child.join(1)


def spawn(memory_bytes: int | None | str, preload: Iterable[str] = ()) -> Spawned:
    """A fresh interpreter running ``model_child.child_entry`` with the scrubbed environment, the address-space
    limit ``memory_bytes`` (None: none; ``LIMIT_PENDING``: set by the adopter's LIMITS frame), a private TMPDIR
    and its end of a socket pair; ``preload``: flavors whose libraries it imports before it reads a frame."""
    from shipyard.flavors.sandbox import protect_parent, scrubbed_env

    protect_parent()  # the child must not read this process's environment through /proc either
    parent, child_sock = socket.socketpair()
    try:
        workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
        fd = child_sock.fileno()
        flavors = tuple(dict.fromkeys(preload))
        cmd = [sys.executable, "-c", CHILD_CODE, str(fd), str(memory_bytes or 0), workdir, ",".join(flavors)]
        popen = subprocess.Popen(cmd, env=scrubbed_env(TMPDIR=workdir, HOME=workdir), pass_fds=(fd,), cwd=workdir,
                                 stdin=subprocess.DEVNULL)
    except BaseException:
        parent.close()
        raise
    finally:
        child_sock.close()
    return Spawned(Child(popen, workdir), parent, flavors, limit_pending=memory_bytes == LIMIT_PENDING)


def predict_mode(ws: Any, predict_threads: int | None = None, predict_in: str | None = None) -> str:
    """Where the gateway predicts: ``--predict-in``, else thread mode when ``--predict-threads`` is given, else
    shipyard.yaml's ``serving.predict_in``."""
    return predict_in or ("thread" if predict_threads is not None else str(ws.config.serving.predict_in))


def served_flavors(ws: Any) -> list[str]:
    """The flavors of every version the workspace's endpoints route to or shadow (what the gateway will load)."""
    eps = ws.endpoints
    flavors: list[str] = []
    for st in eps.snapshot().values():
        for version in st.table.versions:
            flavors.append(eps.version_spec(st.model, version).flavor)
    return list(dict.fromkeys(flavors))


def speculate(predict_threads: int | None = None, predict_in: str | None = None) -> Spawned | None:
    """Step 1: a child importing ``SPECULATIVE`` with its memory limit pending; None when the command line asks
    for thread mode (nothing to start) or the libraries are not installed."""
    import importlib.util

    if predict_in == "thread" or predict_threads is not None:
        return None
    flavors = [f for f in SPECULATIVE if importlib.util.find_spec(f) is not None]
    return spawn(LIMIT_PENDING, flavors) if flavors else None


_early: list[Spawned] = []  # a child speculate_for_cli started, until `shipyard serve` takes it


def serves_in_process(argv: list[str]) -> bool:
    """Whether raw CLI arguments run ``serve`` with one worker in process mode, read without typer (the global
    options before the command: ``--workspace/-C`` and ``--server`` with a value, ``--debug``). A guess either
    way only costs time: ``settle`` and the CLI's ``finally`` stop a child nobody adopts."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("-C", "--workspace", "--server") else rest[1:]
    if not rest or rest[0] != "serve":
        return False
    opts = rest[1:]
    values = dict(zip(opts, [*opts[1:], ""], strict=False))  # an option -> the argument after it
    values.update((k, v) for k, _, v in (o.partition("=") for o in opts if o.startswith("--") and "=" in o))
    return not ({"--help", "-h", "--predict-threads"} & values.keys() or values.get("--predict-in") == "thread"
                or values.get("--workers", "1") != "1")


def speculate_for_cli(argv: list[str]) -> None:
    """From the CLI's entry point, before typer parses anything (~0.1-0.3 s here: typer builds every command and
    imports pydantic for its parameter coercion): ``speculate`` when ``argv`` serves in process mode;
    ``shipyard serve`` takes the child with ``take_speculated``."""
    if serves_in_process(argv):
        early = speculate()
        if early is not None:
            _early.append(early)


def take_speculated() -> Spawned | None:
    """The child ``speculate_for_cli`` started (once), or None."""
    return _early.pop() if _early else None


def discard_speculated() -> None:
    """Stop a speculated child the command never took (it failed before)."""
    while _early:
        _early.pop().close()


def settle(early: Spawned | None, ws: Any, predict_threads: int | None = None,
           predict_in: str | None = None) -> Spawned | None:
    """Step 2, the workspace open: the child the gateway will adopt, importing what its endpoints serve. Keeps
    ``early`` when it imports nothing they do not need (what they need and it does not import, LOAD imports);
    else stops it and starts the right one. None in thread mode. Reading the flavors is best effort: should it
    fail, ``early`` is kept and the gateway's start-up reports the failure when it reads the same tables."""
    if predict_mode(ws, predict_threads, predict_in) != "process":
        if early is not None:
            early.close()
        return None
    try:
        flavors = served_flavors(ws)
    except Exception as exc:  # noqa: BLE001 - start-up reads them again and says what is wrong
        log.debug("model process: served flavors not known yet (%s: %s)", type(exc).__name__, exc)
        if early is not None:
            return early
        flavors = []
    if early is not None and set(early.preload) <= set(flavors):
        return early
    if early is not None:
        log.debug("model process: no endpoint serves %s; starting one for %s", early.preload, flavors)
        early.close()
    mem = ws.config.sandbox.memory_mb
    return spawn(None if mem is None else mem << 20, flavors)
