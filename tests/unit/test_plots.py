"""Figures of the report: the reductions they draw are right, and each figure is drawn from the
files' real shapes, from sparse ones and from files that lack keys (without failing)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import coverage_report, percentile_report
from ebteff.evaluate import full_metrics
from ebteff.plots import base as base_plots
from ebteff.plots import calibration as calib_plots
from ebteff.plots import catalogue as cat_plots
from ebteff.plots import teff as teff_plots

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_grid_aggregate_counts_and_medians_like_numpy():
    rng = np.random.default_rng(1)
    x, y, v = rng.uniform(-1, 11, 5000), rng.uniform(0, 5, 5000), rng.normal(size=5000)
    frame = pl.DataFrame({"x": x, "y": y, "v": v}).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    xe, ye = np.linspace(0, 10, 11), np.linspace(0, 5, 6)
    cells = base_plots.grid_aggregate(
        frame, pl.col("x"), pl.col("y"), xe, ye, med=pl.col("v").median()
    )
    xs = frame["x"].to_numpy().astype(float)
    ok = np.isfinite(xs)
    expected, _, _ = np.histogram2d(y[ok], xs[ok], bins=[ye, xe])
    assert np.array_equal(cells["count"], expected)  # nulls and out-of-range rows dropped
    sel = ok & (xs >= 3) & (xs < 4) & (y >= 2) & (y < 3)
    assert cells["med"][2, 3] == pytest.approx(np.median(v[sel]))


def test_grid_aggregate_leaves_empty_cells_nan():
    frame = pl.DataFrame({"x": [0.5], "y": [0.5], "v": [3.0]})
    cells = base_plots.grid_aggregate(
        frame, pl.col("x"), pl.col("y"), [0, 1, 2], [0, 1, 2], m=pl.col("v").mean()
    )
    assert cells["count"].tolist() == [[1, 0], [0, 0]]
    assert cells["m"][0, 0] == 3.0 and np.isnan(cells["m"][1, 1])


def test_sky_cells_cover_the_sphere():
    area = cat_plots.sky_cell_area_deg2(np.linspace(0, 360, 73), np.linspace(-90, 90, 37))
    assert area.shape == (36, 72)
    assert area.sum() == pytest.approx(4 * np.pi * (180 / np.pi) ** 2)
    assert area[18, 0] > area[0, 0]  # equator cells are the largest


def test_bin_titles():
    assert [base_plots.bin_title(b) for b in ("0-4000", "4000-5000", "8000-50000")] == [
        "< 4000",
        "4000\u20135000",
        "\u2265 8000",
    ]


def test_coverage_is_found_in_either_calibration_file():
    cov = {"overall": {"n": 1}, "per_bin": {}}
    assert calib_plots.coverage_of({"test": {"by_label_bin": cov}}) == cov  # per-model report
    assert calib_plots.coverage_of({"test": cov}) == cov  # teff_best.json
    assert calib_plots.coverage_of({"test": {"by_something_else": cov}}) == {}
    assert calib_plots.coverage_of({}) == {}


@pytest.fixture(scope="module")
def files():
    """Metrics and calibration reports shaped like the workflow's, from the library itself."""
    rng = np.random.default_rng(3)
    label = 10 ** rng.uniform(3.45, 4.5, 3000)
    pred = label * rng.normal(1, 0.08, 3000)
    sigma = 0.08 * label
    metrics = {
        "splits": {
            "test": {
                "vs_label": full_metrics(label, pred),
                "vs_truth": full_metrics(label * 1.02, pred),
            }
        }
    }
    cov = coverage_report(pred, sigma, label)
    q = pred[:, None] + sigma[:, None] * np.array([-1.645, -1, 0, 1, 1.645])
    report = {
        "test": {
            "by_label_bin": cov,
            "by_predicted_bin": coverage_report(pred, sigma, label, bin_by=pred),
            "raw_tree_spread": coverage_report(pred, sigma / 4, label),
            "percentiles_by_predicted_bin": percentile_report(
                q, label, rng.uniform(0, 1, 3000), bin_by=pred
            ),
            "percentiles_by_label_bin": percentile_report(q, label, rng.uniform(0, 1, 3000)),
        }
    }
    return {"label": label, "pred": pred, "metrics": metrics, "report": report, "cov": cov}


