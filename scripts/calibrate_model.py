"""Rule calibrate_model: calibrated sigma from the tree spread, fitted on the calibration split."""

import polars as pl

from ebteff.calibrate import apply_calibration, coverage_report, fit_calibration
from ebteff.io import write_json
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input)
    name = smk.params.spec["name"]
    target = smk.params.spec["target"]
    raw, spread = f"teff_{name}_raw", f"teff_{name}_spread"
    labelled = (
        pl.read_parquet(smk.input.table, columns=["source_id", "split", target])
        .join(pl.read_parquet(smk.input.predictions), on="source_id", how="left")
        .drop_nulls([raw, spread])
    )
    cal = labelled.filter(pl.col("split") == "calibration")
    calibration = fit_calibration(cal[raw], cal[spread], cal[target])
    calibration.update(model=name, label=target, calibration_stars=cal.height)
    report = {"model": name, "label": target}
    for split in ("test", "calibration"):
        part = labelled.filter(pl.col("split") == split)
        sigma = apply_calibration(calibration, part[raw].to_numpy(), part[spread].to_numpy())
        report[split] = {
            "by_label_bin": coverage_report(part[raw], sigma, part[target]),
            "by_predicted_bin": coverage_report(part[raw], sigma, part[target], bin_by=part[raw]),
            "raw_tree_spread": coverage_report(part[raw], part[spread], part[target]),
        }
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
    write_json(calibration, smk.output.calibration)
    write_json(report, smk.output.report)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
