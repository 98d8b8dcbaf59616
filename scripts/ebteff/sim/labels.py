"""GSP-Phot-like labels of the simulated eclipsing binaries, and the truth they are compared with.

GSP-Phot (Andrae et al. 2023, A&A 674, A27; "A27" below) fits each source's BP/RP spectrum,
parallax and G with single-star models and returns Teff, logg, [M/H] and A0 for sources with
G < 19. What a label law must reproduce, from that paper and DESIGN.md:

- Accuracy: typical differences to literature Teff of 110 K (A27, abstract), mostly FGK stars;
  worse for faint stars and poor parallaxes. Extinctions A0 differ from reference values by
  0.07-0.09 mag (A27, abstract).
- The Teff-A0 degeneracy: a redder spectrum is a cooler star or more dust. A misjudged A0 moves
  Teff along the degeneracy (too much A0 with too high a Teff, or the reverse); a minority of
  solutions land far along it (A0 values of 1-3 mag at high Galactic latitude, where there is
  almost no dust: Gaia DR3 documentation, Sect. 14.3.7; A27).
- Hot stars: Teff increasingly underestimated above ~10,000 K (A27; the hot-star module ESP-HS
  exists for them), the reason the workflow fits a hot-star correction.
- Binaries: GSP-Phot assumes one star; an eclipsing binary's combined light is fitted as one.

The truth a catalogue user compares with (the ``teff_blend`` column of the truth table under the
synthesis sky) is the Teff of the combined light, T = (sum R_i^2 T_i^4 / sum R_i^2)^(1/4): the
star of the binary's total surface and luminosity (:func:`combined_light_teff`).

The label law (:func:`gspphot_teff`), per star:

1. Blend. The two components' unreddened fluxes add; the blend's unreddened BP-RP is redder (or
   bluer) than the primary's by dc. A single-star fit reads a colour offset along the Teff-A0
   degeneracy, as it reads reddening: an A0 offset of -dc / k(T1), k = E(BP-RP)/A0 of a mean
   dwarf (Kurucz grid). For a cool primary this is the dwarf whose colour matches the blend's.
2. A0 error. dA0 ~ N(0, s) with s^2 = SIGMA_A0^2 + (sigma_BP-RP / k)^2: the 0.07-0.09 mag of
   A27 for bright stars, growing towards faint ones as the BP/RP flux noise (the simulator's
   photometric errors, Riello et al. 2021) makes the reddening less certain. A fraction
   CATASTROPHIC_FRACTION of solutions instead land anywhere along the degeneracy: A0 fit ~
   U(0, CATASTROPHIC_A0_MAX), whatever the true A0. GSP-Phot's A0 is never negative: A0 fit =
   max(A0 + dA0, 0).
3. Degeneracy slide: the Teff read is T_deg with u(T_deg) = u(T1) + dA0 + blend offset, u the
   degeneracy coordinate of :func:`degeneracy_table` (d ln T per mag of A0 is the colour rate
   k / |d(BP-RP)/d ln T| of the grid, capped at GAMMA_EXTINCTION where colours flatten). At
   5,800 K this makes SIGMA_A0 a 1.8% (~105 K) Teff scatter, the 110 K of A27.
4. Hot-star bias: teff_gaia = B^-1(T_deg), B(T) = T + HOT_BIAS_A (T - 10,000)^2 above 10,000 K.
5. Clipped to GSP-Phot's 2,500-50,000 K.

Logg and [M/H] (:func:`gspphot_logg`, :func:`gspphot_mh`): the light-weighted logg with the
0.2-0.25 dex differences of A27; [M/H] biased low and broad, "only useful at a qualitative
level" (A27). Which labelled stars have them is a property of the real table (:data:`LOGG_SHARE`).
"""

from __future__ import annotations

import functools

import numpy as np

from . import stellar

# --- The hot-star bias (step 4)

HOT_BIAS_T0 = 10_000.0
#: Curvature of the hot-star bias (per K): a label L > 10,000 K stands for L + a (L - 10000)^2.
#: 2e-5 makes a 20,000 K star read ~18,500 K, a 30,000 K star ~25,300 K and a 50,000 K star
#: ~36,000 K (approx.): GSP-Phot's Teff falls increasingly below the literature above
#: ~10,000 K (A27); the quadratic form is the one the earlier pipeline's degree-2 correction
#: (DESIGN.md, "Teff correction") undoes exactly.
HOT_BIAS_A = 2.0e-5

# --- The Teff-A0 degeneracy (steps 1-3)

