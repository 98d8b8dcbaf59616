"""The catalogue's quality flags and flag bits: one home for their thresholds and bit values.

``flag`` (docs/design.md): A = GSP-Phot Teff, B = ML with sigma < :data:`FLAG_B_MAX`,
C = ML with sigma < :data:`FLAG_C_MAX`, D = ML with a larger sigma, X = no Teff. ``flag_bits``
says more, one bit per fact (:data:`FLAG_BITS`). Every text that describes them (column
descriptions, the cards, the recommended cut) is built here from these constants.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .calibrate import TRAINING_RANGE_LEVELS
from .novelty import LEVEL as NOVELTY_LEVEL
from .parameters import TEFF, Parameter
from .split import SPLITS

#: Calibrated ML sigma (K) below which a star is flag B, and below which it is flag C.
FLAG_B_MAX = TEFF.flag_b_max
FLAG_C_MAX = TEFF.flag_c_max
#: ``teff_best`` (K) above which a star is hot (``flag_bits`` "hot").
HOT_K = 10_000.0

#: ``flag_bits``: one bit per fact, fixed positions; model i (config order, from 0) of the
#: catalogue sets bit ``MODEL_BIT0 + i`` when it gave teff_best.
FLAG_BITS = {
    "label": 1,  # the star has a GSP-Phot Teff: teff_best is the corrected label (flag A)
    "ml": 2,  # teff_best is an ML prediction (flags B, C, D)
    "features_missing": 4,  # the star lacks the features of at least one model
    "outside_training_range": 8,  # a feature of the model that gave teff_best lies beyond
    # the TRAINING_RANGE_LEVELS percentiles of that model's training stars
    "hot": 16,  # teff_best > HOT_K: the hot-star correction and regression to the mean
    "split_train": 32,  # labelled star in the training split (the models saw its label)
    "split_calibration": 64,  # labelled star in the calibration split
    "split_test": 128,  # labelled star in the test split
}
MODEL_BIT0 = 8

#: Flags of the recommended selection: a Teff, not flag D ...
RECOMMENDED_FLAGS = ("A", "B", "C")
#: ... and not extrapolated by its model (README).
RECOMMENDED_CUT = (
    f"flag in ({', '.join(RECOMMENDED_FLAGS)}) and "
    f"(flag_bits & {FLAG_BITS['outside_training_range']}) == 0"
)

#: What each flag means (model card, dataset card).
FLAG_MEANING = {
    "A": "GSP-Phot Teff (hot-star corrected)",
    "B": f"ML prediction, calibrated sigma < {FLAG_B_MAX:.0f} K",
    "C": f"ML prediction, {FLAG_B_MAX:.0f} K <= sigma < {FLAG_C_MAX:.0f} K",
    "D": f"ML prediction, sigma >= {FLAG_C_MAX:.0f} K",
    "X": "no Teff (no label, and no model had its features or the star is novel to every "
    "model that had them)",
}

#: Short label of each flag (the plots' bars).
FLAG_LABEL = {
    "A": "GSP-Phot",
    "B": f"\u03c3 < {FLAG_B_MAX:.0f} K",
    "C": f"\u03c3 < {FLAG_C_MAX:.0f} K",
    "D": f"\u03c3 \u2265 {FLAG_C_MAX:.0f} K",
    "X": "no Teff",
}

#: The description of the ``flag`` column (FITS TCOMMn, VOTable DESCRIPTION).
FLAG_TEXT = (
    "Quality flag: A = GSP-Phot Teff present (teff_best is the corrected label); B = ML "
    f"prediction with calibrated sigma < {FLAG_B_MAX:.0f} K; C = ML with sigma < "
    f"{FLAG_C_MAX:.0f} K; D = ML with sigma >= {FLAG_C_MAX:.0f} K; X = no Teff (no model had "
    "the features, or the star is novel to every model that had them: no_teff_reason)"
)

#: ``no_teff_reason`` of a catalogue star without a GSP-Phot Teff that no model could predict
#: (``snakemake stars`` names the features each model lacked instead).
NO_FEATURES_REASON = "no GSP-Phot Teff and no model had the star's features"


def novelty_reason(models: list[str], score: dict, rows) -> np.ndarray:
    """``no_teff_reason`` of stars refused for novelty (``rows`` True), '' elsewhere: each model
    that predicted the star and its novelty score (> 1: novel; :mod:`ebteff.novelty`)."""
    rows = np.asarray(rows, dtype=bool)
    out = np.full(rows.shape, "", dtype=object)
    for i in np.flatnonzero(rows):
        parts = [
            f"{m} {score[m][i]:.2f}"
            for m in models
            if score.get(m) is not None and np.isfinite(score[m][i])
        ]
        out[i] = (
            "no GSP-Phot Teff; novel to every model that could predict it (novelty > 1: "
            f"farther from its training stars than {_percent(NOVELTY_LEVEL)}% of held-out stars): "
            + ", ".join(parts)
        )
    return out


def _percent(level: float) -> str:
    return f"{round(100 * level, 6):g}"


_BIT_MEANING = {
    "label": "GSP-Phot label present",
    "ml": "teff_best from an ML model",
    "features_missing": "features of at least one model missing",
    "outside_training_range": "a feature of the model that gave teff_best outside its training "
    f"stars' {'-'.join(_percent(q) for q in TRAINING_RANGE_LEVELS)} percentiles",
    "hot": f"teff_best > {HOT_K:.0f} K",
}

#: The description of the ``flag_bits`` column (FITS TCOMMn, VOTable DESCRIPTION).
BITS_TEXT = "Bit mask: " + "; ".join(
    [
        *(f"{FLAG_BITS[k]} {text}" for k, text in _BIT_MEANING.items()),
        "/".join(str(FLAG_BITS[f"split_{s}"]) for s in SPLITS)
        + f" labelled star in the {'/'.join(SPLITS)} split",
        f"{1 << MODEL_BIT0} << i: model i (MODELi card, from 0) gave teff_best",
    ]
)


def model_bit_comment(i: int) -> str:
    """Comment of the MODELn header card (n from 1) of the catalogue's FITS files."""
    return f"model name; flag_bits bit {MODEL_BIT0 + i - 1} when it won"


def assign_flags(has_gaia: np.ndarray, ml_sigma: np.ndarray, parameter: Parameter = TEFF):
    """A/B/C/D/X per star (thresholds on the calibrated ML sigma, in ``parameter``'s unit:
    :data:`FLAG_B_MAX`/:data:`FLAG_C_MAX` K for Teff, ``flag_b_max``/``flag_c_max`` dex of
    :mod:`ebteff.parameters` for log g and [M/H])."""
    b_max, c_max = parameter.flag_b_max, parameter.flag_c_max
    flag = np.full(has_gaia.shape, "X", dtype=object)
    ml = np.isfinite(ml_sigma)
    flag[ml & (ml_sigma >= c_max)] = "D"
    flag[ml & (ml_sigma < c_max)] = "C"
    flag[ml & (ml_sigma < b_max)] = "B"
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
        for name in SPLITS:
            bits |= np.where(split == name, FLAG_BITS[f"split_{name}"], 0).astype(np.int32)
    return bits


def recommended(cat: pl.DataFrame) -> pl.Series:
    """Rows kept by :data:`RECOMMENDED_CUT`."""
    bit = FLAG_BITS["outside_training_range"]
    return cat["flag"].is_in(list(RECOMMENDED_FLAGS)) & ((cat["flag_bits"] & bit) == 0)
