"""Random forests: training, a compact code-free storage format, and prediction with spread.

A fitted :class:`~sklearn.ensemble.RandomForestRegressor` is stored as one Parquet table of tree
nodes instead of a pickle: loading it runs no code, the same forest always gives the same bytes,
and it is about 15 times smaller than a pickle. Per node it keeps only what prediction reads:

- ``tree``, ``feature`` (int8, -2 at leaves);
- ``right``: offset of the right child (the left child of node i is always node i + 1 in
  scikit-learn's depth-first order, so it is not stored);
- ``threshold`` (float32, internal nodes): scikit-learn compares float32 features with the
  threshold, so rounding the threshold *down* to float32 sends every float32 input the same way
  as the float64 original: the split decisions are exact;
- ``value`` (float32, leaves): the leaf's mean target. Rounding to float32 changes a prediction by
  at most 1 part in 10^7 (0.003 K at 5,000 K), far below anything measurable.

:func:`load_forest` rebuilds an ordinary scikit-learn estimator from the table.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import NODE_DTYPE, Tree

from .formats import FOREST_FORMAT
from .io import atomic_output

log = logging.getLogger(__name__)

LEAF = -2  # scikit-learn's TREE_UNDEFINED feature index
COLUMNS = ("tree", "feature", "right", "threshold", "value")


#: Training engines (``training.engine`` and a model's ``engine`` in the config):
#: ``sklearnex``, scikit-learn-intelex's oneDAL forest (several times faster), and ``sklearn``,
#: scikit-learn's own (the earlier pipeline's models). Either way the forest is stored as the same
#: node table and predicted by the same code; the two engines grow different trees.
ENGINES = ("sklearnex", "sklearn")
#: The installed distribution whose version is recorded with a model trained by each engine
#: (scikit-learn-intelex's ``__version__`` is a placeholder, its distribution's version is not).
ENGINE_DISTRIBUTION = {"sklearnex": "scikit-learn-intelex", "sklearn": "scikit-learn"}


def engine_version(engine: str) -> str:
    """Installed version of the distribution that provides ``engine``."""
    from importlib.metadata import version

    return version(ENGINE_DISTRIBUTION[_check_engine(engine)])


def _check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown training engine {engine!r}: use one of {', '.join(ENGINES)}")
    return engine


def forest_estimator(engine: str, hyperparameters: dict, n_jobs: int = 1):
    """An unfitted random-forest regressor of ``engine`` with the given hyperparameters."""
    if _check_engine(engine) == "sklearnex":
        try:
            from sklearnex.ensemble import RandomForestRegressor as Forest
        except ImportError as err:
            raise ImportError(
                "training engine 'sklearnex' needs scikit-learn-intelex (pip install "
                "scikit-learn-intelex, see requirements.txt), or set training.engine: sklearn"
            ) from err
    else:
        Forest = RandomForestRegressor
    return Forest(**hyperparameters, n_jobs=n_jobs)


def train_forest(
    X: np.ndarray,
    y: np.ndarray,
    hyperparameters: dict,
    n_jobs: int = 1,
    progress=None,
    engine: str = "sklearn",
):
    """Fit a random forest of ``engine`` (:data:`ENGINES`) on ``n_jobs`` threads.

    ``X`` is cast to float32, the precision the stored node table is traversed in: scikit-learn
    trees convert to float32 anyway, and oneDAL then computes its split thresholds in float32
    too, so the stored forest sends every star the same way as the fitted one.

    With ``progress`` (anything with ``update(n_trees)``, such as :class:`ebteff.logs.Progress`)
    scikit-learn grows the trees in about 20 rounds of ``warm_start``, reporting after each. The
    forest is the same as from one ``fit``: scikit-learn draws each added tree's seed from
    ``random_state`` as a single fit would (it skips the draws of the trees already grown).
    scikit-learn-intelex must fit in one call (with ``warm_start`` it silently falls back to
    stock scikit-learn), which holds the GIL until it returns: ``progress`` gets every tree then.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    model = forest_estimator(engine, hyperparameters, n_jobs)
    if progress is None or engine == "sklearnex":
        model.fit(X, y)
        if progress is not None:
            progress.update(int(model.n_estimators))
        return model
    total = int(model.n_estimators)
    threads = max(1, n_jobs)
    # rounds of a multiple of n_jobs trees, so no thread idles at the end of a round
    step = max(threads, round(total / 20 / threads) * threads)
    model.set_params(warm_start=True)
    grown = 0
    while grown < total:
        model.set_params(n_estimators=min(total, grown + step))
        model.fit(X, y)
        progress.update(len(model.estimators_) - grown)
        grown = len(model.estimators_)
    model.set_params(warm_start=False)
    return model


