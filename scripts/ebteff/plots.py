"""Figures of the report (``snakemake --report``) and beside the results; matplotlib, no display.

Every figure is drawn from what the workflow already wrote (the catalogue, the feature tables
and predictions, the metrics, calibration and summary JSON files): nothing is refitted or
re-evaluated here. Big tables are reduced first, in Polars, to counts or medians per cell of a
grid (:func:`grid_aggregate`), so a figure of 2 million stars costs about as much as one of 20
thousand. Colour maps are perceptually uniform and monotonic in lightness (viridis, cividis),
so the figures read in greyscale; lines differ by style and marker as well as by colour.
"""

from __future__ import annotations

import json
import os
import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from .calibrate import ONE_SIGMA, PIT_STD, TWO_SIGMA  # noqa: E402
from .correction import Correction, blend_weight  # noqa: E402
from .features import TEFF_MAX, TEFF_MIN  # noqa: E402
from .flags import FLAG_LABEL  # noqa: E402

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9,
        "svg.hashsalt": "ebteff",
        "figure.dpi": 100,
        "image.cmap": "viridis",
    }
)

TEFF_TICKS = (3000, 5000, 10000, 20000, 50000)
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P")


#: PNG text chunk in which :func:`save` records what each panel shows (:func:`panel_points`).
PANELS_KEY = "ebteff panels"
GUIDE = "guide"  # gid of reference lines (1:1, +/-10%): they show no data


def _inside(x, y, ax) -> np.ndarray:
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.isfinite(x) & np.isfinite(y) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _artist_points(ax, artist) -> int:
    """Finite data values an artist draws inside the axes' limits (0 for guides)."""
    from matplotlib.collections import PathCollection, QuadMesh
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle, StepPatch

    if artist.get_gid() == GUIDE or not artist.get_visible():
        return 0
    if isinstance(artist, Line2D):  # in data coordinates only: axhline and the like are guides
        if artist.get_transform() is not ax.transData:
            return 0
        return int(_inside(artist.get_xdata(), artist.get_ydata(), ax).sum())
    if isinstance(artist, QuadMesh):
        values = np.ma.masked_invalid(np.ma.asarray(artist.get_array(), dtype=float))
        corners = artist.get_coordinates()
        cx = (corners[:-1, :-1, 0] + corners[1:, 1:, 0]) / 2
        cy = (corners[:-1, :-1, 1] + corners[1:, 1:, 1]) / 2
        shown = ~np.ma.getmaskarray(values).reshape(cx.shape)
        return int((shown & _inside(cx, cy, ax)).sum())
    if isinstance(artist, PathCollection):
        xy = np.asarray(artist.get_offsets(), dtype=float).reshape(-1, 2)
        return int(_inside(xy[:, 0], xy[:, 1], ax).sum())
    if isinstance(artist, StepPatch):
        values, edges = (np.asarray(a, dtype=float) for a in artist.get_data()[:2])
        mid = (edges[:-1] + edges[1:]) / 2
        return int((_inside(mid, values, ax) & (values != 0)).sum())
    if isinstance(artist, Rectangle):  # a bar: drawn when it has a length and overlaps the view
        x, y, w, h = artist.get_x(), artist.get_y(), artist.get_width(), artist.get_height()
        if not (np.isfinite([x, y, w, h]).all() and w != 0 and h != 0):
            return 0
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        bx, by = sorted((x, x + w)), sorted((y, y + h))
        return int(bx[0] < x1 and bx[1] > x0 and by[0] < y1 and by[1] > y0)
    return 0


