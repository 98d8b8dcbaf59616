"""Reruns and targets: exactly what Snakemake plans after a complete run when something changes.

Each test works on a copy of the session's complete run and reads the plan of a dry run (`-n`),
job by job. That a complete run leaves nothing to do is test_complete_run_leaves_nothing_to_do
(test_workflow.py).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest

from workflow_runner import load_test_config, run_snakemake, write_config

MODELS = list(load_test_config()["models"])
CHUNKS = load_test_config()["predict"]["chunks"]
CHANGED = "gaia_2mass_ir"


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

    expected = Counter(
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
    assert planned_jobs(out) == expected
    (reason,) = reasons(out, "train_model")
    assert reason.startswith("Params have changed") and "'min_samples_leaf': 8" in reason


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
    # and the figures of the catalogue and of the best-of-models calibration it writes
    assert planned_jobs(out) == Counter(
        {("build_catalog", ""): 1, ("plot_catalog", ""): 1, ("plot_metrics", ""): 1, ("all", ""): 1}
    )
