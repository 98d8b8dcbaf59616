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

Percentiles (p05, p16, p50, p84, p95 and a grid of 1 ... 99%) come from the same bins, by
Mondrian normalised split-conformal prediction: per bin, the signed residuals of the calibration
stars normalised by their calibrated sigma, z = (label - prediction) / sigma, give the
quantiles q_z (:func:`conformal_quantile`, with its finite-sample correction), and a star's
percentile is prediction + q_z * sigma. The errors' asymmetry (regression to the mean makes the
upper tail of predicted-hot stars longer) is in q_z; the per-star width is in sigma.

The percentiles are built in ln Teff (``"space": "ln"`` in the table, :data:`SPACE`): the
normalised residual is z = ln(label / T) / (sigma / T), the relative error over the relative
sigma, and a star's percentile is T * exp(q_z * sigma / T): positive however wide, as the
errors of a temperature are multiplicative. A percentile beyond the Teff range of its bin's
calibration labels (``label_range``) is set to that range's end: where the fitted sigma grows
past anything measured (p = 2 and a huge spread), T * exp(q_z * sigma / T) would otherwise
reach 1e-5 K or 1e14 K, numbers no star had. (For small errors z is the linear one.) sigma itself
is fitted on |T - label| in kelvin as above: it is the error bar whose 1- and 2-sigma coverage
is reported; the conformal quantiles q_z make the percentiles' coverage whatever its scale. A
table without ``space`` (written before) is applied in kelvin, T + q_z * sigma, as it was fitted.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .correction import Correction
from .evaluate import TEFF_BIN_EDGES  # noqa: F401  (re-exported)
from .parameters import TEFF, Parameter, parameter_named

#: What calibrated Gaussian uncertainties give: the fractions within 1 and 2 sigma, and the
#: standard deviation of the PIT (uniform on [0, 1]: 1/sqrt(12)).
ONE_SIGMA = 0.682689492
TWO_SIGMA = 0.954499736
PIT_STD = 12**-0.5
IDEAL = {"within_1sigma": ONE_SIGMA, "within_2sigma": TWO_SIGMA, "pit_std": PIT_STD}
TOLERANCE_1SIGMA = 0.03
TOLERANCE_2SIGMA = 0.02
MIN_STARS = 100  # calibration stars below which a model cannot be calibrated at all
MIN_BIN_STARS = 200  # a calibration bin with fewer is merged with its smaller neighbour
# Bin edges (K) of predicted Teff for the calibration; finer than the reporting bins because the
# error distribution changes quickly where labels are degenerate (above ~8,000 K).
CALIBRATION_EDGES = TEFF.calibration_edges
_EXPONENTS = (0.5, 0.75, 1.0, 1.5, 2.0)
_FLOOR_RATIOS = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 25)])
_QUANTILES = np.linspace(0.60, 0.76, 33)
#: The space the percentiles are built in: ln Teff (see the module docstring).
SPACE = TEFF.scale
#: The published percentiles (StarHorse's) and their column suffixes.
PERCENTILES = (0.05, 0.16, 0.50, 0.84, 0.95)
PERCENTILE_NAMES = ("p05", "p16", "p50", "p84", "p95")
#: Levels of the stored quantile grid of z per bin: the published ones are among them, and the
#: grid gives every star's PIT (:func:`pit`).
GRID_LEVELS = tuple(round(0.01 * i, 2) for i in range(1, 100))


def conformal_quantile(scores, level: float) -> float:
    """Split-conformal quantile of ``scores`` at ``level`` with the finite-sample correction.

    Of n exchangeable scores sorted s_1 <= ... <= s_n, a new score falls at or below s_k with
    probability k / (n + 1). So the upper levels (>= 0.5) take k = ceil((n + 1) level), which
    covers at least ``level``; the lower ones k = floor((n + 1) level), which leaves at most
    ``level`` below. A central interval [q(a), q(1 - a)] thus holds at least 1 - 2a of new
    scores. k is clipped to 1 ... n (a bin too small for the level takes its extreme score).
    """
    z = np.sort(np.asarray(scores, dtype=float))
    n = z.size
    if n == 0:
        raise ValueError("conformal_quantile needs at least one score")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    pos = (n + 1) * level
    # round first: (n + 1) * 0.16 must not become k + 1e-15 and move up an order statistic
    pos = round(pos, 9)
    k = int(np.ceil(pos)) if level >= 0.5 else int(np.floor(pos))
    return float(z[min(max(k, 1), n) - 1])


