"""Job set-up shared by every rule script: logging to the rule's log file and stderr, and the
job's memory budget.

Every rule's log says the same three things, through two calls in its script:
:func:`setup_logging` (given the rule's inputs) logs what the rule reads, and
:func:`finished` logs what it wrote, with sizes, and how long it took; a failure is logged with
its traceback and the time it took to fail. :func:`timed` times a block within a rule.
:class:`Progress` is a tqdm bar on the terminal that also writes a textual bar into the log
file every ``log_every`` seconds (a log file full of carriage returns is unreadable, so the live
bar itself stays on stderr).

A cluster holds each job to the memory it asked for (SLURM's ``--mem``, from the rule's
``mem_mb``) and kills it beyond; Snakemake then resubmits it with ``attempt`` raised, and the
rule's ``mem_mb`` grows with the attempt. Where nothing enforces ``mem_mb`` (a workstation, or a
cluster without memory limits), :func:`watch_memory` plays the cluster's part inside the job, so
that the same budget holds everywhere and the retry path can be tested.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIB = 2**20
#: Records logged with ``extra={PROGRESS: True}`` go to the log file only: on the terminal the
#: live bar already says the same.
PROGRESS = "ebteff_progress"


class _NotProgress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, PROGRESS, False)


_started = time.perf_counter()


def setup_logging(
    logfile: str | Path | None,
    level: int = logging.INFO,
    *,
    inputs=None,
    rule: str | None = None,
    resources: Mapping | None = None,
) -> logging.Logger:
    """Send records and uncaught tracebacks to ``logfile`` (the rule's ``log[0]``) and stderr;
    log each of ``inputs`` (the rule's input files) with its size, and start the rule's clock.

    With the job's ``resources`` (``mem_mb``, and the ``attempt`` and ``enforce_memory`` the
    rules pass), the log records the attempt and memory budget, an out-of-memory error says
    which budget was exceeded, and ``enforce_memory`` makes :func:`watch_memory` hold the job
    to ``mem_mb``.
    """
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
    logger = logging.getLogger("ebteff")

    resources = resources or {}
    mem_mb = resources.get("mem_mb")
    attempt = int(resources.get("attempt", 1))
    enforce = bool(resources.get("enforce_memory", 0)) and mem_mb is not None
    if rule and mem_mb is not None:
        logger.info(
            "rule %s, attempt %d: mem_mb=%d (%s)",
            rule,
            attempt,
            mem_mb,
            "enforced: the job stops beyond it" if enforce else "not enforced by this job",
        )
        # what the request could be: the last line of every job that ends (even by an error)
        atexit.register(
            lambda: logger.info("peak resident memory: %d MB (mem_mb=%d)", peak_rss_mb(), mem_mb)
        )

    def _excepthook(exc_type, exc, tb):
        if issubclass(exc_type, MemoryError) and rule and mem_mb is not None:
            logger.critical(out_of_memory_message(rule, attempt, int(mem_mb)))
        logger.critical(
            "%s: %s (failed after %.2f s)",
            exc_type.__name__,
            exc,
            time.perf_counter() - _started,
            exc_info=(exc_type, exc, tb),
        )

    sys.excepthook = _excepthook
    if enforce:
        watch_memory(int(mem_mb), rule=rule or "?", attempt=attempt)
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


def out_of_memory_message(rule: str, attempt: int, mem_mb: int, used_mb: int | None = None) -> str:
    """What a user reads when a job runs out of its memory budget, and what to do about it."""
    used = f" used {used_mb} MB, more than" if used_mb is not None else " ran out of"
    return (
        f"MemoryError: rule {rule} (attempt {attempt}){used} its mem_mb={mem_mb}. Run with "
        f"--retries 1 (profiles/slurm does) to retry it with twice the memory, or give it more "
        f"from the start: --set-resources '{rule}:mem_mb=<MB>*attempt'"
    )


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far, MiB (what a memory cgroup counts).

    Linux: ``VmHWM`` of /proc/self/status, the high-water mark of this program's own memory.
    Not ``ru_maxrss``: the kernel carries into it the resident memory of the process this one
    was forked from, up to the moment of exec, so a small job started by a large parent (a
    test runner, a notebook) would read as large as its parent from the start.
    """
    try:
        with open("/proc/self/status", "rb") as fh:  # binary: Name: may be any bytes
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def unmap_large_allocations(threshold_bytes: int = 4 << 20) -> bool:
    """Have glibc give every allocation of ``threshold_bytes`` or more its own mapping, so that
    freeing it returns the memory to the system at once; True where that took (glibc).

    glibc raises this threshold (up to 32 MB) each time such a block is freed, and from then on
    serves catalogue-sized numpy arrays from its heap, where a freed array stays resident while
    anything allocated after it lives: a rule that makes and drops many of them (the catalogue's
    assembly) then peaks with memory it no longer uses. Setting the threshold fixes it.
    """
    import ctypes

    m_mmap_threshold = -3  # malloc.h
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, int(threshold_bytes)))
    except (OSError, AttributeError):  # not glibc
        return False


def watch_memory(
    mem_mb: int, *, rule: str, attempt: int, interval: float = 0.05
) -> threading.Thread:
    """Stop this process, as a cluster stops a job, once its peak resident memory exceeds
    ``mem_mb`` MiB (SLURM reads ``--mem`` in MiB): log why, then SIGKILL, so nothing runs on
    and Snakemake sees a failed job. A background thread polls the peak
    (:func:`peak_rss_mb`), so a spike between two polls is caught by the next one.

    Resident memory, not an address-space limit: RLIMIT_AS and RLIMIT_DATA count memory that
    thread pools and allocators reserve but never touch (hundreds of MB for Polars and
    OpenBLAS, more with more cores), and an allocation refused by them can hang Polars instead
    of failing.
    """

    def _watch() -> None:
        while True:
            used = peak_rss_mb()
            if used > mem_mb:
                logging.getLogger("ebteff").critical(
                    out_of_memory_message(rule, attempt, mem_mb, used)
                )
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(interval)

    thread = threading.Thread(target=_watch, name="watch_memory", daemon=True)
    thread.start()
    return thread


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
