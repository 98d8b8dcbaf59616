"""End-to-end: `snakemake stars --config stars=PATH`, Teff for a user's own table of stars.

The table is what a Gaia Archive query gives for 1,000 stars of the tiny run's simulated
photometry: Gaia columns only, archive names, NaN for missing values, plus a few rows no model
can predict. It is predicted with the tiny run's trained models, and with the same models
published on the loopback Hub into an empty directory (no photometry, no training data). The
values must be the catalogue's for the same stars, whatever the table's format.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from astropy.table import Table

from ebteff.calibrate import PERCENTILE_NAMES as PERCENTILES
from ebteff.flags import FLAG_BITS
from helpers.photometry_tables import archive_table, write_as
from helpers.workflow_runner import load_test_config, run_snakemake, write_config

MODELS = list(load_test_config()["models"])
CATALOG = "results/tiny/catalog/eb_teff_catalog.parquet"
PHOTOMETRY = "resources/tiny/photometry/eb_unified_photometry.parquet"
MODEL_REPO = load_test_config()["publish"]["model_repo"]
N_STARS = 1000
HOPELESS = [11, 12, 13]  # source_ids of rows without a Teff or a usable colour


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.MULTILINE))


def user_table(workdir: Path) -> pl.DataFrame:
    """1,000 stars of the run as an archive query returns them, with the SFD reddening
    ``ebv_sandf`` the user added (an extra column a model may use), then three hopeless rows."""
    photometry = pl.read_parquet(workdir / PHOTOMETRY).head(N_STARS)
    stars = archive_table(photometry).with_columns(photometry["ebv_sandf"])
    hopeless = pl.DataFrame(
        {"source_id": HOPELESS, "phot_g_mean_mag": [15.0, float("nan"), None]},
        schema_overrides={"phot_g_mean_mag": pl.Float64},
    )
    return pl.concat([stars, hopeless], how="diagonal_relaxed")


@pytest.fixture(scope="module")
def trained(snakemake_run, tmp_path_factory) -> Path:
    """A copy of the tiny run (models trained, catalogue built)."""
    dest = tmp_path_factory.mktemp("stars") / "run"
    shutil.copytree(snakemake_run[0], dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def stars_runs(trained) -> dict:
    """`snakemake stars` on the table in each format, one after the other in the same run."""
    table = user_table(trained)
    out = {}
    for ext in ("parquet", "csv", "fits", "vot"):
        path = trained / f"my_stars_{ext}.{ext}"
        write_as(table, path)
        proc = run_snakemake(trained, "stars", "--config", f"stars={path.name}")
        out[ext] = proc
    return out


def result(workdir: Path, ext: str = "parquet") -> pl.DataFrame:
    return pl.read_parquet(workdir / f"results/tiny/stars/my_stars_{ext}.parquet")


def test_stars_predicts_every_row_with_the_catalogues_values(trained, stars_runs):
    assert ran(stars_runs["parquet"]) == {"predict_stars", "stars"}  # nothing trained again
    got = result(trained)
    cat = pl.read_parquet(trained / CATALOG).head(N_STARS)
    table = user_table(trained)
    assert got["source_id"].to_list() == table["source_id"].to_list()  # each row once, in order
    stars = got.head(N_STARS)
    assert stars.columns[: len(cat.columns)] == cat.columns
    # the models whose features a Gaia-only table has: exactly the catalogue's values
    for m in (MODELS[0], MODELS[2], MODELS[3]):
        for col in (f"teff_{m}", *(f"teff_{m}_{p}" for p in PERCENTILES), f"teff_{m}_err"):
            assert stars[col].equals(cat[col], null_equal=True), col
    assert stars[f"teff_{MODELS[1]}"].is_null().all()  # a 2MASS model has nothing to go on
    # teff_best and the flag: the catalogue's wherever the 2MASS model did not compete there
    same = cat[f"teff_{MODELS[1]}"].is_null()
    assert 100 < same.sum() < N_STARS
    for col in (
        "teff_gaia",
        "teff_gaia_corrected",
        "teff_best",
        *(f"teff_best_{p}" for p in PERCENTILES),
        "teff_best_err",
        "teff_best_source",
        "teff_best_err_source",
        "teff_ml_best",
        "teff_ml_best_err",
        "flag",
    ):
        assert stars.filter(same)[col].equals(cat.filter(same)[col], null_equal=True), col
    # flag-A stars' percentiles from the label calibration the stars target was given
    assert set(stars.filter(pl.col("flag") == "A")["teff_best_err_source"]) == {"reference"}
    # flag bits: the catalogue's, less the split bits a user's table cannot have
    split_bits = sum(FLAG_BITS[f"split_{s}"] for s in ("train", "calibration", "test"))
    assert (stars["flag_bits"] & split_bits == 0).all()
    assert (stars.filter(same)["flag_bits"]).equals(cat.filter(same)["flag_bits"] & ~split_bits)
    assert set(stars["flag"]) >= {"A", "C", "D"}
    # every one of the run's stars has a model's features: a flag X is a star novel to every
    # model that predicted it (docs/novelty.md), as in the catalogue
    x = stars.filter(pl.col("flag") == "X")["no_teff_reason"]
    assert x.str.contains("novel to every model that could predict it").all()
    assert stars.filter(pl.col("flag") != "X")["no_teff_reason"].is_null().all()
    # the log counts, per model, the stars novel to it and the stars lacking each feature
    log = (trained / "results/tiny/logs/predict_stars/my_stars_parquet.log").read_text()
    novel = {m: int((got[f"teff_{m}_novelty"] > 1).sum()) for m in MODELS}
    assert f"novel to the model (its Teff not used for teff_best, docs/novelty.md) {novel}" in log
    assert f"{MODELS[1]}: predicted 0 of {N_STARS + len(HOPELESS)} stars (stars lacking" in log


def test_rows_no_model_can_predict_are_flagged_x_with_the_reason(trained, stars_runs):
    hopeless = result(trained).filter(pl.col("source_id").is_in(HOPELESS))
    assert hopeless["flag"].to_list() == ["X"] * 3
    assert hopeless["teff_best"].is_null().all()
    reason = hopeless["no_teff_reason"].to_list()
    assert reason[0] == (
        f"no GSP-Phot Teff; {MODELS[0]} lacks bp, rp, bp_rp, g_bp, g_rp; "
        f"{MODELS[1]} lacks bp_rp, j_k, g_j, rp_k, bp_j; "
        f"{MODELS[2]} lacks bp_rp, g_rp, g_bp, bp_g, rp_g, bp, rp; "
        f"{MODELS[3]} lacks bp, rp, bp_rp, g_bp, g_rp, ebv_sandf"
    )
    assert reason[1].startswith(f"no GSP-Phot Teff; {MODELS[0]} lacks g, bp, rp,")


def test_every_format_gives_the_same_result(trained, stars_runs):
    first = result(trained, "parquet")
    for ext in ("csv", "fits", "vot"):
        assert result(trained, ext).equals(first), ext


def test_the_fits_twin_holds_the_same_table(trained, stars_runs):
    got = result(trained)
    fits = Table.read(trained / "results/tiny/stars/my_stars_parquet.fits", hdu="EB_TEFF")
    assert fits.colnames == got.columns and len(fits) == got.height
    np.testing.assert_array_equal(fits["source_id"], got["source_id"])
    np.testing.assert_array_equal(fits["teff_best"], got["teff_best"].fill_null(np.nan))
    assert [str(f) for f in fits["flag"]] == got["flag"].to_list()
    assert str(fits["teff_best"].unit) == "K"


# -- published models ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(trained, tmp_path_factory) -> tuple[Path, dict]:
    """The tiny run's model release as `snakemake publish` stages it, and its pins."""
    workdir = tmp_path_factory.mktemp("release") / "run"
    shutil.copytree(trained, workdir, symlinks=True)
    run_snakemake(workdir, "results/tiny/publish/manifest.json")
    manifest = json.loads((workdir / "results/tiny/publish/manifest.json").read_text())
    return workdir / "results/tiny/publish/models", manifest["model_source"]["sha256"]


