"""Prediction of every model for every star that has the model's features, chunk by chunk.

The catalogue is cut into ``n_chunks`` contiguous row ranges (:func:`chunk_bounds`); each chunk is
predicted in batches so memory depends on the batch size, not on the catalogue. A star's result
depends only on its own features, so the output is the same whatever the number of chunks.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import RandomForestRegressor

from .features import ModelSpec, finite_or_null
from .forest import FlatForest, flatten_forest, predict_trees

log = logging.getLogger(__name__)

LN10 = math.log(10.0)


@dataclass
class LoadedModel:
    """A model's spec and its forest: flat (:func:`ebteff.forest.read_flat_forest`, what the
    workflow predicts with) or a scikit-learn one (flattened once per :func:`predict_frame`)."""

    spec: ModelSpec
    forest: FlatForest | RandomForestRegressor


def chunk_bounds(n_rows: int, n_chunks: int, index: int) -> tuple[int, int]:
    """Row range [start, stop) of chunk ``index`` (0-based) of ``n_rows`` cut in ``n_chunks``."""
    if not 0 <= index < n_chunks:
        raise ValueError(f"chunk index {index} outside 0..{n_chunks - 1}")
    return n_rows * index // n_chunks, n_rows * (index + 1) // n_chunks


def teff_and_spread(spec: ModelSpec, mean: np.ndarray, std: np.ndarray):
    """Model output (mean, tree std) -> value and tree spread in the parameter's unit (Teff in
    K, delta method for log10; log g and [M/H] in dex)."""
    teff = spec.inverse(mean)
    spread = teff * LN10 * std if spec.transform == "log10" else std
    return teff, spread


def predict_frame(
    frame: pl.DataFrame,
    models: list[LoadedModel],
    *,
    batch_rows: int = 200_000,
    n_jobs: int = 1,
    progress=None,
) -> pl.DataFrame:
    """``source_id`` and, per model, its ``raw_column`` and ``spread_column``
    (``teff_{name}_raw``/``_spread`` in K for a Teff model; ``logg_``, ``mh_`` in dex).

    Rows lacking any of a model's features get nulls for that model. ``frame`` must already hold
    derived colours (:func:`ebteff.features.prepare_photometry`).
    """
    out = {"source_id": frame["source_id"].to_numpy()}
    n = frame.height
    for m in models:
        feats = frame.select(finite_or_null(pl.col(f)).alias(f) for f in m.spec.features)
        ok = feats.select(pl.all_horizontal(pl.all().is_not_null())).to_series().to_numpy()
        X = feats.filter(pl.Series(ok)).to_numpy()
        forest = m.forest if isinstance(m.forest, FlatForest) else flatten_forest(m.forest)
        teff = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        t_all = np.empty(len(X))
        s_all = np.empty(len(X))
        for start in range(0, len(X), batch_rows):
            stop = min(start + batch_rows, len(X))
            mean, std = predict_trees(forest, X[start:stop], n_jobs)
            t_all[start:stop], s_all[start:stop] = teff_and_spread(m.spec, mean, std)
            if progress is not None:
                progress.update(stop - start)
        if progress is not None:
            progress.update(n - len(X))  # stars this model cannot predict: done at once
        teff[ok], spread[ok] = t_all, s_all
        out[m.spec.raw_column] = teff
        out[m.spec.spread_column] = spread
        lacking = {f: int(feats[f].null_count()) for f in m.spec.features if feats[f].null_count()}
        log.info(
            "%s: predicted %d of %d stars%s",
            m.spec.name,
            int(ok.sum()),
            n,
            f" (stars lacking each feature: {lacking})" if lacking else "",
        )
    return pl.DataFrame(out).with_columns(pl.exclude("source_id").fill_nan(None))


def predict_rows(
    photometry: str | os.PathLike,
    model: LoadedModel,
    start: int,
    stop: int,
    out_path: str | os.PathLike,
    *,
    batch_rows: int,
    n_jobs: int = 1,
    progress=None,
) -> int:
    """Predict rows [start, stop) of the photometry file with one model, batch by batch, into
    ``out_path`` (Parquet, atomically); returns how many stars had the model's features.

    Memory holds the forest and one batch of ``batch_rows`` stars, whatever ``stop - start``.
    """
    from .features import prepare_photometry
    from .io import parquet_batches, scan_photometry

    lf = scan_photometry(photometry)
    batch = max(1, int(batch_rows))
    predicted = 0
    with parquet_batches(out_path) as write:
        for lo in range(start, max(stop, start + 1), batch):  # an empty range writes one batch
            hi = min(lo + batch, stop)
            frame = prepare_photometry(lf.slice(lo, hi - lo), None).collect()
            out = predict_frame(frame, [model], batch_rows=batch, n_jobs=n_jobs)
            predicted += int(out[model.spec.raw_column].is_not_null().sum())
            write(out)
            if progress is not None:
                progress.update(hi - lo)
    return predicted
