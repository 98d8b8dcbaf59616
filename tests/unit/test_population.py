"""Tests of the population synthesis (ebteff.sim.population) and the Galaxy and its dust
(ebteff.sim.galaxy): each ingredient against its source, and the synthesis sky end to end."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from ebteff.io import sha256sum
from ebteff.schema import COLUMNS, OPTIONAL_COLUMNS
from ebteff.sim import galaxy, population, simulate

KEPLER = population.KEPLER_RSUN

# --- Initial mass function, evolution, binaries


def test_kroupa_slope_above_half_a_solar_mass():
    """Log-uniform masses thinned by kroupa_weight follow dN/dM ~ M^-2.3 above 0.5 M_sun.

    Counts in [0.5, 1) and [1, 2) M_sun must have the ratio 2^1.3 = 2.462 (integrals of
    M^-2.3); with n1 ~ 3e4, n2 ~ 1.2e4 the ratio's standard error is ratio sqrt(1/n1 + 1/n2)
    ~ 0.027: 4 standard errors allowed.
    """
    rng = np.random.default_rng(1)
    lo, hi = population.IMF_MASS_RANGE
    mass = np.exp(rng.uniform(math.log(lo), math.log(hi), 2_000_000))
    mass = mass[rng.random(mass.size) < population.kroupa_weight(mass)]
    n1 = np.sum((mass >= 0.5) & (mass < 1.0))
    n2 = np.sum((mass >= 1.0) & (mass < 2.0))
    ratio = n1 / n2
    se = ratio * math.sqrt(1 / n1 + 1 / n2)
    assert abs(ratio - 2.0**1.3) < 4 * se, (ratio, se)
    # Below the break the slope is 1.3: [0.1, 0.2) against [0.2, 0.4) is 2^0.3.
    m1 = np.sum((mass >= 0.1) & (mass < 0.2))
    m2 = np.sum((mass >= 0.2) & (mass < 0.4))
    assert abs(m1 / m2 - 2.0**0.3) < 4 * (m1 / m2) * math.sqrt(1 / m1 + 1 / m2)
    assert population.kroupa_weight(np.array([lo]))[0] == pytest.approx(1.0)
    assert np.all(population.kroupa_weight(np.geomspace(lo, hi, 50)) <= 1.0)


def test_tilted_proposals_are_the_imf_times_the_tilt():
    """draw_tilted_imf against its definition: above HIGH_MASS_PIVOT the tilted density is
    M^(-2.3 + HIGH_MASS_TILT), so the counts in [2, 4) and [4, 8) M_sun have the ratio
    2^(1.3 - HIGH_MASS_TILT); between 0.5 and 1 M_sun it is M^-0.3 (counts in [0.5, 0.7) and
    [0.7, 1) in the ratio of the integrals). 5 standard errors of each ratio allowed."""
    rng = np.random.default_rng(6)
    mass = population.draw_tilted_imf(rng, 1_000_000)
    assert np.unique(mass).size == mass.size

    def check(a, b, c, expected):
        n1 = np.sum((mass >= a) & (mass < b))
        n2 = np.sum((mass >= b) & (mass < c))
        assert abs(n1 / n2 - expected) < 5 * (n1 / n2) * math.sqrt(1 / n1 + 1 / n2), (a, n1 / n2)

    check(2.0, 4.0, 8.0, 2.0 ** (1.3 - population.HIGH_MASS_TILT))
    check(0.5, 0.7, 1.0, (0.7**0.7 - 0.5**0.7) / (1.0**0.7 - 0.7**0.7))


def test_the_sun_and_a_red_giant():
    """The Sun at 4.57 Gyr within 4% of L = R = 1; a 1 M_sun star at 11.9 Gyr on the giant
    branch; the red-giant-branch lifetime of 1 M_sun of order 0.5-1 Gyr; stars past core-helium
    burning are gone; massive stars hot on their main sequence."""
    out = population.evolve(
        np.array([1.0, 1.0, 1.0, 10.0]), np.array([4570.0, 11900.0, 13500.0, 5.0])
    )
    assert out["lum"][0] == pytest.approx(1.0, abs=0.04)
    assert out["radius"][0] == pytest.approx(1.0, abs=0.04)
    assert out["phase"][1] == population.GB and 4000 < out["teff"][1] < 5200
    assert not out["alive"][2]
    assert out["phase"][3] == population.MS and out["teff"][3] > 20_000
    tracks = population.track(np.array([1.0]))
    assert 500 < tracks["t_gb"][0] < 1200
    assert 9_000 < tracks["t_ms"][0] < 12_000
    # The red clump: a low-mass core-helium-burning star (Girardi 2016: ~4,500-5,000 K, ~50 L_sun).
    t = tracks["t_bgb"][0] + tracks["t_gb"][0] + 50.0
    clump = population.evolve(np.array([1.0]), np.array([t]))
    assert clump["phase"][0] == population.CHEB
    assert 4300 < clump["teff"][0] < 5200 and 30 < clump["lum"][0] < 80


def test_early_asymptotic_giant_branch():
    """After core-helium burning a 1 M_sun star climbs the early AGB (HPT00 Sect. 5.4): from
    L_BAGB (eq. 56: b29 M^b30 = 162.6 L_sun at 1 M_sun) its CO core grows on the core-mass law at
    A_He = 7.66e-5 (eq. 68) to the dredge-up core mass (eqs. 66, 69), with the AGB radius of eq.
    74 (by hand below); a few Myr, a few per cent of t_He; 4,300 K and cooler; gone after. The
    AGB radius is continuous across its two mass branches; the most massive stars have none."""
    m = np.array([1.0])
    k = population.track(m)
    assert k["l_bagb"][0] == pytest.approx(1.626062e2, rel=1e-4)
    mc_du = (0.1445216**4 + 0.5114149**4) ** 0.25  # <= 0.8: the dredge-up core is M_c,BAGB
    assert k["l_du"][0] == pytest.approx(k["d"][0] * mc_du**6, rel=1e-9)
    d = k["d"][0]
    t_eagb = ((d / 162.6062) ** (5 / 6) - (d / k["l_du"][0]) ** (5 / 6)) / (5 * 7.66e-5 * d)
    assert k["t_eagb"][0] == pytest.approx(t_eagb, rel=1e-4)
    assert 2.0 < k["t_eagb"][0] < 0.1 * k["t_he"][0]
    t_bagb = k["t_bgb"][0] + k["t_gb"][0] + k["t_he"][0]
    ages = t_bagb + k["t_eagb"][0] * np.array([1e-9, 0.5, 1.0 - 1e-9, 1.0 + 1e-6])
    out = population.evolve(np.full(4, 1.0), ages)
    assert list(out["phase"][:3]) == [population.EAGB] * 3 and not out["alive"][3]
    assert out["lum"][0] == pytest.approx(162.6, rel=1e-3)
    assert out["lum"][2] == pytest.approx(k["l_du"][0], rel=1e-3)
    by_hand = (1.110866 - 0.1584333) * (out["lum"] ** 0.397 + 0.3828 * out["lum"] ** 0.7550)
    assert np.allclose(out["radius"][:3], by_hand[:3], rtol=1e-4)
    assert np.all(out["teff"][:3] < 4300) and out["radius"][2] > 100
    # Continuity at the ends of the interpolated mass range.
    eps = 1e-9
    for edge in (population.M_HEF - 0.2, population.M_HEF):
        lo, hi = population.r_agb(np.array([edge - eps, edge + eps]), np.array([1000.0, 1000.0]))
        assert lo == pytest.approx(hi, rel=1e-6)
    assert population.track(np.array([15.0]))["t_eagb"][0] == 0.0


def test_star_formation_histories_are_densities():
    """Each component's age density integrates to 1 over its window; the thin disc's declines
    with time (older stars more frequent by exp(age / tau))."""
    for c, (lo, hi) in population.AGE_RANGE_GYR.items():
        age = np.linspace(lo, hi, 20001)
        dens = population.sfh_density(np.full(age.size, c), age, lo, hi)
        assert np.trapezoid(dens, age) == pytest.approx(1.0, rel=1e-6)
    lo, hi = population.AGE_RANGE_GYR[galaxy.THIN]
    d = population.sfh_density(np.full(2, galaxy.THIN), np.array([0.0, 10.0]), lo, hi)
    assert d[1] / d[0] == pytest.approx(math.exp(10.0 / population.THIN_SFR_TIMESCALE_GYR))


def test_eclipse_weight_is_the_integral_over_the_period_distribution():
    """W / f_bin equals the Monte Carlo mean of (R1 + R2) / a over log-normal periods with
    a > R1 + R2 (zero otherwise). 4e6 draws: the mean's relative standard error is < 0.5%."""
    rng = np.random.default_rng(2)
    radius_sum, mass = 2.2, 1.9
    w, x_min, mu_eb = population.eclipse_weight(np.array([radius_sum]), np.array([mass]))
    x = rng.normal(population.LOG_PERIOD_MEAN, population.LOG_PERIOD_SIGMA, 4_000_000)
    a = population.KEPLER_RSUN * mass ** (1 / 3) * (10.0**x) ** (2 / 3)
    p = np.where(a > radius_sum, radius_sum / a, 0.0)
    se = p.std() / math.sqrt(p.size)
    assert abs(p.mean() - w[0]) < 5 * se, (p.mean(), w[0], se)
    # The eclipsing pairs' periods: the same integrand, normalised; all beyond contact.
    logp = population.draw_log_period(rng, np.full(200_000, x_min[0]), mu_eb)
    assert logp.min() >= x_min[0]
    weights = p / p.sum()
    expected = np.sum(weights * x)
    assert abs(logp.mean() - expected) < 0.01
    # Short periods dominate: the median eclipsing period is below 10 days.
    assert np.median(10.0**logp) < 10.0


