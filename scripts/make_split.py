"""Rule make_split: the train / calibration / test split shared by every model."""

import polars as pl

from ebteff.io import scan_photometry, write_json, write_parquet
from ebteff.logs import finished, setup_logging
from ebteff.split import split_table


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    labelled = (
        scan_photometry(smk.input.photometry)
        .filter(pl.col("teff_gaia").is_not_null())
        .select("source_id")
        .collect()
    )
    table = split_table(labelled["source_id"], smk.params.fractions, smk.params.salt)
    counts = {str(k): int(v) for k, v in table.group_by("split").len().sort("split").iter_rows()}
    logger.info("split %d labelled stars: %s", table.height, counts)
    write_parquet(table, smk.output.split)
    write_json(
        {
            "labelled": table.height,
            "by_split": counts,
            "fractions": smk.params.fractions,
            "salt": smk.params.salt,
        },
        smk.output.counts,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
