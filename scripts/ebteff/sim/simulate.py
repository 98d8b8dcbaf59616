"""A physics-based simulator of the upstream photometry table (the workflow's offline default).

:func:`simulate_catalogue` writes, block by block, three Parquet files:

1. the photometry table, with exactly the upstream columns, dtypes and -999.0 sentinels
   (:data:`ebteff.schema.COLUMNS`), sorted by ``source_id``;
2. the truth (true Teff of both components, blended Teff ``teff_blend`` as defined below, the
   blend's log g ``logg_blend`` (what GSP-Phot's log g of the blend scatters around), logg,
   [M/H], A0, distance, radii, masses, ``light_ratio`` = F2/F1 in unreddened G, ``giant``, and
   ``a0_gspphot``, the A0 the label was read with), which models never read;
3. a spectroscopic-quality reference sample (``teff_ref``, ``teff_ref_err``) for fitting the
   hot-star correction.

Each star is an eclipsing binary: two components whose fluxes add in every band. Magnitudes come
from :mod:`ebteff.sim.stellar` (Kurucz grid, published relations); this module draws the population,
places it in a dusty Galactic disc, selects what Gaia, Pan-STARRS1 and 2MASS would see, adds noise
and makes GSP-Phot-like labels. Every random number comes from ``np.random.default_rng([seed,
block])``, so the same (n_stars, seed, block_size) gives byte-identical files.

Observation has two laws (``sky``). "synthesis": survey coverages follow from the surveys' limits
and footprints alone, the labels from :mod:`ebteff.sim.labels` (Andrae et al. 2023), and
``teff_blend`` is the Teff of the combined light, (sum R^2 T^4 / sum R^2)^(1/4). "legacy" (the
knobs tuned for the legacy population, below):

The legacy GSP-Phot-like label ``teff_gaia`` (exact law, for tests of the correction):

1. T_blend = (F1 T1 + F2 T2) / (F1 + F2), F = each component's unreddened G-band flux.
2. The Teff-A0 degeneracy (Andrae et al. 2023, A&A 674, A27): GSP-Phot's A0 is off by
   dA ~ N(-BETA_EXTINCTION A0, 0.1 + 0.05 A0) (reddened stars have their extinction
   underestimated), and the Teff it reads slides along the degeneracy by that error:
   u(T_deg) = u(T_blend) + dA, with u(T) = integral of d ln T / Gamma(T) and
   Gamma(T) = min(k(T) / |d c0 / d ln T|, GAMMA_EXTINCTION), where c0(T) is the unreddened BP-RP
   and k(T) = E(BP-RP) / A0 (at A0 = 1) of a mean dwarf ([Fe/H] 0, logg of the dwarf sequence)
   in the Kurucz grid (:func:`degeneracy_table`). Below ~5,000 K, where the colour rate is the
   smaller, T_deg is the Teff of the dwarf whose unreddened colour equals the star's colour
   dereddened by GSP-Phot's A0, so the label follows the observed colour; hotter, the slide is
   capped at GAMMA_EXTINCTION (see its comment). Then
   T_app = T_deg exp(s e), e ~ N(0, 1), s = LABEL_NOISE[0] + LABEL_NOISE[1] 10^(0.4 (G - 19)).
3. Hot-star bias: with B(T) = T + HOT_BIAS_A (T - 10000)^2 for T > 10000 (identity below),
   teff_gaia = B^-1(T_app). So P(T) = B(T), a degree-2 polynomial, maps teff_gaia back to T_app
   exactly; a correction fitted on the reference sample (whose teff_ref is T_blend) also absorbs
   the mean extinction slide of step 2 for hot labels.
4. Clipped to GSP-Phot's 2,500-50,000 K.

Because labels read cooler than the blend (mean ln(teff_gaia / T_blend) ~ -0.3), the true
primaries are hotter than the labels: TEFF_WEIGHTS is tuned so the *labels* follow DESIGN.md (mean
true blended Teff ~10,400 K for a label mean of ~7,300 K). Stars cooler than 3,500 K (below the
Kurucz grid) are drawn rarely as primaries (1.5% of dwarf candidates, ~1% of the catalogue);
low-mass secondaries are often that cool but contribute little light. Their Gaia magnitudes are
extrapolated (see :mod:`ebteff.sim.stellar`).

Population, Galaxy and survey knobs are module constants below; the ones marked "tuned" were set
so that every coverage of :data:`ebteff.schema.PUBLISHED_COVERAGE` and the label Teff bins of
DESIGN.md come out right in expectation (sampling scatter at 20,000 stars is ~0.35 points), and so
that the recommended model (RandomForestRegressor on g, bp, rp, bp_rp, g_bp, g_rp, target
log10 teff_gaia) is about as accurate on the simulation as on the real data (~68% of test stars
within 10%; DESIGN.md).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import special

from ..io import atomic_output
from ..schema import COLUMNS, COVERAGE_COLUMNS, OPTIONAL_COLUMNS, PUBLISHED_COVERAGE, SENTINEL
from . import labels, population, stellar
from .labels import (  # noqa: F401  (the label law's helpers, also used from here)
    GAMMA_EXTINCTION,
    HOT_BIAS_A,
    HOT_BIAS_T0,
    LABEL_TEFF_RANGE,
    degeneracy_table,
    degenerate_teff,
    hot_bias_correction,
    hot_bias_inverse,
)

log = logging.getLogger(__name__)

# --- Population (tuned so the GSP-Phot-like label distribution matches DESIGN.md)

#: Fraction of primaries that are red giants (logg 2.2-3.5, Teff 3,600-5,200 K).
GIANT_FRACTION = 0.10
GIANT_TEFF = (3600.0, 5200.0)
GIANT_LOGG = (2.2, 3.5)
GIANT_MASS = (0.9, 2.5)
#: Dwarf primaries: Teff drawn log-uniformly within each segment, segments chosen by weight.
#: Tuned (least squares on per-segment label distributions, then rounded) so the GSP-Phot-like
#: labels, not the true Teff, give DESIGN.md's bins (14/41/36/9% below 4,000, 4,000-6,000,
#: 6,000-10,000 K and above) and mean (~7,450 K): reddened stars read cooler (label law, step
#: 2), so the labels' 6,000-10,000 K bin is fed mostly by A-type primaries (7,500-10,000 K) and
#: their 4,000-6,000 K bin by reddened F/G stars. The hottest segment carries the hot labels:
#: young O/B binaries seen through ~1-2 mag of dust still read hotter than 10,000 K.
TEFF_EDGES = (2500.0, 3500.0, 4000.0, 5000.0, 6000.0, 7500.0, 10000.0, 15000.0, 25000.0, 48000.0)
TEFF_WEIGHTS = (0.015, 0.079, 0.069, 0.091, 0.086, 0.616, 0.002, 0.0015, 0.0405)
#: Mass ratio q = M2/M1 ~ Q_MIN + (1 - Q_MIN) Beta(a, b): eclipse surveys favour similar stars.
Q_MIN = 0.1
Q_BETA = (2.5, 1.5)
#: Spread of primary radii about the mean dwarf sequence (main-sequence evolution), dex.
RADIUS_SCATTER_DEX = 0.06
#: Thin-disc metallicity distribution, dex (approx.).
FEH_MEAN, FEH_STD, FEH_RANGE = -0.1, 0.25, (-2.5, 0.5)

# --- Galaxy: an exponential disc with a dust layer

#: Line-of-sight density p(d) ~ d (1 - exp(-d/h)) exp(-d / DISTANCE_SCALE_PC) (exponential disc
#: of scale height h seen from inside it), truncated where the binary would be fainter than the
#: Gaia limit even without dust. The long effective scale (tuned, with the completeness knobs
#: below, so the G distribution yields the published coverages) stands for the density rising
#: towards the inner Galaxy, which a single exponential cannot follow.
DISTANCE_SCALE_PC = 8000.0
#: The same for young binaries (primary hotter than 10,000 K): the young disc Gaia sees is
#: concentrated in the nearby spiral arms, within a few kpc (e.g. maps of OBA stars, Zari et al.
#: 2021, A&A 650, A112), not spread over 8 kpc like the old disc. Tuned (1.5 kpc): with the
#: 8 kpc scale, O/B binaries sat at 5-20 kpc behind 5-10 mag of dust, so their hot labels landed
#: on the red colours of M dwarfs and giants and biased any colour model of the cool stars (cool
#: labels predicted >1,000 K too hot). Side effect: hot binaries are bright (median G ~9.5; ~6%
#: of the catalogue has G < 10, against 0.7% with the 8 kpc scale).
DISTANCE_SCALE_YOUNG_PC = 1500.0
#: Stellar scale heights (pc): old (cool) stars and young (primary hotter than 10,000 K) stars.
SCALE_HEIGHT_PC = (300.0, 100.0)
#: Dust: dA0/ds = DUST_DENSITY exp(-|z| / DUST_SCALE_HEIGHT), mag/pc, times a log-normal clumping.
DUST_DENSITY = 1.0e-3
DUST_SCALE_HEIGHT_PC = 125.0
DUST_CLUMPING_DEX = 0.2
#: Extinction limit of the Kurucz grid. Lines of sight with more dust are rejected rather than
#: clipped to it (clipping made such stars up to several magnitudes too bright, and they were
#: mostly distant hot stars that then dominated the red end of the colour distribution).
A0_MAX = 10.0
#: Tangential velocity dispersion (km/s) per component: old and young stars.
VELOCITY_DISPERSION = (30.0, 15.0)
KM_S_PER_MAS_YR_KPC = 4.74047

# --- Selection

#: Gaia limits of the catalogue: fainter or brighter stars are not in it.
G_FAINT, G_BRIGHT = 20.7, 5.0
#: The Gaia eclipsing-binary classification loses completeness at the faint end (fewer good
#: epochs, larger noise; Mowlavi et al. 2023): logistic in G with this midpoint and width.
EB_COMPLETENESS_G50, EB_COMPLETENESS_WIDTH = 19.8, 0.35

#: GSP-Phot labels exist only for G < 19 (Andrae et al. 2023), with this completeness there;
#: logg and [M/H] are lost first for faint stars (logistic in G). Tuned to the published
#: coverages (58%, 56%, 48% of all stars).
GSPPHOT_G_LIMIT = 19.0
GSPPHOT_COMPLETENESS = 0.732
LOGG_G50, MH_G50, LABEL_WIDTH = 19.59, 18.433, 0.5

#: Pan-STARRS1 3pi: Dec > -30 deg (Chambers et al. 2016); soft PSF saturation and single-epoch
#: 5-sigma depths (approx., Chambers et al. 2016), mean over ~PS1_EPOCHS epochs.
PS1_DEC_MIN = -30.0
PS1_SATURATION = {"g": 13.8, "r": 13.8, "i": 13.8, "z": 13.3, "y": 12.3}
PS1_DEPTH = {"g": 22.0, "r": 21.8, "i": 21.5, "z": 20.9, "y": 19.7}
PS1_EPOCHS = 6
PS1_SOFTNESS = 0.15
#: Crowded low-latitude fields lose PS1 mean-object matches: completeness 1 - f exp(-|b|/b0)
#: (f tuned to the published 53.5%; footprint and saturation alone would give ~59%).
PS1_CROWDING = (0.177, 5.0)
#: PS1 Kron magnitudes of point sources: slightly brighter and noisier than PSF (approx.).
PS1_KRON_OFFSET, PS1_KRON_NOISE = -0.01, 1.5

#: 2MASS PSC: 10-sigma limits J 15.8, H 15.1, Ks 14.3 (Skrutskie et al. 2006); a source enters
#: with SNR >= 7 in at least one band, 2.5 log10(10/7) = 0.39 mag fainter (background-limited).
#: The offset used, 0.157 mag, is tuned to the published ~60% coverage: the simulated
#: population, rich in luminous A-type primaries (TEFF_WEIGHTS), is bright in the infrared, so
#: the detection limit sits 0.23 mag brighter than the SNR-7 figure.
TMASS_10SIGMA = {"j": 15.8, "h": 15.1, "k": 14.3}
TMASS_DETECTION_OFFSET = 0.157
#: The synthesis sky uses the PSC's own criterion without an offset: SNR >= 7 in a band is
#: 2.5 log10(10/7) = 0.387 mag fainter than its 10-sigma limit (background-limited).
TMASS_SNR7_OFFSET = 2.5 * math.log10(10.0 / 7.0)
TMASS_SOFTNESS = 0.15

# --- GSP-Phot-like labels (law in the module docstring; shared constants in ebteff.sim.labels)

#: Fraction of the true A0 that GSP-Phot misses (legacy sky only). Its Teff-A0 degeneracy
#: (Andrae et al. 2023; Teff and A0 maps of DR3 follow the extinction, Gaia DR3 documentation
#: Sect. 14.3.7) makes reddened stars read too cool; a real model trained on Gaia colours
#: reaches 68.5% within 10% of these labels (DESIGN.md), which requires the labels to follow
#: the *observed* (reddened) colour closely. Tuned (0.85): at 0.10 the labels ignored the
#: reddening (median A0 ~1.1 mag) and the same model reached only 30% within 10%. The synthesis
#: sky uses the A0 errors Andrae et al. publish instead (ebteff.sim.labels).
BETA_EXTINCTION = 0.85
#: Label noise in ln Teff, s = LABEL_NOISE[0] + LABEL_NOISE[1] 10^(0.4 (G - 19)) (legacy sky
#: only): a few per cent, as GSP-Phot against spectroscopic Teff (Andrae et al. 2023). The
#: floor is tuned (0.045) so the recommended model reaches ~68% within 10% on 200,000
#: simulated stars, as on the real data.
LABEL_NOISE = (0.045, 0.03)

# --- Reference sample

#: Weight of stars with teff_gaia > 10,000 K relative to cooler ones when drawing the sample.
REFERENCE_HOT_WEIGHT = 20.0
REFERENCE_ERROR_RANGE = (0.01, 0.02)

# --- source_id

#: Gaia DR3 source_id = HEALPix level-12 index * 2^35 + a running number, so ids span
#: [2^35, 12 * 4^12 * 2^35). Ours span that range in increasing order with random gaps; they do
#: not encode the simulated position.
SOURCE_ID_RANGE = (2**35, 12 * 4**12 * 2**35)

#: ICRS -> Galactic rotation (Hipparcos, ESA 1997, Vol. 1, Sect. 1.5.3): r_gal = R r_icrs.
ICRS_TO_GALACTIC = np.array(
    [
        [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
        [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
        [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669],
    ]
)

TRUTH_COLUMNS = (
    "source_id",
    "teff1",
    "teff2",
    "teff_blend",
    "logg_blend",
    "logg1",
    "logg2",
    "mh",
    "a0",
    "distance_pc",
    "light_ratio",
    "radius1",
    "radius2",
    "mass1",
    "mass2",
    "giant",
    "a0_gspphot",
    "period",
    "ebv_sandf",
    "component",
    "age",
    "stage1",
    "stage2",
)
#: Integer truth columns (the others are floats, ``giant`` boolean).
TRUTH_INTEGERS = ("source_id", "component", "stage1", "stage2")
#: The skies :func:`simulate_catalogue` can draw: the population synthesis of
#: :mod:`ebteff.sim.population` or the earlier weighted draw of this module.
SKIES = ("legacy", "synthesis")
REFERENCE_COLUMNS = ("source_id", "teff_ref", "teff_ref_err")
#: Percentiles of A0 that the simulator logs and returns (all stars and the labelled ones).
A0_PERCENTILES = (10, 50, 90)


# --- Small pure helpers (tested directly)


def galactic_to_icrs(l_deg, b_deg) -> tuple[np.ndarray, np.ndarray]:
    """Right ascension and declination (deg, ICRS) of Galactic (l, b) in degrees."""
    lr, br = np.radians(l_deg), np.radians(b_deg)
    gal = np.stack([np.cos(br) * np.cos(lr), np.cos(br) * np.sin(lr), np.sin(br)])
    x, y, z = ICRS_TO_GALACTIC.T @ gal
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    dec = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    return ra, dec


def _logistic(x) -> np.ndarray:
    """Soft completeness: 1 well inside a limit, 1/2 at it, 0 well beyond (argument in widths)."""
    return special.expit(x)


def _mag_sigma(mag, floor, sigma_ref, mag_ref) -> np.ndarray:
    """Uncertainty growing as the flux falls: floor (calibration) plus background-limited term."""
    return np.hypot(floor, sigma_ref * 10.0 ** (0.4 * (mag - mag_ref)))


def gaia_sigma(band: str, mag) -> np.ndarray:
    """Gaia DR3-like mean-magnitude uncertainties (approx., after Riello et al. 2021).

    G: 0.3 mmag floor, 6 mmag at G = 20; BP: 1 mmag floor, 0.05 at BP = 20; RP: 1 mmag floor,
    0.04 at RP = 20 (so ~0.02-0.05 in BP/RP at G ~ 19-20).
    """
    floor, ref = {"G": (0.0003, 0.006), "BP": (0.001, 0.05), "RP": (0.001, 0.04)}[band]
    return _mag_sigma(mag, floor, ref, 20.0)


def parallax_sigma(g) -> np.ndarray:
    """Gaia (E)DR3 parallax uncertainty, mas: sqrt(40 + 800 z + 30 z^2) uas (pygaia)."""
    z = 10.0 ** (0.4 * (np.maximum(g, 13.0) - 15.0))
    return np.sqrt(40.0 + 800.0 * z + 30.0 * z * z) / 1000.0


# --- Population


def _draw_primary_teff(rng, n) -> np.ndarray:
    weights = np.asarray(TEFF_WEIGHTS) / np.sum(TEFF_WEIGHTS)
    seg = rng.choice(len(weights), size=n, p=weights)
    lo = np.log10(np.asarray(TEFF_EDGES[:-1]))[seg]
    hi = np.log10(np.asarray(TEFF_EDGES[1:]))[seg]
    return 10.0 ** rng.uniform(lo, hi)


def _draw_binaries(rng, n, grid) -> dict[str, np.ndarray]:
    """Intrinsic properties of n binaries and their unreddened absolute G, BP, RP."""
    giant = rng.random(n) < GIANT_FRACTION
    teff1 = _draw_primary_teff(rng, n)
    mass1, radius1 = stellar.dwarf_sequence(teff1)
    radius1 = radius1 * 10.0 ** rng.normal(0.0, RADIUS_SCATTER_DEX, n)
    # Giants: Teff, mass and logg drawn; radius from R^2 = G M / g.
    g_teff = 10.0 ** rng.uniform(*np.log10(GIANT_TEFF), n)
    g_mass = rng.uniform(*GIANT_MASS, n)
    g_logg = rng.uniform(*GIANT_LOGG, n)
    teff1 = np.where(giant, g_teff, teff1)
    mass1 = np.where(giant, g_mass, mass1)
    radius1 = np.where(giant, np.sqrt(g_mass / 10.0 ** (g_logg - stellar.LOGG_SUN)), radius1)
    logg1 = stellar.logg_from_mass_radius(mass1, radius1)
    # Secondary: a dwarf of mass q M1 on the mean sequence (Pecaut & Mamajek 2013).
    q = Q_MIN + (1.0 - Q_MIN) * rng.beta(*Q_BETA, n)
    mass2 = np.clip(q * mass1, *stellar.DWARF_MASS_RANGE)
    teff2, radius2 = stellar.dwarf_sequence_from_mass(mass2)
    radius2 = radius2 * 10.0 ** rng.normal(0.0, RADIUS_SCATTER_DEX / 2.0, n)
    logg2 = stellar.logg_from_mass_radius(mass2, radius2)
    feh = np.clip(rng.normal(FEH_MEAN, FEH_STD, n), *FEH_RANGE)
    abs1 = grid.absolute_magnitudes(teff1, logg1, feh, radius1)
    abs2 = grid.absolute_magnitudes(teff2, logg2, feh, radius2)
    return {
        "giant": giant,
        "teff1": teff1,
        "teff2": teff2,
        "logg1": logg1,
        "logg2": logg2,
        "mass1": mass1,
        "mass2": mass2,
        "radius1": radius1,
        "radius2": radius2,
        "feh": feh,
        "abs1": abs1,
        "abs2": abs2,
    }


def _draw_distance(rng, n, d_max, scale_height, scale_length) -> np.ndarray:
    """Distances from p(d) ~ d (1 - exp(-d/h)) exp(-d/L) truncated at d_max; NaN = rejected.

    Gamma(2, L) truncated by inverse CDF, then thinned by (1 - exp(-d/h)) (the cone of an
    exponential disc narrows to its scale height); thinned-out draws are NaN and are replaced by
    fresh candidates upstream.
    """
    cdf_max = special.gammainc(2.0, d_max / scale_length)
    d = scale_length * special.gammaincinv(2.0, rng.random(n) * cdf_max)
    keep = rng.random(n) < -np.expm1(-d / scale_height)
    return np.where(keep & (d > 1.0), d, np.nan)


def _draw_latitude(rng, d, scale_height) -> np.ndarray:
    """Galactic latitude (deg) of a star at distance d in a disc of exponential scale height h.

    sin b has density ~ exp(-d |sin b| / h) on [-1, 1]: distant stars hug the plane.
    """
    lam = d / scale_height
    s = -np.log1p(rng.random(d.size) * np.expm1(-lam)) / lam
    sign = np.where(rng.random(d.size) < 0.5, -1.0, 1.0)
    return np.degrees(np.arcsin(np.clip(sign * s, -1.0, 1.0)))


def _extinction_a0(rng, d, b_deg) -> np.ndarray:
    """A0 to distance d through a dust layer: integral of rho0 exp(-|z|/h_d) ds, clumped."""
    sinb = np.abs(np.sin(np.radians(b_deg)))
    path = d * sinb / DUST_SCALE_HEIGHT_PC
    # h_d / sin b (1 - exp(-d sin b / h_d)), which tends to d in the plane.
    column = np.where(path > 1e-8, -np.expm1(-path) / np.maximum(path, 1e-300), 1.0) * d
    clump = 10.0 ** rng.normal(
        -0.5 * math.log(10) * DUST_CLUMPING_DEX**2, DUST_CLUMPING_DEX, d.size
    )
    return np.maximum(DUST_DENSITY * column * clump, 0.0)


def _draw_candidates(rng, n, grid) -> dict[str, np.ndarray]:
    """n candidate binaries placed in the Galaxy, with true blended Gaia magnitudes.

    Candidates fainter than the Gaia limit, too bright, thinned out of the disc or missed by the
    EB classification are marked ``accepted = False``.
    """
    stars = _draw_binaries(rng, n, grid)
    young = stars["teff1"] > 10_000.0
    h = np.where(young, SCALE_HEIGHT_PC[1], SCALE_HEIGHT_PC[0])
    length = np.where(young, DISTANCE_SCALE_YOUNG_PC, DISTANCE_SCALE_PC)
    g_abs = stellar.combine_magnitudes(stars["abs1"][:, 0], stars["abs2"][:, 0])
    d_max = 10.0 ** ((G_FAINT - g_abs + 5.0) / 5.0)
    d = _draw_distance(rng, n, d_max, h, length)
    ok = np.isfinite(d)
    d = np.where(ok, d, 1000.0)
    b = _draw_latitude(rng, d, h)
    l_deg = rng.uniform(0.0, 360.0, n)
    a0_raw = _extinction_a0(rng, d, b)
    ok = ok & (a0_raw <= A0_MAX)
    a0 = np.minimum(a0_raw, A0_MAX)
    dist_mod = 5.0 * np.log10(d / 10.0)
    ext1 = grid.extinction(stars["teff1"], stars["logg1"], stars["feh"], a0)
    ext2 = grid.extinction(stars["teff2"], stars["logg2"], stars["feh"], a0)
    app1 = stars["abs1"] + ext1 + dist_mod[:, None]
    app2 = stars["abs2"] + ext2 + dist_mod[:, None]
    app = stellar.combine_magnitudes(app1, app2)
    g = app[:, 0]
    eb_found = rng.random(n) < _logistic((EB_COMPLETENESS_G50 - g) / EB_COMPLETENESS_WIDTH)
    stars.update(
        distance=d,
        l=l_deg,
        b=b,
        a0=a0,
        young=young,
        G=g,
        BP=app[:, 1],
        RP=app[:, 2],
        accepted=ok & (g <= G_FAINT) & (g >= G_BRIGHT) & eb_found,
    )
    return stars


def _legacy_extras(rng, stars: dict) -> None:
    """What the population synthesis gives and the legacy draw lacks, from its own quantities.

    ``ebv_sandf``: the legacy dust column to 50 kpc along (l, b) over R_V = 3.1 (with the
    star's clumping factor); ``period``/``frequency``: the eclipse-weighted log-normal periods
    of :mod:`ebteff.sim.population` for the pair's radii and masses; thin disc, age 0.5 Gyr for
    young and 5 Gyr for old stars. Drawn from a generator of their own, so the legacy columns
    are unchanged.
    """
    d, b = stars["distance"], stars["b"]
    sinb = np.abs(np.sin(np.radians(b)))

    def column(dist):
        path = dist * sinb / DUST_SCALE_HEIGHT_PC
        return np.where(path > 1e-8, -np.expm1(-path) / np.maximum(path, 1e-300), 1.0) * dist

    full = stars["a0"] * column(np.full_like(d, 50_000.0)) / column(d)
    radius_sum = stars["radius1"] + stars["radius2"]
    _, x_min, mu_eb = population.eclipse_weight(radius_sum, stars["mass1"] + stars["mass2"])
    period = 10.0 ** population.draw_log_period(rng, x_min, mu_eb)
    n = d.size
    stars.update(
        ebv_sandf=full / 3.1,
        period=period,
        frequency=1.0 / period,
        component=np.zeros(n, dtype=np.int8),
        age=np.where(stars["young"], 0.5, 5.0),
        stage1=np.where(stars["giant"], 2, 0).astype(np.int8),
        stage2=np.zeros(n, dtype=np.int8),
    )


def _take(stars: dict, mask) -> dict:
    return {k: v[mask] for k, v in stars.items()}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _draw_accepted(rng, n, grid) -> dict[str, np.ndarray]:
    """Exactly n catalogue stars: candidates are drawn in batches until enough are accepted."""
    parts, have, rate = [], 0, 0.5
    while have < n:
        batch = int((n - have) / rate * 1.1) + 64
        cand = _draw_candidates(rng, batch, grid)
        acc = cand.pop("accepted")
        rate = max(acc.mean(), 0.05)
        parts.append(_take(cand, acc))
        have += int(acc.sum())
    return {k: v[:n] for k, v in _concat(parts).items()}


# --- Observation


def _sentinel(values, present) -> np.ndarray:
    return np.where(present, values, SENTINEL)


def _observe(rng, stars: dict, grid, sky: str = "legacy") -> tuple[dict, dict, np.ndarray]:
    """Noisy photometry, survey coverage and labels of accepted stars.

    ``sky``: "legacy" keeps the tuned knobs of the legacy population (BETA_EXTINCTION,
    LABEL_NOISE, GSPPHOT_COMPLETENESS, PS1_CROWDING, TMASS_DETECTION_OFFSET); "synthesis" has
    coverages follow from the survey limits alone and labels from :mod:`ebteff.sim.labels`,
    with the truth's ``teff_blend`` the Teff of the combined light.

    Returns (photometry columns without source_id, truth columns without source_id, teff_blend).
    """
    if sky not in ("legacy", "synthesis"):
        raise ValueError(f"sky must be 'legacy' or 'synthesis', got {sky!r}")
    synthesis = sky == "synthesis"
    n = stars["G"].size
    d, a0, feh = stars["distance"], stars["a0"], stars["feh"]
    dist_mod = 5.0 * np.log10(d / 10.0)
    cols: dict[str, np.ndarray] = {}

    # Sky position and astrometry.
    ra, dec = galactic_to_icrs(stars["l"], stars["b"])
    g_true = stars["G"]
    sig_plx = parallax_sigma(g_true)
    parallax = 1000.0 / d + rng.normal(0.0, 1.0, n) * sig_plx
    if synthesis and "sigma_v" in stars:
        sig_v = stars["sigma_v"]
    else:
        sig_v = np.where(stars["young"], VELOCITY_DISPERSION[1], VELOCITY_DISPERSION[0])
    pm_scale = 1.0 / (KM_S_PER_MAS_YR_KPC * d / 1000.0)
    # pygaia DR3 scalings of proper-motion to parallax uncertainty (alpha* 1.03, delta 0.89).
    pmra = rng.normal(0.0, 1.0, n) * sig_v * pm_scale + rng.normal(0.0, 1.0, n) * 1.03 * sig_plx
    pmdec = rng.normal(0.0, 1.0, n) * sig_v * pm_scale + rng.normal(0.0, 1.0, n) * 0.89 * sig_plx
    cols.update(ra=ra, dec=dec, parallax=parallax, pmra=pmra, pmdec=pmdec)

    # Gaia photometry: blended magnitudes plus noise; colours from the noisy magnitudes.
    gaia = {
        band: np.round(stars[band] + rng.normal(0.0, 1.0, n) * gaia_sigma(band, stars[band]), 5)
        for band in ("G", "BP", "RP")
    }
    cols.update(g=gaia["G"], bp=gaia["BP"], rp=gaia["RP"])
    cols["bp_rp"] = np.round(gaia["BP"] - gaia["RP"], 5)
    cols["g_bp"] = np.round(gaia["G"] - gaia["BP"], 5)
    cols["g_rp"] = np.round(gaia["G"] - gaia["RP"], 5)

    # Per-component intrinsic colours drive the 2MASS and PS1 relations; fluxes then add.
    comp = []
    for k in ("1", "2"):
        absm = stars[f"abs{k}"]
        bp_rp0 = absm[:, 1] - absm[:, 2]
        nir = stellar.twomass_from_gaia(absm[:, 0], bp_rp0)
        ps1 = stellar.ps1_from_gaia(absm[:, 0], bp_rp0, stars[f"teff{k}"], nir["j"], nir["h"])
        mags = {b: nir[b] + dist_mod + stellar.A_TMASS[b] * a0 for b in nir}
        mags.update({f"ps_{b}": ps1[b] + dist_mod + stellar.A_PS1[b] * a0 for b in ps1})
        comp.append(mags)
    true = {band: stellar.combine_magnitudes(comp[0][band], comp[1][band]) for band in comp[0]}

    # 2MASS: in the PSC when detected at SNR >= 7 in at least one band; all three or none.
    p_det = np.zeros(n)
    for band, m10 in TMASS_10SIGMA.items():
        limit = m10 + (TMASS_SNR7_OFFSET if synthesis else TMASS_DETECTION_OFFSET)
        p_det = np.maximum(p_det, _logistic((limit - true[band]) / TMASS_SOFTNESS))
    in_2mass = rng.random(n) < p_det
    tm = {}
    for band, m10 in TMASS_10SIGMA.items():
        sigma = _mag_sigma(true[band], 0.02, 0.1086, m10)
        tm[band] = np.round(true[band] + rng.normal(0.0, 1.0, n) * sigma, 4)
    cols.update(
        j_m=_sentinel(tm["j"], in_2mass),
        h_m=_sentinel(tm["h"], in_2mass),
        k_m=_sentinel(tm["k"], in_2mass),
        j_h=_sentinel(np.round(tm["j"] - tm["h"], 4), in_2mass),
        h_k=_sentinel(np.round(tm["h"] - tm["k"], 4), in_2mass),
        j_k=_sentinel(np.round(tm["j"] - tm["k"], 4), in_2mass),
    )

    # Pan-STARRS1: footprint, r-band detection (saturation, depth, crowding); other bands each
    # present within their own saturation and depth.
    def ps1_window(band, mag):
        bright = _logistic((mag - PS1_SATURATION[band]) / PS1_SOFTNESS)
        faint = _logistic((PS1_DEPTH[band] - mag) / PS1_SOFTNESS)
        return bright * faint

    crowd_f, crowd_b0 = PS1_CROWDING
    crowding = 1.0 if synthesis else 1.0 - crowd_f * np.exp(-np.abs(stars["b"]) / crowd_b0)
    in_ps1 = (dec > PS1_DEC_MIN) & (rng.random(n) < ps1_window("r", true["ps_r"]) * crowding)
    psf, present = {}, {}
    for band in stellar.A_PS1:
        mag = true[f"ps_{band}"]
        sigma = _mag_sigma(mag, 0.01, 0.217 / math.sqrt(PS1_EPOCHS), PS1_DEPTH[band])
        has = in_ps1 if band == "r" else in_ps1 & (rng.random(n) < ps1_window(band, mag))
        psf[band] = np.round(mag + rng.normal(0.0, 1.0, n) * sigma, 4)
        kron = mag + PS1_KRON_OFFSET + rng.normal(0.0, 1.0, n) * sigma * PS1_KRON_NOISE
        present[band] = has
        cols[f"ps_{band}PSFMag"] = _sentinel(psf[band], has)
        cols[f"ps_{band}KronMag"] = _sentinel(np.round(kron, 4), has)
    for a, b in (("g", "r"), ("r", "i"), ("i", "z"), ("z", "y")):
        both = present[a] & present[b]
        cols[f"ps_{a}_{b}"] = _sentinel(np.round(psf[a] - psf[b], 4), both)

    # GSP-Phot-like labels of the blend.
    if synthesis:
        label_cols, teff_blend, logg_blend, a0_fit = _synthesis_labels(rng, stars, gaia, grid)
    else:
        label_cols, teff_blend, logg_blend, a0_fit = _legacy_labels(rng, stars, gaia, grid)
    cols.update(label_cols)
    flux1 = 10.0 ** (-0.4 * stars["abs1"][:, 0])
    flux2 = 10.0 ** (-0.4 * stars["abs2"][:, 0])

    truth = {
        "teff1": stars["teff1"],
        "teff2": stars["teff2"],
        "teff_blend": teff_blend,
        "logg_blend": logg_blend,
        "logg1": stars["logg1"],
        "logg2": stars["logg2"],
        "mh": feh,
        "a0": a0,
        "distance_pc": d,
        "light_ratio": flux2 / flux1,
        "radius1": stars["radius1"],
        "radius2": stars["radius2"],
        "mass1": stars["mass1"],
        "mass2": stars["mass2"],
        "giant": stars["giant"],
        "a0_gspphot": a0_fit,
    }
    return cols, truth, teff_blend


def _legacy_labels(
    rng, stars: dict, gaia: dict, grid
) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Labels of the legacy sky (law in the module docstring), its G-flux-weighted Teff and
    log g (what the labels scatter around) and the A0 the labels were read with."""
    n = gaia["G"].size
    a0, feh, g_true = stars["a0"], stars["feh"], stars["G"]
    flux1 = 10.0 ** (-0.4 * stars["abs1"][:, 0])
    flux2 = 10.0 ** (-0.4 * stars["abs2"][:, 0])
    w1 = flux1 / (flux1 + flux2)
    teff_blend = w1 * stars["teff1"] + (1.0 - w1) * stars["teff2"]
    logg_blend = w1 * stars["logg1"] + (1.0 - w1) * stars["logg2"]
    d_a0 = rng.normal(-BETA_EXTINCTION * a0, 0.1 + 0.05 * a0)
    noise = LABEL_NOISE[0] + LABEL_NOISE[1] * 10.0 ** (0.4 * (g_true - GSPPHOT_G_LIMIT))
    t_app = degenerate_teff(teff_blend, d_a0, grid) * np.exp(noise * rng.normal(0.0, 1.0, n))
    teff_label = np.clip(hot_bias_inverse(t_app), *LABEL_TEFF_RANGE)
    logg_label = np.clip(logg_blend + rng.normal(0.0, 0.2, n), 0.0, 5.5)
    mh_label = np.clip(feh - 0.2 + rng.normal(0.0, 0.3, n), -4.0, 0.8)
    has_teff = (gaia["G"] < GSPPHOT_G_LIMIT) & (rng.random(n) < GSPPHOT_COMPLETENESS)
    has_logg = has_teff & (rng.random(n) < _logistic((LOGG_G50 - gaia["G"]) / LABEL_WIDTH))
    has_mh = has_teff & (rng.random(n) < _logistic((MH_G50 - gaia["G"]) / LABEL_WIDTH))
    cols = {
        "teff_gaia": _sentinel(np.round(teff_label, 1), has_teff),
        "logg_gaia": _sentinel(np.round(logg_label, 4), has_logg),
        "mh_gaia": _sentinel(np.round(mh_label, 4), has_mh),
    }
    return cols, teff_blend, logg_blend, a0 + d_a0


def _synthesis_labels(
    rng, stars: dict, gaia: dict, grid
) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Labels of the synthesis sky (:mod:`ebteff.sim.labels`), the combined-light Teff, the
    light-weighted log g the log g label scatters around, and GSP-Phot's A0."""
    t1, t2, r1, r2 = stars["teff1"], stars["teff2"], stars["radius1"], stars["radius2"]
    teff_blend = labels.combined_light_teff(t1, t2, r1, r2)
    sigma_colour = np.hypot(gaia_sigma("BP", stars["BP"]), gaia_sigma("RP", stars["RP"]))
    fit = labels.gspphot_teff(
        rng, t1, stars["abs1"], stars["abs2"], stars["a0"], sigma_colour, grid
    )
    logg_blend = labels.light_weighted_logg(stars["logg1"], stars["logg2"], t1, t2, r1, r2)
    logg = labels.gspphot_logg(rng, logg_blend)
    mh = labels.gspphot_mh(rng, stars["feh"])
    has = labels.label_presence(rng, gaia["G"])
    cols = {
        "teff_gaia": _sentinel(np.round(fit["teff"], 1), has["teff"]),
        "logg_gaia": _sentinel(np.round(logg, 4), has["logg"]),
        "mh_gaia": _sentinel(np.round(mh, 4), has["mh"]),
    }
    return cols, teff_blend, logg_blend, fit["a0_fit"]


def _reference_sample(rng, teff_label, has_label, teff_blend, fraction):
    """Spectroscopic-quality reference Teff for ~fraction of all stars, hot labels favoured.

    Drawn among stars with a GSP-Phot-like Teff with weight REFERENCE_HOT_WEIGHT above 10,000 K
    (1 below), scaled so the expected size is fraction * n; teff_ref is the blended Teff with a
    1-2% Gaussian error (the light-weighted Teff a spectroscopic single-star fit would give).
    """
    n = teff_label.size
    weight = np.where(teff_label > HOT_BIAS_T0, REFERENCE_HOT_WEIGHT, 1.0) * has_label
    total = weight.sum()
    p = np.minimum(fraction * n * weight / total, 1.0) if total > 0 else np.zeros(n)
    chosen = rng.random(n) < p
    rel = rng.uniform(*REFERENCE_ERROR_RANGE, n)
    teff_ref = np.round(teff_blend * (1.0 + rel * rng.normal(0.0, 1.0, n)), 1)
    return chosen, teff_ref, np.round(rel * teff_ref, 1)


def _source_ids(rng, block: int, n_blocks: int, n: int) -> np.ndarray:
    """Increasing ids with random gaps; block b owns the b-th slice of SOURCE_ID_RANGE."""
    lo, hi = SOURCE_ID_RANGE
    width = (hi - lo) // n_blocks
    offsets = np.sort(rng.integers(0, width - n, n, dtype=np.int64)) + np.arange(n, dtype=np.int64)
    return lo + block * width + offsets


# --- Writing

_ARROW = {"Int64": pa.int64(), "Float64": pa.float64(), "Boolean": pa.bool_()}


def _schema(columns: dict[str, str]) -> pa.Schema:
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns.items()])


