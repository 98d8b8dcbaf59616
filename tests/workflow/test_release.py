"""Publishing: cards, staging and manifest, the upload protocol, and using published models.

A miniature run is built with the library itself (the same calls the rule scripts make), staged,
and sent to the loopback Hub (``tests/helpers/hubserver.py``) with the real ``huggingface_hub``
client: what arrives there is compared byte for byte with what was staged.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from ebteff.calibrate import (
    apply_calibration,
    coverage_report,
    fit_calibration,
    split_report,
)
from ebteff.catalog import catalogue_rows, summarise
from ebteff.correction import Correction, dump_legacy_pickle, save_correction_json
from ebteff.evaluate import full_metrics
from ebteff.features import ModelSpec, build_feature_table, prepare_photometry
from ebteff.forest import load_forest, save_forest, train_forest
from ebteff.hub import ChecksumError
from ebteff.io import scan_photometry, sha256sum, write_json, write_parquet
from ebteff.parameter_catalog import parameter_inputs, summarise_parameters, with_parameters
from ebteff.parameters import parameter_of
from ebteff.predict import LoadedModel, predict_frame
from ebteff.publish.run import Release, load_run
from ebteff.publish.stage import StagingError, stage, verify_staged
from ebteff.publish.text import size_category
from ebteff.publish.upload import MissingTokenError, upload
from ebteff.published import (
    PublishedModelMismatchError,
    UnpinnedModelError,
    fetch_model,
    model_pins,
)
from ebteff.split import split_table
from ebteff.validate import validate_photometry
from ebteff.writers import write_fits
from helpers.photometry_tables import SENTINEL, make_table

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET_REPO = "ebteff-test/gaia-eb-teff-datasets"
MODEL_REPO = "ebteff-test/gaia-eb-teff-models"
TOKEN = "hf_loopbackPublishToken0123456789"
N_STARS = 1200
MODELS = {
    "gaia_teff_log": {
        "features": ["g", "bp", "rp"],
        "target": "teff_gaia_corrected",
        "transform": "log10",
    },
    "gaia_ir_k": {"features": ["bp_rp", "j_k", "rp_k"], "target": "teff_gaia", "transform": "none"},
}
#: A model of log g, released beside the Teff models (its metrics and calibration in dex).
PARAMETER_MODELS = {
    "gaia_logg": {
        "features": ["g", "bp", "rp", "bp_rp"],
        "target": "logg_gaia",
        "transform": "none",
    }
}
HYPER = {"n_estimators": 6, "max_depth": 6, "min_samples_leaf": 2, "random_state": 0}
# Template leftovers, and Python values that leaked into text unformatted.
PLACEHOLDERS = re.compile(r"(?i:TODO|TBD|FIXME|XXX|lorem|placeholder)|\bnan\b|\bNone\b|\binf\b")


# -- a miniature run, made by the library ------------------------------------------------------


def build_run(root: Path) -> dict:
    """Every file stage_publish reads, written the way the workflow's rules write them."""
    res = root / "results"
    photometry = root / "resources" / "photometry.parquet"
    table = make_table(N_STARS, seed=3)
    # GSP-Phot-like log g where the table has one (make_table draws every label in 10-20)
    logg = np.random.default_rng(4).uniform(3.0, 5.0, N_STARS)
    table = table.with_columns(
        pl.when(pl.col("logg_gaia") == SENTINEL)
        .then(SENTINEL)
        .otherwise(pl.Series(logg))
        .alias("logg_gaia")
    )
    write_parquet(table, photometry)
    write_json(validate_photometry(photometry), res / "photometry/summary.json")

    correction = Correction((-2000.0, 2.9, -5.0e-5))
    save_correction_json(
        correction,
        res / "correction/teff_correction.json",
        fit={
            "n_used": 40,
            "n_clipped": 1,
            "clip_sigma": 3.0,
            "floor_k": 7000.0,
            "fit_range_k": [7100.0, 29000.0],
            "rms_k": 800.0,
        },
        inputs={"reference_sha256": "ab" * 32},
    )
    dump_legacy_pickle(correction, res / "correction/teff_correction_coeffs_deg2.pkl")

    labelled = scan_photometry(photometry).filter(pl.col("teff_gaia").is_not_null())
    ids = labelled.select("source_id").collect()["source_id"]
    split = split_table(ids, {"train": 0.4, "calibration": 0.35, "test": 0.25}, "salt")
    counts = {str(k): int(v) for k, v in split.group_by("split").len().iter_rows()}
    write_json({"labelled": split.height, "by_split": counts}, res / "split/counts.json")

    stars = prepare_photometry(scan_photometry(photometry), None).collect()
    base = (
        prepare_photometry(scan_photometry(photometry), correction)
        .select("source_id", "ra", "dec", "teff_gaia", "teff_gaia_corrected")
        .collect()
    )
    paths, raws, calibrations = {}, {}, {}
    parameter_raws, parameter_calibrations = {}, {}
    for name, entry in {**MODELS, **PARAMETER_MODELS}.items():
        par = parameter_of(entry["target"])
        spec = ModelSpec.from_config(name, {**entry, "hyperparameters": HYPER})
        table, feature_counts = build_feature_table(
            scan_photometry(photometry), split.lazy(), spec, correction
        )
        mdir = res / "models" / name
        p = {
            "model": mdir / "model.parquet",
            "metadata": mdir / "metadata.json",
            "calibration": mdir / "calibration.json",
            "metrics": mdir / "metrics.json",
            "calibration_report": res / "calibration" / f"{name}.json",
            "feature_counts": res / "features" / f"{name}.counts.json",
        }
        write_json(feature_counts, p["feature_counts"])
        train = table.filter(pl.col("split") == "train")
        forest = train_forest(
            train.select(spec.features).to_numpy(), train["target"].to_numpy(), HYPER
        )
        save_forest(
            forest,
            p["model"],
            {
                "model": name,
                "features": ",".join(spec.features),
                "transform": spec.transform,
                "target": spec.target,
            },
        )
        write_json(
            {
                "name": name,
                "features": list(spec.features),
                "target": spec.target,
                "transform": spec.transform,
                "predicts": "log10(Teff / K)" if spec.transform == "log10" else par.name,
                "hyperparameters": HYPER,
                "training_rows": train.height,
                "n_nodes": int(sum(e.tree_.node_count for e in forest.estimators_)),
                "feature_importances": dict(
                    zip(spec.features, map(float, forest.feature_importances_), strict=True)
                ),
                "model_sha256": sha256sum(p["model"]),
                "versions": {"scikit-learn": "test"},
            },
            p["metadata"],
        )
        loaded = LoadedModel(spec, load_forest(p["model"])[0])
        pred = predict_frame(stars, [loaded])
        raw, spread = f"{par.key}_{name}_raw", f"{par.key}_{name}_spread"
        labelled_pred = table.join(pred, on="source_id").drop_nulls([raw, spread])
        splits = {}
        for part_name in ("test", "train"):
            part = labelled_pred.filter(pl.col("split") == part_name)
            splits[part_name] = {"vs_label": full_metrics(part[spec.target], part[raw], par)}
        write_json({"model": name, "label": spec.target, "splits": splits}, p["metrics"])
        cal = labelled_pred.filter(pl.col("split") == "calibration")
        calibration = fit_calibration(cal[raw], cal[spread], cal[spec.target], parameter=par)
        calibration.update(model=name, label=spec.target, calibration_stars=cal.height)
        write_json(calibration, p["calibration"])
        test = labelled_pred.filter(pl.col("split") == "test")
        sigma = apply_calibration(calibration, test[raw].to_numpy(), test[spread].to_numpy())
        write_json(
            {"test": split_report(test[raw], test[spread], sigma, test[spec.target], calibration)},
            p["calibration_report"],
        )
        paths[name] = p
        if par.key == "teff":
            raws[name], calibrations[name] = pred, calibration
        else:
            parameter_raws[name], parameter_calibrations[name] = pred, calibration

    # the catalogue's own per-star path, as build_catalog and predict_table take it
    cat = catalogue_rows(base, raws, calibrations, photometry=stars)
    labels = (
        scan_photometry(photometry)
        .select("source_id", *[c for c in parameter_inputs({"logg"}) if c in stars.columns])
        .collect()
    )
    # no split, as for the Teff rows above: the snippet's predict_table knows of none
    cat = with_parameters(
        cat,
        labels,
        parameter_raws,
        parameter_calibrations,
        stars,
    )
    test = cat.join(split, on="source_id").filter(pl.col("split") == "test")
    best = {
        "test": coverage_report(
            test["teff_ml_best"].fill_null(np.nan),
            test["teff_ml_best_err"].fill_null(np.nan),
            test["teff_gaia_corrected"].fill_null(np.nan),
        )
    }
    write_json(best, res / "calibration/teff_best.json")
    # the flag-A percentiles' table as build_catalog writes it (here: none fitted)
    write_json(
        {"calibration": None, "reference": None}, res / "calibration/teff_gaia_corrected.json"
    )
    summary = summarise(cat, list(MODELS))
    summary["parameters"] = summarise_parameters(cat, parameter_calibrations)
    write_json(summary, res / "catalog/summary.json")
    write_parquet(cat, res / "catalog/eb_teff_catalog.parquet")
    header = {
        "WFVERS": ("0.1.0", "workflow version"),
        "CFGHASH": ("0123456789abcdef", "config hash"),
        "PHOTSHA": (sha256sum(photometry), "photometry sha256"),
        "NSTARS": (cat.height, "rows"),
        "DATE": ("2026-01-02", "creation date"),
    }
    write_fits(cat, res / "catalog/eb_teff_catalog.fits", header)
    return {
        "photometry": photometry,
        "photometry_summary": res / "photometry/summary.json",
        "catalog_fits": res / "catalog/eb_teff_catalog.fits",
        "catalog_summary": res / "catalog/summary.json",
        "best_calibration": res / "calibration/teff_best.json",
        "label_calibration": res / "calibration/teff_gaia_corrected.json",
        "correction_json": res / "correction/teff_correction.json",
        "correction_pkl": res / "correction/teff_correction_coeffs_deg2.pkl",
        "split_counts": res / "split/counts.json",
        "models": {m: paths[m] for m in MODELS},
        "parameter_models": {m: paths[m] for m in PARAMETER_MODELS},
    }