def _z_grid(z: np.ndarray) -> list[float]:
    return [conformal_quantile(z, q) for q in GRID_LEVELS]


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
    def fmt(x):
        return str(int(x)) if float(x).is_integer() else f"{float(x):g}"

    return f"{fmt(lo)}+" if hi is None else f"{fmt(lo)}-{fmt(hi)}"


def parameter_of_calibration(calibration: dict) -> Parameter:
    """The parameter a stored calibration is on (Teff for a file without ``parameter``)."""
    return parameter_named(calibration.get("parameter"))


def check_parameter(calibration: dict, parameter: Parameter | None) -> Parameter:
    """The calibration's parameter; ValueError when ``parameter`` is given and differs (a log g
    calibration applied as Teff, or the reverse)."""
    own = parameter_of_calibration(calibration)
    if parameter is not None and parameter.key != own.key:
        raise ValueError(
            f"calibration of {own.name} ({own.unit}, model {calibration.get('model', '?')}) "
            f"used as {parameter.name} ({parameter.unit})"
        )
    return own


def check_scale(label, parameter: Parameter) -> None:
    """ValueError when most labels lie outside ``parameter``'s valid range: they are another
    parameter's (log g in dex fitted as Teff in K, or the reverse)."""
    label = np.asarray(label, dtype=float)
    label = label[np.isfinite(label)]
    lo, hi = parameter.valid
    if label.size and np.mean((label < lo) | (label > hi)) > 0.5:
        raise ValueError(
            f"labels (median {np.median(label):.4g}) are not {parameter.name} in "
            f"{parameter.unit}: most lie outside {lo:g}-{hi:g} {parameter.unit}"
        )


def _space(calibration: dict) -> str:
    return calibration.get("space", "linear")


