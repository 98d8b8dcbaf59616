"""Reruns and targets: exactly what Snakemake plans after a complete run when something changes.

Each test works on a copy of the session's complete run and reads the plan of a dry run (`-n`),
job by job: one test per kind of config change and per target command (the README's table under
"How it works" shows the main ones). That a complete run leaves nothing to do is
test_complete_run_leaves_nothing_to_do (test_workflow.py).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest

from helpers.workflow_runner import load_test_config, run_snakemake, write_config

MODELS = list(load_test_config()["models"])
CHUNKS = load_test_config()["predict"]["chunks"]
CHANGED = "gaia_2mass_ir"
TABLES = list(load_test_config()["validation"]["tables"])


def planned_jobs(out: str) -> Counter:
    """(rule, wildcards) of every job a dry run announces, e.g. ('train_model', 'model=x')."""
    jobs = Counter()
    for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n)+)", out, re.M):
        wildcards = re.search(r"^\s+wildcards: (.*)$", m.group(2), re.M)
        jobs[(m.group(1), wildcards.group(1) if wildcards else "")] += 1
    return jobs


def reasons(out: str, rule: str) -> list[str]:
    return re.findall(rf"^(?:local)?rule {rule}:\n(?:[ \t]+.*\n)*?\s+reason: (.*)$", out, re.M)


@pytest.fixture
def run_copy(snakemake_run, tmp_path):
    workdir, _ = snakemake_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


def test_one_hyperparameter_reruns_that_model_and_what_follows_only(run_copy, tiny_config):
    # the test config shares one hyperparameter mapping between models (a YAML anchor)
    model = tiny_config["models"][CHANGED]
    model["hyperparameters"] = {**model["hyperparameters"], "min_samples_leaf": 8}
    cfg = write_config(run_copy / "changed.yaml", tiny_config)
    out = run_snakemake(run_copy, "-n", configfile=cfg).stdout

    expected = (
        Counter(
            {
                ("train_model", f"model={CHANGED}"): 1,
                ("evaluate_model", f"model={CHANGED}"): 1,
                # only that model's prediction chunks; no other model is predicted again
                **{
                    ("predict_chunk", f"model={CHANGED}, scatteritem={i}-of-{CHUNKS}"): 1
                    for i in range(1, 1 + CHUNKS)
                },
                ("gather_predictions", f"model={CHANGED}"): 1,
                ("calibrate_model", f"model={CHANGED}"): 1,
                ("build_catalog", ""): 1,
                # the figures drawn from what changed
                ("plot_model_accuracy", f"model={CHANGED}"): 1,
                ("plot_metrics", ""): 1,
                ("plot_catalog", ""): 1,
                ("all", ""): 1,
            }
        )
        + VALIDATION
    )
    assert planned_jobs(out) == expected
    (reason,) = reasons(out, "train_model")
    assert reason.startswith("Params have changed") and "'min_samples_leaf': 8" in reason


def after_training(model: str, chunks: int = CHUNKS) -> Counter:
    """One model's jobs from its training on (README: `models.<name>.hyperparameters`)."""
    return Counter(
        {
            ("train_model", f"model={model}"): 1,
            **after_prediction(model, chunks),
        }
    )


def after_prediction(model: str, chunks: int = CHUNKS) -> Counter:
    return Counter(
        {
            **{
                ("predict_chunk", f"model={model}, scatteritem={i}-of-{chunks}"): 1
                for i in range(1, 1 + chunks)
            },
            ("gather_predictions", f"model={model}"): 1,
            ("evaluate_model", f"model={model}"): 1,
            ("calibrate_model", f"model={model}"): 1,
            ("plot_model_accuracy", f"model={model}"): 1,
        }
    )


#: the external validation of each table uses the models, their calibrations and the catalogue
VALIDATION = Counter({("validate_external", f"table={t}"): 1 for t in TABLES})
CATALOGUE = (
    Counter(
        {("build_catalog", ""): 1, ("plot_catalog", ""): 1, ("plot_metrics", ""): 1, ("all", ""): 1}
    )
    + VALIDATION
)


def plan_after(run_copy, config: dict, name: str = "changed.yaml") -> Counter:
    out = run_snakemake(run_copy, "-n", configfile=write_config(run_copy / name, config)).stdout
    return planned_jobs(out)


def test_features_target_or_transform_rerun_that_model_from_its_features(run_copy, tiny_config):
    tiny_config["models"][CHANGED]["transform"] = "log10"
    expected = after_training(CHANGED) + CATALOGUE
    expected[("build_features", f"model={CHANGED}")] = 1
    assert plan_after(run_copy, tiny_config) == expected


