"""Rule predict_chunk: one model's Teff and tree spread for one chunk of the catalogue.

The chunk is read, predicted and written in batches of ``batch_rows`` stars, so the job holds one
forest and one batch whatever the size of the catalogue or of the chunk.
"""

import polars as pl

from ebteff.features import ModelSpec, prepare_photometry
from ebteff.forest import load_forest
from ebteff.io import parquet_batches, scan_photometry
from ebteff.logs import Progress, finished, setup_logging, timed
from ebteff.predict import LoadedModel, chunk_bounds, predict_frame


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input)
    index, count = smk.params.chunk["index"], smk.params.chunk["count"]
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    with timed(logger, f"loading {smk.input.model}"):
        model = LoadedModel(spec, load_forest(smk.input.model)[0])
    lf = scan_photometry(smk.input.photometry)
    n_rows = lf.select(pl.len()).collect().item()  # from the Parquet footer, no column read
    start, stop = chunk_bounds(n_rows, count, index)
    batch = max(1, int(smk.params.batch_rows))
    logger.info(
        "%s, chunk %d of %d: rows %d-%d of %d in %s, batches of %d",
        spec.name,
        index + 1,
        count,
        start,
        stop,
        n_rows,
        smk.input.photometry,
        batch,
    )
    predicted = 0
    with (
        timed(logger, f"predicting {stop - start} stars with {spec.name}"),
        Progress(logger, f"{spec.name} {index + 1}/{count}", stop - start, unit="star") as bar,
        parquet_batches(smk.output[0]) as write,
    ):
        for lo in range(start, max(stop, start + 1), batch):
            hi = min(lo + batch, stop)
            frame = prepare_photometry(lf.slice(lo, hi - lo), None).collect()
            out = predict_frame(frame, [model], batch_rows=batch, n_jobs=smk.threads)
            predicted += out[f"teff_{spec.name}_raw"].is_not_null().sum()
            write(out)
            bar.update(hi - lo)
    logger.info("%s: predicted %d of %d stars", spec.name, predicted, stop - start)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