def test_the_release_is_self_contained(release):
    folder, pins = release
    assert (folder / "teff_best_calibration.json").is_file()
    assert (folder / "teff_correction.json").is_file()
    assert (folder / "teff_gaia_corrected.json").is_file()  # flag-A uncertainties
    for m in MODELS:
        assert (folder / m / "calibration.json").is_file()
        assert f"{m}/calibration.json" in pins
    assert {
        "teff_best_calibration.json",
        "teff_gaia_corrected.json",
        "teff_correction.json",
    } <= set(pins)


def test_published_models_need_nothing_but_the_release(
    trained, stars_runs, release, hub_server, tmp_path
):
    folder, pins = release
    hub_server.add_folder("model", MODEL_REPO, folder)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    write_as(user_table(trained), workdir / "my_stars_parquet.parquet")
    config = load_test_config()
    config["model_source"].update(source="huggingface", repo_id=MODEL_REPO, sha256=pins)
    cfg = write_config(tmp_path / "hub.yaml", config)

    proc = run_snakemake(
        workdir,
        "stars",
        "--config",
        "stars=my_stars_parquet.parquet",
        configfile=cfg,
        env=hub_server.client_env(tmp_path / "hf-home"),
    )

    assert ran(proc) == {"download_model", "download_release_file", "predict_stars", "stars"}
    assert not (workdir / "resources/tiny/photometry").exists()
    assert result(workdir).equals(result(trained))


