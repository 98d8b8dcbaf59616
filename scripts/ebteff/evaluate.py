"""Accuracy metrics of Teff predictions, overall and per Teff bin."""

from __future__ import annotations

import numpy as np

#: Teff bin edges (K) of every per-bin table in the workflow.
TEFF_BIN_EDGES = (0.0, 4000.0, 5000.0, 6000.0, 8000.0, 50000.0)


def bin_labels(edges=TEFF_BIN_EDGES) -> list[str]:
    return [f"{int(lo)}-{int(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def regression_metrics(reference, predicted) -> dict:
    """MAE, RMSE, R2, median |error|, bias (predicted - reference), fraction within 5/10/20%."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(pred)
    ref, pred = ref[ok], pred[ok]
    n = int(ref.size)
    if n == 0:
        return {"n": 0}
    err = pred - ref
    rel = np.abs(err) / ref
    ss_tot = float(np.sum((ref - ref.mean()) ** 2))
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


def binned_metrics(reference, predicted, edges=TEFF_BIN_EDGES) -> dict:
    """:func:`regression_metrics` per bin of the reference Teff."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    out = {}
    for label, lo, hi in zip(bin_labels(edges), edges[:-1], edges[1:], strict=True):
        sel = (ref >= lo) & (ref < hi)
        out[label] = regression_metrics(ref[sel], pred[sel])
    return out


def full_metrics(reference, predicted) -> dict:
    return {
        "overall": regression_metrics(reference, predicted),
        "per_bin": binned_metrics(reference, predicted),
    }


def markdown_table(rows: dict[str, dict], title: str) -> str:
    """One Markdown table: a row per named metrics dict (overall metrics only)."""
    head = "| set | n | MAE (K) | RMSE (K) | R2 | median abs (K) | bias (K) | <5% | <10% | <20% |"
    lines = [f"### {title}", "", head, "|" + "---|" * 10]
    for name, m in rows.items():
        if not m or m.get("n", 0) == 0:
            lines.append(f"| {name} | 0 |" + " |" * 8)
            continue
        r2 = "n/a" if m["r2"] is None else f"{m['r2']:.3f}"
        lines.append(
            f"| {name} | {m['n']} | {m['mae']:.0f} | {m['rmse']:.0f} | {r2} | "
            f"{m['median_abs_error']:.0f} | {m['bias']:+.0f} | {100 * m['within_5pct']:.1f}% | "
            f"{100 * m['within_10pct']:.1f}% | {100 * m['within_20pct']:.1f}% |"
        )
    return "\n".join(lines) + "\n"