def test_m_dwarfs_have_closer_companions():
    """period_law: Raghavan's log-normal from 1 M_sun up, Duchene & Kraus's M-dwarf one at
    0.3 M_sun and below; the eclipse weight of an M-dwarf pair against Monte Carlo over its
    law (4e6 draws, 5 standard errors)."""
    mu, sigma = population.period_law(np.array([0.1, 0.3, 1.0, 3.0]))
    assert mu.tolist() == pytest.approx([3.85, 3.85, 5.03, 5.03])
    assert sigma.tolist() == pytest.approx([1.95, 1.95, 2.28, 2.28])
    rng = np.random.default_rng(9)
    radius_sum, mass = 0.55, 0.45
    w, _, _ = population.eclipse_weight(np.array([radius_sum]), np.array([mass]), np.array([0.3]))
    x = rng.normal(3.85, 1.95, 4_000_000)
    a = population.KEPLER_RSUN * mass ** (1 / 3) * (10.0**x) ** (2 / 3)
    p = np.where(a > radius_sum, radius_sum / a, 0.0)
    assert abs(p.mean() - w[0]) < 5 * p.std() / math.sqrt(p.size)


def test_massive_primaries_follow_sana():
    """The massive-star law: W / f_bin against Monte Carlo over f(log P) ~ (log P)^-0.55 on
    0.15-3.5 (drawn by inverse CDF: x = (x0^0.45 + u (x1^0.45 - x0^0.45))^(1/0.45)); the drawn
    eclipsing periods lie beyond contact and are far shorter than the solar-type ones."""
    rng = np.random.default_rng(4)
    radius_sum, mass = 9.0, 15.0
    x0, x1 = population.MASSIVE_LOG_PERIOD_RANGE
    k = population.MASSIVE_LOG_PERIOD_SLOPE + 1.0
    x = (x0**k + rng.random(4_000_000) * (x1**k - x0**k)) ** (1.0 / k)
    a = population.KEPLER_RSUN * mass ** (1 / 3) * (10.0**x) ** (2 / 3)
    p = np.where(a > radius_sum, radius_sum / a, 0.0)
    w = population.massive_eclipse_weight(np.array([radius_sum]), np.array([mass]))[0]
    assert abs(p.mean() - w) < 5 * p.std() / math.sqrt(p.size) + 1e-4 * w
    _, x_min, mu_eb = population.eclipse_weight(np.array([radius_sum]), np.array([mass]))
    drawn = population.draw_massive_log_period(rng, np.full(100_000, x_min[0]))
    assert drawn.min() >= x_min[0] - 1e-9
    assert abs(drawn.mean() - np.sum(p * x) / p.sum()) < 0.01
    assert population.close_fraction(np.array([1.0, 16.0, 40.0])).tolist() == [0.0, 1.0, 1.0]


