"""Every rule's log says what it read, what it wrote and how long it took; progress bars go to
the terminal live and into the log as periodic lines."""

from __future__ import annotations

import logging
import re

import pytest

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
