"""End-to-end: log g and [M/H] beside Teff (`parameters: [logg, mh]`).

The tiny run (config/test.yaml, `parameters: []`) is copied and run again with the log g and
[M/H] models of config/config.yaml at the tiny hyperparameters: only their jobs and what reads
the catalogue run. The Teff columns must be exactly those of the run without them; the new
columns must be in all four files with their units and UCDs; `snakemake stars` must give exactly
the catalogue's log g and [M/H]; the report must show their accuracy and coverage in dex.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from astropy.io.votable import parse_single_table
from astropy.table import Table

from ebteff.calibrate import PERCENTILE_NAMES
from ebteff.parameters import LOGG, MH
from ebteff.plots.base import read_panel_points
from helpers.photometry_tables import archive_table, write_as
from helpers.workflow_runner import REPO, load_test_config, run_snakemake, write_config

from .test_report import report_data

CATALOG = "results/tiny/catalog/eb_teff_catalog"
PHOTOMETRY = "resources/tiny/photometry/eb_unified_photometry.parquet"
NEW = {"logg": "gaia_logg", "mh": "gaia_mh"}
N_STARS = 1000


def parameter_config() -> dict:
    """config/test.yaml with `parameters: [logg, mh]` and config/config.yaml's two models at the
    test's forest size."""
    config = load_test_config()
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tiny = config["models"]["gaia_teff_corrected_log"]["hyperparameters"]
    for name in NEW.values():
        config["models"][name] = {**default["models"][name], "hyperparameters": dict(tiny)}
    config["parameters"] = ["logg", "mh"]
    return config


