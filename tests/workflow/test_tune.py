"""`snakemake tune` on the tiny config: a search of a few trials, two trial jobs at once, through
the real CLI; one trial job killed mid-way and the search rerun; the result compared with an
uninterrupted search of the same settings, and its snippet validated against the config schema.

Both searches start from copies of the session's complete run (its feature tables), so only
the trials and the score of the configured hyperparameters run here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
import yaml

from ebteff.config import validate_config
from ebteff.plots.base import read_panel_points
from ebteff.tuning import open_study
from helpers.workflow_runner import REPO, SNAKEFILE, TEST_CONFIG, load_test_config, run_snakemake

TUNING = load_test_config()["tuning"]
MODEL = TUNING["models"][0]
FILES = ("best.yaml", "best.json", "trials.csv", "summary.json")


def tuning_dir(workdir):
    return workdir / "results" / "tiny" / "tuning" / MODEL


def journal_trials(workdir) -> list:
    folder = tuning_dir(workdir)
    study = json.loads((folder / "summary.json").read_text())["study"]
    return open_study(folder / "study.journal", study).get_trials(deepcopy=False)


@pytest.fixture(scope="module")
def searches(snakemake_run, tmp_path_factory):
    """(uninterrupted search, search with trial job killed and rerun): their working
    directories, and what the kill left."""
    workdir, _ = snakemake_run
    plain = tmp_path_factory.mktemp("tune_plain") / "run"
    killed = tmp_path_factory.mktemp("tune_killed") / "run"
    for d in (plain, killed):
        shutil.copytree(workdir, d, symlinks=True)
    run_snakemake(plain, "tune")

    cmd = [sys.executable, "-m", "snakemake", "tune", "--cores", "2"]
    cmd += ["--snakefile", str(SNAKEFILE), "--directory", str(killed)]
    cmd += ["--configfile", str(TEST_CONFIG)]
    proc = subprocess.Popen(
        cmd, cwd=killed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    logs = killed / "results" / "tiny" / "logs" / "tune_trial" / MODEL
    victim = None
    deadline = time.monotonic() + 300
    # a trial after the first window (so that finished trials exist), once it has recorded
    # itself in the study and started its first fold
    while victim is None and proc.poll() is None and time.monotonic() < deadline:
        for log in sorted(logs.glob("*.log")) if logs.exists() else []:
            text = log.read_text()
            pid = re.search(r"runs as process (\d+)", text)
            if int(log.stem) >= TUNING["jobs"] and pid and "cross-validation of" in text:
                victim = (int(log.stem), int(pid.group(1)))
                os.kill(victim[1], signal.SIGKILL)
                break
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=600)
    assert victim is not None, f"no trial job was caught running:\n{out[-3000:]}"
    assert proc.returncode != 0, out[-3000:]
    index = victim[0]
    finished = {
        p.name: p.stat().st_mtime_ns for p in (tuning_dir(killed) / "trials").glob("*.json")
    }
    assert f"{index:04d}.json" not in finished
    study = json.loads((tuning_dir(plain) / "summary.json").read_text())["study"]
    left = open_study(tuning_dir(killed) / "study.journal", study).get_trials(deepcopy=False)
    run_snakemake(killed, "tune")
    return plain, killed, index, finished, left


def test_search_writes_its_outputs_and_a_snippet_the_schema_accepts(searches, tiny_config):
    plain, _, _, _, _ = searches
    folder = tuning_dir(plain)
    table = pl.read_csv(folder / "trials.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert table["trial"].to_list() == list(range(TUNING["trials"]))
    best = table.row(int(table["value"].arg_min()), named=True)
    assert summary["best_trial"] == best["trial"]
    assert summary["best"]["value"] == pytest.approx(table["value"].min())
    # the configured hyperparameters' score beside the best, on the same folds
    published = json.loads((folder / "published.json").read_text())
    assert summary["configured"]["value"] == published["value"] > 0
    assert summary["gain"]["value"] == pytest.approx(published["value"] - best["value"])
    assert set(summary["importances"]) == set(TUNING["space"])

    snippet = yaml.safe_load((folder / "best.yaml").read_text())
    assert set(snippet) == {"hyperparameters"}
    for name in TUNING["space"]:
        value = snippet["hyperparameters"][name]
        assert str(value) == str(best[name]), name
    assert snippet["hyperparameters"]["random_state"] == 42  # kept from the model's config
    # as the workflow reads a config: config/config.yaml, with the tiny one over it
    config = {**yaml.safe_load((REPO / "config" / "config.yaml").read_text()), **tiny_config}
    config["models"][MODEL].update(snippet)
    validate_config(config, REPO / "config" / "schema.yaml")

    # the history and the importances both show data
    panels = read_panel_points(plain / "results" / "tiny" / "plots" / "tuning" / f"{MODEL}.png")
    assert [p["points"] > 0 for p in panels] == [True, True], panels


def test_two_trial_jobs_ran_at_once(searches):
    plain, _, _, _, _ = searches
    spans = sorted((t.datetime_start, t.datetime_complete) for t in journal_trials(plain))
    assert len(spans) == TUNING["trials"]
    assert any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)), spans


def test_a_killed_trial_is_recorded_failed_and_rerun_the_rest_kept(searches):
    _, killed, index, finished, left = searches
    # the kill left the trial RUNNING in the study file, which stayed readable
    assert [t.state.name for t in left if t.user_attrs["index"] == index] == ["RUNNING"]
    trials = journal_trials(killed)
    states = [(t.user_attrs["index"], t.state.name) for t in trials]
    assert sorted(states) == sorted(
        [(i, "COMPLETE") for i in range(TUNING["trials"])] + [(index, "FAIL")]
    )
    # the rerun drew the killed trial's hyperparameters again
    by_state = {t.state.name: t.params for t in trials if t.user_attrs["index"] == index}
    assert by_state["FAIL"] == by_state["COMPLETE"]
    # trials finished before the kill were not run again
    for name, mtime in finished.items():
        assert (tuning_dir(killed) / "trials" / name).stat().st_mtime_ns == mtime, name


def test_killed_and_rerun_search_equals_the_uninterrupted_one(searches):
    plain, killed, _, _, _ = searches
    for name in FILES:
        assert (tuning_dir(killed) / name).read_bytes() == (tuning_dir(plain) / name).read_bytes()
