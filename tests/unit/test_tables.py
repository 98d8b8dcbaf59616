"""Users' own tables (ebteff.tables): formats, archive names, missing values, and refusals."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from astropy.io import fits
from astropy.table import Table

from ebteff.schema import COLUMNS, SENTINEL
from ebteff.tables import (
    TableError,
    check_exists,
    import_photometry,
    normalise,
    table_batches,
    table_format,
    table_stem,
)
from ebteff.writers import write_fits, write_fits_batches
from helpers.photometry_tables import archive_table, make_table, write_as


def test_archive_names_any_case_and_every_missing_value_become_upstream():
    frame = pl.DataFrame(
        {
            "SOURCE_ID": [1, 2, 3],
            "Phot_G_Mean_Mag": [15.0, float("nan"), SENTINEL],
            "phot_bp_mean_mag": [15.5, 16.0, None],
            "bp_g": [0.5, 0.25, float("inf")],
            "ks_m": [12.0, 12.5, 13.0],
            "my_extra": ["a", "b", "c"],
        }
    )
    out = normalise(frame)
    assert out["source_id"].to_list() == [1, 2, 3]
    assert out["g"].to_list() == [15.0, None, None]
    assert out["bp"].to_list() == [15.5, 16.0, None]
    assert out["g_bp"].to_list() == [-0.5, -0.25, None]  # BP - G, sign reversed
    assert "bp_g" not in out.columns  # derived from the bands later, as the catalogue does
    assert out["k_m"].to_list() == [12.0, 12.5, 13.0]
    assert out["my_extra"].to_list() == ["a", "b", "c"]


def test_an_upstream_spelling_wins_over_an_archive_one():
    out = normalise(pl.DataFrame({"source_id": [1], "g": [14.0], "phot_g_mean_mag": [15.0]}))
    assert out["g"].to_list() == [14.0] and out["phot_g_mean_mag"].to_list() == [15.0]


def test_upstream_colours_are_computed_from_bands_a_table_has():
    out = normalise(pl.DataFrame({"source_id": [1], "j_m": [12.0], "ks_m": [11.5]}))
    assert out["j_k"].to_list() == [0.5]


@pytest.mark.parametrize("ext", ["parquet", "csv", "fits", "vot"])
def test_every_format_reads_the_same_table(tmp_path, ext):
    table = archive_table(make_table(250, seed=2))
    write_as(table, tmp_path / f"t.{ext}")
    got = pl.concat([normalise(b) for b in table_batches(tmp_path / f"t.{ext}", 100)])
    expected = normalise(table)
    assert got.select(expected.columns).equals(expected)


def test_format_by_ending_and_stem():
    assert table_format("a/B.FITS.gz") == "fits" and table_format("x.xml") == "votable"
    assert table_stem("dir/my_stars.fits.gz") == "my_stars"
    with pytest.raises(TableError, match=r"t\.txt \(config key local\.path\): the format is not"):
        table_format("t.txt", "local.path")


def test_a_missing_file_names_the_key(tmp_path):
    with pytest.raises(TableError, match=r"gone\.csv \(config key stars\) does not exist"):
        check_exists(tmp_path / "gone.csv", "stars")


def test_a_text_column_is_named_with_the_type_it_should_have():
    frame = pl.DataFrame({"source_id": [1], "phot_rp_mean_mag": ["faint"]})
    with pytest.raises(TableError, match=r"'phot_rp_mean_mag' \(read as rp\) is String; expected"):
        normalise(frame)
    with pytest.raises(TableError, match="column 'source_id' is String; expected an integer"):
        normalise(pl.DataFrame({"source_id": ["x"]}))


def test_import_writes_the_upstream_schema_with_missing_surveys_as_sentinel(tmp_path):
    write_as(archive_table(make_table(120, seed=4)), tmp_path / "mine.csv")
    done = import_photometry(tmp_path / "mine.csv", tmp_path / "out.parquet", batch_rows=50)
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.columns[: len(COLUMNS)] == list(COLUMNS) and out.height == 120
    assert "j_m" in done["lacking_columns"] and (out["j_m"] == SENTINEL).all()
    assert out.select(pl.exclude("source_id").is_nan().any()).sum_horizontal().item() == 0


def test_import_refuses_duplicates_across_batches(tmp_path):
    table = make_table(60)
    pl.concat([table, table.head(1)]).write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(TableError, match=r"source_id is not unique \(1 duplicate row\(s\)\)"):
        import_photometry(tmp_path / "dup.parquet", tmp_path / "out.parquet", batch_rows=25)
    assert not (tmp_path / "out.parquet").exists()


def test_the_streamed_fits_holds_what_write_fits_writes(tmp_path):
    cat = pl.DataFrame(
        {
            "source_id": [1, 2, 3],
            "teff_best": [5000.0, None, 7000.5],
            "teff_best_source": ["gaia", "", "m1"],
            "flag": ["A", "X", "C"],
        }
    )
    cat.write_parquet(tmp_path / "c.parquet")
    header = {"ORIGIN": ("test", "origin")}
    write_fits(cat, tmp_path / "a.fits", header)
    write_fits_batches(tmp_path / "c.parquet", tmp_path / "b.fits", header, batch_rows=2)
    # the same bytes, CHECKSUM and DATASUM included (fits.open verifies them: a bad sum warns)
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(tmp_path / "b.fits", checksum=True) as hdul:
            assert hdul[1].header["DATASUM"] != "0"
    a, b = Table.read(tmp_path / "a.fits"), Table.read(tmp_path / "b.fits")
    assert a.colnames == b.colnames and a.meta["ORIGIN"] == b.meta["ORIGIN"]
    for c in a.colnames:
        assert np.array_equal(np.asarray(a[c]), np.asarray(b[c]), equal_nan=a[c].dtype.kind == "f")
    assert str(b["teff_best"].unit) == "K"


def _astropy_fits(cat: pl.DataFrame, path, header) -> None:
    """The catalogue's FITS file as astropy writes a whole in-memory table (the reference the
    streamed writer must reproduce byte for byte)."""
    from astropy.io import fits

    from ebteff.columns import column_doc
    from ebteff.writers import CHECKSUM_WHEN, _describe

    cols = []
    for name in cat.columns:
        s = cat[name]
        if s.dtype == pl.String:
            width = max(1, int(s.str.len_bytes().max() or 1))
            data = np.array(s.fill_null("").to_list(), dtype=f"S{width}")
            cols.append(fits.Column(name=name, format=f"{width}A", array=data))
        elif s.dtype.is_integer():
            fmt = "J" if s.dtype == pl.Int32 else "K"
            cols.append(fits.Column(name=name, format=fmt, array=s.to_numpy()))
        else:
            data = s.cast(pl.Float64).fill_null(np.nan).to_numpy()
            unit = column_doc(name)[0] or None
            cols.append(fits.Column(name=name, format="D", unit=unit, array=data))
    hdu = fits.BinTableHDU.from_columns(cols, name="EB_TEFF")
    _describe(hdu, cat.columns, header)
    primary = fits.PrimaryHDU()
    for h in (primary, hdu):
        h.add_checksum(when=CHECKSUM_WHEN)
    fits.HDUList([primary, hdu]).writeto(path)


@pytest.mark.parametrize("batch_rows", [1, 3, 10, 1000])
def test_write_fits_in_batches_writes_astropys_bytes_checksums_included(tmp_path, batch_rows):
    from astropy.io import fits

    rng = np.random.default_rng(3)
    n = 101  # rows of 28 bytes: batches of 1 or 3 rows end mid-way through a 32-bit word
    cat = pl.DataFrame(
        {
            "source_id": np.arange(n, dtype=np.int64),
            "teff_best": np.where(np.arange(n) % 7 == 0, np.nan, rng.normal(5000, 300, n)),
            "teff_best_source": rng.choice(["gaia", "", "model_x"], n),
            "flag": rng.choice(["A", "X"], n),
            "flag_bits": pl.Series(rng.integers(0, 1000, n), dtype=pl.Int32),
        }
    ).with_columns(pl.col("teff_best").fill_nan(None))
    header = {"ORIGIN": ("test", "origin"), "PCTSRC": ("calibration split", "origin " * 12)}
    _astropy_fits(cat, tmp_path / "astropy.fits", header)
    write_fits(cat, tmp_path / "ours.fits", header, batch_rows=batch_rows)
    assert (tmp_path / "ours.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()
    with fits.open(tmp_path / "ours.fits", checksum=True) as hdul:  # a bad sum would warn
        assert hdul[1].header["DATASUM"] != "0"


def test_no_fits_card_is_cut_whatever_the_length_of_its_column_name(tmp_path):
    import warnings

    from astropy.io import fits

    from ebteff.columns import column_meta

    # short names leave the most room for a comment, yet astropy pads a short string value to
    # 20 characters before it: "logg_best_p50" and its 50-character description do not fit
    names = ("logg_best_p50", "mh_best_p50", "logg_best_p16")
    cat = pl.DataFrame({c: [1.0, 2.0] for c in names})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy's "Card is too long" fails here
        # provenance cards whose values leave little or no room for a comment (a path, a
        # sha256): a comment that does not fit goes whole into COMMENT cards after its card
        values = {f"PROV{n}": "x" * n for n in range(60, 72)}
        provenance = {"ORIGIN": ("test", "origin")}
        provenance |= {k: (v, f"{k} comment") for k, v in values.items()}
        write_fits(cat, tmp_path / "c.fits", provenance)
    header = fits.getheader(tmp_path / "c.fits", 1)
    for key, value in values.items():
        assert header[key] == value
        assert header.comments[key] == f"{key} comment" or f"{key}: {key} comment" in "".join(
            header["COMMENT"]
        ), key
    for i, name in enumerate(cat.columns, start=1):
        text = column_meta(name)[2]
        assert header.comments[f"TTYPE{i}"] in ("", text), name  # whole or not at all
        assert header[f"TCOMM{i}"] == text
    # 33 characters up to the comment: 50 more do not fit in 80, 41 do
    assert header.comments["TTYPE1"] == "" and header.comments["TTYPE3"] != ""


# -- inputs that cannot be stars ----------------------------------------------------------------


def test_missing_value_markers_of_other_catalogues_are_read_as_missing_and_counted():
    frame = pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4],
            # float32, as a FITS table holds them: 99.99 is then 99.98999786...
            "phot_g_mean_mag": pl.Series([99.0, 99.99, 12.0, -999.0], dtype=pl.Float32),
            "phot_bp_mean_mag": [-99.0, 13.0, 12.5, 9999.0],
            "bp_rp": [99.0, 1.0, 1.0, 1.0],
            "ks_m": [-3.0, 5.0, 6.0, 7.0],  # the brightest stars of the sky: measurable
            "ra": [99.0, 1.0, 2.0, 3.0],  # a position may be 99 deg: not a marker there
        }
    )
    missing = {}
    out = normalise(frame, missing=missing)
    assert out["g"].to_list() == [None, None, 12.0, None]
    assert out["bp"].to_list() == [None, 13.0, 12.5, None]
    assert out["bp_rp"].to_list() == [None, 1.0, 1.0, 1.0]
    assert out["k_m"].to_list() == [-3.0, 5.0, 6.0, 7.0]
    assert out["ra"].to_list() == [99.0, 1.0, 2.0, 3.0]
    assert missing == {"phot_g_mean_mag": 3, "phot_bp_mean_mag": 2, "bp_rp": 1}


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "phot_g_mean_mag",
            [12.0, -5.0, 50.0, 13.0],
            r"t\.csv: column 'phot_g_mean_mag' \(read as g\) has 2 value\(s\) outside 0 to 30 mag, "
            r"what Gaia can measure \(of rows 11-14\), e.g. row 12 \(source_id 2\): -5\. ",
        ),
        (
            "j_m",
            [12.0, 11.0, 10.0, 25.0],
            r"column 'j_m' has 1 value\(s\) outside -5 to 20 mag, what 2MASS can measure "
            r"\(of rows 11-14\), e.g. row 14 \(source_id 4\): 25\.",
        ),
    ],
)
def test_a_magnitude_no_survey_can_measure_is_refused_naming_column_count_and_row(
    column, values, message
):
    frame = pl.DataFrame({"source_id": [1, 2, 3, 4], column: values})
    with pytest.raises(TableError, match=message):
        normalise(frame, "t.csv", offset=10)


def test_a_designation_gives_the_source_id():
    frame = pl.DataFrame(
        {"DESIGNATION": ["Gaia DR3 4295806720", " gaia edr3 38655544960 "], "g": [14.0, 15.0]}
    )
    out = normalise(frame)
    assert out.columns[0] == "source_id"
    assert out["source_id"].to_list() == [4295806720, 38655544960]
    # a table with both keeps its source_id
    both = normalise(frame.with_columns(source_id=pl.Series([1, 2])))
    assert both["source_id"].to_list() == [1, 2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Gaia DR2 4295806720", r"row 2: 'Gaia DR2 4295806720'; Gaia DR2 source_ids are not DR3"),
        ("HD 12345", r"1 value\(s\) are not a Gaia DR3 designation 'Gaia DR3 <source_id>', e.g. "),
    ],
)
def test_a_designation_of_no_dr3_source_is_refused_naming_the_row(value, message):
    frame = pl.DataFrame({"designation": ["Gaia DR3 1", value], "g": [14.0, 15.0]})
    with pytest.raises(TableError, match=message):
        normalise(frame)


@pytest.mark.parametrize(("sep", "said"), [(";", "';'"), ("\t", "tab")])
def test_a_csv_with_another_separator_says_the_separator_looks_wrong(tmp_path, sep, said):
    path = tmp_path / "semi.csv"
    path.write_text(sep.join(["source_id", "phot_g_mean_mag", "bp_rp"]) + "\n1" + sep + "15,3\n")
    with pytest.raises(
        TableError, match=rf"semi\.csv: the separator looks wrong: .* looks {said}-"
    ):
        next(table_batches(path, 100))


def test_faint_bp_and_the_brightest_stars_are_measurable():
    """BP of a faint source beyond 25 mag (the simulated catalogue reaches 27) and 2MASS Ks of
    the brightest stars of the sky (-3 to -4) are magnitudes a survey gives: kept."""
    frame = pl.DataFrame(
        {"source_id": [1, 2], "phot_bp_mean_mag": [27.0, 29.9], "ks_m": [-4.4, 3.0]}
    )
    out = normalise(frame)
    assert out["bp"].to_list() == [27.0, 29.9] and out["k_m"].to_list() == [-4.4, 3.0]
