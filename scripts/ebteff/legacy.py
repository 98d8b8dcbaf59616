"""The earlier pipeline's published forests: joblib pickles of scikit-learn RandomForestRegressor.

Such a file (``rf_gaia_teff_corrected_log_20251126_130144.pkl`` and the others of the model
repository) is the bare fitted forest, as ``joblib.dump(model, ...)`` wrote it; the features it
was fitted on are in its ``feature_names_in_`` when it was fitted on a DataFrame. A forest pickle
holds scikit-learn objects, whose restoring code runs while it is loaded, so one is used only
when the config pins its sha256 (:func:`legacy_entry` checks that before anything is fetched)
and it is unpickled with the allow-list :data:`ebteff.pickles.FOREST_GLOBALS` (the forest, tree
and numpy types, nothing else). Each tree's node arrays are checked (children inside the tree
and after their parent, features in range, finite values) before the forest is converted once
to the workflow's node table (:func:`ebteff.forest.save_forest`); everything after that reads
the table, never the pickle.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import pickles
from .io import sha256sum

log = logging.getLogger(__name__)

#: What a forest's leaves may hold for each transform of the config (K, or log10 K): a forest
#: whose values fall outside was trained for the other transform (or is not a Teff model).
LEAF_RANGE = {"log10": (2.0, 6.0), "none": (500.0, 1.0e6)}


class LegacyModelError(ValueError):
    """A legacy forest pickle cannot be used; the message says why and what to set."""


def legacy_entry(entries: Mapping | None, name: str, repo_id: str) -> dict:
    """The checked ``model_source.legacy.<name>`` entry: where the pickle is and its pin.

    Returns ``{"file": ...}`` (a path in ``repo_id``) or ``{"path": ...}`` (a local file), with
    ``"sha256"``. Raises :class:`LegacyModelError` naming the key to set; for a local file
    without a pin the message gives the file's sha256, to be pinned if the file is trusted.
    """
    key = f"model_source.legacy.{name}"
    entry = dict((entries or {}).get(name) or {})
    file, path, pin = entry.get("file"), entry.get("path"), entry.get("sha256")
    if not file and not path:
        raise LegacyModelError(
            f"model_source.source is legacy but {key} is not set: give each model of `models:` "
            f"the earlier pipeline's forest pickle, either `file:` (a path in the model "
            f"repository {repo_id!r}) or `path:` (a file on this machine), and its `sha256:`"
        )
    if file and path:
        raise LegacyModelError(f"{key} sets both file ({file}) and path ({path}): keep one")
    if not pin:
        hint = "<its sha256, 64 hex digits>"
        if path and Path(path).is_file():
            hint = f"{sha256sum(path)}  (the sha256 of {path} now)"
        raise LegacyModelError(
            f"{key}.sha256 is not set: a forest pickle holds scikit-learn objects whose code runs "
            "when it is loaded, so the workflow reads one only when its sha256 is pinned in the "
            f"config, so that what runs is exactly the file that was reviewed. If you trust "
            f"{file or path}, set {key}.sha256: {hint}. Nothing was read."
        )
    return {"file": file, "sha256": pin} if file else {"path": path, "sha256": pin}


def check_pin(path: str | os.PathLike, sha256: str, key: str) -> str:
    """The file's sha256, if it is the pinned one; else :class:`LegacyModelError`."""
    actual = sha256sum(path)
    if actual != str(sha256).strip().lower():
        raise LegacyModelError(
            f"{path}: sha256 {actual} does not match the pinned {key} {sha256}; the file is not "
            "the one the config trusts, and it was not unpickled. If this file is intended, "
            f"set {key}: {actual}"
        )
    return actual


def _check_tree(tree, n_features: int, where: str) -> None:
    """Refuse node arrays that would make the tree walk outside itself (or loop)."""
    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold)
    value = np.asarray(tree.value)
    idx = np.arange(n)
    leaf = left == -1
    ok = (
        n >= 1
        and len(left) == len(right) == len(feature) == len(threshold) == n
        and value.shape[:2] == (n, 1)
        and np.array_equal(leaf, right == -1)
        and np.all(left[~leaf] > idx[~leaf])
        and np.all(left[~leaf] < n)
        and np.all(right[~leaf] > idx[~leaf])
        and np.all(right[~leaf] < n)
        and np.all((feature[~leaf] >= 0) & (feature[~leaf] < n_features))
        and np.all(np.isfinite(threshold[~leaf]))
        and np.all(np.isfinite(value[leaf]))
    )
    if not ok:
        raise LegacyModelError(
            f"{where}: its node arrays are inconsistent (children outside the tree or before "
            "their parent, feature indices out of range, or non-finite values); refusing it"
        )


