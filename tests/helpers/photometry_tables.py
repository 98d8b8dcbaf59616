"""Small hand-made photometry tables with the upstream schema, for tests of single stages."""

from __future__ import annotations

import numpy as np
import polars as pl

from ebteff.schema import COLUMNS, SENTINEL


def make_table(n: int = 200, seed: int = 0) -> pl.DataFrame:
    """A valid upstream-schema table: every column has data, some values are the sentinel."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {"source_id": np.arange(1, n + 1, dtype=np.int64) * 1000 + 7}
    for name in COLUMNS:
        if name == "source_id":
            continue
        values = rng.uniform(10.0, 20.0, n)
        if name not in ("ra", "dec", "g", "bp", "rp", "bp_rp", "g_bp", "g_rp"):
            values[rng.uniform(size=n) < 0.3] = SENTINEL
        data[name] = values
    data["ra"] = rng.uniform(0, 360, n)
    data["dec"] = rng.uniform(-90, 90, n)
    teff = rng.uniform(3000, 30000, n)
    teff[rng.uniform(size=n) < 0.4] = SENTINEL
    data["teff_gaia"] = teff
    data["ps_rPSFMag"] = np.where(data["dec"] > -30, data["ps_rPSFMag"], SENTINEL)
    return pl.DataFrame(data, schema=COLUMNS)


def archive_table(photometry: pl.DataFrame) -> pl.DataFrame:
    """The Gaia columns of an upstream table as a Gaia Archive query returns them: archive
    names, BP - G instead of G - BP, NaN for missing values, no 2MASS or Pan-STARRS1."""

    def nan(c):
        return pl.when(pl.col(c) == SENTINEL).then(float("nan")).otherwise(pl.col(c))

    return photometry.select(
        "source_id",
        nan("ra").alias("ra"),
        nan("dec").alias("dec"),
        nan("g").alias("phot_g_mean_mag"),
        nan("bp").alias("phot_bp_mean_mag"),
        nan("rp").alias("phot_rp_mean_mag"),
        nan("bp_rp").alias("bp_rp"),
        (-nan("g_bp")).alias("bp_g"),
        nan("g_rp").alias("g_rp"),
        nan("teff_gaia").alias("teff_gspphot"),
        nan("logg_gaia").alias("logg_gspphot"),
        nan("mh_gaia").alias("mh_gspphot"),
    )


def write_as(frame: pl.DataFrame, path) -> None:
    """Write a table as Parquet, CSV, FITS or VOTable, by the file name's ending."""
    from pathlib import Path

    suffix = Path(path).suffix
    if suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix == ".csv":
        frame.write_csv(path)
    else:
        from astropy.table import Table

        table = Table({c: frame[c].to_numpy() for c in frame.columns})
        table.write(path, format="votable" if suffix in (".vot", ".xml") else "fits")
