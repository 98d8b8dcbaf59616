"""End-to-end: `snakemake publish` (staging, dry run, upload) and `model_source: huggingface`.

The loopback Hub (``tests/helpers/hubserver.py``) stands in for huggingface.co: the rule scripts
run the real ``huggingface_hub`` client in the subprocesses Snakemake starts, pointed at it by
``HF_ENDPOINT``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from helpers.hubserver import HubServer
from helpers.workflow_runner import load_test_config, run_snakemake, write_config

MODELS = list(load_test_config()["models"])
PUBLISH = Path("results/tiny/publish")
CATALOG = "results/tiny/catalog/eb_teff_catalog.parquet"
TOKEN = "hf_loopbackWorkflowToken0123456789"
DATASET_REPO = load_test_config()["publish"]["dataset_repo"]
MODEL_REPO = load_test_config()["publish"]["model_repo"]


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    """Names of the rules whose jobs a Snakemake run executed."""
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.MULTILINE))


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


def token_leaks(workdir: Path) -> list[Path]:
    """Files of a run (logs, Snakemake's metadata, outputs) that contain the token."""
    return [p for p in workdir.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def staged_run(snakemake_run, tmp_path_factory):
    """A copy of the tiny run after `snakemake publish` on the default (dry-run) settings, with
    a token in the environment and HF_ENDPOINT pointing at a Hub that records every request."""
    workdir = copy_run(snakemake_run[0], tmp_path_factory.mktemp("published") / "run")
    with HubServer() as hub:
        env = hub.client_env(workdir.parent / "hf-home", HF_TOKEN=TOKEN)
        proc = run_snakemake(workdir, "publish", env=env)
        requests = hub.requests
    return workdir, proc, requests


@pytest.fixture
def client_env(hub_server, tmp_path):
    def _env(**extra):
        return hub_server.client_env(tmp_path / "hf-home", **extra)

    return _env


def test_publish_is_a_target_of_its_own_that_reruns_nothing_else(snakemake_run, staged_run):
    assert not (snakemake_run[0] / PUBLISH).exists()  # `all` does not publish
    _, proc, _ = staged_run
    assert ran(proc) == {"stage_publish", "upload_publish", "publish"}


def test_the_dry_run_stages_both_folders_and_sends_nothing(staged_run):
    workdir, proc, requests = staged_run
    assert requests == []  # HF_ENDPOINT and HF_TOKEN were set: nothing was sent anyway
    manifest = json.loads((workdir / PUBLISH / "manifest.json").read_text())
    for kind in ("dataset", "models"):
        repo = manifest["repos"][kind]
        on_disk = files_under(workdir / PUBLISH / kind)
        assert sorted(on_disk) == [f["path"] for f in repo["files"]]
        for f in repo["files"]:
            assert f["size"] == len(on_disk[f["path"]])
    dataset = files_under(workdir / PUBLISH / "dataset")
    assert (
        dataset["catalogs/eb_teff_catalog.fits"]
        == (workdir / "results/tiny/catalog/eb_teff_catalog.fits").read_bytes()
    )
    assert {"README.md", "photometry/eb_unified_photometry_SUMMARY.txt"} <= set(dataset)
    for model in MODELS:
        for file in ("model.parquet", "metadata.json", "calibration.json", "metrics.json"):
            assert (workdir / PUBLISH / "models" / model / file).read_bytes() == (
                workdir / "results/tiny/models" / model / file
            ).read_bytes()
    report = json.loads((workdir / PUBLISH / "upload.json").read_text())
    assert report["dry_run"] is True and report["uploaded"] is False
    assert report["repos"]["dataset"]["commit"] is None
    log = (workdir / "results/tiny/logs/upload_publish.log").read_text()
    assert "DRY RUN, nothing uploaded" in log and "HF_TOKEN set" in log
    assert token_leaks(workdir) == []


def test_the_cards_quote_the_tiny_runs_own_numbers(staged_run):
    workdir, _, _ = staged_run
    models_card = (workdir / PUBLISH / "models/README.md").read_text()
    front = yaml.safe_load(models_card.split("---\n")[1])
    assert front["library_name"] == "scikit-learn"
    assert front["pipeline_tag"] == "tabular-regression"
    (index,) = front["model-index"]
    shown = {(m["config"], m["type"]): m["value"] for m in index["results"][0]["metrics"]}
    for model in MODELS:
        metrics = json.loads((workdir / f"results/tiny/models/{model}/metrics.json").read_text())
        test = metrics["splits"]["test"]["vs_label"]["overall"]
        assert shown[model, "mae"] == round(test["mae"], 1)
        assert f"| test vs label | {test['n']} | {test['mae']:.0f} | {test['rmse']:.0f} |" in (
            models_card
        )
    dataset_card = (workdir / PUBLISH / "dataset/README.md").read_text()
    summary = json.loads((workdir / "results/tiny/catalog/summary.json").read_text())
    assert f"every one of the {summary['rows']:,} stars" in dataset_card
    assert f"| `D` | ML prediction, sigma >= 500 K | {summary['flags']['D']:,} |" in dataset_card


def test_the_model_cards_snippet_reproduces_the_catalogue(staged_run, hub_server, tmp_path):
    workdir, _, _ = staged_run
    hub_server.add_folder("model", MODEL_REPO, workdir / PUBLISH / "models")
    hub_server.add_folder("dataset", DATASET_REPO, workdir / PUBLISH / "dataset")
    card = (workdir / PUBLISH / "models/README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    result = tmp_path / "result.parquet"
    script = tmp_path / "snippet.py"
    script.write_text(f"{code}\nresult.write_parquet({str(result)!r})\n")
    env = hub_server.client_env(tmp_path / "hf-home")
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    got = pl.read_parquet(result)
    cat = pl.read_parquet(workdir / CATALOG).head(1000)
    # every model, teff_best, its percentiles and the flag: exactly the catalogue's, from the
    # release alone; flag_bits too, less the split bits a table of stars has no split for
    from ebteff.flags import FLAG_BITS

    split_bits = sum(FLAG_BITS[f"split_{s}"] for s in ("train", "calibration", "test"))
    assert (got["flag_bits"] & split_bits == 0).all()
    cat = cat.with_columns(pl.col("flag_bits") & ~split_bits)
    for name in cat.columns:
        assert got[name].equals(cat[name], null_equal=True), name


def test_publish_uploads_once_then_nothing_new(staged_run, hub_server, client_env, tmp_path):
    workdir = copy_run(staged_run[0], tmp_path / "run")
    config = load_test_config()
    config["publish"].update(dry_run=False, private=True)
    cfg = write_config(tmp_path / "upload.yaml", config)
    env = client_env(HF_TOKEN=TOKEN)

    first = run_snakemake(workdir, "publish", configfile=cfg, env=env)

    assert ran(first) == {"upload_publish", "publish"}  # the staged folders were kept
    report = json.loads((workdir / PUBLISH / "upload.json").read_text())
    assert report["uploaded"] and not report["dry_run"]
    for kind, repo_type, repo_id in (
        ("dataset", "dataset", DATASET_REPO),
        ("models", "model", MODEL_REPO),
    ):
        on_hub = hub_server.files_at(repo_type, repo_id)
        on_hub.pop(".gitattributes")
        assert on_hub == files_under(workdir / PUBLISH / kind), kind
        assert report["repos"][kind]["commit"] == hub_server.commit_hash(repo_type, repo_id)
        assert hub_server.is_private(repo_type, repo_id)
    assert len(hub_server.commit_log) == 2  # one commit per repository
    assert token_leaks(workdir) == [] and TOKEN not in first.stdout + first.stderr
    received, commits = len(hub_server.received), len(hub_server.commit_log)
    hub_server.reset_requests()

    second = run_snakemake(
        workdir, "publish", "--forcerun", "upload_publish", configfile=cfg, env=env
    )

    assert ran(second) == {"upload_publish", "publish"}
    assert len(hub_server.received) == received and len(hub_server.commit_log) == commits
    assert hub_server.requests_matching("PUT") == []
    assert hub_server.requests_matching("POST", "/commit/") == []
    again = json.loads((workdir / PUBLISH / "upload.json").read_text())
    for kind in ("dataset", "models"):
        assert again["repos"][kind]["commit"] == report["repos"][kind]["commit"]
        assert again["repos"][kind]["new_commit"] is False


def test_an_upload_without_token_fails_before_any_request(
    staged_run, hub_server, client_env, tmp_path
):
    workdir = copy_run(staged_run[0], tmp_path / "run")
    config = load_test_config()
    config["publish"]["dry_run"] = False
    cfg = write_config(tmp_path / "upload.yaml", config)

    proc = run_snakemake(workdir, "publish", configfile=cfg, env=client_env(), check=False)

    assert proc.returncode != 0
    assert "publish.dry_run is false but HF_TOKEN is not set" in proc.stderr
    assert hub_server.requests == []
    assert not (workdir / PUBLISH / "upload.json").exists()


def huggingface_models(tmp_path: Path, pins: dict) -> Path:
    config = load_test_config()
    config["model_source"].update(source="huggingface", repo_id=MODEL_REPO, sha256=pins)
    return write_config(tmp_path / "hub-models.yaml", config)


def without_models(src: Path, dest: Path) -> Path:
    """A copy of a run with its trained models (and everything made from them) removed."""
    workdir = copy_run(src, dest)
    shutil.rmtree(workdir / "results/tiny/models")
    return workdir


def test_published_models_give_the_trained_runs_catalogue(
    snakemake_run, staged_run, hub_server, client_env, tmp_path
):
    trained = snakemake_run[0]
    staged = staged_run[0]
    hub_server.add_folder("model", MODEL_REPO, staged / PUBLISH / "models")
    pins = json.loads((staged / PUBLISH / "manifest.json").read_text())["model_source"]["sha256"]
    workdir = without_models(trained, tmp_path / "run")

    proc = run_snakemake(
        workdir, CATALOG, configfile=huggingface_models(tmp_path, pins), env=client_env()
    )

    assert "download_model" in ran(proc) and "train_model" not in ran(proc)
    for path in (
        CATALOG,
        *[f"results/tiny/models/{m}/model.parquet" for m in MODELS],
        *[f"results/tiny/predictions/{m}.parquet" for m in MODELS],
        *[f"results/tiny/models/{m}/calibration.json" for m in MODELS],
    ):
        assert (workdir / path).read_bytes() == (trained / path).read_bytes(), path
    log = (workdir / f"results/tiny/logs/download_model/{MODELS[0]}.log").read_text()
    assert "matches the pin" in log


def test_a_missing_pin_stops_the_run_before_any_request(
    snakemake_run, staged_run, hub_server, client_env, tmp_path
):
    hub_server.add_folder("model", MODEL_REPO, staged_run[0] / PUBLISH / "models")
    pins = json.loads((staged_run[0] / PUBLISH / "manifest.json").read_text())["model_source"][
        "sha256"
    ]
    pins.pop(f"{MODELS[1]}/model.parquet")
    workdir = without_models(snakemake_run[0], tmp_path / "run")

    proc = run_snakemake(
        workdir,
        CATALOG,
        configfile=huggingface_models(tmp_path, pins),
        env=client_env(),
        check=False,
    )

    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"no pin for {MODELS[1]}/model.parquet" in out and "pickle" in out
    assert hub_server.requests == []
    assert not (workdir / "results/tiny/models").exists()


def test_a_wrong_pin_fails_and_leaves_no_model_file(
    snakemake_run, staged_run, hub_server, client_env, tmp_path
):
    hub_server.add_folder("model", MODEL_REPO, staged_run[0] / PUBLISH / "models")
    pins = json.loads((staged_run[0] / PUBLISH / "manifest.json").read_text())["model_source"][
        "sha256"
    ]
    pins[f"{MODELS[0]}/model.parquet"] = "0" * 64
    workdir = without_models(snakemake_run[0], tmp_path / "run")

    proc = run_snakemake(
        workdir,
        f"results/tiny/models/{MODELS[0]}/model.parquet",
        configfile=huggingface_models(tmp_path, pins),
        env=client_env(),
        check=False,
    )

    assert proc.returncode != 0
    assert "sha256 mismatch" in proc.stderr and "0" * 64 in proc.stderr
    assert not (workdir / f"results/tiny/models/{MODELS[0]}/model.parquet").exists()
    assert not (workdir / f"results/tiny/models/{MODELS[0]}/metadata.json").exists()
