"""What the novelty rule changes in a run's catalogue: teff_best with and without it.

    python benchmarks/novelty_effect.py results/<run> \
        resources/<run>/photometry/eb_unified_photometry.parquet

Builds the catalogue's teff_best twice from the run's stored predictions and calibrations, as
build_catalog does (the best-of calibration fitted on the calibration split, judged on the test
split with its GSP-Phot Teff hidden): once as the run does (a model to which a star is novel
cannot give teff_best; a star novel to every model gets none), once with the models'
``novelty`` removed. Prints, for each: test-split stars with an ML teff_best, % of their labels
below p05/p16/p50/p84/p95 and within p16-p84 / p05-p95, and the median |teff_best - label| /
label; and the number of catalogue stars without a GSP-Phot Teff refused for novelty.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

from ebteff.calibrate import PERCENTILE_NAMES, percentile_report
from ebteff.catalog import catalogue_base, catalogue_rows, fit_best_calibration
from ebteff.correction import load_correction_json
from ebteff.features import prepare_photometry
from ebteff.io import scan_photometry


def teff_best_test(res: Path, photometry: str, with_novelty: bool) -> dict:
    paths = sorted(res.glob("models/*/calibration.json"))
    cals = {p.parent.name: json.loads(p.read_text()) for p in paths}
    # Teff models only (a log g or [M/H] model's calibration names its parameter)
    cals = {m: c for m, c in cals.items() if c.get("parameter", "teff") == "teff"}
    models = list(cals)
    if not with_novelty:
        cals = {m: {k: v for k, v in c.items() if k != "novelty"} for m, c in cals.items()}
    raw = {m: pl.read_parquet(res / "predictions" / f"{m}.parquet") for m in models}
    correction = load_correction_json(res / "correction/teff_correction.json")
    lf = scan_photometry(photometry)
    feats = sorted({f for c in cals.values() for f in c["feature_range"]})
    phot = prepare_photometry(lf, correction).select("source_id", *feats).collect()
    split = pl.read_parquet(res / "split/split.parquet")
    base = catalogue_base(lf, correction).collect()
    label = base["teff_gaia_corrected"]
    blind = base.with_columns(pl.lit(None, pl.Float64).alias("teff_gaia_corrected"))
    chosen = catalogue_rows(blind, raw, cals, photometry=phot).with_columns(label)
    first = chosen.join(split, on="source_id").filter(pl.col("split") == "calibration")
    best_cal = fit_best_calibration(
        *(first[c].fill_null(np.nan).to_numpy() for c in ("teff_ml_best", "teff_ml_best_err")),
        first["teff_ml_best_source"].to_numpy(),
        first["teff_gaia_corrected"].fill_null(np.nan).to_numpy(),
    )
    cat = catalogue_rows(blind, raw, cals, best_cal, photometry=phot).with_columns(label)
    test = cat.join(split, on="source_id").filter(pl.col("split") == "test")
    test = test.filter(
        pl.col("teff_best").is_not_null() & pl.col("teff_gaia_corrected").is_not_null()
    )
    q = np.stack([test[f"teff_best_{p}"].to_numpy() for p in PERCENTILE_NAMES], axis=1)
    y = test["teff_gaia_corrected"].to_numpy()
    rep = percentile_report(q, y)["overall"]
    rep["median_rel_error"] = float(np.median(np.abs(test["teff_best"].to_numpy() - y) / y))
    real = catalogue_rows(base, raw, cals, best_cal, photometry=phot)
    rep["refused_for_novelty"] = int(
        real["no_teff_reason"].fill_null("").str.contains("novel to every").sum()
    )
    rep["flag_x"] = int((real["flag"] == "X").sum())
    return rep


def main(results: str, photometry: str) -> None:
    res = Path(results)
    for with_novelty in (True, False):
        r = teff_best_test(res, photometry, with_novelty)
        print(
            f"{'with' if with_novelty else 'without'} novelty: test n {r['n']}, % below "
            + "/".join(f"{100 * r[f'below_{p}']:.1f}" for p in PERCENTILE_NAMES)
            + f", within p16-p84 {100 * r['within_p16_p84']:.1f}%, p05-p95 "
            f"{100 * r['within_p05_p95']:.1f}%, median |dT|/T {100 * r['median_rel_error']:.2f}%"
            f"; catalogue: flag X {r['flag_x']}, refused for novelty {r['refused_for_novelty']}"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
