"""Novelty in the joint feature space, and what the catalogue does with a novel star."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import PERCENTILE_NAMES, feature_range, outside_range
from ebteff.catalog import assemble
from ebteff.flags import FLAG_BITS, MODEL_BIT0, NO_FEATURES_REASON
from ebteff.novelty import LEVEL, coverage_by_novelty, fit_novelty, is_novel, novelty_score

NAN = np.nan


def _bright_blue(n, seed):
    """Magnitude and colour tied together (the bright stars are blue), as in a magnitude-limited
    sample: a bright red star lies inside both marginal ranges but far from every star."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(8, 18, n)
    colour = 0.25 * (g - 8) + rng.normal(0, 0.15, n)
    return np.column_stack([g, colour])


def test_a_star_inside_every_marginal_range_can_be_novel():
    train, cal, fresh = (_bright_blue(n, s) for n, s in ((20_000, 1), (10_000, 2), (40_000, 3)))
    nov = fit_novelty(train, cal, ["g", "bp_rp"])
    assert len(nov["reference"]) == 2000 and nov["threshold"] > 0
    assert json.loads(json.dumps(nov)) == nov  # stored in calibration.json as plain numbers
    # held-out stars like the training ones are novel at most 1 - LEVEL of the time: 40,000
    # fresh stars, binomial standard error of 0.005 is 0.035 points; 4 of them allowed
    frac = is_novel(novelty_score(nov, {"g": fresh[:, 0], "bp_rp": fresh[:, 1]})).mean()
    assert abs(frac - (1 - LEVEL)) < 4 * ((1 - LEVEL) * LEVEL / fresh.shape[0]) ** 0.5
    # bright (g = 9) and red (colour 2.2, the colour of g = 16.8 stars): inside both ranges
    star = {"g": np.array([9.0, 12.0, NAN]), "bp_rp": np.array([2.2, 1.0, 1.0])}
    rng_ = {"feature_range": feature_range(pl.DataFrame(train, schema=["g", "bp_rp"]), star)}
    assert not outside_range(rng_, star)[:2].any()
    score = novelty_score(nov, star)
    assert score[0] > 3 and score[1] < 1 and np.isnan(score[2])  # a missing feature: no score
    assert is_novel(score).tolist() == [True, False, False]
    # the same training stars give the same reference and threshold
    assert fit_novelty(train, cal, ["g", "bp_rp"]) == nov


def test_coverage_by_novelty_counts_each_bin():
    score = np.array([0.1, 0.6, 0.9, 1.2, 5.0, NAN])
    label = np.full(6, 5000.0)
    q = np.tile([4000.0, 4500, 5000, 5500, 6000], (6, 1))
    q[4] = [6000, 6500, 7000, 7500, 8000]  # the novel star's interval misses its label
    rep = coverage_by_novelty(score, q, label)
    assert [st["n"] for st in rep.values()] == [1, 1, 1, 1, 1]
    assert rep["1.5+"]["within_p16_p84"] == 0 and rep["0-0.5"]["within_p05_p95"] == 1
    assert rep["1.5+"]["median_rel_error"] == pytest.approx(0.4)
    # [M/H] labels of 0 and below: the error in dex, no division by the label.
    mh = coverage_by_novelty(
        np.array([0.2, 0.3]),
        np.tile([-0.4, -0.2, 0.1, 0.2, 0.4], (2, 1)),
        np.array([0.0, -0.3]),
        relative=False,
    )
    assert mh["0-0.5"] == pytest.approx(
        {"n": 2, "within_p16_p84": 0.5, "within_p05_p95": 1.0, "median_abs_error": 0.25}
    )


def _model(ids, teff, err, novelty):
    teff, err = np.asarray(teff, float), np.asarray(err, float)
    cols = {"source_id": ids, "teff_m": teff, "teff_m_err": err}
    for p, z in zip(PERCENTILE_NAMES, (-1.6449, -1, 0, 1, 1.6449), strict=True):
        cols[f"teff_m_{p}"] = teff * np.exp(z * err / teff)
    cols["teff_m_novelty"] = np.asarray(novelty, float)
    return pl.DataFrame(cols).with_columns(pl.all().fill_nan(None))


def test_a_model_to_which_the_star_is_novel_does_not_win():
    ids = np.arange(1, 6)
    # star 1: m0 has the smaller sigma but the star is novel to it: m1 gives teff_best
    # star 2: novel to both: no Teff (flag X) and the reason names both scores
    # star 3: novel to m0, m1 lacks its features: no Teff
    # star 4: GSP-Phot Teff: flag A whatever the models
    # star 5: novel to neither: the smaller sigma (m0) wins as before
    m0 = _model(
        ids, [20000, 6000, 5000, 5000, 5000], [100, 100, 100, 100, 100], [3, 2, 1.5, 9, 0.2]
    )
    m1 = _model(
        ids, [6000, 6500, 5000, 5000, 5000], [400, 400, NAN, 400, 400], [0.5, 1.2, NAN, 9, 0.3]
    )
    m1 = m1.with_columns(
        pl.when(pl.col("source_id") == 3).then(None).otherwise(pl.col(c)).alias(c)
        for c in m1.columns
        if c != "source_id"
    )
    gaia = [NAN, NAN, NAN, 5500, NAN]
    base = pl.DataFrame(
        {
            "source_id": ids,
            "ra": np.zeros(5),
            "dec": np.zeros(5),
            "teff_gaia": gaia,
            "teff_gaia_corrected": gaia,
        }
    ).with_columns(pl.col("teff_gaia", "teff_gaia_corrected").fill_nan(None))
    ren = {c: c.replace("teff_m", "teff_m0") for c in m0.columns}
    ren1 = {c: c.replace("teff_m", "teff_m1") for c in m1.columns}
    cat = assemble(base, {"m0": m0.rename(ren), "m1": m1.rename(ren1)})
    assert cat["teff_best_source"].to_list() == ["m1", "", "", "gaia", "m0"]
    assert cat["teff_best"].to_list()[0] == 6000 and cat["teff_best"].to_list()[4] == 5000
    assert cat["flag"].to_list() == ["C", "X", "X", "A", "B"]
    bits = cat["flag_bits"].to_list()
    assert bits[0] & (1 << (MODEL_BIT0 + 1)) and bits[0] & FLAG_BITS["ml"]
    assert not bits[1] & FLAG_BITS["ml"]
    reason = cat["no_teff_reason"].to_list()
    assert reason[0] is None and reason[3] is None and reason[4] is None
    assert "novel to every model" in reason[1] and "m0 2.00, m1 1.20" in reason[1]
    assert reason[2].endswith("m0 1.50")
    # every percentile of a refused star is null, not a number no model can stand behind
    for p in (*PERCENTILE_NAMES, "err"):
        assert cat[f"teff_best_{p}"].to_list()[1:3] == [None, None], p
    # the models' own columns keep their values and scores
    assert cat["teff_m0_novelty"].to_list()[1] == 2 and cat["teff_m0"].to_list()[1] == 6000
    # a star no model could predict keeps the features reason
    none = assemble(
        base.head(1),
        {
            "m0": m0.head(1)
            .rename(ren)
            .with_columns(
                pl.lit(None, pl.Float64).alias(c)
                for c in m0.rename(ren).columns
                if c != "source_id"
            )
        },
    )
    assert none["no_teff_reason"].to_list() == [NO_FEATURES_REASON]
