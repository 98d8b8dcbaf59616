"""A minimal model release folder, made by the library: one small forest with its metadata and
calibration, the best-of calibration and the hot-star correction, as ``ebteff.predict_table``
reads them (``snakemake publish`` stages the same files from a real run)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ebteff.calibrate import fit_calibration
from ebteff.correction import Correction, save_correction_json
from ebteff.features import ModelSpec, prepare_photometry
from ebteff.forest import save_forest, train_forest
from ebteff.io import write_json
from ebteff.predict import LoadedModel, predict_frame
from ebteff.release import BEST_CALIBRATION_FILE, CORRECTION_FILE

from .photometry_tables import make_table

MODEL = "gaia_teff_log"
ENTRY = {"features": ["g", "bp", "rp"], "target": "teff_gaia_corrected", "transform": "log10"}
HYPER = {"n_estimators": 6, "max_depth": 6, "min_samples_leaf": 2, "random_state": 0}


def write_release(folder: Path, n: int = 3000, seed: int = 0) -> Path:
    """A release of one model trained on half of :func:`make_table`'s labelled stars and
    calibrated on the other half; returns ``folder``."""
    spec = ModelSpec.from_config(MODEL, {**ENTRY, "hyperparameters": HYPER})
    correction = Correction((0.0, 1.0))
    stars = prepare_photometry(make_table(n, seed).lazy(), correction).collect()
    labelled = stars.filter(pl.col(spec.target) > 0)  # the sentinel (-999) is no label
    train, cal = labelled[: labelled.height // 2], labelled[labelled.height // 2 :]
    forest = train_forest(
        train.select(spec.features).to_numpy(), spec.forward(train[spec.target].to_numpy()), HYPER
    )
    mdir = folder / MODEL
    mdir.mkdir(parents=True, exist_ok=True)
    save_forest(forest, mdir / "model.parquet", {"model": MODEL, **ENTRY, "features": "g,bp,rp"})
    write_json({"name": MODEL, **ENTRY, "hyperparameters": HYPER}, mdir / "metadata.json")
    pred = predict_frame(cal, [LoadedModel(spec, forest)])
    raw, spread = (pred[f"teff_{MODEL}_{s}"] for s in ("raw", "spread"))
    calibration = fit_calibration(raw, spread, cal[spec.target])
    write_json({**calibration, "model": MODEL, "label": spec.target}, mdir / "calibration.json")
    write_json({MODEL: None}, folder / BEST_CALIBRATION_FILE)
    save_correction_json(correction, folder / CORRECTION_FILE)
    return folder


def stars_to_predict(n: int = 50, seed: int = 1) -> pl.DataFrame:
    """Stars unseen by the release, with the upstream column names."""
    return make_table(n, seed).with_columns(pl.col("source_id") + 10**9)
