"""Scoring a pyfunc (user code) in the gateway's sandboxed model process, never in this process.

``shipyard batch score`` holds the store's credentials, so user code must not run in it (docs/design.md,
"Trust boundaries: user code isolation"). For a pyfunc version the CLI starts the same child the gateway
uses (``serving.model_process.ModelProcess``: a fresh interpreter, scrubbed environment, memory limit,
private temporary folder), sends it the verified artifact bytes, and sends each chunk's checked rows as
raw arrays; nothing is unpickled on either side. The child's asyncio channel runs on a private event loop
in a daemon thread; ``predict`` blocks on it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from shipyard.serving.model_process import ModelProcess
from shipyard.serving.runtime import Outputs
from shipyard.serving.signature import Rows

PREDICT_TIMEOUT_S = 600.0


class SandboxedModel:
    """One loaded version in a sandboxed child: ``predict(rows)`` like ``runtime.make_predict``'s function."""

    def __init__(self, memory_bytes: int | None, max_rows: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="shipyard-batch-sandbox", daemon=True)
        self.thread.start()
        self.process = ModelProcess(max_batch_size=max_rows, memory_bytes=memory_bytes)
        self.key = ""
        self._run(self.process.start())

    def _run(self, coro: Any, timeout: float = PREDICT_TIMEOUT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def load(self, key: str, flavor: str, data: bytes, signature: Any, labels: list[Any] | None,
             trusted_types: tuple[str, ...]) -> list[Any] | None:
        self.key = key
        classes, _info = self.process.load_threadsafe(key, flavor, data, signature, labels, trusted_types)
        return classes

    def predict(self, rows: Rows) -> Outputs:
        async def call() -> Any:
            return await self.process.predict(self.key, rows, [rows.n])

        out = self._run(call())
        if isinstance(out, list):  # the batch failed: its one part's outcome
            first = out[0]
            if isinstance(first, Exception):
                raise first
            return dict(first)
        return dict(out)

    def close(self) -> None:
        try:
            self._run(self.process.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
