"""Best-of-models, flags, calibration and chunking: the pieces of the catalogue."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import (
    ONE_SIGMA,
    apply_calibration,
    coverage_report,
    fit_calibration,
)
from ebteff.catalog import assemble, assign_flags, best_of, summarise
from ebteff.predict import chunk_bounds

NAN = np.nan


def test_best_of_picks_smallest_finite_sigma():
    teff = {"a": np.array([5000.0, 6000, NAN, NAN]), "b": np.array([5100.0, 6100, 7100, NAN])}
    sig = {"a": np.array([200.0, 900, NAN, NAN]), "b": np.array([300.0, 400, 500, NAN])}
    t, s, src = best_of(teff, sig)
    assert list(src) == ["a", "b", "b", ""]
    assert np.array_equal(t[:3], [5000.0, 6100, 7100]) and np.isnan(t[3])
    assert np.array_equal(s[:3], [200.0, 400, 500]) and np.isnan(s[3])


def test_flags_at_their_thresholds():
    has_gaia = np.array([True, False, False, False, False, False, False])
    sigma = np.array([10.0, 299.999, 300.0, 499.999, 500.0, 2000.0, NAN])
    assert list(assign_flags(has_gaia, sigma)) == ["A", "B", "C", "C", "D", "D", "X"]


def test_assemble_accounts_for_every_star():
    base = pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4],
            "ra": [0.0] * 4,
            "dec": [0.0] * 4,
            "teff_gaia": [5000.0, None, None, None],
            "teff_gaia_corrected": [5000.0, None, None, None],
        }
    )
    pred = pl.DataFrame(
        {
            "source_id": [4, 3, 2, 1],
            "teff_m": [None, 7000.0, 6000.0, 5500.0],
            "teff_m_err": [None, 600.0, 250.0, 100.0],
        }
    )
    cat = assemble(base, {"m": pred})
    assert cat["source_id"].to_list() == [1, 2, 3, 4]
    assert cat["flag"].to_list() == ["A", "B", "D", "X"]
    assert cat["teff_best"].to_list() == [5000.0, 6000.0, 7000.0, None]
    assert cat["teff_best_source"].to_list() == ["gaia", "m", "m", ""]
    assert cat["teff_best_err"][0] is None
    s = summarise(cat, ["m"])
    assert s["flags"] == {"A": 1, "B": 1, "C": 0, "D": 1, "X": 1} and s["rows"] == 4
    assert s["model_won_for_teff_best"] == {"m": 2}


def test_duplicate_predictions_are_refused():
    base = pl.DataFrame(
        {
            "source_id": [1],
            "ra": [0.0],
            "dec": [0.0],
            "teff_gaia": [None],
            "teff_gaia_corrected": [None],
        },
        schema_overrides={"teff_gaia": pl.Float64, "teff_gaia_corrected": pl.Float64},
    )
    pred = pl.DataFrame({"source_id": [1, 1], "teff_m": [1.0, 2.0], "teff_m_err": [1.0, 1.0]})
    with pytest.raises(ValueError, match="duplicate"):
        assemble(base, {"m": pred})


def test_calibration_reaches_nominal_coverage_on_gaussian_errors():
    rng = np.random.default_rng(1)
    n = 40_000
    pred = rng.uniform(3000, 12000, n)
    true_sigma = 0.05 * pred
    spread = true_sigma * 0.25 * rng.lognormal(0, 0.1, n)  # trees 4x over-confident
    label = pred + rng.normal(0, true_sigma)
    cal = fit_calibration(pred[: n // 2], spread[: n // 2], label[: n // 2])
    sigma = apply_calibration(cal, pred[n // 2 :], spread[n // 2 :])
    rep = coverage_report(pred[n // 2 :], sigma, label[n // 2 :])
    assert abs(rep["overall"]["within_1sigma"] - ONE_SIGMA) < 0.02
    assert abs(rep["overall"]["within_2sigma"] - 0.9545) < 0.015
    assert abs(rep["overall"]["pit_std"] - 0.2887) < 0.01
    raw = coverage_report(pred[n // 2 :], spread[n // 2 :], label[n // 2 :])
    assert raw["overall"]["within_1sigma"] < 0.3  # the uncalibrated spread is over-confident


def test_calibration_needs_enough_stars():
    with pytest.raises(ValueError, match="calibration stars"):
        fit_calibration(np.ones(10), np.ones(10), np.ones(10))


@pytest.mark.parametrize("n_rows,n_chunks", [(10, 3), (7, 7), (1_000_003, 4), (5, 8)])
def test_chunks_cover_every_row_once(n_rows, n_chunks):
    bounds = [chunk_bounds(n_rows, n_chunks, i) for i in range(n_chunks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
