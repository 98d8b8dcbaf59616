"""The numbers the workflow reports, against cases worked out by hand: accuracy metrics, the
model output -> Teff transform, the catalogue scale and the calibrated sigma, and the
calibration of the best-of-models choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ebteff.calibrate import (
    MIN_STARS,
    ONE_SIGMA,
    TOLERANCE_1SIGMA,
    TOLERANCE_2SIGMA,
    TWO_SIGMA,
    apply_calibration,
    calibrated_teff,
    coverage_report,
    fit_calibration,
    to_catalogue_scale,
)
from ebteff.catalog import fit_best_calibration
from ebteff.evaluate import binned_metrics, regression_metrics
from ebteff.features import ModelSpec
from ebteff.predict import teff_and_spread

NAN = np.nan


def test_regression_metrics_by_hand():
    # errors +100, -200, 0, +1000 K on labels 1000, 2000, 4000, 5000 K (relative 10, 10, 0,
    # 20%: the percentage bounds are inclusive); the NaN rows are left out
    ref = [1000.0, 2000.0, 4000.0, 5000.0, NAN, 3000.0]
    pred = [1100.0, 1800.0, 4000.0, 6000.0, 3000.0, NAN]
    m = regression_metrics(ref, pred)
    assert m["n"] == 4
    assert m["mae"] == pytest.approx(1300 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((100**2 + 200**2 + 0 + 1000**2) / 4))
    assert m["bias"] == pytest.approx(900 / 4)
    assert m["median_abs_error"] == pytest.approx(150.0)
    # mean label 3000: total sum of squares 4e6 + 1e6 + 1e6 + 4e6, residual 1.05e6
    assert m["r2"] == pytest.approx(1 - 1.05e6 / 1e7)
    assert (m["within_5pct"], m["within_10pct"], m["within_20pct"]) == (0.25, 0.75, 1.0)


def test_regression_metrics_degenerate_cases():
    assert regression_metrics([NAN], [1.0]) == {"n": 0}
    m = regression_metrics([5000.0, 5000.0], [5100.0, 4800.0])  # one label: R2 undefined
    assert m["r2"] is None and m["mae"] == pytest.approx(150.0) and m["bias"] == -50.0


def test_binned_metrics_bins_on_the_reference():
    ref = np.array([3000.0, 4500.0, 4999.0, 9000.0])
    pred = np.array([3100.0, 4000.0, 5999.0, 9000.0])
    bins = binned_metrics(ref, pred)
    assert bins["0-4000"] == regression_metrics([3000.0], [3100.0])
    assert bins["4000-5000"]["n"] == 2 and bins["4000-5000"]["mae"] == pytest.approx(750.0)
    assert bins["5000-6000"] == {"n": 0} and bins["6000-8000"] == {"n": 0}
    assert bins["8000-50000"]["mae"] == 0.0


def test_teff_and_spread_by_hand():
    log = ModelSpec("m", ("g",), "teff_gaia", "log10")
    # log10 output 3.69897 +/- 0.01 dex: 5000 K, and 5000 ln(10) 0.01 = 115.13 K (delta method)
    teff, spread = teff_and_spread(log, np.array([math.log10(5000.0)]), np.array([0.01]))
    assert teff == pytest.approx([5000.0]) and spread == pytest.approx([115.1292546])
    lin = ModelSpec("m", ("g",), "teff_gaia", "none")
    teff, spread = teff_and_spread(lin, np.array([5000.0, 7000.0]), np.array([100.0, 0.0]))
    assert teff.tolist() == [5000.0, 7000.0] and spread.tolist() == [100.0, 0.0]


# P(T) = 1.5 T, blended in between 10,000 and 12,000 K
RESCALE = {
    "from": "teff_gaia",
    "to": "teff_gaia_corrected",
    "coefficients": [0.0, 1.5, 0.0],
    "threshold": 10000.0,
    "width": 2000.0,
}


def test_to_catalogue_scale_by_hand():
    teff = np.array([9000.0, 11000.0, 13000.0, NAN])
    spread = np.array([10.0, 10.0, 10.0, 10.0])
    same, same_spread = to_catalogue_scale(None, teff, spread)
    assert np.array_equal(same, teff, equal_nan=True) and np.array_equal(same_spread, spread)
    t, s = to_catalogue_scale(RESCALE, teff, spread)
    # 9000 K: below the blend, untouched; 13000 K: fully corrected, 1.5 T, slope 1.5;
    # 11000 K: blend weight s = t^2 (3 - 2t) = 0.5 at t = 0.5, so 11000 + 5500 * 0.5 = 13750 K,
    # and slope 1 + 0.5 s + 0.5 T ds/dT = 1 + 0.25 + 0.5 * 11000 * 6 t (1 - t) / 2000 = 5.375
    assert t[:3] == pytest.approx([9000.0, 13750.0, 19500.0])
    assert s[:3] == pytest.approx([10.0, 53.75, 15.0], rel=1e-6)
    assert np.isnan(t[3]) and np.isnan(s[3])


def test_calibrated_teff_by_hand():
    cal = {
        "bins": [
            {"lo": 0, "hi": 6000, "k": 2.0, "floor_k": 30.0, "p": 1.0},
            {"lo": 6000, "hi": None, "k": 0.01, "floor_k": 80.0, "p": 2.0},
        ],
        "rescale": None,
    }
    teff, sigma = calibrated_teff(cal, [5000.0, 6000.0, NAN], [40.0, 60.0, 40.0])
    # 2 * (30^2 + 40^2)^(1/2) = 100; 0.01 * (80^2 + 60^2) = 100 (6000 K opens the second bin)
    assert teff[:2].tolist() == [5000.0, 6000.0]
    assert sigma[:2] == pytest.approx([100.0, 100.0]) and np.isnan(sigma[2])
    # through the correction first: 13000 K -> 19500 K, spread 40 -> 60, then the hot bin
    teff, sigma = calibrated_teff({**cal, "rescale": RESCALE}, [13000.0], [40.0])
    assert teff == pytest.approx([19500.0]) and sigma == pytest.approx([100.0])


def test_fit_best_calibration_per_winning_model():
    rng = np.random.default_rng(5)
    n_a, n_b = 400, MIN_STARS - 1
    source = np.array(["a"] * n_a + ["b"] * n_b + [""] * 7, dtype=object)
    n = source.size
    teff = rng.uniform(4000, 7000, n)
    sigma = np.full(n, 100.0)
    # the winners' sigma is too small by 2: their errors are Gaussian of 200 K
    label = teff + rng.normal(0, 200.0, n)
    label[:10] = NAN  # stars without a label take no part
    teff[n_a + n_b :] = NAN  # no model predicted these
    out = fit_best_calibration(teff, sigma, source, label)
    assert set(out) == {"a", "b"}
    assert out["b"] is None  # 99 winners: too few to calibrate, keeps its own sigma
    assert sum(b["n"] for b in out["a"]["bins"]) == n_a - 10
    a = slice(10, n_a)
    assert out["a"] == fit_calibration(teff[a], sigma[a], label[a])
    recal = apply_calibration(out["a"], teff[a], sigma[a])
    # the fitted coverage is as close to the Gaussian fractions as the fit's tolerances, and
    # about twice the given sigma: the 68.27th percentile of |error| of 390 stars has a
    # standard error of sqrt(0.683 * 0.317 / 390) / (2 phi(1)) = 5% of sigma; 15% is 3 of them
    rep = coverage_report(teff[a], recal, label[a])["overall"]
    assert abs(rep["within_1sigma"] - ONE_SIGMA) <= TOLERANCE_1SIGMA
    assert abs(rep["within_2sigma"] - TWO_SIGMA) <= TOLERANCE_2SIGMA
    assert np.median(recal) == pytest.approx(200.0, rel=0.15)
