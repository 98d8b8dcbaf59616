"""Rule plot_tuning: optimisation history and hyperparameter importance of a model's search."""

import json

import polars as pl

from ebteff.logs import finished, setup_logging
from ebteff.plots.tuning import tuning_figure


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    with open(smk.input.summary) as fh:
        summary = json.load(fh)
    values = pl.read_csv(smk.input.table).sort("trial")["value"].to_list()
    tuning_figure(values, summary, smk.output.plot)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