def test_a_missing_release_pin_stops_before_any_request(release, hub_server, tmp_path):
    folder, pins = release
    hub_server.add_folder("model", MODEL_REPO, folder)
    pins = {k: v for k, v in pins.items() if k != "teff_correction.json"}
    (tmp_path / "t.csv").write_text("source_id,phot_g_mean_mag\n1,15.0\n")
    config = load_test_config()
    config["model_source"].update(source="huggingface", repo_id=MODEL_REPO, sha256=pins)
    cfg = write_config(tmp_path / "hub.yaml", config)

    proc = run_snakemake(
        tmp_path,
        "stars",
        "--config",
        "stars=t.csv",
        configfile=cfg,
        env=hub_server.client_env(tmp_path / "hf-home"),
        check=False,
    )

    assert proc.returncode != 0
    assert "model_source.sha256 has no pin for teff_correction.json" in proc.stderr
    assert hub_server.requests == []


# -- messages for the inputs users give ----------------------------------------------------------


def refused(workdir: Path, *args: str) -> str:
    proc = run_snakemake(workdir, *args, check=False)
    assert proc.returncode != 0
    assert not list((workdir / "results").rglob("*.part"))
    return proc.stdout + proc.stderr


def test_a_stars_path_that_does_not_exist_names_the_key(trained, stars_runs):
    out = refused(trained, "stars", "--config", "stars=no/such/table.csv")
    assert "no/such/table.csv (config key stars) does not exist" in out
    assert "Parquet (.parquet), CSV (.csv), FITS (.fits) or VOTable (.vot, .xml)" in out


def test_stars_without_a_table_says_how_to_give_one(trained, stars_runs):
    assert "--config stars=PATH" in refused(trained, "stars")


def test_an_unknown_format_names_the_accepted_ones(trained, stars_runs):
    (trained / "stars.txt").write_text("source_id\n1\n")
    out = refused(trained, "stars", "--config", "stars=stars.txt")
    assert "stars.txt (config key stars): the format is not known from its name; give a " in out
    assert "delete" not in out.lower()


def test_a_table_without_any_models_features_names_what_is_needed(trained, stars_runs):
    (trained / "no_features.csv").write_text(
        "source_id,ra,dec,j_m,phot_g_mean_mgg,Phot_BP_Mean_Mag,my_note\n1,10.0,5.0,12.1,9,9.5,x\n"
    )
    out = refused(trained, "stars", "--config", "stars=no_features.csv")
    assert "no_features.csv: no model can predict any star of this table" in out
    # a misspelt archive name is pointed at; a column merely unknown (my_note) is not
    assert "not recognised, perhaps misspelt: phot_g_mean_mgg (phot_g_mean_mag?)." in out
    assert "my_note" not in out
    assert f"{MODELS[0]} needs g (phot_g_mean_mag), bp (phot_bp_mean_mag)" in out
    assert "g_bp or bp_g or g (phot_g_mean_mag) and bp (phot_bp_mean_mag)" in out
    assert not (trained / "results/tiny/stars/no_features.parquet").exists()


def test_a_column_of_the_wrong_type_is_named_with_its_expected_type(trained, stars_runs):
    table = user_table(trained).head(20).with_columns(pl.col("phot_bp_mean_mag").cast(pl.String))
    table.write_parquet(trained / "text_bp.parquet")
    out = refused(trained, "stars", "--config", "stars=text_bp.parquet")
    assert (
        "text_bp.parquet: column(s) 'phot_bp_mean_mag' (read as bp) is String; expected a number"
        in out
    )
    (trained / "bad.csv").write_text("source_id,phot_g_mean_mag\n1,15.0\n2,bright\n")
    out = refused(trained, "stars", "--config", "stars=bad.csv")
    assert "bad.csv: column 'phot_g_mean_mag' holds a value that is not a number" in out


# -- inputs that cannot be stars ----------------------------------------------------------------


