"""Coverage of the calibrated sigma and percentiles, and PIT histograms."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter

from ..calibrate import ONE_SIGMA, PIT_STD, TWO_SIGMA
from ..parameters import TEFF, Parameter
from .base import GUIDE, bin_title, no_data, plt, save, series_colors, unique_legend

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


def calibration_coverage_figure(
    reports: dict[str, dict], path, parameter: Parameter = TEFF
) -> None:
    """Fraction of test stars within 1 and 2 sigma, overall and per bin of the predicted
    ``parameter`` (left: what the calibration is fitted on) and of the label (right), per model
    of that parameter; bins in its unit (K for Teff, dex for log g and [M/H])."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharex="col", sharey=True)
    lowest = 0.4  # zoomed to 40-100% so that a few points from nominal show; lower if a bar is
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
                if np.isfinite(vals).any():
                    lowest = min(lowest, np.floor(10 * np.nanmin(vals)) / 10)
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
        axes[0, col].set_title(f"per bin of the {by} {parameter.name}")
        axes[1, col].set_xticks(
            np.arange(len(groups)), ["all"] + [bin_title(b, parameter) for b in bins]
        )
        axes[1, col].set_xlabel(f"{by} {parameter.name} bin ({parameter.unit})")
    axes[0, 0].set_ylim(lowest, 1.0)  # shared by all four panels
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