def panel_points(fig) -> list[dict]:
    """Per panel of a figure (hidden axes and colour bars aside): its title and how many finite
    data values it draws inside its limits. A panel left empty, or given only NaN, shows 0:
    the number a test can check, where the picture's size says nothing."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or getattr(ax, "_colorbar", None) is not None:
            continue
        artists = [*ax.lines, *ax.collections, *ax.patches]
        out.append({"title": ax.get_title(), "points": sum(_artist_points(ax, a) for a in artists)})
    return out


def read_panel_points(path: str | os.PathLike) -> list[dict]:
    """The :func:`panel_points` a PNG written by :func:`save` carries (its tEXt chunk)."""
    data = open(path, "rb").read()
    pos = 8  # after the PNG signature
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, text = body.partition(b"\0")
            if key.decode("latin-1") == PANELS_KEY:
                return json.loads(text.decode("latin-1"))
        pos += 12 + length
    raise ValueError(f"{path}: no {PANELS_KEY!r} text chunk (not written by ebteff.plots.save)")


def save(fig, path: str | os.PathLike) -> None:
    """Save with fixed metadata so the same figure gives the same bytes, and what each panel
    shows (:func:`panel_points`) in a text chunk of the PNG."""
    from .io import atomic_output

    metadata = {"Software": None, PANELS_KEY: json.dumps(panel_points(fig))}
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", metadata=metadata, bbox_inches="tight")
    plt.close(fig)


def series_colors(n: int, cmap: str = "viridis") -> list:
    """``n`` colours spread over a perceptually uniform map (dark to light: greyscale-distinct)."""
    return [plt.get_cmap(cmap)(v) for v in np.linspace(0.0, 0.85, max(n, 1))][:n]


def teff_log_axis(ax, axis: str = "x", lo: float = TEFF_MIN, hi: float = TEFF_MAX) -> None:
    """Logarithmic Teff axis with plain tick labels in K (unlabelled ticks every 1,000 K up to
    10,000 K and every 10,000 K above)."""
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}")
    ticks = [t for t in TEFF_TICKS if lo <= t <= hi]
    minor = [t for t in (*range(3000, 10000, 1000), 30000, 40000) if lo <= t <= hi]
    for which in axis:
        getattr(ax, f"set_{which}scale")("log")
        getattr(ax, f"set_{which}lim")(lo, hi)
        a = ax.xaxis if which == "x" else ax.yaxis
        a.set_major_locator(FixedLocator(ticks))
        a.set_major_formatter(fmt)
        a.set_minor_locator(FixedLocator([t for t in minor if t not in ticks]))
        a.set_minor_formatter(NullFormatter())


def unique_legend(axes) -> tuple[list, list]:
    """Handles and labels of several axes, each label once, for one figure legend."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def bin_title(label: str) -> str:
    """'0-4000' -> '< 4000', '8000-50000' -> '>= 8000', '4000-5000' -> '4000-5000' (K)."""
    lo, hi = (float(v) for v in label.split("-"))
    if lo <= 0:
        return f"< {hi:.0f}"
    if hi >= TEFF_MAX:
        return f"\u2265 {lo:.0f}"
    return f"{lo:.0f}\u2013{hi:.0f}"


# -- reductions of big tables ------------------------------------------------------------------


def grid_aggregate(
    frame: pl.LazyFrame | pl.DataFrame,
    x: pl.Expr,
    y: pl.Expr,
    x_edges,
    y_edges,
    **aggregations: pl.Expr,
) -> dict[str, np.ndarray]:
    """Aggregate rows per cell of a regular grid, in Polars.

    ``x_edges``/``y_edges`` are evenly spaced; rows outside them or with a null/NaN ``x`` or
    ``y`` are dropped. Returns ``{"count": ..., name: ...}`` as arrays of shape
    ``(len(y_edges) - 1, len(x_edges) - 1)`` (rows are y, as ``pcolormesh`` wants), with
    ``count`` 0 and the aggregations NaN in empty cells.
    """
    x_edges, y_edges = np.asarray(x_edges, float), np.asarray(y_edges, float)
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    dx, dy = (x_edges[-1] - x_edges[0]) / nx, (y_edges[-1] - y_edges[0]) / ny
    ix = ((x - x_edges[0]) / dx).floor()
    iy = ((y - y_edges[0]) / dy).floor()
    cells = (
        frame.lazy()
        .with_columns(ix.alias("_ix"), iy.alias("_iy"))
        .filter(
            pl.col("_ix").is_finite()
            & pl.col("_iy").is_finite()
            & pl.col("_ix").is_between(0, nx - 1)
            & pl.col("_iy").is_between(0, ny - 1)
        )
        .group_by(pl.col("_ix").cast(pl.Int64), pl.col("_iy").cast(pl.Int64))
        .agg(pl.len().alias("count"), *(e.alias(k) for k, e in aggregations.items()))
        .collect()
    )
    out = {"count": np.zeros((ny, nx))}
    out.update({k: np.full((ny, nx), np.nan) for k in aggregations})
    iyv, ixv = cells["_iy"].to_numpy(), cells["_ix"].to_numpy()
    for k in out:
        out[k][iyv, ixv] = cells[k].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return out