def test_every_figure_is_drawn(tmp_path, files):
    label, pred = files["label"], files["pred"]
    edges = base_plots.log_teff_edges(40)
    frame = pl.DataFrame({"label": label, "pred": pred})
    cells = base_plots.grid_aggregate(
        frame, pl.col("label").log10(), pl.col("pred").log10(), edges, edges
    )
    teff_plots.accuracy_figure(
        [
            {
                "cells": cells,
                "edges": edges,
                "reference": "label",
                "metrics": files["metrics"]["splits"]["test"]["vs_label"]["overall"],
            }
        ],
        "m1",
        tmp_path / "accuracy.png",
    )
    teff_plots.teff_distributions_figure(
        {"truth": label, "label": pred}, {"m1": pred}, tmp_path / "t.png"
    )
    teff_plots.binned_metrics_figure(
        {"m1": files["metrics"], "m2": files["metrics"]}, tmp_path / "b.png"
    )
    reports = {"m1": files["report"], "best": {"test": files["cov"]}}
    calib_plots.calibration_coverage_figure(reports, tmp_path / "c.png")
    calib_plots.pit_figure(reports, tmp_path / "p.png")
    calib_plots.percentile_coverage_figure(reports, tmp_path / "q.png")
    cat_plots.importances_figure({"m1": {"g": 0.7, "bp_rp": 0.3}, "m2": None}, tmp_path / "i.png")
    summary = {
        "rows": 10,
        "flags": {"A": 5, "B": 1, "C": 2, "D": 1, "X": 1},
        "teff_best_source": {"gaia": 5, "m1": 4},
        "model_won_among_all_ml_predictions": {"m1": 8},
        "predicted_by_model": {"m1": 10},
    }
    cat_plots.catalog_summary_figure(summary, tmp_path / "s.png")
    xe, ye = np.linspace(0, 3, 31), np.linspace(8, 20, 31)
    cmd = pl.DataFrame({"x": pred / 1e4, "y": 8 + label / 4e3, "t": label})
    cells = base_plots.grid_aggregate(
        cmd, pl.col("x"), pl.col("y"), xe, ye, teff=pl.col("t").median()
    )
    cat_plots.cmd_figure(cells, xe, ye, tmp_path / "cmd.png")
    ra, dec = np.linspace(0, 360, 37), np.linspace(-90, 90, 19)
    counts = np.random.default_rng(0).poisson(5, (18, 36)).astype(float)
    cat_plots.sky_figure(
        [
            {"values": counts, "title": "n", "label": "stars", "log": True},
            {"values": np.where(counts > 3, 0.5, np.nan), "title": "f", "label": "fraction"},
        ],
        ra,
        dec,
        tmp_path / "sky.png",
    )
    for name in ("accuracy", "t", "b", "c", "p", "q", "i", "s", "cmd", "sky"):
        width, height = png_size(tmp_path / f"{name}.png")
        assert width > 400 and height > 300, name
        panels = base_plots.read_panel_points(tmp_path / f"{name}.png")
        if name == "i":  # m2 has no importances (None): its panel says so and shows nothing
            assert panels[1] == {"title": "m2", "points": 0}
            panels = panels[:1]
        assert panels and all(p["points"] > 0 for p in panels), (name, panels)


