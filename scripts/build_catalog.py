"""Rule build_catalog: the best-of-three catalogue, its FITS twin and its summary."""

import datetime as dt
import json
import os

import numpy as np
import polars as pl

from ebteff import __version__
from ebteff.calibrate import coverage_report
from ebteff.catalog import (
    catalogue_base,
    catalogue_rows,
    fit_best_calibration,
    summarise,
    write_fits,
)
from ebteff.correction import correction_origin, load_correction_json
from ebteff.io import scan_photometry, sha256sum, write_json, write_parquet
from ebteff.logs import finished, setup_logging


def creation_date() -> str:
    """UTC date of creation; SOURCE_DATE_EPOCH (reproducible-builds convention) fixes it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d")


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    models = list(smk.params.models)
    correction = load_correction_json(smk.input.correction)
    base = catalogue_base(scan_photometry(smk.input.photometry), correction).collect()
    raw = {m: pl.read_parquet(path) for m, path in zip(models, smk.input.predictions, strict=True)}
    calibrations = {
        m: json.loads(open(path).read())
        for m, path in zip(models, smk.input.calibrations, strict=True)
    }
    split = pl.read_parquet(smk.input.split)

    def labelled(frame, part):
        return frame.join(split, on="source_id").filter(pl.col("split") == part)

    # the best-of-models choice is calibrated on calibration-split stars (their GSP-Phot Teff
    # is the label) and judged on test stars, as if they had no GSP-Phot Teff
    chosen = catalogue_rows(base, raw, calibrations)
    first = labelled(chosen, "calibration")
    best_calibration = fit_best_calibration(
        *(first[c].fill_null(np.nan).to_numpy() for c in ("teff_ml_best", "teff_ml_best_err")),
        first["teff_ml_best_source"].to_numpy(),
        first["teff_gaia_corrected"].fill_null(np.nan).to_numpy(),
    )
    cat = catalogue_rows(base, raw, calibrations, best_calibration)
    if cat.height != base.height or cat["source_id"].n_unique() != base.height:
        raise ValueError("catalogue rows do not match the input stars one to one")

    test = labelled(cat, "test")
    best, best_err, label = (
        test[c].fill_null(np.nan)
        for c in ("teff_ml_best", "teff_ml_best_err", "teff_gaia_corrected")
    )
    best_report = {
        "label": "teff_gaia_corrected",
        "calibration": best_calibration,
        "test": coverage_report(best, best_err, label),
        "test_by_predicted_bin": coverage_report(best, best_err, label, bin_by=best),
        "test_before_recalibration": coverage_report(
            *(
                labelled(chosen, "test")[c].fill_null(np.nan)
                for c in ("teff_ml_best", "teff_ml_best_err", "teff_gaia_corrected")
            )
        )["overall"],
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
    origin = correction_origin(json.loads(open(smk.input.correction).read()))
    header["CORRMETH"] = (origin["method"], "hot-star correction: fit or load")
    header["CORRFROM"] = (origin["used"], "correction: reference table or file used")
    header["CORRSHA"] = (origin["sha256"], "sha256 of that reference table or file")
    summary["correction"] = origin
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
