"""The best-of-three catalogue, per star: one row per input star, its percentiles and flags.

Per star, among the models that could predict it, the one with the smallest calibrated error
gives ``teff_best`` (its percentiles calibrated once more for having been chosen); a star with a
GSP-Phot Teff keeps that (hot-star corrected) value instead and is flagged A, with percentiles
from the scatter of the corrected label against the reference sample
(:func:`fit_label_calibration`) or from GSP-Phot's own 16th/84th percentiles where the input has
them and they are the wider (:func:`label_percentiles`). The flags
and flag bits are :mod:`ebteff.flags`; what each column means is :mod:`ebteff.columns`; the
FITS, CSV and VOTable files are :mod:`ebteff.writers`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    check_parameter,
    conformal_quantile,
    fit_calibration,
    half_width,
    outside_range,
)
from .columns import PERCENTILE_SOURCES
from .features import prepare_photometry
from .flags import (
    FLAG_BITS,
    MODEL_BIT0,
    NO_FEATURES_REASON,
    RECOMMENDED_CUT,
    assign_flags,
    flag_bits,
    novelty_reason,
    recommended,
)
from .novelty import is_novel, novelty_score

GAIA = "gaia"
#: GSP-Phot's teff_gspphot_lower/upper are its 16th and 84th percentiles; the 5th and 95th are
#: extrapolated from them per side as for a Gaussian in ln Teff (1.645 / 1.0 sigma).
GAUSS_90_OVER_68 = 1.6448536269514722
MIN_LABEL_BIN_STARS = 50  # reference stars per bin of the label scatter (sparse bins merged)

#: Gaia Archive names of GSP-Phot's 16th and 84th Teff percentiles, used when the input has them.
GSPPHOT_PERCENTILES = ("teff_gspphot_lower", "teff_gspphot_upper")

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


@dataclass(frozen=True)
class ModelChoice:
    """Per star, the model chosen among several (:func:`choose_model`): its value, calibrated
    error, name ('' where none) and percentiles (n, 5); and per model whether it predicted the
    star, whether the star lies beyond its training range (None: no range) and the star's
    novelty score (None: no novelty)."""

    value: np.ndarray
    err: np.ndarray
    source: np.ndarray
    percentiles: np.ndarray
    predicted: dict[str, np.ndarray]
    outside: dict[str, np.ndarray | None]
    novelty: dict[str, np.ndarray | None]


#: z of the published percentiles under a Gaussian, for a model frame without percentiles.
_GAUSS_Z = np.array([-1.6449, -1, 0, 1, 1.6449])


def choose_model(df: pl.DataFrame, key: str, models: list[str]) -> ModelChoice:
    """The best of ``models`` per star, from their columns in ``df`` (:func:`model_columns`:
    ``{key}_{m}``, ``_err``, ``_p05`` ... ``_p95`` and, when present, ``_novelty`` and
    ``_outside``), for Teff (``key`` "teff") and the other parameters alike.

    A model to which the star is novel cannot be chosen (docs/novelty.md): one to which it is
    not wins whatever the errors, and a star novel to every model that predicted it gets none.
    Among the rest the smallest calibrated error wins (:func:`best_of`; ties go to the first
    model in config order). A model frame without percentiles gets log-normal ones from its
    error (Teff's scale).
    """
    value = {m: _numpy(df, f"{key}_{m}") for m in models}
    err = {m: _numpy(df, f"{key}_{m}_err") for m in models}
    novelty = {
        m: _numpy(df, f"{key}_{m}_novelty") if f"{key}_{m}_novelty" in df.columns else None
        for m in models
    }
    novel = {
        m: is_novel(score) if score is not None else np.zeros(df.height, bool)
        for m, score in novelty.items()
    }
    best, best_err, source = best_of(value, {m: np.where(novel[m], np.nan, err[m]) for m in models})
    q = np.full((df.height, len(PERCENTILE_NAMES)), np.nan)
    for m in models:
        sel = source == m
        if f"{key}_{m}_p05" in df.columns:  # only the winner's rows of each percentile
            q[sel] = np.stack([_numpy(df, f"{key}_{m}_{p}")[sel] for p in PERCENTILE_NAMES], 1)
        else:
            q[sel] = best[sel, None] * np.exp(_GAUSS_Z * (best_err[sel] / best[sel])[:, None])
    outside = {
        m: df[c].fill_null(False).to_numpy() if (c := f"{key}_{m}_outside") in df.columns else None
        for m in models
    }
    predicted = {m: np.isfinite(v) for m, v in value.items()}
    return ModelChoice(best, best_err, source, q, predicted, outside, novelty)


def percentile_columns(prefix: str, q: np.ndarray) -> list[pl.Series]:
    """``{prefix}_p05`` ... ``_p95`` from percentiles (n, 5), NaN as null."""
    return [
        pl.Series(f"{prefix}_{p}", q[:, i]).fill_nan(None) for i, p in enumerate(PERCENTILE_NAMES)
    ]


def prefer_label(has_label, label, label_q, ml, ml_q, ml_source):
    """A parameter's best value, percentiles and source per star: the GSP-Phot label's where
    the star has one (source :data:`GAIA`), the chosen model's elsewhere."""
    return (
        np.where(has_label, label, ml),
        np.where(has_label[:, None], label_q, ml_q),
        np.where(has_label, GAIA, ml_source),
    )


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
    name: str,
    calibration: dict,
    pred: pl.DataFrame,
    photometry: pl.DataFrame | None = None,
    parameter=None,
) -> pl.DataFrame:
    """One model's catalogue columns from its raw outputs and its stored calibration (no labels):
    source_id, teff_{name}, its percentiles teff_{name}_p05 ... _p95, teff_{name}_err
    = (p84 - p16) / 2, and, with ``photometry`` (source_id and the model's features; derived
    colours included), teff_{name}_outside (beyond the training range; not a catalogue column)
    and, when the calibration has a ``novelty`` (:mod:`ebteff.novelty`), teff_{name}_novelty.
    A model of log g or [M/H] (its calibration's ``parameter``) gives logg_{name}... or
    mh_{name}... in dex instead; with ``parameter`` the calibration must be of it.
    """
    key = check_parameter(calibration, parameter).key
    teff, _, q = calibrated_distribution(
        calibration,
        pred[f"{key}_{name}_raw"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        pred[f"{key}_{name}_spread"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    cols = [pl.Series(f"{key}_{name}", teff)]
    cols += [pl.Series(f"{key}_{name}_{p}", q[:, i]) for i, p in enumerate(PERCENTILE_NAMES)]
    cols.append(pl.Series(f"{key}_{name}_err", half_width(q)))
    out = pred.select("source_id").with_columns(c.fill_nan(None) for c in cols)
    ranges = calibration.get("feature_range") or {}
    novelty = calibration.get("novelty")
    needed = list(dict.fromkeys([*ranges, *(novelty["features"] if novelty else [])]))
    if photometry is not None and needed:
        feats = (
            pred.select("source_id")
            .join(photometry.select("source_id", *needed), on="source_id", how="left")
            .select(pl.col(f).cast(pl.Float64).fill_null(np.nan) for f in needed)
        )
        values = {f: feats[f].to_numpy() for f in needed}
        if ranges:
            outside = outside_range(calibration, values)
            out = out.with_columns(pl.Series(f"{key}_{name}_outside", outside))
        if novelty:
            # only where the model gave a Teff: a star it cannot predict is not novel to it
            score = np.where(np.isfinite(teff), novelty_score(novelty, values), np.nan)
            out = out.with_columns(pl.Series(f"{key}_{name}_novelty", score).fill_nan(None))
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
    'reference' (the label's scatter against the reference sample, :func:`fit_label_calibration`)
    or 'gspphot' (its own 16th/84th percentiles ``lower``/``upper``, on the corrected scale),
    whichever p16-p84 interval is the wider where both exist; '' (NaN) where neither does.

    GSP-Phot's own intervals are its MCMC's: for bright stars they are far narrower than its
    errors (the 109 flag-A Gaia FGK Benchmark Stars: median half-width 0.06%, holding 1 of
    their reference Teffs; the reference scatter's 2.7% holds 49%, docs/uncertainties.md), so
    a star's own interval is kept only where it is the wider one."""
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
        own = has & np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (lo <= label) & (hi >= label)
        # ... and no narrower than the reference's interval where there is one
        own &= ~(np.isfinite(q[:, 3]) & np.isfinite(q[:, 1]) & (hi - lo < q[:, 3] - q[:, 1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            # extrapolated in ln Teff, so the 5th percentile stays positive
            down, up = np.log(label / lo), np.log(hi / label)
            q[own] = np.stack(
                [
                    label * np.exp(-GAUSS_90_OVER_68 * down),
                    lo,
                    label,
                    hi,
                    label * np.exp(GAUSS_90_OVER_68 * up),
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
    A star with a GSP-Phot Teff gets percentiles from ``label_calibration``
    (:func:`fit_label_calibration`) or its own lower/upper, the wider (:func:`label_percentiles`);
    without either they are null, which
    :func:`check_uncertainties` refuses for a published catalogue.
    """
    extra = [c for c in ("split", "teff_gspphot_lower", "teff_gspphot_upper") if c in base.columns]
    models = list(predictions)
    # each model's columns put in base's row order on their own, then side by side: joined one
    # after the other, every join would copy all the columns before it
    parts = [base]
    for m, pred in predictions.items():
        keep = [c for c in pred.columns if c == "source_id" or c.startswith(f"teff_{m}")]
        part = base.select("source_id").join(
            pred.select(keep), on="source_id", how="left", maintain_order="left"
        )
        if part.height != base.height:
            raise ValueError("predictions hold duplicate source_id values")
        parts.append(part.drop("source_id"))
    df = pl.concat(parts, how="horizontal")
    del parts
    choice = choose_model(df, "teff", models)
    ml_teff, ml_sigma, ml_source, ml_q = (
        choice.value,
        choice.err,
        choice.source,
        choice.percentiles,
    )
    refused = ~np.isfinite(ml_teff) & np.any(list(choice.predicted.values()), axis=0)
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
    best, best_q, source = prefer_label(has_gaia, gaia, lab_q, ml_teff, ml_q, ml_source)
    best_err = half_width(best_q)
    pct_source = np.where(has_gaia, lab_src, np.where(np.isfinite(ml_teff), "model", ""))
    flags = assign_flags(has_gaia, ml_sigma)
    bits = flag_bits(
        has_label=has_gaia,
        best_source=source,
        models=models,
        predicted=choice.predicted,
        outside=choice.outside,
        teff_best=best,
        split=(df["split"].cast(pl.String).to_numpy() if "split" in extra else None),
    )
    reason = np.where(
        np.isfinite(best),
        None,
        np.where(
            refused,
            novelty_reason(models, choice.novelty, refused),
            NO_FEATURES_REASON,
        ),
    )
    drop = [*extra, *(c for c in df.columns if c.endswith("_outside"))]
    return df.drop(drop).with_columns(
        pl.Series("teff_best", best).fill_nan(None),
        *percentile_columns("teff_best", best_q),
        pl.Series("teff_best_err", best_err).fill_nan(None),
        pl.Series("teff_best_source", source.astype(str)),
        pl.Series("teff_best_err_source", pct_source.astype(str)),
        pl.Series("teff_ml_best", ml_teff).fill_nan(None),
        pl.Series("teff_ml_best_err", ml_sigma).fill_nan(None),
        pl.Series("teff_ml_best_source", ml_source.astype(str)),
        pl.Series("flag", flags.astype(str)),
        pl.Series("flag_bits", bits),
        pl.Series("no_teff_reason", reason.tolist(), dtype=pl.String),
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
        # docs/novelty.md: stars novel to each model, and those refused for it (flag X)
        "novel_to_model": {
            m: int((cat[f"teff_{m}_novelty"] > 1).sum())
            for m in models
            if f"teff_{m}_novelty" in cat.columns
        },
        "refused_for_novelty": int(
            cat["no_teff_reason"].fill_null("").str.contains("novel to every model").sum()
        )
        if "no_teff_reason" in cat.columns
        else 0,
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
