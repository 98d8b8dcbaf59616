"""The best-of-three catalogue: one row per input star, quality flags, FITS with provenance.

Per star, among the models that could predict it, the one with the smallest calibrated sigma
gives ``teff_best`` (its sigma calibrated once more for having been chosen); a star with a
GSP-Phot Teff keeps that (hot-star corrected) value instead and is flagged A. Flags (DESIGN.md):
A = GSP-Phot Teff, B = ML with sigma < 300 K, C = ML with sigma < 500 K, D = ML with
sigma >= 500 K, X = no Teff.
"""

from __future__ import annotations

import os

import numpy as np
import polars as pl

from .calibrate import MIN_STARS, apply_calibration, calibrated_teff, fit_calibration
from .features import prepare_photometry

FLAG_B_MAX = 300.0
FLAG_C_MAX = 500.0
GAIA = "gaia"


#: The columns of the input that a catalogue row starts from.
BASE_COLUMNS = ("source_id", "ra", "dec", "teff_gaia", "teff_gaia_corrected")


def catalogue_base(photometry: pl.LazyFrame, correction) -> pl.LazyFrame:
    """``BASE_COLUMNS`` of a photometry table (null where it lacks ra, dec or teff_gaia)."""
    names = photometry.collect_schema().names()
    lacking = [c for c in ("ra", "dec", "teff_gaia") if c not in names]
    lf = photometry.with_columns(pl.lit(None, pl.Float64).alias(c) for c in lacking)
    return prepare_photometry(lf.select("source_id", "ra", "dec", "teff_gaia"), correction).select(
        BASE_COLUMNS
    )