@pytest.mark.parametrize(("key", "value"), [("chunks", 3), ("batch_rows", 3000)])
def test_prediction_settings_rerun_prediction_onward_and_no_training(
    run_copy, tiny_config, key, value
):
    tiny_config["predict"][key] = value
    chunks = tiny_config["predict"]["chunks"]
    expected = sum((after_prediction(m, chunks) for m in MODELS), Counter()) + CATALOGUE
    assert plan_after(run_copy, tiny_config) == expected


def test_split_reruns_the_split_onward(run_copy, tiny_config):
    tiny_config["split"]["salt"] = "another-split"
    expected = sum((after_training(m) for m in MODELS), Counter()) + CATALOGUE
    expected[("make_split", "")] = 1
    for m in MODELS:
        expected[("build_features", f"model={m}")] = 1
    assert plan_after(run_copy, tiny_config) == expected


def test_correction_reruns_from_the_correction_on(run_copy, tiny_config):
    tiny_config["correction"]["clip_sigma"] = 2.5
    jobs = plan_after(run_copy, tiny_config)
    rules = {rule for rule, _ in jobs}
    assert {"fit_correction", "evaluate_correction", "build_features", "train_model"} <= rules
    assert not rules & {"simulate_photometry", "validate_photometry", "make_split"}
    assert sum(jobs[("train_model", f"model={m}")] for m in MODELS) == len(MODELS)


def test_simulation_reruns_everything(run_copy, tiny_config, snakemake_run):
    tiny_config["simulate"]["seed"] += 1
    jobs = plan_after(run_copy, tiny_config)
    # every job of the complete run, as many as a run from nothing has
    _, proc = snakemake_run
    done = re.search(r"(\d+) of \1 steps \(100%\) done", proc.stdout + proc.stderr)
    assert sum(jobs.values()) == int(done[1])
    assert jobs[("simulate_photometry", "")] == 1


def test_enforce_memory_reruns_nothing(run_copy, tiny_config):
    tiny_config["resources"]["enforce_memory"] = not tiny_config["resources"]["enforce_memory"]
    cfg = write_config(run_copy / "changed.yaml", tiny_config)
    proc = run_snakemake(run_copy, "-n", configfile=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_any_other_key_rebuilds_the_catalogue_and_publish_keys_nothing(run_copy, tiny_config):
    # huggingface.* is read only when source is huggingface: it reaches the catalogue's
    # provenance (the config hash) and nothing else
    tiny_config["huggingface"]["revision"] = "v2"
    assert plan_after(run_copy, tiny_config) == CATALOGUE
    changed = {**tiny_config, "huggingface": load_test_config()["huggingface"]}
    changed["publish"] = {**changed["publish"], "private": True}
    cfg = write_config(run_copy / "publish.yaml", changed)
    proc = run_snakemake(run_copy, "-n", configfile=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_validation_setting_reruns_only_that_validation(run_copy, tiny_config):
    # validation.* is left out of the config hash: the catalogue does not depend on it
    tiny_config["validation"]["tables"][TABLES[0]]["description"] = "another description"
    assert plan_after(run_copy, tiny_config) == Counter({("all", ""): 1}) + Counter(
        {("validate_external", f"table={TABLES[0]}"): 1}
    )


def test_one_model_rebuilt_as_a_target(run_copy):
    out = run_snakemake(
        run_copy, f"results/tiny/models/{CHANGED}/model.parquet", "--forcerun", "train_model", "-n"
    ).stdout
    assert planned_jobs(out) == Counter({("train_model", f"model={CHANGED}"): 1})


def test_one_prediction_chunk_rebuilt_as_a_target(run_copy):
    # chunks are temp(): gone after a complete run, and rebuilt alone when asked for
    target = f"results/tiny/predictions/chunks/{CHANGED}/{CHUNKS}-of-{CHUNKS}.parquet"
    assert not (run_copy / target).exists()
    out = run_snakemake(run_copy, target, "-n").stdout
    assert planned_jobs(out) == Counter(
        {("predict_chunk", f"model={CHANGED}, scatteritem={CHUNKS}-of-{CHUNKS}"): 1}
    )


def test_catalogue_rebuilt_alone(run_copy):
    out = run_snakemake(run_copy, "--forcerun", "build_catalog", "-n").stdout
    # and the figures of the catalogue and of the best-of-models calibration it writes, and the
    # external validation (which reads that calibration)
    assert planned_jobs(out) == CATALOGUE


def test_every_model_retrained_and_what_follows(run_copy):
    out = run_snakemake(run_copy, "--forcerun", "train_model", "-n").stdout
    assert planned_jobs(out) == sum((after_training(m) for m in MODELS), Counter()) + CATALOGUE
