"""The hot-star correction: one blend, a robust fit, safe loading of the legacy pickle."""

from __future__ import annotations

import json
import os
import pickle

import joblib
import numpy as np
import pytest
from numpy.polynomial import Polynomial

from ebteff.correction import (
    Correction,
    CorrectionError,
    UnsafePickleError,
    apply_correction,
    blend_weight,
    dump_legacy_pickle,
    fit_correction,
    load_correction_file,
    load_correction_json,
    load_legacy_pickle,
    save_correction_json,
)
from ebteff.io import sha256sum

KNOWN = (2000.0, 0.7, 1.5e-5)  # P(T) = 2000 + 0.7 T + 1.5e-5 T^2


def test_blend_weight_is_smoothstep():
    t = np.array([5000, 10000, 10500, 11000, 11500, 12000, 20000.0])
    s = blend_weight(t, 10000, 2000)
    assert s[0] == s[1] == 0.0 and s[-1] == s[-2] == 1.0
    assert s[3] == pytest.approx(0.5)
    assert s[2] == pytest.approx(0.25**2 * (3 - 0.5))
    assert np.all(np.diff(s) >= 0)


def test_apply_leaves_cool_stars_and_nan_untouched():
    t = np.array([3000.0, 9999.0, 10000.0, np.nan, 30000.0])
    out = apply_correction(t, KNOWN, 10000, 2000)
    assert out[0] == 3000.0 and out[1] == 9999.0 and out[2] == 10000.0
    assert np.isnan(out[3])
    assert out[4] == pytest.approx(np.polynomial.polynomial.polyval(30000.0, KNOWN))


def test_apply_is_continuous_at_both_ends_of_the_blend():
    eps = 1e-6
    for edge in (10000.0, 12000.0):
        lo, hi = apply_correction([edge - eps, edge + eps], KNOWN)
        assert abs(hi - lo) < 1e-2


def test_fit_recovers_a_known_polynomial_despite_outliers():
    rng = np.random.default_rng(3)
    x = rng.uniform(8000, 30000, 3000)
    y = Polynomial(KNOWN)(x) * (1 + rng.normal(0, 0.01, x.size))
    y[:60] *= 0.5  # catastrophic reference values
    fit = fit_correction(x, y, floor=8000)
    assert fit.n_clipped >= 60
    c = fit.correction.coefficients
    grid = np.linspace(9000, 29000, 50)
    assert np.max(np.abs(Polynomial(c)(grid) / Polynomial(KNOWN)(grid) - 1)) < 0.005
    assert fit.rms < 0.02 * 30000


def test_fit_ignores_stars_below_the_floor_and_nan():
    x = np.r_[np.linspace(8000, 20000, 100), [3000.0, np.nan]]
    y = np.r_[Polynomial(KNOWN)(x[:100]), [1e6, 5000.0]]
    fit = fit_correction(x, y, floor=8000)
    assert fit.n_used == 100


def test_too_few_hot_reference_stars():
    with pytest.raises(CorrectionError, match="only 5 reference star.*Lower correction.fit_floor"):
        fit_correction(np.linspace(10000, 20000, 5), np.linspace(10000, 20000, 5), floor=9000)


def test_json_round_trip(tmp_path):
    c = Correction(KNOWN, 10000.0, 2000.0)
    save_correction_json(c, tmp_path / "c.json", fit={"n_used": 3})
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["coefficients"] == list(KNOWN) and data["degree"] == 2
    assert load_correction_json(tmp_path / "c.json") == c


def test_legacy_dict_form_loads(tmp_path):
    path = tmp_path / "teff_correction_coeffs_deg2.pkl"
    joblib.dump({"polynomial": Polynomial(KNOWN), "degree": 2}, path)
    assert load_legacy_pickle(path).coefficients == pytest.approx(KNOWN)


def test_legacy_scaled_polynomial_is_converted(tmp_path):
    # Polynomial.fit returns a polynomial in a scaled domain; the loader must convert it.
    x = np.linspace(8000, 30000, 50)
    poly = Polynomial.fit(x, Polynomial(KNOWN)(x), 2)
    path = tmp_path / "scaled.pkl"
    joblib.dump({"polynomial": poly, "degree": 2}, path)
    assert load_legacy_pickle(path).coefficients == pytest.approx(KNOWN, rel=1e-6)


