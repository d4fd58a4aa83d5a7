"""The ``inference.GRPCInferenceService`` handlers on a ``grpc.aio`` server sharing the HTTP gateway's loop.

Each RPC does what its REST twin does, through the same code: ModelInfer builds the REST request
document (``tensors.request_document``) and calls ``routes.oip_v2.run`` (routing, signature checks,
batching, shadows, prediction log, metric windows, metrics), ModelMetadata answers ``oip_v2._metadata``.
Errors keep the REST message (it names the field) under the matching gRPC status: 400/413/422 ->
INVALID_ARGUMENT, 404 (unknown model, version or a shadow) -> NOT_FOUND, 503 (shed, not loaded) ->
UNAVAILABLE, the model's own failure (500) -> UNKNOWN. INTERNAL is left for shipyard's own bugs.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from typing import Any

import grpc
import orjson

from shipyard.errors import ShipyardError
from shipyard.serving.grpc import grpc_predict_v2_pb2 as pb
from shipyard.serving.grpc.tensors import fill_response, request_document
from shipyard.serving.http import HttpError, Request, status_for
from shipyard.serving.metrics import UNKNOWN
from shipyard.serving.routes import oip_v2

log = logging.getLogger("shipyard.serving")
SERVICE = "inference.GRPCInferenceService"
CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 405: grpc.StatusCode.INVALID_ARGUMENT,
         413: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT,
         401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
         404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.FAILED_PRECONDITION,
         500: grpc.StatusCode.UNKNOWN, 503: grpc.StatusCode.UNAVAILABLE}


class InferenceService:
    """The six RPCs over one Gateway."""

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self._prefix = "grpc-" + uuid.uuid4().hex[:8] + "-"
        self._rid = itertools.count(1)

    def _request(self, context: Any, name: str) -> Request:
        headers = {k.encode("latin-1"): v if isinstance(v, bytes) else v.encode("latin-1")
                   for k, v in (context.invocation_metadata() or ())}
        rid_raw = headers.get(b"x-request-id")
        if rid_raw and len(rid_raw) <= 100 and rid_raw.isascii() and rid_raw.decode("ascii").isprintable():
            rid = rid_raw.decode("ascii")
        else:
            rid = f"{self._prefix}{next(self._rid):x}"
        return Request("POST", f"/v2/models/{name}/infer", headers, b"", rid)

    async def server_live(self, msg: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, msg: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=bool(self.gw.state.ready))

    async def server_metadata(self, msg: Any, context: Any) -> Any:
        from shipyard import __version__

        return pb.ServerMetadataResponse(name="shipyard", version=__version__, extensions=[])

    async def model_ready(self, msg: Any, context: Any) -> Any:
        ep = self.gw.state.endpoints.get(msg.name)
        if ep is None:  # REST: 400 (not ready)
            return pb.ModelReadyResponse(ready=False)
        if msg.version:  # a shadow is loaded but never answers a client: NOT_FOUND like an unknown version
            self.gw.choose(ep, self._request(context, msg.name), msg.version)
        return pb.ModelReadyResponse(ready=True)

    async def model_metadata(self, msg: Any, context: Any) -> Any:
        ep = self.gw.endpoint(msg.name)
        if msg.version:
            lv = self.gw.choose(ep, self._request(context, msg.name), msg.version)
            doc = oip_v2._metadata(ep, lv, [lv.version])
        else:
            doc = oip_v2._metadata(ep, ep.versions[ep.table.served[0]], list(ep.table.served))
        resp = pb.ModelMetadataResponse(name=doc["name"], versions=doc["versions"], platform=doc["platform"])
        for key in ("inputs", "outputs"):
            for t in doc[key]:
                getattr(resp, key).add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        for k, v in doc["parameters"].items():
            resp.properties[k] = v if isinstance(v, str) else orjson.dumps(v).decode()
        return resp

    async def model_infer(self, msg: Any, context: Any) -> Any:
        gw = self.gw
        req = self._request(context, msg.model_name)
        ep = gw.endpoint(msg.model_name)
        body = request_document(msg)
        version, outputs = await oip_v2.run(gw, ep, req, msg.model_version or None, body)
        resp = pb.ModelInferResponse(model_name=ep.name, model_version=version, id=msg.id or req.request_id)
        fill_response(resp, outputs, raw=bool(msg.raw_input_contents))
        return resp


def _guarded(gw: Any, rpc: str, fn: Any) -> Any:
    """Run one RPC; a ShipyardError (also inside an HttpError) becomes its gRPC status with the REST message."""
    async def handler(msg: Any, context: Any) -> Any:
        try:
            return await fn(msg, context)
        except HttpError as exc:
            status, error, version = exc.status, exc.error, exc.version
        except ShipyardError as exc:
            status, error, version = status_for(exc), exc, "none"
        except Exception:  # a bug in shipyard: logged, INTERNAL
            log.exception("gRPC %s failed", rpc)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {rpc}; the gateway's log says why")
        if rpc == "ModelInfer":
            name = getattr(msg, "model_name", "")
            gw.metrics.observe_error(name if name in gw.state.endpoints else UNKNOWN, version, status)
        await context.abort(CODES.get(status, grpc.StatusCode.INVALID_ARGUMENT if status < 500
                                      else grpc.StatusCode.UNAVAILABLE), str(error))
    return handler


def generic_handler(gw: Any) -> Any:
    service = InferenceService(gw)
    methods = {"ServerLive": (service.server_live, pb.ServerLiveRequest),
               "ServerReady": (service.server_ready, pb.ServerReadyRequest),
               "ModelReady": (service.model_ready, pb.ModelReadyRequest),
               "ServerMetadata": (service.server_metadata, pb.ServerMetadataRequest),
               "ModelMetadata": (service.model_metadata, pb.ModelMetadataRequest),
               "ModelInfer": (service.model_infer, pb.ModelInferRequest)}
    return grpc.method_handlers_generic_handler(SERVICE, {
        rpc: grpc.unary_unary_rpc_method_handler(_guarded(gw, rpc, fn), request_deserializer=req.FromString,
                                                 response_serializer=lambda m: m.SerializeToString())
        for rpc, (fn, req) in methods.items()})


async def start(gw: Any, host: str, port: int, reuse_port: bool = False) -> Any:
    """A started ``grpc.aio`` server on ``host:port`` (in the running loop); stop it with ``await s.stop(grace)``.
    A port it cannot bind is the user's input error naming ``--grpc-port``."""
    from shipyard.errors import InvalidInputError

    limit = gw.options.max_body_bytes
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", -1),
                                      ("grpc.so_reuseport", 1 if reuse_port else 0)])
    server.add_generic_rpc_handlers((generic_handler(gw),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        await server.stop(None)
        raise InvalidInputError(f"--grpc-port {port}: cannot listen on {address}; expected a free port",
                                field="grpc_port", value=port, expected="a free port")
    await server.start()
    log.info("OIP v2 over gRPC on %s", address)
    return server
