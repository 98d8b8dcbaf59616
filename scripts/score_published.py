"""Rule score_published: the cross-validated score of a model's configured hyperparameters, on
the same folds as its search (ebteff.tuning)."""

import polars as pl

from ebteff.correction import load_correction_json
from ebteff.io import write_json
from ebteff.logs import finished, setup_logging
from ebteff.tuning import trial_setup


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    settings = smk.params.settings
    setup = trial_setup(
        settings,
        load_correction_json(smk.input.correction),
        inputs=[smk.input.table, smk.input.correction],
    )
    result = setup.score(pl.read_parquet(smk.input.table), {}, n_jobs=smk.threads, logger=logger)
    logger.info("configured hyperparameters: %s %.2f K", settings["objective"], result["value"])
    write_json(
        {"study": setup.study, "hyperparameters": settings["hyperparameters"], **result},
        smk.output.score,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
