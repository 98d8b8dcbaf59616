"""Validation and summary of an acquired photometry table.

A table enters the workflow only through :func:`validate_photometry`: it checks the upstream
schema (columns, dtypes, sentinel convention, unique keys) and returns the summary written to
``results/photometry/summary.json``. Every problem raises :class:`PhotometryError` with a message
that names the column or file and says what to fix.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .io import sha256sum
from .schema import (
    COLUMNS,
    COVERAGE_COLUMNS,
    GAIA_PHOTOMETRY,
    NUMERIC,
    PUBLISHED_COVERAGE,
    SENTINEL,
)

log = logging.getLogger(__name__)

#: Teff bins of the label distribution in the validation summary (docs/design.md, "Labels"), K.
TEFF_BINS = (
    ("lt4000", 0.0, 4000.0),
    ("4000_6000", 4000.0, 6000.0),
    ("6000_10000", 6000.0, 10000.0),
    ("ge10000", 10000.0, math.inf),
)


class PhotometryError(ValueError):
    """The photometry table breaks the upstream schema; the message says how."""


def _open(path: Path) -> pq.ParquetFile:
    if not path.exists():
        raise PhotometryError(f"photometry table {path} does not exist")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise PhotometryError(
            f"{path} is not a readable Parquet file (truncated or corrupt?): "
            f"{str(err).rstrip('.')}. Delete it and acquire it again."
        ) from err


def check_schema(schema: pl.Schema, path: Path | str = "table") -> list[str]:
    """Check column presence and dtypes; return the extra (non-upstream) columns, which are kept."""
    missing = [c for c in COLUMNS if c not in schema]
    if missing:
        raise PhotometryError(
            f"{path} lacks required column(s) {', '.join(missing)}; "
            "the table must have every column of the upstream eb_unified_photometry schema"
        )
    if not schema["source_id"].is_integer():
        raise PhotometryError(
            f"{path}: column 'source_id' has dtype {schema['source_id']}; expected Int64 "
            "(Gaia DR3 source identifiers)"
        )
    wrong = [f"'{c}' is {schema[c]}" for c in NUMERIC if not schema[c].is_float()]
    if wrong:
        raise PhotometryError(
            f"{path}: wrong dtype for {', '.join(wrong)}; expected Float64 with "
            f"{SENTINEL} marking missing values"
        )
    return [c for c in schema.names() if c not in COLUMNS]


def validate_photometry(path: str | os.PathLike) -> dict:
    """Check the table at ``path`` and return its summary (rows, coverage, Teff statistics)."""
    path = Path(path)
    meta = _open(path)
    rows = meta.metadata.num_rows
    if rows == 0:
        raise PhotometryError(f"{path} has no rows; an empty photometry table cannot be used")
    lf = pl.scan_parquet(path)
    try:
        extra = check_schema(lf.collect_schema(), path)
        stats = _collect_stats(lf)
    except pl.exceptions.PolarsError as err:
        raise PhotometryError(
            f"{path} could not be read in full (truncated or corrupt?): {str(err).rstrip('.')}. "
            "Delete it and acquire it again."
        ) from err

    if stats["source_id_nulls"]:
        raise PhotometryError(f"{path}: {stats['source_id_nulls']} row(s) have a null source_id")
    if stats["source_id_unique"] != rows:
        raise PhotometryError(
            f"{path}: source_id is not unique ({rows - stats['source_id_unique']} duplicate "
            "row(s)); each star must appear exactly once"
        )
    bad = {c: stats[f"{c}__bad"] for c in NUMERIC if stats[f"{c}__bad"]}
    if bad:
        listing = ", ".join(f"{c} ({n})" for c, n in bad.items())
        raise PhotometryError(
            f"{path}: NaN, inf or null values in {listing}; missing values must be "
            f"written as {SENTINEL}"
        )
    empty = [c for c in NUMERIC if stats[f"{c}__present"] == 0]
    # a survey or a label may be absent from a table (a Gaia-only one, or one without GSP-Phot):
    # the models that need it predict nothing there. Without Gaia photometry nothing can.
    no_gaia = [c for c in GAIA_PHOTOMETRY if c in empty]
    if no_gaia:
        raise PhotometryError(
            f"{path}: column(s) {', '.join(no_gaia)} hold only the missing-value sentinel "
            f"{SENTINEL}; the table carries no Gaia photometry"
        )
    if empty:
        log.warning("%s: no data in %s (models needing them predict nothing)", path, empty)

    coverage = {
        name: {
            "count": stats[f"{col}__present"],
            "fraction": stats[f"{col}__present"] / rows,
            "published_fraction": PUBLISHED_COVERAGE[name],
        }
        for name, col in COVERAGE_COLUMNS.items()
    }
    summary = {
        "file": path.name,
        "sha256": sha256sum(path),
        "bytes": path.stat().st_size,
        "rows": rows,
        "extra_columns": extra,
        "empty_columns": empty,
        "coverage": coverage,
        "column_coverage": {c: stats[f"{c}__present"] / rows for c in NUMERIC},
        "teff_gaia": _teff_stats(lf),
        "panstarrs1_min_dec": stats["ps_min_dec"],
    }
    log.info("validated %s: %d rows, %d extra column(s)", path, rows, len(extra))
    for name, cov in coverage.items():
        log.info(
            "coverage %-10s %6.2f%% (published %.1f%%)",
            name,
            100 * cov["fraction"],
            100 * cov["published_fraction"],
        )
    return summary


def _collect_stats(lf: pl.LazyFrame) -> dict:
    exprs = [
        pl.col("source_id").null_count().alias("source_id_nulls"),
        pl.col("source_id").n_unique().alias("source_id_unique"),
        pl.col("dec").filter(pl.col("ps_rPSFMag") != SENTINEL).min().alias("ps_min_dec"),
    ]
    for c in NUMERIC:
        col = pl.col(c)
        exprs.append((col.is_nan() | col.is_infinite() | col.is_null()).sum().alias(f"{c}__bad"))
        exprs.append((col != SENTINEL).sum().alias(f"{c}__present"))
    return lf.select(exprs).collect().row(0, named=True)


def _teff_stats(lf: pl.LazyFrame) -> dict:
    """Label statistics, in numpy: a fixed summation order keeps the summary byte-identical
    between runs (multi-threaded float sums are not)."""
    teff = lf.filter(pl.col("teff_gaia") != SENTINEL).select("teff_gaia").collect()
    t = np.sort(teff["teff_gaia"].to_numpy())
    if t.size == 0:
        return {"count": 0}
    out = {
        "count": int(t.size),
        "min": float(t[0]),
        "max": float(t[-1]),
        "mean": float(np.mean(t)),
        "median": float(np.median(t)),
        "std": float(np.std(t, ddof=1)) if t.size > 1 else 0.0,
    }
    out.update({f"q{int(q * 100):02d}": float(np.quantile(t, q)) for q in (0.05, 0.16, 0.84, 0.95)})
    out.update({f"frac_{name}": float(np.mean((t >= lo) & (t < hi))) for name, lo, hi in TEFF_BINS})
    return out
