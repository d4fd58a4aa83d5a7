"""Overload bounds without a server: the batcher's queue bound and deadlines, the feedback buffer's bound,
the token check's answers (issue 18)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from shipyard.core.permissions import Permission, TokenGrant
from shipyard.serving.access import TokenCheck
from shipyard.serving.batching import Batcher, OverloadedError
from shipyard.serving.http import HttpError
from shipyard.serving.signature import Rows
from shipyard.telemetry.feedback import FeedbackBuffer


def test_a_full_queue_refuses_at_once_and_a_stuck_model_times_out_queued_and_in_flight_requests():
    release = threading.Event()

    def stuck(rows: Rows) -> dict[str, np.ndarray]:
        release.wait(10)
        return {"predict": rows.matrix.sum(axis=1)}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(stuck, ex, max_batch_size=1, max_wait_ms=0, max_queue=3)
            one = Rows(1, matrix=np.ones((1, 2)))
            tasks = [asyncio.ensure_future(b.submit(one)) for _ in range(4)]  # 1 in flight, 3 queued
            await asyncio.sleep(0.05)
            with pytest.raises(OverloadedError) as full:
                await b.submit(one)
            assert full.value.reason == "queue_full" and "serving.max_queue" in str(full.value.expected)
            assert b.expire(loop.time(), 5.0) is None  # nothing is 5 s old yet
            assert not any(t.done() for t in tasks)
            sent = b.expire(loop.time() + 5.0, 5.0)  # 5 s later: the batch in flight means a hung model
            assert sent is not None and sent <= loop.time()
            for t in tasks:
                with pytest.raises(OverloadedError) as late:
                    await t
                assert late.value.reason == "timeout" and late.value.retry_after == 5
            assert not b._queue and b._queued_rows == 0  # the queue is free for new requests
            release.set()
            await asyncio.sleep(0.2)
            out = await b.submit(one)  # the model answers again: so does the batcher
            assert out["predict"].tolist() == [2.0]

    asyncio.run(main())


def test_feedback_buffer_is_bounded_and_counts_what_it_drops():
    down = True
    stored: list[tuple] = []
    dropped: dict[str, int] = {}

    def sink(items: list) -> int:
        if down:
            raise ConnectionError("database unreachable")
        stored.extend(items)
        return len(items)

    buf = FeedbackBuffer(sink, max_items=10, on_drop=lambda e, n: dropped.__setitem__(e, dropped.get(e, 0) + n))
    assert buf.add([("a", f"r{i}", None, 1) for i in range(6)])
    with pytest.raises(ConnectionError):
        buf.flush()
    assert len(buf) == 6  # put back whole
    assert not buf.add([("a", "x", None, 1), ("b", "y", None, 0)] * 3)  # 6 + 6 > 10: refused whole
    assert dropped == {"a": 3, "b": 3} and len(buf) == 6
    assert buf.add([("b", "z", 0, 1)] * 4) and len(buf) == 10
    assert not buf.add([("b", "z", 1, 1)])
    down = False
    assert buf.flush() == 10 and len(stored) == 10 and len(buf) == 0
    assert dropped == {"a": 3, "b": 4}


def test_feedback_buffer_counts_labels_being_written_toward_the_bound():
    entered, release = threading.Event(), threading.Event()

    def slow(items: list) -> int:
        entered.set()
        release.wait(5)
        raise ConnectionError("timed out")

    buf = FeedbackBuffer(slow, max_items=5)
    buf.add([("a", "r", None, 1)] * 4)
    t = threading.Thread(target=lambda: pytest.raises(ConnectionError, buf.flush))
    t.start()
    entered.wait(5)
    assert not buf.add([("a", "s", None, 1)] * 2)  # 4 being written + 2 > 5
    assert buf.add([("a", "s", None, 1)])
    release.set()
    t.join()
    assert len(buf) == 5  # the failed write came back and still fits


def _check(grants: dict[str, TokenGrant]) -> TokenCheck:
    tc = TokenCheck(lambda: grants)
    tc.refresh()
    return tc


def _bearer(token: str) -> dict[bytes, bytes]:
    return {b"authorization": b"Bearer " + token.encode()}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_token_check_answers_401_403_or_lets_through():
    grants = {_digest("shp_ok"): TokenGrant("app", "contributor", None, True),
              _digest("shp_viewer"): TokenGrant("eve", "viewer", time.time() + 3600, False),
              _digest("shp_old"): TokenGrant("app", "contributor", time.time() - 1, True)}
    tc = _check(grants)
    tc.check(_bearer("shp_ok"), Permission.FEEDBACK, "feedback")
    for headers in ({}, {b"authorization": b"Basic abc"}, {b"authorization": b"Bearer "}, _bearer("shp_nope"),
                    _bearer("shp_old")):  # expired between two polls: refused at request time
        with pytest.raises(HttpError) as err:
            tc.check(headers, Permission.FEEDBACK, "feedback")
        assert err.value.status == 401 and err.value.extra == [(b"www-authenticate", b"Bearer")]
        assert "shp_" not in str(err.value.error) and "shp_" not in repr(err.value.error.value)
    with pytest.raises(HttpError) as denied:
        tc.check(_bearer("shp_viewer"), Permission.FEEDBACK, "feedback")
    assert denied.value.status == 403 and "role viewer" in str(denied.value.error)
    assert "contributor" in str(denied.value.error)  # names the roles that may
    TokenCheck(None).check({}, Permission.FEEDBACK, "feedback")  # auth optional: no token needed


@pytest.mark.parametrize(("key", "bad"), [("predict_timeout", 0), ("predict_timeout", float("nan")),
                                          ("predict_timeout", float("inf")), ("max_queue", 0),
                                          ("max_shadow_in_flight", -1), ("feedback_max_labels", 0),
                                          ("feedback_buffer", 0), ("max_queue", "many")])
def test_overload_settings_are_checked_naming_the_key(key: str, bad: object) -> None:
    from shipyard.config import parse_project
    from shipyard.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as exc:
        parse_project({"serving": {key: bad}})
    assert exc.value.field == f"serving.{key}" and f"serving.{key}" in str(exc.value)


def test_overload_settings_reach_the_gateway_options() -> None:
    from types import SimpleNamespace

    from shipyard.config import Settings, parse_project
    from shipyard.serving.server import options_from

    cfg = parse_project({"auth": "required", "serving": {"predict_timeout": 2.5, "max_queue": 7,
                                                         "max_shadow_in_flight": 3, "feedback_max_labels": 9,
                                                         "feedback_buffer": 99}})
    opts = options_from(SimpleNamespace(config=cfg, settings=Settings(auth="optional")))
    assert (opts.predict_timeout_s, opts.max_queue, opts.max_shadow_in_flight, opts.feedback_max_labels,
            opts.feedback_buffer, opts.auth_required) == (2.5, 7, 3, 9, 99, True)  # the stricter auth wins
    default = options_from(SimpleNamespace(config=parse_project({}), settings=Settings(auth="required")))
    assert default.auth_required and default.predict_timeout_s == 10.0 and default.max_queue == 1024


def test_a_hung_model_process_is_killed_unless_a_load_sent_before_the_predict_is_outstanding():
    import multiprocessing

    from shipyard.serving.model_process import ModelProcess

    mp = ModelProcess()
    mp.proc = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    mp.proc.start()
    try:
        mp._load_times = [5.0]  # a LOAD sent at loop time 5 still awaits its answer
        assert not mp.kill_hung(sent_at=6.0, now=20.0)  # the child may be busy loading: not a hung predict
        assert mp.proc.is_alive()
        # a PREDICT sent at 4 is stuck: the LOAD queued behind it does not protect the child
        assert mp.kill_hung(sent_at=4.0, now=20.0)
        mp.proc.join(5)
        assert not mp.proc.is_alive() and mp.proc.exitcode == -9
        assert not mp.kill_hung(sent_at=4.0, now=21.0)  # already gone: the crash path restarts it
    finally:
        if mp.proc.is_alive():
            mp.proc.kill()