def log_teff_edges(n_bins: int, lo: float = TEFF_MIN, hi: float = TEFF_MAX) -> np.ndarray:
    """Edges evenly spaced in log10(Teff)."""
    return np.linspace(np.log10(lo), np.log10(hi), n_bins + 1)


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
            ax.text(
                0.97,
                0.03,
                text,
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=9,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.6", "alpha": 0.9},
            )
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=axes[0].tolist(), label="test stars per cell", shrink=0.9)
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.suptitle(f"{model}: predicted vs reference Teff, test split")
    save(fig, path)


def binned_metrics_figure(metrics: dict[str, dict], path, split: str = "test") -> None:
    """MAE and bias per Teff bin for every model, against the label (solid) and, when the
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
    ax_mae.set_ylabel("MAE (K)")
    ax_bias.set_ylabel("bias, predicted \u2212 reference (K)")
    ax_mae.set_title(f"Accuracy per Teff bin of the reference, {split} split")
    if drawn:
        ax_mae.legend(loc="upper left")
    for ax in (ax_mae, ax_bias):
        ax.grid(alpha=0.3)
    ax_bias.set_xticks(x, [bin_title(b) for b in bins])
    ax_bias.set_xlabel("reference Teff bin (K)")
    save(fig, path)


# -- calibration ---------------------------------------------------------------------------------


def coverage_of(report: dict, by: str = "label") -> dict:
    """The test split's coverage report ``{overall, per_bin}`` binned by the label or by the
    prediction, wherever a calibration file keeps it (per model: test.by_label_bin and
    test.by_predicted_bin; teff_best.json: test and test_by_predicted_bin)."""
    if by == "predicted" and "test_by_predicted_bin" in report:
        return report["test_by_predicted_bin"]
    test = report.get("test", report)
    key = "by_predicted_bin" if by == "predicted" else "by_label_bin"
    if isinstance(test, dict) and key in test:
        test = test[key]
    elif by == "predicted":
        return {}
    return test if isinstance(test, dict) and "overall" in test else {}


def calibration_coverage_figure(reports: dict[str, dict], path) -> None:
    """Fraction of test stars within 1 and 2 sigma, overall and per bin of the predicted Teff
    (left: what the calibration is fitted on) and of the label (right), per model."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharex="col", sharey=True)
    for col, by in enumerate(("predicted", "label")):
        coverages = {k: coverage_of(v, by) for k, v in reports.items()}
        bins: list[str] = []
        for c in coverages.values():
            bins += [b for b in c.get("per_bin", {}) if b not in bins]
        groups = ["overall", *bins]
        width = 0.8 / max(len(coverages), 1)
        colors = series_colors(len(coverages))
        hatches = ("", "//", "..", "xx", "\\\\", "oo")
        for ax, key, nominal in (
            (axes[0, col], "within_1sigma", ONE_SIGMA),
            (axes[1, col], "within_2sigma", TWO_SIGMA),
        ):
            for i, ((name, cov), color) in enumerate(zip(coverages.items(), colors, strict=True)):
                stats = [cov.get("overall", {}), *(cov.get("per_bin", {}).get(b, {}) for b in bins)]
                vals = [s.get(key, np.nan) if s.get("n") else np.nan for s in stats]
                ax.bar(
                    np.arange(len(groups)) + (i - (len(coverages) - 1) / 2) * width,
                    vals,
                    width,
                    color=color,
                    hatch=hatches[i % len(hatches)],
                    edgecolor="white" if i == 0 else "0.2",
                    linewidth=0.5,
                    label=name,
                )
            ax.axhline(nominal, color="k", ls="--", lw=1.2, label=f"nominal {100 * nominal:.1f}%")
            ax.set_ylim(0.4, 1.0)  # zoomed: a few points from nominal must show
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
            if col == 0:
                ax.set_ylabel(f"test stars within {key[7]} \u03c3")
            ax.grid(axis="y", alpha=0.3)
        missing = [k for k, c in coverages.items() if not c]
        if missing:
            axes[0, col].text(
                0.5,
                0.3,
                "no coverage report in the calibration file of " + ", ".join(missing),
                transform=axes[0, col].transAxes,
                ha="center",
                color="0.3",
                fontsize=9,
            )
        axes[0, col].set_title(f"per bin of the {by} Teff")
        axes[1, col].set_xticks(np.arange(len(groups)), ["all"] + [bin_title(b) for b in bins])
        axes[1, col].set_xlabel(f"{by} Teff bin (K)")
    fig.suptitle("Coverage of the calibrated uncertainties, test split")
    handles, labels = unique_legend(axes.flat)
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("nominal"))
    fig.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="lower center",
        ncols=3,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save(fig, path)


