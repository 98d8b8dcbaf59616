"""Logging shared by every rule script: to the rule's log file and to stderr.

Every rule's log says the same three things, through two calls in its script:
:func:`setup_logging` (given the rule's inputs) logs what the rule reads, and
:func:`finished` logs what it wrote, with sizes, and how long it took; a failure is logged with
its traceback and the time it took to fail. :func:`timed` times a block within a rule.
:class:`Progress` is a tqdm bar on the terminal that also writes a textual bar into the log
file every ``log_every`` seconds (a log file full of carriage returns is unreadable, so the live
bar itself stays on stderr).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Records logged with ``extra={PROGRESS: True}`` go to the log file only: on the terminal the
#: live bar already says the same.
PROGRESS = "ebteff_progress"


class _NotProgress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, PROGRESS, False)


_started = time.perf_counter()


def setup_logging(
    logfile: str | Path | None, level: int = logging.INFO, *, inputs=None
) -> logging.Logger:
    """Send records and uncaught tracebacks to ``logfile`` (the rule's ``log[0]``) and stderr;
    log each of ``inputs`` (the rule's input files) with its size, and start the rule's clock."""
    global _started
    _started = time.perf_counter()
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    stream = logging.StreamHandler(sys.stderr)
    stream.addFilter(_NotProgress())
    handlers: list[logging.Handler] = [stream]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)

    def _excepthook(exc_type, exc, tb):
        logging.getLogger("ebteff").critical(
            "%s: %s (failed after %.2f s)",
            exc_type.__name__,
            exc,
            time.perf_counter() - _started,
            exc_info=(exc_type, exc, tb),
        )

    sys.excepthook = _excepthook
    logger = logging.getLogger("ebteff")
    for path in _paths(inputs):
        logger.info("read %s (%s)", path, _size(path))
    return logger


def finished(logger: logging.Logger, outputs=None) -> None:
    """Log each of ``outputs`` (the rule's output files) with its size, and the rule's time."""
    for path in _paths(outputs):
        logger.info("wrote %s (%s)", path, _size(path))
    logger.info("finished in %.2f s", time.perf_counter() - _started)


def _size(path: str | os.PathLike) -> str:
    """Human-readable size of a file or a directory's files; 'missing' if absent."""
    p = Path(path)
    if p.is_dir():
        n = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    elif p.exists():
        n = p.stat().st_size
    else:
        return "missing"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _paths(files) -> list[str]:
    """File paths from a str, a list, or a Snakemake Namedlist (nested lists flattened)."""
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        return [str(files)]
    out = []
    for f in files:
        out += _paths(f)
    return out


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log how long a block took."""
    start = time.perf_counter()
    yield
    logger.info("%s took %.2f s", what, time.perf_counter() - start)


class Progress:
    """A progress bar: tqdm on stderr (the terminal), and a textual bar in the log file.

    Use as a context manager, call :meth:`update` with the amount of work done, or iterate
    over :meth:`wrap`. The log gets a line when the bar starts, at most every ``log_every``
    seconds while it runs, and when it closes.
    """

    def __init__(
        self,
        logger: logging.Logger,
        desc: str,
        total: float | None,
        *,
        unit: str = "it",
        log_every: float = 30.0,
        mininterval: float = 2.0,
    ):
        from tqdm import tqdm

        self.logger = logger
        self.log_every = log_every
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=bool(total and total >= 100_000),
            mininterval=mininterval,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._last_log = time.monotonic()
        self._log()

    def _log(self) -> None:
        d = self.bar.format_dict
        text = self.bar.format_meter(**{**d, "ncols": 90, "ascii": True})
        self.logger.info("%s", text, extra={PROGRESS: True})

    def update(self, n: float = 1) -> None:
        self.bar.update(n)
        now = time.monotonic()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            self._log()

    def wrap(self, iterable: Iterable) -> Iterator:
        for item in iterable:
            yield item
            self.update(1)

    def close(self) -> None:
        if not self.bar.disable:
            self._log()
            self.bar.close()
            self.bar.disable = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
