"""Random forests: training, and a compact, code-free storage format.

A fitted :class:`~sklearn.ensemble.RandomForestRegressor` is stored as one Parquet table of tree
nodes (tree, left, right, feature, threshold, value) instead of a pickle: loading it runs no
code, it is a fraction of a pickle's size (the fields prediction never reads are dropped and the
columns compress well), and the same forest always gives the same bytes. :func:`load_forest`
rebuilds an ordinary scikit-learn estimator whose predictions are identical to the original's.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import NODE_DTYPE, Tree

from .io import atomic_output

log = logging.getLogger(__name__)

FORMAT = "ebteff-forest-v1"
_SCHEMA = pa.schema(
    [
        ("tree", pa.int32()),
        ("left", pa.int32()),
        ("right", pa.int32()),
        ("feature", pa.int16()),
        ("threshold", pa.float64()),
        ("value", pa.float64()),
    ]
)


def train_forest(X: np.ndarray, y: np.ndarray, hyperparameters: dict, n_jobs: int = 1):
    """Fit a RandomForestRegressor with the given hyperparameters on ``n_jobs`` threads."""
    model = RandomForestRegressor(**hyperparameters, n_jobs=n_jobs)
    model.fit(X, y)
    return model


def forest_nodes(model: RandomForestRegressor) -> pa.Table:
    """All trees' nodes as one Arrow table, in tree order then node order."""
    parts = []
    for i, est in enumerate(model.estimators_):
        t = est.tree_
        leaf = t.children_left == -1
        parts.append(
            pa.table(
                {
                    "tree": np.full(t.node_count, i, dtype=np.int32),
                    "left": t.children_left.astype(np.int32),
                    "right": t.children_right.astype(np.int32),
                    "feature": t.feature.astype(np.int16),
                    # only leaves' values are read by predict; zeros elsewhere compress to nothing
                    "threshold": np.where(leaf, -2.0, t.threshold),
                    "value": np.where(leaf, t.value[:, 0, 0], 0.0),
                },
                schema=_SCHEMA,
            )
        )
    return pa.concat_tables(parts)


def save_forest(model: RandomForestRegressor, path: str | os.PathLike, metadata: dict) -> None:
    """Write the forest's nodes to Parquet (zstd), with the few fields needed to rebuild it."""
    table = forest_nodes(model)
    meta = {
        "format": FORMAT,
        "n_features": str(model.n_features_in_),
        "n_estimators": str(len(model.estimators_)),
        **{k: str(v) for k, v in metadata.items()},
    }
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    with atomic_output(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=19,
            use_dictionary=False,
            write_statistics=False,
        )


def _tree_from_nodes(nodes: dict[str, np.ndarray], n_features: int) -> Tree:
    n = len(nodes["left"])
    arr = np.zeros(n, dtype=NODE_DTYPE)
    arr["left_child"] = nodes["left"]
    arr["right_child"] = nodes["right"]
    arr["feature"] = nodes["feature"]
    arr["threshold"] = nodes["threshold"]
    arr["n_node_samples"] = 1
    arr["weighted_n_node_samples"] = 1.0
    depth = np.zeros(n, dtype=np.int64)
    for i in range(n):  # parents precede children in scikit-learn's node order
        if nodes["left"][i] != -1:
            depth[nodes["left"][i]] = depth[nodes["right"][i]] = depth[i] + 1
    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    tree.__setstate__(
        {
            "max_depth": int(depth.max()),
            "node_count": n,
            "nodes": arr,
            "values": nodes["value"].reshape(n, 1, 1).astype(np.float64),
        }
    )
    return tree


def load_forest(path: str | os.PathLike) -> tuple[RandomForestRegressor, dict]:
    """Rebuild the scikit-learn forest stored at ``path``; also return the stored metadata."""
    pf = pq.ParquetFile(path)
    meta = {k.decode(): v.decode() for k, v in (pf.schema_arrow.metadata or {}).items()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} model file (format={meta.get('format')})")
    n_features = int(meta["n_features"])
    df = pl.read_parquet(path)
    trees = []
    for part in df.partition_by("tree", maintain_order=True):
        nodes = {c: part[c].to_numpy() for c in ("left", "right", "feature", "threshold", "value")}
        est = DecisionTreeRegressor()
        est.tree_ = _tree_from_nodes(nodes, n_features)
        est.n_features_in_ = n_features
        est.n_outputs_ = 1
        est.max_features_ = n_features
        trees.append(est)
    model = RandomForestRegressor(n_estimators=len(trees))
    model.estimators_ = trees
    model.estimator_ = DecisionTreeRegressor()
    model.n_features_in_ = n_features
    model.n_outputs_ = 1
    return model, meta


def predict_trees(model: RandomForestRegressor, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the trees, accumulated in tree order.

    The sums run in a fixed order (scikit-learn's threaded predict adds trees in whatever order
    threads finish), so the same inputs give bit-identical outputs; only two running arrays are
    held, never the per-tree matrix.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    total = np.zeros(X.shape[0])
    total_sq = np.zeros(X.shape[0])
    for est in model.estimators_:
        p = est.tree_.predict(X)[:, 0]
        total += p
        total_sq += p * p
    n = len(model.estimators_)
    mean = total / n
    var = np.maximum(total_sq / n - mean * mean, 0.0)
    return mean, np.sqrt(var)
