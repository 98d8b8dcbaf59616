"""Models of log g and [M/H]: calibrated, reported and flagged on their own scale (dex)."""

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import (
    PERCENTILES,
    apply_calibration,
    apply_percentiles,
    coverage_report,
    fit_calibration,
)
from ebteff.catalog import model_columns
from ebteff.evaluate import full_metrics, markdown_table
from ebteff.features import FeatureError, ModelSpec, build_feature_table
from ebteff.flags import assign_flags
from ebteff.parameters import LOGG, MH, TEFF, parameter_of
from ebteff.predict import LoadedModel, predict_frame


def _dex_sample():
    """399 stars predicted log g 4.1 with tree spread 0.1 dex whose labels lie at
    4.1 + (i - 200) / 1000 dex, i = 1 ... 399: residuals -0.199 ... +0.199 dex in 0.001 steps."""
    n = 399
    pred = np.full(n, 4.1)
    spread = np.full(n, 0.1)
    label = 4.1 + (np.arange(1, n + 1) - 200) / 1000
    return pred, spread, label


def test_parameter_facts():
    assert parameter_of("teff_gaia") is TEFF and parameter_of("teff_gaia_corrected") is TEFF
    assert (LOGG.unit, LOGG.ucd, LOGG.scale) == ("dex", "phys.gravity", "linear")
    assert (MH.unit, MH.ucd, MH.scale) == ("dex", "phys.abund.Z", "linear")
    assert (TEFF.unit, TEFF.scale) == ("K", "ln")
    with pytest.raises(ValueError, match="not a label"):
        parameter_of("ra")


def test_hand_computed_calibration_in_dex():
    """The sigma is one number for every star (one bin: the others are empty and merged; one
    spread), so z_q * sigma is the residual itself and the percentiles are, by hand, 4.1 plus
    the conformal order statistics of the residuals: k = floor/ceil(400 q) gives the
    20th/64th/200th/336th/380th residual, -0.180/-0.136/0.000/+0.136/+0.180 dex."""
    pred, spread, label = _dex_sample()
    cal = fit_calibration(pred, spread, label, parameter=LOGG)
    assert cal["parameter"] == "logg" and cal["unit"] == "dex" and cal["space"] == "linear"
    assert [b["name"] for b in cal["bins"]] == ["-0.5+"]
    q = apply_percentiles(cal, [4.1], [0.1])[0]
    expected = 4.1 + np.array([-0.180, -0.136, 0.0, 0.136, 0.180])
    assert q == pytest.approx(expected, abs=1e-9)
    assert cal["bins"][0]["width_68_median_dex"] == pytest.approx(0.272, abs=1e-9)
    assert "width_68_median_k" not in cal["bins"][0]
    # additive in dex: the same interval around any log g (in ln space it would scale with it)
    q2 = apply_percentiles(cal, [4.15], [0.1])[0]
    assert q2 - 4.15 == pytest.approx(q - 4.1, abs=1e-9)
    assert len(q) == len(PERCENTILES)


def test_log_g_cannot_be_calibrated_or_flagged_as_teff():
    pred, spread, label = _dex_sample()
    # log g labels fitted on the Teff scale (the default): refused, not calibrated in ln K
    with pytest.raises(ValueError, match="not Teff in K"):
        fit_calibration(pred, spread, label)
    # and Teff labels as log g
    with pytest.raises(ValueError, match="not log g in dex"):
        fit_calibration(pred * 1000, spread * 1000, label * 1000, parameter=LOGG)
    cal = fit_calibration(pred, spread, label, parameter=LOGG)
    with pytest.raises(ValueError, match="used as Teff"):
        apply_calibration(cal, pred, spread, parameter=TEFF)
    with pytest.raises(ValueError, match="used as Teff"):
        apply_percentiles(cal, pred, spread, parameter=TEFF)
    raw = pl.DataFrame({"source_id": [1, 2], "logg_m_raw": [4.1, 3.0], "logg_m_spread": [0.1, 0.1]})
    with pytest.raises(ValueError, match="used as Teff"):
        model_columns("m", cal, raw, parameter=TEFF)
    cols = model_columns("m", cal, raw, parameter=LOGG)
    assert cols.columns[:3] == ["source_id", "logg_m", "logg_m_p05"]
    assert "teff_m" not in cols.columns
    # flags B/C/D in dex; on the Teff scale every log g sigma would read "< 300 K", flag B
    sigma = np.array([0.1, 0.2, 0.5, np.nan])
    has = np.array([False, False, False, True])
    assert list(assign_flags(has, sigma, LOGG)) == ["B", "C", "D", "A"]
    assert list(assign_flags(has, sigma, TEFF)) == ["B", "B", "B", "A"]


