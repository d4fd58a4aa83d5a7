"""OIP v2 over gRPC: KServe's ``inference.GRPCInferenceService`` (``grpc_predict_v2.proto``) on ``grpc.aio``.

``grpc_predict_v2.proto`` is vendored from github.com/kserve/open-inference-protocol; its message classes,
``grpc_predict_v2_pb2.py``, are generated (``make grpc-stubs``: ``python -m grpc_tools.protoc -I.
--python_out=. grpc_predict_v2.proto``, then the runtime-version check dropped and the messages put in a
private descriptor pool, so tritonclient's own ``inference.*`` classes can share the process). The service
needs the ``grpc`` extra (grpcio, protobuf), imported only when ``shipyard serve --grpc-port`` is given.
"""
