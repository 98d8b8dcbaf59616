"""What every figure shares: style, saving, panel counts, axes and reductions of big tables."""

from __future__ import annotations

import json
import os
import re
import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from ..features import TEFF_MAX, TEFF_MIN  # noqa: E402
from ..parameters import TEFF, Parameter  # noqa: E402

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
    from ..io import atomic_output

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


def corner_text(ax, text: str, fontsize: float = 9) -> None:
    """A boxed note (a panel's metrics) in the lower right corner of the axes."""
    ax.text(
        0.97,
        0.03,
        text,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=fontsize,
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.6", "alpha": 0.9},
    )


def bin_title(label: str, parameter: Parameter = TEFF) -> str:
    """Teff: '0-4000' -> '< 4000', '8000-50000' -> '>= 8000', '4000-5000' -> '4000-5000' (K).
    log g, [M/H]: the bounds as they are, negative ones too ('-1--0.5' -> '-1 to -0.5')."""
    if parameter is not TEFF:
        match = re.fullmatch(r"(-?[\d.]+)-(-?[\d.]+)", label)
        return f"{float(match[1]):g} to {float(match[2]):g}" if match else label
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
