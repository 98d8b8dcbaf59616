"""The earlier pipeline's forest pickles: pinned, allow-listed, checked, converted once."""

from __future__ import annotations

import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from ebteff.features import ModelSpec
from ebteff.forest import load_forest, predict_trees
from ebteff.io import sha256sum
from ebteff.legacy import (
    LegacyModelError,
    check_against_spec,
    convert_legacy_forest,
    legacy_entry,
    load_forest_pickle,
)
from ebteff.pickles import UnsafePickleError

FEATURES = ("g", "bp", "rp")
SPEC = ModelSpec.from_config(
    "gaia_small",
    {
        "features": list(FEATURES),
        "target": "teff_gaia_corrected",
        "transform": "log10",
        "hyperparameters": {"n_estimators": 7, "random_state": 1},
    },
)
KEY = "model_source.legacy.gaia_small.sha256"
MARKER = "/tmp/ebteff-legacy-pwned"


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(8, 18, size=(n, len(FEATURES))), columns=list(FEATURES))
    y = np.log10(3000 + 400 * (X["bp"] - X["rp"]).abs() + rng.uniform(0, 3000, n))
    return X, y


@pytest.fixture
def forest_pickle(tmp_path):
    """A small forest pickled the way the earlier pipeline did (joblib.dump of the bare model)."""
    X, y = _data()
    model = RandomForestRegressor(
        n_estimators=7, max_depth=6, min_samples_leaf=4, max_features="log2", random_state=42
    ).fit(X, y)
    path = tmp_path / "rf_gaia_small_20251126_130144.pkl"
    joblib.dump(model, path)
    return model, path


def test_a_pinned_pickle_converts_to_a_table_with_the_same_predictions(forest_pickle, tmp_path):
    original, path = forest_pickle
    meta = convert_legacy_forest(path, sha256sum(path), KEY, SPEC, tmp_path / "model.parquet")
    forest, stored = load_forest(tmp_path / "model.parquet")
    X, _ = _data(300, seed=5)  # stars the forest never saw
    mean, spread = predict_trees(forest, X.to_numpy())
    assert np.allclose(mean, original.predict(X), rtol=1e-6, atol=0)
    per_tree = np.stack([t.predict(X.to_numpy()) for t in original.estimators_])
    assert np.allclose(spread, per_tree.std(axis=0), rtol=1e-4, atol=1e-7)
    assert stored["features"] == ",".join(FEATURES) and stored["transform"] == "log10"
    assert (
        meta["hyperparameters"]["n_estimators"] == 7 and meta["hyperparameters"]["max_depth"] == 6
    )
    assert meta["legacy"]["pickle_sha256"] == sha256sum(path)
    assert meta["model_sha256"] == sha256sum(tmp_path / "model.parquet")
    assert sum(meta["feature_importances"].values()) == pytest.approx(1.0)


def test_without_a_pin_nothing_is_read_and_the_message_gives_the_key(forest_pickle):
    _, path = forest_pickle
    with pytest.raises(LegacyModelError, match=f"set {KEY}: {sha256sum(path)}"):
        legacy_entry({"gaia_small": {"path": str(path)}}, "gaia_small", "Dedulek/models")
    with pytest.raises(LegacyModelError, match="sha256 is not set"):
        legacy_entry({"gaia_small": {"file": "rf.pkl"}}, "gaia_small", "Dedulek/models")
    with pytest.raises(LegacyModelError, match="model_source.legacy.gaia_small is not set"):
        legacy_entry({}, "gaia_small", "Dedulek/models")
    with pytest.raises(LegacyModelError, match="sets both file"):
        legacy_entry(
            {"gaia_small": {"file": "a.pkl", "path": "b.pkl", "sha256": "0" * 64}},
            "gaia_small",
            "r/m",
        )
    entry = legacy_entry({"gaia_small": {"file": "a.pkl", "sha256": "0" * 64}}, "gaia_small", "r/m")
    assert entry == {"file": "a.pkl", "sha256": "0" * 64}


def test_a_wrong_pin_is_refused_before_unpickling(forest_pickle, tmp_path):
    _, path = forest_pickle
    with pytest.raises(LegacyModelError, match=f"does not match the pinned {KEY}.*not unpickled"):
        convert_legacy_forest(path, "0" * 64, KEY, SPEC, tmp_path / "model.parquet")
    assert not (tmp_path / "model.parquet").exists()


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _crafted(tmp_path, payload, plain=False):
    path = tmp_path / "evil.pkl"
    if plain:
        path.write_bytes(pickle.dumps(payload))
    else:
        joblib.dump(payload, path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: _Exploit(), r"refusing to load (posix|os)\.system from a legacy forest pickle"),
        # a reduce hidden inside an allow-listed forest's state
        (
            lambda m: setattr(m, "oob_score", _Exploit()) or m,
            r"refusing to load (posix|os)\.system",
        ),
        # a reduce inside an object array (joblib pickles those as a nested stream)
        (
            lambda m: setattr(m, "feature_names_in_", np.array([_Exploit()], dtype=object)) or m,
            r"refusing to load (posix|os)\.system",
        ),
        # a class that is harmless but not on the allow-list
        (
            lambda m: __import__("sklearn.linear_model").linear_model.LinearRegression(),
            r"refusing to load sklearn\.linear_model\._base\.LinearRegression",
        ),
    ],
    ids=["os.system", "inside-the-forest", "object-array", "not-allow-listed"],
)
def test_crafted_pickles_are_refused_and_run_nothing(forest_pickle, tmp_path, make, message):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    model, _ = forest_pickle
    path = _crafted(tmp_path, make(model))
    with pytest.raises(UnsafePickleError, match=message):
        load_forest_pickle(path, sha256sum(path), KEY)  # even with a matching pin
    assert not os.path.exists(MARKER)


def test_a_plain_pickle_exploit_is_refused(tmp_path):
    path = _crafted(tmp_path, _Exploit(), plain=True)
    with pytest.raises(UnsafePickleError, match="refusing"):
        load_forest_pickle(path, sha256sum(path), KEY)
    assert not os.path.exists(MARKER)


def test_something_else_than_a_forest_is_refused(tmp_path):
    path = _crafted(tmp_path, {"model": np.arange(3.0)})
    with pytest.raises(LegacyModelError, match="holds a dict, not a scikit-learn RandomForest"):
        load_forest_pickle(path, sha256sum(path), KEY)


def test_node_arrays_that_point_outside_the_tree_are_refused(forest_pickle, tmp_path):
    model, _ = forest_pickle
    tree = model.estimators_[2].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    inner = np.flatnonzero(nodes["left_child"] != -1)[0]
    nodes["right_child"][inner] = 10**6
    state["nodes"] = nodes
    tree.__setstate__(state)
    path = _crafted(tmp_path, model)
    with pytest.raises(LegacyModelError, match="tree 2: its node arrays are inconsistent"):
        load_forest_pickle(path, sha256sum(path), KEY)


def test_features_and_transform_must_fit_the_config(forest_pickle):
    model, path = forest_pickle
    other_order = ModelSpec.from_config(
        "gaia_small", {"features": ["bp", "g", "rp"], "target": "teff_gaia", "transform": "log10"}
    )
    with pytest.raises(LegacyModelError, match=r"Set models.gaia_small.features to \['g', 'bp'"):
        check_against_spec(model, other_order, path)
    kelvin = ModelSpec.from_config(
        "gaia_small", {"features": list(FEATURES), "target": "teff_gaia", "transform": "none"}
    )
    with pytest.raises(LegacyModelError, match="set models.gaia_small.transform: log10"):
        check_against_spec(model, kelvin, path)
