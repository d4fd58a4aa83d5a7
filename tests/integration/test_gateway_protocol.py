"""The gateway's own HTTP/1.1 server over raw sockets (keep-alive, pipelining, 100-continue, chunked
bodies, early 413, malformed requests), thread-mode prediction, and a model process that crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from builders import approve, make_skops_model

N = 4


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(rows: list[list[float]]) -> bytes:
    flat = [v for r in rows for v in r]
    return json.dumps({"inputs": [{"name": "x", "shape": [len(rows), N], "datatype": "FP64", "data": flat}]}).encode()


def _request(body: bytes, extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST /v2/models/m/infer HTTP/{version}\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _read_responses(sock: socket.socket, n: int, timeout: float = 10.0) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse ``n`` HTTP responses (Content-Length framed) from the socket."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} responses")
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        size = int(headers["content-length"])
        while len(buf) < size:
            buf += sock.recv(65536)
        out.append((int(lines[0].split()[1]), headers, buf[:size]))
        buf = buf[size:]
    return out


def _closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("proto")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    ws.models.register("m", make_skops_model(root / "m.skops", n_features=N), "sklearn")
    approve(ws, "m:1")
    ws.endpoints.deploy("m:1", "m")
    opts = options_from(ws)
    opts.max_body_bytes = 4096
    gw = build_gateway(ws, opts)
    with ServerThread(gw, _port()) as srv:
        yield {"url": srv.url, "port": int(srv.url.rsplit(":", 1)[1]), "ws": ws, "gw": gw, "root": root}
    ws.close()


def _connect(served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served["port"]), timeout=10)


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served):
    rows = [[[float(i), 1.0, 2.0, 3.0]] for i in range(20)]
    with _connect(served) as s:
        s.sendall(b"".join(_request(_body(r), f"X-Request-Id: r{i}\r\n") for i, r in enumerate(rows)))
        got = _read_responses(s, 20)
        assert [h["x-request-id"] for _, h, _ in got] == [f"r{i}" for i in range(20)]
        assert all(status == 200 and h["x-model-version"] == "1" for status, h, _ in got)
        s.sendall(_request(_body(rows[0])))  # the connection is still usable
        assert _read_responses(s, 1)[0][0] == 200


def test_connection_close_and_http_1_0_close_after_the_response(served):
    with _connect(served) as s:
        s.sendall(_request(_body([[0.0] * N]), "Connection: close\r\n"))
        (status, headers, _), = _read_responses(s, 1)
        assert status == 200 and headers.get("connection") == "close"
        assert _closed(s)
    with _connect(served) as s:
        s.sendall(_request(_body([[0.0] * N]), version="1.0"))
        assert _read_responses(s, 1)[0][0] == 200
        assert _closed(s)


def test_expect_100_continue_and_chunked_bodies(served):
    body = _body([[1.0, 2.0, 3.0, 4.0]])
    with _connect(served) as s:
        s.sendall(_request(b"", "Expect: 100-continue\r\n").replace(b"Content-Length: 0", f"Content-Length: "
                                                                    f"{len(body)}".encode()))
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        assert _read_responses(s, 1)[0][0] == 200
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        s.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + chunks + b"0\r\n\r\n")
        status, _, payload = _read_responses(s, 1)[0]
        assert status == 200 and json.loads(payload)["outputs"][0]["name"] == "predict"


def test_declared_oversize_body_is_refused_before_it_is_sent(served):
    with _connect(served) as s:
        s.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        status, _, payload = _read_responses(s, 1)[0]  # answered without the body
        assert status == 413 and "body" in json.loads(payload)["error"]
        assert _closed(s)
    big = b"[" + b"1.0," * 3000 + b"1.0]"  # chunked, so no declared length: refused once it passes the limit
    with _connect(served) as s:
        s.sendall(b"POST /v1/endpoints/m/predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big))
        status, _, payload = _read_responses(s, 1)[0]
        assert status == 413 and json.loads(payload)["error"]["field"] == "body"


def test_malformed_http_gets_400_json_and_a_closed_connection(served):
    for raw in (b"GARBAGE\r\n\r\n", b"POST /v2/models/m/infer HTTP/1.1\r\nContent-Length: abc\r\n\r\n"):
        with _connect(served) as s:
            s.sendall(raw)
            status, headers, payload = _read_responses(s, 1)[0]
            assert status == 400 and headers["content-type"] == "application/json"
            assert "malformed HTTP request" in json.loads(payload)["error"]
            assert _closed(s)


def test_percent_encoded_paths_are_decoded(served):
    r = httpx.get(served["url"] + "/v2/models/%6D/ready")  # %6D is "m"
    assert r.status_code == 200


def test_thread_mode_gives_the_same_predictions_as_the_model_process(served):
    from shipyard.serving.server import ServerThread, build_gateway, options_from

    ws = served["ws"]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, N)).round(6)

    async def run(url: str) -> list[list[float]]:
        async with httpx.AsyncClient(base_url=url, timeout=60,
                                     limits=httpx.Limits(max_connections=64)) as c:
            resps = await asyncio.gather(*(c.post("/v2/models/m/infer", content=_body([x.tolist()])) for x in X))
        assert all(r.status_code == 200 for r in resps)
        return [r.json()["outputs"][1]["data"] for r in resps]

    thread_gw = build_gateway(ws, options_from(ws, predict_in="thread"))
    assert thread_gw.options.predict_in == "thread"
    with ServerThread(thread_gw, _port()) as srv:
        by_thread = asyncio.run(run(srv.url))
        assert thread_gw.process is None
    by_process = asyncio.run(run(served["url"]))
    # Equal up to the last bit BLAS may round differently for another batch composition (a linear model).
    np.testing.assert_allclose(by_thread, by_process, rtol=0, atol=1e-12)


def test_a_crashed_model_process_is_503_then_replaced(served):
    gw = served["gw"]
    old = gw.process.proc.pid
    os.kill(old, signal.SIGKILL)
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.post(served["url"] + "/v2/models/m/infer", content=_body([[0.5] * N]), timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 200:
            break
        assert r.status_code == 503, r.text  # never a 500 while the process restarts
        assert "model process" in r.json()["error"]
        time.sleep(0.05)
    assert statuses[-1] == 200, f"no successful prediction within 60 s of the crash: {statuses[-5:]}"
    assert gw.process.proc.pid != old and gw.process.proc.is_alive()


def test_the_model_process_exits_with_the_gateway(tmp_path: Path):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(actor="alice"))
    ws.models.register("m", make_skops_model(tmp_path / "m.skops", n_features=N), "sklearn")
    approve(ws, "m:1")
    ws.endpoints.deploy("m:1", "m")
    gw = build_gateway(ws)
    with ServerThread(gw, _port()) as srv:
        assert httpx.post(srv.url + "/v2/models/m/infer", content=_body([[0.0] * N])).status_code == 200
        proc = gw.process.proc
        assert proc.is_alive()
    assert not proc.is_alive(), "the model process outlived the gateway"
    ws.close()


def test_the_gateway_is_also_an_asgi_app(served):
    """Embedded under another ASGI server (uvicorn here, lifespan on): same answers, same limits."""
    from api_harness import serve
    from shipyard.serving.server import build_gateway, options_from

    ws = served["ws"]
    opts = options_from(ws, predict_in="thread")
    opts.max_body_bytes = 4096
    gw = build_gateway(ws, opts)
    with serve(gw, lifespan="on") as url:
        r = httpx.post(url + "/v2/models/m/infer", content=_body([[0.1, 0.2, 0.3, 0.4]]))
        assert r.status_code == 200 and r.headers["x-model-version"] == "1"
        direct = httpx.post(served["url"] + "/v2/models/m/infer", content=_body([[0.1, 0.2, 0.3, 0.4]]))
        np.testing.assert_allclose(r.json()["outputs"][1]["data"], direct.json()["outputs"][1]["data"], atol=1e-12)
        big = httpx.post(url + "/v1/endpoints/m/predict", content=b"x" * 5000)
        assert big.status_code == 413 and big.json()["error"]["field"] == "body"
        assert httpx.get(url + "/v2/models/nope").status_code == 404


def test_a_trickled_request_gets_408_and_an_idle_connection_is_closed(served):
    from shipyard.serving.server import ServerThread, build_gateway, options_from

    gw = build_gateway(served["ws"], options_from(served["ws"], predict_in="thread"))
    with ServerThread(gw, _port(), keep_alive_s=1.0, request_timeout_s=1.0) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"inp")
            status, headers, payload = _read_responses(s, 1)[0]
            assert status == 408 and "request not received within 1 s" in json.loads(payload)["error"]
            assert headers.get("connection") == "close" and _closed(s)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(_request(_body([[0.0] * N])))
            assert _read_responses(s, 1)[0][0] == 200
            t0 = time.monotonic()
            assert _closed(s, timeout=10), "an idle keep-alive connection was not closed"
            assert time.monotonic() - t0 < 8
