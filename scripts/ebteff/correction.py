"""The hot-star Teff correction: fit it, store it, load it, apply it.

GSP-Phot underestimates the Teff of hot stars. A degree-2 polynomial P maps GSP-Phot Teff to a
reference (spectroscopic) Teff. It is applied with a smooth blend above a threshold
(docs/design.md): t = clip((T - threshold) / width, 0, 1), s = t^2 (3 - 2t),
T_corr = T + (P(T) - T) s. :func:`apply_correction` is the only implementation in the workflow;
training and the catalogue both call it.

The earlier pipeline stored P as a joblib pickle. Loading a pickle can run code, so such files go
through :func:`load_legacy_pickle`, which admits only the numpy types those files need
(:mod:`ebteff.pickles`); with nothing else admitted, no code runs and no pin is needed.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial

from . import pickles

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 10_000.0
DEFAULT_WIDTH = 2_000.0


class CorrectionError(ValueError):
    """The correction cannot be fitted or loaded; the message says why."""


class UnsafePickleError(CorrectionError):
    """A pickle asked for something other than the plain numpy types a correction needs."""


@dataclass(frozen=True)
class Correction:
    """A fitted or loaded correction polynomial (ascending coefficients, GSP-Phot Teff in K)."""

    coefficients: tuple[float, ...]
    threshold: float = DEFAULT_THRESHOLD
    width: float = DEFAULT_WIDTH
    provenance: dict = field(default_factory=dict)

    @property
    def polynomial(self) -> Polynomial:
        return Polynomial(np.asarray(self.coefficients, dtype=float))

    def apply(self, teff) -> np.ndarray:
        return apply_correction(teff, self.coefficients, self.threshold, self.width)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["coefficients"] = list(self.coefficients)
        out["degree"] = len(self.coefficients) - 1
        out["formula"] = (
            "T_corr = T + (P(T) - T) * s, s = t^2 (3 - 2t), "
            "t = clip((T - threshold) / width, 0, 1); P(T) = sum_k coefficients[k] * T^k"
        )
        return out


def blend_weight(teff, threshold: float = DEFAULT_THRESHOLD, width: float = DEFAULT_WIDTH):
    """Smoothstep weight of the correction: 0 up to ``threshold``, 1 from threshold + width."""
    if width <= 0:
        raise CorrectionError(f"blend width must be positive, got {width}")
    t = np.clip((np.asarray(teff, dtype=float) - threshold) / width, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def apply_correction(
    teff,
    coefficients,
    threshold: float = DEFAULT_THRESHOLD,
    width: float = DEFAULT_WIDTH,
) -> np.ndarray:
    """Corrected Teff for an array of GSP-Phot Teff (NaN stays NaN; rows <= threshold unchanged)."""
    teff = np.asarray(teff, dtype=float)
    poly = np.polynomial.polynomial.polyval(teff, np.asarray(coefficients, dtype=float))
    s = blend_weight(teff, threshold, width)
    return np.where(s > 0.0, teff + (poly - teff) * s, teff)


@dataclass(frozen=True)
class FitResult:
    correction: Correction
    n_used: int
    n_clipped: int
    rms: float
    fit_range: tuple[float, float]
    used: np.ndarray  # boolean mask over the inputs, True where a star entered the final fit
    monotonic: bool  # P increases over [threshold, top of the fit range]: no two Teffs collide


def fit_correction(
    teff_gaia,
    teff_ref,
    *,
    floor: float,
    degree: int = 2,
    clip_sigma: float = 3.0,
    max_iter: int = 10,
    min_stars: int = 20,
    threshold: float = DEFAULT_THRESHOLD,
    width: float = DEFAULT_WIDTH,
) -> FitResult:
    """Fit P(teff_gaia) -> teff_ref on stars with teff_gaia >= floor, with iterative clipping.

    Clipping uses a robust scale (1.4826 x median absolute deviation of the residuals), so a few
    catastrophic labels cannot inflate the threshold that is meant to reject them.
    """
    x = np.asarray(teff_gaia, dtype=float)
    y = np.asarray(teff_ref, dtype=float)
    if x.shape != y.shape:
        raise CorrectionError("teff_gaia and teff_ref must have the same length")
    sel = np.isfinite(x) & np.isfinite(y) & (x >= floor)
    n_sel = int(sel.sum())
    if n_sel < max(min_stars, degree + 2):
        raise CorrectionError(
            f"only {n_sel} reference star(s) with GSP-Phot Teff >= {floor:.0f} K; at least "
            f"{max(min_stars, degree + 2)} are needed to fit a degree-{degree} correction. "
            "Lower correction.fit_floor, supply a larger reference table, or use "
            "correction.mode: load with a coefficients file."
        )
    used = sel.copy()
    for _ in range(max_iter):
        poly = Polynomial.fit(x[used], y[used], degree).convert()
        resid = y - poly(x)
        scale = 1.4826 * np.median(np.abs(resid[used] - np.median(resid[used])))
        if not np.isfinite(scale) or scale == 0:
            break
        new = sel & (np.abs(resid) <= clip_sigma * scale)
        if new.sum() < degree + 2 or np.array_equal(new, used):
            break
        used = new
    poly = Polynomial.fit(x[used], y[used], degree).convert()
    coef = np.zeros(degree + 1)
    coef[: len(poly.coef)] = poly.coef
    rms = float(np.sqrt(np.mean((y[used] - poly(x[used])) ** 2)))
    fit_range = (float(x[used].min()), float(x[used].max()))
    correction = Correction(tuple(float(c) for c in coef), threshold, width)
    top = max(fit_range[1], threshold)
    monotonic = bool(np.all(poly.deriv()(np.linspace(threshold, top, 256)) > 0))
    if not monotonic:
        log.warning(
            "the fitted correction is not increasing over %.0f-%.0f K: distinct GSP-Phot Teffs "
            "map to the same corrected Teff there; consider a lower degree or fit_floor",
            threshold,
            top,
        )
    log.info(
        "fitted degree-%d correction on %d stars (%d clipped), rms %.1f K, range %.0f-%.0f K",
        degree,
        int(used.sum()),
        n_sel - int(used.sum()),
        rms,
        *fit_range,
    )
    return FitResult(
        correction, int(used.sum()), n_sel - int(used.sum()), rms, fit_range, used, monotonic
    )


# --- the earlier pipeline's pickle format -------------------------------------------------------


def restricted_load(path: str | os.PathLike):
    """Load a (joblib or plain) pickle admitting only plain numpy types; refuse anything else."""
    try:
        return pickles.restricted_load(path, pickles.NUMPY_GLOBALS, "a correction pickle")
    except pickles.UnsafePickleError as err:
        raise UnsafePickleError(str(err)) from None
    except pickles.PickleError as err:
        raise CorrectionError(str(err)) from err


def load_legacy_pickle(path: str | os.PathLike, **kwargs) -> Correction:
    """Read the earlier pipeline's file: ``{'polynomial': P, 'degree': 2}`` or [c0, c1, c2]."""
    obj = restricted_load(path)
    if isinstance(obj, dict) and isinstance(obj.get("polynomial"), Polynomial):
        coef = obj["polynomial"].convert().coef
    elif isinstance(obj, np.ndarray) and obj.ndim == 1 and obj.dtype.kind == "f":
        coef = obj
    else:
        raise CorrectionError(
            f"{path}: expected {{'polynomial': numpy.polynomial.Polynomial, 'degree': 2}} or a "
            f"1-D float array of ascending coefficients, found {type(obj).__name__}"
        )
    if len(coef) < 1 or not np.all(np.isfinite(coef)):
        raise CorrectionError(f"{path}: coefficients {list(coef)} are not finite")
    return Correction(tuple(float(c) for c in coef), provenance={"source": str(path)}, **kwargs)


