from __future__ import annotations

import io

from shipyard.core.hashing import canonical_json, is_digest, sha256_bytes, sha256_json, sha256_stream


def test_canonical_json_is_order_independent() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'
    assert sha256_json({"x": 1}) == sha256_json({"x": 1})
    assert sha256_json({"x": 1}) != sha256_json({"x": 2})


def test_stream_matches_bytes() -> None:
    data = b"shipyard" * 400_000
    assert sha256_stream(io.BytesIO(data)) == sha256_bytes(data)
    assert sha256_bytes(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert is_digest(sha256_bytes(b"x")) and not is_digest("xyz")
