"""Accuracy metrics of a model's predictions, overall and per bin of the label, in the unit of
its parameter (:mod:`ebteff.parameters`: Teff in K, log g and [M/H] in dex)."""

from __future__ import annotations

import numpy as np

from .parameters import TEFF, Parameter

#: Teff bin edges (K) of every per-bin Teff table in the workflow.
TEFF_BIN_EDGES = TEFF.report_edges


def bin_labels(edges=TEFF_BIN_EDGES) -> list[str]:
    return [f"{int(lo)}-{int(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def regression_metrics(reference, predicted, parameter: Parameter = TEFF) -> dict:
    """MAE, RMSE, R2, median |error|, bias (predicted - reference), in the parameter's unit;
    for Teff (multiplicative errors) the fraction within 5/10/20%, for a parameter in dex
    (additive errors, zero and negative values ordinary) the fraction within 0.1/0.2/0.5 dex."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(pred)
    ref, pred = ref[ok], pred[ok]
    n = int(ref.size)
    if n == 0:
        return {"n": 0}
    err = pred - ref
    ss_tot = float(np.sum((ref - ref.mean()) ** 2))
    if parameter.scale != "ln":
        return {
            "n": n,
            "unit": parameter.unit,
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else None,
            "median_abs_error": float(np.median(np.abs(err))),
            "bias": float(np.mean(err)),
            **{f"within_{w:g}_dex": float(np.mean(np.abs(err) <= w)) for w in DEX_WITHIN},
        }
    rel = np.abs(err) / ref
    return {
        "n": n,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else None,
        "median_abs_error": float(np.median(np.abs(err))),
        "bias": float(np.mean(err)),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "within_10pct": float(np.mean(rel <= 0.10)),
        "within_20pct": float(np.mean(rel <= 0.20)),
    }


def binned_metrics(reference, predicted, edges=None, parameter: Parameter = TEFF) -> dict:
    """:func:`regression_metrics` per bin of the reference (``parameter``'s report bins)."""
    edges = parameter.report_edges if edges is None else edges
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    out = {}
    for label, lo, hi in zip(parameter.bin_labels(edges), edges[:-1], edges[1:], strict=True):
        sel = (ref >= lo) & (ref < hi)
        out[label] = regression_metrics(ref[sel], pred[sel], parameter)
    return out


def full_metrics(reference, predicted, parameter: Parameter = TEFF) -> dict:
    return {
        "overall": regression_metrics(reference, predicted, parameter),
        "per_bin": binned_metrics(reference, predicted, parameter=parameter),
    }


#: Thresholds (dex) of the "within" fractions of a parameter in dex.
DEX_WITHIN = (0.1, 0.2, 0.5)


def markdown_table(rows: dict[str, dict], title: str, parameter: Parameter = TEFF) -> str:
    """One Markdown table: a row per named metrics dict (overall metrics only), in the
    parameter's unit; the "within" columns are relative for Teff (multiplicative errors) and
    in dex for log g and [M/H]."""
    u, d = parameter.unit, parameter.decimals
    if parameter.scale == "ln":
        within = {f"<{p}%": f"within_{p}pct" for p in (5, 10, 20)}
    else:
        within = {f"<{w:g} {u}": f"within_{w:g}_dex" for w in DEX_WITHIN}
    head = (
        f"| set | n | MAE ({u}) | RMSE ({u}) | R2 | median abs ({u}) | bias ({u}) | "
        + " | ".join(within)
        + " |"
    )
    lines = [f"### {title}", "", head, "|" + "---|" * (7 + len(within))]
    for name, m in rows.items():
        if not m or m.get("n", 0) == 0:
            lines.append(f"| {name} | 0 |" + " |" * (5 + len(within)))
            continue
        r2 = "n/a" if m["r2"] is None else f"{m['r2']:.3f}"
        lines.append(
            f"| {name} | {m['n']} | {m['mae']:.{d}f} | {m['rmse']:.{d}f} | {r2} | "
            f"{m['median_abs_error']:.{d}f} | {m['bias']:+.{d}f} | "
            + " | ".join(f"{100 * m[k]:.1f}%" for k in within.values())
            + " |"
        )
    return "\n".join(lines) + "\n"