PHOTOMETRY_SCHEMA = _schema(
    {name: str(dtype) for name, dtype in {**COLUMNS, **OPTIONAL_COLUMNS}.items()}
)
TRUTH_SCHEMA = _schema(
    {
        c: "Int64" if c in TRUTH_INTEGERS else "Boolean" if c == "giant" else "Float64"
        for c in TRUTH_COLUMNS
    }
)
REFERENCE_SCHEMA = _schema({"source_id": "Int64", "teff_ref": "Float64", "teff_ref_err": "Float64"})


def _table(data: dict, schema: pa.Schema) -> pa.Table:
    return pa.table({f.name: pa.array(data[f.name], type=f.type) for f in schema}, schema=schema)


def simulate_block(
    seed: int,
    block: int,
    n_blocks: int,
    n: int,
    reference_fraction: float,
    grid: stellar.KuruczGrid | None = None,
    sky: str = "legacy",
) -> tuple[dict, dict, dict]:
    """One block of the catalogue: (photometry, truth, reference) column dicts.

    Everything random in the block comes from ``np.random.default_rng([seed, block])`` (the
    legacy sky's extra columns from ``[seed, block, 1]``).
    """
    if sky not in SKIES:
        raise ValueError(f"sky must be one of {SKIES}, got {sky!r}")
    grid = grid or stellar.load_grid()
    rng = np.random.default_rng([seed, block])
    if sky == "synthesis":
        stars = population.draw_accepted(rng, n, grid)
    else:
        stars = _draw_accepted(rng, n, grid)
        _legacy_extras(np.random.default_rng([seed, block, 1]), stars)
    cols, truth, teff_blend = _observe(rng, stars, grid, sky=sky)
    # Gaia EB parameters and the full-column reddening (schema.OPTIONAL_COLUMNS).
    cols["ebv_sandf"] = np.round(stars["ebv_sandf"], 5)
    cols["frequency"] = np.round(stars["frequency"], 8)
    for key in ("period", "ebv_sandf", "component", "age", "stage1", "stage2"):
        truth[key] = stars[key]
    ids = _source_ids(rng, block, n_blocks, n)
    has_label = cols["teff_gaia"] != SENTINEL
    chosen, teff_ref, teff_err = _reference_sample(
        rng, cols["teff_gaia"], has_label, teff_blend, reference_fraction
    )
    photometry = {"source_id": ids, **cols}
    truth = {"source_id": ids, **truth}
    reference = {
        "source_id": ids[chosen],
        "teff_ref": teff_ref[chosen],
        "teff_ref_err": teff_err[chosen],
    }
    return photometry, truth, reference


