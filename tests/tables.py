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
