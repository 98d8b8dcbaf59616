"""Population synthesis of the eclipsing binaries Gaia finds: stars born, aged, paired, placed.

A candidate is a star formed somewhere in the Galaxy (:mod:`ebteff.sim.galaxy`); it enters the
catalogue if it is alive, has a companion, the pair eclipses as seen from the Sun, Gaia's sparse
sampling catches the eclipses, and it is bright enough. Nothing is weighted by hand: the Teff
mix, the magnitude and sky distributions follow from these ingredients (Malmquist bias
included). Sources:

- Initial mass function: Kroupa (2001, MNRAS 322, 231), dN/dM ~ M^-1.3 for 0.08-0.5 M_sun and
  M^-2.3 for 0.5-150 M_sun (primaries).
- Star-formation histories: thin disc from 0 to 10 Gyr ago with a rate declining as
  exp(-t / 8 Gyr) (3.5 times higher 10 Gyr ago than now); thick disc 10-12 Gyr; bulge 8-12 Gyr
  (old, BHG16 = Bland-Hawthorn & Gerhard 2016, ARA&A 54, 529, Sect. 4.2). Published thin-disc
  histories run from a constant rate to a decline by a factor of a few (e.g. Aumer & Binney
  2009, MNRAS 397, 1286; Snaith et al. 2015, A&A 578, A87); the e-folding time is set within
  that range to match an input property of the real sample, the Teff mix of its labels: with a
  constant rate the simulated labels hold 16.6% above 8,000 K and 21% at 6-8 kK (real 7.1% and
  14.9%), with 8 Gyr 10.9% and 17.5% (the synthesis sky with its GSP-Phot-like labels,
  benchmarks/simulation_realism.py --stars 50000).
  Metallicities (dex, normal): thin disc -0.1 +/- 0.2, thick disc -0.6 +/- 0.3 (Ivezic et al.
  2008, ApJ 684, 287), bulge 0.0 +/- 0.4 (Zoccali et al. 2008, A&A 486, 177). They enter the
  photometry; the evolution below is the solar-metallicity one (approx.).
- Evolution (solar metallicity), analytic fits:
  zero-age main sequence L, R: Tout et al. (1996, MNRAS 281, 257), eqs. 1-2 at Z = 0.02;
  lifetimes t_MS, t_BGB, end-of-main-sequence L_TMS, R_TMS, base-of-giant-branch L_BGB,
  giant-branch radius R_GB(M, L), core-mass-luminosity relation L = D Mc^p, hydrogen-burning
  rate A_H, He-ignition luminosity L_HeI, core-helium-burning lifetime t_He, zero-age
  horizontal-branch L_ZAHB and R_ZAHB: Hurley, Pols & Tout (2000, MNRAS 315, 543; hereafter
  HPT00), eqs. 4-10, 37-38, 43-57, 77-78 with their Appendix coefficients at zeta = 0.
  Main-sequence L(tau), R(tau), tau = t / t_MS: log(L/L_ZAMS) = 0.5 (tau + tau^2) log(L_TMS /
  L_ZAMS) and log(R/R_ZAMS) = tau^2 log(R_TMS/R_ZAMS), a simplification of HPT00 eqs. 12-13
  (end points exact; their alpha/beta/hook terms dropped) that puts the Sun at 4.57 Gyr within
  3% of L = R = 1.
  Phases: main sequence; Hertzsprung gap (t_MS..t_BGB: log L and log R interpolated from TMS to
  the base of the giant branch); giant branch (core mass grows as dMc/dt = A_H L, L = D Mc^p,
  R = R_GB(M, L), until L_HeI); core-helium burning for t_He (low mass: the red clump at L_ZAHB,
  R_ZAHB; above M_HeF = 2 M_sun: at L_HeI on the giant branch, blue loops ignored, approx.);
  early asymptotic giant branch (E-AGB, HPT00 Sect. 5.4): from the base of the AGB at L_BAGB
  (eq. 56) the CO core grows on the same core-mass-luminosity law at the helium-burning rate
  A_He = 7.66e-5 M_sun / (L_sun Myr) (eq. 68) until it reaches the core mass of the second
  dredge-up (eqs. 66, 69; the first thermal pulse), R = R_AGB(M, L) (eq. 74); for a 1 M_sun
  star L goes from 163 to ~4,200 L_sun in 4.5 Myr (3% of its t_He) at 4,200 to 3,100 K.
  Afterwards (the thermally pulsing AGB, whose end is set by mass loss, not modelled; remnants)
  the star leaves the sample (white dwarfs and remnants dropped). The core law is its D Mc^p
  branch throughout, as on the giant branch (approx.: HPT00 switch to B Mc^q above L_x, ~3,800
  L_sun at 1 M_sun).
- Binaries: multiplicity frequency against primary mass, Duchene & Kraus (2013, ARA&A 51, 269,
  Table 1: 22% below 0.1 M_sun, 26% at 0.1-0.5, 44% at 0.7-1.3, >=50% at 1.5-5, >=60% at 8-16,
  >=80% above 16 M_sun; interpolated in log M); mass ratio flat, q ~ U(max(0.1, 0.08/M1), 1)
  (Raghavan et al. 2010, ApJS 190, 1; Moe & Di Stefano 2017, ApJS 230, 15); periods log-normal,
  mean log P[d] 5.03, sigma 2.28 for solar-type primaries (Raghavan et al. 2010), closer for M
  dwarfs (Duchene & Kraus 2013, Table 1: separations peaking at ~5.3 au, sigma 1.3 dex, i.e.
  log P 3.85 +/- 1.95 at 0.3 M_sun; linear in log M1 up to 1 M_sun, approx.); massive
  primaries have far more close companions (Moe & Di Stefano 2017, their Sect. 9): for O stars
  f(log P) ~ (log P)^-0.55 on 0.15-3.5 (Sana et al. 2012, Science 337, 444); the share of
  binaries following the massive-star law rises linearly in log M1 from 0 at 1.5 M_sun to 1 at
  16 M_sun (approx.: Moe & Di Stefano's close-companion fraction rises over that range); the
  secondary is coeval.
- Orbit and eclipse: Kepler's third law a = 4.2084 R_sun (M1 + M2)^(1/3) P[d]^(2/3); random
  orientation, so a pair eclipses with probability (R1 + R2) / a (circular orbits); a > R1 + R2
  (no overflow: contact systems sit at the limit). Weighting the log-normal by this probability
  gives, per primary, the exact eclipse weight W = f_bin r exp(-k mu + k^2 sigma^2 / 2)
  Phi((mu' - x_min) / sigma) with r = (R1 + R2) / (4.2084 M^(1/3)), k = (2/3) ln 10,
  mu' = mu - k sigma^2, x_min = 1.5 log10 r; log P of eclipsing pairs is then N(mu', sigma)
  truncated below at x_min, so short periods dominate them (the massive-star law is integrated
  numerically, :func:`massive_eclipse_weight`).
- Contact (W UMa) binaries: the log-normal periods above stop at a > R1 + R2; closer pairs
  are contact binaries, counted directly: their relative frequency of occurrence is 1/500 per
  main-sequence star fainter than M_V = +1.5 (published range about 1/1,000-1/250: Rucinski
  2002, PASP 114, 1124, uncertain "by a factor of about two"; 0.2% relative to FGK dwarfs,
  Rucinski 2006, MNRAS 368, 1319 and 2007, MNRAS 382, 393), 1/5,000 at M_V +0.5 to +1.5 and
  1/30,000 brighter (Rucinski 2002; M_V taken as the pair's M_bol, approx.: BC_V of F-K dwarfs
  is within 0.3 mag of 0). Both components are on the main sequence; mass ratios follow
  Q(q) ~ (1 - q)^6 on 0.1-1 (Rucinski 2001, AJ 122, 1007, from OGLE's amplitudes); the primary
  keeps its main-sequence radius and fills its Roche lobe (Eggleton 1983, ApJ 268, 368), which
  fixes the separation and, by Kepler's law, the period; the secondary fills its own lobe; the
  common envelope spreads the two stars' luminosities over both surfaces at one Teff (Lucy
  1968, ApJ 151, 1123; W UMa components have nearly equal Teff, Rucinski 1985). Periods below
  0.22 d do not exist (the cut-off of Rucinski 2007: 0.215-0.22 d), which removes primaries
  below ~0.8 M_sun. A contact pair eclipses with probability (R1 + R2) / a.
- Ellipsoidal variables: Gaia's catalogue holds ellipsoidal as well as eclipsing binaries
  (Mowlavi et al. 2023; its light-curve model has a cosine term for the tidal distortion). A
  detached pair's light varies as 1 - A cos(2 phi) with semi-amplitude
  A = sum over the components of (light share) alpha (M_other / M) (R / a)^3 sin^2 i, alpha =
  0.15 (15 + u)(1 + tau) / (3 - u) (Morris & Naftilan 1993, ApJ 419, 344; Morris 1985, ApJ 295,
  143) with u = 0.6, tau = 0.4 (alpha = 1.37). It is seen when its peak-to-peak range, 2.17 A mag,
  exceeds DEPTH_SIGMAS single-epoch G uncertainties (the criterion of the eclipses, below; a
  sinusoid is sampled at every phase, so no sparse-sampling factor), for separations above
  Roche-lobe contact (Eggleton 1983) and inclinations at which the pair does not eclipse. An
  eclipsing pair is seen if its eclipse is caught (below) or its ellipsoidal variation is: a
  dwarf's shallow transit of a giant is found through the giant's distortion. Red giants in
  binaries of days to weeks are the ones this adds (OGLE finds them in thousands toward the bulge
  and the Magellanic Clouds as the "sequence E" of ellipsoidal red giants: Soszynski et al. 2004,
  AcA 54, 347). In the simulated sky they are 17% of the stars (30,000 stars of seed 20251211),
  most of them giants; light curves fitted by the cosine alone are 1.7% of Gaia's catalogue
  (36,227 of 2,184,477, Mowlavi et al. 2023, Table 1), a lower bound, since an ellipsoidal light
  curve with unequal minima takes Gaussians as well.
- Gaia's eclipse detection: with sparse sampling, an eclipse is found when at least two of the
  N = 40 epochs (median number of G-band field-of-view transits in DR3's 34 months, approx.;
  Eyer et al. 2023, A&A 674, A13) fall in eclipse: probability 1 - (1 + lambda) exp(-lambda),
  lambda = N (R1 + R2) / (2a) (fraction of the orbit in either eclipse, averaged over eclipsing
  inclinations). Mowlavi et al. (2023, A&A 674, A16) describe the catalogue's bias toward short
  periods that this produces.
- Gaia selection: G <= 20.5 (the faintest candidates of the DR3 EB catalogue, Mowlavi et al.
  2023), an eclipse deeper than DEPTH_SIGMAS = 3 single-epoch G uncertainties (the mean
  magnitude's uncertainty of Riello et al. 2021, as :func:`ebteff.sim.simulate.gaia_sigma`
  models it, times sqrt(40); shallow eclipses, a dwarf beside a giant, are found only when
  bright), and the EB classification's completeness falling off at the faint end: logistic in G,
  midpoint 19.5, width 0.35 mag. Mowlavi et al. (2023) give the catalogue's magnitude
  distribution, not its completeness; the midpoint is put where that distribution turns over
  (G ~ 19-19.5, approx.). It was set before the ellipsoidal variables were added and not moved
  since. It cannot match all three input properties that the magnitude distribution sets
  (60,000 stars of seed 20251211, benchmarks/simulation_realism.py): at 19.5 the 2MASS and
  Pan-STARRS1 coverages are 59-60% and 56% (real 60%, 53.5%) but G < 19 holds 76% of the stars
  against GSP-Phot's 58.4%; at 20.0 65% / 51% (G < 19 / 2MASS), without it 54% / 42%. The real
  table has more faint stars that 2MASS detects (faint and red: reddened giants) than this
  model makes.
  Brighter than G = 3 nothing is in Gaia's EB catalogue, and nothing with a period below 0.2 d
  (the catalogue's own cut against aliases: Mowlavi et al. 2023; Gaia DR3 documentation,
  Sect. 10.7.2); that removes ~5% of the pairs, most of them M dwarfs.
- Truth: the binary's true Teff is that of the combined light, (sum R^2 T^4 / sum R^2)^(1/4)
  (the Teff of one star with the pair's total luminosity and emitting area).

Sampling: the catalogue is a Poisson process over (binary, position) whose intensity is the
product of the ingredients above; it is drawn exactly, vectorised over batches of BATCH
proposals. A proposal draws the primary mass from the IMF tilted by :func:`proposal_tilt`, the
component with COMPONENT_PROPOSAL, the age over the primary's lifetime (or its post-main-sequence
window, POST_MS_PROPOSAL of the time), a coeval companion; its weight undoes the proposal
(IMF, star-formation history, component mass) and carries multiplicity x eclipse weight W. It is
repeated at Poisson(weight x position weight / COPY_UNIT) places (Poisson then binomial
thinning), where the position weight is the share of the component's stars that a proposal
region within the binary's dust-free visibility distance holds: a cylinder about the Sun for
near disc stars, the whole component otherwise. Each copy draws its period, is kept if Gaia's
epochs catch the eclipse, draws its position in the proposal region (kept with the density's
ratio to the region's bound), its dust, and passes the selection in G (cheap bounds first).
A proposal is a contact binary CONTACT_PROPOSAL of the time (its mass ratio from the contact
law), a detached one otherwise; the weight divides by that share. Every step is an exact
rejection or thinning, so the accepted stars follow the target distribution whatever the
proposal constants; they only set the speed and how often one proposed binary appears at
several places. Such twins (one binary's masses, age and metallicity at two places) are
correlated draws, and a twin in the training split and its sibling in the test split leak
information between them; COPY_UNIT = 0.02 keeps them to ~7% of stars (13% at 0.01; 30,000
stars of seed 20251211), at 1.6 times the drawing time of 0.01. All random
numbers of a catalogue block come, batch after batch, from that block's
``np.random.default_rng([seed, block])``, so the sample is a deterministic function of (seed,
block, block size).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from . import galaxy, stellar

# --- Initial mass function (Kroupa 2001)

IMF_MASS_RANGE = (0.08, 150.0)
IMF_BREAK = 0.5
IMF_SLOPES = (1.3, 2.3)

# --- Star-formation histories (Gyr ago), per component: uniform between these ages.
AGE_RANGE_GYR = {galaxy.THIN: (0.0, 10.0), galaxy.THICK: (10.0, 12.0), galaxy.BULGE: (8.0, 12.0)}
#: e-folding time (Gyr) of the thin disc's declining star-formation rate (inf: constant).
THIN_SFR_TIMESCALE_GYR = 8.0
FEH = {galaxy.THIN: (-0.1, 0.2), galaxy.THICK: (-0.6, 0.3), galaxy.BULGE: (0.0, 0.4)}
FEH_RANGE = (-2.5, 0.5)

# --- Binaries
#: Duchene & Kraus (2013) Table 1: (primary mass M_sun, multiplicity frequency).
MULTIPLICITY = ((0.08, 0.22), (0.3, 0.26), (1.0, 0.44), (3.0, 0.50), (12.0, 0.60), (30.0, 0.80))
Q_MIN = 0.1
SECONDARY_MIN_MASS = 0.08
LOG_PERIOD_MEAN, LOG_PERIOD_SIGMA = 5.03, 2.28
#: (primary mass, mean, sigma of log P[d]) of M dwarfs (Duchene & Kraus 2013; period_law).
LOW_MASS_PERIODS = (0.3, 3.85, 1.95)
#: Massive primaries: f(log P) ~ (log P)^-0.55 on 0.15 < log P[d] < 3.5 (Sana et al. 2012), and
#: the primary masses over which the distribution changes from solar-type to massive.
MASSIVE_LOG_PERIOD_SLOPE = -0.55
MASSIVE_LOG_PERIOD_RANGE = (0.15, 3.5)
CLOSE_MASS_RANGE = (1.5, 16.0)
#: Kepler's third law in solar units: a [R_sun] = KEPLER (M [M_sun])^(1/3) (P [d])^(2/3).
KEPLER_RSUN = 4.2084

# --- Contact (W UMa) binaries (module docstring)
#: Relative frequency of occurrence per main-sequence star (Rucinski 2002, PASP 114, 1124): 1/500
#: for M_V > +1.5 (uncertain by a factor of about 2; confirmed at 0.2% by Rucinski 2006, MNRAS
#: 368, 1319), 1/5,000 for M_V < +1.5 and 1/30,000 for M_V < +0.5: (upper M_V bound, RFO).
CONTACT_RFO = ((0.5, 1.0 / 30_000.0), (1.5, 1.0 / 5_000.0), (np.inf, 1.0 / 500.0))
#: Mass ratios M2/M1: Q(q) ~ (1 - q)^6 on 0.1 <= q <= 1 (Rucinski 2001, AJ 122, 1007).
CONTACT_Q_EXPONENT, CONTACT_Q_MIN = 6.0, 0.1
#: Short-period cut-off of contact binaries, days (Rucinski 2007, MNRAS 382, 393: 0.215-0.22 d).
CONTACT_P_MIN_DAYS = 0.22
#: Solar absolute bolometric magnitude (IAU 2015 Resolution B2).
M_BOL_SUN = 4.74

# --- Gaia
GAIA_EPOCHS = 40
#: An eclipse is seen when its depth exceeds this many single-epoch uncertainties.
DEPTH_SIGMAS = 3.0
G_FAINT, G_BRIGHT = 20.5, 3.0
#: The DR3 EB catalogue holds periods above 0.2 d only (Mowlavi et al. 2023; Gaia DR3
#: documentation Sect. 10.7.2: shorter ones were left out as likely aliases).
GAIA_P_MIN_DAYS = 0.2
EB_COMPLETENESS_G50, EB_COMPLETENESS_WIDTH = 19.5, 0.35

# --- Ellipsoidal variables (module docstring)
#: Linear limb darkening u and gravity darkening tau of Morris & Naftilan's (1993) coefficient
#: alpha = 0.15 (15 + u)(1 + tau) / (3 - u): u ~ 0.6 in the optical for 4,000-6,500 K stars
#: (Claret 2000, A&A 363, 1081), tau ~ 0.4 for stars with convective envelopes (Morris 1985,
#: ApJ 295, 143, Table 2; approx.): alpha = 1.37.
ELLIPSOIDAL_U, ELLIPSOIDAL_TAU = 0.6, 0.4
#: Binary classes of the truth table.
DETACHED, CONTACT, ELLIPSOIDAL = 0, 1, 2

# --- Evolution constants (HPT00 Appendix, zeta = 0; Tout et al. 1996 Tables 1-2, Z = 0.02)
_TOUT_L = (0.39704170, 8.52762600, 0.00025546, 5.43288900, 5.56357900, 0.78866060, 0.00586685)
_TOUT_R = (
    1.71535900,
    6.59778800,
    10.08855000,
    1.01249500,
    0.07490166,
    0.01077422,
    3.08223400,
    17.84778000,
    0.00022582,
)
_A = {
    1: 1.593890e3, 2: 2.706708e3, 3: 1.466143e2, 4: 4.141960e-2, 5: 3.426349e-1,
    6: 1.949814e1, 7: 4.903830e0, 8: 5.212154e-2, 9: 1.312179e0, 10: 8.073972e-1,
    13: 7.859573e2, 14: 3.858911e3, 15: 2.888720e2, 16: 7.196580e0,
    20: 2.652091e1, 21: 1.472103e0, 22: 3.071048e0, 23: 2.617890e0, 24: 1.075567e-2,
    25: 1.476246e0, 26: 5.502535e0, 27: 9.511033e1, 28: 3.113458e1, 30: 3.910862e1,
    31: 4.597479e0, 32: 6.682518e0,
}  # fmt: skip
_A[11] = 1.031538e0 * _A[14]
_A[12] = 1.043715e0 * _A[14]
_A[17] = 10.0**0.1461
_A[18] = 2.187715e-1 * _A[20]
_A[19] = 1.466440e0 * _A[20]
_A[29] = 1.413057e0 ** _A[32]
_C1_RTMS = -8.672073e-2
_LBGB_C2, _LBGB_C3 = 9.301992, 4.637345
#: Giant-branch radius coefficients b1-b7 at Z = 0.02 (HPT00 eq. 46 and Appendix).
_GB_B = (0.397, 0.3828, 0.7550, 0.9960283, 0.2561062, 1.157338, 0.4022765)
#: He ignition (eq. 49): b9, b10, b11 = b^2, b12, b13 = b^2; CHeB lifetime (eq. 57): b39-b44.
_B9, _B10, _B11, _B12, _B13 = 2.751631e3, -3.820831e-2, 1.071738e2**2, 7.348793e2, 9.219293**2
_B39, _B40 = 1.314955e2, 1.823973e1
_B41, _B42, _B43, _B44 = 2.327037**1.997378, 1.997378, 1.079113e-1, 2.327409**5
#: ZAHB (eqs. 53-54): b18, b19, b20, b21, b22, b23.
_B18, _B19, _B20, _B21, _B22, _B23 = (
    5.496045e1,
    1.832694,
    1.211104e2,
    2.214088e2,
    2.063983,
    2.003160,
)
#: Base of the AGB (eq. 56): b29, b30, b31 = b^b33, b32, b33, b34 = b^b33.
_B33 = 2.474401
_B29, _B30, _B31, _B32, _B34 = (
    1.626062e2,
    3.336833e-1,
    7.425137e1**_B33,
    9.268325e2,
    (1.127018e1**_B33),
)
#: Core mass at the base of the AGB (eq. 66): (b36 M^b37 + b38)^(1/4).
_B36, _B37, _B38 = 1.445216e-1**4, 4.0 * 1.304129, 5.114149e-1**4
#: AGB radius (eq. 74): b51-b54 above M_HeF, b56 + b57 M below M_HeF - 0.2, exponent b55 b3 /
#: b3; b55 = min(0.99164 - 743.123 Z^2.83, 1.0422) at Z = 0.02.
_B51, _B52, _B53, _B54 = 1.125124, 3.349289e-1, 1.467794, 4.658512e-1
_B55 = min(0.99164 - 743.123 * 0.02**2.83, 1.0422)
_B56, _B57 = 1.110866, -1.584333e-1
#: Helium-burning rate of the CO core on the AGB, M_sun / (L_sun Myr) (HPT00 eq. 68).
A_HE = 7.66e-5
M_HEF = 1.995
LOG_D0 = 5.37
L_SUN_TEFF = 5772.0

MS, HG, GB, CHEB, EAGB = 0, 1, 2, 3, 4


def zams(mass) -> tuple[np.ndarray, np.ndarray]:
    """Zero-age main-sequence luminosity and radius (solar units), Tout et al. (1996)."""
    m = np.asarray(mass, dtype=float)
    a = _TOUT_L
    rt = np.sqrt(m)
    lum = (a[0] * m**5 * rt + a[1] * m**11) / (
        a[2] + m**3 + a[3] * m**5 + a[4] * m**7 + a[5] * m**8 + a[6] * m**9 * rt
    )
    c = _TOUT_R
    rad = ((c[0] * m**2 + c[1] * m**6) * rt + c[2] * m**11 + (c[3] + c[4] * rt) * m**19) / (
        c[5] + c[6] * m**2 + (c[7] * m**8 + m**18 + c[8] * m**19) * rt
    )
    return lum, rad


def t_bgb(mass) -> np.ndarray:
    """Time to the base of the giant branch (Myr), HPT00 eq. 4."""
    m = np.asarray(mass, dtype=float)
    return (_A[1] + _A[2] * m**4 + _A[3] * m**5.5 + m**7) / (_A[4] * m**2 + _A[5] * m**7)


def t_ms(mass) -> np.ndarray:
    """Main-sequence lifetime (Myr), HPT00 eqs. 5-7 at Z = 0.02."""
    m = np.asarray(mass, dtype=float)
    mu = np.maximum(
        0.5,
        1.0 - 0.01 * np.maximum(_A[6] / m ** _A[7], _A[8] + _A[9] / m ** _A[10]),
    )
    return np.maximum(mu, 0.95) * t_bgb(m)


def l_tms(mass) -> np.ndarray:
    """Luminosity at the end of the main sequence, HPT00 eq. 8."""
    m = np.asarray(mass, dtype=float)
    return (_A[11] * m**3 + _A[12] * m**4 + _A[13] * m ** (_A[16] + 1.8)) / (
        _A[14] + _A[15] * m**5 + m ** _A[16]
    )


def r_tms(mass) -> np.ndarray:
    """Radius at the end of the main sequence, HPT00 eq. 9 (linear between its two branches)."""
    m = np.asarray(mass, dtype=float)

    def low(x):
        return (_A[18] + _A[19] * x ** _A[21]) / (_A[20] + x ** _A[22])

    def high(x):
        return (_C1_RTMS * x**3 + _A[23] * x ** _A[26] + _A[24] * x ** (_A[26] + 1.5)) / (
            _A[25] + x**5
        )

    m1, m2 = _A[17], _A[17] + 0.1
    frac = np.clip((m - m1) / (m2 - m1), 0.0, 1.0)
    out = np.where(
        m <= m1, low(m), np.where(m >= m2, high(m), (1 - frac) * low(m1) + frac * high(m2))
    )
    # Low-mass stars barely evolve: R_TMS >= 1.5 R_ZAMS below 0.5 M_sun (HPT00, after eq. 9).
    return np.where(m < 0.5, np.maximum(out, 1.5 * zams(m)[1]), out)


def l_bgb(mass) -> np.ndarray:
    """Luminosity at the base of the giant branch, HPT00 eq. 10."""
    m = np.asarray(mass, dtype=float)
    return (_A[27] * m ** _A[31] + _A[28] * m**_LBGB_C2) / (
        _A[29] + _A[30] * m**_LBGB_C3 + m ** _A[32]
    )


def r_gb(mass, lum) -> np.ndarray:
    """Giant-branch radius at luminosity L, HPT00 eq. 46."""
    b1, b2, b3, b4, b5, b6, b7 = _GB_B
    m = np.asarray(mass, dtype=float)
    a = np.minimum(b4 * m**-b5, b6 * m**-b7)
    return a * (lum**b1 + b2 * lum**b3)


def l_hei(mass) -> np.ndarray:
    """Luminosity at helium ignition, HPT00 eq. 49."""
    m = np.asarray(mass, dtype=float)
    l_hef = (_B11 + _B12 * M_HEF**3.8) / (_B13 + M_HEF**2)
    alpha1 = (_B9 * M_HEF**_B10 - l_hef) / l_hef
    low = _B9 * m**_B10 / (1.0 + alpha1 * np.exp(np.minimum(15.0 * (m - M_HEF), 50.0)))
    high = (_B11 + _B12 * m**3.8) / (_B13 + m**2)
    return np.where(m < M_HEF, low, high)


def l_bagb(mass) -> np.ndarray:
    """Luminosity at the base of the AGB, HPT00 eq. 56."""
    m = np.asarray(mass, dtype=float)
    high_hef = (_B31 + _B32 * M_HEF ** (_B33 + 1.8)) / (_B34 + M_HEF**_B33)
    alpha3 = (_B29 * M_HEF**_B30 - high_hef) / high_hef
    low = _B29 * m**_B30 / (1.0 + alpha3 * np.exp(np.minimum(15.0 * (m - M_HEF), 50.0)))
    high = (_B31 + _B32 * m ** (_B33 + 1.8)) / (_B34 + m**_B33)
    return np.where(m < M_HEF, low, high)


def mc_bagb(mass) -> np.ndarray:
    """Core mass at the base of the AGB, HPT00 eq. 66."""
    m = np.asarray(mass, dtype=float)
    return (_B36 * m**_B37 + _B38) ** 0.25


def mc_dredge_up(mass) -> np.ndarray:
    """Core mass at the second dredge-up, where the E-AGB ends (HPT00 eq. 69)."""
    mc = mc_bagb(mass)
    return np.where(mc <= 0.8, mc, 0.44 * mc + 0.448)


def r_agb(mass, lum) -> np.ndarray:
    """AGB radius at luminosity L, HPT00 eq. 74 (linear in M between M_HeF - 0.2 and M_HeF)."""
    b1, b2, b3 = _GB_B[:3]
    m = np.asarray(mass, dtype=float)
    lo_m = M_HEF - 0.2
    frac = np.clip((m - lo_m) / 0.2, 0.0, 1.0)
    a_low = _B56 + _B57 * np.minimum(m, lo_m)
    a_high = np.minimum(_B51 * np.maximum(m, M_HEF) ** -_B52, _B53 * np.maximum(m, M_HEF) ** -_B54)
    a = (1.0 - frac) * a_low + frac * a_high
    exponent = b3 * (1.0 + frac * (_B55 - 1.0))
    return a * (lum**b1 + b2 * lum**exponent)


def _core_law(mass):
    """(p, D, A_H) of the core-mass-luminosity law and H-burning rate, HPT00 eqs. 37-38, 43."""
    m = np.asarray(mass, dtype=float)
    frac = np.clip((m - M_HEF) / (2.5 - M_HEF), 0.0, 1.0)
    p = 6.0 - frac
    log_d_high = np.maximum.reduce(
        [np.full_like(m, -1.0), 0.975 * LOG_D0 - 0.18 * m, 0.5 * LOG_D0 - 0.06 * m]
    )
    log_d = (1.0 - frac) * LOG_D0 + frac * log_d_high
    a_h = 10.0 ** np.maximum(-4.8, np.minimum(-5.7 + 0.8 * m, -4.1 + 0.14 * m))
    return p, 10.0**log_d, a_h


def _gb_time(p, d, a_h, l_from, l_to):
    """Time (Myr) for the core to grow from luminosity l_from to l_to on the giant branch."""
    return ((d / l_from) ** ((p - 1) / p) - (d / l_to) ** ((p - 1) / p)) / ((p - 1) * a_h * d)


def _gb_luminosity(p, d, a_h, l_from, dt):
    """Luminosity after dt (Myr) on the giant branch, starting at l_from."""
    x = (d / l_from) ** ((p - 1) / p) - (p - 1) * a_h * d * dt
    return d * np.maximum(x, 1e-300) ** (-p / (p - 1))


def _l_zhe(mc):
    return 15262.0 * mc**10.25 / (mc**9 + 29.54 * mc**7.5 + 31.18 * mc**6 + 0.0469)


def _r_zhe(mc):
    return 0.2391 * mc**4.6 / (mc**4 + 0.162 * mc**3 + 0.0065)


def track(mass) -> dict[str, np.ndarray]:
    """Mass-only quantities of the evolution (module docstring), exactly from the fits."""
    m = np.asarray(mass, dtype=float)
    l_z, r_z = zams(m)
    tms, tbgb = t_ms(m), t_bgb(m)
    lbgb = l_bgb(m)
    lhei = np.maximum(l_hei(m), lbgb * 1.0001)
    p, d, a_h = _core_law(m)
    t_gb = _gb_time(p, d, a_h, lbgb, lhei)
    mc_hei = (lhei / d) ** (1.0 / p)
    mu = np.clip((m - mc_hei) / (M_HEF - mc_hei), 1e-6, 1.0)
    t_he = np.where(m < M_HEF, _B39, tbgb * (_B41 * m**_B42 + _B43 * m**5) / (_B44 + m**5))
    l_zahb = _l_zhe(mc_hei) + (1 + _B20) / (1 + _B20 * mu**1.6479) * _B18 * mu**_B19
    f = (1 + _B21) * mu**_B22 / (1 + _B21 * mu**_B23)
    l_he = np.where(m < M_HEF, np.minimum(l_zahb, lhei), lhei)
    r_he = np.where(m < M_HEF, (1 - f) * _r_zhe(mc_hei) + f * r_gb(m, l_he), r_gb(m, l_he))
    # E-AGB: the CO core from L_BAGB to the dredge-up core mass at the helium-burning rate (a
    # star whose dredge-up luminosity lies below L_BAGB, the most massive, has none).
    lbagb = l_bagb(m)
    l_du = d * mc_dredge_up(m) ** p
    t_eagb = np.where(l_du > lbagb, _gb_time(p, d, A_HE, lbagb, np.maximum(l_du, lbagb)), 0.0)
    return {
        "l_z": l_z, "r_z": r_z, "t_ms": tms, "t_bgb": tbgb, "l_tms": l_tms(m),
        "r_tms": r_tms(m), "l_bgb": lbgb, "r_bgb": r_gb(m, lbgb), "l_hei": lhei, "p": p,
        "d": d, "a_h": a_h, "t_gb": t_gb, "t_he": t_he, "l_he": l_he, "r_he": r_he,
        "l_bagb": lbagb, "l_du": l_du, "t_eagb": t_eagb,
    }  # fmt: skip


def _core_climb(k, t, start, duration, rate, l_from, l_cap):
    """Stars on a core-mass-luminosity climb (the giant branch, at the hydrogen-burning rate;
    the early AGB, at the helium-burning rate): the mask of those between ``start`` and
    ``start + duration`` (Myr), and their luminosity from ``l_from``, at most ``l_cap`` (1
    elsewhere)."""
    on = (t >= start) & (t < start + duration)
    lum = np.ones_like(t)
    lum[on] = np.minimum(
        _gb_luminosity(
            k["p"][on], k["d"][on], np.broadcast_to(rate, t.shape)[on], l_from[on], (t - start)[on]
        ),
        l_cap[on],
    )
    return on, lum


def evolve(mass, age_myr, tracks: dict | None = None) -> dict[str, np.ndarray]:
    """Luminosity, radius, Teff, phase and ``alive`` of stars of this mass and age (Myr).

    Phases MS, HG, GB, CHEB, EAGB as in the module docstring; alive is False after the early
    AGB (the star has left for the thermally pulsing AGB or become a remnant).
    """
    t = np.asarray(age_myr, dtype=float)
    k = track(mass) if tracks is None else tracks
    tms, tbgb = k["t_ms"], k["t_bgb"]
    tau = np.clip(t / tms, 0.0, 1.0)
    l_ms = k["l_z"] * (k["l_tms"] / k["l_z"]) ** (0.5 * (tau + tau * tau))
    r_ms = k["r_z"] * (k["r_tms"] / k["r_z"]) ** (tau * tau)
    hg = np.clip((t - tms) / np.maximum(tbgb - tms, 1e-9), 0.0, 1.0)
    l_hg = k["l_tms"] * (k["l_bgb"] / k["l_tms"]) ** hg
    r_hg = k["r_tms"] * (k["r_bgb"] / k["r_tms"]) ** hg
    giant, l_giant = _core_climb(k, t, tbgb, k["t_gb"], k["a_h"], k["l_bgb"], k["l_hei"])
    m = np.asarray(mass, dtype=float)
    r_giant = r_gb(m, l_giant)
    t_bagb = tbgb + k["t_gb"] + k["t_he"]
    agb, l_agb = _core_climb(k, t, t_bagb, k["t_eagb"], A_HE, k["l_bagb"], k["l_du"])
    r_agb_now = r_agb(m, l_agb)
    phase = np.select(
        [t < tms, t < tbgb, giant, t < t_bagb, agb],
        [MS, HG, GB, CHEB, EAGB],
        -1,
    )
    lum = np.choose(np.maximum(phase, 0), [l_ms, l_hg, l_giant, k["l_he"], l_agb])
    rad = np.choose(np.maximum(phase, 0), [r_ms, r_hg, r_giant, k["r_he"], r_agb_now])
    teff = L_SUN_TEFF * (lum / rad**2) ** 0.25
    return {"lum": lum, "radius": rad, "teff": teff, "phase": phase, "alive": phase >= 0}


def kroupa_weight(mass) -> np.ndarray:
    """M phi(M) of the Kroupa IMF normalised to its maximum on the mass range (at 0.08 M_sun).

    With log-uniform proposals this is the acceptance probability that makes masses Kroupa.
    """
    m = np.asarray(mass, dtype=float)
    lo, _ = IMF_MASS_RANGE
    a1, a2 = IMF_SLOPES
    below = (m / lo) ** (1.0 - a1)
    above = (IMF_BREAK / lo) ** (1.0 - a1) * (m / IMF_BREAK) ** (1.0 - a2)
    return np.where(m < IMF_BREAK, below, above)


def sfh_density(component, age, lo_gyr, hi_gyr) -> np.ndarray:
    """Probability density (per Gyr) of a star's age under its component's history: uniform
    over [lo, hi], except the thin disc, whose star-formation rate declined with time,
    SFR ~ exp(-(time since its start) / THIN_SFR_TIMESCALE_GYR), i.e. density ~ exp(age / tau)."""
    age = np.asarray(age, dtype=float)
    span = hi_gyr - lo_gyr
    tau = THIN_SFR_TIMESCALE_GYR
    if not math.isfinite(tau):
        return 1.0 / span
    thin = np.exp((age - hi_gyr) / tau) / (tau * -np.expm1(-span / tau))
    return np.where(component == galaxy.THIN, thin, 1.0 / span)


def proposal_tilt(mass) -> np.ndarray:
    """Factor by which the proposals' mass distribution departs from the IMF (undone by the
    weights): fewer low masses (seen only nearby), more high masses (seen far, and rare)."""
    m = np.asarray(mass, dtype=float)
    low = np.minimum((m / MASS_PIVOT) ** MASS_TILT, 1.0)
    high = np.maximum((m / HIGH_MASS_PIVOT) ** HIGH_MASS_TILT, 1.0)
    return low * high


def _tilted_segments():
    """Segments (lo, hi, exponent of dN/dM, relative number) of the tilted IMF."""
    lo, hi = IMF_MASS_RANGE
    edges = sorted({lo, IMF_BREAK, MASS_PIVOT, HIGH_MASS_PIVOT, hi})
    segments = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        mid = math.sqrt(a * b)
        slope = -(IMF_SLOPES[0] if mid < IMF_BREAK else IMF_SLOPES[1])
        slope += MASS_TILT if mid < MASS_PIVOT else 0.0
        slope += HIGH_MASS_TILT if mid > HIGH_MASS_PIVOT else 0.0
        # Amplitude: kroupa_weight(M) / M is dN/dM up to a constant; times the tilt.
        amp = float(kroupa_weight(np.array([a]))[0] / a * proposal_tilt(np.array([a]))[0])
        amp /= a**slope
        k = slope + 1.0
        number = amp * (b**k - a**k) / k if abs(k) > 1e-9 else amp * math.log(b / a)
        segments.append((a, b, slope, number))
    return segments


def draw_tilted_imf(rng, n) -> np.ndarray:
    """Masses from dN/dM ~ Kroupa(M) proposal_tilt(M), by inverse CDF."""
    segments = _tilted_segments()
    numbers = np.array([s[3] for s in segments])
    which = rng.choice(len(segments), size=n, p=numbers / numbers.sum())
    u = rng.random(n)
    out = np.empty(n)
    for i, (a, b, slope, _) in enumerate(segments):
        sel = which == i
        k = slope + 1.0
        if abs(k) <= 1e-9:
            out[sel] = a * (b / a) ** u[sel]
        else:
            out[sel] = (a**k + u[sel] * (b**k - a**k)) ** (1.0 / k)
    return out


def multiplicity(mass) -> np.ndarray:
    """Multiplicity frequency against primary mass (Duchene & Kraus 2013), linear in log M."""
    nodes = np.asarray(MULTIPLICITY)
    return np.interp(np.log10(mass), np.log10(nodes[:, 0]), nodes[:, 1])


def period_law(mass1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sigma of log10 P[d] for primaries of this mass: Raghavan et al. (2010) from
    1 M_sun up, M dwarfs' closer companions (Duchene & Kraus 2013, Table 1: separations peaking
    at ~5.3 au, sigma 1.3 dex in log a, i.e. log P ~ 3.85 +/- 1.95 at 0.3 M_sun) below, linear
    in log M1 between (approx.)."""
    m = np.asarray(mass1, dtype=float)
    (m_lo, mu_lo, sig_lo), (m_hi, mu_hi, sig_hi) = (
        LOW_MASS_PERIODS,
        (
            1.0,
            LOG_PERIOD_MEAN,
            LOG_PERIOD_SIGMA,
        ),
    )
    t = np.clip(np.log(m / m_lo) / math.log(m_hi / m_lo), 0.0, 1.0)
    return mu_lo + t * (mu_hi - mu_lo), sig_lo + t * (sig_hi - sig_lo)