def test_a_magnitude_no_survey_can_measure_is_refused(trained, stars_runs):
    table = user_table(trained).head(30)
    table = table.with_columns(
        phot_g_mean_mag=pl.when(pl.int_range(pl.len()).is_in([4, 9]))
        .then(-5.0)
        .otherwise(pl.col("phot_g_mean_mag"))
    )
    table.write_csv(trained / "minus_five.csv")
    out = refused(trained, "stars", "--config", "stars=minus_five.csv")
    assert (
        "minus_five.csv: column 'phot_g_mean_mag' (read as g) has 2 value(s) outside 0 to 30 mag, "
        f"what Gaia can measure (of rows 1-30), e.g. row 5 (source_id {table['source_id'][4]}): -5."
        in out
    )
    assert not (trained / "results/tiny/stars/minus_five.parquet").exists()
    assert not (trained / "results/tiny/stars/minus_five.fits").exists()


def test_markers_are_missing_and_a_designation_gives_the_source_id(trained, stars_runs):
    """G = 99 and 99.99 (markers some catalogues write) are read as missing, counted in the log;
    the stars are identified by their designation alone. Every other value is the one the same
    stars get with source_id and real magnitudes."""
    table = user_table(trained).head(40)
    marked = [3, 7]
    g = table["phot_g_mean_mag"].to_list()
    g[3], g[7] = 99.0, 99.99
    ids = table["source_id"]
    designated = table.with_columns(pl.Series("phot_g_mean_mag", g)).select(
        pl.format("Gaia DR3 {}", "source_id").alias("designation"), pl.exclude("source_id")
    )
    designated.write_csv(trained / "designated.csv")

    run_snakemake(trained, "stars", "--config", "stars=designated.csv")

    got = pl.read_parquet(trained / "results/tiny/stars/designated.parquet")
    assert got["source_id"].to_list() == ids.to_list()
    log = (trained / "results/tiny/logs/predict_stars/designated.log").read_text()
    assert "read as missing (a missing-value marker" in log
    assert "2 value(s) of phot_g_mean_mag" in log
    plain = result(trained).head(40)
    keep = ~pl.int_range(40, eager=True).is_in(marked)
    model_cols = [c for c in got.columns if c.startswith(f"teff_{MODELS[0]}")]
    assert got.filter(keep).select(model_cols).equals(plain.filter(keep).select(model_cols))
    # a model that needs G has nothing to go on where G was a marker
    assert got[f"teff_{MODELS[0]}"].gather(marked).is_null().all()


def test_a_csv_with_another_separator_says_so(trained, stars_runs):
    table = user_table(trained).head(5)
    table.write_csv(trained / "semicolon.csv", separator=";")
    out = refused(trained, "stars", "--config", "stars=semicolon.csv")
    assert (
        "semicolon.csv: the separator looks wrong: the header reads as one column, 'source_id;ra;"
        in out
    )
    assert "looks ';'-separated" in out
    assert not (trained / "results/tiny/stars/semicolon.parquet").exists()


# -- source: local with the same table ------------------------------------------------------------


def test_a_local_archive_table_with_nan_and_gaia_only_is_accepted(trained, tmp_path):
    """The table a user has (CSV, archive names, NaN, no 2MASS or Pan-STARRS1) as `local.path`:
    imported into the upstream schema and validated, the missing surveys as missing values."""
    write_as(user_table(trained), tmp_path / "mine.csv")
    config = load_test_config()
    config.update(source="local", local={"path": "mine.csv"})
    cfg = write_config(tmp_path / "local.yaml", config)

    run_snakemake(tmp_path, "results/tiny/photometry/summary.json", configfile=cfg)

    summary = json.loads((tmp_path / "results/tiny/photometry/summary.json").read_text())
    assert summary["rows"] == N_STARS + len(HOPELESS)
    assert {"j_m", "k_m", "ps_gPSFMag", "j_k"} <= set(summary["empty_columns"])
    imported = pl.read_parquet(tmp_path / PHOTOMETRY)
    stars = imported.head(N_STARS)
    original = pl.read_parquet(trained / PHOTOMETRY).head(N_STARS)
    for col in ("g", "bp", "rp", "bp_rp", "g_bp", "g_rp", "teff_gaia"):
        assert stars[col].equals(original[col]), col


def test_a_local_path_that_does_not_exist_names_the_key(tmp_path):
    config = load_test_config()
    config.update(source="local", local={"path": "gone.parquet"})
    cfg = write_config(tmp_path / "local.yaml", config)
    proc = run_snakemake(
        tmp_path, "results/tiny/photometry/summary.json", configfile=cfg, check=False
    )
    assert proc.returncode != 0
    assert "gone.parquet (config key local.path) does not exist" in proc.stdout + proc.stderr
