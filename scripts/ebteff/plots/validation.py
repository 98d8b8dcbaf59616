"""External validation: predicted against independent reference Teff of real stars."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.lines import Line2D

from ..external import REFERENCE
from ..features import TEFF_MAX, TEFF_MIN
from ..flags import FLAG_BITS, FLAG_LABEL
from .base import GUIDE, corner_text, no_data, plt, save, series_colors, teff_log_axis

#: Marker colour per flag (cividis: ordered, readable in greyscale); X (no teff_best, a model's
#: Teff all the same) light grey.
FLAG_COLOURS = dict(zip("ABCD", series_colors(4, "cividis"), strict=True)) | {"X": "0.7"}
OUTSIDE = FLAG_BITS["outside_training_range"]


def _limits(frame: pl.DataFrame, estimators) -> tuple[float, float]:
    """Teff axis limits holding every reference and prediction (within the workflow's range)."""
    values = [frame[REFERENCE].cast(pl.Float64).to_numpy()]
    values += [frame[e].cast(pl.Float64).fill_null(np.nan).to_numpy() for e in estimators]
    v = np.concatenate(values)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return TEFF_MIN, TEFF_MAX
    return max(TEFF_MIN, v.min() / 1.15), min(TEFF_MAX, v.max() * 1.15)


def _stats_text(s: dict) -> str:
    if not s or not s.get("n"):
        return ""
    text = (
        f"n = {s['n']}\nmedian bias = {s['median_bias']:+,.0f} K\n"
        f"median |\u0394T|/T = {100 * s['median_abs_rel']:.1f}%\n"
        f"within 10%: {100 * s['within_10pct']:.0f}%"
    )
    if s.get("coverage_p16_p84") is not None:
        text += f"\nin p16\u2013p84: {100 * s['coverage_p16_p84']:.0f}% (68%)"
    return text


def validation_figure(
    frame: pl.DataFrame, result: dict, estimators, path, simulated: bool = False
) -> None:
    """One panel per estimator (``teff_best``, then each model that predicted a star of the
    table; the others are named in the title): predicted against reference
    Teff, a point per star coloured by its flag, filled inside the training range and open
    outside it (``flag_bits`` bit 8 for ``teff_best``, the model's own range for a model's
    panel), with its p16-p84 interval; 1:1 and +/-10% lines, and the
    statistics of :func:`ebteff.external.compare` (quoted from ``result``)."""
    ref_all = frame[REFERENCE].cast(pl.Float64).fill_null(np.nan).to_numpy()

    def predicted(est):
        pred = frame[est].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return bool((np.isfinite(pred) & np.isfinite(ref_all)).any())

    # a model no star of the table has the features of (e.g. one needing ebv_sandf) gets no
    # panel, only a line saying so
    missing = [e for e in estimators if not predicted(e)]
    estimators = [e for e in estimators if e not in missing] or list(estimators[:1])
    n = len(estimators)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.4 * cols, 5.0 * rows), squeeze=False, layout="constrained"
    )
    lo, hi = _limits(frame, estimators)
    ref = frame[REFERENCE].cast(pl.Float64).fill_null(np.nan).to_numpy()
    flags = frame["flag"].fill_null("X").to_numpy().astype(str)
    bit8 = (frame["flag_bits"].fill_null(0).to_numpy() & OUTSIDE) != 0
    stats = result["predicted"]["estimators"]
    for ax, est in zip(axes.flat, estimators, strict=False):
        pred = frame[est].cast(pl.Float64).fill_null(np.nan).to_numpy()
        own = f"{est}_outside"
        outside = frame[own].fill_null(False).to_numpy() if own in frame.columns else bit8
        ok = np.isfinite(pred) & np.isfinite(ref)
        if not ok.any():
            no_data(ax, f"no star predicted by {est}")
            ax.set_title(est)
            continue
        if f"{est}_p16" in frame.columns:
            p16 = frame[f"{est}_p16"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            p84 = frame[f"{est}_p84"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            bars = ok & np.isfinite(p16) & np.isfinite(p84) & (p16 > 0)
            ax.vlines(ref[bars], p16[bars], p84[bars], colors="0.75", lw=0.8, zorder=1)
        for flag, colour in FLAG_COLOURS.items():
            for out, face in ((False, colour), (True, "none")):
                sel = ok & (flags == flag) & (outside == out)
                if sel.any():
                    ax.scatter(
                        ref[sel],
                        pred[sel],
                        s=22,
                        facecolors=face,
                        edgecolors=colour,
                        linewidths=1.0,
                        zorder=3,
                    )
        line = np.array([lo, hi])
        ax.plot(line, line, "-", c="k", lw=1.0, gid=GUIDE)
        ax.plot(line, 1.1 * line, ":", c="k", lw=0.9, gid=GUIDE)
        ax.plot(line, line / 1.1, ":", c="k", lw=0.9, gid=GUIDE)
        teff_log_axis(ax, "xy", lo, hi)
        ax.set_xlabel("reference Teff (K)")
        ax.set_ylabel(f"{est} (K)")
        ax.set_title(est)
        text = _stats_text(stats.get(est, {}).get("overall"))
        if text:
            corner_text(ax, text, fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], ls="", marker="o", mfc=c, mec=c, label=f"{f}: {FLAG_LABEL[f]}")
        for f, c in FLAG_COLOURS.items()
    ]
    handles += [
        Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", label="outside training range"),
        Line2D([], [], c="0.75", lw=0.8, label="p16\u2013p84"),
        Line2D([], [], c="k", lw=1.0, label="1:1"),
        Line2D([], [], c="k", lw=0.9, ls=":", label="\u00b110%"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8)
    stars = result["predicted"]["stars"]
    title = f"{result['table']}: predicted against reference Teff ({stars} stars)"
    if simulated:
        title += "\nmodels trained on the simulated catalogue, applied to real stars"
    if missing:
        title += "\nno star predicted (not shown): " + ", ".join(missing)
    fig.suptitle(title)
    save(fig, path)
