"""Users' own tables of stars: Parquet, CSV, FITS or VOTable, upstream or Gaia Archive names.

:func:`table_batches` reads a table batch by batch (memory holds one batch: Parquet and CSV are
streamed, FITS is memory-mapped; a VOTable is parsed whole, as astropy reads it) and
:func:`normalise` turns each batch into the upstream schema's names and conventions: Gaia
Archive, 2MASS and Pan-STARRS1 best-neighbour names become the upstream ones
(:data:`ebteff.schema.ARCHIVE_NAMES`), matched regardless of case; missing values (null, NaN,
inf or the sentinel -999.0) become null; upstream colours a table lacks are computed from its
bands. Every problem raises :class:`TableError` naming the file, the column or the config key.

Inputs that cannot be stars are caught here, before any model sees them: a magnitude beyond what
its survey can measure (:data:`MAGNITUDE_LIMITS`) is refused, naming the column, the count and a
row; the missing-value markers other catalogues use (99, 99.99, -99, -9999, ...:
:data:`MAGNITUDE_SENTINELS`) are read as missing in magnitude and colour columns, and counted. A
CSV whose header holds ``;`` or tabs is refused as using the wrong separator, and a table with a
``designation`` (``Gaia DR3 <source_id>``) instead of ``source_id`` is read by taking the id
from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from .schema import (
    ARCHIVE_NAMES,
    COLUMNS,
    DERIVED_COLOURS,
    NEGATED_ARCHIVE_COLOURS,
    PS1_KRON,
    PS1_PSF,
    SENTINEL,
    TMASS_COLOURS,
    UPSTREAM_COLOURS,
)

log = logging.getLogger(__name__)

#: File name endings -> format.
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
}
ACCEPTED = "Parquet (.parquet), CSV (.csv), FITS (.fits) or VOTable (.vot, .xml)"


class TableError(ValueError):
    """A user's table cannot be read or lacks what is needed; the message says what to fix."""


#: Magnitudes each survey can give (mag), with a margin beyond the brightest and faintest values
#: its catalogue publishes: Gaia DR3 G, BP, RP from about 1.7 (the brightest stars it measured)
#: to beyond 25 for BP and RP of faint sources, whose flux in those bands is barely detected
#: (Riello et al. 2021, A&A 649, A3; the simulated catalogue reaches BP = 27); 2MASS J, H,
#: Ks from about -4 (the brightest stars of the sky, saturated) to about 18 (Skrutskie et al.
#: 2006, AJ 131, 1163); Pan-STARRS1 mean PSF and Kron magnitudes from saturated bright stars
#: to about 25 (Chambers et al. 2016, arXiv:1612.05560). A value beyond these is not a star's
#: magnitude but a unit mistake, a flux, or a missing-value marker of some other convention.
MAGNITUDE_LIMITS: dict[str, tuple[str, float, float]] = {
    **{c: ("Gaia", 0.0, 30.0) for c in ("g", "bp", "rp")},
    **{c: ("2MASS", -5.0, 20.0) for c in ("j_m", "h_m", "k_m")},
    **{c: ("Pan-STARRS1", -1.0, 30.0) for c in (*PS1_PSF, *PS1_KRON)},
}

#: Missing-value markers of other catalogues: in a magnitude or a colour no star has them, so
#: they are read as missing (and counted in the log) wherever -999.0 is.
MAGNITUDE_SENTINELS = (99.0, 99.9, 99.99, 99.999, 999.0, 9999.0, -99.0, -99.9, -99.99, -9999.0)

#: Columns in which :data:`MAGNITUDE_SENTINELS` (and -999.0) mean missing: every magnitude and
#: colour of the upstream schema and the derived colours.
PHOTOMETRIC_COLUMNS = (
    *MAGNITUDE_LIMITS,
    "bp_rp",
    "g_bp",
    "g_rp",
    *TMASS_COLOURS,
    "ps_g_r",
    "ps_r_i",
    "ps_i_z",
    "ps_z_y",
    *DERIVED_COLOURS,
)

#: A Gaia designation as the archive writes it; EDR3 and DR3 share their source_ids.
DESIGNATION = r"(?i)^\s*Gaia\s+(E?DR3)\s+(\d+)\s*$"

#: Separators a CSV written by a spreadsheet or another tool may use instead of ','.
OTHER_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'"}