def _threshold_down_float32(threshold: np.ndarray) -> np.ndarray:
    """Largest float32 <= each float64 threshold (exact split decisions for float32 inputs)."""
    t32 = threshold.astype(np.float32)
    up = t32.astype(np.float64) > threshold
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def forest_nodes(model: RandomForestRegressor) -> pa.Table:
    """All trees' nodes as one Arrow table, in tree order then node order."""
    parts = []
    for i, est in enumerate(model.estimators_):
        t = est.tree_
        idx = np.arange(t.node_count)
        leaf = t.children_left == -1
        if not np.array_equal(t.children_left[~leaf], idx[~leaf] + 1):
            raise ValueError("tree nodes are not in depth-first order (was max_leaf_nodes set?)")
        parts.append(
            pa.table(
                {
                    "tree": pa.array(np.full(t.node_count, i, dtype=np.int32)),
                    "feature": pa.array(np.where(leaf, LEAF, t.feature).astype(np.int8)),
                    "right": pa.array(np.where(leaf, 0, t.children_right - idx).astype(np.int32)),
                    "threshold": pa.array(_threshold_down_float32(t.threshold), mask=leaf),
                    "value": pa.array(t.value[:, 0, 0].astype(np.float32), mask=~leaf),
                }
            )
        )
    return pa.concat_tables(parts)


def save_forest(model: RandomForestRegressor, path: str | os.PathLike, metadata: dict) -> None:
    """Write the forest's nodes to Parquet (zstd), with the few fields needed to rebuild it."""
    if model.n_features_in_ > 127:
        raise ValueError("the forest format stores feature indices as int8 (at most 127)")
    table = forest_nodes(model)
    meta = {
        "format": FOREST_FORMAT,
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
            compression_level=3,
            use_dictionary=False,
            write_statistics=False,
        )


def _tree_from_nodes(feature, right, threshold, value, n_features: int) -> Tree:
    n = len(feature)
    idx = np.arange(n)
    leaf = feature == LEAF
    arr = np.zeros(n, dtype=NODE_DTYPE)
    arr["left_child"] = np.where(leaf, -1, idx + 1)
    arr["right_child"] = np.where(leaf, -1, idx + right)
    arr["feature"] = feature
    arr["threshold"] = np.where(leaf, -2.0, threshold)
    arr["n_node_samples"] = 1
    arr["weighted_n_node_samples"] = 1.0
    depth = np.zeros(n, dtype=np.int64)
    for i in idx[~leaf]:  # parents precede children in depth-first order
        depth[i + 1] = depth[i + right[i]] = depth[i] + 1
    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    tree.__setstate__(
        {
            "max_depth": int(depth.max()),
            "node_count": n,
            "nodes": arr,
            "values": np.where(leaf, value, 0.0).reshape(n, 1, 1).astype(np.float64),
        }
    )
    return tree


