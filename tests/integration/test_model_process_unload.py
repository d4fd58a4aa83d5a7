"""Unloading a version from the real model process while requests for it are still queued or in flight:
the routing sync (a thread) unloads the old version right after swapping the routing table, and the
requests that chose it a moment earlier must still be answered."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
from tests.builders import make_skops_model

from shipyard.serving.model_process import ModelProcess
from shipyard.serving.signature import Rows

SIGNATURE = {"inputs": [{"name": f"f{i}", "type": "float"} for i in range(4)]}


def _rows(n: int) -> Rows:
    return Rows(n, matrix=np.random.default_rng(n).normal(size=(n, 4)))


def test_unload_from_another_thread_waits_for_the_requests_already_sent(tmp_path: Path) -> None:
    data = make_skops_model(tmp_path / "m.skops").read_bytes()

    async def main() -> None:
        proc = ModelProcess()
        await proc.start()
        try:
            await proc.load("m:1", "sklearn", data, SIGNATURE)
            queued = [True]  # stands for the version's batcher: requests that chose it, not yet sent
            futures = [proc.predict("m:1", _rows(i % 3 + 1), [i % 3 + 1]) for i in range(200)]
            # the routing sync runs in a thread and unloads right after the swap
            await asyncio.to_thread(proc.unload, "m:1", lambda: queued[0])
            late = [proc.predict("m:1", _rows(2), [2]) for _ in range(20)]  # sent after the unload was asked
            queued[0] = False
            results = await asyncio.gather(*futures, *late, return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[0]}"
            assert all(r["predict"].shape[0] in (1, 2, 3) for r in results)  # type: ignore[index]
            for _ in range(200):  # and then the child does free it
                await asyncio.sleep(0.02)
                if "m:1" not in proc._loads:
                    break
            with pytest.raises(Exception, match="not loaded"):
                await proc.predict("m:1", _rows(1), [1])
        finally:
            await proc.stop()

    asyncio.run(main())


def test_a_load_after_the_unload_was_asked_keeps_the_version(tmp_path: Path) -> None:
    """Routing went 1 -> 2 -> 1 faster than the old requests drained: the pending unload must not drop the
    version the newest routing loaded again."""
    data = make_skops_model(tmp_path / "m.skops").read_bytes()

    async def main() -> None:
        proc = ModelProcess()
        await proc.start()
        try:
            await proc.load("m:1", "sklearn", data, SIGNATURE)
            busy = threading.Event()
            busy.set()
            await asyncio.to_thread(proc.unload, "m:1", busy.is_set)
            await proc.load("m:1", "sklearn", data, SIGNATURE)
            busy.clear()
            await asyncio.sleep(0.3)  # the deferred unload has run by now, and given up
            out = await proc.predict("m:1", _rows(2), [2])
            assert out["predict"].shape == (2,)
        finally:
            await proc.stop()

    asyncio.run(main())
