"""Generate ``serving/grpc/grpc_predict_v2_pb2.py`` from the vendored proto (``make grpc-stubs``; a test checks the
committed file matches). protoc's output, then two changes: no protobuf runtime-version check (the ``grpc`` extra
accepts protobuf>=4.25) and a private descriptor pool (tritonclient defines the same ``inference.*`` names)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

DIR = Path(__file__).resolve().parents[1] / "src" / "shipyard" / "serving" / "grpc"
PROTO = "grpc_predict_v2.proto"
POOL = ("# shipyard: a private pool, so tritonclient's own `inference.*` messages (same names) can live in the "
        "same process\n_POOL = _descriptor_pool.DescriptorPool()\n")


def generate() -> str:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{DIR}", f"--python_out={out}", PROTO],
                       check=True)
        s = (Path(out) / "grpc_predict_v2_pb2.py").read_text(encoding="utf-8")
    s = re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\(.*?\)\n", "", s, flags=re.S)
    s = s.replace("from google.protobuf import runtime_version as _runtime_version\n", "")
    s = s.replace("_descriptor_pool.Default().AddSerializedFile", "_POOL.AddSerializedFile")
    return s.replace("# @@protoc_insertion_point(imports)\n", "# @@protoc_insertion_point(imports)\n" + POOL, 1)


if __name__ == "__main__":
    (DIR / "grpc_predict_v2_pb2.py").write_text(generate(), encoding="utf-8")
