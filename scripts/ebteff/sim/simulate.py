"""A physics-based simulator of the upstream photometry table (the workflow's offline default).

:func:`simulate_catalogue` writes, block by block, three Parquet files:

1. the photometry table, with exactly the upstream columns, dtypes and -999.0 sentinels
   (:data:`ebteff.schema.COLUMNS`), sorted by ``source_id``;
2. the truth (true Teff of both components, blended Teff ``teff_blend`` as defined below, the
   blend's log g ``logg_blend`` (what GSP-Phot's log g of the blend scatters around), logg,
   [M/H], A0, distance, radii, masses, ``light_ratio`` = F2/F1 in unreddened G, ``giant``,
   ``binary_class`` (detached eclipsing, contact, ellipsoidal) and ``a0_gspphot``, the A0 the
   label was read with), which models never read;
3. a spectroscopic-quality reference sample (``teff_ref``, ``teff_ref_err``) for fitting the
   hot-star correction.

Each star is an eclipsing binary: two components whose fluxes add in every band. The population
(who the binaries are, where, behind how much dust) is :mod:`ebteff.sim.population` and
:mod:`ebteff.sim.galaxy`; magnitudes come from :mod:`ebteff.sim.stellar` (Kurucz grid,
published relations). This module observes it: astrometry and photometry with Gaia-like noise,
the surveys' coverage as outcomes of their footprints and limits (Pan-STARRS1: Dec > -30 deg,
r between its saturation and 5-sigma depth, Chambers et al. 2016; 2MASS: SNR >= 7 in one band,
Skrutskie et al. 2006; GSP-Phot: G < 19, Andrae et al. 2023), and GSP-Phot-like labels
(:mod:`ebteff.sim.labels`). The truth's ``teff_blend`` is the Teff of the combined light,
(sum R^2 T^4 / sum R^2)^(1/4): what a catalogue user compares with. Every random number comes
from ``np.random.default_rng([seed, block])``, so the same (n_stars, seed, block_size) gives
byte-identical files.
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
from ..tables import MAGNITUDE_LIMITS
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

# --- Surveys (the population is ebteff.sim.population; labels ebteff.sim.labels)

GAIA = ("G", "BP", "RP")
#: 2.5 / ln 10: magnitudes per unit of ln flux (a relative flux error e is e * this in mag).
MAG_PER_LN_FLUX = 2.5 / math.log(10.0)
#: The faintest Gaia magnitude a table may hold (what the workflow's table reader accepts).
GAIA_MAG_LIMIT = MAGNITUDE_LIMITS["g"][2]

KM_S_PER_MAS_YR_KPC = 4.74047

#: Pan-STARRS1 3pi: Dec > -30 deg (Chambers et al. 2016); soft PSF saturation and single-epoch
#: 5-sigma depths (approx., Chambers et al. 2016), mean over ~PS1_EPOCHS epochs.
PS1_DEC_MIN = -30.0
PS1_SATURATION = {"g": 13.8, "r": 13.8, "i": 13.8, "z": 13.3, "y": 12.3}
PS1_DEPTH = {"g": 22.0, "r": 21.8, "i": 21.5, "z": 20.9, "y": 19.7}
PS1_EPOCHS = 6
PS1_SOFTNESS = 0.15
#: PS1 Kron magnitudes of point sources: slightly brighter and noisier than PSF (approx.).
PS1_KRON_OFFSET, PS1_KRON_NOISE = -0.01, 1.5

#: 2MASS PSC: 10-sigma limits J 15.8, H 15.1, Ks 14.3 (Skrutskie et al. 2006); a source enters
#: with SNR >= 7 in at least one band, 2.5 log10(10/7) = 0.39 mag fainter (background-limited).
TMASS_10SIGMA = {"j": 15.8, "h": 15.1, "k": 14.3}
TMASS_SNR7_OFFSET = 2.5 * math.log10(10.0 / 7.0)
TMASS_SOFTNESS = 0.15

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
    "binary_class",
)
#: Integer truth columns (the others are floats, ``giant`` boolean). ``binary_class``: 0 a
#: detached eclipsing pair, 1 a contact binary, 2 a non-eclipsing ellipsoidal variable
#: (:data:`ebteff.sim.population.DETACHED` ...). ``stage1``/``stage2``: 0 main sequence, 1
#: Hertzsprung gap, 2 giant branch, 3 core-helium burning, 4 early AGB
#: (:data:`ebteff.sim.population.MS` ...).
TRUTH_INTEGERS = ("source_id", "component", "stage1", "stage2", "binary_class")
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


def gaia_magnitude(mag, z, band: str) -> np.ndarray:
    """Observed Gaia mean magnitude of true magnitude ``mag`` given standard normal draws ``z``.

    The noise is in flux (a mean flux is measured; its background-limited error does not shrink
    with the source), so a faint source's observed flux may come out at or below zero: then
    the band has no magnitude (NaN), as Gaia publishes none; so too beyond what Gaia can measure
    (:data:`ebteff.tables.MAGNITUDE_LIMITS`, 30 mag). Where the error is small this is
    ``mag + sigma * z`` (:func:`gaia_sigma`) to first order.
    """
    mag = np.asarray(mag, dtype=float)
    ratio = 1.0 - gaia_sigma(band, mag) / MAG_PER_LN_FLUX * np.asarray(z, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.round(mag - MAG_PER_LN_FLUX * np.log(ratio), 5)
    ok = (ratio > 0.0) & (observed <= GAIA_MAG_LIMIT)
    return np.where(ok, observed, np.nan)


def parallax_sigma(g) -> np.ndarray:
    """Gaia (E)DR3 parallax uncertainty, mas: sqrt(40 + 800 z + 30 z^2) uas (pygaia)."""
    z = 10.0 ** (0.4 * (np.maximum(g, 13.0) - 15.0))
    return np.sqrt(40.0 + 800.0 * z + 30.0 * z * z) / 1000.0


# --- Observation


def _sentinel(values, present) -> np.ndarray:
    return np.where(present, values, SENTINEL)


def _observe(rng, stars: dict, grid) -> tuple[dict, dict, np.ndarray]:
    """Noisy photometry, survey coverage and labels of accepted stars.

    Coverages follow from the surveys' footprints and limits alone; labels from
    :mod:`ebteff.sim.labels`; the truth's ``teff_blend`` is the Teff of the combined light.
    Returns (photometry columns without source_id, truth columns without source_id, teff_blend).
    """
    n = stars["G"].size
    d, a0, feh = stars["distance"], stars["a0"], stars["feh"]
    dist_mod = 5.0 * np.log10(d / 10.0)
    cols: dict[str, np.ndarray] = {}

    # Sky position and astrometry.
    ra, dec = galactic_to_icrs(stars["l"], stars["b"])
    g_true = stars["G"]
    sig_plx = parallax_sigma(g_true)
    parallax = 1000.0 / d + rng.normal(0.0, 1.0, n) * sig_plx
    sig_v = stars["sigma_v"]
    pm_scale = 1.0 / (KM_S_PER_MAS_YR_KPC * d / 1000.0)
    # pygaia DR3 scalings of proper-motion to parallax uncertainty (alpha* 1.03, delta 0.89).
    pmra = rng.normal(0.0, 1.0, n) * sig_v * pm_scale + rng.normal(0.0, 1.0, n) * 1.03 * sig_plx
    pmdec = rng.normal(0.0, 1.0, n) * sig_v * pm_scale + rng.normal(0.0, 1.0, n) * 0.89 * sig_plx
    cols.update(ra=ra, dec=dec, parallax=parallax, pmra=pmra, pmdec=pmdec)

    # Gaia photometry: blended magnitudes plus noise; colours from the noisy magnitudes.
    gaia = {band: gaia_magnitude(stars[band], rng.normal(0.0, 1.0, n), band) for band in GAIA}
    have = {band: np.isfinite(gaia[band]) for band in GAIA}
    cols.update({band.lower(): _sentinel(gaia[band], have[band]) for band in GAIA})
    for a, b in (("BP", "RP"), ("G", "BP"), ("G", "RP")):
        both = have[a] & have[b]
        diff = np.round(np.where(both, gaia[a] - gaia[b], 0.0), 5)
        cols[f"{a.lower()}_{b.lower()}"] = _sentinel(diff, both)

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
        limit = m10 + TMASS_SNR7_OFFSET
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

    in_ps1 = (dec > PS1_DEC_MIN) & (rng.random(n) < ps1_window("r", true["ps_r"]))
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
    label_cols, teff_blend, logg_blend, a0_fit = _labels(rng, stars, gaia, grid)
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


def _labels(rng, stars: dict, gaia: dict, grid) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """GSP-Phot-like labels (:mod:`ebteff.sim.labels`), the combined-light Teff, the
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
) -> tuple[dict, dict, dict]:
    """One block of the catalogue: (photometry, truth, reference) column dicts.

    Everything random in the block comes from ``np.random.default_rng([seed, block])``.
    """
    grid = grid or stellar.load_grid()
    rng = np.random.default_rng([seed, block])
    stars = population.draw_accepted(rng, n, grid)
    cols, truth, teff_blend = _observe(rng, stars, grid)
    # Gaia EB parameters and the full-column reddening (schema.OPTIONAL_COLUMNS).
    cols["ebv_sandf"] = np.round(stars["ebv_sandf"], 5)
    cols["frequency"] = np.round(stars["frequency"], 8)
    for key in ("period", "ebv_sandf", "component", "age", "stage1", "stage2", "binary_class"):
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
                seed, block, n_blocks, n, reference_fraction, grid
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
