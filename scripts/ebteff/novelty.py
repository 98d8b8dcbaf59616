"""Novelty: how unlike a model's training stars a star is, in the joint space of its features.

The training range (:func:`ebteff.calibrate.feature_range`) is judged feature by feature, so a
star can lie inside every marginal range and still far from any training star: bright *and*
very red, as the M dwarf binary CM Dra (G = 11.5, BP - RP = 2.9) is against a training set whose
red stars are faint. A forest answers such a star with leaves grown for other stars, and its
calibrated sigma was measured on stars like the training ones.

Per model, :func:`fit_novelty` keeps a fixed, seeded subsample of its training stars
(:data:`REFERENCE_STARS`) in standardised features (median and interquartile range of the
training stars), and the distance of a star is the mean Euclidean distance to its
:data:`NEIGHBOURS` nearest reference stars (scikit-learn ``KDTree``). The threshold is measured,
not guessed: the split-conformal :data:`LEVEL` quantile of that distance over the calibration
split (stars no tree was trained on, none of them in the reference), so a star like the held-out
ones exceeds it with probability at most 1 - ``LEVEL``. A star's novelty is its distance over
the threshold: above 1 it is novel to that model (:func:`is_novel`). What the catalogue does
with it (a novel model cannot give ``teff_best``; a star novel to every model that could predict
it gets none) is :func:`ebteff.catalog.assemble`; docs/novelty.md says why.

Everything is stored in the model's ``calibration.json`` (``"novelty"``): the reference stars
rounded to :data:`DECIMALS` decimals (the threshold is measured on the rounded ones), so the
file that turns a model's output into catalogue values also says where it holds, for the
catalogue, ``snakemake stars``, ``ebteff.predict_table`` and a published release alike.
"""

from __future__ import annotations

import numpy as np

from .calibrate import conformal_quantile

#: Training stars kept as the reference of each model (all of them when fewer).
REFERENCE_STARS = 2000
#: Nearest reference stars whose mean distance is a star's distance.
NEIGHBOURS = 10
#: Quantile of the calibration split's distances that sets the threshold.
LEVEL = 0.995
#: Seed of the reference subsample: the same training stars give the same reference.
SEED = 20261207
#: Decimals of the stored standardised reference (1e-4 of an interquartile range).
DECIMALS = 4


def _standardise(novelty: dict, X: np.ndarray) -> np.ndarray:
    return (X - np.asarray(novelty["center"])) / np.asarray(novelty["scale"])


