"""What steps share during one run: the workspace, the spec, upstream outputs and in-memory objects."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.hashing import Digest

if TYPE_CHECKING:
    from shipyard.pipeline.spec import RunSpec
    from shipyard.workspace import Workspace


@dataclass
class RunContext:
    """``outputs`` holds each finished step's outputs (from the cache or freshly computed); ``memo`` holds
    objects computed in this process (tables, models) so a downstream miss does not reload them."""

    ws: Workspace
    spec: RunSpec
    run_id: str
    data_digest: str
    train_digest: str
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # step name -> cache key of this run
    logbuf: io.StringIO = field(default_factory=io.StringIO)

    def log(self, message: str) -> None:
        self.logbuf.write(message.rstrip("\n") + "\n")

    def get_json(self, digest: str) -> Any:
        import json

        return json.loads(self.ws.artifacts.get_bytes(Digest(digest)))

    def put_json(self, obj: Any) -> str:
        from shipyard.core.hashing import canonical_json

        return str(self.ws.artifacts.put_bytes(canonical_json(obj).encode("utf-8")))
