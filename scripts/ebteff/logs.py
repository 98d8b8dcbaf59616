"""Job set-up shared by every rule script: logging to the rule's log file and stderr, and the
job's memory budget.

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
from collections.abc import Iterator, Mapping
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIB = 2**20


def setup_logging(
    logfile: str | Path | None,
    level: int = logging.INFO,
    *,
    rule: str | None = None,
    resources: Mapping | None = None,
) -> logging.Logger:
    """Send records and uncaught tracebacks to ``logfile`` (the rule's ``log[0]``) and stderr.

    With the job's ``resources`` (``mem_mb``, and the ``attempt`` and ``enforce_memory`` the
    rules pass), the log records the attempt and memory budget, an out-of-memory error says
    which budget was exceeded, and ``enforce_memory`` makes :func:`watch_memory` hold the job
    to ``mem_mb``.
    """
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
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
        logger.critical("%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = _excepthook
    if enforce:
        watch_memory(int(mem_mb), rule=rule or "?", attempt=attempt)
    return logger


def out_of_memory_message(rule: str, attempt: int, mem_mb: int, used_mb: int | None = None) -> str:
    """What a user reads when a job runs out of its memory budget, and what to do about it."""
    used = f" used {used_mb} MB, more than" if used_mb is not None else " ran out of"
    return (
        f"MemoryError: rule {rule} (attempt {attempt}){used} its mem_mb={mem_mb}. Run with "
        f"--retries 1 (profiles/slurm does) to retry it with twice the memory, or give it more "
        f"from the start: --set-resources '{rule}:mem_mb=<MB>*attempt'"
    )


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far, MiB (what a memory cgroup counts)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def watch_memory(
    mem_mb: int, *, rule: str, attempt: int, interval: float = 0.05
) -> threading.Thread:
    """Stop this process, as a cluster stops a job, once its peak resident memory exceeds
    ``mem_mb`` MiB (SLURM reads ``--mem`` in MiB): log why, then SIGKILL, so nothing runs on
    and Snakemake sees a failed job. A background thread polls the peak (``ru_maxrss``), so a
    spike between two polls is caught by the next one.

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