def eclipse_weight(radius_sum, total_mass, mass1=None):
    """(W / f_bin, x_min, mu'): chance that a binary with these radii and mass eclipses.

    W / f_bin = integral over the log-normal periods with a > R1 + R2 of (R1 + R2) / a
    (closed form in the module docstring); x_min = log10 of the shortest period allowed. The
    periods are Raghavan's, or with ``mass1`` the primary mass's (:func:`period_law`).
    """
    k = 2.0 / 3.0 * math.log(10.0)
    if mass1 is None:
        mu, sigma = LOG_PERIOD_MEAN, LOG_PERIOD_SIGMA
    else:
        mu, sigma = period_law(mass1)
    r = radius_sum / (KEPLER_RSUN * np.cbrt(total_mass))
    x_min = 1.5 * np.log10(r)
    mu_eb = mu - k * sigma**2
    w = r * np.exp(-k * mu + 0.5 * k * k * sigma * sigma) * special.ndtr((mu_eb - x_min) / sigma)
    return w, x_min, mu_eb


def draw_log_period(rng, x_min, mu_eb, sigma=LOG_PERIOD_SIGMA) -> np.ndarray:
    """log10 P[d] of eclipsing pairs: N(mu', sigma) truncated below at x_min (inverse CDF)."""
    tail = special.ndtr((mu_eb - x_min) / sigma)
    u = rng.random(np.shape(x_min))
    return mu_eb - sigma * special.ndtri(u * tail)


