"""The Galaxy of the simulated sky: where stars are, how they move, and the dust in front of them.

Three stellar components, each a density that positions are drawn from exactly (sampling by
volume), and a dust disc whose line-of-sight integral gives each star's extinction. Sources:

- Sun: R0 = 8.2 kpc from the Galactic centre (Bland-Hawthorn & Gerhard 2016, ARA&A 54, 529,
  hereafter BHG16), 20.8 pc above the plane (Bennett & Bovy 2019, MNRAS 482, 1417).
- Thin disc: rho ~ exp(-R / 2.6 kpc) exp(-|z| / h(t)) (scale length BHG16 and Juric et al. 2008,
  ApJ 673, 864). Its scale height grows with the stars' age t through disc heating:
  h(t) = 300 pc ((t + 0.1 Gyr) / 5.1 Gyr)^0.5, so the mean thin-disc star (age ~5 Gyr under a
  constant star-formation rate) has the 300 pc that star counts give (Juric et al. 2008, BHG16),
  young OB stars ~50 pc (Reed 2000, AJ 120, 314: 45-60 pc) and 1 Gyr-old A stars ~140 pc. The
  square-root law is the isothermal-sheet height h ~ sigma_W^2 with sigma_W ~ t^0.25 (approx.;
  measured exponents 0.25-0.5, Aumer & Binney 2009, MNRAS 397, 1286).
- Thick disc: scale length 2.0 kpc, height 900 pc (BHG16).
- Bulge/bar: a triaxial Gaussian with the scale lengths of Dwek et al. (1995, ApJ 445, 716; G2
  model: 1.58, 0.62, 0.43 kpc; ellipsoidal instead of their boxy isodensities, approx.), its long
  axis 27 deg from the Sun-centre line, near end at positive longitude (BHG16).
- Stellar masses: thin disc 3.5e10, thick disc 6e9, bulge 1.5e10 M_sun (BHG16, Table 2 and
  Sect. 4: bulge 1.4-1.7e10). Stars are formed in proportion to these (present-day masses
  stand for the masses formed: their ratio changes little between old components, approx.).
- Velocity dispersions (one dimension, km/s): thin disc 30 ((t + 0.1) / 5.1)^0.35, the age-
  velocity relation of Aumer & Binney (2009, beta ~0.35, total ~45 km/s at 5 Gyr); thick disc
  50, bulge 100 (BHG16).
- Dust: an exponential disc, dA_V/ds = KAPPA exp(-(R - R0) / 3.0 kpc) exp(-|z| / 134 pc). The
  scale height is Drimmel & Spergel's (2001, ApJ 556, 181: 0.134 kpc). The scale length, 3 kpc,
  lies within the published 2.3-5 kpc (Drimmel & Spergel 2001: 2.26 kpc; Misiriotis et al.
  2006, A&A 459, 113: ~5 kpc for cold dust) and is the one that gives the column toward the
  Galactic centre that is measured, A_V ~ 30 mag (Fritz et al. 2011, ApJ 737, 73: A_Ks ~ 2.4).
  KAPPA = 0.7 mag/kpc in V at the Sun's position (the classical 0.7-1 mag/kpc; e.g. Spitzer
  1978; Vergely et al. 2022 find lower values within 1 kpc). A0 is taken equal to A_V.
  The dust layer flares (Drimmel & Spergel 2001 fit a flaring scale height): its height
  grows linearly with R, h(R) = 134 pc (1 + 0.1417 (R - R0) / kpc), the relative flare of
  the thin dust disc measured from 5 to 14 kpc (60 pc at 5 kpc to 200 pc at 14 kpc;
  "A Tale of Two Dust Disks in Our Milky Way", arXiv:2601.02724), held at its end values
  outside that range (73 pc inside 5 kpc, 244 pc beyond 14 kpc); the mid-plane density keeps
  its exponential. Without the flare the column toward Baade's window, (l, b) = (1.0, -3.9)
  to 8 kpc, was A_V = 4.1; with it 2.1 (2.0 with the Local Bubble below), within the
  1.26-2.79 that red clump stars measure there (Stanek 1996, ApJ 460, L37); toward (0, -6)
  1.3 (1.2) against 2.0.
- The Local Bubble: the Sun sits in a cavity nearly free of dust, blown by supernovae, whose
  wall (the swept-up gas and dust) peaks at an average 170 pc (70-600+ pc by direction; ~35 pc
  thick; O'Neill et al. 2024, ApJ 973, 136, from the 3D dust map of Edenhofer et al. 2024).
  Modelled as a sphere of radius LOCAL_BUBBLE_PC = 170 pc with no dust and a thin wall that
  holds, along each line of sight, the dust the smooth disc had inside it (mass per solid
  angle kept: column integral_0^R dA_V/ds (s / R)^2 ds, a third of the emptied column for a
  uniform density). A star inside has A0 = 0; one beyond has the wall's column plus the
  disc's from 170 pc on. In the plane this takes ~0.08 mag from every star beyond the bubble;
  toward the poles the full column falls from E(B-V) = 0.030 / 0.040 (north / south) to
  0.014 / 0.019. The bubble's irregular shape (its chimney toward the north Galactic pole) is
  not modelled (approx.).
- Full-column reddening ``ebv_sandf`` = A_V(to 50 kpc) / 3.1, as an SFD map recalibrated by
  Schlafly & Finkbeiner (2011, ApJ 737, 103) reports it (R_V = 3.1; the line of sight ends at
  50 kpc, beyond which the dust density is < 1e-6 of the local one).

The line-of-sight integral: with z(s) = z_sun + s sin b and E(z) = sign(z) h (1 - exp(-|z|/h))
at the Sun's height h the vertical factor integrates exactly, v(s) = (E(z(s)) - E(z_sun)) /
sin b, and the rest, smooth on kpc scales (the radial factor, and the flare's exp(-|z| (1/h(R)
- 1/h))), is integrated over v by Gauss-Legendre quadrature (:data:`DUST_NODES` nodes): exact
for lines of sight of constant R (toward the poles) and within 1e-4 of a direct integration
along the anticentre direction in the plane, 1e-3 toward the bulge, 1% through the Galactic
centre (tests).
"""