def _coverage_counts(photometry: dict) -> dict[str, int]:
    return {k: int(np.sum(photometry[c] != SENTINEL)) for k, c in COVERAGE_COLUMNS.items()}


def simulate_catalogue(
    n_stars: int,
    seed: int,
    photometry_path: str | os.PathLike,
    truth_path: str | os.PathLike,
    reference_path: str | os.PathLike,
    *,
    block_size: int = 250_000,
    reference_fraction: float = 0.025,
    progress: bool = False,
    sky: str = "legacy",
) -> dict:
    """Simulate ``n_stars`` eclipsing binaries and write photometry, truth and reference Parquet.

    Files are streamed block by block (bounded memory) and appear only when complete. Returns
    ``{"rows", "reference_rows", "coverage": {survey: fraction}, "published_coverage",
    "a0_percentiles": {"all": [p10, p50, p90], "labelled": [...]}}``.
    """
    if int(n_stars) < 1:
        raise ValueError(f"n_stars must be positive, got {n_stars}")
    if int(block_size) < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    if not 0.0 < reference_fraction <= 1.0:
        raise ValueError(f"reference_fraction must be in (0, 1], got {reference_fraction}")
    if sky not in SKIES:
        raise ValueError(f"sky must be one of {SKIES}, got {sky!r}")
    n_stars, block_size = int(n_stars), int(block_size)
    n_blocks = math.ceil(n_stars / block_size)
    grid = stellar.load_grid()
    counts: dict[str, int] = {}
    n_reference = 0
    a0_parts: list[np.ndarray] = []
    labelled: list[np.ndarray] = []
    kwargs = {"compression": "zstd", "compression_level": 3}
    with contextlib.ExitStack() as stack:
        bar = None
        if progress:
            from ..logs import Progress

            bar = stack.enter_context(Progress(log, "simulate", n_stars, unit="star"))
        tmp_phot = stack.enter_context(atomic_output(photometry_path))
        tmp_truth = stack.enter_context(atomic_output(truth_path))
        tmp_ref = stack.enter_context(atomic_output(reference_path))
        w_phot = stack.enter_context(pq.ParquetWriter(tmp_phot, PHOTOMETRY_SCHEMA, **kwargs))
        w_truth = stack.enter_context(pq.ParquetWriter(tmp_truth, TRUTH_SCHEMA, **kwargs))
        w_ref = stack.enter_context(pq.ParquetWriter(tmp_ref, REFERENCE_SCHEMA, **kwargs))
        for block in range(n_blocks):
            n = min(block_size, n_stars - block * block_size)
            photometry, truth, reference = simulate_block(
                seed, block, n_blocks, n, reference_fraction, grid, sky=sky
            )
            w_phot.write_table(_table(photometry, PHOTOMETRY_SCHEMA))
            w_truth.write_table(_table(truth, TRUTH_SCHEMA))
            w_ref.write_table(_table(reference, REFERENCE_SCHEMA))
            for key, value in _coverage_counts(photometry).items():
                counts[key] = counts.get(key, 0) + value
            n_reference += reference["source_id"].size
            a0_parts.append(np.asarray(truth["a0"]))
            labelled.append(photometry["teff_gaia"] != SENTINEL)
            log.debug("block %d/%d: %d stars", block + 1, n_blocks, n)
            if bar is not None:
                bar.update(n)
    coverage = {k: v / n_stars for k, v in counts.items()}
    a0, has_label = np.concatenate(a0_parts), np.concatenate(labelled)
    a0_percentiles = {
        "all": [float(v) for v in np.percentile(a0, A0_PERCENTILES)],
        "labelled": [float(v) for v in np.percentile(a0[has_label], A0_PERCENTILES)]
        if has_label.any()
        else [],
    }
    log.info(
        "A0 percentiles %s: all stars %s, labelled %s",
        "/".join(str(p) for p in A0_PERCENTILES),
        "/".join(f"{v:.2f}" for v in a0_percentiles["all"]),
        "/".join(f"{v:.2f}" for v in a0_percentiles["labelled"]),
    )
    log.info(
        "wrote %d stars to %s (truth %s, %d reference stars to %s); coverage %s",
        n_stars,
        photometry_path,
        truth_path,
        n_reference,
        reference_path,
        ", ".join(f"{k} {v:.3f}" for k, v in coverage.items()),
    )
    return {
        "rows": n_stars,
        "reference_rows": n_reference,
        "coverage": coverage,
        "published_coverage": dict(PUBLISHED_COVERAGE),
        "a0_percentiles": a0_percentiles,
    }