def close_fraction(mass) -> np.ndarray:
    """Share of a primary's binaries that follow the massive-star period distribution:
    0 below 1.5 M_sun, 1 above 16 M_sun, linear in log M between (module docstring)."""
    lo, hi = CLOSE_MASS_RANGE
    return np.clip(np.log(np.asarray(mass, dtype=float) / lo) / math.log(hi / lo), 0.0, 1.0)


def _massive_density():
    """Nodes x = log10 P and the Sana et al. (2012) density f ~ x^-0.55 on them (unnormalised)."""
    lo, hi = MASSIVE_LOG_PERIOD_RANGE
    x = np.linspace(lo, hi, 4001)
    return x, x**MASSIVE_LOG_PERIOD_SLOPE


@functools.lru_cache(maxsize=1)
def _massive_table():
    """Nodes x = log10 P and F(x) = integral from x to the top of f(x') 10^(-2x'/3) dx',
    f the massive-star density (:func:`_massive_density`), normalised."""
    x, f = _massive_density()
    f /= np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(x))
    integrand = f * 10.0 ** (-2.0 * x / 3.0)
    steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(x)
    tail = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    for array in (x, tail):
        array.setflags(write=False)
    return x, tail


def massive_eclipse_weight(radius_sum, total_mass) -> np.ndarray:
    """W / f_bin for the massive-star period distribution: r F(max(x_min, x_lo))."""
    x, tail = _massive_table()
    r = radius_sum / (KEPLER_RSUN * np.cbrt(total_mass))
    x_min = 1.5 * np.log10(r)
    return r * np.interp(x_min, x, tail, left=tail[0], right=0.0)


