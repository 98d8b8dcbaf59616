"""Rule predict_stars: Teff for every row of a user's table, with stored models and calibrations.

Read, predicted and written in batches of ``batch_rows`` stars (``ebteff.stars.predict_stars``):
memory holds the forests and one batch whatever the size of the table.
"""

from ebteff import __version__
from ebteff.flags import model_bit_comment
from ebteff.io import sha256sum
from ebteff.logs import Progress, finished, setup_logging, timed
from ebteff.stars import load_stored_models, predict_stars


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    inp = smk.input
    models = {
        m: {"model": inp.models[i], "metadata": inp.metadata[i], "calibration": inp.calibrations[i]}
        for i, m in enumerate(smk.params.models)
    }
    with timed(logger, f"loading {len(models)} models"):
        stored = load_stored_models(
            models, inp.best_calibration, inp.correction, inp.label_calibration
        )
    header = {
        "ORIGIN": ("ebteff workflow", "Gaia EB Teff Snakemake workflow"),
        "WFVERS": (__version__, "workflow version"),
        "CFGHASH": (smk.params.config_hash, "sha256 (first 16 hex) of the resolved config"),
        "STARSSHA": (sha256sum(inp.table), "sha256 of the input table of stars"),
    }
    for i, (m, path) in enumerate(zip(smk.params.models, inp.models, strict=True), start=1):
        header[f"MODEL{i}"] = (m, model_bit_comment(i))
        header[f"MSHA{i}"] = (sha256sum(path), f"sha256 of model {i} file")
    with (
        timed(logger, f"predicting {inp.table}"),
        Progress(logger, "stars", None, unit="star") as bar,
    ):
        counts = predict_stars(
            inp.table,
            stored,
            smk.output.parquet,
            smk.output.fits,
            batch_rows=smk.params.batch_rows,
            n_jobs=smk.threads,
            header=header,
            progress=bar,
        )
    logger.info(
        "%d stars: flags %s; predicted per model %s; novel to the model (its Teff not used for "
        "teff_best, docs/novelty.md) %s",
        counts["rows"],
        counts["flags"],
        counts["predicted_by_model"],
        counts["novel_by_model"],
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