def percentiles_of(report: dict, by: str = "predicted") -> dict:
    """The test split's percentile report ``{overall, per_bin}`` by bin of the prediction or the
    label (per model: test.percentiles_by_*_bin; teff_best.json: percentiles_by_*_bin)."""
    key = f"percentiles_by_{by}_bin"
    if key in report:
        return report[key]
    test = report.get("test", {})
    return test.get(key, {}) if isinstance(test, dict) else {}


#: Percentile levels, their targets and tolerances (points) of the coverage figure.
PERCENTILE_TARGETS = (
    ("p05", 5, 1.5),
    ("p16", 16, 2),
    ("p50", 50, 3),
    ("p84", 84, 2),
    ("p95", 95, 1.5),
)


def percentile_coverage_figure(reports: dict[str, dict], path) -> None:
    """Fraction of test labels below each calibrated percentile minus its target (points), per
    bin of the predicted Teff (top) and of the label (bottom), per model; grey: tolerance."""
    fig, axes = plt.subplots(2, 5, figsize=(17, 7), sharey="row", sharex=True)
    for row, by in enumerate(("predicted", "label")):
        pct = {k: percentiles_of(v, by) for k, v in reports.items()}
        bins: list[str] = []
        for c in pct.values():
            bins += [b for b in c.get("per_bin", {}) if b not in bins]
        groups = ["overall", *bins]
        width = 0.8 / max(len(pct), 1)
        colors = series_colors(len(pct))
        for ax, (q, target, tol) in zip(axes[row], PERCENTILE_TARGETS, strict=True):
            ax.axhspan(-tol, tol, color="0.85", zorder=0, label="target tolerance", gid=GUIDE)
            for i, ((name, rep), color) in enumerate(zip(pct.items(), colors, strict=True)):
                stats = [rep.get("overall", {}), *(rep.get("per_bin", {}).get(b, {}) for b in bins)]
                vals = [100 * s[f"below_{q}"] - target if s.get("n") else np.nan for s in stats]
                ax.bar(
                    np.arange(len(groups)) + (i - (len(pct) - 1) / 2) * width,
                    vals,
                    width,
                    color=color,
                    label=name,
                )
            ax.axhline(0, color="k", lw=1)
            ax.set_title(f"{q} (target {target}%) per {by} bin", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            ax.set_xticks(np.arange(len(groups)), ["all"] + [bin_title(b) for b in bins])
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        axes[row, 0].set_ylabel("% below minus target (points)")
        if not any(pct.values()):
            no_data(axes[row, 2], "no percentile report")
    fig.suptitle("Calibrated percentiles, test split: fraction of labels below each")
    handles, labels = unique_legend(axes.flat)
    fig.legend(handles, labels, loc="lower center", ncols=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save(fig, path)


def pit_figure(reports: dict[str, dict], path) -> None:
    """PIT histograms (test split, all bins) per model: flat at 1 when sigma is calibrated.

    The calibrated sigma is drawn as bars; the raw tree spread, where the report keeps it, as a
    step line, to show what calibration changed.
    """
    names = list(reports)
    ncols = min(2, max(len(names), 1))
    nrows = int(np.ceil(max(len(names), 1) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 3.6 * nrows), squeeze=False, sharey=True
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        # the PIT of the calibrated percentiles where the report has it, else the Gaussian one
        overall = percentiles_of(reports[name]).get("overall") or coverage_of(reports[name]).get(
            "overall", {}
        )
        hist = np.asarray(overall.get("pit_histogram") or [], dtype=float)
        if hist.size == 0 or hist.sum() == 0:
            no_data(ax, "no PIT histogram")
            ax.set_title(name, fontsize=10)
            continue
        edges = np.linspace(0, 1, hist.size + 1)
        density = hist / hist.sum() * hist.size
        ax.stairs(density, edges, fill=True, color="#3b528b", alpha=0.8, label="calibrated \u03c3")
        raw = reports[name].get("test", {}).get("raw_tree_spread", {}).get("overall", {})
        raw_hist = np.asarray(raw.get("pit_histogram") or [], dtype=float)
        if raw_hist.size == hist.size and raw_hist.sum() > 0:
            ax.stairs(
                raw_hist / raw_hist.sum() * raw_hist.size,
                edges,
                color="#e08214",
                lw=2,
                ls="--",
                label="raw tree spread",
            )
        ax.axhline(1, color="k", lw=1.2, ls=":", label="ideal (flat)", zorder=3)
        pit_std = overall.get("pit_std")
        if overall.get("pit_ks") is not None:
            ax.text(
                0.5,
                0.97,
                f"KS distance from uniform {overall['pit_ks']:.3f}, n = {overall.get('n', 0):,}",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=9,
            )
        elif pit_std is not None:
            ax.text(
                0.5,
                0.97,
                f"PIT std {pit_std:.3f} (ideal {PIT_STD:.3f}), n = {overall.get('n', 0):,}",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=9,
            )
        ax.set_title(name, fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_xlabel("PIT = \u03a6((predicted \u2212 label) / \u03c3)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("density")
    top = max(ax.get_ylim()[1] for ax in axes.flat if ax.get_visible())
    for ax in axes.flat:
        if ax.get_visible() and ax.has_data():
            ax.set_ylim(0, max(top, 1.6) * 1.1)
    handles, labels = unique_legend(axes.flat)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncols=len(labels), frameon=False)
    fig.suptitle("Probability integral transform, test split")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save(fig, path)


# -- models --------------------------------------------------------------------------------------


def importances_figure(importances: dict[str, dict[str, float] | None], path) -> None:
    """Impurity-based feature importances of each forest (from its metadata.json)."""
    names = list(importances)
    heights = [1 + 0.35 * len(importances[n] or {}) for n in names] or [2]
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(7, 1 + sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, name in zip(axes[:, 0], names, strict=False):
        imp = importances[name]
        if not imp:
            no_data(ax, "importances not recorded in metadata.json")
            ax.set_title(name, fontsize=10)
            continue
        order = sorted(imp, key=imp.get)
        vals = [imp[f] for f in order]
        ax.barh(order, vals, color="#3b528b")
        for y, v in enumerate(vals):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, max(max(vals) * 1.15, 0.1))
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    if names:
        axes[-1, 0].set_xlabel("importance (mean decrease in impurity, sums to 1)")
    else:
        no_data(axes[0, 0], "no models")
    fig.suptitle("Feature importances")
    fig.tight_layout()
    save(fig, path)


# -- catalogue -----------------------------------------------------------------------------------


def catalog_summary_figure(summary: dict, path) -> None:
    """Stars per quality flag, and where teff_best came from / which model won (summary.json)."""
    fig, (ax_f, ax_w) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=[1, 1.3])
    flags = summary.get("flags", {})
    total = max(sum(flags.values()), 1)
    keys = list(flags)
    colors = series_colors(len(keys), "cividis")
    bars = ax_f.bar([f"{k}\n{FLAG_LABEL.get(k, '')}" for k in keys], [flags[k] for k in keys])
    for b, c in zip(bars, colors, strict=True):
        b.set_color(c)
    for b, k in zip(bars, keys, strict=True):
        ax_f.annotate(
            f"{flags[k]:,}\n{100 * flags[k] / total:.1f}%",
            (b.get_x() + b.get_width() / 2, b.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax_f.set_ylim(0, max([*flags.values(), 1]) * 1.2)
    ax_f.set_ylabel("stars")
    ax_f.set_title(f"Quality flags ({summary.get('rows', total):,} stars; B-D: ML)")
    ax_f.tick_params(axis="x", labelsize=9)

    best = summary.get("teff_best_source", {})
    won_all = summary.get("model_won_among_all_ml_predictions", {})
    predicted = summary.get("predicted_by_model", {})
    names = list(dict.fromkeys([*best, *won_all]))
    y = np.arange(len(names))
    series = [
        ("source of teff_best", best, "#21918c", ""),
        ("smallest \u03c3 among models", won_all, "#fde725", "//"),
        ("stars the model could predict", predicted, "0.85", ""),
    ]
    h = 0.8 / len(series)
    for i, (label, counts, color, hatch) in enumerate(series):
        ax_w.barh(
            y - 0.4 + h * (i + 0.5),
            [counts.get(n, 0) for n in names],
            h,
            color=color,
            hatch=hatch,
            edgecolor="0.3",
            linewidth=0.4,
            label=label,
        )
    ax_w.set_yticks(y, ["GSP-Phot (gaia)" if n == "gaia" else n for n in names])
    ax_w.invert_yaxis()
    ax_w.set_xlabel("stars")
    ax_w.set_title("Which source gave the Teff")
    ax_w.legend(loc="upper right", fontsize=8)
    ax_w.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def cmd_figure(cells: dict, x_edges, y_edges, path) -> None:
    """Colour-magnitude diagram: median teff_best per cell (``cells`` from
    :func:`grid_aggregate` with a ``teff`` median), BP-RP against G, bright at the top."""
    fig, ax = plt.subplots(figsize=(7.5, 7), layout="constrained")
    teff = np.where(cells["count"] > 0, cells["teff"], np.nan)
    if not np.isfinite(teff).any():
        no_data(ax, "no stars with BP-RP, G and teff_best")
    else:
        lo, hi = np.nanpercentile(teff, [2, 98])
        mesh = ax.pcolormesh(
            x_edges,
            y_edges,
            teff,
            cmap="viridis",
            norm=LogNorm(vmin=max(lo, TEFF_MIN), vmax=min(max(hi, lo * 1.5), TEFF_MAX)),
        )
        bar = fig.colorbar(mesh, ax=ax, label="median teff_best per cell (K)")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlim(x_edges[0], x_edges[-1])
        ax.set_ylim(y_edges[-1], y_edges[0])
        n = int(cells["count"].sum())
        ax.set_title(f"Colour-magnitude diagram, coloured by teff_best ({n:,} stars)")
    ax.set_xlabel("BP \u2212 RP (mag)")
    ax.set_ylabel("G (mag, apparent)")
    ax.grid(alpha=0.3)
    save(fig, path)


def sky_cell_area_deg2(ra_edges, dec_edges) -> np.ndarray:
    """Solid angle (deg^2) of each cell of an RA/Dec grid, shape (dec cells, RA cells)."""
    d_ra = np.radians(np.diff(np.asarray(ra_edges, float)))
    d_sin = np.diff(np.sin(np.radians(np.asarray(dec_edges, float))))
    return np.outer(d_sin, d_ra) * (180 / np.pi) ** 2


def _mollweide_ra_ticks(ax) -> None:
    """Longitude ticks of a Mollweide axis labelled as RA in degrees, increasing to the left,
    outlined in white so they read on top of the map."""
    from matplotlib.patheffects import withStroke

    lons = np.radians(np.arange(-150, 180, 30))
    ax.set_xticks(lons, [f"{(180 - np.degrees(v)) % 360:.0f}\u00b0" for v in lons], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    for label in ax.get_xticklabels():
        label.set_path_effects([withStroke(linewidth=2.5, foreground="white")])


def sky_figure(panels: list[dict], ra_edges, dec_edges, path) -> None:
    """Mollweide sky maps (RA increasing to the left). Each panel:
    ``{"values": 2-D array (dec rows, ra columns), "title", "label", "log": bool}``."""
    fig = plt.figure(figsize=(9, 4.4 * len(panels)))
    lon = np.radians(180.0 - np.asarray(ra_edges, float))
    lat = np.radians(np.asarray(dec_edges, float))
    for i, p in enumerate(panels, start=1):
        ax = fig.add_subplot(len(panels), 1, i, projection="mollweide")
        vals = np.asarray(p["values"], float)
        finite = np.isfinite(vals) & ((vals > 0) if p.get("log") else True)
        if not finite.any():
            no_data(ax, "no stars")
            ax.set_title(p["title"])
            continue
        if p.get("log"):
            lo, hi = np.nanmin(vals[finite]), np.nanmax(vals[finite])
            norm = LogNorm(vmin=lo, vmax=max(hi, lo * 10))
            vals = np.where(finite, vals, np.nan)
        else:
            norm = Normalize(vmin=p.get("vmin", 0.0), vmax=p.get("vmax", 1.0))
        # lon decreases with RA: reverse the columns so pcolormesh gets increasing edges
        mesh = ax.pcolormesh(
            lon[::-1], lat, vals[:, ::-1], cmap=p.get("cmap", "viridis"), norm=norm
        )
        bar = fig.colorbar(mesh, ax=ax, shrink=0.8, pad=0.03, label=p["label"])
        if p.get("log"):
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(alpha=0.4)
        _mollweide_ra_ticks(ax)
        ax.set_title(p["title"], pad=12)
        ax.set_xlabel("RA")
        ax.set_ylabel("Dec")
    fig.tight_layout()
    save(fig, path)
