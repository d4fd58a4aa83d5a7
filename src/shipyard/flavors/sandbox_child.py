"""The sandboxed inspection child: ``python -m shipyard.flavors.sandbox_child WORKDIR MEMORY_BYTES``.

Started by ``sandbox.inspect_in_sandbox`` with a scrubbed environment in a private directory. It caps
its own address space and confines itself (``sandbox.confine_model_child``) first, then loads the pyfunc
archive ``WORKDIR/artifact.zip`` (the user's code runs here, and only here), describes it and writes
``WORKDIR/result.json``: ``{"info": {...}}`` or ``{"error": {"type", "message", ...}}``. Prints from the
user's code go to the child's log, not into the answer.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def run(work: Path, memory_bytes: int) -> dict[str, Any]:
    from shipyard.errors import ShipyardError
    from shipyard.flavors import pyfunc, sandbox

    sandbox.limit_memory(memory_bytes)
    try:
        sandbox.confine_model_child(work)
    except OSError as exc:
        return {"error": {"type": "ConfinementError", "message": f"the sandbox could not be set up: {exc}"}}
    pyfunc.enter_sandbox()
    try:
        info = pyfunc.describe((work / sandbox.ARTIFACT_FILE).read_bytes())
        return {"info": info}
    except ShipyardError as exc:
        return {"error": exc.to_dict()}
    except BaseException as exc:  # noqa: BLE001 - the user's code may raise anything, SystemExit included
        return {"error": {"type": type(exc).__name__, "message": str(exc)[:2000]}}


def main(argv: list[str]) -> int:
    work, memory = Path(argv[0]), int(argv[1])
    doc = run(work, memory)
    text = json.dumps(doc, default=_jsonable)
    tmp = work / "result.json.part"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, work / "result.json")
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    # os._exit: threads the user's code left running must not keep the child alive past its answer.
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
