"""The hot-star correction, Teff distributions and accuracy against the label and truth."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter

from ..correction import Correction, blend_weight
from ..features import TEFF_MAX, TEFF_MIN
from ..parameters import TEFF, Parameter
from .base import (
    GUIDE,
    LINESTYLES,
    MARKERS,
    bin_title,
    corner_text,
    no_data,
    plt,
    save,
    series_colors,
    teff_log_axis,
)

# -- the hot-star correction --------------------------------------------------------------------


def correction_figure(
    teff_gaia, teff_ref, used, correction: Correction, path, fit: dict | None = None
) -> None:
    """Reference vs GSP-Phot Teff, the fitted polynomial, the applied (blended) correction and
    the blend region; ``fit`` (n_used, n_clipped, rms_k) is quoted in the legend."""
    teff_gaia = np.asarray(teff_gaia, dtype=float)
    teff_ref = np.asarray(teff_ref, dtype=float)
    used = np.asarray(used, dtype=bool)
    fig, (ax, axw) = plt.subplots(
        2, 1, figsize=(7.5, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    lo_blend, hi_blend = correction.threshold, correction.threshold + correction.width
    for a in (ax, axw):
        a.axvspan(lo_blend, hi_blend, color="0.9", zorder=0)
    fit_label = "used in fit"
    if fit:
        fit_label += f" (n = {fit.get('n_used', used.sum())}, rms {fit.get('rms_k', 0):,.0f} K)"
    ax.scatter(teff_gaia[~used], teff_ref[~used], s=5, c="0.7", label="not in fit / clipped")
    ax.scatter(teff_gaia[used], teff_ref[used], s=5, c="0.15", label=fit_label)
    finite = np.isfinite(teff_gaia)
    lo = np.nanmin(teff_gaia[finite]) if finite.any() else TEFF_MIN
    hi = max(np.nanmax(teff_gaia[finite]) if finite.any() else 0.0, hi_blend * 1.5)
    grid = np.linspace(lo, hi, 400)
    ax.plot(grid, grid, ":", c="k", lw=1, label="1:1 (no correction)", gid=GUIDE)
    ax.plot(grid, correction.polynomial(grid), "-", c="#3b528b", lw=2, label="polynomial P(T)")
    ax.plot(grid, correction.apply(grid), "--", c="#e08214", lw=2.5, label="applied (blended)")
    ax.plot([], [], c="0.9", lw=8, label=f"blend region {lo_blend:,.0f}\u2013{hi_blend:,.0f} K")
    ax.set_ylabel("reference Teff (K)")
    ax.legend(loc="upper left")
    ax.set_title("Hot-star correction of GSP-Phot Teff")
    ax.grid(alpha=0.3)
    axw.plot(grid, blend_weight(grid, correction.threshold, correction.width), c="#e08214", lw=2)
    axw.set_ylabel("blend weight")
    axw.set_ylim(-0.05, 1.05)
    axw.set_xlabel("GSP-Phot Teff (K)")
    axw.grid(alpha=0.3)
    save(fig, path)


# -- temperatures --------------------------------------------------------------------------------


def teff_distributions_figure(
    references: dict[str, np.ndarray],
    models: dict[str, np.ndarray],
    path,
    n_bins: int = 60,
    title: str = "Labels and the adopted Teff",
) -> None:
    """Histograms of log Teff: labels, truth and ``teff_best`` above, each model below.

    ``references`` maps a legend label to Teff values (the first is drawn filled, as the
    backdrop of both panels); ``models`` maps a model name to its predictions.
    """
    edges = np.logspace(np.log10(TEFF_MIN), np.log10(TEFF_MAX), n_bins + 1)
    fig, axes = plt.subplots(2, 1, figsize=(8, 8), sharex=True)

    def hist(values):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        return np.histogram(v, bins=edges)[0], v.size

    backdrop_name, backdrop = next(iter(references.items()), (None, None))
    for ax, group, panel_title in (
        (axes[0], references, title),
        (axes[1], models, "Predictions of each model (every star it can predict)"),
    ):
        if backdrop is not None:
            counts, n = hist(backdrop)
            ax.stairs(counts, edges, fill=True, color="0.85", label=f"{backdrop_name} (n={n:,})")
        items = [
            (k, v) for k, v in group.items() if not (group is references and k == backdrop_name)
        ]
        for i, ((name, values), color) in enumerate(
            zip(items, series_colors(len(items)), strict=True)
        ):
            counts, n = hist(values)
            ax.stairs(
                counts,
                edges,
                color=color,
                lw=2,
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                label=f"{name} (n={n:,})",
            )
        ax.set_ylabel("stars per bin")
        ax.set_title(panel_title)
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
    teff_log_axis(axes[1])
    axes[1].set_xlabel(f"Teff (K), {n_bins} bins evenly spaced in log Teff")
    save(fig, path)


# -- accuracy ------------------------------------------------------------------------------------


def density_panel(ax, cells: dict, edges: np.ndarray, xlabel: str, ylabel: str, title: str):
    """One predicted-vs-reference panel from :func:`grid_aggregate` counts (log Teff grid)."""
    counts = np.where(cells["count"] > 0, cells["count"], np.nan)
    bounds = 10**edges
    vmax = np.nanmax(counts) if np.isfinite(counts).any() else 1
    mesh = ax.pcolormesh(
        bounds, bounds, counts, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(vmax, 2))
    )
    line = np.array([TEFF_MIN, TEFF_MAX])
    ax.plot(line, line, "-", c="k", lw=1.2, label="1:1", gid=GUIDE)
    ax.plot(line, 1.1 * line, ":", c="k", lw=1, label="\u00b110%", gid=GUIDE)
    ax.plot(line, line / 1.1, ":", c="k", lw=1, gid=GUIDE)
    teff_log_axis(ax, "xy")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return mesh


def metrics_text(m: dict | None) -> str:
    if not m or not m.get("n"):
        return ""
    r2 = m.get("r2")
    return (
        f"n = {m['n']:,}\nMAE = {m['mae']:,.0f} K\nbias = {m['bias']:+,.0f} K\n"
        + (f"R\u00b2 = {r2:.3f}\n" if r2 is not None else "")
        + f"within 10%: {100 * m['within_10pct']:.1f}%"
    )


def accuracy_figure(panels: list[dict], model: str, path) -> None:
    """Density of predicted vs reference Teff, one panel per reference (label, truth).

    Each panel is ``{"cells": grid_aggregate(...), "edges": log10 edges, "reference": name,
    "metrics": overall metrics from metrics.json (quoted, not recomputed)}``.
    """
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.6 * len(panels) + 1.2, 5.6), squeeze=False, layout="constrained"
    )
    mesh = None
    for ax, p in zip(axes[0], panels, strict=True):
        if p["cells"]["count"].sum() == 0:
            no_data(ax, f"no test stars with {p['reference']}")
            continue
        mesh = density_panel(
            ax,
            p["cells"],
            p["edges"],
            f"{p['reference']} (K)",
            f"predicted Teff, {model} (K)",
            f"vs {p['reference']}",
        )
        text = metrics_text(p.get("metrics"))
        if text:
            corner_text(ax, text)
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=axes[0].tolist(), label="test stars per cell", shrink=0.9)
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.suptitle(f"{model}: predicted vs reference Teff, test split")
    save(fig, path)


def binned_metrics_figure(
    metrics: dict[str, dict], path, split: str = "test", parameter: Parameter = TEFF
) -> None:
    """MAE and bias per bin of the reference ``parameter`` (Teff, log g or [M/H]: the models of
    one parameter, in its unit) for every model, against the label (solid) and, when the
    metrics hold it, the truth (dashed); read from each model's metrics.json."""
    fig, (ax_mae, ax_bias) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    bins: list[str] = []
    for m in metrics.values():
        for ref in ("vs_label", "vs_truth"):
            for b in m.get("splits", {}).get(split, {}).get(ref, {}).get("per_bin", {}):
                if b not in bins:
                    bins.append(b)
    x = np.arange(len(bins))
    colors = series_colors(len(metrics))
    drawn = False
    for i, ((name, m), color) in enumerate(zip(metrics.items(), colors, strict=True)):
        entry = m.get("splits", {}).get(split, {})
        for ref, style, label_ref in (("vs_label", "-", "label"), ("vs_truth", "--", "truth")):
            per_bin = entry.get(ref, {}).get("per_bin")
            if not per_bin:
                continue
            vals = [per_bin.get(b, {}) for b in bins]
            mae = np.array([v.get("mae", np.nan) if v.get("n") else np.nan for v in vals])
            bias = np.array([v.get("bias", np.nan) if v.get("n") else np.nan for v in vals])
            kw = {"color": color, "linestyle": style, "marker": MARKERS[i % len(MARKERS)]}
            ax_mae.plot(x, mae, label=f"{name} vs {label_ref}", **kw)
            ax_bias.plot(x, bias, **kw)
            drawn = True
    if not drawn:
        no_data(ax_mae, "no per-bin metrics")
        no_data(ax_bias, "no per-bin metrics")
    ax_bias.axhline(0, color="k", lw=1)
    name, unit = parameter.name, parameter.unit
    ax_mae.set_ylabel(f"MAE ({unit})")
    ax_bias.set_ylabel(f"bias, predicted \u2212 reference ({unit})")
    ax_mae.set_title(f"Accuracy per {name} bin of the reference, {split} split")
    if drawn:
        ax_mae.legend(loc="upper left")
    for ax in (ax_mae, ax_bias):
        ax.grid(alpha=0.3)
    ax_bias.set_xticks(x, [bin_title(b, parameter) for b in bins])
    ax_bias.set_xlabel(f"reference {name} bin ({unit})")
    save(fig, path)
