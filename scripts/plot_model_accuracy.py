"""Rule plot_model_accuracy: predicted vs label and vs truth Teff of one model, as densities."""

import json

import numpy as np
import polars as pl

from ebteff.logs import finished, setup_logging
from ebteff.plots.base import grid_aggregate, log_teff_edges
from ebteff.plots.teff import accuracy_figure


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    name, target = smk.params.spec["name"], smk.params.spec["target"]
    metrics = json.loads(open(smk.input.metrics).read())["splits"]["test"]
    test = (
        pl.scan_parquet(smk.input.table)
        .filter(pl.col("split") == "test")
        .select("source_id", pl.col(target).alias("label"))
        .join(
            pl.scan_parquet(smk.input.predictions).select(
                "source_id", pl.col(f"teff_{name}_raw").alias("predicted")
            ),
            on="source_id",
        )
    )
    references = [("label", f"label ({target})", metrics.get("vs_label", {}))]
    if "truth" in smk.input.keys():
        truth = pl.scan_parquet(smk.input.truth).select("source_id", "teff_blend")
        test = test.join(truth, on="source_id", how="left")
        references.append(("teff_blend", "truth (simulated blended Teff)", metrics.get("vs_truth")))
    test = test.collect()
    # about 4 stars per occupied cell on the diagonal band, within 30..150 bins per axis
    edges = log_teff_edges(int(np.clip(np.sqrt(test.height) / 2, 30, 150)))
    panels = []
    for column, label, m in references:
        cells = grid_aggregate(
            test, pl.col(column).log10(), pl.col("predicted").log10(), edges, edges
        )
        panels.append(
            {
                "cells": cells,
                "edges": edges,
                "reference": label,
                "metrics": (m or {}).get("overall"),
            }
        )
    accuracy_figure(panels, name, smk.output.plot)
    logger.info("%s: %d test stars on %d log-Teff bins", name, test.height, len(edges) - 1)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
