"""Calibrated uncertainties: from the spread of the trees to an error bar that means something.

The spread of a forest's trees is not an error bar (the earlier pipeline's was too small by a
factor of ~4). Per bin of predicted Teff, the calibration split fixes

    sigma = k * sqrt(floor^2 + spread^2)

with two numbers (k, floor) chosen so that exactly 68.27% of calibration stars have
|prediction - label| <= sigma and as close as possible to 95.45% have it <= 2 sigma. The floor
captures error the trees do not see (label noise, blends); the spread keeps the ranking of stars.
Bins with too few calibration stars use the calibration of all stars.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .evaluate import TEFF_BIN_EDGES, bin_labels

ONE_SIGMA = 0.682689492
TWO_SIGMA = 0.954499736
MIN_STARS = 100


def _fit_bin(err: np.ndarray, spread: np.ndarray) -> dict:
    """(k, floor) for one bin: 68.27% within 1 sigma exactly, 95.45% within 2 sigma nearest."""
    abs_err = np.abs(err)
    scale = float(np.median(spread)) if np.median(spread) > 0 else float(np.mean(abs_err) + 1e-9)
    best = None
    for ratio in np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 121)]):
        floor = ratio * scale
        base = np.sqrt(floor**2 + spread**2)
        base = np.where(base > 0, base, 1e-9)
        k = float(np.quantile(abs_err / base, ONE_SIGMA))
        cov2 = float(np.mean(abs_err <= 2 * k * base))
        if best is None or abs(cov2 - TWO_SIGMA) < abs(best["coverage_2sigma"] - TWO_SIGMA):
            best = {"k": k, "floor_k": floor, "coverage_2sigma": cov2}
    best["coverage_1sigma"] = float(
        np.mean(abs_err <= best["k"] * np.sqrt(best["floor_k"] ** 2 + spread**2))
    )
    best["n"] = int(err.size)
    return best


def fit_calibration(pred, spread, label, edges=TEFF_BIN_EDGES) -> dict:
    """Calibration per bin of predicted Teff, from calibration-split predictions and labels."""
    pred, spread, label = (np.asarray(a, dtype=float) for a in (pred, spread, label))
    ok = np.isfinite(pred) & np.isfinite(spread) & np.isfinite(label)
    pred, spread, label = pred[ok], spread[ok], label[ok]
    if pred.size < MIN_STARS:
        raise ValueError(
            f"only {pred.size} calibration stars; at least {MIN_STARS} are needed to calibrate "
            "uncertainties (enlarge the calibration split or the catalogue)"
        )
    overall = _fit_bin(pred - label, spread)
    bins = {}
    for name, lo, hi in zip(bin_labels(edges), edges[:-1], edges[1:], strict=True):
        sel = (pred >= lo) & (pred < hi)
        bins[name] = (
            _fit_bin(pred[sel] - label[sel], spread[sel]) if sel.sum() >= MIN_STARS else None
        )
    return {
        "edges": list(edges),
        "overall": overall,
        "bins": bins,
        "formula": "sigma = k * sqrt(floor_k^2 + spread^2), (k, floor_k) per predicted-Teff bin",
    }


def apply_calibration(calibration: dict, pred, spread) -> np.ndarray:
    """Calibrated sigma (K) for predictions and tree spreads; NaN where the prediction is NaN."""
    pred = np.asarray(pred, dtype=float)
    spread = np.asarray(spread, dtype=float)
    edges = calibration["edges"]
    sigma = np.full(pred.shape, np.nan)
    idx = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, len(edges) - 2)
    names = bin_labels(edges)
    for i, name in enumerate(names):
        par = calibration["bins"].get(name) or calibration["overall"]
        sel = idx == i
        sigma[sel] = par["k"] * np.sqrt(par["floor_k"] ** 2 + spread[sel] ** 2)
    return np.where(np.isfinite(pred), sigma, np.nan)


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
