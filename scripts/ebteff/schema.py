"""The upstream photometry schema (``eb_unified_photometry.parquet``).

Column names, dtypes and the missing-value sentinel follow the published table exactly;
every stage of the workflow refers to this module instead of spelling columns itself.
"""

from __future__ import annotations

import polars as pl

#: Missing values are written as this number in every numeric column upstream.
SENTINEL = -999.0

GAIA_ASTROMETRY = ("ra", "dec", "parallax", "pmra", "pmdec")
GAIA_PHOTOMETRY = ("g", "bp", "rp", "bp_rp", "g_bp", "g_rp")
GSPPHOT = ("teff_gaia", "logg_gaia", "mh_gaia")
PS1_BANDS = ("g", "r", "i", "z", "y")
PS1_PSF = tuple(f"ps_{b}PSFMag" for b in PS1_BANDS)
PS1_KRON = tuple(f"ps_{b}KronMag" for b in PS1_BANDS)
PS1_COLOURS = ("ps_g_r", "ps_r_i", "ps_i_z", "ps_z_y")
TMASS_MAGS = ("j_m", "h_m", "k_m")
TMASS_COLOURS = ("j_h", "h_k", "j_k")

#: Ordered upstream columns and their dtypes.
COLUMNS: dict[str, pl.DataType] = {
    "source_id": pl.Int64,
    **{c: pl.Float64 for c in GAIA_ASTROMETRY},
    **{c: pl.Float64 for c in GAIA_PHOTOMETRY},
    **{c: pl.Float64 for c in GSPPHOT},
    **{c: pl.Float64 for c in PS1_PSF},
    **{c: pl.Float64 for c in PS1_KRON},
    **{c: pl.Float64 for c in PS1_COLOURS},
    **{c: pl.Float64 for c in TMASS_MAGS},
    **{c: pl.Float64 for c in TMASS_COLOURS},
}

#: Numeric (sentinel-bearing) columns.
NUMERIC = tuple(c for c in COLUMNS if c != "source_id")

#: Which column decides that a star "has" a survey or a label, for coverage statistics.
COVERAGE_COLUMNS: dict[str, str] = {
    "gaia": "g",
    "panstarrs1": "ps_rPSFMag",
    "twomass": "j_m",
    "teff_gaia": "teff_gaia",
    "logg_gaia": "logg_gaia",
    "mh_gaia": "mh_gaia",
}

#: Coverage of the published table (fractions of all stars), DESIGN.md.
PUBLISHED_COVERAGE: dict[str, float] = {
    "gaia": 1.0,
    "panstarrs1": 0.535,
    "twomass": 0.60,
    "teff_gaia": 0.58,
    "logg_gaia": 0.56,
    "mh_gaia": 0.48,
}

#: Derived colours some models need, computed from bands when a table lacks them.
DERIVED_COLOURS: dict[str, tuple[str, str]] = {
    "g_j": ("g", "j_m"),
    "rp_k": ("rp", "k_m"),
    "bp_j": ("bp", "j_m"),
    "bp_g": ("bp", "g"),
    "rp_g": ("rp", "g"),
}