def normalised_residual(space: str, pred, sigma, label) -> np.ndarray:
    """z of a label under a prediction and its calibrated sigma (K): ln(label / T) / (sigma / T)
    in ln space, (label - T) / sigma in linear space; NaN where a Teff is not positive in ln."""
    pred, sigma, label = (np.asarray(a, dtype=float) for a in (pred, sigma, label))
    if space == "linear":
        return (label - pred) / sigma
    if space != "ln":
        raise ValueError(f"unknown calibration space {space!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (pred > 0) & (label > 0)
        return np.where(ok, np.log(np.where(ok, label / pred, 1.0)) * pred / sigma, np.nan)


def quantiles_from_z(calibration: dict, pred, sigma, zq) -> np.ndarray:
    """Teff (K) at normalised residuals ``zq`` (per star, shape (n, levels)) for predictions
    ``pred`` and calibrated sigma ``sigma`` (both K): T * exp(zq * sigma / T) in ln space,
    T + zq * sigma in linear space."""
    pred = np.asarray(pred, dtype=float)[:, None]
    sigma = np.asarray(sigma, dtype=float)[:, None]
    if _space(calibration) == "ln":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return pred * np.exp(zq * (sigma / pred))
    return pred + zq * sigma


def fit_calibration(
    pred,
    spread,
    label,
    edges=None,
    min_bin_stars=MIN_BIN_STARS,
    space=None,
    parameter: Parameter = TEFF,
) -> dict:
    """Calibration per bin of the prediction, from calibration-split predictions and labels in
    ``parameter``'s unit (Teff in K by default); bins ``edges`` and percentiles in ``space``
    default to the parameter's (ln Teff; dex for log g and [M/H]). Labels mostly outside the
    parameter's valid range are refused (:func:`check_scale`)."""
    edges = parameter.calibration_edges if edges is None else edges
    space = parameter.scale if space is None else space
    pred, spread, label = (np.asarray(a, dtype=float) for a in (pred, spread, label))
    ok = np.isfinite(pred) & np.isfinite(spread) & np.isfinite(label)
    if space == "ln":
        ok &= (pred > 0) & (label > 0)
    pred, spread, label = pred[ok], spread[ok], label[ok]
    if pred.size < MIN_STARS:
        raise ValueError(
            f"only {pred.size} calibration stars; at least {MIN_STARS} are needed to calibrate "
            "uncertainties (enlarge the calibration split or the catalogue)"
        )
    check_scale(label, parameter)
    abs_err = np.abs(pred - label)
    merged = _bin_edges(pred, edges, min_bin_stars)
    bins = []
    for lo, hi in zip(merged[:-1], merged[1:], strict=True):
        sel = (pred >= lo) & (pred < (np.inf if hi is None else hi))
        par = _fit_bin(abs_err[sel], spread[sel])
        sig = np.maximum(_sigma(par, spread[sel]), np.finfo(float).tiny)
        grid = _z_grid(normalised_residual(space, pred[sel], sig, label[sel]))
        zq = [grid[GRID_LEVELS.index(q)] for q in PERCENTILES]
        # what a user needs to read off the table: typical interval widths (in its unit)
        t = pred[sel]
        at = quantiles_from_z({"space": space}, t, sig, np.array(zq)[None, :]).T
        u = parameter.unit_suffix
        bins.append(
            {
                "name": _bin_name(lo, hi),
                "lo": lo,
                "hi": hi,
                **par,
                "z_percentiles": zq,
                "z_grid": grid,
                # the range of the bin's calibration labels, which bounds its percentiles
                "label_range": [float(label[sel].min()), float(label[sel].max())],
                f"width_68_median_{u}": float(np.median(at[3] - at[1])),
                f"width_90_median_{u}": float(np.median(at[4] - at[0])),
                f"p50_offset_median_{u}": float(np.median(at[2] - t)),
            }
        )
    formula = (
        "sigma = k * (floor_k^2 + spread^2)^(p/2); (k, floor_k, p) per bin of predicted "
        f"{parameter.name} [lo, hi) {parameter.unit}"
    )
    if space == "ln":
        pct = (
            "Teff_q = T * exp(z_q * sigma / T); z_q per bin: split-conformal quantile of "
            "ln(label / T) / (sigma / T) on the calibration split"
        )
    else:
        pct = (
            f"{parameter.name}_q = prediction + z_q * sigma; z_q per bin: split-conformal "
            "quantile of (label - prediction) / sigma on the calibration split"
        )
    calibration = {
        **({} if parameter is TEFF else {"parameter": parameter.key, "unit": parameter.unit}),
        "space": space,
        "formula": formula,
        "percentile_formula": pct,
        "percentile_levels": list(PERCENTILES),
        "grid_levels": list(GRID_LEVELS),
        "bins": bins,
        "min_bin_stars": int(min_bin_stars),
        "targets": {"within_1sigma": ONE_SIGMA, "within_2sigma": TWO_SIGMA},
    }
    return calibration


def _bin_index(bins: list[dict], pred: np.ndarray) -> np.ndarray:
    lows = np.array([b["lo"] for b in bins[1:]], dtype=float)
    return np.searchsorted(lows, pred, side="right")  # below the first edge: the first bin


def apply_calibration(calibration: dict, pred, spread, parameter=None) -> np.ndarray:
    """Calibrated sigma (in the parameter's unit) for predictions and tree spreads; NaN where
    the prediction is NaN. With ``parameter``, the calibration must be of it."""
    check_parameter(calibration, parameter)
    pred = np.asarray(pred, dtype=float)
    spread = np.asarray(spread, dtype=float)
    bins = calibration["bins"]
    idx = _bin_index(bins, pred)
    sigma = np.full(pred.shape, np.nan)
    for i, par in enumerate(bins):
        sel = idx == i
        sigma[sel] = _sigma(par, spread[sel])
    return np.where(np.isfinite(pred) & np.isfinite(spread), sigma, np.nan)


def apply_percentiles(calibration: dict, pred, spread, sigma=None, parameter=None) -> np.ndarray:
    """Percentiles (Teff in K, log g and [M/H] in dex), shape (n, 5) for ``PERCENTILES``; NaN
    rows where sigma is NaN; in ln space within each bin's ``label_range`` when the table has
    one (T * exp(z * sigma / T) explodes where sigma does). With ``parameter``, the calibration
    must be of it.

    ``sigma`` (the calibrated sigma of ``pred`` and ``spread``) is computed when not given.
    """
    check_parameter(calibration, parameter)
    pred = np.asarray(pred, dtype=float)
    if sigma is None:
        sigma = apply_calibration(calibration, pred, spread)
    bins = calibration["bins"]
    zq = np.array([b["z_percentiles"] for b in bins], dtype=float)
    idx = _bin_index(bins, np.nan_to_num(pred, nan=0.0))
    q = quantiles_from_z(calibration, pred, sigma, zq[idx])
    if _space(calibration) == "ln" and all("label_range" in b for b in bins):
        bounds = np.array([b["label_range"] for b in bins], dtype=float)[idx]
        q = np.clip(q, bounds[:, :1], bounds[:, 1:])
    return q


def pit(calibration: dict, pred, sigma, label) -> np.ndarray:
    """Probability integral transform of labels under the calibrated distribution: the level of
    the label among the stored quantile grid of its bin (linear between grid points, clipped to
    0.01 ... 0.99 beyond it). Uniform when the percentiles are calibrated."""
    pred, sigma, label = (np.asarray(a, dtype=float) for a in (pred, sigma, label))
    bins = calibration["bins"]
    idx = _bin_index(bins, np.nan_to_num(pred, nan=0.0))
    z = normalised_residual(_space(calibration), pred, sigma, label)
    out = np.full(pred.shape, np.nan)
    levels = np.asarray(calibration.get("grid_levels", GRID_LEVELS), dtype=float)
    for i, b in enumerate(bins):
        sel = (idx == i) & np.isfinite(z)
        grid = np.asarray(b["z_grid"], dtype=float)
        # equal grid values (ties) must map to one level: take the middle of their run
        out[sel] = 0.5 * (
            np.interp(z[sel], grid, levels) + np.interp(-z[sel], -grid[::-1], levels[::-1])
        )
    return out


def ks_uniform(u) -> float:
    """Kolmogorov-Smirnov distance of a sample on [0, 1] from the uniform distribution."""
    u = np.sort(np.asarray(u, dtype=float)[np.isfinite(u)])
    n = u.size
    if n == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def percentile_report(
    percentiles, label, pit_values=None, edges=None, bin_by=None, parameter: Parameter = TEFF
):
    """Fraction of labels below each percentile, overall and per bin (of the label, or of
    ``bin_by``; ``parameter``'s report bins unless ``edges``), with the PIT's KS distance and
    histogram when ``pit_values`` is given; widths in the parameter's unit."""
    edges = parameter.report_edges if edges is None else edges
    u = parameter.unit_suffix
    q = np.asarray(percentiles, dtype=float)
    label = np.asarray(label, dtype=float)
    key = label if bin_by is None else np.asarray(bin_by, dtype=float)
    ok = np.isfinite(label) & np.isfinite(q).all(axis=1)

    def stats(sel):
        n = int(sel.sum())
        if n == 0:
            return {"n": 0}
        out = {"n": n}
        for name, col in zip(PERCENTILE_NAMES, q[sel].T, strict=True):
            out[f"below_{name}"] = float(np.mean(label[sel] < col))
        out["within_p16_p84"] = float(
            np.mean((label[sel] >= q[sel, 1]) & (label[sel] <= q[sel, 3]))
        )
        out["within_p05_p95"] = float(
            np.mean((label[sel] >= q[sel, 0]) & (label[sel] <= q[sel, 4]))
        )
        out[f"width_68_median_{u}"] = float(np.median(q[sel, 3] - q[sel, 1]))
        out[f"width_90_median_{u}"] = float(np.median(q[sel, 4] - q[sel, 0]))
        if pit_values is not None:
            p = np.asarray(pit_values, dtype=float)[sel]
            out["pit_ks"] = ks_uniform(p)
            out["pit_histogram"] = np.histogram(p, bins=10, range=(0, 1))[0].tolist()
        return out

    per_bin = {}
    for name, lo, hi in zip(parameter.bin_labels(edges), edges[:-1], edges[1:], strict=True):
        per_bin[name] = stats(ok & (key >= lo) & (key < hi))
    return {"overall": stats(ok), "per_bin": per_bin}


def coverage_report(
    pred, sigma, label, edges=None, bin_by=None, parameter: Parameter = TEFF
) -> dict:
    """Fractions within 1 and 2 sigma, z statistics and PIT spread, overall and per bin.

    Bins are of ``bin_by`` (default: the label), ``parameter``'s report bins unless ``edges``.
    PIT = Phi(z) for Gaussian errors; a calibrated sigma gives a PIT standard deviation of
    1/sqrt(12) = 0.289.
    """
    edges = parameter.report_edges if edges is None else edges
    u = parameter.unit_suffix
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
            f"sigma_median_{u}": float(np.median(sigma[sel])),
        }

    per_bin = {}
    for name, lo, hi in zip(parameter.bin_labels(edges), edges[:-1], edges[1:], strict=True):
        per_bin[name] = stats(ok & (key >= lo) & (key < hi))
    return {"overall": stats(ok), "per_bin": per_bin}


