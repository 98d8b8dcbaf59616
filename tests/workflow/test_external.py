"""External validation in the tiny run: `validate_external` on the shipped table (Gaia FGK
Benchmark Stars v3) is part of the default target, every star of the table is accounted for, and
a table of the run's own stars gives exactly the statistics of the catalogue's rows of them."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import polars as pl
import pytest

from ebteff.external import REFERENCE, bin_labels, compare, estimators_of
from ebteff.plots.base import read_panel_points
from helpers.photometry_tables import archive_table
from helpers.workflow_runner import load_test_config, run_snakemake, write_config

MODELS = list(load_test_config()["models"])
TABLES = load_test_config()["validation"]["tables"]
GBS_STARS = 180  # the shipped table's rows (scripts/ebteff/data/validation/README.md)
STAT_KEYS = {
    "n",
    "median_bias",
    "median_abs_rel",
    "within_10pct",
    "coverage_p16_p84",
    "coverage_p05_p95",
}


def test_the_shipped_table_is_validated_in_every_run(snakemake_run):
    workdir, _ = snakemake_run
    assert list(TABLES) == ["gbs_v3"]
    result = json.loads((workdir / "results/tiny/validation/gbs_v3.json").read_text())
    assert result["simulated_run"] is True and result["catalogue"] is None
    assert result["models"] == MODELS and result["bins"] == bin_labels()
    predicted = result["predicted"]
    # every star of the table accounted for, in each breakdown
    assert predicted["stars"] == GBS_STARS == predicted["with_reference"]
    assert sum(predicted["flags"].values()) == GBS_STARS
    assert sum(predicted["reference_bins"].values()) == GBS_STARS
    assert (
        predicted["reference_bins"]["6000-8000"] > 0 and predicted["reference_bins"][">=8000"] == 0
    )
    assert set(predicted["estimators"]) == set(estimators_of(MODELS))
    for est, r in predicted["estimators"].items():
        n = r["overall"]["n"]
        assert n + r["not_predicted"] == GBS_STARS, est
        assert r["in_range"]["n"] + r["out_of_range"]["n"] == n, est
        assert sum(s["n"] for s in r["per_bin"].values()) == n, est
        assert sum(s["n"] for s in r["per_flag"].values()) == n, est
        assert (
            sum(s["n"] for s in r["per_bin_in_range"].values()) == r["in_range"]["n"]
            and sum(s["n"] for s in r["per_bin_out_of_range"].values()) == r["out_of_range"]["n"]
        ), est
        assert set(r["overall"]) == STAT_KEYS, est
        if est != "teff_best":  # every model's calibration carries its novelty
            assert r["novel"]["n"] + r["not_novel"]["n"] == n, est
    # the benchmark stars are far brighter than the simulated training stars: novel to a model
    # on G, BP, RP (at least the one that is flag X, novel to every model)
    assert predicted["estimators"][f"teff_{MODELS[0]}"]["novel"]["n"] > 0
    # every star has G, BP and RP: the Gaia models predict all, the 2MASS one all but the one
    # without 2MASS; teff_best all but those novel to every model that predicted them (all
    # brighter than G = 7.5, beyond the training stars: docs/novelty.md)
    rows = pl.read_parquet(workdir / "results/tiny/validation/gbs_v3.parquet")
    refused = rows["no_teff_reason"].fill_null("").str.contains("novel to every model").sum()
    assert predicted["estimators"]["teff_best"]["overall"]["n"] == GBS_STARS - refused
    assert refused < 0.1 * GBS_STARS
    assert predicted["estimators"][f"teff_{MODELS[1]}"]["not_predicted"] == 1
    assert rows.height == GBS_STARS and rows["source_id"].is_sorted()  # the table's order
    text = (workdir / "results/tiny/validation/gbs_v3.md").read_text()
    assert "how models trained on the simulation transfer to real stars" in text
    assert "| teff_best, inside training range |" in text
    panels = read_panel_points(workdir / "results/tiny/plots/validation/gbs_v3.png")
    # a panel per estimator that predicted a star (the table has no ebv_sandf: a model that
    # needs it predicts none and is only named)
    shown = [e for e in estimators_of(MODELS) if predicted["estimators"][e]["overall"]["n"]]
    assert [p["title"] for p in panels] == shown
    # every star an estimator predicted is drawn, whatever its flag
    drawn = [predicted["estimators"][e]["overall"]["n"] for e in shown]
    assert [p["points"] for p in panels] == drawn


@pytest.fixture(scope="module")
def own_stars(snakemake_run, tmp_path_factory):
    """The tiny run with a second validation table: 300 of its own stars as an archive query
    gives them (with the SFD reddening ebv_sandf added), with a made-up reference Teff (the
    catalogue's teff_best times 1.05; missing for every fifth star and where the catalogue has
    no teff_best)."""
    workdir = tmp_path_factory.mktemp("external") / "run"
    shutil.copytree(snakemake_run[0], workdir, symlinks=True)
    photometry = pl.read_parquet(
        workdir / "resources/tiny/photometry/eb_unified_photometry.parquet"
    )
    catalogue = pl.read_parquet(workdir / "results/tiny/catalog/eb_teff_catalog.parquet")
    part = photometry.slice(1000, 300)
    stars = archive_table(part).with_columns(part["ebv_sandf"])  # as test_stars' user adds it
    best = (
        stars.select("source_id").join(catalogue, on="source_id", how="left", maintain_order="left")
    )["teff_best"] * 1.05
    reference = pl.Series(
        "my_teff", [None if i % 5 == 0 else v for i, v in enumerate(best.to_list())]
    )
    stars.with_columns(reference).write_csv(workdir / "mine.csv")
    config = load_test_config()
    config["validation"]["tables"]["mine"] = {"path": "mine.csv", "teff": "my_teff"}
    cfg = write_config(workdir / "with_mine.yaml", config)
    proc = run_snakemake(workdir, configfile=cfg)
    return workdir, proc, stars.with_columns(reference)


def test_a_second_table_reruns_only_its_validation(own_stars):
    _, proc, _ = own_stars
    out = proc.stdout + proc.stderr
    assert set(re.findall(r"^(?:local)?rule (\w+):", out, re.M)) == {"validate_external", "all"}
    assert "wildcards: table=mine" in out and "table=gbs_v3" not in out


def test_a_table_of_known_answer_gives_the_catalogues_statistics(own_stars):
    """The rows are predicted as `snakemake stars` predicts them, so wherever the 2MASS model
    (which the archive table lacks) did not compete, they are the catalogue's own: the
    statistics of the validation equal compare() on the catalogue's rows with the same
    reference, and teff_best against 1.05 teff_best has a bias of exactly +5% of it."""
    workdir, _, table = own_stars
    result = json.loads((workdir / "results/tiny/validation/mine.json").read_text())
    predicted = result["predicted"]
    # every fifth reference missing, and those of stars the catalogue refused for novelty
    assert predicted["stars"] == 300 and predicted["no_reference"] == table["my_teff"].null_count()
    assert predicted["no_reference"] >= 60
    rows = pl.read_parquet(workdir / "results/tiny/validation/mine.parquet")
    assert rows["source_id"].to_list() == table["source_id"].to_list()
    catalogue = pl.read_parquet(workdir / "results/tiny/catalog/eb_teff_catalog.parquet")
    own = (
        table.select("source_id", pl.col("my_teff").alias(REFERENCE))
        .join(catalogue, on="source_id", how="left", maintain_order="left")
        .filter(pl.col(f"teff_{MODELS[1]}").is_null())  # where the catalogue is the table's
    )
    same = rows.filter(pl.col("source_id").is_in(own["source_id"].implode()))
    assert same["teff_best"].equals(own["teff_best"], null_equal=True)
    expected = compare(own, ["teff_best", f"teff_{MODELS[0]}"])
    got = compare(same.with_columns(own[REFERENCE]), ["teff_best", f"teff_{MODELS[0]}"])
    assert (
        got["estimators"]["teff_best"]["per_bin"] == expected["estimators"]["teff_best"]["per_bin"]
    )
    best = predicted["estimators"]["teff_best"]["overall"]
    ref = table["my_teff"].to_numpy().astype(float)
    pred = rows["teff_best"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    ok = np.isfinite(ref) & np.isfinite(pred)
    assert best["n"] == ok.sum()
    assert best["median_bias"] == pytest.approx(np.median(pred[ok] - ref[ok]))
    # where teff_best is the catalogue's, reference = 1.05 x it: |dT|/T = 0.05/1.05 exactly
    assert got["estimators"]["teff_best"]["overall"]["median_abs_rel"] == pytest.approx(0.05 / 1.05)
    assert got["estimators"]["teff_best"]["overall"]["within_10pct"] == 1.0


def test_a_validation_table_that_does_not_exist_names_the_key(snakemake_run, tmp_path):
    config = load_test_config()
    config["validation"]["tables"]["gone"] = {"path": "gone.fits", "teff": "teff"}
    cfg = write_config(tmp_path / "gone.yaml", config)
    proc = run_snakemake(snakemake_run[0], "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert "gone.fits (config key validation.tables.gone.path) does not exist" in (
        proc.stdout + proc.stderr
    )