def test_kepler_and_detection():
    """a = 215 R_sun for 1 M_sun at P = 365.25 d; detection probability rises with R/a."""
    a = population.KEPLER_RSUN * 1.0 ** (1 / 3) * 365.25 ** (2 / 3)
    assert a == pytest.approx(215.0, rel=0.005)
    p = population.detection_probability(np.array([2.0, 2.0, 2.0]), np.array([2.5, 20.0, 200.0]))
    assert p[0] > 0.99 and p[0] > p[1] > p[2] > 0.0


def test_multiplicity_follows_duchene_kraus():
    f = population.multiplicity(np.array([0.08, 1.0, 30.0, 100.0]))
    assert f.tolist() == pytest.approx([0.22, 0.44, 0.80, 0.80])


def test_combined_teff():
    t = population.combined_teff(
        np.array([6000.0, 6000.0]),
        np.array([6000.0, 3000.0]),
        np.array([1.0, 1.0]),
        np.array([1.0, 1.0]),
    )
    assert t[0] == pytest.approx(6000.0)
    assert t[1] == pytest.approx(((6000.0**4 + 3000.0**4) / 2) ** 0.25)


def test_roche_lobe_and_contact_geometry():
    """Eggleton's lobe: 0.3789 a at q = 1. A 1.0 + 0.4 M_sun contact pair with a 1 R_sun primary
    has a = R1 / r_L(2.5) ~ 2.2 R_sun, P ~ 0.31 d (a W UMa star), one Teff for both components
    that carries their summed luminosity, and R2 / R1 = r_L(0.4) / r_L(2.5)."""
    assert population.roche_lobe(np.array([1.0]))[0] == pytest.approx(0.3789, abs=2e-4)
    cb = population.contact_binary(
        np.array([1.0]), np.array([0.4]), np.array([1.0]), np.array([0.03]), np.array([1.0])
    )
    r_l1, r_l2 = population.roche_lobe(np.array([2.5, 0.4]))
    assert cb["separation"][0] == pytest.approx(1.0 / r_l1)
    assert cb["radius2"][0] == pytest.approx(r_l2 / r_l1)
    assert 0.25 < cb["period"][0] < 0.4
    lum = (1.0 + cb["radius2"][0] ** 2) * (cb["teff"][0] / population.L_SUN_TEFF) ** 4
    assert lum == pytest.approx(1.03)
    assert cb["m_bol"][0] == pytest.approx(population.M_BOL_SUN - 2.5 * math.log10(1.03))


