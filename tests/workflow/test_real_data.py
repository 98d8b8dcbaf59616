"""Real data out of the box, through the real `snakemake` CLI and the loopback Hub.

`source: huggingface` and `source: local` with no reference table reach the catalogue, with the
hot-star correction published in the dataset repository (the earlier pipeline's pickle, or our
JSON when the repository holds it); `correction.mode: load` reads a JSON or a legacy pickle; and
`model_source: legacy` turns the earlier pipeline's forest pickles into the workflow's models.

The served photometry is the tiny run's simulated table: it has exactly the upstream schema
(the truth and the reference sample are separate files, and are not served).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import polars as pl
import pytest
from numpy.polynomial import Polynomial
from sklearn.ensemble import RandomForestRegressor

from helpers.workflow_runner import load_test_config, run_snakemake, write_config

TINY = load_test_config()
DATASET = TINY["huggingface"]["repo_id"]
MODEL_REPO = TINY["model_source"]["repo_id"]
PHOTOMETRY_FILE = TINY["huggingface"]["filename"]
JSON_FILE, PKL_FILE = TINY["correction"]["published"]["filenames"]
MODELS = list(TINY["models"])
CATALOG = "results/tiny/catalog/eb_teff_catalog.parquet"
CORRECTION = "results/tiny/correction/teff_correction.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def legacy_correction(coefficients) -> bytes:
    """The earlier pipeline's correction file: a joblib pickle of {'polynomial', 'degree'}."""
    buf = io.BytesIO()
    joblib.dump({"polynomial": Polynomial(coefficients), "degree": len(coefficients) - 1}, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(snakemake_run):
    """What the loopback Hub serves: the upstream-schema table and two correction files.

    The correction is the tiny run's fit, scaled a little (so that a run that fitted instead of
    loading would show), once as the legacy pickle and once as our JSON.
    """
    workdir, _ = snakemake_run
    fitted = json.loads((workdir / CORRECTION).read_text())
    pkl_coefficients = [c * 1.01 for c in fitted["coefficients"]]
    ours = dict(fitted, coefficients=[c * 0.99 for c in fitted["coefficients"]])
    return {
        "photometry": (
            workdir / "resources/tiny/photometry/eb_unified_photometry.parquet"
        ).read_bytes(),
        "pkl": legacy_correction(pkl_coefficients),
        "pkl_coefficients": pkl_coefficients,
        "json": json.dumps(ours).encode(),
        "json_coefficients": ours["coefficients"],
        "tiny_run": workdir,
    }


def hub_env(hub_server, tmp_path: Path) -> dict:
    return hub_server.client_env(tmp_path / "hf-home")


def check_origin(workdir: Path, used_sha256: str, used: str) -> dict:
    """The correction's origin, as the correction JSON, the FITS header and the summary say."""
    from astropy.io import fits

    origin = json.loads((workdir / CORRECTION).read_text())["origin"]
    assert origin["method"] == "load" and origin["sha256"] == used_sha256
    with fits.open(workdir / "results/tiny/catalog/eb_teff_catalog.fits") as hdul:
        header = hdul["EB_TEFF"].header
        assert header["CORRMETH"] == "load" and header["CORRSHA"] == used_sha256
        assert used in header["CORRFROM"]
    summary = json.loads((workdir / "results/tiny/catalog/summary.json").read_text())
    assert summary["correction"]["sha256"] == used_sha256 and used in summary["correction"]["used"]
    return origin


def test_huggingface_source_reaches_the_catalogue_with_the_published_pickle(
    served, hub_server, tmp_path
):
    # the dataset repository as the earlier pipeline published it: no JSON, the legacy pickle
    hub_server.add_file("dataset", DATASET, PHOTOMETRY_FILE, served["photometry"])
    hub_server.add_file("dataset", DATASET, PKL_FILE, served["pkl"])
    workdir = tmp_path / "run"
    workdir.mkdir()
    # exactly what a user types (tiny sizes from the test config): no other change
    run_snakemake(workdir, "--config", "source=huggingface", env=hub_env(hub_server, tmp_path))

    phot = pl.read_parquet(workdir / "resources/tiny/photometry/eb_unified_photometry.parquet")
    cat = pl.read_parquet(workdir / CATALOG)
    assert cat.height == phot.height == TINY["simulate"]["n_stars"]
    assert cat["source_id"].n_unique() == cat.height
    origin = check_origin(workdir, sha256(served["pkl"]), PKL_FILE)
    assert origin["from"] == "published" and origin["repo_id"] == DATASET and not origin["pinned"]
    data = json.loads((workdir / CORRECTION).read_text())
    assert data["coefficients"] == pytest.approx(served["pkl_coefficients"], rel=1e-12)
    # the JSON was asked for first, absent, then the pickle was fetched
    asked = [r.path for r in hub_server.requests_matching(path_contains="/correction/")]
    assert any(JSON_FILE in p for p in asked) and any(PKL_FILE in p for p in asked)
    log = (workdir / "results/tiny/logs/download_correction.log").read_text()
    assert sha256(served["pkl"]) in log
    # nothing was fitted and nothing was taken from a simulation
    assert not (workdir / "results/tiny/correction/teff_correction.png").exists()
    assert not (workdir / "resources/tiny/reference").exists()


def test_a_wrong_published_pin_stops_before_anything_is_loaded(served, hub_server, tmp_path):
    hub_server.add_file("dataset", DATASET, PKL_FILE, served["pkl"])
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(
        served["tiny_run"] / "resources/tiny/photometry/eb_unified_photometry.parquet", workdir
    )
    config = load_test_config()
    config.update(source="local", local={"path": "eb_unified_photometry.parquet"})
    config["correction"]["published"]["sha256"] = "0" * 64
    proc = run_snakemake(
        workdir,
        CORRECTION,
        configfile=write_config(workdir / "c.yaml", config),
        env=hub_env(hub_server, tmp_path),
        check=False,
    )
    assert proc.returncode != 0
    log = (workdir / "results/tiny/logs/download_correction.log").read_text()
    assert f"expected {'0' * 64}, got {sha256(served['pkl'])}" in log
    assert not (workdir / "resources/tiny/correction/published_correction").exists()
    assert not (workdir / CORRECTION).exists()


def legacy_forests(tiny_run: Path, dest: Path) -> dict[str, Path]:
    """Small forests fitted on the tiny run's training rows, pickled as the earlier pipeline did
    (joblib.dump of the bare RandomForestRegressor, fitted on a DataFrame: feature names kept)."""
    paths = {}
    for name, spec in TINY["models"].items():
        table = pl.read_parquet(tiny_run / f"results/tiny/features/{name}.parquet")
        train = table.filter(pl.col("split") == "train")
        model = RandomForestRegressor(
            n_estimators=8, max_depth=10, min_samples_leaf=4, random_state=3, n_jobs=1
        ).fit(train.select(spec["features"]).to_pandas(), train["target"].to_numpy())
        paths[name] = dest / f"rf_{name}_20251126_130144.pkl"
        joblib.dump(model, paths[name])
    return paths


def test_local_source_with_legacy_forests_and_the_published_json(served, hub_server, tmp_path):
    # the repository holds both corrections: ours (JSON) is preferred
    hub_server.add_file("dataset", DATASET, JSON_FILE, served["json"], lfs=False)
    hub_server.add_file("dataset", DATASET, PKL_FILE, served["pkl"])
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(
        served["tiny_run"] / "resources/tiny/photometry/eb_unified_photometry.parquet", workdir
    )
    pickles = legacy_forests(served["tiny_run"], workdir)
    # one forest from the model repository, the others from local files
    first = MODELS[0]
    hub_server.add_file("model", MODEL_REPO, pickles[first].name, pickles[first].read_bytes())
    legacy = {
        name: {"path": str(path.name), "sha256": sha256(path.read_bytes())}
        for name, path in pickles.items()
    }
    legacy[first] = {"file": pickles[first].name, "sha256": legacy[first]["sha256"]}
    config = load_test_config()
    config.update(source="local", local={"path": "eb_unified_photometry.parquet"})
    config["model_source"].update(source="legacy", legacy=legacy)
    cfg = write_config(workdir / "c.yaml", config)
    env = hub_env(hub_server, tmp_path)
    pickles[first].unlink()  # it must come from the Hub

    proc = run_snakemake(workdir, configfile=cfg, env=env)
    assert "train_model" not in proc.stdout + proc.stderr
    cat = pl.read_parquet(workdir / CATALOG)
    assert cat.height == TINY["simulate"]["n_stars"]
    check_origin(workdir, sha256(served["json"]), JSON_FILE)
    data = json.loads((workdir / CORRECTION).read_text())
    assert data["coefficients"] == pytest.approx(served["json_coefficients"], rel=1e-12)
    assert (workdir / f"resources/tiny/models/legacy/{first}.pkl").exists()

    # each converted model predicts what its forest predicts, star for star
    for name, spec in TINY["models"].items():
        meta = json.loads((workdir / f"results/tiny/models/{name}/metadata.json").read_text())
        assert meta["legacy"]["pickle_sha256"] == legacy[name]["sha256"]
        path = (
            workdir / f"resources/tiny/models/legacy/{name}.pkl" if name == first else pickles[name]
        )
        forest = joblib.load(path)  # the test's own file: trusted
        table = pl.read_parquet(workdir / f"results/tiny/features/{name}.parquet").head(500)
        pred = table.select("source_id").join(
            pl.read_parquet(workdir / f"results/tiny/predictions/{name}.parquet"), on="source_id"
        )
        expected = forest.predict(table.select(spec["features"]).to_pandas())
        if spec["transform"] == "log10":
            expected = 10**expected
        assert np.allclose(pred[f"teff_{name}_raw"].to_numpy(), expected, rtol=1e-5)


def test_a_legacy_forest_without_a_pin_is_refused_before_anything_runs(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = load_test_config()
    config["model_source"].update(
        source="legacy", legacy={m: {"file": f"rf_{m}.pkl"} for m in MODELS}
    )
    proc = run_snakemake(
        workdir, "-n", configfile=write_config(workdir / "c.yaml", config), check=False
    )
    assert proc.returncode != 0
    assert f"model_source.legacy.{MODELS[0]}.sha256 is not set" in proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["json", "pkl"])
def test_correction_mode_load_reads_a_json_or_a_legacy_pickle(served, tmp_path, kind):
    workdir = tmp_path / "run"
    workdir.mkdir()
    name = f"my_correction.{kind}"
    (workdir / name).write_bytes(served[kind])
    shutil.copy(
        served["tiny_run"] / "resources/tiny/photometry/eb_unified_photometry.parquet", workdir
    )
    config = load_test_config()
    config.update(source="local", local={"path": "eb_unified_photometry.parquet"})
    config["correction"].update(mode="load", file=name)
    cfg = write_config(workdir / "c.yaml", config)
    # through the features, which apply the loaded correction to the labels
    feature_table = f"results/tiny/features/{MODELS[0]}.parquet"
    proc = run_snakemake(workdir, CORRECTION, feature_table, configfile=cfg)
    assert "load_correction" in proc.stdout + proc.stderr
    assert "fit_correction" not in proc.stdout + proc.stderr
    data = json.loads((workdir / CORRECTION).read_text())
    assert data["coefficients"] == pytest.approx(served[f"{kind}_coefficients"], rel=1e-12)
    assert data["origin"] == {
        "method": "load",
        "from": "file",
        "file": name,
        "sha256": sha256(served[kind]),
        "pinned": False,
    }
    log = (workdir / "results/tiny/logs/load_correction.log").read_text()
    assert sha256(served[kind]) in log
    # the label the models learn is the loaded correction applied to GSP-Phot Teff
    from ebteff.correction import apply_correction

    table = pl.read_parquet(workdir / feature_table)
    phot = pl.read_parquet(workdir / "eb_unified_photometry.parquet")
    hot = (
        table.join(phot.select("source_id", "teff_gaia"), on="source_id")
        .filter(pl.col("teff_gaia") > 12_000)
        .head(50)
    )
    assert hot.height > 0
    expected = apply_correction(
        hot["teff_gaia"].to_numpy(), data["coefficients"], data["threshold"], data["width"]
    )
    assert np.allclose(hot["teff_gaia_corrected"].to_numpy(), expected, rtol=1e-12)
    assert not np.allclose(expected, hot["teff_gaia"].to_numpy())  # it did correct them
