"""log g and [M/H] beside Teff: each parameter's best value, percentiles, error, source and flags.

For every parameter other than Teff that has models (:mod:`ebteff.parameters`), the catalogue
gains, per model, ``<key>_<model>`` with ``_p05 ... _p95`` and ``_err`` (its calibration, in
dex), and per star:

- ``<key>_best``: GSP-Phot's value where the star has one (``<key>_best_source`` "gaia"), else
  the prediction of the model with the smallest calibrated error among those to which the star
  is not novel (as for Teff: :mod:`ebteff.novelty`), its name in ``<key>_best_source``;
- ``<key>_best_p05 ... _p95`` and ``<key>_best_err``: the model's calibrated percentiles
  (clipped to the parameter's valid range, which no label lies beyond) and its ``_err``; for
  a GSP-Phot value, GSP-Phot's own 16th/84th percentiles when the table has them (Gaia
  Archive ``logg_gspphot_lower/upper``, ``mh_gspphot_lower/upper``; the 5th/95th extrapolated
  per side as for a Gaussian), else null: nothing measures the scatter of GSP-Phot's log g or
  [M/H] here (the reference sample has only a Teff);
- ``<key>_flag``: A (GSP-Phot), B/C/D (ML with calibrated error below the parameter's
  ``flag_b_max``, ``flag_c_max`` dex, or above), X (none);
- ``<key>_flag_bits``: the bits of ``flag_bits`` (:data:`ebteff.flags.FLAG_BITS`) for this
  parameter's models (model i of the parameter, config order, sets ``1 << (MODEL_BIT0 + i)``);
  the "hot" bit (16) is Teff's and stays 0.

The Teff columns do not depend on any of this: a run without these models writes the same Teff
columns.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .calibrate import PERCENTILE_NAMES, half_width
from .catalog import (
    GAUSS_90_OVER_68,
    choose_model,
    model_columns,
    percentile_columns,
    prefer_label,
)
from .flags import assign_flags, flag_bits
from .parameters import PARAMETERS, TEFF, Parameter

#: Gaia Archive names of GSP-Phot's 16th and 84th percentiles of each parameter.
GSPPHOT_BOUNDS = {
    "logg": ("logg_gspphot_lower", "logg_gspphot_upper"),
    "mh": ("mh_gspphot_lower", "mh_gspphot_upper"),
}


def models_by_parameter(calibrations: dict[str, dict]) -> dict[str, list[str]]:
    """Model names per non-Teff parameter key (in the order given), from their calibrations."""
    from .calibrate import parameter_of_calibration

    out: dict[str, list[str]] = {}
    for m, cal in calibrations.items():
        par = parameter_of_calibration(cal)
        if par is not TEFF:
            out.setdefault(par.key, []).append(m)
    return out


def parameter_inputs(parameters) -> list[str]:
    """Columns of the photometry a star's parameter values start from (labels and bounds)."""
    cols = []
    for key in parameters:
        cols += [*PARAMETERS[key].labels, *GSPPHOT_BOUNDS.get(key, ())]
    return cols


