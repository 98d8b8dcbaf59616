"""Feature tables: derived colours, missing values, the label, the shared split."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ebteff.correction import Correction
from ebteff.features import (
    FeatureError,
    ModelSpec,
    build_feature_table,
    prepare_photometry,
    training_rows,
)
from ebteff.io import sentinel_to_null
from ebteff.schema import SENTINEL
from ebteff.split import split_table
from helpers.photometry_tables import make_table

FRACTIONS = {"train": 0.7, "calibration": 0.1, "test": 0.2}
IR = {
    "features": ["bp_rp", "j_k", "g_j", "rp_k", "bp_j"],
    "target": "teff_gaia_corrected",
    "transform": "none",
    "hyperparameters": {},
}
CORR = Correction((2000.0, 0.7, 1.5e-5))


def inputs(n=400, seed=0):
    table = make_table(n, seed)
    split = split_table(table["source_id"], FRACTIONS, "s").lazy()
    return table, sentinel_to_null(table.lazy()), split


def test_derived_colours_are_band_differences():
    table, lf, _ = inputs()
    out = prepare_photometry(lf, None).collect()
    both = (table["g"] != SENTINEL) & (table["j_m"] != SENTINEL)
    expected = (table["g"] - table["j_m"]).filter(both)
    assert np.allclose(out["g_j"].filter(both).to_numpy(), expected.to_numpy())
    assert out["g_j"].filter(~both).null_count() == int((~both).sum())
    assert np.allclose(out["bp_g"], table["bp"] - table["g"])


def test_existing_colour_column_is_kept():
    table, lf, _ = inputs()
    lf = lf.with_columns(pl.lit(0.123).alias("g_j"))
    assert prepare_photometry(lf, None).collect()["g_j"].unique().to_list() == [0.123]


def test_feature_table_rows_and_counts():
    table, lf, split = inputs(2000)
    spec = ModelSpec.from_config("ir", IR)
    out, counts = build_feature_table(lf, split, spec, CORR)
    # every output row has every feature and a label in range, no NaN/inf/sentinel
    assert out.null_count().sum_horizontal().item() == 0
    feats = out.select(spec.features).to_numpy()
    assert np.isfinite(feats).all() and (feats != SENTINEL).all()
    assert counts["usable"] == out.height
    assert counts["labelled"] == int((table["teff_gaia"] != SENTINEL).sum())
    assert counts["labelled"] == (
        counts["usable"] + counts["missing_features"] + counts["label_out_of_range"]
    )
    assert sum(counts["usable_by_split"].values()) == out.height
    # the label is the corrected GSP-Phot Teff
    merged = out.join(table.select("source_id", "teff_gaia"), on="source_id")
    assert np.allclose(merged["teff_gaia_corrected"], CORR.apply(merged["teff_gaia"].to_numpy()))
    assert np.allclose(out["target"], out["teff_gaia_corrected"])


def test_log_target_and_inverse():
    _, lf, split = inputs()
    spec = ModelSpec.from_config(
        "g", {**IR, "features": ["g", "bp"], "target": "teff_gaia", "transform": "log10"}
    )
    out, _ = build_feature_table(lf, split, spec, None)
    assert np.allclose(out["target"], np.log10(out["teff_gaia"]))
    assert np.allclose(spec.inverse(out["target"].to_numpy()), out["teff_gaia"])


def test_nan_and_inf_never_reach_the_table():
    table, _, split = inputs(300)
    table = table.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(float("inf"))
        .otherwise(pl.col("bp_rp"))
        .alias("bp_rp")
    )
    spec = ModelSpec.from_config("ir", IR)
    out, counts = build_feature_table(sentinel_to_null(table.lazy()), split, spec, CORR)
    assert out["bp_rp"].is_finite().all()
    assert counts["missing_feature_by_column"]["bp_rp"] > 0


def test_unknown_feature_is_named():
    _, lf, split = inputs()
    spec = ModelSpec.from_config("bad", {**IR, "features": ["bp_rp", "w1_mag"]})
    with pytest.raises(FeatureError, match="model bad names unknown feature.*w1_mag"):
        build_feature_table(lf, split, spec, CORR)


def test_a_table_without_ebv_sandf_cannot_train_the_extinction_model():
    """The extinction-aware model names ebv_sandf: a table without the column stops its
    training with a message naming the column and both ways out; with the column (an extra
    column of the table) it trains."""
    table, lf, split = inputs()
    ebv = {**IR, "features": ["g", "bp", "rp", "bp_rp", "g_bp", "g_rp", "ebv_sandf"]}
    spec = ModelSpec.from_config("gaia_teff_corrected_log_ebv", ebv)
    with pytest.raises(FeatureError, match="ebv_sandf.*add the column.*remove the model"):
        build_feature_table(lf, split, spec, CORR)
    with_ebv = table.with_columns(pl.lit(0.05).alias("ebv_sandf"))
    out, _ = build_feature_table(sentinel_to_null(with_ebv.lazy()), split, spec, CORR)
    assert "ebv_sandf" in out.columns and out.height > 0


def test_no_usable_rows():
    table, _, split = inputs(100)
    table = table.with_columns(pl.lit(SENTINEL).alias("j_m"))
    spec = ModelSpec.from_config("ir", IR)
    with pytest.raises(FeatureError, match="model ir has no usable rows"):
        build_feature_table(sentinel_to_null(table.lazy()), split, spec, CORR)


def test_sentinel_in_an_extra_column_is_missing_too():
    table, _, split = inputs(400)
    labelled = (table["teff_gaia"] != SENTINEL).to_numpy()
    w1 = np.where(np.arange(table.height) % 2 == 0, 12.5, SENTINEL)
    table = table.with_columns(pl.Series("w1", w1))
    spec = ModelSpec.from_config("w", {**IR, "features": ["bp_rp", "w1"], "target": "teff_gaia"})
    out, counts = build_feature_table(sentinel_to_null(table.lazy()), split, spec, None)
    assert (out["w1"] == 12.5).all()
    assert counts["missing_feature_by_column"]["w1"] == int((labelled & (w1 == SENTINEL)).sum())


def test_no_training_rows_names_the_splits():
    table, lf, split = inputs(400)
    spec = ModelSpec.from_config("ir", IR)
    out, _ = build_feature_table(lf, split, spec, CORR)
    assert training_rows(out, spec).height == out.filter(pl.col("split") == "train").height
    held_out = out.filter(pl.col("split") != "train")
    n = {s: held_out.filter(pl.col("split") == s).height for s in ("calibration", "test")}
    with pytest.raises(
        FeatureError,
        match=rf"model ir: none of its {held_out.height} usable rows is in the training split "
        rf"\(calibration: {n['calibration']}, test: {n['test']}\)",
    ):
        training_rows(held_out, spec)


def test_bad_spec():
    with pytest.raises(FeatureError, match="target must be one of"):
        ModelSpec.from_config("x", {**IR, "target": "teff_truth"})
