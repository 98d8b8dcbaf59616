"""Rule predict_chunk: every model's Teff and tree spread for one chunk of the catalogue."""

import polars as pl

from ebteff.features import ModelSpec, prepare_photometry
from ebteff.forest import load_forest
from ebteff.io import scan_photometry, write_parquet
from ebteff.logs import Progress, finished, setup_logging, timed
from ebteff.predict import LoadedModel, chunk_bounds, predict_frame


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input)
    index, count = smk.params.chunk["index"], smk.params.chunk["count"]
    models = []
    for entry in smk.params.specs:
        cfg = dict(entry)
        spec = ModelSpec.from_config(cfg.pop("name"), cfg)
        models.append(LoadedModel(spec, load_forest(smk.input[spec.name])[0]))
    lf = scan_photometry(smk.input.photometry)
    n_rows = lf.select(pl.len()).collect().item()  # from the Parquet footer, no column read
    start, stop = chunk_bounds(n_rows, count, index)
    frame = prepare_photometry(lf.slice(start, stop - start), None).collect()
    logger.info("chunk %d of %d: rows %d-%d of %d", index + 1, count, start, stop, n_rows)
    with (
        timed(logger, f"predicting {frame.height} stars with {len(models)} models"),
        Progress(
            logger, f"chunk {index + 1}/{count}", frame.height * len(models), unit="pred"
        ) as bar,
    ):
        out = predict_frame(
            frame, models, batch_rows=smk.params.batch_rows, n_jobs=smk.threads, progress=bar
        )
    write_parquet(out, smk.output[0])
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
