"""Rule build_features: one model's feature table over the labelled stars."""

import polars as pl

from ebteff.correction import load_correction_json
from ebteff.features import ModelSpec, build_feature_table
from ebteff.io import scan_photometry, write_json, write_parquet
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    spec_cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(spec_cfg.pop("name"), spec_cfg)
    table, counts = build_feature_table(
        scan_photometry(smk.input.photometry),
        pl.scan_parquet(smk.input.split),
        spec,
        load_correction_json(smk.input.correction),
    )
    logger.info(
        "model %s: %d usable rows %s; excluded: %s",
        spec.name,
        table.height,
        counts["usable_by_split"],
        {k: counts[k] for k in ("label_out_of_range", "missing_features")},
    )
    write_parquet(table, smk.output.table)
    write_json(counts, smk.output.counts)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
