"""``shipyard init --example NAME``: copy a runnable example workspace (config, train code, data)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from shipyard.errors import ConflictError, InvalidInputError

EXAMPLES = ("credit", "regression", "wine")


def write_example(root: Path, name: str) -> list[str]:
    """Write the example's files under ``root`` and return their paths relative to it.

    Raises:
        InvalidInputError: ``name`` is not an example (naming the choices).
        ConflictError: a file the example would write already exists with other content.
    """
    if name not in EXAMPLES:
        raise InvalidInputError(field="--example", value=name, expected=" | ".join(EXAMPLES))
    root = Path(root)
    files = _package_files(name)
    if name == "regression":
        files["data/diabetes.csv"] = _diabetes_csv()
    elif name == "wine":
        files["data/wine.csv"] = _wine_csv()
    for rel, data in files.items():
        target = root / rel
        if target.exists() and target.read_bytes() != data and not _replaceable(target):
            raise ConflictError(field=str(target), value="exists",
                                expected="an empty folder (or one without the example's files)")
    written = []
    for rel, data in sorted(files.items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(rel)
    return written


def _replaceable(path: Path) -> bool:
    """A ``shipyard.yaml`` without data or pipeline sections (what plain ``shipyard init`` writes) may be replaced."""
    if path.name != "shipyard.yaml":
        return False
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return raw is None or (isinstance(raw, dict) and not ({"data", "pipeline", "model", "gates"} & set(raw)))


def _package_files(name: str) -> dict[str, bytes]:
    base = resources.files("shipyard.examples").joinpath(name)
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name in ("__pycache__", "__init__.py") or child.name.endswith(".pyc"):
                continue
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            else:
                out[rel] = child.read_bytes()

    walk(base, "")
    return out


def _diabetes_csv() -> bytes:
    """scikit-learn's bundled diabetes data (Efron et al. 2004), unscaled, with ``sex`` as a category."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.rename(columns={"target": "progression"})
    frame["sex"] = frame["sex"].map({1.0: "a", 2.0: "b"})
    csv: str = frame.to_csv(index=False, float_format="%.6g")
    return csv.encode("utf-8")


def _wine_csv() -> bytes:
    """scikit-learn's bundled wine data (UCI; Forina et al.): 178 wines, 13 measurements, 3 cultivars."""
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "cultivar", "od280/od315_of_diluted_wines": "od280_od315"})
    frame["cultivar"] = frame["cultivar"].map(lambda i: f"cultivar_{int(i) + 1}")
    csv: str = frame.to_csv(index=False, float_format="%.6g")
    return csv.encode("utf-8")
