"""The photometry gate: a good table passes and is summarised; each kind of bad table is refused."""

from __future__ import annotations

import math

import polars as pl
import pytest

from ebteff.io import sha256sum
from ebteff.schema import COLUMNS, COVERAGE_COLUMNS, SENTINEL
from ebteff.validate import PhotometryError, validate_photometry
from helpers.photometry_tables import make_table


def write(df: pl.DataFrame, tmp_path, name="t.parquet"):
    path = tmp_path / name
    df.write_parquet(path)
    return path


def test_valid_table_summary(tmp_path):
    df = make_table(500)
    path = write(df, tmp_path)
    summary = validate_photometry(path)
    assert summary["rows"] == 500
    assert summary["sha256"] == sha256sum(path)
    assert summary["extra_columns"] == []
    teff_present = int((df["teff_gaia"] != SENTINEL).sum())
    assert summary["coverage"]["teff_gaia"]["count"] == teff_present
    assert summary["coverage"]["gaia"]["fraction"] == 1.0
    assert set(summary["coverage"]) == set(COVERAGE_COLUMNS)
    labelled = df.filter(pl.col("teff_gaia") != SENTINEL)["teff_gaia"]
    assert math.isclose(summary["teff_gaia"]["mean"], labelled.mean())
    assert summary["teff_gaia"]["min"] == labelled.min()
    fracs = [summary["teff_gaia"][k] for k in summary["teff_gaia"] if k.startswith("frac_")]
    assert math.isclose(sum(fracs), 1.0)
    assert summary["panstarrs1_min_dec"] > -30


def test_extra_columns_are_kept_and_reported(tmp_path):
    df = make_table(50).with_columns(pl.lit(1.5).alias("my_flag"))
    assert validate_photometry(write(df, tmp_path))["extra_columns"] == ["my_flag"]


def test_missing_column(tmp_path):
    with pytest.raises(PhotometryError, match="lacks required column.*j_k"):
        validate_photometry(write(make_table().drop("j_k"), tmp_path))


@pytest.mark.parametrize(
    ("column", "dtype", "match"),
    [
        ("g", pl.String, "wrong dtype for 'g' is String"),
        ("k_m", pl.Int64, "wrong dtype for 'k_m' is Int64"),
        ("source_id", pl.Float64, "'source_id' has dtype Float64"),
    ],
)
def test_wrong_dtype(tmp_path, column, dtype, match):
    df = make_table().with_columns(pl.col(column).cast(dtype))
    with pytest.raises(PhotometryError, match=match):
        validate_photometry(write(df, tmp_path))


def test_duplicate_source_id(tmp_path):
    df = make_table(100)
    df = pl.concat([df, df.head(3)])
    with pytest.raises(PhotometryError, match="not unique.*3 duplicate"):
        validate_photometry(write(df, tmp_path))


def test_empty_table(tmp_path):
    with pytest.raises(PhotometryError, match="no rows"):
        validate_photometry(write(make_table().head(0), tmp_path))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None])
def test_nan_inf_null(tmp_path, value):
    df = make_table(100).with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(value).otherwise(pl.col("bp")).alias("bp")
    )
    with pytest.raises(PhotometryError, match=r"NaN, inf or null values in bp \(1\)"):
        validate_photometry(write(df, tmp_path))


def test_column_all_sentinel(tmp_path):
    df = make_table(100).with_columns(pl.lit(SENTINEL).alias("g"))
    with pytest.raises(PhotometryError, match="g hold only the missing-value sentinel"):
        validate_photometry(write(df, tmp_path))


def test_a_survey_or_label_without_data_is_accepted_and_listed(tmp_path):
    df = make_table(100).with_columns(pl.lit(SENTINEL).alias(c) for c in ("mh_gaia", "j_k"))
    assert validate_photometry(write(df, tmp_path))["empty_columns"] == ["mh_gaia", "j_k"]


def test_truncated_file(tmp_path):
    path = write(make_table(2000), tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PhotometryError, match="not a readable Parquet file"):
        validate_photometry(path)


def test_corrupt_data_pages(tmp_path):
    # the footer is intact, so the file opens; its pages do not decompress
    path = write(make_table(2000), tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 10 : 9 * len(data) // 10] = bytes(8 * len(data) // 10)
    path.write_bytes(bytes(data))
    with pytest.raises(PhotometryError, match=r"could not be read in full \(truncated or corrupt"):
        validate_photometry(path)


def test_not_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_text("source_id,g\n1,2\n")
    with pytest.raises(PhotometryError, match="not a readable Parquet file"):
        validate_photometry(path)


def test_missing_file(tmp_path):
    with pytest.raises(PhotometryError, match="does not exist"):
        validate_photometry(tmp_path / "nope.parquet")


def test_schema_is_upstream():
    # The upstream table's key is int64 and every measurement a float with the -999 sentinel.
    assert COLUMNS["source_id"] == pl.Int64
    assert all(dt == pl.Float64 for name, dt in COLUMNS.items() if name != "source_id")
    assert len(COLUMNS) == 35