def split_report(pred, spread, sigma, label, calibration: dict | None = None) -> dict:
    """Coverage of one split: calibrated sigma per bin of the label and of the prediction, and
    the raw tree spread for comparison; with ``calibration``, the percentiles' too. Bins and
    units are the calibration's parameter's (Teff without a calibration)."""
    par = TEFF if calibration is None else parameter_of_calibration(calibration)
    out = {
        "by_label_bin": coverage_report(pred, sigma, label, parameter=par),
        "by_predicted_bin": coverage_report(pred, sigma, label, bin_by=pred, parameter=par),
        "raw_tree_spread": coverage_report(pred, spread, label, parameter=par),
    }
    if calibration is not None and "z_grid" in calibration["bins"][0]:
        q = apply_percentiles(calibration, pred, spread, sigma)
        u = pit(calibration, pred, sigma, label)
        out["percentiles_by_predicted_bin"] = percentile_report(
            q, label, u, bin_by=pred, parameter=par
        )
        out["percentiles_by_label_bin"] = percentile_report(q, label, u, parameter=par)
    return out


#: Training stars' percentiles that bound a model's training range (per feature).
TRAINING_RANGE_LEVELS = (0.005, 0.995)


def feature_range(train, features) -> dict[str, list[float]]:
    """Per feature, the 0.5th and 99.5th percentiles over the training stars (a polars frame):
    a star beyond them is outside what the model learned from (:func:`outside_range`)."""
    lo, hi = TRAINING_RANGE_LEVELS
    out = {}
    for f in features:
        x = np.asarray(train[f].cast(float).drop_nulls().to_numpy(), dtype=float)
        x = x[np.isfinite(x)]
        out[f] = [float(np.quantile(x, lo)), float(np.quantile(x, hi))] if x.size else None
    return out