def test_figures_survive_files_that_lack_keys(tmp_path):
    """Calibration and metrics files change shape as the workflow evolves: a missing key gives
    an empty panel that says so, not a failed rule."""
    teff_plots.binned_metrics_figure({"m1": {}}, tmp_path / "b.png")
    calib_plots.calibration_coverage_figure({"m1": {}, "m2": {"test": {}}}, tmp_path / "c.png")
    calib_plots.pit_figure(
        {"m1": {"test": {"by_label_bin": {"overall": {"n": 0}}}}}, tmp_path / "p.png"
    )
    calib_plots.percentile_coverage_figure({"m1": {}, "m2": {"test": {}}}, tmp_path / "q.png")
    cat_plots.importances_figure({}, tmp_path / "i.png")
    cat_plots.catalog_summary_figure({}, tmp_path / "s.png")
    empty = {"count": np.zeros((4, 4)), "teff": np.full((4, 4), np.nan)}
    cat_plots.cmd_figure(empty, np.arange(5.0), np.arange(5.0), tmp_path / "cmd.png")
    edges = base_plots.log_teff_edges(4)
    teff_plots.accuracy_figure(
        [{"cells": {"count": np.zeros((4, 4))}, "edges": edges, "reference": "truth"}],
        "m1",
        tmp_path / "a.png",
    )
    for name in ("b", "c", "p", "q", "i", "s", "cmd", "a"):
        assert png_size(tmp_path / f"{name}.png")[0] > 100, name
        # and each says it shows nothing: the check the workflow's figures pass can fail
        panels = base_plots.read_panel_points(tmp_path / f"{name}.png")
        assert panels and all(p["points"] == 0 for p in panels), (name, panels)


def test_panel_points_count_only_data_inside_the_limits():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4)
    a = axes.ravel()
    a[0].plot([1.0, 2.0], [np.nan, np.nan])  # all NaN
    a[1].plot([1.0, 2.0, 3.0], [1.0, 2.0, 50.0])
    a[1].set_ylim(0, 10)  # one point beyond the limits
    a[1].axhline(5)  # a guide in axes coordinates
    a[2].plot([0, 1], [0, 1], gid=base_plots.GUIDE)  # a reference line only
    a[3].pcolormesh(np.arange(3.0), np.arange(3.0), np.array([[np.nan, 1.0], [np.nan, np.nan]]))
    a[4].bar(["x", "y"], [0.0, 3.0])  # one bar of no height
    a[5].stairs([0.0, np.nan, 2.0, 4.0], np.arange(5.0))
    a[6].scatter([np.nan, 1.0], [1.0, 1.0])
    a[7].set_visible(False)
    points = [p["points"] for p in base_plots.panel_points(fig)]
    plt.close(fig)
    assert points == [0, 2, 0, 1, 1, 2, 1]


def test_an_all_nan_panel_is_seen_in_a_real_figure(tmp_path, files):
    metrics = {"splits": {"test": {"vs_label": files["metrics"]["splits"]["test"]["vs_label"]}}}
    nan = {
        k: (dict.fromkeys(v, np.nan) | {"n": v["n"]})
        for k, v in metrics["splits"]["test"]["vs_label"]["per_bin"].items()
    }
    broken = {"splits": {"test": {"vs_label": {"overall": {}, "per_bin": nan}}}}
    teff_plots.binned_metrics_figure({"m1": broken}, tmp_path / "b.png")
    assert [p["points"] for p in base_plots.read_panel_points(tmp_path / "b.png")] == [0, 0]
    teff_plots.binned_metrics_figure({"m1": metrics}, tmp_path / "ok.png")
    assert all(p["points"] > 0 for p in base_plots.read_panel_points(tmp_path / "ok.png"))


def test_same_figure_same_bytes(tmp_path, files):
    for name in ("a", "b"):
        teff_plots.binned_metrics_figure({"m1": files["metrics"]}, tmp_path / f"{name}.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_coverage_far_below_nominal_is_drawn_not_cut_off(tmp_path):
    """The coverage panels zoom to 40-100%; a bin whose coverage is lower (a model far too
    confident there) widens the view instead of vanishing below the axis."""

    def stats(one, two):
        return {"n": 50, "within_1sigma": one, "within_2sigma": two}

    bins = {"overall": stats(0.68, 0.95), "per_bin": {"0-4000": stats(0.7, 0.95)}}
    low = {"overall": stats(0.6, 0.9), "per_bin": {"0-4000": stats(0.18, 0.35)}}
    report = {"test": {"by_predicted_bin": bins, "by_label_bin": low}}
    calib_plots.calibration_coverage_figure({"m1": report}, tmp_path / "c.png")
    panels = base_plots.read_panel_points(tmp_path / "c.png")
    # four panels (1 and 2 sigma, by prediction and by label), each with both bars drawn
    assert [p["points"] for p in panels] == [2, 2, 2, 2], panels