def test_contact_frequency_and_mass_ratios():
    """Rucinski's frequencies by M_V, and Q(q) ~ (1 - q)^6 on [0.1, 1]: mean 0.1 + 0.9 / 8."""
    rfo = population.contact_rfo(np.array([4.0, 1.5, 1.0, 0.5, -1.0]))
    assert rfo.tolist() == pytest.approx([1 / 500, 1 / 5000, 1 / 5000, 1 / 30000, 1 / 30000])
    q = population.draw_contact_q(np.random.default_rng(3), 200_000, np.full(200_000, 0.1))
    assert q.min() >= 0.1 and q.max() <= 1.0
    # sd of q is 0.9 sqrt(7 / (8^2 9)) = 0.099; 5 standard errors of the mean: 0.0011.
    assert q.mean() == pytest.approx(0.1 + 0.9 / 8.0, abs=0.0011)


def test_ellipsoidal_amplitude_and_period_range():
    """Morris & Naftilan's alpha at u = 0.6, tau = 0.4 is 0.15 x 15.6 x 1.4 / 2.4 = 1.365. A
    1.2 M_sun, 10 R_sun giant with a 0.6 M_sun dwarf that it outshines: C = alpha q R1^3 = 682.5
    R_sun^3; at a = 40 R_sun the semi-amplitude is C / a^3 = 1.07% (23 mmag peak to peak). The
    visible periods run from Roche-lobe contact (a = R1 / r_L(2)) to where the largest amplitude
    is DEPTH_SIGMAS epoch sigmas at the noise floor; the proposal's bound (the more distorted star
    alone) is never below the coefficient."""
    assert population.ellipsoidal_alpha() == pytest.approx(1.365)
    g1, g2 = np.array([-1.0]), np.array([9.0])  # the dwarf 10 mag fainter
    c = population.ellipsoidal_coefficient(
        g1, g2, np.array([1.2]), np.array([0.6]), np.array([10.0]), np.array([0.6])
    )
    assert c[0] == pytest.approx(1.365 * 0.5 * 1000.0, rel=1e-3)
    assert population.flux_to_peak_to_peak(c / 40.0**3)[0] == pytest.approx(0.0232, abs=2e-4)
    a_roche = population.roche_separation(np.array([1.2]), np.array([0.6]), 10.0, 0.6)
    assert a_roche[0] == pytest.approx(10.0 / population.roche_lobe(np.array([2.0]))[0])
    lo, hi = population.ellipsoidal_period_range(c, a_roche, np.array([1.8]))
    floor = population.DEPTH_SIGMAS * math.sqrt(population.GAIA_EPOCHS) * 0.0003
    a_hi = KEPLER * 1.8 ** (1 / 3) * (10.0 ** hi[0]) ** (2 / 3)
    assert population.flux_to_peak_to_peak(c / a_hi**3)[0] == pytest.approx(floor)
    assert lo[0] == pytest.approx(population.log_period_at(a_roche, np.array([1.8]))[0])
    rng = np.random.default_rng(5)
    m1, m2 = rng.uniform(0.1, 5.0, (2, 10_000))
    r1, r2 = rng.uniform(0.1, 50.0, (2, 10_000))
    g1, g2 = rng.uniform(-3.0, 15.0, (2, 10_000))
    bound = population.ellipsoidal_alpha() * np.maximum(m2 / m1 * r1**3, m1 / m2 * r2**3)
    assert np.all(population.ellipsoidal_coefficient(g1, g2, m1, m2, r1, r2) <= bound * 1.000001)