def load_forest_pickle(path: str | os.PathLike, sha256: str, key: str):
    """Unpickle a pinned legacy forest with the forest allow-list; return the checked forest."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor
    from sklearn.tree._tree import Tree

    check_pin(path, sha256, key)
    try:
        model = pickles.restricted_load(path, pickles.FOREST_GLOBALS, "a legacy forest pickle")
    except pickles.UnsafePickleError:
        raise
    except pickles.PickleError as err:
        raise LegacyModelError(str(err)) from err
    if not isinstance(model, RandomForestRegressor):
        raise LegacyModelError(
            f"{path} holds a {type(model).__name__}, not a scikit-learn RandomForestRegressor "
            "(the earlier pipeline pickled the bare fitted forest)"
        )
    trees = getattr(model, "estimators_", None)
    n_features = getattr(model, "n_features_in_", None)
    if not trees or not isinstance(n_features, int | np.integer) or n_features < 1:
        raise LegacyModelError(f"{path}: the forest is not fitted (no trees or no feature count)")
    if getattr(model, "n_outputs_", 1) != 1:
        raise LegacyModelError(f"{path}: the forest predicts {model.n_outputs_} outputs, not one")
    for i, est in enumerate(trees):
        if not isinstance(est, DecisionTreeRegressor) or not isinstance(
            getattr(est, "tree_", None), Tree
        ):
            raise LegacyModelError(f"{path}: tree {i} is not a fitted DecisionTreeRegressor")
        _check_tree(est.tree_, int(n_features), f"{path}, tree {i}")
    return model


def check_against_spec(model, spec, path: str | os.PathLike) -> None:
    """Refuse a forest that does not fit ``models.<name>`` (features, their order, transform)."""
    key = f"models.{spec.name}"
    names = getattr(model, "feature_names_in_", None)
    if names is not None and list(map(str, names)) != list(spec.features):
        raise LegacyModelError(
            f"{path} was fitted on the features {list(map(str, names))}, but {key}.features is "
            f"{list(spec.features)}: a forest only makes sense with its own features in its own "
            f"order. Set {key}.features to {list(map(str, names))}."
        )
    if int(model.n_features_in_) != len(spec.features):
        raise LegacyModelError(
            f"{path} takes {model.n_features_in_} features, {key}.features lists "
            f"{len(spec.features)}"
        )
    values = np.concatenate(
        [e.tree_.value[e.tree_.children_left == -1, 0, 0] for e in model.estimators_]
    )
    lo, hi = float(values.min()), float(values.max())
    want_lo, want_hi = LEAF_RANGE[spec.transform]
    if lo < want_lo or hi > want_hi:
        other = "none" if spec.transform == "log10" else "log10"
        raise LegacyModelError(
            f"{path}: the forest's leaves hold {lo:.4g} to {hi:.4g}, which is not "
            f"{'log10 Teff' if spec.transform == 'log10' else 'Teff in K'} as {key}.transform "
            f"({spec.transform}) says; if the forest learnt "
            f"{'Teff in K' if other == 'none' else 'log10 Teff'}, set {key}.transform: {other}."
        )
    if names is None:
        log.warning(
            "%s records no feature names (fitted on an array): the order of %s.features is "
            "taken on trust",
            path,
            key,
        )


def legacy_hyperparameters(model) -> dict:
    """The forest's hyperparameters, in the config's terms."""
    keys = (
        "n_estimators",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "max_features",
        "random_state",
    )
    params = model.get_params(deep=False)
    out = {}
    for k in keys:
        v = params.get(k)
        out[k] = v.item() if isinstance(v, np.generic) else v
    out["n_estimators"] = len(model.estimators_)
    return out


def convert_legacy_forest(
    pickle_path: str | os.PathLike, sha256: str, key: str, spec, model_dest: str | os.PathLike
) -> dict:
    """Check and unpickle a pinned legacy forest, write it as a node table; return its metadata.

    The metadata has the fields of a trained model's metadata.json (features, target, transform,
    hyperparameters, feature importances, node count, the table's sha256), plus ``legacy``: the
    pickle's sha256 and the scikit-learn version that wrote it.
    """
    from .forest import save_forest
    from .formats import FOREST_FORMAT_TEXT

    model = load_forest_pickle(pickle_path, sha256, key)
    check_against_spec(model, spec, pickle_path)
    importances = np.asarray(model.feature_importances_, dtype=float)
    save_forest(
        model,
        model_dest,
        {
            "model": spec.name,
            "features": ",".join(spec.features),
            "transform": spec.transform,
            "target": spec.target,
        },
    )
    n_nodes = int(sum(e.tree_.node_count for e in model.estimators_))
    log.info(
        "converted %s: %d trees, %d nodes, %d features, written by scikit-learn %s",
        pickle_path,
        len(model.estimators_),
        n_nodes,
        model.n_features_in_,
        getattr(model, "_sklearn_version", "unknown"),
    )
    return {
        "name": spec.name,
        "features": list(spec.features),
        "target": spec.target,
        "transform": spec.transform,
        "predicts": "log10(Teff / K)" if spec.transform == "log10" else "Teff (K)",
        "hyperparameters": legacy_hyperparameters(model),
        "training_rows": getattr(model, "_n_samples", None),
        "n_nodes": n_nodes,
        "feature_importances": dict(zip(spec.features, map(float, importances), strict=True)),
        "model_file": "model.parquet",
        "model_format": FOREST_FORMAT_TEXT,
        "model_bytes": os.path.getsize(model_dest),
        "model_sha256": sha256sum(model_dest),
        "legacy": {
            "pickle_sha256": sha256sum(pickle_path),
            "pickled_with_scikit_learn": getattr(model, "_sklearn_version", None),
        },
    }
