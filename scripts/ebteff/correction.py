"""The hot-star Teff correction: fit it, store it, load it, apply it.

GSP-Phot underestimates the Teff of hot stars. A degree-2 polynomial P maps GSP-Phot Teff to a
reference (spectroscopic) Teff. It is applied with a smooth blend above a threshold
(DESIGN.md): t = clip((T - threshold) / width, 0, 1), s = t^2 (3 - 2t),
T_corr = T + (P(T) - T) s. :func:`apply_correction` is the only implementation in the workflow;
training and the catalogue both call it.

The earlier pipeline stored P as a joblib pickle. Loading a pickle runs code, so such files go
through :func:`load_legacy_pickle`, which admits only the numpy types those files need.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial

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

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.polynomial.polynomial", "Polynomial"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }
)


def _restricted_unpickler_class():
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class RestrictedUnpickler(NumpyUnpickler):
        """joblib's unpickler, limited to the globals a correction file needs.

        joblib stores arrays as a wrapper followed by raw bytes; for object arrays it would call
        an unrestricted ``pickle.load``, so object dtypes are refused before that can happen.
        """

        dispatch = NumpyUnpickler.dispatch.copy()

        def find_class(self, module, name):
            if (module, name) not in _ALLOWED_GLOBALS:
                raise UnsafePickleError(
                    f"refusing to load {module}.{name} from a correction pickle: only numpy "
                    "arrays and numpy.polynomial.Polynomial are allowed (a pickle can run "
                    "arbitrary code when loaded)"
                )
            return super().find_class(module, name)

        def load_build(self):
            target, state = self.stack[-2], self.stack[-1]
            if isinstance(target, NumpyArrayWrapper):
                dtype = state.get("dtype") if isinstance(state, dict) else None
                if not isinstance(dtype, np.dtype) or dtype.hasobject:
                    raise UnsafePickleError(
                        "refusing a joblib array of object (or unknown) dtype in a correction "
                        "pickle: it would be unpickled without restriction"
                    )
            NumpyUnpickler.load_build(self)

        dispatch[pickle.BUILD[0]] = load_build

    return RestrictedUnpickler


def restricted_load(path: str | os.PathLike):
    """Load a (joblib or plain) pickle admitting only plain numpy types; refuse anything else."""
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    path = Path(path)
    unpickler_cls = _restricted_unpickler_class()
    with open(path, "rb") as fh:
        with _validate_fileobject_and_memmap(fh, str(path), None) as (fobj, _):
            if isinstance(fobj, str):  # pre-0.10 joblib format with companion files
                raise UnsafePickleError(f"{path}: obsolete joblib format is not supported")
            unpickler = unpickler_cls(str(path), fobj, ensure_native_byte_order=True)
            try:
                return unpickler.load()
            except UnsafePickleError:
                raise
            except Exception as err:  # corrupt or truncated stream
                raise CorrectionError(f"{path} is not a readable correction pickle: {err}") from err


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


def load_correction_file(
    path: str | os.PathLike, sha256: str | None = None, **settings
) -> Correction:
    """Load our JSON, or a legacy pickle whose sha256 matches the pin (required for pickles)."""
    from .io import sha256sum

    path = Path(path)
    if path.suffix.lower() == ".json":
        return load_correction_json(path, **settings)
    actual = sha256sum(path)
    if sha256 is None:
        raise CorrectionError(
            f"{path} is a pickle and correction.file_sha256 is not set. Loading a pickle can run "
            f"code, so it is only read when its sha256 is pinned in the config; if you trust "
            f"this file, set correction.file_sha256: {actual}"
        )
    if actual != sha256:
        raise CorrectionError(
            f"{path}: sha256 {actual} does not match the pinned correction.file_sha256 {sha256}; "
            "the file is not the one the config trusts"
        )
    return load_legacy_pickle(path, **settings)
