"""Rule plot_parameter_metrics: per-bin accuracy and calibration coverage of the models of one
parameter other than Teff (log g or [M/H]), in its unit, from their metrics and calibration
JSON files."""

import json

from ebteff.logs import finished, setup_logging
from ebteff.parameters import PARAMETERS
from ebteff.plots.calibration import calibration_coverage_figure
from ebteff.plots.teff import binned_metrics_figure


def read(path):
    with open(path) as fh:
        return json.load(fh)


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    parameter = PARAMETERS[smk.wildcards.parameter]
    models = list(smk.params.models)
    metrics = {m: read(p) for m, p in zip(models, smk.input.metrics, strict=True)}
    calibration = {m: read(p) for m, p in zip(models, smk.input.calibrations, strict=True)}
    binned_metrics_figure(metrics, smk.output.binned, parameter=parameter)
    calibration_coverage_figure(calibration, smk.output.coverage, parameter=parameter)
    logger.info("%s: %s", parameter.name, ", ".join(models))
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