def test_periods_drawn_between_bounds():
    """Truncated solar-type and massive-star periods stay inside [lo, hi] and, for a range much
    wider than the distribution, reproduce its mean (5.03 for a 1 M_sun primary)."""
    rng = np.random.default_rng(6)
    n = 100_000
    lo, hi = np.full(n, 0.5), np.full(n, 2.0)
    for massive in (False, True):
        x = population.draw_log_period_between(rng, np.ones(n), lo, hi, np.full(n, massive))
        assert x.min() >= 0.5 - 1e-9 and x.max() <= 2.0 + 1e-9
    x = population.draw_log_period_between(
        rng, np.ones(n), np.full(n, -20.0), np.full(n, 30.0), np.zeros(n, bool)
    )
    # sd 2.28: 5 standard errors of the mean, 0.036
    assert x.mean() == pytest.approx(population.LOG_PERIOD_MEAN, abs=0.036)


# --- Galaxy and dust


def _direct_extinction(d, l_deg, b_deg, steps=400_001):
    """The dust density of the module docstring summed along the line of sight (trapezoid)."""
    s = np.linspace(0.0, d, steps)
    lr, br = math.radians(l_deg), math.radians(b_deg)
    x = galaxy.R0_PC - s * math.cos(br) * math.cos(lr)
    y = s * math.cos(br) * math.sin(lr)
    z = galaxy.Z_SUN_PC + s * math.sin(br)
    radius = np.hypot(x, y)
    rho = (
        galaxy.DUST_KAPPA_MAG_PER_PC
        * math.exp(galaxy.Z_SUN_PC / galaxy.DUST_SCALE_HEIGHT_PC)
        * np.exp(-(radius - galaxy.R0_PC) / galaxy.DUST_SCALE_LENGTH_PC)
        * np.exp(-np.abs(z) / galaxy.dust_scale_height(radius))
    )
    return float(np.trapezoid(rho, s))