def _read_node_table(path: str | os.PathLike) -> tuple[pl.DataFrame, dict]:
    """The node table stored at ``path`` and its metadata, checked to be a forest file."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path} is not a readable model file: {err}") from err
    meta = {k.decode(): v.decode() for k, v in (pf.schema_arrow.metadata or {}).items()}
    if meta.get("format") != FOREST_FORMAT:
        raise ValueError(
            f"{path} is not an {FOREST_FORMAT} model file (format={meta.get('format')})"
        )
    if pf.schema_arrow.names != list(COLUMNS):
        raise ValueError(f"{path}: columns {pf.schema_arrow.names}, expected {list(COLUMNS)}")
    return pl.read_parquet(path), meta


def load_forest(path: str | os.PathLike) -> tuple[RandomForestRegressor, dict]:
    """Rebuild the scikit-learn forest stored at ``path``; also return the stored metadata."""
    df, meta = _read_node_table(path)
    n_features = int(meta["n_features"])
    trees = []
    for part in df.partition_by("tree", maintain_order=True):
        est = DecisionTreeRegressor()
        est.tree_ = _tree_from_nodes(
            part["feature"].to_numpy(),
            part["right"].to_numpy(),
            part["threshold"].cast(pl.Float64).fill_null(-2.0).to_numpy(),
            part["value"].cast(pl.Float64).fill_null(0.0).to_numpy(),
            n_features,
        )
        est.n_features_in_ = n_features
        est.n_outputs_ = 1
        est.max_features_ = n_features
        trees.append(est)
    if len(trees) != int(meta["n_estimators"]):
        raise ValueError(f"{path} holds {len(trees)} trees, its header says {meta['n_estimators']}")
    model = RandomForestRegressor(n_estimators=len(trees))
    model.estimators_ = trees
    model.estimator_ = DecisionTreeRegressor()
    model.n_features_in_ = n_features
    model.n_outputs_ = 1
    return model, meta


@dataclass(frozen=True)
class FlatForest:
    """A forest as the flat arrays the compiled traversal reads (:func:`predict_trees`).

    Node ``k`` of the concatenated trees (in the node table's order) sends a float32 star to
    node ``child[2k]`` if its feature ``feature[k]`` is ``<= split[k]``, else to
    ``child[2k + 1]``. A leaf is its own two children, with ``feature`` 0 and ``split`` holding
    the leaf's value, so every star takes exactly ``depths[t]`` steps down tree ``t`` with no
    branch on the data: the next node is a load indexed by the comparison, the same work for
    every star, which a processor pipelines far better than a branch it mispredicts half of
    the time (a multiply-add on the comparison, the earlier form, was compiled back into such a
    branch for some processors). ``roots`` are the trees' first nodes, in tree order.
    """

    feature: np.ndarray  # int8
    child: np.ndarray  # int32, 2 per node: left and right child (a leaf: itself, twice)
    split: np.ndarray  # float32: threshold, or the leaf's value
    roots: np.ndarray  # int64
    depths: np.ndarray  # int64: each tree's depth
    n_features: int

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.split)

    @classmethod
    def from_table(cls, table: pl.DataFrame | pa.Table, n_features: int) -> FlatForest:
        """From the node table (:func:`forest_nodes`, or as :func:`save_forest` stored it)."""
        df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
        tree = df["tree"].to_numpy()
        roots = np.flatnonzero(np.r_[True, tree[1:] != tree[:-1]]) if len(tree) else []
        roots = np.asarray(roots, dtype=np.int64)
        feature = df["feature"].to_numpy()
        leaf = feature == LEAF
        right = df["right"].to_numpy().astype(np.int64)  # relative to the node, as stored
        split = np.where(
            leaf, df["value"].fill_null(0.0).to_numpy(), df["threshold"].fill_null(0.0).to_numpy()
        ).astype(np.float32)
        if len(feature) >= 2**31:
            raise ValueError(f"{len(feature)} nodes: the traversal indexes nodes with int32")
        node = np.arange(len(feature), dtype=np.int64)
        child = np.empty(2 * len(feature), dtype=np.int32)
        child[0::2] = np.where(leaf, node, node + 1)  # the left child follows its parent
        child[1::2] = np.where(leaf, node, node + right)
        return cls(
            np.where(leaf, 0, feature).astype(np.int8),
            child,
            split,
            roots,
            _kernels()[1](child, roots),
            int(n_features),
        )


def flatten_forest(model: RandomForestRegressor) -> FlatForest:
    """The :class:`FlatForest` of a fitted (or loaded) forest: exactly what it would store."""
    return FlatForest.from_table(forest_nodes(model), model.n_features_in_)


def read_flat_forest(path: str | os.PathLike) -> tuple[FlatForest, dict]:
    """The forest stored at ``path``, ready to predict, without building scikit-learn trees."""
    df, meta = _read_node_table(path)
    flat = FlatForest.from_table(df, int(meta["n_features"]))
    if flat.n_trees != int(meta["n_estimators"]):
        raise ValueError(
            f"{path} holds {flat.n_trees} trees, its header says {meta['n_estimators']}"
        )
    return flat, meta


@lru_cache(maxsize=1)
def _kernels():
    """The compiled traversal and tree depths (numba; cached on disk after the first use)."""
    import numba

    @numba.njit(nogil=True, cache=True)
    def accumulate(X, feature, child, split, roots, depths, total, total_sq):
        # Tree by tree over all rows: one tree (about a MB) stays in cache while the rows
        # stream past it. Within a tree, a block of rows goes down one level at a time: the
        # rows' paths are independent, so their memory reads overlap. Each row's sums are
        # added in tree order, as predict_trees_per_tree adds them.
        n, n_features = X.shape
        flat_x = X.reshape(-1)
        block = 32
        node = np.empty(block, np.int64)
        for t in range(roots.shape[0]):
            for lo in range(0, n, block):
                m = min(block, n - lo)
                for j in range(m):
                    node[j] = roots[t]
                for _ in range(depths[t]):
                    for j in range(m):
                        k = node[j]
                        x = flat_x[(lo + j) * n_features + np.int64(feature[k])]
                        node[j] = child[2 * k + np.int64(x > split[k])]
                for j in range(m):
                    v = np.float64(split[node[j]])
                    total[lo + j] += v
                    total_sq[lo + j] += v * v

    @numba.njit(cache=True)
    def tree_depths(child, roots):
        # parents precede their children in the node table's depth-first order
        n_nodes = child.shape[0] // 2
        depth = np.zeros(n_nodes, np.int64)
        out = np.zeros(roots.shape[0], np.int64)
        for t in range(roots.shape[0]):
            stop = roots[t + 1] if t + 1 < roots.shape[0] else n_nodes
            for k in range(roots[t], stop):
                if child[2 * k] != k:
                    d = depth[k] + 1
                    depth[child[2 * k]] = d
                    depth[child[2 * k + 1]] = d
                    out[t] = max(out[t], d)
        return out

    return accumulate, tree_depths


def predict_trees(
    model: FlatForest | RandomForestRegressor, X: np.ndarray, n_jobs: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the trees, every tree traversed in compiled code.

    Bit-identical to :func:`predict_trees_per_tree` (scikit-learn's own traversal, one call per
    tree): the same float32 comparisons, and each star's float64 sums added in tree order. The
    rows are cut into ``n_jobs`` contiguous blocks traversed on threads (the kernel releases the
    GIL); a row's result does not depend on its block, so neither does the output on ``n_jobs``.
    Pass a :class:`FlatForest` (:func:`read_flat_forest`); a scikit-learn forest is flattened
    first, on every call.
    """
    flat = model if isinstance(model, FlatForest) else flatten_forest(model)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != flat.n_features:
        raise ValueError(f"X has shape {X.shape}, the forest expects {flat.n_features} features")
    n = X.shape[0]
    total = np.zeros(n)
    total_sq = np.zeros(n)
    kernel = _kernels()[0]
    args = (flat.feature, flat.child, flat.split, flat.roots, flat.depths)
    jobs = max(1, min(int(n_jobs), n))
    bounds = [n * k // jobs for k in range(jobs + 1)]
    blocks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    if jobs == 1:
        kernel(X, *args, total, total_sq)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda b: kernel(X[b], *args, total[b], total_sq[b]), blocks))
    mean = total / flat.n_trees
    var = np.maximum(total_sq / flat.n_trees - mean * mean, 0.0)
    return mean, np.sqrt(var)


def predict_trees_per_tree(
    model: RandomForestRegressor, X: np.ndarray, n_jobs: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the trees through scikit-learn, one call per tree.

    The reference :func:`predict_trees` is checked against (and the workflow's traversal before
    it). Trees are evaluated ``n_jobs`` at a time on threads (scikit-learn's tree traversal
    releases the GIL), but their results are added in tree order, so the output is bit-identical
    whatever ``n_jobs`` is; only ``n_jobs`` per-tree vectors exist at once.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    total = np.zeros(X.shape[0])
    total_sq = np.zeros(X.shape[0])
    trees = [est.tree_ for est in model.estimators_]

    def one(tree):
        return tree.predict(X)[:, 0]

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        for start in range(0, len(trees), max(1, n_jobs)):
            for p in pool.map(one, trees[start : start + max(1, n_jobs)]):
                total += p
                total_sq += p * p
    n = len(trees)
    mean = total / n
    var = np.maximum(total_sq / n - mean * mean, 0.0)
    return mean, np.sqrt(var)
