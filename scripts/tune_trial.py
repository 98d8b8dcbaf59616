"""Rule tune_trial: one trial of a model's hyperparameter search (ebteff.tuning)."""

import os
import socket

import polars as pl

from ebteff.correction import load_correction_json
from ebteff.io import write_json
from ebteff.logs import finished, setup_logging
from ebteff.tuning import run_trial, trial_setup


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    settings = smk.params.settings
    setup = trial_setup(
        settings,
        load_correction_json(smk.input.correction),
        inputs=[smk.input.table, smk.input.correction],
    )
    table = pl.read_parquet(smk.input.table)
    index = int(smk.wildcards.trial)
    # to find a trial among a cluster's jobs (and to stop it)
    logger.info("trial %d runs as process %d on %s", index, os.getpid(), socket.gethostname())

    def evaluate(params, report):
        return setup.score(table, params, n_jobs=smk.threads, report=report, logger=logger)

    record = run_trial(
        smk.params.journal,
        setup.study,
        index,
        space=settings["space"],
        seed=settings["seed"],
        jobs=settings["jobs"],
        evaluate=evaluate,
    )
    logger.info("trial %d: %s %.2f K", index, settings["objective"], record["value"])
    write_json(record, smk.output.trial)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
