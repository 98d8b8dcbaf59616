"""Calibrated uncertainties: from the spread of the trees to an error bar that means something.

The spread of a forest's trees is not an error bar (the earlier pipeline's was too small by a
factor of ~4), and the errors of a Teff model are not Gaussian: they grow with Teff, have heavy
tails where labels are degenerate, and regress to the mean at the ends of the range. So the
calibration is local in predicted Teff and has three free numbers per bin:

    sigma = k * (floor_k^2 + spread^2)^(p/2)

fitted on the calibration split (stars no tree was trained on) in narrow bins of *predicted*
Teff (``CALIBRATION_EDGES``; a bin with fewer than ``MIN_BIN_STARS`` calibration stars is merged
with its smaller neighbour). Per bin, (k, floor_k, p) are chosen so that the fractions of stars
with |prediction - label| <= sigma and <= 2 sigma are as close as possible to the Gaussian
68.27% and 95.45%, measured as the larger of the two misses in units of the tolerances
(3 and 2 points): the floor carries error the trees do not see (label noise, blends), the
exponent p lets a heavy-tailed bin put its large errors on the stars whose trees disagree most.
The result is a plain table of numbers (JSON), applied by :func:`apply_calibration`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .correction import Correction
from .evaluate import TEFF_BIN_EDGES, bin_labels

ONE_SIGMA = 0.682689492
TWO_SIGMA = 0.954499736
TOLERANCE_1SIGMA = 0.03
TOLERANCE_2SIGMA = 0.02
MIN_STARS = 100  # calibration stars below which a model cannot be calibrated at all
MIN_BIN_STARS = 200  # a calibration bin with fewer is merged with its smaller neighbour
# Bin edges (K) of predicted Teff for the calibration; finer than the reporting bins because the
# error distribution changes quickly where labels are degenerate (above ~8,000 K).
CALIBRATION_EDGES = (0, 4000, 4500, 5000, 5500, 6000, 7000, 8000, 10000, 15000, 25000, None)
_EXPONENTS = (0.5, 0.75, 1.0, 1.5, 2.0)
_FLOOR_RATIOS = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 25)])
_QUANTILES = np.linspace(0.60, 0.76, 33)


def _miss(c1, c2):
    """Larger of the two coverage misses, in units of their tolerances (< 1: within both)."""
    return np.maximum(
        np.abs(c1 - ONE_SIGMA) / TOLERANCE_1SIGMA, np.abs(c2 - TWO_SIGMA) / TOLERANCE_2SIGMA
    )


def _sigma(par: dict, spread: np.ndarray) -> np.ndarray:
    return par["k"] * (par["floor_k"] ** 2 + spread**2) ** (par["p"] / 2)


def _fit_bin(abs_err: np.ndarray, spread: np.ndarray) -> dict:
    """(k, floor_k, p) for one bin of calibration stars (see the module docstring)."""
    scale = float(np.median(spread))
    if not scale > 0:
        scale = float(np.median(abs_err)) + 1.0
    n = abs_err.size
    best = None
    for p in _EXPONENTS:
        for ratio in _FLOOR_RATIOS:
            floor = float(ratio * scale)
            base = (floor**2 + spread**2) ** (p / 2)
            base = np.where(base > 0, base, np.finfo(float).tiny)
            z = np.sort(abs_err / base)
            ks = np.quantile(z, _QUANTILES)
            c1 = np.searchsorted(z, ks, side="right") / n
            c2 = np.searchsorted(z, 2 * ks, side="right") / n
            score = _miss(c1, c2) + 1e-3 * np.abs(c1 - ONE_SIGMA)  # ties: nearer 68.27%
            i = int(np.argmin(score))
            if best is None or score[i] < best[0] - 1e-12:
                best = (
                    float(score[i]),
                    {"k": float(ks[i]), "floor_k": floor, "p": p},
                    float(c1[i]),
                    float(c2[i]),
                )
    _, par, c1, c2 = best
    return {**par, "n": int(n), "coverage_1sigma": c1, "coverage_2sigma": c2}


def _bin_edges(pred: np.ndarray, edges=CALIBRATION_EDGES, min_stars: int = MIN_BIN_STARS) -> list:
    """Calibration edges with sparse bins merged into their smaller neighbour."""
    edges = list(edges)

    def counts(e):
        idx = np.searchsorted(np.array(e[1:-1], dtype=float), pred, side="right")
        return np.bincount(idx, minlength=len(e) - 1)

    while len(edges) > 2:
        cnt = counts(edges)
        i = int(np.argmin(cnt))
        if cnt[i] >= min_stars:
            break
        if i == 0:
            del edges[1]
        elif i == len(cnt) - 1:
            del edges[-2]
        else:
            del edges[i if cnt[i - 1] < cnt[i + 1] else i + 1]
    return edges


def _bin_name(lo, hi) -> str:
    return f"{int(lo)}+" if hi is None else f"{int(lo)}-{int(hi)}"


def fit_calibration(
    pred, spread, label, edges=CALIBRATION_EDGES, min_bin_stars=MIN_BIN_STARS
) -> dict:
    """Calibration per bin of predicted Teff, from calibration-split predictions and labels."""
    pred, spread, label = (np.asarray(a, dtype=float) for a in (pred, spread, label))
    ok = np.isfinite(pred) & np.isfinite(spread) & np.isfinite(label)
    pred, spread, label = pred[ok], spread[ok], label[ok]
    if pred.size < MIN_STARS:
        raise ValueError(
            f"only {pred.size} calibration stars; at least {MIN_STARS} are needed to calibrate "
            "uncertainties (enlarge the calibration split or the catalogue)"
        )
    abs_err = np.abs(pred - label)
    merged = _bin_edges(pred, edges, min_bin_stars)
    bins = []
    for lo, hi in zip(merged[:-1], merged[1:], strict=True):
        sel = (pred >= lo) & (pred < (np.inf if hi is None else hi))
        bins.append(
            {"name": _bin_name(lo, hi), "lo": lo, "hi": hi, **_fit_bin(abs_err[sel], spread[sel])}
        )
    calibration = {
        "formula": "sigma = k * (floor_k^2 + spread^2)^(p/2); (k, floor_k, p) per bin of "
        "predicted Teff [lo, hi) K",
        "bins": bins,
        "min_bin_stars": int(min_bin_stars),
        "targets": {"within_1sigma": ONE_SIGMA, "within_2sigma": TWO_SIGMA},
    }
    return calibration


def _bin_index(bins: list[dict], pred: np.ndarray) -> np.ndarray:
    lows = np.array([b["lo"] for b in bins[1:]], dtype=float)
    return np.searchsorted(lows, pred, side="right")  # below the first edge: the first bin


def apply_calibration(calibration: dict, pred, spread) -> np.ndarray:
    """Calibrated sigma (K) for predictions and tree spreads; NaN where the prediction is NaN."""
    pred = np.asarray(pred, dtype=float)
    spread = np.asarray(spread, dtype=float)
    bins = calibration["bins"]
    idx = _bin_index(bins, pred)
    sigma = np.full(pred.shape, np.nan)
    for i, par in enumerate(bins):
        sel = idx == i
        sigma[sel] = _sigma(par, spread[sel])
    return np.where(np.isfinite(pred) & np.isfinite(spread), sigma, np.nan)


def coverage_report(pred, sigma, label, edges=TEFF_BIN_EDGES, bin_by=None) -> dict:
    """Fractions within 1 and 2 sigma, z statistics and PIT spread, overall and per bin.

    Bins are of ``bin_by`` (default: the label). PIT = Phi(z) for Gaussian errors; a calibrated
    sigma gives a PIT standard deviation of 1/sqrt(12) = 0.289.
    """
    pred, sigma, label = (np.asarray(a, dtype=float) for a in (pred, sigma, label))
    key = label if bin_by is None else np.asarray(bin_by, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(sigma) & np.isfinite(label) & (sigma > 0)

    def stats(sel):
        n = int(sel.sum())
        if n == 0:
            return {"n": 0}
        z = (pred[sel] - label[sel]) / sigma[sel]
        pit = ndtr(z)
        return {
            "n": n,
            "within_1sigma": float(np.mean(np.abs(z) <= 1)),
            "within_2sigma": float(np.mean(np.abs(z) <= 2)),
            "z_mean": float(np.mean(z)),
            "z_std": float(np.std(z)),
            "pit_std": float(np.std(pit)),
            "pit_histogram": np.histogram(pit, bins=10, range=(0, 1))[0].tolist(),
            "sigma_median_k": float(np.median(sigma[sel])),
        }

    per_bin = {}
    for name, lo, hi in zip(bin_labels(edges), edges[:-1], edges[1:], strict=True):
        per_bin[name] = stats(ok & (key >= lo) & (key < hi))
    return {"overall": stats(ok), "per_bin": per_bin}


def split_report(pred, spread, sigma, label) -> dict:
    """Coverage of one split: calibrated sigma per bin of the label and of the prediction, and
    the raw tree spread for comparison."""
    return {
        "by_label_bin": coverage_report(pred, sigma, label),
        "by_predicted_bin": coverage_report(pred, sigma, label, bin_by=pred),
        "raw_tree_spread": coverage_report(pred, spread, label),
    }


def rescale_for(target: str, correction: Correction) -> dict | None:
    """How a model's output reaches the catalogue's Teff scale (corrected GSP-Phot).

    A model of the raw GSP-Phot Teff (``teff_gaia``) predicts on the scale whose hot end the
    correction exists to fix; its predictions go through the same correction as its labels.
    Stored in the calibration file, so the file alone turns a model's output into a catalogue
    Teff and sigma.
    """
    if target != "teff_gaia":
        return None
    return {
        "from": "teff_gaia",
        "to": "teff_gaia_corrected",
        "coefficients": list(correction.coefficients),
        "threshold": correction.threshold,
        "width": correction.width,
    }


def to_catalogue_scale(rescale: dict | None, teff, spread):
    """(Teff, tree spread) on the catalogue scale; the spread scales with the correction's slope."""
    teff = np.asarray(teff, dtype=float)
    spread = np.asarray(spread, dtype=float)
    if not rescale:
        return teff, spread
    corr = Correction(tuple(rescale["coefficients"]), rescale["threshold"], rescale["width"])
    slope = corr.apply(teff + 0.5) - corr.apply(teff - 0.5)  # per kelvin
    return corr.apply(teff), spread * np.abs(slope)


def calibrated_teff(calibration: dict, teff, spread):
    """A model's raw output (Teff and tree spread, K) -> catalogue Teff and calibrated sigma."""
    teff, spread = to_catalogue_scale(calibration.get("rescale"), teff, spread)
    return teff, apply_calibration(calibration, teff, spread)
