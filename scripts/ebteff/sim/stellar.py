"""Stellar physics for the simulated catalogue: one star's magnitudes from its parameters.

Everything here is a deterministic function of (Teff, logg, [Fe/H], A0, radius, distance); the
randomness of the simulated population lives in :mod:`ebteff.sim.simulate`. Sources, cited next to
each use:

- Gaia G, BP, RP: the Kurucz ATLAS9 (Castelli & Kurucz 2003) synthetic photometry grid of
  ``dustapprox`` (Fouesneau et al. 2022), Gaia EDR3 passbands, Fitzpatrick (1999) extinction;
  multilinear interpolation in (log Teff, logg, [Fe/H], A0). See ``data/README.md``.
- Vega zero points: one offset per band so that a Vega-like model has G = BP = RP = 0.03.
- Absolute magnitudes: surface-flux magnitude plus 5 log R, one constant fixed by the Sun
  (M_G = 4.67 at 5772 K, logg 4.44, [Fe/H] 0, R = 1; Casagrande & VandenBerg 2018).
- Mean dwarf sequence (mass, radius, B-V, V-Ic against Teff): Pecaut & Mamajek (2013, ApJS 208,
  9), Table 5, as extended in E. Mamajek's online table (version 2024.05.15); a subset of rows,
  transcribed (approx.).
- 2MASS J, H, Ks from Gaia G and BP-RP: Riello et al. (2021, A&A 649, A3), Table C.2, valid for
  -0.5 < BP-RP < 2.5 (their Table C.1); we clip to that range.
- Pan-STARRS1 g, r, i: Johnson-Cousins V from G (Riello et al. 2021, G-V against BP-RP), B-V and
  V-Ic from the dwarf sequence, then the PS1 <-> BVRI transformations of Tonry et al. (2012, ApJ
  750, 99, Table 6). PS1 z and y are interpolated (approx.): a quadratic in log wavelength through
  i, J and H on the AB scale (2MASS Vega -> AB: +0.91, +1.39 mag; Blanton & Roweis 2007).
- Extinction outside the Gaia bands, per unit A0 (~A_V): 2MASS J 0.28, H 0.18, Ks 0.11 (Cardelli
  et al. 1989; Rieke & Lebofsky 1985); PS1 grizy 1.157, 0.828, 0.613, 0.482, 0.396 (Schlafly &
  Finkbeiner 2011, Table 6, R_V = 3.1, divided by their A_V/E(B-V) = 2.742).
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

#: The grid shipped with the package (provenance in data/README.md).
GRID_PATH = Path(__file__).parent.parent / "data" / "kurucz_gaiaedr3_grid.parquet"

#: Passband names in the grid, in the order of every (..., 3) array here: G, BP, RP.
GRID_PASSBANDS = ("G", "Gbp", "Grp")

#: Vega-like model and the magnitude it is given in each Gaia band (REFERENCES.md, approx.).
VEGA_MODEL = (9550.0, 3.95, -0.5)
VEGA_MAG = 0.03

#: The Sun: Teff, logg, [Fe/H] and absolute G (Casagrande & VandenBerg 2018).
SUN_MODEL = (5772.0, 4.44, 0.0)
SUN_ABS_G = 4.67

#: log g of the Sun, for logg from mass and radius (IAU 2015 nominal GM_sun and R_sun).
LOGG_SUN = 4.438

#: Extinction per unit A0 (see module docstring for sources).
A_TMASS = {"j": 0.28, "h": 0.18, "k": 0.11}
A_PS1 = {"g": 1.157, "r": 0.828, "i": 0.613, "z": 0.482, "y": 0.396}

#: 2MASS Vega -> AB offsets (Blanton & Roweis 2007), used only to interpolate PS1 z and y.
TMASS_AB = {"j": 0.91, "h": 1.39}
#: Effective wavelengths (nm): PS1 i, z, y (Tonry et al. 2012) and 2MASS J, H (Cohen et al. 2003).
WAVELENGTH_NM = {"i": 752.0, "z": 866.0, "y": 962.0, "j": 1235.0, "h": 1662.0}

#: Validity of the Gaia -> 2MASS relations in BP-RP (Riello et al. 2021, Table C.1).
TMASS_BP_RP_RANGE = (-0.5, 2.5)
#: Validity of G - V against BP-RP (Riello et al. 2021, Table C.1).
V_BP_RP_RANGE = (-0.5, 5.0)

# Mean dwarf sequence, Pecaut & Mamajek (2013) / Mamajek online table v2024.05.15 (approx.,
# subset of rows). Columns: Teff [K], R [R_sun], M [M_sun], B-V, V-Ic. V-Ic is not tabulated
# hotter than O9V; the O9V value is adopted there.
_DWARF_SEQUENCE = np.array(
    [
        # Teff    R       M      B-V     V-Ic
        (2380.0, 0.102, 0.079, 2.17, 4.66),  # M9V
        (2570.0, 0.114, 0.086, 2.15, 4.62),  # M8V
        (2680.0, 0.120, 0.090, 2.12, 4.50),  # M7V
        (2810.0, 0.137, 0.105, 2.01, 4.10),  # M6V
        (3060.0, 0.196, 0.155, 1.83, 3.278),  # M5V
        (3210.0, 0.274, 0.24, 1.65, 2.831),  # M4V
        (3430.0, 0.361, 0.36, 1.53, 2.420),  # M3V
        (3560.0, 0.446, 0.45, 1.505, 2.173),  # M2V
        (3660.0, 0.501, 0.51, 1.485, 2.005),  # M1V
        (3850.0, 0.588, 0.585, 1.42, 1.766),  # M0V
        (4090.0, 0.630, 0.64, 1.34, 1.519),  # K7V
        (4440.0, 0.701, 0.70, 1.15, 1.272),  # K5V
        (4600.0, 0.710, 0.72, 1.09, 1.182),  # K4V
        (4870.0, 0.755, 0.76, 0.99, 1.030),  # K3V
        (5100.0, 0.783, 0.82, 0.884, 0.920),  # K2V
        (5290.0, 0.813, 0.86, 0.816, 0.853),  # K0V
        (5480.0, 0.914, 0.93, 0.73, 0.786),  # G8V
        (5660.0, 0.977, 0.98, 0.68, 0.738),  # G5V
        (5770.0, 1.012, 1.00, 0.65, 0.713),  # G2V
        (5930.0, 1.100, 1.07, 0.595, 0.673),  # G0V
        (6180.0, 1.221, 1.16, 0.53, 0.599),  # F8V
        (6550.0, 1.473, 1.32, 0.44, 0.506),  # F5V
        (6820.0, 1.622, 1.43, 0.37, 0.432),  # F2V
        (7220.0, 1.728, 1.60, 0.295, 0.339),  # F0V
        (7760.0, 1.750, 1.76, 0.21, 0.242),  # A7V
        (8100.0, 1.785, 1.86, 0.16, 0.186),  # A5V
        (8840.0, 2.117, 2.06, 0.07, 0.091),  # A2V
        (9700.0, 2.193, 2.33, 0.0, 0.004),  # A0V
        (10700.0, 2.49, 2.75, -0.07, -0.061),  # B9V
        (12300.0, 2.86, 3.38, -0.109, -0.108),  # B8V
        (14000.0, 2.94, 3.92, -0.128, -0.133),  # B7V
        (15700.0, 3.36, 4.7, -0.156, -0.165),  # B5V
        (17000.0, 3.61, 5.4, -0.178, -0.192),  # B3V
        (20600.0, 4.06, 7.3, -0.215, -0.230),  # B2V
        (26000.0, 5.71, 11.8, -0.278, -0.325),  # B1V
        (31400.0, 7.16, 17.7, -0.301, -0.355),  # B0V
        (33300.0, 7.72, 20.2, -0.312, -0.369),  # O9V
        (37900.0, 9.42, 28.0, -0.318, -0.369),  # O7V
        (41400.0, 11.45, 43.0, -0.323, -0.369),  # O5V
        (45900.0, 13.43, 59.0, -0.330, -0.369),  # O3V
    ]
)
_SEQ_LOGT = np.log10(_DWARF_SEQUENCE[:, 0])
_SEQ_LOGR = np.log10(_DWARF_SEQUENCE[:, 1])
_SEQ_LOGM = np.log10(_DWARF_SEQUENCE[:, 2])
_SEQ_BV = _DWARF_SEQUENCE[:, 3]
_SEQ_VI = _DWARF_SEQUENCE[:, 4]

#: Mass range of the tabulated dwarf sequence (M_sun).
DWARF_MASS_RANGE = (float(_DWARF_SEQUENCE[0, 2]), float(_DWARF_SEQUENCE[-1, 2]))


def dwarf_sequence(teff) -> tuple[np.ndarray, np.ndarray]:
    """Mass and radius (solar units) of a mean main-sequence dwarf of this Teff.

    Interpolated linearly in log Teff / log M / log R; beyond the table the end values hold.
    """
    logt = np.log10(np.asarray(teff, dtype=float))
    mass = 10.0 ** np.interp(logt, _SEQ_LOGT, _SEQ_LOGM)
    radius = 10.0 ** np.interp(logt, _SEQ_LOGT, _SEQ_LOGR)
    return mass, radius


def dwarf_sequence_from_mass(mass) -> tuple[np.ndarray, np.ndarray]:
    """Teff (K) and radius (R_sun) of a mean main-sequence dwarf of this mass."""
    logm = np.log10(np.asarray(mass, dtype=float))
    teff = 10.0 ** np.interp(logm, _SEQ_LOGM, _SEQ_LOGT)
    radius = 10.0 ** np.interp(logm, _SEQ_LOGM, _SEQ_LOGR)
    return teff, radius


def logg_from_mass_radius(mass, radius) -> np.ndarray:
    """Surface gravity log10(g / cm s^-2) from mass and radius in solar units."""
    return LOGG_SUN + np.log10(mass) - 2.0 * np.log10(radius)


def _locate(nodes: np.ndarray, x: np.ndarray, extrapolate_low: bool = False):
    """Cell index and fractional position of ``x`` on a sorted node axis.

    Outside the axis the position is clamped to the end node, except below the first node when
    ``extrapolate_low`` is set: then the first cell's line is continued (fraction < 0).
    """
    idx = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)
    lo = nodes[idx]
    frac = (x - lo) / (nodes[idx + 1] - lo)
    upper = 1.0
    frac = np.minimum(frac, upper) if extrapolate_low else np.clip(frac, 0.0, upper)
    return idx, frac


def _multilinear(table: np.ndarray, located) -> np.ndarray:
    """Multilinear interpolation of ``table`` (grid axes..., bands) at located points.

    ``located`` holds one (index, fraction) pair per grid axis. Returns (n, bands).
    """
    shape = table.shape[:-1]
    flat = table.reshape(-1, table.shape[-1])
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    base = np.zeros_like(located[0][0])
    for (idx, _), stride in zip(located, strides, strict=True):
        base = base + idx * stride
    out = np.zeros((base.size, flat.shape[1]))
    for corner in itertools.product((0, 1), repeat=len(shape)):
        weight = np.ones(base.size)
        offset = 0
        for bit, (_, frac), stride in zip(corner, located, strides, strict=True):
            weight = weight * (frac if bit else 1.0 - frac)
            offset += bit * stride
        out += weight[:, None] * flat[base + offset]
    return out


@dataclass(frozen=True, eq=False)
class KuruczGrid:
    """The Gaia-band Kurucz grid as dense arrays, with Vega and absolute-magnitude constants.

    ``mag0`` is (feh, logg, teff, band) surface-flux magnitudes (not Vega); ``ax`` is
    (feh, logg, teff, A0, band) extinction in each band. Holes (no hot low-gravity models) are
    filled from the nearest valid logg at the same Teff and [Fe/H].
    """

    log_teff: np.ndarray
    logg: np.ndarray
    feh: np.ndarray
    a0: np.ndarray
    mag0: np.ndarray
    ax: np.ndarray
    zero_point: np.ndarray
    abs_offset: float

    def _locate_star(self, teff, logg, feh, extrapolate_teff: bool):
        logt = np.log10(np.atleast_1d(np.asarray(teff, dtype=float)))
        n = logt.size
        logg = np.broadcast_to(np.asarray(logg, dtype=float), (n,))
        feh = np.broadcast_to(np.asarray(feh, dtype=float), (n,))
        return [
            _locate(self.feh, feh),
            _locate(self.logg, logg),
            _locate(self.log_teff, logt, extrapolate_low=extrapolate_teff),
        ]

    def surface_magnitudes(self, teff, logg, feh) -> np.ndarray:
        """Vega-system surface-flux magnitudes (n, 3) in G, BP, RP.

        Below the grid's 3,500 K the magnitudes are extrapolated linearly in log Teff with the
        3,500-3,750 K slope at the same logg and [Fe/H] (approx.; the grid has no cooler models).
        """
        located = self._locate_star(teff, logg, feh, extrapolate_teff=True)
        return _multilinear(self.mag0, located) + self.zero_point

    def extinction(self, teff, logg, feh, a0) -> np.ndarray:
        """Extinction (n, 3) in G, BP, RP for extinction A0 (clipped to the grid's 0-10 mag).

        Cooler than 3,500 K the 3,500 K extinction is used (it varies slowly with Teff there).
        """
        located = self._locate_star(teff, logg, feh, extrapolate_teff=False)
        n = located[0][0].size
        a0 = np.broadcast_to(np.asarray(a0, dtype=float), (n,))
        located.append(_locate(self.a0, a0))
        return _multilinear(self.ax, located)

    def absolute_magnitudes(self, teff, logg, feh, radius) -> np.ndarray:
        """Unreddened absolute G, BP, RP (n, 3) of a star of this radius (R_sun).

        M = mag0_vega - 5 log10 R + K: the surface-flux magnitude scales with the emitting area;
        K is fixed by the Sun (see module docstring).
        """
        surface = self.surface_magnitudes(teff, logg, feh)
        radius = np.atleast_1d(np.asarray(radius, dtype=float))
        return surface - 5.0 * np.log10(radius)[:, None] + self.abs_offset


def _fill_logg_holes(arr: np.ndarray, logg_axis: int) -> np.ndarray:
    """Replace NaN models by the nearest valid logg model (same Teff and [Fe/H])."""
    moved = np.moveaxis(arr, logg_axis, -1)
    out = moved.copy()
    valid = ~np.isnan(moved)
    nlogg = moved.shape[-1]
    for index in np.ndindex(moved.shape[:-1]):
        ok = np.flatnonzero(valid[index])
        if ok.size == nlogg:
            continue
        if ok.size == 0:
            raise ValueError(f"grid has no valid logg at all for index {index}")
        missing = np.flatnonzero(~valid[index])
        nearest = ok[np.argmin(np.abs(missing[:, None] - ok[None, :]), axis=1)]
        out[index + (missing,)] = moved[index + (nearest,)]
    return np.moveaxis(out, -1, logg_axis)


def _dense_grid(frame: pl.DataFrame):
    """Pivot the long grid table into dense arrays, averaging duplicated models.

    The dustapprox small grid holds two model variants at most (Teff, logg, [Fe/H]) nodes with no
    column telling them apart (median BP-RP difference 1 mmag, up to 0.3 mag for the coolest
    giants); we average them (see data/README.md).
    """
    teff = np.unique(frame["teff"].to_numpy())
    logg = np.unique(frame["logg"].to_numpy())
    feh = np.unique(frame["feh"].to_numpy())
    a0 = np.unique(frame["A0"].to_numpy())
    band_index = {name: i for i, name in enumerate(GRID_PASSBANDS)}
    unknown = set(frame["passband"].unique().to_list()) - set(band_index)
    if unknown:
        raise ValueError(f"unexpected passbands in grid: {sorted(unknown)}")
    idx = (
        np.searchsorted(feh, frame["feh"].to_numpy()),
        np.searchsorted(logg, frame["logg"].to_numpy()),
        np.searchsorted(teff, frame["teff"].to_numpy()),
        np.searchsorted(a0, frame["A0"].to_numpy()),
        frame["passband"].replace_strict(band_index, return_dtype=pl.Int64).to_numpy(),
    )
    shape = (feh.size, logg.size, teff.size, a0.size, len(GRID_PASSBANDS))
    flat = np.ravel_multi_index(idx, shape)
    size = int(np.prod(shape))
    count = np.bincount(flat, minlength=size).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.bincount(flat, frame["mag0"].to_numpy(), minlength=size) / count
        ax = np.bincount(flat, frame["Ax"].to_numpy(), minlength=size) / count
    mag = mag.reshape(shape)
    ax = ax.reshape(shape)
    # mag0 does not depend on A0: keep the A0 = 0 copy.
    mag0 = mag[:, :, :, 0, :]
    return teff, logg, feh, a0, _fill_logg_holes(mag0, 1), _fill_logg_holes(ax, 1)


@functools.lru_cache(maxsize=2)
def load_grid(path: str | os.PathLike = GRID_PATH) -> KuruczGrid:
    """Read the grid once, fill its holes and fix the Vega and absolute-magnitude constants."""
    frame = pl.read_parquet(path, columns=["teff", "logg", "feh", "A0", "passband", "mag0", "Ax"])
    teff, logg, feh, a0, mag0, ax = _dense_grid(frame)
    if np.isnan(mag0).any() or np.isnan(ax).any():
        raise ValueError(f"grid {path} has holes that cannot be filled")
    raw = KuruczGrid(np.log10(teff), logg, feh, a0, mag0, ax, np.zeros(3), 0.0)
    zero_point = VEGA_MAG - raw.surface_magnitudes(*VEGA_MODEL)[0]
    with_zp = KuruczGrid(np.log10(teff), logg, feh, a0, mag0, ax, zero_point, 0.0)
    abs_offset = SUN_ABS_G - with_zp.surface_magnitudes(*SUN_MODEL)[0, 0]
    return KuruczGrid(np.log10(teff), logg, feh, a0, mag0, ax, zero_point, float(abs_offset))


def combine_magnitudes(*mags) -> np.ndarray:
    """Magnitude of the summed flux of several components (same band)."""
    flux = sum(10.0 ** (-0.4 * np.asarray(m, dtype=float)) for m in mags)
    return -2.5 * np.log10(flux)


def twomass_from_gaia(g, bp_rp) -> dict[str, np.ndarray]:
    """2MASS J, H, Ks from G and intrinsic BP-RP (Riello et al. 2021, Table C.2).

    BP-RP is clipped to the relations' validity range -0.5..2.5 (their Table C.1), so stars
    redder than that (dwarfs cooler than ~3,400 K) get the colours of BP-RP = 2.5.
    """
    x = np.clip(bp_rp, *TMASS_BP_RP_RANGE)
    g = np.asarray(g, dtype=float)
    return {
        "j": g - (0.01798 + 1.389 * x - 0.09338 * x**2),
        "h": g - (-0.1048 + 2.011 * x - 0.1758 * x**2),
        "k": g - (-0.0981 + 2.089 * x - 0.1579 * x**2),
    }


def johnson_v_from_gaia(g, bp_rp) -> np.ndarray:
    """Johnson V from G and BP-RP: G - V = -0.02704 + 0.01424x - 0.2156x^2 + 0.01426x^3.

    Riello et al. (2021), Table C.2; x clipped to the validity range -0.5..5 (Table C.1).
    """
    x = np.clip(bp_rp, *V_BP_RP_RANGE)
    return np.asarray(g, dtype=float) - (-0.02704 + 0.01424 * x - 0.2156 * x**2 + 0.01426 * x**3)


def ps1_from_gaia(g, bp_rp, teff, j, h) -> dict[str, np.ndarray]:
    """Pan-STARRS1 g, r, i, z, y (AB) of a star from Gaia G, BP-RP, its Teff and 2MASS J, H.

    V from G (Riello et al. 2021); B-V and V-Ic from the dwarf sequence at this Teff (Pecaut &
    Mamajek 2013; used for giants too, approx.); then Tonry et al. (2012), Table 6, quadratic
    forms with y = (g-r)_P1: B - g = 0.212 + 0.556y + 0.034y^2, V - r = 0.005 + 0.462y + 0.013y^2,
    I_C - i = -0.366 - 0.136y - 0.018y^2; hence B - V = 0.207 + 1.094y + 0.021y^2, solved for y.
    z and y: quadratic in log wavelength through i, J_AB and H_AB (approx.). A G2 dwarf comes out
    at (g-r)_P1 ~ 0.40 (its SDSS g-r is ~0.45).
    """
    logt = np.log10(np.asarray(teff, dtype=float))
    v = johnson_v_from_gaia(g, bp_rp)
    b_v = np.interp(logt, _SEQ_LOGT, _SEQ_BV)
    v_i = np.interp(logt, _SEQ_LOGT, _SEQ_VI)
    a, b, c = 0.021, 1.094, 0.207 - b_v
    y = (-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
    r = v - (0.005 + 0.462 * y + 0.013 * y**2)
    i = (v - v_i) + 0.366 + 0.136 * y + 0.018 * y**2
    j_ab = np.asarray(j, dtype=float) + TMASS_AB["j"]
    h_ab = np.asarray(h, dtype=float) + TMASS_AB["h"]
    x_i, x_z, x_y, x_j, x_h = (np.log10(WAVELENGTH_NM[k]) for k in ("i", "z", "y", "j", "h"))
    d1 = (j_ab - i) / (x_j - x_i)
    d2 = (h_ab - j_ab) / (x_h - x_j)
    curv = (d2 - d1) / (x_h - x_i)

    def through(x):
        return i + d1 * (x - x_i) + curv * (x - x_i) * (x - x_j)

    return {"g": r + y, "r": r, "i": i, "z": through(x_z), "y": through(x_y)}


def single_star_photometry(
    teff, logg, feh, a0, radius, distance_pc, grid: KuruczGrid | None = None
):
    """Noise-free apparent magnitudes of single stars (arrays broadcast to one length).

    Returns a dict with Gaia ``G``, ``BP``, ``RP`` (grid, reddened), 2MASS ``j``, ``h``, ``k``
    and PS1 ``ps_g`` ... ``ps_y`` (relations applied to the star's intrinsic colours, then
    reddened with the coefficients in the module docstring), and the intrinsic ``bp_rp0``.
    Two such stars are combined band by band with :func:`combine_magnitudes`.
    """
    grid = grid or load_grid()
    teff, logg, feh, a0, radius, distance_pc = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (teff, logg, feh, a0, radius, distance_pc)
        )
    )
    absolute = grid.absolute_magnitudes(teff, logg, feh, radius)
    dist_mod = 5.0 * np.log10(distance_pc / 10.0)
    ext = grid.extinction(teff, logg, feh, a0)
    out = {name: absolute[:, k] + dist_mod + ext[:, k] for k, name in enumerate(("G", "BP", "RP"))}
    bp_rp0 = absolute[:, 1] - absolute[:, 2]
    out["bp_rp0"] = bp_rp0
    nir = twomass_from_gaia(absolute[:, 0], bp_rp0)
    for band, coeff in A_TMASS.items():
        out[band] = nir[band] + dist_mod + coeff * a0
    ps1 = ps1_from_gaia(absolute[:, 0], bp_rp0, teff, nir["j"], nir["h"])
    for band, coeff in A_PS1.items():
        out[f"ps_{band}"] = ps1[band] + dist_mod + coeff * a0
    return out