def dump_legacy_pickle(correction: Correction, path: str | os.PathLike) -> None:
    """Write the earlier pipeline's format, ``{'polynomial': Polynomial, 'degree': n}`` (joblib)."""
    import joblib

    from .io import atomic_output

    payload = {"polynomial": correction.polynomial, "degree": len(correction.coefficients) - 1}
    buf = io.BytesIO()
    joblib.dump(payload, buf)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buf.getvalue())


# --- our JSON format ----------------------------------------------------------------------------


def save_correction_json(correction: Correction, path: str | os.PathLike, **extra) -> None:
    """Write the correction (coefficients, application settings, provenance) as JSON."""
    from .io import write_json

    write_json({**correction.to_dict(), **extra}, path)


def load_correction_json(path: str | os.PathLike, **overrides) -> Correction:
    """Read a correction written by :func:`save_correction_json`."""
    import json

    try:
        data = json.loads(Path(path).read_text())
        coef = tuple(float(c) for c in data["coefficients"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorrectionError(f"{path} is not a correction JSON file: {err}") from err
    if not coef or not all(np.isfinite(coef)):
        raise CorrectionError(f"{path}: coefficients {coef} are not finite")
    settings = {
        "threshold": float(data.get("threshold", DEFAULT_THRESHOLD)),
        "width": float(data.get("width", DEFAULT_WIDTH)),
        **overrides,
    }
    return Correction(coef, provenance=data.get("provenance", {}), **settings)


def correction_origin(data: dict) -> dict:
    """Which correction a run used, from its correction JSON: ``method`` (fit or load), ``used``
    (the reference table, the file, or ``repo@revision:file`` for the published one) and the
    ``sha256`` of that input, with the rest of the JSON's ``origin`` record."""
    origin = data.get("origin", {})
    if origin.get("method") == "fit":
        where, digest = origin["reference"], origin["reference_sha256"]
    elif origin.get("from") == "published":
        where = f"{origin['repo_id']}@{origin['revision']}:{origin['file']}"
        digest = origin["sha256"]
    else:
        where, digest = origin.get("file", "unknown"), origin.get("sha256", "unknown")
    return {"method": origin.get("method", "unknown"), "used": where, "sha256": digest, **origin}


def load_correction_file(
    path: str | os.PathLike,
    sha256: str | None = None,
    *,
    name: str | None = None,
    pin_key: str = "correction.file_sha256",
    **settings,
) -> Correction:
    """Load our JSON, or the earlier pipeline's pickle; check the sha256 pin when one is given.

    ``name`` (default: the path) decides the format by its suffix: ``.json`` is ours, anything
    else is read as the legacy pickle. A pickle needs no pin: :func:`restricted_load` admits only
    numpy arrays and ``Polynomial``, so loading it runs no code. ``pin_key`` names the config key
    of the pin in the message when it does not match.
    """
    from .io import sha256sum

    path = Path(path)
    actual = sha256sum(path)
    if sha256 is not None and actual != str(sha256).strip().lower():
        raise CorrectionError(
            f"{name or path}: sha256 {actual} does not match the pinned {pin_key} {sha256}; "
            "the file is not the one the config trusts. If this file is intended, set "
            f"{pin_key}: {actual}"
        )
    if Path(name or path).suffix.lower() == ".json":
        return load_correction_json(path, **settings)
    return load_legacy_pickle(path, **settings)