def outside_range(calibration: dict, features: dict) -> np.ndarray | None:
    """True where any feature lies outside the model's training range (``feature_range`` of
    its calibration); False where all are inside or missing; None without a stored range."""
    ranges = calibration.get("feature_range")
    if not ranges:
        return None
    out = None
    for f, bounds in ranges.items():
        x = np.asarray(features[f], dtype=float)
        bad = (x < bounds[0]) | (x > bounds[1]) if bounds else np.zeros(x.shape, bool)
        out = bad if out is None else out | bad
    return out


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


def calibrated_distribution(calibration: dict, teff, spread):
    """A model's raw output (Teff and tree spread, K) -> catalogue Teff, calibrated sigma and
    percentiles (n, 5) on the catalogue scale; NaN where the model gave no prediction.

    Needs only the model's stored calibration (no labels): the per-star work is a bin lookup
    and a few multiplications."""
    teff, spread = to_catalogue_scale(calibration.get("rescale"), teff, spread)
    sigma = apply_calibration(calibration, teff, spread)
    return teff, sigma, apply_percentiles(calibration, teff, spread, sigma)


def calibrated_teff(calibration: dict, teff, spread):
    """A model's raw output (Teff and tree spread, K) -> catalogue Teff and its 1-sigma error:
    (p84 - p16) / 2 of the calibrated percentiles (the calibrated sigma for a calibration file
    without percentiles)."""
    if "z_percentiles" not in calibration["bins"][0]:
        teff, spread = to_catalogue_scale(calibration.get("rescale"), teff, spread)
        return teff, apply_calibration(calibration, teff, spread)
    teff, _, q = calibrated_distribution(calibration, teff, spread)
    return teff, half_width(q)


def half_width(percentiles) -> np.ndarray:
    """(p84 - p16) / 2: the symmetric 1-sigma error kept beside the percentiles."""
    q = np.asarray(percentiles, dtype=float)
    return (q[:, 3] - q[:, 1]) / 2
