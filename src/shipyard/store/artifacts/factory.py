"""Artifact backends keyed by URL scheme."""

from __future__ import annotations

import os
from collections.abc import Callable

from shipyard.errors import InvalidInputError
from shipyard.store.artifacts.base import ArtifactStore


def _file(url: str) -> ArtifactStore:
    from shipyard.store.artifacts.fsspec import FsspecArtifactStore

    return FsspecArtifactStore(url)


def _s3(url: str) -> ArtifactStore:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            field="artifacts_url", value=url, expected="the S3 extra installed: pip install 'shipyard[s3]'"
        ) from None
    from shipyard.store.artifacts.fsspec import FsspecArtifactStore

    opts = {}
    endpoint = os.environ.get("SHIPYARD_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["client_kwargs"] = {"endpoint_url": endpoint}
    return FsspecArtifactStore(url, storage_options=opts)


BACKENDS: dict[str, Callable[[str], ArtifactStore]] = {"file": _file, "s3": _s3}


def create(url: str) -> ArtifactStore:
    if "://" not in url:
        url = "file://" + os.path.abspath(url)
    scheme = url.split("://", 1)[0]
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        raise InvalidInputError(
            field="artifacts_url", value=url, expected="a URL with scheme " + " | ".join(sorted(BACKENDS))
        ) from None
    return factory(url)