from __future__ import annotations

import functools

import numpy as np

#: Sun's distance from the Galactic centre and height above the plane (pc).
R0_PC = 8200.0
Z_SUN_PC = 20.8

#: Components, in this order everywhere (integer codes in the ``component`` column).
COMPONENTS = ("thin", "thick", "bulge")
THIN, THICK, BULGE = 0, 1, 2
#: Stellar masses (M_sun), BHG16.
COMPONENT_MASS = (3.5e10, 6.0e9, 1.5e10)

#: Disc scale lengths (pc) and heights (pc; thin disc at its mean age, see module docstring).
THIN_SCALE_LENGTH_PC = 2600.0
THIN_SCALE_HEIGHT_PC = 300.0
THIN_HEIGHT_AGE_GYR = 5.0
HEATING_AGE_OFFSET_GYR = 0.1
THIN_HEIGHT_EXPONENT = 0.5
THICK_SCALE_LENGTH_PC = 2000.0
THICK_SCALE_HEIGHT_PC = 900.0

#: Bulge: Gaussian scale lengths along the bar's long, intermediate and short axes (pc), and the
#: angle of the long axis from the Sun-centre line (deg).
BULGE_SCALES_PC = (1580.0, 620.0, 430.0)
BAR_ANGLE_DEG = 27.0

#: One-dimensional velocity dispersions (km/s).
THIN_SIGMA_V = 30.0
THIN_SIGMA_EXPONENT = 0.35
THICK_SIGMA_V = 50.0
BULGE_SIGMA_V = 100.0

#: Dust disc: extinction per pc in V at the Sun's radius in the plane, scale length and height.
DUST_KAPPA_MAG_PER_PC = 0.7e-3
DUST_SCALE_LENGTH_PC = 3000.0
DUST_SCALE_HEIGHT_PC = 134.0
#: Flare of the dust layer: h(R) = h(R0) (1 + DUST_FLARE_PER_PC (R - R0)), R held within
#: DUST_FLARE_RANGE_PC (the range measured; module docstring).
DUST_FLARE_PER_PC = 0.1417e-3
DUST_FLARE_RANGE_PC = (5000.0, 14000.0)
#: Radius of the Local Bubble (pc): the mean distance of its wall's peak extinction (O'Neill et
#: al. 2024; module docstring).
LOCAL_BUBBLE_PC = 170.0
#: Where "infinity" is for the full-column reddening (pc), and R_V.
DUST_COLUMN_END_PC = 50_000.0
R_V = 3.1
#: Gauss-Legendre nodes of the line-of-sight quadrature, and of each of the two pieces of the
#: Local Bubble's (tests: 1e-9 of the closed form toward the pole, 1e-6 of a direct integration
#: across the mid-plane).
DUST_NODES = 24
BUBBLE_NODES = 8


