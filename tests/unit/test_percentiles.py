"""Calibrated percentiles, flag-A uncertainties, flag bits and the catalogue's file formats."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from ebteff.calibrate import (
    PERCENTILE_NAMES,
    PERCENTILES,
    apply_calibration,
    apply_percentiles,
    calibrated_teff,
    conformal_quantile,
    feature_range,
    fit_calibration,
    ks_uniform,
    outside_range,
    percentile_report,
    pit,
)
from ebteff.catalog import (
    assemble,
    check_uncertainties,
    fit_label_calibration,
    label_percentiles,
    model_columns,
)
from ebteff.columns import column_doc
from ebteff.flags import FLAG_BITS, MODEL_BIT0, flag_bits
from ebteff.writers import write_csv, write_fits, write_votable

NAN = np.nan


@pytest.mark.parametrize(
    "n,level,expected",
    [
        # n = 9 scores 1..9: (n + 1) * level = 0.5, 1.6, 5, 8.4, 9.5
        (9, 0.05, 1),  # floor(0.5) = 0, clipped to the smallest score
        (9, 0.16, 1),  # floor(1.6) = 1
        (9, 0.50, 5),  # ceil(5) = 5
        (9, 0.84, 9),  # ceil(8.4) = 9
        (9, 0.95, 9),  # ceil(9.5) = 10, clipped to the largest
        # n = 19: (n + 1) * level = 1, 3.2, 10, 16.8, 19
        (19, 0.05, 1),
        (19, 0.16, 3),
        (19, 0.50, 10),
        (19, 0.84, 17),
        (19, 0.95, 19),
        # n = 99: 5, 16, 50, 84, 95 exactly (no rounding drift from 100 * 0.16 etc.)
        (99, 0.16, 16),
        (99, 0.84, 84),
    ],
)
def test_conformal_quantile_hand_computed(n, level, expected):
    scores = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))  # order is irrelevant
    assert conformal_quantile(scores, level) == expected


def test_conformal_quantile_rejects_empty_and_bad_levels():
    with pytest.raises(ValueError, match="at least one"):
        conformal_quantile([], 0.5)
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="level"):
            conformal_quantile([1.0, 2.0], level)


def test_ks_uniform_hand_computed():
    assert ks_uniform([0.5]) == pytest.approx(0.5)
    assert ks_uniform([0.25, 0.75]) == pytest.approx(0.25)
    assert ks_uniform([0.1, 0.1, 0.1, 0.1]) == pytest.approx(0.9)


def _skewed(n, seed):
    """Errors whose upper tail is longer where predictions are hot (regression to the mean)."""
    rng = np.random.default_rng(seed)
    pred = np.exp(rng.uniform(np.log(3000), np.log(30000), n))
    width = 0.05 * pred
    spread = width * 0.3 * rng.lognormal(0, 0.3, n)
    skew = np.where(pred > 8000, rng.exponential(1.0, n) - 1.0, rng.normal(0, 1, n))
    label = pred + width * skew
    return pred, spread, label


def test_percentiles_are_calibrated_per_bin_and_asymmetric_where_errors_are():
    pred, spread, label = _skewed(120_000, 5)
    half = pred.size // 2
    cal = fit_calibration(pred[:half], spread[:half], label[:half])
    p, s, y = pred[half:], spread[half:], label[half:]
    q = apply_percentiles(cal, p, s)
    assert q.shape == (p.size, 5) and (np.diff(q, axis=1) >= 0).all()
    sigma = apply_calibration(cal, p, s)
    rep = percentile_report(q, y, pit(cal, p, sigma, y), bin_by=p)
    for name, st in [("all", rep["overall"]), *rep["per_bin"].items()]:
        for pname, target, tol in zip(
            PERCENTILE_NAMES, PERCENTILES, (1.5, 2, 3, 2, 1.5), strict=True
        ):
            assert abs(st[f"below_{pname}"] - target) <= tol / 100, (name, pname, st)
        assert st["pit_ks"] < 0.03, name
    hot = p > 10000
    up, down = q[hot, 4] - q[hot, 2], q[hot, 2] - q[hot, 0]
    assert np.median(up) > 1.5 * np.median(down)  # the long upper tail is kept
    # the 1-sigma error kept beside them is half the 16-84 range
    teff, err = calibrated_teff(cal, p, s)
    assert np.allclose(err, (q[:, 3] - q[:, 1]) / 2) and np.array_equal(teff, p)


def test_pit_is_uniform_for_calibrated_and_not_for_overconfident():
    pred, spread, label = _skewed(40_000, 6)
    cal = fit_calibration(pred[:20_000], spread[:20_000], label[:20_000])
    p, s, y = pred[20_000:], spread[20_000:], label[20_000:]
    sigma = apply_calibration(cal, p, s)
    assert ks_uniform(pit(cal, p, sigma, y)) < 0.03
    assert ks_uniform(pit(cal, p, sigma / 3, y)) > 0.1  # 3x too narrow


def test_feature_range_and_outside_range():
    train = pl.DataFrame({"a": np.arange(1001.0), "b": np.linspace(0, 1, 1001)})
    ranges = feature_range(train, ["a", "b"])
    assert ranges["a"] == pytest.approx([5.0, 995.0])
    cal = {"feature_range": ranges}
    out = outside_range(cal, {"a": np.array([4.0, 500, 996, NAN]), "b": np.array([0.5] * 4)})
    assert out.tolist() == [True, False, True, False]  # a missing feature is not "outside"
    assert outside_range({}, {"a": np.ones(2)}) is None


def test_flag_bits_hand_computed():
    models = ["m0", "m1"]
    bits = flag_bits(
        has_label=np.array([True, False, False, False]),
        best_source=np.array(["gaia", "m0", "m1", ""], dtype=object),
        models=models,
        predicted={"m0": np.array([True, True, False, False]), "m1": np.array([True] * 3 + [0])},
        outside={"m0": np.array([True, False, True, False]), "m1": np.array([0, 0, 1, 0])},
        teff_best=np.array([12000.0, 5000, 15000, NAN]),
        split=np.array(["train", None, None, None], dtype=object),
    )
    B = FLAG_BITS
    assert bits.tolist() == [
        B["label"] | B["hot"] | B["split_train"],  # outside m0 does not count: gaia won
        B["ml"] | (1 << MODEL_BIT0),  # both models had its features
        B["ml"]
        | B["features_missing"]
        | B["outside_training_range"]
        | B["hot"]
        | (1 << (MODEL_BIT0 + 1)),
        B["features_missing"],
    ]


def test_label_percentiles_from_reference_or_gspphot():
    rng = np.random.default_rng(2)
    label = rng.uniform(4000, 9000, 2000)
    reference = label * rng.normal(1.05, 0.05, 2000)
    cal = fit_label_calibration(label, reference)
    assert all(b["n"] >= 50 for b in cal["bins"])
    q, src = label_percentiles(np.array([5000.0, 6000.0, NAN]), cal)
    assert src.tolist() == ["reference", "reference", ""]
    assert np.isnan(q[2]).all()
    assert q[0, 2] == pytest.approx(5000 * 1.05, rel=0.01)  # median offset of the scatter
    assert q[0, 4] - q[0, 0] == pytest.approx(5000 * 2 * 1.645 * 0.05, rel=0.15)
    # GSP-Phot's own 16th/84th percentiles where given and at least as wide as the reference's
    # (about 2 x 0.05 x 5250 = 525 K here): 4000-6500 is, 4900-5200 (an MCMC interval of a
    # bright star) is not
    width = q[0, 3] - q[0, 1]
    assert 450 < width < 600
    q2, src2 = label_percentiles(
        np.array([5000.0, 6000.0, 5000.0]),
        cal,
        lower=np.array([4000.0, NAN, 4900.0]),
        upper=[6500.0, 6100, 5200.0],
    )
    assert src2.tolist() == ["gspphot", "reference", "reference"]
    assert q2[2] == pytest.approx(q[0])
    # 5th/95th extrapolated in ln Teff: 5000 * (4000/5000)^1.64485 = 3463.92;
    # 5000 * (6500/5000)^1.64485 = 7698.21
    assert q2[0] == pytest.approx([3463.92, 4000, 5000, 6500, 7698.21], abs=0.01)
    # without a reference sample, a star's own interval whatever its width
    q3, src3 = label_percentiles(np.array([5000.0]), None, lower=[4900.0], upper=[5200.0])
    assert src3.tolist() == ["gspphot"]
    # 5000 * (4900/5000)^1.64485 = 4836.58; 5000 * (5200/5000)^1.64485 = 5333.19
    assert q3[0] == pytest.approx([4836.58, 4900, 5000, 5200, 5333.19], abs=0.01)
    with pytest.raises(ValueError, match="reference stars"):
        fit_label_calibration(label[:10], reference[:10])


def _catalogue():
    rng = np.random.default_rng(8)
    n = 3000
    pred = rng.uniform(3500, 9000, n)
    spread = rng.uniform(50, 300, n)
    label = pred + rng.normal(0, 2 * spread)
    cal = fit_calibration(pred, spread, label)
    cal["feature_range"] = {"x": [0.0, 1.0]}
    ids = np.arange(1, n + 1)
    raw = pl.DataFrame({"source_id": ids, "teff_m_raw": pred, "teff_m_spread": spread})
    raw = raw.with_columns(
        pl.when(pl.col("source_id") == n).then(None).otherwise("teff_m_raw").alias("teff_m_raw")
    )
    phot = pl.DataFrame({"source_id": ids, "x": np.where(ids % 2 == 0, 0.5, 2.0)})
    cols = model_columns("m", cal, raw, phot)
    gaia = np.where(ids <= 100, 6000.0, NAN)
    base = pl.DataFrame(
        {
            "source_id": ids,
            "ra": np.zeros(n),
            "dec": np.zeros(n),
            "teff_gaia": gaia,
            "teff_gaia_corrected": gaia,
            "split": pl.Series(np.where(ids <= 100, "test", None), dtype=pl.String),
        }
    ).with_columns(pl.col("teff_gaia", "teff_gaia_corrected").fill_nan(None))
    label_cal = fit_label_calibration(rng.uniform(4000, 8000, 500), rng.uniform(4000, 8000, 500))
    return base, cols, label_cal


def test_model_columns_and_assemble_give_every_teff_percentiles():
    base, cols, label_cal = _catalogue()
    assert {f"teff_m_{p}" for p in PERCENTILE_NAMES} <= set(cols.columns)
    assert cols["teff_m_outside"].to_list()[:2] == [True, False]
    with pytest.raises(ValueError, match="no uncertainty"):
        check_uncertainties(assemble(base, {"m": cols}))  # flag A without any source of one
    cat = assemble(base, {"m": cols}, label_calibration=label_cal)
    assert "split" not in cat.columns and "teff_m_outside" not in cat.columns
    has = cat["teff_best"].is_not_null()
    for p in ("p05", "p16", "p50", "p84", "p95", "err"):
        assert (cat[f"teff_best_{p}"].is_not_null() == has).all(), p
    err = (cat["teff_best_p84"] - cat["teff_best_p16"]) / 2
    assert np.allclose(cat["teff_best_err"].drop_nulls(), err.drop_nulls())
    a = cat.filter(pl.col("flag") == "A")
    assert a.height == 100 and (a["teff_best_err_source"] == "reference").all()
    assert ((a["flag_bits"] & (FLAG_BITS["label"] | FLAG_BITS["split_test"])) == 129).all()
    ml = cat.filter(pl.col("flag").is_in(["B", "C", "D"]))
    assert (ml["teff_best_err_source"] == "model").all()
    odd = ml.filter(pl.col("source_id") % 2 == 1)["flag_bits"]
    assert ((odd & FLAG_BITS["outside_training_range"]) > 0).all()
    check_uncertainties(cat)
    x = cat.filter(pl.col("flag") == "X")
    assert x.height == 1 and x["teff_best_err"].is_null().all()
    assert (x["flag_bits"] & FLAG_BITS["features_missing"] > 0).all()


def test_every_file_format_holds_the_same_rows_and_values(tmp_path):
    from astropy.io import fits
    from astropy.io.votable import parse_single_table

    base, cols, label_cal = _catalogue()
    cat = assemble(base, {"m": cols}, label_calibration=label_cal)
    header = {
        "PHOTSHA": ("a" * 64, "sha256 of the input photometry table"),
        "SIMPHOT": (True, "T: simulated photometry (not Gaia data)"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Card is too long" and friends fail here
        write_fits(cat, tmp_path / "c.fits", header)
        write_fits(cat, tmp_path / "again.fits", header)
        write_votable(cat, tmp_path / "c.vot", "test catalogue")
        write_votable(cat, tmp_path / "again.vot", "test catalogue")
        # batches of 7 rows: a batch's bytes are rarely a multiple of base64's 3
        write_votable(cat, tmp_path / "batched.vot", "test catalogue", batch_rows=7)
        write_csv(cat, tmp_path / "c.csv")
        hdul = fits.open(tmp_path / "c.fits", checksum=True)  # a bad checksum warns: fails
    for ext in ("fits", "vot"):  # reproducible: no time stamp in either
        assert (tmp_path / f"c.{ext}").read_bytes() == (tmp_path / f"again.{ext}").read_bytes()
    hdu = hdul[1]
    assert hdu.header["CHECKSUM"] and hdu.header["DATASUM"] and hdul[0].header["CHECKSUM"]
    assert hdu.header["SIMPHOT"] is True
    assert "PHOTSHA: sha256 of the input photometry table" in str(hdu.header["COMMENT"])
    for i, name in enumerate(cat.columns, start=1):
        assert hdu.header[f"TCOMM{i}"] == column_doc(name)[1], name  # whole, not cut
        assert hdu.header[f"TUCD{i}"]
    assert "X = no Teff" in hdu.header[f"TCOMM{cat.columns.index('flag') + 1}"]
    vot = parse_single_table(tmp_path / "c.vot")
    ucd = {f.name: f.ucd for f in vot.fields}
    assert ucd["source_id"] == "meta.id;meta.main" and ucd["ra"] == "pos.eq.ra;meta.main"
    assert ucd["teff_best_err"].startswith("stat.error")
    vt = vot.to_table()
    assert str(vt["teff_best"].unit) == "K"
    batched = parse_single_table(tmp_path / "batched.vot").to_table()
    assert batched.colnames == vt.colnames and len(batched) == len(vt) > 7
    for name in vt.colnames:
        a, b = np.ma.getdata(batched[name]), np.ma.getdata(vt[name])
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
        assert np.array_equal(np.ma.getmaskarray(batched[name]), np.ma.getmaskarray(vt[name]))
    csv = pl.read_csv(tmp_path / "c.csv", schema=cat.schema)
    data = hdu.data
    assert len(data) == len(vt) == csv.height == cat.height
    for name in cat.columns:
        col = cat[name]
        if col.dtype == pl.String:
            want = col.fill_null("").to_list()
            assert [v.strip() for v in data[name].astype(str)] == want, name
            assert [str(v) for v in vt[name]] == want, name
        else:
            want = col.cast(pl.Float64).fill_null(NAN).to_numpy()
            assert np.array_equal(np.asarray(data[name], float), want, equal_nan=True), name
            got = np.ma.filled(np.ma.asarray(vt[name], dtype=float), NAN)
            assert np.array_equal(got, want, equal_nan=True), name
        assert csv[name].equals(col, check_names=True), name
    hdul.close()


def test_votable_keeps_non_ascii_text_and_any_batch_size(tmp_path):
    # VOTable char is ASCII: a column with other text goes as unicodeChar (UTF-16)
    from astropy.io.votable import parse_single_table

    cat = pl.DataFrame(
        {
            "source_id": [1, 2, 3],
            "note": ["Ā-star", None, "mé"],
            "flag": ["A", "X", "B"],
            "teff_best": [5000.0, None, 6000.0],
        }
    )
    for batch_rows in (0, 1, 2):  # 0 is read as 1
        write_votable(cat, tmp_path / f"c{batch_rows}.vot", "test", batch_rows=batch_rows)
        vot = parse_single_table(tmp_path / f"c{batch_rows}.vot")
        types = {f.name: f.datatype for f in vot.fields}
        assert types["note"] == "unicodeChar" and types["flag"] == "char"
        vt = vot.to_table()
        assert [str(v) for v in vt["note"]] == ["Ā-star", "", "mé"]
        assert [str(v) for v in vt["flag"]] == ["A", "X", "B"]
        assert list(np.ma.getmaskarray(vt["teff_best"])) == [False, True, False]


def test_percentiles_are_built_in_ln_teff_and_stay_positive():
    # one bin, sigma_ln = k * (floor^2 + (spread / T)^2)^(p/2) with k = 1, floor 0, p = 1, so
    # sigma_ln = spread / T; z_q = -2, -1, 0, 1, 2
    cal = {
        "space": "ln",
        "bins": [
            {
                "lo": 0,
                "hi": None,
                "k": 1.0,
                "floor_k": 0.0,
                "p": 1.0,
                "z_percentiles": [-2, -1, 0, 1, 2],
            }
        ],
    }
    pred, spread = np.array([5000.0, 5000.0]), np.array([500.0, 10_000.0])
    sigma = apply_calibration(cal, pred, spread)
    assert sigma == pytest.approx([500.0, 10_000.0])  # T * sigma_ln, the local 1-sigma in K
    q = apply_percentiles(cal, pred, spread)
    # 5000 * exp(-0.2, -0.1, 0, 0.1, 0.2) = 4093.654, 4524.187, 5000, 5525.855, 6107.014
    assert q[0] == pytest.approx([4093.654, 4524.187, 5000.0, 5525.855, 6107.014], abs=1e-3)
    # sigma_ln = 2: 5000 * exp(-4) = 91.578 K, where T + z * sigma would be -15,000 K
    assert q[1, 0] == pytest.approx(5000 * np.exp(-4.0)) and (q > 0).all()
    # the PIT inverts it: the label at p84 sits at level 0.84 of a grid 0.16/0.5/0.84
    cal["bins"][0]["z_grid"] = [-1.0, 0.0, 1.0]
    cal["grid_levels"] = [0.16, 0.5, 0.84]
    assert pit(cal, pred[:1], sigma[:1], q[:1, 3]) == pytest.approx([0.84])
    # a table fitted before the ln space (no "space") is applied in kelvin, as it was fitted
    linear = {k: v for k, v in cal.items() if k != "space"}
    assert apply_percentiles(linear, pred[:1], spread[:1])[0] == pytest.approx(
        [4000, 4500, 5000, 5500, 6000]
    )


def test_fitted_percentiles_are_positive_for_wide_multiplicative_errors():
    # errors of 40% (multiplicative), where T + z * sigma would cross zero for cool stars
    rng = np.random.default_rng(11)
    n = 40_000
    pred = np.exp(rng.uniform(np.log(3000), np.log(20000), n))
    spread = 0.1 * pred * rng.lognormal(0, 0.3, n)
    label = pred * np.exp(rng.normal(0, 0.4, n))
    half = n // 2
    cal = fit_calibration(pred[:half], spread[:half], label[:half])
    assert cal["space"] == "ln"
    q = apply_percentiles(cal, pred[half:], spread[half:])
    assert (q > 0).all()
    rep = percentile_report(q, label[half:])
    # 20,000 test stars: the standard error of a fraction near 0.16 is 0.26 points
    assert abs(rep["overall"]["below_p16"] - 0.16) < 0.02
    assert abs(rep["overall"]["within_p05_p95"] - 0.90) < 0.015


def test_percentiles_stay_within_the_bins_calibration_labels():
    # a spread far beyond the calibration stars' (p = 2 makes sigma grow as its square) would
    # give T * exp(z * sigma / T) of 1e-5 K and 1e14 K; the bin's label range bounds them
    rng = np.random.default_rng(12)
    n = 4000
    pred = rng.uniform(4000, 9000, n)
    spread = rng.uniform(50, 300, n)
    label = pred * np.exp(rng.normal(0, 0.05, n))
    cal = fit_calibration(pred, spread, label)
    lo = min(b["label_range"][0] for b in cal["bins"])
    hi = max(b["label_range"][1] for b in cal["bins"])
    assert lo == pytest.approx(label.min()) and hi == pytest.approx(label.max())
    for b in cal["bins"]:
        b["p"], b["floor_k"] = 2.0, 0.0
    q = apply_percentiles(cal, np.array([6000.0, 6000.0]), np.array([100.0, 1e5]))
    assert q[1, 0] >= lo and q[1, 4] <= hi  # clipped to the bin's labels
    assert lo < q[0, 0] < q[0, 4] < hi  # an ordinary star is untouched
    assert (np.diff(q, axis=1) >= 0).all()
