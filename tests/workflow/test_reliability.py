"""Reproducibility and recovery: identical reruns, a run killed mid-way that resumes, and a job
out of memory retried with more."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from helpers.workflow_runner import SNAKEFILE, TEST_CONFIG, load_test_config, run_snakemake

MODELS = list(load_test_config()["models"])
# what differs between runs by design: the logs (times, memory) and the benchmark timings
NOT_RESULTS = ("results/tiny/logs/", "results/tiny/benchmarks/")


def produced_files(workdir) -> list[str]:
    """Every file the workflow wrote under results/ and resources/ but its logs and timings."""
    return sorted(
        rel
        for top in ("results", "resources")
        for path in (workdir / top).rglob("*")
        if path.is_file()
        and not (rel := path.relative_to(workdir).as_posix()).startswith(NOT_RESULTS)
    )


EPOCH = {"SOURCE_DATE_EPOCH": "1767225600"}  # fixes the FITS creation date


def test_two_runs_from_scratch_are_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        run_snakemake(d, env=EPOCH)
    files = produced_files(a)
    assert files == produced_files(b)
    # the list is the whole run: every stage's outputs, figures and reports included
    for must in (
        "results/tiny/calibration/teff_best.json",
        f"results/tiny/features/{MODELS[0]}.parquet",
        f"results/tiny/models/{MODELS[0]}/metadata.json",
        "results/tiny/plots/cmd.png",
        "resources/tiny/photometry/truth.parquet",
    ):
        assert must in files, must
    different = [p for p in files if (a / p).read_bytes() != (b / p).read_bytes()]
    assert not different, different


def test_killed_during_prediction_then_rerun_gives_the_same_catalogue(tmp_path, snakemake_run):
    reference, _ = snakemake_run
    work = tmp_path / "killed"
    work.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(work),
        "--configfile",
        str(TEST_CONFIG),
        "--cores",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    chunk_logs = work / "results/tiny/logs/predict_chunk"
    deadline = time.monotonic() + 600
    try:
        while not (chunk_logs.exists() and any(chunk_logs.iterdir())):
            assert proc.poll() is None, "the run ended before prediction started"
            assert time.monotonic() < deadline, "prediction never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running jobs, no clean-up
        proc.wait()
    assert not (work / "results/tiny/catalog/eb_teff_catalog.parquet").exists()
    run_snakemake(work, "--unlock")
    run_snakemake(work)
    # nothing half-written left by the killed jobs (atomic_output's temporary files), no
    # prediction chunk (temp()) kept, and the same files as the uninterrupted run
    leftovers = [p for p in work.rglob("*.part") if ".snakemake" not in p.parts]
    assert not leftovers, leftovers
    assert not list((work / "results/tiny/predictions/chunks").rglob("*.parquet"))
    files = produced_files(work)
    # (the session's run may also hold the report, built from it by snakemake --report)
    assert files == [p for p in produced_files(reference) if p != "results/tiny/report.html"]
    # with the same bytes; the FITS file records when it was written (neither run fixes
    # SOURCE_DATE_EPOCH: test_two_runs_from_scratch_are_byte_identical covers it)
    different = [
        p
        for p in files
        if not p.endswith(".fits") and (work / p).read_bytes() != (reference / p).read_bytes()
    ]
    assert not different, different


def test_a_job_out_of_memory_is_retried_with_twice_the_memory(tmp_path, snakemake_run):
    # config/test.yaml holds every job to its mem_mb (resources.enforce_memory), as a cluster
    # would. One model's training gets 70% of the peak it reached in the complete run: its
    # first attempt is stopped, and the retry Snakemake makes (--retries 1, as profiles/slurm)
    # has twice that, 140%, and completes.
    reference, _ = snakemake_run
    work = tmp_path / "oom"
    shutil.copytree(reference, work, symlinks=True)
    model = MODELS[1]
    log = f"results/tiny/logs/train_model/{model}.log"
    peak = int(re.search(r"peak resident memory: (\d+) MB", (reference / log).read_text())[1])
    first = int(0.7 * peak)
    target = f"results/tiny/models/{model}/model.parquet"
    proc = run_snakemake(
        work,
        target,
        "--forcerun",
        "train_model",
        "--retries",
        "1",
        "--set-resources",
        f"train_model:mem_mb={first}*attempt",
    )
    out = proc.stdout + proc.stderr
    announced = re.findall(r"attempt=(\d), enforce_memory=1, mem_mb=(\d+)", out)
    assert announced == [("1", str(first)), ("2", str(2 * first))]
    assert "MemoryError: rule train_model (attempt 1) used " in out
    assert f"more than its mem_mb={first}. Run with --retries 1" in out
    assert "died with <Signals.SIGKILL: 9>" in out and "Trying to restart job" in out
    # the log is the successful attempt's: it needed more than the first attempt had
    text = (work / log).read_text()
    assert f"rule train_model, attempt 2: mem_mb={2 * first} (enforced" in text
    used = int(re.search(rf"peak resident memory: (\d+) MB \(mem_mb={2 * first}\)", text)[1])
    assert first < used <= 2 * first
    # the same model as the uninterrupted run, and nothing half-written left behind
    assert (work / target).read_bytes() == (reference / target).read_bytes()
    assert not list((work / "results").rglob("*.part"))
