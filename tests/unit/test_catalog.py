"""Best-of-models, flags, calibration and chunking: the pieces of the catalogue."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import (
    ONE_SIGMA,
    apply_calibration,
    coverage_report,
    fit_calibration,
)
from ebteff.catalog import assemble, best_of, choose_model, fit_label_calibration, summarise
from ebteff.flags import assign_flags
from ebteff.predict import chunk_bounds

NAN = np.nan


def test_best_of_picks_smallest_finite_sigma():
    teff = {"a": np.array([5000.0, 6000, NAN, NAN]), "b": np.array([5100.0, 6100, 7100, NAN])}
    sig = {"a": np.array([200.0, 900, NAN, NAN]), "b": np.array([300.0, 400, 500, NAN])}
    t, s, src = best_of(teff, sig)
    assert list(src) == ["a", "b", "b", ""]
    assert np.array_equal(t[:3], [5000.0, 6100, 7100]) and np.isnan(t[3])
    assert np.array_equal(s[:3], [200.0, 400, 500]) and np.isnan(s[3])


def _model_frame(key: str, model: str, value, err, novelty=None) -> dict:
    value, err = np.asarray(value, dtype=float), np.asarray(err, dtype=float)
    cols = {f"{key}_{model}": value, f"{key}_{model}_err": err}
    for p, z in zip(("p05", "p16", "p50", "p84", "p95"), (-1.6, -1, 0, 1, 1.6), strict=True):
        cols[f"{key}_{model}_{p}"] = value + z * err
    if novelty is not None:
        cols[f"{key}_{model}_novelty"] = np.asarray(novelty, dtype=float)
    return cols


@pytest.mark.parametrize("key", ["teff", "logg"])
def test_choose_model_skips_novel_models_and_takes_the_winners_percentiles(key):
    # star 0: a's error is smaller; star 1: novel to a (1.5 > 1), so b despite its error;
    # star 2: equal errors, a first in config order; star 3: novel to both, none
    df = pl.DataFrame(
        {
            **_model_frame(key, "a", [5.0, 5.0, 5.0, 5.0], [1, 1, 2, 1], [0.5, 1.5, 0.2, 2.0]),
            **_model_frame(key, "b", [6.0, 6.0, 6.0, 6.0], [2, 3, 2, 1], [0.1, 0.9, 0.3, 1.1]),
        }
    )
    c = choose_model(df, key, ["a", "b"])
    assert list(c.source) == ["a", "b", "a", ""]
    assert np.array_equal(c.value[:3], [5.0, 6.0, 5.0]) and np.isnan(c.value[3])
    assert np.array_equal(c.err[:3], [1.0, 3.0, 2.0])
    assert np.allclose(c.percentiles[1], 6.0 + np.array([-1.6, -1, 0, 1, 1.6]) * 3.0)
    assert np.isnan(c.percentiles[3]).all()
    assert c.predicted["a"].all() and c.outside == {"a": None, "b": None}
    assert np.array_equal(c.novelty["b"], [0.1, 0.9, 0.3, 1.1])


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
    label_cal = fit_label_calibration(np.linspace(4000, 6000, 60), np.linspace(4100, 6100, 60))
    cat = assemble(base, {"m": pred}, label_calibration=label_cal)
    assert cat["source_id"].to_list() == [1, 2, 3, 4]
    assert cat["flag"].to_list() == ["A", "B", "D", "X"]
    assert cat["teff_best"].to_list() == [5000.0, 6000.0, 7000.0, None]
    assert cat["teff_best_source"].to_list() == ["gaia", "m", "m", ""]
    # the flag-A star has an uncertainty too (from the label's scatter against a reference)
    assert cat["teff_best_err"][0] > 0 and cat["teff_best_err_source"][0] == "reference"
    assert cat["teff_best_err"][3] is None
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


def test_calibration_holds_per_bin_for_heavy_tailed_errors():
    # errors that grow with Teff, a heavy tail on stars whose trees disagree, and a bin of
    # predicted Teff (hot) where errors are wider: one k per catalogue would miss every bin
    rng = np.random.default_rng(3)
    n = 120_000
    pred = np.exp(rng.uniform(np.log(3000), np.log(30000), n))
    outlier = rng.random(n) < 0.15
    width = pred * np.where(outlier, 0.15, 0.04) * np.where(pred > 8000, 1.5, 1.0)
    spread = width * 0.3 * rng.lognormal(0, 0.3, n)
    label = pred + rng.normal(0, width)
    half = n // 2
    cal = fit_calibration(pred[:half], spread[:half], label[:half])
    assert {b["name"] for b in cal["bins"]} >= {"0-4000", "8000-10000", "25000+"}
    sigma = apply_calibration(cal, pred[half:], spread[half:])
    rep = coverage_report(pred[half:], sigma, label[half:], bin_by=pred[half:])
    for name, st in [("all", rep["overall"]), *rep["per_bin"].items()]:
        assert abs(st["within_1sigma"] - ONE_SIGMA) <= 0.03, name
        assert abs(st["within_2sigma"] - 0.9545) <= 0.02, name
    # the raw spread is far too small, and a single scale for everything misses the hot bin
    single = {"bins": [{"lo": 0, "hi": None, **{**cal["bins"][0], "p": 1.0, "floor_k": 0.0}}]}
    single["bins"][0]["k"] = float(
        np.quantile(np.abs(pred - label)[:half] / spread[:half], ONE_SIGMA)
    )
    flat = coverage_report(
        pred[half:],
        apply_calibration(single, pred[half:], spread[half:]),
        label[half:],
        bin_by=pred[half:],
    )
    assert abs(flat["per_bin"]["8000-50000"]["within_2sigma"] - 0.9545) > 0.02


def test_calibration_table_is_json_and_covers_every_prediction():
    rng = np.random.default_rng(4)
    pred = rng.uniform(3000, 9000, 5000)
    spread = rng.uniform(50, 500, 5000)
    label = pred + rng.normal(0, 300, 5000)
    cal = fit_calibration(pred, spread, label)
    assert json.loads(json.dumps(cal)) == cal  # plain numbers, no inf or numpy types
    sigma = apply_calibration(cal, np.array([10.0, 3500.0, 60000.0, np.nan]), np.full(4, 100.0))
    assert np.isfinite(sigma[:3]).all() and (sigma[:3] > 0).all() and np.isnan(sigma[3])
    bins = cal["bins"]
    assert bins[0]["lo"] == 0 and bins[-1]["hi"] is None
    assert all(a["hi"] == b["lo"] for a, b in zip(bins, bins[1:], strict=False))
    assert all(b["n"] >= 200 for b in bins)
