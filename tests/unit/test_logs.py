"""Job set-up. Every rule's log says what it read, what it wrote and how long it took;
progress bars go to the terminal live and into the log as periodic lines. The memory budget a
job holds itself to, what it says when it runs out, and the clean-up of files a killed job
leaves half-written."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from ebteff.io import atomic_output
from ebteff.logs import Progress, finished, setup_logging


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_reads_writes_and_time_are_logged(tmp_path):
    inp = tmp_path / "in.parquet"
    inp.write_bytes(b"x" * 2500)
    out_dir = tmp_path / "staged"
    out_dir.mkdir()
    (out_dir / "a").write_bytes(b"y" * 10)
    log = tmp_path / "logs" / "rule.log"
    logger = setup_logging(log, inputs=[str(inp), [str(inp)]])  # nested, as Snakemake's lists
    (tmp_path / "out.json").write_text("{}")
    finished(logger, [str(tmp_path / "out.json"), str(out_dir), str(tmp_path / "never")])
    text = log.read_text()
    assert text.count(f"read {inp} (2.5 kB)") == 2
    assert f"wrote {tmp_path / 'out.json'} (2 B)" in text
    assert f"wrote {out_dir} (10 B)" in text
    assert f"wrote {tmp_path / 'never'} (missing)" in text
    assert re.search(r"finished in \d+\.\d\d s", text)


def test_progress_bar_lines_go_to_the_log_only(tmp_path, capsys):
    log = tmp_path / "rule.log"
    logger = setup_logging(log)
    with Progress(logger, "train m", 10, unit="tree", log_every=0) as bar:
        for _ in bar.wrap(range(10)):
            pass
    text = log.read_text()
    assert "train m:   0%|" in text and "train m: 100%|" in text and "10/10" in text
    assert "\r" not in text
    err = capsys.readouterr().err
    assert "\r" in err or "100%" in err  # the live tqdm bar
    assert "INFO ebteff: train m" not in err  # not repeated as log records on the terminal


def test_progress_logs_at_most_every_log_every_seconds(tmp_path):
    log = tmp_path / "rule.log"
    logger = setup_logging(log)
    with Progress(logger, "predict", 1000, log_every=3600) as bar:
        for _ in range(1000):
            bar.update(1)
    assert log.read_text().count("predict:") == 2  # the start and the end


def run_job(tmp_path, body: str, **resources) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``body`` as a rule script would, after setup_logging with these resources."""
    log = tmp_path / "job.log"
    script = textwrap.dedent(
        f"""
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
    time.sleep(0.05)  # slower than the watchdog polls (every 0.05 s), so it sees each step
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


def test_a_job_started_by_a_large_process_is_charged_only_for_its_own_memory(tmp_path):
    # the kernel carries the parent's resident memory into a child's ru_maxrss across exec;
    # a job forked from a large process (here this test, 600 MB bigger) must not inherit it
    ballast = bytearray(600 * 2**20)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))  # every page resident
    proc, log = run_job(tmp_path, "print('survived')", mem_mb=300, attempt=1, enforce_memory=1)
    del ballast
    assert proc.returncode == 0 and "survived" in proc.stdout, log
    assert "MemoryError" not in log


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


def test_a_job_logs_its_budget_reads_writes_time_and_peak(tmp_path):
    # both halves of setup_logging at once, as every rule script calls it
    inp = tmp_path / "in.parquet"
    inp.write_bytes(b"x" * 2500)
    out = tmp_path / "out.json"
    log = tmp_path / "job.log"
    script = textwrap.dedent(
        f"""
        from ebteff.logs import finished, setup_logging
        logger = setup_logging(
            {str(log)!r},
            inputs=[{str(inp)!r}],
            rule="build_features",
            resources={{"mem_mb": 900, "attempt": 2, "enforce_memory": 1}},
        )
        open({str(out)!r}, "w").write("{{}}")
        finished(logger, [{str(out)!r}])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(": ", 1)[1] for line in log.read_text().splitlines()]
    assert (
        lines[0] == "rule build_features, attempt 2: mem_mb=900 (enforced: the job stops beyond it)"
    )
    assert lines[1] == f"read {inp} (2.5 kB)"
    assert lines[2] == f"wrote {out} (2 B)"
    assert re.fullmatch(r"finished in \d+\.\d\d s", lines[3])
    assert re.fullmatch(r"peak resident memory: \d+ MB \(mem_mb=900\)", lines[4])  # the last


def test_a_failure_says_how_long_it_took_and_which_budget(tmp_path):
    proc, log = run_job(tmp_path, "raise MemoryError('Unable to allocate 9 GiB')", mem_mb=900)
    assert proc.returncode == 1
    assert re.search(r"MemoryError: Unable to allocate 9 GiB \(failed after \d+\.\d\d s\)", log)
    assert "MemoryError: rule train_model (attempt 1) ran out of its mem_mb=900." in log


def test_large_arrays_freed_between_live_ones_leave_the_process_after_unmap_large_allocations():
    # 20 arrays of 16 MB, each followed by one of 800 kB that stays: from glibc's heap, the freed
    # 320 MB stay resident (the live blocks pin them); each in its own mapping, they go. The
    # 16 MB of live arrays stay in both: < 32 MB with it, > 250 MB without
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from ebteff.logs import unmap_large_allocations

        def rss():
            with open("/proc/self/status") as fh:
                return int(fh.read().split("VmRSS:")[1].split()[0]) // 1024

        if sys.argv[1] == "1":
            assert unmap_large_allocations()
        a = np.ones(2_000_000)
        del a  # glibc's threshold rises above 16 MB when a block that size is freed
        before = rss()
        big, live = [], []
        for _ in range(20):
            big.append(np.ones(2_000_000))
            live.append(np.ones(100_000))
        del big
        print(rss() - before)
        """
    )
    kept = {
        flag: int(
            subprocess.run(
                [sys.executable, "-c", script, flag], capture_output=True, text=True, check=True
            ).stdout
        )
        for flag in ("0", "1")
    }
    assert kept["1"] < 32 < 250 < kept["0"], kept
