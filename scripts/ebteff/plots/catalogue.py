"""Feature importances, the catalogue's flags and wins, its CMD and sky maps."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import FuncFormatter

from ..features import TEFF_MAX, TEFF_MIN
from ..flags import FLAG_LABEL
from .base import no_data, plt, save, series_colors

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
