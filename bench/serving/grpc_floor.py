"""The floor of a Python gRPC server here: ``grpc.aio`` (on uvloop, as shipyard's gateway) answering ModelInfer
with a canned response, no model. It parses each request, as a real server must, and answers the same bytes.

    .venv/bin/python bench/serving/grpc_floor.py PORT PROBA_JSON

Both shipyard and MLServer serve gRPC with ``grpc.aio``, so neither can beat this row; it also shows that the
load generator delivers more than either server needs (its ceiling). ``PROBA_JSON``: the ``predict_proba`` row
to answer (so the benchmark's answer check passes here too).
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys

import grpc

from shipyard.serving.grpc import grpc_predict_v2_pb2 as pb


def canned(proba: list[float]) -> bytes:
    resp = pb.ModelInferResponse(model_name="hgb", model_version="1", id="bench")
    resp.outputs.add(name="predict_proba", datatype="FP64", shape=[1, len(proba)])
    resp.raw_output_contents.append(struct.pack(f"<{len(proba)}d", *proba))
    return resp.SerializeToString()


async def serve(port: int, answer: bytes) -> None:
    async def infer(request: object, context: object) -> bytes:
        return answer

    async def ready(request: object, context: object) -> bytes:
        return pb.ServerReadyResponse(ready=True).SerializeToString()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {
        "ModelInfer": grpc.unary_unary_rpc_method_handler(infer, request_deserializer=pb.ModelInferRequest.FromString),
        "ServerReady": grpc.unary_unary_rpc_method_handler(ready),
    }),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    port, answer = int(sys.argv[1]), canned(json.loads(sys.argv[2]))
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port, answer))
    else:
        uvloop.run(serve(port, answer))


if __name__ == "__main__":
    main()