def test_dust_integral_against_closed_forms():
    """The smooth disc: toward the north pole R stays R0: A = kappa h (1 - exp(-d / h)) (kappa
    the rate at the Sun). Elsewhere against a direct integration of the density (flare
    included): 1e-4 along the anticentre direction, 1e-3 toward the bulge."""
    h = galaxy.DUST_SCALE_HEIGHT_PC
    kappa = galaxy.DUST_KAPPA_MAG_PER_PC
    d = np.array([100.0, 1000.0, 5000.0, 20000.0])
    anti = galaxy.disc_extinction_to(d, np.full(4, 180.0), np.zeros(4))
    assert anti == pytest.approx([_direct_extinction(x, 180.0, 0.0) for x in d], rel=1e-4)
    for l_deg, b_deg in ((1.0, -3.9), (10.0, -5.0), (0.0, -2.0), (300.0, -1.0)):
        got = galaxy.disc_extinction_to(np.array([8000.0]), [l_deg], [b_deg])[0]
        assert got == pytest.approx(_direct_extinction(8000.0, l_deg, b_deg), rel=1e-3)
    pole = galaxy.disc_extinction_to(d, np.zeros(4), np.full(4, 90.0))
    assert pole == pytest.approx(kappa * h * -np.expm1(-d / h), rel=1e-6)
    # Denser toward the inner Galaxy; the full column is at least the column to any star.
    assert galaxy.extinction_to(np.array([1000.0]), [0.0], [0.0])[0] > anti[1]
    full = galaxy.full_column_ebv(np.array([0.0, 90.0]), np.array([0.0, 30.0])) * galaxy.R_V
    assert np.all(
        full >= galaxy.extinction_to(np.array([8000.0, 8000.0]), [0.0, 90.0], [0.0, 30.0])
    )
    # The Galactic-centre column is the measured A_V ~ 30 mag (module docstring; 20-40 here).
    assert 20.0 < galaxy.extinction_to(np.array([8200.0]), [0.0], [0.0])[0] < 40.0
    # Baade's window, (l, b) = (1.001, -3.885), to the bulge: within the A_V = 1.26-2.79 of
    # Stanek (1996); the flare: 73 pc inside 5 kpc, 134 pc at the Sun, 244 pc beyond 14 kpc.
    window = galaxy.extinction_to(np.array([8000.0]), [1.001], [-3.885])[0]
    assert 1.26 < window < 2.79
    heights = galaxy.dust_scale_height(np.array([2000.0, galaxy.R0_PC, 20000.0]))
    assert heights == pytest.approx([73.2, 134.0, 244.2], abs=0.1)


def test_local_bubble():
    """No dust inside the Local Bubble (R = 170 pc); beyond it the wall holds the dust the disc
    had inside it, mass per solid angle kept, so the bubble takes integral_0^R dA_V/ds (1 -
    s^2 / R^2) ds. Toward the north pole (R0 throughout, density kappa exp(-s / h)) the wall's
    column is kappa / R^2 integral_0^R s^2 exp(-s / h) ds = kappa h^3 / R^2 (2 - exp(-R / h)
    ((R / h)^2 + 2 R / h + 2)) and a star's A0 that plus the disc's from R on. Across the
    mid-plane (lines of sight downward) against a direct integration. In the plane toward the
    anticentre the wall holds ~1/3 of the emptied column (a nearly uniform density: the
    integral of s^2 / R^2 over [0, R] is R / 3)."""
    h = galaxy.DUST_SCALE_HEIGHT_PC
    kappa = galaxy.DUST_KAPPA_MAG_PER_PC
    r = galaxy.LOCAL_BUBBLE_PC
    near = galaxy.extinction_to(np.array([10.0, 100.0, r - 1e-6]), np.zeros(3), np.zeros(3))
    assert np.all(near == 0.0)
    x = r / h
    wall = kappa * h**3 / r**2 * (2.0 - math.exp(-x) * (x * x + 2 * x + 2))
    removed = galaxy.bubble_removed_column(np.array([0.0]), np.array([90.0]))[0]
    assert removed == pytest.approx(kappa * h * -math.expm1(-x) - wall, rel=1e-9)
    d = np.array([500.0, 5000.0])
    pole = galaxy.extinction_to(d, np.zeros(2), np.full(2, 90.0))
    assert pole == pytest.approx(kappa * h * (math.exp(-x) - np.exp(-d / h)) + wall, rel=1e-6)
    for l_deg, b_deg in ((0.0, -30.0), (120.0, -8.0), (250.0, -89.0)):
        s = np.linspace(0.0, r, 2_000_001)
        rho = galaxy.dust_density(s, l_deg, b_deg)
        direct = float(np.trapezoid(rho * (1.0 - (s / r) ** 2), s))
        got = galaxy.bubble_removed_column(np.array([l_deg]), np.array([b_deg]))[0]
        assert got == pytest.approx(direct, rel=1e-6)
    emptied = galaxy.disc_extinction_to(np.array([r]), [180.0], [0.0])[0]
    taken = galaxy.bubble_removed_column(np.array([180.0]), np.array([0.0]))[0]
    assert 1.0 - taken / emptied == pytest.approx(1.0 / 3.0, rel=0.02)
    # Scalars and arrays alike.
    assert np.shape(galaxy.extinction_to(1000.0, 10.0, 5.0)) == ()
    assert galaxy.extinction_to(np.array([[1000.0, 50.0]]), 10.0, 5.0).shape == (1, 2)


