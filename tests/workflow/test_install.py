"""`pip install .` gives a library that a notebook imports and predicts with, nothing more.

A fresh virtual environment (``python -m venv --system-site-packages``: the pinned dependencies
come from the interpreter's own site-packages, as requirements.txt installed them, instead of
being downloaded again) gets the package from a copy of the repository; a Python started outside
the repository, with no PYTHONPATH, imports it from the environment's site-packages, finds its
package data, and predicts a table with a model release, giving what this checkout's library
gives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

import ebteff
from helpers.release import stars_to_predict, write_release
from helpers.workflow_runner import REPO

# what a checkout holds that the package does not need (and that is slow to copy)
NOT_COPIED = (".git", ".snakemake", "results", "resources", "build", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("install")
    src = root / "src"  # pip builds in the source folder: a copy keeps the checkout clean
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_COPIED))
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([base, "-m", "venv", "--system-site-packages", root / "venv"], check=True)
    python = root / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [python, "-m", "pip", "install", "--no-input", str(src)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return python


def test_the_installed_package_predicts_a_table(venv_python, tmp_path):
    release = write_release(tmp_path / "release")
    stars = stars_to_predict()
    stars.write_parquet(tmp_path / "stars.parquet")
    script = textwrap.dedent(
        f"""
        import json
        import polars as pl
        import ebteff
        from ebteff.sim import stellar

        result = ebteff.predict_table(pl.read_parquet("stars.parquet"), {str(release)!r})
        result.write_parquet("result.parquet")
        print(json.dumps({{"module": ebteff.__file__, "grid": str(stellar.GRID_PATH),
                          "grid_exists": stellar.GRID_PATH.is_file()}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [venv_python, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    site = venv_python.parents[1] / "lib"
    # the environment's copy, not this checkout's scripts/ folder
    assert Path(found["module"]).is_relative_to(site), found["module"]
    assert Path(found["grid"]).is_relative_to(site) and found["grid_exists"]
    result = pl.read_parquet(tmp_path / "result.parquet")
    assert result["source_id"].to_list() == stars["source_id"].to_list()
    assert result["teff_best"].null_count() == 0
    expected = ebteff.predict_table(stars, release)
    assert result.equals(expected)