def test_legacy_array_form_loads(tmp_path):
    joblib.dump(np.array(KNOWN), tmp_path / "a.pkl")
    pickle.dump(np.array(KNOWN), open(tmp_path / "b.pkl", "wb"))
    for name in ("a.pkl", "b.pkl"):
        assert load_legacy_pickle(tmp_path / name).coefficients == pytest.approx(KNOWN)


def test_dump_legacy_round_trips_and_is_deterministic(tmp_path):
    c = Correction(KNOWN)
    dump_legacy_pickle(c, tmp_path / "a.pkl")
    dump_legacy_pickle(c, tmp_path / "b.pkl")
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
    loaded = joblib.load(tmp_path / "a.pkl")  # the earlier pipeline's reader
    assert isinstance(loaded["polynomial"], Polynomial) and loaded["degree"] == 2
    assert load_legacy_pickle(tmp_path / "a.pkl").coefficients == pytest.approx(KNOWN)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ebteff-pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        {"polynomial": _Exploit(), "degree": 2},
        np.array([_Exploit()], dtype=object),
    ],
    ids=["global", "object-array"],
)
def test_malicious_pickle_is_refused(tmp_path, payload):
    marker = "/tmp/ebteff-pwned"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pkl"
    joblib.dump(payload, path)
    with pytest.raises(UnsafePickleError, match="refusing"):
        load_legacy_pickle(path)
    assert not os.path.exists(marker)


def test_plain_pickle_exploit_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_legacy_pickle(path)


def test_pickle_pin_is_optional_and_checked_when_given(tmp_path):
    # the restricted unpickler runs no code, so a correction pickle needs no pin; a given pin
    # must match
    path = tmp_path / "c.pkl"
    dump_legacy_pickle(Correction(KNOWN), path)
    digest = sha256sum(path)
    assert load_correction_file(path, None).coefficients == pytest.approx(KNOWN)
    with pytest.raises(
        CorrectionError, match=f"does not match the pinned.*set correction.file_sha256: {digest}"
    ):
        load_correction_file(path, "0" * 64)
    assert load_correction_file(path, digest).coefficients == pytest.approx(KNOWN)


def test_the_format_follows_the_name_not_the_path(tmp_path):
    save_correction_json(Correction(KNOWN), tmp_path / "downloaded")
    c = load_correction_file(tmp_path / "downloaded", name="correction/teff_correction.json")
    assert c.coefficients == pytest.approx(KNOWN)
    dump_legacy_pickle(Correction(KNOWN), tmp_path / "other")
    assert load_correction_file(tmp_path / "other").coefficients == pytest.approx(KNOWN)


def test_wrong_legacy_content(tmp_path):
    joblib.dump({"coefficients": [1, 2, 3]}, tmp_path / "x.pkl")
    with pytest.raises(CorrectionError, match="expected"):
        load_legacy_pickle(tmp_path / "x.pkl")


def test_fit_reports_whether_the_correction_is_monotonic():
    x = np.linspace(8000, 30000, 400)
    assert fit_correction(x, Polynomial(KNOWN)(x), floor=8000).monotonic
    turning = Polynomial((-20000.0, 4.0, -8e-5))  # peaks at 25,000 K
    assert not fit_correction(x, turning(x), floor=8000).monotonic


def test_correction_origin_names_what_the_run_used():
    from ebteff.correction import correction_origin

    fit = {"origin": {"method": "fit", "reference": "ref.parquet", "reference_sha256": "a" * 64}}
    assert correction_origin(fit) == {
        "method": "fit",
        "used": "ref.parquet",
        "sha256": "a" * 64,
        "reference": "ref.parquet",
        "reference_sha256": "a" * 64,
    }
    published = {
        "origin": {
            "method": "load",
            "from": "published",
            "repo_id": "Dedulek/gaia-eb-teff-datasets",
            "revision": "main",
            "file": "correction/teff_correction_coeffs_deg2.pkl",
            "sha256": "b" * 64,
        }
    }
    out = correction_origin(published)
    assert out["used"] == (
        "Dedulek/gaia-eb-teff-datasets@main:correction/teff_correction_coeffs_deg2.pkl"
    )
    assert out["method"] == "load" and out["sha256"] == "b" * 64
    local = {"origin": {"method": "load", "from": "file", "file": "c.json", "sha256": "c" * 64}}
    assert correction_origin(local)["used"] == "c.json"
    assert correction_origin({})["method"] == "unknown"  # a correction file from before origins