#: Largest d ln(Teff) per mag of A0 along the degeneracy: its value for a 5,200-5,800 K dwarf,
#: E(BP-RP)/A0 ~ 0.45-0.47 over |d(BP-RP)/d ln Teff| ~ 1.8-2.0 (Kurucz grid). Hotter, colours
#: flatten and a pure colour slide would turn a small A0 error into a large Teff error, but
#: GSP-Phot fits the whole BP/RP spectrum (Balmer jump and lines constrain hot stars' Teff
#: beyond the colour), so the slide is held at the solar-type rate there.
GAMMA_EXTINCTION = 0.22
#: Typical A0 error of GSP-Phot for bright stars, mag: the 0.07-0.09 mag differences to
#: reference extinctions of A27 (abstract), their middle.
SIGMA_A0 = 0.08
#: Fraction of solutions that land far along the degeneracy, and the A0 range they land in
#: (mag). GSP-Phot's A0 map holds many values of 1-3 mag where the dust is thin (Gaia DR3
#: documentation, Sect. 14.3.7, "questionable"; A27). Approx.: the fraction is not published;
#: 0.10 is a minority, set within the 3-15% of catastrophic (> 20%) FGK labels expected of
#: GSP-Phot (benchmarks/simulation_realism.py prints it), never against a model's score.
CATASTROPHIC_FRACTION = 0.10
CATASTROPHIC_A0_MAX = 3.0
LABEL_TEFF_RANGE = (2500.0, 50000.0)
#: Nodes of the degeneracy table (K): wider than the label range, so a slide is never clamped.
DEGENERACY_TEFF_RANGE = (1500.0, 80000.0)
DEGENERACY_NODES = 600

# --- Logg and [M/H]

#: Logg differences to the literature: 0.2-0.25 dex (A27, abstract); the lower end, for the
#: light-weighted logg of the blend (a binary's fit is not a single star's: the rest is blend).
SIGMA_LOGG = 0.2
#: [M/H]: "substantial biases ... only useful at a qualitative level" (A27): offset and scatter
#: (dex) of the earlier simulator, approx.
MH_OFFSET, SIGMA_MH = -0.2, 0.3
#: Shares of labelled stars that also have logg and [M/H] in the real table: 56% and 48% of
#: all stars against 58% with Teff (DESIGN.md, "Input table"). GSP-Phot publishes the three
#: together (A27), so the shortfall is the table's own; it is drawn at random among the
#: labelled stars.
LOGG_SHARE = 0.56 / 0.58
MH_SHARE = 0.48 / 0.58

#: GSP-Phot's magnitude limit (A27: results for sources with G < 19).
G_LIMIT = 19.0


def combined_light_teff(teff1, teff2, radius1, radius2) -> np.ndarray:
    """Teff of the combined light: (sum R^2 T^4 / sum R^2)^(1/4)."""
    t1, t2 = np.asarray(teff1, dtype=float), np.asarray(teff2, dtype=float)
    s1, s2 = np.asarray(radius1, dtype=float) ** 2, np.asarray(radius2, dtype=float) ** 2
    # in units of the hotter component's T^4, so that nothing overflows or underflows
    t_max = np.maximum(t1, t2)
    x = (s1 * (t1 / t_max) ** 4 + s2 * (t2 / t_max) ** 4) / (s1 + s2)
    return t_max * x**0.25


def hot_bias_inverse(teff) -> np.ndarray:
    """The label a hot star gets: B^-1(T), B(T) = T + a (T - T0)^2 above T0 (identity below)."""
    t = np.asarray(teff, dtype=float)
    excess = np.maximum(t - HOT_BIAS_T0, 0.0)
    shrunk = (np.sqrt(1.0 + 4.0 * HOT_BIAS_A * excess) - 1.0) / (2.0 * HOT_BIAS_A)
    return np.where(t > HOT_BIAS_T0, HOT_BIAS_T0 + shrunk, t)


def hot_bias_correction(teff_label) -> np.ndarray:
    """The exact inverse of the label bias, B(T): what a perfect correction polynomial gives."""
    t = np.asarray(teff_label, dtype=float)
    return np.where(t > HOT_BIAS_T0, t + HOT_BIAS_A * (t - HOT_BIAS_T0) ** 2, t)


@functools.lru_cache(maxsize=4)
def _degeneracy_nodes(grid: stellar.KuruczGrid, gamma_max: float):
    ln_t = np.linspace(*np.log(DEGENERACY_TEFF_RANGE), DEGENERACY_NODES)
    teff = np.exp(ln_t)
    mass, radius = stellar.dwarf_sequence(teff)
    logg = stellar.logg_from_mass_radius(mass, radius)
    surface = grid.surface_magnitudes(teff, logg, 0.0)
    reddening = grid.extinction(teff, logg, 0.0, 1.0)
    slope = np.abs(np.gradient(surface[:, 1] - surface[:, 2], ln_t))
    k = reddening[:, 1] - reddening[:, 2]
    gamma = np.minimum(k / np.maximum(slope, 1e-9), gamma_max)
    inv = 1.0 / gamma
    u = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(ln_t))])
    for array in (ln_t, u, gamma, k):
        array.setflags(write=False)
    return ln_t, u, gamma, k


