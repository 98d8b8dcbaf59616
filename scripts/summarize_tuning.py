"""Rule summarize_tuning: a model's search in four files: the best hyperparameters as a config
snippet (and as JSON, for tuning.apply), the trials as a table, and a summary with the score of
the configured hyperparameters beside the best."""

import json

from ebteff.io import atomic_output, write_json
from ebteff.logs import finished, setup_logging
from ebteff.tuning import journal_counts, snippet, summarize, trials_table


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    settings = smk.params.settings
    model = smk.wildcards.model
    records = [json.loads(open(p).read()) for p in smk.input.trials]
    published = json.loads(open(smk.input.published).read())
    summary = summarize(model, records, published, settings)
    logger.info(
        "%s: best of %d trials (trial %d) %s %.2f K; configured hyperparameters %.2f K",
        model,
        summary["trials"],
        summary["best_trial"],
        summary["objective"],
        summary["best"]["value"],
        summary["configured"]["value"],
    )
    logger.info(
        "study %s in %s: records by state %s",
        summary["study"],
        smk.params.journal,
        journal_counts(smk.params.journal, summary["study"]),
    )
    header = [
        f"Best of {summary['trials']} trials of the search of {model} (trial "
        f"{summary['best_trial']}, study {summary['study']}):",
        f"{summary['folds']}-fold cross-validated {summary['objective']} "
        f"{summary['best']['value']:.2f} K on the training split, against "
        f"{summary['configured']['value']:.2f} K for the configured hyperparameters.",
    ]
    with atomic_output(smk.output.snippet) as tmp:
        tmp.write_text(snippet(model, summary["best"]["hyperparameters"], header))
    write_json(
        {
            "model": model,
            "study": summary["study"],
            "trial": summary["best_trial"],
            "hyperparameters": summary["best"]["hyperparameters"],
        },
        smk.output.best,
    )
    with atomic_output(smk.output.table) as tmp:
        trials_table(records, settings["space"]).write_csv(tmp)
    write_json(summary, smk.output.summary)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
