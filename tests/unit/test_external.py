"""External validation (ebteff.external): the statistics on hand-made tables with known answers,
the accounting of every star, the Markdown, and the shipped table."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from ebteff.external import (
    REFERENCE,
    ValidationError,
    ValidationTable,
    bin_labels,
    catalogue_rows_of,
    check_reference_columns,
    compare,
    comparison_markdown,
    resolve_path,
    statistics,
)
from ebteff.flags import FLAG_BITS
from ebteff.tables import normalise, table_batches

OUT = FLAG_BITS["outside_training_range"]


def test_statistics_of_a_known_table():
    ref = [5000.0, 5000.0, 4000.0, 6000.0, 3000.0]
    pred = [5100.0, 4400.0, 4000.0, 7000.0, float("nan")]  # dT: +100, -600, 0, +1000; one none
    pct = {
        "p16": [5000.0, 4500.0, 3900.0, 6500.0, np.nan],
        "p84": [5200.0, 4800.0, 4100.0, 7500.0, np.nan],
        "p05": [4900.0, 4000.0, 3800.0, 5900.0, np.nan],
        "p95": [5300.0, 5100.0, 4200.0, 8000.0, np.nan],
    }
    s = statistics(ref, pred, pct)
    assert s["n"] == 4
    assert s["median_bias"] == pytest.approx(50.0)  # median of -600, 0, 100, 1000
    # |dT|/T: 0.02, 0.12, 0, 0.1667 -> median (0.02 + 0.12) / 2
    assert s["median_abs_rel"] == pytest.approx(0.07)
    assert s["within_10pct"] == pytest.approx(0.5)  # 0.02 and 0
    assert s["coverage_p16_p84"] == pytest.approx(0.5)  # stars 1 and 3
    assert s["coverage_p05_p95"] == pytest.approx(1.0)
    assert statistics([5000.0], [float("nan")])["median_bias"] is None


def frame() -> pl.DataFrame:
    """Six stars: two A, two B (one outside the training range), a D, an X; one lacks a
    reference."""
    return pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4, 5, 6],
            REFERENCE: [3500.0, 4500.0, 5500.0, 9000.0, 5000.0, None],
            "flag": ["A", "A", "B", "B", "X", "D"],
            "flag_bits": [1, 1, 2, 2 | OUT, 0, 2],
            "teff_best": [3600.0, 4400.0, 5600.0, 7000.0, None, 5000.0],
            "teff_best_p05": [3000.0] * 6,
            "teff_best_p16": [3450.0, 4450.0, 5000.0, 7500.0, None, 4000.0],
            "teff_best_p84": [3650.0, 4600.0, 5400.0, 8000.0, None, 6000.0],
            "teff_best_p95": [9000.0] * 6,
            "teff_m": [3700.0, None, 5000.0, None, None, 5000.0],
        }
    )


def test_every_star_is_accounted_for_per_bin_flag_and_range():
    out = compare(frame(), ["teff_best", "teff_m"])
    assert out["stars"] == 6 and out["with_reference"] == 5 and out["no_reference"] == 1
    assert out["flags"] == {"A": 2, "B": 2, "C": 0, "D": 0, "X": 1}
    assert sum(out["reference_bins"].values()) == out["with_reference"]
    assert out["reference_bins"] == {
        "<4000": 1,
        "4000-5000": 1,
        "5000-6000": 2,
        "6000-8000": 0,
        ">=8000": 1,
    }
    for est in ("teff_best", "teff_m"):
        r = out["estimators"][est]
        assert r["overall"]["n"] + r["not_predicted"] == out["with_reference"]
        assert r["in_range"]["n"] + r["out_of_range"]["n"] == r["overall"]["n"]
        assert sum(s["n"] for s in r["per_bin"].values()) == r["overall"]["n"]
        assert sum(s["n"] for s in r["per_flag"].values()) == r["overall"]["n"]
        for label, s in r["per_bin"].items():
            inside, outside = r["per_bin_in_range"][label], r["per_bin_out_of_range"][label]
            assert inside["n"] + outside["n"] == s["n"], (est, label)
    best = out["estimators"]["teff_best"]
    assert best["per_bin_out_of_range"][">=8000"]["median_bias"] == pytest.approx(-2000.0)
    assert best["per_bin_in_range"][">=8000"]["n"] == 0
    assert best["overall"]["n"] == 4 and best["not_predicted"] == 1
    assert best["out_of_range"]["n"] == 1
    assert best["out_of_range"]["median_bias"] == pytest.approx(-2000.0)
    assert best["per_flag"]["A"]["median_bias"] == pytest.approx(0.0)  # +100 and -100
    assert best["per_flag"]["A"]["coverage_p16_p84"] == pytest.approx(1.0)
    assert best["per_bin"]["5000-6000"]["coverage_p16_p84"] == pytest.approx(0.0)
    assert best["overall"]["coverage_p05_p95"] == pytest.approx(1.0)
    # a model's own training range where the rows carry it
    own = compare(frame().with_columns(teff_m_outside=pl.Series([True] * 6)), ["teff_m"])
    assert own["estimators"]["teff_m"]["out_of_range"]["n"] == 2
    # a model's novelty, where the rows carry it: novel above 1; no score, neither
    scored = compare(
        frame().with_columns(teff_m_novelty=pl.Series([0.5, None, 3.0, None, None, 1.0])),
        ["teff_m"],
    )["estimators"]["teff_m"]
    assert scored["novel"]["n"] == 1 and scored["novel"]["median_bias"] == pytest.approx(-500.0)
    assert scored["not_novel"]["n"] == 1  # star 6 (1.0) has no reference
    assert "novel" not in out["estimators"]["teff_m"]
    # a model without percentiles: coverage not measured, not 0
    assert out["estimators"]["teff_m"]["overall"]["coverage_p16_p84"] is None
    assert out["estimators"]["teff_m"]["overall"]["n"] == 2
    text = comparison_markdown(out, "t")
    assert "| teff_best, outside training range | 1 | -2000 |" in text


def test_catalogue_splits_are_accounted_for(tmp_path):
    cat = (
        frame()
        .drop(REFERENCE)
        .with_columns(flag_bits=pl.Series([1 | 32, 1 | 128, 2 | 64, 2, 0, 2]))
    )
    cat.write_parquet(tmp_path / "cat.parquet")
    rows = pl.DataFrame({"source_id": [4, 2, 99], REFERENCE: [9000.0, 4500.0, 5000.0]})
    own = catalogue_rows_of(tmp_path / "cat.parquet", rows)
    assert own["source_id"].to_list() == [4, 2]  # the table's order; 99 is not in the catalogue
    out = compare(own, ["teff_best"], splits=True)
    splits = out["estimators"]["teff_best"]["per_split"]
    assert {k: v["n"] for k, v in splits.items()} == {
        "train": 0,
        "calibration": 0,
        "test": 1,
        "unlabelled": 1,
    }


def test_bin_labels():
    assert bin_labels() == ["<4000", "4000-5000", "5000-6000", "6000-8000", ">=8000"]
    assert bin_labels((0.0, 1000.0, math.inf)) == ["<1000", ">=1000"]


def test_the_shipped_table_reads_as_180_benchmark_stars():
    """180 stars of GBS v3 with a Gaia DR3 source_id, Teff 3,362-6,914 K, every one with G, BP
    and RP brighter than 7.5 and a reference Teff and error (its README)."""
    path = resolve_path("ebteff:validation/gbs_v3.csv")
    assert path.is_file() and (path.parent / "README.md").is_file()
    table = pl.concat([normalise(b, path) for b in table_batches(path, 1000)])
    assert table.height == 180 and table["source_id"].n_unique() == 180
    assert table["teff_gbs"].min() == 3362 and table["teff_gbs"].max() == 6914
    assert table["e_teff_gbs"].null_count() == 0
    assert (
        table["g"].max() < 7.51
        and table.select(["g", "bp", "rp"]).null_count().sum_horizontal()[0] == 0
    )
    spec = ValidationTable.from_config("gbs_v3", {"path": str(path), "teff": "teff_gbs"})
    assert spec.teff_err is None


def test_a_table_without_its_reference_column_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("source_id,phot_g_mean_mag,my_teff\n1,12.0,5000\n")
    spec = ValidationTable("mine", str(path), "my_teff")
    assert check_reference_columns(spec, path) == ["my_teff"]
    wrong = ValidationTable("mine", str(path), "teff_spec")
    with pytest.raises(
        ValidationError,
        match=r"mine\.csv has no column 'teff_spec', which validation\.tables\.mine\.teff names "
        r"\(columns found: source_id, phot_g_mean_mag, my_teff\)",
    ):
        check_reference_columns(wrong, path)
