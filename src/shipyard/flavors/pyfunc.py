"""pyfunc: a user class with ``predict``, shipped as a zip of Python source (never a pickle).

Artifact layout (a ``.zip``)::

    pyfunc.json      {"entrypoint": "model:Model"}       module:Class inside the zip
    model.py         class Model: def __init__(self, path=None); def predict(self, X); [predict_proba]
    ...              any data files the class reads from ``path`` (JSON, .npy, ...), no pickles

Trust model: loading runs the archive's code, so it never happens in the control plane (issue 18):
``inspect`` imports the archive in a sandboxed child (``sandbox.py``: scrubbed environment, time
and memory limits) and ``load`` refuses to run outside such a child (``enter_sandbox``), which
for serving is the gateway's model process. Registering needs ``model:write`` (audited), the
bytes are verified against their sha256 before every load, ``inspect`` and ``load`` refuse
archives carrying pickle/joblib files (by suffix or by the pickle PROTO header, whatever the
name), and each load extracts to its own private ``mkdtemp`` directory.
"""

from __future__ import annotations

import atexit
import importlib.util
import inspect as pyinspect
import io
import json
import re
import shutil
import sys
import tempfile
import weakref
import zipfile
from pathlib import Path
from typing import Any

from shipyard.core.hashing import sha256_bytes
from shipyard.flavors.base import ArtifactFormatError, ArtifactInfo, UnsafeArtifactError
from shipyard.flavors.sandbox import SandboxLimits, inspect_in_sandbox

MANIFEST = "pyfunc.json"
ENTRY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle")


class _Discard:
    def write(self, text: str) -> int:
        return len(text)


def _is_pickle(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Sniff content too: a pickle renamed to weights.bin starts with PROTO (0x80) and a protocol 2..5;
    protocols 0 and 1 have no header, so any other member that decodes as a whole pickle (opcodes up to
    STOP with a consistent stack, checked by ``pickletools``, which only decodes: it never imports or calls
    anything) is one too."""
    if info.is_dir() or info.file_size < 2:
        return False
    with zf.open(info) as f:
        head = f.read(2)
        if head[0] == 0x80 and 2 <= head[1] <= 5:
            return True
        if head[:1] == b"\x80":  # PROTO with an unknown protocol: not a pickle this Python can load
            return False
        data = head + f.read()
    import pickletools

    try:
        pickletools.dis(data, out=_Discard())  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - any decoding failure means "not a pickle"
        return False
    return True


def _open(data: bytes) -> tuple[zipfile.ZipFile, str]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(zf.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ArtifactFormatError(field="artifact", value="<bytes>",
                                  expected=f"a zip with {MANIFEST} {{'entrypoint': 'module:Class'}} ({exc})") from None
    entry = manifest.get("entrypoint") if isinstance(manifest, dict) else None
    if not isinstance(entry, str) or not ENTRY_RE.match(entry):
        raise ArtifactFormatError(field=f"{MANIFEST}.entrypoint", value=entry, expected="'module:Class'")
    for info in zf.infolist():
        name = info.filename
        if name.startswith("/") or ".." in Path(name).parts:
            raise UnsafeArtifactError(field="artifact", value=name, expected="relative paths inside the zip")
        if name.lower().endswith(PICKLE_SUFFIXES) or _is_pickle(zf, info):
            raise UnsafeArtifactError(field="artifact", value=name,
                                      expected="no pickle/joblib files (loading them runs arbitrary code)")
    module = entry.split(":")[0].replace(".", "/") + ".py"
    if module not in zf.namelist():
        raise ArtifactFormatError(field=f"{MANIFEST}.entrypoint", value=entry, expected=f"{module} inside the zip")
    return zf, entry


_SANDBOXED = False  # set by the child entry points (sandbox_child, the gateway's model process)


def enter_sandbox() -> None:
    """Mark this process as a sandboxed child: only then may ``load`` import an archive's code."""
    global _SANDBOXED
    _SANDBOXED = True


def describe(data: bytes) -> dict[str, Any]:
    """In the sandbox: load the archive and say what registration records (ArtifactInfo's fields)."""
    _, entry = _open(data)
    model = PyfuncFlavor().load(data)
    names = getattr(model, "feature_names", None)
    if names is None:
        names = getattr(model, "feature_names_in_", None)
    classes = getattr(model, "classes_", None)
    return {"feature_names": [str(n) for n in names] if names is not None else None,
            "classes": list(classes) if classes is not None else None,
            "task": "classification" if hasattr(model, "predict_proba") else "regression",
            "details": {"entrypoint": entry}}


class PyfuncFlavor:
    name = "pyfunc"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()

    def inspect(self, path: Path, **_options: Any) -> ArtifactInfo:
        """Check the archive here (no code runs), then import and describe it in a sandboxed child."""
        data = Path(path).read_bytes()
        _, entry = _open(data)
        doc = inspect_in_sandbox(data, entry, self.limits)
        return ArtifactInfo(feature_names=doc.get("feature_names"), classes=doc.get("classes"),
                            task=doc.get("task"), details={**(doc.get("details") or {}), "entrypoint": entry})

    def load(self, data: bytes, **_options: Any) -> Any:
        """Import the archive's class and construct it; only in a sandboxed child process. The archive goes
        to a fresh private directory (``mkdtemp``, 0700) removed when the model object is freed or the
        process exits."""
        zf, entry = _open(data)
        if not _SANDBOXED:
            raise UnsafeArtifactError(field="flavor", value="pyfunc", expected=(
                "pyfunc code to run only in a sandboxed child process: the gateway's model process "
                "(serving.predict_in: process) or registration's inspection"))
        digest = sha256_bytes(data)
        target = Path(tempfile.mkdtemp(prefix="shipyard-pyfunc-"))
        try:
            model = self._construct(zf, entry, digest, target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        try:
            weakref.finalize(model, shutil.rmtree, str(target), True)  # unloaded (or exit): the files go with it
        except TypeError:  # a class without __weakref__ (__slots__): keep the directory until exit
            atexit.register(shutil.rmtree, str(target), True)
        return model

    @staticmethod
    def _construct(zf: zipfile.ZipFile, entry: str, digest: str, target: Path) -> Any:
        zf.extractall(target)
        module_name, cls_name = entry.split(":")
        unique = f"shipyard_pyfunc_{digest[:16]}_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, target / (module_name.replace(".", "/") + ".py"))
        if spec is None or spec.loader is None:
            raise ArtifactFormatError(field="entrypoint", value=entry, expected="an importable module")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[unique] = mod
        spec.loader.exec_module(mod)
        cls = getattr(mod, cls_name, None)
        if cls is None or not hasattr(cls, "predict"):
            raise ArtifactFormatError(field="entrypoint", value=entry, expected="a class with a predict method")
        takes_path = len(pyinspect.signature(cls).parameters) >= 1
        return cls(str(target)) if takes_path else cls()
