"""Rebuild gbs_v3.csv, the external validation table shipped with the workflow, from its source.

The source is ``gbs_v3_tmass_gaiadr3_hip_allwise_all_lite.fits`` of the repository
https://github.com/svenbuder/gbs_v3 (MIT licence): the Gaia FGK Benchmark Stars v3 (Soubiran et
al. 2024, A&A 682, A145) cross-matched with Gaia DR3, 2MASS, Hipparcos and AllWISE. This script
keeps the 180 stars that have a Gaia DR3 source_id and writes, under the Gaia Archive's names
that ``ebteff.tables`` reads, their Gaia DR3 photometry, astrometry and GSP-Phot parameters, their
2MASS magnitudes, and the benchmark Teff (from angular diameter and bolometric flux), log g and
[Fe/H] with their errors. Usage, from this folder::

    git clone https://github.com/svenbuder/gbs_v3 && git -C gbs_v3 checkout c2590af05b77
    python make_gbs.py gbs_v3/gbs_v3_tmass_gaiadr3_hip_allwise_all_lite.fits

It refuses a file whose sha256 is not the one README.md records, and writes the same bytes
every time.
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
OUT = HERE / "gbs_v3.csv"
SOURCE_SHA256 = "35737684a0440a1fb2b5fe173552836bf113e07724b68532964d4c2349b62782"

#: column of the source -> column written (Gaia Archive and 2MASS names where the workflow reads
#: them; the benchmark values get a _gbs suffix)
COLUMNS = {
    "source_id_gaiadr3": "source_id",
    "hip": "hip",
    "hd": "hd",
    "ra": "ra",
    "dec": "dec",
    "parallax": "parallax",
    "pmra": "pmra",
    "pmdec": "pmdec",
    "ruwe": "ruwe",
    "phot_g_mean_mag": "phot_g_mean_mag",
    "phot_bp_mean_mag": "phot_bp_mean_mag",
    "phot_rp_mean_mag": "phot_rp_mean_mag",
    "bp_rp": "bp_rp",
    "j_m": "j_m",
    "h_m": "h_m",
    "ks_m": "ks_m",
    "ph_qual_tmass": "ph_qual",
    "teff_gspphot": "teff_gspphot",
    "teff_gspphot_lower": "teff_gspphot_lower",
    "teff_gspphot_upper": "teff_gspphot_upper",
    "logg_gspphot": "logg_gspphot",
    "mh_gspphot": "mh_gspphot",
    "teff": "teff_gbs",
    "e_teff": "e_teff_gbs",
    "logg": "logg_gbs",
    "e_logg": "e_logg_gbs",
    "fe_h": "feh_gbs",
}
#: decimals written per column (the source's own precision; float32 values are not padded)
DECIMALS = {
    "ra": 9,
    "dec": 9,
    "parallax": 4,
    "pmra": 4,
    "pmdec": 4,
    "ruwe": 3,
    "phot_g_mean_mag": 4,
    "phot_bp_mean_mag": 4,
    "phot_rp_mean_mag": 4,
    "bp_rp": 4,
    "j_m": 3,
    "h_m": 3,
    "ks_m": 3,
    "teff_gspphot": 1,
    "teff_gspphot_lower": 1,
    "teff_gspphot_upper": 1,
    "logg_gspphot": 4,
    "mh_gspphot": 4,
    "logg_gbs": 2,
    "e_logg_gbs": 2,
    "feh_gbs": 2,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(source: Path) -> pl.DataFrame:
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the source's non-FITS units ('electron'.s**-1, dex)
        table = Table.read(source)
    cols = {}
    for src, name in COLUMNS.items():
        col = table[src]
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
        values = np.asarray(col)
        if values.dtype.kind == "S":
            series = pl.Series(name, values.astype(str)).str.strip_chars()
            series = series.set(pl.Series(mask) | (series == ""), None)
        elif values.dtype.kind == "f":
            values = values.astype(float)
            values[mask | ~np.isfinite(values)] = np.nan
            series = pl.Series(name, values).fill_nan(None)
            if name in DECIMALS:
                series = series.round(DECIMALS[name])
        else:
            series = pl.Series(name, values.astype(np.int64)).set(pl.Series(mask), None)
        cols[name] = series
    frame = pl.DataFrame(cols)
    return frame.filter(pl.col("source_id").is_not_null()).sort("source_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="gbs_v3_tmass_gaiadr3_hip_allwise_all_lite.fits")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    digest = sha256(args.source)
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{args.source}: sha256 {digest}, expected {SOURCE_SHA256}")
    frame = convert(args.source)
    frame.write_csv(args.out)
    print(f"wrote {args.out}: {frame.height} stars, sha256 {sha256(args.out)}")


if __name__ == "__main__":
    main()
