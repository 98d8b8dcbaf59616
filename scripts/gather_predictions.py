"""Rule gather_predictions: one model's columns from every chunk, in catalogue order."""

import polars as pl

from ebteff.io import write_parquet
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    model = smk.wildcards.model
    # a chunk holds source_id, the model's raw predictions and their spread (ebteff.predict)
    parts = [pl.read_parquet(path) for path in smk.input.chunks]
    cols = parts[0].columns
    table = pl.concat(parts)
    if table["source_id"].n_unique() != table.height:
        raise ValueError("prediction chunks overlap: a source_id appears twice")
    logger.info(
        "gathered %d chunks, %d stars, %d predicted by %s",
        len(parts),
        table.height,
        table[cols[1]].is_not_null().sum(),
        model,
    )
    write_parquet(table, smk.output.predictions)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
