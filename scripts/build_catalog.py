"""Rule build_catalog: the best-of-three catalogue, its FITS twin and its summary."""

import datetime as dt
import json
import os

import numpy as np
import polars as pl

from ebteff import __version__
from ebteff.calibrate import apply_calibration, coverage_report
from ebteff.catalog import assemble, summarise, write_fits
from ebteff.correction import load_correction_json
from ebteff.features import prepare_photometry
from ebteff.io import scan_photometry, sha256sum, write_json, write_parquet
from ebteff.logs import finished, setup_logging


def creation_date() -> str:
    """UTC date of creation; SOURCE_DATE_EPOCH (reproducible-builds convention) fixes it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d")


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input)
    models = list(smk.params.models)
    correction = load_correction_json(smk.input.correction)
    base = (
        prepare_photometry(
            scan_photometry(smk.input.photometry).select("source_id", "ra", "dec", "teff_gaia"),
            correction,
        )
        .select("source_id", "ra", "dec", "teff_gaia", "teff_gaia_corrected")
        .collect()
    )
    predictions = {}
    for m, pred_path, cal_path in zip(
        models, smk.input.predictions, smk.input.calibrations, strict=True
    ):
        pred = pl.read_parquet(pred_path)
        calibration = json.loads(open(cal_path).read())
        raw = pred[f"teff_{m}_raw"].fill_null(np.nan).to_numpy()
        sigma = apply_calibration(calibration, raw, pred[f"teff_{m}_spread"].fill_null(np.nan))
        predictions[m] = pred.select(
            "source_id",
            pl.col(f"teff_{m}_raw").alias(f"teff_{m}"),
            pl.Series(f"teff_{m}_err", sigma).fill_nan(None),
        )
    cat = assemble(base, predictions)
    if cat.height != base.height or cat["source_id"].n_unique() != base.height:
        raise ValueError("catalogue rows do not match the input stars one to one")

    # Calibration of the best-of-models choice itself, on test stars (as if they had no label).
    test = cat.join(pl.read_parquet(smk.input.split), on="source_id").filter(
        pl.col("split") == "test"
    )
    best_report = {
        "label": "teff_gaia_corrected",
        "test": coverage_report(
            test["teff_ml_best"].fill_null(np.nan),
            test["teff_ml_best_err"].fill_null(np.nan),
            test["teff_gaia_corrected"].fill_null(np.nan),
        ),
    }
    summary = summarise(cat, models)
    summary["teff_best_calibration_test"] = best_report["test"]["overall"]

    photometry_sha = sha256sum(smk.input.photometry)
    header = {
        "ORIGIN": ("ebteff workflow", "Gaia EB Teff Snakemake workflow"),
        "WFVERS": (__version__, "workflow version"),
        "CFGHASH": (smk.params.config_hash, "sha256 (first 16 hex) of the resolved config"),
        "PHOTSHA": (photometry_sha, "sha256 of the input photometry table"),
        "NSTARS": (cat.height, "rows: every input source_id exactly once"),
        "DATE": (creation_date(), "creation date (UTC; SOURCE_DATE_EPOCH if set)"),
    }
    for i, c in enumerate(correction.coefficients):
        header[f"CORRC{i}"] = (c, f"hot-star correction coefficient of T^{i}")
    for i, (m, path) in enumerate(zip(models, smk.input.models, strict=True), start=1):
        header[f"MODEL{i}"] = (m, "model name")
        header[f"MSHA{i}"] = (sha256sum(path), f"sha256 of model {i} file")
    write_parquet(cat, smk.output.parquet)
    write_fits(cat, smk.output.fits, header)
    write_json(summary, smk.output.summary)
    write_json(best_report, smk.output.best_calibration)
    logger.info(
        "catalogue: %d stars, flags %s, %.1f%% with a Teff",
        cat.height,
        summary["flags"],
        100 * summary["coverage"]["with_teff"],
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