RELEASE = Release(
    dataset_repo=DATASET_REPO,
    model_repo=MODEL_REPO,
    source="simulate",
    source_detail={"seed": 3},
)


@pytest.fixture(scope="module")
def run_files(tmp_path_factory) -> dict:
    return build_run(tmp_path_factory.mktemp("mini_run"))


@pytest.fixture
def staged(run_files, tmp_path) -> tuple[Path, dict]:
    """A fresh staging of the miniature run: (results/publish folder, manifest)."""
    out = tmp_path / "publish"
    manifest = stage(load_run(**run_files), RELEASE, out / "dataset", out / "models")
    write_json(manifest, out / "manifest.json")
    return out, manifest


@pytest.fixture(autouse=True)
def client_settings(monkeypatch, tmp_path):
    """The in-process client: no telemetry call, the LFS protocol, a private cache."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def hub(hub_server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    return hub_server


def card(folder: Path) -> tuple[dict, str]:
    """(front matter, body) of a staged README.md."""
    text = (folder / "README.md").read_text()
    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", text, re.DOTALL)
    assert match, "the card must start with YAML front matter"
    return yaml.safe_load(match[1]), match[2]


def prose(markdown: str) -> str:
    """A card without its code blocks (f-strings in code legitimately hold braces)."""
    return re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)


def code_blocks(markdown: str, language: str = "python") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.DOTALL)


# -- cards ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "category"),
    [(999, "n<1K"), (1000, "1K<n<10K"), (20_000, "10K<n<100K"), (2_179_680, "1M<n<10M")],
)
def test_size_category_follows_the_hubs_bins(rows, category):
    assert size_category(rows) == category


def test_cards_carry_the_hub_front_matter(staged):
    out, _ = staged
    dataset, _ = card(out / "dataset")
    assert dataset["license"] == "cc-by-4.0"
    assert dataset["size_categories"] == ["1K<n<10K"]  # 1,200 stars
    assert dataset["task_categories"] == ["tabular-regression"]
    assert {"astronomy", "gaia", "eclipsing-binaries", "simulated"} <= set(dataset["tags"])
    models, _ = card(out / "models")
    assert models["library_name"] == "scikit-learn"
    assert models["pipeline_tag"] == "tabular-regression"
    assert models["datasets"] == [DATASET_REPO]


def test_cards_quote_the_numbers_the_run_wrote(staged, run_files):
    out, _ = staged
    _, dataset = card(out / "dataset")
    _, models = card(out / "models")
    summary = json.loads(run_files["photometry_summary"].read_text())
    catalog = json.loads(run_files["catalog_summary"].read_text())
    assert f"{summary['rows']:,} stars" in dataset
    teff = summary["teff_gaia"]
    assert f"mean {teff['mean']:,.0f} K" in dataset and f"{teff['count']:,} labelled" in dataset
    for flag, count in catalog["flags"].items():
        assert re.search(rf"\| `{flag}` \| [^|]+ \| {count:,} \|", dataset), flag
    coefficients = json.loads(run_files["correction_json"].read_text())["coefficients"]
    for text in (dataset, models):
        assert all(f"{c:.8g}" in text for c in coefficients)
    for name, paths in run_files["models"].items():
        metrics = json.loads(paths["metrics"].read_text())["splits"]["test"]["vs_label"]
        coverage = json.loads(paths["calibration_report"].read_text())["test"]["by_label_bin"]
        row = re.search(rf"\| \[`{name}`\]\(#{name}\) \|(.*)\|", models)
        assert row, name
        assert f"{metrics['overall']['mae']:,.0f} K" in row[1]
        assert f"{100 * coverage['overall']['within_1sigma']:.1f}%" in row[1]
        assert (
            f"| test vs label | {metrics['overall']['n']} | {metrics['overall']['mae']:.0f} |"
            in models
        )
        features = json.loads(paths["metadata"].read_text())["features"]
        assert ", ".join(f"`{f}`" for f in features) in models
        assert sha256sum(paths["model"]) in models


def test_cards_hold_no_placeholder(staged):
    out, _ = staged
    for folder in ("dataset", "models"):
        _, body = card(out / folder)
        text = prose(body)
        assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text)
        assert "{" not in text and "}" not in text  # no unformatted template field
        assert not re.search(r"<[a-z ]+>", text)  # no "<fill in>" marker
    for txt in (out / "dataset").rglob("*.txt"):
        assert not PLACEHOLDERS.search(txt.read_text()), txt


def test_a_simulated_release_says_so_and_a_real_one_credits_the_surveys(run_files, tmp_path):
    real = Release(
        dataset_repo=DATASET_REPO,
        model_repo=MODEL_REPO,
        source="huggingface",
        source_detail={"repo_id": "someone/photometry", "revision": "v1", "filename": "p.parquet"},
    )
    for release, folder in ((RELEASE, "sim"), (real, "real")):
        stage(load_run(**run_files), release, tmp_path / folder / "d", tmp_path / folder / "m")
    for kind in ("d", "m"):
        _, sim = card(tmp_path / "sim" / kind)
        _, body = card(tmp_path / "real" / kind)
        assert "**Simulated data.**" in sim and "seed 3" in sim
        assert "Simulated" not in body and "simulated" not in prose(body).lower()
    _, body = card(tmp_path / "real" / "d")
    assert "`someone/photometry` at revision `v1`" in body and "Pan-STARRS1 and 2MASS" in body


def test_the_catalogue_description_names_every_column_with_its_unit(staged, run_files):
    from astropy.io import fits

    out, _ = staged
    text = (out / "dataset/catalogs/eb_teff_catalog_DESCRIPTION.txt").read_text()
    with fits.open(run_files["catalog_fits"]) as hdul:
        columns = hdul["EB_TEFF"].columns
    for column in columns:
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [column.name])
        assert (column.unit or "-") == line.split()[1]
    assert "teff_gaia_teff_log_err" in text and "1-sigma uncertainty of model" in text


# -- staging and manifest ------------------------------------------------------------------------


def test_stage_copies_the_run_and_the_manifest_lists_every_file(staged, run_files):
    out, manifest = staged
    dataset = out / "dataset"
    assert (dataset / "photometry/eb_unified_photometry.parquet").read_bytes() == run_files[
        "photometry"
    ].read_bytes()
    assert (dataset / "catalogs/eb_teff_catalog.fits").read_bytes() == run_files[
        "catalog_fits"
    ].read_bytes()
    assert (dataset / "correction/teff_correction_coeffs_deg2.pkl").exists()
    for name, paths in {**run_files["models"], **run_files["parameter_models"]}.items():
        for file in ("model.parquet", "metadata.json", "calibration.json", "metrics.json"):
            key = file.split(".")[0]
            assert (out / "models" / name / file).read_bytes() == paths[key].read_bytes()
    for kind, repo in manifest["repos"].items():
        folder = out / repo["folder"]
        on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert [f["path"] for f in repo["files"]] == on_disk, kind
        for f in repo["files"]:
            data = (folder / f["path"]).read_bytes()
            assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
        assert repo["bytes"] == sum(f["size"] for f in repo["files"])
    assert manifest["total_bytes"] == sum(r["bytes"] for r in manifest["repos"].values())
    pins = manifest["model_source"]["sha256"]
    files = ("model.parquet", "metadata.json", "calibration.json")
    assert set(pins) == {f"{m}/{f}" for m in (*MODELS, *PARAMETER_MODELS) for f in files} | {
        "teff_best_calibration.json",
        "teff_gaia_corrected.json",
        "teff_correction.json",
    }


def test_staging_again_replaces_the_folders_and_is_deterministic(staged, run_files):
    out, first = staged
    (out / "models" / "stale.txt").write_text("left over from an earlier model list")
    again = stage(load_run(**run_files), RELEASE, out / "dataset", out / "models")
    assert again == first
    assert not (out / "models" / "stale.txt").exists()
    assert not list(out.glob(".*staging"))


def test_verify_staged_catches_edits_but_ignores_snakemakes_marker(staged):
    out, manifest = staged
    models = manifest["repos"]["models"]
    (out / "models" / ".snakemake_timestamp").write_text("")
    verify_staged(out / "models", models)
    (out / "models" / "README.md").write_text("edited by hand")
    with pytest.raises(StagingError, match="changed since staging: README.md"):
        verify_staged(out / "models", models)
    (out / "models" / "README.md").unlink()
    (out / "models" / "extra.bin").write_bytes(b"x")
    with pytest.raises(StagingError, match="missing README.md.*not in the manifest: extra.bin"):
        verify_staged(out / "models", models)


# -- upload --------------------------------------------------------------------------------------


def staged_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


def test_a_dry_run_sends_nothing_and_says_so(staged, hub):
    out, manifest = staged
    report = upload(manifest, out, dry_run=True, token=TOKEN)
    assert hub.requests == []
    assert report["dry_run"] and not report["uploaded"] and "nothing was uploaded" in report["note"]
    for kind, repo in manifest["repos"].items():
        entry = report["repos"][kind]
        assert entry["commit"] is None and entry["files"] == len(repo["files"])


def test_no_token_fails_clearly_before_any_request(staged, hub):
    out, manifest = staged
    with pytest.raises(MissingTokenError) as excinfo:
        upload(manifest, out, dry_run=False, token=None)
    message = str(excinfo.value)
    assert "HF_TOKEN" in message and DATASET_REPO in message and "dry_run" in message
    assert hub.requests == []


def test_upload_delivers_the_staged_bytes_in_one_commit_per_repo(staged, hub):
    out, manifest = staged
    report = upload(manifest, out, dry_run=False, token=TOKEN, private=True)

    assert report["uploaded"] and not report["dry_run"] and report["endpoint"] == hub.url
    for kind, repo_type, repo_id in (
        ("dataset", "dataset", DATASET_REPO),
        ("models", "model", MODEL_REPO),
    ):
        sent = staged_files(out / kind)
        on_hub = hub.files_at(repo_type, repo_id)
        assert on_hub.pop(".gitattributes")  # the Hub's own, from create_repo
        assert on_hub == sent, kind
        entry = report["repos"][kind]
        assert entry["commit"] == hub.commit_hash(repo_type, repo_id) and entry["new_commit"]
        assert hub.is_private(repo_type, repo_id)
        (commit,) = [c for c in hub.commit_log if c.repo_id == repo_id]
        assert sorted(commit.paths) == sorted(sent)
    # Parquet and pickles go through LFS (the Hub's .gitattributes patterns), the small FITS
    # file (an ASCII header first, under 10 MiB) and text inline; every byte as staged.
    lfs = hub.lfs_paths("dataset", DATASET_REPO)
    assert lfs == {
        "photometry/eb_unified_photometry.parquet",
        "correction/teff_correction_coeffs_deg2.pkl",
    }
    assert hub.lfs_paths("model", MODEL_REPO) == {
        f"{m}/model.parquet" for m in (*MODELS, *PARAMETER_MODELS)
    }
    staged_by_sha = {
        hashlib.sha256(d).hexdigest(): d
        for k in ("dataset", "models")
        for d in staged_files(out / k).values()
    }
    arrived = [r for r in hub.received if r.how == "lfs"]
    assert len(arrived) == len(lfs) + len(MODELS) + len(PARAMETER_MODELS)
    assert all(staged_by_sha[r.key] == r.data for r in arrived)
    # The token went to the Hub, never to the storage URL.
    puts = hub.requests_matching("PUT", origin="cdn")
    assert puts and all("authorization" not in r.headers for r in puts)
    commits = hub.requests_matching("POST", "/commit/")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in commits)


def test_a_second_upload_of_unchanged_files_sends_nothing_new(staged, hub):
    out, manifest = staged
    first = upload(manifest, out, dry_run=False, token=TOKEN)
    received, commits = len(hub.received), len(hub.commit_log)
    hub.reset_requests()

    second = upload(manifest, out, dry_run=False, token=TOKEN)

    assert len(hub.received) == received and len(hub.commit_log) == commits
    assert (
        hub.requests_matching("PUT") == [] and hub.requests_matching(path_contains="/commit/") == []
    )
    for kind in ("dataset", "models"):
        assert second["repos"][kind]["commit"] == first["repos"][kind]["commit"]
        assert second["repos"][kind]["new_commit"] is False


def test_only_a_changed_file_is_sent_again(staged, hub, run_files, tmp_path):
    out, manifest = staged
    upload(manifest, out, dry_run=False, token=TOKEN)
    received = len(hub.received)
    changed = dict(run_files)
    calibration = tmp_path / "calibration.json"
    data = json.loads(run_files["models"]["gaia_ir_k"]["calibration"].read_text())
    calibration.write_text(json.dumps({**data, "note": "recalibrated"}))
    changed["models"] = {**run_files["models"]}
    changed["models"]["gaia_ir_k"] = {
        **run_files["models"]["gaia_ir_k"],
        "calibration": calibration,
    }
    manifest = stage(load_run(**changed), RELEASE, out / "dataset", out / "models")

    report = upload(manifest, out, dry_run=False, token=TOKEN)

    # the calibration, and the model card, which quotes its sha256 pin
    assert sorted((r.how, r.key) for r in hub.received[received:]) == [
        ("inline", "README.md"),
        ("inline", "gaia_ir_k/calibration.json"),
    ]
    assert sorted(hub.commit_log[-1].paths) == ["README.md", "gaia_ir_k/calibration.json"]
    assert report["repos"]["models"]["new_commit"] and not report["repos"]["dataset"]["new_commit"]


def test_an_invalid_card_is_refused_before_any_file_is_sent(staged, hub):
    out, manifest = staged
    readme = out / "models" / "README.md"
    readme.write_text("---\nlicense: [unclosed\n---\n# card\n")
    for entry in manifest["repos"]["models"]["files"]:
        if entry["path"] == "README.md":
            entry.update(size=readme.stat().st_size, sha256=sha256sum(readme))
    manifest["repos"] = {"models": manifest["repos"]["models"]}
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        upload(manifest, out, dry_run=False, token=TOKEN)
    assert hub.received == [] and hub.commit_log == []


# -- the cards' code, run against the Hub ------------------------------------------------------


def run_snippet(code: str, hub, tmp_path: Path, epilogue: str = "") -> subprocess.CompletedProcess:
    script = tmp_path / "snippet.py"
    script.write_text(code + epilogue)
    env = hub.client_env(tmp_path / "hf-home")
    return subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cards_usage_snippets_work_against_the_published_repos(
    staged, hub, run_files, tmp_path
):
    out, manifest = staged
    upload(manifest, out, dry_run=False, token=TOKEN)
    _, dataset_card = card(out / "dataset")
    _, model_card = card(out / "models")

    (dataset_code,) = code_blocks(dataset_card)
    run = run_snippet(dataset_code, hub, tmp_path)
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run_files["catalog_summary"].read_text())
    assert run.stdout.strip() == f"{N_STARS} stars; {catalog['flags']['A']} with GSP-Phot Teff"

    (model_code,) = code_blocks(model_card)
    result = tmp_path / "result.parquet"
    run = run_snippet(model_code, hub, tmp_path, f"\nresult.write_parquet({str(result)!r})\n")
    assert run.returncode == 0, run.stderr
    # What the snippet computes is what the catalogue holds for the same stars.
    got = pl.read_parquet(result)
    cat = pl.read_parquet(run_files["catalog_fits"].parent / "eb_teff_catalog.parquet").head(1000)
    assert got.height == cat.height > 0
    bad = [c for c in cat.columns if not got[c].equals(cat[c])]
    assert got.select(cat.columns).equals(cat), bad


# -- using published models ----------------------------------------------------------------------


def test_an_unpinned_model_file_is_refused_and_the_reason_given():
    with pytest.raises(UnpinnedModelError) as excinfo:
        model_pins({"gaia_teff_log/model.parquet": "a" * 64}, "gaia_teff_log", MODEL_REPO)
    message = str(excinfo.value)
    assert "gaia_teff_log/metadata.json" in message and "gaia_teff_log/model.parquet" not in message
    assert "pickle" in message and "run whatever code" in message and "pinned" in message
    assert "model_source:" in message and "Nothing was downloaded" in message


@pytest.fixture
def published(staged, hub) -> dict[str, str]:
    """The staged model folder on the loopback Hub; returns the pins of its manifest."""
    out, manifest = staged
    hub.add_folder("model", MODEL_REPO, out / "models")
    return manifest["model_source"]["sha256"]


def fetch(tmp_path, pins, name="gaia_teff_log", spec=None, **kwargs):
    spec = spec or ModelSpec.from_config(name, MODELS[name])
    dest = tmp_path / "results" / "models" / name
    fetch_model(
        spec,
        dest / "model.parquet",
        dest / "metadata.json",
        repo_id=MODEL_REPO,
        revision="main",
        pins=pins,
        retries=0,
        cache_dir=tmp_path / "hf-cache",
        **kwargs,
    )
    return dest


def test_a_pinned_model_is_fetched_and_loads(published, staged, hub, tmp_path):
    out, _ = staged
    dest = fetch(tmp_path, published, token=TOKEN)
    for file in ("model.parquet", "metadata.json"):
        assert (dest / file).read_bytes() == (out / "models/gaia_teff_log" / file).read_bytes()
    forest, meta = load_forest(dest / "model.parquet")
    assert meta["features"] == "g,bp,rp" and len(forest.estimators_) == HYPER["n_estimators"]


def test_a_missing_pin_stops_before_any_request(published, hub, tmp_path):
    pins = {k: v for k, v in published.items() if k != "gaia_teff_log/model.parquet"}
    hub.reset_requests()
    with pytest.raises(UnpinnedModelError):
        fetch(tmp_path, pins)
    assert hub.requests == []
    assert not (tmp_path / "results").exists()


def test_a_wrong_pin_leaves_no_model_file(published, tmp_path):
    pins = {**published, "gaia_teff_log/metadata.json": "0" * 64}  # the forest itself is fine
    with pytest.raises(ChecksumError):
        fetch(tmp_path, pins)
    assert list((tmp_path / "results").rglob("*.*")) == []


def test_a_model_that_does_not_fit_the_config_is_refused(published, tmp_path):
    other = ModelSpec.from_config(
        "gaia_teff_log", {**MODELS["gaia_teff_log"], "features": ["g", "rp", "bp"]}
    )
    with pytest.raises(
        PublishedModelMismatchError, match=r"features: published \['g', 'bp', 'rp'\]"
    ):
        fetch(tmp_path, published, spec=other)
    assert list((tmp_path / "results").rglob("*.*")) == []


def test_the_log_g_model_is_released_pinned_with_a_card_section_in_dex(published, staged, hub):
    """The log g model's files are staged and pinned like a Teff model's, so a run with
    model_source huggingface downloads it; its card section and model-index speak dex only."""
    out, manifest = staged
    for f in ("model.parquet", "metadata.json", "calibration.json", "metrics.json"):
        assert (out / "models/gaia_logg" / f).is_file(), f
    assert {
        "gaia_logg/model.parquet",
        "gaia_logg/metadata.json",
        "gaia_logg/calibration.json",
    } <= set(published)
    meta, body = card(out / "models")
    section = body.split("## Surface gravity and metallicity", 1)[1].split("\n## ", 3)
    text = "\n## ".join(section[:2])  # the summary table and the model's own section
    assert "gaia_logg" in text and "MAE (dex)" in text and "median sigma (dex)" in text
    assert not re.search(r"\bK\b", text), text
    names = {m["name"] for r in meta["model-index"][0]["results"] for m in r["metrics"]}
    assert {"gaia_logg: MAE (dex)", "gaia_logg: RMSE (dex)", "gaia_logg: R2"} <= names
    assert "gaia_teff_log: MAE (K)" in names
    assert not [n for n in names if n.startswith("gaia_logg") and "(K)" in n]


def test_a_pinned_log_g_model_is_fetched_from_the_release(published, staged, hub, tmp_path):
    out, _ = staged
    spec = ModelSpec.from_config("gaia_logg", PARAMETER_MODELS["gaia_logg"])
    dest = fetch(tmp_path, published, name="gaia_logg", spec=spec, token=TOKEN)
    for file in ("model.parquet", "metadata.json"):
        assert (dest / file).read_bytes() == (out / "models/gaia_logg" / file).read_bytes()


def test_the_dataset_card_gives_log_g_beside_teff_with_the_catalogues_counts(staged, run_files):
    """The dataset card says the catalogue has log g, and its row quotes the run's summary:
    stars from GSP-Phot and from the model, and each flag's count."""
    out, _ = staged
    _, dataset = card(out / "dataset")
    logg = json.loads(run_files["catalog_summary"].read_text())["parameters"]["logg"]
    assert "Likewise log g" in dataset and "`logg_flag`" in dataset
    row = re.search(r"^\| log g \(`logg_best`\) \| `gaia_logg` \|(.*)\|$", dataset, re.M)
    assert row, dataset
    cells = [c.strip() for c in row[1].split("|")]
    assert cells[1:3] == [f"{logg['source']['gaia']:,}", f"{logg['source']['gaia_logg']:,}"]
    assert cells[-5:] == [f"{logg['flags'].get(f, 0):,}" for f in "ABCDX"]