@pytest.fixture(scope="module")
def with_parameters(snakemake_run, tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """(the run with log g and [M/H], the catalogue of the run without them)."""
    dest = tmp_path_factory.mktemp("parameters") / "run"
    shutil.copytree(snakemake_run[0], dest, symlinks=True)
    before = pl.read_parquet(dest / f"{CATALOG}.parquet")
    cfg = write_config(dest / "parameters.yaml", parameter_config())
    run_snakemake(dest, configfile=cfg)
    return dest, before


def test_teff_columns_are_those_of_the_run_without_the_new_models(with_parameters):
    workdir, before = with_parameters
    cat = pl.read_parquet(workdir / f"{CATALOG}.parquet")
    assert cat.columns[: len(before.columns)] == before.columns
    assert cat.select(before.columns).equals(before, null_equal=True)
    new = cat.columns[len(before.columns) :]
    assert {c.split("_")[0] for c in new} == {"logg", "mh"}


def test_log_g_and_mh_columns_in_every_format_with_units(with_parameters):
    workdir, _ = with_parameters
    cat = pl.read_parquet(workdir / f"{CATALOG}.parquet")
    fits = Table.read(workdir / f"{CATALOG}.fits")
    vot = parse_single_table(str(workdir / f"{CATALOG}.vot"))
    csv = pl.read_csv(workdir / f"{CATALOG}.csv", infer_schema_length=0)
    for par in (LOGG, MH):
        key, model = par.key, NEW[par.key]
        cols = [
            f"{key}_best",
            *(f"{key}_best_{p}" for p in PERCENTILE_NAMES),
            f"{key}_best_err",
            f"{key}_{model}",
            f"{key}_{model}_err",
        ]
        for c in cols:
            assert str(fits[c].unit) == "dex", c
            field = vot.get_field_by_id_or_name(c)
            assert str(field.unit) == "dex" and par.ucd in field.ucd, c
            assert c in csv.columns
        for c in (f"{key}_best_source", f"{key}_flag", f"{key}_flag_bits"):
            assert c in fits.colnames and c in csv.columns
        best, src = cat[f"{key}_best"], cat[f"{key}_best_source"]
        label = pl.read_parquet(workdir / PHOTOMETRY, columns=[par.labels[0]])[par.labels[0]]
        has = (label != -999.0).to_numpy()
        # GSP-Phot's value where it has one, the model's elsewhere; flags in dex
        assert (src.to_numpy()[has] == "gaia").all()
        assert np.allclose(best.to_numpy()[has], label.to_numpy()[has])
        ml = cat.filter(pl.col(f"{key}_best_source") == model)
        assert ml.height > 0.1 * cat.height
        assert ml[f"{key}_best"].equals(ml[f"{key}_{model}"])
        assert (ml[f"{key}_best_p16"] <= ml[f"{key}_best"]).all()
        assert (ml[f"{key}_best_p84"] >= ml[f"{key}_best_p50"]).all()
        err = ml[f"{key}_best_err"].to_numpy()
        flag = ml[f"{key}_flag"].to_numpy()
        assert (flag[err < par.flag_b_max] == "B").all() and (
            flag[err >= par.flag_c_max] == "D"
        ).all()
        assert set(cat.filter(pl.col(f"{key}_best_source") == "gaia")[f"{key}_flag"]) == {"A"}
        # the metrics are in dex, per bin of the label in dex
        metrics = json.loads((workdir / f"results/tiny/models/{model}/metrics.json").read_text())
        assert metrics["unit"] == "dex"
        assert set(metrics["splits"]["test"]["vs_label"]["per_bin"]) == set(par.bin_labels())
        md = (workdir / f"results/tiny/models/{model}/metrics.md").read_text()
        assert "MAE (dex)" in md and "(K)" not in md


def test_stars_gives_exactly_the_catalogues_log_g_and_mh(with_parameters):
    workdir, _ = with_parameters
    photometry = pl.read_parquet(workdir / PHOTOMETRY).head(N_STARS)
    table = archive_table(photometry)
    write_as(table, workdir / "mine.parquet")
    cfg = workdir / "parameters.yaml"
    run_snakemake(workdir, "stars", "--config", "stars=mine.parquet", configfile=cfg)
    got = pl.read_parquet(workdir / "results/tiny/stars/mine.parquet")
    cat = pl.read_parquet(workdir / f"{CATALOG}.parquet").head(N_STARS)
    assert got["source_id"].equals(cat["source_id"])
    for key, model in NEW.items():
        cols = [
            f"{key}_{model}",
            *(f"{key}_{model}_{p}" for p in PERCENTILE_NAMES),
            f"{key}_{model}_err",
            f"{key}_best",
            *(f"{key}_best_{p}" for p in PERCENTILE_NAMES),
            f"{key}_best_err",
            f"{key}_best_source",
            f"{key}_flag",
        ]
        for c in cols:
            assert got[c].equals(cat[c], null_equal=True), c
        assert got[f"{key}_best"].is_not_null().sum() > 0.9 * N_STARS


def test_report_shows_log_g_and_mh_in_dex(with_parameters):
    """Each of log g and [M/H] has its accuracy and coverage figure in the report, with a caption
    in dex, each panel drawing data and titled by the parameter (never by Teff)."""
    workdir, _ = with_parameters
    cfg = workdir / "parameters.yaml"
    run_snakemake(workdir, "--report", "results/tiny/report_parameters.html", configfile=cfg)
    html = (workdir / "results/tiny/report_parameters.html").read_text()
    results = report_data(html, "results")
    categories = report_data(html, "categories")
    in_category = {p: c for c, subs in categories.items() for ps in subs.values() for p in ps}
    for par in (LOGG, MH):
        for figure, category in (
            ("metrics_per_bin", "3 Accuracy"),
            ("calibration_coverage", "4 Calibration"),
        ):
            path = f"results/tiny/plots/{par.key}/{figure}.png"
            assert in_category[path] == category, path
            caption = results[path]["caption"]
            assert "dex" in caption and par.key in caption, path
            panels = read_panel_points(workdir / path)
            assert panels and all(p["points"] > 0 for p in panels), (path, panels)
            titles = " ".join(p["title"] for p in panels)
            assert par.name in titles and "Teff" not in titles, (path, titles)
    # the Teff figures are still there, titled by Teff
    teff = read_panel_points(workdir / "results/tiny/plots/metrics_per_bin.png")
    assert "Teff" in teff[0]["title"]
