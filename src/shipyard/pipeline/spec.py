"""The run specification: shipyard.yaml resolved against the workspace root, checked before any step runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.config import ProjectConfig
from shipyard.errors import InvalidInputError
from shipyard.evaluation.names import FAIRNESS_METRICS as BINARY_FAIRNESS_METRICS


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
    isolation: str = "none"  # pipeline.isolation: where user-code steps run

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
    _check_name(model, "model" if cfg.model else "name")
    if cfg.data.dataset is not None:
        _check_name(cfg.data.dataset, "data.dataset")
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
        gates=list(cfg.gates), config=cfg, isolation=cfg.pipeline.isolation,
    )


def _check_name(name: str, field: str) -> None:
    """Model and dataset names follow the registry's rule; the error names the shipyard.yaml key."""
    from shipyard.registry.refs import check_name

    try:
        check_name(name, field)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: got {name!r}, expected {exc.expected}", field=field, value=name,
                                expected=exc.expected) from None


# Fairness metrics each task's evaluation produces (``evaluation/fairness.py``); a gate on another task's
# fairness metric could never find a value.
FAIRNESS_METRICS = {"classification": BINARY_FAIRNESS_METRICS,
                    "multiclass": ("accuracy_group_gap", "selection_rate_gap"),
                    "regression": ("rmse_group_gap",)}


def describe_task(spec: RunSpec, task: str, classes: list[str] | None, positive: Any = None) -> str:
    """``multiclass (3 classes: bad, good, meh; inferred from the target Status)`` -- for error messages."""
    if task == "regression":
        what = "regression"
    else:
        labels = [str(c) for c in classes or []]
        shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
        what = f"{task} ({len(labels)} classes: {shown}"
        if task == "classification" and positive is not None:
            what += f", positive {positive!s}"
        what += ")"
    how = f"data.task: {spec.task}" if spec.task else f"inferred from the target {spec.target}"
    return f"{what} [{how}]"


def check_columns(spec: RunSpec, columns: list[str], dataset: str) -> None:
    """The columns ``evaluation.slices`` and ``evaluation.fairness.sensitive`` name must be feature columns
    of the training data; checked against the dataset version's schema before anything trains.

    Raises:
        InvalidInputError: naming ``evaluation.slices[i]`` / ``evaluation.fairness.sensitive[i]``, close
            matches and the columns available.
    """
    import difflib

    features = [c for c in columns if c != spec.target]
    ev = spec.evaluation
    named = [(f"evaluation.slices[{i}]", c) for i, c in enumerate(ev.get("slices") or [])]
    named += [(f"evaluation.fairness.sensitive[{i}]", c)
              for i, c in enumerate((ev.get("fairness") or {}).get("sensitive") or [])]
    for key, col in named:
        if col in features:
            continue
        expected = "a feature column: " + ", ".join(features)
        if col == spec.target:
            raise InvalidInputError(f"{key}: {col!r} is the target (data.target), not a feature; expected {expected}",
                                    field=key, value=col, expected=expected)
        by_case = {c.lower(): c for c in features}
        close = difflib.get_close_matches(col, features, n=3, cutoff=0.6)
        if col.lower() in by_case and by_case[col.lower()] not in close:
            close.insert(0, by_case[col.lower()])
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise InvalidInputError(f"{key}: column {col!r} is not in {dataset}{hint}; expected {expected}",
                                field=key, value=col, expected=expected)


def check_task(spec: RunSpec, task: str, classes: list[str] | None, positive: Any = None,
               distinct: int | None = None) -> None:
    """Metrics and gates must fit the task the data gave (after the split, before training).

    Raises:
        InvalidInputError: naming ``evaluation.metrics[i]`` or ``gates[i]``, the task (and its classes) and
            the metrics that fit it.
    """
    from shipyard.core.gates import parse
    from shipyard.evaluation.names import TASK_METRICS

    fits = TASK_METRICS[task]
    what = describe_task(spec, task, classes, positive)
    hint = ""
    if spec.task is None and task == "regression":
        values = f"{distinct} distinct values" if distinct is not None else "more than 2 distinct values"
        hint = (f" (the task was inferred as regression: {spec.target} is numeric with {values}; "
                "set data.task: classification if they are classes)")
    expected = f"a {task} metric: " + ", ".join(fits) + hint
    for i, name in enumerate(spec.evaluation.get("metrics") or []):
        if name not in fits:
            raise InvalidInputError(f"evaluation.metrics[{i}]: {name!r} does not fit the task {what}; "
                                    f"expected {expected}", field=f"evaluation.metrics[{i}]", value=name,
                                    expected=expected)
    other_task = {n for names in TASK_METRICS.values() for n in names} - set(fits)
    other_fair = {n for t, names in FAIRNESS_METRICS.items() if t != task for n in names} - set(FAIRNESS_METRICS[task])
    for i, text in enumerate(spec.gates):
        base = parse(text).metric.split(".", 1)[0]
        if base in other_task or base in other_fair:
            fit = f"{', '.join(fits)}; fairness: {', '.join(FAIRNESS_METRICS[task])}"
            gate_expected = f"a gate on a {task} metric ({fit}; robustness and efficiency metrics){hint}"
            raise InvalidInputError(f"gates[{i}]: {text!r} gates on {base!r}, which the task {what} does not "
                                    f"produce; expected {gate_expected}", field=f"gates[{i}]", value=text,
                                    expected=gate_expected)