def thin_scale_height(age_gyr) -> np.ndarray:
    """Thin-disc scale height (pc) of stars of this age (Gyr): the heating law of the docstring."""
    t = np.asarray(age_gyr, dtype=float)
    ratio = (t + HEATING_AGE_OFFSET_GYR) / (THIN_HEIGHT_AGE_GYR + HEATING_AGE_OFFSET_GYR)
    return THIN_SCALE_HEIGHT_PC * ratio**THIN_HEIGHT_EXPONENT


def velocity_dispersion(component, age_gyr) -> np.ndarray:
    """One-dimensional velocity dispersion (km/s) by component and age."""
    t = np.asarray(age_gyr, dtype=float)
    ratio = (t + HEATING_AGE_OFFSET_GYR) / (THIN_HEIGHT_AGE_GYR + HEATING_AGE_OFFSET_GYR)
    thin = THIN_SIGMA_V * ratio**THIN_SIGMA_EXPONENT
    return np.select([component == THIN, component == THICK], [thin, THICK_SIGMA_V], BULGE_SIGMA_V)


def draw_positions(rng, component, age_gyr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Galactocentric x, y, z (pc) drawn from each star's component density.

    The Sun sits at (R0, 0, z_sun); y points toward Galactic longitude 90 deg.
    Discs: R ~ Gamma(2, L) (exponential surface density times R dR), azimuth uniform, z Laplace
    with the scale height. Bulge: Gaussian along the bar's axes, rotated by the bar angle.
    """
    n = component.size
    thin = component == THIN
    length = np.where(thin, THIN_SCALE_LENGTH_PC, THICK_SCALE_LENGTH_PC)
    height = np.where(thin, thin_scale_height(age_gyr), THICK_SCALE_HEIGHT_PC)
    radius = rng.gamma(2.0, 1.0, n) * length
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    z_disc = rng.laplace(0.0, 1.0, n) * height
    axes = rng.normal(0.0, 1.0, (3, n)) * np.asarray(BULGE_SCALES_PC)[:, None]
    # Bar frame -> Galactic frame: the long axis points toward the Sun rotated by the bar angle,
    # its near end (toward the Sun) at positive longitude.
    angle = np.radians(BAR_ANGLE_DEG)
    xb = axes[0] * np.cos(angle) - axes[1] * np.sin(angle)
    yb = axes[0] * np.sin(angle) + axes[1] * np.cos(angle)
    bulge = component == BULGE
    x = np.where(bulge, xb, radius * np.cos(phi))
    y = np.where(bulge, yb, radius * np.sin(phi))
    z = np.where(bulge, axes[2], z_disc)
    return x, y, z


def heliocentric(x, y, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (pc), Galactic longitude and latitude (deg) of Galactocentric positions."""
    dx, dy, dz = x - R0_PC, y, z - Z_SUN_PC
    d = np.sqrt(dx * dx + dy * dy + dz * dz)
    # The centre lies at l = 0 (direction -x from the Sun); l = 90 deg along +y.
    l_deg = np.degrees(np.arctan2(dy, -dx)) % 360.0
    b_deg = np.degrees(np.arcsin(np.clip(dz / np.maximum(d, 1e-9), -1.0, 1.0)))
    return d, l_deg, b_deg


@functools.lru_cache(maxsize=4)
def _gauss_legendre(n: int):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return 0.5 * (nodes + 1.0), 0.5 * weights


def _vertical_primitive(z, h) -> np.ndarray:
    """E(z) = integral from 0 to z of exp(-|z'|/h) dz'."""
    return np.sign(z) * h * -np.expm1(-np.abs(z) / h)


def _vertical_inverse(e, h) -> np.ndarray:
    """The z with E(z) = e (|e| < h)."""
    return -np.sign(e) * h * np.log1p(-np.minimum(np.abs(e) / h, 1.0 - 1e-15))


def dust_scale_height(radius_pc) -> np.ndarray:
    """Scale height (pc) of the dust layer at Galactocentric radius R (the flare)."""
    r = np.clip(np.asarray(radius_pc, dtype=float), *DUST_FLARE_RANGE_PC)
    return DUST_SCALE_HEIGHT_PC * (1.0 + DUST_FLARE_PER_PC * (r - R0_PC))


def disc_extinction_to(distance_pc, l_deg, b_deg) -> np.ndarray:
    """A_V (mag) from the Sun to ``distance_pc`` along (l, b) through the smooth dust disc (no
    Local Bubble: :func:`extinction_to` is what a star has)."""
    d = np.asarray(distance_pc, dtype=float)
    lr, br = np.radians(l_deg), np.radians(b_deg)
    sinb = np.sin(br)
    # A line of sight exactly in the plane has no vertical gradient; a tiny slope keeps the
    # closed forms below finite and changes nothing measurable.
    sinb = np.where(np.abs(sinb) < 1e-9, np.where(sinb < 0, -1e-9, 1e-9), sinb)
    h = DUST_SCALE_HEIGHT_PC
    e0 = _vertical_primitive(Z_SUN_PC, h)
    v_end = (_vertical_primitive(Z_SUN_PC + d * sinb, h) - e0) / sinb
    cos_b_cos_l = np.cos(br) * np.cos(lr)
    cos_b_sin_l = np.cos(br) * np.sin(lr)
    nodes, weights = _gauss_legendre(DUST_NODES)
    total = np.zeros_like(d)
    for u, w in zip(nodes, weights, strict=True):
        v = u * v_end
        z = _vertical_inverse(e0 + v * sinb, h)
        s = (z - Z_SUN_PC) / sinb
        x = R0_PC - s * cos_b_cos_l
        y = s * cos_b_sin_l
        radius = np.sqrt(x * x + y * y)
        # The flare: the layer's own height at R in place of the local one the variable v
        # was built with.
        flare = np.abs(z) * (1.0 / dust_scale_height(radius) - 1.0 / h)
        total += w * np.exp(-(radius - R0_PC) / DUST_SCALE_LENGTH_PC - flare)
    # KAPPA is the rate at the Sun, which sits Z_SUN above the dust's mid-plane.
    return DUST_KAPPA_MAG_PER_PC * np.exp(Z_SUN_PC / h) * total * v_end


def dust_density(s_pc, l_deg, b_deg) -> np.ndarray:
    """dA_V/ds (mag/pc) of the smooth disc at distance s along (l, b) (module docstring)."""
    s = np.asarray(s_pc, dtype=float)
    lr, br = np.radians(l_deg), np.radians(b_deg)
    x = R0_PC - s * np.cos(br) * np.cos(lr)
    y = s * np.cos(br) * np.sin(lr)
    z = Z_SUN_PC + s * np.sin(br)
    radius = np.sqrt(x * x + y * y)
    return (
        DUST_KAPPA_MAG_PER_PC
        * np.exp(Z_SUN_PC / DUST_SCALE_HEIGHT_PC)
        * np.exp(-(radius - R0_PC) / DUST_SCALE_LENGTH_PC - np.abs(z) / dust_scale_height(radius))
    )


def bubble_removed_column(l_deg, b_deg) -> np.ndarray:
    """A_V (mag) that the Local Bubble takes from a star beyond it along (l, b): the smooth
    disc's column within the bubble less what its wall holds, the same dust swept to the
    surface with the mass per solid angle kept: integral from 0 to R of dA_V/ds (1 - (s / R)^2)
    ds. Gauss-Legendre with :data:`BUBBLE_NODES` nodes on each side of the point where the
    line of sight crosses the dust's mid-plane (the density's only kink)."""
    r = LOCAL_BUBBLE_PC
    lon, lat = np.broadcast_arrays(np.asarray(l_deg, dtype=float), np.asarray(b_deg, float))
    sinb = np.sin(np.radians(lat))
    with np.errstate(divide="ignore"):
        cross = np.where(sinb < 0.0, Z_SUN_PC / -sinb, np.inf)
    split = np.minimum(cross, r)
    nodes, weights = _gauss_legendre(BUBBLE_NODES)
    total = np.zeros(lon.shape)
    for start, stop in ((0.0, split), (split, r)):
        length = stop - start
        for u, w in zip(nodes, weights, strict=True):
            s = start + u * length
            total = total + w * length * dust_density(s, lon, lat) * (1.0 - (s / r) ** 2)
    return total


def extinction_to(distance_pc, l_deg, b_deg) -> np.ndarray:
    """A_V (= A0, mag) from the Sun to ``distance_pc`` along (l, b): nothing inside the Local
    Bubble; beyond it the smooth disc's column less what the bubble took
    (:func:`bubble_removed_column`)."""
    d, lon, lat = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (distance_pc, l_deg, b_deg))
    )
    shape = d.shape
    d, lon, lat = d.ravel(), lon.ravel(), lat.ravel()
    out = np.zeros(d.size)
    far = np.flatnonzero(d > LOCAL_BUBBLE_PC)
    if far.size:
        lf, bf = lon[far], lat[far]
        out[far] = disc_extinction_to(d[far], lf, bf) - bubble_removed_column(lf, bf)
    return np.maximum(out, 0.0).reshape(shape)


