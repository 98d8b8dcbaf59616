"""Rule calibrate_model: calibrated sigma from the tree spread, fitted on the calibration split."""

import numpy as np
import polars as pl

from ebteff.calibrate import (
    PERCENTILE_NAMES,
    apply_calibration,
    feature_range,
    fit_calibration,
    rescale_for,
    split_report,
    to_catalogue_scale,
)
from ebteff.correction import load_correction_json
from ebteff.io import write_json
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    name = smk.params.spec["name"]
    target = smk.params.spec["target"]
    raw, spread = f"teff_{name}_raw", f"teff_{name}_spread"
    features = list(smk.params.spec["features"])
    table = pl.read_parquet(smk.input.table, columns=["source_id", "split", target, *features])
    labelled = (
        table.select("source_id", "split", target)
        .join(pl.read_parquet(smk.input.predictions), on="source_id", how="left")
        .drop_nulls([raw, spread])
    )
    # everything on the catalogue's scale (corrected GSP-Phot Teff), labels included
    rescale = rescale_for(target, load_correction_json(smk.input.correction))
    if rescale:
        logger.info("%s predicts %s: calibrated on the corrected scale", name, target)

    def scaled(part):
        teff, sp = to_catalogue_scale(rescale, part[raw].to_numpy(), part[spread].to_numpy())
        label, _ = to_catalogue_scale(rescale, part[target].to_numpy(), np.zeros(part.height))
        return teff, sp, label

    cal = labelled.filter(pl.col("split") == "calibration")
    calibration = fit_calibration(*scaled(cal))
    calibration.update(
        model=name,
        label=target,
        scale="teff_gaia_corrected",
        rescale=rescale,
        calibration_stars=cal.height,
        feature_range=feature_range(table.filter(pl.col("split") == "train"), features),
    )
    report = {"model": name, "label": target, "scale": "teff_gaia_corrected"}
    for split in ("test", "calibration"):
        teff, sp, label = scaled(labelled.filter(pl.col("split") == split))
        report[split] = split_report(
            teff, sp, apply_calibration(calibration, teff, sp), label, calibration
        )
    test = report["test"]["by_label_bin"]["overall"]
    logger.info(
        "%s test: %.1f%% within 1 sigma, %.1f%% within 2 sigma, PIT std %.3f "
        "(raw tree spread: %.1f%% within 1 sigma)",
        name,
        100 * test["within_1sigma"],
        100 * test["within_2sigma"],
        test["pit_std"],
        100 * report["test"]["raw_tree_spread"]["overall"]["within_1sigma"],
    )
    for by in ("percentiles_by_predicted_bin", "percentiles_by_label_bin"):
        logger.info(
            "%s test %s, %% below p05/p16/p50/p84/p95 (KS of PIT): %s",
            name,
            by.replace("_", " "),
            "; ".join(
                f"{b} "
                + "/".join(f"{100 * st[f'below_{q}']:.1f}" for q in PERCENTILE_NAMES)
                + f" ({st['pit_ks']:.3f})"
                for b, st in [("all", report["test"][by]["overall"])]
                + list(report["test"][by]["per_bin"].items())
                if st.get("n")
            ),
        )
    for by in ("by_predicted_bin", "by_label_bin"):
        logger.info(
            "%s test coverage %s: %s",
            name,
            by.replace("_", " "),
            ", ".join(
                f"{b} {100 * st['within_1sigma']:.1f}/{100 * st['within_2sigma']:.1f}%"
                for b, st in report["test"][by]["per_bin"].items()
                if st.get("n")
            ),
        )
    write_json(calibration, smk.output.calibration)
    write_json(report, smk.output.report)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
