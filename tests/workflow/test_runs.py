"""Runs side by side: each configuration's files live below results/<run>/ and resources/<run>/,
so trying another source or a named variant never deletes or rewrites a finished run.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from helpers.workflow_runner import run_snakemake, write_config

RUN = "tiny"  # config/test.yaml's run name


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of every file below ``root``."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def finished(snakemake_run, tmp_path) -> Path:
    workdir, _ = snakemake_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


def test_results_live_below_the_run_name(snakemake_run):
    workdir, _ = snakemake_run
    assert sorted(p.name for p in (workdir / "results").iterdir() if p.is_dir()) == [RUN]
    assert sorted(p.name for p in (workdir / "resources").iterdir()) == [RUN]


def test_another_source_leaves_a_finished_run_untouched(finished, tiny_config):
    before = (
        snapshot(finished / "results" / RUN),
        snapshot(finished / "resources" / RUN),
    )
    photometry = finished / "resources" / RUN / "photometry" / "eb_unified_photometry.parquet"

    # a run of a local table with no run name of its own: named after its source
    local = {**tiny_config, "run": None, "source": "local", "local": {"path": str(photometry)}}
    cfg = write_config(finished / "local.yaml", local)
    run_snakemake(finished, "results/local/photometry/summary.json", configfile=cfg)
    assert (finished / "results" / "local" / "photometry" / "summary.json").exists()

    # a failing attempt (a table that does not validate) under yet another name
    broken = finished / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    bad = {**local, "run": "trial", "local": {"path": str(broken)}}
    proc = run_snakemake(
        finished,
        "results/trial/photometry/summary.json",
        configfile=write_config(finished / "bad.yaml", bad),
        check=False,
    )
    assert proc.returncode != 0

    after = (
        snapshot(finished / "results" / RUN),
        snapshot(finished / "resources" / RUN),
    )
    assert after == before
    # and the finished run still has nothing to do
    out = run_snakemake(finished, "-n").stdout
    assert "Nothing to be done" in out, out[-2000:]


def test_a_bad_run_name_is_refused_naming_the_key(workflow_dir):
    proc = run_snakemake(workflow_dir, "-n", "--config", "run=../elsewhere", check=False)
    assert proc.returncode != 0
    assert "config key run" in proc.stdout + proc.stderr