def draw_massive_log_period(rng, x_min) -> np.ndarray:
    """log10 P of eclipsing pairs under the massive-star distribution, truncated at x_min."""
    x, tail = _massive_table()
    top = np.interp(x_min, x, tail, left=tail[0], right=0.0)
    target = top * (1.0 - rng.random(np.shape(x_min)))
    # tail decreases with x: interpolate x against the reversed arrays.
    return np.interp(target, tail[::-1], x[::-1])


def detection_probability(radius_sum, separation) -> np.ndarray:
    """Chance that at least two of Gaia's epochs fall in eclipse (module docstring)."""
    lam = GAIA_EPOCHS * radius_sum / (2.0 * separation)
    return -np.expm1(-lam) - lam * np.exp(-lam)


def ellipsoidal_alpha(u=ELLIPSOIDAL_U, tau=ELLIPSOIDAL_TAU) -> float:
    """Morris & Naftilan's (1993, ApJ 419, 344) coefficient of the ellipsoidal amplitude."""
    return 0.15 * (15.0 + u) * (1.0 + tau) / (3.0 - u)


def ellipsoidal_coefficient(g1, g2, mass1, mass2, radius1, radius2) -> np.ndarray:
    """C such that the ellipsoidal semi-amplitude in relative flux is C sin^2 i / a^3 (a, R in
    R_sun): the sum over the components of light share x alpha (M_other / M) R^3 (Morris &
    Naftilan 1993; each star is tidally distorted by the other)."""
    f1 = 10.0 ** (-0.4 * np.asarray(g1, dtype=float))
    f2 = 10.0 ** (-0.4 * np.asarray(g2, dtype=float))
    share1 = f1 / (f1 + f2)
    alpha = ellipsoidal_alpha()
    return alpha * (
        share1 * (mass2 / mass1) * radius1**3 + (1.0 - share1) * (mass1 / mass2) * radius2**3
    )


