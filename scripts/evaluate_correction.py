"""Rule evaluate_correction: raw and corrected GSP-Phot labels against the simulated truth."""

import numpy as np
import polars as pl

from ebteff.correction import load_correction_json
from ebteff.evaluate import full_metrics, regression_metrics
from ebteff.io import scan_photometry, write_json
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    correction = load_correction_json(smk.input.correction)
    table = (
        scan_photometry(smk.input.photometry)
        .select("source_id", "teff_gaia")
        .drop_nulls()
        .join(pl.scan_parquet(smk.input.truth).select("source_id", "teff_blend"), on="source_id")
        .sort("source_id")
        .collect()
    )
    raw = table["teff_gaia"].to_numpy()
    corrected = correction.apply(raw)
    truth = table["teff_blend"].to_numpy()
    hot = truth > correction.threshold
    result = {
        "reference": "true blended Teff (simulation truth)",
        "raw": full_metrics(truth, raw),
        "corrected": full_metrics(truth, corrected),
        "above_threshold": {
            "threshold_k": correction.threshold,
            "raw": regression_metrics(truth[hot], raw[hot]),
            "corrected": regression_metrics(truth[hot], corrected[hot]),
        },
    }
    above = result["above_threshold"]
    if above["raw"]["n"]:
        ratio = abs(above["corrected"]["bias"]) / max(abs(above["raw"]["bias"]), 1e-9)
        above["abs_bias_ratio_corrected_to_raw"] = float(ratio)
        logger.info(
            "above %.0f K (true): raw bias %+.0f K, corrected bias %+.0f K (ratio %.2f)",
            correction.threshold,
            above["raw"]["bias"],
            above["corrected"]["bias"],
            ratio,
        )
    logger.info("%d labelled stars compared with truth; %d hot", len(truth), int(np.sum(hot)))
    write_json(result, smk.output.metrics)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
