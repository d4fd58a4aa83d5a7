"""The run specification: shipyard.yaml resolved against the workspace root, checked before any step runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.config import ProjectConfig
from shipyard.errors import InvalidInputError


@dataclass(frozen=True)
class RunSpec:
    root: Path
    model: str
    dataset: str
    data_path: Path
    target: str
    positive: str | int | None
    task: str | None
    train_file: Path
    train_function: str
    params: dict[str, Any]
    split: dict[str, Any]
    flavor: str
    validation: dict[str, Any]
    evaluation: dict[str, Any]
    gates: list[str]
    config: ProjectConfig

    @property
    def seed(self) -> int:
        return int(self.split.get("seed", 7))


def resolve(root: Path, cfg: ProjectConfig) -> RunSpec:
    """Check the config has what ``shipyard run`` needs and that the files it names exist.

    Raises:
        InvalidInputError: naming the key (``data.train``, ``pipeline.train``, ``gates[1]`` ...).
    """
    from shipyard.core.gates import parse

    if cfg.data is None:
        raise InvalidInputError(field="data", value=None, expected="a data section: {train: PATH, target: COLUMN}")
    if cfg.pipeline is None:
        raise InvalidInputError(field="pipeline", value=None,
                                expected="a pipeline section: {train: pipeline/train.py:train}")
    model = cfg.model or cfg.name
    if not model:
        raise InvalidInputError(field="model", value=None, expected="the model name (model: credit-risk)")
    data_path = (root / cfg.data.train).resolve()
    if not data_path.is_file():
        raise InvalidInputError(field="data.train", value=cfg.data.train, expected="an existing CSV or Parquet file")
    ref = cfg.pipeline.train
    file_part, _, fn = ref.rpartition(":") if ":" in ref else (ref, ":", "train")
    train_file = (root / file_part).resolve()
    if not file_part.endswith(".py") or not train_file.is_file():
        raise InvalidInputError(field="pipeline.train", value=ref,
                                expected="PATH.py:FUNCTION with an existing Python file (pipeline/train.py:train)")
    if not fn.isidentifier():
        raise InvalidInputError(field="pipeline.train", value=ref, expected="a function name after ':'")
    for i, text in enumerate(cfg.gates):
        try:
            parse(text)
        except InvalidInputError as exc:
            raise InvalidInputError(f"gates[{i}]: {exc}", field=f"gates[{i}]", value=text,
                                    expected=exc.expected) from None
    from shipyard.evaluation.names import TASK_METRICS

    known = list(dict.fromkeys(n for names in TASK_METRICS.values() for n in names))
    for i, name in enumerate(cfg.evaluation.metrics):
        if name not in known:
            raise InvalidInputError(field=f"evaluation.metrics[{i}]", value=name, expected=" | ".join(known))
    return RunSpec(
        root=root, model=model, dataset=cfg.data.dataset or model, data_path=data_path, target=cfg.data.target,
        positive=cfg.data.positive, task=cfg.data.task, train_file=train_file, train_function=fn,
        params=dict(cfg.pipeline.params), split=cfg.pipeline.split.model_dump(), flavor=cfg.pipeline.flavor,
        validation=cfg.validation.model_dump(by_alias=True), evaluation=cfg.evaluation.model_dump(),
        gates=list(cfg.gates), config=cfg,
    )
