"""A fitted scikit-learn ``IsolationForest`` compiled into flat numpy arrays.

``IsolationForest.score_samples`` walks its trees one at a time through joblib, which costs
milliseconds per call whatever the batch size. ``compile_forest`` copies every tree's nodes
into a handful of flat arrays once; ``CompiledForest.score_samples`` then walks all trees
for all rows together, one numpy step per tree level, and returns the very numbers
scikit-learn returns (same float32 inputs, same comparisons, same sums in the same order).

Semantics replicated from scikit-learn 1.9 (``sklearn/ensemble/_iforest.py``):

- inputs are cast to float32 and a row goes left where ``x <= threshold`` (float64
  threshold); a NaN goes where the node's ``missing_go_to_left`` says;
- each tree sees ``X[:, estimators_features_[i]]`` unless ``_max_features`` equals the
  number of features, in which case it sees ``X`` as is;
- a row's path length in a tree is ``depth(leaf) + c(n_node_samples(leaf)) - 1`` with the
  root at depth 1 and ``c`` the average path length of an unsuccessful BST search;
- the sum over trees is normalised by ``n_trees * c(_max_samples)`` and the score is
  ``-2 ** (-mean path / c)``: higher = more normal, as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

# Rows evaluated together: the (trees × rows) work matrices stay near this many cells,
# small enough for the CPU caches and for memory whatever the batch.
_CELLS_PER_CHUNK = 1 << 18

_STATE_FIELDS = (
    "feature",
    "threshold",
    "left",
    "missing_left",
    "path_length",
    "roots",
    "levels",
    "n_features_in",
    "denominator",
)


def average_path_length(n_samples: npt.ArrayLike) -> FloatArray:
    """Average path length of an unsuccessful search in a binary search tree of
    ``n_samples`` keys, the normaliser ``c(n)`` of isolation forests (float64, same
    operations as scikit-learn's ``_average_path_length``)."""
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape)
    result[n == 2] = 1.0
    more = n > 2
    result[more] = 2.0 * (np.log(n[more] - 1.0) + np.euler_gamma) - 2.0 * (n[more] - 1.0) / n[more]
    return result