def flux_to_peak_to_peak(semi_amplitude) -> np.ndarray:
    """Peak-to-peak magnitude range of a light curve 1 - A cos(2 phi) (A small)."""
    return 2.0 * 2.5 / math.log(10.0) * np.asarray(semi_amplitude, dtype=float)


def roche_separation(mass1, mass2, radius1, radius2) -> np.ndarray:
    """Smallest separation (R_sun) at which both stars fit inside their Roche lobes."""
    return np.maximum(radius1 / roche_lobe(mass1 / mass2), radius2 / roche_lobe(mass2 / mass1))


def log_period_at(separation, total_mass) -> np.ndarray:
    """log10 P[d] of a circular orbit of this separation (R_sun), Kepler's third law."""
    return 1.5 * np.log10(separation / (KEPLER_RSUN * np.cbrt(total_mass)))


def ellipsoidal_period_range(coefficient, a_roche, total_mass) -> tuple[np.ndarray, np.ndarray]:
    """log10 P range in which an ellipsoidal variation can be seen: from Roche-lobe contact to
    the separation at which its largest amplitude (sin i = 1) falls to DEPTH_SIGMAS epoch sigmas
    at Gaia's noise floor. Empty (hi <= lo) if it never can."""
    floor = DEPTH_SIGMAS * float(epoch_sigma(-np.inf))  # mag, peak-to-peak
    semi = floor / flux_to_peak_to_peak(1.0)
    a_hi = np.cbrt(coefficient / semi)
    return log_period_at(a_roche, total_mass), log_period_at(a_hi, total_mass)


