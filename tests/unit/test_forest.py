"""Model storage: the Parquet node table rebuilds a forest that predicts as trained."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from ebteff.forest import (
    ENGINES,
    engine_version,
    flatten_forest,
    load_forest,
    predict_trees,
    predict_trees_per_tree,
    read_flat_forest,
    save_forest,
    train_forest,
)

HP = {
    "n_estimators": 12,
    "max_depth": 10,
    "min_samples_leaf": 3,
    "max_features": "log2",
    "random_state": 42,
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 5))
    y = 3.7 + 0.2 * np.tanh(X[:, 0]) + 0.05 * X[:, 1] ** 2 + rng.normal(0, 0.02, 3000)
    return X, y


def test_round_trip_predicts_identically(tmp_path, data):
    X, y = data
    model = train_forest(X, y, HP, n_jobs=2)
    save_forest(model, tmp_path / "m.parquet", {"model": "t"})
    loaded, meta = load_forest(tmp_path / "m.parquet")
    assert meta["model"] == "t" and int(meta["n_estimators"]) == 12
    Xt = np.random.default_rng(9).normal(size=(500, 5))
    for a, b in zip(model.estimators_, loaded.estimators_, strict=True):
        assert np.array_equal(a.apply(Xt), b.apply(Xt))  # every split decision is the same
        assert np.allclose(a.predict(Xt), b.predict(Xt), rtol=2e-7, atol=0)  # float32 leaves
    mean, std = predict_trees(loaded, Xt)
    per_tree = np.stack([e.predict(Xt) for e in loaded.estimators_])
    assert np.allclose(mean, per_tree.mean(0), rtol=0, atol=1e-12)
    assert np.allclose(std, per_tree.std(0), rtol=0, atol=1e-9)
    assert np.allclose(loaded.predict(Xt), model.predict(Xt), rtol=2e-7, atol=0)


def test_float32_thresholds_split_exactly_at_the_edges(tmp_path, data):
    X, y = data
    model = train_forest(X, y, HP)
    save_forest(model, tmp_path / "m.parquet", {})
    loaded, _ = load_forest(tmp_path / "m.parquet")
    # inputs at, just below and just above every threshold, in float32 as the trees see them
    thr = np.concatenate([e.tree_.threshold[e.tree_.feature >= 0] for e in model.estimators_])
    t32 = thr.astype(np.float32)
    edges = np.concatenate([t32, np.nextafter(t32, -np.inf), np.nextafter(t32, np.inf)])
    Xe = np.repeat(edges[:, None], X.shape[1], axis=1).astype(np.float32)
    for a, b in zip(model.estimators_, loaded.estimators_, strict=True):
        assert np.array_equal(a.apply(Xe), b.apply(Xe))


def test_parallel_prediction_is_bit_identical(tmp_path, data):
    X, y = data
    model = train_forest(X, y, HP)
    save_forest(model, tmp_path / "m.parquet", {})
    flat, _ = read_flat_forest(tmp_path / "m.parquet")
    one = predict_trees(flat, X, n_jobs=1)
    for jobs in (2, 3, 7):
        other = predict_trees(flat, X, n_jobs=jobs)
        assert np.array_equal(one[0], other[0]) and np.array_equal(one[1], other[1])


@pytest.mark.parametrize("engine", ENGINES)
def test_compiled_traversal_equals_scikit_learn_per_tree(tmp_path, data, engine):
    """The compiled traversal gives bit-identical means and spreads to scikit-learn's own
    per-tree predictions of the stored forest, for stars anywhere and exactly at the splits."""
    X, y = data
    save_forest(train_forest(X, y, HP, engine=engine), tmp_path / "m.parquet", {})
    loaded, _ = load_forest(tmp_path / "m.parquet")
    flat, meta = read_flat_forest(tmp_path / "m.parquet")
    assert flat.n_trees == int(meta["n_estimators"]) == len(loaded.estimators_)
    assert list(flat.depths) == [e.tree_.max_depth for e in loaded.estimators_]
    thr = np.concatenate([e.tree_.threshold[e.tree_.feature >= 0] for e in loaded.estimators_])
    t32 = thr.astype(np.float32)
    edges = np.concatenate([t32, np.nextafter(t32, -np.inf), np.nextafter(t32, np.inf)])
    rng = np.random.default_rng(3)
    Xe = rng.choice(edges, size=(4000, X.shape[1])).astype(np.float32)
    for Xt in (np.random.default_rng(9).normal(size=(1001, 5)), Xe, X[:0]):
        new = predict_trees(flat, Xt, n_jobs=2)
        old = predict_trees_per_tree(loaded, Xt, n_jobs=2)
        per_tree = np.stack([e.predict(Xt) for e in loaded.estimators_]) if len(Xt) else None
        assert np.array_equal(new[0], old[0]) and np.array_equal(new[1], old[1])
        if per_tree is not None:
            assert np.allclose(new[0], per_tree.mean(0), rtol=0, atol=1e-12)
            assert np.allclose(new[1], per_tree.std(0), rtol=0, atol=1e-9)
    # a scikit-learn forest is flattened to the same arrays as the stored one reads into
    again = flatten_forest(loaded)
    for name in ("feature", "child", "split", "roots", "depths"):
        assert np.array_equal(getattr(again, name), getattr(flat, name)), name
    assert np.array_equal(predict_trees(loaded, X)[0], predict_trees(flat, X)[0])


def test_traversal_refuses_the_wrong_number_of_features(tmp_path, data):
    X, y = data
    flat = flatten_forest(train_forest(X, y, HP))
    with pytest.raises(ValueError, match=r"X has shape \(3, 4\), the forest expects 5 features"):
        predict_trees(flat, np.zeros((3, 4)))


@pytest.mark.parametrize("engine", ENGINES)
def test_same_inputs_same_bytes(tmp_path, data, engine):
    """Each engine is reproducible for a seed, and its forest does not depend on the threads."""
    X, y = data
    for name, jobs in (("a", 1), ("b", 2), ("c", 2)):
        model = train_forest(X, y, HP, n_jobs=jobs, engine=engine)
        save_forest(model, tmp_path / f"{name}.parquet", {})
    a, b, c = ((tmp_path / f"{n}.parquet").read_bytes() for n in "abc")
    assert b == c  # same seed, same threads
    assert a == b  # and another thread count


def test_engines_grow_different_forests_of_similar_accuracy(tmp_path, data):
    X, y = data
    Xt = np.random.default_rng(9).normal(size=(2000, 5))
    yt = 3.7 + 0.2 * np.tanh(Xt[:, 0]) + 0.05 * Xt[:, 1] ** 2
    mae = {}
    for engine in ENGINES:
        save_forest(train_forest(X, y, HP, engine=engine), tmp_path / f"{engine}.parquet", {})
        mae[engine] = np.abs(
            predict_trees(load_forest(tmp_path / f"{engine}.parquet")[0], Xt)[0] - yt
        ).mean()
    assert (tmp_path / "sklearn.parquet").read_bytes() != (
        tmp_path / "sklearnex.parquet"
    ).read_bytes()
    assert mae["sklearnex"] < 1.2 * mae["sklearn"]


def test_fast_engine_stored_forest_predicts_as_fitted(tmp_path, data):
    """oneDAL fits float32 input in float32, so the float32 node table splits exactly as the
    fitted forest: the same leaf for every star, and its own prediction within float32 rounding.
    """
    X, y = data
    model = train_forest(X, y, HP, n_jobs=2, engine="sklearnex")
    assert type(model).__module__.startswith("sklearnex")
    save_forest(model, tmp_path / "m.parquet", {})
    loaded, _ = load_forest(tmp_path / "m.parquet")
    Xt = np.random.default_rng(9).normal(size=(500, 5)).astype(np.float32)
    for a, b in zip(model.estimators_, loaded.estimators_, strict=True):
        assert np.array_equal(a.apply(Xt), b.apply(Xt))
    mean, _ = predict_trees(loaded, Xt)
    assert np.allclose(mean, model.predict(Xt), rtol=1e-6, atol=0)


def test_fast_engine_reports_progress_without_warm_start(tmp_path, data):
    """warm_start would silently hand the fit back to scikit-learn: one fit, all trees at once."""

    class Counter:
        def __init__(self):
            self.calls = []

        def update(self, n):
            self.calls.append(n)

    X, y = data
    counter = Counter()
    save_forest(train_forest(X, y, HP, engine="sklearnex"), tmp_path / "a.parquet", {})
    model = train_forest(X, y, HP, engine="sklearnex", progress=counter)
    save_forest(model, tmp_path / "b.parquet", {})
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert counter.calls == [HP["n_estimators"]] and not model.warm_start


def test_engine_version_and_unknown_engine(data):
    from importlib.metadata import version

    assert engine_version("sklearnex") == version("scikit-learn-intelex")
    assert engine_version("sklearn") == version("scikit-learn")
    with pytest.raises(ValueError, match="unknown training engine 'xgboost': use one of"):
        train_forest(*data, HP, engine="xgboost")


def test_training_with_progress_grows_the_same_forest(tmp_path, data):
    """Growing the trees in rounds (to report progress) must not change the model."""

    class Counter:
        def __init__(self):
            self.calls = []

        def update(self, n):
            self.calls.append(n)

    X, y = data
    counter = Counter()
    save_forest(train_forest(X, y, HP, n_jobs=2), tmp_path / "once.parquet", {})
    model = train_forest(X, y, HP, n_jobs=2, progress=counter)
    save_forest(model, tmp_path / "rounds.parquet", {})
    assert (tmp_path / "once.parquet").read_bytes() == (tmp_path / "rounds.parquet").read_bytes()
    assert sum(counter.calls) == HP["n_estimators"] and len(counter.calls) > 1
    assert not model.warm_start


def test_file_is_not_a_pickle_and_smaller(tmp_path, data):
    import joblib

    X, y = data
    model = train_forest(X, y, HP)
    save_forest(model, tmp_path / "m.parquet", {})
    joblib.dump(model, tmp_path / "m.pkl")
    assert pq.ParquetFile(tmp_path / "m.parquet").schema_arrow.names[0] == "tree"
    assert (tmp_path / "m.parquet").stat().st_size < 0.15 * (tmp_path / "m.pkl").stat().st_size


def test_foreign_parquet_is_refused(tmp_path):
    import polars as pl

    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="is not an ebteff-forest-v1 model file"):
        load_forest(tmp_path / "x.parquet")
