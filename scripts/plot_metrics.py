"""Rule plot_metrics: per-bin accuracy, calibration coverage, PIT and feature importances of every
model, from the metrics, calibration and metadata JSON files."""

import json

from ebteff.logs import finished, setup_logging
from ebteff.plots.calibration import (
    calibration_coverage_figure,
    percentile_coverage_figure,
    pit_figure,
)
from ebteff.plots.catalogue import importances_figure
from ebteff.plots.teff import binned_metrics_figure


def read(path):
    with open(path) as fh:
        return json.load(fh)


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    models = list(smk.params.models)
    inp = smk.input
    binned_metrics_figure(
        {m: read(p) for m, p in zip(models, inp.metrics, strict=True)}, smk.output.binned
    )
    calibration = {m: read(p) for m, p in zip(models, inp.calibrations, strict=True)}
    calibration["teff_best (ML, best of models)"] = read(inp.best_calibration)
    calibration_coverage_figure(calibration, smk.output.coverage)
    pit_figure(calibration, smk.output.pit)
    percentile_coverage_figure(calibration, smk.output.percentiles)
    importances = {
        m: read(p).get("feature_importances") for m, p in zip(models, inp.metadata, strict=True)
    }
    missing = [m for m, v in importances.items() if not v]
    if missing:
        logger.warning("no feature importances recorded for %s", ", ".join(missing))
    importances_figure(importances, smk.output.importances)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