def _distance(reference: np.ndarray, Z: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import KDTree

    out = np.full(Z.shape[0], np.nan)
    ok = np.isfinite(Z).all(axis=1)
    if ok.any():
        dist, _ = KDTree(reference).query(Z[ok], k=min(k, reference.shape[0]))
        out[ok] = dist.mean(axis=1)
    return out


def fit_novelty(
    train,
    calibration,
    features,
    *,
    n_reference: int = REFERENCE_STARS,
    k: int = NEIGHBOURS,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict:
    """The stored novelty of a model, from its training and calibration stars' features
    (arrays of shape (n, len(features)), rows with a missing feature ignored)."""
    train = np.asarray(train, dtype=float)
    calibration = np.asarray(calibration, dtype=float)
    train = train[np.isfinite(train).all(axis=1)]
    calibration = calibration[np.isfinite(calibration).all(axis=1)]
    if train.shape[0] < k or calibration.shape[0] < 1:
        raise ValueError(
            f"novelty needs at least {k} training and 1 calibration star with every feature; "
            f"got {train.shape[0]} and {calibration.shape[0]}"
        )
    center = np.median(train, axis=0)
    q25, q75 = np.quantile(train, [0.25, 0.75], axis=0)
    scale = (q75 - q25) / 1.349  # the standard deviation of a Gaussian with that IQR
    spread = np.std(train, axis=0)
    scale = np.where(scale > 0, scale, np.where(spread > 0, spread, 1.0))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(train.shape[0], min(n_reference, train.shape[0]), replace=False))
    stored = {"center": center.tolist(), "scale": scale.tolist()}
    reference = np.round(_standardise(stored, train[idx]), DECIMALS)
    distance = _distance(reference, _standardise(stored, calibration), k)
    threshold = conformal_quantile(distance, level)
    return {
        "features": list(features),
        **stored,
        "neighbours": int(k),
        "level": float(level),
        "threshold": float(threshold),
        "calibration_stars": int(calibration.shape[0]),
        "calibration_distance_median": float(np.median(distance)),
        "seed": int(seed),
        "reference": reference.tolist(),
        "definition": "novelty = mean distance to the nearest `neighbours` reference stars "
        "(training stars, standardised features (x - center) / scale) over `threshold`, the "
        "split-conformal `level` quantile of that distance over the calibration split; "
        "novel when > 1",
    }


#: Stars standardised and searched at a time by :func:`novelty_score` (each star's distance is
#: its own, so the batches change nothing but memory: the neighbours' distances and indices of
#: the whole catalogue would be 350 MB per model at 2.18M stars).
SCORE_BATCH = 100_000


def novelty_score(novelty: dict, features: dict) -> np.ndarray:
    """Each star's distance over the model's threshold (> 1: novel); NaN where a feature is
    missing. ``features``: name -> array, the model's features (derived colours included)."""
    columns = [np.asarray(features[f], dtype=float) for f in novelty["features"]]
    reference = np.asarray(novelty["reference"], dtype=float)
    d = np.empty(columns[0].shape[0]) if columns else np.empty(0)
    for lo in range(0, d.size, SCORE_BATCH):
        X = np.column_stack([c[lo : lo + SCORE_BATCH] for c in columns])
        d[lo : lo + SCORE_BATCH] = _distance(
            reference, _standardise(novelty, X), int(novelty["neighbours"])
        )
    return d / float(novelty["threshold"])


def is_novel(score) -> np.ndarray:
    """True where a novelty score exceeds 1 (NaN, no score: False)."""
    s = np.asarray(score, dtype=float)
    return np.nan_to_num(s, nan=0.0) > 1.0


#: Bins of the novelty score in which the calibration report measures coverage.
SCORE_EDGES = (0.0, 0.5, 0.75, 1.0, 1.5, np.inf)


def coverage_by_novelty(score, percentiles, label, edges=SCORE_EDGES, relative=True) -> dict:
    """Per bin of novelty score: stars, fraction of labels within p16-p84 and p05-p95, and the
    median |p50 - label| / label (``median_rel_error``; with ``relative`` False, for log g and
    [M/H], whose labels are logarithms and can be zero or negative, the median |p50 - label| in
    their unit, ``median_abs_error``): whether the calibrated percentiles still hold as stars
    get less like the training ones (docs/novelty.md)."""
    score, label = (np.asarray(a, dtype=float) for a in (score, label))
    q = np.asarray(percentiles, dtype=float)
    ok = np.isfinite(score) & np.isfinite(label) & np.isfinite(q).all(axis=1)
    out = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = ok & (score >= lo) & (score < hi)
        name = f"{lo:g}+" if not np.isfinite(hi) else f"{lo:g}-{hi:g}"
        n = int(sel.sum())
        out[name] = {"n": n}
        if n:
            y, qq = label[sel], q[sel]
            out[name].update(
                within_p16_p84=float(np.mean((y >= qq[:, 1]) & (y <= qq[:, 3]))),
                within_p05_p95=float(np.mean((y >= qq[:, 0]) & (y <= qq[:, 4]))),
            )
            if relative:
                out[name]["median_rel_error"] = float(np.median(np.abs(qq[:, 2] - y) / y))
            else:
                out[name]["median_abs_error"] = float(np.median(np.abs(qq[:, 2] - y)))
    return out