def test_extinction_lower_bound_is_below_the_integral():
    rng = np.random.default_rng(8)
    n = 50_000
    d = 10.0 ** rng.uniform(1.0, 4.7, n)
    l_deg = rng.uniform(0.0, 360.0, n)
    b_deg = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))) * np.where(
        rng.random(n) < 0.5, 0.05, 1
    )
    low = galaxy.extinction_lower_bound(d, l_deg, b_deg)
    full = galaxy.extinction_to(d, l_deg, b_deg)
    assert np.all(low <= full)
    # Useful where the columns are large: in the plane toward the inner Galaxy beyond 1 kpc the
    # disc's own bound recovers a median 47% of the column (measured on these draws) and the
    # bubble can take at most ~0.15 mag of columns of several mag.
    inner = (np.abs(b_deg) < 5) & ((l_deg < 60) | (l_deg > 300)) & (d > 1000)
    assert np.median(low[inner] / full[inner]) > 0.4


def test_disc_positions_follow_the_density():
    """Thin-disc heights of stars of one age are Laplace with the heating law's scale height
    (mean |z| = h; 2e5 draws: standard error h / 450), and the Sun sees the bulge toward l = 0."""
    rng = np.random.default_rng(3)
    n = 200_000
    comp = np.full(n, galaxy.THIN, dtype=np.int8)
    x, y, z = galaxy.draw_positions(rng, comp, np.full(n, 5.0))
    h = galaxy.thin_scale_height(5.0)
    assert h == pytest.approx(galaxy.THIN_SCALE_HEIGHT_PC)
    assert abs(np.mean(np.abs(z)) - h) < 5 * h / math.sqrt(n)
    radius = np.hypot(x, y)
    # R ~ Gamma(2, L): mean 2L.
    assert abs(radius.mean() - 2 * galaxy.THIN_SCALE_LENGTH_PC) < 5 * math.sqrt(
        2
    ) * galaxy.THIN_SCALE_LENGTH_PC / math.sqrt(n)
    xb, yb, zb = galaxy.draw_positions(
        rng, np.full(n, galaxy.BULGE, dtype=np.int8), np.full(n, 10.0)
    )
    d, l_deg, b_deg = galaxy.heliocentric(xb, yb, zb)
    assert abs(np.median(d) - galaxy.R0_PC) < 300
    assert np.mean((l_deg < 15) | (l_deg > 345)) > 0.9


# --- The synthesis sky end to end


def _run(directory, n, seed, block_size=2_000):
    paths = [directory / f"{name}.parquet" for name in ("photometry", "truth", "reference")]
    stats = simulate.simulate_catalogue(n, seed, *paths, block_size=block_size)
    return paths if directory.name != "with_stats" else (paths, stats)