def _solar_period_mass(mass1, lo, hi):
    """Share of the solar-type log-normal periods (of this primary mass) in [lo, hi]."""
    mu, sigma = period_law(mass1)
    return np.maximum(special.ndtr((hi - mu) / sigma) - special.ndtr((lo - mu) / sigma), 0.0)


@functools.lru_cache(maxsize=1)
def _massive_cdf():
    """Nodes x = log10 P and the cumulative share of the massive-star distribution at x."""
    x, f = _massive_density()
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    for array in (x, cdf):
        array.setflags(write=False)
    return x, cdf


def _massive_period_mass(lo, hi):
    """Share of the massive-star periods in [lo, hi]."""
    x, cdf = _massive_cdf()
    return np.maximum(np.interp(hi, x, cdf) - np.interp(lo, x, cdf), 0.0)


def draw_log_period_between(rng, mass1, lo, hi, massive) -> np.ndarray:
    """log10 P drawn from the solar-type (or, where ``massive``, the massive-star) period
    distribution truncated to [lo, hi] (inverse CDF)."""
    mu, sigma = period_law(mass1)
    c_lo, c_hi = special.ndtr((lo - mu) / sigma), special.ndtr((hi - mu) / sigma)
    u = rng.random(np.shape(lo))
    solar = mu + sigma * special.ndtri(np.clip(c_lo + u * (c_hi - c_lo), 1e-300, 1.0 - 1e-16))
    x, cdf = _massive_cdf()
    m_lo, m_hi = np.interp(lo, x, cdf), np.interp(hi, x, cdf)
    heavy = np.interp(m_lo + u * (m_hi - m_lo), cdf, x)
    return np.where(massive, heavy, solar)


def eclipse_depth(g1, g2, radius1, radius2) -> np.ndarray:
    """Depth (mag) of the deeper central eclipse: the fraction of the pair's G-band light hidden
    when the smaller disc covers part of the larger (uniform discs, no limb darkening)."""
    f1 = 10.0 ** (-0.4 * np.asarray(g1, dtype=float))
    f2 = 10.0 ** (-0.4 * np.asarray(g2, dtype=float))
    total = f1 + f2
    hide1 = f1 / total * np.minimum((radius2 / radius1) ** 2, 1.0)
    hide2 = f2 / total * np.minimum((radius1 / radius2) ** 2, 1.0)
    return -2.5 * np.log10(1.0 - np.minimum(np.maximum(hide1, hide2), 1.0 - 1e-9))


def epoch_sigma(g) -> np.ndarray:
    """Uncertainty (mag) of one G-band epoch: the mean-magnitude uncertainty of
    :func:`ebteff.sim.simulate.gaia_sigma` (0.3 mmag floor, 6 mmag at G = 20; after Riello et al.
    2021) times sqrt(GAIA_EPOCHS)."""
    g = np.asarray(g, dtype=float)
    return math.sqrt(GAIA_EPOCHS) * np.hypot(0.0003, 0.006 * 10.0 ** (0.4 * (g - 20.0)))


def depth_limit(depth) -> np.ndarray:
    """Faintest G at which an eclipse of this depth (mag) exceeds DEPTH_SIGMAS epoch sigmas
    (-inf if never: below the noise floor)."""
    per_epoch = np.asarray(depth, dtype=float) / (DEPTH_SIGMAS * math.sqrt(GAIA_EPOCHS))
    excess = per_epoch**2 - 0.0003**2
    with np.errstate(divide="ignore", invalid="ignore"):
        limit = 20.0 + 2.5 * np.log10(np.sqrt(np.maximum(excess, 0.0)) / 0.006)
    return np.where(excess > 0, limit, -np.inf)


def combined_teff(teff1, teff2, radius1, radius2) -> np.ndarray:
    """Teff of the combined light: (sum R^2 T^4 / sum R^2)^(1/4)."""
    r1, r2 = radius1**2, radius2**2
    t1, t2 = (np.asarray(teff1) / 1e4) ** 4, (np.asarray(teff2) / 1e4) ** 4
    return 1e4 * ((r1 * t1 + r2 * t2) / (r1 + r2)) ** 0.25


def roche_lobe(q) -> np.ndarray:
    """Roche-lobe radius over the separation of a star with mass ratio q = M_star / M_other
    (Eggleton 1983, ApJ 268, 368)."""
    q3 = np.cbrt(np.asarray(q, dtype=float))
    return 0.49 * q3 * q3 / (0.6 * q3 * q3 + np.log1p(q3))


def contact_rfo(m_v) -> np.ndarray:
    """Contact binaries per main-sequence star of this absolute magnitude (CONTACT_RFO)."""
    m_v = np.asarray(m_v, dtype=float)
    bounds = [b for b, _ in CONTACT_RFO]
    values = np.asarray([v for _, v in CONTACT_RFO])
    return values[np.searchsorted(bounds, m_v, side="left")]


def draw_contact_q(rng, n, q_lo) -> np.ndarray:
    """Mass ratios from Q(q) ~ (1 - q)^k on [q_lo, 1] (inverse CDF; k = CONTACT_Q_EXPONENT)."""
    k1 = CONTACT_Q_EXPONENT + 1.0
    return 1.0 - (1.0 - np.asarray(q_lo, dtype=float)) * (1.0 - rng.random(n)) ** (1.0 / k1)


def contact_binary(mass1, mass2, lum1, lum2, radius1) -> dict[str, np.ndarray]:
    """A contact binary of two main-sequence stars (module docstring).

    The primary keeps its main-sequence radius and fills its Roche lobe, which fixes the
    separation; the secondary fills its own lobe; the common envelope shares the components'
    luminosity over both surfaces at one Teff. Returns radius2, teff (K), separation (R_sun),
    period (d) and m_bol (the pair's absolute bolometric magnitude).
    """
    m1, m2 = np.asarray(mass1, dtype=float), np.asarray(mass2, dtype=float)
    separation = radius1 / roche_lobe(m1 / m2)
    radius2 = roche_lobe(m2 / m1) * separation
    lum = lum1 + lum2
    teff = L_SUN_TEFF * (lum / (radius1**2 + radius2**2)) ** 0.25
    period = (separation / (KEPLER_RSUN * np.cbrt(m1 + m2))) ** 1.5
    m_bol = M_BOL_SUN - 2.5 * np.log10(lum)
    return {
        "radius2": radius2, "teff": teff, "separation": separation, "period": period,
        "m_bol": m_bol,
    }  # fmt: skip


@functools.lru_cache(maxsize=2)
def _min_extinction_ratio(grid: stellar.KuruczGrid) -> float:
    """The smallest A_G / A0 anywhere in the grid (A0 > 0), a bound for cheap rejections."""
    ratio = grid.ax[..., 1:, 0] / grid.a0[1:]
    return float(np.min(ratio)) * (1.0 - 1e-9)


def _extinction(grid: stellar.KuruczGrid, teff, logg, feh, a0) -> np.ndarray:
    """Gaia-band extinction; beyond the grid's 10 mag of A0 scaled linearly from 10 mag."""
    a0 = np.asarray(a0, dtype=float)
    top = grid.a0[-1]
    ext = grid.extinction(teff, logg, feh, np.minimum(a0, top))
    return np.where(a0[:, None] > top, ext * (a0 / top)[:, None], ext)


def _take(stars: dict, mask) -> dict:
    return {k: v[mask] for k, v in stars.items()}


#: Share of proposals that are contact binaries (the weights undo it).
CONTACT_PROPOSAL = 0.3
#: Proposal probabilities of the components (thin, thick, bulge); the weights undo them.
COMPONENT_PROPOSAL = (0.7, 0.15, 0.15)
#: Proposals below MASS_PIVOT (M_sun) are thinned by (M / MASS_PIVOT)^MASS_TILT.
MASS_PIVOT, MASS_TILT = 1.0, 2.0
#: ... and above HIGH_MASS_PIVOT raised by (M / HIGH_MASS_PIVOT)^HIGH_MASS_TILT.
HIGH_MASS_PIVOT, HIGH_MASS_TILT = 2.0, 0.6
#: Share of proposals whose age is drawn within the primary's post-main-sequence window.
POST_MS_PROPOSAL = 0.5
#: Bulge stars closer than this to the Sun (< 0.3% of the bulge's mass) are not proposed.
BULGE_NEAR_PC = 4000.0
#: Distance beyond which nothing is proposed (the discs' density there is < 1e-6 of the Sun's).
D_MAX_PC = 50_000.0
#: Intensity unit of the Poisson copies (any value gives the same distribution; smaller values
#: draw fewer proposals but repeat a proposed binary at more places: module docstring).
COPY_UNIT = 0.02


