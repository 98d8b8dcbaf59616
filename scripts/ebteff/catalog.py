"""The best-of-three catalogue: one row per input star, percentiles, flags, files.

Per star, among the models that could predict it, the one with the smallest calibrated error
gives ``teff_best`` (its percentiles calibrated once more for having been chosen); a star with a
GSP-Phot Teff keeps that (hot-star corrected) value instead and is flagged A, with percentiles
from GSP-Phot's own 16th/84th percentiles when the input has them or else from the scatter of
the corrected label against the reference sample (:func:`fit_label_calibration`). Flags
(DESIGN.md): A = GSP-Phot Teff, B = ML with sigma < 300 K, C = ML with sigma < 500 K, D = ML
with sigma >= 500 K, X = no Teff; ``flag_bits`` says more (:data:`FLAG_BITS`).
"""

from __future__ import annotations

import os

import numpy as np
import polars as pl

from .calibrate import (
    CALIBRATION_EDGES,
    MIN_STARS,
    PERCENTILE_NAMES,
    PERCENTILES,
    _bin_edges,
    _bin_index,
    _bin_name,
    apply_calibration,
    apply_percentiles,
    calibrated_distribution,
    conformal_quantile,
    fit_calibration,
    half_width,
    outside_range,
)
from .features import prepare_photometry

FLAG_B_MAX = 300.0
FLAG_C_MAX = 500.0
GAIA = "gaia"
HOT_K = 10_000.0
#: GSP-Phot's teff_gspphot_lower/upper are its 16th and 84th percentiles; the 5th and 95th are
#: extrapolated from them per side as for a Gaussian (1.645 / 1.0 sigma).
GAUSS_90_OVER_68 = 1.6448536269514722
MIN_LABEL_BIN_STARS = 50  # reference stars per bin of the label scatter (sparse bins merged)

#: ``flag_bits``: one bit per fact, fixed positions; model i (config order, from 0) of the
#: catalogue sets bit ``MODEL_BIT0 + i`` when it gave teff_best.
FLAG_BITS = {
    "label": 1,  # the star has a GSP-Phot Teff: teff_best is the corrected label (flag A)
    "ml": 2,  # teff_best is an ML prediction (flags B, C, D)
    "features_missing": 4,  # the star lacks the features of at least one model
    "outside_training_range": 8,  # a feature of the model that gave teff_best lies beyond
    # the 0.5-99.5 percentiles of that model's training stars
    "hot": 16,  # teff_best > 10,000 K: the hot-star correction and regression to the mean
    "split_train": 32,  # labelled star in the training split (the models saw its label)
    "split_calibration": 64,  # labelled star in the calibration split
    "split_test": 128,  # labelled star in the test split
}
MODEL_BIT0 = 8

#: Gaia Archive names of GSP-Phot's 16th and 84th Teff percentiles, used when the input has them.
GSPPHOT_PERCENTILES = ("teff_gspphot_lower", "teff_gspphot_upper")

#: Columns renamed since the earlier pipeline's catalogue (README, FITS RENAMEn cards).
RENAMES: dict[str, str] = {}

#: The recommended selection (README): a Teff, not flag D, and not extrapolated by its model.
RECOMMENDED_CUT = "flag in (A, B, C) and (flag_bits & 8) == 0"

VOTABLE_DESCRIPTION = (
    "Effective temperatures of Gaia DR3 eclipsing binaries: corrected GSP-Phot Teff where "
    "present, else the best of the workflow's random-forest models, with calibrated "
    "percentiles (5/16/50/84/95), quality flags and a flag bit mask."
)

PERCENTILE_SOURCES = {
    "model": "calibrated percentiles of the ML model that gave teff_best",
    "gspphot": "GSP-Phot teff_gspphot_lower/upper (16th/84th), corrected; 5th/95th extrapolated",
    "reference": "scatter of the corrected GSP-Phot Teff against the reference sample",
}


#: The columns of the input that a catalogue row starts from.
BASE_COLUMNS = ("source_id", "ra", "dec", "teff_gaia", "teff_gaia_corrected")


def catalogue_base(photometry: pl.LazyFrame, correction) -> pl.LazyFrame:
    """``BASE_COLUMNS`` of a photometry table (null where it lacks ra, dec or teff_gaia), and
    GSP-Phot's own 16th/84th percentiles (:data:`GSPPHOT_PERCENTILES`) on the corrected scale
    where the table has them (for :func:`assemble`; not catalogue columns)."""
    names = photometry.collect_schema().names()
    lacking = [c for c in ("ra", "dec", "teff_gaia") if c not in names]
    own = [c for c in GSPPHOT_PERCENTILES if c in names]
    lf = photometry.with_columns(pl.lit(None, pl.Float64).alias(c) for c in lacking)
    base = prepare_photometry(lf.select("source_id", "ra", "dec", "teff_gaia", *own), correction)
    return base.select(
        *BASE_COLUMNS,
        *(
            pl.col(c).cast(pl.Float64).map_batches(correction.apply, return_dtype=pl.Float64)
            for c in own
        ),
    )


