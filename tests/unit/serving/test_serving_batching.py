"""serving.batching: coalesced results equal unbatched ones; a lone request is not delayed; errors stay local."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from shipyard.serving.batching import Batcher
from shipyard.serving.signature import Rows


def predict(rows: Rows) -> dict[str, np.ndarray]:
    if np.isnan(rows.matrix).any():
        raise ValueError("Input X contains NaN")
    return {"predict": rows.matrix.sum(axis=1), "twice": rows.matrix * 2}


def test_concurrent_requests_are_batched_and_split_back():
    sizes: list[int] = []

    async def main() -> None:
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(predict, ex, max_batch_size=16, max_wait_ms=1.0, observe=sizes.append)
            reqs = [Rows(1 + i % 3, matrix=np.arange(3 * (1 + i % 3), dtype=float).reshape(-1, 3) + i)
                    for i in range(200)]
            outs = await asyncio.gather(*(b.submit(r) for r in reqs))
            for r, o in zip(reqs, outs, strict=True):
                want = predict(r)
                np.testing.assert_array_equal(o["predict"], want["predict"])
                np.testing.assert_array_equal(o["twice"], want["twice"])

    asyncio.run(main())
    assert max(sizes) > 1, "concurrent requests were never coalesced"
    assert max(sizes) <= 16
    assert sum(sizes) == sum(1 + i % 3 for i in range(200))


def test_a_failing_row_fails_only_its_request():
    async def main() -> list[object]:
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(predict, ex, max_batch_size=64, max_wait_ms=5.0)
            good = [Rows(1, matrix=np.array([[1.0, 2.0]])) for _ in range(10)]
            bad = Rows(1, matrix=np.array([[np.nan, 1.0]]))
            return await asyncio.gather(*(b.submit(r) for r in [*good[:5], bad, *good[5:]]), return_exceptions=True)

    res = asyncio.run(main())
    assert isinstance(res[5], ValueError)
    assert all(isinstance(r, dict) and r["predict"][0] == 3.0 for i, r in enumerate(res) if i != 5)


def test_sequential_requests_go_out_alone():
    sizes: list[int] = []

    async def main() -> None:
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(predict, ex, max_batch_size=32, max_wait_ms=50.0, observe=sizes.append)
            for i in range(20):
                out = await b.submit(Rows(1, matrix=np.array([[float(i), 1.0]])))
                assert out["predict"][0] == i + 1

    asyncio.run(main())
    assert sizes == [1] * 20
