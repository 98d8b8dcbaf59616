"""The catalogue's files besides Parquet: FITS (whole or streamed), CSV and VOTable.

Each column carries its unit, UCD and description from :mod:`ebteff.columns`; every writer
writes through :func:`ebteff.io.atomic_output`, so a file is whole or absent.
"""

from __future__ import annotations

import os

import numpy as np
import polars as pl

from .columns import column_doc, column_meta
from .io import atomic_output


def _fits_fits(key: str, value, comment: str) -> bool:
    """Whether ``key = value / comment`` fits on one 80-character card (measured as astropy
    lays it out: a short string value is padded to 20 characters before its comment). The
    value's card is laid out without a comment, so that a value too long to leave room for one
    (a sha256, a long string continued on CONTINUE cards) is measured, not cut with a warning."""
    from astropy.io import fits

    image = fits.Card(key, value).image  # the value alone: never cut
    if len(image) > 80 or len(image.rstrip()) + len(" / ") + max(len(comment), 1) > 80:
        return False
    return len(fits.Card(key, value, "x").image.rstrip()) - 1 + len(comment) <= 80


def _fits_card(key: str, value, comment: str):
    """A header card whose comment is kept whole: a comment that does not fit beside its value
    goes, in full, into COMMENT cards after it (astropy would cut it at 80 characters)."""
    from astropy.io import fits

    if _fits_fits(key, value, comment):
        return [fits.Card(key, value, comment)]
    import textwrap

    lines = textwrap.wrap(f"{key}: {comment}", 72, break_on_hyphens=False)
    return [fits.Card(key, value)] + [fits.Card("COMMENT", line) for line in lines]


