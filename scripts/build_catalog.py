"""Rule build_catalog: the best-of-three catalogue, its FITS twin and its summary."""

import datetime as dt
import json
import os

import numpy as np
import polars as pl

from ebteff import __version__
from ebteff.catalog import (
    GSPPHOT_PERCENTILES,
    assemble,
    best_percentile_report,
    catalogue_base,
    check_uncertainties,
    fit_best_calibration,
    fit_label_calibration,
    label_percentile_report,
    model_columns,
    summarise,
)
from ebteff.columns import RENAMES, VOTABLE_DESCRIPTION
from ebteff.correction import correction_origin, load_correction_json
from ebteff.features import prepare_photometry
from ebteff.flags import model_bit_comment
from ebteff.io import scan_photometry, sha256sum, write_json, write_parquet
from ebteff.logs import finished, setup_logging, unmap_large_allocations
from ebteff.parameter_catalog import parameter_inputs, summarise_parameters, with_parameters
from ebteff.writers import write_csv, write_fits, write_votable


def creation_date() -> str:
    """UTC date of creation; SOURCE_DATE_EPOCH (reproducible-builds convention) fixes it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d")


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    unmap_large_allocations()  # the assembly frees many catalogue-sized arrays
    models = list(smk.params.models)
    correction = load_correction_json(smk.input.correction)
    raw = {m: pl.read_parquet(path) for m, path in zip(models, smk.input.predictions, strict=True)}
    calibrations = {
        m: json.loads(open(path).read())
        for m, path in zip(models, smk.input.calibrations, strict=True)
    }
    # models of log g and [M/H] (ebteff.parameter_catalog): columns beside Teff's
    others = list(smk.params.parameter_models)
    raw_others = {
        m: pl.read_parquet(path)
        for m, path in zip(others, smk.input.parameter_predictions, strict=True)
    }
    cal_others = {
        m: json.loads(open(path).read())
        for m, path in zip(others, smk.input.parameter_calibrations, strict=True)
    }
    lf = scan_photometry(smk.input.photometry)
    features = sorted(
        {
            f
            for cal in [*calibrations.values(), *cal_others.values()]
            for f in cal.get("feature_range", {})
        }
    )
    # the models' features (derived colours included), for the training-range bit
    phot = prepare_photometry(lf, correction).select("source_id", *features).collect()
    split = pl.read_parquet(smk.input.split)
    # GSP-Phot's own 16th/84th percentiles come with the base, on the corrected scale
    base = (
        catalogue_base(lf, correction)
        .collect()
        .join(split, on="source_id", how="left", maintain_order="left")
    )
    own = [c for c in GSPPHOT_PERCENTILES if c in base.columns]
    if own:
        logger.info("flag-A percentiles from the photometry's %s", " and ".join(own))
    label_calibration = None
    if "reference" in smk.input.keys():
        ref = pl.read_parquet(smk.input.reference, columns=["source_id", "teff_ref"]).join(
            base.select("source_id", "teff_gaia_corrected"), on="source_id"
        )
        label_calibration = fit_label_calibration(
            ref["teff_gaia_corrected"].fill_null(np.nan).to_numpy(),
            ref["teff_ref"].fill_null(np.nan).to_numpy(),
        )
        logger.info(
            "flag-A percentiles from %d reference stars, %d bins of the label",
            label_calibration["reference_stars"],
            len(label_calibration["bins"]),
        )

    # each model's columns (its calibration, training range and novelty) do not depend on the
    # labels: computed once for the three assemblies below, the raw outputs dropped as they go
    columns = {m: model_columns(m, calibrations[m], raw.pop(m), phot) for m in models}
    # the best-of-models choice is calibrated on calibration-split stars (their GSP-Phot Teff
    # is the label) and judged on test stars, as if they had no GSP-Phot Teff ("blind"): only
    # those stars are assembled blind (each row is assembled on its own), in catalogue order
    held_out = base.filter(pl.col("split").is_in(["calibration", "test"]))
    blind_base = held_out.with_columns(pl.lit(None, pl.Float64).alias("teff_gaia_corrected"))
    label = held_out["teff_gaia_corrected"]
    part = held_out["split"]
    del held_out
    chosen = assemble(blind_base, columns).with_columns(label)
    first = chosen.filter(part == "calibration")
    best_calibration = fit_best_calibration(
        *(first[c].fill_null(np.nan).to_numpy() for c in ("teff_ml_best", "teff_ml_best_err")),
        first["teff_ml_best_source"].to_numpy(),
        first["teff_gaia_corrected"].fill_null(np.nan).to_numpy(),
    )
    chosen_test = chosen.filter(part == "test")
    blind = assemble(blind_base, columns, best_calibration).with_columns(label)
    blind_test = blind.filter(part == "test")
    del chosen, first, blind, blind_base, label, part
    cat = assemble(base, columns, best_calibration, label_calibration)
    del columns
    if others:  # log g and [M/H] beside Teff
        names = lf.collect_schema().names()
        wanted = [c for c in parameter_inputs({"logg", "mh"}) if c in names]
        labels = lf.select("source_id", *wanted).collect()
        cat = with_parameters(
            cat,
            labels.join(split, on="source_id", how="left", maintain_order="left"),
            raw_others,
            cal_others,
            phot,
        )
        del labels, raw_others
    del phot
    if cat.height != base.height or cat["source_id"].n_unique() != base.height:
        raise ValueError("catalogue rows do not match the input stars one to one")
    label_sources = label_calibration is not None or "teff_gspphot_lower" in base.columns
    no_uncertainty = check_uncertainties(cat, label_sources)
    if no_uncertainty:
        logger.warning(
            "%d flag-A stars keep no uncertainty: the photometry has no teff_gspphot_lower/upper "
            "and there is no reference table (correction.reference) to take the scatter of the "
            "corrected label from",
            no_uncertainty,
        )
    del base
    best_report = best_percentile_report(blind_test, chosen_test, best_calibration)
    del blind_test, chosen_test
    best_report["calibration"] = best_calibration
    label_report = (
        label_percentile_report(cat, ref, label_calibration) if label_calibration else None
    )
    summary = summarise(cat, models)
    if others:
        summary["parameters"] = summarise_parameters(cat, cal_others)
    summary["teff_best_calibration_test"] = best_report["test"]["overall"]
    summary["teff_best_percentiles_test"] = best_report["percentiles_by_predicted_bin"]["overall"]

    photometry_sha = sha256sum(smk.input.photometry)
    header = {
        "ORIGIN": ("ebteff workflow", "Gaia EB Teff Snakemake workflow"),
        "WFVERS": (__version__, "workflow version"),
        "CFGHASH": (smk.params.config_hash, "sha256 (first 16 hex) of the resolved config"),
        "PHOTSHA": (photometry_sha, "sha256 of the input photometry table"),
        "SIMPHOT": (
            bool(smk.params.simulated),
            "T: simulated photometry (not Gaia data)",
        ),
        "NSTARS": (cat.height, "rows: every input source_id exactly once"),
        "DATE": (creation_date(), "creation date (UTC; SOURCE_DATE_EPOCH if set)"),
        "PCTSRC": (
            "calibration split" + (" + reference sample" if label_calibration else ""),
            "origin of the percentiles (teff_best_err_source)",
        ),
    }
    for i, c in enumerate(correction.coefficients):
        header[f"CORRC{i}"] = (c, f"hot-star correction coefficient of T^{i}")
    origin = correction_origin(json.loads(open(smk.input.correction).read()))
    header["CORRMETH"] = (origin["method"], "hot-star correction: fit or load")
    header["CORRFROM"] = (origin["used"], "correction: reference table or file used")
    header["CORRSHA"] = (origin["sha256"], "sha256 of that reference table or file")
    summary["correction"] = origin
    summary["flag_a_without_uncertainty"] = no_uncertainty
    for i, (m, path) in enumerate(zip(models, smk.input.models, strict=True), start=1):
        header[f"MODEL{i}"] = (m, model_bit_comment(i))
        header[f"MSHA{i}"] = (sha256sum(path), f"sha256 of model {i} file")
    for i, (old, new) in enumerate(RENAMES.items(), start=1):
        header[f"RENAME{i}"] = (f"{old} -> {new}", "column renamed since the earlier catalogue")
    write_parquet(cat, smk.output.parquet)
    write_fits(cat, smk.output.fits, header)
    write_votable(cat, smk.output.votable, VOTABLE_DESCRIPTION)
    write_csv(cat, smk.output.csv)
    write_json(summary, smk.output.summary)
    write_json(best_report, smk.output.best_calibration)
    write_json(
        {"calibration": label_calibration, "reference": label_report}, smk.output.label_calibration
    )
    logger.info(
        "catalogue: %d stars, flags %s, %.1f%% with a Teff",
        cat.height,
        summary["flags"],
        100 * summary["coverage"]["with_teff"],
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