@pytest.fixture(scope="module")
def synthesis(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synthesis") / "with_stats"
    directory.mkdir()
    paths, stats = _run(directory, 6_000, 11)
    return [pl.read_parquet(p) for p in paths], paths, stats


def test_synthesis_is_deterministic(synthesis, tmp_path):
    _, paths, _ = synthesis
    again = _run(tmp_path, 6_000, 11)
    for a, b in zip(paths, again, strict=True):
        assert sha256sum(a) == sha256sum(b)
    (tmp_path / "other").mkdir()
    other = _run(tmp_path / "other", 6_000, 12)
    assert sha256sum(other[0]) != sha256sum(paths[0])


def test_synthesis_table_and_truth(synthesis):
    (photometry, truth, _), _, stats = synthesis
    # The A0 percentiles the simulator reports are those of the truth.
    a0 = truth["a0"].to_numpy()
    assert stats["a0_percentiles"]["all"] == pytest.approx(np.percentile(a0, [10, 50, 90]))
    assert len(stats["a0_percentiles"]["labelled"]) == 3
    assert photometry.schema == pl.Schema({**COLUMNS, **OPTIONAL_COLUMNS})
    assert photometry.height == truth.height == 6_000
    assert photometry.null_count().sum_horizontal().item() == 0
    # Gaia's selection: nothing fainter than G = 20.5 (noise-free), noisy g a little beyond.
    assert photometry["g"].max() < population.G_FAINT + 0.2
    frequency = photometry["frequency"].to_numpy()
    period = truth["period"].to_numpy()
    assert np.allclose(frequency, 1.0 / period, rtol=1e-5, atol=1e-8)
    # The DR3 catalogue's period cut.
    assert period.min() >= population.GAIA_P_MIN_DAYS
    # E(B-V) to infinity is at least the star's own A0 / R_V (to the quadrature's accuracy,
    # a few 1e-4 relative, and the table's rounding to 1e-5 mag).
    full = photometry["ebv_sandf"].to_numpy() * galaxy.R_V
    assert np.all(full >= truth["a0"].to_numpy() * (1 - 2e-3) - 1e-4)
    # Every star's components: a main-sequence, subgiant, giant, clump or early-AGB primary; no
    # remnant.
    assert set(truth["stage1"].unique().to_list()) <= {0, 1, 2, 3, 4}
    assert set(truth["component"].unique().to_list()) <= {0, 1, 2}
    # Contact binaries: one Teff for both components, both on the main sequence, periods above
    # the 0.22 d cut-off; they are a sizeable minority (a few per cent to half of the stars).
    contact = (truth["teff1"] == truth["teff2"]).to_numpy()
    assert 0.03 < contact.mean() < 0.5
    assert np.all(period[contact] >= population.CONTACT_P_MIN_DAYS)
    assert np.all(truth["stage1"].to_numpy()[contact] == population.MS)
    # Ellipsoidal variables: non-eclipsing pairs wider than Roche-lobe contact whose largest
    # amplitude (sin i = 1) clears DEPTH_SIGMAS epoch sigmas at their noise-free G.
    kind = truth["binary_class"].to_numpy()
    assert set(np.unique(kind)) == {population.DETACHED, population.CONTACT, population.ELLIPSOIDAL}
    assert np.array_equal(kind == population.CONTACT, contact)
    ell = kind == population.ELLIPSOIDAL
    t = {k: truth[k].to_numpy()[ell] for k in ("mass1", "mass2", "radius1", "radius2")}
    a = KEPLER * np.cbrt(t["mass1"] + t["mass2"]) * period[ell] ** (2 / 3)
    assert np.all(a >= population.roche_separation(*t.values()) * (1 - 1e-9))
    bound = population.ellipsoidal_alpha() * np.maximum(
        t["mass2"] / t["mass1"] * t["radius1"] ** 3, t["mass1"] / t["mass2"] * t["radius2"] ** 3
    )
    g_true = photometry["g"].to_numpy()[ell] - 0.1  # noisy g: a margin of several sigmas
    limit = population.DEPTH_SIGMAS * population.epoch_sigma(g_true)
    assert np.all(population.flux_to_peak_to_peak(bound / a**3) >= limit)
