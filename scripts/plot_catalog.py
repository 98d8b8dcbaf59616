"""Rule plot_catalog: Teff distributions, flags and model wins, CMD and sky maps."""

import json

import numpy as np
import polars as pl

from ebteff.io import scan_photometry
from ebteff.logs import finished, setup_logging
from ebteff.plots.base import grid_aggregate
from ebteff.plots.catalogue import (
    catalog_summary_figure,
    cmd_figure,
    sky_cell_area_deg2,
    sky_figure,
)
from ebteff.plots.teff import teff_distributions_figure

MIN_STARS = 5
TRUTH = "truth (simulated blended Teff)"


def grid_size(n: int, per_cell: float, lo: int, hi: int) -> int:
    """Cells per axis for ~``per_cell`` stars per cell of a square grid, within [lo, hi]."""
    return int(np.clip(np.sqrt(max(n, 1) / per_cell), lo, hi))


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    models = list(smk.params.models)
    catalog = pl.scan_parquet(smk.input.catalog)

    # Teff distributions: only the Teff columns are read.
    cols = ["teff_gaia", "teff_gaia_corrected", "teff_best", *(f"teff_{m}" for m in models)]
    teff = catalog.select(cols).collect()
    references = {}
    if "truth" in smk.input.keys():
        truth = pl.read_parquet(smk.input.truth, columns=["teff_blend"])["teff_blend"]
        references[TRUTH] = truth.to_numpy()
    references["GSP-Phot Teff (raw)"] = teff["teff_gaia"].to_numpy()
    references["label: GSP-Phot, hot-star corrected"] = teff["teff_gaia_corrected"].to_numpy()
    references["teff_best (adopted)"] = teff["teff_best"].to_numpy()
    predictions = {m: teff[f"teff_{m}"].to_numpy() for m in models}
    teff_distributions_figure(
        references,
        predictions,
        smk.output.distributions,
        title="Labels, the adopted Teff and the truth"
        if TRUTH in references
        else "Labels and the adopted Teff",
    )
    del teff

    summary = json.loads(open(smk.input.summary).read())
    catalog_summary_figure(summary, smk.output.summary)

    # CMD: median teff_best per cell of (BP-RP, G), over the central 99% of both.
    stars = (
        scan_photometry(smk.input.photometry)
        .select("source_id", "bp_rp", "g")
        .join(catalog.select("source_id", "teff_best"), on="source_id")
        .drop_nulls()
        .collect()
    )
    x_lo, x_hi = (float(stars["bp_rp"].quantile(q)) for q in (0.005, 0.995))
    y_lo, y_hi = (float(stars["g"].quantile(q)) for q in (0.005, 0.995))
    n = grid_size(stars.height, per_cell=8, lo=40, hi=200)
    x_edges, y_edges = np.linspace(x_lo, x_hi, n + 1), np.linspace(y_lo, y_hi, n + 1)
    cells = grid_aggregate(
        stars, pl.col("bp_rp"), pl.col("g"), x_edges, y_edges, teff=pl.col("teff_best").median()
    )
    cmd_figure(cells, x_edges, y_edges, smk.output.cmd)
    logger.info("CMD: %d stars on a %d x %d grid", stars.height, n, n)
    del stars

    # Sky: stars per deg^2, and the fractions with a Teff and with a GSP-Phot Teff (cells of
    # fewer than MIN_STARS stars left blank: a fraction of 1 or 2 stars says nothing).
    sky = catalog.select("ra", "dec", "teff_best", "flag")
    n_rows = catalog.select(pl.len()).collect().item()
    nx = grid_size(2 * n_rows, per_cell=50, lo=36, hi=360) // 2 * 2
    ra_edges, dec_edges = np.linspace(0, 360, nx + 1), np.linspace(-90, 90, nx // 2 + 1)
    cells = grid_aggregate(
        sky,
        pl.col("ra"),
        pl.col("dec"),
        ra_edges,
        dec_edges,
        with_teff=pl.col("teff_best").is_not_null().mean(),
        gaia=(pl.col("flag") == "A").mean(),
    )
    sparse = cells["count"] < MIN_STARS
    step = f"{360 / nx:.1f}\u00b0 cells"
    enough = f"cells of \u2265{MIN_STARS} stars"
    sky_figure(
        [
            {
                "values": cells["count"] / sky_cell_area_deg2(ra_edges, dec_edges),
                "title": f"Stars per square degree ({step})",
                "label": "stars per deg\u00b2",
                "log": True,
            },
            {
                "values": np.where(sparse, np.nan, cells["with_teff"]),
                "title": f"Fraction of stars with a Teff (teff_best; {enough})",
                "label": "fraction",
            },
            {
                "values": np.where(sparse, np.nan, cells["gaia"]),
                "title": f"Fraction with a GSP-Phot Teff (flag A; {enough})",
                "label": "fraction",
                "cmap": "cividis",
            },
        ],
        ra_edges,
        dec_edges,
        smk.output.sky,
    )
    logger.info("sky: %d stars on a %d x %d grid", n_rows, nx, nx // 2)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