class CompiledForest:
    """All trees of a fitted isolation forest as flat arrays, one entry per node.

    Nodes are numbered level by level with siblings side by side, so a node's right child
    is ``left + 1``. A leaf points to itself and never goes right (threshold ``+inf``), so
    every row may take ``levels`` steps whatever depth its leaf is at.

    The state is plain numpy arrays and builtins (see ``__getstate__``), so pickle and
    skops can store it; skops needs ``energy_core.detection.fastforest.CompiledForest`` trusted.
    """

    feature: IndexArray
    """Per node, the column of ``X`` it splits on (0 at leaves)."""
    threshold: npt.NDArray[np.float32]
    """Per node, the float64 threshold rounded down to float32: for a float32 ``x``,
    ``x <= t64`` exactly when ``x <= t32``. ``+inf`` at leaves."""
    left: IndexArray
    """Per node, its left child (``left + 1`` is the right one); itself at leaves."""
    missing_left: npt.NDArray[np.bool_]
    """Per node, whether a NaN goes left (True at leaves)."""
    path_length: FloatArray
    """Per node, ``depth + c(n_node_samples) - 1`` at leaves (root depth 1), 0 elsewhere."""
    roots: IndexArray
    """Per tree, the index of its root node."""
    levels: int
    """The deepest leaf's number of edges from its root."""
    n_features_in: int
    denominator: float
    """``n_trees * c(max_samples)``: the normaliser of the summed path length."""

    def __init__(
        self,
        *,
        feature: IndexArray,
        threshold: npt.NDArray[np.float32],
        left: IndexArray,
        missing_left: npt.NDArray[np.bool_],
        path_length: FloatArray,
        roots: IndexArray,
        levels: int,
        n_features_in: int,
        denominator: float,
    ) -> None:
        self.__setstate__(
            {
                "feature": feature,
                "threshold": threshold,
                "left": left,
                "missing_left": missing_left,
                "path_length": path_length,
                "roots": roots,
                "levels": levels,
                "n_features_in": n_features_in,
                "denominator": denominator,
            }
        )

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE_FIELDS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        missing = set(_STATE_FIELDS) - set(state)
        if missing:
            raise ValueError(f"compiled forest state lacks {sorted(missing)}")
        self.feature = np.ascontiguousarray(state["feature"], dtype=np.intp)
        self.threshold = np.ascontiguousarray(state["threshold"], dtype=np.float32)
        self.left = np.ascontiguousarray(state["left"], dtype=np.intp)
        self.missing_left = np.ascontiguousarray(state["missing_left"], dtype=np.bool_)
        self.path_length = np.ascontiguousarray(state["path_length"], dtype=np.float64)
        self.roots = np.ascontiguousarray(state["roots"], dtype=np.intp)
        self.levels = int(state["levels"])
        self.n_features_in = int(state["n_features_in"])
        self.denominator = float(state["denominator"])
        self._validate()

    def _validate(self) -> None:
        """Refuse a state whose indices would leave the arrays (scoring does not check)."""
        arrays = (self.feature, self.threshold, self.left, self.missing_left, self.path_length)
        nodes = len(self.feature)
        if self.roots.ndim != 1 or any(array.shape != (nodes,) for array in arrays):
            raise ValueError("compiled forest arrays must be flat and of one length")
        if self.levels < 0 or self.n_features_in < 1:
            raise ValueError("compiled forest needs levels >= 0 and n_features_in >= 1")
        if nodes == 0 or len(self.roots) == 0:
            raise ValueError("compiled forest holds no tree")
        own = np.arange(nodes, dtype=np.intp)
        inner = self.left != own
        if (
            self.roots.min() < 0
            or self.roots.max() >= nodes
            or self.feature.min() < 0
            or self.feature.max() >= self.n_features_in
            or self.left.min() < 0
            or (self.left + inner).max() >= nodes
        ):
            raise ValueError("compiled forest indices out of range")
        if np.any(self.threshold[~inner] != np.inf):
            raise ValueError("compiled forest leaves must have an infinite threshold")

    def __repr__(self) -> str:
        return (
            f"CompiledForest(n_trees={self.n_trees}, n_nodes={self.n_nodes},"
            f" levels={self.levels}, n_features_in={self.n_features_in})"
        )

    def score_samples(self, X: npt.ArrayLike) -> FloatArray:
        """``IsolationForest.score_samples``: the opposite of the paper's anomaly score,
        in [-1, 0), lower = more abnormal. ``X`` has ``n_features_in`` columns."""
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        if X32.ndim != 2 or X32.shape[1] != self.n_features_in:
            raise ValueError(
                f"expected a matrix of {self.n_features_in} columns, got shape {X32.shape}"
            )
        rows = len(X32)
        depths = np.empty(rows)
        chunk = max(1, _CELLS_PER_CHUNK // max(1, self.n_trees))
        for start in range(0, rows, chunk):
            depths[start : start + chunk] = self._summed_path_lengths(X32[start : start + chunk])
        # Exactly scikit-learn's expression (one training sample: denominator 0, score 1).
        ratio = np.divide(
            depths, self.denominator, out=np.ones_like(depths), where=self.denominator != 0
        )
        scores: FloatArray = -(2 ** (-ratio))
        return scores

    def _summed_path_lengths(self, X32: npt.NDArray[np.float32]) -> FloatArray:
        """Per row of a C-contiguous float32 block, its path lengths summed over trees."""
        rows, width = X32.shape
        values = X32.ravel()
        row_offsets = (np.arange(rows, dtype=np.intp) * width)[np.newaxis, :]
        # (trees × rows): each row's current node in each tree, and work buffers reused
        # level after level. Indices are in range by construction (checked on load), so
        # take(mode="clip") skips the bounds check and writes into the buffers directly.
        nodes = np.repeat(self.roots[:, np.newaxis], rows, axis=1)
        cells = np.empty_like(nodes)
        x = np.empty(nodes.shape, dtype=np.float32)
        threshold = np.empty(nodes.shape, dtype=np.float32)
        right = np.empty(nodes.shape, dtype=np.bool_)
        has_nan = bool(np.isnan(values).any())
        for _ in range(self.levels):
            np.take(self.feature, nodes, out=cells, mode="clip")
            cells += row_offsets
            np.take(values, cells, out=x, mode="clip")
            np.take(self.threshold, nodes, out=threshold, mode="clip")
            np.greater(x, threshold, out=right)
            if has_nan:
                right |= np.isnan(x) & ~self.missing_left[nodes]
            np.take(self.left, nodes, out=nodes, mode="clip")
            nodes += right
        # Summing over axis 0 adds tree after tree, the order scikit-learn accumulates in,
        # so the sums agree to the last bit.
        summed: FloatArray = np.take(self.path_length, nodes, mode="clip").sum(axis=0)
        return summed


def compile_forest(forest: Any) -> CompiledForest:
    """Compile a fitted ``sklearn.ensemble.IsolationForest`` (dense input)."""
    estimators = getattr(forest, "estimators_", None)
    if not estimators:
        raise ValueError("compile_forest needs a fitted IsolationForest")
    n_features = int(forest.n_features_in_)
    max_features = int(getattr(forest, "_max_features", n_features))
    # scikit-learn hands every tree the whole X when _max_features covers all columns.
    subsample = max_features != n_features
    max_samples = getattr(forest, "_max_samples", forest.max_samples_)

    parts: list[dict[str, npt.NDArray[Any]]] = []
    roots: list[int] = []
    levels = 0
    offset = 0
    for estimator, columns in zip(estimators, forest.estimators_features_, strict=True):
        part, tree_levels = _flatten_tree(estimator.tree_, offset)
        if subsample:
            part["feature"] = np.asarray(columns, dtype=np.intp)[part["feature"]]
        parts.append(part)
        roots.append(offset)
        levels = max(levels, tree_levels)
        offset += len(part["feature"])

    return CompiledForest(
        feature=np.concatenate([part["feature"] for part in parts]),
        threshold=np.concatenate([part["threshold"] for part in parts]),
        left=np.concatenate([part["left"] for part in parts]),
        missing_left=np.concatenate([part["missing_left"] for part in parts]),
        path_length=np.concatenate([part["path_length"] for part in parts]),
        roots=np.asarray(roots, dtype=np.intp),
        levels=levels,
        n_features_in=n_features,
        denominator=float(len(estimators) * average_path_length([max_samples])[0]),
    )


def _flatten_tree(tree: Any, offset: int) -> tuple[dict[str, npt.NDArray[Any]], int]:
    """One ``sklearn.tree._tree.Tree`` renumbered level by level, siblings side by side,
    its node ids shifted by ``offset``; also its number of levels below the root."""
    children_left = np.asarray(tree.children_left, dtype=np.intp)
    children_right = np.asarray(tree.children_right, dtype=np.intp)
    # order[new id] = scikit-learn's id; depth[new id] = its depth, the root at 1.
    level = np.zeros(1, dtype=np.intp)
    order_parts = [level]
    depth_parts = [np.ones(1)]
    while True:
        inner = level[children_left[level] != -1]
        if len(inner) == 0:
            break
        level = np.empty(2 * len(inner), dtype=np.intp)
        level[0::2] = children_left[inner]
        level[1::2] = children_right[inner]
        order_parts.append(level)
        depth_parts.append(np.full(len(level), float(len(depth_parts) + 1)))
    order = np.concatenate(order_parts)
    depth = np.concatenate(depth_parts)
    new_id = np.empty(len(children_left), dtype=np.intp)
    new_id[order] = np.arange(len(order), dtype=np.intp)

    leaf = children_left[order] == -1
    own = np.arange(len(order), dtype=np.intp)
    left = np.where(leaf, own, new_id[np.where(leaf, 0, children_left[order])]) + offset

    threshold64 = np.where(leaf, np.inf, np.asarray(tree.threshold, dtype=np.float64)[order])
    threshold = threshold64.astype(np.float32)
    # Round down where the cast rounded up, so that float32 comparisons decide as float64.
    rounded_up = threshold > threshold64
    threshold[rounded_up] = np.nextafter(threshold[rounded_up], np.float32(-np.inf))

    missing_go_to_left = getattr(tree, "missing_go_to_left", None)
    missing_left = (
        np.ones(len(order), dtype=np.bool_)
        if missing_go_to_left is None
        else np.asarray(missing_go_to_left, dtype=np.bool_)[order] | leaf
    )
    n_node_samples = np.asarray(tree.n_node_samples)[order]
    path_length = np.where(leaf, depth + average_path_length(n_node_samples) - 1.0, 0.0)
    feature = np.where(leaf, 0, np.asarray(tree.feature, dtype=np.intp)[order])
    part = {
        "feature": feature.astype(np.intp),
        "threshold": threshold,
        "left": left,
        "missing_left": missing_left,
        "path_length": path_length,
    }
    return part, len(depth_parts) - 1
