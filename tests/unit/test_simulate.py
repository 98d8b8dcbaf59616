"""Tests of the simulated catalogue (ebteff.sim.simulate) and the stellar physics under it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ebteff.io import sha256sum
from ebteff.schema import COLUMNS, COVERAGE_COLUMNS, OPTIONAL_COLUMNS, SENTINEL
from ebteff.sim import labels, population, simulate, stellar

N_STARS = 20_000


def _run(directory, n, seed, block_size, **kwargs):
    paths = {name: directory / f"{name}.parquet" for name in ("photometry", "truth", "reference")}
    stats = simulate.simulate_catalogue(
        n,
        seed,
        paths["photometry"],
        paths["truth"],
        paths["reference"],
        block_size=block_size,
        **kwargs,
    )
    return paths, stats


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """20,000 stars in three blocks (exercises streaming across blocks)."""
    paths, stats = _run(tmp_path_factory.mktemp("sim"), N_STARS, 2024, 8_000)
    photometry = pl.read_parquet(paths["photometry"])
    truth = pl.read_parquet(paths["truth"])
    reference = pl.read_parquet(paths["reference"])
    return photometry, truth, reference, stats


def _has(frame: pl.DataFrame, column: str) -> np.ndarray:
    return (frame[column] != SENTINEL).to_numpy()


# --- The table


def test_columns_and_dtypes_equal_the_schema(catalogue):
    photometry, _, _, _ = catalogue
    assert photometry.schema == pl.Schema({**COLUMNS, **OPTIONAL_COLUMNS})
    assert photometry.height == N_STARS


def test_no_null_nan_or_inf(catalogue):
    photometry, truth, reference, _ = catalogue
    for frame in (photometry, truth.drop("giant"), reference):
        assert frame.null_count().sum_horizontal().item() == 0
        values = frame.to_numpy().astype(float)
        assert np.isfinite(values).all()


def test_source_ids_unique_positive_sorted_and_shared(catalogue):
    photometry, truth, reference, _ = catalogue
    ids = photometry["source_id"].to_numpy()
    assert ids.min() > 0
    assert np.all(np.diff(ids) > 0)
    assert ids.max() < simulate.SOURCE_ID_RANGE[1]
    assert np.array_equal(truth["source_id"].to_numpy(), ids)
    assert np.isin(reference["source_id"].to_numpy(), ids).all()
    assert np.all(np.diff(reference["source_id"].to_numpy()) > 0)


def test_coverages_are_the_survey_limits(catalogue):
    """Coverage is an outcome of each survey's footprint and limits, not a completeness
    constant: GSP-Phot labels exactly the stars with G < 19 (Andrae et al. 2023), Pan-STARRS1
    only north of Dec -30 deg; the reported fractions are the table's. How close they come to
    the real table's (58.4 / 53.5 / 60%) depends on the population's magnitudes and is printed
    at the default size by benchmarks/simulation_realism.py."""
    photometry, _, _, stats = catalogue
    for survey, column in COVERAGE_COLUMNS.items():
        assert stats["coverage"][survey] == pytest.approx(_has(photometry, column).mean())
    assert np.array_equal(
        _has(photometry, "teff_gaia"), photometry["g"].to_numpy() < labels.G_LIMIT
    )
    north = photometry["dec"].to_numpy() > simulate.PS1_DEC_MIN
    assert not (_has(photometry, "ps_rPSFMag") & ~north).any()
    assert stats["rows"] == N_STARS


def test_missing_value_patterns(catalogue):
    photometry, _, _, _ = catalogue
    in_ps1 = _has(photometry, "ps_rPSFMag")
    assert (photometry["dec"].to_numpy()[in_ps1] > simulate.PS1_DEC_MIN).all()
    for band in stellar.A_PS1:
        psf, kron = _has(photometry, f"ps_{band}PSFMag"), _has(photometry, f"ps_{band}KronMag")
        assert np.array_equal(psf, kron)
        assert not (psf & ~in_ps1).any()
    assert _has(photometry, "ps_yPSFMag").sum() < in_ps1.sum()  # y is the shallowest band
    for a, b in (("g", "r"), ("r", "i"), ("i", "z"), ("z", "y")):
        both = _has(photometry, f"ps_{a}PSFMag") & _has(photometry, f"ps_{b}PSFMag")
        assert np.array_equal(_has(photometry, f"ps_{a}_{b}"), both)
    tmass = [_has(photometry, c) for c in ("j_m", "h_m", "k_m", "j_h", "h_k", "j_k")]
    assert all(np.array_equal(tmass[0], other) for other in tmass[1:])
    teff, logg, mh = (_has(photometry, c) for c in ("teff_gaia", "logg_gaia", "mh_gaia"))
    assert (photometry["g"].to_numpy()[teff] < labels.G_LIMIT).all()
    assert not (logg & ~teff).any() and not (mh & ~teff).any()


def test_colours_are_differences_of_the_magnitudes(catalogue):
    photometry, _, _, _ = catalogue
    assert _has(photometry, "g").all() and _has(photometry, "rp").all()
    # a band without a magnitude takes its colours with it
    for colour in ("bp_rp", "g_bp"):
        assert np.array_equal(_has(photometry, colour), _has(photometry, "bp"))
    p = photometry.filter(pl.col("bp") != SENTINEL)
    assert p.height > 0.99 * N_STARS
    assert np.allclose(p["bp_rp"], p["bp"] - p["rp"], atol=2e-5)
    assert np.allclose(p["g_bp"], p["g"] - p["bp"], atol=2e-5)
    assert np.allclose(p["g_rp"], p["g"] - p["rp"], atol=2e-5)
    tm = p.filter(pl.col("j_m") != SENTINEL)
    assert np.allclose(tm["j_k"], tm["j_m"] - tm["k_m"], atol=2e-4)
    ps = p.filter((pl.col("ps_gPSFMag") != SENTINEL) & (pl.col("ps_rPSFMag") != SENTINEL))
    assert np.allclose(ps["ps_g_r"], ps["ps_gPSFMag"] - ps["ps_rPSFMag"], atol=2e-4)
    assert p["g"].max() <= population.G_FAINT + 0.1 and p["g"].min() >= population.G_BRIGHT - 0.1


def test_gaia_noise_is_in_flux_so_a_faint_band_can_have_no_magnitude():
    z = np.random.default_rng(11).normal(0.0, 1.0, 100_000)
    # bright: the magnitude error is sigma (first order in sigma)
    sigma = simulate.gaia_sigma("BP", np.array([15.0]))[0]
    bright = simulate.gaia_magnitude(np.full(z.size, 15.0), z, "BP")
    assert np.allclose(bright, 15.0 + sigma * z, atol=2e-5)
    # BP = 27 is 0.16% of the flux whose background-limited error is 5% of it at BP = 20: the
    # observed flux is not positive for z >= 1 / (relative flux error), and then BP has no
    # magnitude; nor beyond what Gaia can measure (observed flux below 10^(-0.4 (30 - 27)) of
    # the true one)
    rel = simulate.gaia_sigma("BP", np.array([27.0]))[0] / simulate.MAG_PER_LN_FLUX
    faint = simulate.gaia_magnitude(np.full(z.size, 27.0), z, "BP")
    missing = np.isnan(faint)
    beyond = 10.0 ** (-0.4 * (simulate.GAIA_MAG_LIMIT - 27.0))
    assert np.array_equal(missing, z > (1.0 - beyond) / rel)
    assert 0.4 < missing.mean() < 0.6
    assert np.nanmax(faint) <= simulate.GAIA_MAG_LIMIT
    assert np.isnan(simulate.gaia_magnitude(np.array([27.0]), np.array([1.0 / rel]), "BP"))[0]


def test_noise_grows_with_magnitude(catalogue):
    photometry, truth, _, _ = catalogue
    assert simulate.gaia_sigma("G", np.array([12.0]))[0] < 0.001
    assert simulate.gaia_sigma("BP", np.array([15.0]))[0] < 0.005
    assert 0.02 <= simulate.gaia_sigma("BP", np.array([19.5]))[0] <= 0.05
    # Parallax residuals in the catalogue: tens of uas when bright, near 1 mas at the limit.
    g = photometry["g"].to_numpy()
    resid = photometry["parallax"].to_numpy() - 1000.0 / truth["distance_pc"].to_numpy()
    assert np.std(resid[g < 14]) < 0.05
    assert 0.3 < np.std(resid[g > 20]) < 2.0


# --- Labels and the reference sample


def test_label_teff_range(catalogue):
    photometry, _, _, _ = catalogue
    t = photometry.filter(pl.col("teff_gaia") != SENTINEL)["teff_gaia"].to_numpy()
    assert t.min() >= labels.LABEL_TEFF_RANGE[0] and t.max() <= labels.LABEL_TEFF_RANGE[1]


def test_labels_are_close_to_the_truth_whatever_the_dust(catalogue):
    """GSP-Phot fits A0 with Teff (0.07-0.09 mag typical errors, Andrae et al. 2023): FGK
    labels scatter by a few per cent about the combined-light Teff, reddened or not. (A label
    law that missed most of A0 would read reddened stars ~20% cool.)"""
    photometry, truth, _, _ = catalogue
    both = photometry.join(truth, on="source_id").filter(pl.col("teff_gaia") != SENTINEL)
    ratio = np.log(both["teff_gaia"].to_numpy() / both["teff_blend"].to_numpy())
    blend, a0 = both["teff_blend"].to_numpy(), both["a0"].to_numpy()
    cool = (blend > 4500) & (blend < 7000)
    medians, spreads = [], []
    for sel in (cool & (a0 < 0.5), cool & (a0 > 2.0)):
        assert sel.sum() > 500
        r = ratio[sel]
        med = np.median(r)
        medians.append(med)
        # robust spread (1.4826 MAD; catastrophic solutions aside): a few per cent
        spreads.append(1.4826 * np.median(np.abs(r - med)))
        # median |error| within the 3% of GSP-Phot's FGK stars
        assert np.median(np.abs(r)) < 0.03
    assert all(0.01 < s < 0.04 for s in spreads), spreads
    # no dust-dependent bias: the two medians agree within 4 standard errors of their
    # difference (1.25 robust sigma / sqrt(n) each)
    n_clear, n_dusty = (cool & (a0 < 0.5)).sum(), (cool & (a0 > 2.0)).sum()
    se = 1.25 * np.hypot(spreads[0] / np.sqrt(n_clear), spreads[1] / np.sqrt(n_dusty))
    # plus the A0 >= 0 bound: an unreddened star's A0 errors are one-sided, which raises its
    # label by at most SIGMA_A0 * GAMMA_EXTINCTION / sqrt(2 pi) in the mean (~0.7%)
    bound = labels.SIGMA_A0 * labels.GAMMA_EXTINCTION / np.sqrt(2 * np.pi)
    assert abs(medians[0] - medians[1]) < 4 * se + bound, (medians, se)


def test_labels_fall_short_for_hot_stars(catalogue):
    photometry, truth, _, _ = catalogue
    both = photometry.join(truth, on="source_id").filter(pl.col("teff_gaia") != SENTINEL)
    ratio = both["teff_gaia"].to_numpy() / both["teff_blend"].to_numpy()
    blend = both["teff_blend"].to_numpy()
    hot = blend > 15_000
    assert hot.sum() >= 20
    # the hot-star bias B^-1: 15,000 K reads 2.7% low, 20,000 K 7.5% low
    assert np.median(ratio[hot]) < 1 - 0.02


def test_degeneracy_slide_follows_the_colour_and_is_capped():
    grid = stellar.load_grid()

    def dwarf(teff):
        teff = np.atleast_1d(np.asarray(teff, dtype=float))
        mass, radius = stellar.dwarf_sequence(teff)
        logg = stellar.logg_from_mass_radius(mass, radius)
        surface = grid.surface_magnitudes(teff, logg, 0.0)
        return surface[:, 1] - surface[:, 2], logg

    teff = np.array([3000.0, 4200.0, 7000.0, 20000.0, 45000.0])
    assert np.allclose(simulate.degenerate_teff(teff, 0.0, grid), teff)
    errors = np.array([-3.0, -1.0, -0.2, 0.0, 0.5])
    assert np.all(np.diff(simulate.degenerate_teff(np.full(5, 5000.0), errors, grid)) > 0)
    # A K dwarf whose A0 is underestimated by 1 mag reads as the dwarf whose unreddened BP-RP
    # equals its own reddened by 1 mag: the label follows the observed colour.
    for t0 in (3800.0, 4200.0, 4800.0):
        t_deg = simulate.degenerate_teff(t0, -1.0, grid)
        (c0,), (logg,) = dwarf(t0)
        (c_deg,), _ = dwarf(t_deg)
        ext = grid.extinction(t0, logg, 0.0, 1.0)[0]
        assert c_deg - c0 == pytest.approx(ext[1] - ext[2], abs=0.02)
    # Where the colour flattens (hot stars) the slide is held at GAMMA_EXTINCTION per mag.
    hot = simulate.degenerate_teff(np.array([8000.0, 20000.0]), -1.0, grid)
    assert hot == pytest.approx(np.array([8000.0, 20000.0]) * np.exp(-simulate.GAMMA_EXTINCTION))


def test_hot_bias_law_is_a_degree_two_polynomial():
    t_true = np.array([5000.0, 10_000.0, 15_000.0, 30_000.0, 50_000.0])
    label = simulate.hot_bias_inverse(t_true)
    assert np.allclose(simulate.hot_bias_correction(label), t_true)
    assert label[0] == 5000.0 and label[1] == 10_000.0 and (label[2:] < t_true[2:]).all()
    a = simulate.HOT_BIAS_A
    poly = np.polynomial.Polynomial([a * 1e8, 1.0 - 2e4 * a, a])
    assert np.allclose(poly(label[2:]), t_true[2:])


def test_reference_sample_supports_a_hot_star_correction(catalogue):
    photometry, truth, reference, stats = catalogue
    assert stats["reference_rows"] == reference.height
    assert 0.02 * N_STARS <= reference.height <= 0.03 * N_STARS
    rel = (reference["teff_ref_err"] / reference["teff_ref"]).to_numpy()
    assert rel.min() >= 0.0099 and rel.max() <= 0.0201
    ref = reference.join(photometry, on="source_id").join(truth, on="source_id")
    assert (ref["teff_gaia"] != SENTINEL).all()
    pulls = ((ref["teff_ref"] - ref["teff_blend"]) / ref["teff_ref_err"]).to_numpy()
    assert 0.8 < np.std(pulls) < 1.25
    hot = ref.filter(pl.col("teff_gaia") > 10_000)
    # hot labels are drawn REFERENCE_HOT_WEIGHT times as often: ~250 of the 20,000 stars' ~500
    # reference stars (seed 2024); 100 is over 9 Poisson standard deviations below
    assert hot.height >= 100
    # A degree-2 fit of reference Teff on the label (what ebteff.correction fits) recovers the
    # bias law where it bites: at 20,000 K, B(L) (the exact inverse) against the fit.
    x, y = hot["teff_gaia"].to_numpy(), hot["teff_ref"].to_numpy()
    fit = np.polynomial.Polynomial.fit(x, y, 2)
    assert fit(20_000.0) > 20_000.0
    exact = labels.hot_bias_correction(20_000.0)
    assert abs(fit(20_000.0) - exact) < 0.05 * exact


# --- Determinism and robustness


def test_same_seed_gives_identical_bytes_different_seed_differs(tmp_path):
    a, _ = _run(tmp_path / "a", 3000, 5, 1000)
    b, _ = _run(tmp_path / "b", 3000, 5, 1000)
    c, _ = _run(tmp_path / "c", 3000, 6, 1000)
    for name in a:
        assert sha256sum(a[name]) == sha256sum(b[name])
    assert sha256sum(a["photometry"]) != sha256sum(c["photometry"])


def test_failure_leaves_no_files(tmp_path, monkeypatch):
    real = simulate.simulate_block

    def failing(seed, block, *args, **kwargs):
        if block == 1:
            raise RuntimeError("boom")
        return real(seed, block, *args, **kwargs)

    monkeypatch.setattr(simulate, "simulate_block", failing)
    with pytest.raises(RuntimeError, match="boom"):
        _run(tmp_path, 2000, 1, 1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"block_size": 0}, {"reference_fraction": 0.0}, {"reference_fraction": 2}]
)
def test_bad_arguments_are_rejected(tmp_path, kwargs):
    args = {"n": 10, "block_size": 10, "reference_fraction": 0.025} | kwargs
    with pytest.raises(ValueError):
        _run(
            tmp_path,
            args["n"],
            1,
            args["block_size"],
            reference_fraction=args["reference_fraction"],
        )


# --- Sky


def test_galactic_to_icrs_matches_astropy():
    astropy_coords = pytest.importorskip("astropy.coordinates")
    units = pytest.importorskip("astropy.units")
    rng = np.random.default_rng(3)
    l_deg = rng.uniform(0.0, 360.0, 500)
    b_deg = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 500)))
    ra, dec = simulate.galactic_to_icrs(l_deg, b_deg)
    ours = astropy_coords.SkyCoord(ra=ra * units.deg, dec=dec * units.deg, frame="icrs")
    theirs = astropy_coords.SkyCoord(
        l=l_deg * units.deg, b=b_deg * units.deg, frame="galactic"
    ).icrs
    # Astropy goes through FK5; the ICRS frame bias is ~0.02 arcsec.
    assert ours.separation(theirs).arcsec.max() < 0.1
    ra0, dec0 = simulate.galactic_to_icrs(0.0, 0.0)
    assert ra0 == pytest.approx(266.405, abs=1e-3) and dec0 == pytest.approx(-28.936, abs=1e-3)


def test_sky_is_concentrated_to_the_galactic_plane(catalogue):
    _, truth, _, _ = catalogue
    photometry = catalogue[0]
    ra, dec = photometry["ra"].to_numpy(), photometry["dec"].to_numpy()
    assert 0 <= ra.min() and ra.max() < 360 and -90 <= dec.min() and dec.max() <= 90
    # Galactic latitude back from (ra, dec): most stars within 10 degrees of the plane.
    vec = np.stack(
        [
            np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
            np.cos(np.radians(dec)) * np.sin(np.radians(ra)),
            np.sin(np.radians(dec)),
        ]
    )
    b = np.degrees(np.arcsin((simulate.ICRS_TO_GALACTIC @ vec)[2]))
    assert np.mean(np.abs(b) < 10) > 0.5
    assert truth["a0"].min() >= 0


# --- The single-star main sequence and the relations it is built from


def test_grid_zero_points_and_solar_absolute_magnitude():
    grid = stellar.load_grid()
    assert np.allclose(grid.surface_magnitudes(*stellar.VEGA_MODEL)[0], stellar.VEGA_MAG)
    sun = grid.absolute_magnitudes(*stellar.SUN_MODEL, 1.0)[0]
    assert sun[0] == pytest.approx(4.67, abs=1e-9)
    assert sun[1] - sun[2] == pytest.approx(0.82, abs=0.05)


def test_main_sequence_colours_at_zero_extinction():
    phot = stellar.single_star_photometry([5750.0, 3500.0], [4.5, 4.5], 0.0, 0.0, 1.0, 10.0)
    bp_rp = phot["BP"] - phot["RP"]
    assert bp_rp[0] == pytest.approx(0.82, abs=0.05)
    assert bp_rp[1] == pytest.approx(2.3, abs=0.15)
    # Extrapolated below the grid: redder and fainter, not flat.
    cool = stellar.single_star_photometry([3500.0, 3000.0, 2600.0], 5.0, 0.0, 0.0, 0.3, 10.0)
    assert np.all(np.diff(cool["BP"] - cool["RP"]) > 0.2) and np.all(np.diff(cool["G"]) > 0)
    # PS1: a G2 dwarf has (g - r)_P1 near 0.4 (its SDSS g - r is ~0.45).
    sun = stellar.single_star_photometry(5772.0, 4.44, 0.0, 0.0, 1.0, 10.0)
    assert (sun["ps_g"] - sun["ps_r"])[0] == pytest.approx(0.42, abs=0.06)
    # A dwarf-sequence A0V star lands near its tabulated M_G (1.00; Pecaut & Mamajek 2013).
    mass, radius = stellar.dwarf_sequence(9700.0)
    a0v = stellar.single_star_photometry(
        9700.0, stellar.logg_from_mass_radius(mass, radius), 0.0, 0.0, radius, 10.0
    )
    assert a0v["G"][0] == pytest.approx(1.0, abs=0.15)


def test_grid_nodes_are_reproduced_exactly():
    grid = stellar.load_grid()
    raw = pl.read_parquet(stellar.GRID_PATH)
    node = raw.filter(
        (pl.col("teff") == 6000.0)
        & (pl.col("logg") == 4.0)
        & (pl.col("feh") == 0.0)
        & (pl.col("A0") == 2.0)
    )
    # Duplicated model variants are averaged by the loader (data/README.md).
    per_band = node.group_by("passband").agg(pl.col("mag0").mean(), pl.col("Ax").mean())
    mean = {r["passband"]: r for r in per_band.iter_rows(named=True)}
    mag0 = np.array([mean[b]["mag0"] for b in stellar.GRID_PASSBANDS])
    ax = np.array([mean[b]["Ax"] for b in stellar.GRID_PASSBANDS])
    surface = grid.surface_magnitudes(6000.0, 4.0, 0.0)[0]
    assert np.allclose(surface - grid.zero_point, mag0, atol=1e-12)
    assert np.allclose(grid.extinction(6000.0, 4.0, 0.0, 2.0)[0], ax, atol=1e-12)
    # Colours at a node equal the grid's colours shifted by the Vega zero points.
    assert surface[1] - surface[2] == pytest.approx(
        mag0[1] - mag0[2] + grid.zero_point[1] - grid.zero_point[2], abs=1e-12
    )
    # Between nodes, values lie between the neighbouring nodes.
    mid = grid.surface_magnitudes(6125.0, 4.0, 0.0)[0]
    lo, hi = surface, grid.surface_magnitudes(6250.0, 4.0, 0.0)[0]
    assert np.all((mid - lo) * (mid - hi) <= 0)


def test_twomass_follows_the_riello_relations():
    teff = np.array([4000.0, 5000.0, 6000.0, 8000.0, 12000.0])
    mass, radius = stellar.dwarf_sequence(teff)
    phot = stellar.single_star_photometry(
        teff, stellar.logg_from_mass_radius(mass, radius), 0.0, 0.0, radius, 100.0
    )
    x = phot["BP"] - phot["RP"]
    assert np.allclose(phot["G"] - phot["k"], -0.0981 + 2.089 * x - 0.1579 * x**2, atol=1e-9)
    assert np.allclose(phot["G"] - phot["h"], -0.1048 + 2.011 * x - 0.1758 * x**2, atol=1e-9)
    assert np.allclose(phot["G"] - phot["j"], 0.01798 + 1.389 * x - 0.09338 * x**2, atol=1e-9)
    reddened = stellar.single_star_photometry(teff, 4.5, 0.0, 1.0, radius, 100.0)
    unreddened = stellar.single_star_photometry(teff, 4.5, 0.0, 0.0, radius, 100.0)
    assert np.allclose(reddened["j"] - unreddened["j"], 0.28)
    assert np.all(reddened["G"] - unreddened["G"] > 0.7)


def test_flux_sum_of_two_identical_stars():
    one = stellar.single_star_photometry(5772.0, 4.44, 0.0, 0.5, 1.0, 250.0)
    for band in ("G", "BP", "RP", "j", "ps_r"):
        both = stellar.combine_magnitudes(one[band], one[band])
        assert (one[band] - both)[0] == pytest.approx(0.7526, abs=1e-4)


def test_distance_modulus():
    near = stellar.single_star_photometry(5772.0, 4.44, 0.0, 0.0, 1.0, 10.0)
    far = stellar.single_star_photometry(5772.0, 4.44, 0.0, 0.0, 1.0, 1000.0)
    assert (far["G"] - near["G"])[0] == pytest.approx(10.0)


# --- The labels (ebteff.sim.labels) and the survey limits


def _single_stars(teff, n, a0, grid):
    """n copies of a dwarf of Teff ``teff`` with a secondary too faint to matter."""
    teff = np.full(n, float(teff))
    mass, radius = stellar.dwarf_sequence(teff)
    logg = stellar.logg_from_mass_radius(mass, radius)
    abs1 = grid.absolute_magnitudes(teff, logg, 0.0, radius)
    return teff, abs1, abs1 + 30.0, np.full(n, float(a0))


def test_combined_light_teff_weights_surface_and_t4():
    t = labels.combined_light_teff([5000.0, 6000.0], [5000.0, 4000.0], [1.0, 1.0], [2.0, 1.0])
    assert t[0] == pytest.approx(5000.0)
    assert t[1] == pytest.approx(((6000.0**4 + 4000.0**4) / 2) ** 0.25)
    # a component of negligible surface leaves the other's Teff
    assert labels.combined_light_teff(30000.0, 3000.0, 5.0, 1e-6) == pytest.approx(30000.0)


def test_fgk_labels_scatter_by_the_published_a0_error_growing_when_faint():
    grid = stellar.load_grid()
    n = 20_000
    teff, abs1, abs2, a0 = _single_stars(5800.0, n, 1.0, grid)
    spread = {}
    for sigma_colour in (0.002, 0.05):
        fit = labels.gspphot_teff(
            np.random.default_rng(1), teff, abs1, abs2, a0, sigma_colour, grid
        )
        ok = ~fit["catastrophic"]
        ratio = np.log(fit["teff"][ok] / teff[ok])
        spread[sigma_colour] = np.std(ratio)
        # unbiased for a reddened star (no A0 >= 0 clipping at A0 = 1): the median within
        # 4 of its standard errors, 1.25 sigma / sqrt(n)
        assert abs(np.median(ratio)) < 4 * 1.25 * spread[sigma_colour] / np.sqrt(ok.sum())
    # bright: SIGMA_A0 times the capped rate, ~1.8% (~105 K at 5,800 K; Andrae et al.: 110 K)
    expected = labels.GAMMA_EXTINCTION * labels.SIGMA_A0
    assert spread[0.002] == pytest.approx(expected, rel=0.05)
    # faint: the BP-RP noise adds sigma_colour / k in quadrature to the A0 error
    k = labels.reddening_rate(5800.0, grid)
    grown = labels.GAMMA_EXTINCTION * np.hypot(labels.SIGMA_A0, 0.05 / k)
    assert spread[0.05] == pytest.approx(grown, rel=0.05)


def test_catastrophic_labels_lie_along_the_degeneracy_both_ways():
    grid = stellar.load_grid()
    n = 20_000
    teff, abs1, abs2, a0 = _single_stars(6000.0, n, 1.5, grid)
    fit = labels.gspphot_teff(np.random.default_rng(2), teff, abs1, abs2, a0, 0.002, grid)
    cat = fit["catastrophic"]
    # the fraction drawn, within 4 binomial standard errors
    f = labels.CATASTROPHIC_FRACTION
    assert abs(cat.mean() - f) < 4 * np.sqrt(f * (1 - f) / n)
    d_a0 = fit["a0_fit"] - a0
    d_t = np.log(fit["teff"] / teff)
    # too much dust reads too hot, too little too cool: the sign of the Teff error is the sign
    # of the A0 error, for every star (the slide is monotone)
    big = np.abs(d_a0) > 0.05
    assert np.array_equal(np.sign(d_t[big]), np.sign(d_a0[big]))
    assert (d_t[cat] > 0.2).sum() > 100 and (d_t[cat] < -0.2).sum() > 100
    assert (fit["a0_fit"] >= 0).all()


def test_hot_labels_fall_increasingly_short():
    grid = stellar.load_grid()
    temps = np.array([8000.0, 15000.0, 25000.0, 40000.0])
    medians = []
    for t in temps:
        teff, abs1, abs2, a0 = _single_stars(t, 4000, 0.5, grid)
        fit = labels.gspphot_teff(np.random.default_rng(3), teff, abs1, abs2, a0, 0.002, grid)
        medians.append(np.median(fit["teff"] / teff))
    # the median label is the bias law's B^-1(T) (the A0 errors are symmetric about it), which
    # falls from 1 at 10,000 K to ~0.78 at 40,000 K
    assert np.allclose(medians, labels.hot_bias_inverse(temps) / temps, atol=0.005), medians
    assert np.all(np.diff(medians) < 0) and medians[-1] < 0.8


def test_a_blend_is_read_as_one_star_between_its_components():
    grid = stellar.load_grid()
    t1, t2 = np.array([6000.0]), np.array([4200.0])
    mass1, radius1 = stellar.dwarf_sequence(t1)
    mass2, radius2 = stellar.dwarf_sequence(t2)
    abs1 = grid.absolute_magnitudes(t1, stellar.logg_from_mass_radius(mass1, radius1), 0.0, radius1)
    abs2 = grid.absolute_magnitudes(t2, stellar.logg_from_mass_radius(mass2, radius2), 0.0, radius2)
    # a twin adds no colour; a cooler companion reddens the blend
    assert labels.blend_colour_offset(abs1, abs1)[0] == pytest.approx(0.0, abs=1e-12)
    offset = labels.blend_colour_offset(abs1, abs2)[0]
    assert 0.0 < offset < 0.2
    # without A0 errors (rates of the degeneracy), the fit lands between the components
    read = labels.degenerate_teff(t1, -offset / labels.reddening_rate(t1, grid), grid)[0]
    assert t2[0] < read < t1[0]


def test_label_presence_is_the_magnitude_limit():
    g = np.linspace(8.0, 21.0, 40_000)
    has = labels.label_presence(np.random.default_rng(4), g)
    assert np.array_equal(has["teff"], g < labels.G_LIMIT)
    for key, share in (("logg", labels.LOGG_SHARE), ("mh", labels.MH_SHARE)):
        assert not (has[key] & ~has["teff"]).any()
        n = has["teff"].sum()
        assert abs(has[key].sum() / n - share) < 4 * np.sqrt(share * (1 - share) / n)


@pytest.fixture(scope="module")
def observed_block():
    """8,000 stars of the population, observed (with the stars' Galactic latitudes)."""
    grid = stellar.load_grid()
    rng = np.random.default_rng([9, 0])
    stars = population.draw_accepted(rng, 8000, grid)
    cols, truth, teff_blend = simulate._observe(rng, stars, grid)
    return stars, cols, truth, teff_blend


def test_coverages_follow_survey_limits(observed_block):
    stars, cols, truth, teff_blend = observed_block
    has = {c: cols[c] != SENTINEL for c in ("teff_gaia", "ps_rPSFMag", "j_m")}
    assert np.array_equal(has["teff_gaia"], cols["g"] < labels.G_LIMIT)
    assert (cols["dec"][has["ps_rPSFMag"]] > simulate.PS1_DEC_MIN).all()
    # no crowding loss: in the footprint and well inside r's saturation and depth (G 15-19 is
    # r ~15-20.5 for these colours), PS1 has nearly every star, in the plane as well (no
    # crowding factor stands in for the survey's limits)
    mid = (cols["dec"] > simulate.PS1_DEC_MIN) & (cols["g"] > 15.0) & (cols["g"] < 19.0)
    plane = mid & (np.abs(stars["b"]) < 2.0)
    assert plane.sum() > 300
    assert has["ps_rPSFMag"][plane].mean() > 0.97
    # 2MASS: every star 1 mag brighter than the 10-sigma limit in J is in the PSC
    bright_j = has["j_m"] & (cols["j_m"] < simulate.TMASS_10SIGMA["j"] - 1.0)
    assert bright_j.sum() > 500
    assert truth["a0_gspphot"].min() >= 0.0
    t = labels.combined_light_teff(
        stars["teff1"], stars["teff2"], stars["radius1"], stars["radius2"]
    )
    assert np.array_equal(teff_blend, t)