def extinction_lower_bound(distance_pc, l_deg, b_deg) -> np.ndarray:
    """A cheap lower bound of :func:`extinction_to`: that of the smooth disc (the vertical factor
    integrated exactly with the thinnest layer along the path, the flare's height at the
    smallest R, and the radial factor at its smallest: R is largest at one of the path's ends,
    R^2 being convex in the distance) less the most dust the bubble can have emptied along the
    line of sight; the wall adds, so the bound holds."""
    d = np.asarray(distance_pc, dtype=float)
    lr, br = np.radians(l_deg), np.radians(b_deg)
    sinb = np.sin(br)
    sinb = np.where(np.abs(sinb) < 1e-9, np.where(sinb < 0, -1e-9, 1e-9), sinb)
    h0 = DUST_SCALE_HEIGHT_PC
    # Smallest R along the path: the projected distance p = s cos b with R^2 = R0^2 -
    # 2 R0 p cos l + p^2 is smallest at p = R0 cos l, clipped to the path.
    p_end = d * np.cos(br)
    p_min = np.clip(R0_PC * np.cos(lr), 0.0, p_end)
    r_min = np.sqrt(np.maximum(R0_PC**2 - 2.0 * R0_PC * p_min * np.cos(lr) + p_min**2, 0.0))
    h = np.minimum(dust_scale_height(r_min), h0)
    e0 = _vertical_primitive(Z_SUN_PC, h)
    v_end = (_vertical_primitive(Z_SUN_PC + d * sinb, h) - e0) / sinb
    x = R0_PC - p_end * np.cos(lr)
    y = p_end * np.sin(lr)
    r_far = np.maximum(np.sqrt(x * x + y * y), R0_PC)
    radial = np.exp(-(r_far - R0_PC) / DUST_SCALE_LENGTH_PC)
    # The quadrature's own error (< 2%, module docstring) is left as margin.
    disc = 0.97 * DUST_KAPPA_MAG_PER_PC * np.exp(Z_SUN_PC / h0) * radial * v_end
    # The emptied column at most: the vertical factor integrated exactly over the bubble's
    # radius with the thickest layer within it, the radial factor at its largest.
    h_max = dust_scale_height(R0_PC + LOCAL_BUBBLE_PC)
    e_max = _vertical_primitive(Z_SUN_PC, h_max)
    v_bubble = (_vertical_primitive(Z_SUN_PC + LOCAL_BUBBLE_PC * sinb, h_max) - e_max) / sinb
    emptied = (
        DUST_KAPPA_MAG_PER_PC
        * np.exp(Z_SUN_PC / h0)
        * np.exp(LOCAL_BUBBLE_PC / DUST_SCALE_LENGTH_PC)
        * v_bubble
    )
    return np.maximum(disc - emptied, 0.0)


def full_column_ebv(l_deg, b_deg) -> np.ndarray:
    """E(B-V) of the whole dust column along (l, b), as a recalibrated SFD map gives it."""
    end = np.full(np.shape(l_deg), DUST_COLUMN_END_PC)
    return extinction_to(end, l_deg, b_deg) / R_V
