"""split: encode the target, decide the task, split rows into train and test (stratified, seeded)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInputError
from shipyard.pipeline.context import RunContext

if TYPE_CHECKING:
    import numpy as np


class SplitStep:
    name = "split"
    version = "1"
    portable = True  # needs only the spec, upstream outputs and the artifact store (executors/remote.py)

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        s = ctx.spec
        return {"data": ctx.data_digest, "target": s.target, "positive": s.positive, "task": s.task,
                "split": s.split}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        import numpy as np
        from sklearn.model_selection import train_test_split

        X, y, task, positive, classes = frame(ctx)
        sp = ctx.spec.split
        strat = y if task in ("classification", "multiclass") and sp.get("stratify", True) else None
        idx = np.arange(len(y))
        try:
            train_idx, test_idx = train_test_split(idx, test_size=float(sp["test_size"]), random_state=int(sp["seed"]),
                                                   stratify=strat)
        except ValueError as exc:
            raise InvalidInputError(field="pipeline.split", value=sp, expected=f"a feasible split ({exc})") from None
        doc = {"train": sorted(int(i) for i in train_idx), "test": sorted(int(i) for i in test_idx)}
        digest = ctx.put_json(doc)
        ctx.memo["split"] = doc
        ctx.log(f"{task}: {len(doc['train'])} train rows, {len(doc['test'])} test rows")
        out = {"split": digest, "task": task, "positive": positive, "classes": classes,
               "train_rows": len(doc["train"]), "test_rows": len(doc["test"])}
        if task == "regression":  # for the hint when classification metrics meet an inferred regression
            out["distinct"] = int(len(np.unique(y)))
        return out


def frame(ctx: RunContext) -> tuple[Any, np.ndarray, str, Any, list[str] | None]:
    """The training file as (X DataFrame, encoded y, task, positive label, class labels), memoised."""
    if "frame" in ctx.memo:
        return ctx.memo["frame"]  # type: ignore[no-any-return]
    from shipyard.data.readers import read_table

    s = ctx.spec
    table = ctx.memo["table"] if "table" in ctx.memo else read_table(s.data_path)
    ctx.memo["frame"] = encode_target(table, s.target, s.positive, s.task)
    return ctx.memo["frame"]  # type: ignore[no-any-return]


def encode_target(table: Any, target_name: str, positive_cfg: str | int | None,
                  task_cfg: str | None) -> tuple[Any, np.ndarray, str, Any, list[str] | None]:
    """(X DataFrame, encoded y, task, positive label, class labels) of an Arrow table, by the rules of
    ``data.target``, ``data.positive`` and ``data.task`` (also used by ``models evaluate``)."""
    import numpy as np
    import pandas as pd

    if target_name not in table.column_names:
        raise InvalidInputError(field="data.target", value=target_name,
                                expected="one of the columns: " + ", ".join(table.column_names))
    df = table.to_pandas()
    target = df.pop(target_name)
    if target.isna().any():
        raise InvalidInputError(field="data.target", value=f"{int(target.isna().sum())} missing value(s)",
                                expected=f"a label in every row of {target_name}")
    task = task_cfg or _infer_task(target, positive_cfg)
    positive: Any = None
    classes: list[str] | None = None
    if task == "classification":
        labels = sorted({str(v) for v in target.tolist()})
        if len(labels) < 2:
            raise InvalidInputError(field="data.target", value=f"{len(labels)} label ({', '.join(labels)})",
                                    expected="at least 2 labels for classification")
        if positive_cfg is not None:
            positive = str(positive_cfg)
            if positive not in labels:
                raise InvalidInputError(field="data.positive", value=positive_cfg,
                                        expected="one of the target's labels: " + ", ".join(labels))
            if len(labels) > 2:
                raise InvalidInputError(
                    f"data.positive: {positive_cfg!r} names a positive class, but {target_name} has "
                    f"{len(labels)} labels ({', '.join(labels[:8])}{'...' if len(labels) > 8 else ''})",
                    field="data.positive", value=positive_cfg,
                    expected="no data.positive for a multi-class target (or a binary target)")
        if len(labels) == 2:
            positive = positive if positive is not None else labels[1]
            classes = [next(lbl for lbl in labels if lbl != positive), positive]
            y = (target.astype(str) == positive).to_numpy().astype(np.int64)
        else:  # multi-class: y is the index of the label in the sorted labels
            task, classes = "multiclass", labels
            index = {lbl: i for i, lbl in enumerate(labels)}
            y = np.array([index[str(v)] for v in target.tolist()], dtype=np.int64)
    else:
        if not pd.api.types.is_numeric_dtype(target):
            raise InvalidInputError(field="data.target", value=str(target.dtype),
                                    expected="a numeric target for regression")
        y = target.to_numpy(dtype=float)
    return df, y, task, positive, classes


def _infer_task(target: Any, positive: Any) -> str:
    import pandas as pd

    if positive is not None or not pd.api.types.is_numeric_dtype(target) or target.nunique() <= 2:
        return "classification"
    return "regression"


def split_frames(ctx: RunContext) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """(X_train, y_train, X_test, y_test) from the memo or the stored split."""
    import numpy as np

    X, y, *_ = frame(ctx)
    doc = ctx.memo.get("split") or ctx.get_json(ctx.outputs["split"]["split"])
    ctx.memo["split"] = doc
    tr, te = np.asarray(doc["train"], dtype=int), np.asarray(doc["test"], dtype=int)
    return X.iloc[tr].reset_index(drop=True), y[tr], X.iloc[te].reset_index(drop=True), y[te]