def _numpy(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(df.height, np.nan)
    return df[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def label_values(df: pl.DataFrame, parameter: Parameter):
    """GSP-Phot's value and its percentiles (n, 5): NaN where absent or outside the parameter's
    valid range (the -999 sentinel among them); percentiles only where its own lower/upper
    bracket it."""
    label = _numpy(df, parameter.labels[0])
    lo_valid, hi_valid = parameter.valid
    label = np.where((label >= lo_valid) & (label <= hi_valid), label, np.nan)
    q = np.full((label.size, len(PERCENTILE_NAMES)), np.nan)
    names = GSPPHOT_BOUNDS.get(parameter.key)
    if names:
        lo, hi = _numpy(df, names[0]), _numpy(df, names[1])
        own = np.isfinite(label) & np.isfinite(lo) & np.isfinite(hi) & (lo <= label) & (hi >= label)
        down, up = label - lo, hi - label
        full = np.stack(
            [label - GAUSS_90_OVER_68 * down, lo, label, hi, label + GAUSS_90_OVER_68 * up], axis=1
        )
        q[own] = full[own]
    return label, q


def parameter_block(
    base: pl.DataFrame,
    raw: dict[str, pl.DataFrame],
    calibrations: dict[str, dict],
    parameter: Parameter,
    photometry: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One parameter's catalogue columns, row for row with ``base`` (source_id, the parameter's
    GSP-Phot label and optionally its lower/upper and ``split``). ``raw``: this parameter's
    models' raw outputs (config order, which breaks ties)."""
    key = parameter.key
    models = list(raw)
    df = base.select("source_id")
    for m in models:
        cols = model_columns(m, calibrations[m], raw[m], photometry, parameter=parameter)
        df = df.join(cols, on="source_id", how="left", maintain_order="left")
    choice = choose_model(df, key, models)
    ml, ml_err, ml_source, ml_q = choice.value, choice.err, choice.source, choice.percentiles
    label, lab_q = label_values(base, parameter)
    has = np.isfinite(label)
    best, best_q, source = prefer_label(has, label, lab_q, ml, ml_q, ml_source)
    bits = flag_bits(
        has_label=has,
        best_source=source,
        models=models,
        predicted=choice.predicted,
        outside=choice.outside,
        teff_best=np.full(df.height, np.nan),
        split=base["split"].cast(pl.String).to_numpy() if "split" in base.columns else None,
    )
    drop = [c for c in df.columns if c.endswith(("_outside", "_novelty"))]
    # percentiles beyond the parameter's range (additive in dex, a wide interval can reach
    # log g 13) are clipped to it: no label lies beyond it, so no coverage changes
    lo, hi = parameter.valid
    best_q = np.clip(best_q, lo, hi)
    clipped = [pl.col(f"{key}_{m}_{p}").clip(lo, hi) for m in models for p in PERCENTILE_NAMES]
    return (
        df.drop(drop)
        .with_columns(*clipped)
        .with_columns(
            pl.Series(f"{key}_best", best).fill_nan(None),
            *percentile_columns(f"{key}_best", best_q),
            pl.Series(f"{key}_best_err", np.where(has, half_width(best_q), ml_err)).fill_nan(None),
            pl.Series(f"{key}_best_source", source.astype(str)),
            pl.Series(f"{key}_flag", assign_flags(has, ml_err, parameter).astype(str)),
            pl.Series(f"{key}_flag_bits", bits),
        )
    )


def with_parameters(
    cat: pl.DataFrame,
    base: pl.DataFrame,
    raw: dict[str, pl.DataFrame],
    calibrations: dict[str, dict],
    photometry: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``cat`` (the Teff catalogue rows, in ``base``'s order) with every non-Teff parameter's
    block (:func:`parameter_block`) appended, parameters in :data:`PARAMETERS` order. ``raw``
    and ``calibrations`` may hold Teff models too: only the others are used."""
    groups = models_by_parameter({m: calibrations[m] for m in raw})
    out = cat
    for key, par in PARAMETERS.items():
        if key not in groups:
            continue
        block = parameter_block(
            base, {m: raw[m] for m in groups[key]}, calibrations, par, photometry
        )
        out = out.with_columns(block.drop("source_id"))
    return out


def summarise_parameters(cat: pl.DataFrame, calibrations: dict[str, dict]) -> dict:
    """Per parameter: stars with a value, per flag and per source, and the ML error quantiles
    (in the parameter's unit)."""
    out = {}
    for key, models in models_by_parameter(calibrations).items():
        par = PARAMETERS[key]
        n = cat.height
        flags = {f: int((cat[f"{key}_flag"] == f).sum()) for f in "ABCDX"}
        ml = cat.filter(pl.col(f"{key}_best_source").is_in(models))[f"{key}_best_err"]
        out[key] = {
            "unit": par.unit,
            "models": models,
            "flags": flags,
            "with_value": (n - flags["X"]) / n if n else 0.0,
            "source": {s: int((cat[f"{key}_best_source"] == s).sum()) for s in ["gaia", *models]},
            f"ml_err_quantiles_{par.unit_suffix}": {
                f"q{int(q * 100):02d}": float(ml.quantile(q)) for q in (0.16, 0.5, 0.84)
            }
            if ml.drop_nulls().len()
            else {},
        }
    return out


_PCT = {"p05": "5th", "p16": "16th", "p50": "50th (median)", "p84": "84th", "p95": "95th"}


def parameter_column_meta(name: str) -> tuple[str, str, str]:
    """(unit, UCD, description) of a log g or [M/H] column of the catalogue."""
    key, rest = name.split("_", 1)
    par = PARAMETERS[key]
    u, ucd, what = par.unit, par.ucd, par.name
    if rest == "best":
        return (
            u,
            ucd,
            f"Adopted {what}: GSP-Phot's where present ({key}_best_source gaia), else the ML "
            f"prediction of the {what} model with the smallest calibrated uncertainty",
        )
    if rest == "best_err":
        return (
            u,
            f"stat.error;{ucd}",
            f"Symmetric 1-sigma uncertainty of {key}_best: ({key}_best_p84 - {key}_best_p16) / 2; "
            "empty for a GSP-Phot value without its own lower/upper percentiles",
        )
    if rest == "best_source":
        return ("", "meta.code", f"Origin of {key}_best: gaia (GSP-Phot), a model name, or empty")
    if rest == "flag":
        return (
            "",
            "meta.code.qual",
            f"Quality flag of {key}_best: A = GSP-Phot {what}; B = ML with calibrated sigma < "
            f"{par.flag_b_max:g} {u}; C = ML with sigma < {par.flag_c_max:g} {u}; D = ML with "
            f"sigma >= {par.flag_c_max:g} {u}; X = no {what}",
        )
    if rest == "flag_bits":
        return (
            "",
            "meta.code.qual",
            f"Bit mask of {key}_best, bits as flag_bits for the {what} models: 1 GSP-Phot value; "
            "2 ML; 4 features of a model missing; 8 outside the winning model's training range; "
            f"32/64/128 split; 256 << i: {what} model i (config order, from 0) gave {key}_best",
        )
    for p, text in _PCT.items():
        if rest.endswith(f"_{p}"):
            of = rest[: -len(p) - 1]
            whose = f"{key}_best" if of == "best" else f"the {what} of model {of}"
            return (u, f"{ucd};stat.percentile", f"{text} percentile of {whose} (calibrated)")
    if rest.endswith("_err"):
        return (
            u,
            f"stat.error;{ucd}",
            f"Symmetric 1-sigma uncertainty of model {rest[:-4]}: (p84 - p16) / 2 of its "
            "calibrated percentiles",
        )
    return (u, ucd, f"{what} predicted by model {rest} (mean of its trees, in {u})")