def test_metrics_and_reports_carry_the_unit():
    pred, _, label = _dex_sample()
    m = full_metrics(label, pred, LOGG)
    assert m["overall"]["unit"] == "dex" and "within_10pct" not in m["overall"]
    assert m["overall"]["mae"] == pytest.approx(np.mean(np.abs(label - 4.1)))
    # |e| <= 0.1 dex: 199 to 201 of the 399 (the two at exactly 0.1 round either way)
    assert 199 / 399 <= m["overall"]["within_0.1_dex"] <= 201 / 399
    assert m["overall"]["within_0.2_dex"] == 1.0
    assert list(m["per_bin"]) == ["-0.5-3", "3-3.5", "3.5-4", "4-4.5", "4.5-5.5"]
    md = markdown_table({"test": m["overall"]}, "log g", LOGG)
    assert "MAE (dex)" in md and " K" not in md
    rep = coverage_report(pred, np.full(pred.size, 0.1), label, parameter=LOGG)
    assert "sigma_median_dex" in rep["overall"] and "4-4.5" in rep["per_bin"]


def test_log_g_model_spec_and_feature_table():
    spec = ModelSpec.from_config("lg", {"features": ["g", "bp_rp"], "target": "logg_gaia"})
    assert spec.parameter is LOGG and spec.raw_column == "logg_lg_raw"
    with pytest.raises(FeatureError, match="already logarithmic"):
        ModelSpec.from_config("lg", {"features": ["g"], "target": "mh_gaia", "transform": "log10"})
    phot = pl.LazyFrame(
        {
            "source_id": [1, 2, 3, 4],
            "g": [10.0, 11.0, 12.0, 13.0],
            "bp_rp": [0.5, 0.8, 1.0, 1.2],
            "logg_gaia": [4.2, -999.0, 7.0, 3.1],  # 7 dex: outside GSP-Phot's range
        }
    ).with_columns(pl.col("logg_gaia").replace(-999.0, None))
    split = pl.LazyFrame({"source_id": [1, 2, 3, 4], "split": ["train"] * 4})
    table, counts = build_feature_table(phot, split, spec, None)
    assert table["source_id"].to_list() == [1, 4]
    assert counts["label_out_of_range"] == 1 and counts["logg_range_dex"] == [-0.5, 5.5]
    # predicted in dex, raw column named by the parameter, no delta method
    from sklearn.ensemble import RandomForestRegressor

    rf = RandomForestRegressor(n_estimators=3, random_state=0).fit(
        table.select("g", "bp_rp").to_numpy(), table["target"].to_numpy()
    )
    out = predict_frame(phot.collect(), [LoadedModel(spec, rf)])
    assert out.columns == ["source_id", "logg_lg_raw", "logg_lg_spread"]
    assert out["logg_lg_raw"].drop_nulls().is_between(3.09, 4.21).all()


def test_parameter_block_takes_gsp_phot_then_the_model():
    """Star 1 has GSP-Phot log g with its own 16th/84th percentiles, star 2 without them, star
    3 none (the model's, percentiles by hand: 4.1 + z_q * 0.1 dex), star 4 neither (X)."""
    from ebteff.parameter_catalog import parameter_block

    z = [-1.6, -1.0, 0.0, 1.0, 1.6]
    cal = {
        "parameter": "logg",
        "unit": "dex",
        "space": "linear",
        "bins": [{"lo": -0.5, "hi": None, "k": 1.0, "floor_k": 0.0, "p": 1.0, "z_percentiles": z}],
    }
    base = pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4],
            "logg_gaia": [4.0, 3.5, -999.0, None],
            "logg_gspphot_lower": [3.9, None, None, None],
            "logg_gspphot_upper": [4.2, None, None, None],
        }
    )
    raw = pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4],
            "logg_m_raw": [4.3, 3.6, 4.1, None],
            "logg_m_spread": [0.1, 0.1, 0.1, None],
        }
    )
    out = parameter_block(base, {"m": raw}, {"m": cal}, LOGG)
    assert out["logg_best"].to_list()[:3] == pytest.approx([4.0, 3.5, 4.1])
    assert out["logg_best"][3] is None
    assert out["logg_best_source"].to_list() == ["gaia", "gaia", "m", ""]
    assert out["logg_flag"].to_list() == ["A", "A", "B", "X"]  # 0.1 dex < 0.15: B
    g = 1.6448536269514722
    assert out.row(0, named=True)["logg_best_p05"] == pytest.approx(4.0 - g * 0.1)
    assert out.row(0, named=True)["logg_best_p95"] == pytest.approx(4.0 + g * 0.2)
    assert out.row(0, named=True)["logg_best_err"] == pytest.approx(0.15)
    assert out.row(1, named=True)["logg_best_err"] is None  # nothing measures its scatter
    q = [out.row(2, named=True)[f"logg_best_{p}"] for p in ("p05", "p16", "p50", "p84", "p95")]
    assert q == pytest.approx([4.1 + 0.1 * v for v in z])
    assert out.row(2, named=True)["logg_best_err"] == pytest.approx(0.1)
    assert out["logg_flag_bits"].to_list()[:3] == [1, 1, 2 | 256]
