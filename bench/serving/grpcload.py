"""gRPC load: h2load (nghttp2's HTTP/2 load generator, C) posting one pre-serialized ModelInferRequest.

wrk speaks HTTP/1.1 only. A gRPC unary call is an HTTP/2 POST to ``/inference.GRPCInferenceService/ModelInfer``
with ``content-type: application/grpc``, ``te: trailers`` and a body that is the message behind a 5-byte prefix
(compressed flag, big-endian length); h2load sends exactly that from a file, on C connections with M concurrent
streams each. The request is built once (``request_message``) with the vendored KServe proto: one FP64 tensor
[1, 20] as ``raw_input_contents`` (what tritonclient sends) or as typed ``fp64_contents``, output
``predict_proba``, a fixed ``id`` (so every answer has the same size).

h2load judges HTTP status only, and a gRPC error is HTTP 200 with ``grpc-status`` in the trailers and no
message. So the answers are checked twice: one call through a real gRPC client (``check``: status OK and the
in-process ``predict_proba``), and after each run the DATA bytes h2load received must be exactly one answer's
frame per request (an error answer carries none; ``grpc_errors`` counts the shortfall). Latency percentiles come
from h2load's per-request log (``--log-file``); h2load's own CPU time per request is measured (``os.wait4``) so
its ceiling is known.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SERVICE = "inference.GRPCInferenceService"
INFER = f"/{SERVICE}/ModelInfer"
MODEL = "hgb"
REQUEST_ID = "bench"


def h2load_path() -> str | None:
    return shutil.which("h2load")


def h2load_version() -> str:
    exe = h2load_path()
    if not exe:
        return ""
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def _pb() -> Any:
    from shipyard.serving.grpc import grpc_predict_v2_pb2 as pb

    return pb


def request_message(row: list[float], raw: bool) -> bytes:
    """The serialized ModelInferRequest for one row: raw little-endian bytes or typed fp64_contents."""
    pb = _pb()
    msg = pb.ModelInferRequest(model_name=MODEL, id=REQUEST_ID)
    tensor = msg.inputs.add(name="input-0", datatype="FP64", shape=[1, len(row)])
    if raw:
        msg.raw_input_contents.append(struct.pack(f"<{len(row)}d", *row))
    else:
        tensor.contents.fp64_contents.extend(row)
    msg.outputs.add(name="predict_proba")
    return msg.SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """The HTTP/2 DATA payload of a gRPC message: uncompressed flag, u32 big-endian length, the bytes."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def _proba(resp: Any) -> list[float]:
    for i, out in enumerate(resp.outputs):
        if out.name != "predict_proba":
            continue
        if resp.raw_output_contents:
            raw = resp.raw_output_contents[i]
            fmt = {"FP64": "d", "FP32": "f"}.get(out.datatype)
            if fmt is None:
                return []
            return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))
        return list(out.contents.fp64_contents or out.contents.fp32_contents)
    return []


def check(target: str, message: bytes, want: list[float], timeout: float = 30.0) -> tuple[str, int]:
    """One ModelInfer through grpcio: ("ok ..." or what is wrong, the answer's serialized size)."""
    import grpc

    pb = _pb()
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(INFER, request_serializer=None, response_deserializer=None)
        try:
            raw = call(message, timeout=timeout)
        except grpc.RpcError as exc:
            return f"gRPC error {exc.code().name}: {exc.details()}", 0
    resp = pb.ModelInferResponse.FromString(raw)
    got = _proba(resp)
    if len(got) == len(want) and all(abs(g - w) < 1e-6 for g, w in zip(got, want, strict=True)):
        kind = "raw_output_contents" if resp.raw_output_contents else "typed contents"
        return f"ok (predict_proba matches in-process, {kind})", len(raw)
    return f"mismatch: predict_proba {got[:4]} vs in-process {want[:4]}", len(raw)