def calibrated_model(name: str, raw: pl.DataFrame, calibration: dict) -> pl.DataFrame:
    """source_id, ``teff_{name}`` and ``teff_{name}_err`` from a model's raw output (columns
    ``teff_{name}_raw``, ``teff_{name}_spread``) and its stored calibration."""
    teff, sigma = calibrated_teff(
        calibration,
        raw[f"teff_{name}_raw"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        raw[f"teff_{name}_spread"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    return raw.select(
        "source_id",
        pl.Series(f"teff_{name}", teff).fill_nan(None),
        pl.Series(f"teff_{name}_err", sigma).fill_nan(None),
    )


def catalogue_rows(
    base: pl.DataFrame,
    raw: dict[str, pl.DataFrame],
    calibrations: dict[str, dict],
    best_calibration: dict | None = None,
) -> pl.DataFrame:
    """Catalogue rows from models' raw outputs: every model through its stored calibration
    (:func:`calibrated_model`), then the best of them (:func:`assemble`). The catalogue and the
    prediction of a user's own stars both go through here, so the same star with the same models
    gets the same values."""
    predictions = {m: calibrated_model(m, frame, calibrations[m]) for m, frame in raw.items()}
    return assemble(base, predictions, best_calibration)


def best_of(teff: dict[str, np.ndarray], sigma: dict[str, np.ndarray]):
    """Per row, the model with the smallest finite sigma: (teff, sigma, model name or '')."""
    names = list(teff)
    sig = np.stack(
        [np.where(np.isfinite(sigma[m]) & np.isfinite(teff[m]), sigma[m], np.inf) for m in names]
    )
    val = np.stack([teff[m] for m in names])
    idx = np.argmin(sig, axis=0)  # ties go to the first model in config order
    rows = np.arange(sig.shape[1])
    best_sigma = sig[idx, rows]
    has = np.isfinite(best_sigma)
    best_teff = np.where(has, val[idx, rows], np.nan)
    source = np.where(has, np.asarray(names, dtype=object)[idx], "")
    return best_teff, np.where(has, best_sigma, np.nan), source


def assign_flags(has_gaia: np.ndarray, ml_sigma: np.ndarray) -> np.ndarray:
    """A/B/C/D/X per star (thresholds on the calibrated ML sigma)."""
    flag = np.full(has_gaia.shape, "X", dtype=object)
    ml = np.isfinite(ml_sigma)
    flag[ml & (ml_sigma >= FLAG_C_MAX)] = "D"
    flag[ml & (ml_sigma < FLAG_C_MAX)] = "C"
    flag[ml & (ml_sigma < FLAG_B_MAX)] = "B"
    flag[has_gaia] = "A"
    return flag


def fit_best_calibration(ml_teff, ml_sigma, ml_source, label) -> dict:
    """Calibration of the best-of-models choice itself, per winning model.

    Picking the smallest of several sigmas favours the ones that came out too small, so the
    winner's sigma is calibrated again, on calibration-split stars, as a function of itself
    (:func:`ebteff.calibrate.fit_calibration` with the winner's sigma in place of the tree
    spread). A model that wins too few calibration stars keeps its own sigma (``None``).
    """
    out = {}
    for m in sorted(set(ml_source) - {""}):
        sel = (ml_source == m) & np.isfinite(label) & np.isfinite(ml_teff)
        out[m] = (
            fit_calibration(ml_teff[sel], ml_sigma[sel], label[sel])
            if sel.sum() >= MIN_STARS
            else None
        )
    return out


def _recalibrate(ml_teff, ml_sigma, ml_source, best_calibration: dict) -> np.ndarray:
    sigma = ml_sigma.copy()
    for m, cal in best_calibration.items():
        sel = ml_source == m
        if cal is not None and sel.any():
            sigma[sel] = apply_calibration(cal, ml_teff[sel], ml_sigma[sel])
    return sigma


def assemble(
    base: pl.DataFrame,
    predictions: dict[str, pl.DataFrame],
    best_calibration: dict | None = None,
) -> pl.DataFrame:
    """Catalogue rows from ``base`` (source_id, ra, dec, teff_gaia, teff_gaia_corrected) and, per
    model, a frame of source_id, teff_{m}, teff_{m}_err (calibrated). With ``best_calibration``
    (:func:`fit_best_calibration`) the winner's sigma is recalibrated for the choice."""
    df = base
    for m, pred in predictions.items():
        df = df.join(
            pred.select("source_id", f"teff_{m}", f"teff_{m}_err"),
            on="source_id",
            how="left",
            maintain_order="left",
        )
    if df.height != base.height:
        raise ValueError("predictions hold duplicate source_id values")
    teff = {m: df[f"teff_{m}"].cast(pl.Float64).fill_null(np.nan).to_numpy() for m in predictions}
    sig = {
        m: df[f"teff_{m}_err"].cast(pl.Float64).fill_null(np.nan).to_numpy() for m in predictions
    }
    ml_teff, ml_sigma, ml_source = best_of(teff, sig)
    if best_calibration:
        ml_sigma = _recalibrate(ml_teff, ml_sigma, ml_source, best_calibration)
    gaia = df["teff_gaia_corrected"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    has_gaia = np.isfinite(gaia)
    best = np.where(has_gaia, gaia, ml_teff)
    best_err = np.where(has_gaia, np.nan, ml_sigma)
    source = np.where(has_gaia, GAIA, ml_source)
    flags = assign_flags(has_gaia, ml_sigma)
    return df.with_columns(
        pl.Series("teff_best", best).fill_nan(None),
        pl.Series("teff_best_err", best_err).fill_nan(None),
        pl.Series("teff_best_source", source.astype(str)),
        pl.Series("teff_ml_best", ml_teff).fill_nan(None),
        pl.Series("teff_ml_best_err", ml_sigma).fill_nan(None),
        pl.Series("teff_ml_best_source", ml_source.astype(str)),
        pl.Series("flag", flags.astype(str)),
    )


def summarise(cat: pl.DataFrame, models: list[str]) -> dict:
    """Counts per flag and per source, coverage, sigma quantiles, how often each model won."""
    n = cat.height
    flags = {f: int((cat["flag"] == f).sum()) for f in "ABCDX"}
    sources = {s: int((cat["teff_best_source"] == s).sum()) for s in [GAIA, *models]}
    ml = cat.filter(pl.col("teff_best_source").is_in(models))["teff_best_err"]
    quant = {f"q{int(q * 100):02d}": float(ml.quantile(q)) for q in (0.05, 0.16, 0.5, 0.84, 0.95)}
    won = {m: sources[m] for m in models}
    won_all = {m: int((cat["teff_ml_best_source"] == m).sum()) for m in models}
    return {
        "rows": n,
        "flags": flags,
        "flag_fractions": {f: c / n for f, c in flags.items()},
        "teff_best_source": sources,
        "coverage": {
            "with_teff": (n - flags["X"]) / n,
            "gaia": flags["A"] / n,
            "ml": (flags["B"] + flags["C"] + flags["D"]) / n,
        },
        "ml_sigma_quantiles_k": quant if ml.len() else {},
        "model_won_for_teff_best": won,
        "model_won_among_all_ml_predictions": won_all,
        "predicted_by_model": {m: int(cat[f"teff_{m}"].is_not_null().sum()) for m in models},
    }


COLUMN_DOC = {
    "source_id": ("", "Gaia DR3 source identifier"),
    "ra": ("deg", "Right ascension (ICRS)"),
    "dec": ("deg", "Declination (ICRS)"),
    "teff_gaia": ("K", "Gaia DR3 GSP-Phot effective temperature"),
    "teff_gaia_corrected": ("K", "GSP-Phot Teff with the hot-star correction applied"),
    "teff_best": ("K", "Adopted Teff: corrected GSP-Phot if present, else best ML prediction"),
    "teff_best_err": ("K", "Calibrated 1-sigma uncertainty of an ML teff_best (null for flag A)"),
    "teff_best_source": ("", "Origin of teff_best: gaia or the model name"),
    "teff_ml_best": ("K", "Best-of-models ML Teff (smallest calibrated sigma)"),
    "teff_ml_best_err": ("K", "Calibrated 1-sigma uncertainty of teff_ml_best"),
    "teff_ml_best_source": ("", "Model that gave teff_ml_best (empty when none could)"),
    "flag": ("", "A GSP-Phot; B ML sigma<300 K; C ML sigma<500 K; D ML sigma>=500 K; X none"),
}


def column_doc(name: str) -> tuple[str, str]:
    if name in COLUMN_DOC:
        return COLUMN_DOC[name]
    if name.endswith("_err"):
        return "K", f"Calibrated 1-sigma uncertainty of model {name[5:-4]}"
    return "K", f"Teff predicted by model {name[5:]} (corrected GSP-Phot scale)"


def write_fits(cat: pl.DataFrame, path: str | os.PathLike, header: dict[str, tuple]) -> None:
    """FITS binary table with units, column descriptions and provenance header cards."""
    from astropy.io import fits

    from .io import atomic_output

    cols = []
    for name in cat.columns:
        unit, _ = column_doc(name)
        s = cat[name]
        if s.dtype == pl.String:
            width = max(1, int(s.str.len_bytes().max() or 1))
            data = np.array(s.fill_null("").to_list(), dtype=f"S{width}")
            cols.append(fits.Column(name=name, format=f"{width}A", array=data))
        elif s.dtype.is_integer():
            cols.append(fits.Column(name=name, format="K", array=s.to_numpy()))
        else:
            cols.append(
                fits.Column(
                    name=name,
                    format="D",
                    unit=unit or None,
                    array=s.cast(pl.Float64).fill_null(np.nan).to_numpy(),
                )
            )
    hdu = fits.BinTableHDU.from_columns(cols, name="EB_TEFF")
    for i, name in enumerate(cat.columns, start=1):
        hdu.header.comments[f"TTYPE{i}"] = column_doc(name)[1][:68]
    for key, (value, comment) in header.items():
        hdu.header[key] = (value, comment)
    primary = fits.PrimaryHDU()
    with atomic_output(path) as tmp:
        # no CHECKSUM cards: astropy stamps them with the current time, which breaks byte identity
        fits.HDUList([primary, hdu]).writeto(tmp)


def write_fits_batches(
    parquet_path: str | os.PathLike,
    path: str | os.PathLike,
    header: dict[str, tuple],
    batch_rows: int = 100_000,
) -> None:
    """The FITS twin of a Parquet catalogue (as :func:`write_fits` writes it), streamed: the
    table is read and its rows written batch by batch, so memory holds one batch."""
    import pyarrow.parquet as pq
    from astropy.io import fits

    from .io import atomic_output

    pf = pq.ParquetFile(parquet_path)
    n_rows = pf.metadata.num_rows
    schema = pl.from_arrow(pf.schema_arrow.empty_table()).schema
    strings = [c for c, d in schema.items() if d == pl.String]
    widths = dict.fromkeys(strings, 1)
    lf = pl.scan_parquet(parquet_path)  # row ranges of a lazy scan: flat memory
    starts = range(0, n_rows, max(1, batch_rows))
    if strings:
        for lo in starts:
            frame = lf.select(strings).slice(lo, batch_rows).collect()
            for c in strings:
                widths[c] = max(widths[c], int(frame[c].str.len_bytes().max() or 1))
    cols, dtype = [], []
    for name, d in schema.items():
        unit, _ = column_doc(name)
        if d == pl.String:
            cols.append(fits.Column(name=name, format=f"{widths[name]}A"))
            dtype.append((name, f"S{widths[name]}"))
        elif d.is_integer():
            cols.append(fits.Column(name=name, format="K"))
            dtype.append((name, ">i8"))
        else:
            cols.append(fits.Column(name=name, format="D", unit=unit or None))
            dtype.append((name, ">f8"))
    hdu = fits.BinTableHDU.from_columns(cols, nrows=0, name="EB_TEFF")
    for i, name in enumerate(schema.names(), start=1):
        hdu.header.comments[f"TTYPE{i}"] = column_doc(name)[1][:68]
    for key, (value, comment) in header.items():
        hdu.header[key] = (value, comment)
    hdu.header["NAXIS2"] = n_rows
    dtype = np.dtype(dtype)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        fh.write(hdu.header.tostring().encode("ascii"))
        for lo in starts:
            frame = lf.slice(lo, batch_rows).collect()
            rec = np.empty(frame.height, dtype=dtype)
            for name, d in schema.items():
                s = frame[name]
                if d == pl.String:
                    rec[name] = np.array(s.fill_null("").to_list(), dtype=f"S{widths[name]}")
                elif d.is_integer():
                    rec[name] = s.to_numpy()
                else:
                    rec[name] = s.cast(pl.Float64).fill_null(np.nan).to_numpy()
            fh.write(rec.tobytes())
        fh.write(b"\0" * (-n_rows * dtype.itemsize % 2880))