def _post_ms_window(k, lo_gyr, hi_gyr):
    """Ages (Gyr) at which a star with these tracks is past its main sequence and still alive,
    intersected with the star-formation window [lo, hi]: (start, width, end of life or hi);
    empty windows have width 0."""
    end = k["t_bgb"] + k["t_gb"] + k["t_he"] + k["t_eagb"]
    start = np.maximum(k["t_ms"] / 1000.0, lo_gyr)
    stop = np.minimum(end / 1000.0, hi_gyr)
    return start, np.maximum(stop - start, 0.0), stop


def _disc_position_weight(d_lim, component):
    """Weight of the disc position proposal for a star visible to d_lim (pc).

    Near stars: the cylinder of radius d_lim about the Sun's projection, holding at most the
    fraction d_lim^2 exp(-R_min / L) / (2 L^2) of the disc's mass (R_min the smallest R in it).
    Far ones: the whole disc (fraction 1). Whichever is smaller is used; both are exact.
    Returns (weight, use_cylinder, L, R_min).
    """
    length = np.where(
        component == galaxy.THIN, galaxy.THIN_SCALE_LENGTH_PC, galaxy.THICK_SCALE_LENGTH_PC
    )
    r_min = np.maximum(galaxy.R0_PC - d_lim, 0.0)
    cylinder = d_lim**2 * np.exp(-r_min / length) / (2.0 * length**2)
    return np.minimum(cylinder, 1.0), cylinder < 1.0, length, r_min


def propose(rng, n, grid: stellar.KuruczGrid) -> dict[str, np.ndarray]:
    """n proposed primaries with their companions, each with its number of catalogue copies."""
    # Masses from the Kroupa IMF tilted by (M / MASS_PIVOT)^MASS_TILT below the pivot (low
    # masses, which Gaia sees only nearby, are proposed less often; the weight undoes it).
    mass1 = draw_tilted_imf(rng, n)
    tilt = proposal_tilt(mass1)
    p_c = np.asarray(COMPONENT_PROPOSAL)
    component = rng.choice(3, size=n, p=p_c).astype(np.int8)
    mass_share = np.asarray(galaxy.COMPONENT_MASS) / np.sum(galaxy.COMPONENT_MASS)
    lo_age = np.choose(component, [AGE_RANGE_GYR[c][0] for c in range(3)])
    hi_age = np.choose(component, [AGE_RANGE_GYR[c][1] for c in range(3)])
    tracks1 = track(mass1)
    # Ages: uniform over the ages at which the primary is alive, or (POST_MS_PROPOSAL of the
    # time) over those at which it is past its main sequence; the weight restores the history.
    start, width, alive_end = _post_ms_window(tracks1, lo_age, hi_age)
    alive_width = np.maximum(alive_end - lo_age, 0.0)
    late = (rng.random(n) < POST_MS_PROPOSAL) & (width > 0)
    age = np.where(late, start + rng.random(n) * width, lo_age + rng.random(n) * alive_width)
    in_window = (age >= start) & (age <= start + width) & (width > 0)
    share_late = POST_MS_PROPOSAL * (width > 0)
    q_age = (1.0 - share_late) / np.maximum(alive_width, 1e-12) + np.where(
        in_window, POST_MS_PROPOSAL / np.maximum(width, 1e-12), 0.0
    )
    history = sfh_density(component, age, lo_age, hi_age)
    share_c = (mass_share / p_c)[component]
    weight = np.where(alive_width > 0, share_c * history / (q_age * tilt), 0.0)
    primary = evolve(mass1, age * 1000.0, tracks1)
    # A proposal is a contact binary (CONTACT_PROPOSAL of the time) or a detached one, each
    # with its own mass ratios; the weight undoes the choice.
    contact = rng.random(n) < CONTACT_PROPOSAL
    q_lo = np.minimum(np.maximum(Q_MIN, SECONDARY_MIN_MASS / mass1), 1.0)
    q_detached = rng.uniform(q_lo, 1.0)
    q_contact = draw_contact_q(rng, n, np.maximum(CONTACT_Q_MIN, q_lo))
    mass2 = np.where(contact, q_contact, q_detached) * mass1
    secondary = evolve(mass2, age * 1000.0)
    radius_sum = primary["radius"] + secondary["radius"]
    w_solar, x_min, _ = eclipse_weight(radius_sum, mass1 + mass2, mass1)
    share = close_fraction(mass1)
    w_massive = share * massive_eclipse_weight(radius_sum, mass1 + mass2)
    w_ecl = (1.0 - share) * w_solar + w_massive
    # Ellipsoidal variables: the periods at which the tidal distortion could be seen at Gaia's
    # noise floor, each counted once (an upper bound of the detection chance, thinned in place).
    total_mass = mass1 + mass2
    # (the coefficient's bound: the more distorted star alone, whatever the light shares)
    ell_c = ellipsoidal_alpha() * np.maximum(
        mass2 / mass1 * primary["radius"] ** 3, mass1 / mass2 * secondary["radius"] ** 3
    )
    a_roche = roche_separation(mass1, mass2, primary["radius"], secondary["radius"])
    x_lo, x_hi = ellipsoidal_period_range(ell_c, a_roche, total_mass)
    x_lo = np.maximum(x_lo, math.log10(GAIA_P_MIN_DAYS))
    w_ell_massive = share * _massive_period_mass(x_lo, x_hi)
    w_ell = (1.0 - share) * _solar_period_mass(mass1, x_lo, x_hi) + w_ell_massive
    w_detached = multiplicity(mass1) * (w_ecl + w_ell)
    # Contact: both components on the main sequence, the period above the cut-off; eclipsing
    # with probability (R1 + R2) / a.
    cb = contact_binary(mass1, mass2, primary["lum"], secondary["lum"], primary["radius"])
    on_ms = (primary["phase"] == MS) & (secondary["phase"] == MS)
    w_contact = np.where(
        on_ms & (cb["period"] >= CONTACT_P_MIN_DAYS),
        contact_rfo(cb["m_bol"]) * (primary["radius"] + cb["radius2"]) / cb["separation"],
        0.0,
    )
    w_binary = np.where(
        contact, w_contact / CONTACT_PROPOSAL, w_detached / (1.0 - CONTACT_PROPOSAL)
    )
    weight = weight * w_binary * (primary["alive"] & secondary["alive"])
    # Copies ~ Poisson(weight x position weight / COPY_UNIT), the position weight <= 1, drawn
    # in two exact steps: Poisson(weight / COPY_UNIT) first, then each copy kept with the
    # position weight (binomial thinning), so magnitudes are computed only where a copy exists.
    first = rng.poisson(weight / COPY_UNIT)
    sel = np.flatnonzero(first > 0)
    stars = {
        "mass1": mass1[sel],
        "mass2": mass2[sel],
        "component": component[sel],
        "age": age[sel],
        "teff1": np.where(contact, cb["teff"], primary["teff"])[sel],
        "teff2": np.where(contact, cb["teff"], secondary["teff"])[sel],
        "radius1": primary["radius"][sel],
        "radius2": np.where(contact, cb["radius2"], secondary["radius"])[sel],
        "stage1": primary["phase"][sel].astype(np.int8),
        "stage2": secondary["phase"][sel].astype(np.int8),
        "x_min": x_min[sel],
        "p_massive": np.where(contact, 0.0, w_massive / np.maximum(w_ecl, 1e-300))[sel],
        "p_ellipsoidal": np.where(contact, 0.0, w_ell / np.maximum(w_ecl + w_ell, 1e-300))[sel],
        "p_massive_ell": (w_ell_massive / np.maximum(w_ell, 1e-300))[sel],
        "x_lo_ell": x_lo[sel],
        "x_hi_ell": x_hi[sel],
        "contact": contact[sel],
        "contact_period": np.where(contact, cb["period"], np.nan)[sel],
    }
    first = first[sel]
    c = stars["component"]
    feh_mean = np.choose(c, [FEH[k][0] for k in range(3)])
    feh_std = np.choose(c, [FEH[k][1] for k in range(3)])
    stars["feh"] = np.clip(rng.normal(feh_mean, feh_std), *FEH_RANGE)
    stars["logg1"] = stellar.logg_from_mass_radius(stars["mass1"], stars["radius1"])
    stars["logg2"] = stellar.logg_from_mass_radius(stars["mass2"], stars["radius2"])
    abs1 = grid.absolute_magnitudes(stars["teff1"], stars["logg1"], stars["feh"], stars["radius1"])
    abs2 = grid.absolute_magnitudes(stars["teff2"], stars["logg2"], stars["feh"], stars["radius2"])
    g_abs = stellar.combine_magnitudes(abs1[:, 0], abs2[:, 0])
    # Faintest G at which Gaia would see it: the catalogue limit, or where its eclipse sinks
    # into the noise (exactly the place step's depth cut, since the noise grows with G).
    depth = eclipse_depth(abs1[:, 0], abs2[:, 0], stars["radius1"], stars["radius2"])
    # ... or where its largest ellipsoidal amplitude (Roche-lobe contact, sin i = 1) does.
    stars["ell_c"] = ellipsoidal_coefficient(
        abs1[:, 0], abs2[:, 0], stars["mass1"], stars["mass2"], stars["radius1"],
        stars["radius2"],
    )  # fmt: skip
    # (closest orbit: Roche-lobe contact for the ellipsoidal copies, R1 + R2 for eclipsing ones)
    a_min = np.minimum(
        roche_separation(stars["mass1"], stars["mass2"], stars["radius1"], stars["radius2"]),
        stars["radius1"] + stars["radius2"],
    )
    ell_max = flux_to_peak_to_peak(stars["ell_c"] / a_min**3)
    g_lim = np.minimum(G_FAINT, depth_limit(np.maximum(depth, ell_max)))
    stars["g_lim_eclipse"] = depth_limit(depth)
    d_lim = np.minimum(10.0 ** ((g_lim - g_abs + 5.0) / 5.0), D_MAX_PC)
    disc_w = _disc_position_weight(d_lim, c)[0]
    position = np.where(c == galaxy.BULGE, (d_lim > BULGE_NEAR_PC).astype(float), disc_w)
    stars.update(abs1=abs1, abs2=abs2, d_lim=d_lim, g_lim=g_lim)
    stars["copies"] = rng.binomial(first, np.clip(position, 0.0, 1.0))
    return stars


