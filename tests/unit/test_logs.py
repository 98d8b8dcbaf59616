"""Job set-up: the memory budget a job holds itself to, what it says when it runs out, and the
clean-up of files a killed job leaves half-written."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from ebteff.io import atomic_output
from workflow_runner import REPO


def run_job(tmp_path, body: str, **resources) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``body`` as a rule script would, after setup_logging with these resources."""
    log = tmp_path / "job.log"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "scripts")!r})
        from ebteff.logs import setup_logging
        setup_logging({str(log)!r}, rule="train_model", resources={resources!r})
        """
    ) + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    return proc, log.read_text()


GROW = """
import time
blocks = []
for _ in range(40):  # up to 400 MB, 10 MB at a time, every page written
    blocks.append(b"x" * (10 * 2**20))
    time.sleep(0.01)
print("survived")
"""


def test_a_job_beyond_its_memory_is_killed_with_the_reason(tmp_path):
    proc, log = run_job(tmp_path, GROW, mem_mb=150, attempt=1, enforce_memory=1)
    assert proc.returncode == -signal.SIGKILL  # as a cluster's memory limit stops a job
    assert "survived" not in proc.stdout
    assert "rule train_model, attempt 1: mem_mb=150 (enforced: the job stops beyond it)" in log
    assert "MemoryError: rule train_model (attempt 1) used " in log
    assert "MB, more than its mem_mb=150. Run with --retries 1" in log
    assert "--set-resources 'train_model:mem_mb=<MB>*attempt'" in log
    assert "MemoryError: rule train_model (attempt 1) used " in proc.stderr  # seen live too
    used = int(log.split(" used ")[1].split(" MB")[0])
    assert 150 < used < 400  # stopped once over the line, before the end


def test_the_same_job_with_twice_the_memory_completes(tmp_path):
    proc, log = run_job(tmp_path, GROW, mem_mb=600, attempt=2, enforce_memory=1)
    assert proc.returncode == 0 and "survived" in proc.stdout
    assert "rule train_model, attempt 2: mem_mb=600 (enforced" in log
    assert "MemoryError" not in log
    peak = int(log.split("peak resident memory: ")[1].split(" MB (mem_mb=600)")[0])
    assert 400 < peak < 600  # the 400 MB it grew by, and the interpreter


def test_without_enforcement_nothing_is_watched(tmp_path):
    proc, log = run_job(tmp_path, GROW, mem_mb=150, attempt=1, enforce_memory=0)
    assert proc.returncode == 0 and "survived" in proc.stdout
    assert "mem_mb=150 (not enforced by this job)" in log


def test_a_memory_error_names_the_budget(tmp_path):
    # what a job sees where the machine, not the budget, refuses an allocation
    proc, log = run_job(tmp_path, "raise MemoryError('Unable to allocate 9 GiB')", mem_mb=900)
    assert proc.returncode == 1
    assert "MemoryError: rule train_model (attempt 1) ran out of its mem_mb=900." in log
    assert "MemoryError: Unable to allocate 9 GiB" in log


def test_a_killed_writers_leftover_is_removed_by_the_next_attempt(tmp_path):
    out = tmp_path / "model.parquet"
    leftover = tmp_path / ".model.parquet.abcd_123.part"  # as mkstemp names them
    other = tmp_path / ".model.parquet.json.abcd_123.part"  # another output's: kept
    leftover.write_bytes(b"half")
    other.write_bytes(b"half")
    with atomic_output(out) as tmp:
        assert not leftover.exists()
        tmp.write_bytes(b"whole")
    assert out.read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, out.name]


def test_a_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "x.json"
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_text("{")
        raise RuntimeError("killed half-way")
    assert list(tmp_path.iterdir()) == []
