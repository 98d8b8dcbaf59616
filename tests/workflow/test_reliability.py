"""Reproducibility and recovery: identical reruns, and a run killed mid-way that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from workflow_runner import SNAKEFILE, TEST_CONFIG, load_test_config, run_snakemake

MODELS = list(load_test_config()["models"])
DETERMINISTIC = [
    "resources/photometry/eb_unified_photometry.parquet",
    "results/photometry/summary.json",
    "results/correction/teff_correction.json",
    "results/correction/teff_correction_coeffs_deg2.pkl",
    "results/split/split.parquet",
    "results/catalog/eb_teff_catalog.parquet",
    "results/catalog/eb_teff_catalog.fits",
    "results/catalog/summary.json",
    *[
        f"results/models/{m}/{f}"
        for m in MODELS
        for f in ("model.parquet", "metrics.json", "calibration.json")
    ],
    *[f"results/predictions/{m}.parquet" for m in MODELS],
    # the report's figures
    "results/correction/teff_correction.png",
    "results/plots/teff_distributions.png",
    "results/plots/sky.png",
    "results/plots/calibration_pit.png",
    *[f"results/plots/accuracy/{m}.png" for m in MODELS],
]
EPOCH = {"SOURCE_DATE_EPOCH": "1767225600"}  # fixes the FITS creation date


def test_two_runs_from_scratch_are_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        run_snakemake(d, env=EPOCH)
    for path in DETERMINISTIC:
        assert (a / path).read_bytes() == (b / path).read_bytes(), path


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
    chunk_logs = work / "results/logs/predict_chunk"
    deadline = time.monotonic() + 600
    try:
        while not (chunk_logs.exists() and any(chunk_logs.iterdir())):
            assert proc.poll() is None, "the run ended before prediction started"
            assert time.monotonic() < deadline, "prediction never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running jobs, no clean-up
        proc.wait()
    assert not (work / "results/catalog/eb_teff_catalog.parquet").exists()
    run_snakemake(work, "--unlock")
    run_snakemake(work)
    for path in (
        "results/catalog/eb_teff_catalog.parquet",
        *[f"results/predictions/{m}.parquet" for m in MODELS],
    ):
        assert (work / path).read_bytes() == (reference / path).read_bytes(), path
