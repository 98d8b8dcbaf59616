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

#: Columns the simulator writes and real tables may carry, but that users' tables need not
#: have (-999.0 for missing, like the others): ``ebv_sandf``, the full-column E(B-V) of the
#: Schlafly & Finkbeiner (2011) recalibrated SFD map at the star's position (mag), and
#: ``frequency``, the orbital frequency 1/P (1/day), named and in the unit of the Gaia DR3
#: archive table ``gaiadr3.vari_eclipsing_binary``.
OPTIONAL_COLUMNS: dict[str, pl.DataType] = {"ebv_sandf": pl.Float64, "frequency": pl.Float64}

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

#: Coverage of the published table (fractions of all stars), docs/design.md ("The data").
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

#: Colours of the upstream table, computed from its bands when a table lacks them (a Gaia
#: Archive query has ``bp_rp`` and ``g_rp`` but gives ``bp_g`` where upstream has ``g_bp``).
UPSTREAM_COLOURS: dict[str, tuple[str, str]] = {
    "bp_rp": ("bp", "rp"),
    "g_bp": ("g", "bp"),
    "g_rp": ("g", "rp"),
    "j_h": ("j_m", "h_m"),
    "h_k": ("h_m", "k_m"),
    "j_k": ("j_m", "k_m"),
    "ps_g_r": ("ps_gPSFMag", "ps_rPSFMag"),
    "ps_r_i": ("ps_rPSFMag", "ps_iPSFMag"),
    "ps_i_z": ("ps_iPSFMag", "ps_zPSFMag"),
    "ps_z_y": ("ps_zPSFMag", "ps_yPSFMag"),
}

#: Names of the Gaia Archive (gaiadr3.gaia_source, astrophysical_parameters) and of its 2MASS
#: and Pan-STARRS1 best-neighbour tables -> the upstream column they hold. ``bp_rp``, ``g_rp``,
#: ``parallax``, ``pmra``, ``pmdec``, ``ra``, ``dec``, ``j_m`` and ``h_m`` are spelt alike.
ARCHIVE_NAMES: dict[str, str] = {
    "phot_g_mean_mag": "g",
    "phot_bp_mean_mag": "bp",
    "phot_rp_mean_mag": "rp",
    "teff_gspphot": "teff_gaia",
    "logg_gspphot": "logg_gaia",
    "mh_gspphot": "mh_gaia",
    "ks_m": "k_m",
    **{f"{b}_mean_psf_mag": f"ps_{b}PSFMag" for b in PS1_BANDS},
    **{f"{b}_mean_kron_mag": f"ps_{b}KronMag" for b in PS1_BANDS},
}

#: The archive's ``bp_g`` (BP - G) is the upstream ``g_bp`` (G - BP) with the sign reversed.
NEGATED_ARCHIVE_COLOURS: dict[str, str] = {"bp_g": "g_bp"}
