"""The hyperparameter search of a model (``snakemake tune``): optimisation history and the
importance of each searched hyperparameter."""

from __future__ import annotations

import numpy as np

from .base import GUIDE, no_data, plt, save


def tuning_figure(values: list[float], summary: dict, path) -> None:
    """A model's search (its summary.json and the trials' values in trial order): each trial's
    cross-validated score and the best so far, against the configured hyperparameters'; and the
    importance of each searched hyperparameter."""
    fig, (hist, imp_ax) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    objective = summary["objective"].upper()
    if values:
        trials = np.arange(len(values))
        hist.plot(trials, values, "o", color="#3b528b", ms=5, label="trial")
        hist.step(
            trials,
            np.minimum.accumulate(values),
            where="post",
            color="#5ec962",
            label="best so far",
        )
        hist.axhline(
            summary["configured"]["value"],
            color="#440154",
            ls="--",
            gid=GUIDE,
            label="configured hyperparameters",
        )
        hist.legend(loc="upper right")
    else:
        no_data(hist, "no trials")
    hist.set_xlabel("trial")
    hist.set_ylabel(f"cross-validated {objective} (K)")
    hist.set_title(f"{summary['model']}: optimisation history")
    hist.grid(alpha=0.3)
    imp = summary.get("importances") or {}
    if imp:
        order = sorted(imp, key=imp.get)
        vals = [imp[k] for k in order]
        imp_ax.barh(order, vals, color="#3b528b")
        for y, v in enumerate(vals):
            imp_ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        imp_ax.set_xlim(0, max(max(vals) * 1.2, 0.1))
        imp_ax.set_xlabel("importance (fANOVA, sums to 1)")
        imp_ax.grid(axis="x", alpha=0.3)
    else:
        no_data(imp_ax, "fewer than two trials")
    imp_ax.set_title("hyperparameter importance")
    fig.tight_layout()
    save(fig, path)
