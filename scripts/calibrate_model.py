"""Rule calibrate_model: calibrated sigma from the tree spread, fitted on the calibration split."""

import numpy as np
import polars as pl

from ebteff.calibrate import (
    PERCENTILE_NAMES,
    apply_calibration,
    apply_percentiles,
    feature_range,
    fit_calibration,
    rescale_for,
    split_report,
    to_catalogue_scale,
)
from ebteff.correction import load_correction_json
from ebteff.io import write_json
from ebteff.logs import finished, setup_logging
from ebteff.novelty import coverage_by_novelty, fit_novelty, is_novel, novelty_score
from ebteff.parameters import TEFF, parameter_of


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    name = smk.params.spec["name"]
    target = smk.params.spec["target"]
    par = parameter_of(target)
    raw, spread = f"{par.key}_{name}_raw", f"{par.key}_{name}_spread"
    # the scale a model is calibrated and reported on: the catalogue's (corrected GSP-Phot
    # Teff) for every Teff model, its own label (dex) for log g and [M/H]
    scale = "teff_gaia_corrected" if par is TEFF else target
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
    calibration = fit_calibration(*scaled(cal), parameter=par)
    calibration.update(
        model=name,
        label=target,
        scale=scale,
        rescale=rescale,
        calibration_stars=cal.height,
        feature_range=feature_range(table.filter(pl.col("split") == "train"), features),
    )

    def feature_matrix(split):
        part = table.filter(pl.col("split") == split).select(features)
        return part.cast(pl.Float64).fill_null(np.nan).to_numpy()

    # how unlike the training stars a star is, in the joint feature space (ebteff.novelty)
    calibration["novelty"] = fit_novelty(
        feature_matrix("train"), feature_matrix("calibration"), features
    )
    logger.info(
        "%s novelty: threshold %.3f (%.1f%% quantile of %d calibration stars' distance to "
        "%d reference training stars)",
        name,
        calibration["novelty"]["threshold"],
        100 * calibration["novelty"]["level"],
        calibration["novelty"]["calibration_stars"],
        len(calibration["novelty"]["reference"]),
    )
    report = {"model": name, "label": target, "scale": scale}
    for split in ("test", "calibration"):
        part = labelled.filter(pl.col("split") == split)
        teff, sp, label = scaled(part)
        sigma = apply_calibration(calibration, teff, sp)
        report[split] = split_report(teff, sp, sigma, label, calibration)
        feats = part.select("source_id").join(
            table.select("source_id", *features), on="source_id", how="left"
        )
        score = novelty_score(
            calibration["novelty"],
            {f: feats[f].cast(pl.Float64).fill_null(np.nan).to_numpy() for f in features},
        )
        report[split]["novelty"] = {
            "novel_fraction": float(is_novel(score).mean()) if score.size else 0.0,
            "by_score": coverage_by_novelty(
                score,
                apply_percentiles(calibration, teff, sp, sigma),
                label,
                relative=par.scale == "ln",
            ),
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
    logger.info(
        "%s test by novelty score, n / %% within p16-p84 / p05-p95: %s",
        name,
        "; ".join(
            f"{b} {st['n']}"
            + (
                f" / {100 * st['within_p16_p84']:.1f} / {100 * st['within_p05_p95']:.1f}"
                if st["n"]
                else ""
            )
            for b, st in report["test"]["novelty"]["by_score"].items()
        ),
    )
    write_json(calibration, smk.output.calibration)
    write_json(report, smk.output.report)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
