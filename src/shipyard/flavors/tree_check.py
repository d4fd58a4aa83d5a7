"""Structural checks of every decision tree inside a loaded scikit-learn model, before it predicts.

skops can only vouch for an object's *type*. ``sklearn.tree._tree.Tree`` (decision trees, random
forests, extra trees, gradient boosting) and HistGradientBoosting's ``TreePredictor`` keep raw node
indices that scikit-learn's Cython code follows without bounds checks, so a crafted file that loads
fine can make ``predict`` read out of bounds, crash, or loop forever. ``check_trees`` walks the loaded
object graph (pipelines, column transformers, ensembles' ``estimators_``/``estimator_``, nested
meta-estimators, any attribute) and checks every tree's arrays:

- at least one node; a split node's children lie after it and inside the node array (``i < child <
  node_count``: no self-loops, no cycles, so traversal always ends at a leaf); a leaf has both children
  ``-1`` (``Tree``) or ``is_leaf`` set (``TreePredictor``);
- a split node's feature index lies in ``0 .. n_features - 1``, where ``n_features`` is the smallest
  of the tree's own ``n_features`` and the ``n_features_in_`` of its estimator and of every ensemble
  above it (a forest or gradient-boosting model validates ``X`` against its own ``n_features_in_``
  and hands it to its trees unchecked);
- a split threshold is not NaN (``+inf`` is legitimate: scikit-learn uses it for "every non-missing
  value goes left" splits);
- ``Tree.value`` has shape ``(node_count, n_outputs, max_n_classes)``;
- a categorical ``TreePredictor`` split names a bitset row that exists (rows of 8 words) and a feature
  the estimator's bin mapper marks categorical (its known-categories bitset is looked up by it).

A failure raises ``UnsafeArtifactError`` naming the estimator's path (``steps[1].estimators_[3]``) and
the array. The checks are vectorised NumPy over the node arrays: a 500-tree forest takes milliseconds.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from shipyard.flavors.base import UnsafeArtifactError

# skops type names this module makes safe to load (see flavors/sklearn.py)
TREE_TYPES = ("sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")
# attributes through which an estimator hands its (already validated) X on unchecked: ensemble members, the tree
_MEMBER_ATTRS = ("estimators_", "estimator_", "tree_")
MAX_DEPTH = 64  # object nesting; a legitimate model is a handful of levels deep


def _refuse(path: str, array: str, problem: str) -> UnsafeArtifactError:
    where = path or "(model)"
    return UnsafeArtifactError(f"artifact: {where}: {array} {problem}; refusing to load a tree that could read "
                               "out of bounds when it predicts", field=f"{where}.{array}", value=problem,
                               expected="a tree whose node indices, features and thresholds are consistent")


def _as_count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | np.integer) and not isinstance(value, bool) else None


def _limit(bound: int | None, owner: Any) -> int | None:
    own = _as_count(getattr(owner, "n_features_in_", None))
    if own is None:
        return bound
    return own if bound is None else min(bound, own)


def _check_children(path: str, left: np.ndarray, right: np.ndarray, split: np.ndarray, n: int,
                    names: tuple[str, str]) -> None:
    idx = np.arange(n)
    for arr, name in ((left, names[0]), (right, names[1])):
        bad = split & ((arr <= idx) | (arr >= n))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _refuse(path, name, f"of node {i} is {int(arr[i])}, expected {i + 1}..{n - 1}")


def check_tree(tree: Any, path: str, n_features: int | None) -> None:
    """Check one ``sklearn.tree._tree.Tree`` (see the module docstring)."""
    n = int(tree.node_count)
    if n < 1:
        raise _refuse(path, "tree_.node_count", f"is {n}, expected at least 1")
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold)
    for name, arr in (("children_left", left), ("children_right", right), ("feature", feature),
                      ("threshold", threshold)):
        if arr.shape != (n,):
            raise _refuse(path, f"tree_.{name}", f"has shape {arr.shape}, expected ({n},)")
    leaf = (left == -1) & (right == -1)
    split = ~leaf
    _check_children(path, left, right, split, n, ("tree_.children_left", "tree_.children_right"))
    limit = int(tree.n_features) if n_features is None else min(int(tree.n_features), n_features)
    bad = split & ((feature < 0) | (feature >= limit))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _refuse(path, "tree_.feature", f"of node {i} is {int(feature[i])}, expected 0..{limit - 1}")
    if np.isnan(threshold[split]).any():
        i = int(np.flatnonzero(split & np.isnan(threshold))[0])
        raise _refuse(path, "tree_.threshold", f"of node {i} is NaN, expected a number")
    shape = np.asarray(tree.value).shape
    expected = (n, int(tree.n_outputs), int(tree.max_n_classes))
    if shape != expected:
        raise _refuse(path, "tree_.value", f"has shape {shape}, expected {expected}")


def check_predictor(predictor: Any, path: str, n_features: int | None, categorical: np.ndarray | None) -> None:
    """Check one HistGradientBoosting ``TreePredictor`` (see the module docstring)."""
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or nodes.dtype.names is None:
        raise _refuse(path, "nodes", "is not a 1-d structured array")
    for name in ("left", "right", "feature_idx", "num_threshold", "is_leaf", "is_categorical", "bitset_idx"):
        if name not in nodes.dtype.names:
            raise _refuse(path, "nodes", f"has no field {name!r}")
    n = len(nodes)
    if n < 1:
        raise _refuse(path, "nodes", "is empty, expected at least 1 node")
    split = nodes["is_leaf"] == 0
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    _check_children(path, left, right, split, n, ("nodes.left", "nodes.right"))
    feature = nodes["feature_idx"].astype(np.int64)
    if n_features is not None:
        bad = split & ((feature < 0) | (feature >= n_features))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _refuse(path, "nodes.feature_idx", f"of node {i} is {int(feature[i])}, "
                          f"expected 0..{n_features - 1}")
    numeric = split & (nodes["is_categorical"] == 0)
    if np.isnan(nodes["num_threshold"][numeric]).any():
        i = int(np.flatnonzero(numeric & np.isnan(nodes["num_threshold"]))[0])
        raise _refuse(path, "nodes.num_threshold", f"of node {i} is NaN, expected a number")
    cat = split & (nodes["is_categorical"] != 0)
    if cat.any():
        _check_categorical(predictor, path, nodes, cat, feature, categorical)


def _check_categorical(predictor: Any, path: str, nodes: np.ndarray, cat: np.ndarray, feature: np.ndarray,
                       categorical: np.ndarray | None) -> None:
    bitsets = getattr(predictor, "raw_left_cat_bitsets", None)
    if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
        raise _refuse(path, "raw_left_cat_bitsets", "is not an (n, 8) array of bitsets")
    rows = nodes["bitset_idx"].astype(np.int64)
    bad = cat & (rows >= bitsets.shape[0])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _refuse(path, "nodes.bitset_idx", f"of node {i} is {int(rows[i])}, "
                      f"expected 0..{bitsets.shape[0] - 1}")
    flags = np.zeros(0, dtype=bool) if categorical is None else np.asarray(categorical, dtype=bool).ravel()
    inside = feature < flags.size
    ok = np.zeros(len(nodes), dtype=bool)
    ok[inside] = flags[feature[inside]]
    bad = cat & ~ok
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _refuse(path, "nodes.is_categorical", f"of node {i} splits feature {int(feature[i])} by category, "
                      "which the estimator's bin mapper does not mark categorical")


class _Walker:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.trees = 0

    def walk(self, obj: Any, path: str, bound: int | None, depth: int) -> None:
        if obj is None or isinstance(obj, str | bytes | int | float | bool | np.generic) or id(obj) in self.seen:
            return
        if depth > MAX_DEPTH:
            raise _refuse(path, "(object)", f"is nested more than {MAX_DEPTH} levels deep")
        self.seen.add(id(obj))
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
        from sklearn.tree._tree import Tree

        if isinstance(obj, Tree):
            check_tree(obj, path.removesuffix(".tree_"), bound)
            self.trees += 1
        elif isinstance(obj, TreePredictor):
            raise _refuse(path, "(object)", "is a TreePredictor outside a HistGradientBoosting model's _predictors")
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                for i, item in enumerate(obj.ravel()):
                    self.walk(item, f"{path}[{i}]", bound, depth + 1)
        elif isinstance(obj, list | tuple):
            named = isinstance(obj, tuple) and 2 <= len(obj) <= 3 and isinstance(obj[0], str)
            for i, item in enumerate(obj):
                self.walk(item, path if named else f"{path}[{i}]", bound, depth + 1)
        elif isinstance(obj, dict):
            for key, item in obj.items():
                self.walk(item, f"{path}[{key!r}]", bound, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type | types.ModuleType | types.FunctionType):
            self._walk_object(obj, path, bound, depth)

    def _walk_object(self, obj: Any, path: str, bound: int | None, depth: int) -> None:
        bound = _limit(bound, obj)
        predictors = vars(obj).get("_predictors")
        if predictors is not None:
            self._walk_predictors(obj, predictors, path, bound)
        for name, value in vars(obj).items():
            if name == "_predictors":
                continue
            # members of an ensemble get the ensemble's validated X; anything else validates its own input
            child_bound = bound if name in _MEMBER_ATTRS else None
            self.walk(value, f"{path}.{name}" if path else name, child_bound, depth + 1)

    def _walk_predictors(self, owner: Any, predictors: Any, path: str, bound: int | None) -> None:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        mapper = getattr(owner, "_bin_mapper", None)
        categorical = getattr(mapper, "is_categorical_", None)
        base = f"{path}._predictors" if path else "_predictors"
        if not isinstance(predictors, list):
            raise _refuse(path, "_predictors", "is not a list of lists of TreePredictor")
        for i, row in enumerate(predictors):
            for j, pred in enumerate(row if isinstance(row, list) else [row]):
                if not isinstance(pred, TreePredictor):
                    raise _refuse(f"{base}[{i}][{j}]", "(object)", f"is a {type(pred).__name__}, "
                                  "expected a TreePredictor")
                check_predictor(pred, f"{base}[{i}][{j}]", bound, categorical)
                self.seen.add(id(pred))
                self.trees += 1


def check_trees(model: Any) -> int:
    """Check every tree reachable from ``model``; returns how many were checked.

    Raises:
        UnsafeArtifactError: a tree's arrays are inconsistent (names the estimator path and the array).
    """
    walker = _Walker()
    walker.walk(model, "", None, 0)
    return walker.trees