def catalogue_rows(
    base: pl.DataFrame,
    raw: dict[str, pl.DataFrame],
    calibrations: dict[str, dict],
    best_calibration: dict | None = None,
    label_calibration: dict | None = None,
    photometry: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Catalogue rows from models' raw outputs: every model through its stored calibration
    (:func:`model_columns`: Teff, percentiles, error, training range against ``photometry``),
    then the best of them with flags, flag bits and the flag-A uncertainties
    (:func:`assemble`). The catalogue and the prediction of a user's own stars both go through
    here, so the same star with the same models gets the same values."""
    predictions = {
        m: model_columns(m, calibrations[m], frame, photometry) for m, frame in raw.items()
    }
    return assemble(base, predictions, best_calibration, label_calibration)


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


def flag_bits(
    *,
    has_label,
    best_source,
    models: list[str],
    predicted: dict[str, np.ndarray],
    outside: dict[str, np.ndarray | None],
    teff_best,
    split=None,
) -> np.ndarray:
    """``flag_bits`` per star (:data:`FLAG_BITS`). ``best_source``: 'gaia', a model or '';
    ``predicted[m]``: whether model m had the star's features; ``outside[m]``: whether the star
    is beyond m's training range (None: unknown, no bit); ``split``: split name or None."""
    has_label = np.asarray(has_label, dtype=bool)
    best_source = np.asarray(best_source, dtype=object)
    bits = np.zeros(has_label.shape, dtype=np.int32)
    bits |= np.where(has_label, FLAG_BITS["label"], 0).astype(np.int32)
    ml = np.isin(best_source, models)
    bits |= np.where(ml, FLAG_BITS["ml"], 0).astype(np.int32)
    missing = np.zeros(has_label.shape, dtype=bool)
    for i, m in enumerate(models):
        missing |= ~np.asarray(predicted[m], dtype=bool)
        won = best_source == m
        bits |= np.where(won, 1 << (MODEL_BIT0 + i), 0).astype(np.int32)
        if outside.get(m) is not None:
            out = won & np.asarray(outside[m], dtype=bool)
            bits |= np.where(out, FLAG_BITS["outside_training_range"], 0).astype(np.int32)
    bits |= np.where(missing, FLAG_BITS["features_missing"], 0).astype(np.int32)
    hot = np.nan_to_num(np.asarray(teff_best, dtype=float), nan=0.0) > HOT_K
    bits |= np.where(hot, FLAG_BITS["hot"], 0).astype(np.int32)
    if split is not None:
        split = np.asarray(split, dtype=object)
        for name in ("train", "calibration", "test"):
            bits |= np.where(split == name, FLAG_BITS[f"split_{name}"], 0).astype(np.int32)
    return bits


def fit_best_calibration(ml_teff, ml_sigma, ml_source, label) -> dict:
    """Calibration of the best-of-models choice itself, per winning model.

    Picking the smallest of several sigmas favours the ones that came out too small, so the
    winner's sigma and percentiles are calibrated again, on calibration-split stars, as a
    function of its sigma (:func:`ebteff.calibrate.fit_calibration` with the winner's sigma in
    place of the tree spread). A model that wins too few calibration stars keeps its own
    (``None``).
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


def model_columns(
    name: str, calibration: dict, pred: pl.DataFrame, photometry: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One model's catalogue columns from its raw outputs and its stored calibration (no labels):
    source_id, teff_{name}, its percentiles teff_{name}_p05 ... _p95, teff_{name}_err
    = (p84 - p16) / 2, and, with ``photometry`` (source_id and the model's features; derived
    colours included), teff_{name}_outside (beyond the training range; not a catalogue column).
    """
    teff, _, q = calibrated_distribution(
        calibration,
        pred[f"teff_{name}_raw"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        pred[f"teff_{name}_spread"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    cols = [pl.Series(f"teff_{name}", teff)]
    cols += [pl.Series(f"teff_{name}_{p}", q[:, i]) for i, p in enumerate(PERCENTILE_NAMES)]
    cols.append(pl.Series(f"teff_{name}_err", half_width(q)))
    out = pred.select("source_id").with_columns(c.fill_nan(None) for c in cols)
    ranges = calibration.get("feature_range")
    if photometry is not None and ranges:
        feats = (
            pred.select("source_id")
            .join(photometry.select("source_id", *ranges), on="source_id", how="left")
            .select(pl.col(f).cast(pl.Float64).fill_null(np.nan) for f in ranges)
        )
        outside = outside_range(calibration, {f: feats[f].to_numpy() for f in ranges})
        out = out.with_columns(pl.Series(f"teff_{name}_outside", outside))
    return out


def fit_label_calibration(label, reference, edges=CALIBRATION_EDGES) -> dict:
    """Percentiles of the corrected GSP-Phot Teff from its scatter against a reference Teff.

    Per bin of the label (``edges``, bins with fewer than ``MIN_LABEL_BIN_STARS`` reference
    stars merged), conformal quantiles of the ratio reference / label: a flag-A star's
    percentile q is label * ratio_q of its bin.
    """
    label, reference = (np.asarray(a, dtype=float) for a in (label, reference))
    ok = np.isfinite(label) & np.isfinite(reference) & (label > 0)
    label, reference = label[ok], reference[ok]
    if label.size < MIN_LABEL_BIN_STARS:
        raise ValueError(
            f"only {label.size} reference stars with a GSP-Phot Teff; at least "
            f"{MIN_LABEL_BIN_STARS} are needed for the uncertainty of the corrected label"
        )
    merged = _bin_edges(label, edges, MIN_LABEL_BIN_STARS)
    bins = []
    ratio = reference / label
    for lo, hi in zip(merged[:-1], merged[1:], strict=True):
        sel = (label >= lo) & (label < (np.inf if hi is None else hi))
        bins.append(
            {
                "name": _bin_name(lo, hi),
                "lo": lo,
                "hi": hi,
                "n": int(sel.sum()),
                "ratio_percentiles": [conformal_quantile(ratio[sel], q) for q in PERCENTILES],
            }
        )
    return {
        "source": "reference",
        "formula": "Teff_q = teff_gaia_corrected * ratio_q; ratio_q per bin of "
        "teff_gaia_corrected [lo, hi) K: split-conformal quantile of teff_ref / "
        "teff_gaia_corrected over the reference stars",
        "percentile_levels": list(PERCENTILES),
        "reference_stars": int(label.size),
        "bins": bins,
    }


def label_percentiles(label, label_calibration: dict | None, lower=None, upper=None):
    """Percentiles (n, 5) of the corrected GSP-Phot Teff and, per star, where they come from:
    'gspphot' (its own 16th/84th percentiles ``lower``/``upper``, on the corrected scale) where
    both are finite, else 'reference' (:func:`fit_label_calibration`), else '' (NaN)."""
    label = np.asarray(label, dtype=float)
    q = np.full((label.size, len(PERCENTILES)), np.nan)
    src = np.full(label.size, "", dtype=object)
    has = np.isfinite(label)
    if label_calibration is not None:
        bins = label_calibration["bins"]
        ratio = np.array([b["ratio_percentiles"] for b in bins], dtype=float)
        idx = _bin_index(bins, np.nan_to_num(label, nan=0.0))
        q[has] = label[has, None] * ratio[idx[has]]
        src[has] = "reference"
    if lower is not None and upper is not None:
        lo, hi = (np.asarray(a, dtype=float) for a in (lower, upper))
        own = has & np.isfinite(lo) & np.isfinite(hi) & (lo <= label) & (hi >= label)
        down, up = label - lo, hi - label
        q[own] = np.stack(
            [
                label - GAUSS_90_OVER_68 * down,
                lo,
                label,
                hi,
                label + GAUSS_90_OVER_68 * up,
            ],
            axis=1,
        )[own]
        src[own] = "gspphot"
    return q, src


def _recalibrate(ml_teff, ml_sigma, ml_q, ml_source, best_calibration: dict):
    q = ml_q.copy()
    for m, cal in best_calibration.items():
        sel = ml_source == m
        if cal is not None and sel.any():
            q[sel] = apply_percentiles(
                cal,
                ml_teff[sel],
                ml_sigma[sel],
                apply_calibration(cal, ml_teff[sel], ml_sigma[sel]),
            )
    return q


def _numpy(df: pl.DataFrame, name: str) -> np.ndarray:
    return df[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def assemble(
    base: pl.DataFrame,
    predictions: dict[str, pl.DataFrame],
    best_calibration: dict | None = None,
    label_calibration: dict | None = None,
) -> pl.DataFrame:
    """Catalogue rows from ``base`` and, per model, the frame of :func:`model_columns`.

    ``base``: source_id, ra, dec, teff_gaia, teff_gaia_corrected, and optionally ``split``
    (train / calibration / test / null, for ``flag_bits``) and ``teff_gspphot_lower`` /
    ``teff_gspphot_upper`` (GSP-Phot's 16th/84th percentiles, already on the corrected scale);
    these optional columns are not catalogue columns. With ``best_calibration``
    (:func:`fit_best_calibration`) the winner's percentiles are recalibrated for the choice.
    A star with a GSP-Phot Teff gets percentiles from its own lower/upper or from
    ``label_calibration`` (:func:`fit_label_calibration`); without either they are null, which
    :func:`check_uncertainties` refuses for a published catalogue.
    """
    extra = [c for c in ("split", "teff_gspphot_lower", "teff_gspphot_upper") if c in base.columns]
    df = base
    models = list(predictions)
    for m, pred in predictions.items():
        keep = [c for c in pred.columns if c == "source_id" or c.startswith(f"teff_{m}")]
        df = df.join(pred.select(keep), on="source_id", how="left", maintain_order="left")
    if df.height != base.height:
        raise ValueError("predictions hold duplicate source_id values")
    teff = {m: _numpy(df, f"teff_{m}") for m in models}
    sig = {m: _numpy(df, f"teff_{m}_err") for m in models}
    ml_teff, ml_sigma, ml_source = best_of(teff, sig)
    ml_q = np.full((df.height, len(PERCENTILES)), np.nan)
    for m in models:
        sel = ml_source == m
        if f"teff_{m}_p05" in df.columns:
            ml_q[sel] = np.stack([_numpy(df, f"teff_{m}_{p}") for p in PERCENTILE_NAMES], 1)[sel]
        else:  # a model frame without percentiles: Gaussian ones from its sigma
            ml_q[sel] = (
                ml_teff[sel, None] + np.array([-1.6449, -1, 0, 1, 1.6449]) * ml_sigma[sel, None]
            )
    if best_calibration:
        ml_q = _recalibrate(ml_teff, ml_sigma, ml_q, ml_source, best_calibration)
        ml_sigma = np.where(np.isfinite(ml_teff), half_width(ml_q), np.nan)
    gaia = _numpy(df, "teff_gaia_corrected")
    has_gaia = np.isfinite(gaia)
    lab_q, lab_src = label_percentiles(
        gaia,
        label_calibration,
        *(
            (_numpy(df, "teff_gspphot_lower"), _numpy(df, "teff_gspphot_upper"))
            if "teff_gspphot_upper" in extra and "teff_gspphot_lower" in extra
            else (None, None)
        ),
    )
    best = np.where(has_gaia, gaia, ml_teff)
    best_q = np.where(has_gaia[:, None], lab_q, ml_q)
    best_err = half_width(best_q)
    source = np.where(has_gaia, GAIA, ml_source)
    pct_source = np.where(has_gaia, lab_src, np.where(np.isfinite(ml_teff), "model", ""))
    flags = assign_flags(has_gaia, ml_sigma)
    bits = flag_bits(
        has_label=has_gaia,
        best_source=source,
        models=models,
        predicted={m: np.isfinite(teff[m]) for m in models},
        outside={
            m: (
                df[f"teff_{m}_outside"].fill_null(False).to_numpy()
                if f"teff_{m}_outside" in df.columns
                else None
            )
            for m in models
        },
        teff_best=best,
        split=(df["split"].cast(pl.String).to_numpy() if "split" in extra else None),
    )
    drop = [*extra, *(c for c in df.columns if c.endswith("_outside"))]
    return df.drop(drop).with_columns(
        pl.Series("teff_best", best).fill_nan(None),
        *(
            pl.Series(f"teff_best_{p}", best_q[:, i]).fill_nan(None)
            for i, p in enumerate(PERCENTILE_NAMES)
        ),
        pl.Series("teff_best_err", best_err).fill_nan(None),
        pl.Series("teff_best_source", source.astype(str)),
        pl.Series("teff_best_err_source", pct_source.astype(str)),
        pl.Series("teff_ml_best", ml_teff).fill_nan(None),
        pl.Series("teff_ml_best_err", ml_sigma).fill_nan(None),
        pl.Series("teff_ml_best_source", ml_source.astype(str)),
        pl.Series("flag", flags.astype(str)),
        pl.Series("flag_bits", bits),
    )


def check_uncertainties(cat: pl.DataFrame, label_sources: bool = True) -> int:
    """Every star with a Teff has its percentiles and error; else ValueError saying what to do.

    ``label_sources`` False: neither GSP-Phot's own lower/upper percentiles nor a reference
    sample exists (the published real catalogue with a loaded correction), so a flag-A star's
    corrected GSP-Phot Teff has nothing to take an uncertainty from; those stars keep a null
    error (``teff_best_err_source`` null) and their number is returned for the log and summary.
    """
    missing = cat.filter(pl.col("teff_best").is_not_null() & pl.col("teff_best_err").is_null())
    if missing.height and label_sources:
        raise ValueError(
            f"{missing.height} stars with a GSP-Phot Teff have no uncertainty: give "
            "teff_gspphot_lower/upper in the photometry, or a reference table "
            "(correction.reference: source_id, teff_ref) for the scatter of the corrected label"
        )
    return missing.height


def recommended(cat: pl.DataFrame) -> pl.Series:
    """Rows kept by :data:`RECOMMENDED_CUT`."""
    bit = FLAG_BITS["outside_training_range"]
    return cat["flag"].is_in(["A", "B", "C"]) & ((cat["flag_bits"] & bit) == 0)


def best_percentile_report(blind: pl.DataFrame, chosen: pl.DataFrame, best_calibration) -> dict:
    """Coverage of ``teff_best`` on labelled stars treated as unlabelled (``blind``: the
    catalogue assembled without their GSP-Phot Teff, with teff_gaia_corrected put back as the
    label; ``chosen``: the same before the recalibration of the choice): sigma coverage,
    percentiles and PIT, per bin of the prediction and of the label."""
    from .calibrate import coverage_report, percentile_report, pit

    def col(frame, name):
        return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    label = col(blind, "teff_gaia_corrected")
    teff, err = col(blind, "teff_ml_best"), col(blind, "teff_ml_best_err")
    q = np.stack([col(blind, f"teff_best_{p}") for p in PERCENTILE_NAMES], axis=1)
    source = blind["teff_ml_best_source"].to_numpy()
    raw_err = col(chosen, "teff_ml_best_err")
    u = np.full(label.shape, np.nan)
    for m, cal in (best_calibration or {}).items():
        sel = source == m
        if cal is not None and sel.any():
            sigma = apply_calibration(cal, teff[sel], raw_err[sel])
            u[sel] = pit(cal, teff[sel], sigma, label[sel])
    return {
        "label": "teff_gaia_corrected",
        "test": coverage_report(teff, err, label),
        "test_by_predicted_bin": coverage_report(teff, err, label, bin_by=teff),
        "test_before_recalibration": coverage_report(
            col(chosen, "teff_ml_best"), raw_err, col(chosen, "teff_gaia_corrected")
        )["overall"],
        "percentiles_by_predicted_bin": percentile_report(q, label, u, bin_by=teff),
        "percentiles_by_label_bin": percentile_report(q, label, u),
    }


def label_percentile_report(cat: pl.DataFrame, reference: pl.DataFrame, label_calibration):
    """Fraction of reference Teff below the flag-A percentiles, per bin of the label (the
    reference stars are the ones the scatter was measured on: a check of the table, not a test)."""
    from .calibrate import percentile_report

    rows = reference.select("source_id", "teff_ref").join(
        cat.filter(pl.col("flag") == "A").select(
            "source_id", "teff_gaia_corrected", *(f"teff_best_{p}" for p in PERCENTILE_NAMES)
        ),
        on="source_id",
    )
    q = np.stack([rows[f"teff_best_{p}"].to_numpy() for p in PERCENTILE_NAMES], axis=1)
    return percentile_report(
        q, rows["teff_ref"].to_numpy(), bin_by=rows["teff_gaia_corrected"].to_numpy()
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
        "flag_bits": {
            **{k: int(((cat["flag_bits"] & v) > 0).sum()) for k, v in FLAG_BITS.items()},
            **{
                f"model_{m}": int(((cat["flag_bits"] & (1 << (MODEL_BIT0 + i))) > 0).sum())
                for i, m in enumerate(models)
            },
        },
        "teff_best_err_source": {
            s: int((cat["teff_best_err_source"] == s).sum()) for s in PERCENTILE_SOURCES
        },
        "recommended_cut": {
            "expression": RECOMMENDED_CUT,
            "kept": int(recommended(cat).sum()),
            "kept_fraction": float(recommended(cat).mean()) if n else 0.0,
            "kept_by_flag": {f: int((recommended(cat) & (cat["flag"] == f)).sum()) for f in "ABC"},
        },
    }


_PCT_TEXT = {
    "p05": "5th",
    "p16": "16th",
    "p50": "50th (median)",
    "p84": "84th",
    "p95": "95th",
}
_FLAG_TEXT = (
    "Quality flag: A = GSP-Phot Teff present (teff_best is the corrected label); B = ML "
    "prediction with calibrated sigma < 300 K; C = ML with sigma < 500 K; D = ML with sigma >= "
    "500 K; X = no Teff"
)
_BITS_TEXT = (
    "Bit mask: 1 GSP-Phot label present; 2 teff_best from an ML model; 4 features of at least "
    "one model missing; 8 a feature of the model that gave teff_best outside its training "
    "stars' 0.5-99.5 percentiles; 16 teff_best > 10000 K; 32/64/128 labelled star in the "
    "train/calibration/test split; 256 << i: model i (MODELi card, from 0) gave teff_best"
)

#: name -> (unit, UCD, full description). Columns of each model are described by
#: :func:`column_doc`.
COLUMN_DOC = {
    "source_id": ("", "meta.id;meta.main", "Gaia DR3 source identifier"),
    "ra": ("deg", "pos.eq.ra;meta.main", "Right ascension (ICRS, Gaia DR3)"),
    "dec": ("deg", "pos.eq.dec;meta.main", "Declination (ICRS, Gaia DR3)"),
    "teff_gaia": ("K", "phys.temperature.effective", "Gaia DR3 GSP-Phot effective temperature"),
    "teff_gaia_corrected": (
        "K",
        "phys.temperature.effective",
        "GSP-Phot Teff with the hot-star correction applied (the label the models learn)",
    ),
    "teff_best": (
        "K",
        "phys.temperature.effective;meta.main",
        "Adopted Teff: the corrected GSP-Phot Teff when present (flag A), else the ML "
        "prediction of the model with the smallest calibrated uncertainty",
    ),
    "teff_best_err": (
        "K",
        "stat.error;phys.temperature.effective",
        "Symmetric 1-sigma uncertainty of teff_best: (teff_best_p84 - teff_best_p16) / 2; "
        "set for every star with a Teff",
    ),
    "teff_best_source": (
        "",
        "meta.code",
        "Origin of teff_best: gaia (corrected GSP-Phot), the name of the ML model, or empty",
    ),
    "teff_best_err_source": (
        "",
        "meta.code",
        "Origin of the percentiles of teff_best: model ("
        + PERCENTILE_SOURCES["model"]
        + "), gspphot ("
        + PERCENTILE_SOURCES["gspphot"]
        + "), reference ("
        + PERCENTILE_SOURCES["reference"]
        + "), or empty (no Teff)",
    ),
    "teff_ml_best": (
        "K",
        "phys.temperature.effective",
        "Best ML Teff for every star a model could predict (flag-A stars included): the "
        "prediction of the model with the smallest calibrated uncertainty",
    ),
    "teff_ml_best_err": (
        "K",
        "stat.error;phys.temperature.effective",
        "Symmetric 1-sigma uncertainty of teff_ml_best, recalibrated for the choice of the "
        "smallest: (p84 - p16) / 2; flags B/C/D are cut on it",
    ),
    "teff_ml_best_source": (
        "",
        "meta.code",
        "Model that gave teff_ml_best (empty when no model had the star's features)",
    ),
    "flag": ("", "meta.code.qual", _FLAG_TEXT),
    "flag_bits": ("", "meta.code.qual", _BITS_TEXT),
    # only in the output of `snakemake stars` (a user's table), not in the catalogue
    "no_teff_reason": (
        "",
        "meta.note",
        "Why a star got no Teff (flag X): the features each model lacked; empty otherwise",
    ),
}
for _p, _t in _PCT_TEXT.items():
    COLUMN_DOC[f"teff_best_{_p}"] = (
        "K",
        "phys.temperature.effective;stat.percentile",
        f"{_t} percentile of teff_best (calibrated; see teff_best_err_source)",
    )


def column_doc(name: str) -> tuple[str, str]:
    """(unit, full description) of a catalogue column."""
    unit, _, text = column_meta(name)
    return unit, text


def column_ucd(name: str) -> str:
    """IVOA UCD of a catalogue column (VOTable UCD, FITS TUCDn)."""
    return column_meta(name)[1]


def column_meta(name: str) -> tuple[str, str, str]:
    """(unit, UCD, description) of a catalogue column."""
    if name in COLUMN_DOC:
        return COLUMN_DOC[name]
    model = name[5:]
    for p, t in _PCT_TEXT.items():
        if name.endswith(f"_{p}"):
            return (
                "K",
                "phys.temperature.effective;stat.percentile",
                f"{t} percentile of the Teff of model {model[: -len(p) - 1]} (calibrated on the "
                "calibration split, corrected GSP-Phot scale)",
            )
    if name.endswith("_err"):
        return (
            "K",
            "stat.error;phys.temperature.effective",
            f"Symmetric 1-sigma uncertainty of model {model[:-4]}: (p84 - p16) / 2 of its "
            "calibrated percentiles",
        )
    return (
        "K",
        "phys.temperature.effective",
        f"Teff predicted by model {model} (mean of its trees, corrected GSP-Phot scale)",
    )


def _fits_fits(key: str, value, comment: str) -> bool:
    """Whether ``key = value / comment`` fits on one 80-character card."""
    from astropy.io import fits

    return len(fits.Card(key, value).image.rstrip()) + 3 + len(comment) <= 80


def _fits_card(key: str, value, comment: str):
    """A header card whose comment is kept whole: a comment that does not fit beside its value
    goes, in full, into COMMENT cards after it (astropy would cut it at 80 characters)."""
    from astropy.io import fits

    if _fits_fits(key, value, comment):
        return [fits.Card(key, value, comment)]
    import textwrap

    lines = textwrap.wrap(f"{key}: {comment}", 72, break_on_hyphens=False)
    return [fits.Card(key, value)] + [fits.Card("COMMENT", line) for line in lines]


def _describe(hdu, names, header: dict[str, tuple]) -> None:
    """Column descriptions (TTYPEn comment, TCOMMn, TUCDn) and the provenance cards."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", VerifyWarning)  # a cut card is a bug here, not a warning
        for i, name in enumerate(names, start=1):
            unit, ucd, text = column_meta(name)
            if _fits_fits(f"TTYPE{i}", name, text):
                hdu.header.comments[f"TTYPE{i}"] = text
            hdu.header[f"TCOMM{i}"] = text
            hdu.header[f"TUCD{i}"] = ucd
        for key, (value, comment) in header.items():
            for card in _fits_card(key, value, comment):
                hdu.header.append(card, bottom=True)  # a COMMENT right after its card


def write_fits(cat: pl.DataFrame, path: str | os.PathLike, header: dict[str, tuple]) -> None:
    """FITS binary table with units, whole column descriptions, provenance header cards and
    CHECKSUM/DATASUM (reproducible: their comment is fixed, not the time of writing).

    Each column's description is its TCOMMn card (a long string continued over CONTINUE cards
    as the FITS standard allows), its UCD its TUCDn card; TTYPEn keeps the description as its
    comment when it fits on the card.
    """
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
            fmt = "J" if s.dtype in (pl.Int32, pl.Int16, pl.Int8) else "K"
            cols.append(fits.Column(name=name, format=fmt, array=s.to_numpy()))
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
    _describe(hdu, cat.columns, header)
    primary = fits.PrimaryHDU()
    for h in (primary, hdu):
        h.add_checksum(when="HDU checksum (ones' complement, FITS standard)")
    with atomic_output(path) as tmp:
        fits.HDUList([primary, hdu]).writeto(tmp)


def write_fits_batches(
    parquet_path: str | os.PathLike,
    path: str | os.PathLike,
    header: dict[str, tuple],
    batch_rows: int = 100_000,
) -> None:
    """The FITS twin of a Parquet catalogue (as :func:`write_fits` writes it, with the same
    column descriptions), streamed: the table is read and its rows written batch by batch, so
    memory holds one batch. No CHECKSUM/DATASUM cards: they would need the whole data first."""
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
        elif d in (pl.Int32, pl.Int16, pl.Int8):  # as write_fits: flag_bits is J
            cols.append(fits.Column(name=name, format="J"))
            dtype.append((name, ">i4"))
        elif d.is_integer():
            cols.append(fits.Column(name=name, format="K"))
            dtype.append((name, ">i8"))
        else:
            cols.append(fits.Column(name=name, format="D", unit=unit or None))
            dtype.append((name, ">f8"))
    hdu = fits.BinTableHDU.from_columns(cols, nrows=0, name="EB_TEFF")
    _describe(hdu, schema.names(), header)
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


def write_csv(cat: pl.DataFrame, path: str | os.PathLike) -> None:
    """CSV twin of the catalogue: a header row of column names, empty fields for nulls."""
    from .io import atomic_output

    with atomic_output(path) as tmp:
        cat.write_csv(tmp, null_value="")


def _votable_dtype(s: pl.Series) -> str:
    """Binary form of a catalogue column in the VOTable: fixed-width ASCII (``char``) for
    strings, UTF-16 (``unicodeChar``, width in code units) for strings that are not all ASCII
    (nulls written empty), big-endian int/long for integer columns without nulls, double
    otherwise (nulls flagged in the row's null mask and written NaN)."""
    if s.dtype == pl.String:
        if bool(s.str.contains(r"[^\x00-\x7f]").any()):  # VOTable char is ASCII: UTF-16 then
            units = s.fill_null("").map_elements(
                lambda v: len(v.encode("utf_16_be")) // 2, return_dtype=pl.Int64
            )
            return f"U{max(1, int(units.max() or 1))}"
        return f"S{max(1, int(s.str.len_bytes().max() or 1))}"
    if s.dtype.is_integer() and s.null_count() == 0:
        return ">i4" if s.dtype in (pl.Int32, pl.Int16, pl.Int8, pl.UInt8, pl.UInt16) else ">i8"
    return ">f8"


def write_votable(
    cat: pl.DataFrame, path: str | os.PathLike, description: str, batch_rows: int = 100_000
) -> None:
    """VOTable (BINARY2 serialisation) with units, UCDs and a description per column.

    The XML around the data is astropy's (a one-row table with the same fields, units, UCDs
    and descriptions); the rows are packed by numpy and base64-encoded batch by batch, straight
    into the file, so memory holds one batch. BINARY2 (VOTable 1.3, section 5.6): each row is a
    null mask of one bit per field, most significant bit first, then each field's value,
    big-endian. astropy's own writer packs row by row in Python and keeps the whole stream in
    memory twice: minutes and several GB for the full catalogue.
    """
    import base64
    import io
    import re

    from astropy.io.votable.tree import VOTableFile
    from astropy.table import MaskedColumn, Table

    from .io import atomic_output

    names = cat.columns
    dtypes = [_votable_dtype(cat[name]) for name in names]
    # the XML: astropy's, around the stream of a one-row table of the same columns
    first = Table()
    for name, dt in zip(names, dtypes, strict=True):
        unit, _ = column_doc(name)
        if dt == ">f8":
            first[name] = MaskedColumn(np.zeros(1), mask=[True], unit=unit or None)
        else:  # U<n>: astropy declares unicodeChar of n characters
            first[name] = np.zeros(1, dtype=dt.lstrip(">"))
    vot = VOTableFile.from_table(first, table_id="eb_teff_catalog")
    vot.set_all_tables_format("binary2")  # compact; TOPCAT and astropy read it
    resource_table = vot.get_first_table()
    resource_table.description = description
    for field in resource_table.fields:
        unit, ucd, text = column_meta(field.name)
        field.ucd = ucd
        field.description = text
    xml = io.BytesIO()
    vot.to_xml(xml)
    text = xml.getvalue()
    match = re.search(rb'<STREAM encoding="base64">\s*[A-Za-z0-9+/=]*\s*(?=</STREAM>)', text)
    head = text[: match.start()] + b'<STREAM encoding="base64">\n'
    tail = text[match.end() :]
    packed = [f"S{2 * int(dt[1:])}" if dt.startswith("U") else dt for dt in dtypes]
    row = np.dtype(
        [("null", "u1", ((len(names) + 7) // 8,))] + [(f"c{i}", dt) for i, dt in enumerate(packed)]
    )
    batch_rows = max(1, batch_rows)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        carry = b""  # base64 encodes 3 bytes at a time: the remainder goes with the next batch
        for lo in range(0, cat.height, batch_rows):
            frame = cat.slice(lo, batch_rows)
            rec = np.zeros(frame.height, dtype=row)
            null = np.zeros((frame.height, len(names)), dtype=bool)
            for i, (name, dt) in enumerate(zip(names, dtypes, strict=True)):
                col = frame[name]
                if dt.startswith("S"):
                    rec[f"c{i}"] = col.fill_null("").cast(pl.Binary).to_numpy().astype(dt)
                elif dt.startswith("U"):
                    rec[f"c{i}"] = [v.encode("utf_16_be") for v in col.fill_null("")]
                elif dt == ">f8":
                    null[:, i] = col.is_null().to_numpy()
                    rec[f"c{i}"] = col.cast(pl.Float64).fill_null(np.nan).to_numpy()
                else:
                    rec[f"c{i}"] = col.to_numpy()
            rec["null"] = np.packbits(null, axis=1)  # bit order: big, as BINARY2 has it
            data = carry + rec.tobytes()
            cut = len(data) - len(data) % 3
            if cut:
                fh.write(base64.b64encode(data[:cut]) + b"\n")
            carry = data[cut:]
        if carry:
            fh.write(base64.b64encode(carry) + b"\n")
        fh.write(tail)
