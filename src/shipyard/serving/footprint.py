"""What the gateway's two processes import, and the optional imports they keep out (issue 18).

Measured on the serving benchmark's model (bench/README.md, "Gateway memory"): most of the gateway's
resident memory was libraries imported only because another library *probes* for them at import
time, not because anything on the request path uses them:

- scikit-learn's ``sklearn.utils.fixes`` does ``try: import pandas``, and pandas in turn imports
  pyarrow when it is installed: +62 MB in the model process for a model fed NumPy arrays. skops
  imports every scikit-learn module to list its estimators, and with them ``pytest`` (sklearn's
  test helpers) and ``rich`` (a progress-bar callback): +8 MB more.
- skops lists scikit-learn's estimators with ``all_estimators``, whose package walk imports every
  subpackage, ``sklearn.externals.array_api_compat.dask.array`` (and ``.cupy``, ``.torch``) among them,
  which import that array library when it is installed: with dask in the environment (an optional
  extra of shipyard's batch engine), +10 MB and 0.3 s of dask, toolz, yaml and jinja2 in the model process.
- scipy's array-API layer imports ``numpy.f2py``, whose Fortran reader probes for ``charset_normalizer``
  (to guess a source file's encoding): 2.6 MB.
- pyarrow's first array conversion imports pandas to recognise DataFrames; the gateway process (in
  ``predict_in: process`` mode) only ever hands it NumPy arrays and lists: +48 MB. pyarrow itself (~60 MB
  resident) is imported with the first logged prediction, not at start-up (``telemetry/prediction_log.py``).

``kept_out(*names)`` makes such a probe fail (``ModuleNotFoundError``, which every one of them
handles) while a block of imports runs, and only then: a later explicit import (a Pipeline's
DataFrame input, a pyfunc that uses pandas) still works and loads the library as usual. Modules
already imported are never affected. A meta-path finder is used rather than a ``None`` entry in
``sys.modules``, which Cython modules (pyarrow) read as an imported module instead of an absent one.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# Optional imports scikit-learn (and skops, which imports all of scikit-learn) probe for at import time.
SKLEARN_PROBES = ("pandas", "pyarrow", "pytest", "rich", "dask", "cupy", "torch", "charset_normalizer")
# The flavors whose libraries are imported under SKLEARN_PROBES kept out, and what to import.
PRELOAD = {"sklearn": ("sklearn", "sklearn.base", "skops.io")}
_lock = threading.Lock()


class _KeepOut:
    """A meta-path finder that answers "no such module" for the top-level names it holds."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (kept out while probed for, see "
                                      "shipyard.serving.footprint)", name=name)
        return None


@contextmanager
def kept_out(*names: str) -> Iterator[frozenset[str]]:
    """Within the block, ``import NAME`` fails for every NAME not imported yet; yields the names held."""
    held = [n for n in names if n not in sys.modules]
    finder = _KeepOut(held)
    with _lock:
        sys.meta_path.insert(0, finder)
    try:
        yield finder.names
    finally:
        with _lock:
            sys.meta_path.remove(finder)


def preload(flavor: str) -> None:
    """Import a flavor's libraries with their optional probes kept out (the model process calls this before
    its first load of ``flavor``); a flavor without an entry, or already imported, is left alone."""
    modules = PRELOAD.get(flavor, ())
    if not modules or all(m in sys.modules for m in modules):
        return
    with kept_out(*SKLEARN_PROBES):
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                return  # not installed: the flavor's own load says which extra installs it


def release_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``; a no-op on other C libraries).

    Loading a model leaves behind freed memory that glibc keeps for reuse: the artifact's bytes went
    through a receive buffer, a frame copy and the blob, and skops unpacks its zip in memory. Measured in
    the model process on a 13.7 MB RandomForest: 193 MB resident after the load, 155 MB after the trim; the
    call walks the heap once (milliseconds), so it runs after a load or an unload, never per request."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
