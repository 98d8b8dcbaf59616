"""Logging set-up shared by every rule script: to the rule's log file and to stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(logfile: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send records and uncaught tracebacks to ``logfile`` (the rule's ``log[0]``) and stderr."""
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

    def _excepthook(exc_type, exc, tb):
        logging.getLogger("ebteff").critical(
            "%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb)
        )

    sys.excepthook = _excepthook
    return logging.getLogger("ebteff")


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log how long a block took."""
    start = time.perf_counter()
    yield
    logger.info("%s took %.2f s", what, time.perf_counter() - start)