def degeneracy_table(grid: stellar.KuruczGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (ln Teff, u, Gamma) of the Teff-A0 degeneracy of a mean dwarf.

    Gamma(T) = min(E(BP-RP)/A0 / |d(BP-RP)_0 / d ln T|, GAMMA_EXTINCTION) from the grid
    (extinction at A0 = 1, [Fe/H] 0, logg of the dwarf sequence) and u = integral of
    d ln T / Gamma, increasing with Teff. Cached per grid and GAMMA_EXTINCTION.
    """
    return _degeneracy_nodes(grid, float(GAMMA_EXTINCTION))[:3]


def reddening_rate(teff, grid: stellar.KuruczGrid) -> np.ndarray:
    """k(T) = E(BP-RP) / A0 of a mean dwarf at A0 = 1 (Kurucz grid, Fitzpatrick 1999 curve)."""
    ln_t, _, _, k = _degeneracy_nodes(grid, float(GAMMA_EXTINCTION))
    return np.interp(np.log(np.asarray(teff, dtype=float)), ln_t, k)


def degenerate_teff(teff, d_a0, grid: stellar.KuruczGrid) -> np.ndarray:
    """The Teff read when A0 is misjudged by ``d_a0`` mag: u(T_deg) = u(teff) + d_a0.

    Beyond the table's ends the end rates continue (exponential in d_a0).
    """
    ln_t, u, gamma = degeneracy_table(grid)
    target = np.interp(np.log(np.asarray(teff, dtype=float)), ln_t, u) + d_a0
    out = np.interp(target, u, ln_t)
    out = np.where(target < u[0], ln_t[0] + gamma[0] * (target - u[0]), out)
    out = np.where(target > u[-1], ln_t[-1] + gamma[-1] * (target - u[-1]), out)
    return np.exp(out)


def blend_colour_offset(abs1, abs2) -> np.ndarray:
    """Unreddened BP-RP of the blend minus the primary's (abs: (n, 3) absolute G, BP, RP)."""
    bp = stellar.combine_magnitudes(abs1[:, 1], abs2[:, 1])
    rp = stellar.combine_magnitudes(abs1[:, 2], abs2[:, 2])
    return (bp - rp) - (abs1[:, 1] - abs1[:, 2])


def gspphot_teff(rng, teff1, abs1, abs2, a0, sigma_colour, grid) -> dict[str, np.ndarray]:
    """GSP-Phot-like Teff of each binary (law in the module docstring).

    ``teff1``: the primary's Teff (K); ``abs1``, ``abs2``: (n, 3) unreddened absolute G, BP, RP
    of the components; ``a0``: true A0 (mag); ``sigma_colour``: the BP-RP uncertainty (mag).
    Returns ``teff`` (the label), ``a0_fit`` (GSP-Phot's A0) and ``catastrophic`` (bool). Every
    draw is made for every star, so the stream of random numbers does not depend on the values.
    """
    teff1 = np.asarray(teff1, dtype=float)
    a0 = np.asarray(a0, dtype=float)
    n = teff1.size
    k1 = reddening_rate(teff1, grid)
    sigma = np.hypot(SIGMA_A0, np.asarray(sigma_colour, dtype=float) / k1)
    d_a0 = sigma * rng.normal(0.0, 1.0, n)
    catastrophic = rng.random(n) < CATASTROPHIC_FRACTION
    a0_far = rng.uniform(0.0, CATASTROPHIC_A0_MAX, n)
    a0_fit = np.where(catastrophic, a0_far, np.maximum(a0 + d_a0, 0.0))
    blend = -blend_colour_offset(abs1, abs2) / k1
    t_deg = degenerate_teff(teff1, (a0_fit - a0) + blend, grid)
    teff = np.clip(hot_bias_inverse(t_deg), *LABEL_TEFF_RANGE)
    return {"teff": teff, "a0_fit": a0_fit, "catastrophic": catastrophic}


def light_weighted_logg(logg1, logg2, teff1, teff2, radius1, radius2) -> np.ndarray:
    """Logg of the blend, weighted by each component's bolometric light (R^2 T^4)."""
    t_max = np.maximum(teff1, teff2)
    w1 = radius1**2 * (teff1 / t_max) ** 4
    w2 = radius2**2 * (teff2 / t_max) ** 4
    return (w1 * logg1 + w2 * logg2) / (w1 + w2)


def gspphot_logg(rng, logg_blend) -> np.ndarray:
    """GSP-Phot-like logg: the blend's with SIGMA_LOGG scatter, in GSP-Phot's 0-5.5 range."""
    return np.clip(logg_blend + SIGMA_LOGG * rng.normal(0.0, 1.0, np.size(logg_blend)), 0.0, 5.5)


def gspphot_mh(rng, feh) -> np.ndarray:
    """GSP-Phot-like [M/H]: biased low and broad (A27), in GSP-Phot's -4 to +0.8 range."""
    return np.clip(feh + MH_OFFSET + SIGMA_MH * rng.normal(0.0, 1.0, np.size(feh)), -4.0, 0.8)


def label_presence(rng, g_observed) -> dict[str, np.ndarray]:
    """Which stars have a Teff, logg and [M/H] label: G < 19 (A27; every simulated binary has
    BP/RP photometry), then logg and [M/H] for LOGG_SHARE and MH_SHARE of those."""
    g = np.asarray(g_observed, dtype=float)
    n = g.size
    teff = g < G_LIMIT
    logg = teff & (rng.random(n) < LOGG_SHARE)
    mh = teff & (rng.random(n) < MH_SHARE)
    return {"teff": teff, "logg": logg, "mh": mh}
