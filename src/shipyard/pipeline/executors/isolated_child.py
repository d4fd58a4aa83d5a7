"""The sandboxed child of a user-code step: ``python -P -m shipyard.pipeline.executors.isolated_child WORKDIR``.

Started by ``isolated.run_isolated`` with a scrubbed environment, in its own session. Before any user code
it caps its address space (``sandbox.limit_memory``) and confines itself (``flavors/confine.py``); when the
kernel refuses a confinement it offers, no user code runs. It then reads ``WORKDIR/job.json``, calls the
job's entry point ``(job, workdir, log) -> outputs`` (only one of shipyard's own modules) and writes
``WORKDIR/result.json``: ``{"outputs": {...}}`` or ``{"error": {...}}``, with the step log and how it was
confined. ``"shipyard": true`` on an error marks one of shipyard's kinds (the user's code failed in a way the
step reports); anything else is a failure of the child itself.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

MAX_LOG_CHARS = 20000


def run(work: Path) -> dict[str, Any]:
    from shipyard.errors import ShipyardError
    from shipyard.flavors.confine import confine
    from shipyard.flavors.sandbox import limit_memory

    job = json.loads((work / "job.json").read_text(encoding="utf-8"))
    limit_memory(int(job.get("memory_bytes") or 0))
    try:
        confined = confine([work, *(Path(p) for p in job.get("writable") or [])],
                           [Path(p) for p in job.get("hidden") or []], network=bool(job.get("network")))
    except OSError as exc:
        return {"error": {"type": "ConfinementError", "message": f"the sandbox could not be set up: {exc}"}}
    module, _, name = str(job["entry"]).partition(":")
    if not module.startswith("shipyard."):
        return {"error": {"type": "ValueError", "message": f"entry {job['entry']!r} is not shipyard's"}}
    lines: list[str] = []
    answer: dict[str, Any]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            entry = getattr(importlib.import_module(module), name)
            answer = {"outputs": entry(job, work, lines.append)}
        except ShipyardError as exc:
            answer = {"error": {**exc.to_dict(), "shipyard": True}}
        except MemoryError:
            answer = {"error": {"type": "MemoryError", "message": "out of memory"}}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)[:2000]}}
    lines += [f"warning: {w.category.__name__}: {w.message}" for w in caught]
    log = "\n".join(line.rstrip("\n") for line in lines)
    return {**answer, "log": log[-MAX_LOG_CHARS:], "confined": confined}


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    doc = run(work)
    text = json.dumps(doc, default=str)
    tmp = work / "result.json.part"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, work / "result.json")
    return 0


if __name__ == "__main__":
    # os._exit: threads the user's code left running must not keep the child alive past its answer.
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