def table_format(path: str | os.PathLike, key: str = "stars") -> str:
    """``parquet``, ``csv``, ``fits`` or ``votable``, from the file name's ending."""
    name = Path(path).name.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    raise TableError(
        f"{path} (config key {key}): the format is not known from its name; give a {ACCEPTED} file"
    )


def table_stem(path: str | os.PathLike) -> str:
    """The file name without its format ending: ``my_stars.fits.gz`` -> ``my_stars``."""
    name = Path(path).name
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return Path(path).stem


def check_exists(path: str | os.PathLike | None, key: str) -> Path:
    if not path:
        raise TableError(f"config key {key} is not set: give the path of a {ACCEPTED} file")
    if not Path(path).is_file():
        raise TableError(
            f"{path} (config key {key}) does not exist"
            + (" (it is a folder)" if Path(path).is_dir() else "")
            + f": set {key} to the path of a {ACCEPTED} file, relative to the working directory"
        )
    return Path(path)


def table_batches(
    path: str | os.PathLike, batch_rows: int, key: str = "stars"
) -> Iterator[pl.DataFrame]:
    """The table at ``path`` as raw frames of at most ``batch_rows`` rows, in file order."""
    path = check_exists(path, key)
    fmt = table_format(path, key)
    batch_rows = max(1, int(batch_rows))
    try:
        if fmt == "parquet":
            yield from _parquet_batches(path, batch_rows)
        elif fmt == "csv":
            yield from _csv_batches(path, batch_rows)
        elif fmt == "fits":
            yield from _fits_batches(path, batch_rows)
        else:
            yield from _frame_batches(_read_votable(path), batch_rows)
    except TableError:
        raise
    except Exception as err:
        raise TableError(
            f"{path} (config key {key}) could not be read as {fmt} (truncated or not a {fmt} "
            f"file?): {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from err


def _frame_batches(frame: pl.DataFrame, batch_rows: int) -> Iterator[pl.DataFrame]:
    if frame.height == 0:
        yield frame
    for lo in range(0, frame.height, batch_rows):
        yield frame.slice(lo, batch_rows)


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    # row ranges of a lazy scan, as predict_chunk reads: memory stays flat (pyarrow's
    # iter_batches kept growing, by about a batch's worth every few batches)
    import pyarrow.parquet as pq

    n_rows = pq.ParquetFile(path).metadata.num_rows
    lf = pl.scan_parquet(path)
    for lo in range(0, max(n_rows, 1), batch_rows):
        yield lf.slice(lo, batch_rows).collect()


def known_numeric() -> dict[str, pl.DataType]:
    """Dtypes a CSV reader must not guess: a column empty in its first rows would be text."""
    names = [c for c in COLUMNS if c != "source_id"] + list(ARCHIVE_NAMES)
    names += list(NEGATED_ARCHIVE_COLOURS) + list(DERIVED_COLOURS)
    return {n: pl.Float64 for n in names} | {"source_id": pl.Int64}


def check_separator(path, columns) -> None:
    """Refuse a CSV whose header reads as names glued together by another separator."""
    names = {_canonical_name(c) for c in columns}
    if "source_id" in names or "designation" in names:
        return
    for sep, said in OTHER_SEPARATORS.items():
        glued = [c for c in columns if sep in c]
        if glued:
            shown = glued[0] if len(glued[0]) <= 80 else glued[0][:77] + "..."
            read_as = (
                f"one column, {shown!r}"
                if len(columns) == 1
                else f"{len(columns)} columns, one of them {shown!r}"
            )
            raise TableError(
                f"{path}: the separator looks wrong: the header reads as {read_as}, so the file "
                f"looks {said}-separated. CSV "
                "tables are read comma-separated: write it with ',' between values (and '.' "
                "as the decimal mark), or as Parquet, FITS or VOTable"
            )


def _csv_batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    header = pl.read_csv(path, n_rows=0)
    check_separator(path, header.columns)
    overrides = {}
    known = known_numeric()
    for col in header.columns:
        canonical = _canonical_name(col)
        if canonical in known or col.lower() in known:
            overrides[col] = known.get(canonical, known.get(col.lower()))
    try:
        lf = pl.scan_csv(
            path, schema_overrides=overrides, infer_schema_length=10_000, null_values=[""]
        )
        yield from _streamed_csv(lf, lf.collect_schema(), batch_rows)
    except pl.exceptions.ComputeError as err:
        column = _column_in_error(str(err), header.columns)
        if column is not None:
            raise TableError(
                f"{path}: column {column!r} holds a value that is not a number; expected "
                f"{_expected(column)}"
            ) from err
        raise


def _streamed_csv(lf: pl.LazyFrame, schema, batch_rows: int) -> Iterator[pl.DataFrame]:
    # polars streams the CSV once, handing over batches in file order
    empty = True
    for batch in lf.collect_batches(chunk_size=batch_rows, maintain_order=True):
        if batch.height == 0:
            continue
        empty = False
        yield from _frame_batches(batch, batch_rows)
    if empty:
        yield pl.DataFrame(schema=schema)


def _column_in_error(text: str, columns: list[str]) -> str | None:
    for col in sorted(columns, key=len, reverse=True):
        if f"'{col}'" in text or f'"{col}"' in text or f"column {col}" in text:
            return col
    return None


def _fits_table_hdu(hdul):
    from astropy.io import fits

    for hdu in hdul:
        if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
            return hdu
    raise TableError("the FITS file has no table extension")


def _fits_batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        hdu = _fits_table_hdu(hdul)
        data = hdu.data
        n = 0 if data is None else len(data)
        names = [c.name for c in hdu.columns]
        nulls = {c.name: c.null for c in hdu.columns}
        if n == 0:
            yield pl.DataFrame({name: [] for name in names})
        for lo in range(0, n, batch_rows):
            part = data[lo : lo + batch_rows]
            cols = {}
            for name in names:
                arr = np.asarray(part[name])
                if arr.dtype.kind in "SU":
                    values = pl.Series(name, arr.astype(str)).str.strip_chars()
                else:
                    arr = arr.astype(arr.dtype.newbyteorder("="))
                    values = pl.Series(name, arr)
                    if nulls[name] is not None and arr.dtype.kind in "iu":
                        values = pl.select(
                            pl.when(values == int(nulls[name])).then(None).otherwise(values)
                        ).to_series()
                cols[name] = values
            yield pl.DataFrame(cols)


def _read_votable(path: Path) -> pl.DataFrame:
    from astropy.table import Table

    table = Table.read(path, format="votable")
    cols = {}
    for name in table.colnames:
        col = table[name]
        arr = np.asarray(col)
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
        if arr.dtype.kind in "SUO":
            values = pl.Series(name, [str(v) for v in arr])
        else:
            values = pl.Series(name, arr.astype(arr.dtype.newbyteorder("=")))
        if mask.any():
            values = pl.select(
                pl.when(pl.Series(mask)).then(None).otherwise(values).alias(name)
            ).to_series()
        cols[name] = values
    return pl.DataFrame(cols)


def _canonical_name(name: str) -> str:
    """Upstream name of a column, by upstream or archive spelling, regardless of case."""
    lower = name.lower()
    for upstream in COLUMNS:
        if upstream.lower() == lower:
            return upstream
    return ARCHIVE_NAMES.get(lower, lower if lower in NEGATED_ARCHIVE_COLOURS else name)


def _expected(column: str) -> str:
    if _canonical_name(column) == "source_id":
        return "an integer (Gaia DR3 source_id)"
    return "a number (magnitudes in mag, Teff in K; missing values empty, NaN or -999.0)"


def column_names(names) -> dict[str, str]:
    """Column of the table -> the upstream name it is read as (only the ones that change).

    A table with both spellings of a column (``g`` and ``phot_g_mean_mag``) keeps the upstream
    one and leaves the other as an extra column.
    """
    names = list(names)
    taken = set()
    rename = {}
    # upstream spellings first, so that an archive alias never shadows them
    for name in sorted(names, key=lambda n: _canonical_name(n) != n):
        canonical = _canonical_name(name)
        if canonical in taken:
            continue
        taken.add(canonical)
        if canonical != name:
            rename[name] = canonical
    return rename


def check_types(schema: pl.Schema, path, numeric, spelt=None) -> None:
    """``source_id`` integer, every column in ``numeric`` (present in ``schema``) a number.
    ``spelt``: upstream name -> the table's own spelling, for the message."""
    spelt = spelt or {}

    def name(c):
        return f"{spelt[c]!r} (read as {c})" if spelt.get(c, c) != c else repr(c)

    if "source_id" not in schema:
        raise TableError(
            f"{path} has no source_id column: every star needs its Gaia DR3 source_id, or a "
            f"designation ('Gaia DR3 <source_id>') "
            f"(columns found: {', '.join(schema.names()[:20])})"
        )
    if not schema["source_id"].is_integer():
        raise TableError(
            f"{path}: column 'source_id' is {schema['source_id']}; expected an integer "
            "(Gaia DR3 source_id)"
        )
    wrong = [
        c for c in numeric if c in schema and not (schema[c].is_numeric() or schema[c] == pl.Null)
    ]
    if wrong:
        raise TableError(
            f"{path}: column(s) "
            + ", ".join(f"{name(c)} is {schema[c]}" for c in wrong)
            + "; expected a number (magnitudes in mag, Teff in K; missing values empty, NaN or "
            f"{SENTINEL})"
        )


def source_id_from_designation(frame: pl.DataFrame, path="table", offset: int = 0):
    """``source_id`` taken from a ``designation`` column (``Gaia DR3 <id>``, any case) when the
    table has no ``source_id``; the frame unchanged otherwise. A designation of another release
    (Gaia DR2's ids are not DR3's) or of no release is refused, naming the row."""
    if any(_canonical_name(c) == "source_id" for c in frame.columns):
        return frame
    column = next((c for c in frame.columns if c.lower() == "designation"), None)
    if column is None or frame.schema[column] != pl.String:
        return frame
    ids = frame[column].str.extract(DESIGNATION, 2)
    bad = ids.is_null() & frame[column].is_not_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        value = frame[column][i]
        hint = (
            "; Gaia DR2 source_ids are not DR3's: take the DR3 one from the archive's "
            "gaiadr3.dr2_neighbourhood"
            if "dr2" in value.lower()
            else ""
        )
        raise TableError(
            f"{path}: column {column!r} is read as the source_id (the table has no source_id "
            f"column), but {int(bad.sum())} value(s) are not a Gaia DR3 designation "
            f"'Gaia DR3 <source_id>', e.g. row {offset + i + 1}: {value!r}{hint}"
        )
    return frame.select(ids.cast(pl.Int64).alias("source_id"), pl.all())


def _is_sentinel(column: str) -> pl.Expr:
    value = pl.col(column).cast(pl.Float64)
    return pl.any_horizontal(
        (value - s).abs() <= 1e-5 * abs(s) for s in (*MAGNITUDE_SENTINELS, SENTINEL)
    )


def check_magnitudes(frame: pl.DataFrame, path="table", spelt=None, offset: int = 0) -> None:
    """Refuse a magnitude beyond what its survey can measure (:data:`MAGNITUDE_LIMITS`),
    naming the column, how many rows and the first of them (counted from 1 in the file)."""
    spelt = spelt or {}
    for column, (survey, lo, hi) in MAGNITUDE_LIMITS.items():
        if column not in frame.columns:
            continue
        values = frame[column]
        outside = (values < lo) | (values > hi)
        if not outside.any():
            continue
        i = int(outside.arg_true()[0])
        name = spelt.get(column, column)
        shown = f"{name!r}" + (f" (read as {column})" if name != column else "")
        span = f"rows {offset + 1}-{offset + frame.height}"
        raise TableError(
            f"{path}: column {shown} has {int(outside.sum())} value(s) outside {lo:g} to {hi:g} "
            f"mag, what {survey} can measure (of {span}), e.g. row {offset + i + 1} "
            f"(source_id {frame['source_id'][i]}): {values[i]:g}. Such a value is not a star's "
            "magnitude (a flux, another unit, or a missing-value marker): correct it, or leave "
            "it empty or NaN where the star has none"
        )


def normalise(
    frame: pl.DataFrame, path="table", numeric=None, *, offset: int = 0, missing=None
) -> pl.DataFrame:
    """Upstream names and conventions for one batch of a user's table (see the module doc).

    ``numeric``: upstream names that must be numbers (default: every upstream column and derivable
    colour). Missing values of every float column become null; unknown columns are kept.
    ``offset``: rows of the table before this batch (for the row a message names). ``missing``:
    a dict that counts, per column as the table spells it, the magnitudes and colours read as
    missing because they held a missing-value marker (:data:`MAGNITUDE_SENTINELS`, -999.0).
    """
    frame = source_id_from_designation(frame, path, offset)
    rename = column_names(frame.columns)
    spelt = {v: k for k, v in rename.items()}
    frame = frame.rename(rename)
    for archive, upstream in NEGATED_ARCHIVE_COLOURS.items():
        if archive in frame.columns and upstream not in frame.columns:
            check_types(frame.schema, path, [archive], spelt)
            frame = frame.with_columns((-pl.col(archive).cast(pl.Float64)).alias(upstream)).drop(
                archive
            )
            spelt[upstream] = archive
    wanted = set(COLUMNS) - {"source_id"} | set(DERIVED_COLOURS) if numeric is None else numeric
    check_types(frame.schema, path, sorted(wanted), spelt)
    floats = [
        c
        for c, dtype in frame.schema.items()
        if c != "source_id" and (c in wanted or dtype.is_float())
    ]
    photometric = [c for c in PHOTOMETRIC_COLUMNS if c in floats]
    if photometric and missing is not None:
        marked = frame.select(
            _is_sentinel(c).fill_null(False).sum().alias(c) for c in photometric
        ).row(0, named=True)
        for c, n in marked.items():
            if n:
                key = spelt.get(c, c)
                missing[key] = missing.get(key, 0) + n
    frame = frame.with_columns(
        pl.when(
            pl.col(c).cast(pl.Float64).is_finite()
            & (pl.col(c) != SENTINEL)
            & (~_is_sentinel(c) if c in photometric else True)
        )
        .then(pl.col(c).cast(pl.Float64))
        .otherwise(None)
        .alias(c)
        for c in floats
    ).with_columns(pl.col("source_id").cast(pl.Int64))
    check_magnitudes(frame, path, spelt, offset)
    derived = [
        (pl.col(a) - pl.col(b)).alias(name)
        for name, (a, b) in UPSTREAM_COLOURS.items()
        if name not in frame.columns and a in frame.columns and b in frame.columns
    ]
    return frame.with_columns(derived) if derived else frame


def log_missing(path, missing: dict) -> None:
    """One log line: the magnitudes and colours read as missing because of a marker."""
    if missing:
        log.info(
            "%s: read as missing (a missing-value marker such as 99, 99.99, -99 or -999): %s",
            path,
            ", ".join(f"{n} value(s) of {c}" for c, n in missing.items()),
        )


def import_photometry(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_rows: int = 100_000,
    key: str = "local.path",
) -> dict:
    """A user's photometry table (any format and naming :func:`normalise` reads) written as the
    upstream schema: every upstream column, in order (a survey the table lacks is all -999.0,
    as upstream writes a missing value), then the table's extra columns. Batch by batch and
    atomically; returns rows and the upstream columns the table did not have."""
    from .io import parquet_batches

    numeric = [c for c in COLUMNS if c != "source_id"]
    rows, lacking, ids, missing = 0, None, [], {}
    with parquet_batches(out) as write:
        for raw in table_batches(path, batch_rows, key):
            frame = normalise(
                raw, path, set(numeric) | set(DERIVED_COLOURS), offset=rows, missing=missing
            )
            if lacking is None:
                lacking = [c for c in numeric if c not in frame.columns]
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in lacking)
            extra = [c for c in frame.columns if c not in COLUMNS]
            frame = frame.select(
                *COLUMNS,
                *extra,
            ).with_columns(
                pl.col(c).fill_null(SENTINEL)
                for c in [*numeric, *extra]
                if frame.schema[c].is_float()
            )
            if frame["source_id"].null_count():
                raise TableError(
                    f"{path}: {frame['source_id'].null_count()} row(s) have no source_id"
                )
            ids.append(frame["source_id"].to_numpy())
            rows += frame.height
            write(frame)
        if rows == 0:
            raise TableError(f"{path} has no rows; an empty photometry table cannot be used")
        log_missing(path, missing)
        every = np.sort(np.concatenate(ids))
        twice = every[1:][every[1:] == every[:-1]]
        if twice.size:
            raise TableError(
                f"{path}: source_id is not unique ({twice.size} duplicate row(s)); each star "
                f"must appear exactly once (first repeated: {int(twice[0])})"
            )
    return {"rows": rows, "lacking_columns": lacking or [], "read_as_missing": missing}
