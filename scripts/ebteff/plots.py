"""Figures the workflow writes beside its results (matplotlib, no display needed)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .correction import Correction, blend_weight  # noqa: E402

plt.rcParams.update({"font.size": 11, "svg.hashsalt": "ebteff", "figure.dpi": 100})


def save(fig, path: str | os.PathLike) -> None:
    """Save with fixed metadata so the same figure gives the same bytes."""
    from .io import atomic_output

    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)


def correction_figure(teff_gaia, teff_ref, used, correction: Correction, path) -> None:
    """Reference vs GSP-Phot Teff, the fitted polynomial, and the applied (blended) correction."""
    teff_gaia = np.asarray(teff_gaia, dtype=float)
    teff_ref = np.asarray(teff_ref, dtype=float)
    fig, (ax, axw) = plt.subplots(
        2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.scatter(teff_gaia[~used], teff_ref[~used], s=4, c="0.75", label="not in fit / clipped")
    ax.scatter(teff_gaia[used], teff_ref[used], s=4, c="0.2", label="used in fit")
    hi = max(np.nanmax(teff_gaia), 12_000.0)
    grid = np.linspace(np.nanmin(teff_gaia), hi, 400)
    ax.plot(grid, correction.polynomial(grid), "-", c="tab:blue", lw=2, label="polynomial P(T)")
    ax.plot(grid, correction.apply(grid), "--", c="tab:orange", lw=2, label="applied (blended)")
    ax.plot(grid, grid, ":", c="k", lw=1, label="1:1")
    ax.set_ylabel("reference Teff (K)")
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title("Hot-star correction of GSP-Phot Teff")
    axw.plot(grid, blend_weight(grid, correction.threshold, correction.width), c="tab:orange")
    axw.set_ylabel("blend weight")
    axw.set_xlabel("GSP-Phot Teff (K)")
    save(fig, path)
