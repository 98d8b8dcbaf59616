"""Rule predict_chunk: one model's Teff and tree spread for one chunk of the catalogue.

The chunk is read, predicted and written in batches of ``batch_rows`` stars, so the job holds one
forest and one batch whatever the size of the catalogue or of the chunk.
"""

import polars as pl

from ebteff.features import ModelSpec
from ebteff.forest import read_flat_forest
from ebteff.io import scan_photometry
from ebteff.logs import Progress, finished, setup_logging, timed
from ebteff.predict import LoadedModel, chunk_bounds, predict_rows


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    index, count = smk.params.chunk["index"], smk.params.chunk["count"]
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    with timed(logger, f"loading {smk.input.model}"):
        model = LoadedModel(spec, read_flat_forest(smk.input.model)[0])
    lf = scan_photometry(smk.input.photometry)
    n_rows = lf.select(pl.len()).collect().item()  # from the Parquet footer, no column read
    start, stop = chunk_bounds(n_rows, count, index)
    logger.info(
        "%s, chunk %d of %d: rows %d-%d of %d in %s, batches of %d",
        spec.name,
        index + 1,
        count,
        start,
        stop,
        n_rows,
        smk.input.photometry,
        smk.params.batch_rows,
    )
    with (
        timed(logger, f"predicting {stop - start} stars with {spec.name}"),
        Progress(logger, f"{spec.name} {index + 1}/{count}", stop - start, unit="star") as bar,
    ):
        predicted = predict_rows(
            smk.input.photometry,
            model,
            start,
            stop,
            smk.output[0],
            batch_rows=smk.params.batch_rows,
            n_jobs=smk.threads,
            progress=bar,
        )
    logger.info("%s: predicted %d of %d stars", spec.name, predicted, stop - start)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