def _describe(hdu, names, header: dict[str, tuple]) -> None:
    """Column descriptions (TTYPEn comment, TCOMMn, TUCDn) and the provenance cards."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", VerifyWarning)  # a cut card is a bug here, not a warning
        for i, name in enumerate(names, start=1):
            unit, ucd, text = column_meta(name)
            if _fits_fits(f"TTYPE{i}", name, text):
                hdu.header.comments[f"TTYPE{i}"] = text
            hdu.header[f"TCOMM{i}"] = text
            hdu.header[f"TUCD{i}"] = ucd
        for key, (value, comment) in header.items():
            for card in _fits_card(key, value, comment):
                hdu.header.append(card, bottom=True)  # a COMMENT right after its card


#: Comment of the CHECKSUM/DATASUM cards: fixed, so the file is a function of the data.
CHECKSUM_WHEN = "HDU checksum (ones' complement, FITS standard)"


def _fits_layout(schema: pl.Schema, widths: dict[str, int]):
    """astropy Columns of a catalogue's binary table, and the big-endian numpy dtype of its rows:
    strings are ``<width>A``, 8/16/32-bit integers ``J`` (flag_bits), other integers ``K``,
    everything else ``D`` with its unit."""
    from astropy.io import fits

    cols, dtype = [], []
    for name, d in schema.items():
        unit, _ = column_doc(name)
        if d == pl.String:
            cols.append(fits.Column(name=name, format=f"{widths[name]}A"))
            dtype.append((name, f"S{widths[name]}"))
        elif d in (pl.Int32, pl.Int16, pl.Int8):
            cols.append(fits.Column(name=name, format="J"))
            dtype.append((name, ">i4"))
        elif d.is_integer():
            cols.append(fits.Column(name=name, format="K"))
            dtype.append((name, ">i8"))
        else:
            cols.append(fits.Column(name=name, format="D", unit=unit or None))
            dtype.append((name, ">f8"))
    return cols, np.dtype(dtype)


def _fits_rows(frame: pl.DataFrame, dtype: np.dtype) -> np.ndarray:
    """A batch of catalogue rows as FITS stores them: nulls NaN (floats) or empty (strings),
    trailing blanks of a string null-padded as astropy writes them."""
    rec = np.empty(frame.height, dtype=dtype)
    for name in dtype.names:
        s = frame[name]
        if s.dtype == pl.String:
            text = s.fill_null("").str.strip_chars_end(" ").to_list()
            rec[name] = np.array(text, dtype=dtype[name])
        elif s.dtype.is_integer():
            rec[name] = s.to_numpy()
        else:
            rec[name] = s.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return rec


def _write_fits_table(
    path: str | os.PathLike,
    schema: pl.Schema,
    widths: dict[str, int],
    n_rows: int,
    batches,
    header: dict[str, tuple],
    checksum: bool,
) -> None:
    """A primary HDU and the catalogue's binary table, its rows written batch by batch
    (``batches``: frames of ``schema``, ``n_rows`` in all), so memory holds one batch.

    With ``checksum``, both HDUs carry CHECKSUM/DATASUM (comment :data:`CHECKSUM_WHEN`) as
    astropy's ``add_checksum`` computes them: DATASUM is summed over the rows as they are
    written, and the table's header, the same size whatever the sums, is written again in
    place once they are known.
    """
    from astropy.io import fits

    cols, dtype = _fits_layout(schema, widths)
    hdu = fits.BinTableHDU.from_columns(cols, nrows=0, name="EB_TEFF")
    _describe(hdu, schema.names(), header)
    hdu.header["NAXIS2"] = n_rows
    primary = fits.PrimaryHDU()
    if checksum:
        primary.add_checksum(when=CHECKSUM_WHEN)
        hdu.header["DATASUM"] = ("0", CHECKSUM_WHEN)
        hdu.header.set("CHECKSUM", "0" * 16, CHECKSUM_WHEN, before="DATASUM")
    datasum, carry, written = 0, b"", 0
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(primary.header.tostring().encode("ascii"))
        table_start = fh.tell()
        placeholder = hdu.header.tostring().encode("ascii")
        fh.write(placeholder)
        for frame in batches:
            data = _fits_rows(frame, dtype).tobytes()
            fh.write(data)
            written += frame.height
            if checksum:  # 32-bit words: a batch's odd bytes go with the next one
                buf = np.frombuffer(carry + data if carry else data, dtype=np.ubyte)
                cut = buf.size - buf.size % 4
                datasum = hdu._compute_checksum(buf[:cut], datasum)
                carry = buf[cut:].tobytes()
        if written != n_rows:
            raise ValueError(f"FITS table of {n_rows} rows got {written}")
        fh.write(b"\0" * (-n_rows * dtype.itemsize % 2880))
        if checksum:
            if carry:  # the last word, zero-padded as the data block is
                datasum = hdu._compute_checksum(np.frombuffer(carry, dtype=np.ubyte), datasum)
            hdu.header["DATASUM"] = (str(datasum), CHECKSUM_WHEN)
            hdu.header["CHECKSUM"] = hdu._calculate_checksum(datasum)
            final = hdu.header.tostring().encode("ascii")
            if len(final) != len(placeholder):
                raise RuntimeError("FITS header changed size with its checksum")
            fh.seek(table_start)
            fh.write(final)


def _string_widths(frame: pl.DataFrame) -> dict[str, int]:
    return {
        c: max(1, int(frame[c].str.len_bytes().max() or 1))
        for c, d in frame.schema.items()
        if d == pl.String
    }


def write_fits(
    cat: pl.DataFrame,
    path: str | os.PathLike,
    header: dict[str, tuple],
    batch_rows: int = 100_000,
) -> None:
    """FITS binary table with units, whole column descriptions, provenance header cards and
    CHECKSUM/DATASUM (reproducible: their comment is fixed, not the time of writing).

    Each column's description is its TCOMMn card (a long string continued over CONTINUE cards
    as the FITS standard allows), its UCD its TUCDn card; TTYPEn keeps the description as its
    comment when it fits on the card. The bytes are those of astropy's
    ``BinTableHDU.from_columns(...).add_checksum()`` and ``writeto``, but the rows are packed
    ``batch_rows`` at a time: memory holds one batch beside ``cat``, not a copy of the table.
    """
    batch_rows = max(1, batch_rows)
    batches = (cat.slice(lo, batch_rows) for lo in range(0, cat.height, batch_rows))
    _write_fits_table(
        path, cat.schema, _string_widths(cat), cat.height, batches, header, checksum=True
    )


def write_fits_batches(
    parquet_path: str | os.PathLike,
    path: str | os.PathLike,
    header: dict[str, tuple],
    batch_rows: int = 100_000,
) -> None:
    """The FITS twin of a Parquet catalogue (as :func:`write_fits` writes it, with the same
    column descriptions and CHECKSUM/DATASUM), streamed: the table is read and its rows written
    batch by batch, so memory holds one batch. Byte-identical to :func:`write_fits` of the
    whole table."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet_path)
    n_rows = pf.metadata.num_rows
    schema = pl.from_arrow(pf.schema_arrow.empty_table()).schema
    strings = [c for c, d in schema.items() if d == pl.String]
    widths = dict.fromkeys(strings, 1)
    lf = pl.scan_parquet(parquet_path)  # row ranges of a lazy scan: flat memory
    batch_rows = max(1, batch_rows)
    starts = range(0, n_rows, batch_rows)
    if strings:
        for lo in starts:
            part = _string_widths(lf.select(strings).slice(lo, batch_rows).collect())
            widths = {c: max(widths[c], part[c]) for c in strings}
    batches = (lf.slice(lo, batch_rows).collect() for lo in starts)
    _write_fits_table(path, schema, widths, n_rows, batches, header, checksum=True)


def write_csv(cat: pl.DataFrame, path: str | os.PathLike) -> None:
    """CSV twin of the catalogue: a header row of column names, empty fields for nulls."""

    with atomic_output(path) as tmp:
        cat.write_csv(tmp, null_value="")


