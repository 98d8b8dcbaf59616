"""Rule import_photometry: a local table (source: local) in the upstream schema.

Read and written in batches (``ebteff.tables.import_photometry``): Parquet, CSV, FITS or VOTable;
upstream or Gaia Archive names; missing values null, NaN or -999.0, written as -999.0.
"""

from ebteff.logs import finished, setup_logging, timed
from ebteff.tables import import_photometry


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    with timed(logger, f"importing {smk.input.table}"):
        done = import_photometry(
            smk.input.table, smk.output.photometry, batch_rows=smk.params.batch_rows
        )
    logger.info(
        "%d stars; upstream columns the table lacks (written as missing): %s",
        done["rows"],
        ", ".join(done["lacking_columns"]) or "none",
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