def wait_ready(target: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Until ServerReady answers true over gRPC; RuntimeError if the process dies or time runs out."""
    import grpc

    pb = _pb()
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before its gRPC port was ready")
        try:
            with grpc.insecure_channel(target) as channel:
                call = channel.unary_unary(f"/{SERVICE}/ServerReady", request_serializer=None,
                                           response_deserializer=pb.ServerReadyResponse.FromString)
                if call(pb.ServerReadyRequest().SerializeToString(), timeout=2).ready:
                    return
                last = "ready: false"
        except grpc.RpcError as exc:
            last = f"{exc.code().name}"
        time.sleep(0.25)
    raise RuntimeError(f"gRPC {target} not ready after {timeout:.0f} s ({last})")


def _percentile(sorted_us: list[int], q: float) -> float:
    if not sorted_us:
        return math.nan
    k = min(len(sorted_us) - 1, max(0, math.ceil(q / 100 * len(sorted_us)) - 1))
    return sorted_us[k] / 1e3


def latency_ms(latencies_us: list[int]) -> dict[str, float]:
    s = sorted(latencies_us)
    out = {f"p{str(q).replace('.', '')}_ms": _percentile(s, q) for q in (50, 90, 99, 99.9)}
    out["max_ms"] = s[-1] / 1e3 if s else math.nan
    out["mean_ms"] = sum(s) / len(s) / 1e3 if s else math.nan
    return out


def run(target: str, body: Path, connections: int, streams: int, duration: float, answer_bytes: int,
        timeout_s: int = 10) -> dict[str, Any]:
    """One h2load run of ``duration`` seconds: req/s of answers that carried a message, the per-request latencies
    (``latencies_us``, for merging across rounds), errors, and h2load's CPU time per request."""
    with tempfile.TemporaryDirectory(prefix="h2load-") as tmp:
        log = Path(tmp) / "requests.tsv"
        cmd = [h2load_path() or "h2load", "-t1", f"-c{connections}", f"-m{streams}", f"-D{max(1, round(duration))}",
               f"-T{timeout_s}", "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
               f"--log-file={log}", f"http://{target}{INFER}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watchdog = threading.Timer(duration + 60, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)  # reaped here, for its rusage: h2load's own CPU time
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu_s = usage.ru_utime + usage.ru_stime
        lat = [int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t") == 2
               and line.split("\t")[1] == "200"] if log.exists() else []
    return parse(out, proc.returncode, connections, streams, answer_bytes, lat, cpu_s)


def parse(out: str, returncode: int, connections: int, streams: int, answer_bytes: int, latencies_us: list[int],
          cpu_s: float | None) -> dict[str, Any]:
    m_fin = re.search(r"finished in ([\d.]+)(m?s)", out)
    m_req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out)
    m_data = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers.*?, .*?\((\d+)\) data", out)
    if returncode != 0 or not (m_fin and m_req and m_data):
        tail = " | ".join(out.strip().splitlines()[-3:])
        raise RuntimeError(f"h2load failed (exit {returncode}): {tail}")
    seconds = float(m_fin.group(1)) / (1000 if m_fin.group(2) == "ms" else 1)
    succeeded, failed, errored, timeouts = (int(m_req.group(i)) for i in (4, 5, 6, 7))
    if succeeded == 0:
        raise RuntimeError(f"h2load: no request succeeded ({failed} failed, {errored} errored, {timeouts} timeout)")
    data = int(m_data.group(3))
    frame = answer_bytes + 5
    answered = data // frame if frame > 5 else 0
    res: dict[str, Any] = {
        "connections": connections,
        "streams_per_connection": streams,
        "seconds": round(seconds, 3),
        "requests": succeeded + failed + errored + timeouts,
        "answered": answered,
        "grpc_errors": succeeded - answered,  # HTTP 200 without a message: a gRPC error status
        "http_errors": failed + errored + timeouts,
        "answer_bytes_exact": data == answered * frame,
        "req_per_s": answered / seconds if seconds else 0.0,
        "latencies_us": latencies_us,
        "loadgen_cpu_s": cpu_s,
    }
    res.update(latency_ms(latencies_us))
    return res