def _votable_dtype(s: pl.Series) -> str:
    """Binary form of a catalogue column in the VOTable: fixed-width ASCII (``char``) for
    strings, UTF-16 (``unicodeChar``, width in code units) for strings that are not all ASCII
    (nulls written empty), big-endian int/long for integer columns without nulls, double
    otherwise (nulls flagged in the row's null mask and written NaN)."""
    if s.dtype == pl.String:
        if bool(s.str.contains(r"[^\x00-\x7f]").any()):  # VOTable char is ASCII: UTF-16 then
            units = s.fill_null("").map_elements(
                lambda v: len(v.encode("utf_16_be")) // 2, return_dtype=pl.Int64
            )
            return f"U{max(1, int(units.max() or 1))}"
        return f"S{max(1, int(s.str.len_bytes().max() or 1))}"
    if s.dtype.is_integer() and s.null_count() == 0:
        return ">i4" if s.dtype in (pl.Int32, pl.Int16, pl.Int8, pl.UInt8, pl.UInt16) else ">i8"
    return ">f8"


def write_votable(
    cat: pl.DataFrame, path: str | os.PathLike, description: str, batch_rows: int = 100_000
) -> None:
    """VOTable (BINARY2 serialisation) with units, UCDs and a description per column.

    The XML around the data is astropy's (a one-row table with the same fields, units, UCDs
    and descriptions); the rows are packed by numpy and base64-encoded batch by batch, straight
    into the file, so memory holds one batch. BINARY2 (VOTable 1.3, section 5.6): each row is a
    null mask of one bit per field, most significant bit first, then each field's value,
    big-endian. astropy's own writer packs row by row in Python and keeps the whole stream in
    memory twice: minutes and several GB for the full catalogue.
    """
    import base64
    import io
    import re

    from astropy.io.votable.tree import VOTableFile
    from astropy.table import MaskedColumn, Table

    names = cat.columns
    dtypes = [_votable_dtype(cat[name]) for name in names]
    # the XML: astropy's, around the stream of a one-row table of the same columns
    first = Table()
    for name, dt in zip(names, dtypes, strict=True):
        unit, _ = column_doc(name)
        if dt == ">f8":
            first[name] = MaskedColumn(np.zeros(1), mask=[True], unit=unit or None)
        else:  # U<n>: astropy declares unicodeChar of n characters
            first[name] = np.zeros(1, dtype=dt.lstrip(">"))
    vot = VOTableFile.from_table(first, table_id="eb_teff_catalog")
    vot.set_all_tables_format("binary2")  # compact; TOPCAT and astropy read it
    resource_table = vot.get_first_table()
    resource_table.description = description
    for field in resource_table.fields:
        unit, ucd, text = column_meta(field.name)
        field.ucd = ucd
        field.description = text
    xml = io.BytesIO()
    vot.to_xml(xml)
    text = xml.getvalue()
    match = re.search(rb'<STREAM encoding="base64">\s*[A-Za-z0-9+/=]*\s*(?=</STREAM>)', text)
    head = text[: match.start()] + b'<STREAM encoding="base64">\n'
    tail = text[match.end() :]
    packed = [f"S{2 * int(dt[1:])}" if dt.startswith("U") else dt for dt in dtypes]
    row = np.dtype(
        [("null", "u1", ((len(names) + 7) // 8,))] + [(f"c{i}", dt) for i, dt in enumerate(packed)]
    )
    batch_rows = max(1, batch_rows)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        carry = b""  # base64 encodes 3 bytes at a time: the remainder goes with the next batch
        for lo in range(0, cat.height, batch_rows):
            frame = cat.slice(lo, batch_rows)
            rec = np.zeros(frame.height, dtype=row)
            null = np.zeros((frame.height, len(names)), dtype=bool)
            for i, (name, dt) in enumerate(zip(names, dtypes, strict=True)):
                col = frame[name]
                if dt.startswith("S"):
                    rec[f"c{i}"] = col.fill_null("").cast(pl.Binary).to_numpy().astype(dt)
                elif dt.startswith("U"):
                    rec[f"c{i}"] = [v.encode("utf_16_be") for v in col.fill_null("")]
                elif dt == ">f8":
                    null[:, i] = col.is_null().to_numpy()
                    rec[f"c{i}"] = col.cast(pl.Float64).fill_null(np.nan).to_numpy()
                else:
                    rec[f"c{i}"] = col.to_numpy()
            rec["null"] = np.packbits(null, axis=1)  # bit order: big, as BINARY2 has it
            data = carry + rec.tobytes()
            cut = len(data) - len(data) % 3
            if cut:
                fh.write(base64.b64encode(data[:cut]) + b"\n")
            carry = data[cut:]
        if carry:
            fh.write(base64.b64encode(carry) + b"\n")
        fh.write(tail)