def place(rng, stars: dict, grid: stellar.KuruczGrid) -> dict[str, np.ndarray]:
    """Each copy of a proposed binary: its period, position, dust and Gaia selection."""
    stars = {k: np.repeat(v, stars["copies"], axis=0) for k, v in stars.items() if k != "copies"}
    m = stars["mass1"].size
    mu, sigma = period_law(stars["mass1"])
    mu_eb = mu - 2.0 / 3.0 * math.log(10.0) * sigma**2
    solar = draw_log_period(rng, stars["x_min"], mu_eb, sigma)
    massive = draw_massive_log_period(rng, stars["x_min"])
    period = 10.0 ** np.where(rng.random(m) < stars["p_massive"], massive, solar)
    period = np.where(stars["contact"], stars["contact_period"], period)
    # Ellipsoidal copies: a period within the visible range, an inclination at which the pair
    # does not eclipse (those are the eclipsing copies), and the faintest G at which the
    # amplitude is seen.
    ellipsoidal = rng.random(m) < stars["p_ellipsoidal"]
    massive_ell = rng.random(m) < stars["p_massive_ell"]
    x_ell = draw_log_period_between(
        rng, stars["mass1"], stars["x_lo_ell"], stars["x_hi_ell"], massive_ell
    )
    period = np.where(ellipsoidal, 10.0**x_ell, period)
    total = stars["mass1"] + stars["mass2"]
    separation = KEPLER_RSUN * np.cbrt(total) * period ** (2.0 / 3.0)
    radius_sum = stars["radius1"] + stars["radius2"]
    # Inclinations: uniform in cos i, among the eclipsing ones for eclipsing copies. An
    # eclipsing copy is seen if Gaia's epochs catch an eclipse deep enough, or (whether or not
    # they do) its ellipsoidal variation is large enough: a dwarf's shallow eclipse of a giant
    # is found through the giant's tidal distortion.
    grazing = np.minimum(radius_sum / separation, 1.0)
    cos_i = rng.random(m) * np.where(ellipsoidal, 1.0, grazing)
    ell_depth = flux_to_peak_to_peak(stars["ell_c"] * (1.0 - cos_i**2) / separation**3)
    g_ell = depth_limit(ell_depth)
    caught = rng.random(m) < detection_probability(radius_sum, separation)
    g_eclipse = np.where(caught, stars.pop("g_lim_eclipse"), -np.inf)
    ok = np.where(ellipsoidal, cos_i > grazing, True) & (period >= GAIA_P_MIN_DAYS)
    stars["g_lim"] = np.minimum(G_FAINT, np.where(ellipsoidal, g_ell, np.maximum(g_eclipse, g_ell)))
    stars["binary_class"] = np.where(
        stars["contact"], CONTACT, np.where(ellipsoidal, ELLIPSOIDAL, DETACHED)
    ).astype(np.int8)
    # Discs: z from the vertical profile, (x, y) uniform in the circle of radius d_lim about the
    # Sun's projection, kept with probability exp(-(R - R_min)/L) and if within d_lim (3D).
    # Far ones (and the bulge): drawn from the component's whole density.
    c, d_lim = stars["component"], stars["d_lim"]
    _, cylinder, length, r_min = _disc_position_weight(d_lim, c)
    cylinder &= c != galaxy.BULGE
    height = np.where(
        c == galaxy.THIN, galaxy.thin_scale_height(stars["age"]), galaxy.THICK_SCALE_HEIGHT_PC
    )
    rho = d_lim * np.sqrt(rng.random(m))
    phi = rng.uniform(0.0, 2.0 * np.pi, m)
    x_c = galaxy.R0_PC + rho * np.cos(phi)
    y_c = rho * np.sin(phi)
    z_c = rng.laplace(0.0, 1.0, m) * height
    keep = rng.random(m) < np.exp(-(np.hypot(x_c, y_c) - r_min) / length)
    x_g, y_g, z_g = galaxy.draw_positions(rng, c, stars["age"])
    x = np.where(cylinder, x_c, x_g)
    y = np.where(cylinder, y_c, y_g)
    z = np.where(cylinder, z_c, z_g)
    keep_disc = np.where(cylinder, keep, True)
    d, l_deg, b_deg = galaxy.heliocentric(x, y, z)
    ok &= keep_disc & (d < d_lim) & (d > 1.0)
    # The completeness draw now, as the faintest G it lets through: u < expit((G50 - G) / w)
    # exactly when G < G50 - w logit(u).
    u = rng.random(m)
    with np.errstate(divide="ignore"):
        g_complete = EB_COMPLETENESS_G50 - EB_COMPLETENESS_WIDTH * special.logit(u)
    stars.update(period=period, a_sun=separation, distance=d, l=l_deg, b=b_deg)
    stars["g_lim"] = np.minimum(stars["g_lim"], g_complete)
    stars = _take(stars, ok)
    d, l_deg, b_deg = stars["distance"], stars["l"], stars["b"]
    dist_mod = 5.0 * np.log10(d / 10.0)
    # Cheap bounds first: every band's extinction is at least _min_extinction_ratio(grid) A0,
    # and A0 at least galaxy.extinction_lower_bound.
    g0 = stellar.combine_magnitudes(stars["abs1"][:, 0], stars["abs2"][:, 0]) + dist_mod
    k_min = _min_extinction_ratio(grid)
    maybe = g0 + k_min * galaxy.extinction_lower_bound(d, l_deg, b_deg) <= stars["g_lim"]
    stars, g0, dist_mod = _take(stars, maybe), g0[maybe], dist_mod[maybe]
    a0 = galaxy.extinction_to(stars["distance"], stars["l"], stars["b"])
    bright_enough = g0 + k_min * a0 <= stars["g_lim"]
    stars["a0"] = a0
    stars = _take(stars, bright_enough)
    a0, dist_mod = stars["a0"], dist_mod[bright_enough]
    ext1 = _extinction(grid, stars["teff1"], stars["logg1"], stars["feh"], a0)
    ext2 = _extinction(grid, stars["teff2"], stars["logg2"], stars["feh"], a0)
    app = stellar.combine_magnitudes(
        stars["abs1"] + ext1 + dist_mod[:, None], stars["abs2"] + ext2 + dist_mod[:, None]
    )
    g = app[:, 0]
    # g_lim holds the catalogue limit, the eclipse depth against the noise (propose) and the
    # completeness draw (above).
    stars.update(a0=a0, G=g, BP=app[:, 1], RP=app[:, 2])
    stars = _take(stars, (g <= stars["g_lim"]) & (g >= G_BRIGHT))
    for key in (
        "x_min", "p_massive", "d_lim", "g_lim", "contact_period", "p_ellipsoidal",
        "p_massive_ell", "x_lo_ell", "x_hi_ell", "ell_c",
    ):  # fmt: skip
        stars.pop(key)
    stars["ebv_sandf"] = galaxy.full_column_ebv(stars["l"], stars["b"])
    stars["frequency"] = 1.0 / stars["period"]
    stars["giant"] = stars["stage1"] >= GB
    stars["young"] = stars["teff1"] > 10_000.0
    stars["sigma_v"] = galaxy.velocity_dispersion(stars["component"], stars["age"])
    stars["teff_combined"] = combined_teff(
        stars["teff1"], stars["teff2"], stars["radius1"], stars["radius2"]
    )
    return stars


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


#: Candidates drawn per batch (bounds memory; the sequence of batches is deterministic).
BATCH = 200_000


def draw_accepted(rng, n, grid: stellar.KuruczGrid) -> dict[str, np.ndarray]:
    """Exactly n catalogue binaries: batches of candidates drawn from ``rng`` until enough."""
    parts, have = [], 0
    while have < n:
        part = place(rng, propose(rng, BATCH, grid), grid)
        parts.append(part)
        have += part["G"].size
    return {k: v[:n] for k, v in _concat(parts).items()}
