"""Reading and writing the workflow's files: atomically, deterministically, sentinel-aware.

Every output goes through :func:`atomic_output`, so a failing step never leaves a
half-written file that Snakemake (or a user) could mistake for a result.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from .schema import NUMERIC, SENTINEL


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A job killed while writing (out of memory, SIGKILL) cannot remove its temporary file; the
    next attempt does, before it writes its own. Snakemake runs one job per output at a time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.part")
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        if stale.fullmatch(old.name):
            old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are meant to be shared
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(df: pl.DataFrame, path: str | os.PathLike) -> None:
    """Write a table atomically with settings that make the bytes a function of the data."""
    with atomic_output(path) as tmp:
        df.write_parquet(tmp, compression="zstd", compression_level=3, statistics=True)


@contextlib.contextmanager
def parquet_batches(path: str | os.PathLike) -> Iterator[Callable[[pl.DataFrame], None]]:
    """Write a table batch by batch, atomically, with :func:`write_parquet`'s settings.

    Yields ``write(frame)``; every batch must have the same schema, and at least one batch
    (it may be empty) must be written. Memory holds one batch, not the table.
    """
    with atomic_output(path) as tmp:
        writer = None

        def write(frame: pl.DataFrame) -> None:
            nonlocal writer
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(
                    tmp, table.schema, compression="zstd", compression_level=3
                )
            writer.write_table(table)

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"no batch was written to {path}")


def _clean_json(obj: Any) -> Any:
    """Make floats JSON-safe (NaN/inf become null) and round-trip-stable."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_json(v) for v in obj]
    return obj


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file the workflow wrote (or a release carries), as Python objects."""
    with open(path) as fh:
        return json.load(fh)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON atomically, keys sorted, so equal content gives equal bytes."""
    text = json.dumps(_clean_json(obj), indent=2, sort_keys=True) + "\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def sentinel_to_null(frame: pl.LazyFrame | pl.DataFrame, columns=None):
    """Turn the upstream -999.0 sentinel into null in ``columns``, by default every float
    column: the upstream columns and any extra ones (a model may name those as features)."""
    schema = frame.collect_schema()
    if columns is None:
        columns = [c for c, dtype in schema.items() if dtype.is_float()]
    cols = [c for c in columns if c in schema]
    return frame.with_columns(
        pl.when(pl.col(c) == SENTINEL).then(None).otherwise(pl.col(c)).alias(c) for c in cols
    )


def null_to_sentinel(frame: pl.LazyFrame | pl.DataFrame, columns=None):
    """Write nulls back as the sentinel, where a published format demands it."""
    names = frame.collect_schema().names()
    cols = [c for c in (columns or NUMERIC) if c in names]
    return frame.with_columns(pl.col(c).fill_null(SENTINEL) for c in cols)


def scan_photometry(path: str | os.PathLike) -> pl.LazyFrame:
    """Lazily scan an upstream photometry table with the sentinel turned into null."""
    return sentinel_to_null(pl.scan_parquet(path))
