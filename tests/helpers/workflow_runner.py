"""Run the real `snakemake` CLI on a throw-away working directory.

The workflow's Snakefile stays in the repository; `--directory` points Snakemake at a temporary
folder, so resources/ and results/ of a test never touch the checkout.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
TEST_CONFIG = REPO / "config" / "test.yaml"


def unavailable(reason: str) -> None:
    """Skip a test whose tool (SLURM, Chromium) cannot be had here, saying why; in CI
    (``CI=true``, as .ci/run and the usual CI services set it) fail instead, so a broken install
    cannot turn the suite green by skipping."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def load_test_config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = None,
    env: dict | None = None,
    check: bool = True,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """Run `python -m snakemake` on the repository's Snakefile in ``workdir``."""
    # targets and flags first: --configfile would swallow every word after it
    cmd = [sys.executable, "-m", "snakemake", *args]
    cmd += ["--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    cmd += ["--configfile", str(configfile or TEST_CONFIG)]
    if not any(a.startswith("--cores") or a == "-c" for a in args):
        cmd += ["--cores", "2"]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        cmd, cwd=workdir, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-10000:]}"
        )
    return proc


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    return d


@pytest.fixture
def tiny_config() -> dict:
    """A fresh, editable copy of config/test.yaml."""
    return copy.deepcopy(load_test_config())


@pytest.fixture(scope="session")
def snakemake_run(tmp_path_factory):
    """One complete run of the workflow on config/test.yaml, shared by the tests that inspect it."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    proc = run_snakemake(workdir)
    return workdir, proc


@pytest.fixture(scope="session")
def snakemake_report(snakemake_run) -> Path:
    """The report of the tiny run, built once with `snakemake --report`."""
    workdir, _ = snakemake_run
    run_snakemake(workdir, "--report", "results/tiny/report.html")
    return workdir / "results" / "tiny" / "report.html"
